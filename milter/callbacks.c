/*
 * milter/callbacks.c - the libmilter callbacks of mugai-milter.
 *
 * Runs in the milter front end, in libmilter's threads, as the unprivileged
 * milter user. The callbacks are thin: they copy the envelope, spool the
 * message to a 0600 file (spool.c) and, at end of message, hand the job to the pool
 * and apply its answer (body first, then headers). Must never hold a message
 * in memory, never accept a message before a worker confirmed that its
 * original is in the quarantine store, and never pass a message on after any
 * error: every failure is a 451 temporary failure. The one permanent refusal
 * (554) is a message with more header fields than [milter] max_headers, which
 * no retry could ever pass. Allocation failure here tempfails the message;
 * it must not abort the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "mg.h"
#include "milter.h"

#define CHUNK 65535u /* the largest SMFIR_REPLBODY libmilter sends in one piece */
#define MAX_RCPTS 10000u
#define MAX_KEPT_HEADERS 5000u /* the most [milter] max_headers allows: never the limit hit */
#define MAX_IN_PLACE 32u       /* header fields changed in place per message (see edit) */
#define MAX_CLEAN_HEADER (8u * 1024u * 1024u)
#define PROGRESS_MS 5000

/* Every smfi_* call goes through this table, so tests can observe them. */
typedef struct smfi_ops {
    int (*replacebody)(SMFICTX *, unsigned char *, int);
    int (*chgheader)(SMFICTX *, char *, int, char *);
    int (*addheader)(SMFICTX *, char *, char *);
    int (*progress)(SMFICTX *);
    int (*setreply)(SMFICTX *, char *, char *, char *);
    char *(*getsymval)(SMFICTX *, char *);
    int (*setpriv)(SMFICTX *, void *);
    void *(*getpriv)(SMFICTX *);
} smfi_ops;

static const smfi_ops smfi = {smfi_replacebody, smfi_chgheader, smfi_addheader, smfi_progress,
                              smfi_setreply,    smfi_getsymval, smfi_setpriv,   smfi_getpriv};

typedef struct hdr {
    char *name;
    char *value; /* raw, after the colon, folds as "\n" */
} hdr;

/* A message in progress: freed by msg_free only. */
typedef struct mctx {
    milter_spool *sp; /* spooled original and clean message */
    FILE *spool;      /* sp->f */
    int reuse;        /* no worker may still write to sp: it can serve the next message */
    char *sender;
    char **rcpts; /* NULL-terminated */
    size_t nrcpts;
    char *qid;
    hdr *hdrs; /* the headers mugai may change: Content-*, MIME-Version, X-Mugai-* */
    size_t nhdrs;
    size_t nfields; /* header fields seen; over [milter] max_headers the message is refused */
    int submit;     /* one recipient is [ppap] submit_address: a reply the gateway consumes */
} mctx;

/* A connection: freed in cb_close. */
typedef struct cctx {
    char *client;
    char addr[64]; /* the client's numeric address, "" when not IP */
    mctx *msg;
    const char *fail; /* why the message in progress will be refused at its end */
} cctx;

static const conf *g_conf;
static char g_pool_path[108];
static atomic_uint g_active;

/* Connections in progress. */
unsigned milter_active(void)
{
    return atomic_load(&g_active);
}

/* The queue id for logs. */
static const char *qid_of(const mctx *m)
{
    return m != NULL && m->qid != NULL ? m->qid : "NOQUEUE";
}

/* Log why and answer 451 4.7.1. */
static sfsistat tempfail(SMFICTX *ctx, const mctx *m, const char *why)
{
    char text[256];
    size_t i;

    mg_error("%s: tempfail: %s", qid_of(m), why);
    if (mg_snprintf(text, sizeof(text), "mugai: %s", why) < 0)
        memcpy(text, "mugai: internal error", sizeof("mugai: internal error"));
    for (i = 0; text[i] != '\0'; i++)
        if (text[i] == '%' || (unsigned char)text[i] < 0x20)
            text[i] = ' ';
    if (smfi.setreply(ctx, "451", "4.7.1", text) != MI_SUCCESS)
        mg_warn("%s: smfi_setreply failed", qid_of(m));
    return SMFIS_TEMPFAIL;
}

/* Log why and answer 554 5.6.0: the message can never pass, so it must not be retried. */
static sfsistat reject(SMFICTX *ctx, const mctx *m, const char *why)
{
    char text[256];

    mg_warn("%s: rejected: %s", qid_of(m), why);
    if (mg_snprintf(text, sizeof(text), "mugai: %s", why) < 0)
        memcpy(text, "mugai: message refused", sizeof("mugai: message refused"));
    if (smfi.setreply(ctx, "554", "5.6.0", text) != MI_SUCCESS)
        mg_warn("%s: smfi_setreply failed", qid_of(m));
    return SMFIS_REJECT;
}

/* Non-zero when the message has more header fields than [milter] max_headers. */
static int msg_overfull(const mctx *m)
{
    return m != NULL && m->nfields > g_conf->milter_max_headers;
}

/* A failure in a callback that sends the MTA no reply (SMFIP_NR_*, to spare a round trip
 * per header and body chunk): logged, remembered, and answered with 451 at end of
 * message. */
static sfsistat defer(cctx *cc, const char *why)
{
    if (cc != NULL && cc->fail == NULL) {
        cc->fail = why;
        mg_error("%s: %s; the message will be refused at its end", qid_of(cc->msg), why);
    }
    return SMFIS_NOREPLY;
}

/* Free the message context, its copies and its spool file. */
static void msg_free(cctx *cc)
{
    mctx *m = cc != NULL ? cc->msg : NULL;
    size_t i;

    if (m == NULL)
        return;
    milter_spool_give(m->sp, m->reuse);
    for (i = 0; i < m->nrcpts; i++)
        free(m->rcpts[i]);
    for (i = 0; i < m->nhdrs; i++) {
        free(m->hdrs[i].name);
        free(m->hdrs[i].value);
    }
    free(m->rcpts);
    free(m->hdrs);
    free(m->sender);
    free(m->qid);
    free(m);
    cc->msg = NULL;
}

/* Pick up the queue id once the MTA has one. */
static void msg_qid(SMFICTX *ctx, mctx *m)
{
    char *v;

    if (m->qid != NULL)
        return;
    v = smfi.getsymval(ctx, "i");
    if (v != NULL && *v != '\0')
        m->qid = strdup(v);
}

/* A new message with its spool files. */
static mctx *msg_new(void)
{
    mctx *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->rcpts = calloc(1, sizeof(char *));
    if (m->rcpts != NULL)
        m->sp = milter_spool_take(g_conf->milter_spool_dir);
    if (m->sp == NULL) {
        free(m->rcpts);
        free(m);
        return NULL;
    }
    m->spool = m->sp->f;
    m->reuse = 1;
    return m;
}

/* An address without its angle brackets. */
static char *addr_copy(const char *a)
{
    size_t n;
    char *s;

    if (a == NULL)
        return strdup("");
    if (*a == '<')
        a++;
    n = strlen(a);
    if (n > 0 && a[n - 1] == '>')
        n--;
    s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, a, n);
        s[n] = '\0';
    }
    return s;
}

/* Ask for the queue id at MAIL and end of message and for no macro elsewhere. 0 or -1. */
static int macros_only_qid(SMFICTX *ctx)
{
    static const struct {
        int stage;
        char *list;
    } want[] = {{SMFIM_CONNECT, ""}, {SMFIM_HELO, ""}, {SMFIM_ENVFROM, "i"}, {SMFIM_ENVRCPT, ""},
                {SMFIM_DATA, ""},    {SMFIM_EOH, ""},  {SMFIM_EOM, "i"}};
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (smfi_setsymlist(ctx, want[i].stage, want[i].list) != MI_SUCCESS)
            return -1;
    return 0;
}

/* xxfi_negotiate: the actions mugai needs and only the steps it uses. */
static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    unsigned long want = SMFIF_CHGBODY | SMFIF_CHGHDRS | SMFIF_ADDHDRS;
    unsigned long skip = SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA;
    /* no reply to these: libmilter answers for us if the MTA cannot do without */
    unsigned long noreply =
        SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;

    (void)f2;
    (void)f3;
    if ((f0 & want) != want || (f1 & SMFIP_HDR_LEADSPC) == 0) {
        mg_error("the MTA lacks the milter actions mugai needs");
        return SMFIS_REJECT;
    }
    *pf0 = want;
    *pf1 = SMFIP_HDR_LEADSPC | (f1 & skip) | (f1 & noreply);
    /* only the queue id ("i") is used: ask the MTA to send no other macros */
    if ((f0 & SMFIF_SETSYMLIST) != 0 && macros_only_qid(ctx) == 0)
        *pf0 |= SMFIF_SETSYMLIST;
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

/* The client as "name [address]". */
static char *client_string(const char *name, const struct sockaddr *sa)
{
    char addr[INET6_ADDRSTRLEN] = "local", buf[1200];

    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
    if (mg_snprintf(buf, sizeof(buf), "%s [%s]", name ? name : "unknown", addr) < 0)
        return strdup(addr);
    return strdup(buf);
}

/* xxfi_connect: the connection context. */
static sfsistat cb_connect(SMFICTX *ctx, char *host, struct sockaddr *sa)
{
    cctx *cc = calloc(1, sizeof(*cc));

    if (cc == NULL || smfi.setpriv(ctx, cc) != MI_SUCCESS) {
        free(cc);
        mg_error("NOQUEUE: out of memory for a connection; its messages will be refused");
        return SMFIS_NOREPLY; /* no context: cb_eom refuses */
    }
    atomic_fetch_add(&g_active, 1);
    cc->client = client_string(host, sa);
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, cc->addr, sizeof(cc->addr));
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, cc->addr,
                  sizeof(cc->addr));
    return SMFIS_NOREPLY;
}

/* xxfi_envfrom: a new message. */
static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    cctx *cc = smfi.getpriv(ctx);

    if (cc == NULL)
        return SMFIS_NOREPLY; /* cb_eom refuses */
    msg_free(cc);
    cc->fail = NULL;
    cc->msg = msg_new();
    if (cc->msg == NULL)
        return defer(cc, "cannot create a spool file");
    cc->msg->sender = addr_copy(argv != NULL ? argv[0] : NULL);
    msg_qid(ctx, cc->msg);
    if (cc->msg->sender == NULL)
        return defer(cc, "out of memory");
    return SMFIS_NOREPLY;
}

/* xxfi_envrcpt: one more recipient. */
static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    cctx *cc = smfi.getpriv(ctx);
    mctx *m = cc != NULL ? cc->msg : NULL;
    char **nr;

    if (m == NULL || cc->fail != NULL)
        return SMFIS_NOREPLY; /* cb_eom refuses */
    if (m->nrcpts >= MAX_RCPTS)
        return defer(cc, "too many recipients");
    nr = realloc(m->rcpts, (m->nrcpts + 2) * sizeof(char *));
    if (nr == NULL)
        return defer(cc, "out of memory");
    m->rcpts = nr;
    m->rcpts[m->nrcpts] = addr_copy(argv != NULL ? argv[0] : NULL);
    if (m->rcpts[m->nrcpts] == NULL)
        return defer(cc, "out of memory");
    if (*g_conf->ppap_submit_address &&
        strcasecmp(m->rcpts[m->nrcpts], g_conf->ppap_submit_address) == 0)
        m->submit = 1;
    m->rcpts[++m->nrcpts] = NULL;
    return SMFIS_NOREPLY;
}

/* Non-zero for the header names whose changes plan_content and plan_mugai plan (kept as
 * they arrive; plan_rewritten reads the others, Subject among them, back from the spool
 * file). */
static int hdr_kept(const char *name)
{
    return strncasecmp(name, "Content-", 8) == 0 || strncasecmp(name, "X-Mugai-", 8) == 0 ||
           strcasecmp(name, "MIME-Version") == 0;
}

/* Remember a header mugai may change. */
static int msg_keep(mctx *m, const char *name, const char *value)
{
    hdr *nh;

    if (m->nhdrs >= MAX_KEPT_HEADERS)
        return -1;
    nh = realloc(m->hdrs, (m->nhdrs + 1) * sizeof(hdr));
    if (nh == NULL)
        return -1;
    m->hdrs = nh;
    nh[m->nhdrs].name = strdup(name);
    nh[m->nhdrs].value = strdup(value);
    if (nh[m->nhdrs].name == NULL || nh[m->nhdrs].value == NULL) {
        free(nh[m->nhdrs].name);
        free(nh[m->nhdrs].value);
        return -1;
    }
    m->nhdrs++;
    return 0;
}

/* Spool "Name:" + value + CRLF, turning bare LFs of folded values into CRLF. */
static int spool_header(FILE *f, const char *name, const char *value)
{
    const char *p;

    if (fputs(name, f) == EOF || fputc(':', f) == EOF)
        return -1;
    for (p = value; *p != '\0'; p++) {
        if (*p == '\n' && (p == value || p[-1] != '\r') && fputc('\r', f) == EOF)
            return -1;
        if (fputc(*p, f) == EOF)
            return -1;
    }
    return fputs("\r\n", f) == EOF ? -1 : 0;
}

/* xxfi_header: spool one header. */
static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    cctx *cc = smfi.getpriv(ctx);
    mctx *m = cc != NULL ? cc->msg : NULL;

    if (m == NULL || cc->fail != NULL || name == NULL || value == NULL)
        return SMFIS_NOREPLY; /* cb_eom refuses a message without context */
    if (++m->nfields > g_conf->milter_max_headers)
        return SMFIS_NOREPLY; /* cb_eom rejects it; nothing more is spooled */
    if (spool_header(m->spool, name, value) < 0)
        return defer(cc, "cannot write the spool file");
    if (hdr_kept(name) && msg_keep(m, name, value) < 0)
        return defer(cc, "too many content headers or out of memory");
    return SMFIS_NOREPLY;
}

/* xxfi_eoh: the blank line ending the header. */
static sfsistat cb_eoh(SMFICTX *ctx)
{
    cctx *cc = smfi.getpriv(ctx);

    if (cc == NULL || cc->msg == NULL || cc->fail != NULL || msg_overfull(cc->msg))
        return SMFIS_NOREPLY;
    if (fputs("\r\n", cc->msg->spool) == EOF)
        return defer(cc, "cannot write the spool file");
    return SMFIS_NOREPLY;
}

/* xxfi_body: spool a body chunk as received. */
static sfsistat cb_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    cctx *cc = smfi.getpriv(ctx);

    if (cc == NULL || cc->msg == NULL || cc->fail != NULL || msg_overfull(cc->msg))
        return SMFIS_NOREPLY;
    if (len > 0 && fwrite(buf, 1, len, cc->msg->spool) != len)
        return defer(cc, "cannot write the spool file");
    return SMFIS_NOREPLY;
}

/* Connect to the pool socket. */
static int pool_connect(void)
{
    struct sockaddr_un sa;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, g_pool_path, sizeof(g_pool_path));
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Wait for the reply, calling smfi_progress every few seconds. */
static const char *job_wait(SMFICTX *ctx, mctx *m, int s, milter_reply *r)
{
    double until = mg_now() + g_conf->milter_queue_wait + g_conf->milter_job_timeout + 10;
    struct pollfd pf = {s, POLLIN, 0};
    struct timeval tv = {10, 0};

    for (;;) {
        int n = poll(&pf, 1, PROGRESS_MS);

        if (n > 0)
            break;
        if (n < 0 && errno != EINTR)
            return "poll failed";
        if (mg_now() >= until)
            return "sanitization timed out";
        if (smfi.progress(ctx) != MI_SUCCESS)
            return "smfi_progress failed";
    }
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (milter_reply_recv(s, r) < 0)
        return errno == ENODATA || errno == EBADMSG ? "sanitizer worker failed" : "bad reply";
    (void)m;
    return NULL;
}

/* Hand the spooled message to the pool and wait for its answer. */
static const char *job_run(SMFICTX *ctx, mctx *m, const char *client, milter_reply *r)
{
    milter_job j = {
        m->qid,    (char *)client,   m->sender,  m->rcpts,
        m->nrcpts, fileno(m->spool), m->sp->out, m->submit ? MILTER_JOB_SUBMIT : MILTER_JOB_MAIL};
    const char *why;
    int s;

    if (fflush(m->spool) == EOF)
        return "cannot write the spool file";
    s = pool_connect();
    if (s < 0)
        return "sanitizer pool unreachable";
    m->reuse = 0; /* until a whole reply says the worker is done with the files */
    if (milter_job_send(s, &j) < 0) {
        close(s);
        return "cannot send the job";
    }
    why = job_wait(ctx, m, s, r);
    if (why == NULL)
        m->reuse = 1;
    close(s);
    return why;
}

/* A parsed header block of the clean message. */
typedef struct clean {
    hdr *h;
    size_t nh;
    char *buf; /* header bytes, then the first body bytes */
    size_t blen, body_off;
} clean;

/* Free a parsed clean header block. */
static void clean_free(clean *c)
{
    size_t i;

    for (i = 0; i < c->nh; i++) {
        free(c->h[i].name);
        free(c->h[i].value);
    }
    free(c->h);
    free(c->buf);
    memset(c, 0, sizeof(*c));
}

/* Read from fd until the first blank line (or EOF), keeping what follows it. */
static int clean_read(int fd, clean *c)
{
    size_t cap = 0;
    char *end;

    for (;;) {
        ssize_t n;

        if (c->blen + CHUNK + 1 > cap) {
            char *nb;

            if (cap >= MAX_CLEAN_HEADER)
                return -1;
            cap = cap ? cap * 2 : 2 * CHUNK;
            nb = realloc(c->buf, cap);
            if (nb == NULL)
                return -1;
            c->buf = nb;
        }
        n = read(fd, c->buf + c->blen, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        c->blen += (size_t)n;
        c->buf[c->blen] = '\0';
        end = c->blen >= 2 && memcmp(c->buf, "\r\n", 2) == 0 ? c->buf : strstr(c->buf, "\r\n\r\n");
        if (end != NULL) {
            c->body_off = (size_t)(end - c->buf) + (end == c->buf ? 2 : 4);
            *end = '\0';
            return 0;
        }
        if (n == 0) {
            c->body_off = c->blen;
            return 0;
        }
    }
}

/* Append one header line (with continuations) to c->h; value folds become "\n". */
static int clean_add(clean *c, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    hdr *nh;
    size_t i, k = 0;

    if (colon == NULL)
        return 0;
    nh = realloc(c->h, (c->nh + 1) * sizeof(hdr));
    if (nh == NULL)
        return -1;
    c->h = nh;
    nh[c->nh].name = strndup(line, (size_t)(colon - line));
    nh[c->nh].value = malloc(len + 1);
    if (nh[c->nh].name == NULL || nh[c->nh].value == NULL) {
        free(nh[c->nh].name);
        free(nh[c->nh].value);
        return -1;
    }
    for (i = (size_t)(colon - line) + 1; i < len; i++)
        if (line[i] != '\r')
            nh[c->nh].value[k++] = line[i];
    nh[c->nh].value[k] = '\0';
    c->nh++;
    return 0;
}

/* Split the header block into fields. */
static int clean_parse(clean *c)
{
    const char *p = c->buf, *start = c->buf;

    if (*p == '\0')
        return 0;
    for (;;) {
        const char *eol = strstr(p, "\r\n");

        if (eol == NULL || (eol[2] != ' ' && eol[2] != '\t')) {
            const char *stop = eol ? eol : p + strlen(p);

            if (clean_add(c, start, (size_t)(stop - start)) < 0)
                return -1;
            if (eol == NULL)
                return 0;
            start = eol + 2;
        }
        p = eol + 2;
    }
}

/* The first value of name in a header list, or NULL. */
static const char *hdr_find(const hdr *h, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

/* How many times name occurs in a header list. */
static int hdr_count(const hdr *h, size_t n, const char *name)
{
    size_t i;
    int k = 0;

    for (i = 0; i < n; i++)
        k += strcasecmp(h[i].name, name) == 0;
    return k;
}

/* Non-zero when the name occurred earlier in the list (handled already). */
static int hdr_seen(const hdr *h, size_t i)
{
    size_t k;

    for (k = 0; k < i; k++)
        if (strcasecmp(h[k].name, h[i].name) == 0)
            return 1;
    return 0;
}

/* Replace the body with the clean message's, in chunks of at most 64 KiB, back to back. */
static const char *apply_body(SMFICTX *ctx, int fd, clean *c)
{
    size_t off = c->body_off;
    unsigned char *buf;

    while (off < c->blen) {
        size_t n = c->blen - off > CHUNK ? CHUNK : c->blen - off;

        if (smfi.replacebody(ctx, (unsigned char *)c->buf + off, (int)n) != MI_SUCCESS)
            return "smfi_replacebody failed";
        off += n;
    }
    buf = malloc(CHUNK);
    if (buf == NULL)
        return "out of memory";
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || smfi.replacebody(ctx, buf, (int)n) != MI_SUCCESS) {
            free(buf);
            return n == 0  ? NULL
                   : n < 0 ? "cannot read the clean message"
                           : "smfi_replacebody failed";
        }
    }
}

/* One header change for the MTA. Postfix keeps an in-place change (and an insertion) as a
 * forward and a reverse jump in the queue file, walks every such jump again on each later
 * lookup, and gives up for good past 10,000 reverse jumps ("too many reverse jump records":
 * 451 on every retry), so some 150 in-place changes already lose a message. A deletion or an
 * addition adds no reverse jump: the edits are collected and sent deletions first, then the
 * few in-place changes (MAX_IN_PLACE), then additions. */
typedef enum { ED_DEL, ED_CHG, ED_ADD } ed_kind;

typedef struct edit {
    ed_kind kind;
    const char *name;  /* borrowed, like value, from the header lists apply holds */
    int index;         /* of name among the fields left when the edit applies; not for ED_ADD */
    const char *value; /* NULL for ED_DEL */
} edit;

/* The edits of one message. */
typedef struct edits {
    edit *e;
    size_t n, cap;
    size_t chg; /* ED_CHG edits queued */
} edits;

/* Queue one edit. 0, or -1 when out of memory. */
static int ed_push(edits *ed, ed_kind kind, const char *name, int index, const char *value)
{
    if (ed->n == ed->cap) {
        size_t cap = ed->cap ? ed->cap * 2 : 64;
        edit *ne = realloc(ed->e, cap * sizeof(*ne));

        if (ne == NULL)
            return -1;
        ed->e = ne;
        ed->cap = cap;
    }
    ed->e[ed->n].kind = kind;
    ed->e[ed->n].name = name;
    ed->e[ed->n].index = index;
    ed->e[ed->n].value = value;
    ed->n++;
    ed->chg += kind == ED_CHG;
    return 0;
}

/* Send the edits of one kind in the order they were queued. */
static int ed_send(SMFICTX *ctx, const edits *ed, ed_kind kind)
{
    size_t i;

    for (i = 0; i < ed->n; i++) {
        const edit *e = &ed->e[i];
        int rc;

        if (e->kind != kind)
            continue;
        rc = kind == ED_ADD ? smfi.addheader(ctx, (char *)e->name, (char *)e->value)
                            : smfi.chgheader(ctx, (char *)e->name, e->index, (char *)e->value);
        if (rc != MI_SUCCESS)
            return -1;
    }
    return 0;
}

/* Send every deletion, then every in-place change, then every addition. */
static int ed_apply(SMFICTX *ctx, const edits *ed)
{
    if (ed_send(ctx, ed, ED_DEL) < 0 || ed_send(ctx, ed, ED_CHG) < 0)
        return -1;
    return ed_send(ctx, ed, ED_ADD);
}

/* Delete every occurrence of name from index from on, last first so the indexes stay valid. */
static int plan_delete_all(edits *ed, const mctx *m, const char *name, int from)
{
    int i;

    for (i = hdr_count(m->hdrs, m->nhdrs, name); i >= from; i--)
        if (ed_push(ed, ED_DEL, name, i, NULL) < 0)
            return -1;
    return 0;
}

/* Content-* and MIME-Version: the clean message's values replace the original ones. */
static int plan_content(edits *ed, const mctx *m, const clean *c)
{
    size_t i;

    for (i = 0; i < m->nhdrs; i++) {
        const char *name = m->hdrs[i].name, *v;

        if (hdr_seen(m->hdrs, i) || strncasecmp(name, "X-Mugai-", 8) == 0)
            continue;
        v = hdr_find(c->h, c->nh, name);
        if (v != NULL && ed_push(ed, ED_CHG, name, 1, v) < 0)
            return -1;
        if (plan_delete_all(ed, m, name, v != NULL ? 2 : 1) < 0)
            return -1;
    }
    for (i = 0; i < c->nh; i++) {
        const char *name = c->h[i].name;

        if ((strncasecmp(name, "Content-", 8) != 0 && strcasecmp(name, "MIME-Version") != 0) ||
            hdr_seen(c->h, i) || hdr_find(m->hdrs, m->nhdrs, name) != NULL)
            continue;
        if (ed_push(ed, ED_ADD, name, 0, c->h[i].value) < 0)
            return -1;
    }
    return 0;
}

/* Non-zero when a and b hold the same characters, line breaks and the blanks around the
 * value aside (a folded value against the same value unfolded). */
static int value_equiv(const char *a, const char *b)
{
    const char *ea = a + strlen(a), *eb = b + strlen(b);

    while (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n')
        a++;
    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
        b++;
    while (ea > a && (ea[-1] == ' ' || ea[-1] == '\t' || ea[-1] == '\r' || ea[-1] == '\n'))
        ea--;
    while (eb > b && (eb[-1] == ' ' || eb[-1] == '\t' || eb[-1] == '\r' || eb[-1] == '\n'))
        eb--;
    for (;;) {
        while (a < ea && (*a == '\r' || *a == '\n'))
            a++;
        while (b < eb && (*b == '\r' || *b == '\n'))
            b++;
        if (a == ea || b == eb)
            return a == ea && b == eb;
        if (*a++ != *b++)
            return 0;
    }
}

/* Header pointers ordered by name ignoring case, then by position in the message. */
static int by_name(const void *a, const void *b)
{
    const hdr *x = *(const hdr *const *)a, *y = *(const hdr *const *)b;
    int d = strcasecmp(x->name, y->name);

    return d != 0 ? d : (x > y) - (x < y);
}

/* Pointers to the n headers of h in by_name order, or NULL. Caller frees with free(). */
static const hdr **hdr_sorted(const hdr *h, size_t n)
{
    const hdr **s = malloc((n > 0 ? n : 1) * sizeof(*s));
    size_t i;

    if (s == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        s[i] = &h[i];
    qsort(s, n, sizeof(*s), by_name);
    return s;
}

/* How many of the n sorted headers at s share the name of s[0]. */
static size_t run_len(const hdr *const *s, size_t n)
{
    size_t k = 1;

    while (k < n && strcasecmp(s[k]->name, s[0]->name) == 0)
        k++;
    return k;
}

/* Non-zero for a value of printable ASCII without encoded words: nothing in it decodes to a
 * character a reader could be misled by, so it stays as the sender wrote it. */
static int value_plain(const char *v)
{
    const unsigned char *p;

    for (p = (const unsigned char *)v; *p != '\0'; p++)
        if ((*p < 0x20 && *p != '\t' && *p != '\r' && *p != '\n') || *p >= 0x7f)
            return 0;
    return strstr(v, "=?") == NULL;
}

/* Non-zero when the n original occurrences o of a name are not all plain and differ from the
 * m clean ones c (or do not pair up with them). Subject is compared even when plain: the
 * subject tag changes every one. */
static int run_rewritten(const hdr *const *o, size_t n, const hdr *const *c, size_t m)
{
    size_t k;
    int plain = strcasecmp(o[0]->name, "Subject") != 0;

    for (k = 0; k < n; k++)
        plain = plain && value_plain(o[k]->value);
    if (plain)
        return 0;
    if (n != m)
        return 1;
    for (k = 0; k < n; k++)
        if (!value_equiv(o[k]->value, c[k]->value))
            return 1;
    return 0;
}

/* Non-zero for the fields a reader is shown first: they keep their place when changed. */
static int hdr_shown(const char *name)
{
    static const char *const names[] = {"From", "To", "Cc", "Subject", "Reply-To", "Sender"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* Replace the n occurrences o of a name by the m clean ones c: in place when they pair up one
 * to one and the in-place budget allows, else all deleted (last first, so the indexes hold)
 * and the clean ones added at the end. */
static int plan_run(edits *ed, const hdr *const *o, size_t n, const hdr *const *c, size_t m)
{
    const char *name = o[0]->name;
    size_t k, diff = 0;

    for (k = 0; n == m && k < n; k++)
        diff += !value_equiv(o[k]->value, c[k]->value);
    if (n == m && ed->chg + diff <= MAX_IN_PLACE) {
        for (k = 0; k < n; k++)
            if (!value_equiv(o[k]->value, c[k]->value) &&
                ed_push(ed, ED_CHG, name, (int)k + 1, c[k]->value) < 0)
                return -1;
        return 0;
    }
    for (k = n; k >= 1; k--)
        if (ed_push(ed, ED_DEL, name, (int)k, NULL) < 0)
            return -1;
    for (k = 0; k < m; k++)
        if (ed_push(ed, ED_ADD, name, 0, c[k]->value) < 0)
            return -1;
    return 0;
}

/* Compare the sorted original headers so (n) with the sorted clean ones sc (m), name by
 * name, and plan the replacement of the runs the clean message rewrote: with shown non-zero
 * those of the fields hdr_shown names, else the others. */
static int plan_runs(edits *ed, const hdr **so, size_t n, const hdr **sc, size_t m, int shown)
{
    size_t i, j = 0, on, cn;

    for (i = 0; i < n; i += on) {
        const char *name = so[i]->name;

        on = run_len(so + i, n - i);
        while (j < m && strcasecmp(sc[j]->name, name) < 0)
            j++;
        cn = j < m && strcasecmp(sc[j]->name, name) == 0 ? run_len(sc + j, m - j) : 0;
        if (hdr_kept(name) || strcasecmp(name, "Received") == 0 || !hdr_shown(name) != !shown ||
            !run_rewritten(so + i, on, sc + j, cn))
            continue;
        if (plan_run(ed, so + i, on, sc + j, cn) < 0)
            return -1;
    }
    return 0;
}

/* Every other header that is not plain (value_plain) and that the clean message rewrote is
 * replaced by its clean value: the engine decodes it, drops the characters no reader may see
 * (a From display name with U+202E, say) and encodes it again; every Subject too when the
 * subject tag changed it, and the clean Subject is added when the original had none.
 * Received: stays: MTAs number those differently, and no reader is shown them. orig is the
 * original header block read back from the spool file; sorting by name keeps the work at
 * n log n however many fields. The shown fields go first, so they get the in-place budget. */
static int plan_rewritten(edits *ed, const clean *orig, const clean *c)
{
    const hdr **so = hdr_sorted(orig->h, orig->nh), **sc = hdr_sorted(c->h, c->nh);
    size_t i;
    int rc = -1;

    if (so != NULL && sc != NULL && plan_runs(ed, so, orig->nh, sc, c->nh, 1) == 0 &&
        plan_runs(ed, so, orig->nh, sc, c->nh, 0) == 0)
        rc = 0;
    for (i = 0; rc == 0 && hdr_count(orig->h, orig->nh, "Subject") == 0 && i < c->nh; i++)
        if (strcasecmp(c->h[i].name, "Subject") == 0 &&
            ed_push(ed, ED_ADD, c->h[i].name, 0, c->h[i].value) < 0)
            rc = -1;
    free(so);
    free(sc);
    return rc;
}

/* X-Mugai-* (incoming ones deleted first); idv (size bytes) holds the quarantine id value
 * until the edits are sent. */
static int plan_mugai(edits *ed, const mctx *m, const clean *c, const char *qid, char *idv,
                      size_t size)
{
    const char *san = hdr_find(c->h, c->nh, "X-Mugai-Sanitized");
    size_t i;

    for (i = 0; i < m->nhdrs; i++)
        if (!hdr_seen(m->hdrs, i) && strncasecmp(m->hdrs[i].name, "X-Mugai-", 8) == 0 &&
            plan_delete_all(ed, m, m->hdrs[i].name, 1) < 0)
            return -1;
    if (mg_snprintf(idv, size, " %s", qid) < 0)
        return -1;
    if (ed_push(ed, ED_ADD, "X-Mugai-Sanitized", 0, san ? san : " yes") < 0)
        return -1;
    return ed_push(ed, ED_ADD, "X-Mugai-Quarantine-Id", 0, idv);
}

/* Read the original header block back from the spool file (fd). 0 or -1. */
static int orig_read(int fd, clean *orig)
{
    if (lseek(fd, 0, SEEK_SET) != 0 || clean_read(fd, orig) < 0)
        return -1;
    return clean_parse(orig);
}

/* Apply the clean message: all body replacement first, then the header changes. */
static const char *apply(SMFICTX *ctx, const mctx *m, const milter_reply *r)
{
    int fd = m->sp->out;
    clean c, orig;
    edits ed;
    char idv[64];
    const char *why = NULL;

    memset(&c, 0, sizeof(c));
    memset(&orig, 0, sizeof(orig));
    memset(&ed, 0, sizeof(ed));
    if (lseek(fd, 0, SEEK_SET) < 0 || clean_read(fd, &c) < 0 || clean_parse(&c) < 0)
        why = "cannot read the clean message";
    if (why == NULL && orig_read(fileno(m->spool), &orig) < 0)
        why = "cannot read the spooled header";
    if (why == NULL)
        why = apply_body(ctx, fd, &c);
    if (why == NULL && (plan_content(&ed, m, &c) < 0 || plan_rewritten(&ed, &orig, &c) < 0 ||
                        plan_mugai(&ed, m, &c, r->qid, idv, sizeof(idv)) < 0))
        why = "out of memory for the header changes";
    if (why == NULL && ed_apply(ctx, &ed) < 0)
        why = "changing the headers failed";
    free(ed.e);
    clean_free(&orig);
    clean_free(&c);
    return why;
}

/* A reply to [ppap] submit_address: refused (550 5.7.1) unless it comes from one of the
 * trusted networks; else handed to a worker, which answers its sender, and discarded. */
static sfsistat msg_submit(SMFICTX *ctx, cctx *cc)
{
    mctx *m = cc->msg;
    milter_reply r;
    const char *why;

    if (!conf_addr_in(g_conf->ppap_trusted_networks, cc->addr)) {
        mg_warn("%s: a mail to %s from %s, outside [ppap] trusted_networks: refused", qid_of(m),
                g_conf->ppap_submit_address, cc->client ? cc->client : "?");
        if (smfi.setreply(ctx, "550", "5.7.1",
                          "mugai: passwords are accepted only from the LGWAN mail server") !=
            MI_SUCCESS)
            mg_warn("%s: smfi_setreply failed", qid_of(m));
        return SMFIS_REJECT;
    }
    if (m->nrcpts != 1) {
        /* Consuming it would lose it for the other recipients. */
        mg_warn("%s: a mail to %s and %zu other recipient(s) from %s: refused", qid_of(m),
                g_conf->ppap_submit_address, m->nrcpts - 1, cc->client ? cc->client : "?");
        if (smfi.setreply(ctx, "550", "5.5.3",
                          "mugai: send the password to the password address alone") != MI_SUCCESS)
            mg_warn("%s: smfi_setreply failed", qid_of(m));
        return SMFIS_REJECT;
    }
    memset(&r, 0, sizeof(r));
    why = job_run(ctx, m, cc->client, &r);
    if (why == NULL && r.status != MILTER_ST_CONSUMED)
        why = r.status == MILTER_ST_BUSY ? "no sanitizer worker available"
                                         : "the reply could not be handled";
    if (why != NULL) {
        milter_reply_clear(&r);
        return tempfail(ctx, m, why);
    }
    mg_info("%s: a reply to %s from %s: consumed and answered", qid_of(m),
            g_conf->ppap_submit_address, m->sender);
    milter_reply_clear(&r);
    return SMFIS_DISCARD;
}

/* Sanitize the spooled message and apply the result. */
static sfsistat msg_finish(SMFICTX *ctx, cctx *cc)
{
    mctx *m = cc->msg;
    milter_reply r;
    const char *why;

    memset(&r, 0, sizeof(r));
    msg_qid(ctx, m);
    if (m->submit)
        return msg_submit(ctx, cc);
    why = job_run(ctx, m, cc->client, &r);
    if (why == NULL && r.status != MILTER_ST_OK)
        why = r.status == MILTER_ST_BUSY ? "no sanitizer worker available" : "sanitization failed";
    /* It goes into a header: nothing but the store's own form may. */
    if (why == NULL && !milter_qid_valid(r.qid))
        why = "the sanitizer returned a malformed quarantine id";
    if (why == NULL)
        why = apply(ctx, m, &r);
    if (why != NULL) {
        if (r.text != NULL)
            mg_error("%s: pool says: %s", qid_of(m), r.text);
        milter_reply_clear(&r);
        return tempfail(ctx, m, why);
    }
    mg_info("%s: accepted sanitized copy, quarantine id %s", qid_of(m), r.qid);
    milter_reply_clear(&r);
    return SMFIS_ACCEPT;
}

/* xxfi_eom: hand over, apply, answer; the message context ends here. */
static sfsistat cb_eom(SMFICTX *ctx)
{
    cctx *cc = smfi.getpriv(ctx);
    sfsistat rc;

    if (cc == NULL)
        return tempfail(ctx, NULL, "no connection context");
    if (msg_overfull(cc->msg))
        rc = reject(ctx, cc->msg, "too many header fields for the clean copy");
    else if (cc->fail != NULL)
        rc = tempfail(ctx, cc->msg, cc->fail);
    else if (cc->msg == NULL)
        rc = tempfail(ctx, NULL, "no message context");
    else
        rc = msg_finish(ctx, cc);
    msg_free(cc);
    cc->fail = NULL;
    return rc;
}

/* xxfi_abort: the message context ends here. */
static sfsistat cb_abort(SMFICTX *ctx)
{
    cctx *cc = smfi.getpriv(ctx);

    if (cc != NULL && cc->msg != NULL)
        mg_info("%s: aborted by the MTA", qid_of(cc->msg));
    msg_free(cc);
    return SMFIS_CONTINUE;
}

/* xxfi_close: the connection context ends here (it may never have been made). */
static sfsistat cb_close(SMFICTX *ctx)
{
    cctx *cc = smfi.getpriv(ctx);

    if (cc != NULL) {
        msg_free(cc);
        free(cc->client);
        free(cc);
        smfi.setpriv(ctx, NULL);
        atomic_fetch_sub(&g_active, 1);
    }
    return SMFIS_CONTINUE;
}

/* Register the callbacks. */
int milter_register(const conf *c)
{
    struct smfiDesc d;

    g_conf = c;
    if (milter_pool_path(c, g_pool_path, sizeof(g_pool_path)) < 0)
        return -1;
    memset(&d, 0, sizeof(d));
    d.xxfi_name = "mugai";
    d.xxfi_version = SMFI_VERSION;
    d.xxfi_flags = SMFIF_CHGBODY | SMFIF_CHGHDRS | SMFIF_ADDHDRS;
    d.xxfi_connect = cb_connect;
    d.xxfi_envfrom = cb_envfrom;
    d.xxfi_envrcpt = cb_envrcpt;
    d.xxfi_header = cb_header;
    d.xxfi_eoh = cb_eoh;
    d.xxfi_body = cb_body;
    d.xxfi_eom = cb_eom;
    d.xxfi_abort = cb_abort;
    d.xxfi_close = cb_close;
    d.xxfi_negotiate = cb_negotiate;
    return smfi_register(d) == MI_SUCCESS ? 0 : -1;
}
