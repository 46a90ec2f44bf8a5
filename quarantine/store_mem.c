/*
 * quarantine/store_mem.c - the in-memory quarantine backend, for unit tests:
 * messages, originals (GBytes by SHA-256), the hash-chained events, failure
 * counts and held encrypted parts in GLib containers. It keeps no console records (quar.c then
 * answers "not supported by this store").
 *
 * Runs inside test programs only. It must behave exactly like the filesystem
 * backend as seen through quar.h; it never touches the disk except for the
 * anonymous memory file handed out by open_original.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "quar_int.h"

typedef struct mem_store {
    quar_store head;
    GHashTable *msgs;      /* id -> quar_msg* */
    GHashTable *originals; /* sha256 -> GBytes* */
    GPtrArray *events;     /* mem_event*, oldest first (seq = index + 1) */
    GHashTable *attempts;  /* digest -> mem_attempt* */
    GPtrArray *held;       /* mem_held*, in the order stored */
} mem_store;

/* A held part, with its index among its message's parts (the list's order). */
typedef struct mem_held {
    quar_held *h;
    size_t idx;
} mem_held;

/* The failed attempts at one message. */
typedef struct mem_attempt {
    unsigned failures;
    int64_t first, last;
} mem_attempt;

/* One event of the trail with its chain hashes. */
typedef struct mem_event {
    quar_event *ev; /* seq set */
    char prev[65], hash[65];
} mem_event;

/* The backend's view of s. */
static mem_store *mem(quar_store *s)
{
    return (mem_store *)s;
}

/* Read fd to its end into a GBytes, hashing as it goes. 0 or -1. */
static int slurp(int fd, GBytes **out, char sha[65])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    GByteArray *buf = g_byte_array_new();
    guint8 chunk[65536];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_checksum_free(ck);
            g_byte_array_unref(buf);
            return -1;
        }
        g_checksum_update(ck, chunk, (gssize)n);
        g_byte_array_append(buf, chunk, (guint)n);
    }
    g_strlcpy(sha, g_checksum_get_string(ck), 65);
    g_checksum_free(ck);
    *out = g_byte_array_free_to_bytes(buf);
    return 0;
}

/* Append a copy of ev to the chain. */
static void append_event(quar_store *s, const quar_event *ev)
{
    GPtrArray *evs = mem(s)->events;
    mem_event *me = g_new0(mem_event, 1);

    me->ev = quar_event_dup(ev);
    me->ev->seq = (int64_t)evs->len + 1;
    g_strlcpy(me->prev,
              evs->len ? ((mem_event *)g_ptr_array_index(evs, evs->len - 1))->hash
                       : QUAR_CHAIN_ORIGIN,
              sizeof me->prev);
    quar_event_hash(me->prev, me->ev, me->hash, NULL);
    g_ptr_array_add(evs, me);
    mg_info("audit: trail head %lld %s", (long long)me->ev->seq, me->hash);
}

/* The held part at (id, part), or NULL. */
static mem_held *held_find(quar_store *s, const char *id, const char *part)
{
    GPtrArray *all = mem(s)->held;

    for (guint i = 0; i < all->len; i++) {
        mem_held *mh = g_ptr_array_index(all, i);
        if (strcmp(mh->h->msg_id, id) == 0 && g_strcmp0(mh->h->part, part) == 0)
            return mh;
    }
    return NULL;
}

/* A pending record of each part of m whose action is "held" (a repeated path once). */
static void add_held(quar_store *s, const quar_msg *m)
{
    for (size_t i = 0; i < m->nparts; i++) {
        const quar_part *p = &m->parts[i];
        mem_held *mh;
        if (g_strcmp0(p->action, "held") != 0 || !p->path || !p->path[0] ||
            held_find(s, m->id, p->path))
            continue;
        mh = g_new0(mem_held, 1);
        mh->idx = i;
        mh->h = g_new0(quar_held, 1);
        g_strlcpy(mh->h->msg_id, m->id, sizeof mh->h->msg_id);
        mh->h->part = g_strdup(p->path);
        mh->h->filename = g_strdup(p->filename);
        mh->h->status = g_strdup("pending");
        mh->h->expires = m->time + (int64_t)s->hold_days * 86400;
        mh->h->time = m->time;
        mh->h->sender = g_strdup(m->sender);
        g_ptr_array_add(mem(s)->held, mh);
    }
}

/* Store the original, a copy of m and the "stored" event. */
static int mem_put(quar_store *s, int fd, quar_msg *m, const quar_event *stored, char **err)
{
    GBytes *data;

    if (slurp(fd, &data, m->sha256) < 0)
        return quar_err(s, err, "reading the original: %s", strerror(errno));
    m->size = g_bytes_get_size(data);
    if (g_hash_table_contains(mem(s)->originals, m->sha256))
        g_bytes_unref(data);
    else
        g_hash_table_insert(mem(s)->originals, g_strdup(m->sha256), data);
    g_hash_table_insert(mem(s)->msgs, g_strdup(m->id), quar_msg_dup(m));
    add_held(s, m);
    append_event(s, stored);
    return 0;
}

/* A copy of message id. */
static int mem_get(quar_store *s, const char *id, quar_msg **out, char **err)
{
    quar_msg *m = g_hash_table_lookup(mem(s)->msgs, id);

    (void)err;
    if (!m)
        return 1;
    *out = quar_msg_dup(m);
    return 0;
}

/* 1 when a message has this id, else 0. */
static int mem_taken(quar_store *s, const char *id, char **err)
{
    (void)err;
    return g_hash_table_contains(mem(s)->msgs, id) ? 1 : 0;
}

/* Newest first; ties broken by id, as the SQL backend does. */
static gint newest_first(gconstpointer a, gconstpointer b)
{
    const quar_msg *x = *(quar_msg *const *)a, *y = *(quar_msg *const *)b;

    if (x->time != y->time)
        return x->time > y->time ? -1 : 1;
    return -strcmp(x->id, y->id);
}

/* Copies of the messages matching f. */
static int mem_list(quar_store *s, const quar_filter *f, quar_msg ***out, size_t *n, char **err)
{
    GPtrArray *all = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;

    (void)err;
    g_hash_table_iter_init(&it, mem(s)->msgs);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (quar_filter_match(f, v))
            g_ptr_array_add(all, v);
    g_ptr_array_sort(all, newest_first);
    g_ptr_array_remove_range(all, 0, MIN(f->offset, all->len));
    if (f->limit && all->len > f->limit)
        g_ptr_array_set_size(all, f->limit);
    *n = all->len;
    *out = g_new0(quar_msg *, all->len + 1);
    for (guint i = 0; i < all->len; i++) {
        (*out)[i] = quar_msg_dup(g_ptr_array_index(all, i));
        /* lists leave the texts out, as the SQL backend does */
        g_clear_pointer(&(*out)[i]->headers, g_free);
        g_clear_pointer(&(*out)[i]->clean_text, g_free);
    }
    g_ptr_array_free(all, TRUE);
    return 0;
}

/* How many messages match f. */
static int mem_count(quar_store *s, const quar_filter *f, size_t *total, char **err)
{
    GHashTableIter it;
    gpointer v;

    (void)err;
    *total = 0;
    g_hash_table_iter_init(&it, mem(s)->msgs);
    while (g_hash_table_iter_next(&it, NULL, &v))
        *total += quar_filter_match(f, v) != 0;
    return 0;
}

/* Set one of a message's text fields. */
static int mem_set_text(quar_store *s, const char *id, const char *field, const char *value,
                        char **err)
{
    quar_msg *m = g_hash_table_lookup(mem(s)->msgs, id);
    char **slot;

    (void)err;
    if (!m)
        return 1;
    slot = strcmp(field, "headers") == 0      ? &m->headers
           : strcmp(field, "clean_text") == 0 ? &m->clean_text
                                              : &m->release_result;
    g_free(*slot);
    *slot = g_strdup(value);
    return 0;
}

/* An anonymous memory file holding the original, positioned at its start. */
static int mem_open_original(quar_store *s, const char *id, int *fd, char **err)
{
    quar_msg *m = g_hash_table_lookup(mem(s)->msgs, id);
    GBytes *data;
    gsize len;
    const void *p;
    int mfd;

    if (!m)
        return 1;
    data = quar_status_holds(m->status) ? g_hash_table_lookup(mem(s)->originals, m->sha256) : NULL;
    if (!data)
        return quar_err(s, err, "%s: original removed (status %s)", id, m->status);
    p = g_bytes_get_data(data, &len);
    mfd = memfd_create("quar-original", MFD_CLOEXEC);
    if (mfd < 0 || mg_write_all(mfd, p, len) < 0 || lseek(mfd, 0, SEEK_SET) < 0) {
        if (mfd >= 0)
            close(mfd);
        return quar_err(s, err, "%s: memory file: %s", id, strerror(errno));
    }
    *fd = mfd;
    return 0;
}

/* Change a message's status. */
static int mem_set_status(quar_store *s, const char *id, const char *status, char **err)
{
    quar_msg *m = g_hash_table_lookup(mem(s)->msgs, id);

    (void)err;
    if (!m)
        return 1;
    g_free(m->status);
    m->status = g_strdup(status);
    return 0;
}

/* Drop the original unless another holding message shares its content. */
static int mem_remove_original(quar_store *s, const char *id, char **err)
{
    quar_msg *m = g_hash_table_lookup(mem(s)->msgs, id);
    GHashTableIter it;
    gpointer v;

    (void)err;
    if (!m)
        return 1;
    g_hash_table_iter_init(&it, mem(s)->msgs);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const quar_msg *o = v;
        if (o != m && strcmp(o->sha256, m->sha256) == 0 && quar_status_holds(o->status))
            return 0;
    }
    g_hash_table_remove(mem(s)->originals, m->sha256);
    return 0;
}

/* Oldest expiry first, ties by id, as the SQL backend does. */
static gint expiry_first(gconstpointer a, gconstpointer b)
{
    const quar_msg *x = *(quar_msg *const *)a, *y = *(quar_msg *const *)b;

    if (x->expires != y->expires)
        return x->expires < y->expires ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Ids past expiry that still hold an original, oldest expiry first. */
static int mem_expired(quar_store *s, int64_t now, char ***ids, size_t *n, char **err)
{
    GPtrArray *found = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;

    (void)err;
    g_hash_table_iter_init(&it, mem(s)->msgs);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const quar_msg *m = v;
        if (m->expires < now && quar_status_holds(m->status))
            g_ptr_array_add(found, v);
    }
    g_ptr_array_sort(found, expiry_first);
    *n = found->len;
    *ids = g_new0(char *, found->len + 1);
    for (guint i = 0; i < found->len; i++)
        (*ids)[i] = g_strdup(((quar_msg *)g_ptr_array_index(found, i))->id);
    g_ptr_array_free(found, TRUE);
    return 0;
}

/* Append an event about a known message, or about none. */
static int mem_audit(quar_store *s, const quar_event *ev, char **err)
{
    (void)err;
    if (ev->msg_id && !g_hash_table_contains(mem(s)->msgs, ev->msg_id))
        return 1;
    append_event(s, ev);
    return 0;
}

/* Copies of the events matching f, newest first, paged; the unpaged count in *total. */
static int mem_audit_list(quar_store *s, const quar_audit_filter *f, quar_event ***out, size_t *n,
                          size_t *total, char **err)
{
    GPtrArray *evs = mem(s)->events, *found = g_ptr_array_new();
    size_t skip = f->offset;

    (void)err;
    *total = 0;
    for (guint i = evs->len; i-- > 0;) {
        const quar_event *e = ((mem_event *)g_ptr_array_index(evs, i))->ev;
        if (!quar_audit_filter_match(f, e))
            continue;
        ++*total;
        if (skip > 0)
            skip--;
        else if (!f->limit || found->len < f->limit)
            g_ptr_array_add(found, quar_event_dup(e));
    }
    *n = found->len;
    g_ptr_array_add(found, NULL);
    *out = (quar_event **)g_ptr_array_free(found, FALSE);
    return 0;
}

/* Non-zero when some message has no "stored" event (as the filesystem backend checks). */
static int unstored_messages(quar_store *s)
{
    GHashTable *stored = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *evs = mem(s)->events;
    GHashTableIter it;
    gpointer id;
    int missing = 0;

    for (guint i = 0; i < evs->len; i++) {
        const quar_event *e = ((mem_event *)g_ptr_array_index(evs, i))->ev;
        if (e->msg_id && g_strcmp0(e->action, "stored") == 0)
            g_hash_table_add(stored, e->msg_id);
    }
    g_hash_table_iter_init(&it, mem(s)->msgs);
    while (!missing && g_hash_table_iter_next(&it, &id, NULL))
        missing = !g_hash_table_contains(stored, id);
    g_hash_table_destroy(stored);
    return missing;
}

/* Walk the chain from its first event. */
static int mem_audit_verify(quar_store *s, quar_chain *out, char **err)
{
    GPtrArray *evs = mem(s)->events;
    quar_chain_walk w;

    (void)err;
    quar_chain_begin(&w, out);
    for (guint i = 0; i < evs->len; i++) {
        const mem_event *me = g_ptr_array_index(evs, i);
        quar_chain_next(&w, me->ev, me->prev, me->hash);
    }
    if (out->ok && unstored_messages(s)) {
        out->ok = 0;
        out->first_bad = w.last_seq + 1;
    }
    quar_chain_end(&w);
    return 0;
}

/* Row seq's hash; 1 when there is none. */
static int mem_audit_head(quar_store *s, int64_t seq, char hash[65], char **err)
{
    GPtrArray *evs = mem(s)->events;

    (void)err;
    if (seq < 1 || seq > (int64_t)evs->len)
        return 1;
    g_strlcpy(hash, ((mem_event *)g_ptr_array_index(evs, seq - 1))->hash, 65);
    return 0;
}

/* Copies of a message's events, oldest first. */
static int mem_events(quar_store *s, const char *id, quar_event ***out, size_t *n, char **err)
{
    GPtrArray *evs = mem(s)->events;
    GPtrArray *found;

    (void)err;
    if (!g_hash_table_contains(mem(s)->msgs, id))
        return 1;
    found = g_ptr_array_new();
    for (guint i = 0; i < evs->len; i++) {
        const quar_event *e = ((mem_event *)g_ptr_array_index(evs, i))->ev;
        if (g_strcmp0(e->msg_id, id) == 0)
            g_ptr_array_add(found, quar_event_dup(e));
    }
    *n = found->len;
    g_ptr_array_add(found, NULL);
    *out = (quar_event **)g_ptr_array_free(found, FALSE);
    return 0;
}

/* Non-zero for a count last raised before *prune_before (user data): it is forgotten. */
static gboolean attempt_old(gpointer key, gpointer value, gpointer prune_before)
{
    (void)key;
    return ((mem_attempt *)value)->last < *(int64_t *)prune_before;
}

/* digest's failure count, unless last raised before since. */
static int mem_attempt_get(quar_store *s, const char *digest, int64_t since, quar_attempts *a,
                           char **err)
{
    const mem_attempt *m = g_hash_table_lookup(mem(s)->attempts, digest);

    (void)err;
    if (m && m->last >= since) {
        a->count = m->failures;
        a->first = m->first;
    }
    return 0;
}

/* Prune old counts and raise digest's; the new count into *a. */
static int mem_attempt_failed(quar_store *s, const char *digest, int64_t now, int64_t prune_before,
                              quar_attempts *a, char **err)
{
    mem_attempt *m;

    (void)err;
    g_hash_table_foreach_remove(mem(s)->attempts, attempt_old, &prune_before);
    m = g_hash_table_lookup(mem(s)->attempts, digest);
    if (!m) {
        m = g_new0(mem_attempt, 1);
        m->first = now;
        g_hash_table_insert(mem(s)->attempts, g_strdup(digest), m);
    }
    if (m->failures < UINT_MAX)
        m->failures++;
    m->last = now;
    a->count = m->failures;
    a->first = m->first;
    return 0;
}

/* Forget digest's count. */
static int mem_attempt_forget(quar_store *s, const char *digest, char **err)
{
    (void)err;
    g_hash_table_remove(mem(s)->attempts, digest);
    return 0;
}

/* Oldest message first, then part order, as the SQL backend does. */
static gint held_order(gconstpointer a, gconstpointer b)
{
    const mem_held *x = *(mem_held *const *)a, *y = *(mem_held *const *)b;
    int c;

    if (x->h->time != y->h->time)
        return x->h->time < y->h->time ? -1 : 1;
    if ((c = strcmp(x->h->msg_id, y->h->msg_id)) != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Non-zero when one of message id's recipients is addr (ASCII case-insensitive). */
static int has_recipient(quar_store *s, const char *id, const char *addr)
{
    const quar_msg *m = g_hash_table_lookup(mem(s)->msgs, id);

    for (size_t i = 0; m && m->recipients && m->recipients[i]; i++)
        if (g_ascii_strcasecmp(m->recipients[i], addr) == 0)
            return 1;
    return 0;
}

/* Non-zero when h passes every condition of f (the memory backend's version of the SQL). */
static int held_match(quar_store *s, const quar_held_filter *f, const quar_held *h)
{
    if ((f->msg_id && strcmp(f->msg_id, h->msg_id) != 0) ||
        (f->status && g_strcmp0(f->status, h->status) != 0) ||
        (f->sender && g_ascii_strcasecmp(f->sender, h->sender ? h->sender : "") != 0) ||
        (f->since && h->time < f->since))
        return 0;
    return !f->recipient || has_recipient(s, h->msg_id, f->recipient);
}

/* A deep copy of one held part. */
static quar_held *held_dup(const quar_held *h)
{
    quar_held *c = g_new0(quar_held, 1);

    *c = *h;
    c->part = g_strdup(h->part);
    c->filename = g_strdup(h->filename);
    c->status = g_strdup(h->status);
    c->opened_by = g_strdup(h->opened_by);
    c->sender = g_strdup(h->sender);
    return c;
}

/* Copies of the held parts among all for which keep(s, f, h) is non-zero, in list order. */
static void held_copies(quar_store *s, const quar_held_filter *f,
                        int (*keep)(quar_store *, const quar_held_filter *, const quar_held *),
                        quar_held ***out, size_t *n)
{
    GPtrArray *found = g_ptr_array_new();
    GPtrArray *all = mem(s)->held;

    for (guint i = 0; i < all->len; i++)
        if (keep(s, f, ((mem_held *)g_ptr_array_index(all, i))->h))
            g_ptr_array_add(found, g_ptr_array_index(all, i));
    g_ptr_array_sort(found, held_order);
    *n = found->len;
    *out = g_new0(quar_held *, found->len + 1);
    for (guint i = 0; i < found->len; i++)
        (*out)[i] = held_dup(((mem_held *)g_ptr_array_index(found, i))->h);
    g_ptr_array_free(found, TRUE);
}

/* Held parts matching f, oldest message first, then part order. */
static int mem_held_list(quar_store *s, const quar_held_filter *f, quar_held ***out, size_t *n,
                         char **err)
{
    (void)err;
    held_copies(s, f, held_match, out, n);
    return 0;
}

/* Add wrong to a part's count; lock a pending one reaching max_attempts. 1 when unknown. */
static int mem_held_failed(quar_store *s, const char *id, const char *part, unsigned wrong,
                           unsigned max_attempts, unsigned *attempts, int *locked, char **err)
{
    mem_held *mh = held_find(s, id, part);

    (void)err;
    if (!mh)
        return 1;
    mh->h->attempts = mh->h->attempts > UINT_MAX - wrong ? UINT_MAX : mh->h->attempts + wrong;
    *attempts = mh->h->attempts;
    if (max_attempts > 0 && mh->h->attempts >= max_attempts &&
        strcmp(mh->h->status, "pending") == 0) {
        g_free(mh->h->status);
        mh->h->status = g_strdup("locked");
        *locked = 1;
    }
    return 0;
}

/* Non-zero for a pending or locked part. */
static int held_openable(const quar_held *h)
{
    return strcmp(h->status, "pending") == 0 || strcmp(h->status, "locked") == 0;
}

/* Open a pending or locked part; 2 when it is neither, 1 when unknown. */
static int mem_held_open(quar_store *s, const char *id, const char *part, const char *how,
                         int64_t now, char **err)
{
    mem_held *mh = held_find(s, id, part);

    (void)err;
    if (!mh)
        return 1;
    if (!held_openable(mh->h))
        return 2;
    g_free(mh->h->status);
    mh->h->status = g_strdup("opened");
    g_free(mh->h->opened_by);
    mh->h->opened_by = g_strdup(how);
    mh->h->opened = now;
    return 0;
}

/* Non-zero for a pending or locked part past f->since (here: now) — held_copies' filter for
 * the expiry sweep. */
static int held_due(quar_store *s, const quar_held_filter *f, const quar_held *h)
{
    (void)s;
    return held_openable(h) && h->expires < f->since;
}

/* Mark the parts due at now expired and return them. */
static int mem_held_expire(quar_store *s, int64_t now, quar_held ***out, size_t *n, char **err)
{
    quar_held_filter due = {.since = now};
    GPtrArray *all = mem(s)->held;

    (void)err;
    held_copies(s, &due, held_due, out, n);
    for (guint i = 0; i < all->len; i++) {
        quar_held *h = ((mem_held *)g_ptr_array_index(all, i))->h;
        if (held_due(s, &due, h)) {
            g_free(h->status);
            h->status = g_strdup("expired");
        }
    }
    for (size_t i = 0; i < *n; i++) {
        g_free((*out)[i]->status);
        (*out)[i]->status = g_strdup("expired");
    }
    return 0;
}

static const quar_held_ops mem_held_ops = {
    .list = mem_held_list,
    .failed = mem_held_failed,
    .open = mem_held_open,
    .expire = mem_held_expire,
};

/* Free one held part's record. */
static void held_free(gpointer p)
{
    mem_held *mh = p;

    quar_held_free(mh->h);
    g_free(mh);
}

/* Free one event of the trail. */
static void event_free(gpointer p)
{
    mem_event *me = p;

    quar_event_free(me->ev);
    g_free(me);
}

/* Free the store and everything in it. */
static void mem_close(quar_store *s)
{
    mem_store *ms = mem(s);

    g_hash_table_destroy(ms->msgs);
    g_hash_table_destroy(ms->originals);
    g_ptr_array_free(ms->events, TRUE);
    g_hash_table_destroy(ms->attempts);
    g_ptr_array_free(ms->held, TRUE);
    g_free(s->where);
    g_free(ms);
}

static const quar_backend mem_backend = {
    .put = mem_put,
    .get = mem_get,
    .taken = mem_taken,
    .list = mem_list,
    .open_original = mem_open_original,
    .set_status = mem_set_status,
    .remove_original = mem_remove_original,
    .expired = mem_expired,
    .audit = mem_audit,
    .events = mem_events,
    .audit_list = mem_audit_list,
    .audit_verify = mem_audit_verify,
    .audit_head = mem_audit_head,
    .count = mem_count,
    .set_text = mem_set_text,
    .console = NULL,
    .held = &mem_held_ops,
    .attempt_get = mem_attempt_get,
    .attempt_failed = mem_attempt_failed,
    .attempt_forget = mem_attempt_forget,
    .close = mem_close,
};

/* An empty in-memory store. Caller closes with quar_close. */
quar_store *quar_open_memory(unsigned retention_days)
{
    mem_store *ms = g_new0(mem_store, 1);

    ms->head.be = &mem_backend;
    ms->head.retention_days = retention_days;
    ms->head.hold_days = QUAR_HOLD_DAYS_DEFAULT;
    ms->head.where = g_strdup(":memory:");
    ms->msgs =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)quar_msg_free);
    ms->originals =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
    ms->events = g_ptr_array_new_with_free_func(event_free);
    ms->attempts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    ms->held = g_ptr_array_new_with_free_func(held_free);
    return &ms->head;
}
