/*
 * bench/null_milter.c - the cheapest milters that do what mugai-milter asks of
 * Postfix, as baselines for bench/postfix.py.
 *
 *   null_milter accept  SOCKET   negotiate like mugai-milter (no replies to
 *                                envelope, header and body events, only the
 *                                queue id macro) and accept every message.
 *   null_milter rewrite SOCKET   the same, and at end of message replace the
 *                                body with itself plus a notice of about the
 *                                size of mugai's, and add the five headers
 *                                mugai adds to a plain-text message.
 *
 * The difference between Postfix alone and Postfix with "rewrite" is what any
 * body-rewriting milter costs Postfix, before the milter does any work.
 * Bodies are kept in memory: a benchmark tool, never a product part.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#define CHUNK 65535

static int g_rewrite;

typedef struct body {
    unsigned char *buf;
    size_t len, cap;
} body;

static sfsistat nm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    unsigned long nr =
        SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;

    (void)f2;
    (void)f3;
    *pf0 = f0 & (SMFIF_CHGBODY | SMFIF_CHGHDRS | SMFIF_ADDHDRS);
    *pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA | nr);
    if ((f0 & SMFIF_SETSYMLIST) != 0 && smfi_setsymlist(ctx, SMFIM_CONNECT, "") == MI_SUCCESS &&
        smfi_setsymlist(ctx, SMFIM_HELO, "") == MI_SUCCESS &&
        smfi_setsymlist(ctx, SMFIM_ENVFROM, "i") == MI_SUCCESS &&
        smfi_setsymlist(ctx, SMFIM_ENVRCPT, "") == MI_SUCCESS &&
        smfi_setsymlist(ctx, SMFIM_DATA, "") == MI_SUCCESS &&
        smfi_setsymlist(ctx, SMFIM_EOH, "") == MI_SUCCESS &&
        smfi_setsymlist(ctx, SMFIM_EOM, "i") == MI_SUCCESS)
        *pf0 |= SMFIF_SETSYMLIST;
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat nm_noreply(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_NOREPLY;
}

static sfsistat nm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
    (void)host;
    (void)sa;
    return nm_noreply(ctx);
}

static sfsistat nm_envelope(SMFICTX *ctx, char **argv)
{
    body *b = smfi_getpriv(ctx);

    (void)argv;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        smfi_setpriv(ctx, b);
    }
    if (b != NULL)
        b->len = 0;
    return SMFIS_NOREPLY;
}

static sfsistat nm_header(SMFICTX *ctx, char *name, char *value)
{
    (void)name;
    (void)value;
    return nm_noreply(ctx);
}

static sfsistat nm_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    body *b = smfi_getpriv(ctx);

    if (b != NULL && g_rewrite) {
        if (b->len + len > b->cap) {
            size_t cap = (b->len + len) * 2;
            unsigned char *nb = realloc(b->buf, cap);
            if (nb == NULL)
                return SMFIS_NOREPLY;
            b->buf = nb;
            b->cap = cap;
        }
        memcpy(b->buf + b->len, buf, len);
        b->len += len;
    }
    return SMFIS_NOREPLY;
}

static sfsistat nm_eom(SMFICTX *ctx)
{
    static const char notice[] =
        "\r\n----------------------------------------------------------------\r\n"
        "This line stands for the notice mugai appends to every sanitized message: the\r\n"
        "quarantine ID, what happened to each part and why, how to ask for an original.\r\n"
        "It is about as long as mugai's notice in Japanese and English, so that Postfix\r\n"
        "rewrites a body of the same size. -------------------------------------------\r\n"
        "----------------------------------------------------------------------------\r\n"
        "----------------------------------------------------------------------------\r\n";
    body *b = smfi_getpriv(ctx);
    size_t off;

    if (!g_rewrite || b == NULL)
        return SMFIS_ACCEPT;
    for (off = 0; off < b->len; off += CHUNK) {
        size_t n = b->len - off > CHUNK ? CHUNK : b->len - off;
        if (smfi_replacebody(ctx, b->buf + off, (int)n) != MI_SUCCESS)
            return SMFIS_TEMPFAIL;
    }
    if (smfi_replacebody(ctx, (unsigned char *)notice, (int)sizeof(notice) - 1) != MI_SUCCESS ||
        smfi_addheader(ctx, "MIME-Version", " 1.0") != MI_SUCCESS ||
        smfi_addheader(ctx, "Content-Type", " text/plain; charset=UTF-8") != MI_SUCCESS ||
        smfi_addheader(ctx, "Content-Transfer-Encoding", " 8bit") != MI_SUCCESS ||
        smfi_addheader(ctx, "X-Mugai-Sanitized", " yes") != MI_SUCCESS ||
        smfi_addheader(ctx, "X-Mugai-Quarantine-Id", " Q-20261126-BENCH0") != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    return SMFIS_ACCEPT;
}

static sfsistat nm_close(SMFICTX *ctx)
{
    body *b = smfi_getpriv(ctx);

    if (b != NULL) {
        free(b->buf);
        free(b);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
    struct smfiDesc d;

    if (argc != 3 || (strcmp(argv[1], "accept") != 0 && strcmp(argv[1], "rewrite") != 0)) {
        fprintf(stderr, "usage: null_milter accept|rewrite unix:/path/to/socket\n");
        return 2;
    }
    g_rewrite = strcmp(argv[1], "rewrite") == 0;
    memset(&d, 0, sizeof(d));
    d.xxfi_name = "null";
    d.xxfi_version = SMFI_VERSION;
    d.xxfi_flags = SMFIF_CHGBODY | SMFIF_CHGHDRS | SMFIF_ADDHDRS;
    d.xxfi_connect = nm_connect;
    d.xxfi_envfrom = nm_envelope;
    d.xxfi_envrcpt = nm_envelope;
    d.xxfi_header = nm_header;
    d.xxfi_eoh = nm_noreply;
    d.xxfi_body = nm_body;
    d.xxfi_eom = nm_eom;
    d.xxfi_close = nm_close;
    d.xxfi_negotiate = nm_negotiate;
    umask(0);
    if (smfi_register(d) != MI_SUCCESS || smfi_setconn(argv[2]) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null_milter: cannot listen on %s\n", argv[2]);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
