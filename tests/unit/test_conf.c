/*
 * tests/unit/test_conf.c - the configuration table and parser: defaults,
 * accepted values and every kind of rejected file, one row per case; and the
 * file URL a configured directory (TMPDIR, the Office profile) is given to
 * LibreOffice as (common/io.c mg_file_url).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "mg.h"

/* Write text to a temporary file; returns its path (caller frees). */
static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/mugai-conf-test-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    conf *c = conf_new_defaults();
    assert_int_equal(c->pdf_dpi, 150);
    assert_string_equal(c->clamav_db_dir, "/var/lib/clamav");
    assert_true(c->scan_required);
    assert_true(c->jail_seccomp);
    assert_string_equal(c->charsets, "UTF-8,CP932,EUC-JP,ISO-2022-JP");
    conf_free(c);
    conf_free(NULL);
}

static void test_values_applied(void **state)
{
    (void)state;
    char *err = NULL;
    char *path = write_temp("# comment\n[render]\npdf_dpi = 200\nimage_output=png\n"
                            "[scan]\nrequired = no\nclamav_db_dir = /srv/db\n"
                            "[jail]\nseccomp = off\nmemory_mb = 2048\n");
    conf *c = conf_load(path, &err);
    assert_non_null(c);
    assert_null(err);
    assert_int_equal(c->pdf_dpi, 200);
    assert_string_equal(c->image_output, "png");
    assert_false(c->scan_required);
    assert_string_equal(c->clamav_db_dir, "/srv/db");
    assert_false(c->jail_seccomp);
    assert_int_equal(c->jail_memory_mb, 2048);
    conf_free(c);
    unlink(path);
    free(path);
}

typedef struct bad_case {
    const char *text;
    const char *expect; /* substring of the error after the file name */
} bad_case;

static const bad_case bad_cases[] = {
    {"[render]\npdf_dpi = 20\n",
     ":2: [render] pdf_dpi: \"20\" is not a whole number from 50 to 600"},
    {"[render]\npdf_dpi = 15O\n", ":2: [render] pdf_dpi:"},
    {"[render]\n\n\nunknown_key = 1\n", ":4: [render] unknown_key: unknown key"},
    {"[nosuch]\nx = 1\n", ":1: [nosuch]: unknown section"},
    {"[jail]\nseccomp = maybe\n", "[jail] seccomp: \"maybe\" is not true or false"},
    {"[render]\nimage_output = gif\n", "[render] image_output: \"gif\" is not one of auto|png"},
    {"[general]\nlog_level = loud\n", "[general] log_level:"},
    {"this is not ini\n", "not a key-value pair"},
    {"[jail]\ntimeout = -5\n", "[jail] timeout:"},
    /* The jail runs these from its private directory: a relative path would pass a check at
     * start-up and fail with the first message. */
    {"[general]\nrender_path = render/mugai-render\n",
     ":2: [general] render_path: \"render/mugai-render\" is not an absolute path"},
    {"[general]\nlog_level = info\nrender_path = ./mugai-render\n",
     ":3: [general] render_path: \"./mugai-render\" is not an absolute path"},
    {"[general]\nrender_path =\n", ":2: [general] render_path: \"\" is not an absolute path"},
    {"[general]\nsoffice_path = soffice\n",
     ":2: [general] soffice_path: \"soffice\" is not an absolute path"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        char *err = NULL;
        char *path = write_temp(bad_cases[i].text);
        conf *c = conf_load(path, &err);
        if (c != NULL || err == NULL || strstr(err, path) != err ||
            strstr(err, bad_cases[i].expect) == NULL)
            fail_msg("case %zu: got \"%s\", expected \"%s\"", i, err ? err : "(no error)",
                     bad_cases[i].expect);
        free(err);
        unlink(path);
        free(path);
    }
}

/* Absolute program paths are taken as written; "auto" finds the renderer. */
static void test_program_paths(void **state)
{
    (void)state;
    char *err = NULL;
    char *path = write_temp("[general]\nrender_path = /opt/mugai/mugai-render\n"
                            "soffice_path = /opt/libreoffice/program/soffice\n");
    conf *c = conf_load(path, &err);
    assert_non_null(c);
    assert_null(err);
    assert_string_equal(c->render_path, "/opt/mugai/mugai-render");
    assert_string_equal(c->soffice_path, "/opt/libreoffice/program/soffice");
    conf_free(c);
    unlink(path);
    free(path);
    path = write_temp("[general]\nrender_path = auto\n");
    c = conf_load(path, &err);
    assert_non_null(c);
    assert_true(c->render_path[0] == '/');
    conf_free(c);
    unlink(path);
    free(path);
}

static void test_missing_file(void **state)
{
    (void)state;
    char *err = NULL;
    assert_null(conf_load("/nonexistent/mugai.conf", &err));
    assert_non_null(strstr(err, "/nonexistent/mugai.conf: cannot read configuration"));
    free(err);
}

/* A path becomes a file URL with every byte but letters, digits and "/-._~" as %XX, within
 * the buffer or not at all. */
static void test_file_url(void **state)
{
    char url[64];

    (void)state;
    assert_int_equal(mg_file_url(url, sizeof url, "/tmp/a b#%c/\xe4\xb8\x80?x"), 0);
    assert_string_equal(url, "file:///tmp/a%20b%23%25c/%E4%B8%80%3Fx");
    assert_int_equal(mg_file_url(url, sizeof url, "/var/tmp/mugai-1.x_~"), 0);
    assert_string_equal(url, "file:///var/tmp/mugai-1.x_~");
    /* "file:///ab" is 10 bytes and its NUL: 11 fits, 10 does not; an encoded byte whole. */
    assert_int_equal(mg_file_url(url, 11, "/ab"), 0);
    assert_int_equal(mg_file_url(url, 10, "/ab"), -1);
    assert_int_equal(mg_file_url(url, 10, "/a "), -1);
    assert_int_equal(mg_file_url(url, 12, "/a "), -1);
    assert_int_equal(mg_file_url(url, 13, "/a "), 0);
    assert_string_equal(url, "file:///a%20");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_values_applied),
        cmocka_unit_test(test_bad_files),    cmocka_unit_test(test_program_paths),
        cmocka_unit_test(test_missing_file), cmocka_unit_test(test_file_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
