/*
 * quarantine/quar_int.h - internals shared by quar.c and the store backends:
 * the common head of every store, error formatting and message copies.
 */
#ifndef QUAR_INT_H
#define QUAR_INT_H

#include "quar.h"

/* Every backend's store begins with this head. */
struct quar_store {
    const quar_backend *be;
    unsigned retention_days;
    unsigned hold_days; /* a held part's wait for its password (QUAR_HOLD_DAYS_DEFAULT) */
    char *where;        /* store path (or ":memory:") named in error messages */
};

/* Set *err (when err is not NULL) to "quarantine store WHERE: message". Returns -1. */
int quar_err(quar_store *s, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Upper-case a looked-up id into buf[24]; 0, or -1 when it cannot be an id. */
int quar_norm_id(const char *id, char buf[24]);
/* A deep copy of m. Caller frees with quar_msg_free. */
quar_msg *quar_msg_dup(const quar_msg *m);
/* Non-zero when q has the form of a quarantine id ("Q-YYYYMMDD-XXXXXX", any case): a filter's q
 * of that form finds that message by its id; any other q is a substring of the subject. */
int quar_id_form(const char *q);
/* Non-zero when m passes every condition of f (substrings compared ASCII case-insensitively). */
int quar_filter_match(const quar_filter *f, const quar_msg *m);
/* Non-zero when status means the original file is still held. */
int quar_status_holds(const char *status);
/* A heap copy of an event. Caller frees with quar_event_free (or as a member of a list freed
 * with quar_event_list_free). */
quar_event *quar_event_dup(const quar_event *ev);
/* Free one event; NULL is fine. */
void quar_event_free(quar_event *ev);
/* Non-zero when ev passes every condition of f (the memory backend's version of the SQL). */
int quar_audit_filter_match(const quar_audit_filter *f, const quar_event *ev);

/* The hash that the first event of a trail chains to: 64 zeros. */
#define QUAR_CHAIN_ORIGIN "0000000000000000000000000000000000000000000000000000000000000000"

/* The row hash of ev (its seq included) chained to prev (64 hex digits), lower-case hex into
 * out[65]: SHA-256(prev || canonical(ev)); quar.c's header comment defines the canonical form.
 * ck, when not NULL, is a SHA-256 checksum to reuse (saves an allocation per row). */
void quar_event_hash(const char *prev, const quar_event *ev, char out[65], void *ck);

/* A walk over the trail in seq order that finds the first row changed, removed or inserted. */
typedef struct quar_chain_walk {
    quar_chain *out;
    int64_t last_seq;   /* seq of the previous row (0 before the first) */
    char last_hash[65]; /* its stored hash (QUAR_CHAIN_ORIGIN before the first) */
    void *ck;           /* SHA-256 checksum reused for every row */
} quar_chain_walk;

/* Start a walk whose answer goes to out. Finish it with quar_chain_end. */
void quar_chain_begin(quar_chain_walk *w, quar_chain *out);
/* Check one row: ev (with its seq), and the prev_hash and hash stored with it. */
void quar_chain_next(quar_chain_walk *w, const quar_event *ev, const char *prev_hash,
                     const char *hash);
/* End the walk; free what it holds. */
void quar_chain_end(quar_chain_walk *w);

#endif
