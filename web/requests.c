/*
 * web/requests.c - requests to act on an original (release, export, delete),
 * their approval or denial, carrying them out, and the single-use download
 * of an approved export.
 *
 * Runs in mugai-web. The two-person rule ([web] release_approvals) is kept by
 * the store, which refuses an approval by the requester whatever the client
 * sends; this file carries out only what the store recorded as approved, or
 * what the rule lets an admin do at once. A release reports the listener's
 * real answer (quar_release), never a success that did not happen. Never
 * reads an original but to hand it to the release or to the download.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "web.h"

void web_json_request(JsonBuilder *b, const quar_request *q, const char *download)
{
    json_builder_begin_object(b);
    web_json_int(b, "id", q->id);
    web_json_str(b, "item", q->msg_id);
    web_json_str(b, "action", q->action);
    web_json_str(b, "reason", q->reason);
    json_builder_set_member_name(b, "to");
    if (q->to == NULL || *q->to == '\0') {
        json_builder_add_null_value(b);
    } else {
        gchar **to = g_strsplit(q->to, ",", -1);
        json_builder_begin_array(b);
        for (size_t i = 0; to[i]; i++)
            web_json_add_str(b, to[i]);
        json_builder_end_array(b);
        g_strfreev(to);
    }
    web_json_str(b, "requester", q->requester);
    web_json_time(b, "time", q->time);
    web_json_str(b, "status", q->status);
    web_json_str(b, "approver", q->approver);
    web_json_time(b, "decided", q->decided);
    web_json_str(b, "decision_reason", q->decision_reason);
    web_json_str(b, "result", q->result);
    if (download)
        web_json_str(b, "download", download);
    json_builder_end_object(b);
}

/* Log a store error and answer 500. */
static enum MHD_Result store_failed(web_req *r, const char *what, char *err)
{
    mg_error("%s: %s", what, err ? err : "unknown error");
    free(err);
    return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the quarantine store failed");
}

/* Answer the request rid as stored now (status 200 or 201), with download when not NULL. */
static enum MHD_Result reply_request(web_req *r, unsigned status, int64_t rid, const char *download)
{
    quar_request *q = NULL;
    char *err = NULL;
    JsonBuilder *b;

    if (quar_request_get(r->ctx->store, rid, &q, &err) != 0)
        return store_failed(r, "reading a request back", err);
    b = json_builder_new();
    web_json_request(b, q, download);
    quar_request_free(q);
    return web_reply_json(r, status, b);
}

/* Record how carrying out q ended. */
static void finish(web_req *r, const quar_request *q, const char *status, const char *result)
{
    char *err = NULL;

    if (quar_request_finish(r->ctx->store, q->id, status, result, &err) != 0) {
        mg_error("request %lld: cannot record \"%s\": %s", (long long)q->id, result,
                 err ? err : "unknown request");
        free(err);
    }
}

/* Release q's message through the listener; the outcome on q. */
static void carry_release(web_req *r, const quar_request *q, const char *actor)
{
    const conf *cf = r->ctx->cf;
    quar_listener l = {cf->release_host, cf->release_port, cf->release_helo};
    gchar **rcpts = q->to && *q->to ? g_strsplit(q->to, ",", -1) : NULL;
    quar_msg *m = NULL;
    char *reply = NULL, *err = NULL;
    int rc = quar_get(r->ctx->store, q->msg_id, &m, &err);

    if (rc == 0)
        rc = quar_release(r->ctx->store, &l, m, rcpts, actor, r->source, q->reason, &reply, &err);
    if (rc == 0) {
        finish(r, q, "done", reply);
    } else if (rc == -2) {
        finish(r, q, "failed", reply ? reply : "not sent");
    } else {
        gchar *why = g_strdup_printf("failed: %s", err ? err : "the message is gone");
        mg_error("release of %s: %s", q->msg_id, why);
        finish(r, q, "failed", why);
        g_free(why);
    }
    free(err);
    g_free(reply);
    g_strfreev(rcpts);
    quar_msg_free(m);
}

/* Make q's single-use download; its URL into *download (caller frees). */
static void carry_export(web_req *r, const quar_request *q, char **download)
{
    char token[65], hash[65], iso[32], *err = NULL;
    int64_t expires = (int64_t)time(NULL) + (int64_t)r->ctx->cf->web_download_minutes * 60;

    if (web_random_hex(token) < 0) {
        finish(r, q, "failed", "failed: no random token");
        return;
    }
    web_sha256_hex(token, hash);
    if (quar_download_put(r->ctx->store, hash, q->id, expires, &err) < 0) {
        mg_error("download of request %lld: %s", (long long)q->id, err);
        free(err);
        finish(r, q, "failed", "failed: cannot record the download");
        return;
    }
    web_iso_time(expires, iso);
    gchar *result = g_strdup_printf("download ready until %s", iso);
    finish(r, q, "done", result);
    g_free(result);
    *download = g_strconcat(WEB_API_PREFIX, "downloads/", token, NULL);
}

/* Delete q's original. */
static void carry_delete(web_req *r, const quar_request *q, const char *actor)
{
    char *err = NULL;
    int rc = quar_remove(r->ctx->store, q->msg_id, "deleted", &err);

    if (rc == 0) {
        finish(r, q, "done", "deleted");
        web_audit(r, actor, q->msg_id, "deleted", q->reason, NULL, "ok");
    } else {
        gchar *why = g_strdup_printf("failed: %s", err ? err : "no such message");
        finish(r, q, "failed", why);
        web_audit(r, actor, q->msg_id, "deleted", q->reason, NULL, why);
        g_free(why);
    }
    free(err);
}

/* Carry out an approved (or at once allowed) request as actor. */
static void carry_out(web_req *r, const quar_request *q, const char *actor, char **download)
{
    if (strcmp(q->action, "release") == 0)
        carry_release(r, q, actor);
    else if (strcmp(q->action, "export") == 0)
        carry_export(r, q, download);
    else
        carry_delete(r, q, actor);
}

/* The "to" member: a comma-joined list of valid addresses into *out (NULL when absent). 0, or
 * -1 with *why. */
static int parse_to(JsonObject *in, char **out, const char **why)
{
    JsonNode *n = json_object_get_member(in, "to");
    GString *s;
    JsonArray *a;

    *out = NULL;
    if (n == NULL || JSON_NODE_HOLDS_NULL(n))
        return 0;
    *why = "to must be a list of addresses";
    if (!JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(a = json_node_get_array(n)) == 0 ||
        json_array_get_length(a) > 100)
        return -1;
    s = g_string_new(NULL);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *addr = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                               ? json_node_get_string(e)
                               : NULL;
        if (!web_addr_valid(addr)) {
            *why = "to holds something that is not an address";
            g_string_free(s, TRUE);
            return -1;
        }
        g_string_append_printf(s, "%s%s", i ? "," : "", addr);
    }
    *out = g_string_free(s, FALSE);
    return 0;
}

/* Non-zero when the rule lets the signed-in user's request of action happen at once. */
static int at_once(web_req *r, const char *action)
{
    if (r->role != WEB_ROLE_ADMIN)
        return 0;
    return strcmp(action, "delete") == 0 || r->ctx->cf->web_release_approvals == 1;
}

/* Non-zero when a reason says something (not only blanks) and is at most 2000 bytes. */
static int reason_ok(const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;

    return n > 0 && n <= 2000 && strspn(reason, " \t\r\n") < n;
}

/* Check the body of a new request: action, reason, to. 0 or an HTTP status with *why. */
static unsigned check_new(web_req *r, const char **action, const char **reason, char **to,
                          const char **why)
{
    int bad = 0;

    *action = web_json_get_str(r->in, "action", &bad);
    *reason = web_json_get_str(r->in, "reason", &bad);
    *why = "action must be release, export or delete";
    if (bad || *action == NULL ||
        (strcmp(*action, "release") && strcmp(*action, "export") && strcmp(*action, "delete")))
        return MHD_HTTP_BAD_REQUEST;
    *why = "a reason is required (at most 2000 bytes)";
    if (!reason_ok(*reason))
        return MHD_HTTP_BAD_REQUEST;
    if (parse_to(r->in, to, why) < 0)
        return MHD_HTTP_BAD_REQUEST;
    if (*to != NULL && r->role != WEB_ROLE_ADMIN) {
        *why = "only an admin may release to other recipients";
        return MHD_HTTP_FORBIDDEN;
    }
    if (*to != NULL && strcmp(*action, "release") != 0) {
        *why = "to is for a release only";
        return MHD_HTTP_BAD_REQUEST;
    }
    return 0;
}

/* 0 when message id exists and still holds its original, else an HTTP status with *why. */
static unsigned original_kept(web_req *r, const char *id, const char **why)
{
    quar_msg *m = NULL;
    char *err = NULL;
    int rc = quar_get(r->ctx->store, id, &m, &err);
    unsigned st = 0;

    if (rc < 0)
        mg_error("message %s: %s", id, err);
    free(err);
    if (rc != 0) {
        *why = rc > 0 ? "no such message" : "the quarantine store failed";
        return rc > 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (m->status && (strcmp(m->status, "deleted") == 0 || strcmp(m->status, "purged") == 0)) {
        *why = "the message's original is no longer kept";
        st = MHD_HTTP_CONFLICT;
    }
    quar_msg_free(m);
    return st;
}

enum MHD_Result web_request_add(web_req *r)
{
    const char *action, *reason, *why;
    char *to = NULL, *err = NULL, *download = NULL;
    quar_request q;
    unsigned st = check_new(r, &action, &reason, &to, &why);
    enum MHD_Result rc;
    int added;

    if (st != 0) {
        g_free(to);
        return web_reply_error(r, st, why);
    }
    memset(&q, 0, sizeof(q));
    if (g_strlcpy(q.msg_id, r->args[0], sizeof(q.msg_id)) >= sizeof(q.msg_id)) {
        g_free(to);
        return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such message");
    }
    if ((st = original_kept(r, q.msg_id, &why)) != 0) {
        g_free(to);
        return web_reply_error(r, st, why);
    }
    q.action = (char *)action;
    q.reason = (char *)reason;
    q.to = to;
    q.requester = r->user->name;
    added = quar_request_add(r->ctx->store, &q, &err);
    if (added == 0) {
        gchar *detail = g_strdup_printf("request %lld: %s%s%s", (long long)q.id, action,
                                        to ? " to " : "", to ? to : "");
        web_audit(r, NULL, q.msg_id, "requested", reason, detail, "ok");
        g_free(detail);
        if (at_once(r, action))
            carry_out(r, &q, r->user->name, &download);
    }
    g_free(to);
    g_free(q.status); /* set by the store */
    if (added < 0)
        return store_failed(r, "adding a request", err);
    free(err);
    if (added == 1)
        return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such message");
    if (added == 2)
        return web_reply_error(r, MHD_HTTP_CONFLICT,
                               "a request of this action on this message is already pending");
    rc = reply_request(r, MHD_HTTP_CREATED, q.id, download);
    g_free(download);
    return rc;
}

enum MHD_Result web_requests_list(web_req *r)
{
    const char *status = web_query(r, "status"), *item = web_query(r, "item");
    quar_request **list = NULL;
    size_t n = 0;
    char *err = NULL;
    JsonBuilder *b;

    static const char *const known[] = {"pending", "approved", "denied", "done", "failed"};
    int found = status == NULL || *status == '\0';

    for (size_t i = 0; i < G_N_ELEMENTS(known) && !found; i++)
        found = strcmp(status, known[i]) == 0;
    if (!found)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
                               "status must be pending, approved, denied, done or failed");
    if (quar_request_list(r->ctx->store, status && *status ? status : NULL,
                          item && *item ? item : NULL, &list, &n, &err) < 0)
        return store_failed(r, "listing requests", err);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "items");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++)
        web_json_request(b, list[i], NULL);
    json_builder_end_array(b);
    json_builder_end_object(b);
    quar_request_list_free(list, n);
    return web_reply_json(r, MHD_HTTP_OK, b);
}

/* The request named in the path into *q: 0, or an HTTP status with *why. */
static unsigned path_request(web_req *r, quar_request **q, const char **why)
{
    unsigned id;
    char *err = NULL;
    int rc;

    *why = "no such request";
    if (web_parse_uint(r->args[0], 2000000000u, &id) < 0)
        return MHD_HTTP_NOT_FOUND;
    rc = quar_request_get(r->ctx->store, id, q, &err);
    if (rc < 0)
        mg_error("request %u: %s", id, err);
    free(err);
    if (rc < 0)
        *why = "the quarantine store failed";
    return rc == 0 ? 0 : rc > 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* Decide the path's request (status "approved" or "denied"); carry out an approval. */
static enum MHD_Result decide(web_req *r, const char *status, const char *event)
{
    int bad = 0, rc;
    const char *reason = web_json_get_str(r->in, "reason", &bad), *why;
    quar_request *q = NULL;
    char *err = NULL, *download = NULL;
    unsigned st;
    enum MHD_Result res;

    if (bad || !reason_ok(reason))
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
                               "a reason is required (at most 2000 bytes)");
    if ((st = path_request(r, &q, &why)) != 0)
        return web_reply_error(r, st, why);
    gchar *detail = g_strdup_printf("request %lld: %s", (long long)q->id, q->action);
    rc = quar_request_decide(r->ctx->store, q->id, status, r->user->name, reason,
                             (int64_t)time(NULL), &err);
    if (rc == 0) {
        web_audit(r, NULL, q->msg_id, event, reason, detail, "ok");
        if (strcmp(status, "approved") == 0)
            carry_out(r, q, r->user->name, &download);
        res = reply_request(r, MHD_HTTP_OK, q->id, download);
    } else if (rc == 3) {
        web_audit(r, NULL, q->msg_id, event, reason, detail,
                  "refused: the requester cannot decide their own request");
        res = web_reply_error(r, MHD_HTTP_FORBIDDEN,
                              strcmp(status, "approved") == 0
                                  ? "the requester cannot approve their own request"
                                  : "the requester cannot deny their own request");
    } else if (rc == 2) {
        res = web_reply_error(r, MHD_HTTP_CONFLICT, "the request is not pending");
    } else if (rc == 1) {
        res = web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such request");
    } else {
        res = store_failed(r, "deciding a request", err);
        err = NULL;
    }
    free(err);
    g_free(detail);
    g_free(download);
    quar_request_free(q);
    return res;
}

enum MHD_Result web_request_approve(web_req *r)
{
    return decide(r, "approved", "approved");
}

enum MHD_Result web_request_deny(web_req *r)
{
    return decide(r, "denied", "denied");
}

/* Open the original of q's message for the download: 0 with *fd and *size, or a status. */
static unsigned open_export(web_req *r, const quar_request *q, int *fd, uint64_t *size)
{
    struct stat st;
    char *err = NULL;

    if (quar_open_original(r->ctx->store, q->msg_id, fd, &err) != 0) {
        mg_error("download of %s: %s", q->msg_id, err ? err : "no original");
        web_audit(r, NULL, q->msg_id, "exported", q->reason, "download",
                  "failed: the original cannot be read");
        free(err);
        return MHD_HTTP_NOT_FOUND;
    }
    if (fstat(*fd, &st) < 0) {
        mg_error("download of %s: %s", q->msg_id, strerror(errno));
        close(*fd);
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Put back a download that someone not entitled to it tried (the store hands a download out
 * only by using it up), valid until it would have expired: the approval (or the request,
 * carried out at once) plus [web] download_minutes. */
static void give_back(web_req *r, const char *hash, const quar_request *q)
{
    int64_t from = q->decided ? q->decided : q->time;
    int64_t expires = from + (int64_t)r->ctx->cf->web_download_minutes * 60;
    char *err = NULL;

    if (expires > (int64_t)time(NULL) &&
        quar_download_put(r->ctx->store, hash, q->id, expires, &err) < 0) {
        mg_error("download of request %lld: cannot put it back: %s", (long long)q->id, err);
        free(err);
    }
}

enum MHD_Result web_download(web_req *r)
{
    char hash[65], *err = NULL;
    int64_t rid = 0;
    quar_request *q = NULL;
    int fd = -1, rc;
    uint64_t size = 0;
    unsigned st;
    char name[40];

    if (!web_token_valid(r->args[0]))
        return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such download");
    web_sha256_hex(r->args[0], hash);
    rc = quar_download_take(r->ctx->store, hash, (int64_t)time(NULL), &rid, &err);
    if (rc < 0)
        return store_failed(r, "taking a download", err);
    free(err);
    if (rc > 0 || quar_request_get(r->ctx->store, rid, &q, &err) != 0) {
        free(err);
        return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such download (used or expired)");
    }
    if (strcmp(q->requester, r->user->name) != 0 &&
        (q->approver == NULL || strcmp(q->approver, r->user->name) != 0)) {
        web_audit(r, NULL, q->msg_id, "exported", q->reason, "download",
                  "refused: neither requester nor approver");
        give_back(r, hash, q);
        quar_request_free(q);
        return web_reply_error(r, MHD_HTTP_FORBIDDEN,
                               "only the requester or the approver may download it");
    }
    st = open_export(r, q, &fd, &size);
    if (st == 0)
        web_audit(r, NULL, q->msg_id, "exported", q->reason, "download", "ok");
    if (mg_snprintf(name, sizeof(name), "%s.eml", q->msg_id) < 0)
        g_strlcpy(name, "original.eml", sizeof(name));
    quar_request_free(q);
    if (st != 0)
        return web_reply_error(r, st, "the original cannot be read");
    return web_reply_file(r, fd, size, name);
}
