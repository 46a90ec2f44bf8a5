/*
 * web/session.c - sign-in, sign-out and the session behind every request.
 *
 * Runs in mugai-web on untrusted input (names, passwords, cookies). A session
 * is 256 random bits in a cookie; the store keeps only its SHA-256, the user,
 * the CSRF token and its times. Every failure to sign in gets the same 401
 * answer, whether the account is unknown, disabled, locked or the password
 * wrong; an unknown account still costs one argon2 check. Never logs or
 * stores a password or a cookie value.
 */
#include <string.h>
#include <time.h>

#include <glib.h>

#include "mg.h"
#include "web.h"

#define LOGIN_FAILED "wrong user name or password"

/* The session cookie's name: __Host- prefixed under TLS. */
static const char *cookie_name(const web_req *r)
{
    return r->ctx->tls ? "__Host-mugai_session" : "mugai_session";
}

/* Non-zero when the browser reaches the console over HTTPS: served under TLS, or plain HTTP
 * behind a TLS proxy, where the browser's Origin (checked in http.c) is https://HOST. */
static int browser_on_https(web_req *r)
{
    const char *origin = web_header(r, "Origin");

    return r->ctx->tls || (origin != NULL && g_str_has_prefix(origin, "https://"));
}

/* Set (value) or clear (NULL) the session cookie on r's reply. Secure whenever the browser
 * is on HTTPS, also behind a proxy: else it would send the cookie in clear text to any
 * plain-HTTP service of the same host name (cookies do not tell ports apart). */
static void set_cookie(web_req *r, const char *value)
{
    g_free(r->set_cookie);
    r->set_cookie = g_strdup_printf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", cookie_name(r),
                                    value ? value : "", value ? "" : "; Max-Age=0",
                                    browser_on_https(r) ? "; Secure" : "");
}

/* Why r's session (looked up) may not be used now, or NULL when it may: idle or too old, its
 * account gone or disabled. Sets r->user. */
static const char *session_refused(web_req *r, int64_t now)
{
    const conf *cf = r->ctx->cf;
    char *err = NULL;
    int rc;

    if (now - r->session->last_seen >= (int64_t)cf->web_session_idle_minutes * 60 ||
        now - r->session->created >= (int64_t)cf->web_session_max_hours * 3600)
        return "session expired; sign in again";
    rc = quar_user_get(r->ctx->store, r->session->user, &r->user, &err);
    if (rc < 0)
        mg_error("account %s: %s", r->session->user, err);
    free(err);
    if (rc != 0)
        return "account gone; sign in again";
    return r->user->disabled ? "account disabled" : NULL;
}

unsigned web_session_check(web_req *r, const char **why)
{
    const char *cookie = MHD_lookup_connection_value(r->con, MHD_COOKIE_KIND, cookie_name(r));
    int64_t now = (int64_t)time(NULL);
    char *err = NULL;
    int rc;

    *why = "not signed in";
    if (!web_token_valid(cookie))
        return MHD_HTTP_UNAUTHORIZED;
    web_sha256_hex(cookie, r->token_hash);
    rc = quar_session_get(r->ctx->store, r->token_hash, &r->session, &err);
    if (rc < 0)
        mg_error("session lookup: %s", err);
    free(err);
    err = NULL;
    if (rc != 0)
        return MHD_HTTP_UNAUTHORIZED;
    if ((*why = session_refused(r, now)) != NULL) {
        if (quar_session_drop(r->ctx->store, r->token_hash, NULL, &err) < 0) {
            mg_warn("session drop: %s", err);
            free(err);
        }
        return MHD_HTTP_UNAUTHORIZED;
    }
    r->role = web_role_parse(r->user->role);
    if (quar_session_touch(r->ctx->store, r->token_hash, now, &err) < 0) {
        mg_warn("session touch: %s", err);
        free(err);
    }
    return 0;
}

/* Record a failed sign-in of name (counting it against an existing account) and answer 401. */
static enum MHD_Result login_refused(web_req *r, const char *name, const quar_user *u,
                                     const char *outcome)
{
    const conf *cf = r->ctx->cf;
    char *err = NULL;
    int locked = 0;

    if (u != NULL && strcmp(outcome, "refused: wrong password") == 0 &&
        quar_login_failed(r->ctx->store, name, (int64_t)time(NULL), cf->web_lockout_failures,
                          (int64_t)cf->web_lockout_minutes * 60, &locked, &err) < 0) {
        mg_error("counting a failed sign-in of %s: %s", name, err);
        free(err);
    }
    web_audit(r, name, NULL, "login-failed", NULL, NULL, outcome);
    if (locked) {
        char detail[96];
        if (mg_snprintf(detail, sizeof(detail), "%u failed sign-ins; locked for %u minutes",
                        cf->web_lockout_failures, cf->web_lockout_minutes) < 0)
            g_strlcpy(detail, "locked", sizeof(detail));
        web_audit(r, name, NULL, "lockout", NULL, detail, "ok");
        mg_warn("account %s locked after %u failed sign-ins from %s", name,
                cf->web_lockout_failures, r->source);
    }
    return web_reply_error(r, MHD_HTTP_UNAUTHORIZED, LOGIN_FAILED);
}

/* Open a session for u: cookie, CSRF token, stored by hash. 0 or -1. */
static int open_session(web_req *r, const quar_user *u, char csrf[65])
{
    quar_session se;
    char token[65];
    char *err = NULL;
    int64_t now = (int64_t)time(NULL);
    const conf *cf = r->ctx->cf;

    if (web_random_hex(token) < 0 || web_random_hex(csrf) < 0)
        return -1;
    memset(&se, 0, sizeof(se));
    web_sha256_hex(token, se.token_hash);
    g_strlcpy(se.csrf, csrf, sizeof(se.csrf));
    se.user = u->name;
    se.created = se.last_seen = now;
    se.source = r->source;
    if (quar_session_prune(r->ctx->store, now - (int64_t)cf->web_session_idle_minutes * 60,
                           now - (int64_t)cf->web_session_max_hours * 3600, &err) < 0 ||
        quar_session_put(r->ctx->store, &se, &err) < 0 ||
        quar_login_ok(r->ctx->store, u->name, &err) < 0) {
        mg_error("opening a session for %s: %s", u->name, err);
        free(err);
        return -1;
    }
    set_cookie(r, token);
    return 0;
}

/* Answer {"csrf","user","role"} (+ "approvals" for me). */
static enum MHD_Result reply_identity(web_req *r, const quar_user *u, const char *csrf,
                                      int with_approvals)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    web_json_str(b, "csrf", csrf);
    web_json_str(b, "user", u->name);
    web_json_str(b, "role", u->role);
    if (with_approvals)
        web_json_int(b, "approvals", r->ctx->cf->web_release_approvals);
    json_builder_end_object(b);
    return web_reply_json(r, MHD_HTTP_OK, b);
}

/* Look up name and check password (argon2 outside the lock). The account into *u (NULL when
 * unknown); 1 when the password matches. */
static int check_password(web_req *r, const char *name, const char *password, quar_user **u)
{
    char *err = NULL;
    int rc = quar_user_get(r->ctx->store, name, u, &err), ok;
    char *hash;

    if (rc < 0) {
        mg_error("sign-in of %s: %s", name, err);
        free(err);
    }
    if (rc != 0)
        *u = NULL;
    hash = *u ? g_strdup((*u)->pwhash) : NULL;
    r->ctx->signing_in++;
    pthread_mutex_unlock(&r->ctx->lock);
    ok = web_password_verify(hash, password);
    pthread_mutex_lock(&r->ctx->lock);
    r->ctx->signing_in--;
    g_free(hash);
    return ok;
}

enum MHD_Result web_login(web_req *r)
{
    int bad = 0, ok;
    const char *name = web_json_get_str(r->in, "user", &bad);
    const char *password = web_json_get_str(r->in, "password", &bad);
    quar_user *u = NULL;
    char csrf[65];
    enum MHD_Result rc;
    gchar *safe;

    if (bad || name == NULL || password == NULL || *name == '\0' || strlen(name) > 64 ||
        strlen(password) > WEB_PASSWORD_MAX)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "send {\"user\": ..., \"password\": ...}");
    /* Each password check holds one of the WEB_THREADS threads for a quarter of a second and
     * 64 MiB: a flood of sign-ins (anyone may send them) must leave threads to the signed-in
     * users. Refused before the account is looked up: it tells nothing and counts nothing. */
    if (r->ctx->signing_in >= WEB_SIGNIN_PARALLEL)
        return web_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "too many sign-ins at this moment; try again in a second");
    safe = mg_utf8_safe(name, -1);
    ok = check_password(r, safe, password, &u);
    if (u == NULL)
        rc = login_refused(r, safe, NULL, "refused: unknown user");
    else if (u->disabled)
        rc = login_refused(r, safe, u, "refused: account disabled");
    else if (u->locked_until > (int64_t)time(NULL))
        rc = login_refused(r, safe, u, "refused: account locked");
    else if (!ok)
        rc = login_refused(r, safe, u, "refused: wrong password");
    else if (web_role_parse(u->role) == WEB_ROLE_NONE)
        rc = login_refused(r, safe, u, "refused: unknown role");
    else if (open_session(r, u, csrf) < 0)
        rc = web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot open a session");
    else {
        web_audit(r, u->name, NULL, "login", NULL, u->role, "ok");
        rc = reply_identity(r, u, csrf, 0);
    }
    quar_user_free(u);
    g_free(safe);
    return rc;
}

enum MHD_Result web_logout(web_req *r)
{
    JsonBuilder *b;
    char *err = NULL;

    if (quar_session_drop(r->ctx->store, r->token_hash, NULL, &err) < 0) {
        mg_error("signing out %s: %s", r->user->name, err);
        free(err);
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot end the session");
    }
    web_audit(r, NULL, NULL, "logout", NULL, NULL, "ok");
    set_cookie(r, NULL);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
    return web_reply_json(r, MHD_HTTP_OK, b);
}

enum MHD_Result web_me(web_req *r)
{
    return reply_identity(r, r->user, r->session->csrf, 1);
}
