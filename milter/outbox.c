/*
 * milter/outbox.c - the gateway's own mails (PPAP follow-ups, answers to
 * replies, expiry notices) on their way to the release listener.
 *
 * A worker cannot reach the listener (its confinement forbids TCP): it writes
 * each mail durably into SPOOL/outbox (a temporary name, fsync, rename), and a
 * thread of the front end sends what it finds there with the null sender,
 * removing a file only once the listener accepted it with a 2xx reply, so a
 * mail is never lost to a stopped listener or a restart. An outbox file is
 * "MUGAI-OUTBOX 1", one "rcpt ADDRESS" line per recipient, an empty line, then
 * the message; the front end reads it as mugai's own output but still checks
 * its form and every address (quar_send refuses unusable ones).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define OUTBOX_PERIOD 2 /* seconds between looks when all went out */
#define OUTBOX_RETRY 60 /* seconds before a failed mail is tried again */

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

/* See milter.h. */
int milter_outbox_put(void *ctx, int fd, char *const *rcpts, char **reply)
{
    const conf *c = ctx;
    static unsigned seq;
    char dir[PATH_MAX], tmp[PATH_MAX + 32], final[PATH_MAX + 64];
    GString *head = g_string_new(OUTBOX_MAGIC);
    int out = -1, ok = 0;

    for (size_t i = 0; rcpts && rcpts[i]; i++)
        g_string_append_printf(head, "rcpt %s\n", rcpts[i]);
    g_string_append_c(head, '\n');
    if (milter_outbox_dir(c, dir, sizeof(dir)) == 0 &&
        mg_snprintf(tmp, sizeof(tmp), "%s/tmp-XXXXXX", dir) >= 0 &&
        mg_snprintf(final, sizeof(final), "%s/%lld-%ld-%u.msg", dir, (long long)time(NULL),
                    (long)getpid(), ++seq) >= 0 &&
        (out = mkstemp(tmp)) >= 0)
        ok = mg_write_all(out, head->str, head->len) == 0 && copy_rest(fd, out) == 0 &&
             fsync(out) == 0 && rename(tmp, final) == 0;
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

/* Send one outbox file; 1 sent (removed), 0 to try again later, -1 unusable (set aside). */
static int send_one(const quar_listener *l, int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char **rcpts = NULL, *reply = NULL, bad[300];
    off_t off = 0;
    int rc;

    if (fd < 0)
        return 0;
    if (head_read(fd, &rcpts, &off) < 0 || lseek(fd, off, SEEK_SET) < 0) {
        mg_error("outbox: %s is not an outbox file; renamed to bad-%s", name, name);
        if (mg_snprintf(bad, sizeof(bad), "bad-%s", name) >= 0)
            renameat(dfd, name, dfd, bad);
        rc = -1;
    } else if (quar_send(l, fd, "", rcpts, &reply) == 0) {
        mg_info("outbox: %s sent: %s", name, reply);
        unlinkat(dfd, name, 0);
        rc = 1;
    } else {
        mg_warn("outbox: %s not sent, tried again in %d s: %s", name, OUTBOX_RETRY, reply);
        rc = 0;
    }
    g_strfreev(rcpts);
    g_free(reply);
    close(fd);
    return rc;
}

/* Send what the outbox holds. 0 when all went, -1 when something waits for a retry. */
static int outbox_round(const conf *c)
{
    quar_listener l = {c->release_host, c->release_port, c->release_helo};
    char dir[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (milter_outbox_dir(c, dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".msg") == 0 && strncmp(e->d_name, "bad-", 4) &&
            send_one(&l, dirfd(d), e->d_name) == 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

/* The sending thread. */
static void *outbox_thread(void *arg)
{
    const conf *c = arg;

    for (;;)
        sleep(outbox_round(c) < 0 ? OUTBOX_RETRY : OUTBOX_PERIOD);
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
