/*
 * render/image.c - raster images to RGB pixels with gdk-pixbuf.
 *
 * Runs inside mugai-render, under the jail and seccomp, on untrusted bytes.
 * The decoder is chosen by the exact type the trusted side detected, never by
 * guessing, so SVG and other formats are never decoded. The size is checked in
 * "size-prepared", before the decoder allocates any pixels. Only the first
 * frame of an animation is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include "rnd_int.h"

#define CHUNK ((size_t)64 * 1024)

struct rnd_image {
    GdkPixbufLoader *loader;
    rnd_limits lim;
};

static const char *const accepted_types[] = {"png", "jpeg", "gif", "bmp", "tiff", "webp"};

/* Refuse an image that is too large before its pixels exist: the process ends here. */
static void on_size_prepared(GdkPixbufLoader *loader, int w, int h, gpointer data)
{
    const rnd_image *im = data;

    (void)loader;
    if (w < 1 || h < 1)
        rnd_fail_exit(RND_ERR_MALFORMED, "image has an invalid size %dx%d", w, h);
    if ((unsigned)w > RND_MAX_DIM || (unsigned)h > RND_MAX_DIM ||
        (uint64_t)w * (uint64_t)h > im->lim.max_pixels)
        rnd_fail_exit(RND_ERR_LIMIT, "image of %dx%d pixels exceeds the limit of %llu pixels", w, h,
                      (unsigned long long)im->lim.max_pixels);
}

rnd_image *rnd_image_new(const char *type, const rnd_limits *lim)
{
    int ok = 0;

    for (size_t i = 0; i < sizeof accepted_types / sizeof accepted_types[0]; i++)
        ok |= strcmp(type, accepted_types[i]) == 0;
    if (!ok)
        return NULL;
    rnd_image *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->lim = *lim;
    im->loader = gdk_pixbuf_loader_new_with_type(type, NULL);
    if (!im->loader) {
        free(im);
        return NULL;
    }
    g_signal_connect(im->loader, "size-prepared", G_CALLBACK(on_size_prepared), im);
    return im;
}

void rnd_image_free(rnd_image *im)
{
    if (!im)
        return;
    if (im->loader) {
        (void)gdk_pixbuf_loader_close(im->loader, NULL);
        g_object_unref(im->loader);
    }
    free(im);
}

/* Feed all bytes to the loader and close it. 0 or -1 with the reason in msg. */
static int feed(GdkPixbufLoader *loader, const guchar *data, size_t len, char *msg, size_t msg_len)
{
    GError *err = NULL;

    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        if (!gdk_pixbuf_loader_write(loader, data + off, n, &err))
            break;
    }
    if (!err)
        (void)gdk_pixbuf_loader_close(loader, &err);
    if (!err)
        return 0;
    snprintf(msg, msg_len, "image cannot be decoded: %s", err->message);
    g_error_free(err);
    return -1;
}

/* Pack pb into RGB rows, compositing any alpha onto white. Caller frees. */
static uint8_t *flatten(GdkPixbuf *pb, unsigned w, unsigned h)
{
    const guchar *src = gdk_pixbuf_read_pixels(pb);
    size_t stride = (size_t)gdk_pixbuf_get_rowstride(pb);
    int nch = gdk_pixbuf_get_n_channels(pb);
    int alpha = gdk_pixbuf_get_has_alpha(pb);
    uint8_t *rgb = malloc((size_t)w * h * 3);

    if (!rgb || gdk_pixbuf_get_bits_per_sample(pb) != 8 || nch < 3)
        return free(rgb), NULL;
    for (unsigned y = 0; y < h; y++) {
        const guchar *p = src + (size_t)y * stride;
        uint8_t *d = rgb + (size_t)y * w * 3;
        for (unsigned x = 0; x < w; x++, p += nch, d += 3) {
            unsigned a = alpha ? p[3] : 255;
            for (int c = 0; c < 3; c++)
                d[c] = (uint8_t)((p[c] * a + 255 * (255 - a) + 127) / 255);
        }
    }
    return rgb;
}

rnd_status rnd_image_render(rnd_image *im, const void *data, size_t len, const rnd_out *out,
                            char *msg, size_t msg_len)
{
    if (feed(im->loader, data, len, msg, msg_len) < 0)
        return RND_ERR_MALFORMED;
    GdkPixbuf *raw = gdk_pixbuf_loader_get_pixbuf(im->loader);
    if (!raw) {
        snprintf(msg, msg_len, "image has no pixels");
        return RND_ERR_MALFORMED;
    }
    GdkPixbuf *pb = gdk_pixbuf_apply_embedded_orientation(raw);
    unsigned w = (unsigned)gdk_pixbuf_get_width(pb), h = (unsigned)gdk_pixbuf_get_height(pb);
    uint8_t *rgb = flatten(pb, w, h);
    g_object_unref(pb);
    if (!rgb) {
        snprintf(msg, msg_len, "image of %ux%u pixels cannot be converted", w, h);
        return RND_ERR_INTERNAL;
    }
    rnd_status st = RND_OK;
    if (out->begin(out->ctx, 1) < 0 || out->page(out->ctx, w, h, rgb, (size_t)w * 3) < 0) {
        snprintf(msg, msg_len, "cannot write the image");
        st = RND_ERR_INTERNAL;
    }
    free(rgb);
    return st;
}
