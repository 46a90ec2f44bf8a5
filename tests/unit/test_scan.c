/*
 * tests/unit/test_scan.c - what the virus scanner (sanitize/scan.c) finds with
 * the parsers it runs libclamav with.
 *
 * A signature database is written into a temporary directory: hash signatures
 * of the EICAR test file and of a program, and a body signature of a marker
 * string. Each row hands scan_fd one input and says whether a signature must
 * be found: inside what the engine converts (a compressed PDF stream, a
 * deflated zip member as in OOXML, HTML character references) it must; inside
 * a message, which the engine splits itself, libclamav must not look.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>
#include <glib.h>
#include <zlib.h>

#include "conf.h"
#include "san_int.h"

#define MARKER "MUGAI-SCAN-TEST-MARKER-7Q2"
#define MARKER_LOWER "mugai-scan-test-marker-7q2"

typedef struct row {
    const char *name;
    GBytes *(*make)(void);
    const char *want; /* signature prefix, or NULL for clean */
} row;

typedef struct fixture {
    char *dir;
    conf *c;
    san_scanner *s;
} fixture;

/* The EICAR test file, assembled so that no source file holds it whole. */
static GBytes *eicar(void)
{
    return g_bytes_new_take(g_strconcat("X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-",
                                        "ANTIVIRUS-TEST-", "FILE!$H+H*", NULL),
                            68);
}

/* The start of a Windows program: MZ header pointing at a PE header. */
static GBytes *program(void)
{
    guint8 *p = g_malloc0(256);

    memcpy(p, "MZ", 2);
    p[60] = 64;
    memcpy(p + 64, "PE\0\0\x4c\x01", 6);
    return g_bytes_new_take(p, 256);
}

/* A PDF whose only content stream, Flate-compressed, draws the marker. */
static GBytes *pdf_stream(void)
{
    const char *content = "BT /F1 12 Tf (" MARKER ") Tj ET";
    const char *tail = "\nendstream\nendobj\ntrailer\n<</Root 1 0 R>>\n%EOF\n";
    uLongf zlen = compressBound(strlen(content));
    guint8 *z = g_malloc(zlen);
    GByteArray *a = g_byte_array_new();
    char *head;

    assert_int_equal(compress(z, &zlen, (const Bytef *)content, strlen(content)), Z_OK);
    head = g_strdup_printf("%%PDF-1.4\n1 0 obj\n<</Length %lu/Filter/FlateDecode>>\nstream\n",
                           (unsigned long)zlen);
    g_byte_array_append(a, (const guint8 *)head, strlen(head));
    g_byte_array_append(a, z, zlen);
    g_byte_array_append(a, (const guint8 *)tail, strlen(tail));
    g_free(head);
    g_free(z);
    return g_byte_array_free_to_bytes(a);
}

/* Append a little-endian integer of n bytes. */
static void put_le(GByteArray *a, uint32_t v, int n)
{
    for (int i = 0; i < n; i++) {
        guint8 b = (guint8)(v >> (8 * i));
        g_byte_array_append(a, &b, 1);
    }
}

/* Deflate (raw, as zip stores it) data into a new array. */
static GByteArray *deflate_raw(const char *data)
{
    GByteArray *out = g_byte_array_sized_new(4096);
    z_stream zs = {0};

    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    g_byte_array_set_size(out, 4096);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)strlen(data);
    zs.next_out = out->data;
    zs.avail_out = out->len;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    g_byte_array_set_size(out, (guint)zs.total_out);
    deflateEnd(&zs);
    return out;
}

/* A zip of one deflated member (word/document.xml, as in OOXML) holding the marker. */
static GBytes *zip_member(void)
{
    const char *name = "word/document.xml";
    const char *doc = "<w:document><w:t>" MARKER "</w:t></w:document>";
    GByteArray *z = deflate_raw(doc), *a = g_byte_array_new();
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)doc, (uInt)strlen(doc));
    uint32_t nlen = (uint32_t)strlen(name), local_len;

    put_le(a, 0x04034b50, 4), put_le(a, 20, 2), put_le(a, 0, 2), put_le(a, 8, 2);
    put_le(a, 0, 4), put_le(a, crc, 4), put_le(a, z->len, 4), put_le(a, strlen(doc), 4);
    put_le(a, nlen, 2), put_le(a, 0, 2);
    g_byte_array_append(a, (const guint8 *)name, nlen);
    g_byte_array_append(a, z->data, z->len);
    local_len = a->len;
    put_le(a, 0x02014b50, 4), put_le(a, 20, 2), put_le(a, 20, 2), put_le(a, 0, 2);
    put_le(a, 8, 2), put_le(a, 0, 4), put_le(a, crc, 4), put_le(a, z->len, 4);
    put_le(a, strlen(doc), 4), put_le(a, nlen, 2), put_le(a, 0, 2), put_le(a, 0, 2);
    put_le(a, 0, 2), put_le(a, 0, 2), put_le(a, 0, 4), put_le(a, 0, 4);
    g_byte_array_append(a, (const guint8 *)name, nlen);
    put_le(a, 0x06054b50, 4), put_le(a, 0, 2), put_le(a, 0, 2), put_le(a, 1, 2);
    put_le(a, 1, 2), put_le(a, a->len - local_len - 12, 4), put_le(a, local_len, 4);
    put_le(a, 0, 2);
    g_byte_array_unref(z);
    return g_byte_array_free_to_bytes(a);
}

/* HTML spelling the (lower-case) marker with character references only. */
static GBytes *html_refs(void)
{
    GString *s = g_string_new("<html><body><p>");

    for (const char *p = MARKER_LOWER; *p; p++)
        g_string_append_printf(s, "&#%d;", *p);
    g_string_append(s, "</p></body></html>\n");
    return g_string_free_to_bytes(s);
}

/* A message whose attachment carries the marker in base64. */
static GBytes *message(void)
{
    char *b64 = g_base64_encode((const guchar *)MARKER MARKER MARKER, 3 * strlen(MARKER));
    char *text =
        g_strdup_printf("From: a@example.com\r\nTo: b@city.example.lg.jp\r\nSubject: x\r\n"
                        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
                        "--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                        "--XX\r\nContent-Type: application/octet-stream\r\n"
                        "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--XX--\r\n",
                        b64);

    g_free(b64);
    return g_bytes_new_take(text, strlen(text));
}

/* Plain text with nothing in it. */
static GBytes *plain(void)
{
    return g_bytes_new_static("just a letter\n", 14);
}

static const row rows[] = {
    {"EICAR, by its hash", eicar, "Mugai.Test.EICAR"},
    {"a program, by its hash", program, "Mugai.Test.Program"},
    {"marker in a compressed PDF stream", pdf_stream, "Mugai.Test.Marker"},
    {"marker in a deflated zip member", zip_member, "Mugai.Test.Marker"},
    {"marker as HTML character references", html_refs, "Mugai.Test.Lower"},
    {"marker in a message's base64 attachment: left to the engine", message, NULL},
    {"plain text", plain, NULL},
};

/* Write the signature database into dir. */
static void write_db(const char *dir)
{
    GBytes *e = eicar(), *p = program();
    char *md5e = g_compute_checksum_for_bytes(G_CHECKSUM_MD5, e);
    char *md5p = g_compute_checksum_for_bytes(G_CHECKSUM_MD5, p);
    char *hdb = g_strdup_printf("%s:68:Mugai.Test.EICAR\n%s:256:Mugai.Test.Program\n", md5e, md5p);
    char *upper = g_strdup(MARKER), *lower = g_strdup(MARKER_LOWER);
    GString *ndb = g_string_new("Mugai.Test.Marker:0:*:");
    char *path;

    for (const char *q = upper; *q; q++)
        g_string_append_printf(ndb, "%02x", (unsigned char)*q);
    g_string_append(ndb, "\nMugai.Test.Lower:0:*:");
    for (const char *q = lower; *q; q++)
        g_string_append_printf(ndb, "%02x", (unsigned char)*q);
    g_string_append_c(ndb, '\n');
    path = g_build_filename(dir, "test.hdb", NULL);
    assert_true(g_file_set_contents(path, hdb, -1, NULL));
    g_free(path);
    path = g_build_filename(dir, "test.ndb", NULL);
    assert_true(g_file_set_contents(path, ndb->str, -1, NULL));
    g_free(path);
    g_string_free(ndb, TRUE);
    g_free(upper), g_free(lower), g_free(hdb), g_free(md5e), g_free(md5p);
    g_bytes_unref(e), g_bytes_unref(p);
}

/* A scanner with the default configuration on a fresh database. */
static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    char *err = NULL;

    f->dir = g_dir_make_tmp("test_scan-XXXXXX", NULL);
    assert_non_null(f->dir);
    write_db(f->dir);
    f->c = conf_new_defaults();
    g_free(f->c->clamav_db_dir);
    f->c->clamav_db_dir = g_strdup(f->dir);
    f->s = scan_new(f->c, &err);
    if (!f->s || !scan_active(f->s))
        fail_msg("scanner: %s", err ? err : "inactive");
    *state = f;
    return 0;
}

/* Free the scanner and remove the database. */
static int teardown(void **state)
{
    fixture *f = *state;
    char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    scan_free(f->s);
    conf_free(f->c);
    assert_int_equal(system(cmd), 0);
    g_free(cmd);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Scan every row's input and compare what is found. */
static void test_rows(void **state)
{
    fixture *f = *state;

    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        GBytes *b = rows[i].make();
        gsize len;
        const void *data = g_bytes_get_data(b, &len);
        int fd = memfd_create("part", MFD_CLOEXEC);
        const char *virname = NULL;
        char why[256] = "";
        int rc;

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        rc = scan_fd(f->s, fd, rows[i].name, &virname, why, sizeof why);
        if (rc < 0)
            fail_msg("%s: %s", rows[i].name, why);
        if (rows[i].want && (rc != 1 || strncmp(virname, rows[i].want, strlen(rows[i].want))))
            fail_msg("%s: %s found, expected %s", rows[i].name, rc == 1 ? virname : "nothing",
                     rows[i].want);
        if (!rows[i].want && rc != 0)
            fail_msg("%s: %s found, expected nothing", rows[i].name, virname);
        close(fd);
        g_bytes_unref(b);
    }
}

/* The table, against one scanner. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
