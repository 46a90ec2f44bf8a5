/*
 * tests/unit/test_quar.c - unit tests of the quarantine store, run against
 * both backends with the same table (memory, and filesystem + SQLite twice:
 * originals in the index as by default, and every original as a file), plus
 * checks only the filesystem backend can answer (where an original lives,
 * modes, names, sealing, WAL, schema migration, temps).
 *
 * Runs as an ordinary test program in temporary directories; it must never
 * touch a real store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <sqlite3.h>

#include "quar.h"

/* The hash the first event chains to (quar.c's header comment). */
#define QUAR_CHAIN_ORIGIN_HASH "0000000000000000000000000000000000000000000000000000000000000000"

#define DAY 86400
#define T0 1795000000 /* 2026-11-18 */

#define KIB 1024
#define INLINE_DEFAULT (256 * KIB)

/* BACKEND_FS keeps small originals in the index (the default), BACKEND_FS_FILES every one as a
 * file. */
typedef enum { BACKEND_MEM, BACKEND_FS, BACKEND_FS_FILES } backend_kind;

typedef struct fixture {
    backend_kind kind;
    char *dir;
    quar_store *s;
} fixture;

static backend_kind kind_mem = BACKEND_MEM, kind_fs = BACKEND_FS, kind_fs_files = BACKEND_FS_FILES;

/* Where the filesystem store keeps an original: bits of these. */
enum { IN_ROW = 1, IN_FILE = 2 };

/* A filesystem store on f->dir set up for f's kind. */
static quar_store *open_fs(fixture *f)
{
    char *err = NULL;
    quar_store *s = quar_open_fs(f->dir, 30, &err);

    if (!s)
        fail_msg("open: %s", err);
    if (f->kind == BACKEND_FS_FILES)
        quar_fs_set_inline_max(s, 0);
    return s;
}

/* Open a fresh store of the kind named by the prestate. */
static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);

    f->kind = *(backend_kind *)*state;
    if (f->kind == BACKEND_MEM) {
        f->s = quar_open_memory(30);
    } else {
        f->dir = g_dir_make_tmp("test_quar-XXXXXX", NULL);
        assert_non_null(f->dir);
        f->s = open_fs(f);
    }
    *state = f;
    return 0;
}

/* Close the store and remove its directory. */
static int teardown(void **state)
{
    fixture *f = *state;

    quar_close(f->s);
    if (f->dir) {
        char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        g_free(cmd);
        g_free(f->dir);
    }
    g_free(f);
    return 0;
}

/* An fd positioned at the start of len bytes of data. */
static int data_fd(const void *data, size_t len)
{
    int fd = memfd_create("input", 0);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* An fd positioned at the start of text. */
static int text_fd(const char *text)
{
    return data_fd(text, strlen(text));
}

/* DIR/originals/ab/abcdef... of a hash. Caller frees. */
static char *file_path(const char *dir, const char *sha)
{
    return g_strdup_printf("%s/originals/%.2s/%s", dir, sha, sha);
}

/* Run a one-number query on the index of the store in dir, with an optional text parameter. */
static int64_t index_number(const char *dir, const char *sql, const char *param)
{
    char *path = g_strdup_printf("%s/index.sqlite", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (param)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    g_free(path);
    return v;
}

/* Where the filesystem store in dir holds the content sha: IN_ROW, IN_FILE, both or 0. */
static int stored_at(const char *dir, const char *sha)
{
    char *path = file_path(dir, sha);
    int where = access(path, F_OK) == 0 ? IN_FILE : 0;

    g_free(path);
    if (index_number(dir, "SELECT count(*) FROM blobs WHERE sha256 = ?", sha) == 1)
        where |= IN_ROW;
    return where;
}

/* Where a small original of f's kind is kept. */
static int small_place(const fixture *f)
{
    return f->kind == BACKEND_FS ? IN_ROW : IN_FILE;
}

/* Store a message with the given envelope, subject and content; its id into id[24]. */
static void put_subject(fixture *f, const char *content, int64_t time, const char *sender,
                        const char *rcpt, const char *verdict, const char *subject, char id[24])
{
    quar_msg *m = quar_msg_new();
    char *err = NULL;
    int fd = text_fd(content);

    m->time = time;
    m->sender = g_strdup(sender);
    g_strfreev(m->recipients);
    m->recipients = g_new0(char *, 2);
    m->recipients[0] = g_strdup(rcpt);
    m->subject = g_strdup(subject);
    m->verdict = g_strdup(verdict);
    if (quar_put(f->s, fd, m, "tester", &err) != 0)
        fail_msg("put: %s", err);
    memcpy(id, m->id, 24);
    close(fd);
    quar_msg_free(m);
}

/* Store a message with the given envelope and content; its id into id[24]. */
static void put_msg(fixture *f, const char *content, int64_t time, const char *sender,
                    const char *rcpt, const char *verdict, char id[24])
{
    put_subject(f, content, time, sender, rcpt, verdict, "件名", id);
}

/* The whole content of an fd from its current offset. */
static char *fd_text(int fd)
{
    GString *s = g_string_new(NULL);
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof buf)) > 0)
        g_string_append_len(s, buf, n);
    return g_string_free(s, FALSE);
}

/* put then get returns every field as stored. */
static void test_roundtrip(void **state)
{
    fixture *f = *state;
    const char *content = "From: a@example.com\r\n\r\nhello\r\n";
    quar_msg *m = quar_msg_new(), *g = NULL;
    char *err = NULL, *lower;
    int fd = text_fd(content);

    m->queue_id = g_strdup("4XyZ1");
    m->client = g_strdup("mail.example.com[192.0.2.1]");
    m->sender = g_strdup("a@example.com");
    g_strfreev(m->recipients);
    m->recipients = g_strsplit("b@city.lg.jp,c@city.lg.jp", ",", -1);
    m->subject = g_strdup("会議の資料");
    m->from = g_strdup("山田 <a@example.com>");
    m->message_id = g_strdup("<1@example.com>");
    m->verdict = g_strdup("sanitized");
    m->time = T0;
    quar_msg_add_part(m, "1", NULL, "text/plain", "text/plain", 5, NULL, "body", NULL, NULL);
    quar_msg_add_part(m, "2", "資料.docm", "application/msword", "application/zip", 1234, "ab12",
                      "blocked", "macro", "Doc.Macro.Test");
    assert_int_equal(quar_put(f->s, fd, m, "mugai-milter", &err), 0);
    assert_int_equal(strlen(m->id), 17);
    assert_string_equal(m->status, "quarantined");
    assert_int_equal(m->expires, T0 + 30 * DAY);
    assert_int_equal(m->size, strlen(content));
    char *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, content, -1);
    assert_string_equal(m->sha256, hash);
    g_free(hash);
    lower = g_ascii_strdown(m->id, -1);
    assert_int_equal(quar_get(f->s, lower, &g, &err), 0);
    assert_string_equal(g->id, m->id);
    assert_int_equal(g->time, T0);
    assert_string_equal(g->queue_id, "4XyZ1");
    assert_string_equal(g->client, "mail.example.com[192.0.2.1]");
    assert_string_equal(g->sender, "a@example.com");
    assert_string_equal(g->recipients[0], "b@city.lg.jp");
    assert_string_equal(g->recipients[1], "c@city.lg.jp");
    assert_null(g->recipients[2]);
    assert_string_equal(g->subject, "会議の資料");
    assert_string_equal(g->from, "山田 <a@example.com>");
    assert_string_equal(g->message_id, "<1@example.com>");
    assert_int_equal(g->size, strlen(content));
    assert_string_equal(g->sha256, m->sha256);
    assert_string_equal(g->verdict, "sanitized");
    assert_string_equal(g->status, "quarantined");
    assert_int_equal(g->expires, T0 + 30 * DAY);
    assert_int_equal(g->nparts, 2);
    assert_string_equal(g->parts[0].path, "1");
    assert_null(g->parts[0].filename);
    assert_string_equal(g->parts[0].action, "body");
    assert_null(g->parts[0].signature);
    assert_string_equal(g->parts[1].path, "2");
    assert_string_equal(g->parts[1].filename, "資料.docm");
    assert_string_equal(g->parts[1].declared_type, "application/msword");
    assert_string_equal(g->parts[1].detected_type, "application/zip");
    assert_int_equal(g->parts[1].size, 1234);
    assert_string_equal(g->parts[1].sha256, "ab12");
    assert_string_equal(g->parts[1].action, "blocked");
    assert_string_equal(g->parts[1].reason, "macro");
    assert_string_equal(g->parts[1].signature, "Doc.Macro.Test");
    close(fd);
    assert_int_equal(quar_open_original(f->s, m->id, &fd, &err), 0);
    char *back = fd_text(fd);
    assert_string_equal(back, content);
    g_free(back);
    close(fd);
    g_free(lower);
    quar_msg_free(g);
    quar_msg_free(m);
}

/* Two messages with the same content share one original. */
static void test_shared_content(void **state)
{
    fixture *f = *state;
    char a[24], b[24];
    quar_msg *ma = NULL, *mb = NULL;
    char *err = NULL;

    put_msg(f, "same bytes\r\n", T0, "x@example.com", "y@city.lg.jp", "clean", a);
    put_msg(f, "same bytes\r\n", T0 + 1, "z@example.com", "y@city.lg.jp", "clean", b);
    assert_string_not_equal(a, b);
    assert_int_equal(quar_get(f->s, a, &ma, &err), 0);
    assert_int_equal(quar_get(f->s, b, &mb, &err), 0);
    assert_string_equal(ma->sha256, mb->sha256);
    if (f->kind == BACKEND_FS) {
        assert_int_equal(stored_at(f->dir, ma->sha256), IN_ROW);
        assert_int_equal(index_number(f->dir, "SELECT count(*) FROM blobs", NULL), 1);
    } else if (f->kind == BACKEND_FS_FILES) {
        char *sub = g_strdup_printf("%s/originals/%.2s", f->dir, ma->sha256);
        GDir *d = g_dir_open(sub, 0, NULL);
        int count = 0;
        assert_non_null(d);
        while (g_dir_read_name(d))
            count++;
        assert_int_equal(count, 1);
        g_dir_close(d);
        g_free(sub);
        assert_int_equal(stored_at(f->dir, ma->sha256), IN_FILE);
    }
    quar_msg_free(ma);
    quar_msg_free(mb);
}

typedef struct list_case {
    const char *name;
    quar_filter filter;
    const char *expect; /* indexes of the messages, newest first */
    const char *all;    /* those matching without limit and offset (quar_count); NULL: expect */
} list_case;

/* Four messages, one a day; message 3 is later released. Subjects: "Invoice 100%", "会議の件",
 * "invoice_2", "Re: 会議". */
static const list_case list_cases[] = {
    {"all newest first", {0}, "3210", NULL},
    {"since", {.since = T0 + DAY}, "321", NULL},
    {"until", {.until = T0 + DAY}, "10", NULL},
    {"range", {.since = T0 + DAY, .until = T0 + 2 * DAY}, "21", NULL},
    {"sender substring, any case", {.sender = "ALICE"}, "20", NULL},
    {"recipient substring", {.recipient = "kikaku@"}, "31", NULL},
    {"verdict", {.verdict = "blocked"}, "3", NULL},
    {"status", {.status = "released"}, "3", NULL},
    {"status quarantined", {.status = "quarantined"}, "210", NULL},
    {"limit", {.limit = 2}, "32", "3210"},
    {"combined", {.sender = "example", .verdict = "sanitized", .limit = 1}, "2", NULL},
    {"nothing", {.sender = "nobody"}, "", NULL},
    {"subject substring, any case", {.q = "INVOICE"}, "20", NULL},
    {"subject in Japanese", {.q = "会議"}, "31", NULL},
    {"subject: % is a character", {.q = "%"}, "0", NULL},
    {"subject: _ is a character", {.q = "e_"}, "2", NULL},
    {"subject and status", {.q = "会議", .status = "quarantined"}, "1", NULL},
    {"offset", {.offset = 1}, "210", "3210"},
    {"page", {.offset = 1, .limit = 2}, "21", "3210"},
    {"page of a filter", {.q = "invoice", .offset = 1, .limit = 5}, "0", "20"},
    {"offset past the end", {.offset = 4}, "", "3210"},
};

/* One message found by its id with q, in any case, and by nothing else. */
static void check_q_id(fixture *f, const char *id)
{
    char *lower = g_ascii_strdown(id, -1), *err = NULL;
    quar_filter by_id = {.q = lower}, part = {.q = id + 2};
    quar_msg **list = NULL;
    size_t n = 0, total = 0;

    assert_int_equal(quar_list(f->s, &by_id, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0]->id, id);
    quar_msg_list_free(list, n);
    assert_int_equal(quar_count(f->s, &by_id, &total, &err), 0);
    assert_int_equal(total, 1);
    assert_int_equal(quar_count(f->s, &part, &total, &err), 0);
    assert_int_equal(total, 0); /* an id matches whole, not as a substring */
    g_free(lower);
}

/* list applies each filter and orders newest first; count counts the same without paging. */
static void test_list_filters(void **state)
{
    fixture *f = *state;
    char ids[4][24];
    char *err = NULL;

    put_subject(f, "m0", T0, "alice@example.com", "somu@city.lg.jp", "clean", "Invoice 100%",
                ids[0]);
    put_subject(f, "m1", T0 + DAY, "bob@example.net", "kikaku@city.lg.jp", "clean", "会議の件",
                ids[1]);
    put_subject(f, "m2", T0 + 2 * DAY, "Alice@Example.com", "somu@city.lg.jp", "sanitized",
                "invoice_2", ids[2]);
    put_subject(f, "m3", T0 + 3 * DAY, "carol@example.org", "kikaku@city.lg.jp", "blocked",
                "Re: 会議", ids[3]);
    assert_int_equal(quar_set_status(f->s, ids[3], "released", &err), 0);
    check_q_id(f, ids[1]);
    for (size_t c = 0; c < G_N_ELEMENTS(list_cases); c++) {
        const list_case *lc = &list_cases[c];
        quar_msg **list = NULL;
        size_t n = 0, total = 0;
        if (quar_count(f->s, &lc->filter, &total, &err) != 0)
            fail_msg("%s: count: %s", lc->name, err);
        if (total != strlen(lc->all ? lc->all : lc->expect))
            fail_msg("%s: count %zu", lc->name, total);
        if (quar_list(f->s, &lc->filter, &list, &n, &err) != 0)
            fail_msg("%s: %s", lc->name, err);
        if (n != strlen(lc->expect))
            fail_msg("%s: %zu messages, want %zu", lc->name, n, strlen(lc->expect));
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i]->id, ids[lc->expect[i] - '0']) != 0)
                fail_msg("%s: position %zu is %s", lc->name, i, list[i]->id);
        quar_msg_list_free(list, n);
    }
}

/* Ids look right, are unique, and stored ids follow the same form. */
static void test_ids(void **state)
{
    fixture *f = *state;
    GRegex *re = g_regex_new("^Q-\\d{8}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}$", 0, 0, NULL);
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    char id[24], fresh[24];
    quar_msg *m = NULL;
    int repeats = 0;

    /* 2000 draws from 30^6 ids repeat one with probability about 0.3 %; three repeats would
     * mean the ids are far from uniform (chance about 3e-9). */
    for (int i = 0; i < 2000; i++) {
        quar_new_id(T0, id);
        if (!g_regex_match(re, id, 0, NULL))
            fail_msg("bad id %s", id);
        if (!g_hash_table_add(seen, g_strdup(id)))
            repeats++;
    }
    assert_true(repeats <= 2);
    assert_memory_equal(id, "Q-20261118-", 11);
    put_msg(f, "x", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    assert_true(g_regex_match(re, id, 0, NULL));
    /* a fresh id is well formed and free: not the stored one, unknown to the store */
    assert_int_equal(quar_fresh_id(f->s, T0, fresh, NULL), 0);
    assert_true(g_regex_match(re, fresh, 0, NULL));
    assert_string_not_equal(fresh, id);
    assert_int_equal(quar_get(f->s, fresh, &m, NULL), 1);
    g_hash_table_destroy(seen);
    g_regex_unref(re);
}

/* remove keeps a shared original while another message holds it. */
static void test_remove_shared(void **state)
{
    fixture *f = *state;
    char a[24], b[24];
    char *err = NULL;
    quar_msg *m = NULL;
    int fd;

    put_msg(f, "shared\r\n", T0, "s@example.com", "r@city.lg.jp", "clean", a);
    put_msg(f, "shared\r\n", T0 + 1, "s@example.com", "r@city.lg.jp", "clean", b);
    assert_int_equal(quar_get(f->s, a, &m, &err), 0);
    assert_int_equal(quar_remove(f->s, a, "deleted", &err), 0);
    assert_int_equal(quar_open_original(f->s, b, &fd, &err), 0);
    close(fd);
    free(err);
    err = NULL;
    assert_int_equal(quar_open_original(f->s, a, &fd, &err), -1);
    assert_non_null(strstr(err, "deleted"));
    if (f->dir)
        assert_int_equal(stored_at(f->dir, m->sha256), small_place(f));
    assert_int_equal(quar_remove(f->s, b, "deleted", &err), 0);
    assert_int_equal(quar_open_original(f->s, b, &fd, &err), -1);
    if (f->dir)
        assert_int_equal(stored_at(f->dir, m->sha256), 0);
    quar_msg_free(m);
    assert_int_equal(quar_get(f->s, b, &m, &err), 0);
    assert_string_equal(m->status, "deleted");
    quar_msg_free(m);
    free(err);
}

/* expired returns only messages past expiry that still hold an original. */
static void test_expired(void **state)
{
    fixture *f = *state;
    char old1[24], old2[24], young[24];
    char **ids = NULL, *err = NULL;
    size_t n = 0;

    put_msg(f, "o1", T0 - 40 * DAY, "s@example.com", "r@city.lg.jp", "clean", old1);
    put_msg(f, "o2", T0 - 35 * DAY, "s@example.com", "r@city.lg.jp", "clean", old2);
    put_msg(f, "y", T0 - 10 * DAY, "s@example.com", "r@city.lg.jp", "clean", young);
    assert_int_equal(quar_expired(f->s, T0, &ids, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], old1);
    assert_string_equal(ids[1], old2);
    g_strfreev(ids);
    assert_int_equal(quar_remove(f->s, old1, "purged", &err), 0);
    assert_int_equal(quar_expired(f->s, T0, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], old2);
    g_strfreev(ids);
}

/* Events come back oldest first with actor, reason and detail. */
static void test_events(void **state)
{
    fixture *f = *state;
    char id[24], other[24];
    quar_event **ev = NULL;
    char *err = NULL;
    size_t n = 0;

    put_msg(f, "e", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    put_msg(f, "e2", T0, "s@example.com", "r@city.lg.jp", "clean", other);
    assert_int_equal(quar_audit(f->s, id, "suzuki", "exported", "問い合わせ", "to /tmp/x", &err),
                     0);
    assert_int_equal(quar_audit(f->s, other, "sato", "deleted", "spam", NULL, &err), 0);
    assert_int_equal(quar_audit(f->s, id, "tanaka", "released", "業務", "to r@city.lg.jp", &err),
                     0);
    assert_int_equal(quar_events(f->s, id, &ev, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0]->action, "stored");
    assert_string_equal(ev[0]->actor, "tester");
    assert_string_equal(ev[1]->action, "exported");
    assert_string_equal(ev[1]->actor, "suzuki");
    assert_string_equal(ev[1]->reason, "問い合わせ");
    assert_string_equal(ev[1]->detail, "to /tmp/x");
    assert_string_equal(ev[2]->action, "released");
    assert_string_equal(ev[2]->msg_id, id);
    assert_true(ev[2]->time >= ev[1]->time && ev[1]->time > 0);
    quar_event_list_free(ev, n);
}

/* Every lookup of an unknown id answers 1. */
static void test_unknown_id(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"Q-20261125-ZZZZZZ", "", "not-an-id-and-far-too-long-to-be-one"};
    quar_msg *m = NULL;
    quar_event **ev = NULL;
    char *err = NULL;
    size_t n;
    int fd;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_int_equal(quar_get(f->s, bad[i], &m, &err), 1);
        assert_int_equal(quar_open_original(f->s, bad[i], &fd, &err), 1);
        assert_int_equal(quar_set_status(f->s, bad[i], "deleted", &err), 1);
        assert_int_equal(quar_remove(f->s, bad[i], "deleted", &err), 1);
        assert_int_equal(quar_audit(f->s, bad[i], "a", "exported", "r", NULL, &err), 1);
        assert_int_equal(quar_events(f->s, bad[i], &ev, &n, &err), 1);
    }
    assert_null(err);
}

/* len bytes of a fixed pattern covering every byte value. Caller frees. */
static unsigned char *pattern(size_t len)
{
    unsigned char *p = g_malloc(len + 1);

    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7 + i / 251);
    return p;
}

/* SHA-256 of everything read from fd, from its current offset; the byte count in *len. */
static char *fd_sha(int fd, size_t *len)
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    unsigned char buf[8192];
    ssize_t n;
    char *hex;

    *len = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        g_checksum_update(ck, buf, n);
        *len += (size_t)n;
    }
    assert_int_equal(n, 0);
    hex = g_strdup(g_checksum_get_string(ck));
    g_checksum_free(ck);
    return hex;
}

typedef enum { INPUT_FILE, INPUT_PIPE, INPUT_OFFSET } input_kind;

typedef struct pipe_feed {
    int fd;
    const unsigned char *data;
    size_t len;
} pipe_feed;

/* Thread: write the whole feed into the pipe, then close it. */
static gpointer feed_pipe(gpointer p)
{
    pipe_feed *feed = p;
    size_t done = 0;

    while (done < feed->len) {
        ssize_t n = write(feed->fd, feed->data + done, feed->len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(feed->fd);
    return NULL;
}

/* How the original reaches quar_put: a memory file at its start, a pipe fed by a thread (no size
 * for fstat), or a memory file positioned after 5000 other bytes (only the rest is stored). */
static void put_input(quar_store *s, input_kind in, const unsigned char *data, size_t len,
                      quar_msg *m)
{
    char *err = NULL;
    pipe_feed feed = {.data = data, .len = len};
    GThread *t = NULL;
    int fd, p[2];

    if (in == INPUT_PIPE) {
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        feed.fd = p[1];
        t = g_thread_new("feed", feed_pipe, &feed);
        fd = p[0];
    } else if (in == INPUT_OFFSET) {
        unsigned char *all = g_malloc0(5000 + len);
        memcpy(all + 5000, data, len);
        fd = data_fd(all, 5000 + len);
        assert_int_equal(lseek(fd, 5000, SEEK_SET), 5000);
        g_free(all);
    } else {
        fd = data_fd(data, len);
    }
    if (quar_put(s, fd, m, "tester", &err) != 0)
        fail_msg("put: %s", err);
    if (t)
        g_thread_join(t);
    close(fd);
}

#define KEEP ((size_t)-1) /* leave the store's inline bound at its default */

typedef struct place_case {
    const char *name;
    size_t size;       /* bytes of the original */
    size_t inline_max; /* set on the store, or KEEP */
    input_kind input;
    int where; /* IN_ROW or IN_FILE */
} place_case;

static const place_case place_cases[] = {
    {"small", 14, KEEP, INPUT_FILE, IN_ROW},
    {"empty", 0, KEEP, INPUT_FILE, IN_ROW},
    {"at the default bound", INLINE_DEFAULT, KEEP, INPUT_FILE, IN_ROW},
    {"one over the default bound", INLINE_DEFAULT + 1, KEEP, INPUT_FILE, IN_FILE},
    {"large", 700 * KIB, KEEP, INPUT_FILE, IN_FILE},
    {"at a lowered bound", 1000, 1000, INPUT_FILE, IN_ROW},
    {"over a lowered bound", 1001, 1000, INPUT_FILE, IN_FILE},
    {"small, files only", 14, 0, INPUT_FILE, IN_FILE},
    {"empty, files only", 0, 0, INPUT_FILE, IN_FILE},
    {"pipe, small", 100 * KIB, KEEP, INPUT_PIPE, IN_ROW},
    {"pipe, large", 300 * KIB, KEEP, INPUT_PIPE, IN_FILE},
    {"after the offset, small", 800, 1000, INPUT_OFFSET, IN_ROW},
    {"after the offset, large", 1200, 1000, INPUT_OFFSET, IN_FILE},
};

/* A file original: 0640 in a 02770 directory (the store's group reads it, nobody else), its
 * content matching its name. */
static void check_file(const place_case *pc, const char *dir, const char *sha)
{
    char *path = file_path(dir, sha), *shard = g_path_get_dirname(path), *hash;
    struct stat st;
    size_t len;
    int fd;

    assert_int_equal(stat(path, &st), 0);
    if ((st.st_mode & 07777) != 0640)
        fail_msg("%s: file mode %o", pc->name, st.st_mode & 07777);
    assert_int_equal(stat(shard, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02770);
    fd = open(path, O_RDONLY);
    hash = fd_sha(fd, &len);
    assert_string_equal(hash, sha);
    close(fd);
    g_free(hash);
    g_free(shard);
    g_free(path);
}

/* open_original gives the exact bytes, at offset 0, through an fd nobody can write or resize. */
static void check_open(const place_case *pc, quar_store *s, const quar_msg *m)
{
    char *err = NULL, *hash;
    size_t len;
    int fd;

    assert_int_equal(quar_open_original(s, m->id, &fd, &err), 0);
    hash = fd_sha(fd, &len);
    if (strcmp(hash, m->sha256) != 0 || len != pc->size)
        fail_msg("%s: read back %zu bytes, hash %s", pc->name, len, hash);
    assert_int_equal(write(fd, "x", 1), -1);
    if (pc->where == IN_ROW) {
        int want = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
        assert_int_equal(errno, EPERM);
        assert_int_equal(fcntl(fd, F_GET_SEALS) & want, want);
        assert_int_equal(pwrite(fd, "x", 1, 0), -1);
        assert_int_equal(ftruncate(fd, (off_t)pc->size + 1), -1);
        if (pc->size > 0)
            assert_int_equal(ftruncate(fd, 0), -1);
    }
    close(fd);
    g_free(hash);
}

/* Filesystem: small originals are index rows (not files), large ones 0640 files named by their
 * hash; the decision follows the bytes read, and open_original returns them exactly. */
static void test_fs_placement(void **state)
{
    fixture *f = *state;

    for (size_t c = 0; c < G_N_ELEMENTS(place_cases); c++) {
        const place_case *pc = &place_cases[c];
        char *dir = g_strdup_printf("%s/case%zu", f->dir, c), *err = NULL;
        unsigned char *data = pattern(pc->size);
        char *hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, pc->size);
        quar_store *s = quar_open_fs(dir, 30, &err);
        quar_msg *m = quar_msg_new();

        assert_non_null(s);
        if (pc->inline_max != KEEP)
            quar_fs_set_inline_max(s, pc->inline_max);
        put_input(s, pc->input, data, pc->size, m);
        if (m->size != pc->size || strcmp(m->sha256, hash) != 0)
            fail_msg("%s: stored %" PRIu64 " bytes, hash %s", pc->name, m->size, m->sha256);
        if (stored_at(dir, hash) != pc->where)
            fail_msg("%s: stored at %d, want %d", pc->name, stored_at(dir, hash), pc->where);
        if (pc->where == IN_FILE)
            check_file(pc, dir, hash);
        check_open(pc, s, m);
        quar_msg_free(m);
        quar_close(s);
        g_free(hash);
        g_free(data);
        g_free(dir);
    }
}

/* The id of a new message holding content, with the store's inline bound set to max first. */
static void put_with_max(fixture *f, size_t max, const char *content, char id[24])
{
    quar_fs_set_inline_max(f->s, max);
    put_msg(f, content, T0, "s@example.com", "r@city.lg.jp", "clean", id);
}

/* Filesystem: content first stored as a file is referenced, not copied, by a later small put;
 * content in a row and then also as a file is dropped from both with its last holder. */
static void test_fs_mixed(void **state)
{
    fixture *f = *state;
    char a[24], b[24], c[24], d[24], *err = NULL, *hash;
    char *file_sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "as a file\r\n", -1);
    char *row_sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "in a row\r\n", -1);
    size_t len;
    int fd;

    put_with_max(f, 0, "as a file\r\n", a);
    put_with_max(f, INLINE_DEFAULT, "as a file\r\n", b);
    assert_int_equal(stored_at(f->dir, file_sha), IN_FILE);
    put_with_max(f, INLINE_DEFAULT, "in a row\r\n", c);
    put_with_max(f, 0, "in a row\r\n", d);
    assert_int_equal(stored_at(f->dir, row_sha), IN_ROW | IN_FILE);
    assert_int_equal(quar_open_original(f->s, b, &fd, &err), 0);
    hash = fd_sha(fd, &len);
    assert_string_equal(hash, file_sha);
    close(fd);
    g_free(hash);
    assert_int_equal(quar_remove(f->s, a, "deleted", &err), 0);
    assert_int_equal(stored_at(f->dir, file_sha), IN_FILE);
    assert_int_equal(quar_remove(f->s, b, "deleted", &err), 0);
    assert_int_equal(stored_at(f->dir, file_sha), 0);
    assert_int_equal(quar_remove(f->s, d, "purged", &err), 0);
    assert_int_equal(stored_at(f->dir, row_sha), IN_ROW | IN_FILE);
    assert_int_equal(quar_remove(f->s, c, "purged", &err), 0);
    assert_int_equal(stored_at(f->dir, row_sha), 0);
    g_free(file_sha);
    g_free(row_sha);
}

/* Filesystem: the index is in WAL mode with the schema version set; it, its -wal and -shm and
 * the store's directories are the group's (the console's user) and nobody else's, whatever
 * the umask. */
static void test_fs_wal(void **state)
{
    fixture *f = *state;
    char *path = g_strdup_printf("%s/index.sqlite", f->dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0660);
    for (int i = 0; i < 2; i++) {
        char *side = g_strconcat(path, i ? "-shm" : "-wal", NULL);
        assert_int_equal(stat(side, &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0660);
        g_free(side);
    }
    assert_int_equal(stat(f->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 02770);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(index_number(f->dir, "PRAGMA user_version", NULL), 5);
    g_free(path);
}

/* The version 1 index as the first releases created it, with one message whose original is a
 * file. */
static const char v1_index_sql[] =
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE messages ("
    " id TEXT PRIMARY KEY, time INTEGER NOT NULL, queue_id TEXT, client TEXT,"
    " sender TEXT NOT NULL, subject TEXT, from_hdr TEXT, message_id TEXT,"
    " size INTEGER NOT NULL, sha256 TEXT NOT NULL, verdict TEXT, status TEXT NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX messages_time ON messages(time);"
    "CREATE INDEX messages_sha256 ON messages(sha256);"
    "CREATE INDEX messages_expires ON messages(expires);"
    "CREATE TABLE recipients ("
    " msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, addr TEXT NOT NULL, PRIMARY KEY (msg_id, idx));"
    "CREATE TABLE parts ("
    " msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, path TEXT, filename TEXT, declared_type TEXT,"
    " detected_type TEXT, size INTEGER NOT NULL, sha256 TEXT, action TEXT, reason TEXT,"
    " signature TEXT, PRIMARY KEY (msg_id, idx));"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " actor TEXT, action TEXT NOT NULL, reason TEXT, detail TEXT);"
    "CREATE INDEX events_msg ON events(msg_id, id);"
    "INSERT INTO messages VALUES ('Q-20261118-OLD222', 1795000000, NULL, NULL, 'o@example.com',"
    " 'old', NULL, NULL, %zu, '%s', 'clean', 'quarantined', 1797592000);"
    "INSERT INTO recipients VALUES ('Q-20261118-OLD222', 0, 'r@city.lg.jp');"
    "INSERT INTO events (time, msg_id, actor, action) VALUES"
    " (1795000000, 'Q-20261118-OLD222', 'mugai-milter', 'stored');"
    "PRAGMA user_version = %d;";

/* A store in f->dir/name with an index made by sql (no files). Caller frees the path. */
static char *old_store(fixture *f, const char *name, const char *sql)
{
    char *dir = g_strdup_printf("%s/%s", f->dir, name);
    char *path = g_strdup_printf("%s/index.sqlite", dir);
    char *msg = NULL;
    sqlite3 *db;

    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", name, msg);
    sqlite3_close(db);
    g_free(path);
    return dir;
}

/* Filesystem: a version 1 index gains the blobs (and attempts) table on open and keeps working:
 * its file originals open and go away with their message, new small originals become rows. */
static void test_fs_migrate_v1(void **state)
{
    fixture *f = *state;
    const char *content = "old original\r\n";
    char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, content, -1);
    char *sql = g_strdup_printf(v1_index_sql, strlen(content), sha, 1);
    char *dir = old_store(f, "v1", sql), *path = file_path(dir, sha), *shard, *err = NULL, *hash;
    char id[24];
    quar_msg *m = NULL;
    quar_store *keep = f->s;
    size_t len;
    int fd;

    shard = g_path_get_dirname(path);
    assert_int_equal(g_mkdir_with_parents(shard, 0700), 0);
    assert_true(g_file_set_contents(path, content, -1, NULL));
    f->s = quar_open_fs(dir, 30, &err);
    if (!f->s)
        fail_msg("open: %s", err);
    assert_int_equal(index_number(dir, "PRAGMA user_version", NULL), 5);
    assert_int_equal(index_number(dir, "SELECT count(*) FROM blobs", NULL), 0);
    assert_int_equal(quar_get(f->s, "Q-20261118-OLD222", &m, &err), 0);
    assert_string_equal(m->recipients[0], "r@city.lg.jp");
    assert_int_equal(quar_open_original(f->s, m->id, &fd, &err), 0);
    hash = fd_sha(fd, &len);
    assert_string_equal(hash, sha);
    close(fd);
    put_msg(f, "new after the upgrade\r\n", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    quar_msg_free(m);
    assert_int_equal(quar_get(f->s, id, &m, &err), 0);
    assert_int_equal(stored_at(dir, m->sha256), IN_ROW);
    assert_int_equal(quar_remove(f->s, "Q-20261118-OLD222", "deleted", &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    quar_close(f->s);
    f->s = quar_open_fs(dir, 30, &err);
    assert_non_null(f->s);
    assert_int_equal(index_number(dir, "PRAGMA user_version", NULL), 5);
    quar_close(f->s);
    f->s = keep;
    quar_msg_free(m);
    g_free(hash);
    g_free(shard);
    g_free(path);
    g_free(dir);
    g_free(sql);
    g_free(sha);
}

/* Filesystem: an index of a newer schema than this program knows is refused, version kept. */
static void test_fs_newer_version(void **state)
{
    fixture *f = *state;
    char *dir = old_store(f, "v6", "CREATE TABLE future (x); PRAGMA user_version = 6;");
    char *err = NULL;

    assert_null(quar_open_fs(dir, 30, &err));
    assert_non_null(strstr(err, "version 6"));
    assert_int_equal(index_number(dir, "PRAGMA user_version", NULL), 6);
    free(err);
    g_free(dir);
}

/* Filesystem: a stale temporary file from a crashed writer is cleaned on open. */
static void test_fs_stale_temp(void **state)
{
    fixture *f = *state;
    char *stale = g_strdup_printf("%s/originals/.tmp-crash1", f->dir);
    char *fresh = g_strdup_printf("%s/originals/.tmp-inuse", f->dir);
    struct timeval old[2] = {{.tv_sec = T0 - DAY}, {.tv_sec = T0 - DAY}};
    char *err = NULL, id[24];
    quar_msg **list = NULL;
    size_t n = 0;

    assert_true(g_file_set_contents(stale, "half a mess", -1, NULL));
    assert_true(g_file_set_contents(fresh, "being written", -1, NULL));
    assert_int_equal(utimes(stale, old), 0);
    quar_close(f->s);
    f->s = open_fs(f);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(fresh, F_OK), 0);
    put_msg(f, "after crash", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    assert_int_equal(quar_list(f->s, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    quar_msg_list_free(list, n);
    g_free(stale);
    g_free(fresh);
}

/* Filesystem: two processes' worth of connections on one store see each other's writes. */
static void test_fs_two_connections(void **state)
{
    fixture *f = *state;
    char *err = NULL, a[24], b[24];
    quar_store *first = f->s, *second = open_fs(f);
    quar_msg **list = NULL;
    size_t n = 0;
    int fd;

    put_msg(f, "one", T0, "s@example.com", "r@city.lg.jp", "clean", a);
    f->s = second;
    put_msg(f, "two", T0 + 1, "s@example.com", "r@city.lg.jp", "clean", b);
    assert_int_equal(quar_list(first, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->id, b);
    assert_string_equal(list[1]->id, a);
    quar_msg_list_free(list, n);
    assert_int_equal(quar_open_original(first, b, &fd, &err), 0);
    close(fd);
    quar_close(second);
    f->s = first;
}

/* Replace the stored copy of sha in the store in dir, IN_ROW or IN_FILE, by bytes. */
static void tamper(const char *dir, const char *sha, int where, const char *bytes)
{
    if (where == IN_FILE) {
        char *path = file_path(dir, sha);
        int fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
        close(fd);
        g_free(path);
        return;
    }
    char *path = g_strdup_printf("%s/index.sqlite", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "UPDATE blobs SET data = ? WHERE sha256 = ?", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, bytes, (int)strlen(bytes), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, sha, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    g_free(path);
}

/* The action of the last event of id. Caller frees. */
static char *last_action(quar_store *s, const char *id)
{
    quar_event **ev = NULL;
    size_t n = 0;
    char *err = NULL, *action;

    assert_int_equal(quar_events(s, id, &ev, &n, &err), 0);
    assert_true(n > 0);
    action = g_strdup(ev[n - 1]->action);
    quar_event_list_free(ev, n);
    return action;
}

/* Filesystem: an original changed after it was stored (its file, or its row in the index) is
 * refused by open_original with an error naming the id and both hashes, and the refusal is in the
 * message's audit trail. */
static void test_fs_tampered_refused(void **state)
{
    fixture *f = *state;
    const char *content = "From: a@example.com\r\n\r\npay to account 1234\r\n";
    const char *forged = "From: a@example.com\r\n\r\npay to account 9999\r\n";
    char id[24], *err = NULL, *action;
    char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, content, -1);
    char *forged_sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, forged, -1);
    int fd = 7;

    put_msg(f, content, T0, "a@example.com", "r@city.lg.jp", "clean", id);
    tamper(f->dir, sha, small_place(f), forged);
    assert_int_equal(quar_open_original(f->s, id, &fd, &err), -1);
    assert_int_equal(fd, -1);
    assert_non_null(err);
    if (!strstr(err, id) || !strstr(err, sha) || !strstr(err, forged_sha) ||
        !strstr(err, "integrity"))
        fail_msg("error does not name the id and both hashes: %s", err);
    free(err);
    action = last_action(f->s, id);
    assert_string_equal(action, "integrity-failed");
    g_free(action);
    g_free(sha);
    g_free(forged_sha);
}

/* Filesystem: the index is writable by the sanitizer workers, so a content hash read from it
 * must never name a file outside the store: with a messages row whose hash is a path, opening
 * and removing its original fail and the file the path names stays. */
static void test_fs_hash_is_not_a_path(void **state)
{
    fixture *f = *state;
    char *dir = g_strdup_printf("%s/store", f->dir);
    char *victim = g_strdup_printf("%s/victim", f->dir);
    char *db_path = g_strdup_printf("%s/index.sqlite", dir);
    char *err = NULL, *sql;
    quar_msg *m = quar_msg_new();
    quar_store *s;
    sqlite3 *db;
    struct stat st;
    int fd = text_fd("From: a@example.com\r\n\r\nbody\r\n"), out = 7;

    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(g_file_set_contents(victim, "keep me", -1, NULL));
    s = quar_open_fs(dir, 30, &err);
    assert_non_null(s);
    quar_fs_set_inline_max(s, 0);
    m->sender = g_strdup("a@example.com");
    assert_int_equal(quar_put(s, fd, m, "test", &err), 0);
    close(fd);
    /* ".." then "/../victim": DIR/originals/../../victim is f->dir/victim. */
    sql = g_strdup_printf("UPDATE messages SET sha256 = '../victim' WHERE id = '%s';", m->id);
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(quar_open_original(s, m->id, &out, &err), -1);
    assert_int_equal(out, -1);
    if (err == NULL || strstr(err, "malformed content hash") == NULL)
        fail_msg("open: %s", err ? err : "(no error)");
    free(err);
    err = NULL;
    assert_int_equal(quar_remove(s, m->id, "purged", &err), -1);
    free(err);
    assert_int_equal(stat(victim, &st), 0);
    quar_close(s);
    quar_msg_free(m);
    g_free(sql);
    g_free(db_path);
    g_free(victim);
    g_free(dir);
}

typedef struct heal_case {
    const char *name;
    size_t first_max;  /* inline bound for the first put */
    int tampered;      /* IN_ROW, IN_FILE, or 0: the copy is left alone */
    size_t second_max; /* inline bound for the second put of the same content */
    int where;         /* where the content is kept afterwards */
} heal_case;

static const heal_case heal_cases[] = {
    {"untouched row reused", INLINE_DEFAULT, 0, INLINE_DEFAULT, IN_ROW},
    {"untouched file reused", 0, 0, 0, IN_FILE},
    {"changed row, stored again in a row", INLINE_DEFAULT, IN_ROW, INLINE_DEFAULT, IN_ROW},
    {"changed file, stored again as a file", 0, IN_FILE, 0, IN_FILE},
    {"changed file, stored again small", 0, IN_FILE, INLINE_DEFAULT, IN_FILE},
    {"changed row, stored again as a file", INLINE_DEFAULT, IN_ROW, 0, IN_FILE},
};

/* Read the original of id back and compare it with content. */
static void check_content(const heal_case *hc, quar_store *s, const char *id, const char *content)
{
    char *err = NULL, *back;
    int fd;

    if (quar_open_original(s, id, &fd, &err) != 0)
        fail_msg("%s: open %s: %s", hc->name, id, err);
    back = fd_text(fd);
    if (strcmp(back, content) != 0)
        fail_msg("%s: %s reads back \"%s\"", hc->name, id, back);
    close(fd);
    g_free(back);
}

/* Filesystem: storing content whose stored copy was changed does not reuse the bad copy: it is
 * replaced by the bytes just received (the first message reads right again), the one copy stays
 * one copy, and the second message's trail says what happened. */
static void test_fs_put_heals(void **state)
{
    fixture *f = *state;
    const char *content = "From: a@example.com\r\n\r\nminutes of the meeting\r\n";
    char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, content, -1);

    for (size_t c = 0; c < G_N_ELEMENTS(heal_cases); c++) {
        const heal_case *hc = &heal_cases[c];
        char *dir = g_strdup_printf("%s/case%zu", f->dir, c), *err = NULL, *action;
        fixture sub = {BACKEND_FS, dir, quar_open_fs(dir, 30, &err)};
        char a[24], b[24];

        assert_non_null(sub.s);
        put_with_max(&sub, hc->first_max, content, a);
        if (hc->tampered)
            tamper(dir, sha, hc->tampered, "forged");
        put_with_max(&sub, hc->second_max, content, b);
        check_content(hc, sub.s, a, content);
        check_content(hc, sub.s, b, content);
        if (stored_at(dir, sha) != hc->where)
            fail_msg("%s: stored at %d, want %d", hc->name, stored_at(dir, sha), hc->where);
        action = last_action(sub.s, b);
        if (strcmp(action, hc->tampered ? "repaired" : "stored") != 0)
            fail_msg("%s: last event of the second message is %s", hc->name, action);
        g_free(action);
        quar_close(sub.s);
        g_free(dir);
    }
    g_free(sha);
}

/* Run SQL on the index of the store in dir, as the sqlite3 tool would. */
static void index_exec(const char *dir, const char *sql)
{
    char *path = g_strdup_printf("%s/index.sqlite", dir), *msg = NULL;
    sqlite3 *db;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
    g_free(path);
}

/* The whole chain checked: ok, how many events, and the first bad seq. */
static void check_chain(quar_store *s, int ok, uint64_t events, int64_t first_bad, const char *name)
{
    quar_chain c;
    char *err = NULL;

    if (quar_audit_verify(s, &c, &err) != 0)
        fail_msg("%s: verify: %s", name, err);
    if (c.ok != ok || c.events != events || c.first_bad != first_bad)
        fail_msg("%s: ok %d, %" PRIu64 " events, first bad %" PRId64 "; want %d, %" PRIu64
                 ", %" PRId64,
                 name, c.ok, c.events, c.first_bad, ok, events, first_bad);
}

/* The trail holds events with and without an item, each with a seq in order, the command
 * line's source and outcome by default, and its chain verifies whole. */
static void test_chain(void **state)
{
    fixture *f = *state;
    quar_event login = {.time = T0,
                        .actor = (char *)"tanaka",
                        .action = (char *)"login",
                        .source = (char *)"192.0.2.7",
                        .outcome = (char *)"ok"};
    quar_event **ev = NULL;
    char id[24], *err = NULL;
    size_t n = 0, total = 0;

    check_chain(f->s, 1, 0, 0, "empty");
    put_msg(f, "chained", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    assert_int_equal(quar_audit(f->s, id, "suzuki", "exported", "問合せ", "to /tmp/x", &err), 0);
    assert_int_equal(quar_audit_ev(f->s, &login, &err), 0);
    assert_int_equal(quar_audit(f->s, NULL, "admin", "user-added", "", "sato", &err), 0);
    check_chain(f->s, 1, 4, 0, "four events");
    assert_int_equal(quar_audit_list(f->s, NULL, &ev, &n, &total, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(total, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ev[i]->seq, (int64_t)(4 - i));
    assert_null(ev[0]->msg_id);
    assert_string_equal(ev[0]->reason, "");
    assert_string_equal(ev[0]->source, "cli");
    assert_null(ev[1]->msg_id);
    assert_int_equal(ev[1]->time, T0);
    assert_string_equal(ev[1]->source, "192.0.2.7");
    assert_string_equal(ev[2]->msg_id, id);
    assert_string_equal(ev[2]->outcome, "ok");
    assert_string_equal(ev[3]->action, "stored");
    assert_string_equal(ev[3]->outcome, "ok");
    quar_event_list_free(ev, n);
    assert_int_equal(quar_events(f->s, id, &ev, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ev[1]->seq, 2);
    quar_event_list_free(ev, n);
    assert_null(err);
}

typedef struct audit_case {
    const char *name;
    quar_audit_filter filter;
    int item; /* filter by the id of message 0 or 1 (in lower case); -1: none */
    const char *expect;
    size_t total;
} audit_case;

/* Events: 1, 2 stored (now); 3 T0 suzuki requested on 0; 4 T0+10 suzuki login; 5 T0+20
 * tanaka approved on 1; 6 T0+30 tanaka released on 0. */
static const audit_case audit_cases[] = {
    {"all, newest first", {0}, -1, "654321", 6},
    {"actor", {.actor = "suzuki"}, -1, "43", 2},
    {"action", {.action = "login"}, -1, "4", 1},
    {"item, any case", {0}, 0, "631", 3},
    {"range", {.since = T0 + 10, .until = T0 + 20}, -1, "54", 2},
    {"limit", {.limit = 2}, -1, "65", 6},
    {"page", {.limit = 2, .offset = 2}, -1, "43", 6},
    {"filtered page", {.actor = "tanaka", .offset = 1}, -1, "5", 2},
    {"nothing", {.actor = "nobody"}, -1, "", 0},
};

/* audit_list applies each filter, newest first, and counts the matches without paging. */
static void test_audit_list(void **state)
{
    fixture *f = *state;
    static const struct {
        int64_t dt;
        int msg;
        const char *actor, *action;
    } evs[] = {{0, 0, "suzuki", "requested"},
               {10, -1, "suzuki", "login"},
               {20, 1, "tanaka", "approved"},
               {30, 0, "tanaka", "released"}};
    char ids[2][24], *err = NULL;

    put_msg(f, "a0", T0, "s@example.com", "r@city.lg.jp", "clean", ids[0]);
    put_msg(f, "a1", T0, "s@example.com", "r@city.lg.jp", "clean", ids[1]);
    for (size_t i = 0; i < G_N_ELEMENTS(evs); i++) {
        quar_event ev = {.time = T0 + evs[i].dt,
                         .msg_id = evs[i].msg >= 0 ? ids[evs[i].msg] : NULL,
                         .actor = (char *)evs[i].actor,
                         .action = (char *)evs[i].action};
        assert_int_equal(quar_audit_ev(f->s, &ev, &err), 0);
    }
    for (size_t c = 0; c < G_N_ELEMENTS(audit_cases); c++) {
        const audit_case *ac = &audit_cases[c];
        quar_audit_filter af = ac->filter;
        char *item = ac->item >= 0 ? g_ascii_strdown(ids[ac->item], -1) : NULL;
        quar_event **list = NULL;
        size_t n = 0, total = 0;
        af.item = item;
        if (quar_audit_list(f->s, &af, &list, &n, &total, &err) != 0)
            fail_msg("%s: %s", ac->name, err);
        if (n != strlen(ac->expect) || total != ac->total)
            fail_msg("%s: %zu events of %zu", ac->name, n, total);
        for (size_t i = 0; i < n; i++)
            if (list[i]->seq != ac->expect[i] - '0')
                fail_msg("%s: position %zu is %" PRId64, ac->name, i, list[i]->seq);
        quar_event_list_free(list, n);
        g_free(item);
    }
}

/* A message's headers and clean text come back from get, not from list; the release result
 * from both; set_text changes each; an unknown id answers 1, an unknown field fails. */
static void test_texts(void **state)
{
    fixture *f = *state;
    quar_msg *m = quar_msg_new(), *g = NULL, **list = NULL;
    char *err = NULL;
    size_t n = 0;
    int fd = text_fd("Subject: t\r\n\r\nbody\r\n");

    m->sender = g_strdup("s@example.com");
    m->headers = g_strdup("Subject: 見積\nFrom: a@example.com\n");
    m->clean_text = g_strdup("本文です");
    assert_int_equal(quar_put(f->s, fd, m, "tester", &err), 0);
    close(fd);
    assert_int_equal(quar_get(f->s, m->id, &g, &err), 0);
    assert_string_equal(g->headers, m->headers);
    assert_string_equal(g->clean_text, "本文です");
    assert_null(g->release_result);
    quar_msg_free(g);
    assert_int_equal(
        quar_set_text(f->s, m->id, "release_result", "250 2.0.0 Ok: queued as 4X", &err), 0);
    assert_int_equal(quar_set_text(f->s, m->id, "clean_text", "別の本文", &err), 0);
    assert_int_equal(quar_list(f->s, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_null(list[0]->headers);
    assert_null(list[0]->clean_text);
    assert_string_equal(list[0]->release_result, "250 2.0.0 Ok: queued as 4X");
    quar_msg_list_free(list, n);
    assert_int_equal(quar_get(f->s, m->id, &g, &err), 0);
    assert_string_equal(g->clean_text, "別の本文");
    assert_string_equal(g->headers, m->headers);
    quar_msg_free(g);
    assert_int_equal(quar_set_text(f->s, "Q-20261125-ZZZZZZ", "headers", "x", &err), 1);
    assert_null(err);
    assert_int_equal(quar_set_text(f->s, m->id, "subject", "x", &err), -1);
    assert_non_null(strstr(err, "subject"));
    free(err);
    quar_msg_free(m);
}

typedef struct tamper_case {
    const char *name;
    const char *sql; /* run on the index with the sqlite3 library; NULL: none */
    int64_t first_bad;
    uint64_t events; /* rows checked */
    int64_t then;    /* first_bad after one more event is appended; 0: the same */
} tamper_case;

/* Six events: 1 stored, 2-6 "shown" (5 without a source). */
static const tamper_case tamper_cases[] = {
    {"untouched", NULL, 0, 6, 0},
    {"a reason changed", "UPDATE events SET reason = 'nothing to see' WHERE id = 3", 3, 6, 0},
    {"NULL made empty", "UPDATE events SET source = '' WHERE id = 5", 5, 6, 0},
    {"a time changed", "UPDATE events SET time = time + 1 WHERE id = 4", 4, 6, 0},
    {"an item changed", "UPDATE events SET msg_id = NULL WHERE id = 2", 2, 6, 0},
    {"a middle row removed", "DELETE FROM events WHERE id = 3", 4, 5, 0},
    {"the first row removed", "DELETE FROM events WHERE id = 1", 2, 5, 0},
    {"the last row removed", "DELETE FROM events WHERE id = 6", 6, 5, 7},
    {"a row added at the end",
     "INSERT INTO events (id, time, actor, action, prev_hash, hash)"
     " SELECT 7, time, 'x', 'deleted', hash, hash FROM events WHERE id = 6",
     7, 7, 0},
    {"a row put in place of another",
     "DELETE FROM events WHERE id = 3; INSERT INTO events (id, time, actor, action, prev_hash,"
     " hash) SELECT 3, time, actor, 'deleted', hash, hash FROM events WHERE id = 2",
     3, 6, 0},
    {"a row moved into a gap",
     "DELETE FROM events WHERE id = 3; UPDATE events SET id = 3 WHERE id = 4", 3, 5, 0},
    /* the message has no "stored" event left: cut at the last seq + 1 (then a new first row
     * chains to the origin, and the trail is still one without the message's "stored" event) */
    {"the trail emptied, its sequence reset",
     "DELETE FROM events; DELETE FROM sqlite_sequence WHERE name = 'events'", 1, 0, 2},
};

/* Filesystem: verify finds the first event changed, removed or inserted with the sqlite3
 * library, and the trail still takes new events after it. */
static void test_fs_chain_tampered(void **state)
{
    fixture *f = *state;

    for (size_t c = 0; c < G_N_ELEMENTS(tamper_cases); c++) {
        const tamper_case *tc = &tamper_cases[c];
        char *dir = g_strdup_printf("%s/case%zu", f->dir, c), *err = NULL, id[24];
        fixture sub = {.kind = f->kind, .dir = dir};
        sub.s = open_fs(&sub);
        put_msg(&sub, "tamper", T0, "s@example.com", "r@city.lg.jp", "clean", id);
        for (int i = 2; i <= 6; i++) {
            char *reason = g_strdup_printf("reason %d", i);
            quar_event ev = {.msg_id = id,
                             .actor = (char *)"suzuki",
                             .action = (char *)"shown",
                             .reason = reason,
                             .source = i == 5 ? NULL : (char *)"192.0.2.1"};
            assert_int_equal(quar_audit_ev(sub.s, &ev, &err), 0);
            g_free(reason);
        }
        if (tc->sql)
            index_exec(dir, tc->sql);
        check_chain(sub.s, tc->sql == NULL, tc->events, tc->first_bad, tc->name);
        assert_int_equal(quar_audit(sub.s, id, "sato", "shown", NULL, NULL, &err), 0);
        check_chain(sub.s, tc->sql == NULL, tc->events + 1, tc->then ? tc->then : tc->first_bad,
                    tc->name);
        quar_close(sub.s);
        g_free(dir);
    }
}

/* Redirect stderr to a temporary file until stderr_end; the saved descriptor. */
static int stderr_begin(char path[32])
{
    int fd, saved;

    g_strlcpy(path, "/tmp/test_quar-log-XXXXXX", 32);
    fflush(stderr);
    saved = dup(2);
    assert_true((fd = mkstemp(path)) >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
    return saved;
}

/* Restore stderr; what was written to it meanwhile. */
static char *stderr_end(int saved, const char *path)
{
    char *text = NULL;

    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    unlink(path);
    return text;
}

/* The log holds "audit: trail head seq hash". */
static void assert_logged_head(const char *log, int64_t seq, const char *hash)
{
    char *line = g_strdup_printf("audit: trail head %" PRId64 " %s\n", seq, hash);

    if (!strstr(log, line))
        fail_msg("no \"%s\" in the log: %s", line, log);
    g_free(line);
}

/* verify names the trail's head; quar_audit_head gives a row's hash (1 when there is no such
 * row), and every committed append logs the new head, outside the index. */
static void test_chain_head(void **state)
{
    fixture *f = *state;
    char id[24], hash[65], path[32], *err = NULL, *log;
    quar_chain c;
    int saved;

    assert_int_equal(quar_audit_verify(f->s, &c, &err), 0);
    assert_int_equal(c.head_seq, 0);
    assert_string_equal(c.head_hash, QUAR_CHAIN_ORIGIN_HASH);
    assert_int_equal(quar_audit_head(f->s, 1, hash, &err), 1);
    saved = stderr_begin(path);
    put_msg(f, "head", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    assert_int_equal(quar_audit(f->s, id, "suzuki", "shown", NULL, NULL, &err), 0);
    log = stderr_end(saved, path);
    assert_int_equal(quar_audit_verify(f->s, &c, &err), 0);
    assert_int_equal(c.head_seq, 2);
    assert_int_equal(quar_audit_head(f->s, 2, hash, &err), 0);
    assert_string_equal(hash, c.head_hash);
    assert_logged_head(log, 2, hash);
    assert_int_equal(quar_audit_head(f->s, 1, hash, &err), 0);
    assert_string_not_equal(hash, c.head_hash);
    assert_logged_head(log, 1, hash); /* quar_put's "stored" event */
    assert_int_equal(quar_audit_head(f->s, 3, hash, &err), 1);
    assert_int_equal(quar_audit_head(f->s, 0, hash, &err), 1);
    g_free(log);
}

typedef struct appender {
    fixture *f;
    int n;
} appender;

/* Append n events about no item through a connection of its own. */
static gpointer append_events(gpointer p)
{
    appender *a = p;
    quar_store *s = open_fs(a->f);
    char *err = NULL;

    for (int i = 0; i < a->n; i++)
        if (quar_audit(s, NULL, "worker", "shown", NULL, NULL, &err) != 0)
            fail_msg("append: %s", err);
    quar_close(s);
    return NULL;
}

/* Filesystem: writers on four connections at once append to one unbroken chain. */
static void test_fs_chain_concurrent(void **state)
{
    fixture *f = *state;
    appender a = {f, 50};
    GThread *t[4];

    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        t[i] = g_thread_new("append", append_events, &a);
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        g_thread_join(t[i]);
    check_chain(f->s, 1, 200, 0, "four writers");
}

/* The version 3 index: two messages (one original a file) and three events, with gaps in
 * their ids. */
static const char v3_extra_sql[] =
    "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE attempts (digest TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
    " first_time INTEGER NOT NULL, last_time INTEGER NOT NULL);"
    "CREATE INDEX attempts_last ON attempts(last_time);"
    "INSERT INTO messages VALUES ('Q-20261118-OLD333', 1795000100, NULL, NULL, 'p@example.com',"
    " 'second', NULL, NULL, 3, 'ab', 'blocked', 'deleted', 1797592000);"
    "INSERT INTO events (id, time, msg_id, actor, action, reason, detail) VALUES"
    " (5, 1795000100, 'Q-20261118-OLD333', 'mugai-milter', 'stored', NULL, NULL),"
    " (9, 1795000200, 'Q-20261118-OLD222', 'tanaka', 'exported', '問合せ', 'to /tmp/o.eml'),"
    " (12, 1795000300, 'Q-20261118-OLD333', 'sato', 'deleted', '', NULL);";

/* Filesystem: a version 3 index becomes version 4 (and then 5) on open: its events kept in order,
 * numbered 1..n and chained, new events chained after them, and the store's directories and
 * files opened to the group. */
static void test_fs_migrate_v3(void **state)
{
    fixture *f = *state;
    const char *content = "old original\r\n";
    char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, content, -1);
    char *v1 = g_strdup_printf(v1_index_sql, strlen(content), sha, 3);
    char *sql = g_strconcat(v1, v3_extra_sql, NULL);
    char *dir = old_store(f, "v3", sql), *path = file_path(dir, sha), *shard, *err = NULL;
    char *orig = g_strdup_printf("%s/originals", dir);
    quar_filter by_rcpt = {.recipient = "R@CITY"};
    quar_store *keep = f->s;
    quar_event **ev = NULL;
    quar_msg *m = NULL;
    struct stat st;
    size_t n = 0;

    shard = g_path_get_dirname(path);
    assert_int_equal(g_mkdir_with_parents(shard, 0700), 0);
    assert_int_equal(chmod(orig, 0700), 0);
    assert_true(g_file_set_contents(path, content, -1, NULL));
    assert_int_equal(chmod(path, 0600), 0);
    f->s = quar_open_fs(dir, 30, &err);
    if (!f->s)
        fail_msg("open: %s", err);
    assert_int_equal(index_number(dir, "PRAGMA user_version", NULL), 5);
    check_chain(f->s, 1, 4, 0, "migrated");
    assert_int_equal(quar_events(f->s, "Q-20261118-OLD222", &ev, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0]->seq, 1);
    assert_string_equal(ev[0]->action, "stored");
    assert_int_equal(ev[1]->seq, 3);
    assert_string_equal(ev[1]->reason, "問合せ");
    assert_string_equal(ev[1]->detail, "to /tmp/o.eml");
    assert_null(ev[1]->source);
    quar_event_list_free(ev, n);
    assert_int_equal(
        index_number(dir, "SELECT count(*) FROM events WHERE id = 1 AND prev_hash = ?",
                     "0000000000000000000000000000000000000000000000000000000000000000"),
        1);
    assert_int_equal(quar_audit(f->s, NULL, "admin", "user-added", NULL, "sato", &err), 0);
    check_chain(f->s, 1, 5, 0, "one more");
    assert_int_equal(quar_get(f->s, "Q-20261118-OLD333", &m, &err), 0);
    assert_null(m->release_result);
    assert_null(m->headers);
    quar_msg_free(m);
    assert_int_equal(quar_count(f->s, &by_rcpt, &n, &err), 0);
    assert_int_equal(n, 1); /* the old recipients are searched as new ones */
    assert_int_equal(stat(orig, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02770);
    assert_int_equal(stat(shard, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02770);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    quar_close(f->s);
    f->s = keep;
    g_free(orig);
    g_free(shard);
    g_free(path);
    g_free(dir);
    g_free(sql);
    g_free(v1);
    g_free(sha);
}

/* A hex SHA-256 of a word: a token hash or CSRF token for the tests. Caller frees. */
static char *hex_of(const char *word)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, word, -1);
}

/* An account with a placeholder hash. */
static int add_user(quar_store *s, const char *name, const char *role, char **err)
{
    quar_user u = {.name = (char *)name,
                   .role = (char *)role,
                   .pwhash = (char *)"$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA",
                   .created = T0};

    return quar_user_add(s, &u, err);
}

/* The memory store keeps no console records: each call fails and says so. */
static void test_mem_no_console(void **state)
{
    fixture *f = *state;
    quar_user *u = NULL;
    char *err = NULL;

    assert_int_equal(add_user(f->s, "alice", "admin", &err), -1);
    assert_non_null(strstr(err, "not supported by this store"));
    free(err);
    err = NULL;
    assert_int_equal(quar_user_get(f->s, "alice", &u, &err), -1);
    assert_null(u);
    free(err);
}

typedef struct user_case {
    const char *name, *role;
    int rc;
} user_case;

static const user_case user_cases[] = {
    {"alice", "admin", 0},
    {"bob.k@city-1_x", "reviewer", 0},
    {"carol", "auditor", 0},
    {"alice", "reviewer", 2}, /* taken */
    {"a b", "admin", -1},
    {"", "admin", -1},
    {"x/../y", "admin", -1},
    {"dave", "root", -1},
    {"0123456789012345678901234567890123456789012345678901234567890123", "auditor", 0},
    {"01234567890123456789012345678901234567890123456789012345678901234", "auditor", -1},
};

/* Filesystem: accounts are added (names checked, a taken one answers 2), read, listed by name
 * and changed; an unknown one answers 1. */
static void test_fs_users(void **state)
{
    fixture *f = *state;
    quar_user *u = NULL, **list = NULL;
    char *err = NULL;
    size_t n = 0;

    for (size_t c = 0; c < G_N_ELEMENTS(user_cases); c++) {
        const user_case *uc = &user_cases[c];
        int rc = add_user(f->s, uc->name, uc->role, &err);
        if (rc != uc->rc)
            fail_msg("%s/%s: %d, want %d (%s)", uc->name, uc->role, rc, uc->rc, err ? err : "");
        free(err);
        err = NULL;
    }
    assert_int_equal(quar_user_get(f->s, "bob.k@city-1_x", &u, &err), 0);
    assert_string_equal(u->role, "reviewer");
    assert_string_equal(u->pwhash, "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA");
    assert_int_equal(u->created, T0);
    assert_int_equal(u->disabled, 0);
    quar_user_free(u);
    assert_int_equal(quar_user_list(f->s, &list, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(list[0]->name,
                        "0123456789012345678901234567890123456789012345678901234567890123");
    assert_string_equal(list[1]->name, "alice");
    assert_string_equal(list[3]->name, "carol");
    quar_user_list_free(list, n);
    assert_int_equal(quar_user_set(f->s, "carol", "role", "admin", &err), 0);
    assert_int_equal(quar_user_set(f->s, "carol", "disabled", "1", &err), 0);
    assert_int_equal(quar_user_set(f->s, "carol", "pwhash", "$argon2id$new", &err), 0);
    assert_int_equal(quar_user_get(f->s, "carol", &u, &err), 0);
    assert_string_equal(u->role, "admin");
    assert_int_equal(u->disabled, 1);
    assert_string_equal(u->pwhash, "$argon2id$new");
    quar_user_free(u);
    assert_int_equal(quar_user_set(f->s, "nobody", "role", "admin", &err), 1);
    assert_int_equal(quar_user_get(f->s, "nobody", &u, &err), 1);
    assert_null(err);
    assert_int_equal(quar_user_set(f->s, "carol", "role", "root", &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(quar_user_set(f->s, "carol", "name", "x", &err), -1);
    free(err);
}

typedef struct login_step {
    const char *what;  /* "fail", "ok", "passwd" or "enable"/"disable" */
    int64_t at;        /* seconds after T0 */
    int locked;        /* *locked after a failure */
    unsigned failures; /* the count afterwards */
    int64_t until;     /* locked_until afterwards, after T0 (0: not locked) */
} login_step;

/* Three failures within 900 s lock for 900 s; only the failure that locks says so. */
static const login_step login_steps[] = {
    {"fail", 0, 0, 1, 0},       {"fail", 100, 0, 2, 0},
    {"ok", 200, 0, 0, 0},       {"fail", 300, 0, 1, 0},
    {"fail", 1201, 0, 1, 0}, /* the first counted failure is older than the window */
    {"fail", 1300, 0, 2, 0},    {"fail", 1400, 1, 3, 2300},
    {"fail", 1500, 0, 4, 2300}, /* still locked: counted, lock unchanged */
    {"ok", 1600, 0, 0, 2300},   /* a success clears the count, not the lock */
    {"fail", 2301, 0, 1, 2300}, {"fail", 2302, 0, 2, 2300},
    {"fail", 2303, 1, 3, 3203}, /* the lock ran out: a new one */
    {"passwd", 2400, 0, 0, 0},  /* a new password clears both */
    {"fail", 2500, 0, 1, 0},    {"disable", 2600, 0, 0, 0},
};

/* Filesystem: failed sign-ins are counted in their window and lock the account. */
static void test_fs_lockout(void **state)
{
    fixture *f = *state;
    char *err = NULL;
    int locked;

    assert_int_equal(add_user(f->s, "alice", "reviewer", &err), 0);
    for (size_t i = 0; i < G_N_ELEMENTS(login_steps); i++) {
        const login_step *ls = &login_steps[i];
        quar_user *u = NULL;
        locked = -1;
        if (strcmp(ls->what, "fail") == 0)
            assert_int_equal(quar_login_failed(f->s, "alice", T0 + ls->at, 3, 900, &locked, &err),
                             0);
        else if (strcmp(ls->what, "ok") == 0)
            assert_int_equal(quar_login_ok(f->s, "alice", &err), 0);
        else if (strcmp(ls->what, "passwd") == 0)
            assert_int_equal(quar_user_set(f->s, "alice", "pwhash", "$argon2id$x", &err), 0);
        else
            assert_int_equal(quar_user_set(f->s, "alice", "disabled", "1", &err), 0);
        assert_int_equal(quar_user_get(f->s, "alice", &u, &err), 0);
        if ((locked != -1 && locked != ls->locked) || u->failures != ls->failures ||
            u->locked_until != (ls->until ? T0 + ls->until : 0))
            fail_msg("step %zu (%s at %" PRId64 "): locked %d, %u failures, until %" PRId64, i,
                     ls->what, ls->at, locked, u->failures, u->locked_until);
        quar_user_free(u);
    }
    assert_int_equal(quar_login_failed(f->s, "nobody", T0, 3, 900, &locked, &err), 1);
    assert_int_equal(locked, 0);
    assert_int_equal(quar_login_ok(f->s, "nobody", &err), 1);
    assert_null(err);
}

/* Put a session of user for word's token, created and last seen at T0 + at. */
static int put_session(quar_store *s, const char *word, const char *user, int64_t at, char **err)
{
    char *token = hex_of(word), *csrf = hex_of("csrf");
    quar_session se = {.user = (char *)user,
                       .created = T0 + at,
                       .last_seen = T0 + at,
                       .source = (char *)"192.0.2.9"};
    int rc;

    g_strlcpy(se.token_hash, token, sizeof se.token_hash);
    g_strlcpy(se.csrf, csrf, sizeof se.csrf);
    rc = quar_session_put(s, &se, err);
    g_free(token);
    g_free(csrf);
    return rc;
}

/* 0 when word's session is there, 1 when not. */
static int session_there(quar_store *s, const char *word)
{
    char *token = hex_of(word), *err = NULL;
    quar_session *se = NULL;
    int rc = quar_session_get(s, token, &se, &err);

    if (rc < 0)
        fail_msg("session get: %s", err);
    quar_session_free(se);
    g_free(token);
    return rc;
}

/* Filesystem: sessions are kept by token hash, touched, dropped one by one or by user, and
 * pruned when idle or too old. */
static void test_fs_sessions(void **state)
{
    fixture *f = *state;
    char *err = NULL, *token = hex_of("a1"), *csrf = hex_of("csrf");
    quar_session *se = NULL;

    assert_int_equal(add_user(f->s, "alice", "admin", &err), 0);
    assert_int_equal(add_user(f->s, "bob", "reviewer", &err), 0);
    assert_int_equal(put_session(f->s, "a1", "alice", 0, &err), 0);
    assert_int_equal(put_session(f->s, "a2", "alice", 100, &err), 0);
    assert_int_equal(put_session(f->s, "b1", "bob", 200, &err), 0);
    assert_int_equal(put_session(f->s, "b2", "bob", 300, &err), 0);
    assert_int_equal(put_session(f->s, "x1", "nobody", 0, &err), 1);
    assert_int_equal(quar_session_get(f->s, token, &se, &err), 0);
    assert_string_equal(se->user, "alice");
    assert_string_equal(se->csrf, csrf);
    assert_string_equal(se->source, "192.0.2.9");
    assert_int_equal(se->created, T0);
    quar_session_free(se);
    assert_int_equal(quar_session_touch(f->s, token, T0 + 1000, &err), 0);
    assert_int_equal(quar_session_get(f->s, token, &se, &err), 0);
    assert_int_equal(se->last_seen, T0 + 1000);
    assert_int_equal(se->created, T0);
    quar_session_free(se);
    /* idle since before T0+150 (a2), or created before T0 - nothing else */
    assert_int_equal(quar_session_prune(f->s, T0 + 150, T0, &err), 0);
    assert_int_equal(session_there(f->s, "a1"), 0);
    assert_int_equal(session_there(f->s, "a2"), 1);
    /* created before T0+100 (a1, touched or not) */
    assert_int_equal(quar_session_prune(f->s, 0, T0 + 100, &err), 0);
    assert_int_equal(session_there(f->s, "a1"), 1);
    assert_int_equal(session_there(f->s, "b1"), 0);
    assert_int_equal(quar_session_touch(f->s, token, T0, &err), 1);
    g_free(token);
    token = hex_of("b1");
    assert_int_equal(quar_session_drop(f->s, token, NULL, &err), 0);
    assert_int_equal(session_there(f->s, "b1"), 1);
    assert_int_equal(session_there(f->s, "b2"), 0);
    assert_int_equal(put_session(f->s, "b3", "bob", 400, &err), 0);
    assert_int_equal(quar_session_drop(f->s, NULL, "bob", &err), 0);
    assert_int_equal(session_there(f->s, "b2"), 1);
    assert_int_equal(session_there(f->s, "b3"), 1);
    assert_null(err);
    g_free(token);
    g_free(csrf);
}

/* A request on id of action by requester; its new id into *rid (when not NULL). */
static int add_request(quar_store *s, const char *id, const char *action, const char *requester,
                       int64_t *rid, char **err)
{
    quar_request r = {.action = (char *)action,
                      .reason = (char *)"業務上必要",
                      .requester = (char *)requester,
                      .time = T0};
    int rc;

    g_strlcpy(r.msg_id, id, sizeof r.msg_id);
    rc = quar_request_add(s, &r, err);
    if (rc == 0) {
        assert_true(r.id > 0);
        assert_string_equal(r.status, "pending");
    }
    if (rid)
        *rid = r.id;
    g_free(r.status);
    return rc;
}

/* request id's status. */
static void check_request(quar_store *s, int64_t id, const char *status, const char *approver,
                          const char *result)
{
    quar_request *r = NULL;
    char *err = NULL;

    assert_int_equal(quar_request_get(s, id, &r, &err), 0);
    assert_string_equal(r->status, status);
    assert_true(g_strcmp0(r->approver, approver) == 0);
    assert_true(g_strcmp0(r->result, result) == 0);
    quar_request_free(r);
}

/* Filesystem: one pending request per action and item; the requester cannot decide it;
 * it is decided once and finished once. */
static void test_fs_requests(void **state)
{
    fixture *f = *state;
    char id[24], other[24], *err = NULL, *lower;
    int64_t rel, exp, del, again;
    quar_request *r = NULL, **list = NULL;
    size_t n = 0;

    put_msg(f, "req", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    put_msg(f, "req2", T0, "s@example.com", "r@city.lg.jp", "clean", other);
    lower = g_ascii_strdown(id, -1);
    assert_int_equal(add_request(f->s, lower, "release", "suzuki", &rel, &err), 0);
    assert_int_equal(add_request(f->s, id, "release", "sato", NULL, &err), 2);
    assert_int_equal(add_request(f->s, id, "export", "suzuki", &exp, &err), 0);
    assert_int_equal(add_request(f->s, other, "delete", "suzuki", &del, &err), 0);
    assert_int_equal(add_request(f->s, "Q-20261125-ZZZZZZ", "release", "suzuki", NULL, &err), 1);
    assert_int_equal(add_request(f->s, id, "forward", "suzuki", NULL, &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(quar_request_get(f->s, rel, &r, &err), 0);
    assert_string_equal(r->msg_id, id);
    assert_string_equal(r->action, "release");
    assert_string_equal(r->reason, "業務上必要");
    assert_string_equal(r->requester, "suzuki");
    assert_int_equal(r->time, T0);
    assert_null(r->to);
    quar_request_free(r);
    assert_int_equal(quar_request_get(f->s, 999, &r, &err), 1);
    /* the two-person rule, then one decision only */
    assert_int_equal(quar_request_decide(f->s, rel, "approved", "suzuki", "mine", T0 + 5, &err), 3);
    check_request(f->s, rel, "pending", NULL, NULL);
    assert_int_equal(quar_request_decide(f->s, rel, "approved", "tanaka", "ok", T0 + 10, &err), 0);
    assert_int_equal(quar_request_decide(f->s, rel, "denied", "sato", "no", T0 + 11, &err), 2);
    assert_int_equal(quar_request_decide(f->s, rel, "approved", "suzuki", "x", T0 + 12, &err), 2);
    assert_int_equal(quar_request_decide(f->s, 999, "approved", "tanaka", "x", T0, &err), 1);
    check_request(f->s, rel, "approved", "tanaka", NULL);
    /* approved is no longer pending: a new release request may follow */
    assert_int_equal(add_request(f->s, id, "release", "sato", &again, &err), 0);
    assert_int_equal(quar_request_finish(f->s, rel, "done", "250 2.0.0 Ok: queued as 4X", &err), 0);
    assert_int_equal(quar_request_finish(f->s, rel, "failed", "x", &err), 2);
    check_request(f->s, rel, "done", "tanaka", "250 2.0.0 Ok: queued as 4X");
    assert_int_equal(quar_request_decide(f->s, exp, "denied", "tanaka", "不要", T0 + 20, &err), 0);
    assert_int_equal(quar_request_finish(f->s, exp, "done", "x", &err), 2);
    check_request(f->s, exp, "denied", "tanaka", NULL);
    assert_int_equal(quar_request_finish(f->s, del, "failed", "failed: gone", &err), 0);
    assert_int_equal(quar_request_finish(f->s, 999, "done", "x", &err), 1);
    assert_int_equal(quar_request_decide(f->s, again, "maybe", "tanaka", "x", T0, &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(quar_request_list(f->s, "pending", NULL, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0]->id, again);
    quar_request_list_free(list, n);
    assert_int_equal(quar_request_list(f->s, NULL, lower, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(list[0]->id, rel);
    assert_int_equal(list[1]->id, exp);
    assert_int_equal(list[2]->id, again);
    quar_request_list_free(list, n);
    assert_null(err);
    g_free(lower);
}

typedef struct taker {
    fixture *f;
    const char *token;
    gint *ready, *won;
} taker;

/* Wait for every taker, then take the download through a connection of its own. */
static gpointer take_download(gpointer p)
{
    taker *t = p;
    quar_store *s = open_fs(t->f);
    char *err = NULL;
    int64_t rid = 0;
    int rc;

    g_atomic_int_inc(t->ready);
    while (g_atomic_int_get(t->ready) < 6)
        g_usleep(100);
    rc = quar_download_take(s, t->token, T0, &rid, &err);
    if (rc < 0)
        fail_msg("take: %s", err);
    if (rc == 0)
        g_atomic_int_inc(t->won);
    quar_close(s);
    return NULL;
}

/* Filesystem: a download is taken once, even by six takers at the same moment, and not after
 * it expired. */
static void test_fs_downloads(void **state)
{
    fixture *f = *state;
    char id[24], *err = NULL, *tok = hex_of("d1"), *old = hex_of("d2"), *race = hex_of("d3");
    int64_t rid, got = 0;
    gint ready = 0, won = 0;
    taker t = {f, race, &ready, &won};
    GThread *th[6];

    put_msg(f, "dl", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    assert_int_equal(add_request(f->s, id, "export", "suzuki", &rid, &err), 0);
    assert_int_equal(quar_download_put(f->s, tok, rid, T0 + 600, &err), 0);
    assert_int_equal(quar_download_put(f->s, old, rid, T0 + 600, &err), 0);
    assert_int_equal(quar_download_put(f->s, race, rid, T0 + 1200, &err), 0);
    assert_int_equal(quar_download_take(f->s, tok, T0 + 599, &got, &err), 0);
    assert_int_equal(got, rid);
    assert_int_equal(quar_download_take(f->s, tok, T0 + 599, &got, &err), 1);
    assert_int_equal(got, 0);
    assert_int_equal(quar_download_take(f->s, old, T0 + 600, &got, &err), 1);
    assert_int_equal(quar_download_take(f->s, old, T0, &got, &err), 1); /* gone with expiry */
    for (size_t i = 0; i < G_N_ELEMENTS(th); i++)
        th[i] = g_thread_new("take", take_download, &t);
    for (size_t i = 0; i < G_N_ELEMENTS(th); i++)
        g_thread_join(th[i]);
    assert_int_equal(won, 1);
    assert_null(err);
    g_free(tok);
    g_free(old);
    g_free(race);
}

/* Filesystem: what any process makes in the store (the index's -wal and -shm, shards,
 * originals) belongs to the store directory's group, whatever that process's own group. */
static void test_fs_group_inherited(void **state)
{
    fixture *f = *state;
    char *dir = g_strdup_printf("%s/grp", f->dir), *orig = g_strdup_printf("%s/originals", dir);
    char *index = g_strdup_printf("%s/index.sqlite", dir), *err = NULL, id[24];
    char *wal = g_strconcat(index, "-wal", NULL);
    const gid_t other = 65534; /* nogroup: not this process's group */
    fixture sub = {.kind = BACKEND_FS_FILES, .dir = dir};
    quar_msg *m = NULL;
    struct stat st;
    char *path;

    if (geteuid() != 0) {
        skip(); /* giving the store another group needs root */
        return;
    }
    sub.s = open_fs(&sub);
    quar_close(sub.s);
    assert_int_equal(access(wal, F_OK), -1);
    assert_int_equal(chown(dir, (uid_t)-1, other), 0);
    assert_int_equal(chown(orig, (uid_t)-1, other), 0);
    assert_int_equal(chown(index, (uid_t)-1, other), 0); /* as made in a set-group-id store */
    assert_int_equal(chmod(dir, 02770), 0);              /* chown cleared the bit */
    assert_int_equal(chmod(orig, 02770), 0);
    sub.s = open_fs(&sub);
    put_msg(&sub, "grouped", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    assert_int_equal(quar_get(sub.s, id, &m, &err), 0);
    path = file_path(dir, m->sha256);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_gid, other);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_gid, other);
    assert_int_equal(st.st_mode & 07777, 0640);
    *strrchr(path, '/') = '\0';
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_gid, other);
    assert_int_equal(st.st_mode & 07777, 02770);
    quar_close(sub.s);
    quar_msg_free(m);
    g_free(path);
    g_free(wal);
    g_free(index);
    g_free(orig);
    g_free(dir);
}

/* The same test against each backend (the filesystem one in both ways), named after it. */
#define ALL(fn)                                                                                    \
    {"mem/" #fn, fn, setup, teardown, &kind_mem}, {"fs/" #fn, fn, setup, teardown, &kind_fs},      \
    {                                                                                              \
        "fs-files/" #fn, fn, setup, teardown, &kind_fs_files                                       \
    }
#define FS_BOTH(fn)                                                                                \
    {"fs/" #fn, fn, setup, teardown, &kind_fs},                                                    \
    {                                                                                              \
        "fs-files/" #fn, fn, setup, teardown, &kind_fs_files                                       \
    }
#define FS_ONLY(fn)                                                                                \
    {                                                                                              \
        "fs/" #fn, fn, setup, teardown, &kind_fs                                                   \
    }

/* Every test against each backend, in Tokyo time, under a strict umask. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        ALL(test_roundtrip),
        ALL(test_shared_content),
        ALL(test_list_filters),
        ALL(test_ids),
        ALL(test_remove_shared),
        ALL(test_expired),
        ALL(test_events),
        ALL(test_unknown_id),
        FS_ONLY(test_fs_placement),
        FS_ONLY(test_fs_mixed),
        FS_ONLY(test_fs_wal),
        FS_ONLY(test_fs_migrate_v1),
        FS_ONLY(test_fs_newer_version),
        FS_BOTH(test_fs_stale_temp),
        FS_BOTH(test_fs_two_connections),
        FS_BOTH(test_fs_tampered_refused),
        cmocka_unit_test_prestate_setup_teardown(test_fs_hash_is_not_a_path, setup, teardown,
                                                 &kind_fs),
        FS_ONLY(test_fs_put_heals),
        ALL(test_chain),
        ALL(test_chain_head),
        ALL(test_audit_list),
        ALL(test_texts),
        FS_ONLY(test_fs_chain_tampered),
        FS_ONLY(test_fs_chain_concurrent),
        FS_ONLY(test_fs_migrate_v3),
        cmocka_unit_test_prestate_setup_teardown(test_mem_no_console, setup, teardown, &kind_mem),
        FS_ONLY(test_fs_users),
        FS_ONLY(test_fs_lockout),
        FS_ONLY(test_fs_sessions),
        FS_ONLY(test_fs_requests),
        FS_ONLY(test_fs_downloads),
        FS_ONLY(test_fs_group_inherited),
    };

    setenv("TZ", "Asia/Tokyo", 1);
    umask(077); /* the store's modes must not come from the umask */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
