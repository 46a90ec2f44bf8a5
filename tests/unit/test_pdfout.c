/*
 * tests/unit/test_pdfout.c - unit tests of the trusted-side output writers:
 * the image-only PDF writer (pdfout.c) and the PNG/JPEG re-encoder (imgout.c).
 *
 * Every page kind the PDF writer tells apart is drawn here (text-like strokes,
 * a 4-colour chart, grey levels, a grey gradient, anti-aliased grey and colour
 * text drawn with cairo, noisy photographs, a mixed page, palettes of exactly
 * 256 and 257 colours), written, and read back the way a user would check it:
 * `pdfimages -list` for the colour space, bits and encoding chosen, `pdftoppm`
 * at the same dpi for the pixels (exact for lossless encodings, within a stated
 * tolerance for JPEG and reduced text), poppler-glib for page count and size,
 * and `qpdf --check`. Pages of grey text are made bilevel and coded as JBIG2
 * (jbig2.c): they must render back as exactly the bilevel pixels the rule in
 * bilevel_ref makes, through poppler and through jbig2dec on the raw stream;
 * the coder alone is driven with edge widths, blank, black and noise images.
 * Files go to a private temporary directory that is removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cairo.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib.h>
#include <poppler.h>

#include "san_int.h"

typedef enum {
    PIX_GRAY_TEXT,      /* white page, blocks of ink 20: two grey levels off the 1-bit grid */
    PIX_COLOUR,         /* colour blocks: a hundred-odd flat colours */
    PIX_GRADIENT_NOISE, /* colour gradients with noise: a photograph */
    PIX_TWO_COLOUR,     /* two flat colours side by side */
    PIX_STROKES,        /* black text-like strokes on white: 0 and 255 only */
    PIX_CHART,          /* a bar chart in 4 colours */
    PIX_GRAY_LEVELS,    /* 5 flat grey levels, none on the 2- or 4-bit grid */
    PIX_GRADIENT,       /* smooth radial grey gradient */
    PIX_GRAY_PHOTO,     /* grey gradient with noise: a grey photograph */
    PIX_MIXED,          /* a photograph over the top half, strokes below */
    PIX_PALETTE_256,    /* exactly 256 colours, the last on one pixel only */
    PIX_PALETTE_257,    /* 257 colours, the last on one pixel only */
    PIX_AA_TEXT,        /* Japanese text drawn by cairo, anti-aliased, black on white */
    PIX_AA_COLOUR_TEXT, /* the same in black, red and blue */
    PIX_THIN_LINES,     /* 0.5-px lines at eighths of a pixel apart over grey text */
    PIX_TEXT_FILL,      /* grey text beside a flat grey box (a shaded cell) */
    PIX_TEXT_LIGHT,     /* grey text beside a table ruled in 1-px lines of light grey */
    PIX_TEXT_PALE       /* grey text beside a pale grey box (a watermark, 4 levels' white) */
} pix_kind;

/* The thin lines of PIX_THIN_LINES: horizontal line k at y = THIN_Y + k * THIN_STEP + k / 8,
 * from x = THIN_FROM to THIN_TO, vertical ones likewise across. */
#define THIN_Y 20
#define THIN_STEP 10
#define THIN_FROM 20
#define THIN_TO 380
#define THIN_TEXT_Y 440 /* where the text under the lines starts */

static char tmpdir[64];

/* Deterministic pseudo-random numbers for the noise images. */
static unsigned lcg(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* Set pixel (x, y) of an RGB buffer. */
static void put_px(uint8_t *p, unsigned w, unsigned x, unsigned y, int r, int g, int b)
{
    uint8_t *q = p + ((size_t)y * w + x) * 3;
    q[0] = (uint8_t)r;
    q[1] = (uint8_t)g;
    q[2] = (uint8_t)b;
}

/* Clamp an int to a byte. */
static int clamp8(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* Non-zero where a page of strokes has ink: lines of 24 px, "characters" with gaps. */
static int stroke_ink(unsigned w, unsigned x, unsigned y)
{
    unsigned line = y % 48, col = x % 24;
    if (line < 8 || line >= 32 || x < 40 || x + 40 >= w || col >= 20)
        return 0;
    return col < 3 || line % 8 < 2 || (col + line) % 9 == 0;
}

/* Colour of pixel (x, y) of a photograph-like page: gradients and noise. */
static void photo_px(unsigned w, unsigned h, unsigned x, unsigned y, unsigned *seed, int out[3])
{
    int n = (int)(lcg(seed) % 17) - 8;
    out[0] = clamp8((int)(x * 255 / w) + n);
    out[1] = clamp8((int)(y * 255 / h) + n);
    out[2] = clamp8(128 + n);
}

/* Colour of the 4-colour chart at (x, y): white, three bars and a black axis. */
static void chart_px(unsigned w, unsigned h, unsigned x, unsigned y, int out[3])
{
    static const int bars[3][3] = {{200, 40, 40}, {40, 120, 200}, {0, 0, 0}};
    unsigned bar = x * 4 / w, top = h / 5 + bar * h / 6;
    int in_bar = bar < 3 && x % (w / 4) > w / 16 && y > top && y < h - h / 10;
    const int *c = in_bar ? bars[bar] : NULL;
    if (y == h - h / 10 || x == w / 20)
        c = bars[2];
    out[0] = c ? c[0] : 255;
    out[1] = c ? c[1] : 255;
    out[2] = c ? c[2] : 255;
}

/* Colour of pixel (x, y) for an image of the given kind (not the cairo-drawn ones). */
static void kind_px(pix_kind kind, unsigned w, unsigned h, unsigned x, unsigned y, unsigned *seed,
                    int out[3])
{
    switch (kind) {
    case PIX_GRAY_TEXT: { /* white page with dark "lines of text" in 24 px blocks */
        int ink = (y / 24) % 2 == 1 && (x / 24) % 5 != 4 && x > 100 && x + 100 < w;
        out[0] = out[1] = out[2] = ink ? 20 : 255;
        break;
    }
    case PIX_COLOUR: /* colour blocks */
        out[0] = (int)((x / 64) * 40 % 256);
        out[1] = (int)((y / 64) * 60 % 256);
        out[2] = (int)(((x + y) / 64) * 30 % 256);
        break;
    case PIX_GRADIENT_NOISE:
        photo_px(w, h, x, y, seed, out);
        break;
    case PIX_TWO_COLOUR:
        out[0] = x < w / 2 ? 255 : 30;
        out[1] = x < w / 2 ? 255 : 60;
        out[2] = x < w / 2 ? 255 : 200;
        break;
    case PIX_STROKES:
        out[0] = out[1] = out[2] = stroke_ink(w, x, y) ? 0 : 255;
        break;
    case PIX_CHART:
        chart_px(w, h, x, y, out);
        break;
    case PIX_GRAY_LEVELS: {
        static const int levels[5] = {10, 60, 128, 200, 250};
        out[0] = out[1] = out[2] = levels[(x / 50 + y / 50) % 5];
        break;
    }
    case PIX_GRADIENT: /* radial, so that no row repeats another */
        out[0] = out[1] = out[2] = (int)(sqrt((double)x * x + (double)y * y) * 255.0 /
                                         sqrt((double)w * w + (double)h * h));
        break;
    case PIX_GRAY_PHOTO:
        photo_px(w, h, x, y, seed, out);
        out[1] = out[2] = out[0];
        break;
    case PIX_MIXED:
        if (y < h / 2)
            photo_px(w, h, x, y, seed, out);
        else
            out[0] = out[1] = out[2] = stroke_ink(w, x, y) ? 0 : 255;
        break;
    case PIX_PALETTE_256:
    case PIX_PALETTE_257: { /* 255 (or 256) colours in bands; the last one on one pixel */
        unsigned n = kind == PIX_PALETTE_256 ? 255 : 256, i = (x + y * w) * n / (w * h);
        if (x == w / 2 && y == h - 1)
            i = n;
        out[0] = (int)(i * 37 % 256);
        out[1] = (int)(i * 101 % 256);
        out[2] = (int)(i / 2);
        break;
    }
    default:
        out[0] = out[1] = out[2] = 0;
    }
}

/* Draw 0.5-px lines, 8 horizontal and 8 vertical, each an eighth of a pixel further off the
 * pixel grid than the one before (PIX_THIN_LINES). */
static void draw_thin_lines(cairo_t *cr)
{
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.5);
    for (int k = 0; k < 8; k++) {
        double off = THIN_Y + k * THIN_STEP + k / 8.0;
        cairo_move_to(cr, THIN_FROM, off);
        cairo_line_to(cr, THIN_TO, off);
        cairo_move_to(cr, off, THIN_Y + 8 * THIN_STEP + 20);
        cairo_line_to(cr, off, THIN_TO);
    }
    cairo_stroke(cr);
}

/* Draw lines of Japanese text with cairo (anti-aliased, grey) into an RGB buffer of w x h;
 * in colour, lines alternate black, red and blue. PIX_THIN_LINES has its lines above the
 * text, PIX_TEXT_FILL a flat grey box beside it, PIX_TEXT_LIGHT a table of light grey lines. */
static void draw_text(uint8_t *p, unsigned w, unsigned h, pix_kind kind)
{
    static const double inks[3][3] = {{0, 0, 0}, {0.8, 0.1, 0.1}, {0.1, 0.2, 0.7}};
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    cairo_t *cr = cairo_create(s);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_set_font_options(cr, fo);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "IPAexMincho", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 22);
    unsigned top = kind == PIX_THIN_LINES ? THIN_TEXT_Y : 60;
    for (unsigned line = 0; top + line * 34 < h; line++) {
        const double *c = inks[kind == PIX_AA_COLOUR_TEXT ? line % 3 : 0];
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_move_to(cr, 40, top + line * 34);
        cairo_show_text(cr, "情報政策課は、電子メールの無害化について検討を行いました。");
    }
    if (kind == PIX_THIN_LINES)
        draw_thin_lines(cr);
    if (kind == PIX_TEXT_LIGHT) {
        /* Light grey 204, on whole pixels: lighter than a ridge can be and be ink. */
        cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
        cairo_set_line_width(cr, 1);
        for (int k = 0; k < 4; k++) {
            cairo_move_to(cr, w / 2.0, 10.5 + k * 10);
            cairo_line_to(cr, w * 3 / 4.0, 10.5 + k * 10);
            cairo_move_to(cr, w / 2.0 + 0.5 + k * w / 12.0, 10);
            cairo_line_to(cr, w / 2.0 + 0.5 + k * w / 12.0, 41);
        }
        cairo_stroke(cr);
    }
    if (kind == PIX_TEXT_FILL || kind == PIX_TEXT_PALE) {
        /* 204, or 225 (a pale shade that 4 grey levels round to white) */
        double v = kind == PIX_TEXT_FILL ? 0.8 : 225 / 255.0;
        cairo_set_source_rgb(cr, v, v, v);
        cairo_rectangle(cr, w / 2.0, 10, w / 4.0, 30);
        cairo_fill(cr);
    }
    cairo_surface_flush(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            uint32_t v = *(const uint32_t *)(data + (size_t)y * (size_t)stride + x * 4);
            put_px(p, w, x, y, (int)(v >> 16 & 0xff), (int)(v >> 8 & 0xff), (int)(v & 0xff));
        }
    cairo_font_options_destroy(fo);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

/* New w x h RGB image of the given kind; caller frees with free(). */
static uint8_t *make_pixels(pix_kind kind, unsigned w, unsigned h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
    if (kind == PIX_AA_TEXT || kind == PIX_AA_COLOUR_TEXT || kind == PIX_THIN_LINES ||
        kind == PIX_TEXT_FILL || kind == PIX_TEXT_LIGHT || kind == PIX_TEXT_PALE) {
        draw_text(p, w, h, kind);
        return p;
    }
    unsigned seed = 42;
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            int c[3] = {0, 0, 0};
            kind_px(kind, w, h, x, y, &seed, c);
            put_px(p, w, x, y, c[0], c[1], c[2]);
        }
    return p;
}

/* Path of a file in the test's temporary directory (static buffer). */
static const char *tmp_path(const char *name)
{
    static char path[256];
    int n = snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < sizeof path);
    return path;
}

/* Whole content of a file; caller frees with g_free. */
static char *slurp(const char *path, size_t *len)
{
    gchar *data = NULL;
    gsize n = 0;
    assert_true(g_file_get_contents(path, &data, &n, NULL));
    *len = n;
    return data;
}

/* Non-zero when needle occurs in the first len bytes of hay. */
static int contains(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

typedef struct {
    pix_kind kind;
    unsigned w, h;
} page_spec;

/* Write a PDF of the given pages at dpi to path, grey text pages in 4 grey levels when grey
 * is set ([render] text_pages = grey), else bilevel. */
static void write_pdf_text(const char *path, const page_spec *pages, size_t n, unsigned dpi,
                           int grey)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    pdfw *w = pdfw_new(fd, dpi);
    assert_non_null(w);
    assert_int_equal(pdfw_grey_text(w, grey), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *px = make_pixels(pages[i].kind, pages[i].w, pages[i].h);
        assert_int_equal(pdfw_add_page(w, pages[i].w, pages[i].h, px), 0);
        free(px);
    }
    assert_int_equal(pdfw_finish(w), 0);
    pdfw_free(w);
    assert_int_equal(close(fd), 0);
}

/* Write a PDF of the given pages at dpi to path, as the writer does by default. */
static void write_pdf(const char *path, const page_spec *pages, size_t n, unsigned dpi)
{
    write_pdf_text(path, pages, n, dpi, 0);
}

/* Run a shell command; its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    return system(cmd);
}

/* `qpdf --check` passes on path. */
static void qpdf_check(const char *path)
{
    assert_int_equal(run("qpdf --check '%s' >/dev/null", path), 0);
}

/* One row of `pdfimages -list`. */
typedef struct {
    unsigned page;
    char type[16], color[16], enc[16];
    unsigned width, height, comp, bpc;
} img_row;

/* The images of path as `pdfimages -list` lists them into rows (at most max); their count. */
static size_t list_images(const char *path, img_row *rows, size_t max)
{
    char cmd[512], line[512];
    int n = snprintf(cmd, sizeof cmd, "pdfimages -list '%s'", path);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t count = 0;
    while (fgets(line, sizeof line, f)) {
        img_row r;
        unsigned num;
        if (sscanf(line, "%u %u %15s %u %u %15s %u %u %15s", &r.page, &num, r.type, &r.width,
                   &r.height, r.color, &r.comp, &r.bpc, r.enc) == 9 &&
            count < max)
            rows[count++] = r;
    }
    assert_int_equal(pclose(f), 0);
    return count;
}

/* Render page (1-based) of path with `pdftocairo -r dpi` (poppler's cairo backend, which
 * maps an image 1:1 onto pixels at its own dpi; pdftoppm's Splash blurs image edges by up
 * to a pixel whatever the encoding); the RGB pixels (caller frees) and their size. */
static uint8_t *render_page(const char *path, unsigned page, unsigned dpi, unsigned *w, unsigned *h)
{
    assert_int_equal(run("pdftocairo -png -r %u -f %u -l %u -singlefile '%s' '%s/back'", dpi, page,
                         page, path, tmpdir),
                     0);
    const char *png = tmp_path("back.png");
    GdkPixbuf *pb = gdk_pixbuf_new_from_file(png, NULL);
    assert_non_null(pb);
    unlink(png);
    *w = (unsigned)gdk_pixbuf_get_width(pb);
    *h = (unsigned)gdk_pixbuf_get_height(pb);
    int nch = gdk_pixbuf_get_n_channels(pb), stride = gdk_pixbuf_get_rowstride(pb);
    const guchar *q = gdk_pixbuf_read_pixels(pb);
    uint8_t *px = malloc((size_t)*w * *h * 3);
    assert_non_null(px);
    for (unsigned y = 0; y < *h; y++)
        for (unsigned x = 0; x < *w; x++)
            memcpy(px + ((size_t)y * *w + x) * 3, q + (size_t)y * (size_t)stride + x * (size_t)nch,
                   3);
    g_object_unref(pb);
    return px;
}

/* How far rendered pixels are from the source: largest and mean absolute channel
 * difference, and the pixels whose darkness (below or above mid-grey) changed. */
typedef struct {
    int max;
    double mean;
    size_t ink_changed;
} px_diff;

/* Compare two RGB buffers of n pixels. */
static px_diff compare(const uint8_t *a, const uint8_t *b, size_t n)
{
    px_diff d = {0, 0, 0};
    double sum = 0;
    for (size_t i = 0; i < n * 3; i++) {
        int v = abs((int)a[i] - (int)b[i]);
        d.max = v > d.max ? v : d.max;
        sum += v;
        d.ink_changed += (a[i] < 128) != (b[i] < 128);
    }
    d.mean = sum / ((double)n * 3);
    return d;
}

/* Open path with poppler and check page count and sizes. */
static void check_with_poppler(const char *path, const page_spec *pages, size_t n, unsigned dpi)
{
    gchar *uri = g_filename_to_uri(path, NULL, NULL);
    assert_non_null(uri);
    GError *err = NULL;
    PopplerDocument *doc = poppler_document_new_from_file(uri, NULL, &err);
    g_free(uri);
    assert_non_null(doc);
    assert_int_equal(poppler_document_get_n_pages(doc), (int)n);
    for (size_t i = 0; i < n; i++) {
        PopplerPage *page = poppler_document_get_page(doc, (int)i);
        assert_non_null(page);
        double pw = 0, ph = 0;
        poppler_page_get_size(page, &pw, &ph);
        assert_true(fabs(pw - pages[i].w * 72.0 / dpi) < 0.01);
        assert_true(fabs(ph - pages[i].h * 72.0 / dpi) < 0.01);
        g_object_unref(page);
    }
    g_object_unref(doc);
}

/* The PDF's text with every stream's data left out: its objects' dictionaries. Caller frees
 * with g_free. */
static char *dicts_only(const char *data, size_t len, size_t *out_len)
{
    char *out = g_malloc(len + 1);
    size_t n = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *s = memmem(p, (size_t)(end - p), "stream\n", 7);
        const char *stop = s ? s + 7 : end;
        memcpy(out + n, p, (size_t)(stop - p));
        n += (size_t)(stop - p);
        if (!s)
            break;
        const char *e = memmem(stop, (size_t)(end - stop), "endstream", 9);
        assert_non_null(e);
        memcpy(out + n, e, 9);
        n += 9;
        p = e + 9;
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* No fonts, annotations, actions, scripts, forms or metadata anywhere in the PDF. */
static void check_no_active(const char *path)
{
    size_t len, dlen;
    char *data = slurp(path, &len);
    char *dicts = dicts_only(data, len, &dlen);
    const char *banned[] = {"/Font", "/Annot",    "/JS",       "/JavaScript", "/OpenAction",
                            "/AA",   "/Metadata", "/AcroForm", "/Launch",     "/URI"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        assert_false(contains(dicts, dlen, banned[i]));
    assert_true(contains(dicts, dlen, "/Producer (mugai)"));
    assert_true(len > 20 && memcmp(data + len - 6, "%%EOF\n", 6) == 0);
    g_free(dicts);
    g_free(data);
}

/* The bilevel pixels (1 = ink, one byte each; caller frees) the writer makes of a w x h page
 * of grey text px, by its rule: ink is darker than mid-grey (128), or a ridge no lighter
 * than 199 (darker than the neighbour on one side and no lighter than the one on the other,
 * across or along; outside the page is white). */
static uint8_t *bilevel_ref(const uint8_t *px, unsigned w, unsigned h)
{
    uint8_t *out = calloc((size_t)w * h, 1);
    assert_non_null(out);
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            int g = px[((size_t)y * w + x) * 3];
            int u = y > 0 ? px[((size_t)(y - 1) * w + x) * 3] : 255;
            int d = y + 1 < h ? px[((size_t)(y + 1) * w + x) * 3] : 255;
            int l = x > 0 ? px[((size_t)y * w + x - 1) * 3] : 255;
            int r = x + 1 < w ? px[((size_t)y * w + x + 1) * 3] : 255;
            out[(size_t)y * w + x] =
                g < 128 || (g <= 199 && ((g < u && g <= d) || (g < l && g <= r)));
        }
    return out;
}

/* Pixels of the rendering back (RGB) that are not black where bilevel_ref(px) has ink and
 * white elsewhere. */
static size_t bilevel_diff(const uint8_t *px, const uint8_t *back, unsigned w, unsigned h)
{
    uint8_t *ref = bilevel_ref(px, w, h);
    size_t bad = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        for (int k = 0; k < 3; k++)
            bad += back[i * 3 + k] != (ref[i] ? 0 : 255);
    free(ref);
    return bad;
}

/* What each page kind must come out as, and how close to the source it must render. */
typedef struct {
    pix_kind kind;
    unsigned w, h;
    const char *color; /* pdfimages: gray, rgb or index */
    unsigned bpc;
    const char *enc;  /* pdfimages: image (Flate) or jpeg */
    int max_diff;     /* largest channel difference allowed once rendered back; 0: exact */
    double mean_diff; /* mean channel difference allowed */
    int ink_kept;     /* pixels stay on their side of mid-grey (strokes keep their shape): 1 on the
                       * whole page, 2 on its lower half (the text of the mixed page); 3: the
                       * page renders as exactly the bilevel pixels bilevel_ref makes of it */
} enc_case;

static const enc_case enc_cases[] = {
    /* Lossless: few colours, each at the depth it needs. */
    {PIX_STROKES, 640, 480, "gray", 1, "image", 0, 0, 1},
    {PIX_GRAY_TEXT, 640, 480, "index", 1, "image", 0, 0, 1},
    {PIX_TWO_COLOUR, 640, 480, "index", 1, "image", 0, 0, 1},
    {PIX_CHART, 640, 480, "index", 2, "image", 0, 0, 1},
    {PIX_GRAY_LEVELS, 640, 480, "index", 4, "image", 0, 0, 1},
    /* Flat colour blocks in more colours than a palette holds: lossless RGB. */
    {PIX_COLOUR, 800, 600, "rgb", 8, "image", 0, 0, 1},
    {PIX_PALETTE_256, 640, 480, "index", 8, "image", 0, 0, 1},
    /* A smooth gradient: lossless 8-bit grey (predictors make it small). */
    {PIX_GRADIENT, 640, 480, "gray", 8, "image", 0, 0, 1},
    /* Anti-aliased grey text: bilevel, JBIG2, exactly as bilevel_ref says (thin lines too);
     * beside a flat grey box or a table ruled in light grey, which bilevel would lose, 4 grey
     * levels (within 42: the light lines stay), no stroke changing side of mid-grey. Colour
     * text: 16 levels per channel (within 8). */
    {PIX_AA_TEXT, 800, 600, "gray", 1, "jbig2", 255, 12.0, 3},
    {PIX_THIN_LINES, 640, 600, "gray", 1, "jbig2", 255, 12.0, 3},
    {PIX_TEXT_FILL, 800, 600, "gray", 2, "image", 42, 3.0, 1},
    {PIX_TEXT_LIGHT, 800, 600, "gray", 2, "image", 42, 3.0, 1},
    /* Beside a pale box that 4 levels would make white: 16 levels (within 8: it stays). */
    {PIX_TEXT_PALE, 800, 600, "gray", 4, "image", 8, 1.0, 1},
    {PIX_AA_COLOUR_TEXT, 800, 600, "index", 8, "image", 8, 1.0, 0},
    /* One colour more than a palette holds: flat colours, so rounded like colour text. */
    {PIX_PALETTE_257, 640, 480, "index", 8, "image", 8, 4.5, 0},
    /* Photographs and a mixed page: JPEG. */
    {PIX_GRADIENT_NOISE, 640, 480, "rgb", 8, "jpeg", 24, 4.0, 0},
    {PIX_GRAY_PHOTO, 640, 480, "gray", 8, "jpeg", 24, 4.0, 0},
    {PIX_MIXED, 800, 1000, "rgb", 8, "jpeg", 60, 4.0, 2},
};

/* Every page kind gets the encoding it fits, and renders back as the table says. */
static void test_pdf_encodings(void **state)
{
    (void)state;
    const size_t n = sizeof enc_cases / sizeof *enc_cases;
    page_spec pages[sizeof enc_cases / sizeof *enc_cases];
    for (size_t i = 0; i < n; i++)
        pages[i] = (page_spec){enc_cases[i].kind, enc_cases[i].w, enc_cases[i].h};
    gchar *path = g_strdup(tmp_path("kinds.pdf"));
    write_pdf(path, pages, n, 150);
    qpdf_check(path);
    check_with_poppler(path, pages, n, 150);
    check_no_active(path);
    img_row rows[32];
    assert_int_equal(list_images(path, rows, 32), n);
    for (size_t i = 0; i < n; i++) {
        const enc_case *c = &enc_cases[i];
        print_message("page %zu: %s %u %s\n", i + 1, rows[i].color, rows[i].bpc, rows[i].enc);
        assert_int_equal(rows[i].page, i + 1);
        assert_string_equal(rows[i].type, "image");
        assert_string_equal(rows[i].color, c->color);
        assert_int_equal(rows[i].bpc, c->bpc);
        assert_string_equal(rows[i].enc, c->enc);
        unsigned w = 0, h = 0;
        uint8_t *back = render_page(path, (unsigned)i + 1, 150, &w, &h);
        assert_int_equal(w, c->w);
        assert_int_equal(h, c->h);
        uint8_t *px = make_pixels(c->kind, c->w, c->h);
        px_diff d = compare(px, back, (size_t)w * h);
        print_message("page %zu: max %d mean %.3f ink changed %zu\n", i + 1, d.max, d.mean,
                      d.ink_changed);
        assert_true(d.max <= c->max_diff);
        assert_true(d.mean <= c->mean_diff);
        if (c->ink_kept == 1)
            assert_int_equal(d.ink_changed, 0);
        if (c->ink_kept == 3)
            assert_int_equal(bilevel_diff(px, back, w, h), 0);
        size_t half = (size_t)w * (h / 2) * 3;
        if (c->ink_kept == 2)
            assert_int_equal(compare(px + half, back + half, (size_t)w * (h - h / 2)).ink_changed,
                             0);
        free(px);
        free(back);
    }
    g_free(path);
}

/* A page of grey text at 150 dpi: A4 in points; bilevel JBIG2 under the 50 KB a text page
 * may take, or, with [render] text_pages = grey, 2-bit grey at a fraction of 8-bit's size. */
static void test_pdf_text_a4(void **state)
{
    (void)state;
    const struct {
        int grey;
        const char *dict;
        size_t max;
    } rows[] = {
        {0, "/ColorSpace /DeviceGray /BitsPerComponent 1 /Length 5 0 R /Filter /JBIG2Decode >>",
         50 * 1024},
        /* The same pixels as 8-bit grey with Flate take about 1.7 bytes per 100 pixels. */
        {1, "/ColorSpace /DeviceGray /BitsPerComponent 2 /Length 5 0 R /Filter /FlateDecode",
         (size_t)1240 * 1754 / 100},
    };
    const page_spec pages[] = {{PIX_AA_TEXT, 1240, 1754}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const char *path = tmp_path("text.pdf");
        write_pdf_text(path, pages, 1, 150, rows[i].grey);
        check_with_poppler(path, pages, 1, 150);
        qpdf_check(path);
        assert_true(fabs(1240 * 72.0 / 150 - 595.276) < 1 && fabs(1754 * 72.0 / 150 - 841.89) < 1);
        size_t len;
        char *data = slurp(path, &len);
        print_message("text page, %s: %zu bytes\n", rows[i].grey ? "grey" : "bilevel", len);
        assert_true(contains(data, len, rows[i].dict));
        assert_true(len < rows[i].max);
        g_free(data);
    }
}

/* Ink pixels (darker than mid-grey) of the rendering back (RGB, w wide) across a line at
 * offset off, at position t along it: within two pixels of the line, rows of column t for
 * a horizontal line, columns of row t for a vertical one. */
static unsigned ink_across(const uint8_t *back, unsigned w, double off, unsigned t, int vertical)
{
    unsigned c = (unsigned)off, n = 0;
    for (unsigned j = c - 2; j <= c + 2; j++)
        n += back[((size_t)(vertical ? t : j) * w + (vertical ? j : t)) * 3] < 128;
    return n;
}

/* 0.5-px lines come out one pixel thick and unbroken wherever they fall on the pixel grid:
 * a threshold at mid-grey alone loses those that fall on one row at half ink and those that
 * fall on two at a quarter each. */
static void test_pdf_thin_lines(void **state)
{
    (void)state;
    const page_spec pages[] = {{PIX_THIN_LINES, 640, 600}};
    const char *path = tmp_path("thin.pdf");
    write_pdf(path, pages, 1, 150);
    img_row rows[2];
    assert_int_equal(list_images(path, rows, 2), 1);
    assert_string_equal(rows[0].enc, "jbig2");
    unsigned w = 0, h = 0;
    uint8_t *back = render_page(path, 1, 150, &w, &h);
    assert_int_equal(w, 640);
    for (int k = 0; k < 8; k++) {
        double off = THIN_Y + k * THIN_STEP + k / 8.0;
        for (unsigned t = THIN_FROM + 2; t + 2 < THIN_TO; t++)
            assert_int_equal(ink_across(back, w, off, t, 0), 1);
        for (unsigned t = THIN_Y + 8 * THIN_STEP + 22; t + 2 < THIN_TO; t++)
            assert_int_equal(ink_across(back, w, off, t, 1), 1);
    }
    free(back);
}

/* A binary PBM (P4) file's rows, (w + 7) / 8 bytes each, 1 = black; caller frees. */
static uint8_t *read_pbm(const char *path, unsigned *w, unsigned *h)
{
    size_t len;
    char *data = slurp(path, &len);
    int off = 0;
    assert_int_equal(sscanf(data, "P4 %u %u%n", w, h, &off), 2);
    size_t n = (size_t)(*w + 7) / 8 * *h;
    assert_true((size_t)off + 1 + n == len);
    uint8_t *bits = malloc(n);
    assert_non_null(bits);
    memcpy(bits, data + off + 1, n);
    g_free(data);
    return bits;
}

/* Bit x of packed row (most significant first). */
static int bit_at(const uint8_t *row, unsigned x)
{
    return row[x / 8] >> (7 - x % 8) & 1;
}

/* jbig2dec decodes the embedded stream stream (as PDF holds it) to bilevel pixels: the
 * pixels (rows of (w + 7) / 8 bytes, 1 = black; caller frees). */
static uint8_t *jbig2dec(const char *stream, unsigned *w, unsigned *h)
{
    gchar *in = g_strdup(stream); /* it may be tmp_path's buffer */
    assert_int_equal(run("jbig2dec -q -e -t pbm -o '%s' '%s'", tmp_path("dec.pbm"), in), 0);
    g_free(in);
    uint8_t *bits = read_pbm(tmp_path("dec.pbm"), w, h);
    unlink(tmp_path("dec.pbm"));
    return bits;
}

/* The JBIG2 stream of a page of text, taken out of the PDF as it is, decodes in jbig2dec to
 * exactly the bilevel pixels bilevel_ref makes of the page. */
static void test_pdf_text_jbig2dec(void **state)
{
    (void)state;
    const page_spec pages[] = {{PIX_AA_TEXT, 800, 600}};
    gchar *path = g_strdup(tmp_path("dec.pdf"));
    write_pdf(path, pages, 1, 150);
    assert_int_equal(run("pdfimages -all '%s' '%s/raw'", path, tmpdir), 0);
    unsigned w = 0, h = 0;
    uint8_t *bits = jbig2dec(tmp_path("raw-000.jb2e"), &w, &h);
    unlink(tmp_path("raw-000.jb2e"));
    assert_int_equal(w, 800);
    assert_int_equal(h, 600);
    uint8_t *px = make_pixels(PIX_AA_TEXT, w, h), *ref = bilevel_ref(px, w, h);
    size_t bad = 0;
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++)
            bad += bit_at(bits + (size_t)y * ((w + 7) / 8), x) != ref[(size_t)y * w + x];
    assert_int_equal(bad, 0);
    free(ref);
    free(px);
    free(bits);
    g_free(path);
}

typedef enum { BW_WHITE, BW_BLACK, BW_NOISE, BW_STROKES } bw_kind;

/* Random bits with no pattern the coder could learn (xorshift32; lcg's low bits repeat). */
static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* A w x h bilevel image of the given kind, rows of *stride = (w + 7) / 8 + 2 bytes, 1 =
 * black, with random bits past w (the coder must ignore them). Caller frees. */
static uint8_t *make_bits(bw_kind kind, unsigned w, unsigned h, size_t *stride)
{
    uint32_t seed = 2463534242u;
    *stride = (size_t)(w + 7) / 8 + 2;
    uint8_t *bits = malloc(*stride * h);
    assert_non_null(bits);
    for (size_t i = 0; i < *stride * h; i++)
        bits[i] = (uint8_t)xorshift(&seed);
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            int v = kind == BW_BLACK || (kind == BW_NOISE && xorshift(&seed) >> 31) ||
                    (kind == BW_STROKES && stroke_ink(w, x, y));
            uint8_t *b = bits + (size_t)y * *stride + x / 8, m = (uint8_t)(0x80u >> (x % 8));
            *b = (uint8_t)(v ? *b | m : *b & ~m);
        }
    return bits;
}

/* Write path: a one-page PDF showing the JBIG2 stream data (len bytes) as its w x h image at
 * 150 dpi, as the writer would. */
static void write_jbig2_pdf(const char *path, const uint8_t *data, size_t len, unsigned w,
                            unsigned h)
{
    double pw = w * 72.0 / 150, ph = h * 72.0 / 150;
    GString *s = g_string_new("%PDF-1.4\n");
    size_t off[6];
    char content[128];
    int n = snprintf(content, sizeof content, "q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q\n", pw, ph);
    assert_true(n > 0 && (size_t)n < sizeof content);
    off[1] = s->len;
    g_string_append(s, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[2] = s->len;
    g_string_append(s, "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    off[3] = s->len;
    g_string_append_printf(s,
                           "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] "
                           "/Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>\n"
                           "endobj\n",
                           pw, ph);
    off[4] = s->len;
    g_string_append_printf(s, "4 0 obj\n<< /Length %d >>\nstream\n%sendstream\nendobj\n", n,
                           content);
    off[5] = s->len;
    g_string_append_printf(s,
                           "5 0 obj\n<< /Type /XObject /Subtype /Image /Width %u /Height %u "
                           "/ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /JBIG2Decode "
                           "/Length %zu >>\nstream\n",
                           w, h, len);
    g_string_append_len(s, (const char *)data, (gssize)len);
    size_t xref = s->len + 18;
    g_string_append(s, "\nendstream\nendobj\nxref\n0 6\n0000000000 65535 f \n");
    for (int i = 1; i < 6; i++)
        g_string_append_printf(s, "%010zu 00000 n \n", off[i]);
    g_string_append_printf(s, "trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
                           xref);
    assert_true(g_file_set_contents(path, s->str, (gssize)s->len, NULL));
    g_string_free(s, TRUE);
}

/* The coder alone on images at its edges: widths around a byte, one row, blank and black
 * pages, and random noise, its worst case. Each stream stays within its bound (noise: its
 * bits and a quarter, the price of 65536 contexts learning that there is nothing to learn:
 * 12% on 640 x 480, 6% on a page; blank and black pages: a few dozen bytes), and poppler
 * and jbig2dec decode it to exactly the image. One output buffer serves them all, grown as
 * needed. */
static void test_jbig2_images(void **state)
{
    (void)state;
    const struct {
        unsigned w, h;
        bw_kind kind;
    } rows[] = {
        {1, 1, BW_NOISE},       {1, 40, BW_NOISE},      {7, 40, BW_NOISE},
        {8, 40, BW_NOISE},      {9, 40, BW_NOISE},      {65, 40, BW_NOISE},
        {65, 1, BW_NOISE},      {1240, 1, BW_NOISE},    {65, 96, BW_STROKES},
        {640, 480, BW_NOISE},   {640, 480, BW_STROKES}, {1240, 1754, BW_WHITE},
        {1240, 1754, BW_BLACK}, {1240, 1754, BW_NOISE},
    };
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        unsigned w = rows[i].w, h = rows[i].h;
        size_t stride, len = 0;
        uint8_t *bits = make_bits(rows[i].kind, w, h, &stride);
        assert_int_equal(san_jbig2_encode(bits, stride, w, h, 150, &buf, &cap, &len), 0);
        size_t bound = rows[i].kind == BW_NOISE ? (size_t)w * h / 8 * 5 / 4 + 128 : 128;
        print_message("%ux%u kind %d: %zu bytes (bound %zu)\n", w, h, (int)rows[i].kind, len,
                      bound);
        if (rows[i].kind != BW_STROKES)
            assert_true(len <= bound);
        assert_true(g_file_set_contents(tmp_path("raw.jb2"), (const char *)buf, (gssize)len, NULL));
        unsigned dw = 0, dh = 0;
        uint8_t *dec = jbig2dec(tmp_path("raw.jb2"), &dw, &dh);
        assert_int_equal(dw, w);
        assert_int_equal(dh, h);
        gchar *pdf = g_strdup(tmp_path("raw.pdf"));
        write_jbig2_pdf(pdf, buf, len, w, h);
        uint8_t *back = render_page(pdf, 1, 150, &dw, &dh);
        assert_int_equal(dw, w);
        assert_int_equal(dh, h);
        size_t bad_dec = 0, bad_back = 0;
        for (unsigned y = 0; y < h; y++)
            for (unsigned x = 0; x < w; x++) {
                int b = bit_at(bits + (size_t)y * stride, x);
                bad_dec += bit_at(dec + (size_t)y * ((w + 7) / 8), x) != b;
                bad_back += back[((size_t)y * w + x) * 3] != (b ? 0 : 255);
            }
        assert_int_equal(bad_dec, 0);
        assert_int_equal(bad_back, 0);
        free(back);
        free(dec);
        g_free(pdf);
        free(bits);
    }
    free(buf);
}

/* Bad images are refused, and the caller's buffer is left alone. */
static void test_jbig2_bad_arguments(void **state)
{
    (void)state;
    uint8_t bits[32] = {0};
    uint8_t *buf = NULL;
    size_t cap = 0, len = 1;
    const struct {
        unsigned w, h;
        size_t stride;
        unsigned dpi;
    } rows[] = {{0, 1, 1, 150},     {1, 0, 1, 150},  {10001, 1, 1251, 150},
                {1, 10001, 1, 150}, {17, 1, 2, 150}, {8, 1, 1, 0}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        assert_int_equal(san_jbig2_encode(bits, rows[i].stride, rows[i].w, rows[i].h, rows[i].dpi,
                                          &buf, &cap, &len),
                         -1);
    assert_int_equal(san_jbig2_encode(NULL, 1, 8, 1, 150, &buf, &cap, &len), -1);
    assert_int_equal(san_jbig2_encode(bits, 1, 8, 1, 150, NULL, &cap, &len), -1);
    assert_null(buf);
    assert_int_equal(cap, 0);
}

/* A gradient gets PNG predictors; a page of strokes, where they do not help, gets none. */
static void test_pdf_predictors(void **state)
{
    (void)state;
    const struct {
        pix_kind kind;
        int predictor;
    } rows[] = {{PIX_GRADIENT, 1}, {PIX_STROKES, 0}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const page_spec pages[] = {{rows[i].kind, 640, 480}};
        const char *path = tmp_path("pred.pdf");
        write_pdf(path, pages, 1, 150);
        size_t len;
        char *data = slurp(path, &len);
        assert_int_equal(contains(data, len, "/Predictor 15") != 0, rows[i].predictor);
        g_free(data);
    }
}

/* Many pages of different kinds and sizes in one file: page count, sizes, valid. */
static void test_pdf_many_pages(void **state)
{
    (void)state;
    page_spec pages[24];
    const pix_kind kinds[] = {PIX_COLOUR, PIX_STROKES, PIX_GRADIENT_NOISE, PIX_AA_TEXT};
    for (size_t i = 0; i < 24; i++)
        pages[i] = (page_spec){kinds[i % 4], 200 + (unsigned)i * 13, 150 + (unsigned)i * 7};
    const char *path = tmp_path("many.pdf");
    write_pdf(path, pages, 24, 96);
    check_with_poppler(path, pages, 24, 96);
    qpdf_check(path);
    check_no_active(path);
    img_row rows[32];
    assert_int_equal(list_images(path, rows, 32), 24);
}

/* Bad arguments are refused, and a refused page kills the writer. */
static void test_pdf_bad_arguments(void **state)
{
    (void)state;
    uint8_t px[3 * 4] = {0};
    int fd = open(tmp_path("bad.pdf"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_null(pdfw_new(-1, 150));
    assert_null(pdfw_new(fd, 0));
    assert_null(pdfw_new(fd, 100000));
    pdfw *w = pdfw_new(fd, 150);
    assert_non_null(w);
    assert_int_equal(pdfw_finish(w), -1); /* no pages */
    pdfw_free(w);
    const struct {
        unsigned width, height;
    } rows[] = {{0, 2}, {2, 0}, {10001, 1}, {1, 10001}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        w = pdfw_new(fd, 150);
        assert_int_equal(pdfw_add_page(w, rows[i].width, rows[i].height, px), -1);
        assert_int_equal(pdfw_add_page(w, 2, 2, px), -1);
        assert_int_equal(pdfw_finish(w), -1);
        pdfw_free(w);
    }
    pdfw_free(NULL);
    assert_int_equal(pdfw_add_page(NULL, 2, 2, px), -1);
    close(fd);
}

/* A write error (closed read-only fd) is reported, not ignored. */
static void test_pdf_write_error(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    pdfw *w = pdfw_new(fd, 150);
    uint8_t *px = make_pixels(PIX_GRADIENT_NOISE, 400, 400);
    int rc = w ? pdfw_add_page(w, 400, 400, px) : -1;
    if (rc == 0)
        rc = pdfw_finish(w);
    assert_int_equal(rc, -1);
    free(px);
    pdfw_free(w);
    close(fd);
}

/* List the chunk types of a PNG file; fails on a malformed chunk list. */
static void png_chunks(const char *data, size_t len, char *types, size_t types_len)
{
    assert_true(len > 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0);
    size_t off = 8, used = 0;
    types[0] = '\0';
    while (off + 12 <= len) {
        const uint8_t *p = (const uint8_t *)data + off;
        size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        assert_true(n <= len - off - 12);
        assert_true(used + 6 < types_len);
        memcpy(types + used, p + 4, 4);
        types[used + 4] = ' ';
        used += 5;
        types[used] = '\0';
        off += 12 + n;
    }
    assert_int_equal(off, len);
}

/* Write pixels with imgout and read them back; returns the mean abs difference. */
static double img_roundtrip(const char *name, const char *format, const uint8_t *px, unsigned w,
                            unsigned h)
{
    const char *path = tmp_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(imgout_write(fd, format, w, h, px, 85), 0);
    assert_int_equal(close(fd), 0);
    GdkPixbuf *pb = gdk_pixbuf_new_from_file(path, NULL);
    assert_non_null(pb);
    assert_int_equal(gdk_pixbuf_get_width(pb), (int)w);
    assert_int_equal(gdk_pixbuf_get_height(pb), (int)h);
    assert_int_equal(gdk_pixbuf_get_n_channels(pb), 3);
    const guchar *q = gdk_pixbuf_read_pixels(pb);
    int stride = gdk_pixbuf_get_rowstride(pb);
    double sum = 0;
    for (unsigned y = 0; y < h; y++)
        for (unsigned i = 0; i < w * 3; i++)
            sum += abs((int)q[(size_t)y * (size_t)stride + i] - px[(size_t)y * w * 3 + i]);
    g_object_unref(pb);
    return sum / ((double)w * h * 3);
}

/* PNG is lossless and carries no text or EXIF chunk; JPEG is close and same size. */
static void test_imgout_png_jpeg(void **state)
{
    (void)state;
    uint8_t *px = make_pixels(PIX_COLOUR, 320, 200);
    assert_true(img_roundtrip("out.png", "png", px, 320, 200) == 0.0);
    assert_true(img_roundtrip("out.jpg", "jpeg", px, 320, 200) < 6.0);
    free(px);
    size_t len;
    char *data = slurp(tmp_path("out.png"), &len);
    char types[512];
    png_chunks(data, len, types, sizeof types);
    assert_true(strncmp(types, "IHDR", 4) == 0);
    assert_non_null(strstr(types, "IEND"));
    const char *banned[] = {"tEXt", "iTXt", "zTXt", "eXIf", "iCCP", "tIME"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        assert_null(strstr(types, banned[i]));
    g_free(data);
}

/* Bad arguments to imgout_write are refused. */
static void test_imgout_bad_arguments(void **state)
{
    (void)state;
    uint8_t px[12] = {0};
    int fd = open(tmp_path("bad.img"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(imgout_write(fd, "gif", 2, 2, px, 85), -1);
    assert_int_equal(imgout_write(fd, "png", 0, 2, px, 85), -1);
    assert_int_equal(imgout_write(fd, "png", 2, 10001, px, 85), -1);
    assert_int_equal(imgout_write(fd, "jpeg", 2, 2, px, 0), -1);
    assert_int_equal(imgout_write(-1, "png", 2, 2, px, 85), -1);
    assert_int_equal(imgout_write(fd, "png", 2, 2, NULL, 85), -1);
    close(fd);
}

/* is_photo: one row per image kind. */
static void test_imgout_is_photo(void **state)
{
    (void)state;
    const struct {
        pix_kind kind;
        unsigned w, h;
        int photo;
    } rows[] = {
        {PIX_GRADIENT_NOISE, 640, 480, 1}, {PIX_GRADIENT_NOISE, 37, 2000, 1},
        {PIX_TWO_COLOUR, 640, 480, 0},     {PIX_GRAY_TEXT, 1240, 1754, 0},
        {PIX_COLOUR, 800, 600, 0},         {PIX_GRADIENT_NOISE, 16, 16, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        uint8_t *px = make_pixels(rows[i].kind, rows[i].w, rows[i].h);
        int got = imgout_is_photo(rows[i].w, rows[i].h, px) != 0;
        if (got != rows[i].photo)
            print_error("row %zu: is_photo %d\n", i, got);
        assert_int_equal(got, rows[i].photo);
        free(px);
    }
    assert_int_equal(imgout_is_photo(10, 10, NULL), 0);
}

/* Create the temporary directory. */
static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mugai-pdfout-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* Remove the temporary directory and its files. */
static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            unlink(tmp_path(e->d_name));
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

/* san_rgb_grey against the rule pixel by pixel: pages of odd and even widths, of paper, of
 * every level, with one channel of one pixel off by one at each place in a row (each byte
 * of the eight-pixel blocks the check takes at once, and the row's tail). */
static void test_rgb_grey(void **state)
{
    (void)state;
    static const unsigned widths[] = {1, 2, 7, 8, 9, 15, 16, 17, 24, 25, 33};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        unsigned w = widths[wi], h = 3;
        uint8_t *rgb = malloc((size_t)w * h * 3), lv[256];
        assert_non_null(rgb);
        /* Paper, with a run of level 0 (a black block that must still be marked) and a
         * gradient in the last row. */
        memset(rgb, 255, (size_t)w * h * 3);
        memset(rgb + (size_t)w * 3, 0, (size_t)w * 3);
        for (unsigned x = 0; x < w; x++)
            memset(rgb + ((size_t)2 * w + x) * 3, (int)(x * 7 % 256), 3);
        assert_int_equal(san_rgb_grey(rgb, w, h, lv), 1);
        for (unsigned v = 0; v < 256; v++) {
            int want = v == 255 || v == 0;
            for (unsigned x = 0; x < w; x++)
                want |= v == x * 7 % 256;
            assert_int_equal(lv[v] != 0, want);
        }
        assert_int_equal(san_rgb_grey(rgb, w, h, NULL), 1);
        for (unsigned y = 0; y < h; y++)
            for (size_t i = 0; i < (size_t)w * 3; i++) {
                uint8_t *b = rgb + (size_t)y * w * 3 + i, keep = *b;
                *b = (uint8_t)(keep ^ 1);
                assert_int_equal(san_rgb_grey(rgb, w, h, lv), 0);
                *b = keep;
            }
        assert_int_equal(san_rgb_grey(rgb, w, h, lv), 1);
        free(rgb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pdf_encodings),     cmocka_unit_test(test_pdf_text_a4),
        cmocka_unit_test(test_pdf_thin_lines),    cmocka_unit_test(test_pdf_text_jbig2dec),
        cmocka_unit_test(test_jbig2_images),      cmocka_unit_test(test_jbig2_bad_arguments),
        cmocka_unit_test(test_pdf_predictors),    cmocka_unit_test(test_pdf_many_pages),
        cmocka_unit_test(test_pdf_bad_arguments), cmocka_unit_test(test_pdf_write_error),
        cmocka_unit_test(test_imgout_png_jpeg),   cmocka_unit_test(test_imgout_bad_arguments),
        cmocka_unit_test(test_imgout_is_photo),   cmocka_unit_test(test_rgb_grey),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
