/*
 * quarantine/quar.c - the quarantine store's public functions: readable ids,
 * message and event helpers, and the calls that dispatch to a backend.
 *
 * Runs in trusted processes (sanitizer workers, sanitize-file,
 * mugai-quarantine) with the privileges of the store's owner. It never parses
 * message content; it only indexes what the engine decided. It must never
 * report success for an original that is not durable on disk, and never hand
 * out an original whose bytes no longer hash to the SHA-256 recorded for it.
 *
 * The audit trail is a hash chain. Each event's row stores prev_hash (the previous row's hash;
 * 64 zeros for the first row) and hash = lower-case hex SHA-256 of the 64 ASCII hex digits of
 * prev_hash followed by the event's canonical form: its fields in this order
 *     seq, time, msg_id, actor, action, reason, detail, source, outcome
 * each written as
 *     an integer (seq, time): "i", its decimal digits (a leading "-" when negative), ";"
 *     a string:               "s", its length in bytes in decimal, ":", its bytes
 *     NULL:                   "n"
 * so that no two different events share a canonical form ("" is "s0:", NULL is "n"). seq is
 * the row's position in the trail (1, 2, 3, ... with no gaps), so a removed row shows as a gap
 * and a changed or inserted row as a hash that does not match.
 *
 * Whoever can write the index can still rewrite a row and rehash every later one, or empty the
 * trail. Two checks reach past that: every message has a "stored" event, appended in the
 * transaction that adds its row, so a message without one means the trail was emptied or cut
 * (verify then reports first_bad = the last seq + 1); and every committed append logs
 * "audit: trail head N HASH" (info, to syslog in the daemons), a witness outside the index that
 * quar_audit_head checks the row N of a rewritten trail against.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "quar_int.h"

/* 30 characters readable over the phone: 2-9 and A-Z without I, L, O, U. */
static const char id_alphabet[] = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
#define ID_ALPHABET_LEN (sizeof id_alphabet - 1)

/* Format a store error into *err; see quar_int.h. */
int quar_err(quar_store *s, char **err, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (!err)
        return -1;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    free(*err);
    if (asprintf(err, "quarantine store %s: %s", s && s->where ? s->where : "?", msg) < 0)
        *err = NULL;
    g_free(msg);
    return -1;
}

/* Fill buf with random bytes from the kernel; aborts if the kernel cannot give any. */
static void random_bytes(unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort();
        got += (size_t)n;
    }
}

/* A random readable id for the local date of now; the caller checks it is free. */
void quar_new_id(int64_t now, char out[24])
{
    time_t t = (time_t)now;
    struct tm tm;
    char date[16];
    size_t i = 0;

    if (!localtime_r(&t, &tm) || strftime(date, sizeof date, "%Y%m%d", &tm) != 8)
        strcpy(date, "00000000");
    memcpy(out, "Q-", 2);
    memcpy(out + 2, date, 8);
    out[10] = '-';
    while (i < 6) {
        unsigned char b;
        random_bytes(&b, 1);
        /* rejection sampling keeps every letter equally likely */
        if (b >= 256 - 256 % ID_ALPHABET_LEN)
            continue;
        out[11 + i++] = id_alphabet[b % ID_ALPHABET_LEN];
    }
    out[17] = '\0';
}

/* Upper-case a looked-up id into buf[24]; 0, or -1 when it cannot be an id. */
static int norm_id(const char *id, char buf[24])
{
    size_t len = id ? strlen(id) : 0;

    if (len == 0 || len >= 24)
        return -1;
    for (size_t i = 0; i <= len; i++)
        buf[i] = (char)toupper((unsigned char)id[i]);
    return 0;
}

/* The same for the other files of the store. */
int quar_norm_id(const char *id, char buf[24])
{
    return norm_id(id, buf);
}

/* An empty message with an empty recipient list. Caller frees with quar_msg_free. */
quar_msg *quar_msg_new(void)
{
    quar_msg *m = g_new0(quar_msg, 1);

    m->recipients = g_new0(char *, 1);
    return m;
}

/* Free the strings of one part. */
static void part_clear(quar_part *p)
{
    g_free(p->path);
    g_free(p->filename);
    g_free(p->declared_type);
    g_free(p->detected_type);
    g_free(p->action);
    g_free(p->reason);
    g_free(p->signature);
}

/* Free m and everything it owns; NULL is fine. */
void quar_msg_free(quar_msg *m)
{
    if (!m)
        return;
    g_free(m->queue_id);
    g_free(m->client);
    g_free(m->sender);
    g_strfreev(m->recipients);
    g_free(m->subject);
    g_free(m->from);
    g_free(m->message_id);
    g_free(m->verdict);
    g_free(m->status);
    for (size_t i = 0; i < m->nparts; i++)
        part_clear(&m->parts[i]);
    g_free(m->parts);
    g_free(m->headers);
    g_free(m->clean_text);
    g_free(m->release_result);
    g_free(m);
}

/* Free a list returned by quar_list; NULL is fine. */
void quar_msg_list_free(quar_msg **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        quar_msg_free(list[i]);
    g_free(list);
}

/* Free one event and its strings; NULL is fine. */
void quar_event_free(quar_event *ev)
{
    if (!ev)
        return;
    g_free(ev->msg_id);
    g_free(ev->actor);
    g_free(ev->action);
    g_free(ev->reason);
    g_free(ev->detail);
    g_free(ev->source);
    g_free(ev->outcome);
    g_free(ev);
}

/* Free a list returned by quar_events or quar_audit_list; NULL is fine. */
void quar_event_list_free(quar_event **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        quar_event_free(list[i]);
    g_free(list);
}

/* Deep copy of one event, freed as a one-element list member. */
quar_event *quar_event_dup(const quar_event *ev)
{
    quar_event *e = g_new0(quar_event, 1);

    e->time = ev->time;
    e->msg_id = g_strdup(ev->msg_id);
    e->actor = g_strdup(ev->actor);
    e->action = g_strdup(ev->action);
    e->reason = g_strdup(ev->reason);
    e->detail = g_strdup(ev->detail);
    e->source = g_strdup(ev->source);
    e->outcome = g_strdup(ev->outcome);
    e->seq = ev->seq;
    return e;
}

/* Digits of v after the tag, and the end mark when not 0, hashed (no printf: verify hashes
 * every event). */
static void canon_num(GChecksum *sum, char tag, uint64_t v, int negative, char end)
{
    char buf[32], *p = buf + sizeof buf;

    if (end)
        *--p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (negative)
        *--p = '-';
    *--p = tag;
    g_checksum_update(sum, (const guchar *)p, (gssize)(buf + sizeof buf - p));
}

/* Hash one integer field of the canonical form: "i", decimal, ";". */
static void canon_int(GChecksum *sum, int64_t v)
{
    canon_num(sum, 'i', v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, ';');
}

/* Hash one string field of the canonical form: "s", length, ":", bytes; NULL as "n". */
static void canon_str(GChecksum *sum, const char *v)
{
    size_t len;

    if (!v) {
        g_checksum_update(sum, (const guchar *)"n", 1);
        return;
    }
    len = strlen(v);
    canon_num(sum, 's', len, 0, ':');
    g_checksum_update(sum, (const guchar *)v, (gssize)len);
}

/* SHA-256(prev || canonical(ev)) into out; see the header comment and quar_int.h. */
void quar_event_hash(const char *prev, const quar_event *ev, char out[65], void *ck)
{
    GChecksum *sum = ck ? ck : g_checksum_new(G_CHECKSUM_SHA256);

    g_checksum_reset(sum);
    g_checksum_update(sum, (const guchar *)prev, (gssize)strlen(prev));
    canon_int(sum, ev->seq);
    canon_int(sum, ev->time);
    canon_str(sum, ev->msg_id);
    canon_str(sum, ev->actor);
    canon_str(sum, ev->action);
    canon_str(sum, ev->reason);
    canon_str(sum, ev->detail);
    canon_str(sum, ev->source);
    canon_str(sum, ev->outcome);
    g_strlcpy(out, g_checksum_get_string(sum), 65);
    if (!ck)
        g_checksum_free(sum);
}

/* Start a chain walk: nothing checked, nothing bad yet. */
void quar_chain_begin(quar_chain_walk *w, quar_chain *out)
{
    memset(out, 0, sizeof *out);
    out->ok = 1;
    w->out = out;
    w->last_seq = 0;
    g_strlcpy(w->last_hash, QUAR_CHAIN_ORIGIN, sizeof w->last_hash);
    w->ck = g_checksum_new(G_CHECKSUM_SHA256);
}

/* One row: its seq must follow the previous one, its prev_hash be the previous row's hash and
 * its hash match its content. The first row failing any of these is the answer. */
void quar_chain_next(quar_chain_walk *w, const quar_event *ev, const char *prev_hash,
                     const char *hash)
{
    char want[65];

    w->out->events++;
    if (w->out->ok) {
        quar_event_hash(prev_hash ? prev_hash : "", ev, want, w->ck);
        if (ev->seq != w->last_seq + 1 || g_strcmp0(prev_hash, w->last_hash) != 0 ||
            g_strcmp0(hash, want) != 0) {
            w->out->ok = 0;
            w->out->first_bad = ev->seq;
        }
    }
    w->last_seq = ev->seq;
    g_strlcpy(w->last_hash, hash ? hash : "", sizeof w->last_hash);
}

/* Free the walk's checksum; the last row seen is the chain's head. */
void quar_chain_end(quar_chain_walk *w)
{
    w->out->head_seq = w->last_seq;
    g_strlcpy(w->out->head_hash, w->last_hash, sizeof w->out->head_hash);
    g_checksum_free(w->ck);
    w->ck = NULL;
}

/* Append a copy of the given part to m; see quar.h. */
quar_part *quar_msg_add_part(quar_msg *m, const char *path, const char *filename,
                             const char *declared_type, const char *detected_type, uint64_t size,
                             const char *sha256, const char *action, const char *reason,
                             const char *signature)
{
    quar_part *p;

    m->parts = g_renew(quar_part, m->parts, m->nparts + 1);
    p = &m->parts[m->nparts++];
    memset(p, 0, sizeof *p);
    p->path = g_strdup(path);
    p->filename = g_strdup(filename);
    p->declared_type = g_strdup(declared_type);
    p->detected_type = g_strdup(detected_type);
    p->size = size;
    if (sha256)
        g_strlcpy(p->sha256, sha256, sizeof p->sha256);
    p->action = g_strdup(action);
    p->reason = g_strdup(reason);
    p->signature = g_strdup(signature);
    return p;
}

/* Deep copy of m, parts and recipients included. */
quar_msg *quar_msg_dup(const quar_msg *m)
{
    quar_msg *c = g_new0(quar_msg, 1);

    memcpy(c->id, m->id, sizeof c->id);
    c->time = m->time;
    c->queue_id = g_strdup(m->queue_id);
    c->client = g_strdup(m->client);
    c->sender = g_strdup(m->sender);
    c->recipients = m->recipients ? g_strdupv(m->recipients) : g_new0(char *, 1);
    c->subject = g_strdup(m->subject);
    c->from = g_strdup(m->from);
    c->message_id = g_strdup(m->message_id);
    c->size = m->size;
    memcpy(c->sha256, m->sha256, sizeof c->sha256);
    c->verdict = g_strdup(m->verdict);
    c->status = g_strdup(m->status);
    c->expires = m->expires;
    c->headers = g_strdup(m->headers);
    c->clean_text = g_strdup(m->clean_text);
    c->release_result = g_strdup(m->release_result);
    for (size_t i = 0; i < m->nparts; i++) {
        const quar_part *p = &m->parts[i];
        quar_msg_add_part(c, p->path, p->filename, p->declared_type, p->detected_type, p->size,
                          p->sha256, p->action, p->reason, p->signature);
    }
    return c;
}

/* Non-zero when needle is NULL or found in hay ignoring ASCII case. */
static int contains(const char *hay, const char *needle)
{
    return !needle || (hay && strcasestr(hay, needle) != NULL);
}

/* "Q-", eight digits, "-", six letters of the id alphabet, in any case. */
int quar_id_form(const char *q)
{
    size_t i;

    if (!q || strlen(q) != 17 || g_ascii_toupper(q[0]) != 'Q' || q[1] != '-' || q[10] != '-')
        return 0;
    for (i = 2; i < 10; i++)
        if (!g_ascii_isdigit(q[i]))
            return 0;
    for (i = 11; i < 17; i++)
        if (!q[i] || !strchr(id_alphabet, g_ascii_toupper(q[i])))
            return 0;
    return 1;
}

/* The memory backend's version of the SQL WHERE clause. */
int quar_filter_match(const quar_filter *f, const quar_msg *m)
{
    int rcpt = 0;

    if (!f)
        return 1;
    if ((f->since && m->time < f->since) || (f->until && m->time > f->until))
        return 0;
    if (!contains(m->sender, f->sender))
        return 0;
    if ((f->verdict && g_strcmp0(f->verdict, m->verdict) != 0) ||
        (f->status && g_strcmp0(f->status, m->status) != 0))
        return 0;
    if (f->q &&
        (quar_id_form(f->q) ? g_ascii_strcasecmp(f->q, m->id) != 0 : !contains(m->subject, f->q)))
        return 0;
    if (!f->recipient)
        return 1;
    for (size_t i = 0; m->recipients && m->recipients[i] && !rcpt; i++)
        rcpt = contains(m->recipients[i], f->recipient);
    return rcpt;
}

/* The memory backend's version of the audit list's WHERE clause. */
int quar_audit_filter_match(const quar_audit_filter *f, const quar_event *ev)
{
    if (!f)
        return 1;
    if ((f->actor && g_strcmp0(f->actor, ev->actor) != 0) ||
        (f->item && g_strcmp0(f->item, ev->msg_id) != 0) ||
        (f->action && g_strcmp0(f->action, ev->action) != 0))
        return 0;
    return !(f->since && ev->time < f->since) && !(f->until && ev->time > f->until);
}

/* "quarantined" and "released" messages still own their original. */
int quar_status_holds(const char *status)
{
    return g_strcmp0(status, "quarantined") == 0 || g_strcmp0(status, "released") == 0;
}

/* Close any backend; NULL is fine. */
void quar_close(quar_store *s)
{
    if (s)
        s->be->close(s);
}

/* Pick an id not yet in the store. 0, or -1 on a store error. */
int quar_fresh_id(quar_store *s, int64_t now, char out[24], char **err)
{
    for (int tries = 0; tries < 8; tries++) {
        int rc;

        quar_new_id(now, out);
        rc = s->be->taken(s, out, err);
        if (rc != 1)
            return rc;
    }
    return quar_err(s, err, "no free quarantine id after 8 tries");
}

/* Non-zero when the caller chose id in advance (it is already in the notice) and it is free. */
static int preset_id_free(quar_store *s, const char *id)
{
    char *err = NULL;
    int rc;

    if (!id[0])
        return 0;
    rc = s->be->taken(s, id, &err);
    free(err);
    return rc == 0;
}

/* Fill in id, time, expiry and status, store through the backend with the "stored" event. */
int quar_put(quar_store *s, int fd, quar_msg *m, const char *actor, char **err)
{
    quar_event stored = {.msg_id = m->id,
                         .actor = (char *)(actor ? actor : "unknown"),
                         .action = (char *)"stored",
                         .outcome = (char *)"ok"};

    if (m->time == 0)
        m->time = (int64_t)time(NULL);
    if (!m->sender)
        m->sender = g_strdup("");
    if (!m->recipients)
        m->recipients = g_new0(char *, 1);
    m->expires = m->time + (int64_t)s->retention_days * 86400;
    g_free(m->status);
    m->status = g_strdup("quarantined");
    if (!preset_id_free(s, m->id) && quar_fresh_id(s, m->time, m->id, err) < 0)
        return -1;
    stored.time = (int64_t)time(NULL);
    return s->be->put(s, fd, m, &stored, err) < 0 ? -1 : 0;
}

/* One message by id (any case). Caller frees *out with quar_msg_free. */
int quar_get(quar_store *s, const char *id, quar_msg **out, char **err)
{
    char buf[24];

    *out = NULL;
    if (norm_id(id, buf) < 0)
        return 1;
    return s->be->get(s, buf, out, err);
}

/* Messages matching f (NULL: all), newest first. */
int quar_list(quar_store *s, const quar_filter *f, quar_msg ***out, size_t *n, char **err)
{
    static const quar_filter any;

    *out = NULL;
    *n = 0;
    return s->be->list(s, f ? f : &any, out, n, err);
}

/* SHA-256 of fd's content from its start into hex[65]; fd is rewound. 0 or -1 (errno set). */
static int hash_fd(int fd, char hex[65])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    unsigned char *buf = g_malloc(65536);
    ssize_t n = 0;

    if (lseek(fd, 0, SEEK_SET) == 0)
        while ((n = read(fd, buf, 65536)) != 0 && (n > 0 || errno == EINTR))
            if (n > 0)
                g_checksum_update(ck, buf, n);
    g_strlcpy(hex, g_checksum_get_string(ck), 65);
    g_checksum_free(ck);
    g_free(buf);
    return n < 0 || lseek(fd, 0, SEEK_SET) != 0 ? -1 : 0;
}

/* Record and report an original whose bytes no longer hash to what the index recorded. -1. */
static int tampered(quar_store *s, const char *id, const char *recorded, const char *found,
                    char **err)
{
    char *detail = g_strdup_printf("recorded sha256 %s, found %s", recorded, found);
    quar_event ev = {.time = (int64_t)time(NULL),
                     .msg_id = (char *)id,
                     .actor = program_invocation_short_name,
                     .action = (char *)"integrity-failed",
                     .reason = (char *)"the original does not match its SHA-256",
                     .detail = detail,
                     .outcome = (char *)"refused: changed since it was stored"};

    (void)s->be->audit(s, &ev, NULL);
    g_free(detail);
    return quar_err(s, err,
                    "%s: integrity check failed: the original's SHA-256 is %s, but %s was recorded"
                    " when it was stored; it was changed since and is not handed out",
                    id, found, recorded);
}

/* Check that the original open on fd still hashes to what was recorded for id. 0 or -1. */
static int verify_original(quar_store *s, const char *id, int fd, char **err)
{
    quar_msg *m = NULL;
    char found[65];
    int rc = s->be->get(s, id, &m, err);

    if (rc > 0)
        rc = quar_err(s, err, "%s: removed while it was opened", id);
    else if (rc == 0 && hash_fd(fd, found) < 0)
        rc = quar_err(s, err, "%s: reading the original: %s", id, strerror(errno));
    else if (rc == 0 && strcmp(found, m->sha256) != 0)
        rc = tampered(s, id, m->sha256, found, err);
    quar_msg_free(m);
    return rc;
}

/* A read-only fd on the original, checked against its recorded hash; the caller closes it. */
int quar_open_original(quar_store *s, const char *id, int *fd, char **err)
{
    char buf[24];
    int rc;

    *fd = -1;
    if (norm_id(id, buf) < 0)
        return 1;
    if ((rc = s->be->open_original(s, buf, fd, err)) != 0)
        return rc;
    if (verify_original(s, buf, *fd, err) == 0)
        return 0;
    close(*fd);
    *fd = -1;
    return -1;
}

/* Change the status of a message. */
int quar_set_status(quar_store *s, const char *id, const char *status, char **err)
{
    char buf[24];

    if (norm_id(id, buf) < 0)
        return 1;
    return s->be->set_status(s, buf, status, err);
}

/* Drop the original (shared files stay while held elsewhere), then set status. */
int quar_remove(quar_store *s, const char *id, const char *status, char **err)
{
    char buf[24];
    int rc;

    if (norm_id(id, buf) < 0)
        return 1;
    rc = s->be->remove_original(s, buf, err);
    if (rc != 0)
        return rc;
    return s->be->set_status(s, buf, status, err);
}

/* Expired ids still holding an original. Caller frees *ids with g_strfreev. */
int quar_expired(quar_store *s, int64_t now, char ***ids, size_t *n, char **err)
{
    *ids = NULL;
    *n = 0;
    return s->be->expired(s, now, ids, n, err);
}

/* Append an audit event stamped now, from the command line; 1 when the id is unknown. */
int quar_audit(quar_store *s, const char *id, const char *actor, const char *action,
               const char *reason, const char *detail, char **err)
{
    quar_event ev = {.msg_id = (char *)id,
                     .actor = (char *)actor,
                     .action = (char *)action,
                     .reason = (char *)reason,
                     .detail = (char *)detail,
                     .source = (char *)"cli",
                     .outcome = (char *)"ok"};

    return quar_audit_ev(s, &ev, err);
}

/* Append ev (time 0: now; id NULL: about no item); 1 when its id is unknown. */
int quar_audit_ev(quar_store *s, const quar_event *ev, char **err)
{
    char buf[24];
    quar_event e = *ev;

    if (!ev->action || !ev->action[0])
        return quar_err(s, err, "audit: an event without an action");
    if (ev->msg_id && norm_id(ev->msg_id, buf) < 0)
        return 1;
    e.msg_id = ev->msg_id ? buf : NULL;
    e.time = ev->time ? ev->time : (int64_t)time(NULL);
    e.actor = ev->actor ? ev->actor : (char *)"unknown";
    e.seq = 0;
    return s->be->audit(s, &e, err);
}

/* Events matching f, newest first, with the unpaged total. */
int quar_audit_list(quar_store *s, const quar_audit_filter *f, quar_event ***out, size_t *n,
                    size_t *total, char **err)
{
    static const quar_audit_filter any;
    quar_audit_filter nf = f ? *f : any;
    char buf[24];
    size_t dummy;

    *out = NULL;
    *n = 0;
    if (!total)
        total = &dummy;
    *total = 0;
    if (nf.item && norm_id(nf.item, buf) == 0)
        nf.item = buf;
    return s->be->audit_list(s, &nf, out, n, total, err);
}

/* Walk the whole chain. */
int quar_audit_verify(quar_store *s, quar_chain *out, char **err)
{
    memset(out, 0, sizeof *out);
    return s->be->audit_verify(s, out, err);
}

/* Row seq's stored hash; 1 when there is none. */
int quar_audit_head(quar_store *s, int64_t seq, char hash[65], char **err)
{
    hash[0] = '\0';
    if (seq <= 0)
        return 1;
    if (!s->be->audit_head)
        return quar_err(s, err, "audit head: not supported by this store");
    return s->be->audit_head(s, seq, hash, err);
}

/* How many messages match f. */
int quar_count(quar_store *s, const quar_filter *f, size_t *total, char **err)
{
    static const quar_filter any;

    *total = 0;
    return s->be->count(s, f ? f : &any, total, err);
}

/* Set one of the message's text fields. */
int quar_set_text(quar_store *s, const char *id, const char *field, const char *value, char **err)
{
    char buf[24];

    if (g_strcmp0(field, "headers") != 0 && g_strcmp0(field, "clean_text") != 0 &&
        g_strcmp0(field, "release_result") != 0)
        return quar_err(s, err, "set_text: no text field \"%.40s\"", field ? field : "");
    if (norm_id(id, buf) < 0)
        return 1;
    return s->be->set_text(s, buf, field, value, err);
}

/* Audit events of a message, oldest first. */
int quar_events(quar_store *s, const char *id, quar_event ***out, size_t *n, char **err)
{
    char buf[24];

    *out = NULL;
    *n = 0;
    if (norm_id(id, buf) < 0)
        return 1;
    return s->be->events(s, buf, out, n, err);
}

/* Non-zero when digest is 64 lower-case hex digits, the form the backends key counts by. */
static int digest_valid(const char *digest)
{
    size_t i;

    for (i = 0; digest && i < 64; i++)
        if (!g_ascii_isxdigit(digest[i]) || g_ascii_isupper(digest[i]))
            return 0;
    return digest && digest[64] == '\0';
}

/* The failure count of digest, ignoring one not raised for QUAR_ATTEMPT_KEEP_DAYS. */
int quar_attempt_get(quar_store *s, const char *digest, quar_attempts *a, char **err)
{
    int64_t now = (int64_t)time(NULL);

    memset(a, 0, sizeof(*a));
    if (!digest_valid(digest))
        return quar_err(s, err, "attempt count: malformed digest");
    return s->be->attempt_get(s, digest, now - (int64_t)QUAR_ATTEMPT_KEEP_DAYS * 86400, a, err);
}

/* Raise the failure count of digest, pruning old counts. */
int quar_attempt_failed(quar_store *s, const char *digest, quar_attempts *a, char **err)
{
    int64_t now = (int64_t)time(NULL);
    quar_attempts dummy;

    if (!a)
        a = &dummy;
    memset(a, 0, sizeof(*a));
    if (!digest_valid(digest))
        return quar_err(s, err, "attempt count: malformed digest");
    return s->be->attempt_failed(s, digest, now, now - (int64_t)QUAR_ATTEMPT_KEEP_DAYS * 86400, a,
                                 err);
}

/* Forget the failure count of digest. */
int quar_attempt_forget(quar_store *s, const char *digest, char **err)
{
    if (!digest_valid(digest))
        return quar_err(s, err, "attempt count: malformed digest");
    return s->be->attempt_forget(s, digest, err);
}
