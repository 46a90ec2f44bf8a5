/*
 * tools/mugai-quarantine.c - the quarantine tool for IT staff: list, show,
 * export, release, delete and purge originals kept by the quarantine store;
 * show the encrypted attachments held for their password ([ppap]);
 * request, approve and deny releases and exports under the two-person rule
 * ([web] release_approvals); read and verify the audit trail.
 *
 * Run by hand (usually through sudo) as the store's owner, on the Internet
 * side. It reads untrusted originals only to copy them out (export, release)
 * or, for `export --part`, to parse their MIME structure with GMime; it never
 * renders or executes them. Text from mail (subjects, names) is stripped of
 * control characters before it reaches the terminal. It must never report
 * success for an action on an original (export, release, delete, purge)
 * before that action's audit event, naming actor and reason, is written,
 * never release or export under the two-person rule without another person's
 * approval recorded by the store, and never overwrite an existing file.
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

enum {
    EX_OK = 0,
    EX_UNKNOWN = 1, /* unknown id or part */
    EX_USAGE = 2,
    EX_STORE = 3,
    EX_RELEASE = 4,
    EX_PENDING = 5, /* a request now waits for another person's approval */
    EX_SELF = 6,    /* the requester tried to decide their own request */
    EX_WRONG = 7    /* unlock: the password did not open the part */
};
/* `audit verify` found the chain broken. */
#define EX_BROKEN 1

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
    "    mugai-quarantine [-c FILE] [-v] [--json] [--actor NAME] COMMAND [ARGS]\n"
    "    mugai-quarantine COMMAND --help\n"
    "\n"
    "DESCRIPTION\n"
    "    mugai keeps the original of every message it sanitizes in the quarantine\n"
    "    store ([quarantine] dir). This tool is how IT staff find a message, look at\n"
    "    what was done to each part, and, when there is a reason, hand out or\n"
    "    re-deliver the original. Every command that touches an original (export,\n"
    "    release, delete, purge) records an audit event with the actor and the\n"
    "    reason before it reports success; releases and exports need a second\n"
    "    person's approval (see TWO-PERSON RULE), and the audit trail can be checked\n"
    "    for rows changed behind the store's back (audit verify). Ids are\n"
    "    case-insensitive.\n"
    "\n"
    "COMMANDS\n"
    "    list [--since DATE] [--until DATE] [--sender TEXT] [--recipient TEXT]\n"
    "         [--verdict V] [--status S] [--limit N]\n"
    "        Messages newest first. DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (local\n"
    "        time); --until with a date alone includes that whole day.\n"
    "    show ID\n"
    "        Envelope, decoded headers, each part with its types and the action\n"
    "        taken, the state of each held encrypted part, the text the recipients\n"
    "        received, the last release's outcome and the audit events.\n"
    "    export ID -o FILE --reason TEXT [--part PATH]\n"
    "        Write the original message (or one part, decoded) to a new FILE (0600),\n"
    "        or request it (see TWO-PERSON RULE).\n"
    "    release ID --reason TEXT [--to ADDR]...\n"
    "        Re-send the original over SMTP to the release listener (no milter),\n"
    "        to its envelope recipients or to the --to addresses, or request it.\n"
    "    requests [--status S] [--item ID]\n"
    "        Requests to release or export, with their decisions and results.\n"
    "    approve RID --reason TEXT [-o FILE [--part PATH]]\n"
    "        Approve another person's request and carry it out.\n"
    "    deny RID --reason TEXT\n"
    "        Refuse another person's request.\n"
    "    delete ID --reason TEXT\n"
    "        Remove the original; the index entry and its audit trail stay.\n"
    "    purge [--dry-run] [--reason TEXT]\n"
    "        Remove every original past its retention.\n"
    "    held [--status S] [--item ID]\n"
    "        Encrypted attachments held until their password arrives (PPAP), oldest\n"
    "        message first: each part's state (pending, opened, locked after too many\n"
    "        wrong passwords, expired), wrong passwords so far, expiry, and how it was\n"
    "        opened. No password is ever stored.\n"
    "    unlock ID [--part PATH]\n"
    "        Open a held encrypted attachment (PPAP) with its password, read from\n"
    "        standard input or prompted for; the recipients get its sanitized\n"
    "        contents in a follow-up mail.\n"
    "    audit [--actor NAME] [--item ID] [--action A] [--since DATE] [--until DATE]\n"
    "          [--limit N]\n"
    "        Audit events newest first, with where they came from and their outcome.\n"
    "    audit verify [--head N:HASH]\n"
    "        Check the audit trail's hash chain: find the first event that was\n"
    "        changed, removed or inserted, or a trail cut short; with --head, also\n"
    "        check event N against a head noted from the log.\n"
    "\n"
    "TWO-PERSON RULE\n"
    "    With [web] release_approvals = 2 (the default), releasing or exporting an\n"
    "    original needs two people, here as in the review console (mugai-web):\n"
    "    `release` and `export` record a request and exit with status 5; another\n"
    "    person runs `approve RID` (or denies it), which carries it out. The store\n"
    "    refuses an approval by the requester (exit status 6). Who acts is --actor,\n"
    "    else $SUDO_USER, else the login name: give each person their own sudo\n"
    "    account. Under sudo the actor is always $SUDO_USER (another --actor is\n"
    "    refused). With release_approvals = 1, release and export happen at once.\n"
    "    `delete` and `purge` always happen at once. Every step is audited.\n"
    "\n"
    "OPTIONS\n"
    "    -c, --config FILE   configuration file (default " CONF_DEFAULT_PATH ")\n"
    "    --json              machine-readable output (one JSON document)\n"
    "    --actor NAME        who is acting, for the audit trail and the two-person\n"
    "                        rule (default: $SUDO_USER, else the login name of the\n"
    "                        current user); under sudo only $SUDO_USER itself\n"
    "    -v, --verbose       also print informational log lines to stderr, such as\n"
    "                        \"audit: trail head N HASH\" after each event recorded\n"
    "    -h, --help          this text; COMMAND --help describes one command\n"
    "    --version           print the version\n"
    "\n"
    "CONFIGURATION\n"
    "    [quarantine] dir, retention_days, release_host, release_port, release_helo;\n"
    "    [web] release_approvals; [ppap] max_attempts (unlock), hold_days.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success, or an audit trail found intact;\n"
    "    1 unknown id, request or part, or `audit verify` found the trail broken;\n"
    "    2 usage or configuration error;\n"
    "    3 store error (including an original that was already removed, a changed\n"
    "      original, or a request that is no longer pending);\n"
    "    4 release failed (the SMTP server's reply is printed);\n"
    "    5 pending approval: a request was recorded (or one was already pending) and\n"
    "      another person must approve it;\n"
    "    6 refused: the requester cannot approve or deny their own request;\n"
    "    7 unlock: the password did not open the part.\n"
    "\n"
    "EXAMPLES\n"
    "    mugai-quarantine list --since 2026-11-01 --recipient somu@ --verdict blocked\n"
    "    mugai-quarantine show Q-20261125-7F3K9X\n"
    "    mugai-quarantine held --status locked\n"
    "    sudo mugai-quarantine release q-20261125-7f3k9x --reason \"sender confirmed by phone\"\n"
    "        (prints: request 12 ... needs approval by another person)\n"
    "    sudo mugai-quarantine approve 12 --reason \"checked with 総務課\"   (another person)\n"
    "    sudo mugai-quarantine export Q-20261125-7F3K9X --part 2 -o /tmp/mitsumori.xlsx \\\n"
    "        --reason \"総務課の依頼 (問合せ 1234)\"\n"
    "    mugai-quarantine requests --status pending\n"
    "    mugai-quarantine --json list --status quarantined --limit 50\n"
    "    mugai-quarantine audit --item Q-20261125-7F3K9X\n"
    "    mugai-quarantine audit verify\n"
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
        san_json_str(b, "source", ev[i]->source);
        san_json_str(b, "outcome", ev[i]->outcome);
        san_json_int(b, "seq", ev[i]->seq);
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
    printf("\nEvents:\n  %-19s  %-16s  %-14s  %-15s  %s\n", "TIME", "ACTOR", "ACTION", "SOURCE",
           "OUTCOME / REASON / DETAIL");
    for (size_t i = 0; i < n; i++) {
        char *t = fmt_time(ev[i]->time, 0);
        char *actor = fit(ev[i]->actor, 16), *action = fit(ev[i]->action, 14);
        char *src = fit(ev[i]->source, 15), *out = clean(ev[i]->outcome);
        char *reason = clean(ev[i]->reason), *detail = clean(ev[i]->detail);
        printf("  %s  %s  %s  %s  %s", t, actor, action, src, *out ? out : "-");
        printf("%s%s%s%s\n", *reason ? " / " : "", reason, *detail ? " / " : "", detail);
        g_free(t);
        g_free(actor);
        g_free(action);
        g_free(src);
        g_free(out);
        g_free(reason);
        g_free(detail);
    }
}

/* Held parts of message id (normalized), in part order. 0 or -1. */
static int held_of(ctx *c, const char *id, quar_held ***out, size_t *n, char **err)
{
    quar_held_filter f = {.msg_id = id};

    return quar_held_list(c->s, &f, out, n, err) == 0 ? 0 : -1;
}

/* "how, at TIME" for an opened part, "-" otherwise. Caller frees. */
static char *opened_text(const quar_held *h)
{
    char *how = clean(h->opened_by), *t, *s;

    if (!h->opened && !*how) {
        g_free(how);
        return g_strdup("-");
    }
    t = fmt_time(h->opened, 0);
    s = g_strdup_printf("%s, %s", *how ? how : "?", t);
    g_free(how);
    g_free(t);
    return s;
}

/* Print the held parts' states: of one message in show, else with the message's columns. */
static void print_held_rows(quar_held **l, size_t n, int with_msg)
{
    if (with_msg)
        printf("%-17s  %-16s  %-24s  ", "ID", "RECEIVED", "SENDER");
    printf("%-6s  %-24s  %-8s  %5s  %-16s  %s\n", "PART", "FILE NAME", "STATUS", "WRONG", "EXPIRES",
           "OPENED BY");
    for (size_t i = 0; i < n; i++) {
        const quar_held *h = l[i];
        char *part = fit(h->part, 6), *name = fit(h->filename, 24), *st = fit(h->status, 8);
        char *exp = fmt_time(h->expires, 0), *opened = opened_text(h);
        if (with_msg) {
            char *t = fmt_time(h->time, 0);
            char *snd = fit(h->sender && *h->sender ? h->sender : "<>", 24);
            t[16] = '\0';
            printf("%-17s  %-16s  %s  ", h->msg_id, t, snd);
            g_free(t);
            g_free(snd);
        } else {
            printf("  ");
        }
        exp[16] = '\0';
        printf("%s  %s  %s  %5u  %-16s  %s\n", part, name, st, h->attempts, exp, opened);
        g_free(part);
        g_free(name);
        g_free(st);
        g_free(exp);
        g_free(opened);
    }
}

/* Print the "Held encrypted parts" section of show (nothing when there are none). */
static void print_held_of(quar_held **l, size_t n)
{
    if (n == 0)
        return;
    printf("\nHeld encrypted parts:\n  ");
    print_held_rows(l, n, 0);
}

/* Add "held": [...] (each part's state, and its message's id, time and sender) to the open
 * object. */
static void json_held(JsonBuilder *b, quar_held **l, size_t n)
{
    json_builder_set_member_name(b, "held");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        const quar_held *h = l[i];
        json_builder_begin_object(b);
        san_json_str(b, "id", h->msg_id);
        san_json_str(b, "part", h->part);
        san_json_str(b, "filename", h->filename);
        san_json_str(b, "status", h->status);
        san_json_int(b, "attempts", h->attempts);
        json_time(b, "expires", h->expires);
        san_json_str(b, "opened_by", h->opened_by);
        if (h->opened)
            json_time(b, "opened", h->opened);
        else
            san_json_str(b, "opened", NULL);
        json_time(b, "time", h->time);
        san_json_str(b, "sender", h->sender);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Print a stored text under a title, each line cleaned and indented (nothing when NULL). */
static void print_text(const char *title, const char *text)
{
    char **lines;

    if (!text)
        return;
    printf("\n%s\n", title);
    lines = g_strsplit(text, "\n", -1);
    for (size_t i = 0; lines[i]; i++) {
        char *l;
        if (!lines[i + 1] && !*lines[i])
            break; /* the text's last line end */
        g_strchomp(lines[i]);
        l = clean(lines[i]);
        printf("%s%s\n", *l ? "  " : "", l);
        g_free(l);
    }
    g_strfreev(lines);
}

/* Print a message for people, its held parts' states after its parts. */
static void print_show(const quar_msg *m, quar_held **held, size_t nheld, quar_event **ev, size_t n)
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
    if (m->release_result)
        field("Release:", m->release_result);
    print_text("Headers:", m->headers);
    print_parts(m);
    print_held_of(held, nheld);
    print_text("Text the recipients received:", m->clean_text);
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
    "Prints the envelope, the decoded subject and From, the last release's outcome\n"
    "(the release listener's reply, or why it failed), the original's top-level\n"
    "header fields as the engine decoded them, each part (IMAP part number, file\n"
    "name, declared and detected type, size, SHA-256, action, reason, virus\n"
    "signature), the state of each encrypted part held for its password (status,\n"
    "wrong passwords so far, expiry, how and when it was opened; see `held`), the\n"
    "text the recipients received (the converted body and the\n"
    "notice), and the audit events, oldest first, with where each came from and its\n"
    "outcome. Headers and text are shown when the engine recorded them. Reading the\n"
    "index does not touch the original and records no event.\n"
    "\n"
    "example: mugai-quarantine show Q-20261125-7F3K9X\n";

/* show: one message with parts and events. */
static int cmd_show(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0}};
    quar_msg *m = NULL;
    quar_event **ev = NULL;
    quar_held **held = NULL;
    size_t n = 0, nheld = 0;
    char *err = NULL;
    const char *id;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1)
        return opt == 'h' ? (fputs(show_help, stdout), EX_OK) : usage("show", "unknown option");
    if (!(id = one_id(argc, argv)))
        return usage("show", "needs exactly one ID");
    if ((rc = quar_get(c->s, id, &m, &err)) != 0)
        return store_rc(rc, id, err);
    if ((rc = quar_events(c->s, id, &ev, &n, &err)) != 0 ||
        (rc = held_of(c, m->id, &held, &nheld, &err)) != 0) {
        quar_event_list_free(ev, n);
        quar_msg_free(m);
        return store_rc(rc, id, err);
    }
    if (c->json) {
        JsonBuilder *b = json_builder_new();
        json_builder_begin_object(b);
        json_msg_fields(b, m);
        san_json_str(b, "headers", m->headers);
        san_json_str(b, "clean_text", m->clean_text);
        san_json_str(b, "release_result", m->release_result);
        san_json_parts(b, m);
        json_held(b, held, nheld);
        json_events(b, ev, n);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else {
        print_show(m, held, nheld, ev, n);
    }
    quar_held_list_free(held, nheld);
    quar_event_list_free(ev, n);
    quar_msg_free(m);
    return EX_OK;
}

static const char *const held_statuses[] = {"pending", "opened", "locked", "expired", NULL};

static const char held_help[] =
    "mugai-quarantine held - encrypted attachments held for their password\n"
    "\n"
    "usage: mugai-quarantine [--json] held [--status S] [--item ID]\n"
    "\n"
    "An encrypted attachment (a zip or 7z with a password, a password-protected\n"
    "PDF) cannot be inspected, so the engine holds it and the store records it as\n"
    "pending a password for [ppap] hold_days. It is opened by the sender's password\n"
    "mail, a recipient's reply or IT (`unlock`); after [ppap] max_attempts wrong\n"
    "passwords it is locked (only IT can open it); at its expiry it becomes expired.\n"
    "This lists the held parts, oldest message first, then in part order: the\n"
    "message's id, time and envelope sender, the IMAP part number, the file name,\n"
    "the status, how many wrong passwords were tried, the expiry, and for an opened\n"
    "part how it was opened (which mail, which recipient or which IT user gave the\n"
    "password) and when. No password is ever stored. Reading records no event.\n"
    "\n"
    "  --status S   pending, opened, locked or expired\n"
    "  --item ID    the parts of one message\n"
    "\n"
    "With --json: {\"held\": [{\"id\", \"part\", \"filename\", \"status\", \"attempts\",\n"
    "\"expires\", \"opened_by\", \"opened\", \"time\", \"sender\"}, ...]}, times in ISO 8601\n"
    "(\"opened\" null while not opened).\n"
    "\n"
    "example: mugai-quarantine held --status pending\n";

/* held: the held encrypted parts and their states. */
static int cmd_held(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"status", 1, NULL, 't'},
                                         {"item", 1, NULL, 'i'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    quar_held_filter f = {0};
    quar_held **l = NULL;
    size_t n = 0;
    char *err = NULL;
    int opt;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(held_help, stdout), EX_OK;
        if (opt == 't' && !one_of(optarg, held_statuses))
            return usage("held", "--status is pending, opened, locked or expired");
        if (opt == 't')
            f.status = optarg;
        else if (opt == 'i')
            f.msg_id = optarg;
        else
            return usage("held", "unknown option");
    }
    if (optind != argc)
        return usage("held", "unexpected argument");
    if (quar_held_list(c->s, &f, &l, &n, &err) != 0)
        return store_fail(err);
    if (c->json) {
        JsonBuilder *b = json_builder_new();
        json_builder_begin_object(b);
        json_held(b, l, n);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else {
        print_held_rows(l, n, 1);
    }
    quar_held_list_free(l, n);
    return EX_OK;
}

/* Record an audit event by the actor, from the command line, with its outcome (NULL: "ok");
 * on failure report it and return EX_STORE. */
static int audit_ev(ctx *c, const char *id, const char *action, const char *reason,
                    const char *detail, const char *outcome)
{
    quar_event ev = {0};
    char *err = NULL;
    int rc;

    ev.msg_id = (char *)id;
    ev.actor = (char *)c->actor;
    ev.action = (char *)action;
    ev.reason = (char *)reason;
    ev.detail = (char *)detail;
    ev.source = (char *)"cli";
    ev.outcome = (char *)(outcome ? outcome : "ok");
    rc = quar_audit_ev(c->s, &ev, &err);
    if (rc == 0)
        return EX_OK;
    complain("%s: audit event not recorded: %s", id ? id : "-", err ? err : "unknown id");
    free(err);
    return EX_STORE;
}

/* Record a successful action in the audit trail; EX_OK or EX_STORE. */
static int audit(ctx *c, const char *id, const char *action, const char *reason, const char *detail)
{
    return audit_ev(c, id, action, reason, detail, NULL);
}

/* Non-zero when export and release need a request and a second person's approval. */
static int two_person(const ctx *c)
{
    return c->cf->web_release_approvals >= 2;
}

/* The command that approves request rid, with what the action needs (extra, may be ""). */
static char *approve_hint(int64_t rid, const char *extra)
{
    return g_strdup_printf("mugai-quarantine approve %lld --reason TEXT%s", (long long)rid,
                           extra ? extra : "");
}

/* Say that request rid (action on id by requester) waits for another person. */
static void print_pending(const ctx *c, int64_t rid, const char *id, const char *action,
                          const char *requester, const char *extra, int existed)
{
    char *hint = approve_hint(rid, extra);

    if (c->json) {
        JsonBuilder *b = json_builder_new();
        json_builder_begin_object(b);
        san_json_str(b, "id", id);
        san_json_str(b, "action", action);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, FALSE);
        san_json_str(b, "status", "pending");
        san_json_int(b, "request", rid);
        san_json_str(b, "requester", requester);
        san_json_str(b, "needs", hint);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else {
        char *who = clean(requester);
        printf("request %lld: %s of %s by %s %s\n", (long long)rid, action, id, who,
               existed ? "was already pending" : "is pending");
        printf("needs approval by another person: %s\n", hint);
        g_free(who);
    }
    g_free(hint);
}

/* Report the pending request of action on id that already exists. EX_PENDING or an error. */
static int already_pending(ctx *c, const char *id, const char *action, const char *extra)
{
    quar_request **list = NULL;
    size_t n = 0;
    char *err = NULL;
    int rc = EX_STORE;

    if (quar_request_list(c->s, "pending", id, &list, &n, &err) != 0)
        return store_fail(err);
    for (size_t i = 0; i < n && rc != EX_PENDING; i++) {
        if (strcmp(list[i]->action, action) != 0)
            continue;
        print_pending(c, list[i]->id, id, action, list[i]->requester, extra, 1);
        rc = EX_PENDING;
    }
    if (rc != EX_PENDING)
        complain("%s: the store reports a pending %s request but lists none", id, action);
    quar_request_list_free(list, n);
    return rc;
}

/* Ask for action on m under the two-person rule: a new pending request (audited), or the one
 * already pending. to: release addresses (comma-separated) or NULL; detail: for the audit
 * trail; extra: what the approval command needs besides the reason. EX_PENDING or an error. */
static int make_request(ctx *c, const quar_msg *m, const char *action, const char *reason,
                        const char *to, const char *detail, const char *extra)
{
    quar_request r = {0};
    char *err = NULL, *what;
    int rc;

    g_strlcpy(r.msg_id, m->id, sizeof r.msg_id);
    r.action = (char *)action;
    r.reason = (char *)reason;
    r.to = (char *)to;
    r.requester = (char *)c->actor;
    rc = quar_request_add(c->s, &r, &err);
    if (rc == 2) {
        free(err);
        return already_pending(c, m->id, action, extra);
    }
    if (rc != 0)
        return store_rc(rc, m->id, err);
    what = g_strdup_printf("%s request %lld%s%s", action, (long long)r.id, detail ? " " : "",
                           detail ? detail : "");
    rc = audit(c, m->id, "requested", reason, what);
    if (rc == EX_OK) {
        print_pending(c, r.id, m->id, action, c->actor, extra, 0);
        rc = EX_PENDING;
    }
    g_free(what);
    g_free(r.status); /* set by the store */
    return rc;
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

static const char export_help[] =
    "mugai-quarantine export - copy an original (or one part) out of quarantine\n"
    "\n"
    "usage: mugai-quarantine [--actor NAME] export ID -o FILE --reason TEXT [--part PATH]\n"
    "\n"
    "  -o, --output FILE  new file to write (mode 0600; an existing FILE is never\n"
    "                     overwritten)\n"
    "  --reason TEXT      why the original is needed (required, kept in the audit trail)\n"
    "  --part PATH        only this part, decoded from its transfer encoding; PATH is the\n"
    "                     IMAP part number shown by `show` (1, 2, 2.1, ...)\n"
    "\n"
    "With [web] release_approvals = 2 (the default) an export needs two people: this\n"
    "command records a request, prints its number and the command another person\n"
    "runs to approve it (mugai-quarantine approve RID --reason TEXT -o FILE\n"
    "[--part PATH]: the approver writes the file), and exits with status 5 (pending\n"
    "approval). With release_approvals = 1 the file is written at once.\n"
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
    rc = part ? san_part_write(in, out, part) : copy_fd(in, out);
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

/* Export m (or one part) to out now, audited as exported by the actor; note is added to the
 * event's detail (may be NULL). Exit status. */
static int export_now(ctx *c, const quar_msg *m, const char *out, const char *part,
                      const char *reason, const char *note)
{
    char *detail;
    int rc;

    if ((rc = do_export(c, m->id, out, part)) != EX_OK)
        return rc;
    detail = g_strdup_printf("%s%s%sto %s%s%s", part ? "part " : "", part ? part : "",
                             part ? " " : "", out, note ? " " : "", note ? note : "");
    if ((rc = audit(c, m->id, "exported", reason, detail)) != EX_OK)
        unlink(out);
    else if (c->json)
        json_result(m->id, "exported", detail);
    else
        printf("%s: exported %s\n", m->id, detail);
    g_free(detail);
    return rc;
}

/* v as one shell word: as it is when it needs no quoting, else quoted. Caller g_free()s. */
static char *shell_word(const char *v)
{
    for (const char *p = v; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("_./@:+,-", *p))
            return g_shell_quote(v);
    return *v ? g_strdup(v) : g_shell_quote(v);
}

/* Ask for an export of m under the two-person rule. EX_PENDING or an error. */
static int export_request(ctx *c, const quar_msg *m, const char *out, const char *part,
                          const char *reason)
{
    char *q = shell_word(out), *qp = part ? shell_word(part) : NULL;
    char *extra = g_strdup_printf(" -o %s%s%s", q, qp ? " --part " : "", qp ? qp : "");
    char *detail = g_strdup_printf("(%s%s%sto %s)", part ? "part " : "", part ? part : "",
                                   part ? " " : "", out);
    int rc = make_request(c, m, "export", reason, NULL, detail, extra);

    g_free(q);
    g_free(qp);
    g_free(extra);
    g_free(detail);
    return rc;
}

/* export: the original or one part to a new file, or a request for it. */
static int cmd_export(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"output", 1, NULL, 'o'},
                                         {"reason", 1, NULL, 'r'},
                                         {"part", 1, NULL, 'p'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *reason = NULL, *part = NULL, *id;
    quar_msg *m = NULL;
    char *err = NULL;
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
    if ((rc = quar_get(c->s, id, &m, &err)) != 0)
        return store_rc(rc, id, err);
    if (two_person(c))
        rc = export_request(c, m, out, part, reason);
    else
        rc = export_now(c, m, out, part, reason, NULL);
    quar_msg_free(m);
    return rc;
}

static const char release_help[] =
    "mugai-quarantine release - deliver the original message after all\n"
    "\n"
    "usage: mugai-quarantine [--actor NAME] release ID --reason TEXT [--to ADDR]...\n"
    "\n"
    "  --reason TEXT  why the original may go through (required, kept in the audit trail)\n"
    "  --to ADDR      deliver to ADDR instead of the envelope recipients (repeatable)\n"
    "\n"
    "With [web] release_approvals = 2 (the default) a release needs two people: this\n"
    "command records a request, prints its number and the command another person\n"
    "runs to approve it (mugai-quarantine approve RID --reason TEXT), and exits with\n"
    "status 5 (pending approval). Nothing is sent until then. When a request for\n"
    "this message is already pending, that one is shown instead.\n"
    "\n"
    "With release_approvals = 1, or when the request is approved, the original is\n"
    "sent unchanged over SMTP to [quarantine] release_host:release_port (a Postfix\n"
    "listener without milters), EHLO release_helo, MAIL FROM the stored envelope\n"
    "sender. Success is reported only when the listener accepted the message; its\n"
    "reply (\"250 2.0.0 Ok: queued as ...\") and the queue id are printed and kept\n"
    "on the message. When the listener refuses or cannot be reached, the reason\n"
    "(with the server's reply) is printed and kept, and the exit status is 4.\n"
    "\n"
    "examples: mugai-quarantine release Q-20261125-7F3K9X --reason \"confirmed by phone\"\n"
    "          mugai-quarantine release Q-20261125-7F3K9X --reason \"forward to IT\" \\\n"
    "              --to kikaku@city.example.lg.jp\n";

/* Print a release's outcome: the listener's reply and the queue id it names. */
static void print_released(const ctx *c, const quar_msg *m, int64_t rid, const char *reply)
{
    char *qid = quar_queue_id(reply), *r = clean(reply);

    if (c->json) {
        JsonBuilder *b = json_builder_new();
        json_builder_begin_object(b);
        san_json_str(b, "id", m->id);
        san_json_str(b, "action", "released");
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, TRUE);
        if (rid > 0)
            san_json_int(b, "request", rid);
        san_json_str(b, "reply", reply);
        san_json_str(b, "queue_id", qid);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else {
        printf("%s: released; the release listener answered: %s\n", m->id, r);
        if (qid)
            printf("queue id: %s\n", qid);
    }
    g_free(qid);
    g_free(r);
}

/* Send m's original to rcpts (NULL: its envelope recipients) now, recorded by quar_release;
 * print the outcome. rid: the request carried out, or 0. When outcome is not NULL, *outcome
 * gets the listener's reply, or "failed: WHY" (g_free). Exit status. */
static int release_now(ctx *c, const quar_msg *m, char *const *rcpts, const char *reason,
                       int64_t rid, char **outcome)
{
    quar_listener l = {c->cf->release_host, c->cf->release_port, c->cf->release_helo};
    char *reply = NULL, *err = NULL;
    int rc = quar_release(c->s, &l, m, rcpts, c->actor, "cli", reason, &reply, &err);

    if (rc == 0)
        print_released(c, m, rid, reply);
    else if (rc == -2)
        complain("release of %s failed: %s", m->id, reply);
    if (outcome && rc == 0)
        *outcome = g_strdup(reply);
    else if (outcome)
        *outcome = g_strdup_printf("failed: %s", rc == -2 ? reply : err ? err : "store error");
    g_free(reply);
    if (rc == -1)
        return store_fail(err);
    return rc == 0 ? EX_OK : EX_RELEASE;
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

/* Ask for a release of m under the two-person rule. EX_PENDING or an error. */
static int release_request(ctx *c, const quar_msg *m, GPtrArray *to, const char *reason)
{
    char *list = to->len > 1 ? g_strjoinv(",", (char **)to->pdata) : NULL;
    char *detail = list ? g_strdup_printf("to %s", list) : NULL;
    int rc = make_request(c, m, "release", reason, list, detail, "");

    g_free(list);
    g_free(detail);
    return rc;
}

/* release: re-inject the original over SMTP, or ask for it. */
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
    else if (two_person(c))
        rc = release_request(c, m, to, reason);
    else
        rc = release_now(c, m, to->len > 1 ? (char **)to->pdata : NULL, reason, 0, NULL);
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
    "It also expires held encrypted attachments (PPAP) whose [ppap] hold_days are over\n"
    "and tells their recipients through the release listener (the milter's workers do\n"
    "the same as mail passes).\n"
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
static int unlock_deliver(void *listener, int fd, char *const *rcpts, char **reply);

/* Expire the held encrypted parts whose [ppap] hold_days are over, telling their recipients
 * through the release listener. */
static void expire_held(ctx *c)
{
    quar_listener l = {c->cf->release_host, c->cf->release_port, c->cf->release_helo};
    san_ppap x = {NULL, c->s, c->cf, c->actor, "cli", unlock_deliver, &l};
    int n = san_ppap_expire(&x, (int64_t)time(NULL));

    if (n > 0 && !c->json)
        printf("%d held encrypted part(s) expired; their recipients were told\n", n);
}

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
    if (!dry)
        expire_held(c);
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

/* Parse a request id (a positive integer) into *rid; 0 or -1. */
static int parse_rid(const char *v, int64_t *rid)
{
    char *end;
    long long n;

    if (!v || !g_ascii_isdigit(v[0]))
        return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || *end || n <= 0)
        return -1;
    *rid = n;
    return 0;
}

/* Add one request's fields to the open JSON object. */
static void json_request(JsonBuilder *b, const quar_request *r)
{
    san_json_int(b, "id", r->id);
    san_json_str(b, "item", r->msg_id);
    san_json_str(b, "action", r->action);
    san_json_str(b, "reason", r->reason);
    san_json_str(b, "to", r->to);
    san_json_str(b, "requester", r->requester);
    json_time(b, "time", r->time);
    san_json_str(b, "status", r->status);
    san_json_str(b, "approver", r->approver);
    if (r->decided)
        json_time(b, "decided", r->decided);
    else
        san_json_str(b, "decided", NULL);
    san_json_str(b, "decision_reason", r->decision_reason);
    san_json_str(b, "result", r->result);
}

/* Print requests as {"requests": [...]}. */
static void print_requests_json(quar_request **list, size_t n)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "requests");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        json_builder_begin_object(b);
        json_request(b, list[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    print_json(json_builder_get_root(b));
    g_object_unref(b);
}

/* Print one request's line (and its decision and result, when there are any). */
static void print_request(const quar_request *r)
{
    char *t = fmt_time(r->time, 0), *who = fit(r->requester, 12), *act = fit(r->action, 7);
    char *st = fit(r->status, 8), *reason = clean(r->reason), *to = clean(r->to);

    t[16] = '\0';
    printf("%6lld  %-16s  %-17s  %s  %s  %s  %s%s%s\n", (long long)r->id, t, r->msg_id, act, who,
           st, reason, r->to ? " / to " : "", r->to ? to : "");
    if (r->approver) {
        char *ap = clean(r->approver), *dr = clean(r->decision_reason);
        printf("%6s  decided by %s: %s\n", "", ap, dr);
        g_free(ap);
        g_free(dr);
    }
    if (r->result) {
        char *res = clean(r->result);
        printf("%6s  result: %s\n", "", res);
        g_free(res);
    }
    g_free(t);
    g_free(who);
    g_free(act);
    g_free(st);
    g_free(reason);
    g_free(to);
}

static const char *const request_statuses[] = {"pending", "approved", "denied",
                                               "done",    "failed",   NULL};

static const char requests_help[] =
    "mugai-quarantine requests - requests to release or export originals\n"
    "\n"
    "usage: mugai-quarantine [--json] requests [--status S] [--item ID]\n"
    "\n"
    "  --status S  pending, approved (being carried out), denied, done or failed\n"
    "  --item ID   only requests about this message\n"
    "  --json      machine-readable output (as the global --json)\n"
    "\n"
    "Oldest first: id, time, message, action, requester, status and reason; then who\n"
    "decided and why, and the result (the release listener's reply, the file written,\n"
    "or the failure). Requests come from `release` and `export` when [web]\n"
    "release_approvals = 2, and from the review console.\n"
    "\n"
    "example: mugai-quarantine requests --status pending\n";

/* requests: list requests. */
static int cmd_requests(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"status", 1, NULL, 's'},
                                         {"item", 1, NULL, 'i'},
                                         {"json", 0, NULL, 'j'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *status = NULL, *item = NULL;
    quar_request **list = NULL;
    size_t n = 0;
    char *err = NULL, *norm = NULL;
    int opt;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(requests_help, stdout), EX_OK;
        if (opt == 's' && one_of(optarg, request_statuses))
            status = optarg;
        else if (opt == 's')
            return usage("requests", "--status is pending, approved, denied, done or failed");
        else if (opt == 'i')
            item = optarg;
        else if (opt == 'j')
            c->json = 1;
        else
            return usage("requests", "unknown option");
    }
    if (optind != argc)
        return usage("requests", "unexpected argument");
    if (item)
        norm = g_ascii_strup(item, -1);
    if (quar_request_list(c->s, status, norm, &list, &n, &err) != 0) {
        g_free(norm);
        return store_fail(err);
    }
    if (c->json) {
        print_requests_json(list, n);
    } else {
        printf("%6s  %-16s  %-17s  %-7s  %-12s  %-8s  %s\n", "ID", "TIME", "ITEM", "ACTION",
               "REQUESTER", "STATUS", "REASON");
        for (size_t i = 0; i < n; i++)
            print_request(list[i]);
    }
    quar_request_list_free(list, n);
    g_free(norm);
    return EX_OK;
}

/* Record how carrying out request rid ended; EX_OK or EX_STORE. */
static int finish(ctx *c, int64_t rid, int ok, const char *result)
{
    char *err = NULL;

    if (quar_request_finish(c->s, rid, ok ? "done" : "failed", result, &err) == 0)
        return EX_OK;
    complain("request %lld: outcome not recorded: %s", (long long)rid, err ? err : "store error");
    free(err);
    return EX_STORE;
}

/* The addresses of a request's comma-separated to, or NULL for the envelope recipients. */
static char **split_to(const char *to)
{
    char **v;
    size_t k = 0;

    if (!to || !*to)
        return NULL;
    v = g_strsplit(to, ",", -1);
    for (size_t i = 0; v[i]; i++) {
        g_strstrip(v[i]);
        if (*v[i])
            v[k++] = v[i];
        else
            g_free(v[i]);
    }
    v[k] = NULL;
    if (k == 0) {
        g_strfreev(v);
        return NULL;
    }
    return v;
}

/* Carry out an approved release request. Exit status. */
static int approved_release(ctx *c, const quar_request *r, const quar_msg *m)
{
    char **to = split_to(r->to), *outcome = NULL;
    int rc = release_now(c, m, to, r->reason, r->id, &outcome);
    int fin = finish(c, r->id, rc == EX_OK, outcome);

    g_free(outcome);
    g_strfreev(to);
    return rc != EX_OK ? rc : fin;
}

/* Carry out an approved export request: the file out, written by the approver. */
static int approved_export(ctx *c, const quar_request *r, const quar_msg *m, const char *out,
                           const char *part)
{
    char *note = g_strdup_printf("(request %lld)", (long long)r->id), *res;
    int rc = export_now(c, m, out, part, r->reason, note), fin;

    if (rc == EX_OK)
        res = g_strdup_printf("exported %s%s%sto %s", part ? "part " : "", part ? part : "",
                              part ? " " : "", out);
    else
        res = g_strdup_printf("failed: could not export to %s", out);
    fin = finish(c, r->id, rc == EX_OK, res);
    g_free(note);
    g_free(res);
    return rc != EX_OK ? rc : fin;
}

/* Carry out an approved delete request. */
static int approved_delete(ctx *c, const quar_request *r, const quar_msg *m)
{
    char *note = g_strdup_printf("request %lld", (long long)r->id);
    int rc = remove_one(c, m, "deleted", r->reason, note);
    int fin = finish(c, r->id, rc == EX_OK, rc == EX_OK ? "deleted" : "failed: not deleted");

    if (rc == EX_OK && c->json)
        json_result(m->id, "deleted", note);
    else if (rc == EX_OK)
        printf("%s: original deleted\n", m->id);
    g_free(note);
    return rc != EX_OK ? rc : fin;
}

/* Record a decision on r by the actor: quar_request_decide, the audit event, and the
 * refusals the store makes (the requester deciding, a request no longer pending). */
static int decide(ctx *c, const quar_request *r, const char *status, const char *reason)
{
    const char *action = strcmp(status, "approved") == 0 ? "approved" : "denied";
    char *err = NULL, *detail;
    int rc = quar_request_decide(c->s, r->id, status, c->actor, reason, (int64_t)time(NULL), &err);

    detail = g_strdup_printf("%s request %lld by %s", r->action, (long long)r->id, r->requester);
    if (rc == 3) {
        complain("request %lld was made by %s: the requester cannot %s their own request; "
                 "another person must",
                 (long long)r->id, r->requester, strcmp(action, "approved") ? "deny" : "approve");
        rc = audit_ev(c, r->msg_id, action, reason, detail,
                      "refused: the requester cannot decide their own request") == EX_OK
                 ? EX_SELF
                 : EX_STORE;
    } else if (rc == 2) {
        complain("request %lld is %s, not pending: nothing to decide", (long long)r->id, r->status);
        rc = EX_STORE;
    } else if (rc == 1) {
        complain("no request with id %lld", (long long)r->id);
        rc = EX_UNKNOWN;
    } else if (rc != 0) {
        rc = store_fail(err);
        err = NULL;
    } else {
        rc = audit(c, r->msg_id, action, reason, detail);
    }
    free(err);
    g_free(detail);
    return rc;
}

/* Read request rid and its message; an exit status (reported) when either is missing. */
static int load_request(ctx *c, int64_t rid, quar_request **r, quar_msg **m)
{
    char *err = NULL;
    int rc = quar_request_get(c->s, rid, r, &err);

    if (rc == 1) {
        free(err);
        complain("no request with id %lld (see mugai-quarantine requests)", (long long)rid);
        return EX_UNKNOWN;
    }
    if (rc != 0)
        return store_fail(err);
    if ((rc = quar_get(c->s, (*r)->msg_id, m, &err)) != 0)
        return store_rc(rc, (*r)->msg_id, err);
    return EX_OK;
}

/* What approving r needs besides the reason: an action this tool carries out, -o FILE (new)
 * for an export, nothing else for the others. EX_OK or an exit status (reported). */
static int approve_checks(const quar_request *r, const char *out, const char *part)
{
    static const char *const actions[] = {"release", "export", "delete", NULL};
    struct stat st;

    if (!one_of(r->action, actions)) {
        complain("request %lld: unknown action %s", (long long)r->id, r->action);
        return EX_STORE;
    }
    if (strcmp(r->action, "export") != 0)
        return out || part ? usage("approve", "-o and --part are for export requests only") : EX_OK;
    if (!out)
        return usage("approve", "an export request needs -o FILE: where to write the original");
    if (lstat(out, &st) == 0) {
        complain("approve: %s exists (an existing file is never overwritten)", out);
        return EX_USAGE;
    }
    return EX_OK;
}

/* Carry out approved request r on m. Exit status. */
static int carry_out(ctx *c, const quar_request *r, const quar_msg *m, const char *out,
                     const char *part)
{
    if (!strcmp(r->action, "release"))
        return approved_release(c, r, m);
    if (!strcmp(r->action, "export"))
        return approved_export(c, r, m, out, part);
    return approved_delete(c, r, m);
}

static const char approve_help[] =
    "mugai-quarantine approve - approve a pending request and carry it out\n"
    "\n"
    "usage: mugai-quarantine approve RID --reason TEXT [-o FILE [--part PATH]]\n"
    "\n"
    "  --reason TEXT      why you approve (required, kept in the audit trail)\n"
    "  -o, --output FILE  for an export request: the new file to write (mode 0600,\n"
    "                     never overwritten); required for exports\n"
    "  --part PATH        for an export request: only this part (see `export`)\n"
    "\n"
    "The approver must be another person than the requester (the store refuses\n"
    "otherwise: exit status 6). A release is sent at once through the release\n"
    "listener; the listener's reply and the queue id are printed and kept on the\n"
    "request and the message. A release the listener refuses leaves the request\n"
    "\"failed\" with the reason (exit status 4).\n"
    "\n"
    "example: mugai-quarantine --actor suzuki approve 12 --reason \"checked with 総務課\"\n";

/* approve: approve request RID as the actor and carry it out. */
static int cmd_approve(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", 1, NULL, 'r'},
                                         {"output", 1, NULL, 'o'},
                                         {"part", 1, NULL, 'p'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *reason = NULL, *out = NULL, *part = NULL;
    quar_request *r = NULL;
    quar_msg *m = NULL;
    int64_t rid;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(approve_help, stdout), EX_OK;
        if (opt == 'r')
            reason = optarg;
        else if (opt == 'o')
            out = optarg;
        else if (opt == 'p')
            part = optarg;
        else
            return usage("approve", "unknown option");
    }
    if (parse_rid(one_id(argc, argv), &rid) < 0)
        return usage("approve", "needs exactly one request id (a number; see `requests`)");
    if (!reason || !*reason)
        return usage("approve", "--reason TEXT is required: say why you approve");
    if ((rc = load_request(c, rid, &r, &m)) == EX_OK)
        rc = approve_checks(r, out, part);
    if (rc == EX_OK)
        rc = decide(c, r, "approved", reason);
    if (rc == EX_OK && !c->json)
        printf("request %lld: %s of %s approved\n", (long long)rid, r->action, m->id);
    if (rc == EX_OK)
        rc = carry_out(c, r, m, out, part);
    quar_request_free(r);
    quar_msg_free(m);
    return rc;
}

static const char deny_help[] =
    "mugai-quarantine deny - refuse a pending request\n"
    "\n"
    "usage: mugai-quarantine deny RID --reason TEXT\n"
    "\n"
    "  --reason TEXT  why (required, kept with the request and in the audit trail)\n"
    "\n"
    "The request becomes \"denied\"; nothing is sent or written. Another person than\n"
    "the requester decides (exit status 6 otherwise).\n"
    "\n"
    "example: mugai-quarantine --actor suzuki deny 12 --reason \"sender not confirmed\"\n";

/* deny: refuse request RID. */
static int cmd_deny(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", 1, NULL, 'r'}, {"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *reason = NULL;
    quar_request *r = NULL;
    quar_msg *m = NULL;
    int64_t rid;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(deny_help, stdout), EX_OK;
        if (opt != 'r')
            return usage("deny", "unknown option");
        reason = optarg;
    }
    if (parse_rid(one_id(argc, argv), &rid) < 0)
        return usage("deny", "needs exactly one request id (a number; see `requests`)");
    if (!reason || !*reason)
        return usage("deny", "--reason TEXT is required");
    if ((rc = load_request(c, rid, &r, &m)) == EX_OK &&
        (rc = decide(c, r, "denied", reason)) == EX_OK) {
        if (c->json)
            json_result(m->id, "denied", NULL);
        else
            printf("request %lld: %s of %s denied\n", (long long)rid, r->action, m->id);
    }
    quar_request_free(r);
    quar_msg_free(m);
    return rc;
}

/* Add one audit event's fields to the open JSON object. */
static void json_event(JsonBuilder *b, const quar_event *e)
{
    san_json_int(b, "seq", e->seq);
    json_time(b, "time", e->time);
    san_json_str(b, "item", e->msg_id);
    san_json_str(b, "actor", e->actor);
    san_json_str(b, "action", e->action);
    san_json_str(b, "reason", e->reason);
    san_json_str(b, "detail", e->detail);
    san_json_str(b, "source", e->source);
    san_json_str(b, "outcome", e->outcome);
}

/* Print the audit events table (newest first as listed) and how many matched. */
static void print_audit(quar_event **ev, size_t n, size_t total)
{
    printf("%7s  %-19s  %-14s  %-14s  %-17s  %-15s  %s\n", "SEQ", "TIME", "ACTOR", "ACTION", "ITEM",
           "SOURCE", "OUTCOME / REASON / DETAIL");
    for (size_t i = 0; i < n; i++) {
        const quar_event *e = ev[i];
        char *t = fmt_time(e->time, 0), *actor = fit(e->actor, 14), *action = fit(e->action, 14);
        char *src = fit(e->source, 15), *out = clean(e->outcome), *reason = clean(e->reason);
        char *detail = clean(e->detail);
        printf("%7lld  %s  %s  %s  %-17s  %s  %s", (long long)e->seq, t, actor, action,
               e->msg_id ? e->msg_id : "-", src, *out ? out : "-");
        printf("%s%s%s%s\n", *reason ? " / " : "", reason, *detail ? " / " : "", detail);
        g_free(t);
        g_free(actor);
        g_free(action);
        g_free(src);
        g_free(out);
        g_free(reason);
        g_free(detail);
    }
    printf("(%zu of %zu events)\n", n, total);
}

static const char audit_help[] =
    "mugai-quarantine audit - read and check the audit trail\n"
    "\n"
    "usage: mugai-quarantine [--json] audit [--actor NAME] [--item ID] [--action A]\n"
    "           [--since DATE] [--until DATE] [--limit N]\n"
    "       mugai-quarantine [--json] audit verify [--head N:HASH]\n"
    "\n"
    "  --actor NAME   events by this person (or program: mugai-milter, sanitize-file)\n"
    "  --item ID      events about this message\n"
    "  --action A     e.g. stored, requested, approved, denied, released,\n"
    "                 release-failed, exported, deleted, purged, login, login-failed\n"
    "  --since DATE   at or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, local)\n"
    "  --until DATE   at or before DATE (a bare date includes the whole day)\n"
    "  --limit N      at most the N newest matching events\n"
    "  --head N:HASH  (verify) also check event N against a head noted earlier\n"
    "  --json         machine-readable output (as the global --json)\n"
    "\n"
    "The list is newest first: sequence number, time, actor, action, message, where\n"
    "the actor acted from (\"cli\", a client address), the outcome (\"ok\",\n"
    "\"refused: ...\", \"failed: ...\"), the reason and the detail.\n"
    "\n"
    "Every event is chained to the one before it by SHA-256. `audit verify` checks\n"
    "the whole chain and prints \"audit trail intact: N events\", or \"audit trail\n"
    "broken at event N\" naming the first event that was changed, removed or\n"
    "inserted after it was written; the exit status is then 1. N is the last event\n"
    "+ 1 when the trail was cut short or emptied (a message has lost the \"stored\"\n"
    "event recorded with it). Either way it then prints the trail's current head,\n"
    "\"head: N HASH\".\n"
    "\n"
    "Whoever can write the index could rewrite an event and rehash every later\n"
    "one. Each event recorded is also logged (syslog, info) as \"audit: trail head\n"
    "N HASH\"; note such a line, or the head printed here, somewhere the store's\n"
    "owner cannot write, and check it later with --head N:HASH: verify fails,\n"
    "naming N, when event N is missing or its hash differs. With --json the\n"
    "answer has \"head\": {\"seq\", \"hash\"} and, with --head, \"noted\": {\"seq\",\n"
    "\"hash\", \"found\", \"ok\"}.\n"
    "\n"
    "examples: mugai-quarantine audit --item Q-20261125-7F3K9X\n"
    "          mugai-quarantine audit --actor tanaka --since 2026-11-01 --limit 50\n"
    "          mugai-quarantine audit verify\n"
    "          mugai-quarantine audit verify --head 1234:9f86d081884c7d65...\n";

/* A head noted earlier ("audit: trail head N HASH" in the log) and what the trail holds now. */
typedef struct noted_head {
    int64_t seq;
    char hash[65];  /* as noted, lower case */
    char found[65]; /* row seq's hash now; "" when the row is missing */
} noted_head;

/* Parse --head: "N:HASH", "N HASH" or the whole log line. 0 or -1. */
static int parse_head(const char *v, noted_head *h)
{
    const char *p = strstr(v, "trail head ");
    char *end;
    long long n;

    if (p)
        v = p + strlen("trail head ");
    errno = 0;
    n = g_ascii_isdigit(v[0]) ? strtoll(v, &end, 10) : 0;
    if (errno || n <= 0 || (*end != ':' && *end != ' ') || strlen(end + 1) < 64)
        return -1;
    for (int i = 0; i < 64; i++) {
        if (!g_ascii_isxdigit(end[1 + i]))
            return -1;
        h->hash[i] = g_ascii_tolower(end[1 + i]);
    }
    if (end[65] && !g_ascii_isspace(end[65]))
        return -1;
    h->hash[64] = '\0';
    h->seq = n;
    return 0;
}

/* Add the chain's answer (and the noted head's, when given) to the open JSON object. */
static void json_verify(JsonBuilder *b, const quar_chain *ch, const noted_head *h, int ok)
{
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, ok);
    json_builder_set_member_name(b, "first_bad");
    if (ch->ok)
        json_builder_add_null_value(b);
    else
        json_builder_add_int_value(b, ch->first_bad);
    san_json_int(b, "events", (int64_t)ch->events);
    json_builder_set_member_name(b, "head");
    json_builder_begin_object(b);
    san_json_int(b, "seq", ch->head_seq);
    san_json_str(b, "hash", ch->head_hash);
    json_builder_end_object(b);
    if (!h)
        return;
    json_builder_set_member_name(b, "noted");
    json_builder_begin_object(b);
    san_json_int(b, "seq", h->seq);
    san_json_str(b, "hash", h->hash);
    san_json_str(b, "found", h->found[0] ? h->found : NULL);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, strcmp(h->found, h->hash) == 0);
    json_builder_end_object(b);
}

/* Print the chain's answer and the noted head's for a person. */
static void print_verify(const quar_chain *ch, const noted_head *h)
{
    if (ch->ok)
        printf("audit trail intact: %llu events\n", (unsigned long long)ch->events);
    else
        printf("audit trail broken at event %lld (changed, removed or inserted%s); %llu events "
               "checked\n",
               (long long)ch->first_bad, ch->first_bad == ch->head_seq + 1 ? ", or cut there" : "",
               (unsigned long long)ch->events);
    printf("head: %lld %s\n", (long long)ch->head_seq, ch->head_hash);
    if (!h)
        return;
    if (!h->found[0])
        printf("audit trail cut: event %lld, noted as the head, is missing\n", (long long)h->seq);
    else if (strcmp(h->found, h->hash) != 0)
        printf("audit trail rewritten: event %lld's hash is %s, not %s as noted\n",
               (long long)h->seq, h->found, h->hash);
    else
        printf("event %lld matches the noted head\n", (long long)h->seq);
}

/* audit verify [--head N:HASH]: check the chain, and row N against a head noted from the log.
 * EX_OK intact, 1 broken. */
static int audit_verify(ctx *c, noted_head *h)
{
    quar_chain ch = {0};
    char *err = NULL;
    int ok;

    if (quar_audit_verify(c->s, &ch, &err) != 0)
        return store_fail(err);
    if (h && quar_audit_head(c->s, h->seq, h->found, &err) < 0)
        return store_fail(err);
    ok = ch.ok && (!h || strcmp(h->found, h->hash) == 0);
    if (c->json) {
        JsonBuilder *b = json_builder_new();
        json_builder_begin_object(b);
        json_verify(b, &ch, h, ok);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else {
        print_verify(&ch, h);
    }
    return ok ? EX_OK : EX_BROKEN;
}

/* Apply one audit list option to f; 0 or an exit status. */
static int audit_opt(ctx *c, quar_audit_filter *f, int opt, const char *v)
{
    char *end;
    unsigned long n;

    switch (opt) {
    case 'a':
        f->actor = v;
        return 0;
    case 'i':
        f->item = v;
        return 0;
    case 'x':
        f->action = v;
        return 0;
    case 's':
        return parse_date(v, 0, &f->since) < 0 ? usage("audit", "bad --since date") : 0;
    case 'u':
        return parse_date(v, 1, &f->until) < 0 ? usage("audit", "bad --until date") : 0;
    case 'j':
        c->json = 1;
        return 0;
    case 'l':
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno || *end || !*v || n == 0 || n > 1000000)
            return usage("audit", "--limit needs a number from 1 to 1000000");
        f->limit = (unsigned)n;
        return 0;
    }
    return usage("audit", "unknown option");
}

/* List the events matching f. Exit status. */
static int audit_list(ctx *c, const quar_audit_filter *f)
{
    quar_event **ev = NULL;
    size_t n = 0, total = 0;
    char *err = NULL;

    if (quar_audit_list(c->s, f, &ev, &n, &total, &err) != 0)
        return store_fail(err);
    if (c->json) {
        JsonBuilder *b = json_builder_new();
        json_builder_begin_object(b);
        san_json_int(b, "total", (int64_t)total);
        json_builder_set_member_name(b, "events");
        json_builder_begin_array(b);
        for (size_t i = 0; i < n; i++) {
            json_builder_begin_object(b);
            json_event(b, ev[i]);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        print_json(json_builder_get_root(b));
        g_object_unref(b);
    } else {
        print_audit(ev, n, total);
    }
    quar_event_list_free(ev, n);
    return EX_OK;
}

/* audit: list events, or `audit verify`. */
static int cmd_audit(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"actor", 1, NULL, 'a'},  {"item", 1, NULL, 'i'},
                                         {"action", 1, NULL, 'x'}, {"since", 1, NULL, 's'},
                                         {"until", 1, NULL, 'u'},  {"limit", 1, NULL, 'l'},
                                         {"json", 0, NULL, 'j'},   {"help", 0, NULL, 'h'},
                                         {"head", 1, NULL, 'H'},   {NULL, 0, NULL, 0}};
    quar_audit_filter f = {0};
    noted_head head = {0};
    char *item = NULL;
    int opt, rc, has_head = 0;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(audit_help, stdout), EX_OK;
        if (opt == 'H' && parse_head(optarg, &head) < 0)
            return usage("audit", "--head needs N:HASH (the log's \"audit: trail head N HASH\")");
        if (opt == 'H')
            has_head = 1;
        else if ((rc = audit_opt(c, &f, opt, optarg)) != 0)
            return rc;
    }
    if (argc - optind == 1 && strcmp(argv[optind], "verify") == 0) {
        if (f.actor || f.item || f.action || f.since || f.until || f.limit)
            return usage("audit", "verify checks the whole trail: it takes no filter");
        return audit_verify(c, has_head ? &head : NULL);
    }
    if (has_head)
        return usage("audit", "--head goes with verify");
    if (optind != argc)
        return usage("audit", "unexpected argument (the only word it takes is verify)");
    if (f.item)
        f.item = item = g_ascii_strup(f.item, -1);
    rc = audit_list(c, &f);
    g_free(item);
    return rc;
}

static const char unlock_help[] =
    "mugai-quarantine unlock - open a held encrypted attachment with its password\n"
    "\n"
    "usage: mugai-quarantine unlock ID [--part PATH]\n"
    "\n"
    "  --part PATH  the held part to open (IMAP part number, as `show` lists it);\n"
    "               without it, every part of ID still held is tried\n"
    "\n"
    "The password is read from standard input (one line) when it is not a terminal,\n"
    "else prompted for without echo. It is never written anywhere: the audit trail\n"
    "records that IT (the invoking user) tried a password and whether it opened the\n"
    "part. The part is decrypted in the render jail, its contents are sanitized like\n"
    "any attachment, and the original recipients get a follow-up mail with them\n"
    "through the release listener ([quarantine] release_host, release_port). A part\n"
    "locked after [ppap] max_attempts wrong passwords can still be opened here.\n"
    "\n"
    "exit status: 0 opened, 1 unknown id or no such held part, 3 store or engine\n"
    "error, 4 the follow-up could not be sent (the part stays held), 7 the password\n"
    "did not open it.\n"
    "\n"
    "example: echo 'Ab3#xY9!' | sudo mugai-quarantine unlock Q-20261125-7F3K9X --part 2\n";

/* Hand a follow-up straight to the release listener (ctx: the listener). */
static int unlock_deliver(void *listener, int fd, char *const *rcpts, char **reply)
{
    return quar_send(listener, fd, "", rcpts, reply);
}

/* The password: a line of stdin, or prompted without echo on a terminal. NULL (said). */
static char *unlock_password(const char *id)
{
    char *pw, *prompt;

    if (!isatty(STDIN_FILENO)) {
        if (!(pw = mg_read_secret_line(stdin, 512)))
            complain("unlock: no password on standard input (one line, at most 512 bytes)");
        return pw;
    }
    prompt = g_strdup_printf("Password for %s: ", id);
    pw = mg_prompt_secret(prompt, 512);
    g_free(prompt);
    if (!pw)
        complain("unlock: no password given");
    return pw;
}

/* Try pw on one held part and say what became of it. Exit status for it. */
static int unlock_one(ctx *c, san_ppap *x, const quar_held *h, const char *pw)
{
    const char *cands[] = {pw};
    san_ppap_origin o = {SAN_PPAP_IT, c->actor, NULL, NULL, (int64_t)time(NULL)};
    san_ppap_outcome out;
    char *name = clean(h->filename ? h->filename : "(no name)");
    int rc = san_ppap_try(x, h, cands, 1, &o, &out);

    if (rc == 0 && out.opened)
        printf("%s: part %s (%s): opened; the sanitized contents went to the recipients\n",
               h->msg_id, h->part, name);
    else if (rc == 0 && out.which >= 0)
        complain("%s: part %s (%s): opened, but %s", h->msg_id, h->part, name,
                 out.why ? out.why : "the follow-up could not be sent");
    else if (rc == 0)
        complain("%s: part %s (%s): the password did not open it (%u wrong so far)", h->msg_id,
                 h->part, name, out.attempts);
    else
        complain("%s: part %s (%s): %s", h->msg_id, h->part, name,
                 out.why ? out.why : "cannot be opened");
    g_free(name);
    g_free(out.why);
    if (rc == 1)
        return EX_UNKNOWN;
    if (rc < 0)
        return EX_STORE;
    return out.opened ? EX_OK : out.which >= 0 ? EX_RELEASE : EX_WRONG;
}

/* Open the engine and try pw on the parts of hs that part names (NULL: every one still
 * held). Exit status: the best outcome. */
static int unlock_parts(ctx *c, quar_held **hs, size_t n, const char *part, const char *pw)
{
    quar_listener l = {c->cf->release_host, c->cf->release_port, c->cf->release_helo};
    san_ppap x = {NULL, c->s, c->cf, c->actor, "cli", unlock_deliver, &l};
    char *err = NULL;
    int rc = EX_UNKNOWN, tried = 0;

    if (!(x.e = san_engine_new(c->cf, &err))) {
        complain("unlock: cannot start the engine: %s", err ? err : "unknown error");
        free(err);
        return EX_STORE;
    }
    for (size_t i = 0; i < n; i++) {
        int one;
        if (part ? strcmp(hs[i]->part, part) != 0
                 : strcmp(hs[i]->status, "pending") && strcmp(hs[i]->status, "locked"))
            continue;
        one = unlock_one(c, &x, hs[i], pw);
        rc = !tried++ || one == EX_OK ? one : rc;
    }
    if (!tried)
        complain("unlock: %s has no %s%s%s", hs[0]->msg_id, part ? "held part " : "part still held",
                 part ? part : "", "");
    san_engine_free(x.e);
    return rc;
}

/* unlock: open held encrypted parts with IT's password. */
static int cmd_unlock(ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"part", 1, NULL, 'p'}, {"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0}};
    quar_held_filter f = {0};
    quar_held **hs = NULL;
    const char *part = NULL, *id;
    char *err = NULL, *pw, *up;
    size_t n = 0;
    int opt, rc;

    while ((opt = next_opt(argc, argv, opts)) != -1) {
        if (opt == 'h')
            return fputs(unlock_help, stdout), EX_OK;
        if (opt != 'p')
            return usage("unlock", "unknown option");
        part = optarg;
    }
    if (!(id = one_id(argc, argv)))
        return usage("unlock", "needs exactly one ID");
    f.msg_id = up = g_ascii_strup(id, -1);
    if (quar_held_list(c->s, &f, &hs, &n, &err) != 0) {
        g_free(up);
        return store_fail(err);
    }
    if (n == 0) {
        complain("unlock: %s has no held encrypted part", up);
        rc = EX_UNKNOWN;
    } else if (!(pw = unlock_password(up))) {
        rc = EX_USAGE;
    } else {
        rc = unlock_parts(c, hs, n, part, pw);
        explicit_bzero(pw, strlen(pw));
        g_free(pw);
    }
    quar_held_list_free(hs, n);
    g_free(up);
    return rc;
}

static const command commands[] = {
    {"list", cmd_list, list_help},
    {"show", cmd_show, show_help},
    {"export", cmd_export, export_help},
    {"release", cmd_release, release_help},
    {"delete", cmd_delete, delete_help},
    {"purge", cmd_purge, purge_help},
    {"requests", cmd_requests, requests_help},
    {"approve", cmd_approve, approve_help},
    {"deny", cmd_deny, deny_help},
    {"audit", cmd_audit, audit_help},
    {"held", cmd_held, held_help},
    {"unlock", cmd_unlock, unlock_help},
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

/* Non-zero when --actor names someone else than the person sudo ran this for: under sudo,
 * $SUDO_USER (set by sudo itself) is who acts, or a sudoer could ask as one name and approve
 * as another, and the two-person rule would need only one person. */
static int actor_spoofed(const char *given)
{
    const char *sudo = getenv("SUDO_USER");

    return given && *given && sudo && *sudo && strcmp(given, sudo) != 0;
}

/* Parse the options before COMMAND; *cmd_at is the index of COMMAND. -1: exit with *ex. */
static int global_opts(int argc, char **argv, const char **cfg, ctx *c, const char **actor, int *ex)
{
    static const struct option opts[] = {{"config", 1, NULL, 'c'},  {"json", 0, NULL, 'j'},
                                         {"actor", 1, NULL, 'a'},   {"help", 0, NULL, 'h'},
                                         {"version", 0, NULL, 'V'}, {"verbose", 0, NULL, 'v'},
                                         {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "+c:hv", opts, NULL)) != -1) {
        if (opt == 'v')
            mg_log_init("mugai-quarantine", 0, MG_LOG_INFO);
        else if (opt == 'c')
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
    if (c->s)
        quar_set_hold_days(c->s, c->cf->ppap_hold_days);
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
    if (actor_spoofed(actor)) {
        complain("--actor %s: run through sudo by %s, who is the actor here; --actor may "
                 "only name %s (under the two-person rule the second person runs sudo "
                 "themselves)",
                 actor, getenv("SUDO_USER"), getenv("SUDO_USER"));
        return EX_USAGE;
    }
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
