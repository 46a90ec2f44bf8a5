/*
 * sanitize/pdfout.c - image-only PDF 1.4 writer for the trusted side.
 *
 * Run by the sanitizer worker (and sanitize-file) after the render jail has
 * delivered raw pixels. It never sees untrusted bytes other than pixel values
 * whose dimensions the caller has already bounded, and it re-checks them.
 *
 * Pages are written to the fd as they arrive: one image XObject (Flate with
 * PNG predictors, DeviceGray when the page is grey), its length, a content
 * stream and the page object. Only object offsets are kept, so memory is flat
 * in the page count. The Pages object number is reserved up front and its
 * Kids array written at the end, followed by the xref table and trailer.
 *
 * It must never write anything but images: no fonts, annotations, actions,
 * JavaScript, forms or metadata streams.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "mg.h"
#include "san_int.h"

#define PDFW_BUF 65536
#define PDFW_MAX_DIM 10000u
#define PDFW_MAX_DPI 2400u
#ifndef PDFW_ZLEVEL
#define PDFW_ZLEVEL 6
#endif
#define PDFW_BAND 8u   /* rows per band when sampling a page */
#define PDFW_SAMPLE 8u /* sample one band in PDFW_SAMPLE */
#define PDFW_OBJ_CATALOG 1u
#define PDFW_OBJ_PAGES 2u
#define PDFW_OBJ_INFO 3u
#define PDFW_OBJS_PER_PAGE 4u /* image, image length, content, page */

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
    uint8_t *rows; /* 7 row buffers for the predictor: prev, cur, 5 candidates */
    size_t row_cap;
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

/* Non-zero when every pixel has r == g == b. */
static int pdfw_is_gray(unsigned width, unsigned height, const uint8_t *rgb)
{
    size_t n = (size_t)width * height;
    for (size_t i = 0; i < n; i++, rgb += 3)
        if (rgb[0] != rgb[1] || rgb[1] != rgb[2])
            return 0;
    return 1;
}

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

/* Feed len bytes to the deflate stream (or finish it) and write what comes out. */
static int pdfw_deflate(pdfw *w, z_stream *z, const uint8_t *data, size_t len, int flush)
{
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)len;
    for (;;) {
        z->next_out = w->zout;
        z->avail_out = sizeof w->zout;
        int rc = deflate(z, flush);
        if (rc == Z_STREAM_ERROR) {
            mg_error("pdfout: deflate failed");
            return -1;
        }
        size_t got = sizeof w->zout - z->avail_out;
        if (got && !w->discard && pdfw_put(w, w->zout, got) < 0)
            return -1;
        if (flush == Z_FINISH ? rc == Z_STREAM_END : z->avail_out != 0)
            return 0;
    }
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

/* Load row y of the page into cur as bpp-byte pixels. */
static void pdfw_load_row(uint8_t *cur, const uint8_t *rgb, unsigned width, unsigned y, size_t bpp)
{
    const uint8_t *src = rgb + (size_t)y * width * 3;
    if (bpp == 3) {
        memcpy(cur, src, (size_t)width * 3);
        return;
    }
    for (size_t x = 0; x < width; x++)
        cur[x] = src[x * 3];
}

/* Deflate the rows (every row when sample is 0, else one band of PDFW_BAND rows in
 * sample) with per-row adaptive filters or filter None; *zlen gets the compressed size.
 * When w->discard is set the output is only counted. */
static int pdfw_compress(pdfw *w, const uint8_t *rgb, unsigned width, unsigned height, size_t bpp,
                         int level, int adaptive, unsigned sample, size_t *zlen)
{
    size_t n = (size_t)width * bpp;
    if (pdfw_rows(w, n) < 0)
        return -1;
    uint8_t *prev = w->rows, *cur = w->rows + w->row_cap, *cand[5];
    for (int f = 0; f < 5; f++)
        cand[f] = w->rows + (size_t)(2 + f) * w->row_cap;
    memset(prev, 0, n);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit(&z, level) != Z_OK)
        return -1;
    int rc = 0;
    for (unsigned y = 0; y < height && rc == 0; y++) {
        if (sample && (y / PDFW_BAND) % sample != 0 && ((y + 1) / PDFW_BAND) % sample != 0)
            continue;
        pdfw_load_row(cur, rgb, width, y, bpp);
        if (!sample || (y / PDFW_BAND) % sample == 0) {
            int f = adaptive ? pdfw_filter_row(prev, cur, n, bpp, cand) : 0;
            if (f == 0) {
                cand[0][0] = 0;
                memcpy(cand[0] + 1, cur, n);
            }
            rc = pdfw_deflate(w, &z, cand[f], n + 1, Z_NO_FLUSH);
        }
        uint8_t *t = prev;
        prev = cur;
        cur = t;
    }
    if (rc == 0)
        rc = pdfw_deflate(w, &z, NULL, 0, Z_FINISH);
    *zlen = z.total_out;
    deflateEnd(&z);
    return rc;
}

/* Compress the page. The minimum-sum-of-absolute-differences filter choice wins on
 * photographs and gradients but loses to filter None on anti-aliased text, so both are
 * tried at level 1 on a sample of bands and the smaller is used for the whole page. */
static int pdfw_image_data(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb, size_t bpp,
                           size_t *zlen)
{
    size_t with = 0, without = 0;
    w->discard = 1;
    int rc = pdfw_compress(w, rgb, width, height, bpp, 1, 1, PDFW_SAMPLE, &with);
    if (rc == 0)
        rc = pdfw_compress(w, rgb, width, height, bpp, 1, 0, PDFW_SAMPLE, &without);
    w->discard = 0;
    if (rc < 0)
        return -1;
    return pdfw_compress(w, rgb, width, height, bpp, PDFW_ZLEVEL, with <= without, 0, zlen);
}

/* Write the image XObject (object img) and its length (object img + 1). */
static int pdfw_image(pdfw *w, size_t img, unsigned width, unsigned height, const uint8_t *rgb)
{
    int gray = pdfw_is_gray(width, height, rgb);
    size_t zlen = 0;
    if (pdfw_begin_obj(w, img) < 0 ||
        pdfw_printf(w,
                    "<< /Type /XObject /Subtype /Image /Width %u /Height %u /ColorSpace /%s "
                    "/BitsPerComponent 8 /Length %zu 0 R /Filter /FlateDecode /DecodeParms "
                    "<< /Predictor 15 /Colors %d /BitsPerComponent 8 /Columns %u >> >>\nstream\n",
                    width, height, gray ? "DeviceGray" : "DeviceRGB", img + 1, gray ? 1 : 3,
                    width) < 0)
        return -1;
    if (pdfw_image_data(w, width, height, rgb, gray ? 1 : 3, &zlen) < 0) {
        w->failed = 1;
        return -1;
    }
    if (pdfw_printf(w, "\nendstream\nendobj\n") < 0 || pdfw_begin_obj(w, img + 1) < 0 ||
        pdfw_printf(w, "%zu\nendobj\n", zlen) < 0)
        return -1;
    return 0;
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
    if (pdfw_begin_obj(w, first) < 0 || pdfw_printf(w, "<< /Length %d >>\nstream\n", n) < 0 ||
        pdfw_put(w, content, (size_t)n) < 0 || pdfw_printf(w, "endstream\nendobj\n") < 0)
        return -1;
    if (pdfw_begin_obj(w, first + 1) < 0 ||
        pdfw_printf(w,
                    "<< /Type /Page /Parent %u 0 R /MediaBox [0 0 %s %s] "
                    "/Resources << /XObject << /Im0 %zu 0 R >> >> /Contents %zu 0 R >>\n"
                    "endobj\n",
                    PDFW_OBJ_PAGES, pw, ph, img, first) < 0)
        return -1;
    return 0;
}

/* Object number of page i's page object. */
static size_t pdfw_page_obj(unsigned i)
{
    return PDFW_OBJ_INFO + 1 + (size_t)i * PDFW_OBJS_PER_PAGE + 3;
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
    size_t img = PDFW_OBJ_INFO + 1 + (size_t)w->npages * PDFW_OBJS_PER_PAGE;
    if (pdfw_image(w, img, width, height, rgb) < 0 ||
        pdfw_page(w, img + 2, img, width, height) < 0) {
        w->failed = 1;
        return -1;
    }
    w->npages++;
    return 0;
}

/* Write the Pages object with its Kids array. */
static int pdfw_pages(pdfw *w)
{
    if (pdfw_begin_obj(w, PDFW_OBJ_PAGES) < 0 || pdfw_printf(w, "<< /Type /Pages /Kids [") < 0)
        return -1;
    for (unsigned i = 0; i < w->npages; i++)
        if (pdfw_printf(w, "%s%zu 0 R", (i % 8) ? " " : "\n", pdfw_page_obj(i)) < 0)
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
    if (w->npages == 0) {
        mg_error("pdfout: no pages");
        w->failed = 1;
        return -1;
    }
    if (pdfw_pages(w) < 0 || pdfw_xref(w) < 0 || pdfw_flush(w) < 0) {
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
    free(w->offsets);
    free(w->rows);
    free(w);
}
