/*
 * sanitize/engine.c - the engine for one input file: identify, scan,
 * apply the policy, convert through the render jail, and rebuild the output
 * on the trusted side.
 *
 * Runs in sanitize-file (and later each pool worker), with the user's
 * privileges. It never parses document content itself: libmagic and
 * libclamav look at the bytes, everything else happens in mugai-render.
 * It must never write an output that did not come from the jail's pixels
 * or text, never modify the input, and never overwrite without being told.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <magic.h>

#include "mg.h"
#include "san.h"
#include "san_int.h"

struct san_engine {
    const conf *c;
    magic_t mime; /* MIME type */
    magic_t desc; /* textual description (tells encrypted Office files apart) */
    san_scanner *scanner;
    quar_store *store;     /* originals of top-level messages */
    quar_store *own_store; /* opened here from the configuration when none was given */
    char *store_err;
    const char *actor;
    unsigned top_level;  /* non-zero while san_file converts its own input */
    GHashTable *written; /* canonical paths of the files san_file wrote: never replaced */
    san_pages_fn pages;  /* san_file_fd: where the next PDF's pages come from, or NULL */
    void *pages_arg;
};

/* Open a libmagic cookie with flags, loading the default database. */
static magic_t magic_cookie(int flags, char **err)
{
    magic_t m = magic_open(flags | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);

    if (!m || magic_load(m, NULL) != 0) {
        *err = strdup(m ? magic_error(m) : "libmagic: out of memory");
        if (m)
            magic_close(m);
        return NULL;
    }
    return m;
}

san_engine *san_engine_new(const conf *c, char **err)
{
    san_engine *e = g_new0(san_engine, 1);

    *err = NULL;
    e->c = c;
    e->written = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    charset_allow_config(c->charsets);
    if (access(c->render_path, X_OK) != 0) {
        *err = g_strdup_printf("%s: renderer not found or not executable: %s", c->render_path,
                               g_strerror(errno));
        char *copy = strdup(*err);
        g_free(*err);
        *err = copy;
    } else if ((e->mime = magic_cookie(MAGIC_MIME_TYPE, err)) != NULL &&
               (e->desc = magic_cookie(MAGIC_NONE, err)) != NULL) {
        e->scanner = scan_new(c, err);
    }
    if (*err) {
        san_engine_free(e);
        return NULL;
    }
    return e;
}

void san_engine_free(san_engine *e)
{
    if (!e)
        return;
    if (e->mime)
        magic_close(e->mime);
    if (e->desc)
        magic_close(e->desc);
    scan_free(e->scanner);
    quar_close(e->own_store);
    g_free(e->store_err);
    if (e->written)
        g_hash_table_destroy(e->written);
    g_free(e);
}

int san_engine_scanning(const san_engine *e)
{
    return scan_active(e->scanner);
}

/* libmagic's answer for fd with cookie m, as a new string ("application/octet-stream" when
 * it has none). */
static char *magic_of(magic_t m, int fd)
{
    const char *s;
    int dupfd = dup(fd); /* libmagic closes nothing but may move the offset */

    if (dupfd < 0)
        return g_strdup("application/octet-stream");
    s = magic_descriptor(m, dupfd);
    close(dupfd);
    lseek(fd, 0, SEEK_SET);
    return g_strdup(s ? s : "application/octet-stream");
}

/* ---- the output file: a temporary beside the final name, renamed at the end ---- */

typedef struct outfile {
    int fd;
    char *tmp;
    char *dir;
} outfile;

/* Create a temporary output in dir. 0 or -1. */
static int outfile_open(outfile *o, const char *dir, const char *stem)
{
    mode_t mask = umask(0);
    gchar *base = g_strdup_printf(".%s.mugai-XXXXXX", stem);

    umask(mask);
    o->dir = g_strdup(dir);
    o->tmp = g_build_filename(dir, base, NULL);
    g_free(base);
    o->fd = mkstemp(o->tmp);
    if (o->fd < 0)
        return -1;
    if (fchmod(o->fd, 0666 & ~mask) < 0)
        return -1;
    return 0;
}

/* Remove the temporary output, if any. */
static void outfile_discard(outfile *o)
{
    if (o->fd >= 0) {
        close(o->fd);
        unlink(o->tmp);
    }
    o->fd = -1;
    g_free(o->tmp);
    g_free(o->dir);
    o->tmp = o->dir = NULL;
}

/* Make the output durable and give it its final name. Returns the path or NULL (errno). */
static char *outfile_commit(outfile *o, const char *name, int overwrite)
{
    char *final = g_build_filename(o->dir, name, NULL);
    int rc;

    if (fsync(o->fd) < 0) {
        g_free(final);
        return NULL;
    }
    if (overwrite)
        rc = rename(o->tmp, final);
    else
        rc = renameat2(AT_FDCWD, o->tmp, AT_FDCWD, final, RENAME_NOREPLACE);
    if (rc < 0) {
        g_free(final);
        return NULL;
    }
    close(o->fd);
    o->fd = -1;
    g_free(o->tmp);
    g_free(o->dir);
    o->tmp = o->dir = NULL;
    return final;
}

/* The key under which the file dir/name is remembered as written. Caller g_free()s. */
static char *written_key(const char *dir, const char *name)
{
    gchar *path = g_build_filename(dir, name, NULL);
    gchar *key = g_canonicalize_filename(path, NULL);

    g_free(path);
    return key;
}

/* Non-zero when this engine wrote the file dir/name earlier. */
static int written_before(const san_engine *e, const char *dir, const char *name)
{
    char *key = written_key(dir, name);
    int found = g_hash_table_contains(e->written, key);

    g_free(key);
    return found;
}

/* name with " (k)" before its extension: "book-x (2).csv". Caller g_free()s. */
static char *name_numbered(const char *name, unsigned k)
{
    const char *dot = strrchr(name, '.');

    if (!dot || dot == name)
        return g_strdup_printf("%s (%u)", name, k);
    return g_strdup_printf("%.*s (%u)%s", (int)(dot - name), name, k, dot);
}

/* As outfile_commit, but never over a file this engine wrote earlier (another input's output
 * or sheet of the same run, whatever overwrite says): then the first "NAME (k).EXT" that is
 * neither written this run nor, without overwrite, present is taken. The path is remembered.
 * Returns it or NULL (errno; EEXIST when name itself exists and overwrite is 0). */
static char *outfile_commit_fresh(san_engine *e, outfile *o, const char *name, int overwrite)
{
    char *dir = g_strdup(o->dir), *path = NULL;

    for (unsigned k = 1; k <= 1000 && !path; k++) {
        char *cand = k == 1 ? g_strdup(name) : name_numbered(name, k);
        if (!written_before(e, dir, cand)) {
            path = outfile_commit(o, cand, overwrite);
            if (!path && (errno != EEXIST || k == 1)) {
                g_free(cand);
                break;
            }
        }
        if (path)
            g_hash_table_add(e->written, written_key(dir, cand));
        g_free(cand);
        if (!path && k == 1000)
            errno = EEXIST;
    }
    g_free(dir);
    return path;
}

/* Add to reason a note for an output of r given another name than planned (planned) so as
 * not to replace a file written earlier in the run. */
static void note_renamed(GString *reason, const char *path, const char *planned)
{
    gchar *base = path ? g_path_get_basename(path) : NULL;

    if (base && strcmp(base, planned) != 0)
        g_string_append_printf(
            reason, "; written as %s, since an earlier input of this run wrote %s", base, planned);
    g_free(base);
}

/* ---- converters ---- */

typedef struct pdf_sink_ctx {
    pdfw *w;
    unsigned pages;
    san_text_page *text; /* the text layer of the page about to come */
    size_t text_chars;   /* characters in the document's text layers so far */
    size_t undrawn;      /* characters left out of them: the pages do not show them */
} pdf_sink_ctx;

/* Jail sink: announce the page count (nothing to do). */
static int pdf_begin(void *ctx, unsigned npages)
{
    (void)ctx;
    (void)npages;
    return 0;
}

/* Jail sink: check the text of the page about to come, within what the document has left. */
static int pdf_text(void *ctx, unsigned w, unsigned h, const san_text_raw *raw)
{
    pdf_sink_ctx *p = ctx;
    size_t left = SAN_TEXT_DOC_MAX - p->text_chars;

    san_text_page_free(p->text);
    p->text = san_text_page_new(raw, w, h, left < SAN_TEXT_PAGE_MAX ? left : SAN_TEXT_PAGE_MAX);
    p->text_chars += san_text_page_chars(p->text);
    return 0;
}

/* Jail sink: append one page of pixels, with its text layer (the characters it shows), to the
 * output PDF. */
static int pdf_page(void *ctx, unsigned w, unsigned h, const uint8_t *rgb)
{
    pdf_sink_ctx *p = ctx;

    p->pages++;
    p->undrawn += san_text_page_ink(p->text, w, h, rgb);
    if (p->text && san_text_page_chars(p->text) == 0)
        san_text_page_free(p->text), p->text = NULL;
    int rc = pdfw_add_page_text(p->w, w, h, rgb, p->text);
    san_text_page_free(p->text);
    p->text = NULL;
    return rc;
}

/* Map a jail failure to the result's verdict. Returns 0, or -1 for an internal error. */
static int jail_verdict(san_result *r, jail_status st, const char *why)
{
    switch (st) {
    case JAIL_OK:
        return 0;
    case JAIL_ENCRYPTED:
        san_result_set(r, SAN_HELD, "encrypted", "%s", why);
        return 0;
    case JAIL_LIMIT:
        san_result_set(r, SAN_BLOCKED, NULL, "over a limit: %s", why);
        return 0;
    case JAIL_MALFORMED:
        san_result_set(r, SAN_FAILED, NULL, "cannot be converted: %s", why);
        return 0;
    case JAIL_TIMEOUT:
    case JAIL_CRASHED:
    case JAIL_PROTOCOL:
        san_result_set(r, SAN_FAILED, NULL, "conversion failed (%s): %s", jail_status_name(st),
                       why);
        return 0;
    case JAIL_UNAVAILABLE:
        /* Never converted outside the jail: the original waits in the quarantine. */
        san_result_set(r, SAN_HELD, "jail", "the render jail is unavailable: %s", why);
        return 0;
    case JAIL_ERROR:
        break;
    }
    san_result_set(r, SAN_FAILED, NULL, "internal error: %s", why);
    return -1;
}

/* Render the PDF on in_fd to an image-only PDF on out_fd. */
static int convert_pdf(san_engine *e, int in_fd, int out_fd, san_result *r)
{
    char why[512] = "";
    pdf_sink_ctx ctx = {pdfw_new(out_fd, e->c->pdf_dpi), 0, NULL, 0, 0};
    jail_sink sink = {pdf_begin, pdf_page, &ctx, e->c->text_layer ? pdf_text : NULL};
    jail_status st;

    san_pages_fn pages = e->pages; /* taken once: for the input san_file_fd was given */

    e->pages = NULL;
    if (!ctx.w || (e->c->text_layer && pdfw_text_layer(ctx.w) < 0) ||
        pdfw_grey_text(ctx.w, strcmp(e->c->text_pages, "grey") == 0) < 0) {
        pdfw_free(ctx.w);
        return jail_verdict(r, JAIL_ERROR, "cannot start the output PDF");
    }
    if (pages)
        st = pages(e->pages_arg, in_fd, &sink, why, sizeof(why));
    else
        st = jail_render_pages(e->c, "pdf", NULL, in_fd, &sink, why, sizeof(why));
    if (st == JAIL_OK && pdfw_finish(ctx.w) < 0)
        st = JAIL_ERROR, g_strlcpy(why, "cannot write the output PDF", sizeof(why));
    pdfw_free(ctx.w);
    san_text_page_free(ctx.text);
    if (ctx.undrawn > 0)
        mg_info("document %s: %zu characters of text its pages do not show left out of the "
                "text layer",
                r->sha256, ctx.undrawn);
    r->pages = ctx.pages;
    return jail_verdict(r, st, why);
}

/* Non-zero when the input is a spreadsheet, by its extension or its detected type. */
static int is_spreadsheet(const char *ext, const char *mime)
{
    static const char *const exts[] = {"xls",  "xlsx", "xlsm", "xlt", "xltx",
                                       "xltm", "ods",  "ots",  NULL};

    for (size_t i = 0; exts[i]; i++)
        if (strcmp(ext, exts[i]) == 0)
            return 1;
    return mime && (strstr(mime, "spreadsheet") || strstr(mime, "ms-excel"));
}

/* The extension an Office document is given to LibreOffice under: its own when it names an
 * Office format, else one its content type names (LibreOffice takes a workbook named .txt
 * for text, and makes no PDF of it); "docx" when neither tells. */
static const char *office_ext(const char *ext, const char *mime)
{
    static const struct {
        const char *mime, *ext;
    } by_type[] = {
        {"application/vnd.openxmlformats-officedocument.wordprocessingml", "docx"},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml", "xlsx"},
        {"application/vnd.openxmlformats-officedocument.presentationml", "pptx"},
        {"application/vnd.ms-word", "docm"},
        {"application/vnd.ms-excel.", "xlsm"},
        {"application/vnd.ms-powerpoint.", "pptm"},
        {"application/vnd.ms-excel", "xls"},
        {"application/vnd.ms-powerpoint", "ppt"},
        {"application/msword", "doc"},
        {"application/vnd.oasis.opendocument.text", "odt"},
        {"application/vnd.oasis.opendocument.spreadsheet", "ods"},
        {"application/vnd.oasis.opendocument.presentation", "odp"},
        {"text/rtf", "rtf"},
        {"application/rtf", "rtf"},
    };

    if (san_ext_names(ext, "office"))
        return ext;
    for (size_t i = 0; mime && i < G_N_ELEMENTS(by_type); i++)
        if (g_str_has_prefix(mime, by_type[i].mime))
            return by_type[i].ext;
    return "docx";
}

/* Take the sheets the jail wrote to sheets_fd into r; without them the document keeps its
 * PDF, and the log says why. */
static void office_sheets(san_engine *e, int sheets_fd, san_result *r)
{
    char why[256] = "";

    if (sheets_read(e->c, sheets_fd, r, why, sizeof(why)) < 0) {
        mg_warn("spreadsheet %s: no CSV of its sheets: %s", r->sha256, why);
        r->sheets_failed = 1;
    } else if (r->sheets_lost > 0) {
        mg_warn("spreadsheet %s: %u of its %zu sheets could not be exported as CSV", r->sha256,
                r->sheets_lost, r->nsheets + r->sheets_lost);
    }
}

/* What became of a converted input: base (the classifier's note, "" for none: "converted"),
 * then what became of its sheets. Caller g_free()s. */
static char *converted_reason(const san_result *r, const char *base)
{
    const char *b = base[0] ? base : "converted";

    if (r->nsheets && r->sheets_lost)
        return g_strdup_printf("%s; its sheets' data as CSV, but for %u sheet%s that could not "
                               "be exported",
                               b, r->sheets_lost, r->sheets_lost == 1 ? "" : "s");
    if (r->nsheets)
        return g_strdup_printf("%s; its sheets' data as CSV", b);
    if (r->sheets_failed || r->sheets_lost)
        return g_strdup_printf("%s; its sheets' data could not be exported as CSV", b);
    return g_strdup(b);
}

/* Turn the Office document on in_fd into PDF in the jail, then flatten it; a spreadsheet's
 * sheets also become CSV ([office] sheet_csv) in r->sheets. */
static int convert_office(san_engine *e, int in_fd, const char *ext, int out_fd, san_result *r)
{
    char why[512] = "";
    int pdf_fd = mg_tmp_file(g_get_tmp_dir());
    int sheets_fd = -1;
    jail_status st;
    int rc;

    if (pdf_fd >= 0 && e->c->office_sheet_csv && is_spreadsheet(ext, r->detected_type) &&
        (sheets_fd = mg_tmp_file(g_get_tmp_dir())) < 0)
        close(pdf_fd), pdf_fd = -1;
    if (pdf_fd < 0) {
        mg_snprintf(why, sizeof why, "cannot create a temporary file in %s: %s", g_get_tmp_dir(),
                    g_strerror(errno));
        return jail_verdict(r, JAIL_ERROR, why);
    }
    st = jail_office_convert(e->c, in_fd, ext, pdf_fd, sheets_fd, why, sizeof(why));
    if (st != JAIL_OK) {
        close(pdf_fd);
        if (sheets_fd >= 0)
            close(sheets_fd);
        return jail_verdict(r, st, why);
    }
    lseek(pdf_fd, 0, SEEK_SET);
    rc = convert_pdf(e, pdf_fd, out_fd, r);
    close(pdf_fd);
    if (sheets_fd >= 0 && rc == 0 && r->verdict == SAN_SANITIZED)
        office_sheets(e, sheets_fd, r);
    if (sheets_fd >= 0)
        close(sheets_fd);
    return rc;
}

typedef struct img_ctx {
    san_engine *e;
    int out_fd;
    int photo;
    int written;
} img_ctx;

/* Jail sink: nothing to do before the single image. */
static int img_begin(void *ctx, unsigned npages)
{
    (void)ctx;
    return npages == 1 ? 0 : -1;
}

/* Jail sink: re-encode the decoded image without metadata. */
static int img_page(void *ctx, unsigned w, unsigned h, const uint8_t *rgb)
{
    img_ctx *p = ctx;
    const conf *c = p->e->c;

    p->photo = strcmp(c->image_output, "auto") == 0 && imgout_is_photo(w, h, rgb);
    p->written = 1;
    return imgout_write(p->out_fd, p->photo ? "jpeg" : "png", w, h, rgb, c->jpeg_quality);
}

/* Decode an image in the jail and re-encode it; *ext becomes "png" or "jpg". */
static int convert_image(san_engine *e, int in_fd, const char *type, int out_fd, san_result *r,
                         const char **ext)
{
    char why[512] = "";
    img_ctx ctx = {e, out_fd, 0, 0};
    jail_sink sink = {img_begin, img_page, &ctx, NULL};
    jail_status st = jail_render_pages(e->c, "image", type, in_fd, &sink, why, sizeof(why));

    if (st == JAIL_OK && !ctx.written)
        st = JAIL_PROTOCOL, g_strlcpy(why, "no image decoded", sizeof(why));
    *ext = ctx.photo ? "jpg" : "png";
    r->pages = ctx.written;
    return jail_verdict(r, st, why);
}

/* Neutralize the renderer's CSV again, read with delimiter delim: whatever the jail sent is
 * hostile. Written comma-separated, as the output is named .csv. JAIL_OK or JAIL_ERROR. */
static jail_status csv_rebuild(char **text, size_t *len, char delim, char *why, size_t why_len)
{
    char *csv = mg_csv_neutralize(*text, *len, delim, ',');

    if (!csv) {
        g_strlcpy(why, "cannot neutralize the CSV", why_len);
        return JAIL_ERROR;
    }
    g_free(*text);
    *text = csv;
    *len = strlen(csv);
    return JAIL_OK;
}

/* The delimiter a CSV input uses: tab for a .tsv name, else comma. */
static char csv_delimiter(const san_class *cls)
{
    return strcmp(cls->ext, "tsv") == 0 ? '\t' : ',';
}

/* Convert text, CSV (delim: its delimiter; 0 for the other modes) or HTML to UTF-8 text in
 * the jail and write it. */
static int convert_text(san_engine *e, int in_fd, const char *mode, char delim, int out_fd,
                        san_result *r)
{
    char why[512] = "";
    char *text = NULL;
    size_t len = 0;
    jail_status st = jail_render_text(e->c, mode, NULL, in_fd, &text, &len, why, sizeof(why));
    int rc;

    if (st == JAIL_OK && delim)
        st = csv_rebuild(&text, &len, delim, why, sizeof(why));
    if (st == JAIL_OK) {
        /* Spreadsheet programs read a CSV as UTF-8 only when it starts with a BOM. */
        if ((strcmp(mode, "csv") == 0 && mg_write_all(out_fd, "\xEF\xBB\xBF", 3) < 0) ||
            mg_write_all(out_fd, text, len) < 0 ||
            (len > 0 && text[len - 1] != '\n' && mg_write_all(out_fd, "\n", 1) < 0))
            st = JAIL_ERROR, g_strlcpy(why, "cannot write the output", sizeof(why));
    }
    rc = jail_verdict(r, st, why);
    g_free(text);
    return rc;
}

/* The quarantine for originals: the one given, else the configured one opened on first use. */
static quar_store *engine_store(san_engine *e)
{
    char *err = NULL;

    if (e->store || e->store_err)
        return e->store;
    e->own_store = quar_open_fs(e->c->quarantine_dir, e->c->quarantine_retention_days, &err);
    if (!e->own_store) {
        e->store_err = g_strdup(err ? err : "cannot open the quarantine");
        mg_warn("%s", e->store_err);
        free(err);
    }
    e->store = e->own_store;
    return e->store;
}

/* Sanitize a message. A file given to san_file has its original stored; an attached or
 * archived one does not (its container's original is stored), and is one more level of b. */
static int convert_mail(san_engine *e, int in_fd, san_budget *b, int out_fd, san_result *r)
{
    int top = e->top_level && b->depth == 0;
    san_mail_result mr = {0};
    char *err = NULL, why[128];
    int rc;

    if (!top && san_budget_enter(b, e->c, 0, why, sizeof(why)) < 0) {
        san_result_set(r, SAN_BLOCKED, NULL, "%s", why);
        return 0;
    }
    lseek(in_fd, 0, SEEK_SET);
    rc = san_mail_budget(e, top ? engine_store(e) : NULL, in_fd, NULL, e->actor, b, out_fd, &mr,
                         &err);
    if (!top)
        san_budget_leave(b, 0);
    if (rc < 0)
        san_result_set(r, SAN_FAILED, NULL, "internal error: %s", err ? err : "mail engine failed");
    else if (mr.record->id[0])
        r->reason =
            g_strdup_printf("%s; original kept as %s",
                            mr.changed ? "sanitized" : "text body re-encoded", mr.record->id);
    free(err);
    r->mail = mr.record;
    mr.record = NULL;
    san_mail_result_clear(&mr);
    return rc;
}

void san_engine_set_store(san_engine *e, struct quar_store *q, const char *actor)
{
    e->store = q;
    e->actor = actor;
}

/* Dispatch to the converter for cls; sets r->verdict other than SAN_SANITIZED on failure. */
static int convert(san_engine *e, const san_class *cls, int in_fd, san_budget *b, int out_fd,
                   san_result *r, const char **ext)
{
    *ext = cls->out_ext;
    r->verdict = SAN_SANITIZED;
    if (strcmp(cls->kind, "archive") == 0)
        return archive_sanitize(e, in_fd, cls->name, b, out_fd, r);
    if (strcmp(cls->kind, "mail") == 0)
        return convert_mail(e, in_fd, b, out_fd, r);
    if (strcmp(cls->kind, "pdf") == 0)
        return convert_pdf(e, in_fd, out_fd, r);
    if (strcmp(cls->kind, "office") == 0)
        return convert_office(e, in_fd, office_ext(cls->ext, r->detected_type), out_fd, r);
    if (strcmp(cls->kind, "image") == 0)
        return convert_image(e, in_fd, cls->img_type, out_fd, r, ext);
    if (strcmp(cls->kind, "html") == 0)
        return convert_text(e, in_fd, "html", 0, out_fd, r);
    if (strcmp(cls->kind, "csv") == 0)
        return convert_text(e, in_fd, "csv", csv_delimiter(cls), out_fd, r);
    return convert_text(e, in_fd, "text", 0, out_fd, r);
}

/* Identify fd: fill the result's types, size, hash and virus verdict; the class in *cls.
 * Returns 0 when conversion should go on, 1 when a verdict is reached, -1 on error. */
static int identify(san_engine *e, int fd, const char *name, san_result *r, san_class *cls)
{
    char why[256] = "";
    const char *virname = NULL;
    struct stat st;
    char *desc;
    int rc;

    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        san_result_set(r, SAN_FAILED, "unknown", "not a regular file");
        return 1;
    }
    r->in_size = (size_t)st.st_size;
    if (mg_sha256_fd(fd, r->sha256) < 0) {
        san_result_set(r, SAN_FAILED, "unknown", "cannot read: %s", g_strerror(errno));
        return 1;
    }
    r->detected_type = magic_of(e->mime, fd);
    desc = magic_of(e->desc, fd);
    san_classify(r->detected_type, desc, name, cls);
    g_free(desc);
    r->kind = g_strdup(cls->kind);
    r->declared_ext = g_strdup(cls->ext);
    if ((size_t)st.st_size > e->c->max_input_mb * 1024 * 1024) {
        san_result_set(r, SAN_BLOCKED, "too-large", "larger than the limit of %zu MiB",
                       e->c->max_input_mb);
        return 1;
    }
    /* Containers are not judged whole: every member or part is scanned on its own, so one
     * infected attachment removes that attachment, not the whole message or archive. */
    if (strcmp(cls->kind, "archive") == 0 || strcmp(cls->kind, "mail") == 0)
        rc = 0;
    else
        rc = scan_fd(e->scanner, fd, name, &virname, why, sizeof(why));
    if (rc == 1) {
        r->signature = g_strdup(virname);
        san_result_set(r, SAN_BLOCKED, "virus", "virus signature %s found", virname);
        return 1;
    }
    if (rc < 0) {
        san_result_set(r, SAN_FAILED, NULL, "%s", why);
        return -1;
    }
    if (cls->verdict != SAN_SANITIZED) {
        san_result_set(r, (san_verdict)cls->verdict, NULL, "%s", cls->reason);
        return 1;
    }
    return 0;
}

/* Copy the rest of from to to. 0 or -1 (errno). */
static int fd_copy_rest(int from, int to)
{
    char buf[65536];
    ssize_t n;

    while ((n = read(from, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || mg_write_all(to, buf, (size_t)n) < 0)
            return -1;
    }
    return 0;
}

/* Write every sheet of r beside the output called stem in out_dir ("stem-SHEET.csv"), each
 * through a temporary file and a rename like the output itself. 0, or -1 (reason in r) when
 * one could not be written. */
static int sheets_commit(san_engine *e, const char *out_dir, const char *stem, int overwrite,
                         san_result *r)
{
    for (size_t i = 0; i < r->nsheets; i++) {
        san_sheet *s = &r->sheets[i];
        outfile o = {-1, NULL, NULL};
        char *name = san_sheet_file_name(stem, s);
        int rc = outfile_open(&o, out_dir, stem) < 0 || lseek(s->fd, 0, SEEK_SET) < 0 ||
                         fd_copy_rest(s->fd, o.fd) < 0
                     ? -1
                     : 0;
        if (rc == 0 && !(s->output_path = outfile_commit_fresh(e, &o, name, overwrite)))
            rc = -1;
        if (rc < 0)
            san_result_set(r, SAN_FAILED, NULL, "cannot write output %s/%s: %s", out_dir, name,
                           errno == EEXIST ? "it exists (use --force to overwrite)"
                                           : g_strerror(errno));
        outfile_discard(&o);
        g_free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Set r sanitized with reason, and a note for each output (named name, or a sheet's
 * "stem-SHEET.csv") that was given another name. */
static void reason_renamed(san_result *r, const char *name, const char *stem, const char *reason)
{
    GString *g = g_string_new(reason);

    note_renamed(g, r->output_path, name);
    for (size_t i = 0; i < r->nsheets; i++) {
        char *planned = san_sheet_file_name(stem, &r->sheets[i]);
        note_renamed(g, r->sheets[i].output_path, planned);
        g_free(planned);
    }
    san_result_set(r, SAN_SANITIZED, NULL, "%s", g->str);
    g_string_free(g, TRUE);
}

/* Convert an identified input into out_dir; fills r. 0, or -1 on an internal error. */
static int produce(san_engine *e, int fd, const san_class *cls, const char *out_dir,
                   const char *out_stem, int overwrite, san_result *r)
{
    outfile o = {-1, NULL, NULL};
    san_budget b = {0};
    const char *ext = cls->out_ext;
    gchar *name = g_strdup_printf("%s.%s", out_stem, ext);
    gchar *path = g_build_filename(out_dir, name, NULL);
    int rc = 0;

    if (!overwrite && access(path, F_OK) == 0 && !written_before(e, out_dir, name)) {
        san_result_set(r, SAN_FAILED, NULL, "output %s exists (use --force to overwrite)", path);
    } else if (outfile_open(&o, out_dir, out_stem) < 0) {
        san_result_set(r, SAN_FAILED, NULL, "cannot create output in %s: %s", out_dir,
                       g_strerror(errno));
        rc = -1;
    } else if ((rc = convert(e, cls, fd, &b, o.fd, r, &ext)) == 0 && r->verdict == SAN_SANITIZED) {
        struct stat st;
        g_free(name);
        name = g_strdup_printf("%s.%s", out_stem, ext);
        if (fstat(o.fd, &st) == 0)
            r->out_size = (size_t)st.st_size;
        r->output_path = outfile_commit_fresh(e, &o, name, overwrite);
        if (!r->output_path && errno == EEXIST)
            san_result_set(r, SAN_FAILED, NULL, "output %s/%s exists (use --force to overwrite)",
                           out_dir, name);
        else if (!r->output_path)
            san_result_set(r, SAN_FAILED, NULL, "cannot write output %s/%s: %s", out_dir, name,
                           g_strerror(errno)),
                rc = -1;
        else if (sheets_commit(e, out_dir, out_stem, overwrite, r) == 0) {
            char *done = converted_reason(r, cls->reason);
            reason_renamed(r, name, out_stem, done);
            g_free(done);
        }
    }
    outfile_discard(&o);
    g_free(name);
    g_free(path);
    return rc;
}

int san_file(san_engine *e, const char *in_path, const char *display_name, const char *out_dir,
             const char *out_stem, int overwrite, san_result *r)
{
    double t0 = mg_now();
    int fd, rc;

    memset(r, 0, sizeof(*r));
    fd = open(in_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        san_result_set(r, SAN_FAILED, "unknown", "cannot open: %s", g_strerror(errno));
        r->seconds = mg_now() - t0;
        return 0;
    }
    rc = san_file_fd(e, fd, display_name ? display_name : in_path, out_dir, out_stem, overwrite,
                     NULL, NULL, r);
    close(fd);
    return rc;
}

int san_file_fd(san_engine *e, int in_fd, const char *display_name, const char *out_dir,
                const char *out_stem, int overwrite, san_pages_fn pages, void *arg, san_result *r)
{
    double t0 = mg_now();
    san_class cls;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = identify(e, in_fd, display_name, r, &cls);
    e->top_level = 1;
    /* Only for the input itself, and only when it is a PDF: a PDF inside it, or LibreOffice's
     * from it, opens with any password when it has none. */
    e->pages = rc == 0 && strcmp(cls.kind, "pdf") == 0 ? pages : NULL;
    e->pages_arg = arg;
    if (rc == 0)
        rc = produce(e, in_fd, &cls, out_dir, out_stem, overwrite, r);
    else if (rc == 1)
        rc = 0;
    e->pages = NULL;
    e->pages_arg = NULL;
    e->top_level = 0;
    r->seconds = mg_now() - t0;
    return rc;
}

const conf *san_engine_conf(const san_engine *e)
{
    return e->c;
}

int san_convert_fd(san_engine *e, int in_fd, const char *name, san_budget *b, san_result *r,
                   int *out_fd, const char **out_ext)
{
    double t0 = mg_now();
    san_class cls;
    int rc;

    memset(r, 0, sizeof(*r));
    *out_fd = -1;
    *out_ext = NULL;
    rc = identify(e, in_fd, name, r, &cls);
    if (rc == 0) {
        int fd = mg_tmp_file(g_get_tmp_dir());
        if (fd < 0) {
            san_result_set(r, SAN_FAILED, NULL, "cannot create a temporary file in %s: %s",
                           g_get_tmp_dir(), g_strerror(errno));
            rc = -1;
        } else if ((rc = convert(e, &cls, in_fd, b, fd, r, out_ext)) == 0 &&
                   r->verdict == SAN_SANITIZED) {
            struct stat st;
            if (!r->reason) {
                char *done = converted_reason(r, cls.reason);
                san_result_set(r, SAN_SANITIZED, NULL, "%s", done);
                g_free(done);
            }
            r->out_size = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
            lseek(fd, 0, SEEK_SET);
            *out_fd = fd;
        } else {
            close(fd);
            *out_ext = NULL;
        }
    } else if (rc == 1) {
        rc = 0;
    }
    r->seconds = mg_now() - t0;
    return rc;
}
