/*
 * sanitize/mailhdr.c - decode Internet mail header values and attachment
 * file names to clean UTF-8: RFC 2047 encoded words, RFC 2231 parameters,
 * and the non-standard forms common in Japanese mail (encoded words inside
 * quotes, words split in the middle of a character, raw 8-bit bytes).
 *
 * Runs in the sanitizer worker (unprivileged, single-threaded) and in
 * sanitize-file, on untrusted header bytes. It only computes: it must never
 * read past the given length, never do more than linear work in a bounded
 * input, never return text holding NUL, control or bidirectional override
 * characters or an encoded-word opener "=?" (a doubly encoded word would
 * decode again downstream, past the filter), and never return a file name
 * holding a path. Every charset conversion goes through rnd_text_to_utf8
 * (CP932 under Shift_JIS labels, NEC/IBM extensions in ISO-2022-JP), never
 * through GMime's decoders, and only for labels of the allow-list
 * (charset.c); other labels are ignored.
 */
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "rnd.h"
#include "san_int.h"

#define HDR_MAX_IN (256u * 1024u) /* work bound on one header value */
#define HDR_MAX_CHARSET 64u       /* longest charset name in an encoded word */
#define HDR_MAX_NAME 200u         /* longest file name, bytes of UTF-8 */
#define HDR_MAX_EXT 16u           /* longest extension kept on truncation, with its dot */
#define HDR_MAX_PARAMS 64u        /* parameters read from one header */
#define HDR_MAX_SEGMENTS 100u     /* RFC 2231 continuations read */

/* Decoder state: the output, pending encoded-word bytes of one charset, and raw text. */
typedef struct {
    GString *out;
    GString *ew;                  /* bytes of adjacent encoded words in charset cs */
    char cs[HDR_MAX_CHARSET + 1]; /* charset of ew */
    int have_ew;                  /* ew holds at least one (possibly empty) word */
    GString *raw;                 /* text seen since the last encoded word */
    const char *fallbacks;
} hdr_dec;

/* One header parameter: lower-case name and its raw value (quotes and escapes removed). */
typedef struct {
    char *name;
    GString *value;
} hdr_param;

/* Non-zero for space or tab. */
static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* Copy raw without folding and NUL bytes, at most HDR_MAX_IN bytes; a bare line break
 * becomes a space. */
static GString *unfold(const char *raw, size_t len)
{
    if (len > HDR_MAX_IN)
        len = HDR_MAX_IN;
    GString *s = g_string_sized_new(len + 1);
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '\0')
            continue;
        if (c != '\r' && c != '\n') {
            g_string_append_c(s, c);
            continue;
        }
        size_t j = i + 1;
        if (c == '\r' && j < len && raw[j] == '\n')
            j++;
        if (j >= len || !is_wsp(raw[j]))
            g_string_append_c(s, ' ');
        i = j - 1;
    }
    return s;
}

/* Append bytes decoded from charset label (NULL: detect) through the fallback list. A label
 * outside the allow-list is not used: the bytes are detected like unlabelled ones. */
static void append_decoded(GString *out, const char *b, size_t n, const char *label,
                           const char *fallbacks)
{
    const char *used = NULL;
    char *u = rnd_text_to_utf8(b, n, charset_allowed(label) ? label : NULL, fallbacks, &used);

    if (!u)
        u = g_utf8_make_valid(b, (gssize)n);
    g_string_append(out, u);
    g_free(u);
}

/* Non-zero when raw bytes need charset detection: 8-bit bytes or ISO-2022-JP escapes. */
static int needs_decoding(const GString *s)
{
    for (size_t i = 0; i < s->len; i++)
        if ((unsigned char)s->str[i] >= 0x80 || s->str[i] == 0x1B)
            return 1;
    return 0;
}

/* Non-zero when s holds only spaces and tabs (or nothing). */
static int wsp_only(const GString *s)
{
    for (size_t i = 0; i < s->len; i++)
        if (!is_wsp(s->str[i]))
            return 0;
    return 1;
}

/* Decode the pending encoded-word bytes into the output. */
static void dec_flush_ew(hdr_dec *d)
{
    if (!d->have_ew)
        return;
    append_decoded(d->out, d->ew->str, d->ew->len, d->cs, d->fallbacks);
    g_string_truncate(d->ew, 0);
    d->cs[0] = '\0';
    d->have_ew = 0;
}

/* Move the pending raw text into the output, decoding it when it is not plain ASCII. */
static void dec_flush_raw(hdr_dec *d)
{
    if (needs_decoding(d->raw))
        append_decoded(d->out, d->raw->str, d->raw->len, NULL, d->fallbacks);
    else
        g_string_append_len(d->out, d->raw->str, (gssize)d->raw->len);
    g_string_truncate(d->raw, 0);
}

/* Take one decoded encoded word: joined as bytes to the previous one when only whitespace
 * separates them and the charset is the same, so split characters decode right. */
static void dec_word(hdr_dec *d, const char *cs, const GString *bytes)
{
    int gap = wsp_only(d->raw);

    if (d->have_ew && gap)
        g_string_truncate(d->raw, 0);
    if (!(d->have_ew && gap && g_ascii_strcasecmp(d->cs, cs) == 0)) {
        dec_flush_ew(d);
        dec_flush_raw(d);
        g_strlcpy(d->cs, cs, sizeof d->cs);
        d->have_ew = 1;
    }
    g_string_append_len(d->ew, bytes->str, (gssize)bytes->len);
}

/* Value of a base64 digit, or -1. */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode strict base64 (padding optional) into out. 0, or -1 on a foreign character. */
static int b_decode(const char *s, size_t n, GString *out)
{
    unsigned acc = 0, bits = 0;
    size_t i = 0;

    for (; i < n && s[i] != '='; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return -1;
        acc = ((acc << 6) | (unsigned)v) & 0xFFFFu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            g_string_append_c(out, (char)((acc >> bits) & 0xFFu));
        }
    }
    for (; i < n; i++)
        if (s[i] != '=')
            return -1;
    return 0;
}

/* Decode RFC 2047 Q text ('_' is a space, =XX a byte) into out. 0 or -1. */
static int q_decode(const char *s, size_t n, GString *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            g_string_append_c(out, ' ');
        } else if (s[i] != '=') {
            g_string_append_c(out, s[i]);
        } else {
            int hi = i + 2 < n ? g_ascii_xdigit_value(s[i + 1]) : -1;
            int lo = hi >= 0 ? g_ascii_xdigit_value(s[i + 2]) : -1;
            if (lo < 0)
                return -1;
            g_string_append_c(out, (char)(hi * 16 + lo));
            i += 2;
        }
    }
    return 0;
}

/* Non-zero for a character allowed in the charset part of an encoded word. */
static int cs_char(char c)
{
    return g_ascii_isalnum(c) || (c != '\0' && strchr("-_.:*+()", c) != NULL);
}

/* Parse the encoded word "=?cs?E?text?=" at s[i]: charset (without *language) into cs,
 * bytes into out. Returns the index after it, or 0 when it is malformed. */
static size_t ew_parse(const char *s, size_t n, size_t i, char *cs, size_t cs_size, GString *out)
{
    size_t p = i + 2, k = 0;

    for (; p < n && s[p] != '?'; p++) {
        if (!cs_char(s[p]) || k + 1 >= cs_size)
            return 0;
        cs[k++] = s[p];
    }
    cs[k] = '\0';
    if (k == 0 || p + 3 >= n || s[p + 2] != '?')
        return 0;
    char enc = g_ascii_toupper(s[p + 1]);
    size_t start = p + 3;
    for (p = start; p < n && s[p] != '?' && s[p] > ' ' && s[p] < 0x7F; p++)
        ;
    if (p + 1 >= n || s[p] != '?' || s[p + 1] != '=')
        return 0;
    char *star = strchr(cs, '*');
    if (star)
        *star = '\0';
    if (cs[0] == '\0')
        return 0;
    g_string_truncate(out, 0);
    int rc = enc == 'B'   ? b_decode(s + start, p - start, out)
             : enc == 'Q' ? q_decode(s + start, p - start, out)
                          : -1;
    return rc == 0 ? p + 2 : 0;
}

/* Track ISO-2022-JP shifts in raw text: inside JIS X 0208 "=?" is a kanji, not a word. */
static int jis_state(const char *s, size_t n, size_t i, int in_jis)
{
    if (i + 2 >= n)
        return in_jis;
    if (s[i + 1] == '$' && (s[i + 2] == 'B' || s[i + 2] == '@'))
        return 1;
    if (s[i + 1] == '(' && (s[i + 2] == 'B' || s[i + 2] == 'J'))
        return 0;
    return in_jis;
}

/* Decode encoded words and raw 8-bit runs of unfolded text; the result may still hold
 * control characters. Caller frees with g_string_free. */
static GString *decode_words(const char *s, size_t n, const char *fallbacks)
{
    hdr_dec d = {.out = g_string_sized_new(n + 1),
                 .ew = g_string_new(NULL),
                 .raw = g_string_new(NULL),
                 .fallbacks = fallbacks};
    GString *bytes = g_string_new(NULL);
    char cs[HDR_MAX_CHARSET + 1];
    int in_jis = 0;

    for (size_t i = 0; i < n;) {
        size_t next = 0;
        if (s[i] == 0x1B)
            in_jis = jis_state(s, n, i, in_jis);
        else if (!in_jis && s[i] == '=' && i + 1 < n && s[i + 1] == '?')
            next = ew_parse(s, n, i, cs, sizeof cs, bytes);
        if (next > 0) {
            dec_word(&d, cs, bytes);
            i = next;
            continue;
        }
        g_string_append_c(d.raw, s[i++]);
    }
    dec_flush_ew(&d);
    dec_flush_raw(&d);
    g_string_free(d.ew, TRUE);
    g_string_free(d.raw, TRUE);
    g_string_free(bytes, TRUE);
    return d.out;
}

/* Break every "=?" of decoded text into "= ?": text decoded once must never hold an encoded
 * word a later reader (GMime parsing an address list, a mail client showing a file name)
 * would decode a second time, past the filter (a doubly encoded U+202E). */
static void defuse_words(GString *s)
{
    if (!strstr(s->str, "=?"))
        return;
    GString *t = g_string_sized_new(s->len + s->len / 2 + 1); /* linear, not insert by insert */
    for (size_t i = 0; i < s->len; i++) {
        g_string_append_c(t, s->str[i]);
        if (s->str[i] == '=' && i + 1 < s->len && s->str[i + 1] == '?')
            g_string_append_c(t, ' ');
    }
    g_string_truncate(s, 0);
    g_string_append_len(s, t->str, (gssize)t->len);
    g_string_free(t, TRUE);
}

/* Copy s as valid UTF-8 without dropped characters (tab and line breaks become spaces),
 * trimmed of spaces at both ends, encoded-word openers broken (defuse_words). The one place
 * every decoded header value and file name goes through. Caller frees with g_string_free. */
static GString *clean_text(const char *s, size_t n)
{
    GString *out = mg_utf8_filter(s, n, 1);

    defuse_words(out);
    size_t start = 0;
    while (start < out->len && out->str[start] == ' ')
        start++;
    g_string_erase(out, 0, (gssize)start);
    while (out->len > 0 && out->str[out->len - 1] == ' ')
        g_string_truncate(out, out->len - 1);
    return out;
}

/* Decode a raw header value to UTF-8; never NULL, caller g_free()s. */
char *mailhdr_decode(const char *raw, size_t len, const char *fallbacks)
{
    if (!raw)
        return g_strdup("");
    GString *s = unfold(raw, len);
    GString *mixed = decode_words(s->str, s->len, fallbacks);
    GString *out = clean_text(mixed->str, mixed->len);
    g_string_free(s, TRUE);
    g_string_free(mixed, TRUE);
    return g_string_free(out, FALSE);
}

/* Already decoded text made safe the same way as a decoded value (a display name GMime
 * parsed, say); never NULL, caller g_free()s. */
char *mailhdr_clean(const char *utf8)
{
    return g_string_free(clean_text(utf8, strlen(utf8)), FALSE);
}

/* ---- parameters (Content-Disposition, Content-Type) ---- */

/* Free one parameter (GPtrArray element destructor). */
static void param_free(gpointer data)
{
    hdr_param *p = data;

    if (!p)
        return;
    g_free(p->name);
    g_string_free(p->value, TRUE);
    g_free(p);
}

/* Index of the next ';' outside quotes at or after i, or n. */
static size_t skip_to_semicolon(const char *s, size_t n, size_t i)
{
    int quoted = 0;

    for (; i < n; i++) {
        if (quoted && s[i] == '\\' && i + 1 < n)
            i++;
        else if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == ';')
            return i;
    }
    return n;
}

/* Index of the first non-whitespace byte at or after i. */
static size_t skip_wsp(const char *s, size_t n, size_t i)
{
    while (i < n && is_wsp(s[i]))
        i++;
    return i;
}

/* Non-zero when the backslash at s[i] escapes the next byte. Raw CP932 in quotes is common
 * and its trail byte may be 0x5C, so a backslash after a lead byte stays literal. */
static int is_escape(const char *s, size_t n, size_t i, size_t start)
{
    if (i + 1 >= n || (s[i + 1] != '"' && s[i + 1] != '\\'))
        return 0;
    if (i <= start)
        return 1;
    unsigned char prev = (unsigned char)s[i - 1];
    return !((prev >= 0x81 && prev <= 0x9F) || (prev >= 0xE0 && prev <= 0xFC));
}

/* Read the quoted string starting at s[i] == '"' into val; returns the index after it. */
static size_t read_quoted(const char *s, size_t n, size_t i, GString *val)
{
    size_t start = i + 1;

    for (i = start; i < n; i++) {
        if (s[i] == '\\' && is_escape(s, n, i, start))
            i++;
        else if (s[i] == '"')
            return i + 1;
        g_string_append_c(val, s[i]);
    }
    return n;
}

/* Read a parameter value at s[i] (quoted, or a token up to ';') into val; returns the
 * index after it. */
static size_t read_value(const char *s, size_t n, size_t i, GString *val)
{
    if (i < n && s[i] == '"')
        return read_quoted(s, n, i, val);
    for (; i < n && s[i] != ';'; i++)
        g_string_append_c(val, s[i]);
    while (val->len > 0 && is_wsp(val->str[val->len - 1]))
        g_string_truncate(val, val->len - 1);
    return i;
}

/* Parse the parameters after the header's main value (at most HDR_MAX_PARAMS). */
static void params_parse(const char *s, size_t n, GPtrArray *params)
{
    size_t i = skip_to_semicolon(s, n, 0);

    while (i < n && params->len < HDR_MAX_PARAMS) {
        i = skip_wsp(s, n, i + 1);
        size_t ns = i;
        while (i < n && s[i] != '=' && s[i] != ';' && !is_wsp(s[i]))
            i++;
        size_t ne = i;
        i = skip_wsp(s, n, i);
        if (ne > ns && i < n && s[i] == '=') {
            hdr_param *p = g_new0(hdr_param, 1);
            p->name = g_ascii_strdown(s + ns, (gssize)(ne - ns));
            p->value = g_string_new(NULL);
            i = read_value(s, n, skip_wsp(s, n, i + 1), p->value);
            g_ptr_array_add(params, p);
        }
        i = skip_to_semicolon(s, n, i);
    }
}

/* The parameter called name, or NULL. */
static const hdr_param *param_find(const GPtrArray *params, const char *name)
{
    for (guint i = 0; i < params->len; i++) {
        const hdr_param *p = g_ptr_array_index(params, i);
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

/* Append %XX-decoded bytes of s to out (a malformed escape is kept as text). */
static void pct_decode(const char *s, size_t n, GString *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = s[i] == '%' && i + 2 < n ? g_ascii_xdigit_value(s[i + 1]) : -1;
        int lo = hi >= 0 ? g_ascii_xdigit_value(s[i + 2]) : -1;
        if (lo < 0) {
            g_string_append_c(out, s[i]);
            continue;
        }
        g_string_append_c(out, (char)(hi * 16 + lo));
        i += 2;
    }
}

/* Split an RFC 2231 first segment "charset'lang'rest": the charset into *cs (g_free, NULL
 * when empty or absent); returns the offset of rest. */
static size_t rfc2231_prefix(const GString *v, char **cs)
{
    const char *q1 = memchr(v->str, '\'', v->len);
    const char *q2 = q1 ? memchr(q1 + 1, '\'', v->len - (size_t)(q1 + 1 - v->str)) : NULL;

    *cs = NULL;
    if (!q2)
        return 0;
    if (q1 > v->str)
        *cs = g_strndup(v->str, (gsize)(q1 - v->str));
    return (size_t)(q2 + 1 - v->str);
}

/* base* (RFC 2231, one segment) as UTF-8, or NULL. Caller g_free()s. */
static char *ext_value(const GPtrArray *params, const char *base, const char *fallbacks)
{
    char key[80];
    char *cs = NULL;

    if (mg_snprintf(key, sizeof key, "%s*", base) < 0)
        return NULL;
    const hdr_param *p = param_find(params, key);
    if (!p)
        return NULL;
    size_t off = rfc2231_prefix(p->value, &cs);
    GString *bytes = g_string_new(NULL);
    pct_decode(p->value->str + off, p->value->len - off, bytes);
    GString *out = g_string_new(NULL);
    append_decoded(out, bytes->str, bytes->len, cs, fallbacks);
    g_string_free(bytes, TRUE);
    g_free(cs);
    return g_string_free(out, FALSE);
}

/* Append continuation segment k of base (base*k* encoded, base*k plain) to bytes; on the
 * first encoded segment take its charset. 0, or -1 when the segment is absent. */
static int cont_segment(const GPtrArray *params, const char *base, unsigned k, GString *bytes,
                        char **cs)
{
    char key[80];

    if (mg_snprintf(key, sizeof key, "%s*%u*", base, k) < 0)
        return -1;
    const hdr_param *p = param_find(params, key);
    if (p) {
        size_t off = k == 0 ? rfc2231_prefix(p->value, cs) : 0;
        pct_decode(p->value->str + off, p->value->len - off, bytes);
        return 0;
    }
    if (mg_snprintf(key, sizeof key, "%s*%u", base, k) < 0)
        return -1;
    if ((p = param_find(params, key)) == NULL)
        return -1;
    g_string_append_len(bytes, p->value->str, (gssize)p->value->len);
    return 0;
}

/* base*0, base*1, ... joined in numeric order as UTF-8, or NULL. Caller g_free()s. */
static char *cont_value(const GPtrArray *params, const char *base, const char *fallbacks)
{
    GString *bytes = g_string_new(NULL);
    char *cs = NULL;
    unsigned k = 0;

    while (k < HDR_MAX_SEGMENTS && cont_segment(params, base, k, bytes, &cs) == 0)
        k++;
    char *out = NULL;
    if (k > 0 && cs) {
        GString *u = g_string_new(NULL);
        append_decoded(u, bytes->str, bytes->len, cs, fallbacks);
        out = g_string_free(u, FALSE);
    } else if (k > 0) {
        out = g_string_free(decode_words(bytes->str, bytes->len, fallbacks), FALSE);
    }
    g_string_free(bytes, TRUE);
    g_free(cs);
    return out;
}

/* Skip leading dots and spaces, collapse spaces, trim trailing dots and spaces. */
static GString *name_tidy(const char *s)
{
    GString *out = g_string_new(NULL);

    while (*s == '.' || *s == ' ')
        s++;
    for (; *s; s++) {
        if (*s == ' ' && out->len > 0 && out->str[out->len - 1] == ' ')
            continue;
        g_string_append_c(out, *s);
    }
    while (out->len > 0 && (out->str[out->len - 1] == ' ' || out->str[out->len - 1] == '.'))
        g_string_truncate(out, out->len - 1);
    return out;
}

/* Cut s to HDR_MAX_NAME bytes on a character boundary, keeping a short extension. */
static void name_truncate(GString *s)
{
    if (s->len <= HDR_MAX_NAME)
        return;
    const char *dot = strrchr(s->str, '.');
    size_t ext = 0;
    if (dot && dot > s->str && (size_t)(s->str + s->len - dot) <= HDR_MAX_EXT)
        ext = (size_t)(s->str + s->len - dot);
    size_t keep = HDR_MAX_NAME - ext;
    while (keep > 0 && ((unsigned char)s->str[keep] & 0xC0) == 0x80)
        keep--;
    g_string_erase(s, (gssize)keep, (gssize)(s->len - keep - ext));
}

/* Make a decoded name safe: last path component, no controls, tidy, bounded. NULL when
 * nothing is left; caller g_free()s. */
static char *safe_name(const char *u)
{
    GString *c = clean_text(u, strlen(u));
    const char *base = c->str;

    for (const char *p = c->str; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    GString *t = name_tidy(base);
    g_string_free(c, TRUE);
    name_truncate(t);
    defuse_words(t); /* cutting never joins "=" and "?", but the name leaves this file */
    return t->len > 0 ? g_string_free(t, FALSE) : (g_string_free(t, TRUE), NULL);
}

/* Parameter base of one header made safe: base*, base*0..., then base. NULL when none. */
static char *header_name(const char *header, const char *base, const char *fallbacks)
{
    GString *s = unfold(header, strlen(header));
    GPtrArray *params = g_ptr_array_new_with_free_func(param_free);
    char *name = NULL;

    params_parse(s->str, s->len, params);
    for (int step = 0; step < 3 && !name; step++) {
        char *v = NULL;
        const hdr_param *p;
        if (step == 0)
            v = ext_value(params, base, fallbacks);
        else if (step == 1)
            v = cont_value(params, base, fallbacks);
        else if ((p = param_find(params, base)) != NULL)
            v = g_string_free(decode_words(p->value->str, p->value->len, fallbacks), FALSE);
        if (v)
            name = safe_name(v);
        g_free(v);
    }
    g_ptr_array_free(params, TRUE);
    g_string_free(s, TRUE);
    return name;
}

/* The attachment's file name, made safe, or NULL; caller g_free()s. */
char *mailhdr_filename(const char *disposition, const char *content_type, const char *fallbacks)
{
    char *name = NULL;

    if (disposition)
        name = header_name(disposition, "filename", fallbacks);
    if (!name && content_type)
        name = header_name(content_type, "name", fallbacks);
    return name;
}

/* ---- encoding ---- */

/* Bytes of s (left bytes) for the next B encoded word: all that is left when it fits in
 * one (45 bytes, 60 base64 characters), else the most at a character boundary that is a
 * multiple of three, or 0 when there is none: GMime decodes adjacent B words of one charset
 * as one base64 text, so only the last may end in padding. */
static size_t word_bytes(const char *s, size_t left)
{
    if (left <= 45)
        return left;
    for (size_t t = 45; t > 0; t -= 3)
        if (((unsigned char)s[t] & 0xC0) != 0x80)
            return t;
    return 0;
}

/* Append the character at s as a Q encoded word (which realigns the B words after it).
 * Returns its length in bytes. */
static size_t q_word(GString *out, const char *s, const char *lead)
{
    size_t n = (size_t)(g_utf8_next_char(s) - s);

    g_string_append_printf(out, "%s=?UTF-8?Q?", lead);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (g_ascii_isalnum(c))
            g_string_append_c(out, (char)c);
        else if (c == ' ')
            g_string_append_c(out, '_');
        else
            g_string_append_printf(out, "=%02X", c);
    }
    g_string_append(out, "?=");
    return n;
}

/* See san_int.h. */
void mailhdr_encode_words(GString *out, const char *value)
{
    size_t len = strlen(value), pos = 0;

    while (pos < len) {
        const char *lead = pos ? "\r\n " : " ";
        size_t take = word_bytes(value + pos, len - pos);
        gchar *b64;
        if (take == 0) {
            pos += q_word(out, value + pos, lead);
            continue;
        }
        b64 = g_base64_encode((const guchar *)value + pos, take);
        g_string_append_printf(out, "%s=?UTF-8?B?%s?=", lead, b64);
        g_free(b64);
        pos += take;
    }
}
