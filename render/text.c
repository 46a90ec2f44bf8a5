/*
 * render/text.c - decode text of unknown or mislabelled (mostly Japanese)
 * charset to UTF-8, and neutralize formula injection in CSV.
 *
 * Runs inside mugai-render, in the render jail, on untrusted bytes, and in
 * the trusted worker for mail headers and plain-text bodies. It only
 * computes: it must never read past the given length, never return text
 * containing NUL, and never open files once the jail's seccomp filter is in
 * place (iconv descriptors are cached, so one warm-up call before the filter
 * loads every gconv module it needs). Single-threaded by design: the iconv
 * cache is not locked. Labels are mapped to canonical names first
 * (mg_charset_canonical); UTF-8, ISO-2022-JP and UTF-16 are decoded here
 * without iconv. Any other label reaches iconv_open as it is, which in the
 * jail converts it and in the worker is refused (sanitize/charset.c).
 *
 * Decision order: byte-order mark, then the label if the bytes decode cleanly
 * under it, then ISO-2022-JP escapes, then valid UTF-8, then every fallback
 * charset that decodes cleanly, the best by a plausibility score. Only when
 * every candidate fails is U+FFFD substituted, again picking the best score.
 *
 * Lying labels: a label is believed when the bytes decode cleanly under it,
 * except when the bytes are also valid UTF-8 containing non-ASCII characters
 * and UTF-8 scores better (mislabelled UTF-8 is common; valid multi-byte
 * UTF-8 is rarely an accident). "ISO-8859-1" on UTF-8 Japanese yields UTF-8.
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "rnd.h"

#define TEXT_DEFAULT_FALLBACKS "UTF-8,CP932,EUC-JP,ISO-2022-JP"
#define TEXT_MAX_CANDIDATES 16
#define TEXT_MAX_LABEL 40
#define TEXT_ICONV_CACHE 8
#define TEXT_REPLACEMENT "\xEF\xBF\xBD"

typedef enum { DEC_STRICT, DEC_LENIENT } dec_mode;

typedef enum { CS_UTF8, CS_ISO2022JP, CS_ICONV } cs_kind;

/* A resolved charset: how to decode and the static name to report. */
typedef struct {
    cs_kind kind;
    const char *name;
} charset;

static struct {
    const char *name;
    iconv_t cd;
} cd_cache[TEXT_ICONV_CACHE];
static unsigned cd_next;

/* Return a cached iconv descriptor from name to UTF-8, or (iconv_t)-1. */
static iconv_t cd_get(const char *name)
{
    for (size_t i = 0; i < TEXT_ICONV_CACHE; i++)
        if (cd_cache[i].name && strcmp(cd_cache[i].name, name) == 0)
            return cd_cache[i].cd;
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1)
        return cd;
    unsigned slot = cd_next++ % TEXT_ICONV_CACHE;
    if (cd_cache[slot].name)
        iconv_close(cd_cache[slot].cd);
    cd_cache[slot].name = g_intern_string(name);
    cd_cache[slot].cd = cd;
    return cd;
}

/* The EUC-JP flavour to use: EUC-JP-MS (Windows extensions) when available. */
static const char *euc_name(void)
{
    return cd_get("EUC-JP-MS") != (iconv_t)-1 ? "EUC-JP-MS" : "EUC-JP";
}

/* The decoder for a canonical charset name (see mg_charset_canonical). */
static void charset_of_name(const char *name, charset *out)
{
    out->name = name;
    if (strcmp(name, "UTF-8") == 0 || strcmp(name, "US-ASCII") == 0) {
        out->kind = CS_UTF8;
        out->name = "UTF-8";
    } else if (strncmp(name, "ISO-2022-JP", 11) == 0) {
        out->kind = CS_ISO2022JP;
        out->name = "ISO-2022-JP";
    } else {
        out->kind = CS_ICONV;
        if (strncmp(name, "EUC-JP", 6) == 0)
            out->name = euc_name();
    }
}

/* Resolve a charset label to a decoder; -1 when unknown. A label outside the canonical
 * list reaches iconv only here, in the jail: the worker's iconv_open refuses it. Only a name
 * iconv opened is interned (for good): a refused one, which a sender may vary without end,
 * is not kept. */
static int charset_resolve(const char *label, charset *out)
{
    const char *name = mg_charset_canonical(label);

    if (name) {
        charset_of_name(name, out);
        return 0;
    }
    char buf[TEXT_MAX_LABEL + 1];
    if (!label || mg_charset_label_clean(label, buf, sizeof buf) < 0)
        return -1;
    char *up = g_ascii_strup(buf, -1);
    int ok = cd_get(up) != (iconv_t)-1;
    out->kind = CS_ICONV;
    out->name = ok ? g_intern_string(up) : NULL;
    g_free(up);
    return ok ? 0 : -1;
}

/* Remove NUL bytes (U+0000 in UTF-8) in place. */
static void strip_nul(GString *s)
{
    size_t w = 0;

    for (size_t r = 0; r < s->len; r++)
        if (s->str[r] != '\0')
            s->str[w++] = s->str[r];
    g_string_truncate(s, w);
}

/* Non-zero when every byte is 7-bit. */
static int is_ascii(const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)d[i] >= 0x80)
            return 0;
    return 1;
}

/* UTF-8 input: NULs dropped; strict fails on any invalid sequence. */
static GString *dec_utf8(const char *d, size_t n, dec_mode mode)
{
    GString *s = g_string_sized_new(n + 1);

    g_string_append_len(s, d, (gssize)n);
    strip_nul(s);
    if (g_utf8_validate_len(s->str, s->len, NULL))
        return s;
    if (mode == DEC_STRICT) {
        g_string_free(s, TRUE);
        return NULL;
    }
    gchar *fixed = g_utf8_make_valid(s->str, (gssize)s->len);
    g_string_assign(s, fixed);
    g_free(fixed);
    return s;
}

/* Bytes per code unit to skip after an invalid sequence. */
static size_t unit_size(const char *cs)
{
    if (g_ascii_strncasecmp(cs, "UTF-32", 6) == 0)
        return 4;
    if (g_ascii_strncasecmp(cs, "UTF-16", 6) == 0 || g_ascii_strncasecmp(cs, "UCS-2", 5) == 0)
        return 2;
    return 1;
}

/* Run iconv over the input; lenient mode writes U+FFFD for what does not decode. */
static GString *dec_iconv(const char *cs, const char *d, size_t n, dec_mode mode)
{
    iconv_t cd = cd_get(cs);
    char buf[4096];

    if (cd == (iconv_t)-1)
        return NULL;
    iconv(cd, NULL, NULL, NULL, NULL);
    GString *out = g_string_sized_new(n + n / 2 + 1);
    char *in = (char *)d;
    size_t inleft = n;
    while (inleft > 0) {
        char *o = buf;
        size_t oleft = sizeof buf;
        size_t r = iconv(cd, &in, &inleft, &o, &oleft);
        int err = errno;
        g_string_append_len(out, buf, o - buf);
        if (r != (size_t)-1 || err == E2BIG)
            continue;
        if (mode == DEC_STRICT) {
            g_string_free(out, TRUE);
            return NULL;
        }
        g_string_append(out, TEXT_REPLACEMENT);
        if (err == EINVAL)
            break;
        size_t skip = MIN(unit_size(cs), inleft);
        in += skip;
        inleft -= skip;
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    char *o = buf;
    size_t oleft = sizeof buf;
    if (iconv(cd, NULL, NULL, &o, &oleft) != (size_t)-1)
        g_string_append_len(out, buf, o - buf);
    strip_nul(out);
    return out;
}

/* ISO-2022-JP designations this decoder understands. */
typedef enum { J_ASCII, J_ROMAN, J_KANA, J_X0208, J_X0212 } jis_set;

/* ISO-2022-JP decoder state: bytes pending for one iconv charset. */
typedef struct {
    GString *out;
    GString *seg;
    const char *seg_cs;
    dec_mode mode;
    int bad;
} j2022;

/* Decode the pending segment into the output. */
static void j_flush(j2022 *j)
{
    if (j->seg->len == 0)
        return;
    GString *u = dec_iconv(j->seg_cs, j->seg->str, j->seg->len, j->mode);
    if (!u) {
        j->bad = 1;
    } else {
        g_string_append_len(j->out, u->str, (gssize)u->len);
        g_string_free(u, TRUE);
    }
    g_string_truncate(j->seg, 0);
}

/* Queue bytes in charset cs, flushing when the charset changes. */
static void j_bytes(j2022 *j, const char *cs, const char *b, size_t n)
{
    if (j->seg_cs != cs)
        j_flush(j);
    j->seg_cs = cs;
    g_string_append_len(j->seg, b, (gssize)n);
}

/* Append UTF-8 directly, after what is pending. */
static void j_utf8(j2022 *j, const char *s)
{
    j_flush(j);
    g_string_append(j->out, s);
}

/* An invalid sequence: fail in strict mode, U+FFFD otherwise. */
static void j_invalid(j2022 *j)
{
    if (j->mode == DEC_STRICT)
        j->bad = 1;
    else
        j_utf8(j, TEXT_REPLACEMENT);
}

/* Parse an escape sequence at d (d[0] is ESC); bytes consumed, 0 if unknown. */
static size_t j_escape(const char *d, size_t n, jis_set *set)
{
    static const struct {
        const char *seq;
        int set; /* -1: announcer only, no change */
    } esc[] = {
        {"(B", J_ASCII},  {"(J", J_ROMAN},  {"(H", J_ROMAN},  {"(I", J_KANA},
        {"$@", J_X0208},  {"$B", J_X0208},  {"$(B", J_X0208}, {"$(O", J_X0208},
        {"$(Q", J_X0208}, {"$(D", J_X0212}, {"&@", -1},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(esc); i++) {
        size_t k = strlen(esc[i].seq);
        if (n < k + 1 || memcmp(d + 1, esc[i].seq, k) != 0)
            continue;
        if (esc[i].set >= 0)
            *set = (jis_set)esc[i].set;
        return k + 1;
    }
    return 0;
}

/* Map a JIS X 0208 row/cell pair to its Shift_JIS (CP932) double byte. */
static void jis_to_sjis(unsigned char j1, unsigned char j2, char out[2])
{
    unsigned s1 = ((j1 + 1u) >> 1) + (j1 <= 0x5E ? 0x70u : 0xB0u);
    unsigned s2;

    if (j1 & 1)
        s2 = j2 + (j2 < 0x60 ? 0x1Fu : 0x20u);
    else
        s2 = j2 + 0x7Eu;
    out[0] = (char)s1;
    out[1] = (char)s2;
}

/* Decode one graphic character at d[0] in the current set; bytes used. */
static size_t j_char(j2022 *j, jis_set set, const unsigned char *d, size_t n)
{
    const char *cp932 = "CP932";
    char b[3];

    if (set == J_KANA) {
        b[0] = (char)(d[0] + 0x80);
        if (d[0] <= 0x5F)
            j_bytes(j, cp932, b, 1);
        else
            j_invalid(j);
        return 1;
    }
    if (set == J_ASCII || set == J_ROMAN) {
        if (set == J_ROMAN && (d[0] == 0x5C || d[0] == 0x7E))
            j_utf8(j, d[0] == 0x5C ? "\xC2\xA5" : "\xE2\x80\xBE");
        else
            j_bytes(j, cp932, (const char *)d, 1);
        return 1;
    }
    if (n < 2 || d[1] < 0x21 || d[1] > 0x7E) {
        j_invalid(j);
        return 1;
    }
    if (set == J_X0208) {
        jis_to_sjis(d[0], d[1], b);
        j_bytes(j, cp932, b, 2);
    } else {
        b[0] = (char)0x8F;
        b[1] = (char)(d[0] | 0x80);
        b[2] = (char)(d[1] | 0x80);
        j_bytes(j, euc_name(), b, 3);
    }
    return 2;
}

/* Decode one step of ISO-2022-JP at d; bytes consumed. */
static size_t j_step(j2022 *j, jis_set *set, int *shifted, const unsigned char *d, size_t n)
{
    if (d[0] == 0x1B) {
        size_t k = j_escape((const char *)d, n, set);
        if (k == 0)
            j_invalid(j);
        if (k > 0)
            *shifted = 0;
        return k > 0 ? k : 1;
    }
    if (d[0] == 0x0E || d[0] == 0x0F) {
        *shifted = d[0] == 0x0E;
        return 1;
    }
    if (d[0] < 0x21 || d[0] == 0x7F) {
        j_bytes(j, "CP932", (const char *)d, 1);
        return 1;
    }
    if (d[0] >= 0x80) {
        /* 8-bit half-width kana (JIS8) is tolerated only when repairing. */
        if (j->mode == DEC_LENIENT && d[0] >= 0xA1 && d[0] <= 0xDF)
            j_bytes(j, "CP932", (const char *)d, 1);
        else
            j_invalid(j);
        return 1;
    }
    return j_char(j, *shifted ? J_KANA : *set, d, n);
}

/* ISO-2022-JP through CP932 so NEC row 13 and IBM extensions decode. */
static GString *dec_2022(const char *d, size_t n, dec_mode mode)
{
    j2022 j = {g_string_sized_new(n + 1), g_string_new(NULL), NULL, mode, 0};
    const unsigned char *p = (const unsigned char *)d;
    jis_set set = J_ASCII;
    int shifted = 0;
    size_t i = 0;

    while (i < n && !j.bad)
        i += j_step(&j, &set, &shifted, p + i, n - i);
    j_flush(&j);
    g_string_free(j.seg, TRUE);
    if (j.bad) {
        g_string_free(j.out, TRUE);
        return NULL;
    }
    strip_nul(j.out);
    return j.out;
}

/* Decode with one charset. */
static GString *decode_as(const charset *cs, const char *d, size_t n, dec_mode mode)
{
    switch (cs->kind) {
    case CS_UTF8:
        return dec_utf8(d, n, mode);
    case CS_ISO2022JP:
        return dec_2022(d, n, mode);
    case CS_ICONV:
        return dec_iconv(cs->name, d, n, mode);
    }
    return NULL;
}

/* Plausibility of one character in Japanese or Western text. */
static int score_char(gunichar c)
{
    if (c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c < 0x7F))
        return 2;
    if (c >= 0x3041 && c <= 0x30FF)
        return 4; /* hiragana, katakana */
    if ((c >= 0x3000 && c <= 0x303F) || (c >= 0x4E00 && c <= 0x9FFF))
        return 3; /* ideographic punctuation, kanji */
    if (c >= 0xFF01 && c <= 0xFF5E)
        return 2; /* full-width ASCII */
    if (c == 0xFFFD)
        return -10;
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
        return -8; /* controls */
    if (c >= 0xE000 && c <= 0xF8FF)
        return -8; /* private use */
    if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3200 && c <= 0x33FF))
        return 1; /* symbols, ①, ㈱, Ⅲ */
    if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF))
        return -1; /* rare ideographs */
    return 0;      /* half-width kana, Latin-1 and everything else */
}

/* Mean character score of valid UTF-8 text; 0 for empty text. */
static double score_text(const GString *s)
{
    long sum = 0;
    size_t count = 0;

    for (const char *p = s->str; p < s->str + s->len; p = g_utf8_next_char(p)) {
        sum += score_char(g_utf8_get_char(p));
        count++;
    }
    return count ? (double)sum / (double)count : 0.0;
}

/* The UTF-16 code unit at u (big-endian when be). */
static gunichar utf16_unit(const unsigned char *u, int be)
{
    return be ? (gunichar)u[0] << 8 | u[1] : (gunichar)u[1] << 8 | u[0];
}

/* UTF-16 to UTF-8 without iconv: NULs dropped, an unpaired surrogate or a last odd byte
 * becomes U+FFFD. */
static GString *dec_utf16(const char *d, size_t n, int be)
{
    const unsigned char *u = (const unsigned char *)d;
    GString *out = g_string_sized_new(n + n / 2 + 1);
    size_t i = 0;

    for (; i + 1 < n; i += 2) {
        gunichar c = utf16_unit(u + i, be);
        gunichar lo = i + 3 < n ? utf16_unit(u + i + 2, be) : 0;
        if (c >= 0xD800 && c <= 0xDBFF && lo >= 0xDC00 && lo <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
            i += 2;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD;
        }
        if (c != 0)
            g_string_append_unichar(out, c);
    }
    if (i < n)
        g_string_append(out, TEXT_REPLACEMENT);
    return out;
}

/* A leading byte-order mark decides the charset. */
static GString *decode_bom(const char *d, size_t n, const char **used)
{
    const unsigned char *u = (const unsigned char *)d;

    if (n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        *used = "UTF-8";
        return dec_utf8(d + 3, n - 3, DEC_LENIENT);
    }
    if (n >= 2 && u[0] == 0xFF && u[1] == 0xFE) {
        *used = "UTF-16LE";
        return dec_utf16(d + 2, n - 2, 0);
    }
    if (n >= 2 && u[0] == 0xFE && u[1] == 0xFF) {
        *used = "UTF-16BE";
        return dec_utf16(d + 2, n - 2, 1);
    }
    return NULL;
}

/* The name to report for UTF-8 decoding: US-ASCII when every byte is 7-bit. */
static const char *utf8_name(const char *d, size_t n)
{
    return is_ascii(d, n) ? "US-ASCII" : "UTF-8";
}

/* The label's charset when the bytes decode cleanly and UTF-8 is not more plausible. */
static GString *decode_label(const char *d, size_t n, const char *label, const char **used)
{
    charset cs;

    if (charset_resolve(label, &cs) < 0)
        return NULL;
    GString *s = decode_as(&cs, d, n, DEC_STRICT);
    if (!s)
        return NULL;
    *used = cs.kind == CS_UTF8 ? utf8_name(d, n) : cs.name;
    if (cs.kind == CS_UTF8 || is_ascii(d, n))
        return s;
    GString *u = dec_utf8(d, n, DEC_STRICT);
    if (u && score_text(u) > score_text(s)) {
        g_string_free(s, TRUE);
        *used = "UTF-8";
        return u;
    }
    if (u)
        g_string_free(u, TRUE);
    return s;
}

/* Non-zero when the data carries an ISO-2022-JP designation escape. */
static int has_2022_escape(const char *d, size_t n)
{
    static const char *const seqs[] = {"\x1B$B", "\x1B$@", "\x1B(B", "\x1B(J", "\x1B(I"};

    for (const char *p = memchr(d, 0x1B, n); p; p = memchr(p + 1, 0x1B, n - (size_t)(p - d) - 1))
        for (size_t i = 0; i < G_N_ELEMENTS(seqs); i++)
            if ((size_t)(d + n - p) >= 3 && memcmp(p, seqs[i], 3) == 0)
                return 1;
    return 0;
}

/* Try every fallback charset; keep the decoding with the best score. */
static GString *decode_fallbacks(const char *d, size_t n, const char *fallbacks, dec_mode mode,
                                 const char **used)
{
    const char *list = fallbacks && *fallbacks ? fallbacks : TEXT_DEFAULT_FALLBACKS;
    gchar **names = g_strsplit(list, ",", TEXT_MAX_CANDIDATES + 1);
    GString *best = NULL;
    double best_score = 0.0;

    for (size_t i = 0; names[i] && i < TEXT_MAX_CANDIDATES; i++) {
        charset cs;
        if (charset_resolve(names[i], &cs) < 0)
            continue;
        GString *s = decode_as(&cs, d, n, mode);
        if (!s)
            continue;
        double sc = score_text(s);
        if (best && sc <= best_score) {
            g_string_free(s, TRUE);
            continue;
        }
        if (best)
            g_string_free(best, TRUE);
        best = s;
        best_score = sc;
        *used = cs.kind == CS_UTF8 ? utf8_name(d, n) : cs.name;
    }
    g_strfreev(names);
    return best;
}

/* Valid UTF-8 cut short inside its last character: decoded with U+FFFD, or NULL. */
static GString *dec_utf8_cut(const char *d, size_t n)
{
    size_t k = n;

    while (k > 0 && n - k < 4 && ((unsigned char)d[k - 1] & 0xC0) == 0x80)
        k--;
    if (k == 0 || (unsigned char)d[k - 1] < 0xC2 || (unsigned char)d[k - 1] > 0xF4)
        return NULL;
    unsigned char lead = (unsigned char)d[k - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (n - (k - 1) >= need)
        return NULL;
    GString *s = dec_utf8(d, k - 1, DEC_STRICT);
    if (s)
        g_string_append(s, TEXT_REPLACEMENT);
    return s;
}

/* Detection without a usable label: escapes, UTF-8, then the fallbacks. */
static GString *decode_detect(const char *d, size_t n, const char *fallbacks, const char **used)
{
    GString *s;

    if (has_2022_escape(d, n)) {
        /* Seven-bit data with designations is ISO-2022-JP even when damaged. */
        s = dec_2022(d, n, DEC_STRICT);
        if (!s && is_ascii(d, n))
            s = dec_2022(d, n, DEC_LENIENT);
        if (s) {
            *used = "ISO-2022-JP";
            return s;
        }
    }
    if ((s = dec_utf8(d, n, DEC_STRICT)) != NULL) {
        *used = utf8_name(d, n);
        return s;
    }
    /* Mail cut at a size limit often ends inside a character. */
    if ((s = dec_utf8_cut(d, n)) != NULL) {
        *used = "UTF-8";
        return s;
    }
    if ((s = decode_fallbacks(d, n, fallbacks, DEC_STRICT, used)) != NULL)
        return s;
    if (has_2022_escape(d, n) && (s = dec_2022(d, n, DEC_LENIENT)) != NULL) {
        *used = "ISO-2022-JP";
        return s;
    }
    if ((s = decode_fallbacks(d, n, fallbacks, DEC_LENIENT, used)) != NULL)
        return s;
    *used = "UTF-8";
    return dec_utf8(d, n, DEC_LENIENT);
}

/* Decode text to UTF-8; caller g_free()s the result, *used is a static name. */
char *rnd_text_to_utf8(const char *data, size_t len, const char *label, const char *fallbacks,
                       const char **used)
{
    const char *name = "US-ASCII";
    GString *s;

    if ((!data && len > 0) || len > G_MAXSIZE / 4)
        return NULL;
    if (len == 0) {
        s = g_string_new(NULL);
    } else if ((s = decode_bom(data, len, &name)) == NULL &&
               (s = decode_label(data, len, label, &name)) == NULL) {
        s = decode_detect(data, len, fallbacks, &name);
    }
    if (!s) {
        mg_warn("text: no charset decodes the input (%zu bytes)", len);
        return NULL;
    }
    if (used)
        *used = name;
    return g_string_free(s, FALSE);
}

/* Neutralize formula injection; caller g_free()s. The jail is not told which delimiter
 * the file uses: the first record decides. A negative number such as -5 is prefixed too
 * ('-5): accepted, as a spreadsheet then shows it as text. */
char *rnd_csv_neutralize(const char *utf8, size_t len)
{
    char delim = mg_csv_guess_delimiter(utf8, len);

    return mg_csv_neutralize(utf8, len, delim, delim);
}
