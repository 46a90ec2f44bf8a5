/*
 * tools/mugai-quarantine.c - the quarantine tool for IT staff: list, show,
 * export, release, delete and purge originals kept by the quarantine store.
 *
 * Run by hand (usually through sudo) as the store's owner, on the Internet
 * side. It reads untrusted originals only to copy them out (export, release)
 * or, for `export --part`, to parse their MIME structure with GMime; it never
 * renders or executes them. Text from mail (subjects, names) is stripped of
 * control characters before it reaches the terminal. It must never report
 * success for an action on an original (export, release, delete, purge)
 * before that action's audit event, naming actor and reason, is written, and
 * never overwrite an existing file.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>
#include <gmime/gmime.h>
#include <json-glib/json-glib.h>

#include "conf.h"
#include "mg.h"
#include "quar.h"
#include "san.h"

#ifndef MUGAI_VERSION
#define MUGAI_VERSION "dev"
#endif

enum { EX_OK = 0, EX_UNKNOWN = 1, EX_USAGE = 2, EX_STORE = 3, EX_RELEASE = 4 };

typedef struct ctx {
    conf *cf;
    quar_store *s;
    int json;
    const char *actor;
} ctx;

typedef struct command {
    const char *name;
    int (*run)(ctx *c, int argc, char **argv);
    const char *help;
} command;

static const char main_help[] =
    "NAME\n"
    "    mugai-quarantine - search, inspect, release and remove quarantined originals\n"
    "\n"
    "SYNOPSIS\n"
    "    mugai-quarantine [-c FILE] [--json] [--actor NAME] COMMAND [ARGS]\n"
    "    mugai-quarantine COMMAND --help\n"
    "\n"
    "DESCRIPTION\n"
    "    mugai keeps the original of every message it sanitizes in the quarantine\n"
    "    store ([quarantine] dir). This tool is how IT staff find a message, look at\n"
    "    what was done to each part, and, when there is a reason, hand out or\n"
    "    re-deliver the original. Every command that touches an original (export,\n"
    "    release, delete, purge) records an audit event with the actor and the\n"
    "    reason before it reports success. Ids are case-insensitive.\n"
    "\n"
    "COMMANDS\n"
    "    list [--since DATE] [--until DATE] [--sender TEXT] [--recipient TEXT]\n"
    "         [--verdict V] [--status S] [--limit N]\n"
    "        Messages newest first. DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (local\n"
    "        time); --until with a date alone includes that whole day.\n"
    "    show ID\n"
    "        Envelope, subject, each part with its types and the action taken, and\n"
    "        the audit events.\n"
    "    export ID -o FILE --reason TEXT [--part PATH]\n"
    "        Write the original message (or one part, decoded) to a new FILE (0600).\n"
    "    release ID --reason TEXT [--to ADDR]...\n"
    "        Re-send the original over SMTP to the release listener (no milter),\n"
    "        to its envelope recipients or to the --to addresses.\n"
    "    delete ID --reason TEXT\n"
    "        Remove the original; the index entry and its audit trail stay.\n"
    "    purge [--dry-run] [--reason TEXT]\n"
    "        Remove every original past its retention.\n"
    "\n"
    "OPTIONS\n"
    "    -c, --config FILE   configuration file (default " CONF_DEFAULT_PATH ")\n"
    "    --json              machine-readable output (one JSON document)\n"
    "    --actor NAME        who is acting, for the audit trail (default: $SUDO_USER,\n"
    "                        else the login name of the current user)\n"
    "    -h, --help          this text; COMMAND --help describes one command\n"
    "    --version           print the version\n"
    "\n"
    "CONFIGURATION\n"
    "    [quarantine] dir, retention_days, release_host, release_port, release_helo.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 unknown id or part; 2 usage or configuration error;\n"
    "    3 store error (including an original that was already removed);\n"
    "    4 release failed (the SMTP server's reply is printed).\n"
    "\n"
    "EXAMPLES\n"
    "    mugai-quarantine list --since 2026-11-01 --recipient somu@ --verdict blocked\n"
    "    mugai-quarantine show Q-20261125-7F3K9X\n"
    "    sudo mugai-quarantine export Q-20261125-7F3K9X --part 2 -o /tmp/mitsumori.xlsx \\\n"
    "        --reason \"総務課の依頼 (問合せ 1234)\"\n"
    "    sudo mugai-quarantine release q-20261125-7f3k9x --reason \"sender confirmed by phone\"\n"
    "    mugai-quarantine --json list --status quarantined --limit 50\n"
    "    sudo mugai-quarantine purge --dry-run\n";

/* Print an error prefixed with the program name. */
static void __attribute__((format(printf, 1, 2))) complain(const char *fmt, ...)
{
    va_list ap;

    fputs("mugai-quarantine: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Report a store error (freeing err) and return EX_STORE. */
static int store_fail(char *err)
{
    complain("%s", err ? err : "store error");
    free(err);
    return EX_STORE;
}

/* Report an unknown id and return EX_UNKNOWN. */
static int unknown(const char *id)
{
    complain("no quarantined message with id %s", id);
    return EX_UNKNOWN;
}

/* Map a store return code to an exit status, reporting it. */
static int store_rc(int rc, const char *id, char *err)
{
    if (rc == 1) {
        free(err);
        return unknown(id);
    }
    return rc == 0 ? EX_OK : store_fail(err);
}

/* Valid UTF-8 with each character mg_uchar_unsafe names (controls, bidi and other
 * invisible ones) shown as '?', safe to print on a terminal. */
static char *clean(const char *s)
{
    char *v = g_utf8_make_valid(s ? s : "", -1);
    GString *out = g_string_new(NULL);

    for (const char *p = v; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (mg_uchar_unsafe(ch))
            g_string_append_c(out, '?');
        else
            g_string_append_unichar(out, ch);
    }
    g_free(v);
    return g_string_free(out, FALSE);
}

/* Terminal columns taken by one character. */
static int char_width(gunichar ch)
{
    if (g_unichar_iszerowidth(ch))
        return 0;
    return g_unichar_iswide(ch) ? 2 : 1;
}

/* s cleaned, cut to at most width columns (with "…" when cut) and padded to width. */
static char *fit(const char *s, int width)
{
    char *v = clean(s);
    GString *out = g_string_new(NULL);
    int used = 0, total = 0;

    for (const char *p = v; *p; p = g_utf8_next_char(p))
        total += char_width(g_utf8_get_char(p));
    for (const char *p = v; *p; p = g_utf8_next_char(p)) {
        int w = char_width(g_utf8_get_char(p));
        if (total > width && used + w > width - 1)
            break;
        g_string_append_unichar(out, g_utf8_get_char(p));
        used += w;
    }
    if (total > width) {
        g_string_append(out, "…");
        used++;
    }
    for (; used < width; used++)
        g_string_append_c(out, ' ');
    g_free(v);
    return g_string_free(out, FALSE);
}

/* Local time as "YYYY-MM-DD HH:MM:SS" (human) or ISO 8601 with offset (iso). */
static char *fmt_time(int64_t t, int iso)
{
    GDateTime *dt = g_date_time_new_from_unix_local(t);
    char *s;

    if (!dt)
        return g_strdup("?");
    s = g_date_time_format(dt, iso ? "%Y-%m-%dT%H:%M:%S%:z" : "%Y-%m-%d %H:%M:%S");
    g_date_time_unref(dt);
    return s;
}

/* Parse DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, local); end_of_day for a bare --until. */
static int parse_date(const char *v, int end_of_day, int64_t *out)
{
    struct tm tm;
    const char *end;
    int date_only = 0;
    time_t t;

    memset(&tm, 0, sizeof tm);
    end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end) {
        memset(&tm, 0, sizeof tm);
        end = strptime(v, "%Y-%m-%d", &tm);
        date_only = 1;
    }
    if (!end || *end)
        return -1;
    tm.tm_isdst = -1;
    t = mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t + (date_only && end_of_day ? 86399 : 0);
    return 0;
}

/* Non-zero when v is one of the NULL-terminated words. */
static int one_of(const char *v, const char *const *words)
{
    return g_strv_contains(words, v);
}

static const char *const verdicts[] = {"clean", "sanitized", "blocked", "failed", NULL};
static const char *const statuses[] = {"quarantined", "released", "deleted", "purged", NULL};

/* Print a JSON node to stdout. */
static void print_json(JsonNode *node)
{
    JsonGenerator *gen = json_generator_new();
    char *text;

    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, node);
    text = json_generator_to_data(gen, NULL);
    puts(text);
    g_free(text);
    g_object_unref(gen);
    json_node_unref(node);
}

/* Add "name": ISO 8601 time. */
static void json_time(JsonBuilder *b, const char *name, int64_t t)
{
    char *s = fmt_time(t, 1);

    san_json_str(b, name, s);
    g_free(s);
}

/* Add the message's envelope and index fields to the open object. */
static void json_msg_fields(JsonBuilder *b, const quar_msg *m)
{
    san_json_str(b, "id", m->id);
    json_time(b, "time", m->time);
    san_json_str(b, "queue_id", m->queue_id);
    san_json_str(b, "client", m->client);
    san_json_str(b, "sender", m->sender);
    json_builder_set_member_name(b, "recipients");
    json_builder_begin_array(b);
    for (size_t i = 0; m->recipients && m->recipients[i]; i++)
        json_builder_add_string_value(b, m->recipients[i]);
    json_builder_end_array(b);
    san_json_str(b, "subject", m->subject);
    san_json_str(b, "from", m->from);
    san_json_str(b, "message_id", m->message_id);
    san_json_int(b, "size", (int64_t)m->size);
    san_json_str(b, "sha256", m->sha256);
    san_json_str(b, "verdict", m->verdict);
    san_json_str(b, "status", m->status);
    json_time(b, "expires", m->expires);
}

/* Add "events": [...] to the open object. */
static void json_events(JsonBuilder *b, quar_event **ev, size_t n)
{
    json_builder_set_member_name(b, "events");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        json_builder_begin_object(b);
        json_time(b, "time", ev[i]->time);
        san_json_str(b, "actor", ev[i]->actor);
        san_json_str(b, "action", ev[i]->action);
        san_json_str(b, "reason", ev[i]->reason);
        san_json_str(b, "detail", ev[i]->detail);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Print {"id":..., "action":..., "ok":true, "detail":...}. */
static void json_result(const char *id, const char *action, const char *detail)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    san_json_str(b, "id", id);
    san_json_str(b, "action", action);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, TRUE);
    san_json_str(b, "detail", detail);
    json_builder_end_object(b);
    print_json(json_builder_get_root(b));
    g_object_unref(b);
}

/* Parse a subcommand's options; returns the getopt code or -1 at the end. */
static int next_opt(int argc, char **argv, const struct option *opts)
{
    return getopt_long(argc, argv, "ho:", opts, NULL);
}

/* Print a subcommand's help. */
static int sub_help(const command *cmd)
{
    fputs(cmd->help, stdout);
    return EX_OK;
}

/* Complain about a usage error in cmd and return EX_USAGE. */
static int usage(const char *cmd, const char *what)
{
    complain("%s: %s (see mugai-quarantine %s --help)", cmd, what, cmd);
    return EX_USAGE;
}

/* The one positional ID argument left after options, or NULL. */
static const char *one_id(int argc, char **argv)
{
    return argc - optind == 1 ? argv[optind] : NULL;
}

/* Print the list table header and rows. */
static void print_list(quar_msg **list, size_t n)
{
    printf("%-17s  %-16s  %s  %s  %s  %-9s  %s\n", "ID", "TIME", "SENDER                  ",
           "RECIPIENT               ", "SUBJECT                       ", "VERDICT", "STATUS");
    for (size_t i = 0; i < n; i++) {
        const quar_msg *m = list[i];
        char *t = fmt_time(m->time, 0);
        char *snd = fit(m->sender && *m->sender ? m->sender : "<>", 24);
        char *rcp = fit(m->recipients && m->recipients[0] ? m->recipients[0] : "", 24);
        char *sub = fit(m->subject, 30);
        char *ver = clean(m->verdict);
        t[16] = '\0';
        printf("%-17s  %-16s  %s  %s  %s  %-9s  %s\n", m->id, t, snd, rcp, sub, ver, m->status);
        g_free(t);
        g_free(snd);
        g_free(rcp);
        g_free(sub);
        g_free(ver);
    }
}

/* Print list as {"messages": [...]}. */
static void print_list_json(quar_msg **list, size_t n)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "messages");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        json_builder_begin_object(b);
        json_msg_fields(b, list[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    print_json(json_builder_get_root(b));
    g_object_unref(b);
}

static const char list_help[] =
    "mugai-quarantine list - search quarantined messages, newest first\n"
    "\n"
    "usage: mugai-quarantine [--json] list [--since DATE] [--until DATE] [--sender TEXT]\n"
    "           [--recipient TEXT] [--verdict V] [--status S] [--limit N]\n"
    "\n"
    "  --since DATE      received at or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, local)\n"
    "  --until DATE      received at or before DATE (a bare date includes the whole day)\n"
    "  --sender TEXT     envelope sender contains TEXT (ASCII case ignored)\n"
    "  --recipient TEXT  some envelope recipient contains TEXT\n"
    "  --verdict V       clean, sanitized, blocked or failed (could not be sanitized)\n"
    "  --status S        quarantined, released, deleted or purged\n"
    "  --limit N         at most N messages\n"
    "\n"
    "example: mugai-quarantine list --since 2026-11-24 --verdict blocked --limit 20\n";

/* Apply one list option to f; 0 or an exit status. */
static int list_opt(quar_filter *f, int opt, const char *v)
{
    char *end;
    unsigned long n;

    switch (opt) {
    case 's':
        return parse_date(v, 0, &f->since) < 0 ? usage("list", "bad --since date") : 0;
    case 'u':
        return parse_date(v, 1, &f->until) < 0 ? usage("list", "bad --until date") : 0;
    case 'f':
        f->sender = v;
        return 0;
    case 'r':
        f->recipient = v;
        return 0;
    case 'v':
        f->verdict = v;
        return one_of(v, verdicts)
                   ? 0
                   : usage("list", "--verdict is clean, sanitized, blocked or failed");
    case 't':
        f->status = v;
        return one_of(v, statuses) ? 0 : usage("list", "unknown --status");
    case 'l':
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno || *end || !*v || n == 0 || n > 1000000)
            return usage("list", "--limit needs a number from 1 to 1000000");
        f->limit = (unsigned)n;
        return 0;
    }
    return usage("list", "unknown option");
}

/* list: search the index. */
static int cmd_list(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", 1, NULL, 's'},     {"until", 1, NULL, 'u'},   {"sender", 1, NULL, 'f'},
        {"recipient", 1, NULL, 'r'}, {"verdict", 1, NULL, 'v'}, {"status", 1, NULL, 't'},
        {"limit", 1, NULL, 'l'},     {"help", 0, NULL, 'h'},    {NULL, 0, NULL, 0}};
    quar_filter f = {0};
    quar_msg **list = NULL;
    size_t n = 0;
    char *err = NULL;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(list_help, stdout), EX_OK;
        if ((rc = list_opt(&f, opt, optarg)) != 0)
            return rc;
    }
    if (optind != argc)
        return usage("list", "unexpected argument");
    if (quar_list(c->s, &f, &list, &n, &err) != 0)
        return store_fail(err);
    if (c->json)
        print_list_json(list, n);
    else
        print_list(list, n);
    quar_msg_list_free(list, n);
    return EX_OK;
}

/* Print "Label:  value" with the value cleaned. */
static void field(const char *label, const char *value)
{
    char *v = clean(value);

    printf("%-12s %s\n", label, v);
    g_free(v);
}

/* Print the parts table of show. */
static void print_parts(const quar_msg *m)
{
    printf("\nParts:\n  %-6s  %-24s  %-22s  %-22s  %10s  %-9s  %s\n", "PART", "FILE NAME",
           "DECLARED TYPE", "DETECTED TYPE", "SIZE", "ACTION", "REASON");
    for (size_t i = 0; i < m->nparts; i++) {
        const quar_part *p = &m->parts[i];
        char *cols[] = {fit(p->path, 6),           fit(p->filename, 24), fit(p->declared_type, 22),
                        fit(p->detected_type, 22), fit(p->action, 9),    clean(p->reason)};
        printf("  %s  %s  %s  %s  %10llu  %s  %s\n", cols[0], cols[1], cols[2], cols[3],
               (unsigned long long)p->size, cols[4], cols[5]);
        if (p->signature) {
            char *sig = clean(p->signature);
            printf("  %6s  signature: %s\n", "", sig);
            g_free(sig);
        }
        if (p->sha256[0])
            printf("  %6s  sha256: %s\n", "", p->sha256);
        for (size_t k = 0; k < G_N_ELEMENTS(cols); k++)
            g_free(cols[k]);
    }
}

/* Print the events table of show. */
static void print_events(quar_event **ev, size_t n)
{
    printf("\nEvents:\n  %-19s  %-16s  %-10s  %s\n", "TIME", "ACTOR", "ACTION", "REASON / DETAIL");
    for (size_t i = 0; i < n; i++) {
        char *t = fmt_time(ev[i]->time, 0);
        char *actor = fit(ev[i]->actor, 16), *action = fit(ev[i]->action, 10);
        char *reason = clean(ev[i]->reason), *detail = clean(ev[i]->detail);
        printf("  %s  %s  %s  %s%s%s\n", t, actor, action, reason, *reason && *detail ? " / " : "",
               detail);
        g_free(t);
        g_free(actor);
        g_free(action);
        g_free(reason);
        g_free(detail);
    }
}

/* Print a message for people. */
static void print_show(const quar_msg *m, quar_event **ev, size_t n)
{
    char *t = fmt_time(m->time, 1), *exp = fmt_time(m->expires, 1);
    char *rcpts = m->recipients ? g_strjoinv(", ", m->recipients) : g_strdup("");
    char *size = g_strdup_printf("%llu bytes", (unsigned long long)m->size);
    char *status = g_strdup_printf("%s (kept until %s)", m->status, exp);

    field("ID:", m->id);
    field("Received:", t);
    field("Status:", status);
    field("Verdict:", m->verdict);
    field("Queue ID:", m->queue_id);
    field("Client:", m->client);
    field("Sender:", m->sender && *m->sender ? m->sender : "<>");
    field("Recipients:", rcpts);
    field("From:", m->from);
    field("Subject:", m->subject);
    field("Message-ID:", m->message_id);
    field("Size:", size);
    field("SHA-256:", m->sha256);
    print_parts(m);
    print_events(ev, n);
    g_free(t);
    g_free(exp);
    g_free(rcpts);
    g_free(size);
    g_free(status);
}

static const char show_help[] =
    "mugai-quarantine show - everything the store knows about one message\n"
    "\n"
    "usage: mugai-quarantine [--json] show ID\n"
    "\n"
    "Prints the envelope, the decoded subject and From, each part (IMAP part number,\n"
    "file name, declared and detected type, size, SHA-256, action, reason, virus\n"
    "signature) and the audit events, oldest first. Reading the index does not\n"
    "touch the original and records no event.\n"
    "\n"
    "example: mugai-quarantine show Q-20261125-7F3K9X\n";

/* show: one message with parts and events. */
static int cmd_show(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0}};
    quar_msg *m = NULL;
    quar_event **ev = NULL;
    size_t n = 0;
    char *err = NULL;
    const char *id;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1)
        return opt == 'h' ? (fputs(show_help, stdout), EX_OK) : usage("show", "unknown option");
    if (!(id = one_id(argc, argv)))
        return usage("show", "needs exactly one ID");
    if ((rc = quar_get(c->s, id, &m, &err)) != 0)
        return store_rc(rc, id, err);
    if ((rc = quar_events(c->s, id, &ev, &n, &err)) != 0) {
        quar_msg_free(m);
        return store_rc(rc, id, err);
    }
    if (c->json) {
        JsonBuilder *b = json_builder_new();
        json_builder_begin_object(b);
        json_msg_fields(b, m);
        san_json_parts(b, m);
        json_events(b, ev, n);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else {
        print_show(m, ev, n);
    }
    quar_event_list_free(ev, n);
    quar_msg_free(m);
    return EX_OK;
}

/* Record an audit event; on failure report it and return EX_STORE. */
static int audit(ctx *c, const char *id, const char *action, const char *reason, const char *detail)
{
    char *err = NULL;
    int rc = quar_audit(c->s, id, c->actor, action, reason, detail, &err);

    if (rc == 0)
        return EX_OK;
    complain("%s: audit event not recorded: %s", id, err ? err : "unknown id");
    free(err);
    return EX_STORE;
}

/* Copy the whole original fd to out. 0 or -1. */
static int copy_fd(int in, int out)
{
    char *buf = g_malloc(65536);
    ssize_t n;
    int rc = 0;

    while ((n = read(in, buf, 65536)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || mg_write_all(out, buf, (size_t)n) < 0) {
            rc = -1;
            break;
        }
    }
    g_free(buf);
    return rc;
}

/* The n-th (1-based) IMAP child of o, or NULL. Borrowed from o. */
static GMimeObject *imap_child(GMimeObject *o, unsigned long n)
{
    GMimeMessage *msg = NULL;
    GMimeObject *body;

    if (GMIME_IS_MULTIPART(o))
        return n <= (unsigned long)g_mime_multipart_get_count(GMIME_MULTIPART(o))
                   ? g_mime_multipart_get_part(GMIME_MULTIPART(o), (int)n - 1)
                   : NULL;
    if (GMIME_IS_MESSAGE_PART(o))
        msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
    else if (GMIME_IS_MESSAGE(o))
        msg = GMIME_MESSAGE(o);
    body = msg ? g_mime_message_get_mime_part(msg) : NULL;
    if (!body)
        return NULL;
    if (GMIME_IS_MULTIPART(body))
        return imap_child(body, n);
    return n == 1 ? body : NULL;
}

/* The object at IMAP part path in msg, or NULL when there is none. */
static GMimeObject *find_part(GMimeMessage *msg, const char *path)
{
    char **nums = g_strsplit(path, ".", -1);
    GMimeObject *cur = GMIME_OBJECT(msg);

    for (size_t i = 0; nums[i] && cur; i++) {
        char *end;
        unsigned long n = strtoul(nums[i], &end, 10);
        if (!g_ascii_isdigit(nums[i][0]) || *end || n == 0 || n > 100000)
            cur = NULL;
        else
            cur = imap_child(cur, n);
    }
    g_strfreev(nums);
    return cur == GMIME_OBJECT(msg) ? NULL : cur;
}

/* Write one part of the original to out: decoded content for a leaf, raw otherwise.
 * 0, 1 when the part does not exist, -1 on error. */
static int write_part(int in, int out, const char *path)
{
    int copy = dup(in);
    GMimeStream *src;
    GMimeParser *parser;
    GMimeMessage *msg;
    GMimeStream *dst;
    GMimeObject *part;
    ssize_t rc = -2;

    if (copy < 0)
        return -1;
    src = g_mime_stream_fs_new(copy);
    parser = g_mime_parser_new_with_stream(src);
    msg = g_mime_parser_construct_message(parser, NULL);
    dst = g_mime_stream_fs_new(out);
    part = msg ? find_part(msg, path) : NULL;

    g_mime_stream_fs_set_owner(GMIME_STREAM_FS(dst), FALSE);
    if (part && GMIME_IS_PART(part) && g_mime_part_get_content(GMIME_PART(part)))
        rc = g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(part)), dst);
    else if (part && GMIME_IS_MESSAGE_PART(part))
        rc = g_mime_object_write_to_stream(
            GMIME_OBJECT(g_mime_message_part_get_message(GMIME_MESSAGE_PART(part))), NULL, dst);
    else if (part)
        rc = g_mime_object_write_to_stream(part, NULL, dst);
    if (rc >= 0 && g_mime_stream_flush(dst) < 0)
        rc = -1;
    g_object_unref(dst);
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(src);
    return rc == -2 ? 1 : rc < 0 ? -1 : 0;
}

static const char export_help[] =
    "mugai-quarantine export - copy an original (or one part) out of quarantine\n"
    "\n"
    "usage: mugai-quarantine export ID -o FILE --reason TEXT [--part PATH]\n"
    "\n"
    "  -o, --output FILE  new file to write (mode 0600; an existing FILE is never\n"
    "                     overwritten)\n"
    "  --reason TEXT      why the original is needed (required, kept in the audit trail)\n"
    "  --part PATH        only this part, decoded from its transfer encoding; PATH is the\n"
    "                     IMAP part number shown by `show` (1, 2, 2.1, ...)\n"
    "\n"
    "The exported file is the untrusted original: open it only on an isolated machine.\n"
    "\n"
    "example: mugai-quarantine export Q-20261125-7F3K9X --part 2 -o /tmp/a.xlsx \\\n"
    "             --reason \"request 1234 from 総務課\"\n";

/* Write the original or one part to a new file. Exit status. */
static int do_export(ctx *c, const char *id, const char *out_path, const char *part)
{
    char *err = NULL;
    int in = -1, out, rc;

    if ((rc = quar_open_original(c->s, id, &in, &err)) != 0)
        return store_rc(rc, id, err);
    out = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        int saved = errno;
        complain("export: cannot create %s: %s%s", out_path, strerror(saved),
                 saved == EEXIST ? " (an existing file is never overwritten)" : "");
        close(in);
        return saved == EEXIST ? EX_USAGE : EX_STORE;
    }
    rc = part ? write_part(in, out, part) : copy_fd(in, out);
    if (fchmod(out, 0600) < 0 || fsync(out) < 0 || close(out) < 0)
        rc = rc ? rc : -1;
    close(in);
    if (rc != 0) {
        unlink(out_path);
        if (rc == 1)
            complain("export: %s has no part %s (see mugai-quarantine show %s)", id, part, id);
        else
            complain("export: writing %s failed", out_path);
        return rc == 1 ? EX_UNKNOWN : EX_STORE;
    }
    return EX_OK;
}

/* export: the original or one part to a new file. */
static int cmd_export(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"output", 1, NULL, 'o'},
                                         {"reason", 1, NULL, 'r'},
                                         {"part", 1, NULL, 'p'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *reason = NULL, *part = NULL, *id;
    char *detail;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(export_help, stdout), EX_OK;
        if (opt == 'o')
            out = optarg;
        else if (opt == 'r')
            reason = optarg;
        else if (opt == 'p')
            part = optarg;
        else
            return usage("export", "unknown option");
    }
    if (!(id = one_id(argc, argv)))
        return usage("export", "needs exactly one ID");
    if (!out)
        return usage("export", "-o FILE is required");
    if (!reason || !*reason)
        return usage("export", "--reason TEXT is required: say why the original is needed");
    if ((rc = do_export(c, id, out, part)) != EX_OK)
        return rc;
    detail = part ? g_strdup_printf("part %s to %s", part, out) : g_strdup_printf("to %s", out);
    if ((rc = audit(c, id, "exported", reason, detail)) != EX_OK)
        unlink(out);
    else if (c->json)
        json_result(id, "exported", detail);
    else
        printf("%s: exported %s\n", id, detail);
    g_free(detail);
    return rc;
}

typedef struct upload {
    int fd;
    int last_cr;   /* the previous byte sent was CR */
    char *buf;     /* raw bytes read from fd */
    GString *last; /* the server's last error reply */
} upload;

/* libcurl read callback: the original with bare LF turned into CRLF. */
static size_t read_cb(char *dst, size_t size, size_t nitems, void *arg)
{
    upload *u = arg;
    size_t room = size * nitems, want = room / 2, out = 0;
    ssize_t n;

    if (want > 65536)
        want = 65536;
    do
        n = read(u->fd, u->buf, want);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return CURL_READFUNC_ABORT;
    for (ssize_t i = 0; i < n; i++) {
        if (u->buf[i] == '\n' && !u->last_cr)
            dst[out++] = '\r';
        dst[out++] = u->buf[i];
        u->last_cr = u->buf[i] == '\r';
    }
    return out;
}

/* libcurl debug callback: keep the server's last error reply (4xx or 5xx). */
static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    upload *u = arg;

    (void)h;
    if (type != CURLINFO_HEADER_IN || size == 0 || (data[0] != '4' && data[0] != '5'))
        return 0;
    g_string_truncate(u->last, 0);
    g_string_append_len(u->last, data, (gssize)size);
    while (u->last->len &&
           (u->last->str[u->last->len - 1] == '\n' || u->last->str[u->last->len - 1] == '\r'))
        g_string_truncate(u->last, u->last->len - 1);
    return 0;
}

/* smtp://host:port/helo for the release listener. */
static char *release_url(const conf *cf)
{
    int v6 = strchr(cf->release_host, ':') != NULL;

    return g_strdup_printf("smtp://%s%s%s:%u/%s", v6 ? "[" : "", cf->release_host, v6 ? "]" : "",
                           cf->release_port, cf->release_helo);
}

/* Send fd over SMTP; on failure a message (with the server's reply) in *why. 0 or -1. */
static int smtp_send(const conf *cf, int fd, const char *sender, char **rcpts, char **why)
{
    CURL *h = curl_easy_init();
    struct curl_slist *to = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = release_url(cf), *from = NULL;
    upload u = {.fd = fd, .buf = g_malloc(65536), .last = g_string_new(NULL)};
    CURLcode rc = CURLE_FAILED_INIT;

    for (size_t i = 0; rcpts[i]; i++)
        to = curl_slist_append(to, rcpts[i]);
    if (h) {
        if (sender && *sender) {
            from = g_strdup_printf("<%s>", sender);
            curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_MAIL_RCPT, to);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &u);
        curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
        curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
        curl_easy_setopt(h, CURLOPT_DEBUGDATA, &u);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
        rc = curl_easy_perform(h);
        curl_easy_cleanup(h);
    }
    if (rc != CURLE_OK)
        *why = g_strdup_printf("%s%s%s%s", errbuf[0] ? errbuf : curl_easy_strerror(rc),
                               u.last->len ? " (server said: " : "", u.last->str,
                               u.last->len ? ")" : "");
    curl_slist_free_all(to);
    g_free(url);
    g_free(from);
    g_free(u.buf);
    g_string_free(u.last, TRUE);
    return rc == CURLE_OK ? 0 : -1;
}

static const char release_help[] =
    "mugai-quarantine release - deliver the original message after all\n"
    "\n"
    "usage: mugai-quarantine release ID --reason TEXT [--to ADDR]...\n"
    "\n"
    "  --reason TEXT  why the original may go through (required, kept in the audit trail)\n"
    "  --to ADDR      deliver to ADDR instead of the envelope recipients (repeatable)\n"
    "\n"
    "The original is sent unchanged over SMTP to [quarantine] release_host:release_port\n"
    "(a Postfix listener without milters), EHLO release_helo, MAIL FROM the stored\n"
    "envelope sender. On success the status becomes \"released\"; when the server\n"
    "refuses, its reply is printed and the exit status is 4.\n"
    "\n"
    "example: mugai-quarantine release Q-20261125-7F3K9X --reason \"confirmed by phone\" \\\n"
    "             --to kikaku@city.example.lg.jp\n";

/* Send the original of m and record the result. Exit status. */
static int do_release(ctx *c, const quar_msg *m, char **rcpts, const char *reason)
{
    char *err = NULL, *why = NULL, *list = g_strjoinv(", ", rcpts), *detail;
    int fd = -1, rc;

    if ((rc = quar_open_original(c->s, m->id, &fd, &err)) != 0) {
        g_free(list);
        return store_rc(rc, m->id, err);
    }
    detail = g_strdup_printf("to %s via %s:%u", list, c->cf->release_host, c->cf->release_port);
    rc = smtp_send(c->cf, fd, m->sender, rcpts, &why);
    close(fd);
    if (rc < 0) {
        char *fdetail = g_strdup_printf("%s: %s", detail, why);
        complain("release of %s failed: %s", m->id, why);
        audit(c, m->id, "release-failed", reason, fdetail);
        g_free(fdetail);
        rc = EX_RELEASE;
    } else if ((rc = audit(c, m->id, "released", reason, detail)) != EX_OK) {
        complain("%s was sent but could not be recorded", m->id);
    } else if (quar_set_status(c->s, m->id, "released", &err) != 0) {
        rc = store_fail(err);
    } else if (c->json) {
        json_result(m->id, "released", detail);
    } else {
        printf("%s: released %s\n", m->id, detail);
    }
    g_free(why);
    g_free(list);
    g_free(detail);
    return rc;
}

/* Parse release's options into reason and to; -1 to go on, else an exit status. */
static int release_opts(int argc, char **argv, const char **reason, GPtrArray *to)
{
    static const struct option opts[] = {
        {"reason", 1, NULL, 'r'}, {"to", 1, NULL, 't'}, {"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(release_help, stdout), EX_OK;
        if (opt == 'r')
            *reason = optarg;
        else if (opt == 't')
            g_ptr_array_add(to, optarg);
        else
            return usage("release", "unknown option");
    }
    if (!one_id(argc, argv))
        return usage("release", "needs exactly one ID");
    if (!*reason || !**reason)
        return usage("release", "--reason TEXT is required: say why the original may go through");
    return -1;
}

/* release: re-inject the original over SMTP. */
static int cmd_release(ctx *c, int argc, char **argv)
{
    GPtrArray *to = g_ptr_array_new();
    const char *reason = NULL, *id;
    quar_msg *m = NULL;
    char *err = NULL;
    int rc = release_opts(argc, argv, &reason, to);

    g_ptr_array_add(to, NULL);
    if (rc != -1) {
        g_ptr_array_free(to, TRUE);
        return rc;
    }
    id = one_id(argc, argv);
    if ((rc = quar_get(c->s, id, &m, &err)) != 0)
        rc = store_rc(rc, id, err);
    else if (to->len == 1 && (!m->recipients || !m->recipients[0]))
        rc = usage("release", "the message has no recipients; give --to");
    else
        rc = do_release(c, m, to->len > 1 ? (char **)to->pdata : m->recipients, reason);
    quar_msg_free(m);
    g_ptr_array_free(to, TRUE);
    return rc;
}

static const char delete_help[] =
    "mugai-quarantine delete - remove an original before its retention ends\n"
    "\n"
    "usage: mugai-quarantine delete ID --reason TEXT\n"
    "\n"
    "  --reason TEXT  why (required, kept in the audit trail)\n"
    "\n"
    "The original file goes (unless another held message has the same content); the\n"
    "index entry stays with status \"deleted\" so `show` still explains what happened.\n"
    "\n"
    "example: mugai-quarantine delete Q-20261125-7F3K9X --reason \"spam, reported by 総務課\"\n";

/* Remove m's original, mark it with status and audit action. Exit status. */
static int remove_one(ctx *c, const quar_msg *m, const char *status, const char *reason,
                      const char *detail)
{
    char *err = NULL;
    int rc;

    if (!g_strv_contains(statuses, m->status) || !strcmp(m->status, "deleted") ||
        !strcmp(m->status, "purged")) {
        complain("%s: original already removed (status %s)", m->id, m->status);
        return EX_STORE;
    }
    if ((rc = quar_remove(c->s, m->id, status, &err)) != 0)
        return store_rc(rc, m->id, err);
    return audit(c, m->id, status, reason, detail);
}

/* delete: remove one original. */
static int cmd_delete(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", 1, NULL, 'r'}, {"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *reason = NULL, *id;
    quar_msg *m = NULL;
    char *err = NULL;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(delete_help, stdout), EX_OK;
        if (opt != 'r')
            return usage("delete", "unknown option");
        reason = optarg;
    }
    if (!(id = one_id(argc, argv)))
        return usage("delete", "needs exactly one ID");
    if (!reason || !*reason)
        return usage("delete", "--reason TEXT is required");
    if ((rc = quar_get(c->s, id, &m, &err)) != 0)
        return store_rc(rc, id, err);
    rc = remove_one(c, m, "deleted", reason, NULL);
    if (rc == EX_OK && c->json)
        json_result(m->id, "deleted", NULL);
    else if (rc == EX_OK)
        printf("%s: original deleted\n", m->id);
    quar_msg_free(m);
    return rc;
}

static const char purge_help[] =
    "mugai-quarantine purge - remove originals past their retention\n"
    "\n"
    "usage: mugai-quarantine purge [--dry-run] [--reason TEXT]\n"
    "\n"
    "  --dry-run      list what would be removed, change nothing\n"
    "  --reason TEXT  kept in the audit trail (default: \"retention period ended\")\n"
    "\n"
    "Each message's expiry was set when it was stored, from [quarantine] retention_days.\n"
    "Run it daily, e.g. from a systemd timer: mugai-quarantine --actor purge purge\n";

/* Purge or list the expired ids. Exit status. */
static int purge_ids(ctx *c, char **ids, size_t n, int dry, const char *reason, JsonBuilder *b)
{
    for (size_t i = 0; i < n; i++) {
        quar_msg *m = NULL;
        char *err = NULL, *exp, *detail;
        int rc = quar_get(c->s, ids[i], &m, &err);
        if (rc != 0)
            return store_rc(rc, ids[i], err);
        exp = fmt_time(m->expires, 1);
        detail = g_strdup_printf("expired %s", exp);
        rc = dry ? EX_OK : remove_one(c, m, "purged", reason, detail);
        if (rc == EX_OK && b)
            json_builder_add_string_value(b, m->id);
        else if (rc == EX_OK)
            printf("%s: %s (%s)\n", m->id, dry ? "would purge" : "purged", detail);
        g_free(exp);
        g_free(detail);
        quar_msg_free(m);
        if (rc != EX_OK)
            return rc;
    }
    return EX_OK;
}

/* purge: remove every expired original. */
static int cmd_purge(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"dry-run", 0, NULL, 'n'},
                                         {"reason", 1, NULL, 'r'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *reason = "retention period ended";
    JsonBuilder *b = NULL;
    char **ids = NULL, *err = NULL;
    size_t n = 0;
    int opt, dry = 0, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(purge_help, stdout), EX_OK;
        if (opt == 'n')
            dry = 1;
        else if (opt == 'r')
            reason = optarg;
        else
            return usage("purge", "unknown option");
    }
    if (optind != argc)
        return usage("purge", "unexpected argument");
    if (quar_expired(c->s, (int64_t)time(NULL), &ids, &n, &err) != 0)
        return store_fail(err);
    if (c->json) {
        b = json_builder_new();
        json_builder_begin_object(b);
        san_json_str(b, "action", dry ? "purge-dry-run" : "purged");
        json_builder_set_member_name(b, "ids");
        json_builder_begin_array(b);
    }
    rc = purge_ids(c, ids, n, dry, reason, b);
    if (b) {
        json_builder_end_array(b);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, rc == EX_OK);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else if (rc == EX_OK && n == 0) {
        printf("nothing to purge\n");
    }
    g_strfreev(ids);
    return rc;
}

static const command commands[] = {
    {"list", cmd_list, list_help},       {"show", cmd_show, show_help},
    {"export", cmd_export, export_help}, {"release", cmd_release, release_help},
    {"delete", cmd_delete, delete_help}, {"purge", cmd_purge, purge_help},
};

/* Who is acting: --actor, else $SUDO_USER, else the login name of the uid. */
static const char *find_actor(const char *given)
{
    static char uidname[32];
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw;

    if (given && *given)
        return given;
    if (sudo && *sudo)
        return sudo;
    pw = getpwuid(getuid());
    if (pw && pw->pw_name)
        return pw->pw_name;
    if (mg_snprintf(uidname, sizeof uidname, "uid %u", (unsigned)getuid()) < 0)
        return "unknown";
    return uidname;
}

/* Parse the options before COMMAND; *cmd_at is the index of COMMAND. -1: exit with *ex. */
static int global_opts(int argc, char **argv, const char **cfg, ctx *c, const char **actor, int *ex)
{
    static const struct option opts[] = {{"config", 1, NULL, 'c'},  {"json", 0, NULL, 'j'},
                                         {"actor", 1, NULL, 'a'},   {"help", 0, NULL, 'h'},
                                         {"version", 0, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        if (opt == 'c')
            *cfg = optarg;
        else if (opt == 'j')
            c->json = 1;
        else if (opt == 'a')
            *actor = optarg;
        else if (opt == 'h' || opt == 'V') {
            fputs(opt == 'h' ? main_help : "mugai-quarantine " MUGAI_VERSION "\n", stdout);
            return *ex = EX_OK, -1;
        } else {
            return *ex = EX_USAGE, -1;
        }
    }
    if (optind >= argc) {
        complain("no command given (see mugai-quarantine --help)");
        return *ex = EX_USAGE, -1;
    }
    return 0;
}

/* Load the configuration and open the store. Exit status. */
static int open_ctx(ctx *c, const char *cfg)
{
    char *err = NULL;

    c->cf = conf_load(cfg, &err);
    if (!c->cf) {
        complain("configuration: %s", err ? err : "cannot load");
        free(err);
        return EX_USAGE;
    }
    c->s = quar_open_fs(c->cf->quarantine_dir, c->cf->quarantine_retention_days, &err);
    return c->s ? EX_OK : store_fail(err);
}

/* The command named name, or NULL. */
static const command *find_command(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Non-zero when the subcommand's arguments ask for help. */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

/* Global options, configuration, store, then the command. */
int main(int argc, char **argv)
{
    ctx c = {0};
    const char *cfg = NULL, *actor = NULL;
    const command *cmd;
    int ex = EX_OK, sub_argc;
    char **sub_argv;

    setlocale(LC_ALL, "");
    mg_log_init("mugai-quarantine", 0, MG_LOG_WARNING);
    if (global_opts(argc, argv, &cfg, &c, &actor, &ex) < 0)
        return ex;
    if (!(cmd = find_command(argv[optind]))) {
        complain("unknown command '%s' (see mugai-quarantine --help)", argv[optind]);
        return EX_USAGE;
    }
    sub_argc = argc - optind;
    sub_argv = argv + optind;
    if (wants_help(sub_argc, sub_argv))
        return sub_help(cmd);
    c.actor = find_actor(actor);
    if ((ex = open_ctx(&c, cfg)) == EX_OK) {
        g_mime_init();
        curl_global_init(CURL_GLOBAL_DEFAULT);
        optind = 0;
        ex = cmd->run(&c, sub_argc, sub_argv);
        curl_global_cleanup();
        g_mime_shutdown();
    }
    quar_close(c.s);
    conf_free(c.cf);
    return ex;
}
