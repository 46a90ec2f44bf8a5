/*
 * sanitize/jbig2.c - JBIG2 generic-region encoder for bilevel page images.
 *
 * Run by the sanitizer worker (and sanitize-file) inside the trusted PDF
 * writer (pdfout.c), on a 1-bit image the writer made from pixels whose size
 * it has already bounded; the size is re-checked here. Nothing is parsed: the
 * coder only reads bits.
 *
 * It writes the embedded organisation of a JBIG2 page (ITU-T T.88, Annex D.3)
 * as PDF's JBIG2Decode filter takes it (PDF 1.7, 3.3.8): a page information
 * segment (type 48) and one immediate lossless generic region segment (type
 * 39) covering the page, with no file header, end-of-page or end-of-file
 * segment (PDF leaves those out; poppler refuses an end-of-page segment as
 * of an unknown type) and no JBIG2Globals. poppler and jbig2dec decode type
 * 38, the same segment not marked lossless, alike; 39 says what the region
 * is. The region is coded
 * with the MQ arithmetic coder (Annex E), template 0 with its default
 * adaptive pixels (16 pixels of context), without typical prediction: blank
 * stretches are coded as runs (jb2_white_run), so that on the benchmark's
 * text pages TPGDON saved no time (5.7 ms a page either way) and cost 0.05%
 * in size (it had halved the time before runs).
 *
 * Every reader that decodes JBIG2 at all decodes this part of it, the
 * simplest and best tested. This file must never write symbol dictionaries,
 * text, refinement, halftone or pattern segments, MMR data or globals.
 */
#include <stdlib.h>
#include <string.h>

#include "mg.h"
#include "san_int.h"

#define JB2_MAX_DIM 10000u /* as the PDF writer's pages */
#define JB2_PAD 4u         /* zero pixels on each side of an unpacked row */
#define JB2_CONTEXTS 65536u
#define JB2_RUN_MIN 8u /* white pixels worth coding as one run (see jb2_white_run) */
#define JB2_PAGE_INFO 19u
#define JB2_REGION_HEAD 26u /* region information 17, generic flags 1, adaptive pixels 8 */
#define JB2_SEG_PAGE_INFO 48u
#define JB2_SEG_GENERIC 39u /* immediate lossless generic region */

/* The MQ coder's probability estimates (T.88 Table E.1): Qe, the next state after an MPS
 * and after an LPS, and whether an LPS swaps the MPS. */
static const uint16_t jb2_qe[47] = {
    0x5601, 0x3401, 0x1801, 0x0AC1, 0x0521, 0x0221, 0x5601, 0x5401, 0x4801, 0x3801, 0x3001, 0x2401,
    0x1C01, 0x1601, 0x5601, 0x5401, 0x5101, 0x4801, 0x3801, 0x3401, 0x3001, 0x2801, 0x2401, 0x2201,
    0x1C01, 0x1801, 0x1601, 0x1401, 0x1201, 0x1101, 0x0AC1, 0x09C1, 0x08A1, 0x0521, 0x0441, 0x02A1,
    0x0221, 0x0141, 0x0111, 0x0085, 0x0049, 0x0025, 0x0015, 0x0009, 0x0005, 0x0001, 0x5601};
static const uint8_t jb2_nmps[47] = {1,  2,  3,  4,  5,  38, 7,  8,  9,  10, 11, 12, 13, 29, 15, 16,
                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
                                     33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 45, 46};
static const uint8_t jb2_nlps[47] = {1,  6,  9,  12, 29, 33, 6,  14, 14, 14, 17, 18, 20, 21, 14, 14,
                                     15, 16, 17, 18, 19, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
                                     30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 46};
static const uint8_t jb2_switch[47] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0,
                                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

/* The encoder: MQ coder registers (T.88 E.2), the output buffer and the contexts. */
typedef struct jb2 {
    uint32_t c;    /* code register */
    uint32_t a;    /* interval */
    unsigned ct;   /* shifts until the next byte out */
    unsigned b;    /* the byte being formed, not yet written (a carry may still reach it) */
    int started;   /* b holds a real byte (the first one formed is the coder's dummy) */
    int failed;    /* the output bound was reached or memory ran out */
    uint8_t **buf; /* output, grown as needed; the caller's */
    size_t *cap;
    size_t len;
    size_t max;               /* most output bytes the image can take (see jb2_bound) */
    uint8_t cx[JB2_CONTEXTS]; /* per context: state index, MPS in bit 7 */
    uint8_t *rows;            /* 3 unpacked rows of width + 2 * JB2_PAD pixels */
    uint8_t *any;             /* packed: ink in the row being coded or either row above */
} jb2;

/* Grow the output buffer (the caller's) towards e->max. 0 or -1. */
static int jb2_grow(jb2 *e)
{
    size_t cap = *e->cap < 4096 ? 4096 : *e->cap <= e->max / 2 ? *e->cap * 2 : e->max;
    uint8_t *p = realloc(*e->buf, cap);
    if (p == NULL)
        return -1;
    *e->buf = p;
    *e->cap = cap;
    return 0;
}

/* Append one byte to the output; past e->max bytes or out of memory, the encoder fails. */
static void jb2_put(jb2 *e, unsigned byte)
{
    if (e->failed || e->len >= e->max || (e->len == *e->cap && jb2_grow(e) < 0)) {
        e->failed = 1;
        return;
    }
    (*e->buf)[e->len++] = (uint8_t)byte;
}

/* Append a 32-bit big-endian number. */
static void jb2_put32(jb2 *e, uint32_t v)
{
    jb2_put(e, v >> 24);
    jb2_put(e, (v >> 16) & 0xff);
    jb2_put(e, (v >> 8) & 0xff);
    jb2_put(e, v & 0xff);
}

/* Overwrite the 32-bit big-endian number at off (already written). */
static void jb2_patch32(jb2 *e, size_t off, uint32_t v)
{
    uint8_t *p = *e->buf + off;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Move a finished byte out of the code register (BYTEOUT, T.88 E.2.8): after 0xFF only 7
 * bits go in the next byte, so that a carry can never propagate past it. */
static void jb2_byteout(jb2 *e)
{
    if (e->b != 0xff && e->c >= 0x8000000u) {
        e->b++; /* the carry; b was under 0xFF */
        if (e->b == 0xff)
            e->c &= 0x7ffffffu;
    }
    if (e->started)
        jb2_put(e, e->b);
    e->started = 1;
    if (e->b == 0xff) {
        e->b = e->c >> 20;
        e->c &= 0xfffffu;
        e->ct = 7;
    } else {
        e->b = e->c >> 19;
        e->c &= 0x7ffffu;
        e->ct = 8;
    }
}

/* The coder's registers while a row is coded, kept out of the encoder so that the compiler
 * holds them in registers (stores to the context bytes could otherwise alias them). */
typedef struct jb2_reg {
    uint32_t a, c;
    unsigned ct;
} jb2_reg;

/* Code decision d (0 or 1) in context cx (CODE0 / CODE1 with RENORME, T.88 E.2.3-E.2.7). */
static inline __attribute__((always_inline)) void jb2_code(jb2 *e, jb2_reg *r, unsigned cx,
                                                           unsigned d)
{
    unsigned s = e->cx[cx], i = s & 0x7f, mps = s >> 7;
    uint32_t qe = jb2_qe[i];
    r->a -= qe;
    if (d == mps) {
        if (r->a & 0x8000) {
            r->c += qe;
            return;
        }
        if (r->a < qe)
            r->a = qe;
        else
            r->c += qe;
        e->cx[cx] = (uint8_t)(jb2_nmps[i] | mps << 7);
    } else {
        if (r->a < qe)
            r->c += qe;
        else
            r->a = qe;
        e->cx[cx] = (uint8_t)(jb2_nlps[i] | (mps ^ jb2_switch[i]) << 7);
    }
    do {
        r->a <<= 1;
        r->c <<= 1;
        if (--r->ct == 0) {
            e->c = r->c;
            jb2_byteout(e);
            r->c = e->c;
            r->ct = e->ct;
        }
    } while (!(r->a & 0x8000));
}

/* End the coded data (FLUSH, T.88 E.2.9): the shortest tail that decodes the same, then
 * the 0xFF 0xAC marker. */
static void jb2_flush(jb2 *e)
{
    uint32_t top = e->c + e->a;
    e->c |= 0xffff;
    if (e->c >= top)
        e->c -= 0x8000;
    e->c <<= e->ct;
    jb2_byteout(e);
    e->c <<= e->ct;
    jb2_byteout(e);
    if (e->b != 0xff)
        jb2_put(e, e->b);
    jb2_put(e, 0xff);
    jb2_put(e, 0xac);
}

/* Write a segment header: number, type, no referred-to segments, page 1, data length. */
static void jb2_segment(jb2 *e, uint32_t number, unsigned type, uint32_t length)
{
    jb2_put32(e, number);
    jb2_put(e, type); /* page association in one byte, not deferred */
    jb2_put(e, 0);    /* no referred-to segments, no retention bits */
    jb2_put(e, 1);    /* PDF numbers every embedded page 1 */
    jb2_put32(e, length);
}

/* Write the page information segment (T.88 7.4.8): size, resolution in pixels per metre,
 * eventually lossless, white by default, OR combination, no striping. */
static void jb2_page_info(jb2 *e, unsigned width, unsigned height, unsigned dpi)
{
    uint32_t ppm = (uint32_t)(((unsigned long)dpi * 10000u + 127u) / 254u);
    jb2_segment(e, 0, JB2_SEG_PAGE_INFO, JB2_PAGE_INFO);
    jb2_put32(e, width);
    jb2_put32(e, height);
    jb2_put32(e, ppm);
    jb2_put32(e, ppm);
    jb2_put(e, 0x01);
    jb2_put(e, 0);
    jb2_put(e, 0);
}

/* Write the generic region segment's header and fixed fields (T.88 7.4.6): the region is
 * the whole page; arithmetic coding, template 0, no typical prediction, the default adaptive
 * pixels (3,-1), (-3,-1), (2,-2), (-2,-2). The data length is patched in afterwards. */
static void jb2_region_head(jb2 *e, unsigned width, unsigned height)
{
    static const uint8_t at[8] = {3, 0xff, 0xfd, 0xff, 2, 0xfe, 0xfe, 0xfe};
    jb2_segment(e, 1, JB2_SEG_GENERIC, 0);
    jb2_put32(e, width);
    jb2_put32(e, height);
    jb2_put32(e, 0);
    jb2_put32(e, 0);
    jb2_put(e, 0); /* external combination operator: OR */
    jb2_put(e, 0); /* MMR 0, GBTEMPLATE 0, TPGDON 0 */
    for (size_t i = 0; i < sizeof at; i++)
        jb2_put(e, at[i]);
}

/* Unpack one packed row (most significant bit first) into one byte (0 or 1) per pixel.
 * Eight at a time: the multiplication puts a copy of the byte every 9 bits, so that bit
 * 7 - k of it lands on bit 8k + 7 of the product, the top of byte k. */
static void jb2_unpack(uint8_t *out, const uint8_t *bits, unsigned width)
{
    unsigned x = 0;
    for (; x + 8 <= width; x += 8, bits++) {
        uint64_t v = ((*bits * 0x8040201008040201ull) >> 7) & 0x0101010101010101ull;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        memcpy(out + x, &v, 8);
    }
    for (unsigned k = 0; x < width; x++, k++)
        out[x] = (uint8_t)(*bits >> (7 - k) & 1);
}

/* Code n white pixels in context 0 (a window without ink). While no renormalisation is due,
 * coding the MPS only moves Qe from the interval to the code register, so the steps before
 * the next renormalisation are taken at once: blank stretches of a row cost a division
 * each instead of a decision per pixel, with the same output. */
static void jb2_white_run(jb2 *e, jb2_reg *r, unsigned n)
{
    while (n > 0) {
        unsigned s = e->cx[0];
        if (s >> 7 == 0) {
            uint32_t qe = jb2_qe[s & 0x7f], m = (r->a - 0x8000) / qe; /* a >= 0x8000 here */
            if (m >= n) {
                r->a -= n * qe;
                r->c += n * qe;
                return;
            }
            r->a -= m * qe;
            r->c += m * qe;
            n -= m;
        }
        jb2_code(e, r, 0, 0);
        n--;
    }
}

/* The first pixel at or after x with ink in any (packed), or width when there is none. */
static unsigned jb2_next_ink(const uint8_t *any, unsigned x, unsigned width)
{
    size_t i = x >> 3, n = ((size_t)width + 7) / 8;
    unsigned v = any[i] & (0xffu >> (x & 7));
    while (v == 0) {
        if (++i == n)
            return width;
        v = any[i];
    }
    size_t p = i * 8 + (size_t)__builtin_clz(v) - 24;
    return p < width ? (unsigned)p : width;
}

/* Code the pixels of one row, cur, under up1 and up2 (the rows above; all padded). Template
 * 0's context, built as the row goes: bits 0-3 the four pixels to the left (nearest in bit
 * 0), 4-10 the row above from x + 3 to x - 3, 11-15 the row above that from x + 2 to
 * x - 2 (T.88 6.2.5.3, Figure 3; the AT pixels are (x + 3, y - 1), (x - 3, y - 1),
 * (x + 2, y - 2), (x - 2, y - 2)). */
static void jb2_row(jb2 *e, const uint8_t *cur, const uint8_t *up1, const uint8_t *up2,
                    unsigned width)
{
    jb2_reg r = {e->a, e->c, e->ct};
    unsigned cx = 0, next = 0;
    /* Slide the window in from the left edge, over the padding. */
    for (int x = -3; x < 0; x++)
        cx = ((cx << 1) & 0xf7ee) | cur[x - 1] | (unsigned)up1[x + 3] << 4 |
             (unsigned)up2[x + 2] << 11;
    for (unsigned x = 0; x < width; x++) {
        cx = ((cx << 1) & 0xf7ee) | cur[(int)x - 1] | (unsigned)up1[x + 3] << 4 |
             (unsigned)up2[x + 2] << 11;
        if (cx == 0 && x >= next) {
            /* From x up to 3 pixels before the next ink in any of the three rows, every
             * pixel is white in context 0 (the right edge's padding is white). */
            unsigned ink = jb2_next_ink(e->any, x, width);
            unsigned stop = ink == width ? width : ink >= 3 ? ink - 3 : 0;
            if (stop >= x + JB2_RUN_MIN) {
                jb2_white_run(e, &r, stop - x);
                x = stop - 1; /* cx stays 0: the window is still white */
                continue;
            }
            next = ink + 1;
        }
        jb2_code(e, &r, cx, cur[x]);
    }
    e->a = r.a;
    e->c = r.c;
    e->ct = r.ct;
}

/* any = row | up1 | up2 (packed rows of width pixels; up1 and up2 NULL above the image). */
static void jb2_any(uint8_t *any, const uint8_t *row, const uint8_t *up1, const uint8_t *up2,
                    unsigned width)
{
    size_t n = ((size_t)width + 7) / 8;
    memcpy(any, row, n);
    for (size_t i = 0; up1 && i < n; i++)
        any[i] |= up1[i];
    for (size_t i = 0; up2 && i < n; i++)
        any[i] |= up2[i];
}

/* Code the generic region, row by row (INITENC: an empty interval of 0x8000), and end it. */
static void jb2_region(jb2 *e, const uint8_t *bits, size_t stride, unsigned width, unsigned height)
{
    size_t rw = (size_t)width + 2 * JB2_PAD;
    uint8_t *r[3] = {e->rows + JB2_PAD, e->rows + rw + JB2_PAD, e->rows + 2 * rw + JB2_PAD};
    e->a = 0x8000;
    e->ct = 12;
    for (unsigned y = 0; y < height && !e->failed; y++) {
        uint8_t *cur = r[y % 3], *up1 = r[(y + 2) % 3], *up2 = r[(y + 1) % 3];
        const uint8_t *row = bits + (size_t)y * stride;
        jb2_unpack(cur, row, width);
        jb2_any(e->any, row, y > 0 ? row - stride : NULL, y > 1 ? row - 2 * stride : NULL, width);
        jb2_row(e, cur, up1, up2, width);
    }
    jb2_flush(e);
}

/* The most bytes a width x height image can code to, one decision a pixel: a decision shifts
 * the interval at most 15 times, a byte holds at least 7 of those shifts; plus the segments
 * and the flush. 0 when that does not fit a size_t. */
static size_t jb2_bound(unsigned width, unsigned height)
{
    size_t n = (size_t)width * height;
    if (n > (SIZE_MAX - 256) / 15)
        return 0;
    return n * 15 / 7 + 256;
}

int san_jbig2_encode(const uint8_t *bits, size_t stride, unsigned width, unsigned height,
                     unsigned dpi, uint8_t **buf, size_t *cap, size_t *len)
{
    if (bits == NULL || buf == NULL || cap == NULL || len == NULL || width == 0 || height == 0 ||
        width > JB2_MAX_DIM || height > JB2_MAX_DIM || stride < ((size_t)width + 7) / 8 ||
        dpi == 0 || dpi > 100000u) {
        mg_error("jbig2: bad image %ux%u (stride %zu, %u dpi)", width, height, stride, dpi);
        return -1;
    }
    jb2 *e = calloc(1, sizeof *e);
    size_t rw = (size_t)width + 2 * JB2_PAD;
    if (e == NULL || (e->rows = calloc(3, rw)) == NULL ||
        (e->any = malloc(((size_t)width + 7) / 8)) == NULL) {
        mg_error("jbig2: out of memory");
        if (e)
            free(e->rows);
        free(e);
        return -1;
    }
    e->buf = buf;
    e->cap = cap;
    e->max = jb2_bound(width, height);
    jb2_page_info(e, width, height, dpi);
    size_t head = e->len;
    jb2_region_head(e, width, height);
    size_t data = e->len;
    jb2_region(e, bits, stride, width, height);
    int rc = e->failed || e->max == 0 ? -1 : 0;
    if (rc == 0)
        jb2_patch32(e, head + 7, (uint32_t)(e->len - data + JB2_REGION_HEAD));
    else
        mg_error("jbig2: cannot code a %ux%u image: out of memory or over %zu bytes", width, height,
                 e->max);
    *len = rc == 0 ? e->len : 0;
    free(e->rows);
    free(e->any);
    free(e);
    return rc;
}
