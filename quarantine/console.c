/*
 * quarantine/console.c - the review console's records in the store: accounts,
 * sessions, release/export/delete requests and single-use downloads. Checks the
 * arguments every backend would check the same way, then dispatches to the
 * backend's console operations; frees the records.
 *
 * Runs in mugai-web and mugai-quarantine with the privileges of a member of the
 * store's group. It stores password hashes and session token hashes only, never a
 * password or a cookie; the two-person rule is kept by the backend's
 * request_decide, below every client.
 */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "quar_int.h"

#define USER_NAME_MAX 64

/* The backend's console operations, or NULL after setting *err: a store without them. */
static const quar_console_ops *ops(quar_store *s, char **err)
{
    if (s->be->console)
        return s->be->console;
    quar_err(s, err, "console records are not supported by this store");
    return NULL;
}

/* Non-zero when name is 1-64 of [A-Za-z0-9._@-]. */
static int user_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > USER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isalnum(name[i]) && !strchr("._@-", name[i]))
            return 0;
    return 1;
}

/* Non-zero for one of the three roles. */
static int role_valid(const char *role)
{
    return g_strcmp0(role, "admin") == 0 || g_strcmp0(role, "reviewer") == 0 ||
           g_strcmp0(role, "auditor") == 0;
}

/* Non-zero when h is 64 lower-case hex digits (a token hash or a CSRF token). */
static int hex64(const char *h)
{
    size_t i;

    for (i = 0; h && i < 64; i++)
        if (!g_ascii_isxdigit(h[i]) || g_ascii_isupper(h[i]))
            return 0;
    return h && h[64] == '\0';
}

/* Add an account after checking its name, role and hash. */
int quar_user_add(quar_store *s, const quar_user *u, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (!user_name_valid(u->name))
        return quar_err(s, err, "user \"%.70s\": a name is 1-64 of A-Z a-z 0-9 . _ @ -",
                        u->name ? u->name : "");
    if (!role_valid(u->role))
        return quar_err(s, err, "user %s: unknown role \"%.20s\" (admin, reviewer, auditor)",
                        u->name, u->role ? u->role : "");
    if (!u->pwhash || !u->pwhash[0])
        return quar_err(s, err, "user %s: no password hash", u->name);
    return o->user_add(s, u, err);
}

/* One account by name. */
int quar_user_get(quar_store *s, const char *name, quar_user **out, char **err)
{
    const quar_console_ops *o = ops(s, err);

    *out = NULL;
    if (!o)
        return -1;
    return user_name_valid(name) ? o->user_get(s, name, out, err) : 1;
}

/* Every account, by name. */
int quar_user_list(quar_store *s, quar_user ***out, size_t *n, char **err)
{
    const quar_console_ops *o = ops(s, err);

    *out = NULL;
    *n = 0;
    return o ? o->user_list(s, out, n, err) : -1;
}

/* Change an account's hash, role or disabled flag. */
int quar_user_set(quar_store *s, const char *name, const char *field, const char *value, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (g_strcmp0(field, "role") == 0 && !role_valid(value))
        return quar_err(s, err, "user %s: unknown role \"%.20s\" (admin, reviewer, auditor)",
                        name ? name : "", value ? value : "");
    if (g_strcmp0(field, "disabled") == 0 && g_strcmp0(value, "0") != 0 &&
        g_strcmp0(value, "1") != 0)
        return quar_err(s, err, "user %s: disabled is \"0\" or \"1\"", name ? name : "");
    if (g_strcmp0(field, "pwhash") == 0 && (!value || !value[0]))
        return quar_err(s, err, "user %s: no password hash", name ? name : "");
    if (g_strcmp0(field, "role") != 0 && g_strcmp0(field, "disabled") != 0 &&
        g_strcmp0(field, "pwhash") != 0)
        return quar_err(s, err, "user: no field \"%.20s\" (pwhash, role, disabled)",
                        field ? field : "");
    return user_name_valid(name) ? o->user_set(s, name, field, value, err) : 1;
}

/* Count a failed sign-in; see quar.h. */
int quar_login_failed(quar_store *s, const char *name, int64_t now, unsigned limit, int64_t window,
                      int *locked, char **err)
{
    const quar_console_ops *o = ops(s, err);

    *locked = 0;
    if (!o)
        return -1;
    return user_name_valid(name) ? o->login_failed(s, name, now, limit, window, locked, err) : 1;
}

/* Clear an account's failure count after a successful sign-in. */
int quar_login_ok(quar_store *s, const char *name, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    return user_name_valid(name) ? o->login_ok(s, name, err) : 1;
}

/* Record a new session; 1 when its user is unknown. */
int quar_session_put(quar_store *s, const quar_session *se, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (!hex64(se->token_hash) || !hex64(se->csrf))
        return quar_err(s, err, "session: the token hash and CSRF token are 64 hex digits");
    return user_name_valid(se->user) ? o->session_put(s, se, err) : 1;
}

/* One session by its token's hash. */
int quar_session_get(quar_store *s, const char *token_hash, quar_session **out, char **err)
{
    const quar_console_ops *o = ops(s, err);

    *out = NULL;
    if (!o)
        return -1;
    return hex64(token_hash) ? o->session_get(s, token_hash, out, err) : 1;
}

/* Mark a session used at now; 1 when there is none. */
int quar_session_touch(quar_store *s, const char *token_hash, int64_t now, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    return hex64(token_hash) ? o->session_touch(s, token_hash, now, err) : 1;
}

/* Drop one session, or all of a user's. */
int quar_session_drop(quar_store *s, const char *token_hash, const char *user, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (!token_hash && !user)
        return quar_err(s, err, "session drop: neither a session nor a user named");
    return o->session_drop(s, token_hash, token_hash ? NULL : user, err);
}

/* Drop idle and too old sessions. */
int quar_session_prune(quar_store *s, int64_t idle_before, int64_t created_before, char **err)
{
    const quar_console_ops *o = ops(s, err);

    return o ? o->session_prune(s, idle_before, created_before, err) : -1;
}

/* Add a pending request; see quar.h. */
int quar_request_add(quar_store *s, quar_request *r, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (g_strcmp0(r->action, "release") != 0 && g_strcmp0(r->action, "export") != 0 &&
        g_strcmp0(r->action, "delete") != 0)
        return quar_err(s, err, "request: unknown action \"%.20s\" (release, export, delete)",
                        r->action ? r->action : "");
    if (!user_name_valid(r->requester))
        return quar_err(s, err, "request: no valid requester");
    for (size_t i = 0; r->msg_id[i]; i++)
        r->msg_id[i] = g_ascii_toupper(r->msg_id[i]);
    return o->request_add(s, r, err);
}

/* One request by id. */
int quar_request_get(quar_store *s, int64_t id, quar_request **out, char **err)
{
    const quar_console_ops *o = ops(s, err);

    *out = NULL;
    return o ? o->request_get(s, id, out, err) : -1;
}

/* Requests, oldest first, filtered by status and item. */
int quar_request_list(quar_store *s, const char *status, const char *msg_id, quar_request ***out,
                      size_t *n, char **err)
{
    const quar_console_ops *o = ops(s, err);
    char *id = msg_id ? g_ascii_strup(msg_id, -1) : NULL;
    int rc;

    *out = NULL;
    *n = 0;
    rc = o ? o->request_list(s, status, id, out, n, err) : -1;
    g_free(id);
    return rc;
}

/* Approve or deny a pending request; the backend keeps the two-person rule. */
int quar_request_decide(quar_store *s, int64_t id, const char *status, const char *approver,
                        const char *reason, int64_t now, char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (g_strcmp0(status, "approved") != 0 && g_strcmp0(status, "denied") != 0)
        return quar_err(s, err, "request %" G_GINT64_FORMAT ": a decision is approved or denied",
                        (gint64)id);
    if (!user_name_valid(approver))
        return quar_err(s, err, "request %" G_GINT64_FORMAT ": no valid approver", (gint64)id);
    return o->request_decide(s, id, status, approver, reason, now, err);
}

/* Record how carrying out a request ended. */
int quar_request_finish(quar_store *s, int64_t id, const char *status, const char *result,
                        char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (g_strcmp0(status, "done") != 0 && g_strcmp0(status, "failed") != 0)
        return quar_err(s, err, "request %" G_GINT64_FORMAT ": it ends done or failed", (gint64)id);
    return o->request_finish(s, id, status, result, err);
}

/* Record a single-use download of an approved export. */
int quar_download_put(quar_store *s, const char *token_hash, int64_t request_id, int64_t expires,
                      char **err)
{
    const quar_console_ops *o = ops(s, err);

    if (!o)
        return -1;
    if (!hex64(token_hash))
        return quar_err(s, err, "download: the token hash is 64 hex digits");
    return o->download_put(s, token_hash, request_id, expires, err);
}

/* Use a download once. */
int quar_download_take(quar_store *s, const char *token_hash, int64_t now, int64_t *request_id,
                       char **err)
{
    const quar_console_ops *o = ops(s, err);

    *request_id = 0;
    if (!o)
        return -1;
    return hex64(token_hash) ? o->download_take(s, token_hash, now, request_id, err) : 1;
}

/* Free an account; NULL is fine. */
void quar_user_free(quar_user *u)
{
    if (!u)
        return;
    g_free(u->name);
    g_free(u->role);
    if (u->pwhash)
        memset(u->pwhash, 0, strlen(u->pwhash));
    g_free(u->pwhash);
    g_free(u);
}

/* Free a list of accounts; NULL is fine. */
void quar_user_list_free(quar_user **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        quar_user_free(list[i]);
    g_free(list);
}

/* Free a session; NULL is fine. */
void quar_session_free(quar_session *se)
{
    if (!se)
        return;
    g_free(se->user);
    g_free(se->source);
    g_free(se);
}

/* Free a request; NULL is fine. */
void quar_request_free(quar_request *r)
{
    if (!r)
        return;
    g_free(r->action);
    g_free(r->reason);
    g_free(r->to);
    g_free(r->requester);
    g_free(r->status);
    g_free(r->approver);
    g_free(r->decision_reason);
    g_free(r->result);
    g_free(r);
}

/* Free a list of requests; NULL is fine. */
void quar_request_list_free(quar_request **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        quar_request_free(list[i]);
    g_free(list);
}
