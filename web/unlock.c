/*
 * web/unlock.c - opening a held encrypted attachment (PPAP) from the console:
 * POST messages/ID/unlock hands IT's password to the gateway's sanitizer pool
 * over [milter] spool_dir/unlock.sock, and answers what became of each part.
 *
 * Runs in mugai-web as [web] user, the only user but root that may connect to
 * the socket (mugai-milter makes it 0600 for that user; the spool directory
 * lets the store's group through). The console never decrypts or parses an original and makes
 * no jail: a mugai-milter worker, which has the engine, the jail and the
 * outbox, tries the password as IT ("USER (console)") and records the audit
 * events itself. The password must never reach a log, the audit trail or the
 * store from here; the request's copies of it are wiped once it is sent. The
 * wait for the worker is bounded ([milter] queue_wait + job_timeout + a
 * margin) and never holds the store lock, but it holds one of MHD's few
 * threads: one unlock waits at a time (others get 503 at once), and one held
 * message takes at most UNLOCK_ITEM_TRIES passwords per UNLOCK_ITEM_WINDOW
 * (then 429) - the gateway tries them as IT, whom the lock does not stop.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "milter.h"
#include "web.h"

#define UNLOCK_MARGIN 15       /* seconds beyond the gateway's own bounds before giving up */
#define PART_MAX 64            /* bytes of a part path ("2", "2.1") */
#define UNLOCK_PARALLEL 1      /* unlocks waiting on the gateway at once; more get 503 */
#define UNLOCK_ITEM_TRIES 5    /* passwords handed on for one message ... */
#define UNLOCK_ITEM_WINDOW 300 /* ... within this many seconds; more get 429 */

/* Passwords handed to the gateway for one message since the window began. */
typedef struct item_tries {
    int64_t since; /* monotonic seconds */
    unsigned n;
} item_tries;

/* The console's unlocks now, and the tries per message id (both under ctx->lock). */
static unsigned unlocking;
static GHashTable *tries;

/* What the gateway answered, or why it did not. */
typedef struct unlock_call {
    int sys_errno; /* 0, or why the socket failed */
    int connected; /* the socket was reached */
    milter_unlock_reply rep;
} unlock_call;

/* Non-zero when s is a part path: digits separated by single dots, at most PART_MAX bytes. */
static int part_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > PART_MAX || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
        return 0;
    return strspn(s, "0123456789.") == n;
}

/* Connect to the gateway's unlock socket, with receive and send timeouts of secs. The socket,
 * or -1 with errno. */
static int unlock_connect(const conf *cf, unsigned secs)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {(time_t)secs, 0};
    int s;

    if (mg_snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/unlock.sock", cf->milter_spool_dir) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* Send u to the gateway and wait for its answer, into *c. Blocks: called without the lock. */
static void unlock_exchange(const conf *cf, const milter_unlock *u, unlock_call *c)
{
    unsigned secs = cf->milter_queue_wait + cf->milter_job_timeout + UNLOCK_MARGIN;
    int s = unlock_connect(cf, secs);

    memset(c, 0, sizeof(*c));
    if (s < 0) {
        c->sys_errno = errno;
        return;
    }
    c->connected = 1;
    if (milter_unlock_send(s, u) < 0 || milter_unlock_reply_recv(s, &c->rep) < 0)
        c->sys_errno = errno ? errno : EPROTO;
    close(s);
}

/* Answer a call that got no reply: the gateway is down, unreachable, silent or broken. */
static enum MHD_Result reply_no_answer(web_req *r, const unlock_call *c)
{
    const char *sock = r->ctx->cf->milter_spool_dir;

    if (!c->connected && (c->sys_errno == ENOENT || c->sys_errno == ECONNREFUSED)) {
        mg_warn("unlock of %s: %s/unlock.sock: %s", r->args[0], sock, strerror(c->sys_errno));
        return web_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the gateway (mugai-milter) is not running");
    }
    mg_error("unlock of %s: %s/unlock.sock: %s", r->args[0], sock, strerror(c->sys_errno));
    if (!c->connected)
        return web_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "cannot reach the gateway (mugai-milter): see the console's log");
    if (c->sys_errno == EAGAIN || c->sys_errno == EWOULDBLOCK)
        return web_reply_error(r, MHD_HTTP_GATEWAY_TIMEOUT, "the gateway did not answer in time");
    return web_reply_error(r, MHD_HTTP_BAD_GATEWAY, "the gateway ended the request unanswered");
}

/* Answer the parts the gateway tried (200), or what it said instead. */
static enum MHD_Result reply_parts(web_req *r, const milter_unlock_reply *rep)
{
    const char *text = rep->text ? rep->text : "failed";
    JsonBuilder *b;

    if (rep->status == MILTER_UNLOCK_UNKNOWN)
        return web_reply_error(r, MHD_HTTP_NOT_FOUND, text);
    if (rep->status == MILTER_UNLOCK_BUSY)
        return web_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the gateway has no worker free; try again shortly");
    if (rep->status != MILTER_UNLOCK_DONE)
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, text);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "parts");
    json_builder_begin_array(b);
    for (size_t i = 0; i < rep->nparts; i++) {
        const milter_unlock_part *p = &rep->parts[i];
        json_builder_begin_object(b);
        web_json_str(b, "part", p->part);
        json_builder_set_member_name(b, "opened");
        json_builder_add_boolean_value(b, p->opened != 0);
        web_json_int(b, "tried", p->tried);
        web_json_int(b, "attempts", p->attempts);
        json_builder_set_member_name(b, "locked");
        json_builder_add_boolean_value(b, p->locked != 0);
        web_json_str(b, "why", p->why);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return web_reply_json(r, MHD_HTTP_OK, b);
}

/* Non-zero when an entry of tries (value v) began its window before now (user_data). */
static gboolean tries_over(gpointer key, gpointer v, gpointer now)
{
    (void)key;
    return *(int64_t *)now - ((item_tries *)v)->since >= UNLOCK_ITEM_WINDOW;
}

/* Count one more password for id, unless its window already has UNLOCK_ITEM_TRIES: then 0
 * with the seconds left in *wait. Under ctx->lock. 1 counted. */
static int tries_take(const char *id, unsigned *wait)
{
    int64_t now = g_get_monotonic_time() / G_USEC_PER_SEC;
    item_tries *t;

    if (tries == NULL)
        tries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_foreach_remove(tries, tries_over, &now);
    t = g_hash_table_lookup(tries, id);
    if (t == NULL) {
        t = g_new0(item_tries, 1);
        t->since = now;
        g_hash_table_insert(tries, g_strdup(id), t);
    }
    if (t->n >= UNLOCK_ITEM_TRIES) {
        *wait = (unsigned)(UNLOCK_ITEM_WINDOW - (now - t->since));
        return 0;
    }
    t->n++;
    return 1;
}

/* Give back the password counted for id: the gateway tried none (unreachable, busy, no such
 * part). Under ctx->lock. */
static void tries_refund(const char *id)
{
    item_tries *t = tries ? g_hash_table_lookup(tries, id) : NULL;

    if (t != NULL && t->n > 0)
        t->n--;
}

/* Refuse an unlock the console will not hand on now: another one waits on the gateway
 * (503), or id took its passwords for the window (429); *refused then 1 and the reply queued.
 * Otherwise *refused 0, the password counted for id. */
static enum MHD_Result unlock_refused(web_req *r, const char *id, int *refused)
{
    char text[160];
    unsigned wait = 0;

    *refused = 1;
    if (unlocking >= UNLOCK_PARALLEL)
        return web_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "another held attachment is being opened; try again shortly");
    if (!tries_take(id, &wait)) {
        mg_warn("unlock of %s by %s from %s: %d passwords within %d s already; refused", id,
                r->user->name, r->source, UNLOCK_ITEM_TRIES, UNLOCK_ITEM_WINDOW);
        if (mg_snprintf(text, sizeof(text),
                        "%d passwords were tried on this message within %d minutes; try again "
                        "in %u s",
                        UNLOCK_ITEM_TRIES, UNLOCK_ITEM_WINDOW / 60, wait) < 0)
            g_strlcpy(text, "too many passwords tried on this message", sizeof(text));
        return web_reply_error(r, MHD_HTTP_TOO_MANY_REQUESTS, text);
    }
    *refused = 0;
    return MHD_YES;
}

/* Check that id has the held part the request is for (any, when part is NULL: one still
 * pending or locked). 0, or an HTTP status with *why (static). */
static unsigned held_check(web_req *r, const char *id, const char *part, const char **why)
{
    quar_held_filter f = {.msg_id = id};
    quar_held **hs = NULL;
    size_t n = 0, i;
    char *err = NULL;
    unsigned st = MHD_HTTP_NOT_FOUND;

    if (quar_held_list(r->ctx->store, &f, &hs, &n, &err) != 0) {
        mg_error("held parts of %s: %s", id, err ? err : "unknown error");
        free(err);
        *why = "the quarantine store failed";
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    *why = n == 0 ? "no held encrypted part" : part ? "no such held part" : "no part still held";
    for (i = 0; i < n && st != 0; i++)
        if (part ? strcmp(hs[i]->part, part) == 0
                 : strcmp(hs[i]->status, "pending") == 0 || strcmp(hs[i]->status, "locked") == 0)
            st = 0;
    quar_held_list_free(hs, n);
    return st;
}

/* Wipe the password wherever the request holds it: the body as received and the parsed
 * JSON string (the parser's own copy, written over in place). */
static void wipe_password(web_req *r, const char *password)
{
    if (password != NULL)
        explicit_bzero((char *)password, strlen(password));
    if (r->body != NULL && r->body->len > 0)
        explicit_bzero(r->body->str, r->body->len);
}

/* Validate the body: part (optional) and password. 0 or -1 with *why (static). */
static int unlock_input(web_req *r, const char **part, const char **password, const char **why)
{
    int bad = 0;

    *part = web_json_get_str(r->in, "part", &bad);
    *password = web_json_get_str(r->in, "password", &bad);
    *why = "part is a part number such as \"2\" (or absent), password a string";
    if (bad || (*part != NULL && (*part)[0] != '\0' && !part_valid(*part)))
        return -1;
    if (*part != NULL && (*part)[0] == '\0')
        *part = NULL;
    *why = "the password is 1-512 bytes of UTF-8";
    if (*password == NULL || **password == '\0' || strlen(*password) > MILTER_UNLOCK_PW_MAX ||
        !g_utf8_validate(*password, -1, NULL))
        return -1;
    return 0;
}

enum MHD_Result web_message_unlock(web_req *r)
{
    const char *part, *password, *why;
    char *id = g_ascii_strup(r->args[0], -1);
    milter_unlock u;
    unlock_call c;
    unsigned st;
    int refused;
    enum MHD_Result rc;

    if (unlock_input(r, &part, &password, &why) < 0) {
        wipe_password(r, password);
        g_free(id);
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    }
    if ((st = held_check(r, id, part, &why)) != 0) {
        wipe_password(r, password);
        g_free(id);
        return web_reply_error(r, st, why);
    }
    rc = unlock_refused(r, id, &refused);
    if (refused) {
        wipe_password(r, password);
        g_free(id);
        return rc;
    }
    u = (milter_unlock){id, (char *)part, (char *)password, r->user->name, r->source};
    unlocking++;
    pthread_mutex_unlock(&r->ctx->lock);
    unlock_exchange(r->ctx->cf, &u, &c);
    pthread_mutex_lock(&r->ctx->lock);
    unlocking--;
    wipe_password(r, password);
    if (!c.connected || (c.sys_errno == 0 && (c.rep.status == MILTER_UNLOCK_BUSY ||
                                              c.rep.status == MILTER_UNLOCK_UNKNOWN)))
        tries_refund(id);
    rc = c.sys_errno ? reply_no_answer(r, &c) : reply_parts(r, &c.rep);
    milter_unlock_reply_clear(&c.rep);
    g_free(id);
    return rc;
}
