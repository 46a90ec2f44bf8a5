/*
 * fuzz/fuzz_mailhdr.c - libFuzzer harness of the header decoding of the mail
 * engine (sanitize/mailhdr.c and the charset code under it): one header field
 * of a sender's message in, the text the LGWAN side would see out.
 *
 * Input: a header field as it stands in a message, "Name: value" (the name is
 * what comes before the first colon when that is a plausible field name;
 * otherwise the whole input is a Subject value). The value goes through
 * every entry point the engine uses on headers: mailhdr_decode (Subject,
 * From, quoted and re-encoded headers), mailhdr_clean on the display names
 * GMime parses out of an address header, and mailhdr_filename with the value
 * as Content-Disposition and as Content-Type (filename, filename*, RFC 2231
 * continuations, name). The promises of mailhdr.h are checked on each result:
 * valid UTF-8 without the characters mg_uchar_unsafe names and without an
 * encoded-word opener "=?"; file names also without a path, within 200 bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <gmime/gmime.h>

#include "mg.h"
#include "san_int.h"

#define FUZZ_FALLBACKS "UTF-8,CP932,EUC-JP,ISO-2022-JP"
#define FUZZ_MAX_FIELD 76  /* longest field name taken from the input */
#define FUZZ_MAX_NAME 200u /* mailhdr_filename's bound, bytes of UTF-8 */

/* Report a broken promise and stop, so that the fuzzer keeps the input. */
static void fail(const char *what, const char *why, const char *s) __attribute__((noreturn));
static void fail(const char *what, const char *why, const char *s)
{
    fprintf(stderr, "fuzz_mailhdr: %s: %s: \"%s\"\n", what, why, s);
    abort();
}

/* Check text made for display: valid UTF-8, nothing unsafe, no encoded-word opener. */
static void check_text(const char *what, const char *s)
{
    if (!g_utf8_validate(s, -1, NULL))
        fail(what, "invalid UTF-8", s);
    if (strstr(s, "=?"))
        fail(what, "an encoded-word opener survived", s);
    for (const char *p = s; *p; p = g_utf8_next_char(p))
        if (mg_uchar_unsafe(g_utf8_get_char(p)))
            fail(what, "an unsafe character survived", s);
}

/* Check a decoded header value: as check_text, and trimmed. */
static void check_value(const char *what, const char *s)
{
    size_t n = strlen(s);

    check_text(what, s);
    if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
        fail(what, "not trimmed", s);
}

/* Check a file name (NULL: none found): as check_text, bounded, one path component. */
static void check_name(const char *what, const char *s)
{
    if (!s)
        return;
    check_text(what, s);
    if (s[0] == '\0' || strlen(s) > FUZZ_MAX_NAME)
        fail(what, "empty or over-long", s);
    if (strchr(s, '/') || strchr(s, '\\'))
        fail(what, "holds a path", s);
    if (s[0] == '.' || s[0] == ' ')
        fail(what, "starts with a dot or a space", s);
}

/* Length of the field name at the start of d (up to its colon), or 0 when there is none. */
static size_t field_name_len(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n && i <= FUZZ_MAX_FIELD; i++) {
        if (d[i] == ':')
            return i;
        if (d[i] <= ' ' || d[i] >= 0x7F)
            return 0;
    }
    return 0;
}

/* Non-zero for a header whose value is an address list. */
static int is_address_field(const char *name)
{
    static const char *const names[] = {"from",      "to",           "cc",          "bcc",
                                        "reply-to",  "sender",       "resent-from", "resent-to",
                                        "resent-cc", "resent-sender"};

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (g_ascii_strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* Clean every display name GMime parses out of text (group members too), as the engine does
 * before it encodes an address header again. */
static void clean_names(InternetAddressList *list, unsigned depth)
{
    int n = list && depth < 4 ? internet_address_list_length(list) : 0;

    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        const char *name = internet_address_get_name(ia);
        if (name) {
            char *c = mailhdr_clean(name);
            check_value("mailhdr_clean (display name)", c);
            g_free(c);
        }
        if (INTERNET_ADDRESS_IS_GROUP(ia))
            clean_names(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), depth + 1);
    }
}

/* The address header path: decode, parse as addresses, clean each display name. */
static void addresses(const char *decoded)
{
    InternetAddressList *list = internet_address_list_parse(NULL, decoded);

    if (!list)
        return;
    clean_names(list, 0);
    g_object_unref(list);
}

/* Once per process: logging off below fatal, GMime, the allow-list of the default fallbacks. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_log_init("fuzz_mailhdr", 0, MG_LOG_FATAL);
    g_mime_init();
    charset_allow_config(FUZZ_FALLBACKS);
    return 0;
}

/* One header field through every decoding entry point, each result checked. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nlen = field_name_len(data, size);
    char *name = nlen ? g_strndup((const char *)data, nlen) : g_strdup("Subject");
    size_t off = nlen ? nlen + 1 : 0;
    const char *raw = (const char *)data + off;
    size_t len = size - off;
    char *value = g_strndup(raw, len); /* as GMime hands it over: up to a NUL */

    char *d = mailhdr_decode(raw, len, FUZZ_FALLBACKS);
    check_value("mailhdr_decode", d);
    if (is_address_field(name))
        addresses(d);
    g_free(d);

    char *c = mailhdr_clean(value);
    check_value("mailhdr_clean", c);
    g_free(c);

    char *f = mailhdr_filename(value, NULL, FUZZ_FALLBACKS);
    check_name("mailhdr_filename (Content-Disposition)", f);
    g_free(f);
    f = mailhdr_filename(NULL, value, FUZZ_FALLBACKS);
    check_name("mailhdr_filename (Content-Type)", f);
    g_free(f);

    g_free(value);
    g_free(name);
    return 0;
}
