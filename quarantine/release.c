/*
 * quarantine/release.c - carrying out a release: the original sent unchanged
 * over SMTP to the release listener (a Postfix listener without milters), and
 * the outcome recorded in the store.
 *
 * Runs in mugai-quarantine and mugai-web with the privileges of the store's
 * owner. It reads the untrusted original only to copy it onto the wire (bare
 * LF turned into CRLF, dot-stuffing left to libcurl); it never parses it. It
 * must never report or record a release the listener did not accept with a
 * 2xx reply to the message data, and never send an original whose bytes no
 * longer hash to the SHA-256 recorded for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>

#include "quar.h"

/* Where the SMTP dialogue is, as far as the data reply goes. */
enum { AT_ENVELOPE, AT_DATA, AT_DONE };

/* One upload: the original, and what the server answered. */
typedef struct upload {
    int fd;
    int last_cr;    /* the previous byte sent was CR */
    char *buf;      /* raw bytes read from fd */
    int stage;      /* AT_*: whether DATA was sent, and its final reply seen */
    GString *error; /* the server's last error reply (4xx or 5xx) */
    GString *data;  /* the server's final reply to the message data */
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

/* Replace to's text with one reply line, without its line end or control characters. */
static void keep_line(GString *to, const char *data, size_t size)
{
    g_string_truncate(to, 0);
    for (size_t i = 0; i < size && data[i] != '\r' && data[i] != '\n'; i++)
        g_string_append_c(to, (unsigned char)data[i] < 0x20 ? '?' : data[i]);
}

/* Non-zero when a reply line is the last of its reply ("250 ...", not "250-..."). */
static int final_line(const char *data, size_t size)
{
    return size >= 3 && g_ascii_isdigit(data[0]) && g_ascii_isdigit(data[1]) &&
           g_ascii_isdigit(data[2]) && (size == 3 || data[3] != '-');
}

/* libcurl debug callback: note when DATA goes out, keep the final reply to the message data
 * and the server's last error reply. */
static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    upload *u = arg;

    (void)h;
    if (type == CURLINFO_HEADER_OUT && u->stage == AT_ENVELOPE && size >= 4 &&
        g_ascii_strncasecmp(data, "DATA", 4) == 0 && (size == 4 || data[4] == '\r'))
        u->stage = AT_DATA;
    if (type != CURLINFO_HEADER_IN || !final_line(data, size))
        return 0;
    if (data[0] == '4' || data[0] == '5')
        keep_line(u->error, data, size);
    if (u->stage == AT_DATA && data[0] != '3') {
        keep_line(u->data, data, size);
        u->stage = AT_DONE;
    }
    return 0;
}

/* smtp://host:port/helo for the listener. Caller g_free()s. */
static char *listener_url(const quar_listener *l)
{
    int v6 = strchr(l->host, ':') != NULL;

    return g_strdup_printf("smtp://%s%s%s:%u/%s", v6 ? "[" : "", l->host, v6 ? "]" : "", l->port,
                           l->helo && *l->helo ? l->helo : "localhost");
}

/* Set the options of one SMTP transaction on h. */
static void smtp_setup(CURL *h, const char *url, const char *from, struct curl_slist *to, upload *u,
                       char *errbuf)
{
    if (from)
        curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, u);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, u);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
}

/* Why the transaction failed, with the server's error reply when it gave one. */
static char *smtp_why(CURLcode rc, const char *errbuf, const upload *u)
{
    const char *what = errbuf[0] ? errbuf : curl_easy_strerror(rc);

    if (u->error->len)
        return g_strdup_printf("%s (server said: %s)", what, u->error->str);
    return g_strdup(what);
}

/* Send fd over SMTP to rcpts. 0 with the reply to the data in *reply, or -1 with why in
 * *reply (g_free). */
static int smtp_send(const quar_listener *l, int fd, const char *sender, char *const *rcpts,
                     char **reply)
{
    CURL *h = curl_easy_init();
    struct curl_slist *to = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = listener_url(l), *from = g_strdup_printf("<%s>", sender ? sender : "");
    upload u = {
        .fd = fd, .buf = g_malloc(65536), .error = g_string_new(NULL), .data = g_string_new(NULL)};
    CURLcode rc = CURLE_FAILED_INIT;

    for (size_t i = 0; rcpts[i]; i++)
        to = curl_slist_append(to, rcpts[i]);
    if (h) {
        smtp_setup(h, url, from, to, &u, errbuf);
        rc = curl_easy_perform(h);
        curl_easy_cleanup(h);
    }
    if (rc != CURLE_OK)
        *reply = smtp_why(rc, errbuf, &u);
    else if (u.data->len && u.data->str[0] == '2')
        *reply = g_strdup(u.data->str);
    else /* libcurl accepted a reply the debug callback did not see: claim nothing more */
        *reply = g_strdup("250 accepted (the listener's reply was not seen)");
    curl_slist_free_all(to);
    g_free(url);
    g_free(from);
    g_free(u.buf);
    g_string_free(u.error, TRUE);
    g_string_free(u.data, TRUE);
    return rc == CURLE_OK ? 0 : -1;
}

/* The queue id in a "250 ... queued as ID" reply, or NULL. Caller frees with g_free. */
char *quar_queue_id(const char *reply)
{
    const char *p = reply ? strstr(reply, "queued as ") : NULL;
    size_t n = 0;

    if (!reply || reply[0] != '2' || !p)
        return NULL;
    p += strlen("queued as ");
    while (g_ascii_isalnum(p[n]) || p[n] == '-' || p[n] == '.' || p[n] == '_')
        n++;
    return n ? g_strndup(p, n) : NULL;
}

/* Record an event on m by actor from source. 0 or -1 (*err). */
static int record(quar_store *s, const quar_msg *m, const char *action, const char *actor,
                  const char *source, const char *reason, const char *detail, const char *outcome,
                  char **err)
{
    quar_event ev = {0};

    ev.msg_id = (char *)m->id;
    ev.actor = (char *)(actor && *actor ? actor : "unknown");
    ev.action = (char *)action;
    ev.reason = (char *)reason;
    ev.detail = (char *)detail;
    ev.source = (char *)source;
    ev.outcome = (char *)outcome;
    return quar_audit_ev(s, &ev, err) == 0 ? 0 : -1;
}

/* Record a release the listener accepted: event, status and release_result. 0 or -1. */
static int record_sent(quar_store *s, const quar_msg *m, const char *actor, const char *source,
                       const char *reason, const char *where, const char *reply, char **err)
{
    char *detail = g_strdup_printf("%s: %s", where, reply);
    int rc = record(s, m, "released", actor, source, reason, detail, "ok", err);

    if (rc == 0)
        rc = quar_set_status(s, m->id, "released", err) == 0 ? 0 : -1;
    if (rc == 0)
        rc = quar_set_text(s, m->id, "release_result", reply, err) == 0 ? 0 : -1;
    g_free(detail);
    return rc;
}

/* Record a release that did not happen: event and release_result "failed: WHY". 0 or -1. */
static int record_failed(quar_store *s, const quar_msg *m, const char *actor, const char *source,
                         const char *reason, const char *where, const char *why, char **err)
{
    char *outcome = g_strdup_printf("failed: %s", why);
    int rc = record(s, m, "release-failed", actor, source, reason, where, outcome, err);

    if (rc == 0)
        rc = quar_set_text(s, m->id, "release_result", outcome, err) == 0 ? 0 : -1;
    g_free(outcome);
    return rc;
}

/* Replace a store error with one that also says the original was (not) sent. */
static void say_sent(char **err, const char *id, int sent, const char *reply)
{
    char *was = *err;

    if (asprintf(err, "%s: %s (%s) but this could not be recorded: %s", id,
                 sent ? "the original was sent" : "the release failed", reply,
                 was ? was : "store error") < 0)
        *err = NULL;
    free(was);
}

/* Non-zero when a is usable as an SMTP path: at most 254 bytes, none of them a control
 * character, space, '<' or '>' (which would end or inject a command). */
static int smtp_path_ok(const char *a)
{
    size_t n = strlen(a);

    if (n > 254)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)a[i];
        if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>')
            return 0;
    }
    return 1;
}

/* Why the envelope (sender, to) cannot be sent, or NULL when it can. Caller g_free()s. */
static char *envelope_problem(const quar_msg *m, char *const *to)
{
    if (!to || !to[0])
        return g_strdup_printf("%s has no recipients to release to", m->id);
    if (m->sender && !smtp_path_ok(m->sender))
        return g_strdup("the stored envelope sender is not a usable address");
    for (size_t i = 0; to[i]; i++)
        if (!*to[i] || !smtp_path_ok(to[i])) {
            char *shown = g_strescape(to[i], NULL);
            char *why = g_strdup_printf("not a usable recipient address: \"%s\"", shown);
            g_free(shown);
            return why;
        }
    return NULL;
}

/* Send the original (fd) of m to `to` and record what happened. 0, -2 or -1 as quar_release. */
static int send_and_record(quar_store *s, const quar_listener *l, const quar_msg *m,
                           char *const *to, int fd, const char *actor, const char *source,
                           const char *reason, char **reply, char **err)
{
    char *list = g_strjoinv(", ", (char **)to);
    char *where = g_strdup_printf("to %s via %s:%u", list, l->host, l->port);
    int sent = smtp_send(l, fd, m->sender, to, reply) == 0, rc;

    if (sent)
        rc = record_sent(s, m, actor, source, reason, where, *reply, err) == 0 ? 0 : -1;
    else
        rc = record_failed(s, m, actor, source, reason, where, *reply, err) == 0 ? -2 : -1;
    if (rc == -1)
        say_sent(err, m->id, sent, *reply);
    g_free(list);
    g_free(where);
    return rc;
}

/* See quar.h. */
int quar_send(const quar_listener *l, int fd, const char *sender, char *const *rcpts, char **reply)
{
    if (!rcpts || !rcpts[0]) {
        *reply = g_strdup("no recipients");
        return -1;
    }
    if (sender && !smtp_path_ok(sender)) {
        *reply = g_strdup("not a usable envelope sender");
        return -1;
    }
    for (size_t i = 0; rcpts[i]; i++)
        if (!*rcpts[i] || !smtp_path_ok(rcpts[i])) {
            *reply = g_strdup("not a usable recipient address");
            return -1;
        }
    return smtp_send(l, fd, sender, rcpts, reply);
}

/* Send m's original to rcpts (NULL: m's recipients) through l and record the outcome. */
int quar_release(quar_store *s, const quar_listener *l, const quar_msg *m, char *const *rcpts,
                 const char *actor, const char *source, const char *reason, char **reply,
                 char **err)
{
    char *const *to = rcpts ? rcpts : m->recipients;
    int fd = -1, rc;

    if ((*reply = envelope_problem(m, to)) != NULL) {
        rc = record_failed(s, m, actor, source, reason, "not sent", *reply, err) == 0 ? -2 : -1;
        if (rc == -1)
            say_sent(err, m->id, 0, *reply);
        return rc;
    }
    if ((rc = quar_open_original(s, m->id, &fd, err)) != 0) {
        if (rc == 1 && asprintf(err, "no quarantined message with id %s", m->id) < 0)
            *err = NULL;
        return -1;
    }
    rc = send_and_record(s, l, m, to, fd, actor, source, reason, reply, err);
    close(fd);
    return rc;
}
