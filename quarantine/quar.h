/*
 * quarantine/quar.h - the quarantine store: originals of every sanitized
 * message, their index (messages, parts) and the audit trail of every action
 * taken on them.
 *
 * The store sits behind a struct of functions (quar_backend) so that another
 * backend (a shared database and object store) can serve several gateways:
 * today a filesystem + SQLite backend and an in-memory one for unit tests.
 *
 * Part numbering (quar_part.path) follows IMAP (RFC 3501 section 6.4.5): the
 * children of the top-level multipart are "1", "2", ...; children of a nested
 * multipart "2.1", "2.2"; the body of an attached message/rfc822 at "3" is
 * numbered "3.1", "3.2", ... when multipart, "3.1" when a single part; a
 * message whose body is a single part has that part as "1".
 */
#ifndef QUAR_H
#define QUAR_H

#include <stddef.h>
#include <stdint.h>

typedef struct quar_part {
    char *path;          /* IMAP part number, e.g. "2.1" */
    char *filename;      /* decoded UTF-8, may be NULL */
    char *declared_type; /* Content-Type as declared */
    char *detected_type; /* libmagic */
    uint64_t size;       /* decoded bytes */
    char sha256[65];
    char *action;    /* "body", "sanitized", "blocked", "held", "failed" */
    char *reason;    /* one line */
    char *signature; /* virus name or NULL */
} quar_part;

typedef struct quar_msg {
    char id[24];       /* "Q-20261125-7F3K9X"; assigned by quar_put unless set beforehand */
    int64_t time;      /* unix seconds, set by quar_put when 0 */
    char *queue_id;    /* Postfix queue id, may be NULL */
    char *client;      /* connecting client, may be NULL */
    char *sender;      /* envelope sender ("" for the null sender) */
    char **recipients; /* NULL-terminated envelope recipients */
    char *subject;     /* decoded UTF-8 */
    char *from;        /* header From, decoded */
    char *message_id;
    uint64_t size;
    char sha256[65]; /* of the original; set by quar_put */
    char *verdict;   /* "clean" (nothing removed), "sanitized" (something changed), "blocked",
                        "failed" (could not be sanitized: the recipients got a notice only) */
    char *status;    /* "quarantined", "released", "deleted", "purged" */
    int64_t expires; /* unix seconds; set by quar_put from the retention */
    quar_part *parts;
    size_t nparts;
} quar_msg;

typedef struct quar_event {
    int64_t time;
    char *msg_id;
    char *actor;  /* user name, or "mugai-milter" / "sanitize-file" */
    char *action; /* "stored", "exported", "released", "deleted", "purged", "shown" */
    char *reason;
    char *detail; /* e.g. "part 2 to /tmp/x.pdf", "to alice@example.lg.jp" */
} quar_event;

typedef struct quar_filter {
    int64_t since, until;  /* 0: unbounded */
    const char *sender;    /* substring match, NULL: any */
    const char *recipient; /* substring match */
    const char *verdict;
    const char *status;
    unsigned limit; /* 0: no limit */
} quar_filter;

/* The failed attempts at sanitizing one message (known by a digest of its content): those that
 * stopped a worker or ran out of time. Forgotten when an attempt reaches a verdict. */
typedef struct quar_attempts {
    unsigned count; /* failed attempts counted */
    int64_t first;  /* when the first of them was counted (unix seconds); 0 when count is 0 */
} quar_attempts;

/* Failure counts not raised for this long are forgotten. */
#define QUAR_ATTEMPT_KEEP_DAYS 7

typedef struct quar_store quar_store;

typedef struct quar_backend {
    /* Store the original and m, and the "stored" event, all or nothing. */
    int (*put)(quar_store *s, int fd, quar_msg *m, const quar_event *stored, char **err);
    int (*get)(quar_store *s, const char *id, quar_msg **out, char **err);
    /* 1 when a message has this (normalized) id, 0 when none has, -1 on error. */
    int (*taken)(quar_store *s, const char *id, char **err);
    int (*list)(quar_store *s, const quar_filter *f, quar_msg ***out, size_t *n, char **err);
    int (*open_original)(quar_store *s, const char *id, int *fd, char **err);
    int (*set_status)(quar_store *s, const char *id, const char *status, char **err);
    int (*remove_original)(quar_store *s, const char *id, char **err);
    int (*expired)(quar_store *s, int64_t now, char ***ids, size_t *n, char **err);
    int (*audit)(quar_store *s, const quar_event *ev, char **err);
    int (*events)(quar_store *s, const char *id, quar_event ***out, size_t *n, char **err);
    /* digest's failure count into *a (zero when none, or when last raised before since). */
    int (*attempt_get)(quar_store *s, const char *digest, int64_t since, quar_attempts *a,
                       char **err);
    /* Forget the counts last raised before prune_before, then raise digest's by one (a new one
     * at 1, first = now); the new count into *a. */
    int (*attempt_failed)(quar_store *s, const char *digest, int64_t now, int64_t prune_before,
                          quar_attempts *a, char **err);
    /* Forget digest's count. */
    int (*attempt_forget)(quar_store *s, const char *digest, char **err);
    void (*close)(quar_store *s);
} quar_backend;

/* Every function below returns 0 on success and -1 on error with a message in *err (caller
 * frees with free()); lookups by id return 1 when the id is unknown. */

/* Open (creating if needed) the filesystem + SQLite store in dir. */
quar_store *quar_open_fs(const char *dir, unsigned retention_days, char **err);
/* Originals of at most bytes (256 KiB by default, at most 64 MiB) are kept in the index database
 * of this filesystem store, larger ones as files; 0 keeps every original as a file. Ignored for
 * other stores. */
void quar_fs_set_inline_max(quar_store *s, size_t bytes);
/* An in-memory store, for tests. */
quar_store *quar_open_memory(unsigned retention_days);
void quar_close(quar_store *s);

/* Store the original read from fd (from its current offset to the end) durably, content-addressed
 * by SHA-256 — a small one in the index, committed with m's rows; a larger one as a file 0600
 * written to a temporary name, fsynced and renamed before m is indexed — and index m with its
 * parts; assigns m->id (keeping one the caller set with quar_new_id, if still free), m->sha256,
 * m->time (when 0), m->expires, m->status = "quarantined", and records a "stored" event by actor
 * in the same transaction. */
int quar_put(quar_store *s, int fd, quar_msg *m, const char *actor, char **err);
int quar_get(quar_store *s, const char *id, quar_msg **out, char **err);
/* Newest first. Caller frees with quar_msg_list_free. */
int quar_list(quar_store *s, const quar_filter *f, quar_msg ***out, size_t *n, char **err);
/* A read-only fd on the original, at its start (a file, or a sealed memory file), whose bytes were
 * checked against the SHA-256 recorded when it was stored: a changed original is refused (-1, the
 * error names the id and both hashes) and an "integrity-failed" event recorded. */
int quar_open_original(quar_store *s, const char *id, int *fd, char **err);
int quar_set_status(quar_store *s, const char *id, const char *status, char **err);
/* Remove the original (unless another message holds the same content) and mark the message
 * status (e.g. "deleted"). */
int quar_remove(quar_store *s, const char *id, const char *status, char **err);
/* Ids whose expiry is before now and which still hold an original. */
int quar_expired(quar_store *s, int64_t now, char ***ids, size_t *n, char **err);
int quar_audit(quar_store *s, const char *id, const char *actor, const char *action,
               const char *reason, const char *detail, char **err);
/* Oldest first. Caller frees with quar_event_list_free. */
int quar_events(quar_store *s, const char *id, quar_event ***out, size_t *n, char **err);

/* The failed attempts counted for the message whose content digest (64 lower-case hex digits)
 * is given, into *a: zero when there are none or they were last raised more than
 * QUAR_ATTEMPT_KEEP_DAYS ago. Reads only. */
int quar_attempt_get(quar_store *s, const char *digest, quar_attempts *a, char **err);
/* Count one more failed attempt at digest, durably; the new count into *a when a is not NULL.
 * Counts not raised for QUAR_ATTEMPT_KEEP_DAYS are forgotten. */
int quar_attempt_failed(quar_store *s, const char *digest, quar_attempts *a, char **err);
/* Forget digest's count: an attempt reached a verdict. */
int quar_attempt_forget(quar_store *s, const char *digest, char **err);

/* A new readable id "Q-YYYYMMDD-XXXXXX" (6 characters from a 30-character alphabet without
 * 0/O, 1/I/L and U) into out[24]. */
void quar_new_id(int64_t now, char out[24]);
/* A new id (as quar_new_id) that no message in s has yet, into out. 0, or -1 on a store error
 * (out then holds the last id tried). */
int quar_fresh_id(quar_store *s, int64_t now, char out[24], char **err);
quar_msg *quar_msg_new(void);
void quar_msg_free(quar_msg *m);
void quar_msg_list_free(quar_msg **list, size_t n);
void quar_event_list_free(quar_event **list, size_t n);
/* Append a part to m (strings copied; NULLs allowed). Returns the new part. */
quar_part *quar_msg_add_part(quar_msg *m, const char *path, const char *filename,
                             const char *declared_type, const char *detected_type, uint64_t size,
                             const char *sha256, const char *action, const char *reason,
                             const char *signature);

#endif
