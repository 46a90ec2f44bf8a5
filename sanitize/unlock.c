/*
 * sanitize/unlock.c - open a held encrypted attachment with password
 * candidates ([ppap]) and sanitize what it holds like any attachment.
 *
 * Runs in the trusted process that opens held parts (the worker, the CLI), on
 * untrusted bytes, which it only tells apart by their first bytes: the
 * candidates are tried, and the input decrypted, only in the render jail
 * (jail_unlock). A zip (or a 7z, opened by 7-Zip in the jail) comes back
 * decrypted as an unencrypted zip with its members' names as they were and goes
 * through the engine like an unencrypted original of the same name (members recursed within the
 * archive bounds, documents flattened, executables removed); a PDF is rendered by the jail that
 * found its password and flattened as any PDF. It must never write a candidate
 * into a log line, a reason, a file or anything outside the sealed file the jail
 * reads, and never give a verdict of sanitized to anything the jail did not
 * decrypt and the engine did not sanitize.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "san_int.h"

/* What a held input is, by its first bytes. */
typedef enum { LOCK_ZIP, LOCK_PDF, LOCK_7Z, LOCK_OFFICE, LOCK_UNKNOWN } lock_type;

/* How far into the input a PDF's header may start (as PDF readers allow). */
#define PDF_HEAD_MAX 1024

/* The type of the input on fd, by its first bytes. */
static lock_type lock_type_of(int fd)
{
    char head[PDF_HEAD_MAX];
    ssize_t n = pread(fd, head, sizeof head, 0);

    if (n >= 4 && memcmp(head, "PK\3\4", 4) == 0)
        return LOCK_ZIP;
    if (n >= 6 && memcmp(head, "7z\xbc\xaf\x27\x1c", 6) == 0)
        return LOCK_7Z;
    if (n >= 8 && memcmp(head, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0)
        return LOCK_OFFICE;
    if (n >= 5 && memmem(head, (size_t)n, "%PDF-", 5))
        return LOCK_PDF;
    return LOCK_UNKNOWN;
}

/* The MIME type r reports for an input of type t that was not opened. */
static const char *lock_mime(lock_type t)
{
    static const char *const mimes[] = {"application/zip", "application/pdf",
                                        "application/x-7z-compressed", "application/x-ole-storage",
                                        "application/octet-stream"};
    return mimes[t];
}

/* The lower-case extension of name, "" when it has none. Caller g_free()s. */
static char *name_ext(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');

    return g_ascii_strdown(dot && dot != base ? dot + 1 : "", -1);
}

/* Fill what r says of the input itself (size, hash, types) before a verdict is reached here
 * rather than by the engine. */
static void input_facts(int fd, const char *name, lock_type t, san_result *r)
{
    struct stat st;

    if (fstat(fd, &st) == 0)
        r->in_size = (size_t)st.st_size;
    if (mg_sha256_fd(fd, r->sha256) < 0)
        r->sha256[0] = '\0';
    (void)lseek(fd, 0, SEEK_SET);
    g_free(r->detected_type);
    r->detected_type = g_strdup(lock_mime(t));
    g_free(r->declared_ext);
    r->declared_ext = name_ext(name);
}

/* Set r's verdict for a jail that did not answer: as the engine maps a conversion's failure.
 * 0, or -1 for an internal error. */
static int jail_failed(san_result *r, jail_status st, const char *why)
{
    switch (st) {
    case JAIL_LIMIT:
        san_result_set(r, SAN_BLOCKED, NULL, "over a limit: %s", why);
        return 0;
    case JAIL_MALFORMED:
    case JAIL_ENCRYPTED:
        san_result_set(r, SAN_FAILED, NULL, "cannot be opened: %s", why);
        return 0;
    case JAIL_TIMEOUT:
    case JAIL_CRASHED:
    case JAIL_PROTOCOL:
        san_result_set(r, SAN_FAILED, NULL, "opening failed (%s): %s", jail_status_name(st), why);
        return 0;
    case JAIL_UNAVAILABLE:
        san_result_set(r, SAN_HELD, "jail", "the render jail is unavailable: %s", why);
        return 0;
    default:
        san_result_set(r, SAN_FAILED, NULL, "internal error: %s", why);
        return -1;
    }
}

/* The candidates for one PDF, and what the jail answered. */
typedef struct pdf_try {
    const conf *c;
    const char *const *cands;
    size_t n;
    int scratch; /* the output file jail_unlock requires; stays empty */
    int which;
    unsigned tried;
} pdf_try;

/* The engine's source of the PDF's pages (san_pages_fn): the jail that tries the candidates
 * renders the pages with the one that opened it; none did: encrypted. */
static jail_status pdf_pages(void *arg, int in_fd, const jail_sink *sink, char *why, size_t why_len)
{
    pdf_try *p = arg;
    jail_status st = jail_unlock(p->c, "pdf", in_fd, p->cands, p->n, p->scratch, sink, &p->which,
                                 &p->tried, why, why_len);

    if (st == JAIL_OK && p->which < 0) {
        g_strlcpy(why, "no password opened it", why_len);
        return JAIL_ENCRYPTED;
    }
    return st;
}

/* A new anonymous temporary file, or -1 with the reason in r. */
static int temp_file(san_result *r)
{
    int fd = mg_tmp_file(g_get_tmp_dir());

    if (fd < 0)
        san_result_set(r, SAN_FAILED, NULL, "cannot create a temporary file in %s: %s",
                       g_get_tmp_dir(), g_strerror(errno));
    return fd;
}

/* A password-protected PDF: flattened by the engine, its pages rendered by the jail that
 * found its password. */
static int unlock_pdf(san_engine *e, int in_fd, const char *name, const char *const *cands,
                      size_t n, const char *out_dir, const char *out_stem, int *which,
                      unsigned *tried, san_result *r)
{
    pdf_try p = {san_engine_conf(e), cands, n, temp_file(r), -1, 0};
    int rc;

    if (p.scratch < 0)
        return -1;
    rc = san_file_fd(e, in_fd, name, out_dir, out_stem, 0, pdf_pages, &p, r);
    close(p.scratch);
    *which = p.which;
    *tried = p.tried;
    if (rc == 0 && p.which < 0 && r->verdict == SAN_HELD)
        san_result_set(r, SAN_HELD, "encrypted", "no password opened it");
    return rc;
}

/* An encrypted zip or 7z (t): decrypted in the jail into an unencrypted zip, which the engine
 * then sanitizes as an unencrypted zip of that name; r keeps the encrypted input's size and
 * hash. */
static int unlock_archive(san_engine *e, lock_type t, int in_fd, const char *name,
                          const char *const *cands, size_t n, const char *out_dir,
                          const char *out_stem, int *which, unsigned *tried, san_result *r)
{
    char why[512] = "";
    int plain = temp_file(r), rc;

    if (plain < 0)
        return -1;
    jail_status st = jail_unlock(san_engine_conf(e), t == LOCK_7Z ? "7z" : "zip", in_fd, cands, n,
                                 plain, NULL, which, tried, why, sizeof why);
    if (st != JAIL_OK || *which < 0) {
        input_facts(in_fd, name, t, r);
        r->kind = g_strdup("encrypted");
        rc = st != JAIL_OK ? jail_failed(r, st, why)
                           : (san_result_set(r, SAN_HELD, NULL, "no password opened it"), 0);
        close(plain);
        return rc;
    }
    san_result before = {0};
    input_facts(in_fd, name, t, &before);
    rc = lseek(plain, 0, SEEK_SET) < 0 ? -1 : 0;
    if (rc == 0)
        rc = san_file_fd(e, plain, name, out_dir, out_stem, 0, NULL, NULL, r);
    else
        san_result_set(r, SAN_FAILED, NULL, "cannot read the decrypted zip: %s", g_strerror(errno));
    memcpy(r->sha256, before.sha256, sizeof r->sha256);
    r->in_size = before.in_size;
    san_result_clear(&before);
    close(plain);
    return rc;
}

/* A type no password opens here: held, with the reason. */
static int unlock_refused(int in_fd, const char *name, lock_type t, san_result *r)
{
    static const char *const why[] = {
        [LOCK_7Z] = "7z with AES cannot be opened here (no " SAN_7ZIP_PATH ")",
        [LOCK_OFFICE] = "an encrypted Office document cannot be opened here",
        [LOCK_UNKNOWN] = "not a type that can be opened with a password (zip, 7z, PDF)",
    };

    input_facts(in_fd, name, t, r);
    san_result_set(r, SAN_HELD, "encrypted", "%s", why[t]);
    return 0;
}

int san_unlock(san_engine *e, int in_fd, const char *display_name, const char *const *cands,
               size_t ncands, const char *out_dir, const char *out_stem, int *which,
               unsigned *tried, san_result *r)
{
    double t0 = mg_now();
    const char *name = display_name ? display_name : "attachment";
    lock_type t = lock_type_of(in_fd);
    int rc;

    memset(r, 0, sizeof *r);
    *which = -1;
    *tried = 0;
    if (t == LOCK_ZIP || (t == LOCK_7Z && access(SAN_7ZIP_PATH, X_OK) == 0))
        rc = unlock_archive(e, t, in_fd, name, cands, ncands, out_dir, out_stem, which, tried, r);
    else if (t == LOCK_PDF)
        rc = unlock_pdf(e, in_fd, name, cands, ncands, out_dir, out_stem, which, tried, r);
    else
        rc = unlock_refused(in_fd, name, t, r);
    if (!r->reason)
        san_result_set(r, SAN_FAILED, NULL, "internal error: no verdict");
    r->seconds = mg_now() - t0;
    mg_info("unlock: %.12s: %s after %u of %zu candidates (%s): %s", r->sha256,
            san_verdict_name(r->verdict), *tried, ncands,
            *which >= 0 ? "one opened it" : "none opened it", r->reason);
    return rc;
}
