/*
 * tests/unit/test_textlayer.c - unit tests of the invisible text layer
 * (sanitize/textlayer.c) as the PDF writer (pdfout.c) lays it over a page,
 * and of the renderer's PTXT frame as the trusted reader (jail.c) takes it.
 *
 * Pages of hostile text in the renderer's raw form are written with
 * pdfw_add_page_text and read back with poppler-glib (text, one rectangle per
 * character) and checked with `qpdf --check`: what comes back is what a
 * reader searching or copying from the flat PDF gets. Table-driven: one row
 * per case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <poppler.h>

#include "san_int.h"

#define DPI 144u /* 2 pixels per point */
#define PAGE_W 1200u
#define PAGE_H 1600u
#define CELL 24u /* pixels per character box */
#define U RND_TEXT_UNIT

static char tmpdir[64];

/* One page of raw text: code points and boxes, as the renderer sends them. */
typedef struct raw_page {
    uint32_t cp[4096];
    uint32_t box[4096 * 4];
    size_t n;
} raw_page;

/* Append code point c with the box at pixel (x, y) of size w x h. */
static void raw_add(raw_page *r, uint32_t c, unsigned x, unsigned y, unsigned w, unsigned h)
{
    assert_true(r->n < 4096);
    r->cp[r->n] = c;
    r->box[r->n * 4] = x * U;
    r->box[r->n * 4 + 1] = y * U;
    r->box[r->n * 4 + 2] = (x + w) * U;
    r->box[r->n * 4 + 3] = (y + h) * U;
    r->n++;
}

/* Append the code points of utf8 as a run in direction dir (0 right, 1 down, 2 left, 3 up)
 * from pixel (x, y), one CELL per character. */
static void raw_run(raw_page *r, const char *utf8, int dir, unsigned x, unsigned y)
{
    for (const char *p = utf8; *p; p = g_utf8_next_char(p)) {
        raw_add(r, g_utf8_get_char(p), x, y, CELL, CELL);
        x = dir == 0 ? x + CELL : dir == 2 ? x - CELL : x;
        y = dir == 1 ? y + CELL : dir == 3 ? y - CELL : y;
    }
}

/* The view of r as the reader hands it over. */
static san_text_raw raw_view(const raw_page *r)
{
    san_text_raw v = {r->cp, r->n, r->box, r->n};
    return v;
}

/* A path in the temporary directory. */
static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Write the pages' layers over white pages into a PDF at path. Returns the pages built. */
static void write_pdf(const char *path, san_text_page **t, size_t npages)
{
    uint8_t *white = g_malloc((size_t)PAGE_W * PAGE_H * 3);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    memset(white, 0xff, (size_t)PAGE_W * PAGE_H * 3);
    assert_true(fd >= 0);
    pdfw *w = pdfw_new(fd, DPI);
    assert_non_null(w);
    assert_int_equal(pdfw_text_layer(w), 0);
    for (size_t i = 0; i < npages; i++)
        assert_int_equal(pdfw_add_page_text(w, PAGE_W, PAGE_H, white, t[i]), 0);
    assert_int_equal(pdfw_finish(w), 0);
    pdfw_free(w);
    close(fd);
    g_free(white);
    char *cmd = g_strdup_printf("qpdf --check '%s' >/dev/null", path);
    assert_int_equal(system(cmd), 0);
    g_free(cmd);
}

/* Open the PDF at path with poppler. */
static PopplerDocument *open_pdf(const char *path)
{
    char *uri = g_filename_to_uri(path, NULL, NULL);
    PopplerDocument *doc = poppler_document_new_from_file(uri, NULL, NULL);

    g_free(uri);
    assert_non_null(doc);
    return doc;
}

/* The text of page i of doc without whitespace; caller g_free()s. */
static char *page_text(PopplerDocument *doc, int i)
{
    PopplerPage *page = poppler_document_get_page(doc, i);
    char *t = poppler_page_get_text(page);
    GString *s = g_string_new(NULL);

    for (const char *p = t; p && *p; p = g_utf8_next_char(p))
        if (!g_unichar_isspace(g_utf8_get_char(p)))
            g_string_append_unichar(s, g_utf8_get_char(p));
    g_free(t);
    g_object_unref(page);
    return g_string_free(s, FALSE);
}

/* Occurrences of s in the len bytes at p. */
static size_t count_in(const char *p, size_t len, const char *s)
{
    size_t n = 0, k = strlen(s);

    for (const char *q = p; (q = memmem(q, len - (size_t)(q - p), s, k)) != NULL; q += k)
        n++;
    return n;
}

/* Build one page from r, write it and read its text back without whitespace. */
static char *round_trip(const raw_page *r)
{
    san_text_raw v = raw_view(r);
    san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
    char *path = tmp_path("trip.pdf");

    write_pdf(path, &t, 1);
    san_text_page_free(t);
    PopplerDocument *doc = open_pdf(path);
    char *text = page_text(doc, 0);
    g_object_unref(doc);
    g_free(path);
    return text;
}

/* ---- what characters become ---- */

typedef struct char_case {
    const char *what;
    const char *in; /* UTF-8 of the code points sent; "\x01" stands for what UTF-8 cannot */
    uint32_t extra; /* appended as a raw code point when non-zero */
    const char *out;
} char_case;

static const char_case char_cases[] = {
    {"plain Japanese and Latin", "見積書abc", 0, "見積書abc"},
    {"bidi override and embedding", "ab\u202Ecd\u202Bef\u202C", 0, "abcdef"},
    {"bidi isolates and marks", "a\u2066b\u2067c\u2068d\u2069e\u200Ef\u200F\u061Cg", 0, "abcdefg"},
    {"C0 and C1 controls",
     "a\x07"
     "b\x1b"
     "c\xc2\x85"
     "d\x7f",
     0, "abcd"},
    {"tag characters", "ab", 0xE0041, "ab"},
    {"noncharacters", "a\uFDD0b\uFFFE", 0x1FFFF, "ab"},
    {"replacement and object characters", "a\uFFFDb\uFFFCc", 0, "abc"},
    {"a surrogate code point", "ab", 0xD800, "ab"},
    {"beyond Unicode", "ab", 0x110000, "ab"},
    {"invisible format characters", "a\u200Bb\u2060c\uFEFFd", 0, "abcd"},
    {"Kangxi radicals", "\u2F92\u2FA6\u2F00\u2F08", 0, "見金一人"},
    {"CJK radicals supplement", "\u2E9F\u2EA9", 0, "母\u2EA9"},
    {"compatibility ideographs", "\uF900\uFA11", 0, "\u8C48\uFA11"},
    {"ligatures", "\uFB01\uFB03", 0, "fiffi"},
    {"vertical presentation forms", "\uFE35\uFE10\uFE31", 0, "(,\u2014"},
    {"forms a reader sees keep their identity", "①㈱Ⅲ\uFF21\uFF76", 0, "①㈱Ⅲ\uFF21\uFF76"},
    {"beyond the BMP", "\U00020BB7野家\U00029E3D", 0, "\U00020BB7野家\U00029E3D"},
    {"ZWJ in an emoji sequence", "a\u200Db", 0, "a\u200Db"},
};

static void test_characters(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof char_cases / sizeof char_cases[0]; i++) {
        const char_case *c = &char_cases[i];
        raw_page *r = g_new0(raw_page, 1);
        raw_run(r, c->in, 0, 100, 100);
        if (c->extra)
            raw_add(r, c->extra, 100 + CELL * (unsigned)r->n, 100, CELL, CELL);
        char *text = round_trip(r);
        if (strcmp(text, c->out) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", c->what, text, c->out);
        g_free(text);
        g_free(r);
    }
}

/* ---- when a page gets no layer ---- */

static void test_no_layer(void **state)
{
    raw_page *r = g_new0(raw_page, 1);
    san_text_raw v;

    (void)state;
    raw_run(r, "abc", 0, 10, 10);
    v = raw_view(r);
    v.nbox = 2; /* characters and boxes disagree */
    assert_null(san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX));
    v.nbox = 4;
    assert_null(san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX));
    v = raw_view(r);
    assert_null(san_text_page_new(&v, PAGE_W, PAGE_H, 0)); /* nothing left to the document */
    r->n = 0;
    raw_run(r, "\u202E\x07 \uFFFD\t", 0, 10, 10); /* nothing but what is dropped */
    v = raw_view(r);
    assert_null(san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX));
    assert_null(san_text_page_new(NULL, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX));
    g_free(r);
}

/* ---- bounds ---- */

static void test_character_bound(void **state)
{
    raw_page *r = g_new0(raw_page, 1);

    (void)state;
    for (unsigned i = 0; i < 400; i++)
        raw_add(r, 'a' + i % 26, 10 + (i % 40) * CELL, 10 + (i / 40) * CELL, CELL, CELL);
    san_text_raw v = raw_view(r);
    san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, 100);
    assert_int_equal(san_text_page_chars(t), 100);
    san_text_page_free(t);
    r->n = 0;
    raw_run(r, "\uFB03\uFB03", 0, 10, 10); /* 6 code points: cut before the second */
    v = raw_view(r);
    t = san_text_page_new(&v, PAGE_W, PAGE_H, 5);
    assert_int_equal(san_text_page_chars(t), 3);
    san_text_page_free(t);
    g_free(r);
}

/* Boxes far outside the page, inverted or empty still give a layer inside the page. */
static void test_coordinates_clamped(void **state)
{
    raw_page *r = g_new0(raw_page, 1);
    char *path = tmp_path("clamp.pdf");

    (void)state;
    raw_run(r, "inside", 0, 100, 100);
    raw_add(r, 'X', 0xFFFFFFFFu / U - 10, 100, 5, 5);
    r->box[(r->n - 1) * 4 + 2] = 0xFFFFFFFFu;
    raw_add(r, 'Y', 50, 400, 0, 0); /* empty */
    raw_add(r, 'Z', 90, 500, 20, 20);
    uint32_t *b = r->box + (r->n - 1) * 4; /* inverted */
    uint32_t x = b[0];
    b[0] = b[2], b[2] = x;
    san_text_raw v = raw_view(r);
    san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
    write_pdf(path, &t, 1);
    san_text_page_free(t);
    PopplerDocument *doc = open_pdf(path);
    PopplerPage *page = poppler_document_get_page(doc, 0);
    PopplerRectangle *rects = NULL;
    guint n = 0;
    double pw, ph;
    poppler_page_get_size(page, &pw, &ph);
    assert_true(poppler_page_get_text_layout(page, &rects, &n));
    for (guint i = 0; i < n; i++) {
        assert_true(rects[i].x1 >= -1 && rects[i].x2 <= pw + 1);
        assert_true(rects[i].y1 >= -1 && rects[i].y2 <= ph + 1);
    }
    char *text = page_text(doc, 0);
    assert_non_null(strstr(text, "inside"));
    g_free(text);
    g_free(rects);
    g_object_unref(page);
    g_object_unref(doc);
    g_free(path);
    g_free(r);
}

/* ---- words where they are drawn, in their direction ---- */

typedef struct dir_case {
    const char *what;
    int dir;
    unsigned x, y;
} dir_case;

static const dir_case dir_cases[] = {
    {"left to right", 0, 100, 200},
    {"top to bottom (vertical writing, a page rotated by 90)", 1, 600, 100},
    {"right to left upside down (rotated by 180)", 2, 1000, 900},
    {"bottom to top (rotated by 270)", 3, 300, 1400},
};

static void test_directions(void **state)
{
    const char *word = "縦書きの試験";
    glong n = g_utf8_strlen(word, -1);

    (void)state;
    for (size_t i = 0; i < sizeof dir_cases / sizeof dir_cases[0]; i++) {
        const dir_case *c = &dir_cases[i];
        raw_page *r = g_new0(raw_page, 1);
        raw_run(r, word, c->dir, c->x, c->y);
        char *text = round_trip(r);
        if (strcmp(text, word) != 0)
            fail_msg("%s: got \"%s\"", c->what, text);
        g_free(text);
        /* Each character's rectangle, in points, lies over the box it was sent with. */
        char *path = tmp_path("trip.pdf");
        PopplerDocument *doc = open_pdf(path);
        PopplerPage *page = poppler_document_get_page(doc, 0);
        PopplerRectangle *rects = NULL;
        guint nr = 0;
        assert_true(poppler_page_get_text_layout(page, &rects, &nr));
        assert_true(nr >= (guint)n);
        for (glong k = 0; k < n; k++) {
            double sx = r->box[k * 4] / (double)U * 72 / DPI;
            double sy = r->box[k * 4 + 1] / (double)U * 72 / DPI;
            double cx = (rects[k].x1 + rects[k].x2) / 2, cy = (rects[k].y1 + rects[k].y2) / 2;
            double cell = CELL * 72.0 / DPI;
            if (!(cx > sx && cx < sx + cell && cy > sy && cy < sy + cell))
                fail_msg("%s: character %ld at (%.1f, %.1f), sent at (%.1f, %.1f)", c->what,
                         (long)k, cx, cy, sx, sy);
        }
        g_free(rects);
        g_object_unref(page);
        g_object_unref(doc);
        g_free(path);
        g_free(r);
    }
}

/* Latin text is scaled to its boxes: narrow boxes give narrow characters. */
static void test_word_width(void **state)
{
    raw_page *r = g_new0(raw_page, 1);
    const char *word = "Sanitized";
    unsigned x = 200;

    (void)state;
    for (const char *p = word; *p; p++, x += 11)
        raw_add(r, (unsigned char)*p, x, 300, 11, 24);
    char *text = round_trip(r);
    assert_string_equal(text, word);
    g_free(text);
    char *path = tmp_path("trip.pdf");
    PopplerDocument *doc = open_pdf(path);
    PopplerPage *page = poppler_document_get_page(doc, 0);
    PopplerRectangle *rects = NULL;
    guint nr = 0;
    assert_true(poppler_page_get_text_layout(page, &rects, &nr));
    double left = 200 * 72.0 / DPI, right = x * 72.0 / DPI;
    assert_true(rects[0].x1 > left - 0.5 && rects[0].x1 < left + 0.5);
    assert_true(rects[strlen(word) - 1].x2 > right - 0.5 &&
                rects[strlen(word) - 1].x2 < right + 0.5);
    g_free(rects);
    g_object_unref(page);
    g_object_unref(doc);
    g_free(path);
    g_free(r);
}

/* ---- the font ---- */

/* Characters beyond the BMP share the 2048 surrogate codes of the document; beyond them they
 * are left out, and one font serves every page. */
static void test_font_per_document(void **state)
{
    san_text_page *t[3];
    char *path = tmp_path("font.pdf");

    (void)state;
    for (int p = 0; p < 3; p++) {
        raw_page *r = g_new0(raw_page, 1);
        for (unsigned i = 0; i < 1000; i++)
            raw_add(r, 0x20000 + p * 1000 + i, 10 + (i % 40) * CELL, 10 + (i / 40) * CELL, CELL,
                    CELL);
        san_text_raw v = raw_view(r);
        t[p] = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
        assert_int_equal(san_text_page_chars(t[p]), 1000);
        g_free(r);
    }
    write_pdf(path, t, 3);
    for (int p = 0; p < 3; p++)
        san_text_page_free(t[p]);
    PopplerDocument *doc = open_pdf(path);
    glong kept = 0;
    for (int p = 0; p < 3; p++) {
        char *text = page_text(doc, p);
        for (const char *q = text; *q; q = g_utf8_next_char(q)) {
            gunichar c = g_utf8_get_char(q);
            assert_true(c >= 0x20000 && c < 0x20000 + 3000);
            kept++;
        }
        g_free(text);
    }
    assert_int_equal(kept, 2048);
    g_object_unref(doc);
    char *pdf = NULL;
    gsize len = 0;
    assert_true(g_file_get_contents(path, &pdf, &len, NULL));
    assert_int_equal(count_in(pdf, len, "/Subtype /Type0"), 1);
    g_free(pdf);
    g_free(path);
}

/* A document without text has no font at all. */
static void test_no_text_no_font(void **state)
{
    san_text_page *t = NULL;
    char *path = tmp_path("none.pdf");
    char *pdf = NULL;
    gsize len = 0;

    (void)state;
    write_pdf(path, &t, 1);
    assert_true(g_file_get_contents(path, &pdf, &len, NULL));
    assert_int_equal(count_in(pdf, len, "/Font"), 0);
    g_free(pdf);
    g_free(path);
}

/* A page's text needs a writer made for it, before its first page. */
static void test_writer_needs_layer(void **state)
{
    uint8_t white[16 * 16 * 3];
    raw_page *r = g_new0(raw_page, 1);
    char *path = tmp_path("contract.pdf");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    (void)state;
    memset(white, 0xff, sizeof white);
    raw_run(r, "abc", 0, 1, 1);
    san_text_raw v = raw_view(r);
    san_text_page *t = san_text_page_new(&v, 16, 16, SAN_TEXT_PAGE_MAX);
    assert_non_null(t);
    pdfw *w = pdfw_new(fd, DPI);
    assert_int_equal(pdfw_add_page_text(w, 16, 16, white, t), -1);
    pdfw_free(w);
    w = pdfw_new(fd, DPI);
    assert_int_equal(pdfw_add_page(w, 16, 16, white), 0);
    assert_int_equal(pdfw_text_layer(w), -1);
    pdfw_free(w);
    san_text_page_free(t);
    close(fd);
    g_free(path);
    g_free(r);
}

/* ---- the PTXT frame on the trusted side ---- */

typedef struct sink_rec {
    unsigned pages, texts;
    size_t last_ncp, last_nbox;
    int text_first; /* the text of each page came before its pixels */
} sink_rec;

static int rec_begin(void *ctx, unsigned n)
{
    (void)ctx;
    (void)n;
    return 0;
}

static int rec_page(void *ctx, unsigned w, unsigned h, const uint8_t *rgb)
{
    sink_rec *s = ctx;
    (void)w, (void)h, (void)rgb;
    s->text_first &= s->texts == s->pages + 1;
    s->pages++;
    return 0;
}

static int rec_text(void *ctx, unsigned w, unsigned h, const san_text_raw *raw)
{
    sink_rec *s = ctx;
    (void)w, (void)h;
    s->texts++;
    s->last_ncp = raw->ncp;
    s->last_nbox = raw->nbox;
    return 0;
}

/* Append tag and little-endian values to s. */
static void wire(GString *s, const char *tag, const uint32_t *v, size_t n)
{
    if (tag)
        g_string_append_len(s, tag, 4);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++)
            g_string_append_c(s, (char)((v[i] >> (8 * b)) & 0xff));
}

typedef struct wire_case {
    const char *what;
    uint32_t nc, nb; /* counts in the PTXT frame (UINT32_MAX: no frame at all) */
    int with_text;   /* the sink takes text */
    jail_status want;
} wire_case;

static const wire_case wire_cases[] = {
    {"text after each page", 3, 3, 1, JAIL_OK},
    {"counts that disagree reach the sink, which decides", 3, 2, 1, JAIL_OK},
    {"no text on a page", 0, 0, 1, JAIL_OK},
    {"more characters than a page may hold", SAN_TEXT_PAGE_MAX + 1, 0, 1, JAIL_PROTOCOL},
    {"more boxes than a page may hold", 0, SAN_TEXT_PAGE_MAX + 1, 1, JAIL_PROTOCOL},
    {"a page without its text frame", UINT32_MAX, 0, 1, JAIL_PROTOCOL},
    {"a text frame nobody asked for", 1, 1, 0, JAIL_PROTOCOL},
};

static void test_wire(void **state)
{
    conf c;

    (void)state;
    memset(&c, 0, sizeof c);
    c.max_pages = 10;
    c.max_image_mpixels = 10;
    c.max_text_mb = 1;
    for (size_t i = 0; i < sizeof wire_cases / sizeof wire_cases[0]; i++) {
        const wire_case *w = &wire_cases[i];
        GString *s = g_string_new("MGR1");
        uint32_t one = 1, dims[2] = {2, 2};
        uint8_t px[12] = {0};
        wire(s, RND_TAG_PAGES, &one, 1);
        wire(s, RND_TAG_PAGE, dims, 2);
        g_string_append_len(s, (const char *)px, sizeof px);
        if (w->nc != UINT32_MAX) {
            uint32_t counts[2] = {w->nc, w->nb};
            wire(s, RND_TAG_PTXT, counts, 2);
            for (uint32_t k = 0; k < w->nc && k < 16; k++)
                wire(s, NULL, (uint32_t[]){0x3042 + k}, 1);
            for (uint32_t k = 0; k < w->nb && k < 16; k++)
                wire(s, NULL, (uint32_t[]){k * U, 0, (k + 1) * U, U}, 4);
        }
        wire(s, RND_TAG_DONE, &one, 1);
        char *path = tmp_path("wire.bin");
        assert_true(g_file_set_contents(path, s->str, (gssize)s->len, NULL));
        int fd = open(path, O_RDONLY);
        sink_rec rec = {0, 0, 0, 0, 1};
        jail_sink sink = {rec_begin, rec_page, &rec, w->with_text ? rec_text : NULL};
        char why[256] = "";
        jail_status st = jail_wire_read(&c, fd, &sink, NULL, NULL, why, sizeof why);
        if (st != w->want)
            fail_msg("%s: status %s (%s)", w->what, jail_status_name(st), why);
        if (st == JAIL_OK && w->with_text) {
            assert_int_equal(rec.texts, 1);
            assert_int_equal(rec.pages, 1);
            assert_true(rec.text_first);
            assert_int_equal(rec.last_ncp, w->nc);
            assert_int_equal(rec.last_nbox, w->nb);
        }
        close(fd);
        g_free(path);
        g_string_free(s, TRUE);
    }
}

static int setup(void **state)
{
    (void)state;
    g_strlcpy(tmpdir, "/tmp/mugai-textlayer-XXXXXX", sizeof tmpdir);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    int rc = system(cmd);
    g_free(cmd);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_characters),         cmocka_unit_test(test_no_layer),
        cmocka_unit_test(test_character_bound),    cmocka_unit_test(test_coordinates_clamped),
        cmocka_unit_test(test_directions),         cmocka_unit_test(test_word_width),
        cmocka_unit_test(test_font_per_document),  cmocka_unit_test(test_no_text_no_font),
        cmocka_unit_test(test_writer_needs_layer), cmocka_unit_test(test_wire),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
