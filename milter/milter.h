/*
 * milter/milter.h - internals of mugai-milter: the typed messages between the
 * milter front end and the sanitizer pool (proto.c), the pool supervisor and
 * its workers (pool.c), and the libmilter callbacks (callbacks.c).
 */
#ifndef MILTER_H
#define MILTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "conf.h"

/* ---- proto.c: typed messages over a unix stream socket ---- */

#define MILTER_MAGIC 0x4d474a31u      /* "MGJ1" */
#define MILTER_MSG_MAX (256u * 1024u) /* longest payload accepted */
#define MILTER_DONE 0x444f4e45u       /* completion mark closing every reply */
#define MILTER_MAX_FDS 2u             /* descriptors one message may carry */

enum {
    MILTER_T_JOB = 1,
    MILTER_T_REPLY = 2,
    MILTER_T_UNLOCK = 3,      /* the console: open held parts with IT's password */
    MILTER_T_UNLOCK_REPLY = 4 /* what became of each part tried */
};

typedef enum {
    MILTER_ST_OK = 0,
    MILTER_ST_FAIL = 1,
    MILTER_ST_BUSY = 2,
    MILTER_ST_CONSUMED = 3 /* a reply to [ppap] submit_address, handled: discard the message */
} milter_status;

/* What a job is: a mail to sanitize, or a recipient's reply to [ppap] submit_address from a
 * trusted network, which the gateway consumes. */
enum { MILTER_JOB_MAIL = 0, MILTER_JOB_SUBMIT = 1 };

/* One message: fixed header {magic, type, length} then length payload bytes. */
typedef struct milter_msg {
    uint32_t type;
    unsigned char *buf; /* payload */
    size_t len, cap;
    size_t pos;             /* read cursor of the typed getters */
    int fd[MILTER_MAX_FDS]; /* descriptors that travelled with the message, -1 when none; owned */
} milter_msg;

/* An empty message of this type. Caller frees with milter_msg_free. NULL on ENOMEM. */
milter_msg *milter_msg_new(uint32_t type);
/* Free m and close its fds. Accepts NULL. */
void milter_msg_free(milter_msg *m);
int milter_msg_put_u32(milter_msg *m, uint32_t v);
/* A string (NULL allowed) as u32 length + bytes. */
int milter_msg_put_str(milter_msg *m, const char *s);
int milter_msg_get_u32(milter_msg *m, uint32_t *v);
/* A copy of the next string in *s (NULL when sent as NULL); caller frees with free(). */
int milter_msg_get_str(milter_msg *m, char **s);
/* 0 when every payload byte was consumed, -1 when bytes are left over. */
int milter_msg_end(const milter_msg *m);
/* Send m on sock with the nfd (<= MILTER_MAX_FDS) descriptors of fd attached by SCM_RIGHTS.
 * 0 or -1. */
int milter_msg_send(int sock, const milter_msg *m, const int *fd, size_t nfd);
/* Receive one message; a short, over-long or foreign message is an error (-1, errno set;
 * EOF before any byte gives -1 with errno ENODATA). Caller frees *out. */
int milter_msg_recv(int sock, milter_msg **out);

/* A job: the envelope and the spool file of one message, and the empty file the worker
 * writes the clean message to. Both files belong to the front end, which reuses them. */
typedef struct milter_job {
    char *queue_id;
    char *client;
    char *sender;
    char **rcpts; /* NULL-terminated */
    size_t nrcpts;
    int fd;        /* the spooled message, -1 when none */
    int out;       /* the clean message goes here (from offset 0), -1 when none */
    uint32_t kind; /* MILTER_JOB_* */
} milter_job;

/* The answer of a worker (or of the supervisor when busy). Once it has arrived, whole, the
 * worker no longer touches the job's files. */
typedef struct milter_reply {
    milter_status status;
    char *qid;  /* quarantine id when OK (the clean message is in the job's out file) */
    char *text; /* reason when not OK */
} milter_reply;

/* Send j (strings and fds borrowed; both fds required). 0 or -1. */
int milter_job_send(int sock, const milter_job *j);
/* Receive a job with its two fds; clear with milter_job_clear. 0 or -1. */
int milter_job_recv(int sock, milter_job *j);
void milter_job_clear(milter_job *j);
/* Send r followed by the completion mark. 0 or -1. */
int milter_reply_send(int sock, const milter_reply *r);
/* Receive a reply; a reply without the completion mark (a worker that died) is -1.
 * Clear with milter_reply_clear. */
int milter_reply_recv(int sock, milter_reply *r);
void milter_reply_clear(milter_reply *r);
/* The console's request to open held parts of a message with a password (SPOOL/unlock.sock
 * only). Strings are owned; the password is wiped by milter_unlock_clear. */
typedef struct milter_unlock {
    char *msg_id;   /* quarantine id */
    char *part;     /* the held part, or NULL (sent empty or NULL): every part still held */
    char *password; /* 1-MILTER_UNLOCK_PW_MAX bytes, no NUL */
    char *actor;    /* the console user */
    char *source;   /* the console client's address */
} milter_unlock;

#define MILTER_UNLOCK_PW_MAX 512u    /* bytes of a password */
#define MILTER_UNLOCK_FIELD_MAX 128u /* bytes of the id, part, actor and source */
#define MILTER_UNLOCK_MAX_PARTS 64u  /* parts one answer may report */

/* What an unlock ended as, for the whole request. */
typedef enum {
    MILTER_UNLOCK_DONE = 0,    /* every matching part was tried: see the parts */
    MILTER_UNLOCK_UNKNOWN = 1, /* no such message, or no such held part (none still held) */
    MILTER_UNLOCK_FAIL = 2,    /* the store or the engine failed: see text */
    MILTER_UNLOCK_BUSY = 3     /* no worker free within queue_wait */
} milter_unlock_status;

/* One part tried, as the console shows it. */
typedef struct milter_unlock_part {
    char *part;
    uint32_t opened;   /* 1: opened, the follow-up handed on */
    uint32_t tried;    /* candidates tried (0 or 1) */
    uint32_t attempts; /* wrong passwords counted on it so far */
    uint32_t locked;   /* this attempt locked it */
    char *why;         /* why it was not opened, or NULL */
} milter_unlock_part;

/* The answer to a milter_unlock. Owned; clear with milter_unlock_reply_clear. */
typedef struct milter_unlock_reply {
    milter_unlock_status status;
    char *text; /* why, when not DONE, or NULL */
    milter_unlock_part *parts;
    size_t nparts;
} milter_unlock_reply;

/* Send u (a part of NULL or "" means every part still held). The message's buffer is wiped
 * before it is freed. 0 or -1 (EINVAL for a field out of bounds). */
int milter_unlock_send(int sock, const milter_unlock *u);
/* Receive an unlock request: its type must be MILTER_T_UNLOCK, with no fds, each field within
 * bounds and of its form (id and source plain ASCII, part a part path, actor showable
 * text), the password 1-MILTER_UNLOCK_PW_MAX bytes. Every copy of the password but u's is
 * wiped. 0, or -1 (u cleared). */
int milter_unlock_recv(int sock, milter_unlock *u);
/* Free u's strings, wiping the password first. Accepts NULL. */
void milter_unlock_clear(milter_unlock *u);
/* Send r followed by the completion mark. 0 or -1. */
int milter_unlock_reply_send(int sock, const milter_unlock_reply *r);
/* Receive an unlock answer; without its completion mark (a worker that died) it is -1.
 * Clear with milter_unlock_reply_clear. */
int milter_unlock_reply_recv(int sock, milter_unlock_reply *r);
void milter_unlock_reply_clear(milter_unlock_reply *r);

/* Non-zero when s is a quarantine id of the form the store makes, ^Q-[0-9]{8}-[0-9A-Z]{6}$:
 * the only value a worker's reply may put into a header. */
int milter_qid_valid(const char *s);
/* Send one byte and an fd over a control socket; receive them (*fd = -1 when none). */
int milter_fd_send(int sock, char tag, int fd);
int milter_fd_recv(int sock, char *tag, int *fd);

/* ---- outbox.c: the gateway's own mails on their way to the release listener ---- */

/* SPOOL/outbox of c into out. 0 or -1 when too long. */
int milter_outbox_dir(const conf *c, char *out, size_t size);
/* A san_ppap_deliver_fn for workers (ctx: the conf): the mail on fd for rcpts written durably
 * into the outbox. 0 or -1, *reply saying which (g_free). */
int milter_outbox_put(void *ctx, int fd, char *const *rcpts, char **reply);
/* In the front end: start the thread that sends the outbox's mails through the release
 * listener, removing each once accepted. 0 or -1 (errno). */
int milter_outbox_start(const conf *c);

/* ---- pool.c: the supervisor and its workers ---- */

/* Socket path of the pool inside the spool directory into out. 0 or -1 when too long. */
int milter_pool_path(const conf *c, char *out, size_t size);
/* Bind and listen on the pool socket (mode 0600). Returns the socket or -1. */
int milter_pool_listen(const conf *c);
/* Socket path of the console's unlock requests: SPOOL/unlock.sock. 0 or -1 when too long. */
int milter_unlock_path(const conf *c, char *out, size_t size);
/* Bind and listen on the unlock socket, mode 0600 (mugai-milter then gives it to [web] user
 * alone, in the milter user's group). Returns the socket or -1. */
int milter_unlock_listen(const conf *c);
/* Run the supervisor in this process until child (the milter front end) has exited and
 * the workers are stopped. c and conf_path are taken over; so is usock (the unlock socket,
 * -1 when none). Returns the exit code. */
int milter_pool_run(conf *c, const char *conf_path, int lsock, int usock, pid_t child);

/* ---- poison.c: messages that keep stopping the sanitizer ---- */

struct quar_store;

/* One attempt of a worker at a job, as the quarantine store knows its message. */
typedef struct milter_attempt {
    char digest[65];  /* of the message (milter_poison_digest) */
    int tracked;      /* digest known and earlier read: a failure of this attempt is counted */
    unsigned earlier; /* failed attempts at the message counted before this one */
    int64_t first;    /* when the first of those was counted (unix seconds), 0 when none */
} milter_attempt;

/* The digest that knows a message again on a later attempt: lower-case hex SHA-256 of the
 * envelope sender, the header fields of the spooled message on fd except the trace fields an
 * MTA adds per attempt (Received, Return-Path, X-Original-To, Delivered-To) and X-Mugai-*, and
 * the body; a byte scan, never a MIME parse. fd is read from its start and left there. 0, or
 * -1 (errno set). */
int milter_poison_digest(int fd, const char *sender, char out[65]);
/* Look up, before j is sanitized, the failed attempts counted for its message (nothing when
 * [milter] poison_attempts is 0; the attempt is then untracked, as when the spool file or the
 * store fails, and the job is sanitized as ever). 1 when they reach poison_attempts: the job
 * gets milter_poison_notice instead of the engine; else 0. */
int milter_attempt_begin(const conf *c, struct quar_store *st, const milter_job *j,
                         milter_attempt *a);
/* End the attempt a at j in the worker: ok (a verdict was reached) forgets the message's count;
 * a failure because it ran out of time (timed_out) counts one more; any other failure (the
 * store's, a file's) counts nothing, so that no error of mugai's own counts against the
 * message. */
void milter_attempt_end(struct quar_store *st, const milter_attempt *a, const milter_job *j, int ok,
                        int timed_out);
/* In the supervisor: worker pid died during a job whose message has digest: count a failed
 * attempt in the store of c (opened for this and closed). */
void milter_attempt_died(const conf *c, long pid, const char *digest);
/* Store the original of j (read without parsing) with verdict "failed", an audit event and an
 * audit log line, and write to j->out (empty, at offset 0) a clean message that is only a
 * notice: quarantine id, reason, how to ask IT. Fills r: OK with the quarantine id, or FAIL
 * with the reason (then nothing was stored). */
void milter_poison_notice(const conf *c, struct quar_store *st, const milter_job *j,
                          const milter_attempt *a, milter_reply *r);
/* In a build with MUGAI_TEST_HOOKS only: crash (SIGSEGV) when the spooled message on fd holds
 * the bytes of the environment variable MUGAI_TEST_CRASH (set and not empty). Elsewhere a
 * no-op. */
void milter_test_crash(int fd);

/* ---- spool.c: the front end's spool files, reused from message to message ---- */

/* The files of one message in progress. */
typedef struct milter_spool {
    struct milter_spool *next;
    FILE *f;         /* the spooled original: a named 0600 file msg-* */
    int out;         /* the clean message: an anonymous 0600 file a worker writes */
    char path[4096]; /* of f */
} milter_spool;

/* An empty pair of files in dir: one kept from an earlier message, or a new one. NULL with
 * errno set on failure. */
milter_spool *milter_spool_take(const char *dir);
/* Give sp back. With reuse non-zero (no worker can still write to it) it is emptied and
 * kept for a later message; otherwise, or when it cannot be emptied, it is closed and
 * removed. Accepts NULL. Thread-safe. */
void milter_spool_give(milter_spool *sp, int reuse);
/* Close and remove every kept pair (at exit). */
void milter_spool_drop_all(void);

/* ---- callbacks.c: libmilter front end ---- */

/* Register the callbacks with libmilter; the configuration is borrowed for the process. */
int milter_register(const conf *c);
/* Connections in progress (for a bounded wait at shutdown). */
unsigned milter_active(void);

#endif
