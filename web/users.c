/*
 * web/users.c - console accounts over the API (admin only): list, add, and
 * change role, password or disabled state.
 *
 * Runs in mugai-web. Passwords arrive in the request body, are hashed with
 * argon2id (outside the store lock) and never kept, logged or returned.
 * Disabling an account or setting its password ends its sessions. Every
 * change is audited.
 */
#include <string.h>
#include <time.h>

#include <glib.h>

#include "mg.h"
#include "web.h"

/* Add an account object. */
static void json_user(JsonBuilder *b, const quar_user *u, int64_t now)
{
    json_builder_begin_object(b);
    web_json_str(b, "name", u->name);
    web_json_str(b, "role", u->role);
    json_builder_set_member_name(b, "disabled");
    json_builder_add_boolean_value(b, u->disabled != 0);
    web_json_time(b, "created", u->created);
    web_json_time(b, "locked_until", u->locked_until > now ? u->locked_until : 0);
    json_builder_end_object(b);
}

enum MHD_Result web_users_list(web_req *r)
{
    quar_user **list = NULL;
    size_t n = 0;
    char *err = NULL;
    JsonBuilder *b;

    if (quar_user_list(r->ctx->store, &list, &n, &err) < 0) {
        mg_error("user list: %s", err);
        free(err);
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list the accounts");
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "items");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++)
        json_user(b, list[i], (int64_t)time(NULL));
    json_builder_end_array(b);
    json_builder_end_object(b);
    quar_user_list_free(list, n);
    return web_reply_json(r, MHD_HTTP_OK, b);
}

/* Answer the account name as stored now. */
static enum MHD_Result reply_user(web_req *r, unsigned status, const char *name)
{
    quar_user *u = NULL;
    char *err = NULL;
    JsonBuilder *b;

    if (quar_user_get(r->ctx->store, name, &u, &err) != 0) {
        mg_error("reading account %s back: %s", name, err ? err : "gone");
        free(err);
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the quarantine store failed");
    }
    b = json_builder_new();
    json_user(b, u, (int64_t)time(NULL));
    quar_user_free(u);
    return web_reply_json(r, status, b);
}

/* Hash password outside the store lock; NULL with *why when too short or hashing failed. */
static char *hash_unlocked(web_req *r, const char *password, const char **why)
{
    char *h;

    if (g_utf8_strlen(password, -1) < WEB_PASSWORD_MIN || strlen(password) > WEB_PASSWORD_MAX) {
        *why = "a password has at least 12 characters";
        return NULL;
    }
    pthread_mutex_unlock(&r->ctx->lock);
    h = web_password_hash(password);
    pthread_mutex_lock(&r->ctx->lock);
    *why = "cannot hash the password";
    return h;
}

enum MHD_Result web_user_add(web_req *r)
{
    int bad = 0, rc;
    const char *name = web_json_get_str(r->in, "name", &bad);
    const char *role = web_json_get_str(r->in, "role", &bad);
    const char *password = web_json_get_str(r->in, "password", &bad), *why;
    quar_user u;
    char *err = NULL, detail[96];

    if (bad || name == NULL || role == NULL || password == NULL)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "send {\"name\", \"role\", \"password\"}");
    if (web_role_parse(role) == WEB_ROLE_NONE)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "role must be admin, reviewer or auditor");
    if (!g_utf8_validate(password, -1, NULL))
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "the password is not UTF-8");
    memset(&u, 0, sizeof(u));
    u.pwhash = hash_unlocked(r, password, &why);
    if (u.pwhash == NULL)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    u.name = (char *)name;
    u.role = (char *)role;
    u.created = (int64_t)time(NULL);
    rc = quar_user_add(r->ctx->store, &u, &err);
    g_free(u.pwhash);
    if (rc < 0) {
        /* The store refuses a malformed name with -1 as well; say so as bad input. */
        mg_warn("adding account %s: %s", name, err);
        free(err);
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
                               "cannot add the account (names: 1-64 of A-Z a-z 0-9 . _ @ -)");
    }
    free(err);
    if (rc == 2)
        return web_reply_error(r, MHD_HTTP_CONFLICT, "an account of that name exists");
    if (mg_snprintf(detail, sizeof(detail), "%s as %s", name, role) < 0)
        g_strlcpy(detail, name, sizeof(detail));
    web_audit(r, NULL, NULL, "user-added", NULL, detail, "ok");
    return reply_user(r, MHD_HTTP_CREATED, name);
}

/* Set one field of the path's account and audit it; 0, 1 unknown, -1 store error. */
static int set_field(web_req *r, const char *field, const char *value, const char *what)
{
    char *err = NULL, detail[128];
    int rc = quar_user_set(r->ctx->store, r->args[0], field, value, &err);

    if (rc < 0)
        mg_error("changing account %s: %s", r->args[0], err);
    free(err);
    if (rc != 0)
        return rc;
    if (mg_snprintf(detail, sizeof(detail), "%s: %s", r->args[0], what) < 0)
        g_strlcpy(detail, what, sizeof(detail));
    web_audit(r, NULL, NULL, "user-changed", NULL, detail, "ok");
    return 0;
}

/* Read the change's members; 0 or -1 with *why. disabled is -1 when absent. */
static int change_body(web_req *r, const char **role, int *disabled, const char **password,
                       const char **why)
{
    int bad = 0;
    JsonNode *d = json_object_get_member(r->in, "disabled");

    *role = web_json_get_str(r->in, "role", &bad);
    *password = web_json_get_str(r->in, "password", &bad);
    *disabled = -1;
    *why = "send {\"role\"?, \"disabled\"?: true|false, \"password\"?}";
    if (d != NULL) {
        if (!JSON_NODE_HOLDS_VALUE(d) || json_node_get_value_type(d) != G_TYPE_BOOLEAN)
            return -1;
        *disabled = json_node_get_boolean(d);
    }
    if (bad || (*role == NULL && *password == NULL && *disabled < 0))
        return -1;
    if (*role != NULL && web_role_parse(*role) == WEB_ROLE_NONE) {
        *why = "role must be admin, reviewer or auditor";
        return -1;
    }
    return 0;
}

/* Drop every session of the path's account (it was disabled or got a new password). */
static void end_sessions(web_req *r)
{
    char *err = NULL;

    if (quar_session_drop(r->ctx->store, NULL, r->args[0], &err) < 0) {
        mg_error("ending the sessions of %s: %s", r->args[0], err);
        free(err);
    }
}

enum MHD_Result web_user_change(web_req *r)
{
    const char *role, *password, *why;
    int disabled, rc = 0;
    quar_user *u = NULL;
    char *err = NULL, *hash = NULL;

    if (change_body(r, &role, &disabled, &password, &why) < 0)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    rc = quar_user_get(r->ctx->store, r->args[0], &u, &err);
    free(err);
    quar_user_free(u);
    if (rc != 0)
        return web_reply_error(r, rc > 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR,
                               rc > 0 ? "no such account" : "the quarantine store failed");
    if (password != NULL && (hash = hash_unlocked(r, password, &why)) == NULL)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    if (role != NULL)
        rc = set_field(r, "role", role, role);
    if (rc == 0 && disabled >= 0)
        rc = set_field(r, "disabled", disabled ? "1" : "0", disabled ? "disabled" : "enabled");
    if (rc == 0 && hash != NULL)
        rc = set_field(r, "pwhash", hash, "password set");
    g_free(hash);
    if (rc == 0 && (disabled == 1 || password != NULL))
        end_sessions(r);
    if (rc != 0)
        return web_reply_error(r, rc > 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR,
                               rc > 0 ? "no such account" : "the quarantine store failed");
    return reply_user(r, MHD_HTTP_OK, r->args[0]);
}
