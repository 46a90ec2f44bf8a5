/*
 * web/audit.c - the audit trail: recording the console's actions, listing
 * events and checking the hash chain (GET audit, GET audit/verify).
 *
 * Runs in mugai-web. Every action the console takes goes through web_audit
 * with the actor, the client's address, the item, the reason and the
 * outcome; a failure to record is logged, never hidden.
 */
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "web.h"

void web_audit(web_req *r, const char *actor, const char *item, const char *action,
               const char *reason, const char *detail, const char *outcome)
{
    quar_event ev;
    char *err = NULL;

    memset(&ev, 0, sizeof(ev));
    ev.msg_id = (char *)item;
    ev.actor = (char *)(actor ? actor : r->user ? r->user->name : "unknown");
    ev.action = (char *)action;
    ev.reason = (char *)reason;
    ev.detail = (char *)detail;
    ev.source = r->source;
    ev.outcome = (char *)(outcome ? outcome : "ok");
    if (quar_audit_ev(r->ctx->store, &ev, &err) != 0) {
        mg_error("audit trail: cannot record %s by %s on %s: %s", action, ev.actor,
                 item ? item : "-", err ? err : "unknown item");
        free(err);
    }
}

void web_json_event(JsonBuilder *b, const quar_event *ev)
{
    json_builder_begin_object(b);
    web_json_int(b, "seq", ev->seq);
    web_json_time(b, "time", ev->time);
    web_json_str(b, "item", ev->msg_id);
    web_json_str(b, "actor", ev->actor);
    web_json_str(b, "action", ev->action);
    web_json_str(b, "reason", ev->reason);
    web_json_str(b, "detail", ev->detail);
    web_json_str(b, "source", ev->source);
    web_json_str(b, "outcome", ev->outcome);
    json_builder_end_object(b);
}

int web_paging(web_req *r, unsigned *limit, unsigned *offset)
{
    const char *l = web_query(r, "limit"), *o = web_query(r, "offset");

    *limit = 50;
    *offset = 0;
    if (l != NULL && (web_parse_uint(l, 500, limit) < 0 || *limit == 0))
        return -1;
    return o != NULL && web_parse_uint(o, 100000000, offset) < 0 ? -1 : 0;
}

enum MHD_Result web_audit_list(web_req *r)
{
    quar_audit_filter f;
    quar_event **evs = NULL;
    size_t n = 0, total = 0;
    char *err = NULL;
    const char *since = web_query(r, "since"), *until = web_query(r, "until");
    JsonBuilder *b;

    memset(&f, 0, sizeof(f));
    if (web_paging(r, &f.limit, &f.offset) < 0)
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "limit must be 1-500, offset a number");
    if ((since && web_parse_time(since, 0, &f.since) < 0) ||
        (until && web_parse_time(until, 1, &f.until) < 0))
        return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
                               "since and until are YYYY-MM-DD or unix seconds");
    f.actor = web_query(r, "actor");
    f.item = web_query(r, "item");
    f.action = web_query(r, "action");
    if (quar_audit_list(r->ctx->store, &f, &evs, &n, &total, &err) < 0) {
        mg_error("audit list: %s", err);
        free(err);
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the audit trail");
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    web_json_int(b, "total", (int64_t)total);
    json_builder_set_member_name(b, "items");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++)
        web_json_event(b, evs[i]);
    json_builder_end_array(b);
    json_builder_end_object(b);
    quar_event_list_free(evs, n);
    return web_reply_json(r, MHD_HTTP_OK, b);
}

enum MHD_Result web_audit_verify(web_req *r)
{
    quar_chain ch;
    char *err = NULL;
    JsonBuilder *b;

    memset(&ch, 0, sizeof(ch));
    if (quar_audit_verify(r->ctx->store, &ch, &err) < 0) {
        mg_error("audit verify: %s", err);
        free(err);
        return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot check the audit trail");
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, ch.ok != 0);
    json_builder_set_member_name(b, "first_bad");
    if (ch.ok)
        json_builder_add_null_value(b);
    else
        json_builder_add_int_value(b, ch.first_bad);
    web_json_int(b, "events", (int64_t)ch.events);
    json_builder_set_member_name(b, "head"); /* to note outside the store; see quar.h */
    json_builder_begin_object(b);
    web_json_int(b, "seq", ch.head_seq);
    web_json_str(b, "hash", ch.head_hash);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return web_reply_json(r, MHD_HTTP_OK, b);
}
