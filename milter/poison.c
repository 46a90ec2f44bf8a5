/*
 * milter/poison.c - poison messages: a message that keeps stopping the
 * sanitizer is quarantined as failed and replaced by a notice.
 *
 * Runs in the sanitizer workers of mugai-milter, as the milter user, before
 * and instead of the engine, and (milter_attempt_died) in the pool
 * supervisor. The quarantine store counts the failed attempts at a message,
 * by a digest of its content, across worker and milter restarts: the
 * supervisor counts one when a worker dies during the job (a crash, the
 * memory limit, the job_timeout alarm), having been told the digest before
 * the engine started, and a worker counts one when its job runs out of time.
 * Attempts in progress are never counted, so identical messages sanitized side
 * by side (one message split over parallel deliveries) do not count against
 * each other, and neither does an error of mugai's own (a store error). A
 * verdict forgets the count. Once [milter] poison_attempts failures are
 * counted, the next attempt stores the original with verdict "failed" and
 * writes a clean copy that is only a notice.
 * The message is untrusted: this file reads it as bytes only (the digest is a
 * plain scan of the spool file) and must never parse it as MIME, never put
 * any of its bytes into the notice, and never answer OK before the original
 * is in the store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "milter.h"
#include "quar.h"
#include "san.h"

#define SCAN_CHUNK 65536
#define NAME_MAX_SCAN 64 /* longer field names are no trace field's */
#define ADDR_MAX 254
#define ACTOR "mugai-milter"

/* "[無害化] 配信できなかったメッセージ / Undeliverable message" as UTF-8 encoded words. */
#define NOTICE_SUBJECT                                                                             \
    "=?UTF-8?B?W+eEoeWus+WMll0g6YWN5L+h44Gn44GN44Gq44GL44Gj44Gf44Oh44OD44K7?=\r\n"                 \
    " =?UTF-8?B?44O844K4IC8gVW5kZWxpdmVyYWJsZSBtZXNzYWdl?="

/* Where the digest scan is in the spooled message. */
typedef enum { AT_LINE, AT_NAME, IN_FIELD, AT_BLANK, IN_BODY } scan_state;

/* The digest scan: a byte-level walk over the header fields, then the body. */
typedef struct scan {
    GChecksum *ck;
    scan_state state;
    int skip; /* the current field is a trace field, left out */
    char name[NAME_MAX_SCAN];
    size_t nlen;
} scan;

/* Non-zero for the name (len bytes) of a trace field: one an MTA adds on every delivery
 * attempt, different each time (Received, Return-Path, X-Original-To, Delivered-To), and
 * mugai's own X-Mugai-*. */
static int trace_field(const char *name, size_t len)
{
    static const char *const names[] = {"Received", "Return-Path", "X-Original-To", "Delivered-To"};
    size_t i;

    if (len >= 8 && strncasecmp(name, "X-Mugai-", 8) == 0)
        return 1;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
            return 1;
    return 0;
}

/* Decide about the field whose name (or its first NAME_MAX_SCAN bytes) was read. */
static void scan_name_done(scan *sc, int colon)
{
    sc->skip = colon && trace_field(sc->name, sc->nlen);
    if (!sc->skip)
        g_checksum_update(sc->ck, (const guchar *)sc->name, (gssize)sc->nlen);
    sc->state = IN_FIELD;
}

/* Feed the rest of a field's line from p (n bytes); how many bytes it took. */
static size_t scan_field(scan *sc, const unsigned char *p, size_t n)
{
    const unsigned char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) + 1 : n;

    if (!sc->skip)
        g_checksum_update(sc->ck, p, (gssize)take);
    if (nl)
        sc->state = AT_LINE;
    return take;
}

/* After a CR that began a line, b: LF makes it the blank line that ends the header block; else
 * the CR begins a line that continues no field (so no trace field's) and is digested. */
static void scan_after_cr(scan *sc, unsigned char b)
{
    if (b == '\n') {
        g_checksum_update(sc->ck, (const guchar *)"\r\n", 2);
        sc->state = IN_BODY;
        return;
    }
    g_checksum_update(sc->ck, (const guchar *)"\r", 1);
    sc->skip = 0;
    sc->state = IN_FIELD;
}

/* Feed n bytes of the header block at p; how many bytes it took (the body's first byte is
 * left for the caller). */
static size_t scan_header(scan *sc, const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n && sc->state != IN_BODY) {
        unsigned char b = p[i];

        if (sc->state == IN_FIELD) {
            i += scan_field(sc, p + i, n - i);
        } else if (sc->state == AT_BLANK) {
            scan_after_cr(sc, b);
            i += b == '\n';
        } else if (sc->state == AT_LINE && (b == ' ' || b == '\t')) {
            sc->state = IN_FIELD; /* a continuation belongs to the field before */
        } else if (sc->state == AT_LINE && b == '\n') {
            g_checksum_update(sc->ck, (const guchar *)"\r\n", 2); /* a blank line of LF only */
            sc->state = IN_BODY;
            i++;
        } else if (sc->state == AT_LINE && b == '\r') {
            sc->state = AT_BLANK;
            i++;
        } else if (sc->state == AT_LINE) {
            sc->state = AT_NAME;
            sc->nlen = 0;
        } else if (b == ':' || b == '\r' || b == '\n' || sc->nlen == sizeof(sc->name)) {
            scan_name_done(sc, b == ':');
        } else {
            sc->name[sc->nlen++] = (char)b;
            i++;
        }
    }
    return i;
}

/* The digest of the message on fd; see milter.h. */
int milter_poison_digest(int fd, const char *sender, char out[65])
{
    scan sc = {g_checksum_new(G_CHECKSUM_SHA256), AT_LINE, 0, {0}, 0};
    unsigned char *buf = g_malloc(SCAN_CHUNK);
    const char *s = sender ? sender : "";
    ssize_t n = 0;

    g_checksum_update(sc.ck, (const guchar *)s, (gssize)strlen(s) + 1);
    if (lseek(fd, 0, SEEK_SET) == 0) {
        while ((n = read(fd, buf, SCAN_CHUNK)) != 0) {
            size_t used;

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;
            used = sc.state == IN_BODY ? 0 : scan_header(&sc, buf, (size_t)n);
            if (used < (size_t)n)
                g_checksum_update(sc.ck, buf + used, (gssize)((size_t)n - used));
        }
        if (sc.state == AT_BLANK) /* a CR at the very end */
            g_checksum_update(sc.ck, (const guchar *)"\r", 1);
    } else {
        n = -1;
    }
    g_strlcpy(out, g_checksum_get_string(sc.ck), 65);
    g_checksum_free(sc.ck);
    g_free(buf);
    return n < 0 || lseek(fd, 0, SEEK_SET) != 0 ? -1 : 0;
}

/* Look up the failed attempts at j's message; see milter.h. */
int milter_attempt_begin(const conf *c, struct quar_store *st, const milter_job *j,
                         milter_attempt *a)
{
    const char *qid = j->queue_id ? j->queue_id : "-";
    quar_attempts before;
    char *err = NULL;

    memset(a, 0, sizeof(*a));
    if (c->milter_poison_attempts == 0)
        return 0;
    if (milter_poison_digest(j->fd, j->sender, a->digest) < 0) {
        mg_warn("%s: cannot read the spool file for its digest: %s; a failure is not counted", qid,
                strerror(errno));
        return 0;
    }
    if (quar_attempt_get(st, a->digest, &before, &err) < 0) {
        mg_warn("%s: %s; a failure is not counted", qid, err ? err : "store error");
        free(err);
        return 0;
    }
    a->tracked = 1;
    a->earlier = before.count;
    a->first = before.first;
    if (a->earlier == 0)
        return 0;
    mg_warn("%s: %u earlier attempt%s at this message (digest %.16s) stopped the sanitizer or "
            "ran out of time",
            qid, a->earlier, a->earlier == 1 ? "" : "s", a->digest);
    return a->earlier >= c->milter_poison_attempts;
}

/* End the attempt a in the worker; see milter.h. */
void milter_attempt_end(struct quar_store *st, const milter_attempt *a, const milter_job *j, int ok,
                        int timed_out)
{
    const char *qid = j->queue_id ? j->queue_id : "-";
    quar_attempts now;
    char *err = NULL;

    if (!a->tracked || (ok && a->earlier == 0) || (!ok && !timed_out))
        return;
    if (ok && quar_attempt_forget(st, a->digest, &err) < 0)
        mg_warn("%s: failure count not cleared: %s", qid, err ? err : "store error");
    else if (!ok && quar_attempt_failed(st, a->digest, &now, &err) < 0)
        mg_warn("%s: failed attempt not counted: %s", qid, err ? err : "store error");
    else if (!ok)
        mg_warn("%s: failed attempt %u at this message counted (digest %.16s): it ran out of time",
                qid, now.count, a->digest);
    free(err);
}

/* Count a failed attempt for a worker that died; see milter.h. */
void milter_attempt_died(const conf *c, long pid, const char *digest)
{
    char *err = NULL;
    quar_store *st = quar_open_fs(c->quarantine_dir, c->quarantine_retention_days, &err);
    quar_attempts now;

    if (st == NULL || quar_attempt_failed(st, digest, &now, &err) < 0)
        mg_error("pool: the failed attempt of worker %ld is not counted: %s", pid,
                 err ? err : "store error");
    else
        mg_warn("pool: failed attempt %u at the message of worker %ld counted (digest %.16s)",
                now.count, pid, digest);
    quar_close(st);
    free(err);
}

/* Non-zero when a (an envelope address) is plain enough to be shown and put in a header as it
 * is: printable ASCII without blanks, quotes, brackets or separators, one @ inside, and nothing
 * a reader could decode as an encoded word ("=?", which some decode even in an address). */
static int addr_plain(const char *a)
{
    const char *at = a ? strchr(a, '@') : NULL;
    const char *p;

    if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') || strlen(a) > ADDR_MAX ||
        strstr(a, "=?"))
        return 0;
    for (p = a; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("\"(),:;<>[\\]", *p))
            return 0;
    return 1;
}

/* The current time as an RFC 5322 date into buf (64 bytes), in any locale. */
static void rfc5322_date(char buf[64])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tm;
    long off;

    if (localtime_r(&t, &tm) == NULL)
        gmtime_r(&t, &tm);
    off = tm.tm_gmtoff / 60;
    if (mg_snprintf(buf, 64, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7],
                    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                    tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60) < 0)
        g_strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", 64);
}

/* The notice text, Japanese then English. Caller g_free()s. */
static char *notice_text(const char *id, unsigned failures, const char *sender)
{
    GString *s = g_string_new(NULL);
    int show = addr_plain(sender);

    g_string_append_printf(
        s,
        "【無害化通知】このメールは無害化できなかったため、お届けしていません。\n"
        "原本は隔離されています。\n"
        "隔離ID: %s\n"
        "理由: このメールの無害化処理が %u "
        "回、途中で止まりました（処理の異常終了または時間切れ）。\n",
        id, failures);
    if (show)
        g_string_append_printf(s, "差出人: %s\n", sender);
    g_string_append(s, "元のメールの本文と添付ファイルは含まれていません。"
                       "必要な場合は、この隔離IDを添えて情報システム担当へ依頼してください。\n\n");
    g_string_append_printf(s,
                           "[Sanitization notice] This message could not be sanitized and was not "
                           "delivered.\n"
                           "Its original is kept in quarantine.\n"
                           "Quarantine ID: %s\n"
                           "Reason: sanitizing this message stopped the sanitizer or ran out of "
                           "time %u times.\n",
                           id, failures);
    if (show)
        g_string_append_printf(s, "Sender: %s\n", sender);
    g_string_append(s, "Neither its text nor its attachments are included. To obtain the "
                       "original, ask IT with this quarantine ID.\n");
    return g_string_free(s, FALSE);
}

/* Append text, its line ends made CRLF, as base64 in lines of 76 characters. */
static void append_base64(GString *out, const char *text)
{
    GString *crlf = g_string_new(NULL);
    gchar *b64;
    size_t len, i;

    for (; *text; text++) {
        if (*text == '\n')
            g_string_append_c(crlf, '\r');
        g_string_append_c(crlf, *text);
    }
    b64 = g_base64_encode((const guchar *)crlf->str, crlf->len);
    len = strlen(b64);
    for (i = 0; i < len; i += 76) {
        g_string_append_len(out, b64 + i, (gssize)MIN((size_t)76, len - i));
        g_string_append(out, "\r\n");
    }
    g_free(b64);
    g_string_free(crlf, TRUE);
}

/* The notice-only clean message. Its header holds only what the front end may take from a
 * clean copy: Subject, From (the envelope sender, when plain), Date, the MIME fields and
 * mugai's own; nothing of the original but that sender. Caller frees with g_string_free. */
static GString *notice_message(const char *id, unsigned failures, const char *sender)
{
    GString *m = g_string_new(NULL);
    char *text = notice_text(id, failures, sender);
    char date[64];

    rfc5322_date(date);
    if (addr_plain(sender))
        g_string_append_printf(m, "From: %s\r\n", sender);
    g_string_append_printf(m,
                           "Subject: " NOTICE_SUBJECT "\r\n"
                           "Date: %s\r\n"
                           "MIME-Version: 1.0\r\n"
                           "Content-Type: text/plain; charset=UTF-8\r\n"
                           "Content-Transfer-Encoding: base64\r\n"
                           "X-Mugai-Sanitized: yes\r\n"
                           "X-Mugai-Quarantine-Id: %s\r\n\r\n",
                           date, id);
    append_base64(m, text);
    g_free(text);
    return m;
}

/* The quarantine record of a poison message, made from the envelope alone (the message is
 * not parsed): verdict "failed". Caller frees with quar_msg_free. */
static quar_msg *poison_record(const milter_job *j, const char *id)
{
    quar_msg *m = quar_msg_new();

    g_strlcpy(m->id, id, sizeof(m->id));
    m->queue_id = g_strdup(j->queue_id);
    m->client = g_strdup(j->client);
    m->sender = g_strdup(j->sender ? j->sender : "");
    if (j->rcpts) {
        g_strfreev(m->recipients);
        m->recipients = g_strdupv(j->rcpts);
    }
    m->verdict = g_strdup("failed");
    return m;
}

/* Write the audit trail of a poison message: an event in the store beside "stored", and the
 * audit log's line. */
static void poison_audit(const conf *c, struct quar_store *st, const quar_msg *m,
                         const milter_attempt *a, const char *reason, double seconds)
{
    char *detail, *err = NULL;
    char first[32] = "";
    time_t t = (time_t)a->first;
    struct tm tm;
    san_result r;

    if (a->first && gmtime_r(&t, &tm))
        strftime(first, sizeof(first), "%Y-%m-%dT%H:%M:%SZ", &tm);
    detail = g_strdup_printf("content digest %s; first failure counted %s; the recipients were "
                             "sent a notice instead of the message",
                             a->digest, first[0] ? first : "-");
    if (quar_audit(st, m->id, ACTOR, "failed", reason, detail, &err) != 0)
        mg_error("%s: audit event not recorded: %s", m->id, err ? err : "unknown id");
    memset(&r, 0, sizeof(r));
    r.verdict = SAN_FAILED;
    r.reason = (char *)reason;
    r.kind = (char *)"mail";
    r.detected_type = (char *)"message/rfc822";
    g_strlcpy(r.sha256, m->sha256, sizeof(r.sha256));
    r.in_size = (size_t)m->size;
    r.seconds = seconds;
    r.mail = (quar_msg *)m;
    if (san_audit_write(c, ACTOR, m->queue_id ? m->queue_id : m->id, &r) < 0)
        mg_error("%s: audit log line not written: %s", m->id, strerror(errno));
    free(err);
    g_free(detail);
}

/* Fill r as failed with text (a store or file error: the message is deferred). */
static void poison_fail(milter_reply *r, const char *what, const char *err)
{
    char *text = g_strdup_printf("poison message: %s: %s", what, err ? err : "unknown error");

    r->status = MILTER_ST_FAIL;
    r->text = strdup(text);
    g_free(text);
}

/* Store the original and write the notice for a message earlier attempts failed on; see
 * milter.h. */
void milter_poison_notice(const conf *c, struct quar_store *st, const milter_job *j,
                          const milter_attempt *a, milter_reply *r)
{
    const char *qid = j->queue_id ? j->queue_id : "-";
    double t0 = mg_now();
    char id[24], *err = NULL, *reason;
    GString *notice = NULL;
    quar_msg *m = NULL;

    reason = g_strdup_printf("sanitizing this message stopped the sanitizer or ran out of time "
                             "%u times",
                             a->earlier);
    if (quar_fresh_id(st, (int64_t)time(NULL), id, &err) < 0) {
        poison_fail(r, "no quarantine id", err);
        goto out;
    }
    notice = notice_message(id, a->earlier, j->sender);
    if (mg_write_all(j->out, notice->str, notice->len) < 0) {
        poison_fail(r, "writing the notice", strerror(errno));
        goto out;
    }
    m = poison_record(j, id);
    m->clean_text = notice_text(id, a->earlier, j->sender); /* the text the recipients get */
    if (lseek(j->fd, 0, SEEK_SET) != 0 || quar_put(st, j->fd, m, ACTOR, &err) < 0) {
        poison_fail(r, "storing the original", err ? err : strerror(errno));
        goto out;
    }
    poison_audit(c, st, m, a, reason, mg_now() - t0);
    mg_warn("%s: quarantined as %s with verdict failed: %s; the recipients get a notice instead "
            "of the message",
            qid, m->id, reason);
    r->status = MILTER_ST_OK;
    r->qid = strdup(m->id);
out:
    quar_msg_free(m);
    if (notice)
        g_string_free(notice, TRUE);
    g_free(reason);
    free(err);
}

#ifdef MUGAI_TEST_HOOKS
/* Crash for real when the spooled message holds the bytes of $MUGAI_TEST_CRASH (test builds
 * only): a worker stopped by its input, as a bug in a parser would stop it. */
void milter_test_crash(int fd)
{
    const char *mark = getenv("MUGAI_TEST_CRASH");
    struct rlimit none = {0, 0};
    struct stat sb;
    void *map;
    int hit;

    if (mark == NULL || *mark == '\0' || fstat(fd, &sb) < 0 || sb.st_size <= 0)
        return;
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return;
    hit = memmem(map, (size_t)sb.st_size, mark, strlen(mark)) != NULL;
    munmap(map, (size_t)sb.st_size);
    if (!hit)
        return;
    mg_warn("test hook: the message holds $MUGAI_TEST_CRASH; crashing");
    setrlimit(RLIMIT_CORE, &none);
    {
        volatile int *volatile nowhere = NULL;

        *nowhere = 1;
    }
}
#else
/* Nothing outside test builds. */
void milter_test_crash(int fd)
{
    (void)fd;
}
#endif
