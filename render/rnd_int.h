/*
 * render/rnd_int.h - internals of mugai-render shared by main.c, pdf.c,
 * image.c and seccomp.c. Everything here runs inside the jail.
 */
#ifndef RND_INT_H
#define RND_INT_H

#include <stddef.h>
#include <stdint.h>
#include "rnd.h"

/* Bounds given on the command line by the trusted launcher. */
typedef struct rnd_limits {
    unsigned dpi;
    unsigned max_pages;
    uint64_t max_pixels;
    unsigned text_max; /* characters of text per page sent after its pixels; 0: none */
} rnd_limits;

/* Where pages go: begin announces the count once, then page per page, each followed by
 * its text when rnd_limits.text_max is set. 0 or -1. */
typedef struct rnd_out {
    int (*begin)(void *ctx, unsigned npages);
    rnd_page_fn page;
    /* nchars code points and nboxes boxes (4 values each, 1/RND_TEXT_UNIT pixel). */
    int (*text)(void *ctx, const uint32_t *cp, size_t nchars, const uint32_t *box, size_t nboxes);
    void *ctx;
} rnd_out;

/* Write a FAIL frame with code and message on stdout and _exit(code). */
void rnd_fail_exit(rnd_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Install the seccomp allow-list; from then on a forbidden call kills the process. 0 or -1. */
int rnd_seccomp_install(void);

/* Render every page of the PDF in data (borrowed) into out; msg gets the reason on failure. */
rnd_status rnd_pdf_render(const void *data, size_t len, const rnd_limits *lim, const rnd_out *out,
                          char *msg, size_t msg_len);

typedef struct rnd_image rnd_image;
/* Prepare a decoder for exactly type ("png", "jpeg", "gif", "bmp", "tiff", "webp"); loads
 * the decoder module, so call it before rnd_seccomp_install. NULL for any other type.
 * Caller frees with rnd_image_free. */
rnd_image *rnd_image_new(const char *type, const rnd_limits *lim);
void rnd_image_free(rnd_image *im);
/* Decode data (borrowed) into one page: orientation applied, alpha composited onto white. */
rnd_status rnd_image_render(rnd_image *im, const void *data, size_t len, const rnd_out *out,
                            char *msg, size_t msg_len);

#endif
