/*
 * sanitize/textlayer.c - the invisible text layer laid over page images:
 * the original's own text, checked, so that a flattened document can still
 * be searched and copied from.
 *
 * Runs in the sanitizer worker (trusted) on what the render jail sent: code
 * points and one box per character, which are hostile. Control, bidi, tag,
 * invisible, non- and replacement characters are dropped, compatibility forms
 * that generators emit for ordinary characters (Kangxi radicals, compatibility
 * ideographs, presentation forms) are NFKC-normalized, boxes are clamped to
 * the page, characters (after normalization) and words, per page and per
 * document (the font keeps the document's count), are bounded, and a
 * page whose characters and boxes differ in number gets no layer. Words are
 * drawn in text render mode 3 (invisible) with a matrix and horizontal scaling
 * that make each one cover its box, in its own direction (right, down, left or
 * up), so that selections follow the image. A character whose box shows no ink
 * on the page's pixels (all of it one colour: render mode 3, white on white,
 * covered, off the page; on a page all of grey, also one grey or one black in
 * the grey levels or the black and white the page may be written in) is left
 * out, and its word is split there, each part drawn over its own characters:
 * readers make links of URL-like text, and text nobody sees, even glued to
 * text that is seen, must not become something to click, find or copy.
 *
 * The font is the writer's own: a Type0 font (Identity-H) over a TrueType
 * program built here with two empty glyphs, every CID drawn with glyph 1, and
 * a ToUnicode CMap mapping every BMP code but the surrogates to itself; the
 * surrogate codes are given, per document, to the characters beyond the BMP
 * (bfchar entries, each to a whole character). It must never copy anything
 * from the original but validated code points, and never write text other
 * than as hex strings.
 */
#include <math.h>
#include <string.h>
#include <zlib.h>

#include <glib.h>

#include "mg.h"
#include "san_int.h"

#define TL_NAME "MugaiGlyphless"
#define TL_EXPAND 18u    /* most code points one character becomes under NFKC (U+FDFA) */
#define TL_WORD_MAX 512u /* most characters drawn with one matrix */
/* Most words on one page. Readers' text extraction grows faster than linearly in words that
 * are scattered over each other (pdftotext: about 1 s for 8,192 such words, 33 s for 50,000);
 * a dense page of real text has a few thousand. */
#define TL_PAGE_WORDS 8192u
#define TL_DOC_WORDS 262144u /* most words in one document: 500 pages of dense Latin text */
#define TL_ASTRAL_FIRST 0xD800u
#define TL_ASTRAL_MAX 0x800u /* codes D800..DFFF: characters beyond the BMP per document */
#define TL_ASCENT 0.8        /* of the em, as the font says: a word's box is one em high */
#define TL_DESCENT 0.2
#define TL_TZ_MIN 1.0 /* horizontal scaling bounds, percent */
#define TL_TZ_MAX 1000.0
#define TL_INK_MIN 24u /* a range of any channel from which a box shows something, of 255 */
#define TL_INK_GROW 1  /* pixels a character's box grows by on each side before it is looked at */
/* Most pixels read for one character: a larger box is sampled on a grid (its glyph is large). */
#define TL_INK_BOX_READS (1u << 20)
#define TL_INK_PAGE_READS 4u /* most pixels read for one page, in pages, plus one box's worth */
#define TL_INK_ROW 32u       /* pixels a row costs to start: a cache miss (rows lie far apart) */

/* A box in pixels. */
typedef struct tl_box {
    double x0, y0, x1, y1;
} tl_box;

/* One character as drawn: its box, clamped to the page, and the code points it became. */
typedef struct tl_char {
    tl_box box;
    size_t n;
} tl_char;

/* One word: code points first..first+n-1 of the page, made of characters chr..chr+units-1,
 * drawn from one box. */
typedef struct tl_word {
    size_t first, n;
    size_t chr;
    unsigned units;        /* characters (boxes) it was made of */
    double x0, y0, x1, y1; /* pixels, y down */
    int dir;               /* 0 right, 1 down, 2 left, 3 up */
} tl_word;

struct san_text_page {
    double width, height; /* pixels */
    GArray *cp;           /* uint32_t code points of all words */
    GArray *chars;        /* tl_char: the characters of all words, in the same order */
    GArray *words;        /* tl_word */
};

struct san_text_font {
    GHashTable *astral; /* code point beyond the BMP -> its code, both as GUINT_TO_POINTER */
    uint32_t codes[TL_ASTRAL_MAX];
    size_t ncodes;
    size_t words; /* drawn in the document so far */
};

/* ---- characters ---- */

/* Non-zero for the default-ignorable code points that are not format characters (those
 * mg_uchar_unsafe drops) and carry no meaning in the text (variation selectors, ZWJ and ZWNJ
 * do): fillers and reserved code points that show as nothing, and would hide in copied text. */
static int tl_invisible(uint32_t c)
{
    return c == 0x034F || c == 0x115F || c == 0x1160 || c == 0x17B4 || c == 0x17B5 || c == 0x3164 ||
           c == 0xFFA0 || (c >= 0xFFF0 && c <= 0xFFF8) ||
           (c >= 0xE0000 && c <= 0xE0FFF && (c < 0xE0100 || c > 0xE01EF));
}

/* Non-zero for a code point the layer never carries. */
static int tl_dropped(uint32_t c)
{
    return mg_uchar_unsafe(c) || tl_invisible(c) || c == 0xFFFD || c == 0xFFFC;
}

/* Non-zero for the compatibility forms that stand for an ordinary character: CJK radicals,
 * Kangxi radicals, compatibility ideographs, alphabetic, Arabic, vertical and small
 * presentation forms. Everything else keeps its identity (①, ㈱ and full-width letters are
 * what the reader sees). */
static int tl_compat_form(uint32_t c)
{
    return (c >= 0x2E80 && c <= 0x2FDF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFB00 && c <= 0xFDFF) || (c >= 0xFE10 && c <= 0xFE1F) ||
           (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFE70 && c <= 0xFEFF) ||
           (c >= 0x2F800 && c <= 0x2FA1F);
}

/* The code points character c becomes in the layer, into out; 0 when it is dropped. */
static size_t tl_expand(uint32_t c, uint32_t out[TL_EXPAND])
{
    char u[8];
    size_t k = 0;

    if (tl_dropped(c))
        return 0;
    if (!tl_compat_form(c)) {
        out[0] = c;
        return 1;
    }
    int n = g_unichar_to_utf8(c, u);
    char *nf = g_utf8_normalize(u, n, G_NORMALIZE_NFKC);
    for (const char *p = nf; p && *p && k < TL_EXPAND; p = g_utf8_next_char(p)) {
        gunichar d = g_utf8_get_char(p);
        if (!tl_dropped(d) && !g_unichar_isspace(d))
            out[k++] = d;
    }
    g_free(nf);
    return k;
}

/* Non-zero for letters of right-to-left scripts (Hebrew, Arabic, Syriac, Thaana, NKo...). */
static int tl_rtl(uint32_t c)
{
    return (c >= 0x0590 && c <= 0x08FF) || (c >= 0xFB1D && c <= 0xFDFF) ||
           (c >= 0xFE70 && c <= 0xFEFF) || (c >= 0x10800 && c <= 0x10FFF) ||
           (c >= 0x1E800 && c <= 0x1EFFF);
}

/* ---- boxes and words ---- */

/* Box i of raw in pixels, corners ordered, clamped to the page. */
static tl_box tl_box_at(const san_text_raw *raw, size_t i, double w, double h)
{
    const uint32_t *v = raw->box + i * 4;
    double x0 = v[0] / (double)RND_TEXT_UNIT, y0 = v[1] / (double)RND_TEXT_UNIT;
    double x1 = v[2] / (double)RND_TEXT_UNIT, y1 = v[3] / (double)RND_TEXT_UNIT;
    tl_box b = {fmin(x0, x1), fmin(y0, y1), fmax(x0, x1), fmax(y0, y1)};

    b.x0 = fmin(b.x0, w), b.x1 = fmin(b.x1, w);
    b.y0 = fmin(b.y0, h), b.y1 = fmin(b.y1, h);
    return b;
}

/* Direction from box a to box b, by their centres: 0 right, 1 down, 2 left, 3 up; -1 when
 * they share a centre. */
static int tl_pair_dir(const tl_box *a, const tl_box *b)
{
    double dx = (b->x0 + b->x1 - a->x0 - a->x1) / 2, dy = (b->y0 + b->y1 - a->y0 - a->y1) / 2;

    if (dx == 0 && dy == 0)
        return -1;
    if (fabs(dx) >= fabs(dy))
        return dx > 0 ? 0 : 2;
    return dy > 0 ? 1 : 3;
}

/* Non-zero when box b continues word w, whose last box is prev, in w's direction: no wide
 * gap or step back, the same line, a similar size. Sets w's direction at its second box. */
static int tl_joins(tl_word *w, const tl_box *prev, const tl_box *b)
{
    int d = tl_pair_dir(prev, b);

    if (w->units >= TL_WORD_MAX || (w->units >= 2 && d >= 0 && d != w->dir))
        return 0;
    if (d < 0)
        d = w->units >= 2 ? w->dir : 0;
    int horiz = d % 2 == 0;
    double sp = horiz ? prev->y1 - prev->y0 : prev->x1 - prev->x0;
    double sb = horiz ? b->y1 - b->y0 : b->x1 - b->x0;
    double s = fmax(fmax(sp, sb), 1.0);
    double gap = d == 0   ? b->x0 - prev->x1
                 : d == 1 ? b->y0 - prev->y1
                 : d == 2 ? prev->x0 - b->x1
                          : prev->y0 - b->y1;
    double cross = horiz ? (b->y0 + b->y1 - prev->y0 - prev->y1) / 2
                         : (b->x0 + b->x1 - prev->x0 - prev->x1) / 2;
    if (gap > 0.6 * s || gap < -s || fabs(cross) > 0.5 * s ||
        fmax(sp, sb) > 2 * fmax(fmin(sp, sb), 1.0))
        return 0;
    if (w->units == 1)
        w->dir = d;
    return 1;
}

/* Close word w: append it to words when it holds characters. */
static void tl_close(GArray *words, tl_word *w)
{
    if (w->n > 0)
        g_array_append_val(words, *w);
    memset(w, 0, sizeof *w);
}

/* Reverse word w's code points and, so that each still has its own, its characters. */
static void tl_reverse(san_text_page *t, const tl_word *w)
{
    uint32_t *cp = (uint32_t *)(void *)t->cp->data;
    tl_char *ch = (tl_char *)(void *)t->chars->data;

    for (size_t a = w->first, b = w->first + w->n - 1; a < b; a++, b--) {
        uint32_t x = cp[a];
        cp[a] = cp[b];
        cp[b] = x;
    }
    for (size_t a = w->chr, b = w->chr + w->units - 1; a < b; a++, b--) {
        tl_char x = ch[a];
        ch[a] = ch[b];
        ch[b] = x;
    }
}

/* Give every one-box word the direction of the nearest word before it that has one (or of
 * the first such word), and draw right-to-left words left to right in visual order. */
static void tl_settle_dirs(san_text_page *t)
{
    int dir = 0;
    uint32_t *cp = (uint32_t *)(void *)t->cp->data;

    for (guint i = 0; i < t->words->len; i++)
        if (g_array_index(t->words, tl_word, i).units >= 2) {
            dir = g_array_index(t->words, tl_word, i).dir;
            break;
        }
    for (guint i = 0; i < t->words->len; i++) {
        tl_word *w = &g_array_index(t->words, tl_word, i);
        if (w->units >= 2)
            dir = w->dir;
        else
            w->dir = dir;
        if (w->dir == 2 && tl_rtl(cp[w->first])) {
            w->dir = 0;
            tl_reverse(t, w);
        }
    }
}

/* Make word w's box cover box b too (be b, when w has no character yet). */
static void tl_cover(tl_word *w, const tl_box *b)
{
    if (w->units == 0) {
        w->x0 = b->x0, w->y0 = b->y0, w->x1 = b->x1, w->y1 = b->y1;
    } else {
        w->x0 = fmin(w->x0, b->x0), w->y0 = fmin(w->y0, b->y0);
        w->x1 = fmax(w->x1, b->x1), w->y1 = fmax(w->y1, b->y1);
    }
}

/* Add the code points of one character, in box b, to the open word w. */
static void tl_add(san_text_page *t, tl_word *w, const tl_box *b, const uint32_t *cp, size_t n)
{
    tl_char c = {*b, n};

    if (w->n == 0)
        w->first = t->cp->len, w->chr = t->chars->len;
    tl_cover(w, b);
    g_array_append_vals(t->cp, cp, (guint)n);
    g_array_append_val(t->chars, c);
    w->n += n;
    w->units++;
}

san_text_page *san_text_page_new(const san_text_raw *raw, unsigned width, unsigned height,
                                 size_t max)
{
    uint32_t seq[TL_EXPAND];
    tl_word w = {0};
    tl_box prev = {0, 0, 0, 0};

    if (!raw || raw->ncp == 0 || max == 0 || width == 0 || height == 0)
        return NULL;
    if (raw->ncp != raw->nbox) {
        mg_info("text layer: the renderer sent %zu characters but %zu boxes: the page gets no "
                "text layer",
                raw->ncp, raw->nbox);
        return NULL;
    }
    san_text_page *t = g_new0(san_text_page, 1);
    t->width = width, t->height = height;
    t->cp = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    t->chars = g_array_new(FALSE, FALSE, sizeof(tl_char));
    t->words = g_array_new(FALSE, FALSE, sizeof(tl_word));
    for (size_t i = 0; i < raw->ncp; i++) {
        if (g_unichar_isspace(raw->cp[i])) {
            tl_close(t->words, &w);
            continue;
        }
        size_t n = tl_expand(raw->cp[i], seq);
        if (n == 0)
            continue;
        if (t->cp->len + n > max)
            break;
        tl_box b = tl_box_at(raw, i, width, height);
        if (w.n > 0 && !tl_joins(&w, &prev, &b))
            tl_close(t->words, &w);
        if (w.n == 0 && t->words->len >= TL_PAGE_WORDS) {
            mg_info("text layer: the page has more than %u words: the rest is left out",
                    TL_PAGE_WORDS);
            break;
        }
        tl_add(t, &w, &b, seq, n);
        prev = b;
    }
    tl_close(t->words, &w);
    if (t->words->len == 0) {
        san_text_page_free(t);
        return NULL;
    }
    tl_settle_dirs(t);
    return t;
}

void san_text_page_free(san_text_page *t)
{
    if (!t)
        return;
    g_array_free(t->cp, TRUE);
    g_array_free(t->chars, TRUE);
    g_array_free(t->words, TRUE);
    g_free(t);
}

size_t san_text_page_chars(const san_text_page *t)
{
    return t ? t->cp->len : 0;
}

/* ---- ink: the characters the page shows ---- */

/* The range of each channel over the pixels of a box read so far. */
typedef struct tl_range {
    unsigned lo[3], hi[3];
} tl_range;

/* A page's pixels and what looking at them may still cost, counted in pixels fetched: a read
 * costs a pixel, or s in a box sampled on a grid of step s (the pixels it steps over along
 * the row are fetched with it), and starting a row TL_INK_ROW more, so that a box read down a
 * column (a cache miss a read) costs about the time it takes. */
typedef struct tl_ink {
    unsigned width, height;
    const uint8_t *rgb;
    int grey;      /* every pixel is grey: the page may be written with 4 levels or 2 */
    uint64_t left; /* pixels left to fetch */
    int out;       /* they ran out */
} tl_ink;

/* v, a pixel coordinate, as an integer within 0..max. */
static unsigned tl_pixel(double v, unsigned max)
{
    return v <= 0 ? 0 : v >= max ? max : (unsigned)v;
}

/* Non-zero when grey levels lo..hi of a box (lo <= hi) still differ once the page is written
 * with 4 levels, and once it is written in black and white: a difference a reader sees on the
 * original, such as very light grey type on white or a grey a little lighter on a dark grey
 * band, can be one grey or one black there, and its text would lie over nothing. Which of
 * the two the page gets is decided after, so both must keep it: light grey type between 200
 * and 212, and dark type on a fill darker than mid-grey, are left out even where 4 levels
 * would show them. */
static int tl_grey_shows(unsigned lo, unsigned hi)
{
    const unsigned step = 255u / (SAN_GREY_TEXT_LEVELS - 1); /* each level rounded to the nearest */

    return (lo + step / 2) / step != (hi + step / 2) / step && lo <= SAN_GREY_RIDGE_MAX &&
           hi >= SAN_GREY_INK_MID;
}

/* Non-zero when range g shows ink: a range of some channel of TL_INK_MIN or more, which on a
 * grey page (grey non-zero) the grey levels written keep. */
static int tl_shows(const tl_range *g, int grey)
{
    int ink = 0;

    for (int c = 0; c < 3; c++)
        ink |= g->hi[c] >= g->lo[c] + TL_INK_MIN;
    return ink && (!grey || tl_grey_shows(g->lo[0], g->hi[0]));
}

/* Take the n pixels of row, step pixels apart, into range g (the channels one by one, so that
 * the compiler keeps them in registers). */
static void tl_take(tl_range *g, const uint8_t *row, unsigned n, unsigned step)
{
    unsigned lr = g->lo[0], lg = g->lo[1], lb = g->lo[2];
    unsigned hr = g->hi[0], hg = g->hi[1], hb = g->hi[2];
    size_t d = (size_t)step * 3;

    for (unsigned i = 0; i < n; i++) {
        const uint8_t *p = row + i * d;
        lr = MIN(lr, p[0]), hr = MAX(hr, p[0]);
        lg = MIN(lg, p[1]), hg = MAX(hg, p[1]);
        lb = MIN(lb, p[2]), hb = MAX(hb, p[2]);
    }
    *g = (tl_range){{lr, lg, lb}, {hr, hg, hb}};
}

/* Read into g the grid of step s over box r (x0 y0 x1 y1, pixels, ends excluded), but for the
 * points of the grid of step 2s, read before, unless this is the first grid; a read costs
 * cost pixels. 1 once ink is seen (looked for after each row), -1 when the page's reads run
 * out first, else 0. */
static int tl_ink_grid(tl_ink *k, tl_range *g, const unsigned r[4], unsigned s, int first,
                       unsigned cost)
{
    unsigned j = 0;

    for (unsigned y = r[1]; y < r[3]; y += s, j++) {
        int all = first || j % 2;
        unsigned x = all ? r[0] : r[0] + s, step = all ? s : 2 * s;
        if (x >= r[2])
            continue;
        unsigned n = (r[2] - 1 - x) / step + 1;
        uint64_t need = (uint64_t)n * cost + TL_INK_ROW;
        if (k->left < need)
            return k->out = 1, -1;
        k->left -= need;
        tl_take(g, k->rgb + ((size_t)y * k->width + x) * 3, n, step);
        if (tl_shows(g, k->grey))
            return 1;
    }
    return 0;
}

/* Non-zero when box b shows ink in k's pixels: grown by TL_INK_GROW and clamped to the page,
 * it is not all one colour. Read coarse to fine, so that ink is found in a few reads; a box
 * of more than TL_INK_BOX_READS pixels is read on the finest grid within that. 0 for a box of
 * no area (off the page), and when the page's reads run out before ink is seen. */
static int tl_ink_box(tl_ink *k, const tl_box *b)
{
    if (!(b->x1 > b->x0 && b->y1 > b->y0))
        return 0;
    unsigned r[4] = {tl_pixel(floor(b->x0) - TL_INK_GROW, k->width),
                     tl_pixel(floor(b->y0) - TL_INK_GROW, k->height),
                     tl_pixel(ceil(b->x1) + TL_INK_GROW, k->width),
                     tl_pixel(ceil(b->y1) + TL_INK_GROW, k->height)};
    if (r[2] <= r[0] || r[3] <= r[1])
        return 0;
    unsigned bw = r[2] - r[0], bh = r[3] - r[1], fine = 1, s = 1;
    while ((uint64_t)((bw + fine - 1) / fine) * ((bh + fine - 1) / fine) > TL_INK_BOX_READS)
        fine *= 2;
    while (s * 2 < bw || s * 2 < bh)
        s *= 2;
    s = s > fine ? s : fine;
    tl_range g = {{255, 255, 255}, {0, 0, 0}};
    for (int first = 1; s >= fine; s /= 2, first = 0) {
        int rc = tl_ink_grid(k, &g, r, s, first, fine);
        if (rc != 0)
            return rc > 0;
    }
    return 0;
}

/* Where the glyph of a character with box b, in a word in direction dir, may be drawn: in b,
 * and for a word running down or up also in the next box's length along it. poppler gives a
 * character of vertical writing the box of a horizontal glyph at its text position: one
 * character before (and half of one beside) where the default vertical metrics draw it. */
static tl_box tl_glyph_box(const tl_box *b, int dir)
{
    tl_box g = *b;

    if (dir == 1)
        g.y1 += b->y1 - b->y0;
    else if (dir == 3)
        g.y0 -= b->y1 - b->y0;
    return g;
}

/* What the ink check keeps of a page: code points and characters, moved down in place (what
 * is kept never lies after what is still to be read), and the words they now form. */
typedef struct tl_kept {
    size_t cp, chars; /* kept so far */
    GArray *words;    /* tl_word, at most TL_PAGE_WORDS */
    tl_word part;     /* the word being formed: kept characters in a row of one word */
    int full;         /* a character was left out for want of room for its word */
} tl_kept;

/* Keep character c of a word in direction dir, its code points at from, in kp's open part. */
static void tl_keep(san_text_page *t, tl_kept *kp, const tl_char *c, size_t from, int dir)
{
    uint32_t *cp = (uint32_t *)(void *)t->cp->data;
    tl_word *p = &kp->part;

    if (p->n == 0)
        p->first = kp->cp, p->chr = kp->chars, p->dir = dir;
    tl_cover(p, &c->box);
    memmove(cp + kp->cp, cp + from, c->n * sizeof *cp);
    g_array_index(t->chars, tl_char, kp->chars) = *c;
    kp->cp += c->n, kp->chars++;
    p->n += c->n;
    p->units++;
}

/* Keep of word w the characters whose box shows ink in k, a part of w for each run of them
 * (in w's direction, each over its own characters), while the page has room for words.
 * Returns the code points left out. */
static size_t tl_ink_word(san_text_page *t, tl_ink *k, tl_kept *kp, const tl_word *w)
{
    size_t from = w->first, dropped = 0;

    for (unsigned u = 0; u < w->units; u++) {
        tl_char c = g_array_index(t->chars, tl_char, w->chr + u);
        tl_box g = tl_glyph_box(&c.box, w->dir);
        int room = kp->part.n > 0 || kp->words->len < TL_PAGE_WORDS;
        if (room && tl_ink_box(k, &g)) {
            tl_keep(t, kp, &c, from, w->dir);
        } else {
            kp->full |= !room;
            dropped += c.n;
            tl_close(kp->words, &kp->part);
        }
        from += c.n;
    }
    tl_close(kp->words, &kp->part);
    return dropped;
}

size_t san_text_page_ink(san_text_page *t, unsigned width, unsigned height, const uint8_t *rgb)
{
    /* No pixels: no ink. */
    tl_ink k = {.width = rgb ? width : 0, .height = rgb ? height : 0, .rgb = rgb};
    tl_kept kp = {0};
    size_t dropped = 0;

    if (!t)
        return 0;
    k.grey = san_rgb_grey(rgb, k.width, k.height, NULL);
    k.left = TL_INK_PAGE_READS * (uint64_t)k.width * k.height + TL_INK_BOX_READS;
    kp.words = g_array_sized_new(FALSE, FALSE, sizeof(tl_word), t->words->len);
    for (guint i = 0; i < t->words->len; i++)
        dropped += tl_ink_word(t, &k, &kp, &g_array_index(t->words, tl_word, i));
    if (k.out)
        mg_info("text layer: looking for the page's characters in its pixels took %u times its "
                "pixels: the characters left unchecked are left out",
                TL_INK_PAGE_READS);
    if (kp.full)
        mg_info("text layer: the page has more than %u words once split where it shows no ink: "
                "the rest is left out",
                TL_PAGE_WORDS);
    g_array_set_size(t->cp, (guint)kp.cp);
    g_array_set_size(t->chars, (guint)kp.chars);
    g_array_free(t->words, TRUE);
    t->words = kp.words;
    return dropped;
}

/* ---- the content stream ---- */

/* Append v with at most two decimals, without depending on the locale. */
static void tl_num(GString *out, double v)
{
    long long q = llround(v * 100);

    if (q < 0)
        g_string_append_c(out, '-'), q = -q;
    g_string_append_printf(out, "%lld", q / 100);
    if (q % 10)
        g_string_append_printf(out, ".%02lld", q % 100);
    else if (q % 100)
        g_string_append_printf(out, ".%lld", q % 100 / 10);
}

/* The code of c in font f: itself within the BMP, else a surrogate code given on first use;
 * -1 when f has no room left. */
static long tl_code(san_text_font *f, uint32_t c)
{
    if (c < 0x10000)
        return (long)c;
    gpointer v = g_hash_table_lookup(f->astral, GUINT_TO_POINTER(c));
    if (v)
        return (long)GPOINTER_TO_UINT(v);
    if (f->ncodes >= TL_ASTRAL_MAX)
        return -1;
    uint32_t code = TL_ASTRAL_FIRST + (uint32_t)f->ncodes;
    f->codes[f->ncodes++] = c;
    g_hash_table_insert(f->astral, GUINT_TO_POINTER(c), GUINT_TO_POINTER(code));
    return (long)code;
}

/* Append word w's hex string (without brackets) to out; returns the glyphs written. */
static size_t tl_hex(const san_text_page *t, const tl_word *w, san_text_font *f, GString *out)
{
    const uint32_t *cp = (const uint32_t *)(const void *)t->cp->data;
    size_t k = 0;

    for (size_t i = 0; i < w->n; i++) {
        long code = tl_code(f, cp[w->first + i]);
        if (code >= 0)
            g_string_append_printf(out, "%04lX", code), k++;
    }
    return k;
}

/* Append the operators that draw word w, k glyphs given as hex, at scale points per pixel;
 * *tz is the horizontal scaling in force. */
static void tl_word_ops(const san_text_page *t, const tl_word *w, size_t k, double scale,
                        double *tz, GString *out, const char *hex)
{
    int horiz = w->dir % 2 == 0;
    double ext = fmax(fmin(t->width, t->height), 1.0);
    double s = fmin(fmax(horiz ? w->y1 - w->y0 : w->x1 - w->x0, 1.0), ext);
    double len = horiz ? w->x1 - w->x0 : w->y1 - w->y0;
    double ox, oy, z = fmin(fmax(100.0 * len / ((double)k * s), TL_TZ_MIN), TL_TZ_MAX);
    /* The origin: where the first glyph's baseline starts, descent inside the box. */
    switch (w->dir) {
    case 0:
        ox = w->x0, oy = w->y1 - TL_DESCENT * s;
        break;
    case 1:
        ox = w->x0 + TL_DESCENT * s, oy = w->y0;
        break;
    case 2:
        ox = w->x1, oy = w->y0 + TL_DESCENT * s;
        break;
    default:
        ox = w->x1 - TL_DESCENT * s, oy = w->y1;
        break;
    }
    static const int m[4][4] = {{1, 0, 0, 1}, {0, -1, 1, 0}, {-1, 0, 0, -1}, {0, 1, -1, 0}};
    if (fabs(z - *tz) >= 0.005) {
        tl_num(out, z);
        g_string_append(out, " Tz\n");
        *tz = z;
    }
    for (int i = 0; i < 4; i++) {
        tl_num(out, m[w->dir][i] * s * scale);
        g_string_append_c(out, ' ');
    }
    tl_num(out, ox * scale);
    g_string_append_c(out, ' ');
    tl_num(out, (t->height - oy) * scale);
    g_string_append_printf(out, " Tm <%s> Tj\n", hex);
}

void san_text_page_content(const san_text_page *t, san_text_font *f, unsigned dpi, GString *out)
{
    double tz = 100.0, scale = 72.0 / (dpi ? dpi : 72);

    if (!t || !f || t->words->len == 0 || f->words >= TL_DOC_WORDS)
        return;
    GString *hex = g_string_new(NULL);
    g_string_append(out, "BT 3 Tr /" SAN_TEXT_FONT_RES " 1 Tf\n");
    for (guint i = 0; i < t->words->len && f->words < TL_DOC_WORDS; i++) {
        const tl_word *w = &g_array_index(t->words, tl_word, i);
        g_string_truncate(hex, 0);
        size_t k = tl_hex(t, w, f, hex);
        if (k == 0)
            continue;
        tl_word_ops(t, w, k, scale, &tz, out, hex->str);
        if (++f->words == TL_DOC_WORDS)
            mg_info("text layer: the document has %u words: the rest is left out", TL_DOC_WORDS);
    }
    g_string_append(out, "ET\n");
    g_string_free(hex, TRUE);
}

/* ---- the font ---- */

san_text_font *san_text_font_new(void)
{
    san_text_font *f = g_new0(san_text_font, 1);

    f->astral = g_hash_table_new(g_direct_hash, g_direct_equal);
    return f;
}

void san_text_font_free(san_text_font *f)
{
    if (!f)
        return;
    g_hash_table_destroy(f->astral);
    g_free(f);
}

/* Append a big-endian 16- or 32-bit value. */
static void be16(GString *s, unsigned v)
{
    g_string_append_c(s, (char)((v >> 8) & 0xff));
    g_string_append_c(s, (char)(v & 0xff));
}

static void be32(GString *s, uint32_t v)
{
    be16(s, v >> 16);
    be16(s, v & 0xffff);
}

/* Append a list of 16-bit values (negative ones as two's complement). */
static void be16s(GString *s, const int *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        be16(s, (unsigned)v[i] & 0xffff);
}

/* The sum of the big-endian 32-bit words of p, zero-padded (TrueType table checksum). */
static uint32_t tt_checksum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;

    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++)
            v = v << 8 | (i + j < n ? p[i + j] : 0);
        sum += v;
    }
    return sum;
}

/* head: one em of 1000 units, box 0 -200 1000 800, short loca offsets. */
static void tt_head(GString *s)
{
    static const int v[] = {0x0001, 0, 0x0001, 0, 0, 0,    0x5F0F, 0x3CF5, 0x000B, 1000, 0, 0, 0, 0,
                            0,      0, 0,      0, 0, -200, 1000,   800,    0,      3,    2, 0, 0};
    be16s(s, v, sizeof v / sizeof v[0]);
}

/* hhea: ascender 800, descender -200, two horizontal metrics. */
static void tt_hhea(GString *s)
{
    static const int v[] = {0x0001, 0, 800, -200, 0, 1000, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
    be16s(s, v, sizeof v / sizeof v[0]);
}

/* maxp 1.0: two glyphs without outlines. */
static void tt_maxp(GString *s)
{
    static const int v[] = {0x0001, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    be16s(s, v, sizeof v / sizeof v[0]);
}

/* hmtx: both glyphs one em wide; loca: both empty; glyf: nothing. */
static void tt_hmtx(GString *s)
{
    static const int v[] = {1000, 0, 1000, 0};
    be16s(s, v, sizeof v / sizeof v[0]);
}

static void tt_loca(GString *s)
{
    static const int v[] = {0, 0, 0};
    be16s(s, v, sizeof v / sizeof v[0]);
}

/* cmap: a format 4 subtable that maps the space to glyph 1. */
static void tt_cmap(GString *s)
{
    static const int v[] = {0, 1, 3,    1,      0, 12,   4,      32,     0, 4, 4,
                            1, 0, 0x20, 0xFFFF, 0, 0x20, 0xFFFF, 0xFFE1, 1, 0, 0};
    be16s(s, v, sizeof v / sizeof v[0]);
}

/* post 3.0: no glyph names. */
static void tt_post(GString *s)
{
    static const int v[] = {0x0003, 0, 0, 0, -100, 50, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    be16s(s, v, sizeof v / sizeof v[0]);
}

/* OS/2 version 4: regular weight, ascent 800, descent 200, installable. */
static void tt_os2(GString *s)
{
    static const int a[24] = {4, 1000, 400, 5, 0, 650, 600, 0, 75, 650, 600, 0, 350, 50, 300};
    static const int b[] = {0x0040, 0x20, 0x20, 800, -200, 0, 800,  200, 0,
                            1,      0,    0,    500, 800,  0, 0x20, 0};
    be16s(s, a, 16);                                    /* version .. sFamilyClass */
    g_string_append_len(s, "\0\0\0\0\0\0\0\0\0\0", 10); /* panose */
    be16s(s, a + 16, 8);                                /* ulUnicodeRange1..4 */
    g_string_append(s, "MUGA");                         /* achVendID */
    be16s(s, b, sizeof b / sizeof b[0]);
}

/* name: the family, style, unique, full, version and PostScript names, UTF-16BE. */
static void tt_name(GString *s)
{
    static const char *const str[] = {TL_NAME, "Regular", TL_NAME, TL_NAME, "Version 1.0", TL_NAME};
    const unsigned n = sizeof str / sizeof str[0];
    unsigned off = 0;

    be16(s, 0), be16(s, n), be16(s, 6 + 12 * n);
    for (unsigned i = 0; i < n; i++) {
        unsigned len = (unsigned)strlen(str[i]) * 2;
        be16(s, 3), be16(s, 1), be16(s, 0x0409), be16(s, i + 1), be16(s, len), be16(s, off);
        off += len;
    }
    for (unsigned i = 0; i < n; i++)
        for (const char *p = str[i]; *p; p++)
            be16(s, (unsigned char)*p);
}

/* The TrueType program: ten tables in tag order behind their directory. */
static GString *tt_font(void)
{
    static const struct {
        const char *tag;
        void (*make)(GString *);
    } tables[] = {{"OS/2", tt_os2},  {"cmap", tt_cmap}, {"glyf", NULL},    {"head", tt_head},
                  {"hhea", tt_hhea}, {"hmtx", tt_hmtx}, {"loca", tt_loca}, {"maxp", tt_maxp},
                  {"name", tt_name}, {"post", tt_post}};
    const unsigned n = sizeof tables / sizeof tables[0];
    GString *dir = g_string_new(NULL), *body = g_string_new(NULL);
    size_t head_at = 0;

    be32(dir, 0x00010000), be16(dir, n), be16(dir, 128), be16(dir, 3), be16(dir, n * 16 - 128);
    for (unsigned i = 0; i < n; i++) {
        size_t at = body->len;
        if (tables[i].make)
            tables[i].make(body);
        size_t len = body->len - at;
        while (body->len % 4)
            g_string_append_c(body, '\0');
        if (strcmp(tables[i].tag, "head") == 0)
            head_at = at;
        g_string_append_len(dir, tables[i].tag, 4);
        be32(dir, tt_checksum((const uint8_t *)body->str + at, len));
        be32(dir, (uint32_t)(12 + 16 * n + at));
        be32(dir, (uint32_t)len);
    }
    g_string_append_len(dir, body->str, (gssize)body->len);
    g_string_free(body, TRUE);
    uint32_t adj = 0xB1B0AFBAu - tt_checksum((const uint8_t *)dir->str, dir->len);
    uint8_t *p = (uint8_t *)dir->str + 12 + 16 * n + head_at + 8;
    p[0] = (uint8_t)(adj >> 24), p[1] = (uint8_t)(adj >> 16), p[2] = (uint8_t)(adj >> 8);
    p[3] = (uint8_t)adj;
    return dir;
}

/* Append a Flate stream of data (len bytes) with extra dictionary entries to obj. */
static void tl_stream(GString *obj, const char *extra, const void *data, size_t len)
{
    uLongf zlen = compressBound((uLong)len);
    Bytef *z = g_malloc(zlen);

    if (compress2(z, &zlen, data, (uLong)len, Z_BEST_COMPRESSION) != Z_OK)
        mg_panic("textlayer: cannot compress %zu bytes", len);
    g_string_append_printf(obj, "<< /Length %lu /Filter /FlateDecode%s >>\nstream\n",
                           (unsigned long)zlen, extra);
    g_string_append_len(obj, (const char *)z, (gssize)zlen);
    g_string_append(obj, "\nendstream\n");
    g_free(z);
}

/* The ToUnicode CMap: every BMP code but the surrogates to itself (ranges that stay within
 * one high byte, a hundred to a block), then f's surrogate codes to their characters. */
static GString *tl_tounicode(const san_text_font *f)
{
    GString *s = g_string_new("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                              "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 "
                              ">> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                              "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n");
    unsigned hi[256], n = 0;

    for (unsigned h = 0; h < 256; h++)
        if (h < 0xD8 || h > 0xDF)
            hi[n++] = h;
    for (unsigned i = 0; i < n; i += 100) {
        unsigned k = n - i < 100 ? n - i : 100;
        g_string_append_printf(s, "%u beginbfrange\n", k);
        for (unsigned j = i; j < i + k; j++)
            g_string_append_printf(s, "<%02X00> <%02XFF> <%02X00>\n", hi[j], hi[j], hi[j]);
        g_string_append(s, "endbfrange\n");
    }
    for (size_t i = 0; i < f->ncodes; i += 100) {
        size_t k = f->ncodes - i < 100 ? f->ncodes - i : 100;
        g_string_append_printf(s, "%zu beginbfchar\n", k);
        for (size_t j = i; j < i + k; j++) {
            uint32_t c = f->codes[j] - 0x10000;
            g_string_append_printf(s, "<%04X> <%04X%04X>\n", (unsigned)(TL_ASTRAL_FIRST + j),
                                   0xD800u + (c >> 10), 0xDC00u + (c & 0x3FF));
        }
        g_string_append(s, "endbfchar\n");
    }
    g_string_append(s, "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    return s;
}

void san_text_font_objects(const san_text_font *f, size_t first, GString *objs[SAN_TEXT_FONT_OBJS])
{
    GString *ttf = tt_font(), *cmap = tl_tounicode(f);
    char extra[48];
    uint8_t *gids = g_malloc(2 * 65536);

    for (size_t i = 0; i < SAN_TEXT_FONT_OBJS; i++)
        objs[i] = g_string_new(NULL);
    g_string_printf(objs[0],
                    "<< /Type /Font /Subtype /Type0 /BaseFont /" TL_NAME " /Encoding /Identity-H "
                    "/DescendantFonts [%zu 0 R] /ToUnicode %zu 0 R >>\n",
                    first + 1, first + 4);
    g_string_printf(objs[1],
                    "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /" TL_NAME " /CIDSystemInfo "
                    "<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor "
                    "%zu 0 R /DW 1000 /CIDToGIDMap %zu 0 R >>\n",
                    first + 2, first + 5);
    g_string_printf(objs[2],
                    "<< /Type /FontDescriptor /FontName /" TL_NAME " /Flags 4 /FontBBox [0 -200 "
                    "1000 800] /ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 800 /StemV 80 "
                    "/FontFile2 %zu 0 R >>\n",
                    first + 3);
    if (mg_snprintf(extra, sizeof extra, " /Length1 %zu", ttf->len) < 0)
        mg_panic("textlayer: font length does not fit");
    tl_stream(objs[3], extra, ttf->str, ttf->len);
    tl_stream(objs[4], "", cmap->str, cmap->len);
    for (size_t i = 0; i < 65536; i++)
        gids[2 * i] = 0, gids[2 * i + 1] = 1;
    tl_stream(objs[5], "", gids, 2 * 65536);
    g_free(gids);
    g_string_free(ttf, TRUE);
    g_string_free(cmap, TRUE);
}
