/*
 * common/charset.c - the character sets mugai converts mail text with on the
 * trusted side, and the labels senders use for them.
 *
 * A charset label comes from the sender (Content-Type, encoded words,
 * RFC 2231 parameters) and would pick any of glibc's gconv modules, some with
 * a history of memory bugs. Outside the jail only the charsets named here are
 * converted: UTF-8, US-ASCII, ISO-8859-1, Windows-1252, Shift_JIS as CP932,
 * EUC-JP and ISO-2022-JP with their variants. Every label is mapped to one
 * canonical name before iconv sees it, so the name glibc resolves is always
 * one of these. Pure computation on short strings; used by the jail too, which
 * may convert other charsets as well.
 */
#include <string.h>

#include <glib.h>

#include "mg.h"

#define CHARSET_MAX_LABEL 40

/* Labels (compared without case) and the canonical name each one stands for. */
static const struct {
    const char *label;
    const char *name;
} charset_labels[] = {
    {"utf-8", "UTF-8"},
    {"utf8", "UTF-8"},
    {"unicode-1-1-utf-8", "UTF-8"},
    {"us-ascii", "US-ASCII"},
    {"ascii", "US-ASCII"},
    {"us", "US-ASCII"},
    {"ansi_x3.4-1968", "US-ASCII"},
    {"ansi_x3.4-1986", "US-ASCII"},
    {"iso646-us", "US-ASCII"},
    {"iso_646.irv:1991", "US-ASCII"},
    {"cp367", "US-ASCII"},
    {"ibm367", "US-ASCII"},
    {"csascii", "US-ASCII"},
    {"iso-8859-1", "ISO-8859-1"},
    {"iso8859-1", "ISO-8859-1"},
    {"iso_8859-1", "ISO-8859-1"},
    {"iso_8859-1:1987", "ISO-8859-1"},
    {"iso88591", "ISO-8859-1"},
    {"8859_1", "ISO-8859-1"},
    {"iso-ir-100", "ISO-8859-1"},
    {"latin1", "ISO-8859-1"},
    {"l1", "ISO-8859-1"},
    {"cp819", "ISO-8859-1"},
    {"ibm819", "ISO-8859-1"},
    {"csisolatin1", "ISO-8859-1"},
    {"windows-1252", "CP1252"},
    {"cp1252", "CP1252"},
    {"x-cp1252", "CP1252"},
    {"ms-ansi", "CP1252"},
    {"shift_jis", "CP932"},
    {"shift-jis", "CP932"},
    {"sjis", "CP932"},
    {"x-sjis", "CP932"},
    {"ms_kanji", "CP932"},
    {"csshiftjis", "CP932"},
    {"windows-31j", "CP932"},
    {"cswindows31j", "CP932"},
    {"cp932", "CP932"},
    {"ms932", "CP932"},
    {"x-ms-cp932", "CP932"},
    {"sjis-open", "CP932"},
    {"sjis-win", "CP932"},
    {"euc-jp", "EUC-JP"},
    {"eucjp", "EUC-JP"},
    {"x-euc-jp", "EUC-JP"},
    {"x-euc", "EUC-JP"},
    {"ujis", "EUC-JP"},
    {"cseucpkdfmtjapanese", "EUC-JP"},
    {"euc-jp-ms", "EUC-JP-MS"},
    {"eucjp-ms", "EUC-JP-MS"},
    {"eucjp-win", "EUC-JP-MS"},
    {"eucjp-open", "EUC-JP-MS"},
    {"iso-2022-jp", "ISO-2022-JP"},
    {"iso2022jp", "ISO-2022-JP"},
    {"csiso2022jp", "ISO-2022-JP"},
    {"cp50220", "ISO-2022-JP"},
    {"cp50221", "ISO-2022-JP"},
    {"cp50222", "ISO-2022-JP"},
    {"iso-2022-jp-1", "ISO-2022-JP-2"},
    {"iso-2022-jp-2", "ISO-2022-JP-2"},
    {"iso2022jp2", "ISO-2022-JP-2"},
    {"csiso2022jp2", "ISO-2022-JP-2"},
    {"iso-2022-jp-3", "ISO-2022-JP-3"},
};

int mg_charset_label_clean(const char *label, char *buf, size_t size)
{
    size_t n = 0;

    for (const char *p = label; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '"' || *p == '\'')
            continue;
        if (!g_ascii_isalnum(*p) && !strchr("-_.:()", *p))
            return -1;
        if (n + 1 >= size)
            return -1;
        buf[n++] = *p;
    }
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* Look the cleaned label up in the table. */
const char *mg_charset_canonical(const char *label)
{
    char buf[CHARSET_MAX_LABEL + 1];

    if (!label || mg_charset_label_clean(label, buf, sizeof buf) < 0)
        return NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(charset_labels); i++)
        if (g_ascii_strcasecmp(buf, charset_labels[i].label) == 0)
            return charset_labels[i].name;
    return NULL;
}
