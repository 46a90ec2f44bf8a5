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
/* As rnd_seccomp_install, writes to out_fd allowed as well (unlock mode's output). */
int rnd_seccomp_install_out(int out_fd);

/* Render every page of the PDF in data (borrowed) into out; msg gets the reason on failure. */
rnd_status rnd_pdf_render(const void *data, size_t len, const rnd_limits *lim, const rnd_out *out,
                          char *msg, size_t msg_len);

/* As rnd_pdf_render, the document opened with password (NULL: none). */
rnd_status rnd_pdf_render_pw(const void *data, size_t len, const char *password,
                             const rnd_limits *lim, const rnd_out *out, char *msg, size_t msg_len);
/* RND_OK when password opens the PDF in data, RND_ERR_ENCRYPTED when it does not, else
 * RND_ERR_MALFORMED (msg says why). */
rnd_status rnd_pdf_check(const void *data, size_t len, const char *password, char *msg,
                         size_t msg_len);

/* ---- unlock.c ---- */

/* Password candidates as the trusted side sent them (rnd.h), each NUL-terminated. */
typedef struct rnd_keys {
    char **key;
    size_t n;
} rnd_keys;

/* Bounds of a decrypted zip: bytes of all members, members. */
typedef struct rnd_unlock_lim {
    uint64_t max_output;
    unsigned max_entries;
} rnd_unlock_lim;

/* Read the candidates from fd into k (free with rnd_keys_free). RND_OK or a failure. */
rnd_status rnd_keys_read(int fd, rnd_keys *k, char *msg, size_t msg_len);
/* Wipe and free the candidates. */
void rnd_keys_free(rnd_keys *k);
/* Load what unlock mode needs before the seccomp filter (locales). 0 or -1. */
int rnd_unlock_prepare(void);
/* Try the candidates in order on the zip in data: *which the first that opens it (-1: none),
 * *tried how many were tried. RND_OK, or a failure that stops the trial (no encrypted member,
 * over a bound). */
rnd_status rnd_zip_find(const void *data, size_t len, const rnd_keys *k, const rnd_unlock_lim *lim,
                        int *which, unsigned *tried, char *msg, size_t msg_len);
/* Write the members of the zip in data, decrypted with key, as a new unencrypted zip to
 * out_fd within lim. */
rnd_status rnd_zip_decrypt(const void *data, size_t len, const char *key, const rnd_unlock_lim *lim,
                           int out_fd, char *msg, size_t msg_len);
/* As rnd_zip_find, for a PDF. */
rnd_status rnd_pdf_find(const void *data, size_t len, const rnd_keys *k, int *which,
                        unsigned *tried, char *msg, size_t msg_len);

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
