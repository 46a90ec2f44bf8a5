/*
 * common/uchar.c - the one filter for text a reader sees as a name or a
 * header: file names, archive member names, decoded header values and the
 * names and reasons in the sanitization notice.
 *
 * Used by trusted processes on untrusted text. It only computes. What it
 * drops is invisible or reorders what is around it, so a name such as
 * "invoice\u202Etxt.exe" cannot show as "invoiceexe.txt": it must never let
 * such a character through, and never return invalid UTF-8.
 */
#include <string.h>
#include <sys/types.h>

#include <glib.h>

#include "mg.h"

/* Non-zero for U+FDD0..U+FDEF and the last two code points of every plane. */
static int is_noncharacter(uint32_t c)
{
    return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

/* Format characters that are still dropped when GLib's tables predate them. */
static int is_format_listed(uint32_t c)
{
    return c == 0x061C || c == 0x200B || c == 0x200E || c == 0x200F ||
           (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF ||
           (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE0000 && c <= 0xE007F);
}

int mg_uchar_unsafe(uint32_t c)
{
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) || is_noncharacter(c) || is_format_listed(c))
        return 1;
    /* ZWNJ and ZWJ shape Persian, Indic scripts and emoji; they reorder nothing. */
    if (c == 0x200C || c == 0x200D)
        return 0;
    switch (g_unichar_type(c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_SURROGATE:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
        return 1;
    default:
        return 0;
    }
}

GString *mg_utf8_filter(const char *s, size_t n, int blanks)
{
    GString *out = g_string_sized_new(n + 1);

    for (size_t i = 0; i < n;) {
        gunichar c = g_utf8_get_char_validated(s + i, (gssize)(n - i));
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            g_string_append(out, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        if (blanks && (c == '\t' || c == '\r' || c == '\n'))
            g_string_append_c(out, ' ');
        else if (!mg_uchar_unsafe(c))
            g_string_append_unichar(out, c);
        i = (size_t)(g_utf8_next_char(s + i) - s);
    }
    return out;
}

char *mg_utf8_safe(const char *s, ssize_t len)
{
    return g_string_free(mg_utf8_filter(s, len < 0 ? strlen(s) : (size_t)len, 0), FALSE);
}
