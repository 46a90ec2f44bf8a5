/*
 * sanitize/san_int.h - internals of the engine shared between its files.
 */
#ifndef SAN_INT_H
#define SAN_INT_H

#include <limits.h>
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

typedef struct san_text_raw san_text_raw; /* textlayer.c */

/* Receives pages one at a time; npages is announced first through begin. 0 or -1. With text
 * set (PDF mode, exactly when [render] text_layer is on), each page's text comes to it, as
 * the renderer sent it, just before the page's pixels. */
typedef struct jail_sink {
    int (*begin)(void *ctx, unsigned npages);
    int (*page)(void *ctx, unsigned width, unsigned height, const uint8_t *rgb);
    void *ctx;
    int (*text)(void *ctx, unsigned width, unsigned height, const san_text_raw *raw);
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
/* As jail_office_to_pdf; with sheets_fd >= 0 (a spreadsheet), LibreOffice also exports every
 * sheet's displayed values as CSV, and which sheets are hidden (its flat ODS export), both
 * in the same jail after the PDF, and the jail's init writes them to sheets_fd (a file, at
 * its offset): "MGS2", a count, the sheets the workbook has as far as the jail can tell
 * (some may have no CSV: a name too long for a file), then per sheet flags (1: hidden), the
 * length and bytes of its file's name (input-SHEET.csv), the length and bytes of its CSV;
 * all 32-bit little endian. Unchecked: sheets_read checks it. A failure there fails nothing but the
 * stream. */
jail_status jail_office_convert(const conf *c, int in_fd, const char *ext, int out_fd,
                                int sheets_fd, char *why, size_t why_len);

/* In a jail's init, after LibreOffice exported a spreadsheet's sheets to work_dir/csv (and
 * named them in work_dir/csv.log, "Writing sheet NAME -> PATH" a line; which are visible in
 * work_dir/sheets.vis, else its flat ODS export in work_dir/fods): write them to out as the
 * stream jail_office_convert describes. 0, or an errno value. (sheetsout.c) */
int jail_sheets_send(const conf *c, const char *work_dir, int out);
/* The most sheets a jail's init sends, and the Office service's program lists. */
#define JAIL_SHEETS_MAX 1024
/* Try the password candidates cands[0..ncands-1] in order on the encrypted in_fd, of type
 * "zip", "7z" or "pdf", in the jail (mugai-render unlock mode; for a 7z, 7-Zip run by the
 * jail's init: unlock7z.c; the candidates travel in a sealed anonymous file, never as
 * arguments). *which gets the index of the first that opened it (-1:
 * none), *tried how many were tried. A zip (or 7z) it opened is written, decrypted, as an
 * unencrypted zip with its members' names as they were, to out_fd (a file at offset 0); a PDF it
 * opened is rendered into sink as jail_render_pages does (out_fd, still required, stays empty).
 * JAIL_OK also when none opened it. No candidate ever appears in why or in a log line. */
jail_status jail_unlock(const conf *c, const char *type, int in_fd, const char *const *cands,
                        size_t ncands, int out_fd, const jail_sink *sink, int *which,
                        unsigned *tried, char *why, size_t why_len);
const char *jail_status_name(jail_status s);
/* Read one wire stream (rnd.h) from fd, a file with no process behind it, with the checks
 * applied to a renderer's: pages into sink when sink is set, else text into *out
 * (g_malloc'ed). For the fuzzing harness; fd is borrowed. */
jail_status jail_wire_read(const conf *c, int fd, const jail_sink *sink, char **out,
                           size_t *out_len, char *why, size_t why_len);
/* As jail_wire_read, an unlock answer (OPEN, then DONE 0, or a PDF's pages into sink when pdf
 * is set and a candidate opened it) to n candidates, as jail_unlock reads it. */
jail_status jail_wire_read_unlock(const conf *c, int fd, int pdf, size_t n, const jail_sink *sink,
                                  int *which, unsigned *tried, char *why, size_t why_len);

/* ---- unlock7z.c: a 7z's candidates tried in the jail's init ---- */

/* 7-Zip, which opens a 7z with AES in the jail (Debian's 7zip package). */
#define SAN_7ZIP_PATH "/usr/bin/7zz"
/* Run 7-Zip with argv as the jail user, key and a line end on its standard input; its wait
 * status, or -1 when it could not be run or did not end in time. */
typedef int (*unlock7z_run_fn)(void *ctx, char *const *argv, const char *key);
/* In the jail's init, the jail user already: read the candidates (rnd.h) from keys_fd, test
 * work/input.7z with each through run until one opens it, extract it with that one into
 * work/x and write what it holds as an unencrypted zip to zip_fd within [archive] max_total_mb
 * and max_entries; the answer goes to out as mugai-render's unlock mode gives it (MGR1, OPEN,
 * DONE 0 or FAIL). 0, or -1 when out could not be written. */
int unlock7z_init(const conf *c, const char *program, const char *work, int keys_fd, int out,
                  int zip_fd, unlock7z_run_fn run, void *ctx);

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
/* In the jail, before LibreOffice starts: make its profile dir (the -env:UserInstallation
 * directory, which must not exist yet) holding only the read-only settings every conversion
 * gets (jailns_office_settings), the jail user's; and, when soffice (the configured soffice,
 * NULL for none) leads to the installation's versionrc, the installation's build id where
 * LibreOffice looks for the last one this profile ran (user/extensions/buildid), so that it
 * does not take the start for the first of a new build and synchronize its extensions (a
 * sixth of a second a start). 0 or -1 with errno (a build id that cannot be read is left
 * out). */
int jailns_office_profile(const char *dir, const char *soffice, const jail_ids *ids);
/* The URL of the LibreOffice profile jailns_office_profile makes in dir/profile, as
 * LibreOffice takes it (encoded: dir may hold a space, '%' or '#'), into url (size bytes).
 * 0 or -1 with errno. */
int jailns_office_profile_url(const char *dir, char *url, size_t size);
/* LibreOffice's program directory from soffice (its real path's directory) into out. 0 or
 * -1 with errno. */
int jailns_office_program(const char *soffice, char *out, size_t size);
/* Those settings, as LibreOffice's registrymodifications.xcu: macros never run, links and
 * fields never updated, no remote content, no locking, and a later version already run here
 * (so that no start counts as the first after an upgrade, which draws LibreOffice's graphics
 * self-tests: seconds per start). */
extern const char jailns_office_settings[];

/* ---- jail.c and spawn.c: jails made by a worker's spawner ---- */

/* What one jail runs, as plain data that crosses from a worker to its spawner: the program,
 * its mode and the conversion's private directory; never an argument vector, another path, a
 * user or a limit (whoever makes the jail takes those from its own configuration). Every
 * string ends within its array. */
typedef struct jail_task {
    uint32_t office;    /* 0: mugai-render; 1: LibreOffice; 2: 7-Zip opening a 7z ([ppap]) */
    uint32_t sheets;    /* LibreOffice: 1 to export a spreadsheet's sheets as well; else 0 */
    char mode[8];       /* mugai-render: pdf, image, text, csv, html or unlock; "" for
                           LibreOffice */
    char img_type[8];   /* image mode: png, jpeg, gif, bmp, tiff or webp; unlock mode: zip or
                           pdf; else "" */
    char label[40];     /* text, csv and html modes: the declared charset, or "" */
    char ext[12];       /* LibreOffice: the input's extension, 1 to 8 letters and digits */
    char dir[PATH_MAX]; /* the conversion's private directory, made by the worker */
} jail_task;

/* The descriptors a jail starts with: the input, the write ends of its output, error and
 * status pipes, the file LibreOffice's PDF goes to (mugai-render in unlock mode: its output;
 * else -1 for mugai-render) and the file its sheets go to (unlock mode: the sealed file of
 * password candidates; else -1 unless the task asks for sheets). */
enum { JAIL_FD_IN, JAIL_FD_OUT, JAIL_FD_ERR, JAIL_FD_STAT, JAIL_FD_PDF, JAIL_FD_SHEETS, JAIL_NFDS };

/* 0 when t is a task worker process owner may ask for: a known program and mode, arguments
 * that the worker's own checks pass, and a private directory of owner's under $TMPDIR
 * (a real directory of this user's, 0700, with its root mount point). Else -1 with the
 * reason in why. For the spawner, to which t comes from a worker that parses untrusted mail. */
int jail_task_check(const jail_task *t, pid_t owner, char *why, size_t why_len);
/* Make the jail that runs t on fds as a worker without a spawner makes it (jailns_clone, then
 * the jail's init), arguments, limits and user taken from c. The init's pid, leader of its
 * own process group, or -1 with errno and the reason in why. fds stay the caller's. */
pid_t jail_task_clone(const conf *c, const jail_task *t, const int fds[JAIL_NFDS], char *why,
                      size_t why_len);

/* ---- spawn.c: the worker's side of its spawner ---- */

/* Non-zero when this process has a spawner (san_jail_spawner_start) that makes its jails. */
int spawn_active(void);
/* Have the spawner start t on fds (copies travel; the caller keeps its own). The jail's init's
 * pid, or -1 with errno and the reason in why. */
pid_t spawn_start(const jail_task *t, const int fds[JAIL_NFDS], char *why, size_t why_len);
/* Have the spawner kill the jail it started last: its process group and its init. */
void spawn_kill(void);
/* Wait up to ms milliseconds for the end of the jail started last: 1 with its init's wait
 * status and CPU time (the program's included), 0 while it runs, -1 when the spawner is gone
 * (and the jail with it). */
int spawn_end(int ms, int *status, double *cpu);

/* ---- textlayer.c: the invisible text layer over page images ---- */

#define SAN_TEXT_PAGE_MAX 50000   /* characters of one page the renderer may send */
#define SAN_TEXT_DOC_MAX 2000000u /* characters all text layers of one document may hold */
#define SAN_TEXT_FONT_OBJS 6u     /* PDF objects of the layer's font */
#define SAN_TEXT_FONT_RES "F0"    /* the font's name in a page's resources */

/* One page's text as the renderer sent it (rnd.h PTXT), unchecked: ncp code points and nbox
 * boxes of 4 values (x0 y0 x1 y1 in 1/RND_TEXT_UNIT pixel). Borrowed. */
struct san_text_raw {
    const uint32_t *cp;
    size_t ncp;
    const uint32_t *box;
    size_t nbox;
};

typedef struct _GString GString; /* GLib's */
/* A page's text checked and grouped into positioned words. */
typedef struct san_text_page san_text_page;
/* The layer's font for one document, with the codes it gave characters beyond the BMP. */
typedef struct san_text_font san_text_font;

/* Check raw, the text of a width x height pixel page, and group it into words: control,
 * bidi, tag, non- and replacement characters dropped, compatibility forms (Kangxi radicals,
 * compatibility ideographs, presentation forms) NFKC-normalized, boxes clamped to the page,
 * at most max characters kept. NULL when the page gets no layer: no text left, or as many
 * boxes as characters were not sent. Caller frees with san_text_page_free. */
san_text_page *san_text_page_new(const san_text_raw *raw, unsigned width, unsigned height,
                                 size_t max);
void san_text_page_free(san_text_page *t);
/* Characters in t's words. */
size_t san_text_page_chars(const san_text_page *t);
/* Leave out t's characters whose box is one colour in the width x height RGB page, splitting
 * their words there; returns the code points left out. */
size_t san_text_page_ink(san_text_page *t, unsigned width, unsigned height, const uint8_t *rgb);
/* Append to out the content-stream fragment drawing t invisibly (BT 3 Tr ... ET) in font f
 * (resource SAN_TEXT_FONT_RES) over a page image drawn at dpi. Characters beyond the BMP get
 * codes from f; those f has no room for are left out. */
void san_text_page_content(const san_text_page *t, san_text_font *f, unsigned dpi, GString *out);
/* A font for one document; caller frees with san_text_font_free. */
san_text_font *san_text_font_new(void);
void san_text_font_free(san_text_font *f);
/* The SAN_TEXT_FONT_OBJS objects of f numbered from first (the Type0 font, which pages name,
 * is first), each the text between "N 0 obj" and "endobj". Caller frees each with
 * g_string_free. */
void san_text_font_objects(const san_text_font *f, size_t first, GString *objs[SAN_TEXT_FONT_OBJS]);

/* ---- pdfout.c: image-only PDF built on the trusted side, page by page ---- */

/* A page of grey text is written with SAN_GREY_TEXT_LEVELS grey levels (16 where it has flat
 * grey too light for them; 85 = 5 x 17, so every boundary between 4 levels is one between
 * 16), or in black and white: black under SAN_GREY_INK_MID, and thin strokes (ridges) no
 * lighter than SAN_GREY_RIDGE_MAX. The text layer's ink check (textlayer.c) keeps a character
 * only where both keep the difference its box shows. */
#define SAN_GREY_TEXT_LEVELS 4u
#define SAN_GREY_INK_MID 128u
#define SAN_GREY_RIDGE_MAX 199u /* a fifth ink and more */

typedef struct pdfw pdfw;
/* Non-zero when every pixel of the width x height RGB page is grey (r == g == b); levels
 * (NULL for none), 256 bytes, then marks the grey levels the page holds. */
int san_rgb_grey(const uint8_t *rgb, unsigned width, unsigned height, uint8_t levels[256]);
/* Start a PDF on fd (borrowed); dpi sets the page size from pixel dimensions. */
pdfw *pdfw_new(int fd, unsigned dpi);
/* Append one page of RGB pixels (stride = width*3). 0 or -1. */
int pdfw_add_page(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb);
/* Let pages carry a text layer (the font's objects are numbered before the pages): call
 * before the first page. 0 or -1. */
int pdfw_text_layer(pdfw *w);
/* Pages of grey text from now on: grey non-zero, 4 grey levels with Flate ([render]
 * text_pages = grey); 0 (the default), made bilevel and coded as JBIG2. 0 or -1. */
int pdfw_grey_text(pdfw *w, int grey);
/* As pdfw_add_page, with t (borrowed; NULL for none) laid over the image as invisible text
 * in the writer's own font; t needs pdfw_text_layer. 0 or -1. */
int pdfw_add_page_text(pdfw *w, unsigned width, unsigned height, const uint8_t *rgb,
                       const san_text_page *t);
/* Write xref and trailer. 0 or -1. */
int pdfw_finish(pdfw *w);
void pdfw_free(pdfw *w);

/* ---- jbig2.c: bilevel images as JBIG2 generic regions, for PDF's JBIG2Decode ---- */

/* Encode a width x height bilevel image (rows of stride bytes, most significant bit first,
 * 1 = black) drawn at dpi as an embedded JBIG2 stream (a page information segment and one
 * lossless generic region). The stream goes to *buf, a buffer of *cap bytes that is grown
 * with realloc as needed and stays the caller's (it frees *buf with free(), also after an
 * error); *len gets the stream's size. 0 or -1. */
int san_jbig2_encode(const uint8_t *bits, size_t stride, unsigned width, unsigned height,
                     unsigned dpi, uint8_t **buf, size_t *cap, size_t *len);

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

/* Non-zero when the extension ext (lower case) honestly names a convertible kind ("office",
 * "pdf", ...). */
int san_ext_names(const char *ext, const char *kind);

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
/* Where a PDF's pages come from instead of jail_render_pages (unlock.c: the jail that found
 * its password renders it); as jail_render_pages. */
typedef jail_status (*san_pages_fn)(void *arg, int in_fd, const jail_sink *sink, char *why,
                                    size_t why_len);
/* As san_file on in_fd (borrowed, read from offset 0, never changed), named display_name; with
 * pages set, the input, when it is a PDF, gets its pages from pages(arg, ...). */
int san_file_fd(san_engine *e, int in_fd, const char *display_name, const char *out_dir,
                const char *out_stem, int overwrite, san_pages_fn pages, void *arg, san_result *r);
/* Set r's verdict, kind (unless NULL) and reason (formatted; replaces the old one). */
void san_result_set(san_result *r, san_verdict v, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The configuration the engine runs with. */
const conf *san_engine_conf(const san_engine *e);

/* ---- sheets.c: a spreadsheet's sheets as CSV ---- */

/* Read the sheets jail_office_convert wrote to fd (from offset 0; hostile) within [office]
 * max_sheets, [render] max_text_mb per sheet and [jail] file_size_mb in all, each name made
 * safe and unique, each CSV rebuilt by mg_csv_neutralize into an anonymous file, into
 * r->sheets, and the workbook's sheets that did not come into r->sheets_lost. 0, or -1 with
 * the reason in why and nothing added. */
int sheets_read(const conf *c, int fd, san_result *r, char *why, size_t why_len);

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
/* Append value (valid UTF-8) to out as RFC 2047 UTF-8 encoded words, one per folded line
 * ("\r\n " between them), after a space; no line end after the last. Every B word but the
 * last holds a multiple of three bytes (a one-character Q word realigns them when no
 * character boundary allows it): GMime, and readers built on it, decode adjacent B words of
 * one charset as one base64 text and stop at padding in the middle. */
void mailhdr_encode_words(GString *out, const char *value);
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
