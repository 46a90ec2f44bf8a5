/*
 * fuzz/stub_jail.c - an in-process stand-in for the render jail (the
 * functions of jail.c the engine calls) for the fuzzing harnesses of the mail
 * engine and the archive walker.
 *
 * Linked only into the harnesses (fuzz/engine.cmake), never into a program
 * that handles real mail: it parses nothing, starts nothing and confines
 * nothing. It answers every conversion at once with what the real jail could
 * answer, so that the trusted code around it (MIME walk, classification,
 * header decoding, archive walk, rebuild of the output) runs at full speed on
 * the fuzzer's bytes: pixels of a tiny page, bounded valid UTF-8 text, a tiny
 * PDF. The input's last byte picks a failure status, so that every answer of
 * the jail reaches the engine. The deadline works as in jail.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "san_int.h"

/* Side of the square page every render answers with. */
#define STUB_SIDE 16
/* Most bytes of text a conversion answers with. */
#define STUB_TEXT_MAX (64 * 1024)
/* A last input byte from STUB_FAIL_BASE + 1 on picks the failure status JAIL_MALFORMED
 * (+ 1) up to JAIL_UNAVAILABLE. */
#define STUB_FAIL_BASE 0xF0

/* The deadline of the job in progress (0: none) and whether it has cut a conversion. */
static double job_deadline;
static int job_deadline_hit;

const char *jail_status_name(jail_status s)
{
    static const char *const names[] = {"ok",       "malformed", "encrypted",
                                        "limit",    "timeout",   "crashed",
                                        "protocol", "error",     "unavailable"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

/* Format a one-line reason into why, as jail.c does. */
static void why_set(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (!why || why_len == 0)
        return;
    va_start(ap, fmt);
    if (vsnprintf(why, why_len, fmt, ap) < 0)
        why[0] = '\0';
    va_end(ap);
}

void san_deadline_set(double until)
{
    job_deadline = until;
    job_deadline_hit = 0;
}

int san_deadline_reached(void)
{
    return job_deadline_hit;
}

/* Non-zero (with a reason in why) when the job's deadline has passed: nothing more starts. */
static int deadline_passed(char *why, size_t why_len)
{
    if (job_deadline <= 0 || mg_now() < job_deadline)
        return 0;
    job_deadline_hit = 1;
    why_set(why, why_len, "the job's time limit ran out before the conversion");
    return 1;
}

/* Read up to len bytes of in_fd from offset 0 into buf (the renderer reads its input from
 * the start). Bytes read, or -1. */
static ssize_t input_head(int in_fd, void *buf, size_t len)
{
    ssize_t n;

    while ((n = pread(in_fd, buf, len, 0)) < 0 && errno == EINTR)
        ;
    return n;
}

/* The status the input asks for by its last byte (JAIL_OK for most inputs); why gets a
 * reason for a failure. */
static jail_status input_status(int in_fd, const char *what, char *why, size_t why_len)
{
    off_t end = lseek(in_fd, 0, SEEK_END);
    unsigned char last = 0;
    jail_status st;

    if (end < 0)
        return why_set(why, why_len, "cannot read the input: %s", strerror(errno)), JAIL_ERROR;
    if (end == 0 || pread(in_fd, &last, 1, end - 1) != 1 || last <= STUB_FAIL_BASE ||
        last > STUB_FAIL_BASE + JAIL_UNAVAILABLE)
        return JAIL_OK;
    st = (jail_status)(last - STUB_FAIL_BASE);
    why_set(why, why_len, "%s: stand-in answer %s", what, jail_status_name(st));
    return st;
}

/* Answer npages pages of STUB_SIDE x STUB_SIDE pixels, coloured by the input's first bytes
 * (so that both a drawing and a photograph come back), through sink. */
static jail_status pages_answer(int in_fd, unsigned npages, const jail_sink *sink, char *why,
                                size_t why_len)
{
    uint8_t rgb[STUB_SIDE * STUB_SIDE * 3];
    ssize_t n = input_head(in_fd, rgb, sizeof rgb);

    if (n < 0)
        return why_set(why, why_len, "cannot read the input: %s", strerror(errno)), JAIL_ERROR;
    memset(rgb + n, 0xFF, sizeof rgb - (size_t)n);
    if (sink->begin(sink->ctx, npages) < 0)
        return why_set(why, why_len, "the sink refused %u pages", npages), JAIL_ERROR;
    for (unsigned i = 0; i < npages; i++)
        if (sink->page(sink->ctx, STUB_SIDE, STUB_SIDE, rgb) < 0)
            return why_set(why, why_len, "the sink refused page %u", i + 1), JAIL_ERROR;
    return JAIL_OK;
}

jail_status jail_render_pages(const conf *c, const char *mode, const char *img_type, int in_fd,
                              const jail_sink *sink, char *why, size_t why_len)
{
    jail_status st;
    off_t size;

    why_set(why, why_len, "%s", "");
    if (strcmp(mode, "pdf") != 0 && strcmp(mode, "image") != 0)
        return why_set(why, why_len, "unknown page mode %s", mode), JAIL_ERROR;
    if (strcmp(mode, "image") == 0 && !img_type)
        return why_set(why, why_len, "image mode needs a type"), JAIL_ERROR;
    if (deadline_passed(why, why_len))
        return JAIL_TIMEOUT;
    if ((st = input_status(in_fd, mode, why, why_len)) != JAIL_OK)
        return st;
    size = lseek(in_fd, 0, SEEK_END);
    /* One image; one to three pages of a PDF, never more than the configuration allows. */
    unsigned npages = strcmp(mode, "image") == 0 ? 1 : 1 + (unsigned)(size % 3);
    if (npages > c->max_pages)
        npages = c->max_pages;
    return pages_answer(in_fd, npages, sink, why, why_len);
}

/* The text answer for in_fd: its first bytes when they are valid UTF-8 without NUL (cut at
 * a character boundary), else a fixed text. g_malloc'ed. */
static char *text_answer(int in_fd, size_t max, size_t *len)
{
    char *buf = g_malloc(max + 1);
    ssize_t n = input_head(in_fd, buf, max);
    const char *end = NULL;

    if (n < 0)
        n = 0;
    /* A character cut by the bound is dropped, not counted as invalid. */
    if (!g_utf8_validate(buf, n, &end) && (size_t)n == max && buf + n - end < 4)
        n = end - buf;
    if (!g_utf8_validate(buf, n, NULL)) {
        g_strlcpy(buf, "stand-in text: the input is not UTF-8\n", max + 1);
        n = (ssize_t)strlen(buf);
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

jail_status jail_render_text(const conf *c, const char *mode, const char *label, int in_fd,
                             char **out, size_t *out_len, char *why, size_t why_len)
{
    size_t max = MIN(c->max_text_mb << 20, (size_t)STUB_TEXT_MAX);
    jail_status st;

    (void)label;
    *out = NULL;
    *out_len = 0;
    why_set(why, why_len, "%s", "");
    if (strcmp(mode, "text") != 0 && strcmp(mode, "csv") != 0 && strcmp(mode, "html") != 0)
        return why_set(why, why_len, "unknown text mode %s", mode), JAIL_ERROR;
    if (deadline_passed(why, why_len))
        return JAIL_TIMEOUT;
    if ((st = input_status(in_fd, mode, why, why_len)) != JAIL_OK)
        return st;
    *out = text_answer(in_fd, max, out_len);
    return JAIL_OK;
}

/* The smallest PDF a renderer reads: one empty page. */
static const char tiny_pdf[] = "%PDF-1.4\n"
                               "1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                               "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                               "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
                               "trailer<</Root 1 0 R>>\n"
                               "%%EOF\n";

jail_status jail_office_to_pdf(const conf *c, int in_fd, const char *ext, int out_fd, char *why,
                               size_t why_len)
{
    jail_status st;

    (void)c;
    why_set(why, why_len, "%s", "");
    if (!*ext || strlen(ext) > 8)
        return why_set(why, why_len, "bad extension"), JAIL_ERROR;
    for (const char *q = ext; *q; q++)
        if (!g_ascii_isalnum(*q))
            return why_set(why, why_len, "bad extension"), JAIL_ERROR;
    if (deadline_passed(why, why_len))
        return JAIL_TIMEOUT;
    if ((st = input_status(in_fd, "office", why, why_len)) != JAIL_OK)
        return st;
    if (mg_write_all(out_fd, tiny_pdf, sizeof tiny_pdf - 1) < 0)
        return why_set(why, why_len, "cannot write the PDF: %s", strerror(errno)), JAIL_ERROR;
    return JAIL_OK;
}

/* A spreadsheet's sheets: none (the engine then keeps the PDF alone). */
jail_status jail_office_convert(const conf *c, int in_fd, const char *ext, int out_fd,
                                int sheets_fd, char *why, size_t why_len)
{
    (void)sheets_fd;
    return jail_office_to_pdf(c, in_fd, ext, out_fd, why, why_len);
}

/* No harness opens encrypted inputs: unlock mode is never asked for. */
jail_status jail_unlock(const conf *c, const char *type, int in_fd, const char *const *cands,
                        size_t ncands, int out_fd, const jail_sink *sink, int *which,
                        unsigned *tried, char *why, size_t why_len)
{
    (void)c, (void)type, (void)in_fd, (void)cands, (void)ncands, (void)out_fd, (void)sink;
    *which = -1;
    *tried = 0;
    why_set(why, why_len, "the stub jail opens nothing");
    return JAIL_UNAVAILABLE;
}
