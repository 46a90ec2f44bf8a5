/*
 * sanitize/pdfout.c - image-only PDF 1.4 writer for the trusted side.
 *
 * Run by the sanitizer worker (and sanitize-file) after the render jail has
 * delivered raw pixels. It never sees untrusted bytes other than pixel values
 * whose dimensions the caller has already bounded, and it re-checks them.
 * Nothing is parsed here: the encoders only read pixels.
 *
 * Pages are written to the fd as they arrive: one image XObject, its length, a
 * content stream and the page object. Only object offsets are kept, so memory
 * is flat in the page count. The Pages object number is reserved up front and
 * its Kids array written at the end, followed by the xref table and trailer.
 * A Flate image is compressed whole by libdeflate, in zlib format (what
 * /FlateDecode reads): its rows as the stream holds them and their compressed
 * form are two buffers kept from page to page, each a little over 300 MB for
 * the largest page taken (10000 x 10000 RGB with predictors), less for others.
 * On the benchmark's text pages this takes a quarter less CPU than zlib's
 * streaming deflate did at level 4 (11.5 against 15 ms a page) and comes out
 * 5% smaller.
 *
 * Each page image is encoded by what it holds, measured on the page itself:
 *   - at most 256 colours (counted exactly over every pixel): lossless, as
 *     DeviceGray at 1, 2, 4 or 8 bits when the grey levels are the ones that
 *     depth represents, else /Indexed (DeviceGray or DeviceRGB base) at 1, 2,
 *     4 or 8 bits per index;
 *   - text: anti-aliased text has up to 256 grey levels (and, in colour, more
 *     than 256 colours), almost all of them on the edges of strokes. A page is
 *     text when, in every sampled band, under PDFW_TEXT_GENTLE per mille of the
 *     pixels lie on a gentle slope (a neighbour differs by 1..PDFW_GENTLE_MAX):
 *     the benchmark's text pages peak at 34-36 per mille, its scanned photos at
 *     990, so a photograph wider than about a tenth of the page in any band
 *     keeps the page off this path. Colour text is reduced to 16 levels per
 *     channel (/Indexed, when that leaves at most 256 colours). Grey text is
 *     made bilevel and coded as JBIG2 (jbig2.c), or, with [render] text_pages
 *     = grey, reduced to 4 levels (DeviceGray, 2 bits). Measured on the
 *     benchmark's Japanese text pages (IPAex Mincho 10.5 pt at 150 dpi as
 *     mugai-render draws them; Flate size per page at PDFW_ZLEVEL, mean
 *     absolute error against the rendering; Dangerzone's output is 533 KB
 *     per page):
 *         256 levels 232 KB;  16 levels 157 KB (0.48);  8 levels 130 KB (1.0);
 *         4 levels 91 KB (2.4);  3 levels 79 KB (3.3);  2 levels 54 KB (7.0).
 *     Rounding to the nearest level keeps every pixel on its side of mid-grey,
 *     so down to 3 levels the strokes are those rendered, only their edges
 *     coarser; at 2 levels (1 bit) thin Mincho strokes break (the horizontals
 *     of 前 and 年 go), and CCITT G4 of those 1-bit pixels is no smaller
 *     (54 KB). The bilevel page keeps such strokes as ridges, one pixel
 *     thick (pdfw_bilevel_row), and takes 57 KB with Flate, 32 KB as a JBIG2
 *     generic region, against 92 KB in 4 levels, for about the same writer
 *     CPU (bench/run pdfout). JBIG2 decoders in readers have a poor security
 *     record, in parts never written here (FORCEDENTRY, 2021, went through
 *     symbol dictionaries, text regions and refinement): a reader opening
 *     these files runs only its generic-region decoder, the simplest and
 *     best-tested part. A grey page with areas of flat grey or light lines
 *     keeps 4 levels, one with flat grey too light for 4 levels (a pale shaded
 *     cell or watermark) 16 (see pdfw_grey_text_page);
 *   - anything else (photographs, scans, gradients, mixed pages) is encoded
 *     both ways on a sample of bands: lossless Flate (8-bit grey or RGB) and
 *     JPEG (libjpeg-turbo, quality PDFW_JPEG_QUALITY, 4:2:0). JPEG is used when
 *     it comes out under 1 / PDFW_JPEG_GAIN of the lossless size: a scanned
 *     photograph is 10 times smaller so, a smooth gradient about 3 times. On
 *     the scanned-photo benchmark's pages, JPEG at quality 50, 75, 85 takes
 *     113, 213, 323 KB per page (Dangerzone 3.7 MB) and the signs and captions
 *     in it stay legible down to 50; 80 (257 KB, mean error 2.7) leaves room
 *     for smaller type.
 * Flate streams use PNG predictors only when a sample of bands says they help,
 * compressed at level 1 by the same compressor: on the text pages the sample
 * without them is 8% smaller, as the whole page is by 11% at PDFW_ZLEVEL.
 *
 * A page may also carry its original's text as an invisible layer (text
 * render mode 3) in the writer's own glyph-less font, built from checked code
 * points by textlayer.c; the font's objects are written once, at the end.
 *
 * It must never write anything but images and that layer: no other fonts,
 * annotations, actions, JavaScript, forms or metadata streams.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <libdeflate.h>
#include <zlib.h>
#include <glib.h>

#include "mg.h"
#include "san_int.h"

#define PDFW_BUF 65536
#define PDFW_MAX_DIM 10000u
#define PDFW_MAX_DPI 2400u
#define PDFW_ZLEVELS 13 /* libdeflate's levels, 0 to 12 */
/* Bytes of rows in the largest Flate stream: PDFW_MAX_DIM rows of RGB, a predictor byte each. */
#define PDFW_ZIN_MAX ((size_t)PDFW_MAX_DIM * (PDFW_MAX_DIM * 3u + 1u))
/* libdeflate's level. bench/run pdfout, text pages: 11.5 ms and 92 KB a page; 4 is 3% larger
 * and 15% faster, 7 1% smaller and 20% slower, 9 4% smaller and 2.4 times as slow. */
#ifndef PDFW_ZLEVEL
#define PDFW_ZLEVEL 6
#endif
#define PDFW_BAND 8u   /* rows per band when sampling a page */
#define PDFW_JBAND 16u /* rows per band of a JPEG sample: one row of 4:2:0 blocks */
#define PDFW_SAMPLE 8u /* sample one band in PDFW_SAMPLE */
#define PDFW_PAL_MAX 256u
#define PDFW_HASH 1024u /* slots of the colour table: a power of two, 4 x PDFW_PAL_MAX */
#ifndef PDFW_JPEG_QUALITY
#define PDFW_JPEG_QUALITY 80
#endif
#define PDFW_JPEG_GAIN 3u /* JPEG only when under a third of the lossless size */
#ifndef PDFW_GENTLE_MAX
#define PDFW_GENTLE_MAX 16u /* largest neighbour difference that is a gentle slope */
#endif
#define PDFW_TEXT_GENTLE                                                                           \
    120u /* per mille of gentle-slope pixels in a band under which it is text */
#define PDFW_TEXT_LEVELS SAN_GREY_TEXT_LEVELS /* grey levels kept on a page of grey text */
#define PDFW_PALE_LEVELS 16u   /* ...and on one with flat grey lighter than PDFW_LIGHT_MAX */
#define PDFW_COLOUR_LEVELS 16u /* levels per channel kept on a page of colour text */
#ifndef PDFW_INK_MID
#define PDFW_INK_MID SAN_GREY_INK_MID /* a bilevel page's ink: grey levels under this... */
#endif
#ifndef PDFW_RIDGE_MAX
#define PDFW_RIDGE_MAX SAN_GREY_RIDGE_MAX /* ...and ridges at or under this */
#endif
#define PDFW_FILL_MIN 48u     /* flat grey between these levels is a fill... */
#define PDFW_FILL_MAX 240u    /* ...that bilevel would lose */
#define PDFW_LIGHT_MAX 212u   /* a stroke lighter than a ridge, up to this, 4 levels keep */
#define PDFW_FILL_PAGE 10000u /* one pixel of fill or light stroke in this many: page grey */
#define PDFW_OBJ_CATALOG 1u
#define PDFW_OBJ_PAGES 2u
#define PDFW_OBJ_INFO 3u
#define PDFW_OBJS_PER_PAGE 4u /* image, image length, content, page */
#define PDFW_OBJ_FONT 4u      /* with a text layer: SAN_TEXT_FONT_OBJS objects of its font */

/* How one page image is encoded. */
typedef enum {
    PDFW_GRAY,    /* DeviceGray, samples = lut[grey level] */
    PDFW_INDEXED, /* /Indexed over pal; grey pages index through lut, colour ones by table */
    PDFW_RGB,     /* DeviceRGB, 8 bits */
    PDFW_JPEG,    /* DCTDecode, 1 or 3 components */
    PDFW_JBIG2    /* JBIG2Decode of the page made bilevel (w->bw), DeviceGray 1 bit */
} pdfw_kind;

typedef struct pdfw_enc {
    pdfw_kind kind;
    int gray;         /* every pixel has r == g == b (after reduction, when reduced) */
    int reduce;       /* colour text: channels go through lut before the colour table */
    int predict;      /* Flate with PNG predictors */
    int estimated;    /* predict was chosen by measuring */
    int bilevel;      /* the samples are w->bw, the page made bilevel */
    unsigned bits;    /* bits per sample or index */
    unsigned ncomp;   /* samples per pixel in the stream: 1 or 3 */
    unsigned npal;    /* colours in pal */
    uint8_t lut[256]; /* grey level (or channel value) -> sample, index or reduced value */
    uint8_t pal[PDFW_PAL_MAX * 3];
} pdfw_enc;

/* A page made bilevel, coded as JBIG2 by a thread of its own while the caller goes on to the
 * next page (reading it, checking its text, making it bilevel); its image object is written
 * when the coding is over, before the next such page is handed over or the file ends. */
typedef struct pdfw_job {
    pthread_t thread;
    int pending;  /* a page was handed over and its object is not yet written */
    int threaded; /* ...and a thread codes it, not yet joined */
    size_t img;   /* the page's image object (its length is the next) */
    unsigned width, height, dpi;
    pdfw_enc enc;  /* the page's encoding, for its image dictionary */
    uint8_t *bits; /* the page, as w->bw holds it (the two are swapped at each hand-over) */
    size_t bits_cap;
    uint8_t *data; /* its JBIG2 stream, grown by san_jbig2_encode */
    size_t data_cap;
    size_t len;
    int rc;
} pdfw_job;

struct pdfw {
    int fd;
    unsigned dpi;
    int failed;
    int discard;     /* compress for size only: output is dropped */
    size_t pos;      /* bytes written to fd so far (buffer included) */
    size_t buf_len;  /* bytes pending in buf */
    size_t *offsets; /* offsets[n] = byte offset of object n; [0] unused */
    size_t nobj;     /* highest object number written or reserved */
    size_t cap;
    unsigned npages;
    int text_layer;            /* pages may carry text: the font's objects are reserved */
    int grey_text;             /* grey text pages as 4 grey levels, not bilevel JBIG2 */
    san_text_font *font;       /* the text layer's font, from the first page with text */
    const san_text_page *text; /* the text of the page being added (borrowed), or NULL */
    uint8_t *rows;             /* 7 row buffers for the predictor: prev, cur, 5 candidates */
    size_t row_cap;
    size_t jpeg_len;          /* bytes the JPEG encoder has produced */
    pdfw_enc enc;             /* the current page's encoding */
    uint32_t hkey[PDFW_HASH]; /* colour table: 0xRRGGBB + 1, 0 when free */
    uint8_t hidx[PDFW_HASH];  /* the colour's index in enc.pal */
    /* Flate compressors by level, allocated on first use. */
    struct libdeflate_compressor *zc[PDFW_ZLEVELS];
    uint8_t *zin; /* a page's rows as its Flate stream holds them */
    size_t zin_cap;
    uint8_t *zdata; /* those rows compressed */
    size_t zdata_cap;
    uint8_t *bw; /* a text page made bilevel: rows of (width + 7) / 8 bytes, 1 = ink */
    size_t bw_cap;
    pdfw_job job; /* the last such page, being coded */
    uint8_t buf[PDFW_BUF];
    uint8_t zout[PDFW_BUF];
};

/* Send the pending buffer to the fd. */
static int pdfw_flush(pdfw *w)
{
    if (w->buf_len == 0)
        return 0;
    if (mg_write_all(w->fd, w->buf, w->buf_len) < 0) {
        mg_error("pdfout: write failed");
        w->failed = 1;
        return -1;
    }
    w->buf_len = 0;
    return 0;
}

/* Append len bytes to the output, through the buffer. */
static int pdfw_put(pdfw *w, const void *data, size_t len)
{
    if (len > PDFW_BUF - w->buf_len && pdfw_flush(w) < 0)
        return -1;
    if (len >= PDFW_BUF) {
        if (mg_write_all(w->fd, data, len) < 0) {
            mg_error("pdfout: write failed");
            w->failed = 1;
            return -1;
        }
    } else {
        memcpy(w->buf + w->buf_len, data, len);
        w->buf_len += len;
    }
    w->pos += len;
    return 0;
}

/* Append formatted text; the fragments here are all short. */
static int pdfw_printf(pdfw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pdfw_printf(pdfw *w, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        mg_error("pdfout: formatting overflow");
        w->failed = 1;
        return -1;
    }
    return pdfw_put(w, tmp, (size_t)n);
}

/* Make room for object numbers up to n in the offset table. */
static int pdfw_reserve(pdfw *w, size_t n)
{
    if (n < w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 64;
    while (cap <= n) {
        if (cap > SIZE_MAX / 2 / sizeof *w->offsets)
            return -1;
        cap *= 2;
    }
    size_t *p = realloc(w->offsets, cap * sizeof *p);
    if (p == NULL) {
        mg_error("pdfout: out of memory");
        w->failed = 1;
        return -1;
    }
    memset(p + w->cap, 0, (cap - w->cap) * sizeof *p);
    w->offsets = p;
    w->cap = cap;
    return 0;
}

/* Record the current position as object n and write its header. */
static int pdfw_begin_obj(pdfw *w, size_t n)
{
    if (pdfw_reserve(w, n) < 0)
        return -1;
    w->offsets[n] = w->pos;
    if (n > w->nobj)
        w->nobj = n;
    return pdfw_printf(w, "%zu 0 obj\n", n);
}

/* Write a page dimension in points, pixels * 72 / dpi, with up to 4 decimals. */
static int pdfw_fmt_pt(char *out, size_t len, unsigned px, unsigned dpi)
{
    unsigned long long num = (unsigned long long)px * 72u * 10000u / dpi;
    unsigned long long ip = num / 10000u, fp = num % 10000u;
    int n = fp ? snprintf(out, len, "%llu.%04llu", ip, fp) : snprintf(out, len, "%llu", ip);
    if (n < 0 || (size_t)n >= len)
        return -1;
    /* Trim trailing zeros of the fraction. */
    while (fp && out[n - 1] == '0')
        out[--n] = '\0';
    return 0;
}

/* Start a PDF on fd (borrowed); dpi sets the page size. Caller frees with pdfw_free. */
pdfw *pdfw_new(int fd, unsigned dpi)
{
    if (fd < 0 || dpi == 0 || dpi > PDFW_MAX_DPI) {
        mg_error("pdfout: bad fd or dpi %u", dpi);
        return NULL;
    }
    pdfw *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->fd = fd;
    w->dpi = dpi;
    w->nobj = PDFW_OBJ_INFO;
    /* The binary comment marks the file as binary for transfer tools. */
    if (pdfw_put(w, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 15) < 0 ||
        pdfw_begin_obj(w, PDFW_OBJ_CATALOG) < 0 ||
        pdfw_printf(w, "<< /Type /Catalog /Pages %u 0 R >>\nendobj\n", PDFW_OBJ_PAGES) < 0 ||
        pdfw_begin_obj(w, PDFW_OBJ_INFO) < 0 ||
        pdfw_printf(w, "<< /Producer (mugai) >>\nendobj\n") < 0) {
        pdfw_free(w);
        return NULL;
    }
    return w;
}
/* ---- measuring a page ---- */

/* Bits per index for n palette entries: 1, 2, 4 or 8. */
static unsigned pdfw_bits(unsigned n)
{
    return n <= 2 ? 1 : n <= 4 ? 2 : n <= 16 ? 4 : 8;
}

/* Index of colour c (0xRRGGBB) in e->pal, adding it when new; -1 when the palette is full. */
static int pdfw_colour(pdfw *w, pdfw_enc *e, uint32_t c)
{
    uint32_t h = (c * 2654435761u) >> 22;
    while (w->hkey[h] != 0) {
        if (w->hkey[h] == c + 1)
            return w->hidx[h];
        h = (h + 1) & (PDFW_HASH - 1);
    }
    if (e->npal == PDFW_PAL_MAX)
        return -1;
    w->hkey[h] = c + 1;
    w->hidx[h] = (uint8_t)e->npal;
    e->pal[e->npal * 3] = (uint8_t)(c >> 16);
    e->pal[e->npal * 3 + 1] = (uint8_t)(c >> 8);
    e->pal[e->npal * 3 + 2] = (uint8_t)c;
    return (int)e->npal++;
}

/* Pixel at p as 0xRRGGBB, each channel through lut when given. */
static uint32_t pdfw_px(const uint8_t *p, const uint8_t *lut)
{
    if (lut)
        return (uint32_t)lut[p[0]] << 16 | (uint32_t)lut[p[1]] << 8 | lut[p[2]];
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Count the colours of one row (through lut when given) into e's palette, clearing e->gray
 * at the first colour that is not grey. Returns over, set to 1 once the palette is full. */
static int pdfw_count_row(pdfw *w, pdfw_enc *e, const uint8_t *p, unsigned width,
                          const uint8_t *lut, int over)
{
    for (size_t x = 0; x < width; x++, p += 3) {
        /* Runs of one colour are skipped eight pixels at a time. */
        while (x > 0 && x + 8 <= width && memcmp(p, p - 3, 24) == 0) {
            x += 8;
            p += 24;
        }
        if (x == width)
            break;
        if (x > 0 && memcmp(p, p - 3, 3) == 0)
            continue;
        uint32_t c = pdfw_px(p, lut);
        if (((c >> 16) & 0xff) != (c & 0xff) || ((c >> 8) & 0xff) != (c & 0xff))
            e->gray = 0;
        if (!over && pdfw_colour(w, e, c) < 0)
            over = 1;
        if (over && !e->gray)
            break;
    }
    return over;
}

/* Count the page's distinct colours (through lut when given) into e's palette and set
 * e->gray. 0 when they all fit in the palette, 1 when there are more (counting stops
 * once that is known and the page is not grey). */
static int pdfw_count(pdfw *w, pdfw_enc *e, unsigned width, unsigned height, const uint8_t *rgb,
                      const uint8_t *lut)
{
    size_t stride = (size_t)width * 3;
    int over = 0;
    memset(w->hkey, 0, sizeof w->hkey);
    e->npal = 0;
    e->gray = 1;
    for (unsigned y = 0; y < height && !(over && !e->gray); y++) {
        const uint8_t *row = rgb + y * stride;
        /* A row like the one above has no new colour: blank lines cost a memcmp. */
        if (y > 0 && memcmp(row, row - stride, stride) == 0)
            continue;
        over = pdfw_count_row(w, e, row, width, lut, over);
    }
    return over;
}

/* Whether the n pixels of row p are grey, marking levels[v] for each grey level v seen. */
static int pdfw_grey_row(const uint8_t *p, size_t n, uint8_t levels[256])
{
    size_t x = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Eight pixels (three words) at a time: each byte but a pixel's last must equal the byte
     * after it, which the masks keep; eight pixels of the last level seen cost three
     * comparisons, and most of a page is such runs of paper. */
    static const uint64_t same[3] = {0xffff00ffff00ffffull, 0xff00ffff00ffff00ull,
                                     0x00ffff00ffff00ffull};
    uint64_t run = 0;
    int have = 0;
    for (; x + 9 <= n; x += 8, p += 24) { /* the byte after the eighth pixel is in the row */
        uint64_t a, b, c, a1, b1, c1;
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        memcpy(&c, p + 16, 8);
        if (have && a == run && b == run && c == run)
            continue;
        memcpy(&a1, p + 1, 8);
        memcpy(&b1, p + 9, 8);
        memcpy(&c1, p + 17, 8);
        if ((((a ^ a1) & same[0]) | ((b ^ b1) & same[1]) | ((c ^ c1) & same[2])) != 0)
            return 0;
        for (size_t k = 0; k < 24; k += 3)
            levels[p[k]] = 1;
        run = p[21] * 0x0101010101010101ull;
        have = 1;
    }
#endif
    for (; x < n; x++, p += 3) {
        if (p[0] != p[1] || p[1] != p[2])
            return 0;
        levels[p[0]] = 1;
    }
    return 1;
}

int san_rgb_grey(const uint8_t *rgb, unsigned width, unsigned height, uint8_t levels[256])
{
    uint8_t own[256];
    uint8_t *lv = levels ? levels : own;
    size_t stride = (size_t)width * 3;
    memset(lv, 0, 256);
    for (unsigned y = 0; y < height; y++)
        if (!pdfw_grey_row(rgb + y * stride, width, lv))
            return 0;
    return 1;
}

/* The palette of a grey page from its levels, in order. */
static void pdfw_grey_palette(pdfw_enc *e, const uint8_t levels[256])
{
    e->npal = 0;
    e->gray = 1;
    for (unsigned v = 0; v < 256; v++)
        if (levels[v]) {
            memset(e->pal + e->npal * 3, (int)v, 3);
            e->npal++;
        }
}

/* Largest difference between the channels of two pixels. */
static unsigned pdfw_diff(const uint8_t *a, const uint8_t *b)
{
    unsigned d = 0;
    for (int k = 0; k < 3; k++) {
        unsigned v = (unsigned)abs((int)a[k] - (int)b[k]);
        d = v > d ? v : d;
    }
    return d;
}

/* Gentle-slope pixels of row y: those differing from their left or upper neighbour by
 * 1..PDFW_GENTLE_MAX. */
static size_t pdfw_gentle_row(const uint8_t *rgb, unsigned width, unsigned y)
{
    size_t gentle = 0, stride = (size_t)width * 3;
    const uint8_t *p = rgb + y * stride + 3;
    for (size_t x = 1; x < width; x++, p += 3) {
        if (memcmp(p, p - 3, 3) == 0 && memcmp(p, p - stride, 3) == 0)
            continue; /* flat: most of a page of text */
        unsigned dl = pdfw_diff(p, p - 3), du = pdfw_diff(p, p - stride);
        unsigned d = dl > du ? dl : du;
        gentle += d != 0 && d <= PDFW_GENTLE_MAX;
    }
    return gentle;
}

/* Non-zero when the page looks like text: in every sampled band, under PDFW_TEXT_GENTLE per
 * mille of the pixels lie on a gentle slope. Text is flat paper and ink with steep edges;
 * photographs, scans and gradients are slopes, and one in any band makes it not text. */
static int pdfw_text_like(unsigned width, unsigned height, const uint8_t *rgb)
{
    size_t gentle = 0, total = 0, worst = 0;
    for (unsigned y = 1; y < height; y++) {
        if ((y / PDFW_BAND) % PDFW_SAMPLE == 0) {
            gentle += pdfw_gentle_row(rgb, width, y);
            total += width - 1;
        }
        if ((y + 1) % PDFW_BAND == 0 || y + 1 == height) {
            if (total && gentle * 1000 / total > worst)
                worst = gentle * 1000 / total;
            gentle = total = 0;
        }
    }
    return worst < PDFW_TEXT_GENTLE;
}

/* ---- rows of samples ---- */

/* Bytes in one row of the stream. */
static size_t pdfw_row_bytes(const pdfw_enc *e, unsigned width)
{
    if (e->kind == PDFW_RGB || e->kind == PDFW_JPEG)
        return (size_t)width * e->ncomp;
    return ((size_t)width * e->bits + 7) / 8;
}

/* Bytes per pixel as PNG predictors count them (at least 1). */
static size_t pdfw_bpp(const pdfw_enc *e)
{
    return e->kind == PDFW_RGB ? 3 : 1;
}

/* Pack n values of bits each (1, 2 or 4) into out, most significant first. */
static void pdfw_pack(uint8_t *out, const uint8_t *v, size_t n, unsigned bits)
{
    unsigned per = 8 / bits;
    size_t i = 0;
    for (; i + per <= n; i += per) {
        unsigned acc = 0;
        for (unsigned k = 0; k < per; k++)
            acc = acc << bits | v[i + k];
        *out++ = (uint8_t)acc;
    }
    if (i < n) {
        unsigned acc = 0, k = 0;
        for (; i < n; i++, k++)
            acc = acc << bits | v[i];
        *out = (uint8_t)(acc << (bits * (per - k)));
    }
}

/* Grey row src (RGB, width pixels) through lut, packed at bits (1, 2, 4 or 8) into out.
 * Inlined with bits constant, so that each depth gets its own unrolled loop. */
static inline __attribute__((always_inline)) void
pdfw_gray_row(uint8_t *out, const uint8_t *src, unsigned width, const uint8_t *lut, unsigned bits)
{
    unsigned per = 8 / bits;
    size_t x = 0;
    for (; x + per <= width; x += per, src += 3 * per) {
        unsigned acc = 0;
#pragma GCC unroll 8
        for (unsigned k = 0; k < per; k++)
            acc = acc << bits | lut[src[3 * k]];
        *out++ = (uint8_t)acc;
    }
    if (x < width) {
        unsigned acc = 0, k = 0;
        for (; x < width; x++, k++, src += 3)
            acc = acc << bits | lut[src[0]];
        *out = (uint8_t)(acc << (bits * (per - k)));
    }
}

/* Palette indexes of row src (width pixels) into idx, by the colour table. 0 or -1. */
static int pdfw_index_row(pdfw *w, pdfw_enc *e, uint8_t *idx, const uint8_t *src, unsigned width)
{
    uint32_t last = UINT32_MAX;
    int k = 0;
    for (size_t x = 0; x < width; x++, src += 3) {
        uint32_t c = pdfw_px(src, e->reduce ? e->lut : NULL);
        if (c != last) {
            last = c;
            k = pdfw_colour(w, e, c);
            if (k < 0) {
                mg_error("pdfout: colour missing from the page's palette");
                return -1;
            }
        }
        idx[x] = (uint8_t)k;
    }
    return 0;
}

/* Load row y of the page into out as the stream's samples; tmp holds width bytes.
 * 0 or -1. */
static int pdfw_load_row(pdfw *w, uint8_t *out, uint8_t *tmp, const uint8_t *rgb, unsigned width,
                         unsigned y)
{
    pdfw_enc *e = &w->enc;
    const uint8_t *src = rgb + (size_t)y * width * 3;
    if (e->bilevel) {
        /* DeviceGray at 1 bit has 0 for black, where the bilevel page has 1 for ink. */
        size_t n = ((size_t)width + 7) / 8;
        const uint8_t *b = w->bw + (size_t)y * n;
        for (size_t i = 0; i < n; i++)
            out[i] = (uint8_t)~b[i];
        return 0;
    }
    if (e->ncomp == 3) {
        memcpy(out, src, (size_t)width * 3);
        return 0;
    }
    if (e->kind == PDFW_INDEXED && !e->gray) {
        uint8_t *v = e->bits == 8 ? out : tmp;
        if (pdfw_index_row(w, e, v, src, width) < 0)
            return -1;
        if (e->bits != 8)
            pdfw_pack(out, v, width, e->bits);
        return 0;
    }
    switch (e->bits) {
    case 1:
        pdfw_gray_row(out, src, width, e->lut, 1);
        break;
    case 2:
        pdfw_gray_row(out, src, width, e->lut, 2);
        break;
    case 4:
        pdfw_gray_row(out, src, width, e->lut, 4);
        break;
    default:
        pdfw_gray_row(out, src, width, e->lut, 8);
    }
    return 0;
}

/* ---- Flate ---- */

/* Paeth predictor of PNG (RFC 2083, 6.6). */
static uint8_t paeth(int a, int b, int c)
{
    int p = a + b - c;
    int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc)
        return (uint8_t)a;
    return (uint8_t)(pb <= pc ? b : c);
}

/* Cost of a filtered byte: its absolute value read as signed. */
static unsigned cost(uint8_t v)
{
    return v < 128 ? v : 256u - v;
}

/* Filter row cur (prev above it) with all five PNG filters into cand[f] (each n + 1 bytes,
 * the filter type first) and return the index with the minimum sum of absolute values. */
static int pdfw_filter_row(const uint8_t *prev, const uint8_t *cur, size_t n, size_t bpp,
                           uint8_t *cand[5])
{
    unsigned long sum[5] = {0, 0, 0, 0, 0};
    for (int f = 0; f < 5; f++)
        cand[f][0] = (uint8_t)f;
    for (size_t i = 0; i < n; i++) {
        int x = cur[i], b = prev[i];
        int a = i >= bpp ? cur[i - bpp] : 0, c = i >= bpp ? prev[i - bpp] : 0;
        uint8_t v[5] = {(uint8_t)x, (uint8_t)(x - a), (uint8_t)(x - b),
                        (uint8_t)(x - ((a + b) >> 1)), (uint8_t)(x - paeth(a, b, c))};
        for (int f = 0; f < 5; f++) {
            cand[f][i + 1] = v[f];
            sum[f] += cost(v[f]);
        }
    }
    int best = 0;
    for (int f = 1; f < 5; f++)
        if (sum[f] < sum[best])
            best = f;
    return best;
}

/* The compressor of level (0 to PDFW_ZLEVELS - 1), allocated on first use; NULL on error. */
static struct libdeflate_compressor *pdfw_zc(pdfw *w, int level)
{
    if (level < 0 || level >= PDFW_ZLEVELS) {
        mg_error("pdfout: deflate level %d", level);
        return NULL;
    }
    if (w->zc[level] == NULL && (w->zc[level] = libdeflate_alloc_compressor(level)) == NULL)
        mg_error("pdfout: out of memory for a compressor");
    return w->zc[level];
}

/* Make sure buffer *p (of *cap bytes) holds n bytes; its contents are not kept. 0 or -1. */
static int pdfw_grow(uint8_t **p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    free(*p);
    *p = malloc(n);
    if (*p == NULL) {
        *cap = 0;
        mg_error("pdfout: out of memory for a page buffer of %zu bytes", n);
        return -1;
    }
    *cap = n;
    return 0;
}

/* Make sure the 7 row buffers fit rows of n bytes plus a filter byte. */
static int pdfw_rows(pdfw *w, size_t n)
{
    if (n + 1 <= w->row_cap)
        return 0;
    free(w->rows);
    w->rows = malloc(7 * (n + 1));
    if (w->rows == NULL) {
        w->row_cap = 0;
        mg_error("pdfout: out of memory");
        return -1;
    }
    w->row_cap = n + 1;
    return 0;
}

/* Non-zero when row y is left out of a sample of one band of band rows in PDFW_SAMPLE. */
static int pdfw_skip(unsigned y, unsigned sample, unsigned band)
{
    return sample && (y / band) % sample != 0;
}

/* Gather the rows (every row when sample is 0, else one band of PDFW_BAND rows in sample)
 * as the Flate stream holds them, PNG rows with per-row adaptive filters or plain samples;
 * *in gets them and *len their size. The row buffers are sized for RGB rows. At most
 * PDFW_ZIN_MAX bytes (300 MB, as much as the page). 0 or -1. */
static int pdfw_stream_rows(pdfw *w, const uint8_t *rgb, unsigned width, unsigned height,
                            int adaptive, unsigned sample, const uint8_t **in, size_t *len)
{
    size_t n = pdfw_row_bytes(&w->enc, width), bpp = pdfw_bpp(&w->enc);
    if (!adaptive && sample == 0 && w->enc.ncomp == 3) {
        *in = rgb; /* RGB samples are the pixels as they are */
        *len = (size_t)height * n;
        return 0;
    }
    size_t need = (size_t)height * (n + 1);
    if (need > PDFW_ZIN_MAX) {
        mg_error("pdfout: %zu bytes of rows, over %zu", need, PDFW_ZIN_MAX);
        return -1;
    }
    if (pdfw_grow(&w->zin, &w->zin_cap, need) < 0)
        return -1;
    uint8_t *prev = w->rows, *cur = w->rows + w->row_cap, *cand[5], *out = w->zin;
    for (int f = 0; f < 5; f++)
        cand[f] = w->rows + (size_t)(2 + f) * w->row_cap;
    memset(prev, 0, n);
    for (unsigned y = 0; y < height; y++) {
        /* A sampled band also needs the row above it, for the predictors. */
        int skip = pdfw_skip(y, sample, PDFW_BAND);
        if (skip && (!adaptive || pdfw_skip(y + 1, sample, PDFW_BAND)))
            continue;
        /* Plain samples go straight to the stream; the last candidate's space doubles as
         * scratch for unpacked indexes. */
        if (pdfw_load_row(w, adaptive ? cur : out, cand[4], rgb, width, y) < 0)
            return -1;
        if (!adaptive) {
            out += n;
            continue;
        }
        if (!skip) {
            /* A PNG row: the filter type, then the filtered bytes. */
            int f = pdfw_filter_row(prev, cur, n, bpp, cand);
            memcpy(out, cand[f], n + 1);
            out += n + 1;
        }
        uint8_t *t = prev;
        prev = cur;
        cur = t;
    }
    *in = w->zin;
    *len = (size_t)(out - w->zin);
    return 0;
}

/* Compress the rows (see pdfw_stream_rows) at level into one zlib stream (what /FlateDecode
 * reads) and write it, or when w->discard is set only count it; *zlen gets its size. The
 * output buffer is the compressor's bound for the rows, a little over their size; its pages
 * past the stream's end are never touched, so they cost address space only. 0 or -1. */
static int pdfw_compress(pdfw *w, const uint8_t *rgb, unsigned width, unsigned height, int level,
                         int adaptive, unsigned sample, size_t *zlen)
{
    const uint8_t *in = NULL;
    size_t len = 0;
    struct libdeflate_compressor *c = pdfw_zc(w, level);
    if (c == NULL || pdfw_stream_rows(w, rgb, width, height, adaptive, sample, &in, &len) < 0)
        return -1;
    size_t bound = libdeflate_zlib_compress_bound(c, len);
    if (pdfw_grow(&w->zdata, &w->zdata_cap, bound) < 0)
        return -1;
    *zlen = libdeflate_zlib_compress(c, in, len, w->zdata, bound);
    if (*zlen == 0) {
        mg_error("pdfout: deflate failed on %zu bytes", len);
        return -1;
    }
    return w->discard ? 0 : pdfw_put(w, w->zdata, *zlen);
}

/* Estimate the Flate size of the page on a sample of bands, with per-row predictors and
 * without, at level 1; sets w->enc.predict to the smaller and returns its size (0 on error). */
static size_t pdfw_flate_estimate(pdfw *w, const uint8_t *rgb, unsigned width, unsigned height)
{
    size_t with = 0, without = 0;
    w->discard = 1;
    int rc = pdfw_compress(w, rgb, width, height, 1, 1, PDFW_SAMPLE, &with);
    if (rc == 0)
        rc = pdfw_compress(w, rgb, width, height, 1, 0, PDFW_SAMPLE, &without);
    w->discard = 0;
    if (rc < 0)
        return 0;
    w->enc.predict = with <= without;
    w->enc.estimated = 1;
    return with <= without ? with : without;
}

/* ---- JPEG ---- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
} pdfw_jerr;

typedef struct {
    struct jpeg_destination_mgr pub;
    pdfw *w;
} pdfw_jdest;

/* libjpeg's fatal errors: log and return to pdfw_jpeg. */
static void pdfw_jerr_exit(j_common_ptr c)
{
    char msg[JMSG_LENGTH_MAX];
    c->err->format_message(c, msg);
    mg_error("pdfout: jpeg: %s", msg);
    longjmp(((pdfw_jerr *)(void *)c->err)->jmp, 1);
}

/* libjpeg's warnings: none concern data we made ourselves. */
static void pdfw_jerr_quiet(j_common_ptr c)
{
    (void)c;
}

/* Pass len bytes of JPEG data to the output (or only count them). */
static void pdfw_jput(j_compress_ptr c, size_t len)
{
    pdfw *w = ((pdfw_jdest *)(void *)c->dest)->w;
    w->jpeg_len += len;
    if (!w->discard && pdfw_put(w, w->zout, len) < 0)
        w->discard = 1; /* w->failed is set: stop writing, let the encoder finish */
    c->dest->next_output_byte = w->zout;
    c->dest->free_in_buffer = sizeof w->zout;
}

/* Destination start: the writer's compression buffer. */
static void pdfw_jinit(j_compress_ptr c)
{
    pdfw *w = ((pdfw_jdest *)(void *)c->dest)->w;
    c->dest->next_output_byte = w->zout;
    c->dest->free_in_buffer = sizeof w->zout;
}

/* Destination full. */
static boolean pdfw_jempty(j_compress_ptr c)
{
    pdfw_jput(c, sizeof((pdfw_jdest *)(void *)c->dest)->w->zout);
    return TRUE;
}

/* Destination end: the rest of the buffer. */
static void pdfw_jterm(j_compress_ptr c)
{
    pdfw *w = ((pdfw_jdest *)(void *)c->dest)->w;
    pdfw_jput(c, sizeof w->zout - c->dest->free_in_buffer);
}

/* Feed the rows (all, or one band of PDFW_JBAND in sample) to a started compressor. */
static int pdfw_jrows(pdfw *w, j_compress_ptr c, const uint8_t *rgb, unsigned width,
                      unsigned height, unsigned sample)
{
    for (unsigned y = 0; y < height; y++) {
        if (pdfw_skip(y, sample, PDFW_JBAND))
            continue;
        JSAMPROW row = w->rows;
        if (pdfw_load_row(w, row, NULL, rgb, width, y) < 0)
            return -1;
        jpeg_write_scanlines(c, &row, 1);
    }
    return 0;
}

/* Rows of the page a sample keeps. */
static unsigned pdfw_sampled(unsigned height, unsigned sample, unsigned band)
{
    unsigned n = 0;
    for (unsigned y = 0; y < height; y++)
        n += !pdfw_skip(y, sample, band);
    return n;
}

/* JPEG-encode the page (or a sample of bands) with w->enc.ncomp components; *len gets the
 * size. When w->discard is set the output is only counted. 0 or -1. */
static int pdfw_jpeg(pdfw *w, const uint8_t *rgb, unsigned width, unsigned height, unsigned sample,
                     size_t *len)
{
    struct jpeg_compress_struct c;
    pdfw_jerr err;
    pdfw_jdest dest;
    int discard = w->discard;
    memset(&dest, 0, sizeof dest);
    dest.w = w;
    c.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = pdfw_jerr_exit;
    err.pub.output_message = pdfw_jerr_quiet;
    if (setjmp(err.jmp)) {
        jpeg_destroy_compress(&c);
        w->discard = discard;
        return -1;
    }
    jpeg_create_compress(&c);
    dest.pub.init_destination = pdfw_jinit;
    dest.pub.empty_output_buffer = pdfw_jempty;
    dest.pub.term_destination = pdfw_jterm;
    c.dest = &dest.pub;
    c.image_width = width;
    c.image_height = pdfw_sampled(height, sample, PDFW_JBAND);
    c.input_components = (int)w->enc.ncomp;
    c.in_color_space = w->enc.ncomp == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, PDFW_JPEG_QUALITY, TRUE);
    c.write_JFIF_header = FALSE;
    w->jpeg_len = 0;
    jpeg_start_compress(&c, TRUE);
    int rc = pdfw_jrows(w, &c, rgb, width, height, sample);
    if (rc == 0)
        jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *len = w->jpeg_len;
    if (w->discard != discard) /* a write failed */
        rc = -1;
    w->discard = discard;
    return rc;
}

/* ---- text ---- */

/* Grey text: DeviceGray with levels evenly spaced grey levels (4: 2 bits, every level rounded
 * to the nearest of 0, 85, 170, 255; 16: 4 bits). */
static void pdfw_gray_text(pdfw_enc *e, unsigned levels)
{
    unsigned step = 255u / (levels - 1);
    e->kind = PDFW_GRAY;
    e->bits = pdfw_bits(levels);
    for (unsigned v = 0; v < 256; v++)
        e->lut[v] = (uint8_t)((v + step / 2) / step);
}

/* Non-zero when the eight pixels at p are white. */
static inline int pdfw_paper8(const uint8_t *p)
{
    uint64_t a, b, c;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    memcpy(&c, p + 16, 8);
    return (a & b & c) == UINT64_MAX;
}

/* Pixels of a page of grey text that decide how it is kept (see pdfw_grey_text_page). */
typedef struct pdfw_greys {
    size_t flat; /* flat grey, and light strokes clear of ink */
    size_t pale; /* flat grey lighter than PDFW_LIGHT_MAX, which 4 levels make white */
} pdfw_greys;

/* Row cur (grey RGB, width pixels, between rows up and down, NULL above the first and below
 * the last) made bilevel into out, (width + 7) / 8 bytes, 1 = ink. Ink is what is darker
 * than mid-grey, and also a ridge no lighter than PDFW_RIDGE_MAX: a pixel darker than the pixel
 * on one side and no lighter than the one on the other, vertically or horizontally. At 150
 * dpi the thin horizontals of Mincho fall across two rows at about half ink each, so that a
 * threshold alone breaks them (the horizontals of 前 and 年 go); the ridge keeps one pixel of
 * such a stroke (the upper or left one of two equal pixels) and leaves solid strokes, whose
 * inner pixels are under mid-grey anyway, as thick as the threshold makes them. Adds the
 * row's pixels of flat grey and of light strokes away from ink to *k (see
 * pdfw_grey_text_page). */
static void pdfw_bilevel_row(uint8_t *out, const uint8_t *up, const uint8_t *cur,
                             const uint8_t *down, unsigned width, pdfw_greys *k)
{
    size_t flat = 0, pale = 0;
    memset(out, 0, ((size_t)width + 7) / 8);
    for (size_t x = 0; x < width; x++) {
        /* Eight white pixels, a byte of the row, at a time: most of a page. */
        while ((x & 7) == 0 && x + 8 <= width && pdfw_paper8(cur + x * 3))
            x += 8;
        if (x == width)
            break;
        unsigned g = cur[x * 3];
        if (g > PDFW_FILL_MAX)
            continue;
        unsigned u = up ? up[x * 3] : 255, d = down ? down[x * 3] : 255;
        unsigned l = x > 0 ? cur[x * 3 - 3] : 255, r = x + 1 < width ? cur[x * 3 + 3] : 255;
        int ridge = (g < u && g <= d) || (g < l && g <= r);
        int even = u == g && d == g && l == g && r == g;
        flat += g >= PDFW_FILL_MIN && even;
        pale += g > PDFW_LIGHT_MAX && even;
        /* A ridge too light to be ink with no neighbour that could be: a light line or
         * light type, not the faint edge of a dark stroke. */
        flat += g > PDFW_RIDGE_MAX && g <= PDFW_LIGHT_MAX && ridge && u > PDFW_RIDGE_MAX &&
                d > PDFW_RIDGE_MAX && l > PDFW_RIDGE_MAX && r > PDFW_RIDGE_MAX;
        if (g < PDFW_INK_MID || (g <= PDFW_RIDGE_MAX && ridge))
            out[x >> 3] |= (uint8_t)(0x80u >> (x & 7));
    }
    k->flat += flat;
    k->pale += pale;
}

/* A page of grey text, made bilevel into w->bw (see pdfw_bilevel_row) and coded as JBIG2
 * (or, built with PDFW_BILEVEL_FLATE for the benchmark, as 1-bit Flate), unless it is to keep
 * grey levels. Bilevel has no grey: a flat area of mid or light grey (a shaded table cell,
 * grey type larger than a stroke or two) would be lost or reduced to its upper and left
 * edges, and light lines and light type (a table ruled in light grey, a grey footer) between
 * PDFW_RIDGE_MAX and PDFW_LIGHT_MAX would be lost where 4 levels keep them (as 170), so a
 * page with more than one pixel in PDFW_FILL_PAGE of either keeps 4 grey levels, as every
 * page does with [render] text_pages = grey. Flat grey lighter than PDFW_LIGHT_MAX (a pale
 * shaded cell, a pale watermark or stamp, up to PDFW_FILL_MAX) 4 levels would make white
 * too: a page with as much of it keeps 16. Anti-aliased dark text has no flat grey (the
 * benchmark's pages have none in 2.2 million) and few such light ridges clear of ink (its
 * faint edges touch darker pixels): 27 to 63 a page, against the 217 that keep it grey; a
 * page that crosses the line only takes more room. 0 or -1. */
static int pdfw_grey_text_page(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb)
{
    pdfw_enc *e = &w->enc;
    size_t n = ((size_t)width + 7) / 8, stride = (size_t)width * 3;
    size_t line = (size_t)width * height / PDFW_FILL_PAGE;
    pdfw_greys k = {0, 0};
    if (pdfw_grow(&w->bw, &w->bw_cap, n * height) < 0)
        return -1;
    for (unsigned y = 0; y < height; y++) {
        const uint8_t *row = rgb + y * stride;
        pdfw_bilevel_row(w->bw + y * n, y > 0 ? row - stride : NULL, row,
                         y + 1 < height ? row + stride : NULL, width, &k);
    }
    if (k.pale > line) {
        pdfw_gray_text(e, PDFW_PALE_LEVELS);
        return 0;
    }
    if (k.flat > line || w->grey_text) {
        pdfw_gray_text(e, PDFW_TEXT_LEVELS);
        return 0;
    }
    e->bilevel = 1;
    e->bits = 1;
#ifdef PDFW_BILEVEL_FLATE
    e->kind = PDFW_GRAY;
#else
    e->kind = PDFW_JBIG2;
#endif
    return 0;
}

/* ---- choosing the encoding ---- */

/* Set a DeviceGray encoding of bits bits when every grey level in the palette is one that
 * depth represents exactly; non-zero when it did. */
static int pdfw_gray_exact(pdfw_enc *e, unsigned bits)
{
    unsigned step = 255u / ((1u << bits) - 1);
    if (e->npal > (1u << bits))
        return 0;
    for (unsigned i = 0; i < e->npal; i++)
        if (e->pal[i * 3] % step != 0)
            return 0;
    e->kind = PDFW_GRAY;
    e->bits = bits;
    for (unsigned v = 0; v < 256; v++)
        e->lut[v] = (uint8_t)(v / step);
    return 1;
}

/* Byte order for qsort of grey palette entries. */
static int pdfw_cmp_level(const void *a, const void *b)
{
    return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b;
}

/* A grey palette of at most 16 levels: /Indexed over DeviceGray, levels in order. */
static void pdfw_gray_indexed(pdfw_enc *e)
{
    uint8_t levels[16];
    for (unsigned i = 0; i < e->npal; i++)
        levels[i] = e->pal[i * 3];
    qsort(levels, e->npal, 1, pdfw_cmp_level);
    for (unsigned i = 0; i < e->npal; i++) {
        memset(e->pal + i * 3, levels[i], 3);
        e->lut[levels[i]] = (uint8_t)i;
    }
    e->kind = PDFW_INDEXED;
    e->bits = pdfw_bits(e->npal);
}

/* Colour text: each channel rounded to PDFW_COLOUR_LEVELS levels, then a palette when that
 * leaves at most 256 colours. Non-zero when it did. */
static int pdfw_colour_text(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb)
{
    pdfw_enc *e = &w->enc;
    unsigned step = 255u / (PDFW_COLOUR_LEVELS - 1);
    for (unsigned v = 0; v < 256; v++)
        e->lut[v] = (uint8_t)((v + step / 2) / step * step);
    if (pdfw_count(w, e, width, height, rgb, e->lut) != 0)
        return 0;
    e->kind = PDFW_INDEXED;
    e->reduce = 1;
    e->bits = pdfw_bits(e->npal);
    return 1;
}

/* Lossless Flate (8-bit grey or RGB, as w->enc says) or JPEG, whichever the sample says. */
static int pdfw_flate_or_jpeg(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb)
{
    pdfw_enc *e = &w->enc;
    e->ncomp = e->gray ? 1 : 3;
    e->kind = e->gray ? PDFW_GRAY : PDFW_RGB;
    e->bits = 8;
    for (unsigned v = 0; v < 256; v++)
        e->lut[v] = (uint8_t)v;
    size_t flate = pdfw_flate_estimate(w, rgb, width, height), jpeg = 0;
    if (flate == 0)
        return -1;
    w->discard = 1;
    int rc = pdfw_jpeg(w, rgb, width, height, PDFW_SAMPLE, &jpeg);
    w->discard = 0;
    if (rc < 0)
        return -1;
    /* The two samples hold different rows; scale to bytes per sampled row. */
    double fr = (double)flate / pdfw_sampled(height, PDFW_SAMPLE, PDFW_BAND);
    double jr = (double)jpeg / pdfw_sampled(height, PDFW_SAMPLE, PDFW_JBAND);
    if (jr * PDFW_JPEG_GAIN < fr)
        e->kind = PDFW_JPEG;
    return 0;
}

/* Choose the page's encoding into w->enc (see the file's header). 0 or -1. */
static int pdfw_choose(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb)
{
    pdfw_enc *e = &w->enc;
    uint8_t levels[256];
    memset(e, 0, sizeof *e);
    e->ncomp = 1;
    /* A grey page has at most 256 colours, its levels: counting them is one fast pass. */
    int over = 0;
    if (san_rgb_grey(rgb, width, height, levels))
        pdfw_grey_palette(e, levels);
    else
        over = pdfw_count(w, e, width, height, rgb, NULL);
    if (!over && e->gray) {
        if (pdfw_gray_exact(e, 1) || pdfw_gray_exact(e, 2) || pdfw_gray_exact(e, 4))
            return 0;
        if (e->npal <= 16) {
            pdfw_gray_indexed(e);
            return 0;
        }
    } else if (!over) {
        e->kind = PDFW_INDEXED;
        e->bits = pdfw_bits(e->npal);
        return 0;
    }
    if (pdfw_text_like(width, height, rgb)) {
        if (e->gray)
            return pdfw_grey_text_page(w, width, height, rgb);
        if (pdfw_colour_text(w, width, height, rgb))
            return 0;
        e->gray = 0;
        e->reduce = 0;
    }
    return pdfw_flate_or_jpeg(w, width, height, rgb);
}

/* ---- the image object ---- */

/* Write len bytes as hexadecimal digits. */
static int pdfw_hex(pdfw *w, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[128];
    for (size_t i = 0; i < len;) {
        size_t n = 0;
        for (; i < len && n + 2 <= sizeof tmp; i++) {
            tmp[n++] = digits[data[i] >> 4];
            tmp[n++] = digits[data[i] & 15];
        }
        if (pdfw_put(w, tmp, n) < 0)
            return -1;
    }
    return 0;
}

/* Write the colour space of encoding e. */
static int pdfw_colour_space(pdfw *w, const pdfw_enc *e)
{
    if (e->kind != PDFW_INDEXED)
        return pdfw_printf(w, "/%s", e->ncomp == 3 ? "DeviceRGB" : "DeviceGray");
    if (e->gray) {
        uint8_t levels[16];
        if (e->npal > sizeof levels) {
            mg_error("pdfout: grey palette of %u levels", e->npal);
            return -1;
        }
        for (unsigned i = 0; i < e->npal; i++)
            levels[i] = e->pal[i * 3];
        return pdfw_printf(w, "[/Indexed /DeviceGray %u <", e->npal - 1) < 0 ||
                       pdfw_hex(w, levels, e->npal) < 0 || pdfw_printf(w, ">]") < 0
                   ? -1
                   : 0;
    }
    return pdfw_printf(w, "[/Indexed /DeviceRGB %u <", e->npal - 1) < 0 ||
                   pdfw_hex(w, e->pal, (size_t)e->npal * 3) < 0 || pdfw_printf(w, ">]") < 0
               ? -1
               : 0;
}

/* Write the image dictionary of encoding e (object img, length in object img + 1) up to
 * "stream". */
static int pdfw_image_dict(pdfw *w, const pdfw_enc *e, size_t img, unsigned width, unsigned height)
{
    if (pdfw_begin_obj(w, img) < 0 ||
        pdfw_printf(w, "<< /Type /XObject /Subtype /Image /Width %u /Height %u /ColorSpace ", width,
                    height) < 0 ||
        pdfw_colour_space(w, e) < 0 ||
        pdfw_printf(w, " /BitsPerComponent %u /Length %zu 0 R /Filter /%s", e->bits, img + 1,
                    e->kind == PDFW_JPEG    ? "DCTDecode"
                    : e->kind == PDFW_JBIG2 ? "JBIG2Decode"
                                            : "FlateDecode") < 0)
        return -1;
    if (e->predict && e->kind != PDFW_JPEG && e->kind != PDFW_JBIG2 &&
        pdfw_printf(w,
                    " /DecodeParms << /Predictor 15 /Colors %u /BitsPerComponent %u "
                    "/Columns %u >>",
                    e->ncomp, e->bits, width) < 0)
        return -1;
    return pdfw_printf(w, " >>\nstream\n");
}

/* End image object img after its stream of len bytes, and write its length (object img + 1). */
static int pdfw_image_end(pdfw *w, size_t img, size_t len)
{
    if (pdfw_printf(w, "\nendstream\nendobj\n") < 0 || pdfw_begin_obj(w, img + 1) < 0 ||
        pdfw_printf(w, "%zu\nendobj\n", len) < 0)
        return -1;
    return 0;
}

/* The JBIG2 job's thread: code the page. */
static void *pdfw_job_code(void *arg)
{
    pdfw_job *j = arg;
    j->rc = san_jbig2_encode(j->bits, ((size_t)j->width + 7) / 8, j->width, j->height, j->dpi,
                             &j->data, &j->data_cap, &j->len);
    return NULL;
}

/* Wait for the JBIG2 job, if one is running, and write its image object. 0 or -1. */
static int pdfw_job_end(pdfw *w)
{
    pdfw_job *j = &w->job;
    if (!j->pending)
        return 0;
    if (j->threaded)
        pthread_join(j->thread, NULL);
    j->pending = j->threaded = 0;
    if (j->rc < 0 || pdfw_image_dict(w, &j->enc, j->img, j->width, j->height) < 0 ||
        pdfw_put(w, j->data, j->len) < 0 || pdfw_image_end(w, j->img, j->len) < 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* Hand the page just made bilevel (w->bw), image object img, to the JBIG2 job, once the last
 * one is written. The thread takes no signal. Where no thread can be started, the page is
 * coded here. 0 or -1. */
static int pdfw_job_start(pdfw *w, size_t img, unsigned width, unsigned height)
{
    pdfw_job *j = &w->job;
    if (pdfw_job_end(w) < 0)
        return -1;
    uint8_t *bits = j->bits;
    size_t cap = j->bits_cap;
    j->bits = w->bw;
    j->bits_cap = w->bw_cap;
    w->bw = bits;
    w->bw_cap = cap;
    j->img = img;
    j->width = width;
    j->height = height;
    j->dpi = w->dpi;
    j->enc = w->enc;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    j->threaded = pthread_create(&j->thread, NULL, pdfw_job_code, j) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    j->pending = 1;
    if (!j->threaded) {
        static int told;
        if (!told++)
            mg_info("pdfout: no thread for coding pages: they are coded in turn");
        pdfw_job_code(j);
    }
    return 0;
}

/* Write the image XObject (object img) and its length (object img + 1); a bilevel page's are
 * written once its JBIG2 job is over (pdfw_job_end). */
static int pdfw_image(pdfw *w, size_t img, unsigned width, unsigned height, const uint8_t *rgb)
{
    size_t len = 0;
    if (pdfw_rows(w, (size_t)width * 3) < 0 || pdfw_choose(w, width, height, rgb) < 0)
        return -1;
    if (w->enc.kind == PDFW_JBIG2)
        return pdfw_job_start(w, img, width, height);
    if (w->enc.kind != PDFW_JPEG && !w->enc.estimated &&
        pdfw_flate_estimate(w, rgb, width, height) == 0)
        return -1;
    if (pdfw_image_dict(w, &w->enc, img, width, height) < 0)
        return -1;
    int rc = w->enc.kind == PDFW_JPEG
                 ? pdfw_jpeg(w, rgb, width, height, 0, &len)
                 : pdfw_compress(w, rgb, width, height, PDFW_ZLEVEL, w->enc.predict, 0, &len);
    if (rc < 0) {
        w->failed = 1;
        return -1;
    }
    return pdfw_image_end(w, img, len);
}

/* Write content stream n: draw (len bytes), then the page's text layer, compressed, when it
 * has one. */
static int pdfw_content(pdfw *w, size_t n, const char *draw, size_t len)
{
    if (pdfw_begin_obj(w, n) < 0)
        return -1;
    if (!w->text)
        return pdfw_printf(w, "<< /Length %zu >>\nstream\n", len) < 0 ||
                       pdfw_put(w, draw, len) < 0 || pdfw_printf(w, "endstream\nendobj\n") < 0
                   ? -1
                   : 0;
    if (!w->font)
        w->font = san_text_font_new();
    GString *s = g_string_new_len(draw, (gssize)len);
    san_text_page_content(w->text, w->font, w->dpi, s);
    uLongf zlen = compressBound((uLong)s->len);
    Bytef *z = malloc(zlen);
    int rc = z && compress2(z, &zlen, (const Bytef *)s->str, (uLong)s->len, PDFW_ZLEVEL) == Z_OK
                 ? 0
                 : -1;
    if (rc == 0 && (pdfw_printf(w, "<< /Length %lu /Filter /FlateDecode >>\nstream\n",
                                (unsigned long)zlen) < 0 ||
                    pdfw_put(w, z, zlen) < 0 || pdfw_printf(w, "\nendstream\nendobj\n") < 0))
        rc = -1;
    free(z);
    g_string_free(s, TRUE);
    return rc;
}

/* Write the content stream (object first) and the page (first + 1) drawing image img. */
static int pdfw_page(pdfw *w, size_t first, size_t img, unsigned width, unsigned height)
{
    char pw[32], ph[32], content[128];
    if (pdfw_fmt_pt(pw, sizeof pw, width, w->dpi) < 0 ||
        pdfw_fmt_pt(ph, sizeof ph, height, w->dpi) < 0)
        return -1;
    int n = snprintf(content, sizeof content, "q %s 0 0 %s 0 0 cm /Im0 Do Q\n", pw, ph);
    if (n < 0 || (size_t)n >= sizeof content)
        return -1;
    char font[64] = "";
    if (w->text && mg_snprintf(font, sizeof font, " /Font << /" SAN_TEXT_FONT_RES " %u 0 R >>",
                               PDFW_OBJ_FONT) < 0)
        return -1;
    if (pdfw_content(w, first, content, (size_t)n) < 0)
        return -1;
    if (pdfw_begin_obj(w, first + 1) < 0 ||
        pdfw_printf(w,
                    "<< /Type /Page /Parent %u 0 R /MediaBox [0 0 %s %s] "
                    "/Resources << /XObject << /Im0 %zu 0 R >>%s >> /Contents %zu 0 R >>\n"
                    "endobj\n",
                    PDFW_OBJ_PAGES, pw, ph, img, font, first) < 0)
        return -1;
    return 0;
}

/* Object number of the first page's first object: after the font's when there is a layer. */
static size_t pdfw_first_obj(const pdfw *w)
{
    return PDFW_OBJ_INFO + 1 + (w->text_layer ? SAN_TEXT_FONT_OBJS : 0);
}

/* Object number of page i's page object. */
static size_t pdfw_page_obj(const pdfw *w, unsigned i)
{
    return pdfw_first_obj(w) + (size_t)i * PDFW_OBJS_PER_PAGE + 3;
}

/* Append one page of RGB pixels (stride = width * 3). 0 or -1; after -1 the writer is dead. */
int pdfw_add_page(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb)
{
    if (w == NULL || w->failed || rgb == NULL)
        return -1;
    if (width == 0 || height == 0 || width > PDFW_MAX_DIM || height > PDFW_MAX_DIM) {
        mg_error("pdfout: page size %ux%u out of bounds", width, height);
        w->failed = 1;
        return -1;
    }
    size_t img = pdfw_first_obj(w) + (size_t)w->npages * PDFW_OBJS_PER_PAGE;
    if (pdfw_image(w, img, width, height, rgb) < 0 ||
        pdfw_page(w, img + 2, img, width, height) < 0) {
        w->failed = 1;
        return -1;
    }
    w->npages++;
    return 0;
}

int pdfw_grey_text(pdfw *w, int grey)
{
    if (w == NULL || w->failed)
        return -1;
    w->grey_text = grey != 0;
    return 0;
}

int pdfw_text_layer(pdfw *w)
{
    if (w == NULL || w->failed || w->npages > 0)
        return -1;
    w->text_layer = 1;
    w->nobj = PDFW_OBJ_FONT + SAN_TEXT_FONT_OBJS - 1;
    return 0;
}

int pdfw_add_page_text(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb,
                       const san_text_page *t)
{
    if (w == NULL)
        return -1;
    if (t && !w->text_layer) {
        mg_error("pdfout: a page with text in a writer without a text layer");
        w->failed = 1;
        return -1;
    }
    w->text = t;
    int rc = pdfw_add_page(w, width, height, rgb);
    w->text = NULL;
    return rc;
}

/* Write the text layer's font objects, or nulls in their place when no page had text. */
static int pdfw_fonts(pdfw *w)
{
    GString *objs[SAN_TEXT_FONT_OBJS];
    int rc = 0;

    if (!w->text_layer)
        return 0;
    if (w->font)
        san_text_font_objects(w->font, PDFW_OBJ_FONT, objs);
    for (size_t i = 0; i < SAN_TEXT_FONT_OBJS; i++) {
        if (rc == 0 &&
            (pdfw_begin_obj(w, PDFW_OBJ_FONT + i) < 0 ||
             (w->font ? pdfw_put(w, objs[i]->str, objs[i]->len) : pdfw_printf(w, "null\n")) < 0 ||
             pdfw_printf(w, "endobj\n") < 0))
            rc = -1;
        if (w->font)
            g_string_free(objs[i], TRUE);
    }
    return rc;
}

/* Write the Pages object with its Kids array. */
static int pdfw_pages(pdfw *w)
{
    if (pdfw_begin_obj(w, PDFW_OBJ_PAGES) < 0 || pdfw_printf(w, "<< /Type /Pages /Kids [") < 0)
        return -1;
    for (unsigned i = 0; i < w->npages; i++)
        if (pdfw_printf(w, "%s%zu 0 R", (i % 8) ? " " : "\n", pdfw_page_obj(w, i)) < 0)
            return -1;
    return pdfw_printf(w, " ] /Count %u >>\nendobj\n", w->npages);
}

/* Write the cross-reference table and the trailer. */
static int pdfw_xref(pdfw *w)
{
    size_t start = w->pos;
    size_t size = w->nobj + 1;
    if (pdfw_printf(w, "xref\n0 %zu\n0000000000 65535 f \n", size) < 0)
        return -1;
    for (size_t i = 1; i < size; i++) {
        if (w->offsets[i] > 9999999999ull) {
            mg_error("pdfout: file too large for the xref table");
            return -1;
        }
        if (pdfw_printf(w, "%010zu 00000 n \n", w->offsets[i]) < 0)
            return -1;
    }
    return pdfw_printf(w,
                       "trailer\n<< /Size %zu /Root %u 0 R /Info %u 0 R >>\nstartxref\n%zu\n"
                       "%%%%EOF\n",
                       size, PDFW_OBJ_CATALOG, PDFW_OBJ_INFO, start);
}

/* Write the page tree, xref and trailer, and flush. 0 or -1 (also when no page was added). */
int pdfw_finish(pdfw *w)
{
    if (w == NULL || w->failed)
        return -1;
    if (pdfw_job_end(w) < 0)
        return -1;
    if (w->npages == 0) {
        mg_error("pdfout: no pages");
        w->failed = 1;
        return -1;
    }
    if (pdfw_fonts(w) < 0 || pdfw_pages(w) < 0 || pdfw_xref(w) < 0 || pdfw_flush(w) < 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* Release the writer; the fd stays open. Accepts NULL. */
void pdfw_free(pdfw *w)
{
    if (w == NULL)
        return;
    if (w->job.threaded)
        pthread_join(w->job.thread, NULL);
    free(w->job.bits);
    free(w->job.data);
    free(w->offsets);
    free(w->rows);
    free(w->zin);
    free(w->zdata);
    free(w->bw);
    for (int i = 0; i < PDFW_ZLEVELS; i++)
        if (w->zc[i])
            libdeflate_free_compressor(w->zc[i]);
    san_text_font_free(w->font);
    free(w);
}
