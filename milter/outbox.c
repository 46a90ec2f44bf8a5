/*
 * milter/outbox.c - the gateway's own mails (PPAP follow-ups, answers to
 * replies, expiry notices) on their way to the release listener.
 *
 * A worker cannot reach the listener (its confinement forbids TCP): it writes
 * each mail durably into SPOOL/outbox (a temporary name, fsync, rename), and a
 * thread of the front end sends what it finds there with the null sender,
 * removing a file only once the listener accepted it with a 2xx reply, so a
 * mail is never lost to a stopped listener or a restart (a mail sent just
 * before a crash may go twice). A mail the listener refuses for good (5xx), or
 * cannot take for OUTBOX_LIFETIME, is set aside as failed-NAME with an error
 * in the log; one that failed waits OUTBOX_RETRY before it is tried again.
 * Temporary files a stopped worker left are removed after an hour. An outbox file is
 * "MUGAI-OUTBOX 1", one "rcpt ADDRESS" line per recipient, an empty line, then
 * the message; the front end reads it as mugai's own output but still checks
 * its form and every address (quar_send refuses unusable ones).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "milter.h"
#include "quar.h"

#define OUTBOX_MAGIC "MUGAI-OUTBOX 1\n"
#define OUTBOX_RCPTS_MAX 1000
#define OUTBOX_LINE_MAX 512
#define OUTBOX_PERIOD 2             /* seconds between looks when all went out */
#define OUTBOX_RETRY 60             /* seconds before a failed mail is tried again */
#define OUTBOX_LIFETIME (5 * 86400) /* seconds a mail is tried before it is set aside */
#define OUTBOX_TMP_AGE 3600         /* seconds after which a worker's unfinished file is removed */

/* The outbox directory of c into out. 0 or -1 when too long. */
int milter_outbox_dir(const conf *c, char *out, size_t size)
{
    return mg_snprintf(out, size, "%s/outbox", c->milter_spool_dir) < 0 ? -1 : 0;
}

/* Copy fd (from its offset) to out. 0 or -1. */
static int copy_rest(int fd, int out)
{
    char buf[65536];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || mg_write_all(out, buf, (size_t)n) < 0)
            return -1;
    }
    return 0;
}

/* Give tmp in dir its final name TIME-PID-SEQ.msg, never replacing a mail already there,
 * and make the new entry durable (a failure to is logged: the mail is queued). 0 or -1
 * (errno: tmp is left). */
static int put_final(const char *dir, const char *tmp)
{
    static unsigned seq;
    char final[PATH_MAX + 64];
    int rc = -1, dfd;

    for (int tries = 0; tries < 100 && rc < 0; tries++) {
        if (mg_snprintf(final, sizeof(final), "%s/%lld-%ld-%u.msg", dir, (long long)time(NULL),
                        (long)getpid(), ++seq) < 0)
            return -1;
        rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE);
        if (rc < 0 && errno != EEXIST)
            return -1;
    }
    if (rc < 0)
        return -1;
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) < 0)
        mg_warn("outbox: cannot sync %s: %s", dir, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    return 0;
}

/* See milter.h. */
int milter_outbox_put(void *ctx, int fd, char *const *rcpts, char **reply)
{
    const conf *c = ctx;
    char dir[PATH_MAX], tmp[PATH_MAX + 32];
    GString *head = g_string_new(OUTBOX_MAGIC);
    int out = -1, ok = 0;

    for (size_t i = 0; rcpts && rcpts[i]; i++)
        g_string_append_printf(head, "rcpt %s\n", rcpts[i]);
    g_string_append_c(head, '\n');
    if (milter_outbox_dir(c, dir, sizeof(dir)) == 0 &&
        mg_snprintf(tmp, sizeof(tmp), "%s/tmp-XXXXXX", dir) >= 0 && (out = mkstemp(tmp)) >= 0)
        ok = mg_write_all(out, head->str, head->len) == 0 && copy_rest(fd, out) == 0 &&
             fsync(out) == 0 && put_final(dir, tmp) == 0;
    if (!ok) {
        *reply = g_strdup_printf("cannot queue the mail in %s: %s", dir, g_strerror(errno));
        if (out >= 0)
            unlink(tmp);
    } else {
        *reply = g_strdup("queued for the release listener");
    }
    if (out >= 0)
        close(out);
    g_string_free(head, TRUE);
    return ok ? 0 : -1;
}

/* Read one line (at most OUTBOX_LINE_MAX bytes, without its LF) from f into buf. 0 or -1. */
static int head_line(FILE *f, char *buf)
{
    size_t n;

    if (!fgets(buf, OUTBOX_LINE_MAX, f))
        return -1;
    n = strlen(buf);
    if (n == 0 || buf[n - 1] != '\n')
        return -1;
    buf[n - 1] = '\0';
    return 0;
}

/* Parse the head of an outbox file: its recipients into rcpts (NULL-terminated, g_strfreev)
 * and the message's offset into *off. 0 or -1. */
static int head_read(int fd, char ***rcpts, off_t *off)
{
    FILE *f = fdopen(dup(fd), "r");
    GPtrArray *list = g_ptr_array_new();
    char line[OUTBOX_LINE_MAX];
    int rc = -1;

    if (f && head_line(f, line) == 0 && strcmp(line, "MUGAI-OUTBOX 1") == 0) {
        while (head_line(f, line) == 0 && list->len < OUTBOX_RCPTS_MAX) {
            if (line[0] == '\0') {
                rc = list->len ? 0 : -1;
                break;
            }
            if (strncmp(line, "rcpt ", 5) != 0)
                break;
            g_ptr_array_add(list, g_strdup(line + 5));
        }
    }
    if (rc == 0 && (*off = ftello(f)) < 0)
        rc = -1;
    if (f)
        fclose(f);
    g_ptr_array_add(list, NULL);
    *rcpts = (char **)g_ptr_array_free(list, FALSE);
    return rc;
}

/* Mails that failed, by name: when each may be tried again (0: sent, but it could not be
 * removed, so never again). Only the sending thread uses it. */
static GHashTable *g_later;

/* Rename name in dfd to PREFIX-name, so that no round sends it again. */
static void set_aside(int dfd, const char *name, const char *prefix)
{
    char to[300];

    if (mg_snprintf(to, sizeof(to), "%s-%s", prefix, name) < 0 || renameat(dfd, name, dfd, to) < 0)
        mg_error("outbox: cannot rename %s to %s-%s: %s", name, prefix, name, strerror(errno));
}

/* Non-zero when the mail cannot go, ever: the listener refused it with a 5xx reply, or
 * quar_send refused its addresses before connecting. */
static int refused_for_good(const char *reply)
{
    return reply &&
           (reply[0] == '5' || strstr(reply, "server said: 5") != NULL ||
            strncmp(reply, "not a usable", 12) == 0 || strcmp(reply, "no recipients") == 0);
}

/* Send one outbox file; 1 sent (removed), 0 to try again later, -1 unusable or failed for good
 * (set aside). */
static int send_one(const quar_listener *l, int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    char **rcpts = NULL, *reply = NULL;
    struct stat st;
    off_t off = 0;
    int rc;

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || head_read(fd, &rcpts, &off) < 0 ||
        lseek(fd, off, SEEK_SET) < 0) {
        mg_error("outbox: %s is not an outbox file; renamed to bad-%s", name, name);
        set_aside(dfd, name, "bad");
        rc = -1;
    } else if (quar_send(l, fd, "", rcpts, &reply) == 0) {
        mg_info("outbox: %s sent: %s", name, reply);
        if (unlinkat(dfd, name, 0) < 0) {
            mg_error("outbox: %s was sent but cannot be removed (%s): not sent again", name,
                     strerror(errno));
            g_hash_table_insert(g_later, g_strdup(name), GINT_TO_POINTER(0));
        } else {
            g_hash_table_remove(g_later, name);
        }
        rc = 1;
    } else if (refused_for_good(reply) || time(NULL) - st.st_mtime > OUTBOX_LIFETIME) {
        mg_error("outbox: %s not sent, given up: %s; renamed to failed-%s", name, reply, name);
        set_aside(dfd, name, "failed");
        rc = -1;
    } else {
        mg_warn("outbox: %s not sent, tried again in %d s: %s", name, OUTBOX_RETRY, reply);
        rc = 0;
    }
    g_strfreev(rcpts);
    g_free(reply);
    close(fd);
    return rc;
}

/* Remove a worker's temporary file name in dfd when it is older than OUTBOX_TMP_AGE (its
 * writer stopped before it was finished). */
static void tmp_sweep(int dfd, const char *name)
{
    struct stat st;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        time(NULL) - st.st_mtime > OUTBOX_TMP_AGE && unlinkat(dfd, name, 0) == 0)
        mg_warn("outbox: removed %s, left unfinished", name);
}

/* Whether name may be tried now: not failed within OUTBOX_RETRY, not sent already. */
static int due(const char *name, gint64 now)
{
    gpointer v;

    if (!g_hash_table_lookup_extended(g_later, name, NULL, &v))
        return 1;
    return v != GINT_TO_POINTER(0) && now >= (gint64)GPOINTER_TO_SIZE(v);
}

/* Send what the outbox holds that is due. */
static void outbox_round(const conf *c)
{
    quar_listener l = {c->release_host, c->release_port, c->release_helo};
    char dir[PATH_MAX];
    gint64 now = (gint64)time(NULL);
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer key;
    DIR *d;
    struct dirent *e;
    int rc;

    if (milter_outbox_dir(c, dir, sizeof(dir)) < 0 || !(d = opendir(dir))) {
        g_hash_table_destroy(seen);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "tmp-", 4) == 0)
            tmp_sweep(dirfd(d), e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".msg") != 0 ||
            strncmp(e->d_name, "bad-", 4) == 0 || strncmp(e->d_name, "failed-", 7) == 0)
            continue;
        g_hash_table_add(seen, g_strdup(e->d_name));
        if (!due(e->d_name, now))
            continue;
        rc = send_one(&l, dirfd(d), e->d_name);
        if (rc == 0)
            g_hash_table_insert(g_later, g_strdup(e->d_name),
                                GSIZE_TO_POINTER((gsize)(now + OUTBOX_RETRY)));
        else if (rc < 0)
            g_hash_table_remove(g_later, e->d_name);
    }
    closedir(d);
    /* Forget the names no longer there. */
    g_hash_table_iter_init(&it, g_later);
    while (g_hash_table_iter_next(&it, &key, NULL))
        if (!g_hash_table_contains(seen, key))
            g_hash_table_iter_remove(&it);
    g_hash_table_destroy(seen);
}

/* The sending thread. */
static void *outbox_thread(void *arg)
{
    const conf *c = arg;
    char dir[PATH_MAX], buf[4096];
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

    g_later = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    /* Woken as soon as a worker renames a mail in, so that a follow-up leaves at once; the
     * period stays as the backstop (and the pace of retries). */
    if (in >= 0 && (milter_outbox_dir(c, dir, sizeof(dir)) < 0 ||
                    inotify_add_watch(in, dir, IN_MOVED_TO) < 0)) {
        close(in);
        in = -1;
    }
    for (;;) {
        struct pollfd pf = {in, POLLIN, 0};
        outbox_round(c);
        if (in < 0) {
            sleep(OUTBOX_PERIOD);
            continue;
        }
        if (poll(&pf, 1, OUTBOX_PERIOD * 1000) > 0)
            while (read(in, buf, sizeof(buf)) > 0)
                ;
    }
    return NULL;
}

/* See milter.h. */
int milter_outbox_start(const conf *c)
{
    pthread_t t;
    pthread_attr_t a;
    sigset_t all, old;
    int rc;

    /* The thread takes no signal: libmilter's own thread waits for SIGTERM and the rest, and
     * one delivered here would end the process without its orderly stop. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &a, outbox_thread, (void *)c);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}
