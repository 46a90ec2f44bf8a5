/*
 * quarantine/held.c - the store's records of held encrypted parts ([ppap]):
 * checks the arguments every backend would check the same way, then dispatches
 * to the backend's held operations; frees the records.
 *
 * Runs in the sanitizer workers, mugai-quarantine and mugai-web with the
 * privileges of the store's owner or a member of its group. It never sees a
 * password: the store keeps how many were wrong and, once a part is opened,
 * one line saying how (refused here when it is not one line). The races
 * (two openers, two expirers, counting) are settled by the backend in one
 * statement or one write transaction each.
 */
#include <string.h>

#include <glib.h>

#include "quar_int.h"

/* The longest opened_by line kept. */
#define HOW_MAX 512

/* The backend's held operations, or NULL after setting *err: a store without them. */
static const quar_held_ops *ops(quar_store *s, char **err)
{
    if (s->be->held)
        return s->be->held;
    quar_err(s, err, "held encrypted parts are not supported by this store");
    return NULL;
}

/* Non-zero when part looks like an IMAP part path: digits separated by single dots. */
static int part_valid(const char *part)
{
    size_t n = part ? strlen(part) : 0;

    if (n == 0 || n > 64 || part[0] == '.' || part[n - 1] == '.' || strstr(part, ".."))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isdigit(part[i]) && part[i] != '.')
            return 0;
    return 1;
}

/* Non-zero when how is one non-empty line of at most HOW_MAX bytes without control
 * characters. */
static int how_valid(const char *how)
{
    size_t n = how ? strlen(how) : 0;

    if (n == 0 || n > HOW_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)how[i] < 0x20 || how[i] == 0x7f)
            return 0;
    return 1;
}

/* Set the hold for the parts stored from now on. */
void quar_set_hold_days(quar_store *s, unsigned days)
{
    if (s)
        s->hold_days = days;
}

/* Held parts matching f, oldest message first, then in part order. */
int quar_held_list(quar_store *s, const quar_held_filter *f, quar_held ***out, size_t *n,
                   char **err)
{
    static const quar_held_filter any;
    const quar_held_ops *o = ops(s, err);
    quar_held_filter nf = f ? *f : any;
    char buf[24];

    *out = NULL;
    *n = 0;
    if (!o)
        return -1;
    if (nf.msg_id) {
        if (quar_norm_id(nf.msg_id, buf) < 0) {
            *out = g_new0(quar_held *, 1);
            return 0;
        }
        nf.msg_id = buf;
    }
    return o->list(s, &nf, out, n, err);
}

/* Count wrong passwords at a held part; see quar.h. */
int quar_held_failed(quar_store *s, const char *id, const char *part, unsigned wrong,
                     unsigned max_attempts, unsigned *attempts, int *locked, char **err)
{
    const quar_held_ops *o = ops(s, err);
    char buf[24];

    *attempts = 0;
    *locked = 0;
    if (!o)
        return -1;
    if (quar_norm_id(id, buf) < 0 || !part_valid(part))
        return 1;
    return o->failed(s, buf, part, wrong, max_attempts, attempts, locked, err);
}

/* Open a pending or locked part, recording how; see quar.h. */
int quar_held_open(quar_store *s, const char *id, const char *part, const char *how, int64_t now,
                   char **err)
{
    const quar_held_ops *o = ops(s, err);
    char buf[24];

    if (!o)
        return -1;
    if (quar_norm_id(id, buf) < 0 || !part_valid(part))
        return 1;
    if (!how_valid(how))
        return quar_err(s, err,
                        "%s part %s: how it was opened must be one line of 1-%d characters"
                        " without control characters",
                        buf, part, HOW_MAX);
    return o->open(s, buf, part, how, now, err);
}

/* Expire pending or locked parts past their expiry; see quar.h. */
int quar_held_expire(quar_store *s, int64_t now, quar_held ***out, size_t *n, char **err)
{
    const quar_held_ops *o = ops(s, err);

    *out = NULL;
    *n = 0;
    if (!o)
        return -1;
    return o->expire(s, now, out, n, err);
}

/* Free one held part and its strings. */
void quar_held_free(quar_held *h)
{
    if (!h)
        return;
    g_free(h->part);
    g_free(h->filename);
    g_free(h->status);
    g_free(h->opened_by);
    g_free(h->sender);
    g_free(h);
}

/* Free a list returned by quar_held_list or quar_held_expire; NULL is fine. */
void quar_held_list_free(quar_held **l, size_t n)
{
    if (!l)
        return;
    for (size_t i = 0; i < n; i++)
        quar_held_free(l[i]);
    g_free(l);
}
