/*
 * tests/unit/test_pdfout.c - unit tests of the trusted-side output writers:
 * the image-only PDF writer (pdfout.c) and the PNG/JPEG re-encoder (imgout.c).
 *
 * PDFs are read back with poppler-glib (page count, page size, rendered
 * pixels) and checked with `qpdf --check` when qpdf is installed; images are
 * read back with gdk-pixbuf and their PNG chunks listed. Files go to a
 * private temporary directory that is removed at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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

typedef enum { PIX_GRAY_TEXT, PIX_COLOUR, PIX_GRADIENT_NOISE, PIX_TWO_COLOUR } pix_kind;

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

/* Colour of pixel (x, y) for an image of the given kind. */
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
    case PIX_GRADIENT_NOISE: {
        int n = (int)(lcg(seed) % 17) - 8;
        out[0] = clamp8((int)(x * 255 / w) + n);
        out[1] = clamp8((int)(y * 255 / h) + n);
        out[2] = clamp8(128 + n);
        break;
    }
    case PIX_TWO_COLOUR:
        out[0] = x < w / 2 ? 255 : 30;
        out[1] = x < w / 2 ? 255 : 60;
        out[2] = x < w / 2 ? 255 : 200;
        break;
    }
}

/* New w x h RGB image of the given kind; caller frees with free(). */
static uint8_t *make_pixels(pix_kind kind, unsigned w, unsigned h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
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

/* Write a PDF of the given pages at dpi to path. */
static void write_pdf(const char *path, const page_spec *pages, size_t n, unsigned dpi)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    pdfw *w = pdfw_new(fd, dpi);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++) {
        uint8_t *px = make_pixels(pages[i].kind, pages[i].w, pages[i].h);
        assert_int_equal(pdfw_add_page(w, pages[i].w, pages[i].h, px), 0);
        free(px);
    }
    assert_int_equal(pdfw_finish(w), 0);
    pdfw_free(w);
    assert_int_equal(close(fd), 0);
}

/* Run `qpdf --check` on path when qpdf is installed. */
static void qpdf_check(const char *path)
{
    if (system("command -v qpdf >/dev/null 2>&1") != 0)
        return;
    char cmd[512];
    int n = snprintf(cmd, sizeof cmd, "qpdf --check '%s' >/dev/null", path);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    assert_int_equal(system(cmd), 0);
}

/* Mean absolute difference between the rendered page and the source pixels. */
static double render_diff(PopplerPage *page, const uint8_t *px, unsigned w, unsigned h,
                          unsigned dpi)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, dpi / 72.0, dpi / 72.0);
    poppler_page_render(page, cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    double sum = 0;
    for (unsigned y = 0; y < h; y++)
        for (unsigned x = 0; x < w; x++) {
            uint32_t v = *(const uint32_t *)(data + (size_t)y * (size_t)stride + x * 4);
            const uint8_t *q = px + ((size_t)y * w + x) * 3;
            sum += abs((int)((v >> 16) & 0xff) - q[0]) + abs((int)((v >> 8) & 0xff) - q[1]) +
                   abs((int)(v & 0xff) - q[2]);
        }
    cairo_surface_destroy(s);
    return sum / ((double)w * h * 3);
}

/* Open path with poppler and check page count, sizes and rendered pixels. */
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
        uint8_t *px = make_pixels(pages[i].kind, pages[i].w, pages[i].h);
        double d = render_diff(page, px, pages[i].w, pages[i].h, dpi);
        free(px);
        if (d >= 2.0)
            print_error("page %zu: mean difference %.3f\n", i, d);
        assert_true(d < 2.0);
        g_object_unref(page);
    }
    g_object_unref(doc);
}

/* One gray A4 page at 150 dpi: A4 in points, DeviceGray, small, valid. */
static void test_pdf_one_gray_a4(void **state)
{
    (void)state;
    const page_spec pages[] = {{PIX_GRAY_TEXT, 1240, 1754}};
    const char *path = tmp_path("gray.pdf");
    write_pdf(path, pages, 1, 150);
    check_with_poppler(path, pages, 1, 150);
    qpdf_check(path);
    size_t len;
    char *data = slurp(path, &len);
    assert_true(fabs(1240 * 72.0 / 150 - 595.276) < 1 && fabs(1754 * 72.0 / 150 - 841.89) < 1);
    assert_true(contains(data, len, "/DeviceGray"));
    assert_false(contains(data, len, "/DeviceRGB"));
    assert_true(contains(data, len, "/Predictor 15"));
    assert_true(contains(data, len, "/Producer (mugai)"));
    assert_true(len < 100 * 1024); /* a text page must compress well */
    g_free(data);
}

/* Three pages of mixed colour, gray and size: page count, sizes, pixels, no active content. */
static void test_pdf_three_pages(void **state)
{
    (void)state;
    const page_spec pages[] = {
        {PIX_COLOUR, 800, 600}, {PIX_GRAY_TEXT, 1240, 1754}, {PIX_GRADIENT_NOISE, 333, 517}};
    const char *path = tmp_path("three.pdf");
    write_pdf(path, pages, 3, 96);
    check_with_poppler(path, pages, 3, 96);
    qpdf_check(path);
    size_t len;
    char *data = slurp(path, &len);
    const char *banned[] = {"/Font", "/Annot",    "/JS",       "/JavaScript", "/OpenAction",
                            "/AA",   "/Metadata", "/AcroForm", "/Launch",     "/URI"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        assert_false(contains(data, len, banned[i]));
    assert_true(contains(data, len, "/DeviceRGB"));
    assert_true(contains(data, len, "/DeviceGray"));
    assert_true(len > 20 && memcmp(data + len - 6, "%%EOF\n", 6) == 0);
    g_free(data);
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
    const char *names[] = {"gray.pdf", "three.pdf", "bad.pdf", "out.png", "out.jpg", "bad.img"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unlink(tmp_path(names[i]));
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pdf_one_gray_a4),   cmocka_unit_test(test_pdf_three_pages),
        cmocka_unit_test(test_pdf_bad_arguments), cmocka_unit_test(test_pdf_write_error),
        cmocka_unit_test(test_imgout_png_jpeg),   cmocka_unit_test(test_imgout_bad_arguments),
        cmocka_unit_test(test_imgout_is_photo),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
