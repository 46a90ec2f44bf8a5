/*
 * tests/unit/test_sheets.c - the trusted reader of a spreadsheet's sheets (sanitize/sheets.c)
 * fed streams a taken-over jail could write: one row per case, the names it must make of
 * them, or the refusal.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "mg.h"
#include "san_int.h"

/* One sheet of a stream to write. */
typedef struct frame {
    uint32_t flags;
    const char *file; /* the file name the init sends */
    const char *csv;
} frame;

/* Append v as 4 little-endian bytes. */
static void put_u32(GString *g, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        g_string_append_c(g, (char)(v >> (8 * i) & 0xff));
}

/* A stream of the n frames (count announced as count), then extra bytes. */
static int stream(const frame *f, size_t n, uint32_t count, const char *extra)
{
    GString *g = g_string_new("MGS1");
    int fd = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);

    put_u32(g, count);
    for (size_t i = 0; i < n; i++) {
        put_u32(g, f[i].flags);
        put_u32(g, (uint32_t)strlen(f[i].file));
        g_string_append(g, f[i].file);
        put_u32(g, (uint32_t)strlen(f[i].csv));
        g_string_append(g, f[i].csv);
    }
    g_string_append(g, extra);
    assert_true(fd >= 0);
    assert_int_equal(mg_write_all(fd, g->str, g->len), 0);
    g_string_free(g, TRUE);
    return fd;
}

/* The content of a sheet's rebuilt CSV. Caller g_free()s. */
static char *sheet_text(const san_sheet *s)
{
    char *buf = g_malloc0(s->out_size + 1);

    assert_int_equal(pread(s->fd, buf, s->out_size, 0), (ssize_t)s->out_size);
    return buf;
}

/* Hostile names become safe, unique names; flags and cells come through, rebuilt. */
static void test_names(void **state)
{
    static const frame f[] = {
        {0, "input-../x.csv", "a\n"},
        {0,
         "input-a\xe2\x80\xae"
         "exe.csv",
         "b\n"},
        {1,
         "input-\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7"
         "\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7"
         "\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7"
         "\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7\xe9\x95\xb7.csv",
         "=cmd|' /C calc'!A0,@x\n"},
        {0, "input-..csv", ""},
        {0, "input-A.csv", "1\n"},
        {0, "input-a.csv", "2\n"},
        {0, "input-c:\\d.csv", "3"},
    };
    conf *c = conf_new_defaults();
    san_result r;
    char why[256];
    int fd = stream(f, G_N_ELEMENTS(f), G_N_ELEMENTS(f), "");

    (void)state;
    memset(&r, 0, sizeof r);
    assert_int_equal(sheets_read(c, fd, &r, why, sizeof why), 0);
    assert_int_equal(r.nsheets, G_N_ELEMENTS(f));
    assert_string_equal(r.sheets[0].name, "_x");   /* "../x": separator, leading dots */
    assert_string_equal(r.sheets[1].name, "aexe"); /* the bidi override dropped */
    assert_true(strlen(r.sheets[2].name) <= SAN_SHEET_NAME_MAX);
    assert_true(g_utf8_validate(r.sheets[2].name, -1, NULL));
    assert_int_equal(strlen(r.sheets[2].name), 63); /* 21 whole characters of 3 bytes */
    assert_true(r.sheets[2].hidden);
    assert_string_equal(r.sheets[3].name, "sheet4"); /* nothing left of "." */
    assert_string_equal(r.sheets[4].name, "A");
    assert_string_equal(r.sheets[5].name, "a (2)"); /* unique without case, as on Windows */
    assert_string_equal(r.sheets[6].name, "c__d");
    char *name = san_sheet_file_name("book", &r.sheets[2]);
    assert_true(g_str_has_suffix(name, " (hidden).csv"));
    g_free(name);
    char *text = sheet_text(&r.sheets[2]);
    assert_string_equal(text, "\xEF\xBB\xBF'=cmd|' /C calc'!A0,'@x\n");
    g_free(text);
    text = sheet_text(&r.sheets[6]);
    assert_string_equal(text, "\xEF\xBB\xBF"
                              "3\n");
    g_free(text);
    san_result_clear(&r);
    close(fd);
    conf_free(c);
}

/* One refused stream: its frames, the count it announces, what follows, a bound to set. */
typedef struct bad_case {
    const char *what;
    frame f[2];
    size_t n;
    uint32_t count;
    const char *extra;
    unsigned max_sheets;
} bad_case;

/* Streams that break a rule give no sheets at all. */
static void test_refused(void **state)
{
    static const bad_case cases[] = {
        {"more sheets than announced", {{0, "input-a.csv", "x"}}, 1, 1, "junk", 0},
        {"fewer sheets than announced", {{0, "input-a.csv", "x"}}, 1, 2, "", 0},
        {"over [office] max_sheets",
         {{0, "input-a.csv", "x"}, {0, "input-b.csv", "y"}},
         2,
         2,
         "",
         1},
        {"a name not input-*.csv", {{0, "evil.csv", "x"}}, 1, 1, "", 0},
        {"a name not ending .csv", {{0, "input-a.txt", "x"}}, 1, 1, "", 0},
        {"unknown flags", {{2, "input-a.csv", "x"}}, 1, 1, "", 0},
        {"not UTF-8", {{0, "input-a.csv", "\xff\xfe"}}, 1, 1, "", 0},
        {"a NUL byte", {{0, "input-a.csv", ""}}, 1, 1, "", 0},
    };
    char why[256];

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const bad_case *k = &cases[i];
        conf *c = conf_new_defaults();
        san_result r;
        if (k->max_sheets)
            c->office_max_sheets = k->max_sheets;
        int fd = stream(k->f, k->n, k->count, k->extra);
        if (strcmp(k->what, "a NUL byte") == 0) { /* "x\0y" as the CSV */
            close(fd);
            GString *g = g_string_new("MGS1");
            put_u32(g, 1), put_u32(g, 0), put_u32(g, 11);
            g_string_append(g, "input-a.csv");
            put_u32(g, 3);
            g_string_append_len(g, "x\0y", 3);
            fd = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);
            assert_int_equal(mg_write_all(fd, g->str, g->len), 0);
            g_string_free(g, TRUE);
        }
        memset(&r, 0, sizeof r);
        if (sheets_read(c, fd, &r, why, sizeof why) != -1 || r.nsheets != 0)
            fail_msg("%s: accepted", k->what);
        close(fd);
        conf_free(c);
    }
}

/* A CSV over [render] max_text_mb is refused before it is read. */
static void test_too_large(void **state)
{
    conf *c = conf_new_defaults();
    GString *g = g_string_new("MGS1");
    san_result r;
    char why[256];

    (void)state;
    put_u32(g, 1), put_u32(g, 0), put_u32(g, 11);
    g_string_append(g, "input-a.csv");
    put_u32(g, (uint32_t)(c->max_text_mb << 20) + 1);
    int fd = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);
    assert_int_equal(mg_write_all(fd, g->str, g->len), 0);
    memset(&r, 0, sizeof r);
    assert_int_equal(sheets_read(c, fd, &r, why, sizeof why), -1);
    assert_non_null(strstr(why, "over the limit"));
    g_string_free(g, TRUE);
    close(fd);
    conf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
