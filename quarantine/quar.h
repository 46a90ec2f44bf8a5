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
    char *headers;        /* the original's top-level headers, decoded to UTF-8, one "Name: value"
                             per line (LF), as the engine recorded them; may be NULL */
    char *clean_text;     /* the body text the recipients received (UTF-8); may be NULL */
    char *release_result; /* the last release's outcome: the listener's reply on success
                             ("250 2.0.0 Ok: queued as ..."), "failed: WHY" otherwise; NULL */
} quar_msg;

typedef struct quar_event {
    int64_t time;
    char *msg_id; /* NULL for an event about no item (sign-in, user changes) */
    char *actor;  /* user name, or "mugai-milter" / "sanitize-file" */
    char *action; /* "stored", "exported", "released", "deleted", "purged", "shown", "login",
                     "login-failed", "lockout", "requested", "approved", "denied",
                     "release-failed", "user-added", ... */
    char *reason;
    char *detail;  /* e.g. "part 2 to /tmp/x.pdf", "to alice@example.lg.jp" */
    char *source;  /* where the actor acted from: a client address, "cli"; may be NULL */
    char *outcome; /* "ok" or what went wrong ("refused: ...", "failed: ..."); may be NULL */
    int64_t seq;   /* the event's position in the trail (set by the store; 0 in a new event) */
} quar_event;

typedef struct quar_filter {
    int64_t since, until;  /* 0: unbounded */
    const char *sender;    /* substring match, NULL: any */
    const char *recipient; /* substring match */
    const char *verdict;
    const char *status;
    unsigned limit;  /* 0: no limit */
    const char *q;   /* the id when q has an id's form, else a substring of the subject (any
                        case); NULL: any */
    unsigned offset; /* skip this many of the matches (newest first) */
} quar_filter;

/* Which audit events quar_audit_list returns (every field optional). */
typedef struct quar_audit_filter {
    const char *actor;    /* exact */
    const char *item;     /* exact quarantine id */
    const char *action;   /* exact */
    int64_t since, until; /* 0: unbounded */
    unsigned limit;       /* 0: no limit */
    unsigned offset;
} quar_audit_filter;

/* The result of checking the audit trail's hash chain. */
typedef struct quar_chain {
    int ok;             /* 1 when every event is as it was written */
    int64_t first_bad;  /* seq of the first event changed, removed before or inserted; 0 if ok;
                         * the last seq + 1 when a message lost its "stored" event (trail cut) */
    uint64_t events;    /* events checked */
    int64_t head_seq;   /* the last row's seq (0 when the trail is empty) */
    char head_hash[65]; /* its stored hash (QUAR_CHAIN_ORIGIN's 64 zeros when empty) */
} quar_chain;

/* A console account. */
typedef struct quar_user {
    char *name;
    char *role;   /* "admin", "reviewer", "auditor" */
    char *pwhash; /* argon2id encoded hash ("$argon2id$v=19$...") */
    int disabled;
    int64_t created;
    unsigned failures;     /* failed sign-ins counted since first_failure */
    int64_t first_failure; /* 0 when none */
    int64_t locked_until;  /* 0 when not locked */
} quar_user;

/* A console session, known by the SHA-256 of its cookie (the cookie itself is never stored). */
typedef struct quar_session {
    char token_hash[65]; /* hex SHA-256 of the cookie value */
    char *user;
    char csrf[65]; /* the session's CSRF token (hex) */
    int64_t created, last_seen;
    char *source; /* client address at sign-in */
} quar_session;

/* A request to act on an original, and what became of it. */
typedef struct quar_request {
    int64_t id; /* assigned by quar_request_add */
    char msg_id[24];
    char *action; /* "release", "export", "delete" */
    char *reason;
    char *to; /* release to these addresses instead (comma-separated), or NULL */
    char *requester;
    int64_t time;
    char *status;    /* "pending", "denied", "done" (carried out), "failed" (approved, but
                        carrying it out failed: result says why) */
    char *approver;  /* who approved or denied, or NULL */
    int64_t decided; /* 0 while pending */
    char *decision_reason;
    char *result; /* the release's reply, "downloaded", the failure, ... or NULL */
} quar_request;

/* The failed attempts at sanitizing one message (known by a digest of its content): those that
 * stopped a worker or ran out of time. Forgotten when an attempt reaches a verdict. */
typedef struct quar_attempts {
    unsigned count; /* failed attempts counted */
    int64_t first;  /* when the first of them was counted (unix seconds); 0 when count is 0 */
} quar_attempts;

/* Failure counts not raised for this long are forgotten. */
#define QUAR_ATTEMPT_KEEP_DAYS 7

/* A held encrypted part waiting for its password ([ppap]). No password is ever stored: only
 * how many were wrong and, once opened, one line saying how. */
typedef struct quar_held {
    char msg_id[24];
    char *part;        /* IMAP part path ("2") */
    char *filename;    /* as the part records it, or NULL */
    char *status;      /* "pending", "opened", "locked" (too many wrong passwords: IT only),
                          "expired" */
    int64_t expires;   /* unix seconds */
    unsigned attempts; /* wrong passwords tried so far */
    char *opened_by;   /* how it was opened, one line without any password, or NULL */
    int64_t opened;    /* when, 0 while not opened */
    /* of its message, for matching a later password mail */
    int64_t time;
    char *sender;
} quar_held;

/* Which held parts quar_held_list returns (every field optional). */
typedef struct quar_held_filter {
    const char *msg_id;    /* exact (any case), or NULL */
    const char *status;    /* exact, or NULL */
    const char *sender;    /* the message's envelope sender, exact but ASCII case-insensitive */
    const char *recipient; /* one of the message's envelope recipients, same matching */
    int64_t since;         /* the message's time >= since; 0: any */
} quar_held_filter;

/* How long a held part waits for its password unless quar_set_hold_days says otherwise. */
#define QUAR_HOLD_DAYS_DEFAULT 14

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
    /* Append ev to the hash-chained trail (ev->msg_id may be NULL). */
    int (*audit)(quar_store *s, const quar_event *ev, char **err);
    int (*events)(quar_store *s, const char *id, quar_event ***out, size_t *n, char **err);
    int (*audit_list)(quar_store *s, const quar_audit_filter *f, quar_event ***out, size_t *n,
                      size_t *total, char **err);
    int (*audit_verify)(quar_store *s, quar_chain *out, char **err);
    /* Row seq's stored hash into hash[65]; 1 when there is no such row. */
    int (*audit_head)(quar_store *s, int64_t seq, char hash[65], char **err);
    int (*count)(quar_store *s, const quar_filter *f, size_t *total, char **err);
    /* Set one of the message's text fields: "headers", "clean_text", "release_result". */
    int (*set_text)(quar_store *s, const char *id, const char *field, const char *value,
                    char **err);
    /* Console accounts, sessions, requests and single-use downloads (NULL in a backend without
     * them: the calls below then fail with "not supported by this store"). */
    const struct quar_console_ops *console;
    /* Held encrypted parts (NULL in a backend without them: put records none, and the
     * quar_held_* calls fail with "not supported by this store"). put records one per part
     * whose action is "held" when the backend has them. */
    const struct quar_held_ops *held;
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

/* The console's records; see the quar_user_* ... functions below for each one's contract. */
typedef struct quar_console_ops {
    int (*user_add)(quar_store *s, const quar_user *u, char **err);
    int (*user_get)(quar_store *s, const char *name, quar_user **out, char **err);
    int (*user_list)(quar_store *s, quar_user ***out, size_t *n, char **err);
    int (*user_set)(quar_store *s, const char *name, const char *field, const char *value,
                    char **err);
    int (*login_failed)(quar_store *s, const char *name, int64_t now, unsigned limit,
                        int64_t window, int *locked, char **err);
    int (*login_ok)(quar_store *s, const char *name, char **err);
    int (*session_put)(quar_store *s, const quar_session *se, char **err);
    int (*session_get)(quar_store *s, const char *token_hash, quar_session **out, char **err);
    int (*session_touch)(quar_store *s, const char *token_hash, int64_t now, char **err);
    int (*session_drop)(quar_store *s, const char *token_hash, const char *user, char **err);
    int (*session_prune)(quar_store *s, int64_t idle_before, int64_t created_before, char **err);
    int (*request_add)(quar_store *s, quar_request *r, char **err);
    int (*request_get)(quar_store *s, int64_t id, quar_request **out, char **err);
    int (*request_list)(quar_store *s, const char *status, const char *msg_id, quar_request ***out,
                        size_t *n, char **err);
    int (*request_decide)(quar_store *s, int64_t id, const char *status, const char *approver,
                          const char *reason, int64_t now, char **err);
    int (*request_finish)(quar_store *s, int64_t id, const char *status, const char *result,
                          char **err);
    int (*download_put)(quar_store *s, const char *token_hash, int64_t request_id, int64_t expires,
                        char **err);
    int (*download_take)(quar_store *s, const char *token_hash, int64_t now, int64_t *request_id,
                         char **err);
} quar_console_ops;

/* The held parts' records; see the quar_held_* functions below for each one's contract. */
typedef struct quar_held_ops {
    int (*list)(quar_store *s, const quar_held_filter *f, quar_held ***out, size_t *n, char **err);
    int (*failed)(quar_store *s, const char *id, const char *part, unsigned wrong,
                  unsigned max_attempts, unsigned *attempts, int *locked, char **err);
    int (*open)(quar_store *s, const char *id, const char *part, const char *how, int64_t now,
                char **err);
    int (*expire)(quar_store *s, int64_t now, quar_held ***out, size_t *n, char **err);
} quar_held_ops;

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
/* Append an event to the audit trail: time now, source "cli" and outcome "ok" unless
 * quar_audit_ev is used. id may be NULL for an event about no item; a non-NULL unknown id
 * returns 1. Every event is hash-chained: its row holds SHA-256(previous row's hash ||
 * its own canonical content), so that quar_audit_verify finds a changed, removed or
 * inserted row. */
int quar_audit(quar_store *s, const char *id, const char *actor, const char *action,
               const char *reason, const char *detail, char **err);
/* Oldest first. Caller frees with quar_event_list_free. */
int quar_events(quar_store *s, const char *id, quar_event ***out, size_t *n, char **err);
/* The same with every field of ev (time 0: now; seq ignored). */
int quar_audit_ev(quar_store *s, const quar_event *ev, char **err);
/* Events matching f, newest first, and in *total (when not NULL) how many match without
 * limit and offset. Caller frees with quar_event_list_free. */
int quar_audit_list(quar_store *s, const quar_audit_filter *f, quar_event ***out, size_t *n,
                    size_t *total, char **err);
/* Check the whole chain from the first event. 0 (the answer in *out, broken or not) or -1.
 * It is also broken when a message has no "stored" event (each gets one in the transaction that
 * adds it): the trail was emptied or cut, and first_bad is the last seq + 1. out->head_seq and
 * head_hash are the trail's current head. */
int quar_audit_verify(quar_store *s, quar_chain *out, char **err);
/* The stored hash of the trail's row seq into hash[65]; 1 when there is no such row. Checks the
 * index against a head noted outside it: every committed append logs "audit: trail head N HASH"
 * (info), and a trail rewritten and rehashed from row N or before no longer has HASH at N. */
int quar_audit_head(quar_store *s, int64_t seq, char hash[65], char **err);
/* How many messages match f (its limit and offset ignored). */
int quar_count(quar_store *s, const quar_filter *f, size_t *total, char **err);
/* Set a message's headers, clean_text or release_result (field named as in quar_msg). 1 when
 * the id is unknown. */
int quar_set_text(quar_store *s, const char *id, const char *field, const char *value, char **err);

/* ---- the console's records (the filesystem store keeps them in its index) ---- */

/* Add an account; 2 when the name is taken. Names: 1-64 of [A-Za-z0-9._@-]. */
int quar_user_add(quar_store *s, const quar_user *u, char **err);
/* 1 when there is no such account. Caller frees with quar_user_free. */
int quar_user_get(quar_store *s, const char *name, quar_user **out, char **err);
/* By name. Caller frees with quar_user_list_free. */
int quar_user_list(quar_store *s, quar_user ***out, size_t *n, char **err);
/* Set "pwhash", "role" or "disabled" ("0"/"1"); 1 when there is no such account. Setting the
 * hash or disabling also clears the failure count and lock. */
int quar_user_set(quar_store *s, const char *name, const char *field, const char *value,
                  char **err);
/* Count a failed sign-in at now: the count restarts when the first counted failure is older
 * than window seconds; reaching limit locks the account until now + window, and *locked is
 * set to 1 only by the failure that locked it. 1 when there is no such account. */
int quar_login_failed(quar_store *s, const char *name, int64_t now, unsigned limit, int64_t window,
                      int *locked, char **err);
/* A successful sign-in: clear the failure count (not a lock still running). */
int quar_login_ok(quar_store *s, const char *name, char **err);
int quar_session_put(quar_store *s, const quar_session *se, char **err);
/* 1 when there is none. Caller frees with quar_session_free. */
int quar_session_get(quar_store *s, const char *token_hash, quar_session **out, char **err);
int quar_session_touch(quar_store *s, const char *token_hash, int64_t now, char **err);
/* Drop one session (token_hash) or, with token_hash NULL, every session of user. */
int quar_session_drop(quar_store *s, const char *token_hash, const char *user, char **err);
/* Drop sessions idle since before idle_before or created before created_before. */
int quar_session_prune(quar_store *s, int64_t idle_before, int64_t created_before, char **err);
/* Add a pending request (r->id, time and status set). 1 when the message is unknown, 2 when
 * the same action on it is already pending. */
int quar_request_add(quar_store *s, quar_request *r, char **err);
/* 1 when unknown. Caller frees with quar_request_free. */
int quar_request_get(quar_store *s, int64_t id, quar_request **out, char **err);
/* Oldest first; status and msg_id filter when not NULL. Caller frees with
 * quar_request_list_free. */
int quar_request_list(quar_store *s, const char *status, const char *msg_id, quar_request ***out,
                      size_t *n, char **err);
/* Approve ("approved" is recorded as status "approved" until quar_request_finish) or deny a
 * pending request. 1 unknown, 2 when it is not pending, 3 when approver is its requester:
 * the two-person rule is kept here, below every client. */
int quar_request_decide(quar_store *s, int64_t id, const char *status, const char *approver,
                        const char *reason, int64_t now, char **err);
/* Record how carrying out an approved request (or a pending one that the rule lets its
 * requester carry out at once) ended: status "done" or "failed", result. 1 unknown, 2 when it
 * was denied or has already ended. */
int quar_request_finish(quar_store *s, int64_t id, const char *status, const char *result,
                        char **err);
/* A single-use download of an approved export, valid until expires. */
int quar_download_put(quar_store *s, const char *token_hash, int64_t request_id, int64_t expires,
                      char **err);
/* Use a download: its request id into *request_id and the download is gone. 1 when there is
 * none, or it expired. */
int quar_download_take(quar_store *s, const char *token_hash, int64_t now, int64_t *request_id,
                       char **err);
/* ---- held encrypted parts ([ppap]; quarantine/held.c) ---- */

/* quar_put records each part whose action is "held" as "pending", expiring at the message's
 * time + days (QUAR_HOLD_DAYS_DEFAULT until this is called; the callers pass [ppap]
 * hold_days). */
void quar_set_hold_days(quar_store *s, unsigned days);
/* Held parts matching f (NULL: all), oldest message first, then in part order. Caller frees
 * with quar_held_list_free. */
int quar_held_list(quar_store *s, const quar_held_filter *f, quar_held ***out, size_t *n,
                   char **err);
/* Add wrong to a held part's count of wrong passwords, atomically; the new count into *attempts.
 * A pending part whose count reaches max_attempts (0: never) becomes "locked", and *locked is
 * 1 only for the call that locked it. 1 when there is no such held part. */
int quar_held_failed(quar_store *s, const char *id, const char *part, unsigned wrong,
                     unsigned max_attempts, unsigned *attempts, int *locked, char **err);
/* A pending or locked part becomes "opened" at now, opened_by = how (one line saying how,
 * never a password). 2 when it is neither (already opened, or expired): of two openers at
 * once exactly one gets 0. 1 when there is no such held part. */
int quar_held_open(quar_store *s, const char *id, const char *part, const char *how, int64_t now,
                   char **err);
/* Pending or locked parts whose expiry is before now become "expired"; those (each returned
 * to exactly one of several callers at once) in *out, oldest message first. Caller frees with
 * quar_held_list_free. */
int quar_held_expire(quar_store *s, int64_t now, quar_held ***out, size_t *n, char **err);
/* Free one held part (a member taken out of a list); NULL is fine. */
void quar_held_free(quar_held *h);
/* Free a list from quar_held_list or quar_held_expire and every part in it. */
void quar_held_list_free(quar_held **l, size_t n);

void quar_user_free(quar_user *u);
void quar_user_list_free(quar_user **list, size_t n);
void quar_session_free(quar_session *se);
void quar_request_free(quar_request *r);
void quar_request_list_free(quar_request **list, size_t n);

/* ---- carrying out a release (quarantine/release.c) ---- */

/* Where releases go: the Postfix listener without milters. */
typedef struct quar_listener {
    const char *host;
    unsigned port;
    const char *helo;
} quar_listener;

/* Send the original of m (from the store, its hash checked) to rcpts (NULL: m's envelope
 * recipients) through the listener, MAIL FROM m's envelope sender, and record the outcome:
 * on success the listener's reply ("250 2.0.0 Ok: queued as ...") in *reply, a "released"
 * event, status "released" and the reply as m's release_result; on failure the reason (with
 * the server's reply when it answered) in *reply, a "release-failed" event and
 * "failed: WHY" as release_result. actor, source and reason go into the event. Returns 0
 * sent and recorded, -2 not sent (*reply says why), -1 store error (*err). Caller frees
 * *reply with g_free. */
int quar_release(quar_store *s, const quar_listener *l, const quar_msg *m, char *const *rcpts,
                 const char *actor, const char *source, const char *reason, char **reply,
                 char **err);
/* Send the message on fd (from its offset; bare LF sent as CRLF) through l, MAIL FROM sender
 * ("" or NULL: the null sender), to rcpts, recording nothing: 0 with the listener's reply to the
 * data in *reply, -1 with why in *reply (an address with a control character, space or angle
 * bracket is refused before any connection). Caller frees *reply with g_free. */
int quar_send(const quar_listener *l, int fd, const char *sender, char *const *rcpts, char **reply);
/* The queue id in a "250 ... queued as ID" reply, or NULL. Caller frees with g_free. */
char *quar_queue_id(const char *reply);

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
