/*
 * sanitize/mail.c - the mail engine: one Internet message in, the clean copy
 * that may enter the LGWAN side out.
 *
 * Runs in sanitize-file and (later) each single-threaded pool worker. GMime
 * parses the message structure here, on the trusted side, within the [mail]
 * bounds; every body and attachment is then converted through the engine and
 * the render jail. The output is rebuilt from scratch: a UTF-8 text body with
 * a notice, and only attachments that came out of the jail. It must never copy
 * an original part into the output, never drop a part without saying so in the
 * notice, and never return a message it cannot parse again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <gmime/gmime.h>

#include "mg.h"
#include "san.h"
#include "san_int.h"

#define MEM_PART_MAX (1024 * 1024) /* decoded parts up to this size stay in memory */
/* Longest header field name carried over: the name, its colon and a first encoded word must
 * fit in a line of 998 bytes. */
#define HEADER_NAME_MAX 900
#define RECORD_TEXT_MAX (1024 * 1024) /* bytes of the received text kept with the record */
#define RECORD_VALUE_MAX 998          /* bytes of one header value kept with the record */
#define RECORD_FIELDS_MAX 64          /* header lines kept with the record */

/* What the walk over one message collects. */
typedef struct mail_ctx {
    san_engine *e;
    const conf *c;
    quar_msg *rec;     /* every original part with its fate */
    GString *body;     /* converted body text */
    GString *fates_ja; /* one line per attachment */
    GString *fates_en;
    GString *notes_ja; /* limits hit */
    GString *notes_en;
    GMimeMultipart *mixed; /* sanitized attachments */
    unsigned leaves;       /* leaf parts seen */
    unsigned over_limit;   /* leaf parts removed because of max_parts */
    unsigned over_budget;  /* leaf parts removed because the whole input has too many */
    unsigned attachments;  /* attachments listed in the notice */
    san_budget *b;         /* of the input this message is (part of) */
    san_budget b0;         /* *b when this message began */
    int deep_noted;
    int held_noted; /* the note on how held encrypted parts open was added */
    int changed;
} mail_ctx;

static void walk(mail_ctx *m, GMimeObject *obj, const char *path);

/* Initialize GMime once per process. */
static void mail_init(void)
{
    static int done;

    if (!done) {
        g_mime_init();
        done = 1;
    }
}

/* A fresh anonymous temporary file for at most hint bytes (0: unknown), or -1. Small
 * contents live in memory: a file on disk per part would cost an inode per message. */
static int temp_fd(gint64 hint)
{
    if (hint > 0 && hint <= MEM_PART_MAX) {
        int fd = memfd_create("mugai-part", MFD_CLOEXEC);

        if (fd >= 0)
            return fd;
    }
    return mg_tmp_file(g_get_tmp_dir());
}

/* The raw value of the first header called name on obj, or NULL. */
static const char *raw_header(GMimeObject *obj, const char *name)
{
    GMimeHeaderList *list = g_mime_object_get_header_list(obj);
    int n = list ? g_mime_header_list_get_count(list) : 0;

    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
        if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) == 0)
            return g_mime_header_get_raw_value(h);
    }
    return NULL;
}

/* Declared MIME type of obj, lower case; caller g_free()s. */
static char *declared_type(GMimeObject *obj)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    char *t = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
    char *lower = g_ascii_strdown(t ? t : "text/plain", -1);

    g_free(t);
    return lower;
}

/* Add a note about a limit, in both languages. */
static void note(mail_ctx *m, const char *ja, const char *en)
{
    g_string_append_printf(m->notes_ja, "  注意: %s\n", ja);
    g_string_append_printf(m->notes_en, "  note: %s\n", en);
    m->changed = 1;
}

/* A buffered stream writing to (a dup of) fd from its current offset. Not a
 * GMimeStreamFs: that one makes a write(2) per piece and fsyncs on flush, and nothing
 * written here needs to reach the disk. Flush it before unref. */
static GMimeStream *write_stream(int fd)
{
    GMimeStream *pipe = g_mime_stream_pipe_new(dup(fd));
    GMimeStream *buf = g_mime_stream_buffer_new(pipe, GMIME_STREAM_BUFFER_BLOCK_WRITE);

    g_object_unref(pipe);
    return buf;
}

/* Write the decoded content of part to a new temporary file, at most max bytes.
 * Returns the fd (rewound) or -1; *over is set when the content was cut. */
static int part_content(GMimePart *part, size_t max, int *over)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *enc = w ? g_mime_data_wrapper_get_stream(w) : NULL;
    /* decoding never makes a part longer than its transfer encoding */
    int fd = temp_fd(enc ? g_mime_stream_length(enc) : 0);
    GMimeStream *fs;
    struct stat st;

    *over = 0;
    if (fd < 0)
        return -1;
    if (!w)
        return fd;
    fs = write_stream(fd);
    if (g_mime_data_wrapper_write_to_stream(w, fs) < 0 || g_mime_stream_flush(fs) < 0) {
        g_object_unref(fs);
        close(fd);
        return -1;
    }
    g_object_unref(fs);
    if (fstat(fd, &st) == 0 && (size_t)st.st_size > max) {
        *over = 1;
        if (ftruncate(fd, (off_t)max) < 0) {
            close(fd);
            return -1;
        }
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Hex SHA-256 and size of fd's content into the part record. */
static void hash_part(int fd, quar_part *p)
{
    struct stat st;

    if (mg_sha256_fd(fd, p->sha256) < 0)
        p->sha256[0] = '\0';
    p->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- bodies ---- */

/* Decode a plain-text body here rather than in the jail: it is only a charset conversion,
 * the same code that decodes the headers on this side, and a jail per message would cost
 * more than the rest of the work. Only charsets of the allow-list come here (charset.c);
 * other labels, HTML and every attachment still go through the jail. */
static jail_status decode_plain(const conf *c, int fd, const char *label, char **text, size_t *len,
                                char *why, size_t why_len)
{
    char *raw = NULL;
    size_t n = 0;
    const char *used = NULL;

    if (mg_read_all(fd, c->max_text_mb << 20, &raw, &n) < 0) {
        g_snprintf(why, why_len, "cannot read the body: %s", g_strerror(errno));
        return JAIL_ERROR;
    }
    *text = rnd_text_to_utf8(raw, n, label, c->charsets, &used);
    free(raw);
    if (!*text) {
        g_snprintf(why, why_len, "the text cannot be decoded with any of %s", c->charsets);
        return JAIL_MALFORMED;
    }
    *len = strlen(*text);
    return JAIL_OK;
}

/* Convert a text or HTML body part to UTF-8 and append it to the body. */
static void body_part(mail_ctx *m, GMimePart *part, const char *path, const char *type)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
    const char *label = ct ? g_mime_content_type_get_parameter(ct, "charset") : NULL;
    int is_html = strcmp(type, "text/html") == 0;
    char why[512] = "", *text = NULL;
    size_t len = 0;
    int over;
    int fd = part_content(part, m->c->max_text_mb << 20, &over);
    quar_part *p = quar_msg_add_part(m->rec, path, NULL, type, type, 0, NULL, "body",
                                     is_html ? "HTML converted to text" : "text", NULL);
    jail_status st;

    if (fd < 0) {
        g_free(p->reason), p->reason = g_strdup("cannot read the part");
        return;
    }
    hash_part(fd, p);
    if (is_html)
        st = jail_render_text(m->c, "html", label, fd, &text, &len, why, sizeof(why));
    else if (label && !charset_allowed(label))
        /* A charset outside the allow-list is converted in the jail, never here. */
        st = jail_render_text(m->c, "text", label, fd, &text, &len, why, sizeof(why));
    else
        st = decode_plain(m->c, fd, label, &text, &len, why, sizeof(why));
    close(fd);
    if (st != JAIL_OK) {
        g_free(p->action), p->action = g_strdup("failed");
        g_free(p->reason), p->reason = g_strdup(why);
        note(m, "本文の一部を変換できず削除しました", "part of the body could not be converted");
        return;
    }
    if (over)
        note(m, "本文が長すぎるため途中で切りました", "the body was cut at the size limit");
    if (is_html)
        m->changed = 1;
    if (m->body->len && m->body->str[m->body->len - 1] != '\n')
        g_string_append_c(m->body, '\n');
    if (m->body->len)
        g_string_append_c(m->body, '\n');
    g_string_append_len(m->body, text, (gssize)len);
    g_free(text);
}

/* ---- attachments ---- */

/* MIME type of a sanitized output by extension. */
static const char *output_type(const char *ext)
{
    static const char *const map[][2] = {
        {"pdf", "application/pdf"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
        {"txt", "text/plain"},      {"csv", "text/csv"},  {"zip", "application/zip"},
    };

    for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
        if (strcmp(ext, map[i][0]) == 0)
            return map[i][1];
    return "text/plain"; /* a sanitized message: plain MIME text */
}

/* The output file name: the input's stem with the new extension. */
static char *output_name(const char *name, const char *path, const char *ext)
{
    gchar *stem = name ? g_strdup(name) : g_strdup_printf("attachment-%s", path);
    char *dot = strrchr(stem, '.');
    gchar *out;

    if (dot && dot != stem)
        *dot = '\0';
    out = strcmp(ext, "eml") == 0 ? g_strdup_printf("%s.eml.txt", stem)
                                  : g_strdup_printf("%s.%s", stem, ext);
    g_free(stem);
    return out;
}

/* Attach a sanitized output (fd, owned) named name to the clean message. */
static void attach(mail_ctx *m, int fd, const char *name, const char *ext)
{
    const char *type = output_type(ext);
    char *slash = strchr(type, '/');
    gchar *media = g_strndup(type, (gsize)(slash - type));
    GMimePart *part = g_mime_part_new_with_type(media, slash + 1);
    GMimeStream *s = g_mime_stream_fs_new(fd);
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);

    if (strcmp(media, "text") == 0)
        g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "UTF-8");
    g_mime_part_set_content(part, w);
    g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
    g_mime_part_set_filename(part, name);
    if (!m->mixed)
        m->mixed = g_mime_multipart_new_with_subtype("mixed");
    g_mime_multipart_add(m->mixed, GMIME_OBJECT(part));
    g_object_unref(w);
    g_object_unref(s);
    g_object_unref(part);
    g_free(media);
}

/* How a sanitized output is described in the notice. */
static void describe_output(const char *ext, const char **ja, const char **en)
{
    if (strcmp(ext, "pdf") == 0)
        *ja = "画像のみのPDFに変換しました", *en = "converted to an image-only PDF";
    else if (strcmp(ext, "png") == 0 || strcmp(ext, "jpg") == 0)
        *ja = "画像を作り直しました（メタデータ削除）",
        *en = "converted to a new image without metadata";
    else if (strcmp(ext, "csv") == 0)
        *ja = "数式を無効化したCSVに変換しました", *en = "converted to CSV with formulas disarmed";
    else if (strcmp(ext, "zip") == 0)
        *ja = "中身を無害化してZIPに詰め直しました",
        *en = "converted: members sanitized and repacked as a zip";
    else
        *ja = "UTF-8のテキストに変換しました", *en = "converted to UTF-8 text";
}

/* Count sheet s against the input's budget: one more part and its bytes. 0, or -1 (reason in
 * why) when the budget refuses it. */
static int sheet_budget(mail_ctx *m, const san_sheet *s, char *why, size_t len)
{
    if (san_budget_part(m->b, m->c, why, len) < 0)
        return -1;
    return san_budget_expand(m->b, m->c, s->out_size, why, len);
}

/* Attach the CSV of every sheet of r (a spreadsheet) after its output called out, as
 * "STEM-SHEET.csv", each within the input's budget; their names are added to names, and
 * "NAME: why" to refused for a sheet the budget left out. The descriptors go to the
 * message. */
static void attach_sheets(mail_ctx *m, san_result *r, const char *out, GPtrArray *names,
                          GPtrArray *refused)
{
    gchar *stem = g_strdup(out);
    char *dot = strrchr(stem, '.');
    char why[160];

    if (dot && dot != stem)
        *dot = '\0';
    for (size_t i = 0; i < r->nsheets; i++) {
        char *name = san_sheet_file_name(stem, &r->sheets[i]);
        if (sheet_budget(m, &r->sheets[i], why, sizeof(why)) < 0) {
            g_ptr_array_add(refused, g_strdup_printf("%s: %s", name, why));
            g_free(name);
            continue;
        }
        attach(m, r->sheets[i].fd, name, "csv");
        r->sheets[i].fd = -1;
        g_ptr_array_add(names, name);
    }
    g_free(stem);
}

/* List the CSVs of a spreadsheet's sheets (names) under its attachment's line, then those
 * the input's budget left out (refused, "NAME: why"), then those r says could not be
 * exported. */
static void sheet_fates(mail_ctx *m, const char *orig, const san_result *r, GPtrArray *names,
                        GPtrArray *refused)
{
    for (guint i = 0; i < names->len; i++) {
        char *name = mg_utf8_safe(names->pdata[i], -1);
        g_string_append_printf(m->fates_ja, "     - %s のシートのデータ → %s\n", orig, name);
        g_string_append_printf(m->fates_en, "     - %s (a sheet's data as CSV) -> %s\n", orig,
                               name);
        g_free(name);
    }
    for (guint i = 0; i < refused->len; i++) {
        char *line = mg_utf8_safe(refused->pdata[i], -1);
        g_string_append_printf(m->fates_ja, "     - %s のシートのデータ（CSV）を削除しました: %s\n",
                               orig, line);
        g_string_append_printf(m->fates_en, "     - %s (a sheet's data as CSV) removed: %s\n", orig,
                               line);
        g_free(line);
    }
    if (r->sheets_lost && names->len + refused->len > 0) {
        g_string_append_printf(m->fates_ja,
                               "     - %s のシートのうち %u 件はデータを取り出せませんでした"
                               "（CSVはありません）\n",
                               orig, r->sheets_lost);
        g_string_append_printf(m->fates_en,
                               "     - %s: %u of its sheets could not be exported (no CSV)\n", orig,
                               r->sheets_lost);
    } else if (r->sheets_failed || r->sheets_lost) {
        g_string_append_printf(
            m->fates_ja, "     - %s のシートのデータは取り出せませんでした（CSVはありません）\n",
            orig);
        g_string_append_printf(
            m->fates_en, "     - %s: its sheets' data could not be exported (no CSV)\n", orig);
    }
}

/* Say once how a held (encrypted) attachment is opened: the sender's password mail, the
 * recipient's reply to [ppap] submit_address when there is one, or IT. */
static void held_note(mail_ctx *m)
{
    const char *to = m->c->ppap_submit_address;
    gchar *ja, *en;

    if (m->held_noted)
        return;
    m->held_noted = 1;
    if (*to) {
        ja = g_strdup_printf(
            "暗号化された添付ファイルは %u 日間保留します。送信者からパスワードのメールが"
            "届くと自動で開き、無害化したファイルを別のメールでお送りします。"
            "パスワードをご存じの場合は、件名にこの隔離ID、本文にパスワードを書いて "
            "%s 宛に送ってください。開けない場合は情報システム担当へ依頼してください",
            m->c->ppap_hold_days, to);
        en = g_strdup_printf("encrypted attachments are held for %u days. When the sender's "
                             "password mail arrives they are opened and their sanitized contents "
                             "follow in another mail. If you know the password, send it in the "
                             "body of a mail to %s with this quarantine ID in the subject; "
                             "otherwise ask IT",
                             m->c->ppap_hold_days, to);
    } else {
        ja = g_strdup_printf(
            "暗号化された添付ファイルは %u 日間保留します。送信者からパスワードのメールが"
            "届くと自動で開き、無害化したファイルを別のメールでお送りします。"
            "開けない場合は情報システム担当へ依頼してください",
            m->c->ppap_hold_days);
        en = g_strdup_printf("encrypted attachments are held for %u days. When the sender's "
                             "password mail arrives they are opened and their sanitized contents "
                             "follow in another mail; otherwise ask IT",
                             m->c->ppap_hold_days);
    }
    note(m, ja, en);
    g_free(ja);
    g_free(en);
}

/* Record one attachment's fate in the notice. Names and reasons go through the one filter
 * for displayed text (mg_utf8_safe): they come from the sender. sheets: the names of the
 * CSVs of a spreadsheet's sheets attached after out. */
static void fate(mail_ctx *m, const quar_part *p, const char *out, const char *ext,
                 const san_result *r, GPtrArray *sheets, GPtrArray *refused)
{
    char *shown = mg_utf8_safe(p->filename ? p->filename : p->declared_type, -1);
    char *type = mg_utf8_safe(p->declared_type, -1);
    char *reason = mg_utf8_safe(p->reason ? p->reason : "", -1);
    unsigned n = ++m->attachments;
    const char *ja, *en;

    if (out && sheets->len) {
        describe_output(ext, &ja, &en);
        g_string_append_printf(m->fates_ja,
                               "  %u. %s: %s。各シートのデータは数式を無効化したCSV（%u件）で"
                               "添付しました → %s\n",
                               n, shown, ja, sheets->len, out);
        g_string_append_printf(m->fates_en,
                               "  %u. %s (%s): %s; the data of its sheets came as CSV with "
                               "formulas disarmed (%u files) -> %s\n",
                               n, shown, type, en, sheets->len, out);
        sheet_fates(m, shown, r, sheets, refused);
    } else if (out) {
        describe_output(ext, &ja, &en);
        g_string_append_printf(m->fates_ja, "  %u. %s: %s → %s\n", n, shown, ja, out);
        g_string_append_printf(m->fates_en, "  %u. %s (%s): %s -> %s\n", n, shown, type, en, out);
        sheet_fates(m, shown, r, sheets, refused);
    } else {
        int held = strcmp(p->action, "held") == 0;
        ja = held ? "保留しました（検査できません）" : "削除しました";
        en = held                               ? "held"
             : strcmp(p->action, "failed") == 0 ? "removed (conversion failed)"
                                                : "removed";
        g_string_append_printf(m->fates_ja, "  %u. %s: %s（%s）\n", n, shown, ja, reason);
        g_string_append_printf(m->fates_en, "  %u. %s (%s): %s: %s\n", n, shown, type, en, reason);
        if (held)
            held_note(m);
    }
    g_free(shown);
    g_free(type);
    g_free(reason);
}

/* The virus name found in r or, for an archive, in its members; NULL when none. */
static const char *first_signature(const san_result *r)
{
    const char *sig = r->signature;

    for (size_t i = 0; !sig && i < r->nmembers; i++)
        sig = first_signature(&r->members[i].r);
    return sig;
}

/* List the archive members that did not come through, under their attachment's line. */
static void member_fates(mail_ctx *m, const san_result *r, unsigned level)
{
    for (size_t i = 0; i < r->nmembers && level < 8; i++) {
        const san_member *mb = &r->members[i];
        if (mb->r.verdict != SAN_SANITIZED) {
            const char *en = mb->r.verdict == SAN_HELD ? "held" : "removed";
            const char *ja = mb->r.verdict == SAN_HELD ? "保留" : "削除";
            char *name = mg_utf8_safe(mb->name, -1);
            char *reason = mg_utf8_safe(mb->r.reason ? mb->r.reason : "", -1);
            g_string_append_printf(m->fates_ja, "%*s- %s: %s（%s）\n", (int)(level * 2 + 3), "",
                                   name, ja, reason);
            g_string_append_printf(m->fates_en, "%*s- %s: %s: %s\n", (int)(level * 2 + 3), "", name,
                                   en, reason);
            g_free(name);
            g_free(reason);
        }
        member_fates(m, &mb->r, level + 1);
    }
}

/* Sanitize one attachment through the engine and attach what comes out. */
static void attachment(mail_ctx *m, GMimePart *part, const char *path, const char *type)
{
    GMimeObject *obj = GMIME_OBJECT(part);
    char *name = mailhdr_filename(raw_header(obj, "Content-Disposition"),
                                  raw_header(obj, "Content-Type"), m->c->charsets);
    san_result r;
    const char *ext = NULL;
    int over, out_fd = -1;
    int fd = part_content(part, m->c->max_input_mb << 20, &over);
    quar_part *p;
    char *out = NULL;

    m->changed = 1;
    memset(&r, 0, sizeof(r));
    if (fd < 0) {
        r.verdict = SAN_FAILED;
        r.reason = g_strdup("cannot read the part");
    } else if (over) {
        r.verdict = SAN_BLOCKED;
        r.reason = g_strdup_printf("larger than the limit of %zu MiB", m->c->max_input_mb);
        r.in_size = (size_t)m->c->max_input_mb << 20;
    } else if (san_convert_fd(m->e, fd, name ? name : "", m->b, &r, &out_fd, &ext) < 0) {
        mg_error("part %s: %s", path, r.reason ? r.reason : "internal error");
    }
    p = quar_msg_add_part(m->rec, path, name, type, r.detected_type, r.in_size,
                          r.sha256[0] ? r.sha256 : NULL, san_verdict_name(r.verdict),
                          r.reason ? r.reason : "", first_signature(&r));
    GPtrArray *sheets = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *refused = g_ptr_array_new_with_free_func(g_free);
    if (out_fd >= 0) {
        out = output_name(name, path, ext);
        attach(m, out_fd, out, ext);
        attach_sheets(m, &r, out, sheets, refused);
    }
    fate(m, p, out, ext, &r, sheets, refused);
    g_ptr_array_free(sheets, TRUE);
    g_ptr_array_free(refused, TRUE);
    member_fates(m, &r, 1);
    if (fd >= 0)
        close(fd);
    g_free(out);
    g_free(name);
    san_result_clear(&r);
}

/* ---- the walk ---- */

/* Non-zero when a leaf is a body part rather than an attachment. */
static int is_body(GMimePart *part, const char *type)
{
    if (strcmp(type, "text/plain") != 0 && strcmp(type, "text/html") != 0)
        return 0;
    return !g_mime_part_is_attachment(part) &&
           raw_header(GMIME_OBJECT(part), "Content-Disposition") == NULL &&
           g_mime_part_get_filename(part) == NULL;
}

/* One leaf part. */
static void leaf(mail_ctx *m, GMimePart *part, const char *path)
{
    char *type = declared_type(GMIME_OBJECT(part));
    char why[128];

    if (++m->leaves > m->c->mail_max_parts) {
        m->over_limit++;
        m->changed = 1;
    } else if (san_budget_part(m->b, m->c, why, sizeof(why)) < 0) {
        m->over_budget++;
        m->changed = 1;
    } else if (is_body(part, type)) {
        body_part(m, part, path, type);
    } else {
        attachment(m, part, path, type);
    }
    g_free(type);
}

/* The child of alternative to use as the body: by configuration, text or HTML. */
static int pick_alternative(mail_ctx *m, GMimeMultipart *alt)
{
    const char *want = strcmp(m->c->mail_alternative, "html") == 0 ? "html" : "plain";
    int n = g_mime_multipart_get_count(alt), fallback = -1;

    for (int i = 0; i < n; i++) {
        GMimeObject *o = g_mime_multipart_get_part(alt, i);
        GMimeContentType *ct = g_mime_object_get_content_type(o);
        if (GMIME_IS_PART(o) && ct && g_mime_content_type_is_type(ct, "text", want))
            return i;
        if (GMIME_IS_PART(o) && ct && g_mime_content_type_is_type(ct, "text", "*") && fallback < 0)
            fallback = i;
    }
    return fallback >= 0 ? fallback : 0;
}

/* Record the alternatives that are not used, as body parts. */
static void skip_alternative(mail_ctx *m, GMimeObject *o, const char *path)
{
    char *type = declared_type(o);

    quar_msg_add_part(m->rec, path, NULL, type, type, 0, NULL, "body",
                      "alternative form of the body, not used", NULL);
    m->leaves++;
    g_free(type);
}

/* Path of child i (0-based) under prefix, IMAP style. */
static char *child_path(const char *prefix, int i)
{
    return prefix && *prefix ? g_strdup_printf("%s.%d", prefix, i + 1)
                             : g_strdup_printf("%d", i + 1);
}

/* A multipart: its children, or for alternative the chosen one. */
static void multipart(mail_ctx *m, GMimeMultipart *mp, const char *path)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));
    int n = g_mime_multipart_get_count(mp);
    int alt = ct && g_mime_content_type_is_type(ct, "multipart", "alternative");
    int chosen = alt ? pick_alternative(m, mp) : -1;

    for (int i = 0; i < n; i++) {
        char *p = child_path(path, i);
        GMimeObject *child = g_mime_multipart_get_part(mp, i);
        if (alt && i != chosen && GMIME_IS_PART(child))
            skip_alternative(m, child, p);
        else
            walk(m, child, p);
        g_free(p);
    }
}

/* Append a header of an attached message to the body, decoded. */
static void quote_header(mail_ctx *m, GMimeObject *msg, const char *name, const char *label)
{
    const char *raw = raw_header(msg, name);
    char *v;

    if (!raw)
        return;
    v = mailhdr_decode(raw, MIN(strlen(raw), m->c->mail_max_header_kb << 10), m->c->charsets);
    g_string_append_printf(m->body, "%s: %s\n", label, g_strstrip(v));
    g_free(v);
}

/* An attached message: its headers and body join the body, its attachments ours. */
static void message_part(mail_ctx *m, GMimeMessagePart *mp, const char *path)
{
    GMimeMessage *inner = g_mime_message_part_get_message(mp);
    GMimeObject *body = inner ? g_mime_message_get_mime_part(inner) : NULL;

    m->changed = 1;
    if (m->body->len && m->body->str[m->body->len - 1] != '\n')
        g_string_append_c(m->body, '\n');
    g_string_append(m->body, "\n---------- 添付されたメッセージ / Attached message ----------\n");
    if (inner) {
        quote_header(m, GMIME_OBJECT(inner), "From", "From");
        quote_header(m, GMIME_OBJECT(inner), "Date", "Date");
        quote_header(m, GMIME_OBJECT(inner), "Subject", "Subject");
    }
    if (!body)
        return;
    if (GMIME_IS_MULTIPART(body)) {
        multipart(m, GMIME_MULTIPART(body), path);
    } else {
        char *p = child_path(path, 0);
        walk(m, body, p);
        g_free(p);
    }
}

/* Note (once per message) and record that obj at path is one level too deep. */
static void too_deep(mail_ctx *m, GMimeObject *obj, const char *path, const char *why)
{
    char *type;
    gchar *ja, *en;

    m->changed = 1;
    if (m->deep_noted)
        return;
    m->deep_noted = 1;
    type = declared_type(obj);
    ja = g_strdup_printf("入れ子が深すぎるため（上限 %u 段）、%s 以下の部分を削除しました",
                         m->c->mail_max_depth, path);
    en = g_strdup_printf("parts %s (from part %s) were removed", why, path);
    note(m, ja, en);
    quar_msg_add_part(m->rec, path, NULL, type, NULL, 0, NULL, "blocked", why, NULL);
    g_free(type);
    g_free(ja);
    g_free(en);
}

/* Visit obj at path, one level deeper in the input's budget. */
static void walk(mail_ctx *m, GMimeObject *obj, const char *path)
{
    char why[128];

    if (san_budget_enter(m->b, m->c, 0, why, sizeof(why)) < 0) {
        too_deep(m, obj, path, why);
        return;
    }
    if (GMIME_IS_MULTIPART(obj))
        multipart(m, GMIME_MULTIPART(obj), path);
    else if (GMIME_IS_MESSAGE_PART(obj))
        message_part(m, GMIME_MESSAGE_PART(obj), path);
    else if (GMIME_IS_PART(obj))
        leaf(m, GMIME_PART(obj), path);
    san_budget_leave(m->b, 0);
}

/* ---- the notice ---- */

static const char builtin_notice[] =
    "----------------------------------------------------------------------\n"
    "【無害化通知】このメールはインターネットから届いたため、無害化されています。\n"
    "隔離ID: {quarantine_id}\n"
    "{parts_ja}{notes_ja}"
    "原本が必要な場合は、この隔離IDを添えて情報システム担当へ依頼してください。\n"
    "\n"
    "[Sanitization notice] This message came from the Internet and was sanitized.\n"
    "Quarantine ID: {quarantine_id}\n"
    "{parts_en}{notes_en}"
    "To obtain an original, ask IT with this quarantine ID.\n";

/* The notice template: the configured file, or the built-in text. Caller g_free()s. */
static char *notice_template(const conf *c)
{
    gchar *text = NULL;
    GError *err = NULL;

    if (!c->mail_notice_template || strcmp(c->mail_notice_template, "builtin") == 0)
        return g_strdup(builtin_notice);
    if (!g_file_get_contents(c->mail_notice_template, &text, NULL, &err) ||
        !g_utf8_validate(text, -1, NULL)) {
        mg_error("%s: cannot use the notice template (%s); using the built-in text",
                 c->mail_notice_template, err ? err->message : "not UTF-8");
        g_clear_error(&err);
        g_free(text);
        return g_strdup(builtin_notice);
    }
    return text;
}

/* Replace every {key} in s by value. */
static void subst(GString *s, const char *key, const char *value)
{
    gchar *pat = g_strdup_printf("{%s}", key);
    const char *at;
    size_t from = 0;

    while ((at = strstr(s->str + from, pat)) != NULL) {
        size_t pos = (size_t)(at - s->str);
        g_string_erase(s, (gssize)pos, (gssize)strlen(pat));
        g_string_insert(s, (gssize)pos, value);
        from = pos + strlen(value);
    }
    g_free(pat);
}

/* Add a note in both languages and free both texts. */
static void note_take(mail_ctx *m, gchar *ja, gchar *en)
{
    note(m, ja, en);
    g_free(ja);
    g_free(en);
}

/* Note the limits of the input's budget that stopped the work on this message's parts or
 * inside its attachments (attached messages, archives), unless already noted. */
static void budget_notes(mail_ctx *m)
{
    const san_budget *b = m->b, *b0 = &m->b0;
    unsigned depth = m->c->mail_max_depth, arch = m->c->archive_max_depth;
    unsigned parts = san_budget_parts_max(m->c);

    if (b->too_deep > b0->too_deep && !m->deep_noted)
        note_take(m,
                  g_strdup_printf("添付ファイルの入れ子が深すぎるため（上限 %u 段）、"
                                  "その奥の部分を削除しました",
                                  depth),
                  g_strdup_printf("attachments nested too deeply (limit %u levels): the parts "
                                  "below were removed",
                                  depth));
    if (b->archives_deep > b0->archives_deep)
        note_take(m,
                  g_strdup_printf("圧縮ファイルの入れ子が深すぎるため（上限 %u 段）、"
                                  "その奥を削除しました",
                                  arch),
                  g_strdup_printf("archives nested too deeply (limit %u levels): the archives "
                                  "below were removed",
                                  arch));
    if (m->over_budget)
        note_take(m,
                  g_strdup_printf("部品が全体で上限（%u 個）を超えたため、残り %u 個を削除しました",
                                  parts, m->over_budget),
                  g_strdup_printf("too many parts and members in all (limit %u): %u more parts "
                                  "were removed",
                                  parts, m->over_budget));
    if (b->too_many > b0->too_many + m->over_budget)
        note_take(m,
                  g_strdup_printf("部品が全体で上限（%u 個）を超えたため、添付ファイルの中身の"
                                  "一部を削除しました",
                                  parts),
                  g_strdup_printf("too many parts and members in all (limit %u): some inside "
                                  "attachments were removed",
                                  parts));
}

/* The notice for this message. Caller g_free()s. */
static char *make_notice(mail_ctx *m)
{
    GString *s = g_string_new(NULL);
    char *tmpl = notice_template(m->c);

    if (m->over_limit) {
        gchar *ja = g_strdup_printf("部品が %u 個を超えたため、残り %u 個を削除しました",
                                    m->c->mail_max_parts, m->over_limit);
        gchar *en = g_strdup_printf("the message has more than %u parts: %u more were removed",
                                    m->c->mail_max_parts, m->over_limit);
        note(m, ja, en);
        g_free(ja);
        g_free(en);
    }
    budget_notes(m);
    g_string_assign(s, tmpl);
    if (m->fates_ja->len) {
        g_string_prepend(m->fates_ja, "添付ファイルの処理結果:\n");
        g_string_prepend(m->fates_en, "Attachments:\n");
    } else {
        g_string_assign(m->fates_ja, "添付ファイルはありません。\n");
        g_string_assign(m->fates_en, "There were no attachments.\n");
    }
    subst(s, "quarantine_id", m->rec->id[0] ? m->rec->id : "(none)");
    subst(s, "parts_ja", m->fates_ja->str);
    subst(s, "parts_en", m->fates_en->str);
    subst(s, "notes_ja", m->notes_ja->str);
    subst(s, "notes_en", m->notes_en->str);
    g_free(tmpl);
    return g_string_free(s, FALSE);
}

/* ---- writing the clean message ---- */

/* Non-zero when a raw header value can be copied as it is: printable ASCII, folded lines of
 * at most 998 bytes with the name, within the size limit. */
static int header_clean(const char *name, const char *raw, size_t max)
{
    size_t line = strlen(name) + 2, len = strlen(raw);

    if (len > max)
        return 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
        if (*p == '\n') {
            line = 0;
            continue;
        }
        if ((*p < 0x20 && *p != '\t' && *p != '\r') || *p >= 0x7f || ++line > 998)
            return 0;
    }
    return 1;
}

/* Append a raw value with its line ends made CRLF. */
static void append_crlf(GString *out, const char *raw)
{
    const char *p = raw;

    while (*p == ' ' || *p == '\t')
        p++;
    g_string_append_c(out, ' ');
    for (; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n')
            g_string_append(out, "\r\n");
        else
            g_string_append_c(out, *p);
    }
    while (out->len >= 2 && (out->str[out->len - 1] == '\n' || out->str[out->len - 1] == ' '))
        g_string_truncate(out, out->len - (out->str[out->len - 1] == '\n' ? 2 : 1));
    g_string_append(out, "\r\n");
}

/* Non-zero for headers holding address lists. */
static int is_address_header(const char *name)
{
    static const char *const names[] = {
        "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Resent-From", "Resent-To", "Resent-Cc"};

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (g_ascii_strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* Non-zero when text a reader is shown (NULL: none) is valid UTF-8 without a character
 * mg_uchar_unsafe names and without an encoded-word opener left to decode again. */
static int shown_clean(const char *s)
{
    if (!s)
        return 1;
    if (!g_utf8_validate(s, -1, NULL) || strstr(s, "=?"))
        return 0;
    for (const char *p = s; *p; p = g_utf8_next_char(p))
        if (mg_uchar_unsafe(g_utf8_get_char(p)))
            return 0;
    return 1;
}

/* With fix, run every display name of list (group members too) through the filter
 * (mailhdr_clean): GMime decodes encoded words in what it parses, whatever the text was.
 * Without, only check them. -1 when a name or an address is not clean (shown_clean). */
static int names_clean(InternetAddressList *list, int fix, unsigned depth)
{
    int n = list ? internet_address_list_length(list) : 0;

    for (int i = 0; i < n && depth < 4; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        const char *name = internet_address_get_name(ia);
        if (fix && name) {
            char *c = mailhdr_clean(name);
            internet_address_set_name(ia, *c ? c : NULL);
            g_free(c);
        } else if (!shown_clean(name)) {
            return -1;
        }
        if (INTERNET_ADDRESS_IS_MAILBOX(ia) &&
            !shown_clean(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia))))
            return -1;
        if (INTERNET_ADDRESS_IS_GROUP(ia) &&
            names_clean(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), fix,
                        depth + 1) < 0)
            return -1;
    }
    return depth < 4 ? 0 : -1;
}

/* Non-zero when an encoded address list, decoded again as a reader would, shows only clean
 * names: the check that nothing the filter dropped comes back in the output. */
static int encoded_clean(const char *text)
{
    InternetAddressList *list = internet_address_list_parse(NULL, text);
    int ok = list && names_clean(list, 0, 0) == 0;

    if (list)
        g_object_unref(list);
    return ok;
}

/* Append a decoded address list re-encoded by GMime, display names as encoded words.
 * -1 when it does not parse as addresses, would not fit in 998-byte lines, or would not
 * decode to clean names. */
static int encode_addresses(GString *out, const char *utf8)
{
    InternetAddressList *list = internet_address_list_parse(NULL, utf8);
    GMimeFormatOptions *fmt = g_mime_format_options_new();
    GString *line = g_string_new(NULL);
    char *text;
    int rc = -1;

    if (list && internet_address_list_length(list) > 0 && names_clean(list, 1, 0) == 0) {
        internet_address_list_encode(list, fmt, line);
        text = g_strchomp(line->str);
        if (header_clean("", text, 1 << 20) && encoded_clean(text)) {
            append_crlf(out, text);
            rc = 0;
        }
    }
    if (list)
        g_object_unref(list);
    g_string_free(line, TRUE);
    g_mime_format_options_free(fmt);
    return rc;
}

/* Append one original header, re-encoded when it is not clean ASCII. */
static void copy_header(mail_ctx *m, GString *out, const char *name, const char *raw,
                        const char *prefix)
{
    size_t max = m->c->mail_max_header_kb << 10;
    char *v;

    g_string_append_printf(out, "%s:", name);
    /* Encoded words are re-encoded too: senders split characters across them, which readers
     * that decode word by word show as mojibake. */
    if (!prefix && header_clean(name, raw, max) && !strstr(raw, "=?")) {
        append_crlf(out, raw);
        return;
    }
    v = mailhdr_decode(raw, MIN(strlen(raw), max), m->c->charsets);
    if (strlen(raw) > max)
        note(m, "長すぎるヘッダーを切り詰めました", "an over-long header field was cut");
    if (prefix) {
        gchar *t = g_strconcat(prefix, " ", g_strstrip(v), NULL);
        g_free(v);
        v = t;
    }
    if (!is_address_header(name) || encode_addresses(out, g_strstrip(v)) < 0) {
        mailhdr_encode_words(out, g_strstrip(v));
        g_string_append(out, "\r\n");
    }
    g_free(v);
}

/* Non-zero for headers the clean message must not carry over: the MIME ones, mugai's own, and
 * names that are not RFC 5322 field names (printable ASCII but ':') or too long for a line,
 * both of which GMime lets through. */
static int header_dropped(const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 33 || (unsigned char)name[i] > 126 || name[i] == ':')
            return 1;
    return n == 0 || n > HEADER_NAME_MAX || g_ascii_strncasecmp(name, "Content-", 8) == 0 ||
           g_ascii_strcasecmp(name, "MIME-Version") == 0 ||
           g_ascii_strncasecmp(name, "X-Mugai-", 8) == 0;
}

/* The header block of the clean message: the original's headers less the MIME ones. */
static void write_headers(mail_ctx *m, GMimeObject *msg, GString *out)
{
    GMimeHeaderList *list = msg ? g_mime_object_get_header_list(msg) : NULL;
    int n = list ? g_mime_header_list_get_count(list) : 0;
    const char *tag = m->c->mail_subject_tag;
    int have_subject = 0;

    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
        const char *name = g_mime_header_get_name(h);
        const char *raw = g_mime_header_get_raw_value(h);
        int subject = g_ascii_strcasecmp(name, "Subject") == 0;
        if (header_dropped(name) || !raw)
            continue;
        have_subject |= subject;
        copy_header(m, out, name, raw, subject && tag && *tag ? tag : NULL);
    }
    if (!have_subject && tag && *tag)
        copy_header(m, out, "Subject", "", tag);
    g_string_append(out, "MIME-Version: 1.0\r\nX-Mugai-Sanitized: yes\r\n");
    if (m->rec->id[0])
        g_string_append_printf(out, "X-Mugai-Quarantine-Id: %s\r\n", m->rec->id);
}

/* s (UTF-8) cut to at most max bytes at a character boundary, "…" marking a cut (max is
 * larger than that mark). Caller g_free()s. */
static char *record_cut(const char *s, size_t max)
{
    size_t keep = max - strlen("…");
    GString *out;

    if (strlen(s) <= max)
        return g_strdup(s);
    while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
        keep--;
    out = g_string_new_len(s, (gssize)keep);
    g_string_append(out, "…");
    return g_string_free(out, FALSE);
}

/* The text the recipients get: body text and notice. Caller g_free()s. */
static char *received_text(mail_ctx *m, const char *notice)
{
    GString *s = g_string_new(m->body->len ? m->body->str : "（本文なし / no text body）\n");

    if (s->str[s->len - 1] != '\n')
        g_string_append_c(s, '\n');
    g_string_append_c(s, '\n');
    g_string_append(s, notice);
    return g_string_free(s, FALSE);
}

/* The text part: the received text, UTF-8, base64. */
static GMimeObject *text_part(const char *text)
{
    GMimeTextPart *t = g_mime_text_part_new_with_subtype("plain");

    g_mime_text_part_set_text(t, text);
    g_mime_text_part_set_charset(t, "UTF-8");
    g_mime_part_set_content_encoding(GMIME_PART(t), GMIME_CONTENT_ENCODING_BASE64);
    return GMIME_OBJECT(t);
}

/* Write the clean message to out_fd. 0 or -1. */
static int write_clean(mail_ctx *m, GMimeObject *msg, int out_fd)
{
    GMimeFormatOptions *fmt = g_mime_format_options_new();
    GString *head = g_string_new(NULL);
    char *notice = make_notice(m), *received = received_text(m, notice);
    GMimeObject *text = text_part(received);
    GMimeObject *top = text;
    GMimeStream *s;
    int rc = 0;

    g_mime_format_options_set_newline_format(fmt, GMIME_NEWLINE_FORMAT_DOS);
    if (m->mixed) {
        g_mime_multipart_insert(m->mixed, 0, text);
        top = GMIME_OBJECT(m->mixed);
    }
    write_headers(m, msg, head);
    if (mg_write_all(out_fd, head->str, head->len) < 0)
        rc = -1;
    /* Created after the headers are written: the stream starts at the fd's offset. */
    s = write_stream(out_fd);
    if (rc < 0 || g_mime_object_write_to_stream(top, fmt, s) < 0 || g_mime_stream_flush(s) < 0)
        rc = -1;
    g_object_unref(s);
    g_object_unref(text);
    g_string_free(head, TRUE);
    g_free(m->rec->clean_text);
    m->rec->clean_text = record_cut(received, RECORD_TEXT_MAX);
    g_free(received);
    g_free(notice);
    g_mime_format_options_free(fmt);
    return rc;
}

/* Parse the message on fd (from offset 0, after a UTF-8 byte order mark that some Windows
 * tools put before the first header); NULL when it is not a message at all. */
static GMimeMessage *parse(int fd)
{
    GMimeParserOptions *opts = g_mime_parser_options_new();
    GMimeStream *s;
    GMimeParser *p;
    GMimeMessage *msg;
    unsigned char bom[3];

    /* A GMime stream starts at the fd's offset. */
    int skip = pread(fd, bom, 3, 0) == 3 && memcmp(bom, "\xef\xbb\xbf", 3) == 0;
    lseek(fd, skip ? 3 : 0, SEEK_SET);
    s = g_mime_stream_fs_new(dup(fd));
    p = g_mime_parser_new_with_stream(s);
    g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
    msg = g_mime_parser_construct_message(p, opts);
    g_object_unref(p);
    g_object_unref(s);
    g_mime_parser_options_free(opts);
    return msg;
}

/* Check that the clean message on fd parses again and starts with its text. 0 or -1. */
static int verify(int fd)
{
    GMimeMessage *msg = parse(fd);
    GMimeObject *body = msg ? g_mime_message_get_mime_part(msg) : NULL;
    int ok = body && (GMIME_IS_TEXT_PART(body) ||
                      (GMIME_IS_MULTIPART(body) &&
                       GMIME_IS_TEXT_PART(g_mime_multipart_get_part(GMIME_MULTIPART(body), 0))));

    if (msg)
        g_object_unref(msg);
    return ok ? 0 : -1;
}

/* The address of the i-th mailbox in list, or NULL. */
static const char *mailbox_at(InternetAddressList *list, int i)
{
    InternetAddress *a = list ? internet_address_list_get_address(list, i) : NULL;

    return a && INTERNET_ADDRESS_IS_MAILBOX(a)
               ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a))
               : NULL;
}

/* Without an envelope (a file given to sanitize-file) the header addresses stand in. */
static void envelope_from_headers(quar_msg *r, GMimeMessage *msg)
{
    InternetAddressList *to = g_mime_message_get_all_recipients(msg);
    int n = to ? internet_address_list_length(to) : 0, k = 0;

    r->sender = g_strdup(mailbox_at(g_mime_message_get_from(msg), 0));
    g_strfreev(r->recipients);
    r->recipients = g_new0(char *, (size_t)n + 1);
    for (int i = 0; i < n; i++)
        if (mailbox_at(to, i))
            r->recipients[k++] = g_strdup(mailbox_at(to, i));
    if (to)
        g_object_unref(to);
}

/* The original's header fields a reviewer reads, as the record names them. */
static const char *const record_fields[] = {"Date", "From",    "Sender",     "Reply-To",    "To",
                                            "Cc",   "Subject", "Message-ID", "In-Reply-To", NULL};

/* The record's name of the field name, or NULL when the record does not keep it. */
static const char *record_field(const char *name)
{
    for (size_t i = 0; record_fields[i]; i++)
        if (g_ascii_strcasecmp(name, record_fields[i]) == 0)
            return record_fields[i];
    return NULL;
}

/* The fields of msg's top-level header a reviewer reads, in their order, decoded to UTF-8 and
 * cleaned (mailhdr_decode), each value bounded: one "Name: value" per line. NULL when there
 * are none. Caller g_free()s. */
static char *record_headers(mail_ctx *m, GMimeMessage *msg)
{
    GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(msg));
    int n = list ? g_mime_header_list_get_count(list) : 0;
    size_t max = m->c->mail_max_header_kb << 10;
    GString *out = g_string_new(NULL);
    unsigned kept = 0;

    for (int i = 0; i < n && kept < RECORD_FIELDS_MAX; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
        const char *name = record_field(g_mime_header_get_name(h));
        const char *raw = g_mime_header_get_raw_value(h);
        char *v, *cut;
        if (!name || !raw)
            continue;
        v = mailhdr_decode(raw, MIN(strlen(raw), max), m->c->charsets);
        cut = record_cut(v, RECORD_VALUE_MAX);
        g_string_append_printf(out, "%s: %s\n", name, cut);
        kept++;
        g_free(v);
        g_free(cut);
    }
    if (out->len == 0) {
        g_string_free(out, TRUE);
        return NULL;
    }
    return g_string_free(out, FALSE);
}

/* Fill the record's envelope and key headers. */
static void record_envelope(mail_ctx *m, const san_envelope *env, GMimeMessage *msg, int fd)
{
    quar_msg *r = m->rec;
    size_t max = m->c->mail_max_header_kb << 10;
    struct stat st;
    const char *raw;
    size_t n = 0;

    if (env) {
        r->queue_id = g_strdup(env->queue_id);
        r->client = g_strdup(env->client);
        r->sender = g_strdup(env->sender);
        while (env->recipients && env->recipients[n])
            n++;
        g_strfreev(r->recipients);
        r->recipients = g_new0(char *, n + 1);
        for (size_t i = 0; i < n; i++)
            r->recipients[i] = g_strdup(env->recipients[i]);
    }
    if (!env && msg)
        envelope_from_headers(r, msg);
    if (!r->recipients)
        r->recipients = g_new0(char *, 1);
    r->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (!msg)
        return;
    if ((raw = raw_header(GMIME_OBJECT(msg), "Subject")) != NULL)
        r->subject = mailhdr_decode(raw, MIN(strlen(raw), max), m->c->charsets);
    if ((raw = raw_header(GMIME_OBJECT(msg), "From")) != NULL)
        r->from = mailhdr_decode(raw, MIN(strlen(raw), max), m->c->charsets);
    if ((raw = raw_header(GMIME_OBJECT(msg), "Message-ID")) != NULL)
        r->message_id = g_strstrip(mg_utf8_safe(raw, (ssize_t)MIN(strlen(raw), 998)));
    r->headers = record_headers(m, msg);
}

/* Choose the quarantine id before sanitizing, since the notice names it: one not in q (on a
 * store error, the last one tried; quar_put checks it again). */
static void pick_id(quar_store *q, char id[24])
{
    char *err = NULL;

    quar_fresh_id(q, (int64_t)time(NULL), id, &err);
    free(err);
}

/* Free the walk's working state (not the record). */
static void ctx_clear(mail_ctx *m)
{
    g_string_free(m->body, TRUE);
    g_string_free(m->fates_ja, TRUE);
    g_string_free(m->fates_en, TRUE);
    g_string_free(m->notes_ja, TRUE);
    g_string_free(m->notes_en, TRUE);
    if (m->mixed)
        g_object_unref(m->mixed);
}

/* Sanitize the parsed message (or note why there is none) into the context. */
static void sanitize_body(mail_ctx *m, GMimeMessage *msg, size_t size)
{
    GMimeObject *body = msg ? g_mime_message_get_mime_part(msg) : NULL;

    if (size > m->c->mail_max_message_mb << 20) {
        gchar *en = g_strdup_printf("the message is larger than %zu MiB: its content was "
                                    "removed and kept in quarantine",
                                    m->c->mail_max_message_mb);
        note(m, "メールが大きすぎるため、内容を削除しました（原本は隔離されています）", en);
        g_free(en);
    } else if (!body) {
        note(m, "メールの構造を読み取れないため、内容を削除しました",
             "the message structure could not be read: its content was removed");
    } else if (GMIME_IS_MULTIPART(body)) {
        walk(m, body, "");
    } else {
        walk(m, body, "1");
    }
}

int san_mail(san_engine *e, quar_store *q, int in_fd, const san_envelope *env, const char *actor,
             int out_fd, san_mail_result *r, char **err)
{
    san_budget b = {0};

    return san_mail_budget(e, q, in_fd, env, actor, &b, out_fd, r, err);
}

int san_mail_budget(san_engine *e, quar_store *q, int in_fd, const san_envelope *env,
                    const char *actor, san_budget *b, int out_fd, san_mail_result *r, char **err)
{
    double t0 = mg_now();
    mail_ctx m = {0};
    GMimeMessage *msg;
    struct stat st;
    int rc = 0;

    mail_init();
    memset(r, 0, sizeof(*r));
    *err = NULL;
    m.e = e;
    m.c = san_engine_conf(e);
    m.b = b;
    m.b0 = *b;
    m.rec = quar_msg_new();
    m.body = g_string_new(NULL);
    m.fates_ja = g_string_new(NULL);
    m.fates_en = g_string_new(NULL);
    m.notes_ja = g_string_new(NULL);
    m.notes_en = g_string_new(NULL);
    if (fstat(in_fd, &st) < 0)
        st.st_size = 0;
    msg = (size_t)st.st_size > m.c->mail_max_message_mb << 20 ? NULL : parse(in_fd);
    record_envelope(&m, env, msg, in_fd);
    if (q)
        pick_id(q, m.rec->id);
    sanitize_body(&m, msg, (size_t)st.st_size);
    m.rec->verdict = g_strdup(m.changed ? "sanitized" : "clean");
    if (write_clean(&m, msg ? GMIME_OBJECT(msg) : NULL, out_fd) < 0 || verify(out_fd) < 0) {
        *err = strdup("the clean message could not be written or does not parse");
        rc = -1;
    } else if (q && san_deadline_reached()) {
        /* the message will be deferred: no record for it, the retry makes one */
        *err = strdup("sanitization timed out");
        rc = -1;
    } else if (q) {
        lseek(in_fd, 0, SEEK_SET);
        rc = quar_put(q, in_fd, m.rec, actor ? actor : "mugai", err);
    }
    if (rc < 0)
        mg_error("message %s: %s", m.rec->id[0] ? m.rec->id : "-", *err ? *err : "failed");
    if (msg)
        g_object_unref(msg);
    r->text = record_cut(m.body->str, RECORD_TEXT_MAX);
    ctx_clear(&m);
    r->record = m.rec;
    r->changed = m.changed;
    r->seconds = mg_now() - t0;
    return rc;
}

void san_mail_result_clear(san_mail_result *r)
{
    quar_msg_free(r->record);
    g_free(r->text);
    memset(r, 0, sizeof(*r));
}
