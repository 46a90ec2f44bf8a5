/*
 * fuzz/fuzz_wire.c - libFuzzer harness of the trusted side's reader of the
 * renderer's wire format (sanitize/jail.c, format in render/rnd.h) and of the
 * writers fed with what it accepts: the image-only PDF writer with its
 * invisible text layer (pdfw_*, sanitize/pdfout.c; san_text_*,
 * sanitize/textlayer.c) and the PNG/JPEG writer (imgout_write,
 * sanitize/imgout.c).
 *
 * Input: what a renderer, possibly a compromised one, writes on its stdout.
 * It is put in a memory file and read four times: with jail_wire_read, as a
 * pixel stream into a sink and as a text stream, and with
 * jail_wire_read_unlock, as unlock mode's answer to FUZZ_CANDIDATES password
 * candidates for a zip and for a PDF (whose pages go into the same sink). A stream holding the tag
 * PTXT anywhere is read as pixels with the text layer on (a PTXT frame after every page), any other
 * with it off. The sink does what the engine's do: every page into a PDF (with its text checked and
 * grouped into words when the layer is on, then kept where the page's pixels show it), the first
 * one also as PNG or JPEG (what imgout_is_photo says), into memory files. Small limits (4 pages,
 * 1 megapixel, 1 MiB of text) keep runs fast. Checked: an accepted pixel stream gave exactly the
 * pages it announced, the ink check counted every character of a page's layer as kept or left
 * out, a PDF that starts and ends as one, counts those pages
 * and whose cross-reference table points at its objects, and an image whose
 * header carries the page's size; accepted text is valid UTF-8 of the length
 * read, and neutralizing it as CSV the way the engine does gives an answer;
 * an accepted unlock answer names a candidate that was sent (or none, after
 * trying them all), says as many were tried as it took to reach it, and
 * brings pages exactly when a PDF was opened.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "san_int.h"

#define FUZZ_DPI 72
#define FUZZ_JPEG_QUALITY 85
#define FUZZ_MAX_PDF (64u << 20)
/* The candidates an unlock answer answers to. */
#define FUZZ_CANDIDATES 20

/* What the sink has seen and written. */
typedef struct sink_ctx {
    pdfw *w;
    int pdf_fd;
    int img_fd;
    unsigned announced;
    unsigned pages;
    unsigned w0, h0;     /* size of the first page */
    int photo;           /* the first page went out as JPEG */
    int refused;         /* a writer refused a page */
    san_text_page *text; /* the next page's text layer, or NULL */
    size_t text_chars;   /* characters of all text layers so far */
} sink_ctx;

/* Report a broken promise and stop, so that the fuzzer keeps the input. */
static void fail(const char *why) __attribute__((noreturn));
static void fail(const char *why)
{
    fprintf(stderr, "fuzz_wire: %s\n", why);
    abort();
}

/* A memory file, emptied; made once per slot. */
static int memory_file(int slot)
{
    static int fds[3] = {-1, -1, -1};

    if (fds[slot] < 0 && (fds[slot] = memfd_create("fuzz_wire", MFD_CLOEXEC)) < 0)
        fail("memfd_create failed");
    if (ftruncate(fds[slot], 0) < 0 || lseek(fds[slot], 0, SEEK_SET) < 0)
        fail("cannot empty a memory file");
    return fds[slot];
}

/* The whole content of a memory file; caller g_free()s. */
static char *file_bytes(int fd, size_t *len)
{
    char *buf = NULL;

    if (lseek(fd, 0, SEEK_SET) < 0 || mg_read_all(fd, FUZZ_MAX_PDF, &buf, len) < 0)
        fail("cannot read a memory file back");
    char *copy = g_memdup2(buf, *len + 1);
    free(buf);
    return copy;
}

/* Sink: the page count comes first. */
static int sink_begin(void *ctx, unsigned npages)
{
    sink_ctx *s = ctx;

    s->announced = npages;
    return 0;
}

/* Sink: a page's text, checked and kept for its page within the document's bound, as the
 * engine's PDF sink does. */
static int sink_text(void *ctx, unsigned width, unsigned height, const san_text_raw *raw)
{
    sink_ctx *s = ctx;
    size_t left = SAN_TEXT_DOC_MAX - s->text_chars;

    san_text_page_free(s->text);
    s->text = san_text_page_new(raw, width, height, MIN(left, (size_t)SAN_TEXT_PAGE_MAX));
    s->text_chars += s->text ? san_text_page_chars(s->text) : 0;
    return 0;
}

/* Sink: every page into the PDF with the characters of its text layer it shows, the first also
 * as an image, as the engine does. */
static int sink_page(void *ctx, unsigned width, unsigned height, const uint8_t *rgb)
{
    sink_ctx *s = ctx;
    size_t chars = san_text_page_chars(s->text);

    if (san_text_page_ink(s->text, width, height, rgb) + san_text_page_chars(s->text) != chars)
        fail("the ink check lost count of the page's characters");
    if (s->text && san_text_page_chars(s->text) == 0)
        san_text_page_free(s->text), s->text = NULL;

    if (s->pages++ == 0) {
        s->w0 = width, s->h0 = height;
        s->photo = imgout_is_photo(width, height, rgb);
        if (imgout_write(s->img_fd, s->photo ? "jpeg" : "png", width, height, rgb,
                         FUZZ_JPEG_QUALITY) < 0)
            return s->refused = 1, -1;
    }
    int rc = pdfw_add_page_text(s->w, width, height, rgb, s->text);
    san_text_page_free(s->text);
    s->text = NULL;
    return rc < 0 ? (s->refused = 1, -1) : 0;
}

/* Check that every object the PDF's cross-reference table lists starts where it says. */
static void check_pdf(const char *pdf, size_t len, unsigned pages)
{
    size_t tail = MIN(len, (size_t)128);
    const char *sx = memmem(pdf + len - tail, tail, "startxref\n", 10);
    size_t xref, count, first;

    if (len < 32 || memcmp(pdf, "%PDF-1.4\n", 9) != 0 || !sx ||
        memcmp(pdf + len - 6, "%%EOF\n", 6) != 0)
        fail("the PDF does not start or end as one");
    if (sscanf(sx + 10, "%zu", &xref) != 1 || xref >= len ||
        sscanf(pdf + xref, "xref\n%zu %zu\n", &first, &count) != 2 || first != 0 ||
        count < 4 + 4 * (size_t)pages || xref + 20 * (count + 1) > len)
        fail("the PDF's cross-reference table is not where startxref says");
    char kids[48];
    if (mg_snprintf(kids, sizeof kids, " ] /Count %u >>", pages) < 0 ||
        !memmem(pdf, len, kids, strlen(kids)))
        fail("the PDF does not count the pages accepted");
    const char *row = strchr(strchr(pdf + xref, '\n') + 1, '\n') + 1;
    for (size_t n = 1; n < count; n++) {
        size_t off;
        char head[32];
        if (sscanf(row + 20 * n, "%10zu", &off) != 1 || off >= len ||
            mg_snprintf(head, sizeof head, "%zu 0 obj\n", n) < 0 ||
            strncmp(pdf + off, head, strlen(head)) != 0)
            fail("a PDF object is not where the cross-reference table says");
    }
}

/* Check the image header: PNG with the page's size in IHDR, or a JPEG start of image. */
static void check_image(const sink_ctx *s)
{
    size_t len;
    char *img = file_bytes(s->img_fd, &len);
    const uint8_t *u = (const uint8_t *)img;

    if (s->photo && (len < 4 || u[0] != 0xFF || u[1] != 0xD8))
        fail("the JPEG does not start as one");
    if (!s->photo) {
        if (len < 24 || memcmp(img, "\x89PNG\r\n\x1a\n", 8) != 0)
            fail("the PNG does not start as one");
        uint32_t w = (uint32_t)u[16] << 24 | (uint32_t)u[17] << 16 | (uint32_t)u[18] << 8 | u[19];
        uint32_t h = (uint32_t)u[20] << 24 | (uint32_t)u[21] << 16 | (uint32_t)u[22] << 8 | u[23];
        if (w != s->w0 || h != s->h0)
            fail("the PNG's size is not the page's");
    }
    g_free(img);
}

/* Start the sink s (the PDF writer, with the text layer when layer) and its jail_sink. */
static void sink_start(sink_ctx *s, jail_sink *sink, int layer)
{
    *s = (sink_ctx){.pdf_fd = memory_file(1), .img_fd = memory_file(2)};
    *sink = (jail_sink){sink_begin, sink_page, s, layer ? sink_text : NULL};
    if ((s->w = pdfw_new(s->pdf_fd, FUZZ_DPI)) == NULL || (layer && pdfw_text_layer(s->w) < 0))
        fail("cannot start the PDF");
}

/* Check what the sink s made of pages the reader accepted. */
static void sink_check(const conf *c, sink_ctx *s)
{
    size_t len;

    if (s->pages != s->announced || s->pages < 1 || s->pages > c->max_pages)
        fail("accepted a stream whose page count is not the announced one");
    if (pdfw_finish(s->w) < 0)
        fail("pdfw_finish failed on accepted pages");
    char *pdf = file_bytes(s->pdf_fd, &len);
    check_pdf(pdf, len, s->pages);
    g_free(pdf);
    check_image(s);
}

/* Read the input as a pixel stream into the writers, with the text layer when layer. */
static void pixels(const conf *c, int in, int layer)
{
    sink_ctx s;
    jail_sink sink;
    char why[512] = "";

    sink_start(&s, &sink, layer);
    jail_status st = jail_wire_read(c, in, &sink, NULL, NULL, why, sizeof why);
    if (s.refused)
        fail("a writer refused pixels the reader had checked");
    if (st == JAIL_OK)
        sink_check(c, &s);
    san_text_page_free(s.text);
    pdfw_free(s.w);
}

/* Read the input as unlock mode's answer to FUZZ_CANDIDATES candidates, for a PDF (pdf) or a
 * zip: which one opened it is one that was sent, and pages come exactly with a PDF opened. */
static void unlock_answer(const conf *c, int in, int pdf, int layer)
{
    sink_ctx s;
    jail_sink sink;
    char why[512] = "";
    int which = -2;
    unsigned tried = 0;

    sink_start(&s, &sink, layer);
    jail_status st =
        jail_wire_read_unlock(c, in, pdf, FUZZ_CANDIDATES, &sink, &which, &tried, why, sizeof why);
    if (s.refused)
        fail("a writer refused pixels the reader had checked");
    if (st == JAIL_OK) {
        if (which < -1 || which >= FUZZ_CANDIDATES ||
            tried != (which < 0 ? FUZZ_CANDIDATES : (unsigned)which + 1))
            fail("accepted an answer that names a candidate not sent or miscounts the tried");
        if (pdf && which >= 0)
            sink_check(c, &s);
        else if (s.announced || s.pages)
            fail("accepted pages where no PDF was opened");
    } else if (which != -1 && (which < 0 || which >= FUZZ_CANDIDATES)) {
        fail("a refused answer left a candidate that was not sent");
    }
    san_text_page_free(s.text);
    pdfw_free(s.w);
}

/* Read the input as a text stream, then neutralize it as CSV as the engine does. */
static void text(const conf *c, int in)
{
    char why[512] = "", *out = NULL;
    size_t len = 0;

    if (jail_wire_read(c, in, NULL, &out, &len, why, sizeof why) != JAIL_OK)
        return;
    if (!out || strlen(out) != len || !g_utf8_validate(out, (gssize)len, NULL))
        fail("accepted text that is not valid UTF-8 of the length read");
    char *csv = mg_csv_neutralize(out, len, ',', ',');
    if (!csv)
        fail("accepted text that cannot be neutralized as CSV");
    g_free(csv);
    g_free(out);
}

/* The configuration of the runs: small limits. */
static const conf *fuzz_conf(void)
{
    static conf c;

    c.max_pages = 4;
    c.max_image_mpixels = 1;
    c.max_text_mb = 1;
    return &c;
}

/* Once per process: logging off below fatal. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_log_init("fuzz_wire", 0, MG_LOG_FATAL);
    return 0;
}

/* One renderer output read as pixels, as text and as unlock answers. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const conf *c = fuzz_conf();
    int in = memory_file(0);

    if (mg_write_all(in, data, size) < 0)
        fail("cannot write the input");
    if (lseek(in, 0, SEEK_SET) < 0)
        fail("cannot rewind the input");
    pixels(c, in, memmem(data, size, RND_TAG_PTXT, 4) != NULL);
    if (lseek(in, 0, SEEK_SET) < 0)
        fail("cannot rewind the input");
    text(c, in);
    for (int pdf = 0; pdf <= 1; pdf++) {
        if (lseek(in, 0, SEEK_SET) < 0)
            fail("cannot rewind the input");
        unlock_answer(c, in, pdf, memmem(data, size, RND_TAG_PTXT, 4) != NULL);
    }
    return 0;
}
