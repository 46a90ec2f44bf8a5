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
    char *where; /* store path (or ":memory:") named in error messages */
};

/* Set *err (when err is not NULL) to "quarantine store WHERE: message". Returns -1. */
int quar_err(quar_store *s, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A deep copy of m. Caller frees with quar_msg_free. */
quar_msg *quar_msg_dup(const quar_msg *m);
/* Non-zero when m passes every condition of f (substrings compared ASCII case-insensitively). */
int quar_filter_match(const quar_filter *f, const quar_msg *m);
/* Non-zero when status means the original file is still held. */
int quar_status_holds(const char *status);
/* A heap copy of an event. Caller frees with quar_event_list_free. */
quar_event *quar_event_dup(const quar_event *ev);

#endif
