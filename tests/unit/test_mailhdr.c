/*
 * tests/unit/test_mailhdr.c - header values and attachment file names of
 * Japanese mail: raw header bytes in, the UTF-8 a reader sees out; one row
 * per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "san_int.h"

#define FALLBACKS "UTF-8,CP932,EUC-JP,ISO-2022-JP"

/* ISO-2022-JP "①㈱Ⅲ" (NEC row 13: 0x2D21 0x2D6A 0x2D37), base64 of
 * ESC $ B 2D 21 2D 6A 2D 37 ESC ( B. */
#define JIS_NEC_B64 "GyRCLSEtai03GyhC"

typedef struct hdr_case {
    const char *label;
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *want;
} hdr_case;

static const hdr_case decode_cases[] = {
    {"plain ASCII", "Meeting on Monday", 0, "Meeting on Monday"},
    {"leading space trimmed", " Re: hello ", 0, "Re: hello"},
    {"B UTF-8", "=?UTF-8?B?5bGx55Sw5aSq6YOO?=", 0, "山田太郎"},
    {"Q UTF-8 with underscore", "=?utf-8?q?=E8=A6=8B=E7=A9=8D_No.1?=", 0, "見積 No.1"},
    {"lower-case b, language tag", "=?UTF-8*ja?b?5bGx55Sw?=", 0, "山田"},
    {"ISO-2022-JP NEC extensions", "=?ISO-2022-JP?B?" JIS_NEC_B64 "?=", 0, "①㈱Ⅲ"},
    {"ISO-2022-JP Q", "=?iso-2022-jp?Q?=1B$B8+@Q=1B(B?=", 0, "見積"},
    {"Shift_JIS label, CP932 circled one", "=?Shift_JIS?B?h0A=?=", 0, "①"},
    {"EUC-JP", "=?EUC-JP?B?xvzL3Ljs?=", 0, "日本語"},
    {"UTF-8 split across words", "=?UTF-8?B?44GC4w==?= =?UTF-8?B?gYTjgYY=?=", 0, "あいう"},
    {"ISO-2022-JP split, escape in the first word",
     "=?ISO-2022-JP?B?GyRCRnw=?=\r\n =?ISO-2022-JP?B?S1w4bBsoQg==?=", 0, "日本語"},
    {"encoded word in quotes with an address", "\"=?UTF-8?B?5bGx55Sw5aSq6YOO?=\" <taro@example.jp>",
     0, "\"山田太郎\" <taro@example.jp>"},
    {"two charsets", "=?ISO-2022-JP?B?GyRCOCtAURsoQg==?= =?UTF-8?B?44GC?=", 0, "見積あ"},
    {"text between words kept", "=?UTF-8?B?44GC?= and =?UTF-8?B?44GC?=", 0, "あ and あ"},
    /* Text that is not an encoded word stays, its "=?" broken so nothing decodes it later. */
    {"malformed word kept, opener broken", "=?UTF-8?B?***?=", 0, "= ?UTF-8?B?***?="},
    {"unterminated word kept, opener broken", "a =?UTF-8?B?44GC", 0, "a = ?UTF-8?B?44GC"},
    {"unknown encoding kept, opener broken", "=?UTF-8?X?abc?=", 0, "= ?UTF-8?X?abc?="},
    /* A word whose text is itself the word for "Alice\u202Egpj.exe": decoded once, the inner
     * word must not reach a reader that decodes it again (GMime, a mail client). */
    {"doubly encoded word decoded once, opener broken",
     "=?UTF-8?B?PT9VVEYtOD9CP1FXeHBZMlhpZ0s1bmNHb3VaWGhsPz0=?= <a@x>", 0,
     "= ?UTF-8?B?QWxpY2XigK5ncGouZXhl?= <a@x>"},
    {"opener made by dropping U+202E broken", "=?UTF-8?B?PeKArj9VVEYtOD9RP3g/PQ==?=", 0,
     "= ?UTF-8?Q?x?="},
    {"literal opener in raw UTF-8 broken", "caf\xc3\xa9 =?=?", 0, "caf\xc3\xa9 = ?= ?"},
    {"raw CP932 subject", "\x8c\x8f\x96\xbc\x83\x65\x83\x58\x83\x67", 0, "件名テスト"},
    {"raw UTF-8 subject", "Re: \xe4\xbb\xb6\xe5\x90\x8d", 0, "Re: 件名"},
    {"raw ISO-2022-JP subject", "\x1b$B8+@Q\x1b(B", 0, "見積"},
    {"raw ISO-2022-JP holding =?", "\x1b$B=?\x1b(B", 0, "戎"},
    {"NUL byte inside", "ab\0cd", 5, "abcd"},
    {"folded value", "Hello\r\n world\n\tagain", 0, "Hello world again"},
    {"control characters dropped",
     "a\x01"
     "b\x7f"
     "c\td",
     0, "abc d"},
    {"decoded control characters dropped", "=?UTF-8?Q?a=07b=0Dc?=", 0, "ab c"},
    {"bidi override dropped", "=?UTF-8?B?ZXZpbOKArmZkcC5leGU=?=", 0, "evilfdp.exe"},
    /* U+061C, U+200B, U+2060, U+E0041 (a tag), U+2028, U+FDD0 in raw UTF-8: all dropped */
    {"invisible, tag and noncharacters dropped",
     "a\xd8\x9c"
     "b\xe2\x80\x8b"
     "c\xe2\x81\xa0"
     "d\xf3\xa0\x81\x81"
     "e\xe2\x80\xa8"
     "f\xef\xb7\x90"
     "g",
     0, "abcdefg"},
    /* U+2066 and U+2069 around a name, U+200D (ZWJ) kept between two emoji */
    {"isolates dropped, ZWJ kept", "=?UTF-8?B?4oGmQWxpY2XigakgLyDwn5Go4oCN8J+RqQ==?=", 0,
     "Alice / \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"},
    {"empty", "", 0, ""},
};

static const hdr_case name_cases[] = {
    {"plain", "attachment; filename=\"report.pdf\"", 0, "report.pdf"},
    {"RFC 2231 UTF-8", "attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D.pdf", 0, "見積.pdf"},
    {"RFC 2231 ISO-2022-JP continuations",
     "attachment;\r\n filename*0*=ISO-2022-JP''%1B%24%42%38%2B%40%51;\r\n"
     " filename*1*=%3D%71%1B%28%42%2E%70%64%66",
     0, "見積書.pdf"},
    {"continuations plain, out of order", "attachment; filename*1=\"def.pdf\"; filename*0=\"abc\"",
     0, "abcdef.pdf"},
    {"continuations mixed", "attachment; filename*0*=UTF-8''%E8%A6%8B; filename*1=\"_x.pdf\"", 0,
     "見_x.pdf"},
    {"filename* preferred", "attachment; filename=\"a.pdf\"; filename*=UTF-8''b.pdf", 0, "b.pdf"},
    {"RFC 2047 in quotes", "attachment; filename=\"=?ISO-2022-JP?B?GyRCQEE1YT1xGyhCLnhsc3g=?=\"", 0,
     "請求書.xlsx"},
    {"unquoted token", "attachment; filename=memo.txt; size=10", 0, "memo.txt"},
    {"raw CP932 in quotes", "attachment; filename=\"\x95\xf1\x8d\x90\x8f\x91.docx\"", 0,
     "報告書.docx"},
    {"raw CP932 with 0x5C trail bytes", "attachment; filename=\"\x83\x5c\x95\x5c.txt\"", 0,
     "ソ表.txt"},
    {"path stripped", "attachment; filename=\"..\\\\..\\\\evil.exe\"", 0, "evil.exe"},
    {"unix path stripped", "attachment; filename=\"/etc/passwd\"", 0, "passwd"},
    {"leading dots and spaces, collapsed", "attachment; filename=\" . .a   b.txt \"", 0, "a b.txt"},
    {"only dots", "attachment; filename=\"..\"", 0, NULL},
    {"no name", "attachment", 0, NULL},
    {"empty name", "attachment; filename=\"\"", 0, NULL},
    /* The name decodes to "=?UTF-8?B?aW1n4oCuZ3Bq?=.txt", which a client would decode again
     * to "img\u202Egpj.txt". */
    {"doubly encoded name, opener broken",
     "attachment; filename=\"=?UTF-8?B?PT9VVEYtOD9CP2FXMW40b0N1WjNCcT89LnR4dA==?=\"", 0,
     "= ?UTF-8?B?aW1n4oCuZ3Bq?=.txt"},
    {"literal opener in an RFC 2231 name broken",
     "attachment; filename*=UTF-8''%3D%3FUTF-8%3FQ%3Fa%3F%3D.txt", 0, "= ?UTF-8?Q?a?=.txt"},
};

/* Check one decode row. */
static void check_decode(const hdr_case *c)
{
    size_t len = c->len ? c->len : strlen(c->in);
    char *got = mailhdr_decode(c->in, len, FALLBACKS);

    assert_non_null(got);
    if (strcmp(got, c->want) != 0)
        print_error("case '%s': got '%s', want '%s'\n", c->label, got, c->want);
    assert_string_equal(got, c->want);
    assert_true(g_utf8_validate(got, -1, NULL));
    g_free(got);
}

/* Every row of decode_cases. */
static void test_decode_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(decode_cases); i++)
        check_decode(&decode_cases[i]);
}

/* Check one file name row (the input is the Content-Disposition value). */
static void check_name(const hdr_case *c)
{
    char *got = mailhdr_filename(c->in, NULL, FALLBACKS);

    if (g_strcmp0(got, c->want) != 0)
        print_error("case '%s': got '%s', want '%s'\n", c->label, got ? got : "(null)",
                    c->want ? c->want : "(null)");
    assert_true(g_strcmp0(got, c->want) == 0);
    g_free(got);
}

/* Every row of name_cases. */
static void test_name_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(name_cases); i++)
        check_name(&name_cases[i]);
}

/* An encoded word built at run time from JIS codes decodes with the NEC extensions. */
static void test_decode_built_jis(void **state)
{
    static const unsigned char jis[] = {0x1B, '$',  'B',  0x2D, 0x21, 0x2D,
                                        0x6A, 0x2D, 0x37, 0x1B, '(',  'B'};
    (void)state;
    char *b64 = g_base64_encode(jis, sizeof jis);
    char *raw = g_strdup_printf("Subject =?ISO-2022-JP?B?%s?= end", b64);
    char *got = mailhdr_decode(raw, strlen(raw), FALLBACKS);
    assert_string_equal(got, "Subject ①㈱Ⅲ end");
    g_free(got);
    g_free(raw);
    g_free(b64);
}

/* A 10,000-character value decodes whole; NULL input gives "". */
static void test_decode_long(void **state)
{
    (void)state;
    GString *in = g_string_new(NULL);
    for (size_t i = 0; i < 2000; i++)
        g_string_append(in, "=?UTF-8?B?44GC?= "); /* 17 bytes each, one character out */
    g_string_append(in, "end");
    char *got = mailhdr_decode(in->str, in->len, FALLBACKS);
    assert_int_equal(g_utf8_strlen(got, -1), 2004); /* spaces between words dropped */
    assert_true(g_str_has_suffix(got, "ああ end"));
    g_free(got);
    g_string_free(in, TRUE);

    char *plain = g_strnfill(10000, 'x');
    got = mailhdr_decode(plain, 10000, NULL);
    assert_string_equal(got, plain);
    g_free(got);
    g_free(plain);

    got = mailhdr_decode(NULL, 0, NULL);
    assert_string_equal(got, "");
    g_free(got);
}

/* name= on Content-Type alone, and Content-Disposition winning over it. */
static void test_name_content_type(void **state)
{
    (void)state;
    char *got = mailhdr_filename(NULL, "application/pdf; name=\"=?UTF-8?B?6KaL56mN?=.pdf\"", NULL);
    assert_string_equal(got, "見積.pdf");
    g_free(got);
    got = mailhdr_filename("attachment", "text/plain; charset=UTF-8; name*=UTF-8''a%20b.txt", NULL);
    assert_string_equal(got, "a b.txt");
    g_free(got);
    got = mailhdr_filename("attachment; filename=d.pdf", "application/pdf; name=c.pdf", NULL);
    assert_string_equal(got, "d.pdf");
    g_free(got);
    assert_null(mailhdr_filename(NULL, NULL, NULL));
    assert_null(mailhdr_filename(NULL, "text/plain; charset=UTF-8", NULL));
}

/* A 304-byte Japanese name is cut on a character boundary to 200 bytes, ".pdf" kept. */
static void test_name_truncated(void **state)
{
    (void)state;
    GString *d = g_string_new("attachment; filename*=UTF-8''");
    for (size_t i = 0; i < 100; i++)
        g_string_append(d, "%E3%81%82"); /* あ */
    g_string_append(d, ".pdf");
    char *got = mailhdr_filename(d->str, NULL, NULL);
    assert_non_null(got);
    assert_true(strlen(got) <= 200);
    assert_int_equal(strlen(got), 65 * 3 + 4);
    assert_true(g_utf8_validate(got, -1, NULL));
    assert_true(g_str_has_suffix(got, "あ.pdf"));
    g_free(got);
    g_string_free(d, TRUE);
}

/* A long name without an extension is cut too. */
static void test_name_truncated_no_ext(void **state)
{
    (void)state;
    char *long_name = g_strnfill(500, 'a');
    char *d = g_strdup_printf("attachment; filename=\"%s\"", long_name);
    char *got = mailhdr_filename(d, NULL, NULL);
    assert_int_equal(strlen(got), 200);
    g_free(got);
    g_free(d);
    g_free(long_name);
}

/* Display names GMime parsed are cleaned like decoded values. */
static void test_clean(void **state)
{
    static const char *const rows[][2] = {
        {"Alice \xe2\x80\xae"
         "gpj.exe",
         "Alice gpj.exe"},
        {" =?UTF-8?B?QWxpY2XigK5ncGouZXhl?= ", "= ?UTF-8?B?QWxpY2XigK5ncGouZXhl?="},
        {"a=\xe2\x81\xa6?b", "a= ?b"},
        {"\xe5\xb1\xb1\xe7\x94\xb0 =", "\xe5\xb1\xb1\xe7\x94\xb0 ="},
        {"", ""},
    };
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        char *got = mailhdr_clean(rows[i][0]);
        assert_string_equal(got, rows[i][1]);
        g_free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_table),          cmocka_unit_test(test_decode_built_jis),
        cmocka_unit_test(test_decode_long),           cmocka_unit_test(test_name_table),
        cmocka_unit_test(test_name_content_type),     cmocka_unit_test(test_name_truncated),
        cmocka_unit_test(test_name_truncated_no_ext), cmocka_unit_test(test_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
