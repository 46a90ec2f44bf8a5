/*
 * tests/unit/test_poison.c - unit tests of poison messages (milter/poison.c
 * and the failure counts of the quarantine store): the digest that knows a
 * message again on a retry, the counts in both store backends (kept across a
 * reopen, pruned, migrated into a version 2 index), what counts as a failure,
 * the notice-only clean copy and the record of the original, store errors
 * that must not make a poison verdict, the test build's crash hook, and the
 * supervisor's side of the workers' control socket (milter/pool.c, compiled in):
 * what a worker that broke the protocol there can and cannot do.
 *
 * Runs as an ordinary test program in temporary directories and memory files.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <sqlite3.h>

#include "conf.h"
#include "mg.h"
#include "milter.h"
#include "quar.h"

#include "pool.c"

#define HEAD "From: alice@internet.example\r\nTo: bob@lgwan.example\r\nSubject: report\r\n"
#define BODY "\r\nThe quarterly report is attached.\r\n"
#define RCVD1 "Received: from mx1 (mx1 [192.0.2.1])\r\n\tby gw with ESMTP id 4AB1C; Mon, 1 Dec\r\n"
#define RCVD2 "Received: from mx1 (mx1 [192.0.2.1])\r\n\tby gw with ESMTP id 9ZZ7Q; Tue, 2 Dec\r\n"

/* A memory file holding len bytes of data, at offset 0. */
static int mem_file(const void *data, size_t len)
{
    int fd = memfd_create("test-poison", MFD_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* The digest of msg (a string) sent by sender, into out. */
static void digest_of(const char *msg, const char *sender, char out[65])
{
    int fd = mem_file(msg, strlen(msg));

    assert_int_equal(milter_poison_digest(fd, sender, out), 0);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    close(fd);
}

/* One digest case: two messages (and their senders) that must, or must not, be known as the
 * same message. */
typedef struct digest_case {
    const char *what;
    const char *a, *a_sender;
    const char *b, *b_sender;
    int same;
} digest_case;

static const digest_case digest_cases[] = {
    {"another Received line on the retry", RCVD1 HEAD BODY, "s@x", RCVD2 HEAD BODY, "s@x", 1},
    {"two Received lines, then one", RCVD1 RCVD2 HEAD BODY, "s@x", RCVD2 HEAD BODY, "s@x", 1},
    {"Received in capitals", "RECEIVED: by gw id 1\r\n" HEAD BODY, "s@x", HEAD BODY, "s@x", 1},
    {"delivery trace fields",
     "Return-Path: <s@x>\r\nX-Original-To: bob@lgwan.example\r\n"
     "Delivered-To: bob@lgwan.example\r\n" HEAD BODY,
     "s@x", HEAD BODY, "s@x", 1},
    {"mugai's own fields", HEAD "X-Mugai-Sanitized: yes\r\nX-Mugai-Quarantine-Id: Q-1\r\n" BODY,
     "s@x", HEAD BODY, "s@x", 1},
    {"a Received line inside the body counts", HEAD BODY "Received: x\r\n", "s@x",
     HEAD BODY "Received: y\r\n", "s@x", 0},
    {"another body", RCVD1 HEAD BODY, "s@x", RCVD1 HEAD "\r\nAnother text.\r\n", "s@x", 0},
    {"another subject", HEAD BODY, "s@x",
     "From: alice@internet.example\r\nTo: bob@lgwan.example\r\nSubject: reports\r\n" BODY, "s@x",
     0},
    {"a folded field's continuation counts", "Subject: a\r\n b\r\n" BODY, "s@x",
     "Subject: a\r\n c\r\n" BODY, "s@x", 0},
    {"a field named like a trace field counts", "Received-SPF: pass\r\n" HEAD BODY, "s@x",
     "Received-SPF: fail\r\n" HEAD BODY, "s@x", 0},
    {"another envelope sender", HEAD BODY, "s@x", HEAD BODY, "t@x", 0},
    {"the null sender differs from a sender", HEAD BODY, "", HEAD BODY, "s@x", 0},
    {"header text moved into the body", "A: 1\r\n\r\nB: 2\r\n", "s@x", "A: 1\r\nB: 2\r\n\r\n",
     "s@x", 0},
    {"line ends of LF only", "Received: a\n" HEAD BODY, "s@x", "Received: b\n" HEAD BODY, "s@x", 1},
    {"a line after a trace field that starts with a lone CR counts",
     "Received: a\r\n\rX-Evil: 1\r\n" HEAD BODY, "s@x", "Received: a\r\n\rX-Evil: 2\r\n" HEAD BODY,
     "s@x", 0},
    {"a lone CR starting a line is no blank line", "A: 1\r\n\rB: 2\r\n\r\nC\r\n", "s@x",
     "A: 1\r\n\r\nB: 2\r\n\r\nC\r\n", "s@x", 0},
    {"a CR at the very end counts", "A: 1\r\n\r", "s@x", "A: 1\r\n", "s@x", 0},
    {"a blank line of LF only is the end of the header block", "A: 1\r\n\nB\r\n", "s@x",
     "A: 1\r\n\r\nB\r\n", "s@x", 1},
};

/* The digest knows a message again whatever trace fields each attempt adds, and tells apart
 * messages that differ in anything else. */
static void test_digest_table(void **state)
{
    char da[65], db[65];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(digest_cases) / sizeof(digest_cases[0]); i++) {
        const digest_case *c = &digest_cases[i];

        digest_of(c->a, c->a_sender, da);
        digest_of(c->b, c->b_sender, db);
        if ((strcmp(da, db) == 0) != c->same)
            fail_msg("%s: digests %s %s", c->what, da, db);
        assert_int_equal(strlen(da), 64);
    }
}

/* A trace field whose name straddles the scan's 64 KiB reads is still left out. */
static void test_digest_across_reads(void **state)
{
    GString *pad = g_string_new(NULL), *a, *b;
    char da[65], db[65];

    (void)state;
    while (pad->len < 65536)
        g_string_append(pad, "X-Pad: 0123456789abcdef0123456789abcdef\r\n");
    g_string_truncate(pad, 65536 - 4); /* "Rece" in the first read, "ived:" in the next */
    g_string_append(pad, "\r\n");
    a = g_string_new(pad->str);
    g_string_append(a, "Received: by gw id 1\r\n" HEAD BODY);
    b = g_string_new(pad->str);
    g_string_append(b, "Received: by gw id 2\r\n" HEAD BODY);
    digest_of(a->str, "s@x", da);
    digest_of(b->str, "s@x", db);
    assert_string_equal(da, db);
    g_string_assign(b, pad->str);
    g_string_append(b, HEAD BODY);
    digest_of(b->str, "s@x", db);
    assert_string_equal(da, db);
    g_string_free(pad, TRUE);
    g_string_free(a, TRUE);
    g_string_free(b, TRUE);
}

/* ---- the store's attempt counts ---- */

static const char D1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char D2[] = "2222222222222222222222222222222222222222222222222222222222222222";

/* A store for a test: the memory one, or a filesystem one in a new directory (*dir). */
static quar_store *open_store(int fs, char **dir)
{
    char *err = NULL;
    quar_store *s;

    *dir = NULL;
    if (!fs)
        return quar_open_memory(30);
    *dir = g_dir_make_tmp("test_poison-XXXXXX", NULL);
    assert_non_null(*dir);
    s = quar_open_fs(*dir, 30, &err);
    if (s == NULL)
        fail_msg("open: %s", err);
    return s;
}

/* Remove a test directory with everything in it. */
static void remove_dir(char *dir)
{
    char *cmd;

    if (dir == NULL)
        return;
    cmd = g_strdup_printf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    g_free(cmd);
    g_free(dir);
}

/* The failure count of digest (its first time into *first when first is not NULL). */
static unsigned count_of(quar_store *s, const char *digest, int64_t *first)
{
    quar_attempts a;
    char *err = NULL;

    if (quar_attempt_get(s, digest, &a, &err) != 0)
        fail_msg("get: %s", err);
    if (first)
        *first = a.first;
    return a.count;
}

/* Count one failed attempt at digest; the new count. */
static unsigned failed(quar_store *s, const char *digest)
{
    quar_attempts a;
    char *err = NULL;

    if (quar_attempt_failed(s, digest, &a, &err) != 0)
        fail_msg("failed: %s", err);
    return a.count;
}

/* Counting and forgetting, in one backend. */
static void attempts_in(int fs)
{
    int64_t t0 = (int64_t)time(NULL), first, again;
    quar_store *s;
    char *dir, *err = NULL;
    quar_attempts a;

    s = open_store(fs, &dir);
    assert_int_equal(count_of(s, D1, &first), 0);
    assert_int_equal(first, 0);
    assert_int_equal(failed(s, D1), 1);
    assert_int_equal(count_of(s, D1, &first), 1);
    assert_true(first >= t0 && first <= (int64_t)time(NULL));
    assert_int_equal(failed(s, D1), 2);
    assert_int_equal(count_of(s, D1, &again), 2);
    assert_int_equal(again, first);             /* the first failure's time stays */
    assert_int_equal(count_of(s, D2, NULL), 0); /* counts are per digest */
    assert_int_equal(failed(s, D2), 1);
    assert_int_equal(quar_attempt_failed(s, D2, NULL, &err), 0);
    assert_int_equal(count_of(s, D2, NULL), 2);
    /* a verdict forgets the count */
    assert_int_equal(quar_attempt_forget(s, D1, &err), 0);
    assert_int_equal(count_of(s, D1, &first), 0);
    assert_int_equal(first, 0);
    assert_int_equal(quar_attempt_forget(s, D1, &err), 0);
    assert_int_equal(count_of(s, D2, NULL), 2);
    /* a digest of another form is refused */
    assert_int_equal(quar_attempt_get(s, "ABC", &a, &err), -1);
    assert_non_null(strstr(err, "malformed digest"));
    free(err);
    err = NULL;
    assert_int_equal(quar_attempt_failed(s,
                                         "1111111111111111111111111111111111111111111111111111111"
                                         "11111111A",
                                         &a, &err),
                     -1);
    free(err);
    err = NULL;
    assert_int_equal(quar_attempt_forget(s, NULL, &err), -1);
    free(err);
    quar_close(s);
    remove_dir(dir);
}

/* Both backends count alike. */
static void test_attempts_memory(void **state)
{
    (void)state;
    attempts_in(0);
}

static void test_attempts_fs(void **state)
{
    (void)state;
    attempts_in(1);
}

/* Run sql on the index of the store in dir, from a connection of its own. */
static void index_sql(const char *dir, const char *sql)
{
    char *path = g_strdup_printf("%s/index.sqlite", dir), *msg = NULL;
    sqlite3 *db;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
    g_free(path);
}

/* The integer the query sql on the index of the store in dir answers. */
static long long index_count(const char *dir, const char *sql)
{
    char *path = g_strdup_printf("%s/index.sqlite", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    g_free(path);
    return v;
}

/* Filesystem: counts survive the store being closed and opened again (a new worker, a new
 * milter); one not raised for QUAR_ATTEMPT_KEEP_DAYS no longer counts and is dropped when
 * another is raised. */
static void test_attempts_fs_durable_and_pruned(void **state)
{
    char *dir, *err = NULL, *sql;
    quar_store *s = open_store(1, &dir);

    (void)state;
    assert_int_equal(failed(s, D1), 1);
    assert_int_equal(failed(s, D2), 1);
    quar_close(s);
    s = quar_open_fs(dir, 30, &err);
    assert_non_null(s);
    assert_int_equal(count_of(s, D1, NULL), 1);
    sql = g_strdup_printf("UPDATE attempts SET last_time = %lld WHERE digest = '%s'",
                          (long long)time(NULL) - QUAR_ATTEMPT_KEEP_DAYS * 86400 - 60, D2);
    index_sql(dir, sql);
    assert_int_equal(count_of(s, D2, NULL), 0);
    assert_int_equal(failed(s, D1), 2);
    assert_int_equal(index_count(dir, "SELECT count(*) FROM attempts"), 1);
    assert_int_equal(failed(s, D2), 1);
    quar_close(s);
    g_free(sql);
    remove_dir(dir);
}

/* Filesystem: a version 2 index (before failure counts) gains the attempts table on open. */
static void test_attempts_fs_migrate_v2(void **state)
{
    char *dir = g_dir_make_tmp("test_poison-XXXXXX", NULL), *err = NULL;
    quar_store *s;

    (void)state;
    index_sql(dir, "CREATE TABLE messages (id TEXT PRIMARY KEY, time INTEGER NOT NULL,"
                   " queue_id TEXT, client TEXT, sender TEXT NOT NULL, subject TEXT,"
                   " from_hdr TEXT, message_id TEXT, size INTEGER NOT NULL,"
                   " sha256 TEXT NOT NULL, verdict TEXT, status TEXT NOT NULL,"
                   " expires INTEGER NOT NULL);"
                   "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);"
                   "PRAGMA user_version = 2;");
    s = quar_open_fs(dir, 30, &err);
    if (s == NULL)
        fail_msg("open: %s", err);
    assert_int_equal(count_of(s, D1, NULL), 0);
    assert_int_equal(failed(s, D1), 1);
    quar_close(s);
    assert_int_equal(index_count(dir, "PRAGMA user_version"), 5);
    assert_int_equal(index_count(dir, "SELECT failures FROM attempts"), 1);
    remove_dir(dir);
}

/* ---- the worker's side: counting a job, the notice ---- */

#define SECRET_BODY "SECRET-BODY-TEXT"
#define SECRET_NAME "secret-plan.pdf"

static const char poison_msg[] =
    "Received: from mx1 by gw id 4AB1C\r\n"
    "From: =?UTF-8?B?5bGx55Sw?= <alice@internet.example>\r\n"
    "To: bob@lgwan.example\r\nSubject: quarterly\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\n" SECRET_BODY "\r\n"
    "--b\r\nContent-Type: application/pdf; name=\"" SECRET_NAME "\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";

/* Bytes of poison_msg's content that must not reach the recipient. */
static const char *const original_bits[] = {SECRET_BODY, SECRET_NAME, "quarterly", "5bGx55Sw",
                                            "JVBERi0",   "multipart", "4AB1C"};

/* What a test worker holds: configuration, store, the job's files. */
typedef struct worker_fx {
    conf *c;
    quar_store *s;
    char *dir;
    char *rcpts[2];
    milter_job j;
} worker_fx;

/* A job for poison_msg from sender, with an empty output file, against store kind fs. */
static void fx_open(worker_fx *w, int fs, const char *sender, unsigned poison_attempts)
{
    memset(w, 0, sizeof(*w));
    w->c = conf_new_defaults();
    w->c->milter_poison_attempts = poison_attempts;
    w->s = open_store(fs, &w->dir);
    w->rcpts[0] = (char *)"bob@lgwan.example";
    w->j.queue_id = (char *)"4AB1C";
    w->j.client = (char *)"mx1 [192.0.2.1]";
    w->j.sender = (char *)sender;
    w->j.rcpts = w->rcpts;
    w->j.nrcpts = 1;
    w->j.fd = mem_file(poison_msg, strlen(poison_msg));
    w->j.out = mem_file("", 0);
}

/* Close what fx_open made. */
static void fx_close(worker_fx *w)
{
    close(w->j.fd);
    close(w->j.out);
    quar_close(w->s);
    remove_dir(w->dir);
    conf_free(w->c);
}

/* The job's output file as a string. Caller g_free()s. */
static char *out_text(const worker_fx *w)
{
    struct stat sb;
    char *buf;

    assert_int_equal(fstat(w->j.out, &sb), 0);
    buf = g_malloc0((size_t)sb.st_size + 1);
    assert_int_equal(pread(w->j.out, buf, (size_t)sb.st_size, 0), (ssize_t)sb.st_size);
    return buf;
}

/* The decoded body of a notice (base64 lines after the header). Caller g_free()s. */
static char *notice_body(const char *msg)
{
    const char *body = strstr(msg, "\r\n\r\n");
    gchar *b64, **lines;
    guchar *raw;
    gsize len;

    assert_non_null(body);
    lines = g_strsplit(body + 4, "\r\n", -1);
    for (gchar **l = lines; *l; l++)
        assert_true(strlen(*l) <= 76);
    b64 = g_strjoinv("", lines);
    raw = g_base64_decode(b64, &len);
    g_strfreev(lines);
    g_free(b64);
    raw = g_realloc(raw, len + 1);
    raw[len] = '\0';
    assert_true(g_utf8_validate((const char *)raw, -1, NULL));
    return (char *)raw;
}

/* Count n failed attempts at the job's message, as the supervisor does when workers die. */
static void fail_attempts(worker_fx *w, unsigned n)
{
    milter_attempt a;

    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(milter_attempt_begin(w->c, w->s, &w->j, &a), 0);
        assert_int_equal(a.tracked, 1);
        assert_int_equal(a.earlier, i);
        assert_int_equal(failed(w->s, a.digest), i + 1);
    }
}

/* Once poison_attempts failures are counted, the next attempt is the poison path; a verdict
 * then forgets the count. Attempts in progress side by side count nothing; a job that runs
 * out of time counts one; another failure (ours) counts none. */
static void test_begin_reaches_the_limit(void **state)
{
    worker_fx w;
    milter_attempt a, b;

    (void)state;
    fx_open(&w, 1, "alice@internet.example", 3);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 0);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &b), 0); /* the same, side by side */
    assert_string_equal(a.digest, b.digest);
    assert_int_equal(b.earlier, 0);
    milter_attempt_end(w.s, &a, &w.j, 1, 0);
    milter_attempt_end(w.s, &b, &w.j, 1, 0);
    fail_attempts(&w, 3);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 1);
    assert_int_equal(a.earlier, 3);
    assert_true(a.first > 0);
    milter_attempt_end(w.s, &a, &w.j, 1, 0);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 0);
    assert_int_equal(a.earlier, 0);
    milter_attempt_end(w.s, &a, &w.j, 0, 1); /* ran out of time */
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 0);
    assert_int_equal(a.earlier, 1);
    milter_attempt_end(w.s, &a, &w.j, 0, 0); /* a store error, say */
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 0);
    assert_int_equal(a.earlier, 1);
    fx_close(&w);
}

/* The supervisor counts a failed attempt for a worker that died, in the configured store. */
static void test_died(void **state)
{
    worker_fx w;
    milter_attempt a;

    (void)state;
    fx_open(&w, 1, "alice@internet.example", 2);
    free(w.c->quarantine_dir);
    w.c->quarantine_dir = strdup(w.dir);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 0);
    milter_attempt_died(w.c, 4242, a.digest);
    milter_attempt_died(w.c, 4243, a.digest);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 1);
    assert_int_equal(a.earlier, 2);
    fx_close(&w);
}

/* [milter] poison_attempts = 0: nothing is looked up or counted. */
static void test_begin_off(void **state)
{
    worker_fx w;
    milter_attempt a;
    char digest[65];

    (void)state;
    fx_open(&w, 0, "alice@internet.example", 0);
    assert_int_equal(milter_poison_digest(w.j.fd, w.j.sender, digest), 0);
    assert_int_equal(failed(w.s, digest), 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 0);
        assert_int_equal(a.tracked, 0);
        milter_attempt_end(w.s, &a, &w.j, 0, 1);
    }
    assert_int_equal(count_of(w.s, digest, NULL), 1);
    fx_close(&w);
}

/* The notice-only clean copy and the original's record: verdict failed, the envelope, the
 * original byte for byte, a "stored" and a "failed" event; nothing of the original's content
 * in the notice. */
static void test_notice(void **state)
{
    worker_fx w;
    milter_attempt a;
    milter_reply r = {0};
    quar_msg *m = NULL;
    quar_event **ev = NULL;
    size_t nev = 0;
    char *err = NULL, *msg, *body, sha[65];
    int fd;

    (void)state;
    fx_open(&w, 1, "alice@internet.example", 3);
    fail_attempts(&w, 3);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 1);
    milter_poison_notice(w.c, w.s, &w.j, &a, &r);
    assert_int_equal(r.status, MILTER_ST_OK);
    assert_true(milter_qid_valid(r.qid));
    milter_attempt_end(w.s, &a, &w.j, 1, 0);
    assert_int_equal(count_of(w.s, a.digest, NULL), 0);

    assert_int_equal(quar_get(w.s, r.qid, &m, &err), 0);
    assert_string_equal(m->verdict, "failed");
    assert_string_equal(m->status, "quarantined");
    assert_string_equal(m->queue_id, "4AB1C");
    assert_string_equal(m->sender, "alice@internet.example");
    assert_string_equal(m->recipients[0], "bob@lgwan.example");
    assert_null(m->recipients[1]);
    assert_int_equal(m->size, strlen(poison_msg));
    assert_int_equal(quar_open_original(w.s, r.qid, &fd, &err), 0);
    assert_int_equal(mg_sha256_fd(fd, sha), 0);
    assert_string_equal(sha, m->sha256);
    close(fd);
    assert_int_equal(quar_events(w.s, r.qid, &ev, &nev, &err), 0);
    assert_int_equal(nev, 2);
    assert_string_equal(ev[0]->action, "stored");
    assert_string_equal(ev[1]->action, "failed");
    assert_string_equal(ev[1]->actor, "mugai-milter");
    assert_non_null(strstr(ev[1]->reason, "3 times"));
    assert_non_null(strstr(ev[1]->detail, a.digest));

    msg = out_text(&w);
    assert_non_null(strstr(msg, "\r\nSubject: =?UTF-8?B?"));
    assert_true(g_str_has_prefix(msg, "From: alice@internet.example\r\n"));
    assert_non_null(strstr(msg, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    assert_non_null(strstr(msg, "\r\nContent-Transfer-Encoding: base64\r\n"));
    assert_non_null(strstr(msg, "\r\nX-Mugai-Quarantine-Id: "));
    assert_non_null(strstr(msg, r.qid));
    for (const char *p = msg; (p = strchr(p, '\n')) != NULL; p++)
        assert_true(p > msg && p[-1] == '\r');
    body = notice_body(msg);
    assert_non_null(strstr(body, r.qid));
    assert_non_null(strstr(body, "3 回"));
    assert_non_null(strstr(body, "3 times"));
    assert_non_null(strstr(body, "情報システム担当"));
    assert_non_null(strstr(body, "ask IT"));
    for (size_t i = 0; i < sizeof(original_bits) / sizeof(original_bits[0]); i++) {
        if (strstr(msg, original_bits[i]) || strstr(body, original_bits[i]))
            fail_msg("the notice holds \"%s\" of the original", original_bits[i]);
    }
    quar_event_list_free(ev, nev);
    quar_msg_free(m);
    milter_reply_clear(&r);
    g_free(msg);
    g_free(body);
    fx_close(&w);
}

/* An envelope sender that is not a plain address is neither put in a header nor shown. */
static void test_notice_odd_sender(void **state)
{
    static const char *const senders[] = {
        "",
        "a b@x",
        "\"x\"@y",
        "a@b@c",
        "a@x\r\nBcc: e@x",
        "\xe5\xb1\xb1@x",
        "=?UTF-8?B?c2VjcmV0QGJhbmsuZXhhbXBsZQ==?=@x", /* an encoded word, decoded by some */
        "a@x=?UTF-8?Q?=E5=B1=B1?="};
    worker_fx w;

    (void)state;
    for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
        milter_attempt a;
        milter_reply r = {0};
        char *msg, *body;

        fx_open(&w, 0, senders[i], 1);
        fail_attempts(&w, 1);
        assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 1);
        milter_poison_notice(w.c, w.s, &w.j, &a, &r);
        assert_int_equal(r.status, MILTER_ST_OK);
        msg = out_text(&w);
        body = notice_body(msg);
        assert_false(g_str_has_prefix(msg, "From:"));
        assert_null(strstr(body, "Sender:"));
        assert_null(strstr(body, "差出人"));
        assert_null(strstr(msg, "Bcc"));
        assert_non_null(strstr(body, r.qid));
        milter_reply_clear(&r);
        g_free(msg);
        g_free(body);
        fx_close(&w);
    }
}

/* A store that cannot count: the job is sanitized untracked, never given a poison verdict. */
static void test_store_error_at_begin(void **state)
{
    worker_fx w;
    milter_attempt a;

    (void)state;
    fx_open(&w, 1, "alice@internet.example", 1);
    fail_attempts(&w, 1);
    index_sql(w.dir, "DROP TABLE attempts");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 0);
        assert_int_equal(a.tracked, 0);
        milter_attempt_end(w.s, &a, &w.j, 0, 1);
    }
    fx_close(&w);
}

/* A store that cannot take the original: the poison path answers FAIL (the message is
 * deferred), and counts nothing against the message. */
static void test_store_error_in_notice(void **state)
{
    worker_fx w;
    milter_attempt a;
    milter_reply r = {0};

    (void)state;
    fx_open(&w, 1, "alice@internet.example", 2);
    fail_attempts(&w, 2);
    index_sql(w.dir, "DROP TABLE events; DROP TABLE parts; DROP TABLE recipients;"
                     " DROP TABLE messages");
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 1);
    milter_poison_notice(w.c, w.s, &w.j, &a, &r);
    assert_int_equal(r.status, MILTER_ST_FAIL);
    assert_null(r.qid);
    assert_non_null(strstr(r.text, "poison message"));
    milter_attempt_end(w.s, &a, &w.j, 0, 0);
    assert_int_equal(milter_attempt_begin(w.c, w.s, &w.j, &a), 1);
    assert_int_equal(a.earlier, 2);
    milter_reply_clear(&r);
    fx_close(&w);
}

/* How a child that ran the crash hook on data ended: its wait status. */
static int hook_status(const char *data, const char *mark)
{
    int fd = mem_file(data, strlen(data)), status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* cmocka's handler would catch it */
        setenv("MUGAI_TEST_CRASH", mark, 1);
        milter_test_crash(fd);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(fd);
    return status;
}

/* The crash hook: in a test build, a message holding the mark stops the process for real;
 * without the mark, with an empty mark, and in any other build, nothing happens. */
static void test_crash_hook(void **state)
{
    int status;

    (void)state;
    status = hook_status(HEAD BODY, "NO-SUCH-MARK");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    status = hook_status(HEAD BODY, "");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    status = hook_status(HEAD BODY "CRASH-ME\r\n", "CRASH-ME");
#ifdef MUGAI_TEST_HOOKS
#ifdef __SANITIZE_ADDRESS__
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* ASan reports the SEGV */
#else
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
#endif
#else
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#endif
}

/* ---- the supervisor's side of a worker's control socket (pool.c) ---- */

/* A pool as the supervisor holds it, with one busy worker in slot 0: a child that only waits
 * (to be killed, or not) and the test writing what the worker would write on its control
 * socket (*wctl). The store is the filesystem one in *dir. */
static pool *pool_fx(conf **c, char **dir, int *wctl)
{
    pool *p = calloc(1, sizeof(*p));
    int sv[2];
    pid_t pid;

    assert_non_null(p);
    *c = conf_new_defaults();
    *dir = g_dir_make_tmp("test_poison-XXXXXX", NULL);
    assert_non_null(*dir);
    free((*c)->quarantine_dir);
    (*c)->quarantine_dir = strdup(*dir);
    p->c = *c;
    for (size_t i = 0; i < POOL_MAX_WORKERS; i++)
        p->w[i] = (worker){0, -1, 0, 0, 0, 0, ""};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* never outlives the test, nor holds its output open */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(sv[0]);
        close(sv[1]);
        close(STDOUT_FILENO);
        close(STDERR_FILENO);
        pause();
        _exit(0);
    }
    p->w[0] = (worker){pid, sv[0], 1, 0, 0, 30, ""};
    *wctl = sv[1];
    return p;
}

/* How the child of slot 0 ended: SIGKILL when the supervisor killed it; else the test kills
 * it with SIGTERM. */
static int pool_fx_end(pool *p, conf *c, char *dir, int wctl)
{
    pid_t pid = p->w[0].pid;
    int status;

    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(wctl);
    if (p->w[0].ctl >= 0)
        close(p->w[0].ctl);
    free(p);
    conf_free(c);
    remove_dir(dir);
    return WIFSIGNALED(status) ? WTERMSIG(status) : -1;
}

/* The supervisor reads one event of the worker of slot 0, as pool_poll does when its control
 * socket is readable; it must not wait for more: an alarm ends the test program if it does. */
static void supervisor_reads(pool *p)
{
    signal(SIGALRM, SIG_DFL);
    alarm(5);
    pool_worker_event(p, 0, 1);
    alarm(0);
}

/* The worker of slot 0 writes len bytes of data (then closes its end when eof), and the
 * supervisor reads the event. */
static void worker_writes(pool *p, int wctl, const char *data, size_t len, int eof)
{
    assert_int_equal(write(wctl, data, len), (ssize_t)len);
    if (eof)
        shutdown(wctl, SHUT_WR);
    supervisor_reads(p);
}

/* The failure count of digest in the store in dir. */
static unsigned count_in(const char *dir, const char *digest)
{
    char *err = NULL;
    quar_store *s = quar_open_fs(dir, 30, &err);
    unsigned n;

    if (s == NULL)
        fail_msg("open: %s", err);
    n = count_of(s, digest, NULL);
    quar_close(s);
    return n;
}

/* One worker message that breaks the protocol: the worker is killed and retired, nothing is
 * kept of it, and the supervisor did not wait. */
typedef struct broken_case {
    const char *what;
    const char *data;
    size_t len;
    int idle;
} broken_case;

#define DIGEST_A "A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const broken_case broken_cases[] = {
    {"an A without its digest (the rest never written)", "A", 1, 0},
    {"an A with half a digest", DIGEST_A, 33, 0},
    {"a digest in capitals", "A0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     65, 0},
    {"a digest of other bytes",
     "A0123456789abcdef0123456789abcdef0123456789abcdef\n\r23456789abcdef", 65, 0},
    {"an A outside a job", DIGEST_A, 65, 1},
    {"a second A in one job", DIGEST_A DIGEST_A, 130, 0},
    {"a byte that means nothing", "X", 1, 0},
};

/* A worker that writes anything but "A" and 64 lower-case hex digits once during a job, or
 * "D", is killed without the supervisor waiting on it, and nothing it sent is counted. */
static void test_pool_worker_broke(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(broken_cases) / sizeof(broken_cases[0]); i++) {
        const broken_case *bc = &broken_cases[i];
        conf *c;
        char *dir;
        int wctl;
        pool *p = pool_fx(&c, &dir, &wctl);

        p->w[0].busy = !bc->idle;
        worker_writes(p, wctl, bc->data, bc->len, 0);
        if (p->w[0].ctl >= 0) /* the second A of one job comes after the first */
            supervisor_reads(p);
        if (p->w[0].ctl >= 0 || p->w[0].digest[0])
            fail_msg("%s: the worker is kept (digest \"%s\")", bc->what, p->w[0].digest);
        p->w[0].busy = 1;
        pool_job_lost(p, 0); /* as when it is reaped */
        if (count_in(dir, &DIGEST_A[1]) != 0)
            fail_msg("%s: a failed attempt was counted", bc->what);
        if (pool_fx_end(p, c, dir, wctl) != SIGKILL)
            fail_msg("%s: the worker was not killed", bc->what);
    }
}

/* A worker that told its digest and ended during the job counts one failed attempt at that
 * message in the store; one that finished ("D") counts none. */
static void test_pool_worker_died(void **state)
{
    conf *c;
    char *dir;
    int wctl;
    pool *p = pool_fx(&c, &dir, &wctl);

    (void)state;
    worker_writes(p, wctl, DIGEST_A, 65, 0);
    assert_string_equal(p->w[0].digest, &DIGEST_A[1]);
    assert_true(p->w[0].ctl >= 0);
    worker_writes(p, wctl, "D", 1, 0);
    assert_int_equal(p->w[0].busy, 0);
    assert_string_equal(p->w[0].digest, "");
    pool_job_lost(p, 0);
    assert_int_equal(count_in(dir, &DIGEST_A[1]), 0);
    p->w[0].busy = 1; /* the next job: its digest, then the end */
    worker_writes(p, wctl, DIGEST_A, 65, 1);
    supervisor_reads(p);
    assert_int_equal(p->w[0].ctl, -1);
    assert_int_equal(count_in(dir, &DIGEST_A[1]), 1);
    pool_job_lost(p, 0); /* reaped afterwards: not counted twice */
    assert_int_equal(count_in(dir, &DIGEST_A[1]), 1);
    assert_int_equal(pool_fx_end(p, c, dir, wctl), SIGTERM);
}

/* What a worker wrote before it was reaped is read without killing anything (its pid may be
 * another process's by then). */
static void test_pool_drain_after_reap(void **state)
{
    conf *c;
    char *dir;
    int wctl;
    pool *p = pool_fx(&c, &dir, &wctl);

    (void)state;
    assert_int_equal(write(wctl, "A", 1), 1);
    signal(SIGALRM, SIG_DFL);
    alarm(5);
    pool_ctl_drain(p, 0);
    alarm(0);
    assert_int_equal(p->w[0].ctl, -1);
    assert_string_equal(p->w[0].digest, "");
    assert_int_equal(pool_fx_end(p, c, dir, wctl), SIGTERM);
}

/* Opening an up-to-date store (every worker, and the supervisor for each failed attempt it
 * counts) does not wait for another connection's write transaction. */
static void test_open_while_locked(void **state)
{
    char *dir, *err = NULL, *path;
    quar_store *s = open_store(1, &dir);
    sqlite3 *db;
    double t0;

    (void)state;
    quar_close(s);
    path = g_strdup_printf("%s/index.sqlite", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM attempts;", NULL, NULL, NULL),
                     SQLITE_OK);
    t0 = mg_now();
    s = quar_open_fs(dir, 30, &err);
    if (s == NULL)
        fail_msg("open while another connection writes: %s", err);
    assert_true(mg_now() - t0 < 2.0);
    assert_int_equal(count_of(s, D1, NULL), 0);
    quar_close(s);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    g_free(path);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_table),
        cmocka_unit_test(test_digest_across_reads),
        cmocka_unit_test(test_attempts_memory),
        cmocka_unit_test(test_attempts_fs),
        cmocka_unit_test(test_attempts_fs_durable_and_pruned),
        cmocka_unit_test(test_attempts_fs_migrate_v2),
        cmocka_unit_test(test_begin_reaches_the_limit),
        cmocka_unit_test(test_died),
        cmocka_unit_test(test_begin_off),
        cmocka_unit_test(test_notice),
        cmocka_unit_test(test_notice_odd_sender),
        cmocka_unit_test(test_store_error_at_begin),
        cmocka_unit_test(test_store_error_in_notice),
        cmocka_unit_test(test_crash_hook),
        cmocka_unit_test(test_pool_worker_broke),
        cmocka_unit_test(test_pool_worker_died),
        cmocka_unit_test(test_pool_drain_after_reap),
        cmocka_unit_test(test_open_while_locked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
