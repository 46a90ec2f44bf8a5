/*
 * tests/unit/test_quar.c - unit tests of the quarantine store, run against
 * both backends (memory and filesystem + SQLite) with the same table, plus
 * checks only the filesystem backend can answer (modes, names, WAL, temps).
 *
 * Runs as an ordinary test program in temporary directories; it must never
 * touch a real store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define DAY 86400
#define T0 1795000000 /* 2026-11-18 */

typedef enum { BACKEND_MEM, BACKEND_FS } backend_kind;

typedef struct fixture {
    backend_kind kind;
    char *dir;
    quar_store *s;
} fixture;

static backend_kind kind_mem = BACKEND_MEM, kind_fs = BACKEND_FS;

/* Open a fresh store of the kind named by the prestate. */
static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    char *err = NULL;

    f->kind = *(backend_kind *)*state;
    if (f->kind == BACKEND_FS) {
        f->dir = g_dir_make_tmp("test_quar-XXXXXX", NULL);
        assert_non_null(f->dir);
        f->s = quar_open_fs(f->dir, 30, &err);
    } else {
        f->s = quar_open_memory(30);
    }
    if (!f->s)
        fail_msg("open: %s", err);
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

/* An fd positioned at the start of text. */
static int text_fd(const char *text)
{
    int fd = memfd_create("input", 0);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Store a message with the given envelope and content; its id into id[24]. */
static void put_msg(fixture *f, const char *content, int64_t time, const char *sender,
                    const char *rcpt, const char *verdict, char id[24])
{
    quar_msg *m = quar_msg_new();
    char *err = NULL;
    int fd = text_fd(content);

    m->time = time;
    m->sender = g_strdup(sender);
    g_strfreev(m->recipients);
    m->recipients = g_new0(char *, 2);
    m->recipients[0] = g_strdup(rcpt);
    m->subject = g_strdup("件名");
    m->verdict = g_strdup(verdict);
    if (quar_put(f->s, fd, m, "tester", &err) != 0)
        fail_msg("put: %s", err);
    memcpy(id, m->id, 24);
    close(fd);
    quar_msg_free(m);
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
        char *sub = g_strdup_printf("%s/originals/%.2s", f->dir, ma->sha256);
        GDir *d = g_dir_open(sub, 0, NULL);
        int count = 0;
        assert_non_null(d);
        while (g_dir_read_name(d))
            count++;
        assert_int_equal(count, 1);
        g_dir_close(d);
        g_free(sub);
    }
    quar_msg_free(ma);
    quar_msg_free(mb);
}

typedef struct list_case {
    const char *name;
    quar_filter filter;
    const char *expect; /* indexes of the messages, newest first */
} list_case;

/* Four messages, one a day; message 3 is later released. */
static const list_case list_cases[] = {
    {"all newest first", {0}, "3210"},
    {"since", {.since = T0 + DAY}, "321"},
    {"until", {.until = T0 + DAY}, "10"},
    {"range", {.since = T0 + DAY, .until = T0 + 2 * DAY}, "21"},
    {"sender substring, any case", {.sender = "ALICE"}, "20"},
    {"recipient substring", {.recipient = "kikaku@"}, "31"},
    {"verdict", {.verdict = "blocked"}, "3"},
    {"status", {.status = "released"}, "3"},
    {"status quarantined", {.status = "quarantined"}, "210"},
    {"limit", {.limit = 2}, "32"},
    {"combined", {.sender = "example", .verdict = "sanitized", .limit = 1}, "2"},
    {"nothing", {.sender = "nobody"}, ""},
};

/* list applies each filter and orders newest first. */
static void test_list_filters(void **state)
{
    fixture *f = *state;
    char ids[4][24];
    char *err = NULL;

    put_msg(f, "m0", T0, "alice@example.com", "somu@city.lg.jp", "clean", ids[0]);
    put_msg(f, "m1", T0 + DAY, "bob@example.net", "kikaku@city.lg.jp", "clean", ids[1]);
    put_msg(f, "m2", T0 + 2 * DAY, "Alice@Example.com", "somu@city.lg.jp", "sanitized", ids[2]);
    put_msg(f, "m3", T0 + 3 * DAY, "carol@example.org", "kikaku@city.lg.jp", "blocked", ids[3]);
    assert_int_equal(quar_set_status(f->s, ids[3], "released", &err), 0);
    for (size_t c = 0; c < G_N_ELEMENTS(list_cases); c++) {
        const list_case *lc = &list_cases[c];
        quar_msg **list = NULL;
        size_t n = 0;
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
    char id[24];
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
    g_hash_table_destroy(seen);
    g_regex_unref(re);
}

/* remove keeps a shared original while another message holds it. */
static void test_remove_shared(void **state)
{
    fixture *f = *state;
    char a[24], b[24];
    char *err = NULL, *path = NULL;
    quar_msg *m = NULL;
    int fd;

    put_msg(f, "shared\r\n", T0, "s@example.com", "r@city.lg.jp", "clean", a);
    put_msg(f, "shared\r\n", T0 + 1, "s@example.com", "r@city.lg.jp", "clean", b);
    assert_int_equal(quar_get(f->s, a, &m, &err), 0);
    if (f->dir)
        path = g_strdup_printf("%s/originals/%.2s/%s", f->dir, m->sha256, m->sha256);
    assert_int_equal(quar_remove(f->s, a, "deleted", &err), 0);
    assert_int_equal(quar_open_original(f->s, b, &fd, &err), 0);
    close(fd);
    free(err);
    err = NULL;
    assert_int_equal(quar_open_original(f->s, a, &fd, &err), -1);
    assert_non_null(strstr(err, "deleted"));
    if (path)
        assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(quar_remove(f->s, b, "deleted", &err), 0);
    assert_int_equal(quar_open_original(f->s, b, &fd, &err), -1);
    if (path)
        assert_int_equal(access(path, F_OK), -1);
    quar_msg_free(m);
    assert_int_equal(quar_get(f->s, b, &m, &err), 0);
    assert_string_equal(m->status, "deleted");
    quar_msg_free(m);
    free(err);
    g_free(path);
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

/* Filesystem: original mode 0600 in a 0700 dir, named by its hash. */
static void test_fs_file(void **state)
{
    fixture *f = *state;
    char id[24];
    quar_msg *m = NULL;
    char *err = NULL, *path, *dir, *data = NULL, *hash;
    gsize len;
    struct stat st;

    put_msg(f, "file content\r\n", T0, "s@example.com", "r@city.lg.jp", "clean", id);
    assert_int_equal(quar_get(f->s, id, &m, &err), 0);
    path = g_strdup_printf("%s/originals/%.2s/%s", f->dir, m->sha256, m->sha256);
    dir = g_path_get_dirname(path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_true(g_file_get_contents(path, &data, &len, NULL));
    hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
    assert_string_equal(hash, m->sha256);
    g_free(hash);
    g_free(data);
    g_free(dir);
    g_free(path);
    quar_msg_free(m);
}

/* Filesystem: the index is in WAL mode with the schema version set. */
static void test_fs_wal(void **state)
{
    fixture *f = *state;
    char *path = g_strdup_printf("%s/index.sqlite", f->dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0077, 0);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    g_free(path);
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
    f->s = quar_open_fs(f->dir, 30, &err);
    assert_non_null(f->s);
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
    quar_store *first = f->s, *second = quar_open_fs(f->dir, 30, &err);
    quar_msg **list = NULL;
    size_t n = 0;

    assert_non_null(second);
    put_msg(f, "one", T0, "s@example.com", "r@city.lg.jp", "clean", a);
    f->s = second;
    put_msg(f, "two", T0 + 1, "s@example.com", "r@city.lg.jp", "clean", b);
    assert_int_equal(quar_list(first, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->id, b);
    assert_string_equal(list[1]->id, a);
    quar_msg_list_free(list, n);
    quar_close(second);
    f->s = first;
}

/* The same test against each backend, named after it. */
#define BOTH(fn)                                                                                   \
    {"mem/" #fn, fn, setup, teardown, &kind_mem},                                                  \
    {                                                                                              \
        "fs/" #fn, fn, setup, teardown, &kind_fs                                                   \
    }
#define FS_ONLY(fn)                                                                                \
    {                                                                                              \
        "fs/" #fn, fn, setup, teardown, &kind_fs                                                   \
    }

/* Every test against each backend, in Tokyo time. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_roundtrip), BOTH(test_shared_content),   BOTH(test_list_filters),
        BOTH(test_ids),       BOTH(test_remove_shared),    BOTH(test_expired),
        BOTH(test_events),    BOTH(test_unknown_id),       FS_ONLY(test_fs_file),
        FS_ONLY(test_fs_wal), FS_ONLY(test_fs_stale_temp), FS_ONLY(test_fs_two_connections),
    };

    setenv("TZ", "Asia/Tokyo", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
