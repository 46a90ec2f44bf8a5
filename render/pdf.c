/*
 * render/pdf.c - PDF pages to RGB pixels with poppler-glib and cairo.
 *
 * Runs inside mugai-render, under the jail and seccomp, on untrusted bytes.
 * One page is rendered, converted and emitted at a time so memory stays flat
 * in page count. When asked, each page's pixels are followed by its text and
 * one rectangle per character, in the same pixel space (after /Rotate and the
 * crop box), for the trusted side's invisible text layer. It must never draw
 * annotations or form fields (only the page content), never allocate a page
 * before its size is checked, and never try a password but one unlock mode
 * (unlock.c) was given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <gio/gio.h>
#include <cairo.h>
#include <poppler.h>
#include "rnd_int.h"

/* Pixel size of one side of length points at dpi, or 0 when out of range. */
static unsigned side_pixels(double points, unsigned dpi)
{
    double px = points * (double)dpi / 72.0;

    if (!(px > 0.0) || px > (double)RND_MAX_DIM)
        return 0;
    unsigned n = (unsigned)px;
    return (double)n < px ? n + 1 : n;
}

/* Hide every annotation (links, comments, form widgets) of page so only content is drawn. */
static void hide_annots(PopplerPage *page)
{
    GList *map = poppler_page_get_annot_mapping(page);

    for (GList *l = map; l; l = l->next) {
        PopplerAnnotMapping *m = l->data;
        PopplerAnnotFlag f = poppler_annot_get_flags(m->annot);
        poppler_annot_set_flags(m->annot, f | POPPLER_ANNOT_FLAG_HIDDEN);
    }
    poppler_page_free_annot_mapping(map);
}

/* Convert cairo RGB24 (native-endian xRGB words, rows stride bytes apart) to packed RGB in
 * place, the rows made contiguous (w * 3 bytes apart), so that the page goes out in one
 * write: row by row, it was a wake-up of the worker for every 4 KB. Each pixel is written at
 * or before where it was read, behind every pixel still to be read. */
static void to_packed_rgb(unsigned char *data, unsigned w, unsigned h, size_t stride)
{
    for (unsigned y = 0; y < h; y++) {
        const unsigned char *src = data + (size_t)y * stride;
        unsigned char *row = data + (size_t)y * w * 3;
        for (unsigned x = 0; x < w; x++) {
            uint32_t px;
            memcpy(&px, src + (size_t)x * 4, sizeof px);
            row[x * 3] = (unsigned char)((px >> 16) & 0xff);
            row[x * 3 + 1] = (unsigned char)((px >> 8) & 0xff);
            row[x * 3 + 2] = (unsigned char)(px & 0xff);
        }
    }
}

/* Draw page on white into a fresh surface, emit it and free it. */
static rnd_status render_page(PopplerPage *page, unsigned w, unsigned h, const rnd_limits *lim,
                              const rnd_out *out, char *msg, size_t msg_len)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    rnd_status st = RND_OK;

    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        snprintf(msg, msg_len, "cannot allocate a %ux%u page", w, h);
        return RND_ERR_LIMIT;
    }
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, lim->dpi / 72.0, lim->dpi / 72.0);
    hide_annots(page);
    poppler_page_render_for_printing(page, cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    unsigned char *data = cairo_image_surface_get_data(s);
    size_t stride = (size_t)cairo_image_surface_get_stride(s);
    to_packed_rgb(data, w, h, stride);
    if (out->page(out->ctx, w, h, data, (size_t)w * 3) < 0) {
        snprintf(msg, msg_len, "cannot write the page");
        st = RND_ERR_INTERNAL;
    }
    cairo_surface_destroy(s);
    return st;
}

/* A coordinate in points as 1/RND_TEXT_UNIT pixel at dpi, clamped to a page's range. */
static uint32_t text_coord(double pt, unsigned dpi)
{
    double max = (double)RND_MAX_DIM * RND_TEXT_UNIT;
    double v = pt * dpi / 72.0 * RND_TEXT_UNIT + 0.5;

    if (!(v > 0.0))
        return 0;
    return v >= max ? (uint32_t)max : (uint32_t)v;
}

/* poppler's text wraps each run of the other direction in embedding marks (U+202A, U+202B
 * ... U+202C) that have no rectangle in its layout. When the marks are exactly what the text
 * has beyond the rectangles, remove them so that characters and rectangles pair up again. */
static void drop_embedding_marks(gunichar *cp, glong *n, guint nrects)
{
    glong marks = 0, k = 0;

    for (glong i = 0; i < *n; i++)
        marks += cp[i] >= 0x202A && cp[i] <= 0x202C;
    if (marks == 0 || *n - marks != (glong)nrects)
        return;
    for (glong i = 0; i < *n; i++)
        if (cp[i] < 0x202A || cp[i] > 0x202C)
            cp[k++] = cp[i];
    *n = k;
}

/* Emit the text of page (poppler's reading order) and its one box per character, at most
 * lim->text_max of each; both lists are sent as poppler gave them. */
static rnd_status emit_text(PopplerPage *page, const rnd_limits *lim, const rnd_out *out, char *msg,
                            size_t msg_len)
{
    char *text = poppler_page_get_text(page);
    gunichar *cp = NULL;
    glong nchars = 0;
    PopplerRectangle *rects = NULL;
    guint nrects = 0;

    if (text && !(cp = g_utf8_to_ucs4(text, -1, NULL, &nchars, NULL)))
        nchars = 0;
    g_free(text);
    if (!poppler_page_get_text_layout(page, &rects, &nrects))
        nrects = 0;
    if (cp)
        drop_embedding_marks(cp, &nchars, nrects);
    size_t nc = (size_t)nchars < lim->text_max ? (size_t)nchars : lim->text_max;
    size_t nb = nrects < lim->text_max ? nrects : lim->text_max;
    uint32_t *box = g_new(uint32_t, nb * 4 + 1);
    for (size_t i = 0; i < nb; i++) {
        box[i * 4] = text_coord(rects[i].x1, lim->dpi);
        box[i * 4 + 1] = text_coord(rects[i].y1, lim->dpi);
        box[i * 4 + 2] = text_coord(rects[i].x2, lim->dpi);
        box[i * 4 + 3] = text_coord(rects[i].y2, lim->dpi);
    }
    int rc = out->text(out->ctx, cp, nc, box, nb);
    g_free(box);
    g_free(rects);
    g_free(cp);
    if (rc < 0) {
        snprintf(msg, msg_len, "cannot write the page's text");
        return RND_ERR_INTERNAL;
    }
    return RND_OK;
}

/* Check the size of page i and render it. */
static rnd_status do_page(PopplerDocument *doc, int i, const rnd_limits *lim, const rnd_out *out,
                          char *msg, size_t msg_len)
{
    PopplerPage *page = poppler_document_get_page(doc, i);
    double pw = 0, ph = 0;
    rnd_status st;

    if (!page) {
        snprintf(msg, msg_len, "page %d cannot be read", i + 1);
        return RND_ERR_MALFORMED;
    }
    poppler_page_get_size(page, &pw, &ph);
    unsigned w = side_pixels(pw, lim->dpi), h = side_pixels(ph, lim->dpi);
    if (!w || !h || (uint64_t)w * h > lim->max_pixels) {
        snprintf(msg, msg_len,
                 "page %d of %.0fx%.0f points is too large at %u dpi (limit %llu pixels)", i + 1,
                 pw, ph, lim->dpi, (unsigned long long)lim->max_pixels);
        st = RND_ERR_LIMIT;
    } else {
        st = render_page(page, w, h, lim, out, msg, msg_len);
        if (st == RND_OK && lim->text_max)
            st = emit_text(page, lim, out, msg, msg_len);
    }
    g_object_unref(page);
    return st;
}

/* Open the document; a password or a parse failure becomes a status. */
static PopplerDocument *open_doc(const void *data, size_t len, const char *password, rnd_status *st,
                                 char *msg, size_t msg_len)
{
    GError *err = NULL;
    PopplerDocument *doc;

    if (password) {
        /* poppler 22.12 reads freed memory when a password given with new_from_bytes is wrong;
         * its stream path is sound. */
        GInputStream *s = g_memory_input_stream_new_from_data(data, (gssize)len, NULL);
        doc = poppler_document_new_from_stream(s, (goffset)len, password, NULL, &err);
        g_object_unref(s);
    } else {
        GBytes *bytes = g_bytes_new_static(data, len);
        doc = poppler_document_new_from_bytes(bytes, NULL, &err);
        g_bytes_unref(bytes);
    }
    if (doc)
        return doc;
    if (err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED) {
        *st = RND_ERR_ENCRYPTED;
        snprintf(msg, msg_len, "encrypted PDF: cannot inspect");
    } else {
        *st = RND_ERR_MALFORMED;
        snprintf(msg, msg_len, "not a readable PDF: %s", err ? err->message : "unknown error");
    }
    g_clear_error(&err);
    return NULL;
}

rnd_status rnd_pdf_check(const void *data, size_t len, const char *password, char *msg,
                         size_t msg_len)
{
    rnd_status st = RND_OK;
    PopplerDocument *doc = open_doc(data, len, password, &st, msg, msg_len);

    if (doc)
        g_object_unref(doc);
    return st;
}

rnd_status rnd_pdf_render(const void *data, size_t len, const rnd_limits *lim, const rnd_out *out,
                          char *msg, size_t msg_len)
{
    return rnd_pdf_render_pw(data, len, NULL, lim, out, msg, msg_len);
}

rnd_status rnd_pdf_render_pw(const void *data, size_t len, const char *password,
                             const rnd_limits *lim, const rnd_out *out, char *msg, size_t msg_len)
{
    rnd_status st = RND_OK;
    PopplerDocument *doc = open_doc(data, len, password, &st, msg, msg_len);

    if (!doc)
        return st;
    int n = poppler_document_get_n_pages(doc);
    if (n < 1) {
        snprintf(msg, msg_len, "PDF has no pages");
        st = RND_ERR_MALFORMED;
    } else if ((unsigned)n > lim->max_pages) {
        snprintf(msg, msg_len, "PDF has %d pages, more than the limit of %u", n, lim->max_pages);
        st = RND_ERR_LIMIT;
    } else if (out->begin(out->ctx, (unsigned)n) < 0) {
        snprintf(msg, msg_len, "cannot write the page count");
        st = RND_ERR_INTERNAL;
    }
    for (int i = 0; st == RND_OK && i < n; i++)
        st = do_page(doc, i, lim, out, msg, msg_len);
    g_object_unref(doc);
    return st;
}
