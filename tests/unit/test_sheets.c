/*
 * tests/unit/test_sheets.c - the trusted reader of a spreadsheet's sheets (sanitize/sheets.c)
 * fed streams a taken-over jail could write: one row per case, the names it must make of
 * them, or the refusal.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* A stream of the n frames (count announced as count, the workbook's sheets as total; 0: as
 * count), then extra bytes. */
static int stream_of(const frame *f, size_t n, uint32_t count, uint32_t total, const char *extra)
{
    GString *g = g_string_new("MGS2");
    int fd = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);

    put_u32(g, count);
    put_u32(g, total ? total : count);
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

/* As stream_of, the workbook holding the sheets sent. */
static int stream(const frame *f, size_t n, uint32_t count, const char *extra)
{
    return stream_of(f, n, count, 0, extra);
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
    assert_int_equal(r.sheets_lost, 0);
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
    uint32_t total; /* the workbook's sheets announced; 0: as count */
} bad_case;

/* Streams that break a rule give no sheets at all. */
static void test_refused(void **state)
{
    static const bad_case cases[] = {
        {"more sheets than announced", {{0, "input-a.csv", "x"}}, 1, 1, "junk", 0, 0},
        {"fewer sheets than announced", {{0, "input-a.csv", "x"}}, 1, 2, "", 0, 0},
        {"over [office] max_sheets",
         {{0, "input-a.csv", "x"}, {0, "input-b.csv", "y"}},
         2,
         2,
         "",
         1,
         0},
        {"a name not input-*.csv", {{0, "evil.csv", "x"}}, 1, 1, "", 0, 0},
        {"a name not ending .csv", {{0, "input-a.txt", "x"}}, 1, 1, "", 0, 0},
        {"unknown flags", {{2, "input-a.csv", "x"}}, 1, 1, "", 0, 0},
        {"not UTF-8", {{0, "input-a.csv", "\xff\xfe"}}, 1, 1, "", 0, 0},
        {"a NUL byte", {{0, "input-a.csv", ""}}, 1, 1, "", 0, 0},
        {"a workbook of fewer sheets than sent",
         {{0, "input-a.csv", "x"}, {0, "input-b.csv", "y"}},
         2,
         2,
         "",
         0,
         1},
        {"a workbook of more sheets than a jail tells of",
         {{0, "input-a.csv", "x"}},
         1,
         1,
         "",
         0,
         JAIL_SHEETS_MAX + 2},
    };
    char why[256];

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const bad_case *k = &cases[i];
        conf *c = conf_new_defaults();
        san_result r;
        if (k->max_sheets)
            c->office_max_sheets = k->max_sheets;
        int fd = stream_of(k->f, k->n, k->count, k->total, k->extra);
        if (strcmp(k->what, "a NUL byte") == 0) { /* "x\0y" as the CSV */
            close(fd);
            GString *g = g_string_new("MGS2");
            put_u32(g, 1), put_u32(g, 1), put_u32(g, 0), put_u32(g, 11);
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
    GString *g = g_string_new("MGS2");
    san_result r;
    char why[256];

    (void)state;
    put_u32(g, 1), put_u32(g, 1), put_u32(g, 0), put_u32(g, 11);
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

/* A stream of n sheets named "input-a" + 10 invisible characters + ".csv", all different but
 * all made the same name "a"; flags 1 for every other one. */
static int stream_alike(size_t n)
{
    GString *g = g_string_new("MGS2");
    int fd = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);

    put_u32(g, (uint32_t)n);
    put_u32(g, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        GString *name = g_string_new("input-a");
        for (int b = 0; b < 10; b++) /* ZERO WIDTH SPACE or LEFT-TO-RIGHT MARK: dropped */
            g_string_append(name, i >> b & 1 ? "\xe2\x80\x8b" : "\xe2\x80\x8e");
        g_string_append(name, ".csv");
        put_u32(g, (uint32_t)(i & 1));
        put_u32(g, (uint32_t)name->len);
        g_string_append_len(g, name->str, (gssize)name->len);
        put_u32(g, 2);
        g_string_append(g, "1\n");
        g_string_free(name, TRUE);
    }
    assert_true(fd >= 0);
    assert_int_equal(mg_write_all(fd, g->str, g->len), 0);
    g_string_free(g, TRUE);
    return fd;
}

/* 1,024 sheets whose names all clean to one are made unique quickly (their number squared at
 * worst, not cubed), each within SAN_SHEET_NAME_MAX bytes, no two files alike. */
static void test_names_alike(void **state)
{
    conf *c = conf_new_defaults();
    GHashTable *files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    san_result r;
    char why[256];
    int fd = stream_alike(1024);

    (void)state;
    c->office_max_sheets = 1024;
    memset(&r, 0, sizeof r);
    double t0 = mg_now();
    assert_int_equal(sheets_read(c, fd, &r, why, sizeof why), 0);
    double took = mg_now() - t0;
    print_message("1024 sheets named alike: %.2f s\n", took);
    assert_true(took < 5.0);
    assert_int_equal(r.nsheets, 1024);
    assert_string_equal(r.sheets[0].name, "a");
    assert_string_equal(r.sheets[1].name, "a"); /* hidden: "a (hidden).csv", another file */
    assert_string_equal(r.sheets[2].name, "a (2)");
    for (size_t i = 0; i < r.nsheets; i++) {
        char *file = san_sheet_file_name("book", &r.sheets[i]);
        assert_true(strlen(r.sheets[i].name) <= SAN_SHEET_NAME_MAX);
        assert_true(g_hash_table_add(files, g_utf8_casefold(file, -1)));
        g_free(file);
    }
    san_result_clear(&r);
    close(fd);
    g_hash_table_destroy(files);
    conf_free(c);
}

/* Names a file system would take for one (fullwidth letters, case, composed or not) are
 * unique; a long name that needs a suffix stays within SAN_SHEET_NAME_MAX bytes. */
static void test_names_compat(void **state)
{
    static const frame f[] = {
        {0, "input-data.csv", "1\n"},
        {0, "input-\xef\xbd\x84\xef\xbd\x81\xef\xbd\x94\xef\xbd\x81.csv", "2\n"}, /* ｄａｔａ */
        {0, "input-\xc3\xa9t\xc3\xa9.csv", "3\n"},                                /* été */
        {0, "input-e\xcc\x81te\xcc\x81.csv", "4\n"}, /* the same, decomposed */
        {0, "input-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.csv", "5\n"},
        {0, "input-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX.csv", "6\n"},
    };
    conf *c = conf_new_defaults();
    san_result r;
    char why[256];
    int fd = stream(f, G_N_ELEMENTS(f), G_N_ELEMENTS(f), "");

    (void)state;
    memset(&r, 0, sizeof r);
    assert_int_equal(sheets_read(c, fd, &r, why, sizeof why), 0);
    assert_string_equal(r.sheets[0].name, "data");
    assert_string_equal(r.sheets[1].name, "\xef\xbd\x84\xef\xbd\x81\xef\xbd\x94\xef\xbd\x81 (2)");
    assert_string_equal(r.sheets[2].name, "\xc3\xa9t\xc3\xa9");
    assert_string_equal(r.sheets[3].name, "e\xcc\x81te\xcc\x81 (2)");
    assert_int_equal(strlen(r.sheets[4].name), SAN_SHEET_NAME_MAX);
    assert_true(strlen(r.sheets[5].name) <= SAN_SHEET_NAME_MAX);
    assert_true(g_str_has_suffix(r.sheets[5].name, "X (2)"));
    san_result_clear(&r);
    close(fd);
    conf_free(c);
}

/* Every cell a spreadsheet could take for a formula gets the quote, also behind any blank or
 * invisible character and in every compatibility form of = + - @; others are kept. */
static void test_formulas(void **state)
{
    static const struct {
        const char *cell, *out;
    } cases[] = {
        {"=1+1", "'=1+1"},
        {"  +1", "'  +1"},
        {"\"\t-1\"", "\"'\t-1\""},
        {"\"\r@SUM(A1)\"", "\"'\r@SUM(A1)\""},
        {"\xef\xbc\x9d"
         "1",
         "'\xef\xbc\x9d"
         "1"},                               /* fullwidth = */
        {"\xef\xbc\xa0x", "'\xef\xbc\xa0x"}, /* fullwidth @ */
        {"\xef\xb9\xa6"
         "1",
         "'\xef\xb9\xa6"
         "1"}, /* small = */
        {"\xef\xb9\xa3"
         "1",
         "'\xef\xb9\xa3"
         "1"},                                 /* small - */
        {"\xe2\x80\x83=1", "'\xe2\x80\x83=1"}, /* em space */
        {"\xe2\x80\xaf+1", "'\xe2\x80\xaf+1"}, /* narrow no-break space */
        {"\xe2\x80\x8f=1", "'\xe2\x80\x8f=1"}, /* right-to-left mark */
        {"\xc2\xad-1", "'\xc2\xad-1"},         /* soft hyphen */
        {"\xe3\x80\x80\xef\xbc\x8b"
         "1",
         "'\xe3\x80\x80\xef\xbc\x8b"
         "1"},
        {"'=kept", "'=kept"},
        {"1-2", "1-2"},
        {"\xe2\x88\x92"
         "1",
         "\xe2\x88\x92"
         "1"}, /* MINUS SIGN: a number, no formula */
        {"\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        conf *c = conf_new_defaults();
        char *csv = g_strdup_printf("x,%s\n", cases[i].cell);
        frame f[] = {{0, "input-a.csv", csv}};
        san_result r;
        char why[256];
        int fd = stream(f, 1, 1, "");
        memset(&r, 0, sizeof r);
        assert_int_equal(sheets_read(c, fd, &r, why, sizeof why), 0);
        char *text = sheet_text(&r.sheets[0]);
        char *want = g_strdup_printf("\xEF\xBB\xBFx,%s\n", cases[i].out);
        if (strcmp(text, want) != 0)
            fail_msg("case %zu: got [%s], want [%s]", i, text, want);
        g_free(want);
        g_free(text);
        g_free(csv);
        san_result_clear(&r);
        close(fd);
        conf_free(c);
    }
}

/* ---- the jail's init, fed by a taken-over LibreOffice ---- */

/* A stand-in for LibreOffice: a shell script that, by the first line of its input, leaves in
 * the work directory what a taken-over LibreOffice could. */
static const char soffice_script[] =
    "#!/bin/sh\n"
    "target= out= in=\n"
    "while [ $# -gt 0 ]; do\n"
    "  case \"$1\" in\n"
    "  --convert-to) target=$2; shift ;;\n"
    "  --outdir) out=$2; shift ;;\n"
    "  *) in=$1 ;;\n"
    "  esac\n"
    "  shift\n"
    "done\n"
    "work=${out%/*}\n"
    "mode=$(head -n 1 \"$in\")\n"
    /* A flat ODS whose second sheet has a hidden table style; the same with a chart's own
     * table before it (no sheet); one whose style-name is too long to read. A first sheet
     * holding an embedded spreadsheet (its own <office:spreadsheet>, written inline), then
     * the second, shown or hidden; an export cut short after the first sheet. */
    "styles='<office:automatic-styles><style:style style:name=\"ta1\" style:family=\"table\">"
    "<style:table-properties table:display=\"true\"/></style:style>"
    "<style:style style:name=\"ta2\" style:family=\"table\">"
    "<style:table-properties table:display=\"false\"/></style:style></office:automatic-styles>'\n"
    "fods=\"$styles<office:body><office:spreadsheet><table:table table:name=\\\"a\\\" "
    "table:style-name=\\\"ta1\\\"><table:table-row/></table:table><table:table "
    "table:name=\\\"b\\\" table:style-name=\\\"ta2\\\"></table:table></office:spreadsheet>\"\n"
    "chart=\"$styles<office:body><office:spreadsheet><table:table table:name=\\\"a\\\" "
    "table:style-name=\\\"ta1\\\"><draw:object><office:document><office:body><office:chart>"
    "<table:table table:name=\\\"local-table\\\" table:style-name=\\\"ta2\\\"></table:table>"
    "</office:chart></office:body></office:document></draw:object></table:table><table:table "
    "table:name=\\\"b\\\" table:style-name=\\\"ta2\\\"></table:table></office:spreadsheet>\"\n"
    "long=\"$styles<office:spreadsheet><table:table table:style-name=\\\"$(printf '%0100d' 0)\\\">"
    "</table:table><table:table table:style-name=\\\"ta2\\\"></table:table>\"\n"
    "embed=\"$styles<office:body><office:spreadsheet><table:table table:name=\\\"a\\\" "
    "table:style-name=\\\"ta1\\\"><table:shapes><draw:frame><draw:object><office:document>"
    "<office:body><office:spreadsheet><table:table table:name=\\\"inner\\\" "
    "table:style-name=\\\"ta1\\\"></table:table></office:spreadsheet></office:body>"
    "</office:document></draw:object></draw:frame></table:shapes></table:table>\"\n"
    "cut=\"$styles<office:body><office:spreadsheet><table:table table:name=\\\"a\\\" "
    "table:style-name=\\\"ta1\\\"><table:table-row/></table:table>\"\n"
    /* The two sheets, then what LibreOffice writes after them that is no sheet: its copy of
     * another document's sheet a formula refers to, and a DDE link's data. */
    "two=\"$styles<office:body><office:spreadsheet><table:table table:name=\\\"a\\\" "
    "table:style-name=\\\"ta1\\\"></table:table><table:table table:name=\\\"b\\\" "
    "table:style-name=\\\"ta2\\\"></table:table>\"\n"
    "extref=\"$two<table:table table:name=\\\"&apos;file:///x.ods&apos;#S\\\" "
    "table:style-name=\\\"ta1\\\"><table:table-source/></table:table>\"\n"
    "dde=\"$two<table:dde-links><table:dde-link><office:dde-source/><table:table>"
    "<table:table-row/></table:table></table:dde-link></table:dde-links>\"\n"
    "mkdir -p \"$out\"\n"
    "case $target in\n"
    "pdf)\n"
    "  printf '%%PDF-1.4\\n%%%%EOF\\n' > \"$out/input.pdf\"\n"
    "  if [ \"$mode\" = fifo ]; then mkfifo \"$work/csv.log\"; fi ;;\n"
    "csv*)\n"
    "  case $mode in\n"
    "  fifo) echo x > \"$out/input-a.csv\" ;;\n"
    "  big) i=0; while [ $i -lt 40 ]; do truncate -s 3M \"$out/input-s$i.csv\";"
    " i=$((i + 1)); done ;;\n"
    "  slow) exec sleep 1000 ;;\n"
    /* A sheet written whole, the next cut in the middle of a row, then no end. */
    "  slowpart) echo 1 > \"$out/input-a.csv\"; printf '1,2\\n3,' > \"$out/input-b.csv\";\n"
    "    echo \"Writing sheet a -> $out/input-a.csv\"; exec sleep 1000 ;;\n"
    /* A sheet cut at the file size limit by a LibreOffice that still exits 0. */
    "  cut) yes 1 | head -c 5M > \"$out/input-a.csv\"; true ;;\n"
    /* As LibreOffice's launcher reports a soffice.bin a limit's signal ended (CPU time: the
     * CSV it was writing cut mid-row): exit 128 + the signal's number. */
    "  sigpart) echo 1 > \"$out/input-a.csv\"; printf '1,2\\n3,' > \"$out/input-b.csv\";\n"
    "    echo \"Writing sheet a -> $out/input-a.csv\"; sh -c 'kill -XCPU $$'; exit $? ;;\n"
    "  many) i=0; while [ $i -le 1024 ]; do echo $i > \"$out/input-s$i.csv\"; i=$((i + 1));"
    " done ;;\n"
    /* A sheet whose name is too long for a file: named in the report, no file made. */
    "  lost) b=$(printf '%0260d' 0); echo 1 > \"$out/input-a.csv\"; echo 3 > "
    "\"$out/input-c.csv\";\n"
    "    echo \"Writing sheet a -> $out/input-a.csv\"; echo \"Writing sheet $b -> "
    "$out/input-$b.csv\";\n"
    "    echo \"Writing sheet c -> $out/input-c.csv\" ;;\n"
    /* A sheet name with a line end in it, as LibreOffice reports it. */
    "  lognl) nl=$(printf '\\nx'); nl=${nl%x}; b=\"b${nl}Writing sheet zz\";\n"
    "    echo 1 > \"$out/input-a.csv\"; echo 2 > \"$out/input-$b.csv\"; echo 3 > "
    "\"$out/input-c.csv\";\n"
    "    echo \"Writing sheet a -> $out/input-a.csv\"; echo \"Writing sheet $b -> "
    "$out/input-$b.csv\";\n"
    "    echo \"Writing sheet c -> $out/input-c.csv\" ;;\n"
    "  fods*) echo 1 > \"$out/input-a.csv\"; echo 2 > \"$out/input-b.csv\";\n"
    "    echo \"Writing sheet a -> $out/input-a.csv\"; echo \"Writing sheet b -> "
    "$out/input-b.csv\";\n"
    "    mkfifo \"$out/input-c.csv\"; ln -s /etc/passwd \"$out/input-d.csv\" ;;\n"
    "  esac ;;\n"
    "fods*)\n"
    "  case $mode in\n"
    "  fodslink) rmdir \"$out\"; mkdir \"$work/x\"; echo \"$fods\" > \"$work/x/input.fods\";\n"
    "    ln -s x \"$out\" ;;\n"
    "  fodsdir) echo \"$fods\" > \"$out/input.fods\" ;;\n"
    "  lognl) echo \"$styles<office:spreadsheet><table:table table:style-name=\\\"ta1\\\">"
    "</table:table><table:table table:style-name=\\\"ta2\\\"></table:table><table:table "
    "table:style-name=\\\"ta1\\\"></table:table></office:spreadsheet>\" > \"$out/input.fods\" ;;\n"
    "  fodschart) echo \"$chart\" > \"$out/input.fods\" ;;\n"
    "  fodslong) echo \"$long\" > \"$out/input.fods\" ;;\n"
    "  fodsembed*) [ $mode = fodsembed ] && b=ta1 || b=ta2\n"
    "    echo \"$embed<table:table table:name=\\\"b\\\" table:style-name=\\\"$b\\\">"
    "</table:table></office:spreadsheet>\" > \"$out/input.fods\" ;;\n"
    "  fodscut) echo \"$cut\" > \"$out/input.fods\" ;;\n"
    "  fodsextref) echo \"$extref</office:spreadsheet>\" > \"$out/input.fods\" ;;\n"
    "  fodsdde) echo \"$dde</office:spreadsheet>\" > \"$out/input.fods\" ;;\n"
    "  esac ;;\n"
    "esac\n";

/* [office] max_sheets for office_run when not 0. */
static unsigned run_max_sheets;

/* Run the stand-in on mode with small limits: the jail's status, the PDF and the sheets'
 * stream (its size in *stream_size, what sheets_read made of it in r). Skips where no jail
 * can be made. */
static jail_status office_run(const char *mode, san_result *r, off_t *stream_size, char **pdf,
                              int *read_rc)
{
    conf *c = conf_new_defaults();
    char *dir = g_dir_make_tmp("mugai-sheets-XXXXXX", NULL);
    char *script = g_build_filename(dir, "soffice", NULL);
    char *line = g_strdup_printf("%s\n", mode);
    char why[512] = "";
    struct stat st;

    assert_non_null(dir);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_true(g_file_set_contents(script, soffice_script, -1, NULL));
    assert_int_equal(chmod(script, 0755), 0);
    g_free(c->soffice_path);
    c->soffice_path = g_strdup(script);
    c->office_timeout = 8;
    c->jail_file_size_mb = 4;
    if (run_max_sheets)
        c->office_max_sheets = run_max_sheets;
    int in = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);
    int out = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);
    int sheets = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL, 0600);
    assert_true(in >= 0 && out >= 0 && sheets >= 0);
    assert_int_equal(mg_write_all(in, line, strlen(line)), 0);
    assert_int_equal(lseek(in, 0, SEEK_SET), 0);
    jail_status js = jail_office_convert(c, in, "xlsx", out, sheets, why, sizeof why);
    print_message("%s: %s %s\n", mode, jail_status_name(js), why);
    if (js == JAIL_UNAVAILABLE)
        skip();
    assert_int_equal(fstat(sheets, &st), 0);
    *stream_size = st.st_size;
    *pdf = g_malloc0(64);
    (void)pread(out, *pdf, 63, 0);
    memset(r, 0, sizeof *r);
    *read_rc = sheets_read(c, sheets, r, why, sizeof why);
    print_message("%s: stream of %lld bytes: %s\n", mode, (long long)st.st_size,
                  *read_rc == 0 ? "read" : why);
    close(in);
    close(out);
    close(sheets);
    unlink(script);
    rmdir(dir);
    g_free(script);
    g_free(dir);
    g_free(line);
    conf_free(c);
    return js;
}

/* A FIFO left where the init writes LibreOffice's report does not stop it: the report is a
 * new file, the sheets come and the PDF too. */
static void test_init_fifo_log(void **state)
{
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    assert_int_equal(office_run("fifo", &r, &size, &pdf, &rc), JAIL_OK);
    assert_true(g_str_has_prefix(pdf, "%PDF-"));
    assert_int_equal(rc, 0);
    assert_int_equal(r.nsheets, 1);
    assert_string_equal(r.sheets[0].name, "a");
    g_free(pdf);
    san_result_clear(&r);
}

/* Forty sparse files of 3 MiB (120 MiB that take no room in the jail) are not copied to the
 * worker's disk: the init sends no more than [jail] file_size_mb (4 MiB here), which the
 * trusted side refuses. */
static void test_init_bounded(void **state)
{
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    assert_int_equal(office_run("big", &r, &size, &pdf, &rc), JAIL_OK);
    assert_true(g_str_has_prefix(pdf, "%PDF-"));
    assert_true(size <= (4 << 20) + 4096);
    assert_int_equal(rc, -1);
    assert_int_equal(r.nsheets, 0);
    g_free(pdf);
}

/* A sheet the file size limit cut short (LibreOffice stopped at [jail] file_size_mb, 4 MiB
 * here, under [render] max_text_mb) is not sent as if whole: its frame's head alone, which
 * the trusted side refuses; the PDF stays. */
static void test_init_cut(void **state)
{
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    assert_int_equal(office_run("cut", &r, &size, &pdf, &rc), JAIL_OK);
    assert_true(g_str_has_prefix(pdf, "%PDF-"));
    assert_true(size < 4096);
    assert_int_equal(rc, -1);
    assert_int_equal(r.nsheets, 0);
    g_free(pdf);
}

/* More sheets than the init lists (1025; [office] max_sheets at its most, 1024) give the
 * count alone, which the trusted side refuses, never the first 1024 as if they were all. */
static void test_init_many(void **state)
{
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    run_max_sheets = 1024;
    assert_int_equal(office_run("many", &r, &size, &pdf, &rc), JAIL_OK);
    run_max_sheets = 0;
    assert_true(g_str_has_prefix(pdf, "%PDF-"));
    assert_int_equal(size, 12); /* "MGS2", the count and the workbook's */
    assert_int_equal(rc, -1);
    g_free(pdf);
}

/* An export of the sheets that never ends costs the sheets, never the PDF: the init ends it
 * before the jail's deadline. */
static void test_init_slow(void **state)
{
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    double t0 = mg_now();
    assert_int_equal(office_run("slow", &r, &size, &pdf, &rc), JAIL_OK);
    assert_true(mg_now() - t0 < 8.0);
    assert_true(g_str_has_prefix(pdf, "%PDF-"));
    assert_int_equal(r.nsheets, 0);
    g_free(pdf);
    san_result_clear(&r);
}

/* An export ended at its time, after a sheet and in the middle of the next, sends nothing
 * (the trusted side goes without the sheets) rather than a cut sheet as if it were whole; so
 * does one a limit's signal ended, which LibreOffice's launcher reports as an exit of 128 +
 * the signal's number. */
static void test_init_slow_part(void **state)
{
    static const char *const modes[] = {"slowpart", "sigpart"};
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(office_run(modes[i], &r, &size, &pdf, &rc), JAIL_OK);
        assert_true(g_str_has_prefix(pdf, "%PDF-"));
        if (size != 0)
            fail_msg("%s: a stream of %lld bytes", modes[i], (long long)size);
        assert_int_equal(rc, -1);
        assert_int_equal(r.nsheets, 0);
        g_free(pdf);
        san_result_clear(&r);
    }
}

/* The flat ODS export tells the hidden sheet (a chart's own table is no sheet, nor are an
 * embedded spreadsheet's, whose end is not the workbook's, another document's sheet that a
 * formula refers to, or a DDE link's data); its directory is followed only when it is a real
 * one, and a style name too long to read or an export cut short (the sheets after the cut
 * unseen) tells nothing: then the init hides none. A FIFO and a link among the CSVs are no
 * sheets. No sheet is counted lost. */
static void test_init_fods(void **state)
{
    static const struct {
        const char *mode;
        bool hidden;
    } rows[] = {{"fodsdir", true},   {"fodschart", true},  {"fodslink", false},
                {"fodslong", false}, {"fodsembed", false}, {"fodsembedhidden", true},
                {"fodscut", false},  {"fodsextref", true}, {"fodsdde", true}};
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(office_run(rows[i].mode, &r, &size, &pdf, &rc), JAIL_OK);
        assert_int_equal(rc, 0);
        assert_int_equal(r.nsheets, 2);
        assert_false(r.sheets[0].hidden);
        if (r.sheets[1].hidden != rows[i].hidden)
            fail_msg("%s: the second sheet is %shidden", rows[i].mode,
                     r.sheets[1].hidden ? "" : "not ");
        if (r.sheets_lost != 0)
            fail_msg("%s: %u sheets lost", rows[i].mode, r.sheets_lost);
        g_free(pdf);
        san_result_clear(&r);
    }
}

/* A sheet LibreOffice names in its report but made no file for (its name too long for one)
 * is counted: the others come, and the reader is told one is missing. */
static void test_init_lost(void **state)
{
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    assert_int_equal(office_run("lost", &r, &size, &pdf, &rc), JAIL_OK);
    assert_int_equal(rc, 0);
    assert_int_equal(r.nsheets, 2);
    assert_string_equal(r.sheets[0].name, "a");
    assert_string_equal(r.sheets[1].name, "c");
    assert_int_equal(r.sheets_lost, 1);
    g_free(pdf);
    san_result_clear(&r);
}

/* The workbook's sheets the jail counts, beyond those sent, are sheets lost. */
static void test_lost_count(void **state)
{
    static const frame f[] = {{0, "input-a.csv", "x\n"}};
    conf *c = conf_new_defaults();
    san_result r;
    char why[256];
    int fd = stream_of(f, 1, 1, 3, "");

    (void)state;
    memset(&r, 0, sizeof r);
    assert_int_equal(sheets_read(c, fd, &r, why, sizeof why), 0);
    assert_int_equal(r.nsheets, 1);
    assert_int_equal(r.sheets_lost, 2);
    san_result_clear(&r);
    close(fd);
    conf_free(c);
}

/* A sheet whose name holds a line end (which LibreOffice allows, and prints as is in its
 * report) does not shift which sheet is which: the one after it is still not hidden. */
static void test_init_log_newline(void **state)
{
    san_result r;
    off_t size;
    char *pdf;
    int rc;

    (void)state;
    assert_int_equal(office_run("lognl", &r, &size, &pdf, &rc), JAIL_OK);
    assert_int_equal(rc, 0);
    assert_int_equal(r.nsheets, 3);
    for (size_t i = 0; i < r.nsheets; i++)
        if (strcmp(r.sheets[i].name, "a") == 0 || strcmp(r.sheets[i].name, "c") == 0)
            assert_false(r.sheets[i].hidden);
    g_free(pdf);
    san_result_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_refused),
        cmocka_unit_test(test_too_large),     cmocka_unit_test(test_names_alike),
        cmocka_unit_test(test_names_compat),  cmocka_unit_test(test_formulas),
        cmocka_unit_test(test_init_fifo_log), cmocka_unit_test(test_init_bounded),
        cmocka_unit_test(test_init_slow),     cmocka_unit_test(test_init_slow_part),
        cmocka_unit_test(test_init_fods),     cmocka_unit_test(test_init_log_newline),
        cmocka_unit_test(test_init_lost),     cmocka_unit_test(test_lost_count),
        cmocka_unit_test(test_init_cut),      cmocka_unit_test(test_init_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
