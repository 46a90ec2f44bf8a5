/*
 * sanitize/ppap_text.c - the text side of the PPAP flow: password candidates taken from a
 * sender's password mail, the quarantine id in the subject of a recipient's reply, and the
 * mails the gateway writes about held encrypted attachments (follow-ups, answers).
 *
 * Runs in the pool workers and mugai-quarantine, unprivileged, on the trusted side. Every
 * input (the body, the subject, the original's names and Message-ID) comes from Internet
 * mail: the work is bounded by size before any parsing, and no input may crash it. It must
 * never log a candidate (they are passwords), and never let a value it is given become a
 * header line of its own in a mail it writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>
#include <gmime/gmime.h>

#include "mg.h"
#include "ppap.h"
#include "san_int.h"

#define TEXT_MAX (64 * 1024) /* bytes of a body looked at */
#define VALUE_MAX 128        /* bytes of one candidate */
#define TOKEN_MIN 4          /* characters of a password alone on a line */
#define TOKEN_MAX 64
#define NEXT_LINES 3        /* lines after a label alone where its value may be */
#define NOTE_MAX 48         /* bytes of a note in brackets after a label: "(半角英数)" */
#define SUBJECT_MAX 4096    /* bytes of a subject searched for an id */
#define ID_LEN 17           /* "Q-YYYYMMDD-XXXXXX" */
#define HEADER_TEXT_MAX 900 /* bytes of a subject or name put in a header */
#define MSGID_MAX 900       /* bytes of a Message-ID referred to */
#define NAME_MAX_BYTES 200  /* bytes of an attachment's file name */
#define COPY_BLOCK (64 * 1024)

/* The quarantine id alphabet (quar_new_id): no 0/O, 1/I/L, U. */
static const char id_alphabet[] = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Labels a password follows, NFKC-normalized, longer ones before their prefixes. */
static const char *const labels[] = {
    "解凍パスワード", "パスワード", "パスコード", "暗証番号", "パス", "password",
    "passcode",       "passwd",     "pass",       "pwd",      "pw",
};

/* Brackets and quotes stripped around a value, NFKC-normalized: opener, closer. */
static const char *const brackets[][2] = {
    {"「", "」"}, {"『", "』"}, {"【", "】"}, {"(", ")"}, {"[", "]"}, {"<", ">"},
    {"〈", "〉"}, {"《", "》"}, {"\"", "\""}, {"'", "'"}, {"“", "”"}, {"‘", "’"},
};

/* Closers that may follow a label ("【パスワード】"). */
static const char *const label_closers[] = {"】", "]", ")", "」", "』", ">", "〉", "》"};

/* What may stand before a label at the start of a line: bullets and openers. */
static const char *const line_openers[] = {"【", "[", "(", "「", "『", "<",  "■", "□", "●",
                                           "○",  "◆", "◇", "・", "*",  "-",  "#", "※", "★",
                                           "☆",  "▼", "▽", "◎",  "〈", "《", " "};

/* Line prefixes of a signature block whose line is never a password. */
static const char *const signature_prefixes[] = {"tel", "fax",   "mail",   "e-mail", "email", "url",
                                                 "web", "phone", "mobile", "電話",   "携帯"};

/* The candidates found so far, without duplicates. */
typedef struct cands {
    GPtrArray *out;
    GHashTable *seen; /* borrows out's strings */
    unsigned max;
} cands;

/* How a line with a label reads. */
typedef enum { LABEL_NONE, LABEL_VALUE, LABEL_ALONE } label_kind;

/* The first max bytes of s (len bytes) as valid UTF-8, invalid bytes and NULs skipped. */
static GString *valid_utf8(const char *s, size_t len, size_t max)
{
    const char *p = s, *end = s + MIN(len, max);
    GString *out = g_string_sized_new((gsize)(end - p) + 1);

    while (p < end) {
        const gchar *stop;
        g_utf8_validate_len(p, (gsize)(end - p), &stop);
        g_string_append_len(out, p, stop - p);
        p = stop < end ? stop + 1 : end;
    }
    return out;
}

/* Non-zero when s starts with prefix (bytes; ASCII letters in any case). */
static int starts(const char *s, const char *prefix)
{
    return g_ascii_strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Non-zero when s ends with suffix. */
static int ends(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Non-zero when s holds a printable ASCII character other than a space. */
static int has_ascii_graph(const char *s)
{
    for (; *s; s++)
        if (*s > 0x20 && *s < 0x7f)
            return 1;
    return 0;
}

/* Non-zero when s holds an ASCII letter or digit. */
static int has_ascii_alnum(const char *s)
{
    for (; *s; s++)
        if (g_ascii_isalnum(*s))
            return 1;
    return 0;
}

/* Non-zero when s holds an ASCII blank. */
static int has_space(const char *s)
{
    for (; *s; s++)
        if (g_ascii_isspace(*s))
            return 1;
    return 0;
}

/* Non-zero when s reads as a Japanese sentence ("以下の通りです。"), not a value. */
static int sentence_like(const char *s)
{
    static const char *const endings[] = {"です", "ます", "した", "さい", "ません"};

    if (strstr(s, "。") || strstr(s, "、"))
        return 1;
    for (size_t i = 0; i < G_N_ELEMENTS(endings); i++)
        if (ends(s, endings[i]))
            return 1;
    return 0;
}

/* Add a copy of value unless it is empty, too long, already there, or the list is full. */
static void cands_add(cands *c, const char *value)
{
    char *v;

    if (!*value || strlen(value) > VALUE_MAX || c->out->len >= c->max ||
        g_hash_table_contains(c->seen, value))
        return;
    v = g_strdup(value);
    g_ptr_array_add(c->out, v);
    g_hash_table_add(c->seen, v);
}

/* Length of the label at p (line starts at line), or 0. An ASCII label must start a word. */
static size_t label_at(const char *line, const char *p)
{
    for (size_t i = 0; i < G_N_ELEMENTS(labels); i++) {
        if (!starts(p, labels[i]))
            continue;
        if (g_ascii_isalpha(labels[i][0]) && p > line && g_ascii_isalnum(p[-1]))
            return 0;
        return strlen(labels[i]);
    }
    return 0;
}

/* Non-zero when everything in line before p is bullets, openers and spaces. */
static int at_line_start(const char *line, const char *p)
{
    const char *q = line;

    while (q < p) {
        size_t i;
        for (i = 0; i < G_N_ELEMENTS(line_openers); i++)
            if (starts(q, line_openers[i]))
                break;
        if (i == G_N_ELEMENTS(line_openers))
            return 0;
        q += strlen(line_openers[i]);
    }
    return 1;
}

/* p past one closer of label_closers, or p. */
static const char *skip_closer(const char *p)
{
    for (size_t i = 0; i < G_N_ELEMENTS(label_closers); i++)
        if (starts(p, label_closers[i]))
            return p + strlen(label_closers[i]);
    return p;
}

/* p past a short note in parentheses ("(半角英数)"), or p. */
static const char *skip_note(const char *p)
{
    const char *close;

    if (*p != '(')
        return p;
    close = strchr(p, ')');
    return close && close - p <= NOTE_MAX ? close + 1 : p;
}

/* p past ASCII blanks. */
static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Non-zero when p starts with a bracket or quote that opens a value. */
static int opens_value(const char *p)
{
    for (size_t i = 0; i < G_N_ELEMENTS(brackets); i++)
        if (starts(p, brackets[i][0]))
            return 1;
    return 0;
}

/* Where the value after a label (at label, ending at p) begins, or NULL when nothing
 * separates a value: a closing bracket, ':', '=' or "は", or blanks (or the line's end) when
 * the label starts its line. */
static const char *value_start(const char *line, const char *label, const char *p)
{
    const char *closed = skip_closer(p), *q = skip_note(closed), *b = skip_blanks(q);
    int hard = closed != p, soft = b != q || !*b;

    if (*b == ':' || *b == '=') {
        b++;
        hard = 1;
    } else if (starts(b, "は")) {
        b += strlen("は");
        hard = 1;
    } else if (opens_value(b)) {
        hard = 1;
    }
    if (!hard && !(soft && at_line_start(line, label)))
        return NULL;
    b = skip_blanks(b);
    if (*b == ',')
        b = skip_blanks(b + 1);
    else if (starts(b, "、"))
        b = skip_blanks(b + strlen("、"));
    return b;
}

/* The value v stripped of its brackets or quotes and of a trailing "です。", or NULL when
 * nothing is left, it is too long, or it is no password: Japanese text without brackets
 * that reads as a sentence ("以下の通りです。"), or has blanks, and no ASCII in it.
 * Caller g_free()s. */
static char *clean_value(const char *v)
{
    static const char *const tails[] = {"。", "です"};
    gchar *s = g_strstrip(g_strdup(v));
    int sentence = sentence_like(s);

    for (size_t i = 0; i < G_N_ELEMENTS(brackets); i++) {
        size_t open = strlen(brackets[i][0]);
        char *close;
        if (!starts(s, brackets[i][0]))
            continue;
        close = strstr(s + open, brackets[i][1]);
        if (close)
            *close = '\0';
        memmove(s, s + open, strlen(s + open) + 1);
        sentence = 0;
        break;
    }
    for (int again = 1; again;) {
        again = 0;
        g_strstrip(s);
        for (size_t i = 0; i < G_N_ELEMENTS(tails); i++)
            if (ends(s, tails[i])) {
                s[strlen(s) - strlen(tails[i])] = '\0';
                again = 1;
            }
    }
    if (!*s || strlen(s) > VALUE_MAX || (!has_ascii_graph(s) && (sentence || has_space(s)))) {
        g_free(s);
        return NULL;
    }
    return s;
}

/* Find a label in line; on LABEL_VALUE *value gets its value (caller g_free()s). */
static label_kind label_line(const char *line, char **value)
{
    *value = NULL;
    for (const char *p = line; *p; p = g_utf8_next_char(p)) {
        size_t n = label_at(line, p);
        const char *v = n ? value_start(line, p, p + n) : NULL;
        if (!v)
            continue;
        *value = clean_value(v);
        return *value ? LABEL_VALUE : LABEL_ALONE;
    }
    return LABEL_NONE;
}

/* Add a labelled value: its first word first when it has more (a note after the password),
 * then the whole value. */
static void add_labelled(cands *c, const char *value)
{
    const char *sp = strpbrk(value, " \t");

    if (sp) {
        gchar *word = g_strndup(value, (gsize)(sp - value));
        if (has_ascii_graph(word))
            cands_add(c, word);
        g_free(word);
    }
    cands_add(c, value);
}

/* Non-zero when s is an e-mail address (local@domain.tld, the tld letters only). */
static int email_like(const char *s)
{
    const char *at = strchr(s, '@'), *dot = at ? strrchr(at, '.') : NULL;

    if (!at || at == s || !dot || dot == at + 1 || strlen(dot + 1) < 2)
        return 0;
    for (const char *p = s; p < at; p++)
        if (!g_ascii_isalnum(*p) && !strchr("._%+-", *p))
            return 0;
    for (const char *p = at + 1; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-')
            return 0;
    for (const char *p = dot + 1; *p; p++)
        if (!g_ascii_isalpha(*p))
            return 0;
    return 1;
}

/* Non-zero when s is a date, a time or a telephone number: digits and separators. */
static int date_like(const char *s)
{
    static const char *const cjk[] = {"年", "月", "日", "時", "分", "秒",
                                      "曜", "火", "水", "木", "金", "土"};
    int digits = 0, other = 0;

    for (const char *p = s; *p;) {
        size_t i;
        if (g_ascii_isdigit(*p)) {
            digits++;
            p++;
            continue;
        }
        if (strchr("/-.:+() ", *p)) {
            other++;
            p++;
            continue;
        }
        for (i = 0; i < G_N_ELEMENTS(cjk); i++)
            if (starts(p, cjk[i]))
                break;
        if (i == G_N_ELEMENTS(cjk))
            return 0;
        other++;
        p += strlen(cjk[i]);
    }
    return digits && other;
}

/* Non-zero when s is a line of a signature block ("TEL:03-...", "〒100-0001"). */
static int signature_like(const char *s)
{
    if (starts(s, "〒"))
        return 1;
    for (size_t i = 0; i < G_N_ELEMENTS(signature_prefixes); i++) {
        size_t n = strlen(signature_prefixes[i]);
        if (starts(s, signature_prefixes[i]) && (s[n] == ':' || s[n] == '.'))
            return 1;
    }
    return 0;
}

/* Non-zero when s is a URL. */
static int url_like(const char *s)
{
    return strstr(s, "://") || starts(s, "www.") || starts(s, "mailto:");
}

/* Index just past the quarantine id at s[i] in s (ASCII), or 0. */
static size_t id_at(const char *s, size_t i)
{
    const char *p = s + i;

    if ((p[0] != 'Q' && p[0] != 'q') || p[1] != '-' || (i > 0 && g_ascii_isalnum(p[-1])))
        return 0;
    for (int k = 2; k < 10; k++)
        if (!g_ascii_isdigit(p[k]))
            return 0;
    if (p[10] != '-')
        return 0;
    for (int k = 11; k < ID_LEN; k++)
        if (!p[k] || !strchr(id_alphabet, g_ascii_toupper(p[k])))
            return 0;
    return g_ascii_isalnum(p[ID_LEN]) ? 0 : i + ID_LEN;
}

/* Non-zero when a line (trimmed) may be a password alone on its line. */
static int lone_token(const char *s)
{
    glong chars = g_utf8_strlen(s, -1);

    return chars >= TOKEN_MIN && chars <= TOKEN_MAX && strlen(s) <= VALUE_MAX && !has_space(s) &&
           has_ascii_alnum(s) && !url_like(s) && !email_like(s) && !date_like(s) &&
           !signature_like(s) && !(strlen(s) == ID_LEN && id_at(s, 0));
}

/* The value on the first non-empty line after lines[i] (a label alone), if it is one. */
static void add_next_line(cands *c, char **lines, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n && j <= i + NEXT_LINES; j++) {
        char *v, *skip;
        if (!*lines[j])
            continue;
        if (label_line(lines[j], &skip) != LABEL_NONE) {
            g_free(skip);
            return;
        }
        v = clean_value(lines[j]);
        if (v && !has_space(v) && !url_like(v) && !email_like(v))
            cands_add(c, v);
        g_free(v);
        return;
    }
}

GPtrArray *ppap_candidates(const char *text, size_t len, unsigned max)
{
    GString *valid = valid_utf8(text ? text : "", text ? len : 0, TEXT_MAX);
    gchar *norm = g_utf8_normalize(valid->str, (gssize)valid->len, G_NORMALIZE_NFKC);
    gchar **lines = g_strsplit_set(norm ? norm : "", "\r\n", -1);
    size_t n = g_strv_length(lines);
    guint8 *labelled = g_new0(guint8, n + 1);
    cands c = {g_ptr_array_new_with_free_func(g_free), g_hash_table_new(g_str_hash, g_str_equal),
               max};

    for (size_t i = 0; i < n; i++)
        g_strstrip(lines[i]);
    for (size_t i = 0; i < n && c.out->len < max; i++) {
        char *value;
        label_kind k = label_line(lines[i], &value);
        labelled[i] = k != LABEL_NONE;
        if (k == LABEL_VALUE)
            add_labelled(&c, value);
        else if (k == LABEL_ALONE)
            add_next_line(&c, lines, n, i);
        g_free(value);
    }
    for (size_t i = 0; i < n && c.out->len < max; i++)
        if (!labelled[i] && lone_token(lines[i]))
            cands_add(&c, lines[i]);
    g_hash_table_destroy(c.seen);
    g_free(labelled);
    g_strfreev(lines);
    g_free(norm);
    g_string_free(valid, TRUE);
    return c.out;
}

/* Non-zero for a dash an input method may type in place of '-'. */
static int dash_like(gunichar u)
{
    return u == '-' || (u >= 0x2010 && u <= 0x2015) || u == 0x2212 || u == 0x30FC || u == 0xFF0D ||
           u == 0xFF70;
}

int ppap_find_id(const char *subject, char out[24])
{
    GString *valid, *ascii;
    gchar *norm;
    int rc = -1;

    if (!subject)
        return -1;
    valid = valid_utf8(subject, strnlen(subject, SUBJECT_MAX), SUBJECT_MAX);
    norm = g_utf8_normalize(valid->str, (gssize)valid->len, G_NORMALIZE_NFKC);
    ascii = g_string_new(NULL);
    for (const char *p = norm ? norm : ""; *p; p = g_utf8_next_char(p)) {
        gunichar u = g_utf8_get_char(p);
        if (dash_like(u))
            g_string_append_c(ascii, '-');
        else
            g_string_append_unichar(ascii, u);
    }
    for (size_t i = 0; i < ascii->len && rc < 0; i++) {
        if (!id_at(ascii->str, i))
            continue;
        for (size_t k = 0; k < ID_LEN; k++)
            out[k] = g_ascii_toupper(ascii->str[i + k]);
        out[ID_LEN] = '\0';
        rc = 0;
    }
    g_string_free(ascii, TRUE);
    g_free(norm);
    g_string_free(valid, TRUE);
    return rc;
}

/* ---- the mails the flow sends ---- */

/* Set *err (when err is not NULL) to a new message. Returns -1. */
static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **err, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        g_free(*err);
        *err = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* s (UTF-8) cut to at most max bytes at a character boundary. */
static void cut_utf8(GString *s, size_t max)
{
    size_t keep = max;

    if (s->len <= max)
        return;
    while (keep > 0 && ((unsigned char)s->str[keep] & 0xC0) == 0x80)
        keep--;
    g_string_truncate(s, keep);
}

/* Untrusted text for a header (a subject, a display name): valid UTF-8, line ends and tabs
 * made spaces, control and format characters dropped, "=?" broken, at most max bytes.
 * Caller g_free()s. */
static char *header_text(const char *s, size_t max)
{
    GString *f = mg_utf8_filter(s ? s : "", s ? strnlen(s, 4 * max) : 0, 1);
    char *clean;
    GString *out;

    cut_utf8(f, 4 * max);
    clean = mailhdr_clean(f->str);
    out = g_string_new(clean);
    cut_utf8(out, max);
    g_free(clean);
    g_string_free(f, TRUE);
    return g_strstrip(g_string_free(out, FALSE));
}

/* Non-zero when addr is a plain address: local@domain in printable ASCII without blanks,
 * quotes, brackets or separators, at most 254 bytes. */
static int addr_ok(const char *addr)
{
    const char *at = strchr(addr, '@');
    size_t n = strlen(addr);

    if (n == 0 || n > 254 || !at || at == addr || !at[1] || strchr(at + 1, '@'))
        return 0;
    for (const char *p = addr; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p))
            return 0;
    return 1;
}

/* Split "Name <addr>" or "addr" into a clean display name (NULL: none) and a copy of the
 * address. -1 when the address is not a plain one. */
static int mailbox_split(const char *s, char **name, char **addr)
{
    const char *lt = strrchr(s, '<');
    size_t n = strlen(s);

    *name = NULL;
    if (lt && n > 0 && s[n - 1] == '>') {
        gchar *raw = g_strndup(s, (gsize)(lt - s));
        *addr = g_strndup(lt + 1, (gsize)(s + n - 1 - (lt + 1)));
        *name = header_text(g_strdelimit(raw, "\"", ' '), HEADER_TEXT_MAX / 4);
        g_free(raw);
        if (!**name) {
            g_free(*name);
            *name = NULL;
        }
    } else {
        *addr = g_strstrip(g_strdup(s));
    }
    if (addr_ok(*addr))
        return 0;
    g_free(*name);
    g_free(*addr);
    *name = *addr = NULL;
    return -1;
}

/* Non-zero when s is printable ASCII (spaces allowed). */
static int printable_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s >= 0x7f)
            return 0;
    return 1;
}

/* Append an unstructured header: as it is when printable ASCII, else encoded words. */
static void put_text(GString *out, const char *name, const char *value)
{
    g_string_append_printf(out, "%s:", name);
    if (printable_ascii(value))
        g_string_append_printf(out, " %s", value);
    else
        mailhdr_encode_words(out, value);
    g_string_append(out, "\r\n");
}

/* Append the mailbox s ("Name <addr>" or "addr") after a space. -1 with *err (naming
 * header) when it is not a plain address. */
static int put_mailbox(GString *out, const char *header, const char *s, char **err)
{
    char *name, *addr;
    gchar *shown;

    if (mailbox_split(s, &name, &addr) < 0) {
        shown = mg_utf8_safe(s, (ssize_t)strnlen(s, 300));
        fail(err, "%s: not a plain mail address: \"%s\"", header, shown);
        g_free(shown);
        return -1;
    }
    if (name && printable_ascii(name)) {
        g_string_append(out, " \"");
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\')
                g_string_append_c(out, '\\');
            g_string_append_c(out, *p);
        }
        g_string_append_c(out, '"');
    } else if (name) {
        mailhdr_encode_words(out, name);
    }
    g_string_append_printf(out, name ? " <%s>" : " %s", addr);
    g_free(name);
    g_free(addr);
    return 0;
}

/* The Message-ID id as "<...>" when it is one (printable ASCII, no blanks, no inner angle
 * brackets, at most MSGID_MAX bytes), else NULL. Caller g_free()s. */
static char *msgid_clean(const char *id)
{
    gchar *s = id ? g_strstrip(g_strdup(id)) : NULL;
    size_t n = s ? strlen(s) : 0;
    gchar *out;

    if (n > 0 && s[0] == '<' && s[n - 1] == '>') {
        s[n - 1] = '\0';
        memmove(s, s + 1, n - 1);
        n -= 2;
    }
    if (n == 0 || n > MSGID_MAX - 2) {
        g_free(s);
        return NULL;
    }
    for (const char *p = s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '<' || *p == '>') {
            g_free(s);
            return NULL;
        }
    out = g_strdup_printf("<%s>", s);
    g_free(s);
    return out;
}

/* A MIME type "media/subtype" of token characters, or application/octet-stream. */
static void split_type(const char *type, char **media, char **sub)
{
    const char *slash = type ? strchr(type, '/') : NULL;
    int ok = slash && slash != type && slash[1] && strlen(type) < 128;

    for (const char *p = type; ok && *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("/!#$&-^_.+", *p))
            ok = 0;
    if (ok && strchr(slash + 1, '/'))
        ok = 0;
    *media = ok ? g_ascii_strdown(type, slash - type) : g_strdup("application");
    *sub = ok ? g_ascii_strdown(slash + 1, -1) : g_strdup("octet-stream");
}

/* The file name for an attachment: clean, no path separators, at most NAME_MAX_BYTES. */
static char *file_name(const char *name)
{
    char *s = header_text(name, NAME_MAX_BYTES);

    g_strdelimit(s, "/\\", '_');
    if (!*s) {
        g_free(s);
        return g_strdup("attachment");
    }
    return s;
}

/* The attachment f as a base64 part. NULL with *err when its file cannot be opened. */
static GMimeObject *file_part(const ppap_file *f, char **err)
{
    int fd = f->path ? open(f->path, O_RDONLY | O_CLOEXEC) : -1;
    char *media, *sub, *name;
    GMimePart *part;
    GMimeStream *s;
    GMimeDataWrapper *w;

    if (fd < 0) {
        fail(err, "%s: cannot open attachment: %s", f->path ? f->path : "(none)",
             f->path ? strerror(errno) : "no path");
        return NULL;
    }
    split_type(f->type, &media, &sub);
    part = g_mime_part_new_with_type(media, sub);
    s = g_mime_stream_fs_new(fd);
    w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(part, w);
    g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
    name = file_name(f->name);
    g_mime_object_set_disposition(GMIME_OBJECT(part), "attachment");
    g_mime_part_set_filename(part, name);
    g_free(name);
    g_free(media);
    g_free(sub);
    g_object_unref(w);
    g_object_unref(s);
    return GMIME_OBJECT(part);
}

/* The body: text/plain UTF-8 in base64, invalid bytes replaced. */
static GMimeObject *body_part(const char *body)
{
    GMimeTextPart *t = g_mime_text_part_new_with_subtype("plain");
    gchar *valid = g_utf8_make_valid(body ? body : "", -1);

    g_mime_text_part_set_text(t, valid);
    g_mime_text_part_set_charset(t, "UTF-8");
    g_mime_part_set_content_encoding(GMIME_PART(t), GMIME_CONTENT_ENCODING_BASE64);
    g_free(valid);
    return GMIME_OBJECT(t);
}

/* The MIME tree: the body alone, or multipart/mixed with the files after it. */
static GMimeObject *mime_tree(const ppap_mail *m, char **err)
{
    GMimeObject *text = body_part(m->body);
    GMimeMultipart *mixed;

    if (m->nfiles == 0)
        return text;
    mixed = g_mime_multipart_new_with_subtype("mixed");
    g_mime_multipart_add(mixed, text);
    g_object_unref(text);
    for (size_t i = 0; i < m->nfiles; i++) {
        GMimeObject *part = file_part(&m->files[i], err);
        if (!part) {
            g_object_unref(mixed);
            return NULL;
        }
        g_mime_multipart_add(mixed, part);
        g_object_unref(part);
    }
    return GMIME_OBJECT(mixed);
}

/* A fresh Message-ID "<...@domain>" with the domain of the address from (a valid one).
 * Caller g_free()s. */
static char *new_msgid(const char *from)
{
    char *name, *addr, *id, *out;

    if (mailbox_split(from, &name, &addr) < 0)
        mg_panic("ppap: From was checked");
    id = g_mime_utils_generate_message_id(strchr(addr, '@') + 1);
    out = g_strdup_printf("<%s>", id);
    g_free(id);
    g_free(name);
    g_free(addr);
    return out;
}

/* Append From and To. *nto gets the number of recipients. -1 with *err on an address that
 * is not one, or none. */
static int put_addresses(GString *out, const ppap_mail *m, size_t *nto, char **err)
{
    int rc;

    g_string_append(out, "From:");
    rc = put_mailbox(out, "From", m->from ? m->from : "", err);
    g_string_append(out, "\r\nTo:");
    for (*nto = 0; rc == 0 && m->to && m->to[*nto]; (*nto)++) {
        if (*nto)
            g_string_append(out, ",\r\n");
        rc = put_mailbox(out, "To", m->to[*nto], err);
    }
    g_string_append(out, "\r\n");
    return rc == 0 && *nto == 0 ? fail(err, "To: no recipient") : rc;
}

/* The header block of m: From, To, Subject, Date, Message-ID, the references,
 * Auto-Submitted and MIME-Version; the subject as written into *subject (g_free). -1 with
 * *err on an address that is not one. */
static int put_headers(GString *out, const ppap_mail *m, size_t *nto, char **subject, char **err)
{
    char *ref, *id, *date;
    GDateTime *now;

    *subject = NULL;
    if (put_addresses(out, m, nto, err) < 0)
        return -1;
    *subject = header_text(m->subject, HEADER_TEXT_MAX);
    put_text(out, "Subject", *subject);
    now = g_date_time_new_now_local();
    date = g_mime_utils_header_format_date(now);
    id = new_msgid(m->from);
    g_string_append_printf(out, "Date: %s\r\nMessage-ID: %s\r\n", date, id);
    ref = msgid_clean(m->in_reply_to);
    if (ref)
        g_string_append_printf(out, "In-Reply-To: %s\r\nReferences: %s\r\n", ref, ref);
    g_string_append(out, "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n");
    g_free(ref);
    g_free(id);
    g_free(date);
    g_date_time_unref(now);
    return 0;
}

/* An anonymous temporary file, or -1. */
static int temp_file(void)
{
    int fd = mg_tmp_file(g_get_tmp_dir());

    return fd >= 0 ? fd : memfd_create("mugai-ppap-mail", MFD_CLOEXEC);
}

/* Write the header block head, then the MIME tree top (CRLF), to fd. 0 or -1. */
static int write_message(const GString *head, GMimeObject *top, int fd)
{
    GMimeFormatOptions *fmt;
    GMimeStream *pipe, *s;
    int rc = 0;

    if (mg_write_all(fd, head->str, head->len) < 0)
        return -1;
    /* Made after the headers are written: the stream starts at the fd's offset. */
    fmt = g_mime_format_options_new();
    pipe = g_mime_stream_pipe_new(dup(fd));
    s = g_mime_stream_buffer_new(pipe, GMIME_STREAM_BUFFER_BLOCK_WRITE);
    g_mime_format_options_set_newline_format(fmt, GMIME_NEWLINE_FORMAT_DOS);
    if (g_mime_object_write_to_stream(top, fmt, s) < 0 || g_mime_stream_flush(s) < 0)
        rc = -1;
    g_object_unref(s);
    g_object_unref(pipe);
    g_mime_format_options_free(fmt);
    return rc;
}

/* Check that every line on fd (from its start) ends with CRLF and holds at most 998 bytes,
 * and that nothing is a NUL. -1 with *err when one does not. */
static int check_lines(int fd, char **err)
{
    char *buf = g_malloc(COPY_BLOCK);
    size_t line = 0, lineno = 1;
    int cr = 0, rc = 0;
    ssize_t got;

    lseek(fd, 0, SEEK_SET);
    while (rc == 0 && (got = read(fd, buf, COPY_BLOCK)) > 0) {
        for (ssize_t i = 0; i < got && rc == 0; i++) {
            char ch = buf[i];
            if (ch == '\n' && cr) {
                line = 0;
                lineno++;
            } else if (ch == '\n' || cr || ch == '\0') {
                rc = fail(err, "line %zu: a bare CR, LF or a NUL", lineno);
            } else if (ch != '\r' && ++line > 998) {
                rc = fail(err, "line %zu: longer than 998 bytes", lineno);
            }
            cr = ch == '\r';
        }
    }
    if (rc == 0 && (got < 0 || cr || line))
        rc = fail(err,
                  got < 0 ? "cannot read the mail back: %s"
                          : "the mail does not end with "
                            "CRLF%s",
                  got < 0 ? strerror(errno) : "");
    g_free(buf);
    return rc;
}

/* Headers a mail written here may have. */
static int header_expected(const char *name)
{
    static const char *const names[] = {"From",
                                        "To",
                                        "Subject",
                                        "Date",
                                        "Message-Id",
                                        "In-Reply-To",
                                        "References",
                                        "Auto-Submitted",
                                        "MIME-Version",
                                        "Content-Type",
                                        "Content-Transfer-Encoding"};

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (g_ascii_strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* The message on fd (from its start) parsed by GMime, or NULL. */
static GMimeMessage *parse_back(int fd)
{
    GMimeStream *s;
    GMimeParser *p;
    GMimeMessage *msg;

    lseek(fd, 0, SEEK_SET);
    s = g_mime_stream_fs_new(dup(fd));
    p = g_mime_parser_new_with_stream(s);
    msg = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    return msg;
}

/* Check that the mail on fd parses again as written: only the expected headers, the
 * subject, the recipients and the parts. -1 with *err otherwise. */
static int check_parse(int fd, const char *subject, size_t nto, size_t nfiles, char **err)
{
    GMimeMessage *msg = parse_back(fd);
    const char *got;
    GMimeHeaderList *list;
    GMimeObject *top;
    int n, rc = 0, parts;

    if (!msg)
        return fail(err, "the mail written does not parse again");
    list = g_mime_object_get_header_list(GMIME_OBJECT(msg));
    n = g_mime_header_list_get_count(list);
    for (int i = 0; i < n && rc == 0; i++) {
        const char *name = g_mime_header_get_name(g_mime_header_list_get_header_at(list, i));
        if (!header_expected(name))
            rc = fail(err, "the mail written has an unexpected header %s", name);
    }
    top = g_mime_message_get_mime_part(msg);
    parts = GMIME_IS_MULTIPART(top) ? g_mime_multipart_get_count(GMIME_MULTIPART(top)) : 1;
    got = g_mime_message_get_subject(msg);
    if (rc == 0 && strcmp(got ? got : "", subject) != 0)
        rc = fail(err, "the mail written does not read back with its subject");
    if (rc == 0 && (size_t)internet_address_list_length(
                       g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO)) != nto)
        rc = fail(err, "the mail written does not read back with its %zu recipients", nto);
    if (rc == 0 && (!top || (size_t)parts != nfiles + 1))
        rc = fail(err, "the mail written does not read back with its %zu attachments", nfiles);
    g_object_unref(msg);
    return rc;
}

/* Copy fd (from its start) to out_fd. -1 with *err. */
static int copy_out(int fd, int out_fd, char **err)
{
    char *buf = g_malloc(COPY_BLOCK);
    ssize_t got;
    int rc = 0;

    lseek(fd, 0, SEEK_SET);
    while (rc == 0 && (got = read(fd, buf, COPY_BLOCK)) > 0)
        if (mg_write_all(out_fd, buf, (size_t)got) < 0)
            rc = fail(err, "cannot write the mail: %s", strerror(errno));
    if (rc == 0 && got < 0)
        rc = fail(err, "cannot read the mail back: %s", strerror(errno));
    g_free(buf);
    return rc;
}

int ppap_mail_write(const ppap_mail *m, int out_fd, char **err)
{
    GString *head = g_string_new(NULL);
    GMimeObject *top = NULL;
    char *subject = NULL;
    size_t nto = 0;
    int fd = -1, rc;

    g_mime_init(); /* counted: once per process in effect */
    rc = put_headers(head, m, &nto, &subject, err);
    if (rc == 0 && !(top = mime_tree(m, err)))
        rc = -1;
    if (rc == 0 && (fd = temp_file()) < 0)
        rc = fail(err, "%s: cannot create a temporary file: %s", g_get_tmp_dir(), strerror(errno));
    if (rc == 0 && write_message(head, top, fd) < 0)
        rc = fail(err, "cannot write the mail: %s", strerror(errno));
    if (rc == 0)
        rc = check_lines(fd, err);
    if (rc == 0)
        rc = check_parse(fd, subject, nto, m->nfiles, err);
    if (rc == 0)
        rc = copy_out(fd, out_fd, err);
    if (fd >= 0)
        close(fd);
    if (top)
        g_object_unref(top);
    g_free(subject);
    g_string_free(head, TRUE);
    return rc;
}
