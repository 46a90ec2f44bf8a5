/*
 * tests/unit/test_text.c - table-driven tests of charset decoding and CSV
 * neutralization as the jail does them (render/text.c: the delimiter guessed).
 *
 * Run by CTest as an ordinary user; no files, no network. Inputs are byte
 * strings written out in the table, one row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "rnd.h"

#define FALLBACKS "UTF-8,CP932,EUC-JP,ISO-2022-JP"
#define BYTES(s) s, sizeof(s) - 1

/* One decoding case: input bytes, label, expected UTF-8 and charset reported. */
typedef struct {
    const char *name;
    const char *in;
    size_t len;
    const char *label;
    const char *expect;
    const char *used;
} decode_case;

static const decode_case decode_cases[] = {
    {"sjis nec/ibm with Shift_JIS label",
     BYTES("\x89\xef\x8b\x63\x82\xcd\x87@\x87\x8a\x87V\x81`\x82\xc5\x82\xb7\x81\x42"), "Shift_JIS",
     "会議は①㈱Ⅲ～です。", "CP932"},
    {"sjis nec/ibm, label in other case and quotes",
     BYTES("\x89\xef\x8b\x63\x82\xcd\x87@\x87\x8a\x87V\x81`\x82\xc5\x82\xb7\x81\x42"),
     "\"shift_jis\"", "会議は①㈱Ⅲ～です。", "CP932"},
    {"sjis nec/ibm without label",
     BYTES("\x89\xef\x8b\x63\x82\xcd\x87@\x87\x8a\x87V\x81`\x82\xc5\x82\xb7\x81\x42"), NULL,
     "会議は①㈱Ⅲ～です。", "CP932"},
    {"euc-jp without label",
     BYTES("\xc6\xfc\xcb\xdc\xb8\xec\xa4\xce\xa5\xc6\xa5\xad\xa5\xb9\xa5\xc8\xa4\xc7\xa4\xb9\xa1"
           "\xa3\xa4\xd2\xa4\xe9\xa4\xac\xa4\xca\xa4\xc8\xa5\xab\xa5\xbf\xa5\xab\xa5\xca\xa1\xa3"),
     NULL, "日本語のテキストです。ひらがなとカタカナ。", "EUC-JP-MS"},
    {"euc-jp nec row 13 without label", BYTES("\xad\xa1\xa4\xc7\xa4\xb9"), NULL, "①です",
     "EUC-JP-MS"},
    {"euc-jp text under a Shift_JIS label",
     BYTES("\xc6\xfc\xcb\xdc\xb8\xec\xa4\xce\xa5\xc6\xa5\xad\xa5\xb9\xa5\xc8"), "Shift_JIS",
     "日本語のテキスト", "EUC-JP-MS"},
    {"iso-2022-jp nec, ibm and half-width kana",
     BYTES("\x1b$B$*CN$i$;-!-j|b\x1b(I6@6E\x1b(Bok\x0d\x0a"), NULL, "お知らせ①㈱髙ｶﾀｶﾅok\r\n",
     "ISO-2022-JP"},
    {"iso-2022-jp label, SO/SI kana and JIS Roman", BYTES("\x1b$B$\"\x1b(Ja\\\x0e\x36\x0f\x1b(B!"),
     "ISO-2022-JP", "あa¥ｶ!", "ISO-2022-JP"},
    {"iso-2022-jp with JIS X 0212", BYTES("\x1b$(D\x30\x21\x1b(B"), "iso-2022-jp-2", "丂",
     "ISO-2022-JP"},
    {"iso-2022-jp broken escape repaired", BYTES("\x1b$B$\"\x1b$Z$\"\x1b(B"), NULL,
     "あ\xEF\xBF\xBDぺあ", "ISO-2022-JP"},
    {"utf-8 with bom", BYTES("\xef\xbb\xbf\xe6\x97\xa5\xe6\x9c\xac"), "Shift_JIS", "日本", "UTF-8"},
    {"utf-16le bom", BYTES("\xff\xfe\xe5\x65,g\x9e\x8a\x61\x00\x62\x00\x63\x00"), NULL, "日本語abc",
     "UTF-16LE"},
    {"utf-16be bom", BYTES("\xfe\xff\x65\xe5\x00\x41"), NULL, "日A", "UTF-16BE"},
    {"utf-16be bom, surrogate pair", BYTES("\xfe\xff\xd8\x3d\xde\x00"), NULL, "😀", "UTF-16BE"},
    {"utf-16le bom, unpaired surrogate and odd byte", BYTES("\xff\xfe\x3d\xd8\x41\x00\x42"), NULL,
     "\xEF\xBF\xBD"
     "A\xEF\xBF\xBD",
     "UTF-16LE"},
    {"label lies: ISO-8859-1 on utf-8 japanese",
     BYTES("\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe3\x80\x81\xe4\xb8\x96"
           "\xe7\x95\x8c\xe3\x80\x82"),
     "ISO-8859-1", "こんにちは、世界。", "UTF-8"},
    {"label believed: ISO-8859-1 latin text", BYTES("caf\xe9"), "ISO-8859-1", "café", "ISO-8859-1"},
    {"unknown label ignored", BYTES("\x82\xa0\x82\xa2"), "x-no-such-charset", "あい", "CP932"},
    {"utf-8 label on sjis falls back", BYTES("\x82\xa0\x82\xa2"), "UTF-8", "あい", "CP932"},
    {"plain utf-8", BYTES("\xe6\x97\xa5\xe6\x9c\xac"), NULL, "日本", "UTF-8"},
    {"pure ascii", BYTES("hello\r\n"), NULL, "hello\r\n", "US-ASCII"},
    {"truncated sjis at end", BYTES("\x93\xfa\x96{\x8c\xea\x82\xc5\x82"), NULL,
     "日本語で\xEF\xBF\xBD", "CP932"},
    {"truncated utf-8 at end", BYTES("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x81"),
     NULL, "日本語で\xEF\xBF\xBD", "UTF-8"},
    {"nul bytes in sjis", BYTES("\x93\xfa\x96{\x00\x8c\xea"), NULL, "日本語", "CP932"},
    {"nul bytes in ascii", BYTES("a\0b\0"), NULL, "ab", "US-ASCII"},
    {"nul bytes in utf-16le", BYTES("\xff\xfe\x41\x00\x00\x00\x42\x00"), NULL, "AB", "UTF-16LE"},
    {"empty input", "", 0, NULL, "", "US-ASCII"},
    {"empty input with label", "", 0, "Shift_JIS", "", "US-ASCII"},
};

/* Decode every row and compare text and charset. */
static void test_decode_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(decode_cases); i++) {
        const decode_case *c = &decode_cases[i];
        const char *used = NULL;
        char *out = rnd_text_to_utf8(c->in, c->len, c->label, FALLBACKS, &used);
        print_message("decode: %s\n", c->name);
        assert_non_null(out);
        assert_string_equal(out, c->expect);
        assert_non_null(used);
        assert_string_equal(used, c->used);
        assert_true(g_utf8_validate(out, -1, NULL));
        g_free(out);
    }
}

/* A NULL fallback list means the default Japanese list. */
static void test_decode_default_fallbacks(void **state)
{
    const char *used = NULL;
    char *out = rnd_text_to_utf8(BYTES("\x82\xa0\x82\xa2"), NULL, NULL, &used);

    (void)state;
    assert_non_null(out);
    assert_string_equal(out, "あい");
    assert_string_equal(used, "CP932");
    g_free(out);
}

/* Garbage still decodes (with U+FFFD), never past len, and never holds NUL. */
static void test_decode_garbage(void **state)
{
    char buf[4096];
    const char *used = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)((i * 131u + 7u) ^ (i >> 3));
    for (size_t len = 0; len <= sizeof buf; len += 511) {
        char *copy = g_memdup2(buf, len);
        char *out = rnd_text_to_utf8(copy, len, NULL, FALLBACKS, &used);
        assert_non_null(out);
        assert_true(g_utf8_validate(out, -1, NULL));
        g_free(out);
        g_free(copy);
    }
}

/* One CSV case: input and the expected neutralized output. */
typedef struct {
    const char *name;
    const char *in;
    const char *expect;
} csv_case;

static const csv_case csv_cases[] = {
    {"formula", "=1+2,a\n", "'=1+2,a\n"},
    {"plus command", "a,+cmd|' /C calc'!A0\n", "a,'+cmd|' /C calc'!A0\n"},
    {"minus formula", "-2+3,x", "'-2+3,x"},
    {"at function", "x,@SUM(A1:A9)\r\ny,1\r\n", "x,'@SUM(A1:A9)\r\ny,1\r\n"},
    {"tab first, quoted for its tab", "\tx,y", "\"'\tx\",y"},
    {"quoted formula", "\"=HYPERLINK(\"\"http://x.example/\"\",\"\"y\"\")\",z\n",
     "\"'=HYPERLINK(\"\"http://x.example/\"\",\"\"y\"\")\",z\n"},
    {"quoted cell starting with CR", "\"\r=x\",1", "\"'\r=x\",1"},
    {"quoted commas, newline, doubled quotes untouched",
     "\"a,b\",\"line1\nline2\",\"he said \"\"=x\"\"\"\n",
     "\"a,b\",\"line1\nline2\",\"he said \"\"=x\"\"\"\n"},
    {"formula after a newline inside quotes is not a cell", "\"a\n=b\",c\n", "\"a\n=b\",c\n"},
    {"cell after a quoted multi-line cell", "\"a\nb\",=c\n", "\"a\nb\",'=c\n"},
    {"plain numbers untouched", "1,2.5,abc,日本語\n", "1,2.5,abc,日本語\n"},
    /* Accepted behaviour: a negative number is prefixed too and shows as text. */
    {"negative number prefixed", "-5,3", "'-5,3"},
    {"empty cells", "a,,=b\n,\n", "a,,'=b\n,\n"},
    {"CRLF is a record end, not a cell", "a,\r\nb,\r\n", "a,\r\nb,\r\n"},
    /* The trusted writer puts its own byte-order mark in front of the file. */
    {"utf-8 bom dropped", "\xef\xbb\xbf=1,2", "'=1,2"},
    {"empty", "", ""},
    {"tab-separated: a tab starts a cell", "a\t=b\t+c\n-d\te\n", "a\t'=b\t'+c\n'-d\te\n"},
    {"tab-separated: commas inside a cell are text, quoted", "x\ty,=z\tw\n1,-2\t3\n",
     "x\t\"y,=z\"\tw\n\"1,-2\"\t3\n"},
    {"tab-separated: quoted cell with a tab", "a\tb\t\"=c\td\"\n", "a\tb\t\"'=c\td\"\n"},
    {"empty quotes then a formula is a formula cell", "\"\"=1+1,a\n", "\"'=1+1\",a\n"},
    {"text after a closing quote joins the cell", "\"a\"=b,c\n", "\"a=b\",c\n"},
    {"sep= line neutralized", "sep=;\na;=1\n", "\"'sep=;\"\n\"a;=1\"\n"},
    {"already neutralized is left alone", "'=1,\"'=2\",'-3\n", "'=1,\"'=2\",'-3\n"},
};

/* Neutralize every row and compare. */
static void test_csv_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(csv_cases); i++) {
        const csv_case *c = &csv_cases[i];
        char *out = rnd_csv_neutralize(c->in, strlen(c->in));
        print_message("csv: %s\n", c->name);
        assert_non_null(out);
        assert_string_equal(out, c->expect);
        g_free(out);
    }
}

/* An unterminated quoted cell is closed, without reading past len. */
static void test_csv_unterminated(void **state)
{
    char *in = g_strdup("\"=abc");
    char *out = rnd_csv_neutralize(in, 3);

    (void)state;
    assert_non_null(out);
    assert_string_equal(out, "\"'=a\"");
    g_free(out);
    g_free(in);
}

/* Run the decoding and CSV tables. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_table),     cmocka_unit_test(test_decode_default_fallbacks),
        cmocka_unit_test(test_decode_garbage),   cmocka_unit_test(test_csv_table),
        cmocka_unit_test(test_csv_unterminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
