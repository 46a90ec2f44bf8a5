/*
 * tests/unit/test_archive.c - archives (sanitize/archive.c) against a stand-in
 * engine: names, bounds, encryption, nesting, link entries and the rebuilt
 * zip, one row per input made by tests/gen/make_archives.py.
 *
 * Usage: test_archive INPUT_DIR. The stand-in san_convert_fd treats a zip
 * member as a nested archive, blocks programs and the EICAR test file, and
 * copies everything else as "sanitized"; the real engine is tested end to end
 * by tests/archive/test_archive.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

/* The file under test, static functions included. */
#include "archive.c"

struct san_engine {
    conf *c;
};

static const char *input_dir;

/* The stand-in engine's configuration. */
const conf *san_engine_conf(const san_engine *e)
{
    return e->c;
}

/* A new anonymous temporary file, or -1. */
static int tmp_fd(void)
{
    return open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
}

/* Stand-in for a nested archive: recurse into archive_sanitize. */
static int fake_archive(san_engine *e, int in_fd, const char *name, san_budget *b, san_result *r,
                        int *out_fd, const char **out_ext)
{
    int fd = tmp_fd();
    int rc;

    r->kind = g_strdup("archive");
    r->verdict = SAN_SANITIZED;
    rc = archive_sanitize(e, in_fd, name, b, fd, r);
    if (rc == 0 && r->verdict == SAN_SANITIZED) {
        lseek(fd, 0, SEEK_SET);
        *out_fd = fd;
        *out_ext = "zip";
    } else {
        close(fd);
    }
    return rc;
}

/* Stand-in for a converted member: the content as it is, extension pdf/png/csv or txt. */
static int fake_copy(const char *data, size_t len, const char *name, san_result *r, int *out_fd,
                     const char **out_ext)
{
    const char *dot = strrchr(name, '.');
    int fd = tmp_fd();

    if (fd < 0 || mg_write_all(fd, data, len) < 0)
        return -1;
    lseek(fd, 0, SEEK_SET);
    *out_fd = fd;
    *out_ext = "txt";
    if (dot && (strcmp(dot, ".pdf") == 0 || strcmp(dot, ".png") == 0 || strcmp(dot, ".csv") == 0))
        *out_ext = dot + 1;
    r->verdict = SAN_SANITIZED;
    r->kind = g_strdup("text");
    r->reason = g_strdup("converted");
    return 0;
}

/* Stand-in for the engine: nested zips recurse, programs and EICAR are blocked. */
int san_convert_fd(san_engine *e, int in_fd, const char *name, san_budget *b, san_result *r,
                   int *out_fd, const char **out_ext)
{
    char *data = NULL;
    size_t len = 0;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    *out_fd = -1;
    *out_ext = NULL;
    if (mg_read_all(in_fd, 64 * 1024 * 1024, &data, &len) < 0)
        return -1;
    if (len >= 4 && memcmp(data, "PK\3\4", 4) == 0) {
        lseek(in_fd, 0, SEEK_SET);
        rc = fake_archive(e, in_fd, name, b, r, out_fd, out_ext);
    } else if (memmem(data, len, "EICAR-STANDARD", 14)) {
        r->verdict = SAN_BLOCKED;
        r->kind = g_strdup("virus");
        r->signature = g_strdup("Mugai.Test.EICAR.UNOFFICIAL");
        r->reason = g_strdup("virus signature found");
    } else if (len >= 2 && data[0] == 'M' && data[1] == 'Z') {
        r->verdict = SAN_BLOCKED;
        r->kind = g_strdup("executable");
        r->reason = g_strdup("executable: blocked by policy");
    } else {
        rc = fake_copy(data, len, name, r, out_fd, out_ext);
    }
    free(data);
    return rc;
}

/* ---- the table ---- */

typedef struct arch_case {
    const char *file;
    san_verdict verdict;
    const char *reason_has;
    /* "name>output" or "name!V" (V: B blocked, H held, F failed) per member, '|' between */
    const char *members;
    unsigned max_entries, max_ratio; /* 0: default */
    size_t max_entry_mb, max_total_mb;
} arch_case;

static const arch_case cases[] = {
    {"mixed.zip", SAN_SANITIZED, "3 of 4 members sanitized",
     "report.pdf>report.pdf|pictures/photo.png>pictures/photo.png|note.txt>note.txt|"
     "setup.exe!B",
     0, 0, 0, 0},
    {"traversal.zip", SAN_SANITIZED, "6 of 6",
     "etc/passwd>etc/passwd.txt|abs/path.txt>abs/path.txt|Windows/evil.txt>Windows/evil.txt|"
     "a/b/c.txt>a/b/c.txt|badname.txt>badname.txt|member-6>member-6.txt",
     0, 0, 0, 0},
    {"cp932names.zip", SAN_SANITIZED, NULL, "請求書.txt>請求書.txt|請求書/明細.csv>請求書/明細.csv",
     0, 0, 0, 0},
    {"utf8names.zip", SAN_SANITIZED, NULL,
     "請求書/明細.txt>請求書/明細.txt|請求書/明細.TXT>請求書/明細 (2).txt", 0, 0, 0, 0},
    {"dup.zip", SAN_SANITIZED, NULL, "a.txt>a.txt|A.TXT>A (2).txt|a.text>a (3).txt", 0, 0, 0, 0},
    {"encrypted.zip", SAN_HELD, "encrypted archive", "", 0, 0, 0, 0},
    {"nested.zip", SAN_SANITIZED, "2 of 2", "level1.zip>level1.zip|level1.txt>level1.txt", 0, 0, 0,
     0},
    {"eicar.zip", SAN_SANITIZED, "1 of 2", "eicar.com.txt!B|ok.txt>ok.txt", 0, 0, 0, 0},
    {"docs.tar.gz", SAN_SANITIZED, "2 of 3",
     "docs/readme.txt>docs/readme.txt|docs/table.csv>docs/table.csv|docs/link!B", 0, 0, 0, 0},
    {"bundle.tar.bz2", SAN_SANITIZED, "2 of 3",
     "docs/readme.txt>docs/readme.txt|docs/table.csv>docs/table.csv|docs/link!B", 0, 0, 0, 0},
    {"memo.txt.gz", SAN_SANITIZED, "1 of 1", "memo.txt>memo.txt", 0, 0, 0, 0},
    {"data.txt.xz", SAN_SANITIZED, "1 of 1", "data.txt>data.txt", 0, 0, 0, 0},
    {"truncated.zip", SAN_FAILED, "malformed archive", NULL, 0, 0, 0, 0},
    {"badmethod.zip", SAN_SANITIZED, "1 of 2", "odd.txt!F|ok.txt>ok.txt", 0, 0, 0, 0},
    {"empty.zip", SAN_BLOCKED, "no member could be sanitized", "", 0, 0, 0, 0},
    {"bomb.zip", SAN_BLOCKED, "compression ratio over 100: archive bomb", "zeros.txt!B", 0, 0, 0,
     0},
    {"bomb.zip", SAN_BLOCKED, "larger than 3 MiB", "zeros.txt!B", 0, 100000, 3, 0},
    {"bomb.zip", SAN_BLOCKED, "more than 5 MiB", "zeros.txt!B", 0, 100000, 100, 5},
    {"mixed.zip", SAN_BLOCKED, "more than 2 entries", NULL, 2, 0, 0, 0},
};

/* The names in the zip on fd, '|'-joined. Caller g_free()s. */
static char *zip_names(int fd)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ent;
    GString *s = g_string_new(NULL);

    lseek(fd, 0, SEEK_SET);
    setlocale(LC_CTYPE, "C.UTF-8"); /* archive.c itself must not need this */
    archive_read_support_format_zip(a);
    assert_int_equal(archive_read_open_fd(a, fd, 10240), ARCHIVE_OK);
    while (archive_read_next_header(a, &ent) == ARCHIVE_OK) {
        g_string_append_printf(s, "%s%s", s->len ? "|" : "", archive_entry_pathname_utf8(ent));
        assert_int_equal(archive_read_data_skip(a), ARCHIVE_OK);
    }
    archive_read_free(a);
    setlocale(LC_CTYPE, "C");
    return g_string_free(s, FALSE);
}

/* Check r->members against the expectation string; returns the expected zip names. */
static char *check_members(const san_result *r, const char *want)
{
    char **rows = g_strsplit(want, "|", -1);
    GString *outs = g_string_new(NULL);
    size_t n = want[0] ? g_strv_length(rows) : 0;

    assert_int_equal(r->nmembers, n);
    for (size_t i = 0; i < n; i++) {
        const san_member *m = &r->members[i];
        char *sep = strpbrk(rows[i], ">!");
        assert_non_null(m->r.reason);
        char mark;
        assert_non_null(sep);
        mark = *sep;
        *sep = '\0';
        assert_string_equal(m->name, rows[i]);
        if (mark == '>') {
            assert_int_equal(m->r.verdict, SAN_SANITIZED);
            assert_string_equal(m->output_name, sep + 1);
            g_string_append_printf(outs, "%s%s", outs->len ? "|" : "", sep + 1);
        } else {
            assert_int_equal(m->r.verdict, sep[1] == 'B'   ? SAN_BLOCKED
                                           : sep[1] == 'H' ? SAN_HELD
                                                           : SAN_FAILED);
            assert_null(m->output_name);
        }
    }
    g_strfreev(rows);
    return g_string_free(outs, FALSE);
}

/* Run archive_sanitize on path with c; out_fd gets the zip. */
static int run_one(conf *c, const char *path, int out_fd, san_result *r)
{
    san_engine e = {c};
    san_budget b = {0};
    int in_fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;

    assert_true(in_fd >= 0);
    memset(r, 0, sizeof(*r));
    rc = archive_sanitize(&e, in_fd, path, &b, out_fd, r);
    close(in_fd);
    return rc;
}

/* One row: verdict, reason, members, and the zip holding exactly the sanitized ones. */
static void check_case(const arch_case *tc)
{
    conf *c = conf_new_defaults();
    char *path = g_build_filename(input_dir, tc->file, NULL);
    int out_fd = tmp_fd();
    san_result r;
    struct stat st;

    c->archive_max_entries = tc->max_entries ? tc->max_entries : c->archive_max_entries;
    c->archive_max_ratio = tc->max_ratio ? tc->max_ratio : c->archive_max_ratio;
    c->archive_max_entry_mb = tc->max_entry_mb ? tc->max_entry_mb : c->archive_max_entry_mb;
    c->archive_max_total_mb = tc->max_total_mb ? tc->max_total_mb : c->archive_max_total_mb;
    print_message("%s\n", tc->file);
    assert_int_equal(run_one(c, path, out_fd, &r), 0);
    print_message("  -> %s: %s\n", san_verdict_name(r.verdict), r.reason);
    assert_int_equal(r.verdict, tc->verdict);
    if (tc->reason_has)
        assert_non_null(strstr(r.reason, tc->reason_has));
    if (tc->members) {
        char *want = check_members(&r, tc->members);
        if (r.verdict == SAN_SANITIZED) {
            char *got = zip_names(out_fd);
            assert_string_equal(got, want);
            g_free(got);
        }
        g_free(want);
    }
    assert_int_equal(fstat(out_fd, &st), 0);
    if (r.verdict != SAN_SANITIZED)
        assert_int_equal(st.st_size, 0);
    close(out_fd);
    san_result_clear(&r);
    g_free(path);
    conf_free(c);
}

/* Every row of the table. */
static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
        check_case(&cases[i]);
}

typedef struct name_case {
    const char *raw;
    const char *normalized;
} name_case;

static const name_case name_cases[] = {
    {"report.pdf", "report.pdf"},
    {"../../etc/passwd", "etc/passwd"},
    {"/abs/path", "abs/path"},
    {"C:\\Windows\\System32\\x.dll", "Windows/System32/x.dll"},
    {"c:relative.txt", "relative.txt"},
    {"a//b/./c/../d", "a/b/c/d"},
    {"tab\there\x7f.txt", "tabhere.txt"},
    {"..", "member-7"},
    {"", "member-7"},
    {"/./../", "member-7"},
    {"請求書/明細.xlsx", "請求書/明細.xlsx"},
    {"dir/C:/x", "dir/C:/x"},
    {"invoice\u202Efdp.txt", "invoicefdp.txt"},
    {"\u2066a\u2069\u2067\u2068b\u200E\u200F\u061C.txt", "ab.txt"},
    {"zero\u200Bwidth\u2060\uFEFF\U000E0041\u2028.txt", "zerowidth.txt"},
    {"\u202A\u202B\u202C\u202D/x", "x"},
    {"emoji\U0001F468\u200D\U0001F469.txt", "emoji\U0001F468\u200D\U0001F469.txt"},
};

/* Unsafe names are normalized. */
static void test_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(name_cases); i++) {
        char *n = name_normalize(name_cases[i].raw, 7);
        assert_string_equal(n, name_cases[i].normalized);
        g_free(n);
    }
}

/* Names without the UTF-8 flag are decoded from the Japanese charsets. */
static void test_name_decoding(void **state)
{
    /* "請求書.txt" in CP932 and in EUC-JP, and a string that is valid UTF-8 already. */
    static const char cp932[] = "\x90\xbf\x8b\x81\x8f\x91.txt";
    static const char eucjp[] = "\xc0\xc1\xb5\xe1\xbd\xf1.txt";
    char *a = name_to_utf8(cp932, sizeof(cp932) - 1);
    char *b = name_to_utf8(eucjp, sizeof(eucjp) - 1);
    char *c = name_to_utf8("明細.pdf", strlen("明細.pdf"));

    (void)state;
    assert_string_equal(a, "請求書.txt");
    assert_true(g_utf8_validate(b, -1, NULL));
    assert_string_equal(c, "明細.pdf");
    g_free(a);
    g_free(b);
    g_free(c);
}

/* Output names get the new extension and are unique ignoring case. */
static void test_output_names(void **state)
{
    GHashTable *used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    static const char *const rows[][3] = {
        {"請求書/明細.xlsx", "pdf", "請求書/明細.pdf"},
        {"請求書/明細.docx", "pdf", "請求書/明細 (2).pdf"},
        {"README", "txt", "README.txt"},
        {".profile", "txt", ".profile.txt"},
        {"v1.2/notes", "txt", "v1.2/notes.txt"},
        {"readme.TXT", "txt", "readme (2).txt"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        char *n = name_output(used, rows[i][0], rows[i][1]);
        assert_string_equal(n, rows[i][2]);
        g_free(n);
    }
    g_hash_table_destroy(used);
}

/* The member of a lone compressed file is named after it. */
static void test_raw_names(void **state)
{
    static const char *const rows[][2] = {
        {"/x/memo.txt.gz", "memo.txt"},
        {"data.TXT.XZ", "data.TXT"},
        {"a.tgz", "a.tar"},
        {".gz", "member-1"},
        {"noext", "member-1"},
        {"b.csv.bz2", "b.csv"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        char *n = name_raw_member(rows[i][0]);
        assert_string_equal(n, rows[i][1]);
        g_free(n);
    }
}

/* The innermost archives of nested.zip are beyond the depth bound. */
static void test_depth(void **state)
{
    conf *c = conf_new_defaults();
    char *path = g_build_filename(input_dir, "nested.zip", NULL);
    int out_fd = tmp_fd();
    const san_result *lv;
    san_result r;

    (void)state;
    assert_int_equal(run_one(c, path, out_fd, &r), 0);
    assert_int_equal(r.verdict, SAN_SANITIZED);
    lv = &r.members[0].r; /* level1.zip, depth 1 */
    assert_int_equal(lv->verdict, SAN_SANITIZED);
    assert_int_equal(lv->nmembers, 2);
    lv = &lv->members[0].r; /* level2.zip, depth 2 */
    assert_int_equal(lv->verdict, SAN_SANITIZED);
    assert_int_equal(lv->nmembers, 2);
    assert_string_equal(lv->members[0].name, "level3.zip");
    assert_int_equal(lv->members[0].r.verdict, SAN_BLOCKED);
    assert_non_null(strstr(lv->members[0].r.reason, "nested too deep"));
    assert_int_equal(lv->members[1].r.verdict, SAN_SANITIZED);
    close(out_fd);
    san_result_clear(&r);
    g_free(path);
    conf_free(c);
}

/* A file that is no archive at all fails; a zip bomb stops early with little memory. */
static void test_not_archive_and_memory(void **state)
{
    conf *c = conf_new_defaults();
    char *path = g_build_filename(input_dir, "plain.txt", NULL);
    int out_fd = tmp_fd();
    struct rusage ru;
    san_result r;

    (void)state;
    assert_true(g_file_set_contents(path, "just text\n", -1, NULL));
    assert_int_equal(run_one(c, path, out_fd, &r), 0);
    assert_int_equal(r.verdict, SAN_FAILED);
    assert_non_null(strstr(r.reason, "not a recognised archive"));
    san_result_clear(&r);
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    assert_true(ru.ru_maxrss < 64 * 1024); /* KiB: the 1 GiB bomb was never held */
    close(out_fd);
    g_free(path);
    conf_free(c);
}

/* Write a 7z with a Japanese-named text member and a program, using libarchive. */
static void write_7z(const char *path)
{
    static const char *const names[] = {"日本語/メモ.txt", "tool.exe"};
    static const char *const data[] = {"memo\n", "MZ\x90"};
    struct archive *w = archive_write_new();

    setlocale(LC_CTYPE, "C.UTF-8");
    assert_int_equal(archive_write_set_format_7zip(w), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    for (size_t i = 0; i < 2; i++) {
        struct archive_entry *ent = archive_entry_new();
        archive_entry_set_pathname_utf8(ent, names[i]);
        archive_entry_set_filetype(ent, AE_IFREG);
        archive_entry_set_perm(ent, 0644);
        archive_entry_set_size(ent, (la_int64_t)strlen(data[i]));
        assert_int_equal(archive_write_header(w, ent), ARCHIVE_OK);
        assert_int_equal(archive_write_data(w, data[i], strlen(data[i])), strlen(data[i]));
        archive_entry_free(ent);
    }
    assert_int_equal(archive_write_free(w), ARCHIVE_OK);
    setlocale(LC_CTYPE, "C");
}

/* A 7z is read like a zip; its UTF-16 names come out as UTF-8. */
static void test_7z(void **state)
{
    conf *c = conf_new_defaults();
    char *path = g_build_filename(input_dir, "made.7z", NULL);
    int out_fd = tmp_fd();
    san_result r;
    char *names;

    (void)state;
    write_7z(path);
    assert_int_equal(run_one(c, path, out_fd, &r), 0);
    assert_int_equal(r.verdict, SAN_SANITIZED);
    names = check_members(&r, "日本語/メモ.txt>日本語/メモ.txt|tool.exe!B");
    g_free(names);
    names = zip_names(out_fd);
    assert_string_equal(names, "日本語/メモ.txt");
    g_free(names);
    close(out_fd);
    san_result_clear(&r);
    g_free(path);
    conf_free(c);
}

/* A zip encrypted for real (traditional PKWARE encryption) by libarchive's writer is held. */
static void test_zipcrypto(void **state)
{
    conf *c = conf_new_defaults();
    char *path = g_build_filename(input_dir, "zipcrypto.zip", NULL);
    struct archive *w = archive_write_new();
    struct archive_entry *ent = archive_entry_new();
    int out_fd = tmp_fd();
    struct stat st;
    san_result r;

    (void)state;
    assert_int_equal(archive_write_set_format_zip(w), ARCHIVE_OK);
    assert_int_equal(archive_write_set_options(w, "zip:encryption=traditional"), ARCHIVE_OK);
    assert_int_equal(archive_write_set_passphrase(w, "secret"), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    archive_entry_set_pathname(ent, "secret.txt");
    archive_entry_set_filetype(ent, AE_IFREG);
    archive_entry_set_perm(ent, 0644);
    archive_entry_set_size(ent, 7);
    assert_int_equal(archive_write_header(w, ent), ARCHIVE_OK);
    assert_int_equal(archive_write_data(w, "hidden\n", 7), 7);
    archive_entry_free(ent);
    assert_int_equal(archive_write_free(w), ARCHIVE_OK);
    assert_int_equal(run_one(c, path, out_fd, &r), 0);
    assert_int_equal(r.verdict, SAN_HELD);
    assert_string_equal(r.reason, "encrypted archive: cannot inspect");
    assert_int_equal(fstat(out_fd, &st), 0);
    assert_int_equal(st.st_size, 0);
    close(out_fd);
    san_result_clear(&r);
    g_free(path);
    conf_free(c);
}

/* The reason of a member refused because the input has too many parts and members. */
static void assert_over_budget(const san_member *m, const char *limit)
{
    print_message("  %s: %s\n", m->name, m->r.reason);
    assert_int_equal(m->r.verdict, SAN_BLOCKED);
    assert_non_null(strstr(m->r.reason, "too many parts and members in all"));
    assert_non_null(strstr(m->r.reason, limit));
}

/* nested.zip holds 6 members at 3 levels; the budget of the whole input is 4 (max_entries 4,
 * max_parts 1), taken depth first: every archive alone is within max_entries. */
static void test_budget_parts(void **state)
{
    conf *c = conf_new_defaults();
    char *path = g_build_filename(input_dir, "nested.zip", NULL);
    int out_fd = tmp_fd();
    const san_result *lv1, *lv2;
    san_result r;

    (void)state;
    c->archive_max_entries = 4;
    c->mail_max_parts = 1;
    assert_int_equal(run_one(c, path, out_fd, &r), 0);
    assert_int_equal(r.verdict, SAN_SANITIZED);
    lv1 = &r.members[0].r; /* level1.zip: 1 */
    assert_int_equal(lv1->verdict, SAN_SANITIZED);
    lv2 = &lv1->members[0].r; /* level2.zip: 2, level3.zip: 3 (too deep), level3.txt: 4 */
    assert_int_equal(lv2->verdict, SAN_SANITIZED);
    assert_string_equal(lv2->members[1].name, "level3.txt");
    assert_int_equal(lv2->members[1].r.verdict, SAN_SANITIZED);
    assert_over_budget(&lv1->members[1], "(limit 4)"); /* level2.txt */
    assert_over_budget(&r.members[1], "(limit 4)");    /* level1.txt */
    close(out_fd);
    san_result_clear(&r);
    g_free(path);
    conf_free(c);
}

/* Write data as a lone gzip-compressed file at path, with libarchive. */
static void write_gz(const char *path, const void *data, size_t len)
{
    struct archive *w = archive_write_new();
    struct archive_entry *ent = archive_entry_new();

    assert_int_equal(archive_write_set_format_raw(w), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(w), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    archive_entry_set_pathname(ent, "data");
    archive_entry_set_filetype(ent, AE_IFREG);
    archive_entry_set_size(ent, (la_int64_t)len);
    assert_int_equal(archive_write_header(w, ent), ARCHIVE_OK);
    assert_int_equal(archive_write_data(w, data, len), (la_ssize_t)len);
    archive_entry_free(ent);
    assert_int_equal(archive_write_free(w), ARCHIVE_OK);
}

/* The data of the first member of the zip on fd. Caller g_free()s. */
static char *zip_first(int fd, size_t *len)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ent;
    GString *s = g_string_new(NULL);
    char buf[4096];
    la_ssize_t n;

    lseek(fd, 0, SEEK_SET);
    archive_read_support_format_zip(a);
    assert_int_equal(archive_read_open_fd(a, fd, 10240), ARCHIVE_OK);
    assert_int_equal(archive_read_next_header(a, &ent), ARCHIVE_OK);
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
        g_string_append_len(s, buf, n);
    assert_int_equal(n, 0);
    archive_read_free(a);
    *len = s->len;
    return g_string_free(s, FALSE);
}

/* Put stand-ins for lrzip, lzop and grzip first in PATH; each creates dir/ran-NAME. */
static void fake_decompressors(const char *dir)
{
    static const char *const names[] = {"lrzip", "lzop", "grzip"};
    char *path = g_strdup_printf("%s:%s", dir, g_getenv("PATH") ? g_getenv("PATH") : "/usr/bin");

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        char *file = g_build_filename(dir, names[i], NULL);
        char *script =
            g_strdup_printf("#!/bin/sh\ntouch '%s/ran-%s'\ncat >/dev/null\n", dir, names[i]);
        assert_true(g_file_set_contents(file, script, -1, NULL));
        assert_int_equal(chmod(file, 0755), 0);
        g_free(script);
        g_free(file);
    }
    g_setenv("PATH", path, TRUE);
    g_free(path);
}

/* gzip around an lrzip or lzop stream: libarchive would hand the inner stream to the lrzip or
 * lzop program; the reader enables no such filter, so none runs and nothing is sanitized. */
static void test_no_external_program(void **state)
{
    static const char lrz[] = "LRZI\x00\x06\x00\x10\x00\x00\x00\x00\x00\x00junk";
    static const char lzo[] = "\x89LZO\x00\r\n\x1a\n\x10\x30\x20\xa0\x09\x40\x01\x05junk";
    static const struct {
        const char *name, *data;
        size_t len;
    } rows[] = {{"x.tar.lrz.gz", lrz, sizeof(lrz) - 1}, {"x.tar.lzo.gz", lzo, sizeof(lzo) - 1}};
    char *dir = g_build_filename(input_dir, "fakebin", NULL);
    conf *c = conf_new_defaults();

    (void)state;
    assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
    fake_decompressors(dir);
    /* libarchive itself: these filters exist only as external programs here */
    assert_false(filter_builtin(archive_read_support_filter_lrzip));
    assert_false(filter_builtin(archive_read_support_filter_lzop));
    assert_true(filter_builtin(archive_read_support_filter_gzip));
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        char *path = g_build_filename(input_dir, rows[i].name, NULL);
        int out_fd = tmp_fd();
        size_t got_len = 0;
        char *got;
        san_result r;
        print_message("%s\n", rows[i].name);
        write_gz(path, rows[i].data, rows[i].len);
        assert_int_equal(run_one(c, path, out_fd, &r), 0);
        /* One member: the inner stream as it is, for the engine to classify (and block). */
        assert_int_equal(r.nmembers, 1);
        assert_int_equal(strncmp(r.members[0].name, rows[i].name, strlen(rows[i].name) - 3), 0);
        got = zip_first(out_fd, &got_len);
        assert_int_equal(got_len, rows[i].len);
        assert_memory_equal(got, rows[i].data, rows[i].len);
        g_free(got);
        close(out_fd);
        san_result_clear(&r);
        g_free(path);
    }
    for (const char *n = "lrzip\0lzop\0grzip\0"; *n; n += strlen(n) + 1) {
        char *mark = g_strdup_printf("%s/ran-%s", dir, n);
        print_message("%s\n", mark);
        assert_false(g_file_test(mark, G_FILE_TEST_EXISTS));
        g_free(mark);
    }
    conf_free(c);
    g_free(dir);
}

/* Usage: test_archive INPUT_DIR. */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_name_decoding),
        cmocka_unit_test(test_output_names),
        cmocka_unit_test(test_raw_names),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_not_archive_and_memory),
        cmocka_unit_test(test_7z),
        cmocka_unit_test(test_zipcrypto),
        cmocka_unit_test(test_budget_parts),
        cmocka_unit_test(test_no_external_program),
    };

    if (argc != 2) {
        fprintf(stderr, "usage: test_archive INPUT_DIR (made by make_archives.py)\n");
        return 2;
    }
    input_dir = argv[1];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
