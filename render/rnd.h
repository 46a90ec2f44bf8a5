/*
 * render/rnd.h - the render jail's wire format and the converters that run
 * inside mugai-render on untrusted bytes.
 *
 * Wire format, mugai-render's stdout, all integers unsigned 32-bit little-endian:
 *   "MGR1"
 *   pixels:  "PAGS" npages, then npages times: "PAGE" width height + width*height*3 RGB bytes
 *            then "DONE" npages
 *   page text, only with --text-layer MAX (PDF mode), right after each page's pixels:
 *            "PTXT" nchars nboxes, nchars code points, then nboxes boxes of 4 integers
 *            x0 y0 x1 y1 in 1/RND_TEXT_UNIT pixel of that page's image (poppler's text and
 *            its one rectangle per character); nchars, nboxes <= MAX. The two counts are
 *            sent as poppler gave them: the trusted side decides what a mismatch means.
 *   text:    "TEXT" length + length bytes of UTF-8, then "DONE" 0
 *   unlock:  "OPEN" which tried: which password candidate (from 0) opened the input, RND_NONE
 *            when none did, and how many were tried; then, a zip: "DONE" 0 (the decrypted
 *            members went to RND_FD_OUTPUT); a PDF: its pages as in PDF mode when one opened
 *            it, else "DONE" 0
 *   failure: "FAIL" code length + length bytes of ASCII message (length <= 512), ends the stream
 * Unlock mode reads its candidates on RND_FD_KEYS: "MGK1" count, then count times length +
 * length bytes (UTF-8, no NUL), at most RND_MAX_KEYS of at most RND_MAX_KEY_LEN bytes.
 * The trusted side (sanitize/jail.c) checks every bound; nothing else is accepted.
 */
#ifndef RND_H
#define RND_H

#include <stddef.h>
#include <stdint.h>

#define RND_MAGIC "MGR1"
#define RND_TAG_PAGES "PAGS"
#define RND_TAG_PAGE "PAGE"
#define RND_TAG_TEXT "TEXT"
#define RND_TAG_PTXT "PTXT"
#define RND_TAG_DONE "DONE"
#define RND_TAG_FAIL "FAIL"
#define RND_TAG_OPEN "OPEN"
#define RND_NONE 0xffffffffu /* OPEN: no candidate opened the input */
#define RND_KEYS_MAGIC "MGK1"
#define RND_MAX_KEYS 1000u
#define RND_MAX_KEY_LEN 1024u
#define RND_FD_KEYS 3   /* unlock mode: the candidates, read-only */
#define RND_FD_OUTPUT 4 /* unlock mode on a zip: the decrypted zip, written */
#define RND_MAX_DIM 10000u
#define RND_MAX_MSG 512u
#define RND_TEXT_UNIT 64u           /* PTXT coordinates per pixel */
#define RND_MAX_TEXT_CHARS 1000000u /* largest --text-layer MAX accepted */

/* Failure codes carried by FAIL and mugai-render's exit status. */
typedef enum {
    RND_OK = 0,
    RND_ERR_MALFORMED = 1, /* cannot be parsed */
    RND_ERR_ENCRYPTED = 2, /* password protected: cannot inspect */
    RND_ERR_LIMIT = 3,     /* over a configured bound (pages, pixels, size) */
    RND_ERR_INTERNAL = 4,
    RND_ERR_USAGE = 5
} rnd_status;

/* Emits one page of RGB pixels; returns 0 or -1 to stop. */
typedef int (*rnd_page_fn)(void *ctx, unsigned width, unsigned height, const uint8_t *rgb,
                           size_t stride);

/* Decode text in an unknown or labelled Japanese encoding to UTF-8.
 * label may be NULL; fallbacks is a comma-separated list such as "UTF-8,CP932,EUC-JP,ISO-2022-JP".
 * Returns newly allocated UTF-8 (caller g_free()s) and the charset used in *used (static string),
 * or NULL when nothing decodes. */
char *rnd_text_to_utf8(const char *data, size_t len, const char *label, const char *fallbacks,
                       const char **used);
/* Neutralize formula injection in CSV or TSV text (UTF-8 in, UTF-8 out, caller g_free()s):
 * a cell starting with = + - @ (or tab/CR) is prefixed with a single quote. The delimiter is
 * guessed from the first record (mg_csv_neutralize, mg_csv_guess_delimiter). */
char *rnd_csv_neutralize(const char *utf8, size_t len);
/* HTML (any charset, fallback list as above) to structured plain UTF-8 text; caller g_free()s. */
char *rnd_html_to_text(const char *data, size_t len, const char *label, const char *fallbacks);

#endif
