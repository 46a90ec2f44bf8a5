/*
 * fuzz/fuzz_charset.c - libFuzzer harness of charset detection and conversion
 * to UTF-8 as the trusted worker runs it: rnd_text_to_utf8 (render/text.c),
 * the label table (common/charset.c), the worker's gate in front of iconv
 * (sanitize/charset.c, linked in as in every program of the engine) and the
 * display filter mg_utf8_filter (common/uchar.c).
 *
 * Input: the charset label, then the text. A first byte below 0x20 picks a
 * label from a table (bits 0-3; index 0 is no label) and a fallback list
 * (bit 4); otherwise the first line, up to 64 bytes, is the label as a sender
 * wrote it and the default fallback list is used (no line break there: no
 * label, all of it is text). Checked: the decoded text is valid UTF-8; the
 * filter's output is valid UTF-8 without the characters mg_uchar_unsafe names
 * (nor TAB, CR, LF when they become blanks); a label the gate lets through to
 * iconv is one the allow-list holds; a cleaned label holds only the
 * characters mg_charset_label_clean allows.
 */
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "rnd.h"
#include "san_int.h"

#define FUZZ_MAX_LABEL 64
/* The configured [render] charsets: the built-in ones and three extras. */
#define FUZZ_CONFIGURED "UTF-8,CP932,EUC-JP,ISO-2022-JP,UTF-16LE,KOI8-R,GB18030"

/* The labels a first byte below 0x20 picks (bits 0-3); NULL: no label. */
static const char *const labels[16] = {NULL,       "UTF-8",     "Shift_JIS",     "ISO-2022-JP",
                                       "EUC-JP",   "US-ASCII",  "ISO-8859-1",    "windows-1252",
                                       "CP932",    "EUC-JP-MS", "ISO-2022-JP-2", "ISO-2022-JP-3",
                                       "UTF-16LE", "KOI8-R",    "GB18030",       "x-unknown"};

/* The fallback lists bit 4 of that byte picks; text with a label as written gets the first. */
static const char *const fallback_lists[2] = {
    "UTF-8,CP932,EUC-JP,ISO-2022-JP", "ISO-2022-JP,EUC-JP,CP932,UTF-16LE,KOI8-R,ISO-8859-1"};

/* Report a broken promise and stop, so that the fuzzer keeps the input. */
static void fail(const char *what, const char *why, const char *s) __attribute__((noreturn));
static void fail(const char *what, const char *why, const char *s)
{
    fprintf(stderr, "fuzz_charset: %s: %s: \"%s\"\n", what, why, s ? s : "(null)");
    abort();
}

/* Check the display filter's output: valid UTF-8, nothing unsafe, no blanks when replaced. */
static void check_filtered(const GString *s, int blanks)
{
    if (!g_utf8_validate(s->str, (gssize)s->len, NULL))
        fail("mg_utf8_filter", "invalid UTF-8 or a NUL", s->str);
    for (const char *p = s->str; p < s->str + s->len; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (mg_uchar_unsafe(c) || (blanks && (c == '\t' || c == '\r' || c == '\n')))
            fail("mg_utf8_filter", "an unsafe character survived", s->str);
    }
}

/* Run the filter both ways on n bytes of s. */
static void filter(const char *s, size_t n)
{
    for (int blanks = 0; blanks < 2; blanks++) {
        GString *f = mg_utf8_filter(s, n, blanks);
        check_filtered(f, blanks);
        g_string_free(f, TRUE);
    }
}

/* Open iconv through the gate both ways; what opens must be on the allow-list. */
static void gate(const char *label, const char *suffix)
{
    char *name = g_strconcat(label, suffix, NULL);
    char *base = g_strndup(label, strcspn(label, "/"));
    iconv_t from = iconv_open("UTF-8", name);
    iconv_t to = iconv_open(name, "UTF-8");

    if ((from != (iconv_t)-1 || to != (iconv_t)-1) && !charset_allowed(base))
        fail("iconv_open", "a charset outside the allow-list was opened", name);
    if (from != (iconv_t)-1)
        iconv_close(from);
    if (to != (iconv_t)-1)
        iconv_close(to);
    g_free(base);
    g_free(name);
}

/* Check the label helpers of common/charset.c on label. */
static void label_helpers(const char *label)
{
    static const char *const canonical[] = {
        "UTF-8",  "US-ASCII",  "ISO-8859-1",  "CP1252",        "CP932",
        "EUC-JP", "EUC-JP-MS", "ISO-2022-JP", "ISO-2022-JP-2", "ISO-2022-JP-3"};
    const char *canon = mg_charset_canonical(label);
    char buf[12];
    int known = canon == NULL;

    for (size_t i = 0; canon && i < G_N_ELEMENTS(canonical); i++)
        known |= strcmp(canon, canonical[i]) == 0;
    if (!known)
        fail("mg_charset_canonical", "not a canonical name", canon);
    if (canon && !charset_allowed(label))
        fail("charset_allowed", "a built-in label is refused", label);
    if (mg_charset_label_clean(label, buf, sizeof buf) == 0 &&
        (buf[0] == '\0' || strlen(buf) >= sizeof buf ||
         strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:()") !=
             strlen(buf)))
        fail("mg_charset_label_clean", "bad cleaned label", buf);
}

/* Once per process: logging off below fatal, the configured charsets published. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_log_init("fuzz_charset", 0, MG_LOG_FATAL);
    charset_allow_config(FUZZ_CONFIGURED);
    return 0;
}

/* One label and text: decoded, filtered, the label through the helpers and the gate. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *fallbacks = fallback_lists[0];
    char *label = NULL;
    size_t off = 0;

    if (size > 0 && data[0] < 0x20) {
        label = labels[data[0] & 0x0F] ? g_strdup(labels[data[0] & 0x0F]) : NULL;
        fallbacks = fallback_lists[(data[0] >> 4) & 1];
        off = 1;
    } else {
        const uint8_t *nl = memchr(data, '\n', MIN(size, (size_t)FUZZ_MAX_LABEL + 1));
        if (nl) {
            label = g_strndup((const char *)data, (gsize)(nl - data));
            off = (size_t)(nl - data) + 1;
        }
    }
    const char *text = (const char *)data + off;
    size_t len = size - off;
    const char *used = NULL;

    char *u = rnd_text_to_utf8(text, len, label, fallbacks, &used);
    if (u && (!used || !g_utf8_validate(u, -1, NULL)))
        fail("rnd_text_to_utf8", "invalid UTF-8 or no charset named", u);
    if (u)
        filter(u, strlen(u));
    g_free(u);
    filter(text, len);
    if (label) {
        label_helpers(label);
        gate(label, "");
        gate(label, "//TRANSLIT");
    }
    g_free(label);
    return 0;
}
