/*
 * tests/unit/test_textlayer.c - unit tests of the invisible text layer
 * (sanitize/textlayer.c) as the PDF writer (pdfout.c) lays it over a page,
 * and of the renderer's PTXT frame as the trusted reader (jail.c) takes it.
 *
 * Pages of hostile text in the renderer's raw form are written with
 * pdfw_add_page_text and read back with poppler-glib (text, one rectangle per
 * character) and checked with `qpdf --check`: what comes back is what a
 * reader searching or copying from the flat PDF gets. Table-driven: one row
 * per case. Which characters the layer keeps is checked on pages of pixels
 * drawn here: only the characters the page shows, their words split where
 * characters are left out.
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
#include <math.h>
#include <poppler.h>
#include <zlib.h>

#include "mg.h"
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
    {"invisible fillers and reserved default-ignorables",
     "a\u3164b\uFFA0c\u115F\u1160d\u034Fe\u17B4\u17B5f\uFFF0g", 0xE0080, "abcdefg"},
    {"variation selectors (ideographic variation sequences)", "\u845B\U000E0100\u8FBB\uFE00", 0,
     "\u845B\U000E0100\u8FBB\uFE00"},
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

/* A character whose normalization is long (U+FDFA: 15 code points but its spaces) counts
 * after normalization, and one that does not fit in what is left is left out whole. */
static void test_expansion_bound(void **state)
{
    raw_page *r = g_new0(raw_page, 1);
    uint32_t *cp = g_new(uint32_t, SAN_TEXT_PAGE_MAX),
             *box = g_new(uint32_t, SAN_TEXT_PAGE_MAX * 4);

    (void)state;
    for (size_t i = 0; i < SAN_TEXT_PAGE_MAX; i++) {
        cp[i] = 0xFDFA;
        box[i * 4] = (uint32_t)(i % 40) * CELL * U, box[i * 4 + 1] = (uint32_t)(i / 40 % 60) * U;
        box[i * 4 + 2] = box[i * 4] + CELL * U, box[i * 4 + 3] = box[i * 4 + 1] + CELL * U;
    }
    san_text_raw v = {cp, SAN_TEXT_PAGE_MAX, box, SAN_TEXT_PAGE_MAX};
    san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
    assert_int_equal(san_text_page_chars(t), SAN_TEXT_PAGE_MAX / 15 * 15);
    san_text_page_free(t);
    assert_null(san_text_page_new(&v, PAGE_W, PAGE_H, 14)); /* what the document has left */
    raw_run(r, "\uFDFA", 0, 10, 10);
    san_text_raw one = raw_view(r);
    t = san_text_page_new(&one, PAGE_W, PAGE_H, 15);
    assert_int_equal(san_text_page_chars(t), 15);
    san_text_page_free(t);
    g_free(cp);
    g_free(box);
    g_free(r);
}

/* Tj operators in the content t draws. */
static size_t count_words(const san_text_page *t)
{
    san_text_font *f = san_text_font_new();
    GString *s = g_string_new(NULL);

    san_text_page_content(t, f, DPI, s);
    size_t n = count_in(s->str, s->len, " Tj\n");
    g_string_free(s, TRUE);
    san_text_font_free(f);
    return n;
}

/* The words the content t draws (one per Tj), space-separated, as UTF-8 (characters within
 * the BMP); caller g_free()s. */
static char *drawn_words(const san_text_page *t)
{
    san_text_font *f = san_text_font_new();
    GString *s = g_string_new(NULL), *out = g_string_new(NULL);

    san_text_page_content(t, f, DPI, s);
    for (const char *p = s->str; (p = strchr(p, '<')) != NULL;) {
        const char *end = strchr(p, '>');
        assert_non_null(end);
        if (out->len)
            g_string_append_c(out, ' ');
        for (p++; p + 4 <= end; p += 4) {
            char hex[5] = {p[0], p[1], p[2], p[3], 0};
            g_string_append_unichar(out, (gunichar)strtoul(hex, NULL, 16));
        }
        p = end + 1;
    }
    g_string_free(s, TRUE);
    san_text_font_free(f);
    return g_string_free(out, FALSE);
}

/* A page of words scattered over each other, which readers' text extraction takes seconds
 * over, keeps a bounded number of them; a dense page of real text keeps all of its words. */
static void test_word_bound(void **state)
{
    uint32_t *cp = g_new(uint32_t, SAN_TEXT_PAGE_MAX),
             *box = g_new(uint32_t, SAN_TEXT_PAGE_MAX * 4);
    uint32_t seed = 1;

    (void)state;
    for (size_t i = 0; i < SAN_TEXT_PAGE_MAX; i++) {
        unsigned x, y, sz;
        seed = seed * 1103515245u + 12345u;
        x = (seed >> 8) % PAGE_W;
        seed = seed * 1103515245u + 12345u;
        y = (seed >> 8) % PAGE_H, sz = 1 + (seed >> 4) % 40;
        cp[i] = i % 2 ? ' ' : 0x4E00 + (uint32_t)(i % 5000);
        box[i * 4] = x * U, box[i * 4 + 1] = y * U;
        box[i * 4 + 2] = (x + sz) * U, box[i * 4 + 3] = (y + sz) * U;
    }
    san_text_raw v = {cp, SAN_TEXT_PAGE_MAX, box, SAN_TEXT_PAGE_MAX};
    san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
    assert_int_equal(count_words(t), 8192);
    san_text_page_free(t);
    /* 6,000 words of three letters in lines of 60, at 7 pixels a letter: all kept. */
    for (size_t i = 0; i < 24000; i++) {
        unsigned col = (unsigned)(i % 240), row = (unsigned)(i / 240);
        cp[i] = col % 4 == 3 ? ' ' : 'a' + (uint32_t)(i % 26);
        box[i * 4] = col * 5 * U, box[i * 4 + 1] = row * 16 * U;
        box[i * 4 + 2] = (col * 5 + 5) * U, box[i * 4 + 3] = (row * 16 + 12) * U;
    }
    v.ncp = v.nbox = 24000;
    t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
    assert_int_equal(count_words(t), 6000);
    assert_int_equal(san_text_page_chars(t), 18000);
    san_text_page_free(t);
    g_free(cp);
    g_free(box);
}

/* One document's words are bounded too (262,144, kept by its font): pages past the bound
 * draw nothing. */
static void test_document_word_bound(void **state)
{
    const size_t n = 16384; /* 8,192 one-character words in lines of 64 */
    uint32_t *cp = g_new(uint32_t, n), *box = g_new(uint32_t, n * 4);
    san_text_font *f = san_text_font_new();
    size_t total = 0, last = 0;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned)(i % 128) * 9, y = (unsigned)(i / 128) * 12;
        cp[i] = i % 2 ? ' ' : 0x4E00 + (uint32_t)i;
        box[i * 4] = x * U, box[i * 4 + 1] = y * U;
        box[i * 4 + 2] = (x + 8) * U, box[i * 4 + 3] = (y + 8) * U;
    }
    san_text_raw v = {cp, n, box, n};
    for (int p = 0; p < 33; p++) {
        san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
        GString *s = g_string_new(NULL);
        san_text_page_content(t, f, DPI, s);
        last = count_in(s->str, s->len, " Tj\n");
        total += last;
        g_string_free(s, TRUE);
        san_text_page_free(t);
    }
    assert_int_equal(total, 262144);
    assert_int_equal(last, 0);
    san_text_font_free(f);
    g_free(cp);
    g_free(box);
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

/* ---- only characters the page shows ---- */

#define INK_W 400u /* pixels of the pages the ink cases are drawn on */
#define INK_H 300u

/* A rectangle of one colour (0xRRGGBB) painted on a page (w == 0: none). */
typedef struct ink_rect {
    unsigned x, y, w, h;
    uint32_t rgb;
} ink_rect;

#define BLACK 0x000000u
#define WHITE 0xFFFFFFu
#define DARK 0x202840u
#define PHOTO 0x1000000u /* a page of noise around mid grey */
#define GREY 0x808080u
#define LIGHT 0xDBDBDBu /* a light grey: 36 levels under white, 4 levels make it white */
#define RED 0xFF0000u
#define BAND 90, 90, 120, 44    /* a rectangle under the word */
#define GLYPHS 104, 104, 88, 16 /* the word's glyphs, as one rectangle */

typedef struct ink_case {
    const char *what;
    const char *kept;  /* the words the layer draws of "word", space-separated */
    uint32_t bg;       /* the page's colour, or PHOTO */
    unsigned x, y;     /* where the word's four 24-pixel characters start */
    ink_rect paint[2]; /* painted over the page in order */
} ink_case;

static const ink_case ink_cases[] = {
    {"over white, nothing drawn (render mode 3)", "", WHITE, 100, 100, {{0}}},
    {"strokes", "word", WHITE, 100, 100, {{110, 104, 2, 16, BLACK}, {128, 110, 64, 2, BLACK}}},
    {"white on dark", "word", WHITE, 100, 100, {{90, 90, 120, 44, DARK}, {104, 112, 88, 2, WHITE}}},
    {"a dark band and nothing on it", "", WHITE, 100, 100, {{90, 90, 120, 44, DARK}}},
    {"white on white over a coloured page", "", 0xC8E6FFu, 100, 100, {{90, 90, 120, 44, WHITE}}},
    {"ink up to the middle, white beyond", "wo", WHITE, 100, 100, {{40, 100, 107, 24, BLACK}}},
    {"light grey text", "word", WHITE, 100, 100, {{104, 112, 88, 1, 0xC0C0C0u}}},
    {"text a shade off the background", "", WHITE, 100, 100, {{104, 104, 88, 16, 0xF0F0F0u}}},
    {"as light as the background", "word", 0x808080u, 100, 100, {{104, 104, 88, 16, 0x648CAAu}}},
    {"a thin line (ーー)", "word", WHITE, 100, 100, {{104, 112, 88, 1, BLACK}}},
    {"a thin line in the row under the box", "word", WHITE, 100, 100, {{104, 124, 88, 1, BLACK}}},
    {"a thin line two rows under the box", "", WHITE, 100, 100, {{104, 126, 88, 1, BLACK}}},
    {"a small mark in a corner (、)", "w", WHITE, 100, 100, {{102, 120, 3, 3, BLACK}}},
    {"text over a photograph", "word", PHOTO, 100, 100, {{0}}},
    {"off the page, beside ink at its edge", "", WHITE, 500, 100, {{396, 110, 4, 4, BLACK}}},
    {"at the page's corner, over ink", "w", WHITE, 380, 290, {{396, 296, 4, 4, BLACK}}},
    /* Glyphs under some characters only: the others are hidden text glued to them. */
    {"glued after", "wo", WHITE, 100, 100, {{106, 106, 12, 12, BLACK}, {130, 106, 12, 12, BLACK}}},
    {"glued before", "rd", WHITE, 100, 100, {{154, 106, 12, 12, BLACK}, {178, 106, 12, 12, BLACK}}},
    {"split", "w d", WHITE, 100, 100, {{106, 106, 12, 12, BLACK}, {178, 106, 12, 12, BLACK}}},
    /* A page all of grey may be written with 4 grey levels or in black and white: what those
     * make one grey (or one black) shows nothing there, though the original shows it. */
    {"grey type on white", "word", WHITE, 100, 100, {{GLYPHS, GREY}}},
    {"light grey 4 levels make white", "", WHITE, 100, 100, {{GLYPHS, LIGHT}}},
    {"light grey black and white drops", "", WHITE, 100, 100, {{GLYPHS, 0xCDCDCDu}}},
    {"light grey, a colour page", "word", WHITE, 100, 100, {{0, 0, 8, 8, RED}, {GLYPHS, LIGHT}}},
    {"lighter on a grey band", "", WHITE, 100, 100, {{BAND, 0x404040u}, {GLYPHS, 0x6B6B6Bu}}},
    {"black on near-black", "", WHITE, 100, 100, {{BAND, 0x2F2F2Fu}, {GLYPHS, BLACK}}},
    {"white on a dark grey band", "word", WHITE, 100, 100, {{BAND, 0x303030u}, {GLYPHS, WHITE}}},
};

/* Paint rect p on px, a page of w x h pixels. */
static void ink_paint(uint8_t *px, unsigned w, unsigned h, const ink_rect *p)
{
    for (unsigned y = p->y; y < p->y + p->h && y < h; y++)
        for (unsigned x = p->x; x < p->x + p->w && x < w; x++) {
            uint8_t *q = px + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(p->rgb >> 16), q[1] = (uint8_t)(p->rgb >> 8), q[2] = (uint8_t)p->rgb;
        }
}

/* A page of INK_W x INK_H pixels of colour bg with paint on it; caller g_free()s. */
static uint8_t *ink_page(uint32_t bg, const ink_rect *paint, size_t npaint)
{
    uint8_t *px = g_malloc((size_t)INK_W * INK_H * 3);
    uint32_t seed = 3;
    ink_rect all = {0, 0, INK_W, INK_H, bg};

    ink_paint(px, INK_W, INK_H, &all);
    for (size_t i = 0; bg == PHOTO && i < (size_t)INK_W * INK_H * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        px[i] = (uint8_t)(98 + (seed >> 16) % 60);
    }
    for (size_t k = 0; k < npaint; k++)
        ink_paint(px, INK_W, INK_H, &paint[k]);
    return px;
}

static void test_ink(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ink_cases / sizeof ink_cases[0]; i++) {
        const ink_case *c = &ink_cases[i];
        uint8_t *px = ink_page(c->bg, c->paint, 2);
        raw_page *r = g_new0(raw_page, 1);
        raw_run(r, "word", 0, c->x, c->y);
        san_text_raw v = raw_view(r);
        san_text_page *t = san_text_page_new(&v, INK_W, INK_H, SAN_TEXT_PAGE_MAX);
        assert_int_equal(san_text_page_chars(t), 4);
        size_t dropped = san_text_page_ink(t, INK_W, INK_H, px);
        char *words = drawn_words(t);
        size_t kept = 0;
        for (const char *p = c->kept; *p; p++)
            kept += *p != ' ';
        if (strcmp(words, c->kept) != 0 || dropped != 4 - kept || san_text_page_chars(t) != kept)
            fail_msg("%s: drawn \"%s\" (want \"%s\"), %zu characters dropped, %zu kept", c->what,
                     words, c->kept, dropped, san_text_page_chars(t));
        g_free(words);
        san_text_page_free(t);
        g_free(r);
        g_free(px);
    }
    assert_int_equal(san_text_page_ink(NULL, INK_W, INK_H, NULL), 0);
    raw_page *r = g_new0(raw_page, 1); /* a page without pixels shows nothing */
    raw_run(r, "word", 0, 100, 100);
    san_text_raw v = raw_view(r);
    san_text_page *t = san_text_page_new(&v, INK_W, INK_H, SAN_TEXT_PAGE_MAX);
    assert_int_equal(san_text_page_ink(t, INK_W, INK_H, NULL), 4);
    assert_int_equal(san_text_page_chars(t), 0);
    san_text_page_free(t);
    g_free(r);
}

/* Words over ink keep their text and order when words between them are dropped: a reader
 * finds only what the page shows. */
static void test_ink_keeps_the_rest(void **state)
{
    static const ink_rect marks[] = {{104, 112, 64, 2, BLACK}, {104, 212, 64, 2, BLACK}};
    uint8_t *px = ink_page(WHITE, marks, 2);
    raw_page *r = g_new0(raw_page, 1);
    char *path = tmp_path("ink.pdf");

    (void)state;
    raw_run(r, "見積書", 0, 100, 100);
    raw_add(r, ' ', 172, 100, 8, CELL);
    raw_run(r, "https://evil.example/hidden", 0, 100, 150);
    raw_add(r, ' ', 100 + 27 * CELL, 150, 8, CELL);
    raw_run(r, "\U00020BB7野家", 0, 100, 200);
    san_text_raw v = raw_view(r);
    san_text_page *t = san_text_page_new(&v, INK_W, INK_H, SAN_TEXT_PAGE_MAX);
    assert_int_equal(san_text_page_ink(t, INK_W, INK_H, px), 27);
    assert_int_equal(san_text_page_chars(t), 6);
    write_pdf(path, &t, 1);
    san_text_page_free(t);
    PopplerDocument *doc = open_pdf(path);
    char *text = page_text(doc, 0);
    assert_string_equal(text, "見積書\U00020BB7野家");
    g_free(text);
    g_object_unref(doc);
    g_free(path);
    g_free(r);
    g_free(px);
}

/* ---- text glued to text the page shows ---- */

typedef struct glue_case {
    const char *what;
    const char *before, *hidden, *after; /* one run; nothing is drawn under the hidden part */
    int dir;
    unsigned x, y;     /* where the run starts */
    const char *words; /* what the layer draws */
} glue_case;

static const glue_case glue_cases[] = {
    {"a URL in render mode 3 right after the text", "見積書", "https://glued.example/x", "", 0, 100,
     300, "見積書"},
    {"hidden text right before the text", "", "evil.example/", "見積書", 0, 100, 300, "見積書"},
    {"hidden text inside a word", "見積", "HIDDEN", "書です", 0, 100, 300, "見積 書です"},
    {"vertical writing, a URL at the foot of the column", "見積書", "https://glued.example/x", "",
     1, 600, 100, "見積書"},
    {"right to left, hidden text glued to its end", "שלום", "evil", "", 2, 1000, 300, "םולש"},
};

/* Non-zero when point (x, y), in points, lies in one of the boxes of r that show[] marks. */
static int in_shown_box(const raw_page *r, const int *show, double x, double y)
{
    for (size_t i = 0; i < r->n; i++) {
        const uint32_t *b = r->box + i * 4;
        double k = 72.0 / DPI / U;
        if (show[i] && x > b[0] * k && x < b[2] * k && y > b[1] * k && y < b[3] * k)
            return 1;
    }
    return 0;
}

/* Hidden text glued to text the page shows (no space between: one word as the renderer sends
 * it) is left out, and what is shown is drawn over its own characters: the word is split
 * where characters are left out, each part where it lies, in its direction. */
static void test_ink_glued(void **state)
{
    uint8_t *px = g_malloc((size_t)PAGE_W * PAGE_H * 3);
    char *path = tmp_path("glued.pdf");

    (void)state;
    for (size_t i = 0; i < sizeof glue_cases / sizeof glue_cases[0]; i++) {
        const glue_case *c = &glue_cases[i];
        raw_page *r = g_new0(raw_page, 1);
        char *all = g_strconcat(c->before, c->hidden, c->after, NULL);
        size_t nb = (size_t)g_utf8_strlen(c->before, -1), nh = (size_t)g_utf8_strlen(c->hidden, -1);
        int show[4096];
        raw_run(r, all, c->dir, c->x, c->y);
        memset(px, 0xff, (size_t)PAGE_W * PAGE_H * 3);
        for (size_t k = 0; k < r->n; k++) { /* a glyph in the middle of each shown box */
            show[k] = k < nb || k >= nb + nh;
            ink_rect g = {r->box[k * 4] / U + 6, r->box[k * 4 + 1] / U + 6, 12, 12, BLACK};
            if (show[k])
                ink_paint(px, PAGE_W, PAGE_H, &g);
        }
        san_text_raw v = raw_view(r);
        san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
        assert_int_equal(san_text_page_ink(t, PAGE_W, PAGE_H, px), nh);
        char *words = drawn_words(t);
        if (strcmp(words, c->words) != 0)
            fail_msg("%s: drawn \"%s\", want \"%s\"", c->what, words, c->words);
        write_pdf(path, &t, 1);
        san_text_page_free(t);
        /* What a reader gets back: as many characters, each over a box the page shows. */
        PopplerDocument *doc = open_pdf(path);
        PopplerPage *page = poppler_document_get_page(doc, 0);
        PopplerRectangle *rects = NULL;
        guint nr = 0, got = 0;
        char *text = poppler_page_get_text(page);
        assert_true(poppler_page_get_text_layout(page, &rects, &nr));
        guint k = 0; /* the rectangle of the character at p: poppler's embedding marks have none */
        for (const char *p = text; *p && k < nr; p = g_utf8_next_char(p)) {
            gunichar u = g_utf8_get_char(p);
            if (u >= 0x202A && u <= 0x202C)
                continue;
            const PopplerRectangle *q = &rects[k++];
            if (g_unichar_isspace(u))
                continue;
            got++;
            double cx = (q->x1 + q->x2) / 2, cy = (q->y1 + q->y2) / 2;
            if (!in_shown_box(r, show, cx, cy))
                fail_msg("%s: character %u drawn at (%.1f, %.1f), over no box shown", c->what, got,
                         cx, cy);
        }
        assert_int_equal(got, r->n - nh);
        g_free(text);
        g_free(rects);
        g_object_unref(page);
        g_object_unref(doc);
        g_free(words);
        g_free(all);
        g_free(r);
    }
    g_free(path);
    g_free(px);
}

/* Vertical writing as poppler sends it: each character's box one character before its glyph
 * and half of one beside it (poppler boxes the glyph as if it were horizontal). Every shown
 * character is kept, 。 too (drawn wholly outside its box, in a corner), and of hidden text
 * glued to the column's end at most the first character (its box lies over the last glyph). */
static void test_ink_vertical(void **state)
{
    static const struct {
        const char *what;
        int dir;
        unsigned x, y;
    } rows[] = {{"down", 1, 600, 100}, {"up (the page turned over)", 3, 600, 1400}};
    const char *shown = "試験です。以上", *url = "https://glued.example/x";
    char *all = g_strconcat(shown, url, NULL);
    const size_t ns = (size_t)g_utf8_strlen(shown, -1), stop = 4; /* 。 */
    uint8_t *px = g_malloc((size_t)PAGE_W * PAGE_H * 3);

    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        raw_page *r = g_new0(raw_page, 1);
        int down = rows[i].dir == 1;
        raw_run(r, all, rows[i].dir, rows[i].x, rows[i].y);
        memset(px, 0xff, (size_t)PAGE_W * PAGE_H * 3);
        for (size_t k = 0; k < ns; k++) {
            unsigned bx = r->box[k * 4] / U, by = r->box[k * 4 + 1] / U;
            unsigned cx = down ? bx : bx + CELL, cy = down ? by + CELL * 3 / 2 : by - CELL / 2;
            ink_rect g = {cx - 8, cy - 8, 16, 16, BLACK}; /* around the glyph's centre */
            if (k == stop)
                g = down ? (ink_rect){cx - 10, cy + 4, 6, 6, BLACK}
                         : (ink_rect){cx + 4, cy - 10, 6, 6, BLACK};
            ink_paint(px, PAGE_W, PAGE_H, &g);
        }
        san_text_raw v = raw_view(r);
        san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
        san_text_page_ink(t, PAGE_W, PAGE_H, px);
        char *words = drawn_words(t);
        if (!g_str_has_prefix(words, shown) || (size_t)g_utf8_strlen(words, -1) > ns + 1)
            fail_msg("%s: drawn \"%s\", want \"%s\" and at most one more character", rows[i].what,
                     words, shown);
        g_free(words);
        san_text_page_free(t);
        g_free(r);
    }
    g_free(px);
    g_free(all);
}

/* Words split where characters are left out stay within the page's word bound: 8,192 words
 * of three characters, the middle one over white, make 16,384 parts, of which the first
 * 8,192 are drawn. */
static void test_ink_split_bound(void **state)
{
    const size_t n = 8192 * 4; /* three characters and a space, 200 to a row */
    uint32_t *cp = g_new(uint32_t, n), *box = g_new(uint32_t, n * 4);
    uint8_t *px = g_malloc((size_t)PAGE_W * PAGE_H * 3);

    (void)state;
    memset(px, 0xff, (size_t)PAGE_W * PAGE_H * 3);
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned)(i % 200) * 6, y = (unsigned)(i / 200) * 9;
        cp[i] = i % 4 == 3 ? ' ' : 'a' + (uint32_t)(i % 4);
        box[i * 4] = x * U, box[i * 4 + 1] = y * U;
        box[i * 4 + 2] = (x + 6) * U, box[i * 4 + 3] = (y + 6) * U;
        ink_rect g = {x + 3, y + 1, 1, 4, BLACK};
        if (i % 4 == 0 || i % 4 == 2)
            ink_paint(px, PAGE_W, PAGE_H, &g);
    }
    san_text_raw v = {cp, n, box, n};
    san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
    assert_int_equal(count_words(t), 8192);
    assert_int_equal(san_text_page_ink(t, PAGE_W, PAGE_H, px), 8192 * 3 - 8192);
    assert_int_equal(count_words(t), 8192);
    assert_int_equal(san_text_page_chars(t), 8192);
    char *words = drawn_words(t);
    assert_true(g_str_has_prefix(words, "a c a c a c "));
    g_free(words);
    san_text_page_free(t);
    g_free(px);
    g_free(cp);
    g_free(box);
}

/* A box larger than one character's reads is sampled, finely enough for a glyph its size: a
 * character over a whole page of a large glyph is kept, over a blank page dropped. */
static void test_ink_large_box(void **state)
{
    const unsigned w = 3000, h = 4000;
    uint8_t *px = g_malloc((size_t)w * h * 3);
    raw_page *r = g_new0(raw_page, 1);

    (void)state;
    raw_add(r, 'A', 0, 0, w, h);
    san_text_raw v = raw_view(r);
    for (int mark = 0; mark < 2; mark++) {
        memset(px, 0xff, (size_t)w * h * 3);
        for (unsigned y = 2001; mark && y < 2013; y++)
            memset(px + ((size_t)y * w + 1501) * 3, 0, 12 * 3); /* 12 x 12 at odd pixels */
        san_text_page *t = san_text_page_new(&v, w, h, SAN_TEXT_PAGE_MAX);
        assert_int_equal(san_text_page_ink(t, w, h, px), mark ? 0 : 1);
        san_text_page_free(t);
    }
    g_free(r);
    g_free(px);
}

/* 50,000 page-sized boxes (25,000 words, 8,192 kept by the word bound) are checked within a
 * bounded number of reads: over a blank page all are dropped, over a page whose ink a coarse
 * look finds all are kept, and over a page with one small mark the words left when the reads
 * run out are dropped. */
static void test_ink_hostile(void **state)
{
    static const struct {
        const char *what;
        ink_rect paint;
        size_t kept_min, kept_max;
    } rows[] = {
        {"a blank page", {0}, 0, 0},
        {"a page half black", {0, 0, PAGE_W / 2, PAGE_H, BLACK}, 8192, 8192},
        {"a page with one small mark", {601, 801, 6, 6, BLACK}, 1, 8191},
    };
    uint32_t *cp = g_new(uint32_t, SAN_TEXT_PAGE_MAX),
             *box = g_new(uint32_t, SAN_TEXT_PAGE_MAX * 4);
    uint8_t *px = g_malloc((size_t)PAGE_W * PAGE_H * 3);

    (void)state;
    for (size_t i = 0; i < SAN_TEXT_PAGE_MAX; i++) {
        cp[i] = i % 2 ? ' ' : 0x4E00 + (uint32_t)(i % 5000);
        box[i * 4] = 0, box[i * 4 + 1] = 0;
        box[i * 4 + 2] = PAGE_W * U, box[i * 4 + 3] = PAGE_H * U;
    }
    san_text_raw v = {cp, SAN_TEXT_PAGE_MAX, box, SAN_TEXT_PAGE_MAX};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        memset(px, 0xff, (size_t)PAGE_W * PAGE_H * 3);
        ink_paint(px, PAGE_W, PAGE_H, &rows[i].paint);
        san_text_page *t = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
        assert_int_equal(san_text_page_chars(t), 8192);
        double t0 = mg_now();
        size_t dropped = san_text_page_ink(t, PAGE_W, PAGE_H, px);
        size_t kept = san_text_page_chars(t);
        printf("ink check, 8,192 page-sized words over %s: %zu kept, %.3f s\n", rows[i].what, kept,
               mg_now() - t0);
        assert_int_equal(kept + dropped, 8192);
        if (kept < rows[i].kept_min || kept > rows[i].kept_max)
            fail_msg("%s: %zu words kept", rows[i].what, kept);
        assert_int_equal(count_words(t), kept);
        san_text_page_free(t);
    }
    g_free(px);
    g_free(cp);
    g_free(box);
}

/* 8,192 words of each shape over a blank page of 36 megapixels (a poster) are all dropped,
 * boxes down a column too, where every pixel read is a cache miss; the time each shape took
 * is printed (about 0.2 s here; the page's reads, charged by pixels fetched, bound it). */
static void test_ink_hostile_shapes(void **state)
{
    static const struct {
        const char *what;
        unsigned w, h; /* of each box, pixels */
    } rows[] = {{"the page", 6000, 6000},
                {"columns", 1, 6000},
                {"rows", 6000, 1},
                {"megapixels", 1000, 1000}};
    const unsigned side = 6000, n = SAN_TEXT_PAGE_MAX;
    uint32_t *cp = g_new(uint32_t, n), *box = g_new(uint32_t, (size_t)n * 4);
    uint8_t *px = g_malloc((size_t)side * side * 3);

    (void)state;
    memset(px, 0xff, (size_t)side * side * 3);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (unsigned k = 0; k < n; k++) { /* scattered, so that no box is in the cache */
            unsigned x = (unsigned)((uint64_t)k * 7919 % (side - rows[i].w + 1));
            unsigned y = (unsigned)((uint64_t)k * 104729 % (side - rows[i].h + 1));
            cp[k] = k % 2 ? ' ' : 0x4E00 + k % 5000;
            box[k * 4] = x * U, box[k * 4 + 1] = y * U;
            box[k * 4 + 2] = (x + rows[i].w) * U, box[k * 4 + 3] = (y + rows[i].h) * U;
        }
        san_text_raw v = {cp, n, box, n};
        san_text_page *t = san_text_page_new(&v, side, side, SAN_TEXT_PAGE_MAX);
        assert_int_equal(san_text_page_chars(t), 8192);
        double t0 = mg_now();
        assert_int_equal(san_text_page_ink(t, side, side, px), 8192);
        double dt = mg_now() - t0;
        printf("ink check, 8,192 words as %s over a blank page of 36 megapixels: %.3f s\n",
               rows[i].what, dt);
        san_text_page_free(t);
    }
    g_free(px);
    g_free(cp);
    g_free(box);
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

/* Pages without text between pages with text: each keeps its own text, and only the pages
 * with text name the font. */
static void test_pages_without_text(void **state)
{
    static const char *const words[3] = {"first", NULL, "third"};
    san_text_page *t[3] = {NULL, NULL, NULL};
    char *path = tmp_path("gaps.pdf");

    (void)state;
    for (int p = 0; p < 3; p++) {
        raw_page *r = g_new0(raw_page, 1);
        raw_run(r, words[p] ? words[p] : "\u202E\uFEFF", 0, 100, 100);
        san_text_raw v = raw_view(r);
        t[p] = san_text_page_new(&v, PAGE_W, PAGE_H, SAN_TEXT_PAGE_MAX);
        g_free(r);
    }
    assert_null(t[1]);
    write_pdf(path, t, 3);
    san_text_page_free(t[0]);
    san_text_page_free(t[2]);
    PopplerDocument *doc = open_pdf(path);
    for (int p = 0; p < 3; p++) {
        char *text = page_text(doc, p);
        assert_string_equal(text, words[p] ? words[p] : "");
        g_free(text);
    }
    g_object_unref(doc);
    char *pdf = NULL;
    gsize len = 0;
    assert_true(g_file_get_contents(path, &pdf, &len, NULL));
    assert_int_equal(count_in(pdf, len, "/Font <<"), 2);
    g_free(pdf);
    g_free(path);
}

/* ---- what the layer writes, token by token ---- */

/* The next token of a content stream at *p (whitespace skipped) into tok; 0 at the end. */
static int next_token(const char **p, char *tok, size_t cap)
{
    size_t n = 0;

    while (**p == ' ' || **p == '\n')
        (*p)++;
    if (!**p)
        return 0;
    if (**p == '<') {
        while (**p && **p != '>' && n + 2 < cap)
            tok[n++] = *(*p)++;
        if (**p == '>')
            tok[n++] = *(*p)++;
    } else {
        while (**p && **p != ' ' && **p != '\n' && **p != '<' && n + 1 < cap)
            tok[n++] = *(*p)++;
    }
    tok[n] = '\0';
    return 1;
}

/* Non-zero when tok is a number the layer may write: an optional minus sign, digits and at
 * most two decimals, within what a 10,000-pixel page at 50 dpi measures in points. */
static int layer_number(const char *tok)
{
    const char *q = tok + (tok[0] == '-');
    size_t whole = strspn(q, "0123456789"), frac = 0;

    if (q[whole] == '.') {
        frac = strspn(q + whole + 1, "0123456789");
        if (frac < 1 || frac > 2 || q[whole + 1 + frac])
            return 0;
    } else if (q[whole]) {
        return 0;
    }
    return whole >= 1 && whole <= 5 && fabs(g_ascii_strtod(tok, NULL)) <= 20000;
}

/* The codes of a hex string token "<....>" into codes; their number, or -1 when it is not
 * whole groups of four upper-case hex digits. */
static long hex_codes(const char *tok, uint32_t *codes, size_t cap)
{
    size_t len = strlen(tok), n = 0;

    if (len < 6 || tok[0] != '<' || tok[len - 1] != '>' || (len - 2) % 4 != 0)
        return -1;
    for (size_t i = 1; i + 1 < len; i += 4) {
        char quad[5] = {tok[i], tok[i + 1], tok[i + 2], tok[i + 3], 0};
        if (strspn(quad, "0123456789ABCDEF") != 4 || n >= cap)
            return -1;
        codes[n++] = (uint32_t)strtoul(quad, NULL, 16);
    }
    return (long)n;
}

/* Check that s is exactly "BT 3 Tr /F0 1 Tf", then words drawn as [n Tz] a b c d e f Tm
 * <hex> Tj, then ET, with numbers layer_number takes; every code it draws is added to used. */
static void check_content(const char *s, GHashTable *used)
{
    static const char *const head[] = {"BT", "3", "Tr", "/" SAN_TEXT_FONT_RES, "1", "Tf"};
    const char *p = s;
    char tok[65536];
    uint32_t *codes = g_new(uint32_t, sizeof tok / 4);
    int nums = 0, ended = 0;

    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++) {
        assert_true(next_token(&p, tok, sizeof tok));
        assert_string_equal(tok, head[i]);
    }
    while (!ended && next_token(&p, tok, sizeof tok)) {
        if (strcmp(tok, "ET") == 0) {
            assert_int_equal(nums, 0);
            ended = 1;
        } else if (strcmp(tok, "Tz") == 0) {
            assert_int_equal(nums, 1);
            nums = 0;
        } else if (strcmp(tok, "Tm") == 0) {
            assert_int_equal(nums, 6);
            nums = 0;
            assert_true(next_token(&p, tok, sizeof tok));
            long n = hex_codes(tok, codes, sizeof tok / 4);
            if (n < 1)
                fail_msg("not a hex string of codes after Tm: %.40s", tok);
            for (long k = 0; k < n; k++)
                g_hash_table_add(used, GUINT_TO_POINTER(codes[k]));
            assert_true(next_token(&p, tok, sizeof tok));
            assert_string_equal(tok, "Tj");
        } else if (layer_number(tok)) {
            nums++;
        } else {
            fail_msg("unexpected token in the layer: \"%.40s\"", tok);
        }
    }
    assert_true(ended);
    assert_false(next_token(&p, tok, sizeof tok));
    g_free(codes);
}

/* The decompressed data of the stream object obj; caller g_free()s. */
static char *stream_data(const GString *obj, size_t *len)
{
    const char *at = strstr(obj->str, "/Length ");
    const char *data = strstr(obj->str, ">>\nstream\n");
    uLongf out = 1 << 22;
    char *buf = g_malloc(out + 1);

    assert_non_null(at);
    assert_non_null(data);
    data += strlen(">>\nstream\n");
    uLong zlen = strtoul(at + 8, NULL, 10);
    assert_int_equal(uncompress((Bytef *)buf, &out, (const Bytef *)data, zlen), Z_OK);
    buf[out] = '\0';
    *len = out;
    return buf;
}

/* Check the ToUnicode CMap of f: the BMP ranges leave out the surrogate codes, and each code
 * beyond them is one pair naming a character beyond the BMP that the layer may carry. Every
 * code in used must be mapped; returns the codes beyond the BMP. */
static size_t check_tounicode(const san_text_font *f, GHashTable *used)
{
    GString *objs[SAN_TEXT_FONT_OBJS];
    size_t len = 0, astral = 0;

    san_text_font_objects(f, 4, objs);
    char *cmap = stream_data(objs[4], &len);
    GHashTable *mapped = g_hash_table_new(g_direct_hash, g_direct_equal);
    char **lines = g_strsplit(cmap, "\n", -1);
    for (char **l = lines; *l; l++) {
        unsigned lo, hi, dst, d1, d2;
        char tail;
        if (sscanf(*l, "<%4X> <%4X> <%4X>%c", &lo, &hi, &dst, &tail) == 3) {
            assert_true(lo <= hi && hi - lo <= 0xFF && lo == dst);
            assert_true(hi < 0xD800 || lo > 0xDFFF);
            for (unsigned c = lo; c <= hi; c++)
                g_hash_table_add(mapped, GUINT_TO_POINTER(c));
        } else if (sscanf(*l, "<%4X> <%4X%4X>%c", &lo, &d1, &d2, &tail) == 3) {
            assert_true(lo >= 0xD800 && lo < 0xD800 + 2048);
            assert_true(d1 >= 0xD800 && d1 <= 0xDBFF && d2 >= 0xDC00 && d2 <= 0xDFFF);
            uint32_t c = 0x10000 + ((d1 - 0xD800) << 10) + (d2 - 0xDC00);
            assert_false(mg_uchar_unsafe(c));
            g_hash_table_add(mapped, GUINT_TO_POINTER(lo));
            astral++;
        } else if ((*l)[0] == '<') {
            assert_string_equal(*l, "<0000> <FFFF>"); /* the code space */
        }
    }
    GHashTableIter it;
    gpointer code;
    g_hash_table_iter_init(&it, used);
    while (g_hash_table_iter_next(&it, &code, NULL)) {
        uint32_t c = GPOINTER_TO_UINT(code);
        if (!g_hash_table_contains(mapped, code))
            fail_msg("code %04X is drawn but not mapped", c);
        if (c < 0xD800 || c > 0xDFFF)
            assert_false(mg_uchar_unsafe(c) || c == 0x3164 || c == 0xFFFD || c == 0xFFFC);
    }
    g_strfreev(lines);
    g_hash_table_destroy(mapped);
    g_free(cmap);
    for (size_t i = 0; i < SAN_TEXT_FONT_OBJS; i++)
        g_string_free(objs[i], TRUE);
    return astral;
}

/* Hostile text, boxes and page sizes: PDF syntax as text, U+FDFA, dropped characters of
 * every kind, characters beyond the BMP past the font's 2,048 codes, boxes at 0 and 2^32-1,
 * pages of one pixel. The layer is only the operators it may write, numbers of bounded size
 * and hex strings of codes that its ToUnicode CMap maps to characters it may carry. */
static void test_hostile_content(void **state)
{
    static const uint32_t edge[] = {0,           1,           63,          64,
                                    0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFEu, 0xFFFFFFFFu};
    static const uint32_t odd[] = {0,      0x09,   0x0A,     0xD800,      0xDFFF, 0xFFFE,
                                   0xFFFF, 0xFDFA, 0x110000, 0xFFFFFFFFu, 0x202E, 0xFEFF,
                                   0x3164, 0xFFFD, 0xE0041,  0x10FFFF,    0x2028, 0x85};
    static const unsigned sizes[][2] = {{1, 1}, {1, 10000}, {10000, 1}, {10000, 10000}, {7, 3}};
    const char *syntax = "() Tj ET endstream endobj 9 0 obj << /S /JavaScript /JS (app.alert(1)) "
                         ">> % <41> [\\ ] { } /Launch";
    size_t n = 20000, len = strlen(syntax);
    uint32_t *cp = g_new(uint32_t, n), *box = g_new(uint32_t, n * 4), seed = 7;
    san_text_font *f = san_text_font_new();
    GHashTable *used = g_hash_table_new(g_direct_hash, g_direct_equal);

    (void)state;
    for (size_t p = 0; p < sizeof sizes / sizeof sizes[0]; p++) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            if (i % 3 == 0)
                cp[i] = (unsigned char)syntax[i / 3 % len];
            else if (i % 3 == 1)
                cp[i] = 0x20000 + (uint32_t)(p * n + i); /* a new one each time */
            else
                cp[i] = seed % 2 ? odd[(seed >> 8) % (sizeof odd / sizeof odd[0])] : seed >> 11;
            for (int k = 0; k < 4; k++) {
                seed = seed * 1103515245u + 12345u;
                box[i * 4 + k] = seed % 4 ? edge[seed >> 29] : seed;
            }
        }
        san_text_raw v = {cp, n, box, n};
        san_text_page *t = san_text_page_new(&v, sizes[p][0], sizes[p][1], SAN_TEXT_PAGE_MAX);
        assert_non_null(t);
        for (unsigned dpi = 50; dpi <= 600; dpi += 550) {
            GString *s = g_string_new(NULL);
            san_text_page_content(t, f, dpi, s);
            assert_int_equal(strlen(s->str), s->len);
            check_content(s->str, used);
            g_string_free(s, TRUE);
        }
        san_text_page_free(t);
    }
    assert_int_equal(check_tounicode(f, used), 2048);
    g_hash_table_destroy(used);
    san_text_font_free(f);
    g_free(cp);
    g_free(box);
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
    unsigned short_by; /* values missing at the end of the frame (the stream ends there) */
    int fail;          /* a FAIL frame comes where the PTXT frame is due */
} wire_case;

static const wire_case wire_cases[] = {
    {"text after each page", 3, 3, 1, JAIL_OK, 0, 0},
    {"counts that disagree reach the sink, which decides", 3, 2, 1, JAIL_OK, 0, 0},
    {"no text on a page", 0, 0, 1, JAIL_OK, 0, 0},
    {"a page of text at the limits", SAN_TEXT_PAGE_MAX, SAN_TEXT_PAGE_MAX, 1, JAIL_OK, 0, 0},
    {"more characters than a page may hold", SAN_TEXT_PAGE_MAX + 1, 0, 1, JAIL_PROTOCOL, 0, 0},
    {"more boxes than a page may hold", 0, SAN_TEXT_PAGE_MAX + 1, 1, JAIL_PROTOCOL, 0, 0},
    {"counts whose sizes overflow 32 bits", 0x40000001u, 0xFFFFFFFEu, 1, JAIL_PROTOCOL, 0, 0},
    {"a text frame cut short", 3, 3, 1, JAIL_CRASHED, 1, 0},
    {"a failure where the text is due", 0, 0, 1, JAIL_LIMIT, 0, 1},
    {"a page without its text frame", UINT32_MAX, 0, 1, JAIL_PROTOCOL, 0, 0},
    {"a text frame nobody asked for", 1, 1, 0, JAIL_PROTOCOL, 0, 0},
};

/* Append the PTXT frame of case w to s: every value when the counts are within the limits,
 * else a few (the reader must stop at the counts). */
static void wire_text(GString *s, const wire_case *w)
{
    uint32_t counts[2] = {w->nc, w->nb};
    uint32_t max = w->nc <= SAN_TEXT_PAGE_MAX && w->nb <= SAN_TEXT_PAGE_MAX ? UINT32_MAX : 16;

    if (w->fail) {
        static const char msg[] = "page 1 is too large";
        uint32_t v[2] = {RND_ERR_LIMIT, sizeof msg - 1};
        wire(s, RND_TAG_FAIL, v, 2);
        g_string_append(s, msg);
        return;
    }
    wire(s, RND_TAG_PTXT, counts, 2);
    for (uint32_t k = 0; k < w->nc && k < max; k++)
        wire(s, NULL, (uint32_t[]){0x3042 + k % 80}, 1);
    for (uint32_t k = 0; k < w->nb && k < max; k++)
        wire(s, NULL, (uint32_t[]){k % 40 * U, k / 40 % 60 * U, (k % 40 + 1) * U, U}, 4);
    g_string_truncate(s, s->len - 4 * w->short_by);
}

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
        if (w->nc != UINT32_MAX)
            wire_text(s, w);
        if (!w->short_by && !w->fail)
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

/* The trusted side asks for text exactly when [render] text_layer is on and the mode is PDF:
 * a sink that differs is refused before anything runs. */
static void test_text_only_when_configured(void **state)
{
    static const struct {
        const char *mode, *type;
        int layer, sink_text;
    } rows[] = {
        {"pdf", NULL, 0, 1},
        {"pdf", NULL, 1, 0},
        {"image", "png", 1, 1},
        {"image", "png", 0, 1},
    };
    conf c;

    (void)state;
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sink_rec rec = {0, 0, 0, 0, 1};
        jail_sink sink = {rec_begin, rec_page, &rec, rows[i].sink_text ? rec_text : NULL};
        char why[256] = "";
        c.text_layer = rows[i].layer;
        assert_int_equal(
            jail_render_pages(&c, rows[i].mode, rows[i].type, -1, &sink, why, sizeof why),
            JAIL_ERROR);
        assert_non_null(strstr(why, "text_layer"));
        assert_int_equal(rec.pages + rec.texts, 0);
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
        cmocka_unit_test(test_characters),
        cmocka_unit_test(test_no_layer),
        cmocka_unit_test(test_character_bound),
        cmocka_unit_test(test_coordinates_clamped),
        cmocka_unit_test(test_directions),
        cmocka_unit_test(test_word_width),
        cmocka_unit_test(test_font_per_document),
        cmocka_unit_test(test_no_text_no_font),
        cmocka_unit_test(test_writer_needs_layer),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_expansion_bound),
        cmocka_unit_test(test_word_bound),
        cmocka_unit_test(test_pages_without_text),
        cmocka_unit_test(test_hostile_content),
        cmocka_unit_test(test_document_word_bound),
        cmocka_unit_test(test_text_only_when_configured),
        cmocka_unit_test(test_ink),
        cmocka_unit_test(test_ink_keeps_the_rest),
        cmocka_unit_test(test_ink_glued),
        cmocka_unit_test(test_ink_vertical),
        cmocka_unit_test(test_ink_split_bound),
        cmocka_unit_test(test_ink_large_box),
        cmocka_unit_test(test_ink_hostile),
        cmocka_unit_test(test_ink_hostile_shapes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
