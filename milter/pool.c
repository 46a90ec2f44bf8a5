/*
 * milter/pool.c - the sanitizer pool: a supervisor and its single-threaded
 * workers.
 *
 * The supervisor is the main mugai-milter process; it never creates threads,
 * so forking workers is safe. It loads the configuration and the engine
 * (ClamAV signatures compiled once, shared copy-on-write), checks the store,
 * accepts job connections from the milter threads on a private unix socket in
 * the spool directory and hands each connection to a free worker by fd
 * passing (or answers busy after queue_wait). It restarts dead workers,
 * replaces a worker after jobs_per_worker jobs, and on SIGHUP rebuilds the
 * engine and replaces every worker. Workers read the job (envelope, spool fd
 * and the fd of an empty file for the clean message), run san_mail into that
 * file and reply with a status and a completion mark. A worker first tells
 * the supervisor the digest of the job's message; when it dies during the job,
 * the supervisor counts a failed attempt at that message in the store, and a
 * message that stopped workers or ran out of time [milter] poison_attempts
 * times gets a notice instead of the engine (poison.c). A job ends at
 * job_timeout: the jail stops its conversions then and the worker answers
 * that it timed out; an alarm a little later kills a worker stuck elsewhere.
 * The supervisor is the child subreaper of its workers, so the processes of a
 * dead worker's conversions become its children: it kills their process
 * groups and removes the jail directories the worker left. Every few seconds
 * it also kills any such orphan that has left its conversion's process group
 * and outlived it.
 * Runs as the unprivileged milter user; workers see untrusted mail
 * only through the engine, which parses it in the render jail. Each worker
 * first forks its jail spawner, which keeps the capabilities making jails
 * needs and makes the worker's jails, then confines itself for good (no
 * capabilities, Landlock, seccomp: sanitize/confine.c) before its first job.
 * With [office] mode = warm the supervisor starts the Office service (mugai-office,
 * render/office.c) on a listening socket in the spool directory that it keeps itself, before
 * the workers, which connect to it before they confine themselves; it starts it again when
 * it ends (killed, or by itself after [office] recycle_after documents), and a worker whose
 * service is gone exits after its job, for one connected to the new service.
 * The console (mugai-web, the store's group) connects to a second socket, unlock.sock (0660):
 * such a connection goes to a worker tagged 'U' and carries exactly one unlock request (a held
 * part's id, IT's password), which the worker tries as IT within the job's deadline, the
 * follow-up through the outbox; a job there, or an unlock request on pool.sock, is refused.
 * Must never answer OK for a message whose original is not in the store,
 * never keep a job connection open in the supervisor after handing it
 * over (a worker that dies must give the milter thread an EOF), and never
 * reuse a worker's slot before its process has been reaped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "milter.h"
#include "quar.h"
#include "office.h"
#include "san.h"

#define POOL_MAX_WORKERS 256
#define POOL_MAX_QUEUE 1024
#define POOL_ALARM_GRACE 5  /* seconds after job_timeout before the alarm kills a worker */
#define POOL_SWEEP_EVERY 5  /* seconds between looks for processes that left their conversion */
#define POOL_MAX_UNLOCKS 4  /* console unlock connections waiting at once; more: busy */
#define POOL_UNLOCK_WAIT 10 /* seconds a worker waits for the console's request */

typedef struct worker {
    pid_t pid; /* 0: empty slot (a dead worker keeps it until it is reaped) */
    int ctl;   /* control socket, -1 when closed */
    int busy;
    int retire; /* replace after the current job */
    unsigned jobs;
    unsigned job_timeout; /* of the configuration the worker was started with */
    char digest[65];      /* of the job's message, when the worker told it (poison.c) */
} worker;

typedef struct waiting {
    int fd;
    double since;
    char tag; /* 'J' a job from the front end (pool.sock), 'U' the console's unlock.sock */
} waiting;

typedef struct pool {
    conf *c;
    char *conf_path;
    san_engine *eng;
    int lsock, sigfd;
    int usock;   /* the console's unlock socket, -1 when none */
    pid_t child; /* the milter front end; 0 once it has exited */
    int stopping;
    double respawn_after; /* back off when workers die at start */
    double next_sweep;    /* when to look for strays again */
    worker w[POOL_MAX_WORKERS];
    char wtag[POOL_MAX_WORKERS]; /* what each busy worker serves: 'J' or 'U' (see waiting) */
    waiting q[POOL_MAX_QUEUE];
    size_t nq;
    int wctl; /* in a worker: its control socket */
    /* The Office service ([office] mode = warm): its pid (0: not running), its listening
     * socket, which workers connect to before they confine themselves, when it may be
     * started again, and how often in a row it ended soon after its start. */
    pid_t office;
    int office_lsock;
    double office_after, office_started;
    unsigned office_quick_ends;
} pool;

/* The pool socket's path: SPOOL/pool.sock. */
int milter_pool_path(const conf *c, char *out, size_t size)
{
    return mg_snprintf(out, size, "%s/pool.sock", c->milter_spool_dir) < 0 ? -1 : 0;
}

/* The Office service's socket's path: SPOOL/office.sock. */
static int milter_pool_office_path(const conf *c, char *out, size_t size)
{
    return mg_snprintf(out, size, "%s/office.sock", c->milter_spool_dir) < 0 ? -1 : 0;
}

/* Create the listening pool socket, replacing a stale one. */
int milter_pool_listen(const conf *c)
{
    struct sockaddr_un sa;
    int s;
    mode_t old;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (milter_pool_path(c, sa.sun_path, sizeof(sa.sun_path)) < 0) {
        mg_error("pool socket path in %s is too long", c->milter_spool_dir);
        return -1;
    }
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    unlink(sa.sun_path);
    old = umask(077);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 128) < 0) {
        umask(old);
        mg_error("pool socket %s: %s", sa.sun_path, strerror(errno));
        close(s);
        return -1;
    }
    umask(old);
    return s;
}

/* The console's unlock socket's path: SPOOL/unlock.sock. */
int milter_unlock_path(const conf *c, char *out, size_t size)
{
    return mg_snprintf(out, size, "%s/unlock.sock", c->milter_spool_dir) < 0 ? -1 : 0;
}

/* Create the listening unlock socket, replacing a stale one: 0600 (main.c, still root, then
 * gives it to the console's user alone; the spool directory, 0710, lets it through). */
int milter_unlock_listen(const conf *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s;
    mode_t old;

    if (milter_unlock_path(c, sa.sun_path, sizeof(sa.sun_path)) < 0) {
        mg_error("unlock socket path in %s is too long", c->milter_spool_dir);
        return -1;
    }
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    unlink(sa.sun_path);
    old = umask(0177);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
        umask(old);
        mg_error("unlock socket %s: %s", sa.sun_path, strerror(errno));
        close(s);
        return -1;
    }
    umask(old);
    return s;
}

/* ---- worker side ---- */

/* Fill r as failed because the job ran out of time. */
static void worker_timed_out(pool *p, milter_reply *r)
{
    char text[128];

    free(r->qid);
    free(r->text);
    r->qid = NULL;
    r->status = MILTER_ST_FAIL;
    if (mg_snprintf(text, sizeof(text), "sanitization timed out after %u s ([milter] job_timeout)",
                    p->c->milter_job_timeout) < 0)
        mg_panic("pool worker: reply text too long");
    r->text = strdup(text);
}

/* Run the engine on one job and fill the reply; the result into res (the caller clears it). */
static void worker_san_mail(pool *p, quar_store *st, milter_job *j, milter_reply *r,
                            san_mail_result *res_out)
{
    san_envelope env = {j->queue_id, j->client, j->sender, (const char *const *)j->rcpts};
    const char *qid = j->queue_id ? j->queue_id : "-";
    san_mail_result res;
    char *err = NULL;
    int rc = -1;

    memset(&res, 0, sizeof(res));
    if ((rc = san_mail(p->eng, st, j->fd, &env, "mugai-milter", j->out, &res, &err)) < 0 &&
        !san_deadline_reached()) {
        r->status = MILTER_ST_FAIL;
        r->text = strdup(err ? err : "sanitization failed");
    } else if (san_deadline_reached()) {
        worker_timed_out(p, r);
        if (rc == 0 && res.record != NULL && res.record->id[0])
            mg_warn("%s: the original was stored as %s before the time ran out; deferred anyway",
                    qid, res.record->id);
    } else {
        r->status = MILTER_ST_OK;
        r->qid = strdup(res.record->id);
        mg_info("%s: sanitized, quarantine id %s%s", qid, r->qid, res.changed ? ", changed" : "");
        san_audit_mail(p->c, "mugai-milter", res.record, res.seconds);
    }
    free(err);
    *res_out = res;
}

/* Tell the supervisor the digest of the job's message ("A" and 64 hex digits on the control
 * socket) before the engine starts: should the worker die during the job, the supervisor counts
 * a failed attempt at that message. */
static void worker_announce(pool *p, const milter_attempt *a)
{
    char msg[65];

    if (!a->tracked)
        return;
    msg[0] = 'A';
    memcpy(msg + 1, a->digest, 64);
    if (mg_write_all(p->wctl, msg, sizeof(msg)) < 0)
        mg_warn("pool worker: cannot tell the supervisor the message digest: %s", strerror(errno));
}

/* Sanitize one job and fill the reply; the attempt at its message into *a, for the caller to
 * end. A message on which [milter] poison_attempts earlier attempts failed gets the notice
 * instead of the engine; the supervisor learns the message's digest first, to count this
 * attempt should it stop the worker. */
static void worker_sanitize(pool *p, quar_store *st, milter_job *j, milter_reply *r,
                            milter_attempt *a, san_mail_result *res)
{
    memset(a, 0, sizeof(*a));
    if (lseek(j->fd, 0, SEEK_SET) < 0 || ftruncate(j->out, 0) < 0 ||
        lseek(j->out, 0, SEEK_SET) < 0) {
        r->status = MILTER_ST_FAIL;
        r->text = strdup("cannot use the spool files");
        return;
    }
    if (milter_attempt_begin(p->c, st, j, a) > 0) {
        milter_poison_notice(p->c, st, j, a, r);
    } else {
        worker_announce(p, a);
        milter_test_crash(j->fd);
        worker_san_mail(p, st, j, r, res);
    }
}

/* The PPAP flow as a worker runs it: mails go through the outbox. */
static san_ppap worker_ppap(pool *p, quar_store *st, const char *source)
{
    san_ppap x = {p->eng, st, p->c, "mugai-milter", source, milter_outbox_put, (void *)p->c};

    return x;
}

/* A recipient's reply to [ppap] submit_address: never stored or passed on; its sender is
 * answered through the outbox. */
static void worker_submit(pool *p, quar_store *st, milter_job *j, milter_reply *r)
{
    san_ppap x = worker_ppap(p, st, j->client);

    san_ppap_reply(&x, j->fd, j->sender);
    r->status = MILTER_ST_CONSUMED;
}

/* After a mail was passed on: try its text on the held parts of the same sender, and expire
 * held parts whose time is up (at most once a minute per worker). Runs within its own
 * deadline; the job's files are no longer touched. */
static void worker_after(pool *p, quar_store *st, const milter_job *j, const san_mail_result *res)
{
    static double last_expiry;
    san_ppap x = worker_ppap(p, st, j->client);

    san_deadline_set(mg_now() + p->c->milter_job_timeout);
    alarm(p->c->milter_job_timeout + POOL_ALARM_GRACE);
    if (res->record && res->record->id[0])
        san_ppap_mail(&x, res->record, res->text);
    if (mg_now() - last_expiry >= 60) {
        last_expiry = mg_now();
        san_ppap_expire(&x, (int64_t)time(NULL));
    }
    alarm(0);
    san_deadline_set(0);
}

/* Serve one job connection handed over by the supervisor. The job's conversions end at
 * job_timeout (and it is answered as timed out); the alarm is the backstop for a worker
 * stuck outside the jail. The attempt is ended (a time out counted, a verdict forgetting the
 * count) once the alarm is off: the alarm killing a worker that has counted its time out
 * would make the supervisor count the same attempt again. */
static void worker_job(pool *p, quar_store *st, int conn)
{
    struct timeval tv = {30, 0};
    milter_job j;
    milter_reply r;
    milter_attempt a;
    san_mail_result res;
    int timed_out;

    memset(&r, 0, sizeof(r));
    memset(&res, 0, sizeof(res));
    memset(&a, 0, sizeof(a));
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (milter_job_recv(conn, &j) < 0) {
        mg_warn("pool worker: bad job message: %s", strerror(errno));
        return;
    }
    mg_debug("%s: sanitizing in worker %ld", j.queue_id ? j.queue_id : "-", (long)getpid());
    san_deadline_set(mg_now() + p->c->milter_job_timeout);
    alarm(p->c->milter_job_timeout + POOL_ALARM_GRACE);
    if (j.kind == MILTER_JOB_SUBMIT)
        worker_submit(p, st, &j, &r);
    else
        worker_sanitize(p, st, &j, &r, &a, &res);
    timed_out = san_deadline_reached();
    if (r.status == MILTER_ST_OK && r.qid == NULL) {
        mg_panic("pool worker: out of memory");
    }
    if (r.status != MILTER_ST_OK && r.status != MILTER_ST_CONSUMED)
        mg_error("%s: sanitization failed: %s", j.queue_id ? j.queue_id : "-",
                 r.text ? r.text : "out of memory");
    if (milter_reply_send(conn, &r) < 0)
        mg_warn("%s: reply lost: %s", j.queue_id ? j.queue_id : "-", strerror(errno));
    alarm(0);
    if (j.kind == MILTER_JOB_MAIL)
        milter_attempt_end(st, &a, &j, r.status == MILTER_ST_OK, timed_out);
    san_deadline_set(0);
    if (r.status == MILTER_ST_OK)
        worker_after(p, st, &j, &res);
    san_mail_result_clear(&res);
    milter_reply_clear(&r);
    milter_job_clear(&j);
}

/* Try the console's password on one held part h as IT ("ACTOR (console)"), the follow-up
 * through the outbox; what became of it into *part. Never logs the password. */
static void unlock_one(pool *p, quar_store *st, const milter_unlock *u, const quar_held *h,
                       milter_unlock_part *part)
{
    san_ppap x = worker_ppap(p, st, u->source);
    const char *cands[] = {u->password};
    const char *actor = u->actor && *u->actor ? u->actor : "console";
    char *who = g_strdup_printf("%s (console)", actor);
    san_ppap_origin o = {SAN_PPAP_IT, who, NULL, NULL, (int64_t)time(NULL)};
    san_ppap_outcome out;
    int rc;

    x.actor = actor;
    part->part = strdup(h->part);
    if (part->part == NULL)
        mg_panic("pool worker: out of memory");
    if (san_deadline_reached()) {
        part->why = strdup("not tried: the request ran out of time ([milter] job_timeout)");
        g_free(who);
        return;
    }
    rc = san_ppap_try(&x, h, cands, 1, &o, &out);
    part->opened = rc == 0 && out.opened;
    part->tried = out.tried;
    part->attempts = out.attempts;
    part->locked = out.locked ? 1 : 0;
    part->why = out.why && !part->opened ? strdup(out.why) : NULL;
    mg_info("%s: part %s: console user %s (%s): %s", h->msg_id, h->part, actor,
            u->source ? u->source : "-",
            part->opened ? "opened"
            : out.why    ? out.why
                         : "not opened");
    g_free(out.why);
    g_free(who);
}

/* Non-zero when the console's request u is for held part h: the part it names, or without
 * one, every part still held (pending, or locked: IT may open those). */
static int unlock_wants(const milter_unlock *u, const quar_held *h)
{
    if (u->part != NULL)
        return strcmp(h->part, u->part) == 0;
    return strcmp(h->status, "pending") == 0 || strcmp(h->status, "locked") == 0;
}

/* Carry out the console's request u: each held part it is for, tried in turn within the job's
 * deadline; the answer into r. */
static void unlock_run(pool *p, quar_store *st, const milter_unlock *u, milter_unlock_reply *r)
{
    quar_held_filter f = {0};
    quar_held **hs = NULL;
    size_t n = 0, i;
    char *err = NULL, *id = g_ascii_strup(u->msg_id, -1);

    f.msg_id = id;
    if (quar_held_list(st, &f, &hs, &n, &err) != 0) {
        mg_error("%s: unlock from the console: quarantine store: %s", id,
                 err ? err : "unknown error");
        r->status = MILTER_UNLOCK_FAIL;
        r->text = strdup("the quarantine store failed");
        free(err);
        g_free(id);
        return;
    }
    r->parts = calloc(n ? n : 1, sizeof(*r->parts));
    if (r->parts == NULL)
        mg_panic("pool worker: out of memory");
    for (i = 0; i < n && r->nparts < MILTER_UNLOCK_MAX_PARTS; i++)
        if (unlock_wants(u, hs[i]))
            unlock_one(p, st, u, hs[i], &r->parts[r->nparts++]);
    if (r->nparts == 0) {
        r->status = MILTER_UNLOCK_UNKNOWN;
        r->text = strdup(n == 0    ? "no held encrypted part"
                         : u->part ? "no such held part"
                                   : "no part still held");
    }
    quar_held_list_free(hs, n);
    g_free(id);
}

/* Serve one connection of the console (SPOOL/unlock.sock) handed over by the supervisor: it
 * carries exactly one unlock request and nothing else (a job is refused), answered within the
 * job's deadline, which runs from before the request is read: a peer sending it a byte at a
 * time (each within the receive timeout) holds the worker no longer than a job. The password
 * is wiped once the parts were tried. */
static void worker_unlock(pool *p, quar_store *st, int conn)
{
    struct timeval tv = {POOL_UNLOCK_WAIT, 0};
    milter_unlock u;
    milter_unlock_reply r;
    double until = mg_now() + p->c->milter_job_timeout;

    memset(&r, 0, sizeof(r));
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    alarm(p->c->milter_job_timeout + POOL_ALARM_GRACE);
    if (milter_unlock_recv(conn, &u) < 0) {
        mg_warn("pool worker: refused what came on the unlock socket: %s", strerror(errno));
        r.status = MILTER_UNLOCK_FAIL;
        r.text = strdup("not an unlock request");
        (void)milter_unlock_reply_send(conn, &r);
        alarm(0);
        milter_unlock_reply_clear(&r);
        return;
    }
    san_deadline_set(until);
    unlock_run(p, st, &u, &r);
    milter_unlock_clear(&u);
    if (milter_unlock_reply_send(conn, &r) < 0)
        mg_warn("unlock from the console: answer lost: %s", strerror(errno));
    alarm(0);
    san_deadline_set(0);
    milter_unlock_reply_clear(&r);
}

/* In a worker, idle: wait until ctl has a connection (1), or until the Office service it is
 * connected to is gone (0): then it exits, for a new worker that connects to the new one. */
static int worker_idle(int ctl)
{
    for (;;) {
        struct pollfd pf[2] = {{ctl, POLLIN, 0}, {san_office_fd(), 0, 0}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            return 1;
        if (pf[1].revents & (POLLHUP | POLLERR))
            return 0;
        if (pf[0].revents)
            return 1;
    }
}

/* In a worker, before it confines itself: connect to the Office service, when there is one
 * (its conversions are cold otherwise). */
static void worker_office(pool *p)
{
    char path[108];

    if (p->office_lsock < 0 || milter_pool_office_path(p->c, path, sizeof(path)) < 0)
        return;
    if (san_office_connect(path) < 0)
        mg_warn("pool worker %ld: Office service at %s: %s; Office documents go cold",
                (long)getpid(), path, strerror(errno));
}

/* A worker's life: start its jail spawner, open the store, confine itself, then take
 * connections from ctl until it is closed (or its spawner, or its Office service, is gone). */
static void worker_main(pool *p, int ctl)
{
    char *err = NULL;
    quar_store *st;
    char tag;
    int conn;

    /* First, so that the spawner holds nothing of the store. */
    if (san_jail_spawner_start(p->c) < 0)
        _exit(1);
    st = quar_open_fs(p->c->quarantine_dir, p->c->quarantine_retention_days, &err);
    if (st == NULL) {
        mg_error("pool worker: quarantine store: %s", err ? err : "unknown error");
        _exit(1);
    }
    quar_set_hold_days(st, p->c->ppap_hold_days);
    worker_office(p);
    if (san_confine_worker(p->c) < 0) {
        mg_error("pool worker %ld: cannot confine itself: exiting", (long)getpid());
        _exit(1);
    }
    san_engine_set_store(p->eng, st, "mugai-milter");
    while (san_jail_spawner_ok() && san_office_ok() && worker_idle(ctl) &&
           milter_fd_recv(ctl, &tag, &conn) == 0) {
        if (conn < 0)
            continue;
        if (tag == 'U')
            worker_unlock(p, st, conn);
        else
            worker_job(p, st, conn);
        close(conn);
        if (mg_write_all(ctl, "D", 1) < 0)
            break;
    }
    quar_close(st);
    _exit(0);
}

/* ---- supervisor side ---- */

/* Fork a worker into slot i. */
static int pool_spawn(pool *p, size_t i)
{
    int sv[2];
    pid_t pid;
    sigset_t all;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        size_t k;

        close(sv[0]);
        close(p->lsock);
        if (p->usock >= 0)
            close(p->usock);
        close(p->sigfd);
        if (p->office_lsock >= 0)
            close(p->office_lsock);
        for (k = 0; k < POOL_MAX_WORKERS; k++)
            if (p->w[k].ctl >= 0)
                close(p->w[k].ctl);
        for (k = 0; k < p->nq; k++)
            close(p->q[k].fd);
        sigemptyset(&all);
        signal(SIGHUP, SIG_IGN);
        signal(SIGTERM, SIG_DFL);
        sigprocmask(SIG_SETMASK, &all, NULL);
        p->wctl = sv[1];
        worker_main(p, sv[1]);
    }
    close(sv[1]);
    p->w[i] = (worker){pid, sv[0], 0, 0, 0, p->c->milter_job_timeout, ""};
    return 0;
}

/* Close a worker's control socket: it exits after its current job. */
static void pool_retire(pool *p, size_t i)
{
    if (p->w[i].ctl >= 0)
        close(p->w[i].ctl);
    p->w[i].ctl = -1;
}

/* Start workers in empty slots (a slot is empty once its worker has been reaped), backing
 * off after a failure. */
static void pool_fill(pool *p)
{
    size_t i;

    if (p->stopping || mg_now() < p->respawn_after)
        return;
    for (i = 0; i < p->c->milter_workers && i < POOL_MAX_WORKERS; i++) {
        if (p->w[i].ctl >= 0 || p->w[i].pid > 0)
            continue;
        if (pool_spawn(p, i) < 0) {
            mg_error("pool: cannot start a worker: %s", strerror(errno));
            p->respawn_after = mg_now() + 1.0;
            return;
        }
    }
}

/* Tell the milter thread (or the console) there is no worker, then drop its connection. */
static void pool_busy(pool *p, size_t k)
{
    milter_reply r = {MILTER_ST_BUSY, NULL, "no sanitizer worker free within queue_wait"};
    milter_unlock_reply u = {MILTER_UNLOCK_BUSY, r.text, NULL, 0};

    mg_warn("pool: no worker free within %u s", p->c->milter_queue_wait);
    if ((p->q[k].tag == 'U' ? milter_unlock_reply_send(p->q[k].fd, &u)
                            : milter_reply_send(p->q[k].fd, &r)) < 0)
        mg_warn("pool: busy reply lost: %s", strerror(errno));
    close(p->q[k].fd);
    memmove(&p->q[k], &p->q[k + 1], (p->nq - k - 1) * sizeof(p->q[0]));
    p->nq--;
}

/* The first waiting connection that may go to a worker now: a job always; the console's only
 * while no other worker serves one (so that unlock requests, from the store's whole group,
 * never keep more than one worker from mail). p->nq when none may. */
static size_t pool_next(const pool *p)
{
    size_t i, k, unlocking = 0;

    for (i = 0; i < POOL_MAX_WORKERS; i++)
        unlocking += p->w[i].busy && p->wtag[i] == 'U';
    for (k = 0; k < p->nq; k++)
        if (p->q[k].tag != 'U' || unlocking == 0)
            return k;
    return p->nq;
}

/* Hand waiting connections to idle workers; expire those waiting too long. */
static void pool_dispatch(pool *p)
{
    size_t i, k;

    for (i = 0; i < POOL_MAX_WORKERS && (k = pool_next(p)) < p->nq; i++) {
        worker *w = &p->w[i];

        if (w->ctl < 0 || w->busy || w->retire)
            continue;
        if (milter_fd_send(w->ctl, p->q[k].tag, p->q[k].fd) < 0) {
            mg_warn("pool: worker %ld unreachable", (long)w->pid);
            pool_retire(p, i);
            continue;
        }
        w->busy = 1;
        p->wtag[i] = p->q[k].tag;
        close(p->q[k].fd);
        memmove(&p->q[k], &p->q[k + 1], (p->nq - k - 1) * sizeof(p->q[0]));
        p->nq--;
    }
    for (k = 0; k < p->nq;) {
        if (mg_now() - p->q[k].since >= p->c->milter_queue_wait)
            pool_busy(p, k);
        else
            k++;
    }
}

/* Worker i ended during its job: count a failed attempt at the job's message, when the worker
 * told its digest (once), unless the pool is stopping (then the ending is ours). */
static void pool_job_lost(pool *p, size_t i)
{
    worker *w = &p->w[i];

    if (w->busy && w->digest[0] && !p->stopping)
        milter_attempt_died(p->c, (long)w->pid, w->digest);
    w->digest[0] = '\0';
}

/* Take the rest of worker i's "A": the 64 lower-case hex digits its one write put on the
 * socket with the "A", read without waiting (a worker that sent less must not stall the
 * supervisor). Once per job, during the job. 0, or -1 when the worker broke the protocol. */
static int pool_read_digest(pool *p, size_t i)
{
    worker *w = &p->w[i];
    char d[65];
    ssize_t n;

    do
        n = recv(w->ctl, d, 64, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n != 64 || !w->busy || w->digest[0])
        return -1;
    d[64] = '\0';
    if (strspn(d, "0123456789abcdef") != 64)
        return -1;
    memcpy(w->digest, d, sizeof(w->digest));
    return 0;
}

/* Worker i wrote what no worker writes: it counts nothing, is retired and, while alive, is
 * killed (its job is then deferred). */
static void pool_worker_broke(pool *p, size_t i, int alive)
{
    worker *w = &p->w[i];

    mg_error("pool: worker %ld broke the control protocol; %s", (long)w->pid,
             alive ? "killing it" : "nothing it sent is counted");
    w->digest[0] = '\0';
    if (alive && w->pid > 0)
        (void)kill(w->pid, SIGKILL);
    pool_retire(p, i);
}

/* A worker reported a finished job ("D"), or the digest of its job's message ("A" and 64 hex
 * digits), or closed its end. alive: the worker has not been reaped yet. */
static void pool_worker_event(pool *p, size_t i, int alive)
{
    worker *w = &p->w[i];
    char b;
    ssize_t n = read(w->ctl, &b, 1);

    if (n < 0 && errno == EINTR)
        return;
    if (n > 0 && b == 'A') {
        if (pool_read_digest(p, i) < 0)
            pool_worker_broke(p, i, alive);
        return;
    }
    if (n > 0 && b != 'D') {
        pool_worker_broke(p, i, alive);
        return;
    }
    if (n <= 0) {
        pool_job_lost(p, i);
        pool_retire(p, i);
        return;
    }
    w->busy = 0;
    w->digest[0] = '\0';
    w->jobs++;
    if (w->retire || w->jobs >= p->c->milter_jobs_per_worker || i >= p->c->milter_workers)
        pool_retire(p, i);
}

/* Read what worker i wrote before it ended (the digest of its job's message) and has not been
 * read yet, until its end of the control socket is seen. */
static void pool_ctl_drain(pool *p, size_t i)
{
    struct pollfd pf;

    while (p->w[i].ctl >= 0) {
        pf = (struct pollfd){p->w[i].ctl, POLLIN, 0};
        if (poll(&pf, 1, 0) <= 0)
            return;
        pool_worker_event(p, i, 0);
    }
}

/* State, parent and process group of pid, from /proc. 0, or -1 when it is gone. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgid)
{
    char path[64], buf[512];
    const char *q;
    long pp, pg;
    ssize_t n;
    int fd;

    if (mg_snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid) < 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    q = strrchr(buf, ')'); /* the command name in parentheses may hold anything */
    if (q == NULL || sscanf(q + 1, " %c %ld %ld", state, &pp, &pg) != 3)
        return -1;
    *ppid = (pid_t)pp;
    *pgid = (pid_t)pg;
    return 0;
}

/* The slot of worker pid, or POOL_MAX_WORKERS when pid is not a worker. */
static size_t pool_slot(const pool *p, pid_t pid)
{
    size_t i;

    for (i = 0; i < POOL_MAX_WORKERS && pid > 0; i++)
        if (p->w[i].pid == pid)
            return i;
    return POOL_MAX_WORKERS;
}

/* Non-zero when process group pgid is a conversion a live worker still runs: its leader is
 * the child of that worker's jail spawner (or of the worker, without a spawner). */
static int pool_live_conversion(const pool *p, pid_t pgid)
{
    char state, sstate;
    pid_t ppid, pg, wpid;

    if (proc_stat(pgid, &state, &ppid, &pg) < 0 || state == 'Z')
        return 0;
    if (pool_slot(p, ppid) < POOL_MAX_WORKERS)
        return 1;
    return proc_stat(ppid, &sstate, &wpid, &pg) == 0 && sstate != 'Z' &&
           pool_slot(p, wpid) < POOL_MAX_WORKERS;
}

/* Kill what conversions left: every running child of the supervisor that is neither the
 * front end nor a worker (orphans are reparented here), with its process group unless that
 * is still a live worker's conversion. A process that left its conversion's group (setsid)
 * and outlived the conversion is one; so is all that a dead worker's conversion left.
 * Returns how many it found. */
static size_t pool_kill_strays(const pool *p)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t self = getpid(), own_group = getpgrp();
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char state, *end;
        pid_t ppid, pgid;
        long pid = strtol(e->d_name, &end, 10);

        if (pid <= 0 || *end != '\0' || pid == p->child || (p->office > 0 && pid == p->office) ||
            pool_slot(p, (pid_t)pid) < POOL_MAX_WORKERS)
            continue;
        if (proc_stat((pid_t)pid, &state, &ppid, &pgid) < 0 || ppid != self || state == 'Z')
            continue;
        if (pool_live_conversion(p, pgid))
            continue;
        n++;
        mg_warn("pool: killing process %ld (group %ld) left by a conversion", pid, (long)pgid);
        if (pgid > 1 && pgid != own_group)
            (void)kill(-pgid, SIGKILL);
        (void)kill((pid_t)pid, SIGKILL);
    }
    closedir(d);
    return n;
}

/* ---- the Office service ---- */

/* Create the Office service's listening socket (0600, replacing a stale one): it outlives
 * the service, so that workers connect while it (re)starts. -1 when [office] mode is cold or
 * there is no service program (logged once). */
static int pool_office_listen(const pool *p)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *prog = san_office_program(p->c);
    int s;
    mode_t old;

    if (strcmp(p->c->office_mode, "warm") != 0 || prog == NULL) {
        if (prog == NULL && strcmp(p->c->office_mode, "warm") == 0)
            mg_info("pool: no mugai-office beside %s: Office documents are converted cold",
                    p->c->render_path);
        free(prog);
        return -1;
    }
    free(prog);
    if (milter_pool_office_path(p->c, sa.sun_path, sizeof(sa.sun_path)) < 0)
        return -1;
    s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    unlink(sa.sun_path);
    old = umask(077);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 64) < 0) {
        umask(old);
        mg_error("pool: Office service socket %s: %s", sa.sun_path, strerror(errno));
        close(s);
        return -1;
    }
    umask(old);
    return s;
}

/* Start the Office service when it is not running (and not backing off). */
static void pool_office_fill(pool *p)
{
    if (p->office_lsock < 0 || p->office > 0 || p->stopping || mg_now() < p->office_after)
        return;
    p->office = san_office_serve(p->c, p->conf_path, p->office_lsock);
    if (p->office < 0) {
        mg_error("pool: cannot start the Office service: %s", strerror(errno));
        p->office = 0;
        p->office_after = mg_now() + 10.0;
        return;
    }
    p->office_started = mg_now();
    mg_info("pool: Office service started (pid %ld)", (long)p->office);
}

/* The Office service ended with status: log it and start it again, after a pause that grows
 * while it keeps ending soon after its start. Its workers' sockets are closed: they exit
 * after their jobs and are replaced by workers that connect to the new service. */
static void pool_office_ended(pool *p, int status)
{
    int quick = mg_now() - p->office_started < 10.0;

    if (WIFEXITED(status) && WEXITSTATUS(status) == OFFICE_SERVICE_UNUSABLE) {
        char path[108];
        /* Closing the socket resets the connections it did not take: their workers convert
         * cold, exit after their jobs, and new ones no longer connect. */
        mg_warn("pool: the Office service cannot use LibreOfficeKit: Office documents are "
                "converted cold");
        close(p->office_lsock);
        p->office_lsock = -1;
        if (milter_pool_office_path(p->c, path, sizeof(path)) == 0)
            unlink(path);
        p->office = 0;
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        mg_info("pool: Office service %ld exited; starting it again", (long)p->office);
    else
        mg_warn("pool: Office service %ld ended (%s %d); starting it again", (long)p->office,
                WIFEXITED(status) ? "exit status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    p->office_quick_ends = quick ? p->office_quick_ends + 1 : 0;
    p->office_after =
        mg_now() + (quick ? (p->office_quick_ends < 60 ? p->office_quick_ends : 60) : 0);
    p->office = 0;
}

/* Log how the worker in slot i ended. Non-zero when it did not exit cleanly. */
static int pool_log_end(const pool *p, size_t i, int status)
{
    const worker *w = &p->w[i];
    const char *during = w->busy ? " during a job" : "";
    const char *abbrev;
    int sig;

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        mg_info("pool: worker %ld exited", (long)w->pid);
        return 0;
    }
    if (WIFEXITED(status)) {
        mg_warn("pool: worker %ld died%s: exit status %d", (long)w->pid, during,
                WEXITSTATUS(status));
        return 1;
    }
    sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    abbrev = sigabbrev_np(sig);
    if (sig == SIGALRM && w->busy)
        mg_error("pool: worker %ld killed by SIGALRM: its job exceeded [milter] job_timeout "
                 "(%u s)",
                 (long)w->pid, w->job_timeout);
    else
        mg_warn("pool: worker %ld died%s: killed by signal %d (SIG%s)", (long)w->pid, during, sig,
                abbrev ? abbrev : "?");
    return 1;
}

/* Reap children; the milter front end exiting stops the pool. After a worker died, or a
 * process it left behind ended, kill what is left of its conversions and remove their
 * directories. */
static void pool_reap(pool *p)
{
    pid_t pid;
    int status, strays = 0;
    size_t i;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == p->child) {
            mg_info("milter front end exited (status %d)", status);
            p->child = 0;
            p->stopping = 1;
            continue;
        }
        if (p->office > 0 && pid == p->office) {
            pool_office_ended(p, status);
            strays = 1; /* its conversions, now ours */
            continue;
        }
        i = pool_slot(p, pid);
        if (i == POOL_MAX_WORKERS) {
            mg_debug("pool: reaped process %ld left by a conversion", (long)pid);
            strays = 1;
            continue;
        }
        pool_ctl_drain(p, i);
        if (pool_log_end(p, i, status)) {
            p->respawn_after = mg_now() + 0.5;
            strays = 1;
            pool_job_lost(p, i);
        }
        pool_retire(p, i);
        p->w[i].pid = 0;
        p->w[i].busy = 0;
    }
    if (strays) {
        pool_kill_strays(p);
        san_jail_dirs_sweep();
    }
}

/* SIGHUP: reload the configuration and signatures, then replace the workers. */
static void pool_reload(pool *p)
{
    char *err = NULL;
    conf *nc = conf_load(p->conf_path, &err);
    san_engine *ne;
    size_t i;

    if (nc == NULL) {
        mg_error("reload: %s; keeping the running configuration", err ? err : "error");
        free(err);
        return;
    }
    ne = san_engine_new(nc, &err);
    if (ne == NULL) {
        mg_error("reload: engine: %s; keeping the running one", err ? err : "error");
        free(err);
        conf_free(nc);
        return;
    }
    if (nc->milter_workers > POOL_MAX_WORKERS)
        nc->milter_workers = POOL_MAX_WORKERS;
    free(nc->milter_spool_dir);
    nc->milter_spool_dir = strdup(p->c->milter_spool_dir); /* the socket stays where it is */
    if (nc->milter_spool_dir == NULL)
        mg_panic("reload: out of memory");
    san_engine_free(p->eng);
    conf_free(p->c);
    p->eng = ne;
    p->c = nc;
    for (i = 0; i < POOL_MAX_WORKERS; i++) {
        if (p->w[i].busy)
            p->w[i].retire = 1;
        else
            pool_retire(p, i);
    }
    if (p->office > 0)
        (void)kill(p->office, SIGTERM); /* started again with the new configuration */
    mg_info("reloaded configuration and signatures; replacing workers");
}

/* Handle the pending signals. */
static void pool_signals(pool *p)
{
    struct signalfd_siginfo si;

    while (read(p->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            pool_reap(p);
        else if (si.ssi_signo == SIGHUP)
            pool_reload(p);
        else if (!p->stopping) {
            mg_info("stopping: finishing messages in flight");
            p->stopping = 1;
            if (p->child > 0)
                kill(p->child, SIGTERM);
        }
    }
}

/* Connections of the console waiting now. */
static size_t pool_unlocks_waiting(const pool *p)
{
    size_t k, n = 0;

    for (k = 0; k < p->nq; k++)
        n += p->q[k].tag == 'U';
    return n;
}

/* Accept a connection on sock into the waiting queue with tag: 'J' a job (pool.sock), 'U' the
 * console's (unlock.sock; at most POOL_MAX_UNLOCKS wait, so that the console cannot crowd out
 * mail). */
static void pool_accept(pool *p, int sock, char tag)
{
    int fd = accept4(sock, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    if (tag == 'U' && pool_unlocks_waiting(p) >= POOL_MAX_UNLOCKS) {
        milter_unlock_reply busy = {MILTER_UNLOCK_BUSY, "too many unlock requests wait", NULL, 0};

        mg_warn("pool: %d unlock requests of the console already wait; refusing one more",
                POOL_MAX_UNLOCKS);
        (void)milter_unlock_reply_send(fd, &busy);
        close(fd);
        return;
    }
    p->q[p->nq].fd = fd;
    p->q[p->nq].since = mg_now();
    p->q[p->nq].tag = tag;
    p->nq++;
}

/* One round of poll over the signals, the pool and unlock sockets and the workers. */
static void pool_poll(pool *p)
{
    struct pollfd pf[3 + POOL_MAX_WORKERS];
    size_t map[POOL_MAX_WORKERS], n = 3, i;
    int room = p->nq < POOL_MAX_QUEUE;

    pf[0] = (struct pollfd){p->sigfd, POLLIN, 0};
    pf[1] = (struct pollfd){room ? p->lsock : -1, POLLIN, 0};
    pf[2] = (struct pollfd){room && !p->stopping ? p->usock : -1, POLLIN, 0};
    for (i = 0; i < POOL_MAX_WORKERS; i++) {
        if (p->w[i].ctl < 0)
            continue;
        map[n - 3] = i;
        pf[n++] = (struct pollfd){p->w[i].ctl, POLLIN, 0};
    }
    if (poll(pf, n, 500) <= 0)
        return;
    if (pf[0].revents)
        pool_signals(p);
    for (i = 3; i < n; i++)
        if (pf[i].revents && p->w[map[i - 3]].ctl == pf[i].fd)
            pool_worker_event(p, map[i - 3], 1);
    if (pf[1].revents)
        pool_accept(p, p->lsock, 'J');
    if (pf[2].revents && p->nq < POOL_MAX_QUEUE)
        pool_accept(p, p->usock, 'U');
}

/* Non-zero while a worker process is still alive. */
static int pool_workers_alive(const pool *p)
{
    size_t i;

    for (i = 0; i < POOL_MAX_WORKERS; i++)
        if (p->w[i].pid > 0)
            return 1;
    return 0;
}

/* Stop: answer queued connections, retire workers, wait for them (bounded). */
static void pool_shutdown(pool *p)
{
    double until = mg_now() + p->c->milter_job_timeout + 10;
    size_t i;
    char path[108];

    while (p->nq > 0)
        pool_busy(p, 0);
    for (i = 0; i < POOL_MAX_WORKERS; i++)
        pool_retire(p, i);
    while (pool_workers_alive(p) && mg_now() < until) {
        pool_reap(p);
        usleep(50000);
    }
    for (i = 0; i < POOL_MAX_WORKERS; i++)
        if (p->w[i].pid > 0)
            kill(p->w[i].pid, SIGKILL);
    /* The Office service ends its conversions as it exits. */
    if (p->office > 0)
        kill(p->office, SIGTERM);
    for (until = mg_now() + 5; p->office > 0 && mg_now() < until;) {
        pool_reap(p);
        usleep(20000);
    }
    if (p->office > 0 && kill(p->office, SIGKILL) == 0 && waitpid(p->office, NULL, 0) > 0)
        p->office = 0;
    /* Then reap them and what their conversions left, briefly. */
    for (until = mg_now() + 2; mg_now() < until;) {
        pool_reap(p);
        if (!pool_workers_alive(p) && pool_kill_strays(p) == 0)
            break;
        usleep(50000);
    }
    san_jail_dirs_sweep();
    if (milter_pool_path(p->c, path, sizeof(path)) == 0)
        unlink(path);
    if (p->usock >= 0 && milter_unlock_path(p->c, path, sizeof(path)) == 0)
        unlink(path);
    if (p->office_lsock >= 0 && milter_pool_office_path(p->c, path, sizeof(path)) == 0)
        unlink(path);
}

/* Load the engine and check the store once, before any worker exists. */
static int pool_start(pool *p)
{
    char *err = NULL;
    quar_store *st;

    p->eng = san_engine_new(p->c, &err);
    if (p->eng == NULL) {
        mg_error("engine: %s", err ? err : "unknown error");
        free(err);
        return -1;
    }
    /* SQLite handles must not cross fork: each worker opens its own; this only checks. */
    st = quar_open_fs(p->c->quarantine_dir, p->c->quarantine_retention_days, &err);
    if (st == NULL) {
        struct passwd *pw = p->c->milter_user && *p->c->milter_user ? NULL : getpwuid(geteuid());
        const char *who = pw ? pw->pw_name : p->c->milter_user;

        mg_error("%s (mugai-milter runs as user %s)", err ? err : "quarantine store: unknown error",
                 who && *who ? who : "?");
        free(err);
        return -1;
    }
    quar_close(st);
    return 0;
}

/* Block the signals the supervisor reads through a signalfd. */
static int pool_sigfd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* The supervisor's main loop. */
int milter_pool_run(conf *c, const char *conf_path, int lsock, int usock, pid_t child)
{
    pool *p = calloc(1, sizeof(*p));
    size_t i;
    int rc = 0;

    if (p == NULL)
        mg_fatal("out of memory");
    p->c = c;
    p->conf_path = conf_path ? strdup(conf_path) : NULL;
    p->lsock = lsock;
    p->usock = usock;
    p->child = child;
    p->office_lsock = -1;
    for (i = 0; i < POOL_MAX_WORKERS; i++)
        p->w[i] = (worker){0, -1, 0, 0, 0, 0, ""};
    if (c->milter_workers > POOL_MAX_WORKERS)
        c->milter_workers = POOL_MAX_WORKERS;
    /* Orphans of the workers' conversions come to us, not to init. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        mg_warn("pool: cannot become a child subreaper: %s", strerror(errno));
    san_jail_dirs_sweep(); /* left by a crash of an earlier run */
    (void)san_confine_check();
    p->sigfd = pool_sigfd();
    if (p->sigfd >= 0)
        p->office_lsock = pool_office_listen(p);
    if (p->sigfd < 0 || pool_start(p) < 0) {
        rc = 1;
        p->stopping = 1;
        if (p->child > 0)
            kill(p->child, SIGTERM);
    }
    while (!p->stopping || p->child > 0) {
        pool_office_fill(p); /* first: workers connect to it as they start */
        pool_fill(p);
        pool_dispatch(p);
        pool_poll(p);
        if (mg_now() >= p->next_sweep) { /* a stray's end does not always reach us */
            pool_kill_strays(p);
            p->next_sweep = mg_now() + POOL_SWEEP_EVERY;
        }
    }
    pool_shutdown(p);
    if (p->child > 0)
        waitpid(p->child, NULL, 0);
    if (p->usock >= 0)
        close(p->usock);
    san_engine_free(p->eng);
    conf_free(p->c);
    free(p->conf_path);
    free(p);
    return rc;
}
