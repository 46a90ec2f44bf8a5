/*
 * fuzz/fuzz_html.c - libFuzzer harness of HTML to structured plain text
 * (rnd_html_to_text, render/html.c, with the charset decoding of
 * render/text.c and libxml2's HTML parser under it), as mugai-render runs it
 * in the jail on HTML bodies and attachments.
 *
 * Input: the declared charset label, then the HTML. A first byte below 0x20
 * picks a label from a table (bits 0-3; index 0 is none, so that a <meta>
 * charset is sniffed); otherwise the first line, up to 64 bytes, is the label
 * as a sender wrote it (no line break there: no label, all of it is HTML).
 * Checked, as html.c promises: the text is valid UTF-8 with no control
 * character other than newline and tab and no bidirectional override or
 * isolate, no line ends in a blank, and there is never more than one blank
 * line in a row.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "rnd.h"

#define FUZZ_MAX_LABEL 64
#define FUZZ_FALLBACKS "UTF-8,CP932,EUC-JP,ISO-2022-JP"

/* The labels a first byte below 0x20 picks (bits 0-3); NULL: none, <meta> is sniffed. */
static const char *const labels[16] = {NULL,     "UTF-8",     "Shift_JIS",  "ISO-2022-JP",
                                       "EUC-JP", "US-ASCII",  "ISO-8859-1", "windows-1252",
                                       "CP932",  "EUC-JP-MS", "UTF-16LE",   "UTF-16BE",
                                       "UTF-16", "KOI8-R",    "GB18030",    "x-unknown"};

/* Report a broken promise and stop, so that the fuzzer keeps the input. */
static void fail(const char *why, const char *s) __attribute__((noreturn));
static void fail(const char *why, const char *s)
{
    fprintf(stderr, "fuzz_html: %s: \"%s\"\n", why, s);
    abort();
}

/* Check the text against the output rules of html.c. */
static void check_text(const char *s)
{
    if (!g_utf8_validate(s, -1, NULL))
        fail("invalid UTF-8", s);
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if ((c < 0x20 && c != '\n' && c != '\t') || (c >= 0x7F && c <= 0x9F))
            fail("a control character", s);
        if ((c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069))
            fail("a bidirectional override or isolate", s);
    }
    if (strstr(s, " \n") || strstr(s, "\t\n"))
        fail("a line ends in a blank", s);
    if (strstr(s, "\n\n\n"))
        fail("more than one blank line in a row", s);
}

/* Once per process: logging off below fatal. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_log_init("fuzz_html", 0, MG_LOG_FATAL);
    return 0;
}

/* One label and page converted to text, the text checked. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *label = NULL;
    size_t off = 0;

    if (size > 0 && data[0] < 0x20) {
        label = labels[data[0] & 0x0F] ? g_strdup(labels[data[0] & 0x0F]) : NULL;
        off = 1;
    } else {
        const uint8_t *nl = memchr(data, '\n', MIN(size, (size_t)FUZZ_MAX_LABEL + 1));
        if (nl) {
            label = g_strndup((const char *)data, (gsize)(nl - data));
            off = (size_t)(nl - data) + 1;
        }
    }
    char *text = rnd_html_to_text((const char *)data + off, size - off, label, FUZZ_FALLBACKS);
    if (text)
        check_text(text);
    g_free(text);
    g_free(label);
    return 0;
}
