/*
 * sanitize/ppap.h - the text side of the PPAP flow ([ppap]): password candidates in a
 * password mail, the quarantine id in a reply's subject, and the mails the gateway sends
 * about held encrypted attachments. Everything here reads untrusted Internet text: bounded
 * work, no crash on any input.
 */
#ifndef PPAP_H
#define PPAP_H

#include <stddef.h>

#include <glib.h>

/* Password candidates in text (a mail's body as UTF-8, possibly invalid), in order of
 * appearance, each NFKC-normalized, without duplicates, at most max. Caller frees with
 * g_ptr_array_unref (elements g_free'd). */
GPtrArray *ppap_candidates(const char *text, size_t len, unsigned max);

/* The first quarantine id ("Q-YYYYMMDD-XXXXXX", any case, also full-width or inside brackets)
 * in subject, normalized to upper case into out[24]. 0 found, -1 none. */
int ppap_find_id(const char *subject, char out[24]);

/* One attachment of a mail built here. */
typedef struct ppap_file {
    const char *path; /* file to attach */
    const char *name; /* its file name (UTF-8) */
    const char *type; /* MIME type */
} ppap_file;

/* A mail from the gateway. Strings are UTF-8; every header value from the original sender's
 * message (subject, names) is untrusted. */
typedef struct ppap_mail {
    const char *from;        /* header From: a plain address, or "Name <addr>" */
    const char *const *to;   /* NULL-terminated addresses */
    const char *subject;     /* full subject, UTF-8 */
    const char *in_reply_to; /* the original's Message-ID with or without <>, or NULL */
    const char *body;        /* text/plain UTF-8 body */
    const ppap_file *files;
    size_t nfiles;
} ppap_mail;

/* Write m as an RFC 5322 message to out_fd (CRLF, lines at most 998 bytes, headers RFC 2047
 * encoded where not ASCII, attachments base64 with RFC 2231 file names, a fresh Message-ID and
 * Date, In-Reply-To and References when in_reply_to is set, Auto-Submitted: auto-generated), and
 * check it parses again with GMime. 0, or -1 with *err (g_free). */
int ppap_mail_write(const ppap_mail *m, int out_fd, char **err);

#endif
