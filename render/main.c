/*
 * render/main.c - mugai-render, the jailed converter.
 *
 * Run by sanitize/jail.c in a forked child with rlimits, no network, an empty
 * private directory and no other fds: fd 0 is the untrusted input (read-only),
 * fd 1 carries the wire format of rnd.h, fd 2 short diagnostics. The input is
 * mapped first, then the seccomp allow-list is installed, then the bytes are
 * parsed. In unlock mode (unlock.c) fd RND_FD_KEYS holds the password
 * candidates and, for a zip, fd RND_FD_OUTPUT is the file the decrypted zip
 * goes to. It must never write anything but frames to fd 1 (and that zip),
 * never open a file for writing, never write a candidate anywhere, never talk
 * to the network and never start another program.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>
#include <cairo.h>
#include "mg.h"
#include "rnd_int.h"

#define RND_MAX_INPUT ((size_t)1 << 30)

typedef struct args {
    const char *mode;
    const char *type;
    const char *label;
    const char *charsets;
    size_t max_text;
    int seccomp;
    rnd_limits lim;
    rnd_unlock_lim unlock;
} args;

/* Pages emitted so far, for the DONE frame. */
static unsigned pages_done;

/* Write a tag and a list of little-endian 32-bit integers. 0 or -1. */
static int put_frame(const char *tag, const uint32_t *v, size_t n)
{
    uint8_t buf[16];
    size_t len = 4;

    if (n > 3)
        return -1;
    memcpy(buf, tag, 4);
    for (size_t i = 0; i < n; i++, len += 4) {
        buf[len] = (uint8_t)(v[i] & 0xff);
        buf[len + 1] = (uint8_t)((v[i] >> 8) & 0xff);
        buf[len + 2] = (uint8_t)((v[i] >> 16) & 0xff);
        buf[len + 3] = (uint8_t)((v[i] >> 24) & 0xff);
    }
    return mg_write_all(STDOUT_FILENO, buf, len);
}

void rnd_fail_exit(rnd_status code, const char *fmt, ...)
{
    char msg[RND_MAX_MSG + 1];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    for (char *p = msg; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    uint32_t v[2] = {(uint32_t)code, (uint32_t)strlen(msg)};
    if (put_frame(RND_TAG_FAIL, v, 2) == 0)
        (void)mg_write_all(STDOUT_FILENO, msg, v[1]);
    fprintf(stderr, "mugai-render: %s\n", msg);
    _exit((int)code);
}

/* Announce the page count. */
static int out_begin(void *ctx, unsigned npages)
{
    (void)ctx;
    uint32_t v[1] = {npages};
    return put_frame(RND_TAG_PAGES, v, 1);
}

/* Emit one page of packed RGB rows. */
static int out_page(void *ctx, unsigned width, unsigned height, const uint8_t *rgb, size_t stride)
{
    size_t row = (size_t)width * 3;
    uint32_t v[2] = {width, height};

    (void)ctx;
    if (put_frame(RND_TAG_PAGE, v, 2) < 0)
        return -1;
    if (stride == row)
        return mg_write_all(STDOUT_FILENO, rgb, row * height) < 0 ? -1 : (pages_done++, 0);
    for (unsigned y = 0; y < height; y++)
        if (mg_write_all(STDOUT_FILENO, rgb + (size_t)y * stride, row) < 0)
            return -1;
    pages_done++;
    return 0;
}

/* Write n 32-bit values little-endian, a block at a time. 0 or -1. */
static int put_u32s(const uint32_t *v, size_t n)
{
    uint8_t buf[4096];

    while (n > 0) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            buf[i * 4] = (uint8_t)(v[i] & 0xff);
            buf[i * 4 + 1] = (uint8_t)((v[i] >> 8) & 0xff);
            buf[i * 4 + 2] = (uint8_t)((v[i] >> 16) & 0xff);
            buf[i * 4 + 3] = (uint8_t)((v[i] >> 24) & 0xff);
        }
        if (mg_write_all(STDOUT_FILENO, buf, k * 4) < 0)
            return -1;
        v += k;
        n -= k;
    }
    return 0;
}

/* Emit one page's text: PTXT nchars nboxes, the code points, the boxes. */
static int out_text(void *ctx, const uint32_t *cp, size_t nchars, const uint32_t *box,
                    size_t nboxes)
{
    uint32_t v[2] = {(uint32_t)nchars, (uint32_t)nboxes};

    (void)ctx;
    if (nchars > RND_MAX_TEXT_CHARS || nboxes > RND_MAX_TEXT_CHARS)
        return -1;
    if (put_frame(RND_TAG_PTXT, v, 2) < 0 || put_u32s(cp, nchars) < 0 ||
        put_u32s(box, nboxes * 4) < 0)
        return -1;
    return 0;
}

/* Parse an unsigned number within [lo, hi]. 0 or -1. */
static int parse_num(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Apply one "--name value" option. 0 or -1. */
static int parse_opt(args *a, const char *name, const char *val)
{
    uint64_t v;

    if (!val)
        return -1;
    if (strcmp(name, "--type") == 0)
        return (a->type = val), 0;
    if (strcmp(name, "--label") == 0)
        return (a->label = val), 0;
    if (strcmp(name, "--charsets") == 0)
        return (a->charsets = val), 0;
    if (strcmp(name, "--dpi") == 0 && parse_num(val, 10, 1200, &v) == 0)
        return (a->lim.dpi = (unsigned)v), 0;
    if (strcmp(name, "--max-pages") == 0 && parse_num(val, 1, 1000000, &v) == 0)
        return (a->lim.max_pages = (unsigned)v), 0;
    if (strcmp(name, "--max-pixels") == 0 &&
        parse_num(val, 1, (uint64_t)RND_MAX_DIM * RND_MAX_DIM, &v) == 0)
        return (a->lim.max_pixels = v), 0;
    if (strcmp(name, "--max-text") == 0 && parse_num(val, 1, UINT32_MAX, &v) == 0)
        return (a->max_text = (size_t)v), 0;
    if (strcmp(name, "--text-layer") == 0 && parse_num(val, 1, RND_MAX_TEXT_CHARS, &v) == 0)
        return (a->lim.text_max = (unsigned)v), 0;
    if (strcmp(name, "--max-output") == 0 && parse_num(val, 1, UINT64_MAX >> 1, &v) == 0)
        return (a->unlock.max_output = v), 0;
    if (strcmp(name, "--max-entries") == 0 && parse_num(val, 1, UINT32_MAX, &v) == 0)
        return (a->unlock.max_entries = (unsigned)v), 0;
    return -1;
}

/* Fill a from argv with defaults for what is not given. 0 or -1. */
static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->seccomp = 1;
    a->charsets = "UTF-8,CP932,EUC-JP,ISO-2022-JP";
    a->max_text = (size_t)16 << 20;
    a->lim = (rnd_limits){150, 500, 50000000, 0};
    a->unlock = (rnd_unlock_lim){(uint64_t)256 << 20, 10000};
    if (argc < 2)
        return -1;
    a->mode = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--no-seccomp") == 0)
            a->seccomp = 0;
        else if (parse_opt(a, argv[i], i + 1 < argc ? argv[i + 1] : NULL) == 0)
            i++;
        else
            return -1;
    }
    return 0;
}

/* Map (or, for a pipe, read) all of stdin. The result stays valid until exit. */
static const char *load_input(size_t *len)
{
    struct stat st;
    char *buf;

    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > RND_MAX_INPUT)
            rnd_fail_exit(RND_ERR_LIMIT, "input of %lld bytes is too large", (long long)st.st_size);
        *len = (size_t)st.st_size;
        if (*len == 0)
            return "";
        void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, STDIN_FILENO, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    if (mg_read_all(STDIN_FILENO, RND_MAX_INPUT, &buf, len) < 0)
        return NULL;
    return buf;
}

/* Draw some Japanese text once so fontconfig and cairo load their configuration and
 * caches before the seccomp filter is in place. */
static void warm_fonts(void)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 16, 16);
    cairo_t *cr = cairo_create(s);

    cairo_select_font_face(cr, "IPAexGothic", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_move_to(cr, 1, 12);
    cairo_show_text(cr, "\xe6\x97\xa5 A");
    cairo_select_font_face(cr, "serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_show_text(cr, "a");
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

/* Emit converted text as TEXT + DONE 0, within max_text. */
static rnd_status emit_text(const char *utf8, size_t max_text)
{
    size_t len = strlen(utf8);
    uint32_t v[1] = {(uint32_t)len};
    uint32_t zero[1] = {0};

    if (len > max_text || len > UINT32_MAX)
        rnd_fail_exit(RND_ERR_LIMIT, "text of %zu bytes exceeds the limit of %zu bytes", len,
                      max_text);
    if (put_frame(RND_TAG_TEXT, v, 1) < 0 || mg_write_all(STDOUT_FILENO, utf8, len) < 0 ||
        put_frame(RND_TAG_DONE, zero, 1) < 0)
        return RND_ERR_INTERNAL;
    return RND_OK;
}

/* Text, CSV and HTML modes. */
static rnd_status run_text(const args *a, const char *data, size_t len)
{
    const char *used = NULL;
    char *out = NULL;

    if (strcmp(a->mode, "html") == 0) {
        out = rnd_html_to_text(data, len, a->label, a->charsets);
    } else {
        char *u = rnd_text_to_utf8(data, len, a->label, a->charsets, &used);
        if (u && strcmp(a->mode, "csv") == 0) {
            out = rnd_csv_neutralize(u, strlen(u));
            g_free(u);
        } else {
            out = u;
        }
    }
    if (!out)
        rnd_fail_exit(RND_ERR_MALFORMED, "text cannot be decoded with any of %s", a->charsets);
    rnd_status st = emit_text(out, a->max_text);
    g_free(out);
    return st;
}

/* PDF and image modes: announce, render, close with DONE. */
static rnd_status run_pages(const args *a, rnd_image *im, const char *data, size_t len)
{
    rnd_out out = {out_begin, out_page, out_text, NULL};
    char msg[RND_MAX_MSG];
    rnd_status st;

    msg[0] = '\0';
    if (im)
        st = rnd_image_render(im, data, len, &out, msg, sizeof msg);
    else
        st = rnd_pdf_render(data, len, &a->lim, &out, msg, sizeof msg);
    if (st != RND_OK)
        rnd_fail_exit(st, "%s", msg[0] ? msg : "rendering failed");
    uint32_t v[1] = {pages_done};
    return put_frame(RND_TAG_DONE, v, 1) < 0 ? RND_ERR_INTERNAL : RND_OK;
}

/* Unlock mode: which candidate opens the input (OPEN), then a zip's decrypted members to
 * RND_FD_OUTPUT and DONE 0, or a PDF's pages with that candidate. */
static rnd_status run_unlock(const args *a, rnd_keys *k, const char *data, size_t len)
{
    char msg[RND_MAX_MSG];
    int zip = strcmp(a->type, "zip") == 0, which = -1;
    unsigned tried = 0;
    rnd_status st;

    msg[0] = '\0';
    st = zip ? rnd_zip_find(data, len, k, &a->unlock, &which, &tried, msg, sizeof msg)
             : rnd_pdf_find(data, len, k, &which, &tried, msg, sizeof msg);
    if (st != RND_OK)
        rnd_fail_exit(st, "%s", msg[0] ? msg : "the candidates cannot be tried");
    uint32_t v[2] = {which < 0 ? RND_NONE : (uint32_t)which, tried};
    if (put_frame(RND_TAG_OPEN, v, 2) < 0)
        return RND_ERR_INTERNAL;
    if (which >= 0 && zip)
        st = rnd_zip_decrypt(data, len, k->key[which], &a->unlock, RND_FD_OUTPUT, msg, sizeof msg);
    else if (which >= 0) {
        rnd_out out = {out_begin, out_page, out_text, NULL};
        st = rnd_pdf_render_pw(data, len, k->key[which], &a->lim, &out, msg, sizeof msg);
    }
    rnd_keys_free(k);
    if (st != RND_OK)
        rnd_fail_exit(st, "%s", msg[0] ? msg : "the input cannot be opened");
    uint32_t done[1] = {pages_done};
    return put_frame(RND_TAG_DONE, done, 1) < 0 ? RND_ERR_INTERNAL : RND_OK;
}

/* Unlock mode, before the filter: the type, the locales, the fonts for a PDF and the
 * candidates (k), whose descriptor is then closed. */
static void prepare_unlock(const args *a, rnd_keys *k)
{
    char msg[RND_MAX_MSG];
    rnd_status st;

    if (!a->type || (strcmp(a->type, "zip") != 0 && strcmp(a->type, "pdf") != 0))
        rnd_fail_exit(RND_ERR_USAGE, "unlock type %s is not accepted",
                      a->type ? a->type : "(none)");
    if (rnd_unlock_prepare() < 0)
        rnd_fail_exit(RND_ERR_INTERNAL, "cannot load the locales");
    if (strcmp(a->type, "pdf") == 0)
        warm_fonts();
    msg[0] = '\0';
    if ((st = rnd_keys_read(RND_FD_KEYS, k, msg, sizeof msg)) != RND_OK)
        rnd_fail_exit(st, "%s", msg);
    (void)close(RND_FD_KEYS);
}

/* Prepare what must be loaded before the filter, for the given mode. */
static rnd_image *prepare_mode(const args *a)
{
    rnd_image *im = NULL;

    if (strcmp(a->mode, "pdf") == 0) {
        warm_fonts();
    } else if (strcmp(a->mode, "unlock") == 0) {
        /* prepared by prepare_unlock, which reads the candidates */
    } else if (strcmp(a->mode, "image") == 0) {
        if (!a->type || !(im = rnd_image_new(a->type, &a->lim)))
            rnd_fail_exit(RND_ERR_USAGE, "image type %s is not accepted",
                          a->type ? a->type : "(none)");
    } else if (strcmp(a->mode, "text") && strcmp(a->mode, "csv") && strcmp(a->mode, "html")) {
        rnd_fail_exit(RND_ERR_USAGE, "unknown mode");
    }
    return im;
}

int main(int argc, char **argv)
{
    args a;
    size_t len = 0;
    const char *data;
    rnd_status st;

    mg_log_init("mugai-render", 0, MG_LOG_WARNING);
    /* Other processes of the jail's user (the same user on the host, when it is nobody)
     * must not trace it or read its memory while it holds someone's document. */
    if (prctl(PR_SET_DUMPABLE, 0) < 0)
        return RND_ERR_INTERNAL;
    if (mg_write_all(STDOUT_FILENO, RND_MAGIC, 4) < 0)
        return RND_ERR_INTERNAL;
    if (parse_args(argc, argv, &a) < 0)
        rnd_fail_exit(RND_ERR_USAGE,
                      "usage: mugai-render pdf|image|text|csv|html|unlock [options]");
    if (!(data = load_input(&len)))
        rnd_fail_exit(RND_ERR_INTERNAL, "cannot read the input");
    rnd_image *im = prepare_mode(&a);
    int unlock = strcmp(a.mode, "unlock") == 0;
    rnd_keys keys = {NULL, 0};
    if (unlock)
        prepare_unlock(&a, &keys);
    int out_fd = unlock && strcmp(a.type, "zip") == 0 ? RND_FD_OUTPUT : -1;
    if (a.seccomp && rnd_seccomp_install_out(out_fd) < 0)
        rnd_fail_exit(RND_ERR_INTERNAL, "cannot install the seccomp filter");
    if (unlock)
        st = run_unlock(&a, &keys, data, len);
    else if (strcmp(a.mode, "pdf") == 0 || im)
        st = run_pages(&a, im, data, len);
    else
        st = run_text(&a, data, len);
    rnd_image_free(im);
    return (int)st;
}
