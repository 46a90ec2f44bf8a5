/*
 * sanitize/imgout.c - re-encode trusted pixels as PNG or JPEG.
 *
 * Run by the sanitizer worker (and sanitize-file) on pixels delivered by the
 * render jail, whose dimensions the caller has bounded; they are re-checked
 * here. The encoders are gdk-pixbuf's, fed a pixbuf built from those pixels
 * only, so nothing of the original file (metadata, ICC profiles, comments,
 * extra chunks) can survive.
 *
 * It must never pass metadata options (tEXt, ICC, EXIF, XMP) to the encoder.
 */
#include <stdlib.h>
#include <string.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "mg.h"
#include "san_int.h"

#define IMGOUT_MAX_DIM 10000u
#define IMGOUT_GRID 64u     /* sample at most IMGOUT_GRID x IMGOUT_GRID points */
#define IMGOUT_HASH 8192u   /* open-addressing table for distinct colours; > grid^2 */
#define IMGOUT_SMOOTH 48    /* max channel step between neighbours of a gradient */
#define IMGOUT_MIN_SIDE 32u /* below this an image is an icon, not a photograph */

/* gdk-pixbuf save callback: write the block to the fd passed as data. */
static gboolean imgout_save_cb(const gchar *buf, gsize count, GError **error, gpointer data)
{
    int fd = *(const int *)data;
    if (mg_write_all(fd, buf, count) < 0) {
        g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_IO, "write failed");
        return FALSE;
    }
    return TRUE;
}

/* Encode pb to fd in format; only compression/quality options, never metadata. */
static int imgout_save(GdkPixbuf *pb, int fd, const char *format, unsigned jpeg_quality)
{
    GError *err = NULL;
    gboolean ok;
    if (strcmp(format, "png") == 0) {
        ok = gdk_pixbuf_save_to_callback(pb, imgout_save_cb, &fd, "png", &err, "compression", "6",
                                         NULL);
    } else {
        char q[8];
        if (mg_snprintf(q, sizeof q, "%u", jpeg_quality) < 0)
            return -1;
        ok = gdk_pixbuf_save_to_callback(pb, imgout_save_cb, &fd, "jpeg", &err, "quality", q, NULL);
    }
    if (!ok) {
        mg_error("imgout: %s encoding failed: %s", format, err ? err->message : "unknown");
        g_clear_error(&err);
        return -1;
    }
    return 0;
}

/* Write RGB pixels (stride width * 3) to fd as "png" or "jpeg" (quality 1..100). 0 or -1. */
int imgout_write(int fd, const char *format, unsigned width, unsigned height, const uint8_t *rgb,
                 unsigned jpeg_quality)
{
    if (fd < 0 || format == NULL || rgb == NULL)
        return -1;
    if (strcmp(format, "png") != 0 && strcmp(format, "jpeg") != 0) {
        mg_error("imgout: unknown format %s", format);
        return -1;
    }
    if (width == 0 || height == 0 || width > IMGOUT_MAX_DIM || height > IMGOUT_MAX_DIM) {
        mg_error("imgout: image size %ux%u out of bounds", width, height);
        return -1;
    }
    if (strcmp(format, "jpeg") == 0 && (jpeg_quality < 1 || jpeg_quality > 100)) {
        mg_error("imgout: jpeg quality %u out of range", jpeg_quality);
        return -1;
    }
    GdkPixbuf *pb = gdk_pixbuf_new_from_data(rgb, GDK_COLORSPACE_RGB, FALSE, 8, (int)width,
                                             (int)height, (int)(width * 3), NULL, NULL);
    if (pb == NULL) {
        mg_error("imgout: cannot wrap pixels");
        return -1;
    }
    int rc = imgout_save(pb, fd, format, jpeg_quality);
    g_object_unref(pb);
    return rc;
}

/* Insert colour c (24 bits) into the table; 1 when it was new. */
static int imgout_colour_add(uint32_t *table, uint32_t c)
{
    uint32_t key = c + 1; /* 0 marks an empty slot */
    size_t i = (key * 2654435761u) & (IMGOUT_HASH - 1);
    while (table[i] != 0) {
        if (table[i] == key)
            return 0;
        i = (i + 1) & (IMGOUT_HASH - 1);
    }
    table[i] = key;
    return 1;
}

/* Largest per-channel difference between two RGB pixels. */
static int imgout_step(const uint8_t *a, const uint8_t *b)
{
    int m = 0;
    for (int k = 0; k < 3; k++) {
        int d = abs((int)a[k] - (int)b[k]);
        if (d > m)
            m = d;
    }
    return m;
}

/* Heuristic: non-zero when the pixels look like a photograph. A grid of samples is taken;
 * a photograph has many distinct colours, few identical horizontal neighbours, and mostly
 * small steps between neighbours (smooth gradients). Screenshots and diagrams have large
 * flat areas and few colours. */
int imgout_is_photo(unsigned width, unsigned height, const uint8_t *rgb)
{
    if (rgb == NULL || width < IMGOUT_MIN_SIDE || height < IMGOUT_MIN_SIDE ||
        width > IMGOUT_MAX_DIM || height > IMGOUT_MAX_DIM)
        return 0;
    uint32_t *table = calloc(IMGOUT_HASH, sizeof *table);
    if (table == NULL)
        return 0;
    unsigned sx = (width - 1) / IMGOUT_GRID + 1, sy = height / IMGOUT_GRID + 1;
    size_t samples = 0, distinct = 0, flat = 0, smooth = 0;
    for (unsigned y = 0; y < height; y += sy) {
        for (unsigned x = 0; x + 1 < width; x += sx) {
            const uint8_t *p = rgb + ((size_t)y * width + x) * 3;
            int step = imgout_step(p, p + 3);
            samples++;
            distinct +=
                (size_t)imgout_colour_add(table, (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]);
            flat += step == 0;
            smooth += step > 0 && step <= IMGOUT_SMOOTH;
        }
    }
    free(table);
    return distinct * 4 >= samples && flat * 2 < samples && smooth * 2 >= samples;
}
