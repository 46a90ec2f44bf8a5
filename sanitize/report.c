/*
 * sanitize/report.c - the per-input report as JSON, for sanitize-file's
 * --json output and the audit log.
 *
 * Runs in trusted processes. Holds identifiers, names, types, sizes,
 * hashes and verdicts only: never file or message content.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "mg.h"
#include "quar.h"
#include "san.h"

/* Add a string member, NULL as null. */
void san_json_str(JsonBuilder *b, const char *name, const char *s)
{
    json_builder_set_member_name(b, name);
    if (s)
        json_builder_add_string_value(b, s);
    else
        json_builder_add_null_value(b);
}

/* Add an integer member. */
void san_json_int(JsonBuilder *b, const char *name, int64_t v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void add_result(JsonBuilder *b, const char *input, const san_result *r);

/* Add "members": what became of each member of an archive. */
static void add_members(JsonBuilder *b, const san_result *r)
{
    json_builder_set_member_name(b, "members");
    json_builder_begin_array(b);
    for (size_t i = 0; i < r->nmembers; i++) {
        json_builder_begin_object(b);
        add_result(b, r->members[i].name, &r->members[i].r);
        san_json_str(b, "output_name", r->members[i].output_name);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Add "sheets": a spreadsheet's sheets given as CSV beside its PDF. */
static void add_sheets(JsonBuilder *b, const san_result *r)
{
    json_builder_set_member_name(b, "sheets");
    json_builder_begin_array(b);
    for (size_t i = 0; i < r->nsheets; i++) {
        json_builder_begin_object(b);
        san_json_str(b, "name", r->sheets[i].name);
        json_builder_set_member_name(b, "hidden");
        json_builder_add_boolean_value(b, r->sheets[i].hidden);
        san_json_str(b, "output", r->sheets[i].output_path);
        san_json_int(b, "output_size", (gint64)r->sheets[i].out_size);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Add "quarantine_id" and "parts": the fate of every part of a message. */
static void add_mail(JsonBuilder *b, const quar_msg *m)
{
    san_json_str(b, "quarantine_id", m->id[0] ? m->id : NULL);
    san_json_str(b, "queue_id", m->queue_id);
    san_json_str(b, "client", m->client);
    san_json_str(b, "sender", m->sender);
    json_builder_set_member_name(b, "recipients");
    json_builder_begin_array(b);
    for (size_t i = 0; m->recipients && m->recipients[i]; i++)
        json_builder_add_string_value(b, m->recipients[i]);
    json_builder_end_array(b);
    san_json_parts(b, m);
}

void san_json_parts(JsonBuilder *b, const quar_msg *m)
{
    json_builder_set_member_name(b, "parts");
    json_builder_begin_array(b);
    for (size_t i = 0; i < m->nparts; i++) {
        const quar_part *p = &m->parts[i];
        json_builder_begin_object(b);
        san_json_str(b, "path", p->path);
        san_json_str(b, "filename", p->filename);
        san_json_str(b, "declared_type", p->declared_type);
        san_json_str(b, "detected_type", p->detected_type);
        san_json_int(b, "size", (gint64)p->size);
        san_json_str(b, "sha256", p->sha256[0] ? p->sha256 : NULL);
        san_json_str(b, "action", p->action);
        san_json_str(b, "reason", p->reason);
        san_json_str(b, "signature", p->signature);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Add the members describing r to the open object in b. */
static void add_result(JsonBuilder *b, const char *input, const san_result *r)
{
    san_json_str(b, "input", input);
    san_json_str(b, "verdict", san_verdict_name(r->verdict));
    san_json_str(b, "reason", r->reason ? r->reason : "");
    san_json_str(b, "kind", r->kind ? r->kind : "unknown");
    san_json_str(b, "detected_type", r->detected_type);
    san_json_str(b, "declared_extension", r->declared_ext);
    san_json_str(b, "signature", r->signature);
    san_json_str(b, "output", r->output_path);
    san_json_str(b, "sha256", r->sha256[0] ? r->sha256 : NULL);
    san_json_int(b, "size", (gint64)r->in_size);
    san_json_int(b, "output_size", (gint64)r->out_size);
    san_json_int(b, "pages", r->pages);
    json_builder_set_member_name(b, "seconds");
    json_builder_add_double_value(b, (double)(gint64)(r->seconds * 1000.0 + 0.5) / 1000.0);
    if (r->nsheets)
        add_sheets(b, r);
    if (r->sheets_lost)
        san_json_int(b, "sheets_lost", (gint64)r->sheets_lost);
    if (r->sheets_failed) {
        json_builder_set_member_name(b, "sheets_failed");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (r->nmembers)
        add_members(b, r);
    if (r->mail)
        add_mail(b, r->mail);
}

JsonNode *san_result_to_json(const char *input, const san_result *r)
{
    JsonBuilder *b = json_builder_new();
    JsonNode *node;

    json_builder_begin_object(b);
    add_result(b, input, r);
    json_builder_end_object(b);
    node = json_builder_get_root(b);
    g_object_unref(b);
    return node;
}

/* Current time as an ISO 8601 UTC string, into buf. */
static const char *now_iso(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        buf[0] = '\0';
    return buf;
}

int san_audit_write(const conf *c, const char *program, const char *input, const san_result *r)
{
    JsonBuilder *b;
    JsonGenerator *gen;
    JsonNode *root;
    char when[32];
    gchar *line;
    int fd, rc;

    if (!c->audit_log || !c->audit_log[0])
        return 0;
    b = json_builder_new();
    json_builder_begin_object(b);
    san_json_str(b, "time", now_iso(when, sizeof(when)));
    san_json_str(b, "program", program);
    san_json_int(b, "pid", getpid());
    add_result(b, input, r);
    json_builder_end_object(b);
    gen = json_generator_new();
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_node_unref(root);
    line = json_generator_to_data(gen, NULL);
    fd = open(c->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    rc = -1;
    if (fd >= 0) {
        gchar *full = g_strconcat(line, "\n", NULL);
        /* One write per line: O_APPEND keeps concurrent writers' lines whole. */
        rc = mg_write_all(fd, full, strlen(full));
        g_free(full);
        close(fd);
    }
    if (rc < 0)
        mg_error("%s: cannot write the audit log: %s", c->audit_log, g_strerror(errno));
    g_free(line);
    g_object_unref(gen);
    g_object_unref(b);
    return rc;
}

int san_audit_mail(const conf *c, const char *program, const quar_msg *m, double seconds)
{
    san_result r;

    memset(&r, 0, sizeof(r));
    r.verdict = SAN_SANITIZED;
    r.reason = (char *)(m->verdict ? m->verdict : "");
    r.kind = (char *)"mail";
    r.detected_type = (char *)"message/rfc822";
    g_strlcpy(r.sha256, m->sha256, sizeof(r.sha256));
    r.in_size = (size_t)m->size;
    r.seconds = seconds;
    r.mail = (quar_msg *)m;
    return san_audit_write(c, program, m->queue_id ? m->queue_id : m->id, &r);
}
