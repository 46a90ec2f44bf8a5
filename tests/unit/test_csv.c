/*
 * tests/unit/test_csv.c - table-driven tests of CSV formula neutralization
 * (common/csv.c), as the trusted side runs it on the renderer's text: the
 * delimiter the file's name gives in, a comma out.
 *
 * Run by CTest as an ordinary user; no files, no network. One row per case;
 * every expected output must also come back unchanged when neutralized again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "mg.h"

/* One case: input, delimiters in and out, expected output. */
typedef struct csv_case {
    const char *name;
    const char *in;
    char in_delim;
    char out_delim;
    const char *want;
} csv_case;

static const csv_case csv_cases[] = {
    {"command", "a,=cmd|' /C calc'!A0,b\r\n", ',', ',', "a,'=cmd|' /C calc'!A0,b\r\n"},
    {"plus", "+1,x\n", ',', ',', "'+1,x\n"},
    {"minus formula", "x,-2+3\n", ',', ',', "x,'-2+3\n"},
    {"at function", "@SUM(A1)\n", ',', ',', "'@SUM(A1)\n"},
    {"tab first", "\t=1,x\n", ',', ',', "\"'\t=1\",x\n"},
    {"space before a formula", " =3+3,x\n", ',', ',', "' =3+3,x\n"},
    {"no-break and ideographic spaces, zero-width space before a formula",
     "\xc2\xa0=1,\xe3\x80\x80+2,\xe2\x80\x8b@x\n", ',', ',',
     "'\xc2\xa0=1,'\xe3\x80\x80+2,'\xe2\x80\x8b@x\n"},
    {"fullwidth = + - @",
     "\xef\xbc\x9d"
     "1+1,\xef\xbc\x8b"
     "1,\xef\xbc\x8d"
     "1,\xef\xbc\xa0x\n",
     ',', ',',
     "'\xef\xbc\x9d"
     "1+1,'\xef\xbc\x8b"
     "1,'\xef\xbc\x8d"
     "1,'\xef\xbc\xa0x\n"},
    {"a tab or semicolon in a cell gets it quoted", "a\t=1+1,b;=2+2\n", ',', ',',
     "\"a\t=1+1\",\"b;=2+2\"\n"},
    {"quoted CR first", "\"\r=1\",x\n", ',', ',', "\"'\r=1\",x\n"},
    {"quoted formula with doubled quotes", "\"=HYPERLINK(\"\"http://x\"\")\",y\n", ',', ',',
     "\"'=HYPERLINK(\"\"http://x\"\")\",y\n"},
    {"delimiter and newline inside quotes", "\"a,=b\nc\",=d\n", ',', ',', "\"a,=b\nc\",'=d\n"},
    {"formula on the line after a quoted newline is inside the cell", "\"x\n=y\"\n", ',', ',',
     "\"x\n=y\"\n"},
    {"every line break kind ends a record", "a\r=b\n=c\r\n=d", ',', ',', "a\r'=b\n'=c\r\n'=d"},
    {"empty cells and lines", ",,=a\n\n,\n", ',', ',', ",,'=a\n\n,\n"},
    {"empty quotes then a formula", "\"\"=1+1,a\n", ',', ',', "\"'=1+1\",a\n"},
    {"text after the closing quote", "\"a\"=b,c\n", ',', ',', "\"a=b\",c\n"},
    {"quote inside an unquoted cell gets the cell quoted", "a\"b,=c\"\n", ',', ',',
     "\"a\"\"b\",\"'=c\"\"\"\n"},
    {"space before a quote: an unquoted cell", " \"=x\",y\n", ',', ',', "\" \"\"=x\"\"\",y\n"},
    {"unterminated quote closed", "a,\"=b,c", ',', ',', "a,\"'=b,c\""},
    {"already neutralized", "'=1,\"'=2\",'-3\n", ',', ',', "'=1,\"'=2\",'-3\n"},
    {"byte-order mark dropped", "\xef\xbb\xbf=1,2\n", ',', ',', "'=1,2\n"},
    {"sep= line", "sep=;\na;=b\n", ',', ',', "\"'sep=;\"\n\"a;=b\"\n"},
    {"SEP= line with its delimiter", "SEP=,\n", ',', ',', "'SEP=,\n"},
    {"sep= only on the first line", "a\nsep=;\n", ',', ',', "a\n\"sep=;\"\n"},
    {"quoted sep= too", "\"sep=;\"\n", ',', ',', "\"'sep=;\"\n"},
    {"japanese and numbers untouched", "名前,1.5,日本語\n", ',', ',', "名前,1.5,日本語\n"},
    {"tab-separated to comma-separated", "a\t=b\t-c\n", '\t', ',', "a,'=b,'-c\n"},
    {"tab-separated: a comma in a cell is quoted", "x,=y\t1\n", '\t', ',', "\"x,=y\",1\n"},
    {"tab-separated: quoted cell with a tab and a newline", "\"=a\tb\nc\"\td\n", '\t', ',',
     "\"'=a\tb\nc\",d\n"},
    {"tab-separated: a tab never starts a cell's content", "a\t\tb\n", '\t', ',', "a,,b\n"},
    {"tab-separated kept as such", "a\t=b\n", '\t', '\t', "a\t'=b\n"},
    {"empty", "", ',', ',', ""},
};

/* Every row: the expected output, and that output unchanged when neutralized again. */
static void test_csv_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(csv_cases); i++) {
        const csv_case *c = &csv_cases[i];
        print_message("csv: %s\n", c->name);
        char *got = mg_csv_neutralize(c->in, strlen(c->in), c->in_delim, c->out_delim);
        assert_non_null(got);
        assert_string_equal(got, c->want);
        char *again = mg_csv_neutralize(got, strlen(got), c->out_delim, c->out_delim);
        assert_string_equal(again, c->want);
        g_free(again);
        g_free(got);
    }
}

/* Input that is not NUL-terminated is read up to its length only. */
static void test_csv_length(void **state)
{
    char *in = g_strdup("=a,\"=b");
    char *got = mg_csv_neutralize(in, 5, ',', ',');

    (void)state;
    assert_string_equal(got, "'=a,\"'=\"");
    g_free(got);
    g_free(in);
    assert_null(mg_csv_neutralize(NULL, 1, ',', ','));
}

/* One guess: the first record and the delimiter it shows. */
typedef struct guess_case {
    const char *in;
    char want;
} guess_case;

static const guess_case guess_cases[] = {
    {"a,b,c\n", ','},          {"a\tb\tc\n", '\t'},
    {"a\tb,c\td\n", '\t'},     {"\"a\tb\tc\",d\n", ','},
    {"a\tb\n1,2,3,4\n", '\t'}, {"\"x\ny\tz\"\tw\n", '\t'},
    {"a,b\tc\n", ','},         {"", ','},
};

/* The delimiter is guessed from the first record, quotes honoured. */
static void test_guess_delimiter(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(guess_cases); i++)
        assert_int_equal(mg_csv_guess_delimiter(guess_cases[i].in, strlen(guess_cases[i].in)),
                         guess_cases[i].want);
}

/* Run the tables. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_table),
        cmocka_unit_test(test_csv_length),
        cmocka_unit_test(test_guess_delimiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
