/*
 * sanitize/san_int.h - internals of the engine shared between its files.
 */
#ifndef SAN_INT_H
#define SAN_INT_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "rnd.h"
#include "san.h"

/* ---- jail.c: run mugai-render (or LibreOffice) in a child under the jail ---- */

typedef enum {
    JAIL_OK = 0,
    JAIL_MALFORMED,  /* renderer said the input is broken */
    JAIL_ENCRYPTED,  /* renderer said it is encrypted */
    JAIL_LIMIT,      /* a bound was exceeded (pages, pixels, bytes, memory) */
    JAIL_TIMEOUT,    /* wall-clock timeout: process group killed */
    JAIL_CRASHED,    /* killed by a signal or exited without a valid stream */
    JAIL_PROTOCOL,   /* output violated the wire format */
    JAIL_ERROR,      /* could not start, or the sink failed */
    JAIL_UNAVAILABLE /* the jail itself could not be made (namespaces, mounts, user) */
} jail_status;

/* Receives pages one at a time; npages is announced first through begin. 0 or -1. */
typedef struct jail_sink {
    int (*begin)(void *ctx, unsigned npages);
    int (*page)(void *ctx, unsigned width, unsigned height, const uint8_t *rgb);
    void *ctx;
} jail_sink;

/* Render in_fd ("pdf", or "image" with img_type "png", "jpeg", "gif", "bmp", "tiff", "webp")
 * into sink. why receives a one-line reason on failure. */
jail_status jail_render_pages(const conf *c, const char *mode, const char *img_type, int in_fd,
                              const jail_sink *sink, char *why, size_t why_len);
/* Convert in_fd with mode "text", "csv" or "html" to UTF-8; label is the declared charset or
 * NULL (ignored unless it looks like a charset name); *out is g_malloc'ed. */
jail_status jail_render_text(const conf *c, const char *mode, const char *label, int in_fd,
                             char **out, size_t *out_len, char *why, size_t why_len);
/* Convert an Office document (ext: "docx", "xls", ...) to PDF with LibreOffice under the
 * jail (no seccomp: it must exec); the PDF is written to out_fd. */
jail_status jail_office_to_pdf(const conf *c, int in_fd, const char *ext, int out_fd, char *why,
                               size_t why_len);
const char *jail_status_name(jail_status s);

/* ---- jailns.c: the jail's namespaces, user and file system view ---- */

/* Who a jailed program runs as: sw set when the worker switches it to uid/gid (root, or
 * root of mugai-milter's user namespace); else it keeps the worker's own ids. */
typedef struct jail_ids {
    int sw;
    uid_t uid;
    gid_t gid;
} jail_ids;

/* What the jail sees: root (an empty directory the jail's tmpfs root is mounted on), its
 * work directory (a tmpfs of work_mb MiB inside the jail, the only writable place) and the
 * program. */
typedef struct jail_view {
    const char *root;
    const char *work;
    const char *program;
    size_t work_mb;
} jail_view;

/* Decide who jailed programs run as. 0, or -1 with a reason in why. */
int jailns_ids(const conf *c, jail_ids *ids, char *why, size_t why_len);
/* Start the jail's first process in new PID, mount, IPC, UTS and (unless configured off)
 * network namespaces, plus a user namespace when !ids->sw. As fork: pid, 0 in the child,
 * -1 with errno. */
pid_t jailns_clone(const conf *c, const jail_ids *ids);
/* In that first process: map the ids, build the jail's root from v and enter it. 0 or -1. */
int jailns_enter(const jail_view *v, const jail_ids *ids);
/* Become the jail user for good (setgroups, setresgid, setresuid, no_new_privs). 0 or -1. */
int jailns_drop(const jail_ids *ids);
/* Refuse, for this process and what it executes, the calls no jailed program needs
 * (namespaces, mounts, keys, BPF, io_uring, ptrace, sockets other than AF_UNIX). 0 or -1. */
int jailns_filter(void);
/* Write text to the file path (a /proc knob: uid_map, oom_score_adj). 0 or -1. */
int jailns_proc_write(const char *path, const char *text);
/* The step that made the last jailns_enter, jailns_drop or jailns_filter fail. */
const char *jailns_step(void);

/* ---- pdfout.c: image-only PDF built on the trusted side, page by page ---- */

typedef struct pdfw pdfw;
/* Start a PDF on fd (borrowed); dpi sets the page size from pixel dimensions. */
pdfw *pdfw_new(int fd, unsigned dpi);
/* Append one page of RGB pixels (stride = width*3). 0 or -1. */
int pdfw_add_page(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb);
/* Write xref and trailer. 0 or -1. */
int pdfw_finish(pdfw *w);
void pdfw_free(pdfw *w);

/* ---- imgout.c: re-encode pixels as PNG or JPEG with no metadata ---- */

/* Write RGB pixels to fd as "png" or "jpeg". 0 or -1. */
int imgout_write(int fd, const char *format, unsigned width, unsigned height, const uint8_t *rgb,
                 unsigned jpeg_quality);
/* Heuristic: non-zero when the pixels look like a photograph (many distinct colours). */
int imgout_is_photo(unsigned width, unsigned height, const uint8_t *rgb);

/* ---- detect.c: what an input is and what policy does with it ---- */

typedef struct san_class {
    const char *kind;     /* "pdf", "image", ..., or a blocked kind such as "executable" */
    const char *img_type; /* for images: "png", "jpeg", "gif", "bmp", "tiff", "webp" */
    const char *out_ext;  /* extension of the output, NULL when nothing is produced */
    const char *ext;      /* declared extension, lower case, "" when none (borrowed) */
    const char *name;     /* the name classified (borrowed) */
    int verdict;          /* san_verdict */
    char reason[256];     /* why it was blocked or held; a mismatch note otherwise */
} san_class;

/* Classify by content type (libmagic MIME and description) and file name. name is borrowed
 * and must outlive out. */
void san_classify(const char *mime, const char *desc, const char *name, san_class *out);

/* ---- budget.c: the limits one input shares, whatever it nests ---- */

/* Nesting, part and expanded byte counts of one top-level input (a file or a message), passed
 * down through every message, multipart, attached message, archive and member in it, so that
 * no container restarts them ([archive] max_total_mb bounds expanded). Zeroed for a new input; the
 * too_* counters say which limits stopped it. */
typedef struct san_budget {
    unsigned depth;         /* levels open on the current path */
    unsigned archives;      /* archives among them */
    unsigned parts;         /* parts and members counted so far, the whole input */
    unsigned too_deep;      /* levels refused: [mail] max_depth */
    unsigned archives_deep; /* archives refused: [archive] max_depth */
    unsigned too_many;      /* parts or members refused: san_budget_parts_max */
    uint64_t expanded;      /* bytes archive members expanded to, the whole input */
} san_budget;

/* Open one more level (a multipart or part of a message, an attached message, an archive when
 * archive is non-zero). 0, or -1 when that passes [mail] max_depth levels or, for an archive,
 * [archive] max_depth archives: the level is not opened and why gets the reason, naming the
 * limit. */
int san_budget_enter(san_budget *b, const conf *c, int archive, char *why, size_t len);
/* Close a level san_budget_enter opened. */
void san_budget_leave(san_budget *b, int archive);
/* Count one more part or archive member. 0, or -1 (reason in why) when the input already
 * holds san_budget_parts_max of them. */
int san_budget_part(san_budget *b, const conf *c, char *why, size_t len);
/* The most parts and members one input may hold: [mail] max_parts or [archive] max_entries,
 * whichever is larger. */
unsigned san_budget_parts_max(const conf *c);
/* Count n more bytes that archive members expanded to. 0, or -1 (reason in why) once the
 * input's members, all archives together, pass [archive] max_total_mb. */
int san_budget_expand(san_budget *b, const conf *c, uint64_t n, char *why, size_t len);

/* ---- engine.c: one input to one output, for the mail and archive code ---- */

/* Sanitize the content of in_fd (named name, inside the input whose budget is b) into a new
 * anonymous temporary file. Fills r (verdict, reason, kind, types, hash, sizes, members).
 * On SAN_SANITIZED *out_fd is the output, rewound, and *out_ext its extension ("pdf", "png",
 * "jpg", "txt", "csv", "zip"); otherwise *out_fd is -1. Returns 0 or -1 (internal error). */
int san_convert_fd(san_engine *e, int in_fd, const char *name, san_budget *b, san_result *r,
                   int *out_fd, const char **out_ext);
/* Set r's verdict, kind (unless NULL) and reason (formatted; replaces the old one). */
void san_result_set(san_result *r, san_verdict v, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The configuration the engine runs with. */
const conf *san_engine_conf(const san_engine *e);

/* ---- archive.c: archives, member by member ---- */

/* Open the archive on in_fd within the [archive] bounds and one more level of b, sanitize
 * every member with san_convert_fd, record each in r->members, and write a new zip of the
 * sanitized members to out_fd. Sets r's verdict: SAN_SANITIZED when a zip was written (even
 * if some members were removed: their reasons are in r->members), SAN_HELD for an encrypted
 * archive, SAN_BLOCKED over a bound (bomb, too deep, too many entries), SAN_FAILED when
 * unreadable or of a format or compression outside the policy. Returns 0, or -1 on an
 * internal error. */
int archive_sanitize(san_engine *e, int in_fd, const char *name, san_budget *b, int out_fd,
                     san_result *r);

/* ---- mail.c: a message inside another input ---- */

/* san_mail within the budget b of the input the message is part of (a message attached as a
 * file, or an archive member); q and env as for san_mail. */
int san_mail_budget(san_engine *e, quar_store *q, int in_fd, const san_envelope *env,
                    const char *actor, san_budget *b, int out_fd, san_mail_result *r, char **err);

/* ---- mailhdr.c: header values and file names of Internet mail ---- */

/* Decode a raw header value to UTF-8: folding removed, RFC 2047 encoded words (also inside
 * quotes, also split in the middle of a character across adjacent words of one charset, any
 * Japanese charset incl. ISO-2022-JP with NEC/IBM extensions and CP932 under Shift_JIS labels),
 * raw 8-bit bytes decoded through the fallback list; cleaned as mailhdr_clean says. Never
 * NULL; caller g_free()s. */
char *mailhdr_decode(const char *raw, size_t len, const char *fallbacks);
/* Decoded UTF-8 text (a display name GMime parsed) cleaned like mailhdr_decode's result:
 * the characters mg_uchar_unsafe names dropped, every "=?" broken into "= ?" so that no
 * later reader decodes an encoded word a second time, trimmed. Never NULL; caller g_free()s. */
char *mailhdr_clean(const char *utf8);
/* The attachment file name from the raw Content-Disposition and Content-Type values (either
 * may be NULL): filename / filename* (RFC 2231 with charset and continuations) / name,
 * RFC 2047 inside quotes, raw 8-bit. Made safe: the last path component only, no control
 * characters, at most 200 bytes of UTF-8 (extension kept). NULL when there is none;
 * caller g_free()s. */
char *mailhdr_filename(const char *disposition, const char *content_type, const char *fallbacks);

/* ---- charset.c: the charsets this process converts (it also defines iconv_open) ---- */

/* Allow the configured [render] charsets (comma-separated) besides the built-in list
 * (mg_charset_canonical). Call before the first conversion; a later call replaces the list. */
void charset_allow_config(const char *list);
/* Non-zero when label, a sender's charset label, may be converted in this process; anything
 * else is converted in the jail or not at all. */
int charset_allowed(const char *label);

/* ---- scan.c: libclamav ---- */

typedef struct san_scanner san_scanner;
/* Load and compile the database in c->clamav_db_dir. Without one: NULL and *err when
 * c->scan_required, else a scanner that scans nothing (with a loud warning). */
san_scanner *scan_new(const conf *c, char **err);
void scan_free(san_scanner *s);
int scan_active(const san_scanner *s);
/* Scan fd. 0 clean, 1 infected (*virname borrowed until the next scan), -1 error (why). */
int scan_fd(san_scanner *s, int fd, const char *name, const char **virname, char *why,
            size_t why_len);

#endif
