/*
 * sanitize/ppap.c - held encrypted attachments ([ppap]): opened with the
 * sender's later password mail, a recipient's reply or IT's password, then
 * sanitized like any attachment and sent to the original recipients as a
 * follow-up mail; expired after [ppap] hold_days with a notice.
 *
 * Runs in pool workers (the password mail, replies, expiry) and in
 * mugai-quarantine (IT). Passwords come from untrusted mail: they only ever
 * go to san_unlock, which tries them in the render jail. No password is
 * written to a log line, an audit event, a store record or a mail: events say
 * how many candidates were tried and where they came from. The held part's
 * bytes are parsed only in the jail; its members only by the engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <gmime/gmime.h>

#include "mg.h"
#include "ppap.h"
#include "san.h"

#define PPAP_SUBJECT_MAX 200 /* characters of the original subject quoted in a subject */
/* Held parts one password mail is tried on, newest first: a sender's pending parts are many
 * only when someone sends encrypted files in bulk, and each costs a jail run per mail. */
#define PPAP_MAIL_PARTS_MAX 20

/* ---- small helpers ---- */

/* "YYYY-MM-DD HH:MM" local time of t. */
static void when_text(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!localtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%d %H:%M", &tm) == 0)
        g_strlcpy(out, "?", 32);
}

/* Text from a sender, made safe to show and cut to max characters. Caller g_free()s. */
static char *shown(const char *s, size_t max)
{
    char *safe = mg_utf8_safe(s ? s : "", -1);

    if (g_utf8_strlen(safe, -1) > (glong)max) {
        char *cut = g_utf8_substring(safe, 0, (glong)max);
        g_free(safe);
        safe = g_strconcat(cut, "…", NULL);
        g_free(cut);
    }
    return safe;
}

/* Non-zero when a is one of the NULL-terminated list (case-insensitive). */
static int addr_in(const char *a, char *const *list)
{
    for (size_t i = 0; a && list && list[i]; i++)
        if (g_ascii_strcasecmp(a, list[i]) == 0)
            return 1;
    return 0;
}

/* text with every line whose NFKC form holds password replaced by that form with the
 * password masked (a full-width password is masked as well). Caller g_free()s; NULL when no
 * line holds it. */
static char *masked(const char *text, const char *password)
{
    char **lines = g_strsplit(text, "\n", -1);
    int hit = 0;
    char *out = NULL;

    for (size_t i = 0; lines[i]; i++) {
        char *n = g_utf8_normalize(lines[i], -1, G_NORMALIZE_NFKC);
        if (n && strstr(n, password)) {
            char **pieces = g_strsplit(n, password, -1);
            g_free(lines[i]);
            lines[i] = g_strjoinv("********", pieces);
            g_strfreev(pieces);
            hit = 1;
        }
        g_free(n);
    }
    if (hit)
        out = g_strjoinv("\n", lines);
    g_strfreev(lines);
    return out;
}

/* How a password was found, in Japanese and English, for mails and the trail; password (the
 * one that worked, or NULL) masked in the password mail's subject. */
static void origin_text(const san_ppap_origin *o, const char *password, char **ja, char **en)
{
    char when[32];
    char *hidden = password && *password && o->subject ? masked(o->subject, password) : NULL;
    char *who = shown(o->who, 100), *subj = shown(hidden ? hidden : o->subject, 100);

    when_text(o->time, when);
    switch (o->by) {
    case SAN_PPAP_MAIL:
        *ja =
            g_strdup_printf("送信者からのパスワードメール（%s、差出人 %s、件名「%s」、隔離ID %s）",
                            when, who, subj, o->msg_id ? o->msg_id : "-");
        *en = g_strdup_printf("the sender's password mail (%s, from %s, subject \"%s\", "
                              "quarantine ID %s)",
                              when, who, subj, o->msg_id ? o->msg_id : "-");
        break;
    case SAN_PPAP_REPLY:
        *ja = g_strdup_printf("受信者 %s からの返信", who);
        *en = g_strdup_printf("the reply of recipient %s", who);
        break;
    default:
        *ja = g_strdup_printf("情報システム担当（%s）", who);
        *en = g_strdup_printf("IT (%s)", who);
        break;
    }
    g_free(who);
    g_free(subj);
    g_free(hidden);
}

/* Append an event about item id to the trail (failures are logged: the outcome already
 * happened). */
static void trail(san_ppap *x, const char *id, const char *action, const char *detail,
                  const char *outcome)
{
    quar_event ev = {0};
    char *err = NULL;

    ev.msg_id = (char *)id;
    ev.actor = (char *)(x->actor ? x->actor : "mugai");
    ev.action = (char *)action;
    ev.detail = (char *)detail;
    ev.source = (char *)x->source;
    ev.outcome = (char *)(outcome ? outcome : "ok");
    if (quar_audit_ev(x->q, &ev, &err) != 0) {
        mg_error("%s: cannot record %s in the audit trail: %s", id, action,
                 err ? err : "unknown error");
        free(err);
    }
}

/* Write mail to a new anonymous file and hand it to the deliverer. 0, -1 with *why, or -2
 * with *why when the mail could not be written (nothing was handed on). */
static int send_mail(san_ppap *x, const ppap_mail *mail, char *const *rcpts, char **why)
{
    int fd = mg_tmp_file(g_get_tmp_dir()), rc = -1;
    char *err = NULL;

    *why = NULL;
    if (fd < 0) {
        *why =
            g_strdup_printf("cannot create a file in %s: %s", g_get_tmp_dir(), g_strerror(errno));
        return -1;
    }
    if (ppap_mail_write(mail, fd, &err) < 0) {
        *why = g_strdup_printf("cannot write the mail: %s", err ? err : "unknown error");
        rc = -2;
    } else if (lseek(fd, 0, SEEK_SET) < 0)
        *why = g_strdup(g_strerror(errno));
    else
        rc = x->deliver(x->deliver_ctx, fd, rcpts, why);
    g_free(err);
    close(fd);
    return rc;
}

/* The From of the gateway's own mails (answers, expiry notices): submit_address, else the
 * held message's From. */
static const char *gateway_from(san_ppap *x, const quar_msg *m)
{
    if (*x->c->ppap_submit_address)
        return x->c->ppap_submit_address;
    return m->from && *m->from ? m->from : "MAILER-DAEMON";
}

/* Send mail about the held message m to its recipients; when its From cannot be written (the
 * sender's From a group, a comment or several mailboxes), again from the gateway's address,
 * then from postmaster at the first recipient's domain, rather than never. 0 or -1 with
 * *why. */
static int send_about(san_ppap *x, ppap_mail *mail, const quar_msg *m, char **why)
{
    const char *at = m->recipients && m->recipients[0] ? strrchr(m->recipients[0], '@') : NULL;
    char *postmaster = g_strconcat("postmaster", at ? at : "@localhost", NULL);
    const char *froms[] = {mail->from, gateway_from(x, m), postmaster};
    int rc = -2;

    for (size_t i = 0; i < G_N_ELEMENTS(froms) && rc == -2; i++) {
        if (i > 0 && g_strcmp0(froms[i], froms[i - 1]) == 0)
            continue;
        if (i > 0) {
            mg_info("%s: mail to the recipients from %s instead: %s", m->id, froms[i], *why);
            g_free(*why);
        }
        mail->from = froms[i];
        rc = send_mail(x, mail, m->recipients, why);
    }
    mail->from = NULL;
    g_free(postmaster);
    return rc < 0 ? -1 : 0;
}

/* "PREFIX: SUBJECT" with the subject cut. Caller g_free()s. */
static char *subject_with(const char *prefix, const quar_msg *m)
{
    char *s = shown(m->subject, PPAP_SUBJECT_MAX), *out = g_strdup_printf("%s: %s", prefix, s);

    g_free(s);
    return out;
}

/* ---- one held part ---- */

/* The name the follow-up attaches the output as: the held part's name (made safe, without
 * a directory) with the output's extension. Caller g_free()s. */
static char *output_name(const quar_held *h, const char *out_path)
{
    char *safe = mg_utf8_safe(h->filename && *h->filename ? h->filename : "attachment", -1);
    const char *ext = strrchr(out_path, '.'), *base;
    char *dot, *name;

    for (char *p = safe; *p; p++)
        if (*p == '/' || *p == '\\')
            *p = '_';
    base = safe;
    dot = strrchr(safe, '.');
    if (dot && dot != safe)
        *dot = '\0';
    name = g_strconcat(base, ext ? ext : "", NULL);
    g_free(safe);
    return name;
}

/* The MIME type of an output by its extension. */
static const char *output_type(const char *path)
{
    const char *ext = strrchr(path, '.');

    if (!ext)
        return "application/octet-stream";
    if (g_ascii_strcasecmp(ext, ".pdf") == 0)
        return "application/pdf";
    if (g_ascii_strcasecmp(ext, ".zip") == 0)
        return "application/zip";
    if (g_ascii_strcasecmp(ext, ".png") == 0)
        return "image/png";
    if (g_ascii_strcasecmp(ext, ".jpg") == 0)
        return "image/jpeg";
    if (g_ascii_strcasecmp(ext, ".csv") == 0)
        return "text/csv";
    if (g_ascii_strcasecmp(ext, ".txt") == 0)
        return "text/plain";
    return "application/octet-stream";
}

/* The members that did not come through, one line each, into s. */
static void member_lines(GString *s, const san_result *r, unsigned level)
{
    for (size_t i = 0; i < r->nmembers && level < 8; i++) {
        const san_member *mb = &r->members[i];
        char *name = shown(mb->name, 120), *why = shown(mb->r.reason, 200);
        if (mb->r.verdict == SAN_SANITIZED && mb->output_name) {
            char *out = shown(mb->output_name, 120);
            g_string_append_printf(s, "%*s- %s → %s（無害化 sanitized）\n", (int)(level * 2 + 2),
                                   "", name, out);
            g_free(out);
        } else if (mb->r.verdict != SAN_SANITIZED) {
            g_string_append_printf(s, "%*s- %s: %s / %s\n", (int)(level * 2 + 2), "", name,
                                   mb->r.verdict == SAN_HELD ? "保留 held" : "削除 removed", why);
        }
        g_free(name);
        g_free(why);
        member_lines(s, &mb->r, level + 1);
    }
}

/* The follow-up's body. Caller g_free()s. */
static char *followup_body(const quar_msg *m, const quar_held *h, const san_result *r,
                           const char *how_ja, const char *how_en, unsigned tried,
                           const char *attached)
{
    GString *s = g_string_new(NULL);
    char *name = shown(h->filename ? h->filename : "(no name)", 120);
    char *why = shown(r->reason, 300);

    g_string_append_printf(s,
                           "【無害化通知】保留していた暗号化添付ファイルを開き、無害化しました。\n"
                           "隔離ID: %s（部品 %s: %s）\n"
                           "開いた方法: %s\n"
                           "試したパスワード候補: %u 件\n"
                           "結果: %s\n",
                           m->id, h->part, name, how_ja, tried,
                           attached ? attached : "添付できるものはありませんでした");
    member_lines(s, r, 0);
    g_string_append_printf(s,
                           "\n[Sanitization notice] The encrypted attachment held from this "
                           "message was opened and sanitized.\n"
                           "Quarantine ID: %s (part %s: %s)\n"
                           "Opened with: %s\n"
                           "Password candidates tried: %u\n"
                           "Result: %s%s%s\n",
                           m->id, h->part, name, how_en, tried, why, attached ? " -> " : "",
                           attached ? attached : "");
    g_free(name);
    g_free(why);
    return g_string_free(s, FALSE);
}

/* Send the follow-up with r's output to m's recipients. 0 (the deliverer's answer in
 * *reply), or -1 with why in *reply. */
static int followup_send(san_ppap *x, const quar_msg *m, const quar_held *h, const san_result *r,
                         const char *how_ja, const char *how_en, unsigned tried, char **reply)
{
    ppap_file f = {0};
    char *attached = r->output_path ? output_name(h, r->output_path) : NULL;
    char *body = followup_body(m, h, r, how_ja, how_en, tried, attached);
    char *subject = subject_with("[無害化] 添付ファイルを開きました", m);
    ppap_mail mail = {0};
    int rc;

    f.path = r->output_path;
    f.name = attached;
    f.type = r->output_path ? output_type(r->output_path) : NULL;
    mail.from = m->from && *m->from ? m->from : gateway_from(x, m);
    mail.to = (const char *const *)m->recipients;
    mail.subject = subject;
    mail.in_reply_to = m->message_id;
    mail.body = body;
    mail.files = r->output_path ? &f : NULL;
    mail.nfiles = r->output_path ? 1 : 0;
    rc = send_about(x, &mail, m, reply);
    g_free(attached);
    g_free(body);
    g_free(subject);
    return rc;
}

/* The held part's decoded bytes from its original into a new anonymous file (rewound).
 * The fd, or -1 with why (g_free). */
static int part_bytes(san_ppap *x, const quar_held *h, char **why)
{
    int in = -1, out, rc;
    char *err = NULL;

    if ((rc = quar_open_original(x->q, h->msg_id, &in, &err)) != 0) {
        *why = g_strdup_printf("cannot open the original: %s", err ? err : "not found");
        free(err);
        return -1;
    }
    out = mg_tmp_file(g_get_tmp_dir());
    rc = out < 0 ? -1 : san_part_write(in, out, h->part);
    close(in);
    if (rc != 0 || lseek(out, 0, SEEK_SET) < 0) {
        *why = g_strdup(rc == 1 ? "the original has no such part" : "cannot extract the part");
        if (out >= 0)
            close(out);
        return -1;
    }
    return out;
}

/* Count the candidates that failed on h; record it and, when this locked h, that too. */
static void count_failure(san_ppap *x, const quar_held *h, unsigned tried, const char *how_en,
                          san_ppap_outcome *out)
{
    char *err = NULL, *detail;
    unsigned attempts = 0;
    int locked = 0;

    if (tried && quar_held_failed(x->q, h->msg_id, h->part, tried, x->c->ppap_max_attempts,
                                  &attempts, &locked, &err) != 0) {
        mg_error("%s: part %s: cannot count wrong passwords: %s", h->msg_id, h->part,
                 err ? err : "unknown error");
        free(err);
    }
    out->attempts = attempts;
    out->locked = locked;
    detail = g_strdup_printf("part %s: %u password candidate(s) from %s did not open it "
                             "(%u wrong of %u allowed)",
                             h->part, tried, how_en, attempts, x->c->ppap_max_attempts);
    trail(x, h->msg_id, "unlock-failed", detail, "refused: no password opened it");
    mg_info("%s: %s", h->msg_id, detail);
    g_free(detail);
    if (locked) {
        detail = g_strdup_printf("part %s: locked after %u wrong passwords; only IT can open it",
                                 h->part, attempts);
        trail(x, h->msg_id, "unlock-locked", detail, NULL);
        mg_warn("%s: %s", h->msg_id, detail);
        g_free(detail);
    }
}

/* The status of h in the store now (another process may have opened, locked or expired it
 * since h was read), or NULL when it is gone or cannot be read. Caller g_free()s. */
static char *status_now(san_ppap *x, const quar_held *h)
{
    quar_held_filter f = {0};
    quar_held **hs = NULL;
    size_t n = 0;
    char *err = NULL, *status = NULL;

    f.msg_id = h->msg_id;
    if (quar_held_list(x->q, &f, &hs, &n, &err) != 0) {
        mg_error("%s: held parts: %s", h->msg_id, err ? err : "unknown error");
        free(err);
        return NULL;
    }
    for (size_t i = 0; i < n && !status; i++)
        if (strcmp(hs[i]->part, h->part) == 0)
            status = g_strdup(hs[i]->status);
    quar_held_list_free(hs, n);
    return status;
}

/* Non-zero when a part in status may be opened by o: pending, or locked and o is IT. */
static int open_to(const char *status, const san_ppap_origin *o)
{
    return status && (strcmp(status, "pending") == 0 ||
                      (strcmp(status, "locked") == 0 && o->by == SAN_PPAP_IT));
}

/* Non-zero when m's original is still in the store (not deleted or purged). */
static int original_kept(const quar_msg *m)
{
    return g_strcmp0(m->status, "quarantined") == 0 || g_strcmp0(m->status, "released") == 0;
}

/* How h was opened, as the store keeps it: one line of at most 500 bytes. Caller g_free()s. */
static char *how_line(const char *en, unsigned tried)
{
    GString *s = mg_utf8_filter(en, strlen(en), 1);
    char *tail = g_strdup_printf("; %u candidate(s) tried", tried);
    const char *end;

    if (s->len + strlen(tail) > 500) {
        g_utf8_validate(s->str, (gssize)(500 - strlen(tail) - 3), &end);
        g_string_truncate(s, (gsize)(end - s->str));
        g_string_append(s, "…");
    }
    g_string_append(s, tail);
    g_free(tail);
    return g_string_free(s, FALSE);
}

/* With h opened into r (by the candidate password): send the follow-up, then mark h opened
 * and record it; unless h was opened, locked or expired meanwhile, then nothing is sent. */
static int opened(san_ppap *x, const quar_msg *m, const quar_held *h, const san_result *r,
                  const san_ppap_origin *o, const char *password, unsigned tried,
                  san_ppap_outcome *out)
{
    char *ja, *en, *reply = NULL, *err = NULL, *detail, *how, *now = status_now(x, h);
    int rc;

    if (!open_to(now, o)) {
        out->why = g_strdup_printf("part %s is %s now", h->part, now ? now : "gone");
        mg_info("%s: part %s: opened, but it became %s meanwhile: no follow-up", h->msg_id, h->part,
                now ? now : "gone");
        g_free(now);
        return 1;
    }
    g_free(now);
    origin_text(o, password, &ja, &en);
    rc = followup_send(x, m, h, r, ja, en, tried, &reply);
    if (rc < 0) {
        detail = g_strdup_printf("part %s: opened with a password from %s, but the follow-up "
                                 "could not be sent: %s; it stays held",
                                 h->part, en, reply ? reply : "unknown error");
        trail(x, h->msg_id, "unlock-failed", detail, "failed: follow-up not sent");
        mg_error("%s: %s", h->msg_id, detail);
        out->why = g_strdup(reply ? reply : "the follow-up could not be sent");
    } else {
        how = how_line(en, tried);
        if (quar_held_open(x->q, h->msg_id, h->part, how, (int64_t)time(NULL), &err) != 0) {
            mg_error("%s: part %s: the follow-up went, but the part cannot be marked opened: %s",
                     h->msg_id, h->part, err ? err : "already opened or expired elsewhere");
            free(err);
        }
        detail = g_strdup_printf("part %s opened with a password from %s; %u candidate(s) "
                                 "tried; %s; follow-up to the recipients: %s",
                                 h->part, en, tried, r->reason ? r->reason : "sanitized", reply);
        trail(x, h->msg_id, "unlocked", detail, NULL);
        mg_info("%s: %s", h->msg_id, detail);
        out->opened = 1;
        g_free(how);
        g_free(detail);
    }
    g_free(reply);
    g_free(ja);
    g_free(en);
    return rc;
}

/* See san.h. */
int san_ppap_try(san_ppap *x, const quar_held *h, const char *const *cands, size_t n,
                 const san_ppap_origin *o, san_ppap_outcome *out)
{
    san_result r;
    quar_msg *m = NULL;
    char *err = NULL, *why = NULL, *dir = NULL, *ja, *en;
    int fd, which = -1, rc;
    unsigned tried = 0;

    memset(out, 0, sizeof(*out));
    memset(&r, 0, sizeof(r));
    out->which = -1;
    why = open_to(h->status, o) ? status_now(x, h) : g_strdup(h->status);
    if (!open_to(why, o)) {
        out->why = g_strdup_printf("part %s is %s", h->part, why ? why : "gone");
        g_free(why);
        return 1;
    }
    g_free(why);
    why = NULL;
    if ((rc = quar_get(x->q, h->msg_id, &m, &err)) != 0) {
        out->why = g_strdup_printf("%s: %s", h->msg_id, err ? err : "not found");
        free(err);
        return -1;
    }
    if (!original_kept(m)) {
        out->why = g_strdup_printf("part %s: the original was removed (%s)", h->part, m->status);
        quar_msg_free(m);
        return 1;
    }
    if ((fd = part_bytes(x, h, &why)) < 0 || !(dir = g_dir_make_tmp("mugai-ppap-XXXXXX", NULL))) {
        out->why = why ? why : g_strdup("cannot make a private directory");
        if (fd >= 0)
            close(fd);
        quar_msg_free(m);
        return -1;
    }
    rc = san_unlock(x->e, fd, h->filename ? h->filename : "attachment", cands, n, dir, "opened",
                    &which, &tried, &r);
    close(fd);
    out->tried = tried;
    out->which = which;
    origin_text(o, NULL, &ja, &en);
    if (rc < 0) {
        out->why = g_strdup(r.reason ? r.reason : "internal error");
    } else if (which < 0) {
        count_failure(x, h, tried, en, out);
        out->why = g_strdup(r.reason ? r.reason : "no password opened it");
    } else if ((size_t)which >= n) {
        out->why = g_strdup("internal error: no such candidate");
        rc = -1;
    } else {
        rc = opened(x, m, h, &r, o, cands[which], tried, out);
    }
    g_free(ja);
    g_free(en);
    san_result_clear(&r);
    mg_remove_tree(dir);
    g_free(dir);
    quar_msg_free(m);
    return rc < 0 ? -1 : rc;
}

/* ---- the password mail ---- */

/* Add the pending parts of f not yet in list (seen: "ID/PART" keys), held at or before t and
 * not in the message self. */
static void held_collect(san_ppap *x, const quar_held_filter *f, int64_t t, const char *self,
                         GPtrArray *list, GHashTable *seen)
{
    quar_held **hs = NULL;
    size_t n = 0;
    char *err = NULL;

    if (quar_held_list(x->q, f, &hs, &n, &err) != 0) {
        mg_error("held parts: %s", err ? err : "unknown error");
        free(err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *key = g_strdup_printf("%s/%s", hs[i]->msg_id, hs[i]->part);
        if (strcmp(hs[i]->msg_id, self) != 0 && hs[i]->time <= t &&
            !g_hash_table_contains(seen, key)) {
            g_hash_table_add(seen, key);
            g_ptr_array_add(list, hs[i]);
        } else {
            g_free(key);
            quar_held_free(hs[i]);
        }
        hs[i] = NULL;
    }
    g_free(hs);
}

/* Newest message first, then in part order. */
static gint newest_first(gconstpointer a, gconstpointer b)
{
    const quar_held *x = *(const quar_held *const *)a, *y = *(const quar_held *const *)b;
    int c = strcmp(y->msg_id, x->msg_id);

    if (x->time != y->time)
        return x->time > y->time ? -1 : 1;
    return c ? c : strcmp(x->part, y->part);
}

/* Mask the password that worked in the stored text and headers of the mail m that gave it
 * (a password in the subject as well as in the body). */
static void redact(san_ppap *x, const quar_msg *m, const char *password)
{
    static const char *const fields[] = {"clean_text", "headers"};
    quar_msg *cur = NULL;
    char *err = NULL, *text;

    if (!password || !*password || quar_get(x->q, m->id, &cur, &err) != 0) {
        free(err);
        quar_msg_free(cur);
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        const char *value = i == 0 ? cur->clean_text : cur->headers;
        text = value ? masked(value, password) : NULL;
        if (text && quar_set_text(x->q, m->id, fields[i], text, &err) != 0) {
            mg_warn("%s: cannot mask the password in the stored %s: %s", m->id, fields[i],
                    err ? err : "unknown error");
            free(err);
            err = NULL;
        }
        g_free(text);
    }
    quar_msg_free(cur);
}

/* Free a list of held parts collected with held_collect. */
static void held_array_free(GPtrArray *list)
{
    for (size_t i = 0; i < list->len; i++)
        quar_held_free(g_ptr_array_index(list, i));
    g_ptr_array_free(list, TRUE);
}

/* See san.h. */
int san_ppap_mail(san_ppap *x, const quar_msg *m, const char *text)
{
    GPtrArray *held = g_ptr_array_new(), *cands;
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    quar_held_filter f = {0};
    san_ppap_origin o = {SAN_PPAP_MAIL, m->sender, m->id, m->subject, m->time};
    int opened_any = 0;

    if (!m->sender || !*m->sender || !m->recipients) {
        g_ptr_array_free(held, TRUE);
        g_hash_table_destroy(seen);
        return 0;
    }
    f.status = "pending";
    f.sender = m->sender;
    f.since = m->time - (int64_t)x->c->ppap_match_hours * 3600;
    for (size_t i = 0; m->recipients[i]; i++) {
        f.recipient = m->recipients[i];
        held_collect(x, &f, m->time, m->id, held, seen);
    }
    g_hash_table_destroy(seen);
    if (held->len == 0) {
        held_array_free(held);
        return 0;
    }
    cands = ppap_candidates(text ? text : "", text ? strlen(text) : 0, x->c->ppap_max_candidates);
    mg_info("%s: %u held part(s) of the same sender wait for a password; %u candidate(s) in "
            "this mail",
            m->id, held->len, cands->len);
    g_ptr_array_sort(held, newest_first);
    if (held->len > PPAP_MAIL_PARTS_MAX && cands->len)
        mg_warn("%s: only the newest %d of %u held parts are tried", m->id, PPAP_MAIL_PARTS_MAX,
                held->len);
    for (size_t i = 0;
         i < held->len && i < PPAP_MAIL_PARTS_MAX && cands->len && !san_deadline_reached(); i++) {
        san_ppap_outcome out;
        const quar_held *h = g_ptr_array_index(held, i);
        if (san_ppap_try(x, h, (const char *const *)cands->pdata, cands->len, &o, &out) == 0 &&
            out.opened && out.which >= 0 && (guint)out.which < cands->len) {
            opened_any = 1;
            redact(x, m, (const char *)g_ptr_array_index(cands, (guint)out.which));
        }
        g_free(out.why);
    }
    g_ptr_array_unref(cands);
    held_array_free(held);
    return opened_any;
}

/* ---- the recipient's reply ---- */

/* The subject and the body text (UTF-8) of the message on fd. 0 or -1. */
static int reply_read(int fd, char **subject, char **body)
{
    int copy = dup(fd);
    GMimeStream *src;
    GMimeParser *parser;
    GMimeMessage *msg;
    GMimeObject *part;
    const char *s;

    *subject = *body = NULL;
    if (copy < 0 || lseek(copy, 0, SEEK_SET) < 0) {
        if (copy >= 0)
            close(copy);
        return -1;
    }
    src = g_mime_stream_fs_new(copy);
    parser = g_mime_parser_new_with_stream(src);
    msg = g_mime_parser_construct_message(parser, NULL);
    if (msg) {
        s = g_mime_message_get_subject(msg);
        *subject = g_strdup(s ? s : "");
        part = g_mime_message_get_body(msg);
        if (part && GMIME_IS_TEXT_PART(part))
            *body = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
        if (!*body)
            *body = g_strdup("");
        g_object_unref(msg);
    }
    g_object_unref(parser);
    g_object_unref(src);
    return msg ? 0 : -1;
}

/* The candidates of a reply: those ppap_candidates finds, else its first non-empty line. */
static GPtrArray *reply_candidates(san_ppap *x, const char *body)
{
    GPtrArray *c = ppap_candidates(body, strlen(body), x->c->ppap_max_candidates);
    char **lines;

    if (c->len)
        return c;
    lines = g_strsplit(body, "\n", 64);
    for (size_t i = 0; lines[i]; i++) {
        char *t = g_strstrip(lines[i]);
        if (*t && strlen(t) <= 128) {
            g_ptr_array_add(c, g_utf8_normalize(t, -1, G_NORMALIZE_NFKC));
            break;
        }
    }
    g_strfreev(lines);
    return c;
}

/* Answer the reply's sender with text (both languages). */
static void answer(san_ppap *x, const char *to, const char *id, const char *ja, const char *en)
{
    char *rcpts[] = {(char *)to, NULL}, *why = NULL;
    char *subject =
        g_strdup_printf("[無害化] パスワードの受付結果 / password result: %s", id ? id : "-");
    char *body = g_strdup_printf("%s\n\n%s\n", ja, en);
    ppap_mail mail = {0};

    mail.from = *x->c->ppap_submit_address ? x->c->ppap_submit_address : "MAILER-DAEMON";
    mail.to = (const char *const *)rcpts;
    mail.subject = subject;
    mail.body = body;
    if (send_mail(x, &mail, rcpts, &why) < 0)
        mg_error("%s: cannot answer the reply of %s: %s", id ? id : "-", to, why ? why : "?");
    g_free(why);
    g_free(subject);
    g_free(body);
}

/* Try the reply's candidates on every pending part of m; the answer's lines into ja/en. */
static void reply_try(san_ppap *x, const quar_msg *m, const char *sender, GPtrArray *cands,
                      GString *ja, GString *en)
{
    quar_held_filter f = {0};
    quar_held **hs = NULL;
    size_t n = 0;
    char *err = NULL;
    san_ppap_origin o = {SAN_PPAP_REPLY, sender, NULL, NULL, (int64_t)time(NULL)};

    f.msg_id = m->id;
    if (quar_held_list(x->q, &f, &hs, &n, &err) != 0) {
        g_string_append(ja, "内部エラーのため確認できませんでした。\n");
        g_string_append(en, "An internal error prevented the check.\n");
        mg_error("%s: held parts: %s", m->id, err ? err : "unknown error");
        free(err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const quar_held *h = hs[i];
        san_ppap_outcome out = {0};
        char *name = shown(h->filename ? h->filename : "(no name)", 80);
        int rc = 0;
        if (strcmp(h->status, "pending") != 0) {
            g_string_append_printf(ja, "部品 %s（%s）: %s\n", h->part, name,
                                   strcmp(h->status, "locked") == 0
                                       ? "ロックされています。情報システム担当へ連絡してください"
                                   : strcmp(h->status, "opened") == 0 ? "開封済みです"
                                                                      : "期限切れです");
            g_string_append_printf(en, "part %s (%s): %s\n", h->part, name, h->status);
        } else if ((rc = san_ppap_try(x, h, (const char *const *)cands->pdata, cands->len, &o,
                                      &out)) == 0 &&
                   out.opened) {
            g_string_append_printf(ja,
                                   "部品 %s（%s）: 開きました。無害化したファイルを別のメールで"
                                   "お送りします\n",
                                   h->part, name);
            g_string_append_printf(en,
                                   "part %s (%s): opened; the sanitized file follows in "
                                   "another mail\n",
                                   h->part, name);
        } else if (rc != 0 || out.which >= 0) {
            /* Not for want of the right password: a removed original, a part opened or
             * locked meanwhile, an error; the reason stays in the log and the trail. */
            g_string_append_printf(ja,
                                   "部品 %s（%s）: 開けませんでした。時間をおいて再度お試しいた"
                                   "だくか、情報システム担当へ連絡してください\n",
                                   h->part, name);
            g_string_append_printf(en,
                                   "part %s (%s): could not be opened; try again later or "
                                   "ask IT\n",
                                   h->part, name);
            mg_warn("%s: part %s: a reply of %s: %s", h->msg_id, h->part, sender,
                    out.why ? out.why : "not opened");
        } else {
            g_string_append_printf(ja, "部品 %s（%s）: パスワードが一致しませんでした%s\n", h->part,
                                   name, out.locked ? "。ロックされました" : "");
            g_string_append_printf(en, "part %s (%s): the password did not open it%s\n", h->part,
                                   name, out.locked ? "; it is now locked" : "");
        }
        g_free(out.why);
        g_free(name);
    }
    if (n == 0) {
        g_string_append(ja, "この隔離IDには保留中の暗号化ファイルがありません。\n");
        g_string_append(en, "No encrypted attachment is held under this quarantine ID.\n");
    }
    quar_held_list_free(hs, n);
}

/* See san.h. */
int san_ppap_reply(san_ppap *x, int fd, const char *sender)
{
    char *subject = NULL, *body = NULL, id[24] = "", *err = NULL;
    quar_msg *m = NULL;
    GString *ja = g_string_new(NULL), *en = g_string_new(NULL);

    if (!sender || !*sender) {
        mg_warn("a reply to the password address without a sender: dropped");
    } else if (reply_read(fd, &subject, &body) < 0) {
        answer(x, sender, NULL, "メールを読み取れませんでした。", "The mail could not be read.");
    } else if (ppap_find_id(subject, id) < 0) {
        answer(x, sender, NULL, "件名に隔離ID（Q-YYYYMMDD-XXXXXX）が見つかりませんでした。",
               "No quarantine ID (Q-YYYYMMDD-XXXXXX) was found in the subject.");
    } else if (quar_get(x->q, id, &m, &err) != 0 || !addr_in(sender, m->recipients)) {
        /* The same answer whether the id is unknown or the sender not a recipient: a
         * replier learns nothing about messages it did not receive. */
        if (m) {
            char *detail =
                g_strdup_printf("a reply from %s, who is not a recipient: refused", sender);
            trail(x, m->id, "unlock-refused", detail, "refused: not a recipient");
            mg_warn("%s: %s", m->id, detail);
            g_free(detail);
        } else {
            mg_warn("%s: a reply from %s: %s", id, sender, err ? err : "no such message");
        }
        free(err);
        answer(x, sender, id,
               "この隔離IDのメールの受信者ではないため（またはそのようなメールがないため）、"
               "パスワードは受け付けられませんでした。",
               "You are not a recipient of a message with this quarantine ID: the password was "
               "not accepted.");
    } else {
        GPtrArray *cands = reply_candidates(x, body);
        if (cands->len == 0) {
            g_string_append(ja, "本文にパスワードが見つかりませんでした。\n");
            g_string_append(en, "No password was found in the body.\n");
        } else {
            reply_try(x, m, sender, cands, ja, en);
        }
        answer(x, sender, id, ja->str, en->str);
        g_ptr_array_unref(cands);
    }
    quar_msg_free(m);
    g_free(subject);
    g_free(body);
    g_string_free(ja, TRUE);
    g_string_free(en, TRUE);
    return 0;
}

/* ---- expiry ---- */

/* Tell h's recipients that it expired, and record it. */
static void expired_one(san_ppap *x, const quar_held *h)
{
    quar_msg *m = NULL;
    char *err = NULL, *why = NULL, *body, *subject, *name, *detail;
    ppap_mail mail = {0};

    if (quar_get(x->q, h->msg_id, &m, &err) != 0) {
        mg_error("%s: %s", h->msg_id, err ? err : "not found");
        free(err);
        return;
    }
    if (!original_kept(m)) {
        /* Deleted or purged: it can no longer be opened, and its recipients are not told
         * about an attachment IT chose to remove. */
        detail =
            g_strdup_printf("part %s ended: the original was removed (%s)", h->part, m->status);
        trail(x, m->id, "expired", detail, NULL);
        mg_info("%s: %s", m->id, detail);
        g_free(detail);
        quar_msg_free(m);
        return;
    }
    name = shown(h->filename ? h->filename : "(no name)", 120);
    body =
        g_strdup_printf("【無害化通知】暗号化された添付ファイルの保留期限が切れたため、"
                        "開くことができなくなりました。\n"
                        "隔離ID: %s（部品 %s: %s）\n"
                        "必要な場合は、この隔離IDを添えて情報システム担当へ依頼してください。\n\n"
                        "[Sanitization notice] The encrypted attachment held from this message "
                        "was not opened within its holding time and has expired.\n"
                        "Quarantine ID: %s (part %s: %s)\n"
                        "If you need it, ask IT with this quarantine ID.\n",
                        m->id, h->part, name, m->id, h->part, name);
    subject = subject_with("[無害化] 添付ファイルの保留期限が切れました", m);
    mail.from = gateway_from(x, m);
    mail.to = (const char *const *)m->recipients;
    mail.subject = subject;
    mail.in_reply_to = m->message_id;
    mail.body = body;
    if (send_about(x, &mail, m, &why) < 0)
        detail = g_strdup_printf("part %s expired; the notice could not be sent: %s", h->part,
                                 why ? why : "?");
    else
        detail = g_strdup_printf("part %s expired; recipients told: %s", h->part, why ? why : "");
    trail(x, m->id, "expired", detail, NULL);
    mg_info("%s: %s", m->id, detail);
    g_free(detail);
    g_free(why);
    g_free(body);
    g_free(subject);
    g_free(name);
    quar_msg_free(m);
}

/* See san.h. */
int san_ppap_expire(san_ppap *x, int64_t now)
{
    quar_held **hs = NULL;
    size_t n = 0;
    char *err = NULL;

    if (quar_held_expire(x->q, now, &hs, &n, &err) != 0) {
        mg_error("expiring held parts: %s", err ? err : "unknown error");
        free(err);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        expired_one(x, hs[i]);
    quar_held_list_free(hs, n);
    return (int)n;
}
