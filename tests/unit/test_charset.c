/*
 * tests/unit/test_charset.c - the worker converts only the charsets of the
 * allow-list: sender labels in encoded words, RFC 2231 parameters, address
 * headers and bodies (UTF-7, IBM037, UTF-16, unknown) are decoded through an
 * allowed path or fall back to valid UTF-8, and no other gconv module is ever
 * loaded into the process, which plays the sanitizer worker here.
 *
 * Runs as root in CI (the mail test starts the real mugai-render in the
 * jail); creates its inputs itself. The tests run in order in one process: the
 * last one reads /proc/self/maps for every gconv module the others loaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>
#include <gmime/gmime.h>

#include "mg.h"
#include "san.h"
#include "san_int.h"

#define FALLBACKS "UTF-8,CP932,EUC-JP,ISO-2022-JP"
/* "Hello" in EBCDIC (IBM037), base64 */
#define EBCDIC_HELLO_B64 "yIWTk5Y="
/* "日本" in UTF-16 with a big-endian byte-order mark, base64 */
#define UTF16_NIHON_B64 "/v9l5Wcs"
/* "日本語" in UTF-7 */
#define UTF7_NIHONGO "+ZeVnLIqe-"

/* One label and the canonical name it stands for (NULL: not converted in the worker). */
typedef struct canon_case {
    const char *label;
    const char *want;
} canon_case;

static const canon_case canon_cases[] = {
    {"UTF-8", "UTF-8"},
    {"utf8", "UTF-8"},
    {"US-ASCII", "US-ASCII"},
    {"ascii", "US-ASCII"},
    {"ANSI_X3.4-1968", "US-ASCII"},
    {"latin1", "ISO-8859-1"},
    {"ISO-8859-1", "ISO-8859-1"},
    {"iso_8859-1:1987", "ISO-8859-1"},
    {"windows-1252", "CP1252"},
    {"CP1252", "CP1252"},
    {"Shift_JIS", "CP932"},
    {"shift-jis", "CP932"},
    {"x-sjis", "CP932"},
    {"MS_Kanji", "CP932"},
    {"Windows-31J", "CP932"},
    {"cp932", "CP932"},
    {"\"shift_jis\"", "CP932"},
    {" SJIS ", "CP932"},
    {"EUC-JP", "EUC-JP"},
    {"eucjp", "EUC-JP"},
    {"x-euc-jp", "EUC-JP"},
    {"eucJP-ms", "EUC-JP-MS"},
    {"ISO-2022-JP", "ISO-2022-JP"},
    {"csISO2022JP", "ISO-2022-JP"},
    {"iso-2022-jp-1", "ISO-2022-JP-2"},
    {"ISO-2022-JP-2", "ISO-2022-JP-2"},
    {"iso-2022-jp-3", "ISO-2022-JP-3"},
    {"UTF-7", NULL},
    {"IBM037", NULL},
    {"UTF-16", NULL},
    {"UTF-16LE", NULL},
    {"UCS-2", NULL},
    {"ISO-8859-15", NULL},
    {"x-unknown", NULL},
    {"", NULL},
    {"../../tmp/evil", NULL},
    {"shift_jis\n", NULL},
    {"a-label-that-is-far-too-long-to-be-a-charset-name", NULL},
};

/* Every label maps to its canonical name, or to none. */
static void test_canonical_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(canon_cases); i++) {
        const canon_case *c = &canon_cases[i];
        const char *got = mg_charset_canonical(c->label);
        print_message("canonical: \"%s\" -> %s\n", c->label, got ? got : "(none)");
        if (c->want)
            assert_string_equal(got, c->want);
        else
            assert_null(got);
        assert_int_equal(charset_allowed(c->label), c->want != NULL);
    }
}

/* One iconv_open call through the worker's gate: bytes in, UTF-8 out (NULL: refused). */
typedef struct gate_case {
    const char *to;
    const char *from;
    const char *in;
    const char *want;
} gate_case;

static const gate_case gate_cases[] = {
    /* Shift_JIS labels open CP932: NEC row 13 (①) decodes, which glibc's SJIS refuses. */
    {"UTF-8", "Shift_JIS", "\x87\x40", "①"},
    {"UTF-8", "x-sjis", "\x87\x8a", "㈱"},
    {"utf8", "windows-1252", "\x80", "€"},
    {"UTF-8", "latin1", "caf\xe9", "café"},
    {"UTF-8", "eucJP", "\xc6\xfc", "日"},
    {"UTF-8", "csISO2022JP", "\x1b$BF|\x1b(B", "日"},
    {"UTF-8", "CP932//TRANSLIT", "\x82\xa0", "あ"},
    {"UTF-8", "US-ASCII", "abc", "abc"},
    {"UTF-8", "IBM037", NULL, NULL},
    {"UTF-8", "UTF-7", NULL, NULL},
    {"UTF-8", "UTF-16", NULL, NULL},
    {"UTF-8", "UTF-16LE", NULL, NULL},
    {"UTF-8", "x-unknown", NULL, NULL},
    {"UTF-8", "", NULL, NULL},
    {"UTF-8", "CP932//BOGUS", NULL, NULL},
    {"UTF-8", "../gconv/IBM037", NULL, NULL},
    {"IBM037", "UTF-8", NULL, NULL},
    {"UTF-7//TRANSLIT", "UTF-8", NULL, NULL},
};

/* Convert in through cd; the result as a new string, or NULL. */
static char *convert(iconv_t cd, const char *in)
{
    char buf[64];
    char *ip = (char *)in, *op = buf;
    size_t il = strlen(in), ol = sizeof buf - 1;

    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1)
        return NULL;
    *op = '\0';
    return g_strdup(buf);
}

/* Every iconv_open in the process goes through the allow-list, with canonical names. */
static void test_iconv_gate(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(gate_cases); i++) {
        const gate_case *c = &gate_cases[i];
        print_message("iconv_open(\"%s\", \"%s\")\n", c->to, c->from);
        errno = 0;
        iconv_t cd = iconv_open(c->to, c->from);
        if (!c->want) {
            assert_true(cd == (iconv_t)-1);
            assert_int_equal(errno, EINVAL);
            continue;
        }
        assert_true(cd != (iconv_t)-1);
        char *got = convert(cd, c->in);
        assert_non_null(got);
        assert_string_equal(got, c->want);
        g_free(got);
        iconv_close(cd);
    }
}

/* The configured [render] charsets are allowed too, and only while configured. */
static void test_configured_charsets(void **state)
{
    (void)state;
    assert_false(charset_allowed("ISO-8859-15"));
    charset_allow_config("UTF-8, CP932,ISO-8859-15,EUC-JP,bad label,ISO-2022-JP");
    assert_true(charset_allowed("ISO-8859-15"));
    assert_true(charset_allowed("iso-8859-15"));
    assert_false(charset_allowed("bad label"));
    assert_false(charset_allowed("IBM037"));
    iconv_t cd = iconv_open("UTF-8", "iso-8859-15");
    assert_true(cd != (iconv_t)-1);
    char *got = convert(cd, "\xa4");
    assert_string_equal(got, "€");
    g_free(got);
    iconv_close(cd);
    charset_allow_config(FALLBACKS);
    assert_false(charset_allowed("ISO-8859-15"));
    assert_true(iconv_open("UTF-8", "ISO-8859-15") == (iconv_t)-1);
}

/* A header value and what the reader sees (NULL: anything, as long as it is valid UTF-8). */
typedef struct hdr_case {
    const char *name;
    const char *in;
    const char *want;
} hdr_case;

static const hdr_case hdr_cases[] = {
    {"UTF-7 word: its bytes, as ASCII", "=?UTF-7?Q?" UTF7_NIHONGO "?=", UTF7_NIHONGO},
    {"IBM037 word: detected through the fallbacks", "=?IBM037?B?" EBCDIC_HELLO_B64 "?=", NULL},
    {"UTF-16 word with a byte-order mark: decoded without iconv",
     "=?UTF-16?B?" UTF16_NIHON_B64 "?=", "日本"},
    {"UTF-16LE word without a byte-order mark", "=?UTF-16LE?B?5WUsZw==?=", NULL},
    {"unknown label", "=?x-unknown?Q?abc?=", "abc"},
    {"unknown label on CP932 bytes", "=?x-mac-japanese?B?gqCCog==?=", "あい"},
    {"allowed labels still decode",
     "=?Shift_JIS?B?h0A=?= =?ISO-2022-JP?B?GyRCLSEtai03GyhC?=", "①①㈱Ⅲ"},
};

/* Encoded words in refused charsets fall back to valid UTF-8. */
static void test_header_words(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(hdr_cases); i++) {
        const hdr_case *c = &hdr_cases[i];
        char *got = mailhdr_decode(c->in, strlen(c->in), FALLBACKS);
        print_message("header: %s -> %s\n", c->name, got);
        assert_non_null(got);
        assert_true(g_utf8_validate(got, -1, NULL));
        if (c->want)
            assert_string_equal(got, c->want);
        g_free(got);
    }
}

static const hdr_case name_cases[] = {
    {"RFC 2231 UTF-7", "attachment; filename*=UTF-7''" UTF7_NIHONGO ".pdf", UTF7_NIHONGO ".pdf"},
    {"RFC 2231 IBM037", "attachment; filename*=IBM037''%C8%85%93%93%96.txt", NULL},
    {"RFC 2231 UTF-16 continuations",
     "attachment; filename*0*=UTF-16''%FE%FF%65%E5; filename*1*=%67%2C%00%2E%00t%00x%00t",
     "日本.txt"},
    {"RFC 2047 in quotes, UTF-16", "attachment; filename=\"=?UTF-16?B?" UTF16_NIHON_B64 "?=\"",
     "日本"},
};

/* RFC 2231 and RFC 2047 file names in refused charsets fall back to valid UTF-8. */
static void test_file_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(name_cases); i++) {
        const hdr_case *c = &name_cases[i];
        char *got = mailhdr_filename(c->in, NULL, FALLBACKS);
        print_message("name: %s -> %s\n", c->name, got ? got : "(none)");
        assert_non_null(got);
        assert_true(g_utf8_validate(got, -1, NULL));
        if (c->want)
            assert_string_equal(got, c->want);
        g_free(got);
    }
}

/* A message whose headers, parameters and bodies name refused charsets everywhere. */
static const char hostile_message[] =
    "From: =?IBM037?B?" EBCDIC_HELLO_B64 "?= <a@example.jp>\r\n"
    "To: =?UTF-7?Q?" UTF7_NIHONGO "?= <b@example.jp>, =?UTF-16?B?" UTF16_NIHON_B64
    "?= <c@example.jp>\r\n"
    "Cc: =?x-unknown?Q?abc?= <d@example.jp>\r\n"
    "Subject: =?IBM037?B?" EBCDIC_HELLO_B64 "?= =?UTF-7?Q?" UTF7_NIHONGO
    "?= =?UTF-16?B?" UTF16_NIHON_B64 "?= =?x-unknown?Q?abc?=\r\n"
    "Message-ID: <charset-test@example.jp>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=IBM037\r\n"
    "\r\n"
    "\xC8\x85\x93\x93\x96\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=UTF-7\r\n"
    "\r\n" UTF7_NIHONGO "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset*=UTF-16''%FE%FF%00A\r\n"
    "\r\n"
    "plain\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream; name*=IBM037''%C8%85.bin\r\n"
    "Content-Disposition: attachment; filename*=UTF-7''" UTF7_NIHONGO ".bin;\r\n"
    " title=\"=?UTF-16?B?" UTF16_NIHON_B64 "?=\"\r\n"
    "\r\n"
    "data\r\n"
    "--b--\r\n";

/* A stream over a copy of s (GMime parses from a stream, as the engine does). */
static GMimeStream *memory_stream(const char *s)
{
    return g_mime_stream_mem_new_with_buffer(s, strlen(s));
}

/* Parse msg with the engine's parser options. */
static GMimeMessage *parse_message(const char *msg)
{
    GMimeParserOptions *opts = g_mime_parser_options_new();
    GMimeStream *s = memory_stream(msg);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *m;

    g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    m = g_mime_parser_construct_message(p, opts);
    g_object_unref(p);
    g_object_unref(s);
    g_mime_parser_options_free(opts);
    return m;
}

/* GMime's own decoding (subject, addresses, parameters) meets the same gate. */
static void test_gmime_parse(void **state)
{
    GMimeMessage *m;
    GMimeObject *body;

    (void)state;
    g_mime_init();
    m = parse_message(hostile_message);
    assert_non_null(m);
    const char *subject = g_mime_message_get_subject(m);
    assert_non_null(subject);
    assert_true(g_utf8_validate(subject, -1, NULL));
    char *to = internet_address_list_to_string(g_mime_message_get_to(m), NULL, FALSE);
    assert_true(to && g_utf8_validate(to, -1, NULL));
    g_free(to);
    body = g_mime_message_get_mime_part(m);
    assert_true(GMIME_IS_MULTIPART(body));
    for (int i = 0; i < g_mime_multipart_get_count(GMIME_MULTIPART(body)); i++) {
        GMimeObject *part = g_mime_multipart_get_part(GMIME_MULTIPART(body), i);
        GMimeContentType *ct = g_mime_object_get_content_type(part);
        /* Values GMime could not convert stay raw bytes: the engine only compares the
         * charset with the allow-list and decodes file names itself from the raw header. */
        const char *cs = g_mime_content_type_get_parameter(ct, "charset");
        const char *name = g_mime_part_get_filename(GMIME_PART(part));
        print_message("part %d: charset %zu bytes, name %zu bytes\n", i, cs ? strlen(cs) : 0,
                      name ? strlen(name) : 0);
    }
    g_object_unref(m);
}

/* An anonymous file holding s, at offset 0. */
static int memory_file(const char *s)
{
    int fd = memfd_create("test-charset", MFD_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* The whole text of fd. */
static char *read_fd(int fd)
{
    char *buf = NULL, *copy;
    size_t len = 0;

    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(mg_read_all(fd, 64 << 20, &buf, &len), 0);
    copy = g_strndup(buf, len);
    free(buf);
    return copy;
}

/* The engine on the whole message: the refused bodies are decoded in the jail, the clean
 * copy parses and its text is valid UTF-8. */
static void test_mail_engine(void **state)
{
    conf *c = conf_new_defaults();
    char *err = NULL;
    san_mail_result r = {0};

    (void)state;
    g_free(c->render_path);
    c->render_path = g_strdup(JAIL_RENDER);
    g_free(c->clamav_db_dir);
    c->clamav_db_dir = g_strdup("/nonexistent/mugai-test-clamav");
    c->scan_required = 0;
    san_engine *e = san_engine_new(c, &err);
    assert_non_null(e);
    int in = memory_file(hostile_message);
    int out = memory_file("");
    assert_int_equal(san_mail(e, NULL, in, NULL, "test", out, &r, &err), 0);
    char *clean = read_fd(out);
    GMimeMessage *m = parse_message(clean);
    g_free(clean);
    assert_non_null(m);
    GMimeObject *body = g_mime_message_get_mime_part(m);
    GMimeObject *text =
        GMIME_IS_MULTIPART(body) ? g_mime_multipart_get_part(GMIME_MULTIPART(body), 0) : body;
    char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(text));
    print_message("%s\n", t);
    assert_true(g_utf8_validate(t, -1, NULL));
    assert_non_null(strstr(t, "Hello"));  /* IBM037, converted in the jail */
    assert_non_null(strstr(t, "日本語")); /* UTF-7, converted in the jail */
    assert_non_null(strstr(t, "plain"));
    g_free(t);
    g_object_unref(m);
    san_mail_result_clear(&r);
    close(in);
    close(out);
    san_engine_free(e);
    conf_free(c);
}

/* gconv modules the allow-list needs (and ISO-8859-15, configured in one test above). */
static const char *const allowed_modules[] = {
    "CP932.so",         "SJIS.so",      "EUC-JP.so", "EUC-JP-MS.so",  "ISO-2022-JP.so",
    "ISO-2022-JP-3.so", "ISO8859-1.so", "CP1252.so", "ISO8859-15.so", "libJIS.so",
    "libJISX0213.so",   "libGB.so",     "libKSC.so", "libCNS.so",
};

/* Non-zero when the module file name is in allowed_modules. */
static int module_allowed(const char *base)
{
    for (size_t i = 0; i < G_N_ELEMENTS(allowed_modules); i++)
        if (strcmp(base, allowed_modules[i]) == 0)
            return 1;
    return 0;
}

/* The gconv modules this process maps that are not on the allow-list (printed); *cp932 set
 * when CP932.so is mapped. */
static int modules_refused(int *cp932)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int refused = 0;

    if (!f)
        return 1;
    while (fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        if (!path || !strstr(path, "/gconv/") || !strstr(path, ".so"))
            continue;
        g_strchomp(path);
        const char *base = strrchr(path, '/') + 1;
        *cp932 |= strcmp(base, "CP932.so") == 0;
        if (!module_allowed(base)) {
            print_message("mapped, not on the allow-list: %s\n", path);
            refused++;
        }
    }
    fclose(f);
    return refused;
}

/* After each test: no module outside the allow-list is mapped. glibc unmaps a released module
 * only after later loads, so checking after every test leaves none unseen. */
static int maps_clean(void **state)
{
    int cp932 = 0;

    (void)state;
    return modules_refused(&cp932) == 0 ? 0 : -1;
}

/* After everything above, none is mapped, and the check does see modules: the one for the
 * Japanese charsets is there. */
static void test_no_other_gconv_module(void **state)
{
    int cp932 = 0;

    (void)state;
    assert_int_equal(modules_refused(&cp932), 0);
    assert_true(cp932);
}

/* Run in order, checking the mapped modules after each test and at the end. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_canonical_table, maps_clean),
        cmocka_unit_test_teardown(test_iconv_gate, maps_clean),
        cmocka_unit_test_teardown(test_configured_charsets, maps_clean),
        cmocka_unit_test_teardown(test_header_words, maps_clean),
        cmocka_unit_test_teardown(test_file_names, maps_clean),
        cmocka_unit_test_teardown(test_gmime_parse, maps_clean),
        cmocka_unit_test_teardown(test_mail_engine, maps_clean),
        cmocka_unit_test(test_no_other_gconv_module),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
