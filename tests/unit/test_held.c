/*
 * tests/unit/test_held.c - unit tests of the store's records of held encrypted
 * parts ([ppap]): what quar_put records, the list's filters and order, counting
 * wrong passwords and the lock, opening (once), expiry (once), against the
 * memory and the filesystem backends; races between connections and the
 * migration of a version 4 index, on the filesystem only.
 *
 * Runs as an ordinary test program in temporary directories; it must never
 * touch a real store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <sqlite3.h>

#include "quar.h"

#define DAY 86400
#define T0 1795000000 /* 2026-11-18 */
#define RACERS 4

typedef enum { BACKEND_MEM, BACKEND_FS } backend_kind;

typedef struct fixture {
    backend_kind kind;
    char *dir;
    quar_store *s;
} fixture;

static backend_kind kind_mem = BACKEND_MEM, kind_fs = BACKEND_FS;

/* A filesystem store on dir. */
static quar_store *open_fs(const char *dir)
{
    char *err = NULL;
    quar_store *s = quar_open_fs(dir, 30, &err);

    if (!s)
        fail_msg("open: %s", err);
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
        f->dir = g_dir_make_tmp("test_held-XXXXXX", NULL);
        assert_non_null(f->dir);
        f->s = open_fs(f->dir);
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

/* Store a message from sender to the NULL-terminated rcpts at time with the body "1", two held
 * encrypted attachments "2" (a.zip) and "4" (c.7z) and a sanitized "3" between them (only the
 * body when plain); its id into id[24]. */
static void put_mail(quar_store *s, int64_t time, const char *sender, const char *const *rcpts,
                     int plain, char id[24])
{
    quar_msg *m = quar_msg_new();
    char *err = NULL, *content = g_strdup_printf("Subject: %s\r\n\r\nbody\r\n", sender);
    int fd = memfd_create("input", 0);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    m->time = time;
    m->sender = g_strdup(sender);
    g_strfreev(m->recipients);
    m->recipients = g_strdupv((char **)rcpts);
    m->verdict = g_strdup("sanitized");
    quar_msg_add_part(m, "1", NULL, "text/plain", "text/plain", 4, NULL, "body", NULL, NULL);
    if (!plain) {
        quar_msg_add_part(m, "2", "見積書.zip", "application/zip", "application/zip", 100, NULL,
                          "held", "encrypted: cannot inspect", NULL);
        quar_msg_add_part(m, "3", "b.pdf", "application/pdf", "application/pdf", 100, NULL,
                          "sanitized", "flattened", NULL);
        quar_msg_add_part(m, "4", "c.7z", "application/x-7z-compressed",
                          "application/x-7z-compressed", 100, NULL, "held",
                          "encrypted: cannot inspect", NULL);
    }
    if (quar_put(s, fd, m, "tester", &err) != 0)
        fail_msg("put: %s", err);
    memcpy(id, m->id, 24);
    close(fd);
    g_free(content);
    quar_msg_free(m);
}

/* Store a mail from sender to one recipient with two held parts. */
static void put_one(quar_store *s, int64_t time, const char *sender, const char *rcpt, char id[24])
{
    const char *rcpts[] = {rcpt, NULL};

    put_mail(s, time, sender, rcpts, 0, id);
}

/* The held parts matching f. Caller frees with quar_held_list_free. */
static quar_held **held_of(quar_store *s, const quar_held_filter *f, size_t *n)
{
    quar_held **l = NULL;
    char *err = NULL;

    if (quar_held_list(s, f, &l, n, &err) != 0)
        fail_msg("held list: %s", err);
    assert_non_null(l);
    return l;
}

/* The "id/part" of each listed part, joined by spaces, for comparing orders. Caller frees. */
static char *keys(quar_held **l, size_t n)
{
    GString *k = g_string_new(NULL);

    for (size_t i = 0; i < n; i++)
        g_string_append_printf(k, "%s%s/%s", i ? " " : "", l[i]->msg_id, l[i]->part);
    return g_string_free(k, FALSE);
}

/* Check the "id/part" list of the parts matching f against want (ids as given). */
static void check_keys(quar_store *s, const quar_held_filter *f, const char *want)
{
    size_t n = 0;
    quar_held **l = held_of(s, f, &n);
    char *got = keys(l, n);

    assert_string_equal(got, want);
    g_free(got);
    quar_held_list_free(l, n);
}

/* Of the held part id/part: its status, attempts and opened_by as "status attempts opened_by"
 * ("-" when none), with " @OPENED" when opened is set. Caller frees. */
static char *state_of(quar_store *s, const char *id, const char *part)
{
    quar_held_filter f = {.msg_id = id};
    size_t n = 0;
    quar_held **l = held_of(s, &f, &n);
    char *st = NULL;

    for (size_t i = 0; i < n && !st; i++) {
        if (strcmp(l[i]->part, part) != 0)
            continue;
        st = g_strdup_printf("%s %u %s", l[i]->status, l[i]->attempts,
                             l[i]->opened_by ? l[i]->opened_by : "-");
        if (l[i]->opened) {
            char *with = g_strdup_printf("%s @%lld", st, (long long)l[i]->opened);
            g_free(st);
            st = with;
        }
    }
    quar_held_list_free(l, n);
    if (!st)
        fail_msg("no held part %s/%s", id, part);
    return st;
}

/* Check the state of id/part (as state_of writes it). */
static void check_state(quar_store *s, const char *id, const char *part, const char *want)
{
    char *got = state_of(s, id, part);

    assert_string_equal(got, want);
    g_free(got);
}

/* quar_put records a pending row for each held part (not the body, not the sanitized part),
 * expiring after the hold in force when the message was stored, in part order with its file
 * name, its message's time and sender; a message without held parts records none. */
static void test_put_records_held(void **state)
{
    fixture *f = *state;
    char a[24], b[24], c[24];
    const char *rcpts[] = {"r@city.lg.jp", NULL};
    quar_held_filter by_b = {.msg_id = NULL};
    quar_held **l;
    size_t n = 0;

    put_one(f->s, T0, "s@example.jp", "r@city.lg.jp", a); /* the default hold: 14 days */
    quar_set_hold_days(f->s, 10);
    put_one(f->s, T0 + 60, "t@example.jp", "r@city.lg.jp", b);
    put_mail(f->s, T0 + 120, "u@example.jp", rcpts, 1, c);
    l = held_of(f->s, NULL, &n);
    assert_int_equal(n, 4);
    assert_string_equal(l[0]->msg_id, a);
    assert_string_equal(l[0]->part, "2");
    assert_string_equal(l[0]->filename, "見積書.zip");
    assert_string_equal(l[0]->status, "pending");
    assert_int_equal(l[0]->expires, T0 + 14 * DAY);
    assert_int_equal(l[0]->attempts, 0);
    assert_null(l[0]->opened_by);
    assert_int_equal(l[0]->opened, 0);
    assert_int_equal(l[0]->time, T0);
    assert_string_equal(l[0]->sender, "s@example.jp");
    assert_string_equal(l[1]->part, "4");
    assert_string_equal(l[1]->filename, "c.7z");
    assert_string_equal(l[2]->msg_id, b);
    assert_int_equal(l[2]->expires, T0 + 60 + 10 * DAY);
    assert_int_equal(l[3]->expires, T0 + 60 + 10 * DAY);
    assert_string_equal(l[3]->sender, "t@example.jp");
    quar_held_list_free(l, n);
    by_b.msg_id = c;
    l = held_of(f->s, &by_b, &n);
    assert_int_equal(n, 0);
    quar_held_list_free(l, n);
}

/* Each filter, alone and combined: sender and recipient exact but in any case, since, status
 * and id (any case); oldest message first, then part order, whatever the storing order. */
static void test_filters(void **state)
{
    fixture *f = *state;
    char a[24], b[24], c[24], *want, *err = NULL, lower[24];
    const char *rcpts_b[] = {"R1@CITY.LG.JP", "r2@city.lg.jp", NULL};
    quar_held_filter by_sender = {.sender = "taro@example.jp"};
    quar_held_filter by_rcpt = {.recipient = "r1@City.lg.jp"};
    quar_held_filter by_since = {.since = T0 + 100};
    quar_held_filter combined = {
        .sender = "TARO@EXAMPLE.JP", .recipient = "r2@city.lg.jp", .since = T0 + 100};
    quar_held_filter substring = {.sender = "taro"};
    quar_held_filter by_status = {.status = "opened"};
    quar_held_filter by_id = {.msg_id = lower};

    put_one(f->s, T0 + 200, "taro@example.jp", "r2@city.lg.jp", c);
    put_one(f->s, T0, "Taro@Example.JP", "r1@city.lg.jp", a);
    put_mail(f->s, T0 + 100, "other@example.jp", rcpts_b, 0, b);
    want = g_strdup_printf("%s/2 %s/4 %s/2 %s/4", a, a, c, c);
    check_keys(f->s, &by_sender, want);
    g_free(want);
    want = g_strdup_printf("%s/2 %s/4 %s/2 %s/4", a, a, b, b);
    check_keys(f->s, &by_rcpt, want);
    g_free(want);
    want = g_strdup_printf("%s/2 %s/4 %s/2 %s/4", b, b, c, c);
    check_keys(f->s, &by_since, want);
    g_free(want);
    want = g_strdup_printf("%s/2 %s/4", c, c);
    check_keys(f->s, &combined, want);
    g_free(want);
    check_keys(f->s, &substring, "");
    check_keys(f->s, &by_status, "");
    assert_int_equal(quar_held_open(f->s, b, "4", "IT user sato", T0 + 300, &err), 0);
    want = g_strdup_printf("%s/4", b);
    check_keys(f->s, &by_status, want);
    g_free(want);
    by_status.status = "pending";
    want = g_strdup_printf("%s/2 %s/4 %s/2 %s/2 %s/4", a, a, b, c, c);
    check_keys(f->s, &by_status, want);
    g_free(want);
    for (size_t i = 0; i < 24; i++)
        lower[i] = (char)g_ascii_tolower(a[i]);
    want = g_strdup_printf("%s/2 %s/4", a, a);
    check_keys(f->s, &by_id, want);
    g_free(want);
    by_id.msg_id = "not-an-id";
    check_keys(f->s, &by_id, "");
}

/* Wrong passwords add up; the call that brings a pending part to max_attempts locks it (and
 * only that call says so); later ones count on; max 0 never locks; unknown parts are 1. */
static void test_failed_and_lock(void **state)
{
    fixture *f = *state;
    char a[24], *err = NULL;
    unsigned attempts = 99;
    int locked = 99;

    put_one(f->s, T0, "s@example.jp", "r@city.lg.jp", a);
    assert_int_equal(quar_held_failed(f->s, a, "2", 3, 5, &attempts, &locked, &err), 0);
    assert_int_equal(attempts, 3);
    assert_int_equal(locked, 0);
    check_state(f->s, a, "2", "pending 3 -");
    assert_int_equal(quar_held_failed(f->s, a, "2", 2, 5, &attempts, &locked, &err), 0);
    assert_int_equal(attempts, 5);
    assert_int_equal(locked, 1);
    check_state(f->s, a, "2", "locked 5 -");
    assert_int_equal(quar_held_failed(f->s, a, "2", 1, 5, &attempts, &locked, &err), 0);
    assert_int_equal(attempts, 6);
    assert_int_equal(locked, 0);
    check_state(f->s, a, "2", "locked 6 -");
    check_state(f->s, a, "4", "pending 0 -");
    assert_int_equal(quar_held_failed(f->s, a, "4", 20, 0, &attempts, &locked, &err), 0);
    assert_int_equal(attempts, 20);
    assert_int_equal(locked, 0);
    check_state(f->s, a, "4", "pending 20 -");
    assert_int_equal(quar_held_failed(f->s, a, "3", 1, 5, &attempts, &locked, &err), 1);
    assert_int_equal(
        quar_held_failed(f->s, "Q-20261118-AAAAAA", "2", 1, 5, &attempts, &locked, &err), 1);
    assert_int_equal(quar_held_failed(f->s, a, "2; DROP", 1, 5, &attempts, &locked, &err), 1);
}

/* A pending part opens once: the second opener gets 2 and the first's record stays; a locked
 * part opens (IT); an expired one does not; how must be one line; unknown parts are 1. */
static void test_open(void **state)
{
    fixture *f = *state;
    char a[24], b[24], *err = NULL, *want;
    unsigned attempts;
    int locked;
    quar_held **l;
    size_t n;

    put_one(f->s, T0, "s@example.jp", "r@city.lg.jp", a);
    put_one(f->s, T0 - 20 * DAY, "s@example.jp", "r@city.lg.jp", b);
    assert_int_equal(quar_held_open(f->s, a, "2", "password mail Q-20261118-ZZZZZZ", T0 + 5, &err),
                     0);
    want = g_strdup_printf("opened 0 password mail Q-20261118-ZZZZZZ @%d", T0 + 5);
    check_state(f->s, a, "2", want);
    assert_int_equal(quar_held_open(f->s, a, "2", "recipient r@city.lg.jp", T0 + 6, &err), 2);
    check_state(f->s, a, "2", want);
    g_free(want);
    assert_int_equal(quar_held_failed(f->s, a, "4", 3, 3, &attempts, &locked, &err), 0);
    assert_int_equal(locked, 1);
    assert_int_equal(quar_held_open(f->s, a, "4", "IT user sato", T0 + 7, &err), 0);
    want = g_strdup_printf("opened 3 IT user sato @%d", T0 + 7);
    check_state(f->s, a, "4", want);
    g_free(want);
    assert_int_equal(quar_held_expire(f->s, T0, &l, &n, &err), 0);
    assert_int_equal(n, 2);
    quar_held_list_free(l, n);
    assert_int_equal(quar_held_open(f->s, b, "2", "IT user sato", T0 + 8, &err), 2);
    check_state(f->s, b, "2", "expired 0 -");
    assert_int_equal(quar_held_open(f->s, a, "3", "IT user sato", T0, &err), 1);
    assert_int_equal(quar_held_open(f->s, "Q-20261118-AAAAAA", "2", "IT", T0, &err), 1);
    assert_int_equal(quar_held_open(f->s, b, "4", "two\nlines", T0, &err), -1);
    assert_non_null(strstr(err, "one line"));
    free(err);
    err = NULL;
    assert_int_equal(quar_held_open(f->s, b, "4", "", T0, &err), -1);
    free(err);
}

/* Expiry takes pending and locked parts past their expiry (not at it), once; never an opened
 * part nor one not yet due. */
static void test_expire(void **state)
{
    fixture *f = *state;
    char a[24], b[24], *err = NULL;
    unsigned attempts;
    int locked;
    quar_held **l;
    size_t n = 0;

    put_one(f->s, T0, "s@example.jp", "r@city.lg.jp", a);
    put_one(f->s, T0 + DAY, "s@example.jp", "r@city.lg.jp", b);
    assert_int_equal(quar_held_failed(f->s, a, "4", 50, 50, &attempts, &locked, &err), 0);
    assert_int_equal(quar_held_open(f->s, b, "2", "IT user sato", T0 + 2, &err), 0);
    assert_int_equal(quar_held_expire(f->s, T0 + 14 * DAY, &l, &n, &err), 0);
    assert_int_equal(n, 0);
    quar_held_list_free(l, n);
    assert_int_equal(quar_held_expire(f->s, T0 + 14 * DAY + 1, &l, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(l[0]->msg_id, a);
    assert_string_equal(l[0]->part, "2");
    assert_string_equal(l[0]->status, "expired");
    assert_string_equal(l[0]->sender, "s@example.jp");
    assert_string_equal(l[1]->part, "4");
    assert_int_equal(l[1]->attempts, 50);
    assert_string_equal(l[1]->status, "expired");
    quar_held_list_free(l, n);
    check_state(f->s, a, "2", "expired 0 -");
    check_state(f->s, a, "4", "expired 50 -");
    assert_int_equal(quar_held_expire(f->s, T0 + 14 * DAY + 2, &l, &n, &err), 0);
    assert_int_equal(n, 0);
    quar_held_list_free(l, n);
    assert_int_equal(quar_held_expire(f->s, T0 + 30 * DAY, &l, &n, &err), 0);
    assert_int_equal(n, 1); /* b/4; b/2 was opened */
    assert_string_equal(l[0]->msg_id, b);
    assert_string_equal(l[0]->part, "4");
    quar_held_list_free(l, n);
    check_state(f->s, b, "2", "opened 0 IT user sato @1795000002");
}

/* A message IT deleted: its pending and locked parts can no longer be opened, so the next
 * sweep hands them over (before their expiry) for ending, once; another message's parts stay
 * pending. */
static void test_fs_removed_original_ends_parts(void **state)
{
    fixture *f = *state;
    char a[24], b[24], *err = NULL;
    unsigned attempts;
    int locked;
    quar_held **l;
    size_t n = 0;

    put_one(f->s, T0, "s@example.jp", "r@city.lg.jp", a);
    put_one(f->s, T0 + 10, "s@example.jp", "r@city.lg.jp", b);
    assert_int_equal(quar_held_failed(f->s, a, "4", 50, 50, &attempts, &locked, &err), 0);
    assert_int_equal(locked, 1);
    assert_int_equal(quar_held_expire(f->s, T0 + DAY, &l, &n, &err), 0);
    assert_int_equal(n, 0);
    quar_held_list_free(l, n);
    if (quar_remove(f->s, a, "deleted", &err) != 0)
        fail_msg("remove: %s", err);
    assert_int_equal(quar_held_expire(f->s, T0 + DAY, &l, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(l[0]->msg_id, a);
    assert_string_equal(l[0]->part, "2");
    assert_string_equal(l[1]->msg_id, a);
    assert_string_equal(l[1]->part, "4");
    quar_held_list_free(l, n);
    check_state(f->s, a, "2", "expired 0 -");
    check_state(f->s, a, "4", "expired 50 -");
    check_state(f->s, b, "2", "pending 0 -");
    assert_int_equal(quar_held_expire(f->s, T0 + DAY + 1, &l, &n, &err), 0);
    assert_int_equal(n, 0);
    quar_held_list_free(l, n);
}

/* One racer: its own connection to the store, then one call of the race's kind. */
typedef struct racer {
    const char *dir, *id;
    int kind; /* 0: open, 1: count a wrong password, 2: expire */
    int rc;
    int locked;     /* count: how many of its calls locked the part */
    size_t expired; /* expire: how many parts it was handed */
    GMutex *start;
} racer;

/* Run one racer's calls on its own connection (25 wrong passwords for a count). */
static gpointer race(gpointer p)
{
    racer *r = p;
    quar_store *s = open_fs(r->dir);
    char *err = NULL, *how = g_strdup_printf("racer %p", p);
    unsigned attempts;
    int locked;
    quar_held **l = NULL;

    g_mutex_lock(r->start);
    g_mutex_unlock(r->start);
    if (r->kind == 0) {
        r->rc = quar_held_open(s, r->id, "2", how, T0 + 1, &err);
    } else if (r->kind == 1) {
        for (int i = 0; i < 25 && r->rc == 0; i++) {
            r->rc = quar_held_failed(s, r->id, "2", 1, 50, &attempts, &locked, &err);
            r->locked += locked;
        }
    } else {
        r->rc = quar_held_expire(s, T0 + 15 * DAY, &l, &r->expired, &err);
        quar_held_list_free(l, r->expired);
    }
    if (r->rc < 0)
        fprintf(stderr, "racer: %s\n", err);
    free(err);
    g_free(how);
    quar_close(s);
    return NULL;
}

/* Start RACERS racers of one kind on f's store at once and wait for them. */
static void run_race(fixture *f, const char *id, int kind, racer *r)
{
    GMutex start;
    GThread *t[RACERS];

    g_mutex_init(&start);
    g_mutex_lock(&start);
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer){.dir = f->dir, .id = id, .kind = kind, .start = &start};
        t[i] = g_thread_new("racer", race, &r[i]);
    }
    g_mutex_unlock(&start);
    for (int i = 0; i < RACERS; i++)
        g_thread_join(t[i]);
    g_mutex_clear(&start);
}

/* Filesystem, connections racing: exactly one opener of a part gets 0 (the others 2);
 * 4 x 25 wrong passwords at once count 100 and exactly one call locks at 50; of expirers at
 * once each due part goes to exactly one. */
static void test_fs_races(void **state)
{
    fixture *f = *state;
    char a[24], b[24], c[24];
    racer r[RACERS];
    int zero = 0, two = 0, locks = 0;
    size_t expired = 0;

    put_one(f->s, T0, "s@example.jp", "r@city.lg.jp", a);
    put_one(f->s, T0, "s@example.jp", "r@city.lg.jp", b);
    put_one(f->s, T0 - 10, "s@example.jp", "r@city.lg.jp", c);
    run_race(f, a, 0, r);
    for (int i = 0; i < RACERS; i++) {
        zero += r[i].rc == 0;
        two += r[i].rc == 2;
    }
    assert_int_equal(zero, 1);
    assert_int_equal(two, RACERS - 1);
    run_race(f, b, 1, r);
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(r[i].rc, 0);
        locks += r[i].locked;
    }
    assert_int_equal(locks, 1);
    check_state(f->s, b, "2", "locked 100 -");
    run_race(f, NULL, 2, r);
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(r[i].rc, 0);
        expired += r[i].expired;
    }
    assert_int_equal(expired, 5); /* a/4, b/2, b/4, c/2, c/4: not the opened a/2 */
}

/* A version 4 index as the release before held parts made it: one message with a part held
 * for encryption, its events chained, a console user. */
static const char v4_index_sql[] =
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE messages ( id TEXT PRIMARY KEY, time INTEGER NOT NULL, queue_id TEXT,"
    " client TEXT, sender TEXT NOT NULL, subject TEXT, from_hdr TEXT, message_id TEXT,"
    " size INTEGER NOT NULL, sha256 TEXT NOT NULL, verdict TEXT, status TEXT NOT NULL,"
    " expires INTEGER NOT NULL, release_result TEXT, rcpt_list TEXT);"
    "CREATE INDEX messages_sha256 ON messages(sha256);"
    "CREATE INDEX messages_expires ON messages(expires);"
    "CREATE TABLE recipients ( msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, addr TEXT NOT NULL, PRIMARY KEY (msg_id, idx));"
    "CREATE TABLE parts ( msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, path TEXT, filename TEXT, declared_type TEXT, detected_type TEXT,"
    " size INTEGER NOT NULL, sha256 TEXT, action TEXT, reason TEXT, signature TEXT,"
    " PRIMARY KEY (msg_id, idx));"
    "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE attempts (digest TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
    " first_time INTEGER NOT NULL, last_time INTEGER NOT NULL);"
    "CREATE INDEX attempts_last ON attempts(last_time);"
    "CREATE TABLE msg_texts (msg_id TEXT PRIMARY KEY REFERENCES messages(id), headers TEXT,"
    " clean_text TEXT);"
    "CREATE INDEX messages_list ON messages(time, id, status, verdict, sender, subject,"
    " rcpt_list);"
    "CREATE INDEX messages_search ON messages(subject, sender);"
    "CREATE INDEX messages_status ON messages(status, time, id, verdict);"
    "CREATE INDEX messages_verdict ON messages(verdict, time, id, status);"
    "CREATE TABLE events ( id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " msg_id TEXT, actor TEXT, action TEXT NOT NULL, reason TEXT, detail TEXT, source TEXT,"
    " outcome TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX events_msg ON events(msg_id, id);"
    "CREATE INDEX events_actor ON events(actor, id);"
    "CREATE INDEX events_action ON events(action, id);"
    "CREATE INDEX events_time ON events(time);"
    "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, pwhash TEXT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " failures INTEGER NOT NULL DEFAULT 0, first_failure INTEGER NOT NULL DEFAULT 0,"
    " locked_until INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY,"
    " user_name TEXT NOT NULL REFERENCES users(name), csrf TEXT NOT NULL,"
    " created INTEGER NOT NULL, last_seen INTEGER NOT NULL, source TEXT);"
    "CREATE INDEX sessions_user ON sessions(user_name);"
    "CREATE INDEX sessions_seen ON sessions(last_seen);"
    "CREATE INDEX sessions_created ON sessions(created);"
    "CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " msg_id TEXT NOT NULL REFERENCES messages(id), action TEXT NOT NULL, reason TEXT,"
    " to_addrs TEXT, requester TEXT NOT NULL, time INTEGER NOT NULL, status TEXT NOT NULL,"
    " approver TEXT, decided INTEGER NOT NULL DEFAULT 0, decision_reason TEXT, result TEXT);"
    "CREATE INDEX requests_status ON requests(status, id);"
    "CREATE INDEX requests_msg ON requests(msg_id, id);"
    "CREATE UNIQUE INDEX requests_pending ON requests(msg_id, action) WHERE status = 'pending';"
    "CREATE TABLE downloads (token_hash TEXT PRIMARY KEY,"
    " request_id INTEGER NOT NULL REFERENCES requests(id), expires INTEGER NOT NULL);"
    "CREATE INDEX downloads_expires ON downloads(expires);"
    "INSERT INTO messages VALUES ('Q-20261118-OLD444', 1795000000, NULL, NULL, 'o@example.jp',"
    " 'old', NULL, NULL, %zu, '%s', 'sanitized', 'quarantined', 1797592000, NULL,"
    " 'r@city.lg.jp');"
    "INSERT INTO recipients VALUES ('Q-20261118-OLD444', 0, 'r@city.lg.jp');"
    "INSERT INTO parts VALUES ('Q-20261118-OLD444', 0, '2', 'old.zip', 'application/zip',"
    " 'application/zip', 10, NULL, 'held', 'encrypted: cannot inspect', NULL);"
    "INSERT INTO blobs VALUES ('%s', CAST('%s' AS BLOB));"
    "INSERT INTO events (id, time, msg_id, actor, action, prev_hash, hash) VALUES"
    " (1, 1795000000, 'Q-20261118-OLD444', 'mugai-milter', 'stored', '%s', '%s');"
    "INSERT INTO users (name, role, pwhash, created) VALUES ('sato', 'admin', 'h', 1795000000);"
    "PRAGMA user_version = 4;";

/* The chain hash of the v4 fixture's one event, computed as quar.c defines it. Caller frees. */
static char *first_event_hash(void)
{
    const char *origin = "0000000000000000000000000000000000000000000000000000000000000000";
    char *canon = g_strdup_printf("%si1;i1795000000;s17:Q-20261118-OLD444s12:mugai-milters6:"
                                  "storednnnn",
                                  origin);
    char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, canon, -1);

    g_free(canon);
    return h;
}

/* Run a one-number query on the index in dir. */
static int64_t index_number(const char *dir, const char *sql)
{
    char *path = g_strdup_printf("%s/index.sqlite", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    g_free(path);
    return v;
}

/* Filesystem: a version 4 index becomes version 5 on open: its message, original, trail and
 * console user kept, the held table added (empty: a part held before it is not backfilled),
 * and held parts stored from then on recorded. */
static void test_fs_migrate_v4(void **state)
{
    fixture *f = *state;
    const char *content = "old original\r\n";
    char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, content, -1);
    char *hash = first_event_hash();
    char *sql =
        g_strdup_printf(v4_index_sql, strlen(content), sha, sha, content,
                        "0000000000000000000000000000000000000000000000000000000000000000", hash);
    char *dir = g_strdup_printf("%s/v4", f->dir), *path = g_strdup_printf("%s/index.sqlite", dir);
    char *err = NULL, *msg = NULL, id[24];
    quar_store *s;
    quar_msg *m = NULL;
    quar_user *u = NULL;
    quar_chain ch;
    quar_held **l;
    size_t n = 0;
    sqlite3 *db;
    int fd;

    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("v4 fixture: %s", msg);
    sqlite3_close(db);
    s = open_fs(dir);
    assert_int_equal(index_number(dir, "PRAGMA user_version"), 5);
    assert_int_equal(quar_get(s, "Q-20261118-OLD444", &m, &err), 0);
    assert_string_equal(m->recipients[0], "r@city.lg.jp");
    assert_string_equal(m->parts[0].action, "held");
    quar_msg_free(m);
    assert_int_equal(quar_open_original(s, "Q-20261118-OLD444", &fd, &err), 0);
    close(fd);
    assert_int_equal(quar_user_get(s, "sato", &u, &err), 0);
    quar_user_free(u);
    assert_int_equal(quar_audit_verify(s, &ch, &err), 0);
    assert_true(ch.ok);
    assert_int_equal(ch.events, 1);
    l = held_of(s, NULL, &n);
    assert_int_equal(n, 0);
    quar_held_list_free(l, n);
    put_one(s, T0 + 10, "s@example.jp", "r@city.lg.jp", id);
    l = held_of(s, NULL, &n);
    assert_int_equal(n, 2);
    assert_string_equal(l[0]->msg_id, id);
    quar_held_list_free(l, n);
    assert_int_equal(quar_audit_verify(s, &ch, &err), 0);
    assert_true(ch.ok);
    quar_close(s);
    s = open_fs(dir); /* already version 5: opened as it is */
    assert_int_equal(index_number(dir, "SELECT count(*) FROM held"), 2);
    quar_close(s);
    g_free(path);
    g_free(dir);
    g_free(sql);
    g_free(hash);
    g_free(sha);
}

#define ALL(fn)                                                                                    \
    {"mem/" #fn, fn, setup, teardown, &kind_mem},                                                  \
    {                                                                                              \
        "fs/" #fn, fn, setup, teardown, &kind_fs                                                   \
    }
#define FS_ONLY(fn)                                                                                \
    {                                                                                              \
        "fs/" #fn, fn, setup, teardown, &kind_fs                                                   \
    }

/* Every test against each backend, in Tokyo time, under a strict umask. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        ALL(test_put_records_held),
        ALL(test_filters),
        ALL(test_failed_and_lock),
        ALL(test_open),
        ALL(test_expire),
        FS_ONLY(test_fs_races),
        FS_ONLY(test_fs_removed_original_ends_parts),
        FS_ONLY(test_fs_migrate_v4),
    };

    setenv("TZ", "Asia/Tokyo", 1);
    umask(077);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
