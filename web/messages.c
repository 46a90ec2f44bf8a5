/*
 * web/messages.c - the quarantined messages: the filtered list (GET messages)
 * and one message's record (GET messages/ID).
 *
 * Runs in mugai-web. Shows only what the store recorded (envelope, decoded
 * headers, parts and their fates, held encrypted parts and their state, the
 * text the recipients received, events, requests); never opens or parses an
 * original. Changes nothing.
 */
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "web.h"

/* Add the list members of m (shared with the full record). */
static void msg_summary(JsonBuilder *b, const quar_msg *m)
{
    web_json_str(b, "id", m->id);
    web_json_time(b, "time", m->time);
    web_json_str(b, "sender", m->sender);
    json_builder_set_member_name(b, "recipients");
    json_builder_begin_array(b);
    for (size_t i = 0; m->recipients && m->recipients[i]; i++)
        web_json_add_str(b, m->recipients[i]);
    json_builder_end_array(b);
    web_json_str(b, "subject", m->subject);
    web_json_str(b, "verdict", m->verdict);
    web_json_str(b, "status", m->status);
    web_json_int(b, "size", (int64_t)m->size);
}

/* Fill f from the query; 0, or -1 with *why. */
static int list_filter(web_req *r, quar_filter *f, const char **why)
{
    const char *since = web_query(r, "since"), *until = web_query(r, "until");

    memset(f, 0, sizeof(*f));
    *why = "limit must be 1-500, offset a number";
    if (web_paging(r, &f->limit, &f->offset) < 0)
        return -1;
    *why = "since and until are YYYY-MM-DD or unix seconds";
    if ((since && *since && web_parse_time(since, 0, &f->since) < 0) ||
        (until && *until && web_parse_time(until, 1, &f->until) < 0))
        return -1;
    f->q = web_query(r, "q");
    f->sender = web_query(r, "sender");
    f->recipient = web_query(r, "recipient");
    f->verdict = web_query(r, "verdict");
    f->status = web_query(r, "status");
    /* An empty filter field (a form's blank input) filters nothing. */
    f->q = f->q && *f->q ? f->q : NULL;
    f->sender = f->sender && *f->sender ? f->sender : NULL;
    f->recipient = f->recipient && *f->recipient ? f->recipient : NULL;
    f->verdict = f->verdict && *f->verdict ? f->verdict : NULL;
    f->status = f->status && *f->status ? f->status : NULL;
    return 0;
}

enum MHD_Result web_messages_list(web_req *r)
{
    quar_filter f;
    quar_msg **list = NULL;
    size_t n = 0, total = 0;
    char *err = NULL;
    const char *why;
    JsonBuilder *b;

    if (list_filter(r, &f, &why) < 0)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    if (quar_count(r->ctx->store, &f, &total, &err) < 0 ||
        quar_list(r->ctx->store, &f, &list, &n, &err) < 0) {
        mg_error("message list: %s", err);
        free(err);
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list the messages");
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    web_json_int(b, "total", (int64_t)total);
    json_builder_set_member_name(b, "items");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        json_builder_begin_object(b);
        msg_summary(b, list[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    quar_msg_list_free(list, n);
    return web_reply_json(r, MHD_HTTP_OK, b);
}

/* Add "headers": the recorded "Name: value" lines as objects. */
static void msg_headers(JsonBuilder *b, const char *headers)
{
    gchar **lines = g_strsplit(headers ? headers : "", "\n", -1);

    json_builder_set_member_name(b, "headers");
    json_builder_begin_array(b);
    for (size_t i = 0; lines[i]; i++) {
        char *colon = strchr(lines[i], ':');
        if (colon == NULL || colon == lines[i])
            continue;
        *colon = '\0';
        json_builder_begin_object(b);
        web_json_str(b, "name", lines[i]);
        web_json_str(b, "value", colon + 1 + strspn(colon + 1, " \t"));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    g_strfreev(lines);
}

/* Add "parts". */
static void msg_parts(JsonBuilder *b, const quar_msg *m)
{
    json_builder_set_member_name(b, "parts");
    json_builder_begin_array(b);
    for (size_t i = 0; i < m->nparts; i++) {
        const quar_part *p = &m->parts[i];
        json_builder_begin_object(b);
        web_json_str(b, "path", p->path);
        web_json_str(b, "filename", p->filename);
        web_json_str(b, "declared_type", p->declared_type);
        web_json_str(b, "detected_type", p->detected_type);
        web_json_int(b, "size", (int64_t)p->size);
        web_json_str(b, "sha256", p->sha256);
        web_json_str(b, "action", p->action);
        web_json_str(b, "reason", p->reason);
        web_json_str(b, "signature", p->signature);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Add "held": the message's encrypted parts held for a password, and their state. 0 or -1
 * (logged). */
static int msg_held(web_req *r, JsonBuilder *b, const char *id)
{
    quar_held_filter f = {.msg_id = id};
    quar_held **hs = NULL;
    size_t n = 0;
    char *err = NULL;

    if (quar_held_list(r->ctx->store, &f, &hs, &n, &err) != 0) {
        mg_error("held parts of %s: %s", id, err ? err : "unknown error");
        free(err);
        return -1;
    }
    json_builder_set_member_name(b, "held");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        json_builder_begin_object(b);
        web_json_str(b, "part", hs[i]->part);
        web_json_str(b, "filename", hs[i]->filename);
        web_json_str(b, "status", hs[i]->status);
        web_json_int(b, "attempts", hs[i]->attempts);
        web_json_time(b, "expires", hs[i]->expires);
        web_json_str(b, "opened_by", hs[i]->opened_by);
        web_json_time(b, "opened", hs[i]->opened);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    quar_held_list_free(hs, n);
    return 0;
}

/* Add "events" and "requests" of the message. 0 or -1 (logged). */
static int msg_history(web_req *r, JsonBuilder *b, const char *id)
{
    quar_event **evs = NULL;
    quar_request **reqs = NULL;
    size_t nev = 0, nreq = 0;
    char *err = NULL;

    if (quar_events(r->ctx->store, id, &evs, &nev, &err) < 0 ||
        quar_request_list(r->ctx->store, NULL, id, &reqs, &nreq, &err) < 0) {
        mg_error("history of %s: %s", id, err);
        free(err);
        quar_event_list_free(evs, nev);
        return -1;
    }
    json_builder_set_member_name(b, "events");
    json_builder_begin_array(b);
    for (size_t i = 0; i < nev; i++)
        web_json_event(b, evs[i]);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "requests");
    json_builder_begin_array(b);
    for (size_t i = 0; i < nreq; i++)
        web_json_request(b, reqs[i], NULL);
    json_builder_end_array(b);
    quar_event_list_free(evs, nev);
    quar_request_list_free(reqs, nreq);
    return 0;
}

enum MHD_Result web_message_get(web_req *r)
{
    quar_msg *m = NULL;
    char *err = NULL;
    int rc = quar_get(r->ctx->store, r->args[0], &m, &err);
    JsonBuilder *b;

    if (rc != 0) {
        if (rc < 0)
            mg_error("message %s: %s", r->args[0], err);
        free(err);
        return rc > 0 ? web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such message")
                      : web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read it");
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    msg_summary(b, m);
    web_json_str(b, "queue_id", m->queue_id);
    web_json_str(b, "client", m->client);
    web_json_str(b, "from", m->from);
    web_json_str(b, "message_id", m->message_id);
    web_json_str(b, "sha256", m->sha256);
    web_json_time(b, "expires", m->expires);
    msg_headers(b, m->headers);
    msg_parts(b, m);
    web_json_str(b, "clean_text", m->clean_text);
    web_json_str(b, "release_result", m->release_result);
    if (msg_held(r, b, m->id) < 0 || msg_history(r, b, m->id) < 0) {
        g_object_unref(b);
        quar_msg_free(m);
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read its history");
    }
    json_builder_end_object(b);
    quar_msg_free(m);
    return web_reply_json(r, MHD_HTTP_OK, b);
}
