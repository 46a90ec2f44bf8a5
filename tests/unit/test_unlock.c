/*
 * tests/unit/test_unlock.c - opening held encrypted attachments (san_unlock):
 * WinZip AES and ZipCrypto zips with Japanese member names (CP932 without the
 * UTF-8 flag, UTF-8 with it) holding a PDF and a docx, a password-protected
 * PDF, a zip bomb behind a password, hostile zips and 7z (an empty encrypted
 * member, no encryption at all, symbolic links), garbage, and types that cannot
 * be opened, through the real jail, mugai-render's unlock mode and LibreOffice.
 * Whatever happens, no candidate may appear in the log, a reason or an output
 * file.
 *
 * Runs as root in CI (the jail's namespaces); makes its inputs itself
 * (libarchive's writer encrypts the zips, qpdf the PDF).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <cairo.h>
#include <cairo-pdf.h>
#include <glib.h>
#include "mg.h"
#include "san.h"

#define RIGHT "Ab3#xY9!"
#define SEVENZIP "/usr/bin/7zz"
#define RIGHT_JA "ぱすわーど2024"

/* Names of the members: 見積書.pdf and 議事録.docx, in UTF-8 and in CP932. */
#define PDF_UTF8 "\xe8\xa6\x8b\xe7\xa9\x8d\xe6\x9b\xb8.pdf"
#define DOCX_UTF8 "\xe8\xad\xb0\xe4\xba\x8b\xe9\x8c\xb2.docx"
#define PDF_CP932 "\x8c\xa9\x90\xcf\x8f\x91.pdf"
#define DOCX_CP932 "\x8b\x63\x8e\x96\x98\x5e.docx"
/* ... and what the rebuilt zip calls their flattened forms. */
#define PDF_OUT "\xe8\xa6\x8b\xe7\xa9\x8d\xe6\x9b\xb8.pdf"
#define DOCX_OUT "\xe8\xad\xb0\xe4\xba\x8b\xe9\x8c\xb2.pdf"

/* Wrong candidates tried before the right one; ZipCrypto's one-byte check lets about one
 * in 256 through, so some of these reach its CRC. */
#define WRONG_MANY 300

static char *workdir;
static char *logpath;
static conf *cfg;
static san_engine *eng;
/* Every candidate any test passed, to look for in the log and the outputs at the end. */
static GPtrArray *used;

/* ---- inputs ---- */

/* A one-page PDF with Japanese text and an image of noise, made by cairo: over 64 KiB, so that
 * a reader hands out its data in more than one piece before the CRC at its end. Caller
 * g_free()s; *len its size. */
static char *make_pdf(size_t *len)
{
    char *path = g_build_filename(workdir, "member.pdf", NULL);
    cairo_surface_t *s = cairo_pdf_surface_create(path, 595, 842);
    cairo_t *cr = cairo_create(s);
    cairo_surface_t *noise = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 200, 200);
    uint32_t *px = (uint32_t *)cairo_image_surface_get_data(noise), x = 2463534242u;
    char *data = NULL;

    for (size_t i = 0; i < 200 * 200; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        px[i] = x & 0xffffff;
    }
    cairo_surface_mark_dirty(noise);
    cairo_set_source_surface(cr, noise, 72, 200);
    cairo_paint(cr);
    cairo_surface_destroy(noise);
    cairo_set_source_rgb(cr, 0, 0, 0);

    cairo_select_font_face(cr, "IPAexGothic", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 24);
    cairo_move_to(cr, 72, 100);
    cairo_show_text(cr, "\xe8\xa6\x8b\xe7\xa9\x8d\xe6\x9b\xb8 quotation 2024");
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    assert_true(g_file_get_contents(path, &data, len, NULL));
    assert_true(*len > 65536);
    g_free(path);
    return data;
}

/* A minimal docx, the three parts Word needs. */
static const char *const docx_parts[][2] = {
    {"[Content_Types].xml",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
     "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
     "<Default Extension=\"rels\" "
     "ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
     "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
     "<Override PartName=\"/word/document.xml\" ContentType=\"application/"
     "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>"},
    {"_rels/.rels",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
     "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
     "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
     "relationships/officeDocument\" Target=\"word/document.xml\"/></Relationships>"},
    {"word/document.xml",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
     "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
     "<w:body><w:p><w:r><w:t>\xe8\xad\xb0\xe4\xba\x8b\xe9\x8c\xb2 minutes</w:t></w:r></w:p>"
     "</w:body></w:document>"},
};

/* One member to put into a test zip. */
typedef struct member {
    const char *name; /* its name bytes */
    int utf8;         /* written with the UTF-8 flag */
    const char *data;
    size_t len;
} member;

/* Write a zip of the members to a new file in workdir called file: encryption is
 * "aes256" (members deflated), "zipcrypt" (stored) or NULL (then pw is not used). Returns the
 * path (g_free). */
static char *make_zip(const char *file, const char *encryption, const char *pw, const member *m,
                      size_t n)
{
    char *path = g_build_filename(workdir, file, NULL);
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t c = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
    locale_t old = uselocale(utf8);
    struct archive *w = archive_write_new();
    char opt[64];

    assert_int_equal(archive_write_set_format_zip(w), ARCHIVE_OK);
    if (encryption) {
        g_snprintf(opt, sizeof opt, "zip:encryption=%s", encryption);
        assert_int_equal(archive_write_set_options(w, opt), ARCHIVE_OK);
        assert_int_equal(archive_write_set_passphrase(w, pw), ARCHIVE_OK);
    }
    /* ZipCrypto members stored: a wrong password that passes the header check then decrypts
     * to bytes no decompressor refuses, and only the CRC at the member's end tells. */
    if (encryption && strcmp(encryption, "zipcrypt") == 0)
        assert_int_equal(archive_write_set_options(w, "zip:compression=store"), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        uselocale(m[i].utf8 ? utf8 : c);
        archive_entry_copy_pathname(e, m[i].name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)m[i].len);
        assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(w, m[i].data, m[i].len), (la_ssize_t)m[i].len);
        archive_entry_free(e);
    }
    uselocale(utf8);
    assert_int_equal(archive_write_close(w), ARCHIVE_OK);
    archive_write_free(w);
    uselocale(old);
    freelocale(utf8);
    freelocale(c);
    return path;
}

/* An unencrypted docx (bytes in *len; g_free). */
static char *make_docx(size_t *len)
{
    member m[G_N_ELEMENTS(docx_parts)];
    char *path, *data = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(docx_parts); i++)
        m[i] = (member){docx_parts[i][0], 1, docx_parts[i][1], strlen(docx_parts[i][1])};
    path = make_zip("member.docx", NULL, NULL, m, G_N_ELEMENTS(m));
    assert_true(g_file_get_contents(path, &data, len, NULL));
    g_free(path);
    return data;
}

/* The encrypted zip of a PDF and a docx with Japanese names (utf8: UTF-8 flag; else CP932
 * without it). Returns its path (g_free). */
static char *make_japanese_zip(const char *file, const char *encryption, const char *pw, int utf8)
{
    size_t plen = 0, dlen = 0;
    char *pdf = make_pdf(&plen), *docx = make_docx(&dlen);
    member m[] = {{utf8 ? PDF_UTF8 : PDF_CP932, utf8, pdf, plen},
                  {utf8 ? DOCX_UTF8 : DOCX_CP932, utf8, docx, dlen}};
    char *path = make_zip(file, encryption, pw, m, 2);

    g_free(pdf);
    g_free(docx);
    return path;
}

/* Run argv; its exit status must be 0. */
static void run(char *const argv[])
{
    int status = -1;
    pid_t pid = fork();

    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- running san_unlock ---- */

/* One call's outcome. */
typedef struct outcome {
    san_result r;
    int which;
    unsigned tried;
    int rc;
} outcome;

/* san_unlock on the file at path, named name, with the candidates, output stem stem. */
static void unlock_file(const char *path, const char *name, const char *const *cands, size_t n,
                        const char *stem, outcome *o)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++)
        g_ptr_array_add(used, g_strdup(cands[i]));
    o->rc = san_unlock(eng, fd, name, cands, n, workdir, stem, &o->which, &o->tried, &o->r);
    print_message("%s: %s (%s), which %d, tried %u of %zu\n", name, san_verdict_name(o->r.verdict),
                  o->r.reason, o->which, o->tried, n);
    close(fd);
}

/* Candidates: wrong ones (some Japanese, one differing from the right one in a single
 * character), then right at the end. Caller frees the array (g_ptr_array_unref). */
static GPtrArray *candidates(size_t wrong, const char *right)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

    if (wrong > 0)
        g_ptr_array_add(a, g_strdup("Ab3#xY9?"));
    if (wrong > 1)
        g_ptr_array_add(a,
                        g_strdup("\xe3\x83\x91\xe3\x82\xb9\xe3\x83\xaf\xe3\x83\xbc\xe3\x83\x89"));
    for (size_t i = 2; i < wrong; i++)
        g_ptr_array_add(a, g_strdup_printf("wrong-%zu-%x", i, (unsigned)(i * 2654435761u)));
    if (right)
        g_ptr_array_add(a, g_strdup(right));
    return a;
}

/* ---- ZipCrypto's header check, to find a wrong password it lets through ---- */

/* CRC-32 of one more byte b after crc (no inversions: ZipCrypto's key update). */
static uint32_t crc_byte(uint32_t crc, uint8_t b)
{
    crc ^= b;
    for (int k = 0; k < 8; k++)
        crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    return crc;
}

/* ZipCrypto's key update with one plain byte c. */
static void keys_update(uint32_t k[3], uint8_t c)
{
    k[0] = crc_byte(k[0], c);
    k[1] = (k[1] + (k[0] & 0xff)) * 134775813u + 1;
    k[2] = crc_byte(k[2], (uint8_t)(k[1] >> 24));
}

/* Non-zero when pw passes the check of the 12-byte encryption header hdr whose last byte must
 * decrypt to check (PKWARE APPNOTE 6.1). */
static int zipcrypto_check(const char *pw, const uint8_t *hdr, uint8_t check)
{
    uint32_t k[3] = {305419896u, 591751049u, 878082192u};
    uint8_t c = 0;

    for (const char *p = pw; *p; p++)
        keys_update(k, (uint8_t)*p);
    for (int i = 0; i < 12; i++) {
        uint32_t t = (k[2] | 2) & 0xffff;
        c = hdr[i] ^ (uint8_t)((t * (t ^ 1)) >> 8);
        keys_update(k, c);
    }
    return c == check;
}

/* A wrong password ("false-N") that passes the header check of the first member of the
 * ZipCrypto zip at path. Caller g_free()s. */
static char *zipcrypto_false_pass(const char *path)
{
    char *d = NULL;
    size_t len = 0;

    assert_true(g_file_get_contents(path, &d, &len, NULL));
    const uint8_t *z = (const uint8_t *)d;
    assert_true(len > 30 && memcmp(z, "PK\3\4", 4) == 0 && (z[6] & 1));
    size_t off = 30 + (size_t)(z[26] | z[27] << 8) + (size_t)(z[28] | z[29] << 8);
    assert_true(off + 12 <= len);
    /* With a data descriptor the check byte is the high byte of the time, else of the CRC. */
    uint8_t check = z[6] & 8 ? z[11] : z[17];
    for (unsigned n = 0; n < 100000; n++) {
        char *pw = g_strdup_printf("false-%u", n);
        if (zipcrypto_check(pw, z + off, check)) {
            g_free(d);
            return pw;
        }
        g_free(pw);
    }
    fail_msg("no wrong password passes the header check");
    return NULL;
}

/* The members of the zip at path: names (UTF-8) and whether each is a flattened PDF. */
static void check_rebuilt(const char *path, const char *const *names, size_t n)
{
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = uselocale(utf8);
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    size_t seen = 0;

    archive_read_support_format_zip(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        GString *data = g_string_new(NULL);
        char buf[65536];
        la_ssize_t k;
        while ((k = archive_read_data(a, buf, sizeof buf)) > 0)
            g_string_append_len(data, buf, k);
        print_message("  member %s, %zu bytes\n", name, data->len);
        int known = 0;
        for (size_t i = 0; i < n; i++)
            known |= strcmp(name, names[i]) == 0;
        assert_true(known);
        /* The engine's own image-only PDF: a page image, no JavaScript, no forms. */
        assert_true(data->len > 5 && memcmp(data->str, "%PDF-", 5) == 0);
        assert_non_null(memmem(data->str, data->len, "/Subtype /Image", 14));
        assert_null(memmem(data->str, data->len, "/JavaScript", 11));
        assert_null(memmem(data->str, data->len, "/AcroForm", 9));
        g_string_free(data, TRUE);
        seen++;
    }
    assert_int_equal(seen, n);
    archive_read_free(a);
    uselocale(old);
    freelocale(utf8);
}

/* A zip with Japanese names, wrong candidates then the right one: opened by it, the members
 * flattened to PDFs under their Japanese names. */
static void zip_case(const char *file, const char *encryption, int utf8, size_t wrong,
                     const char *right)
{
    char *path = make_japanese_zip(file, encryption, right, utf8);
    GPtrArray *c = candidates(wrong, right);

    /* A wrong password that ZipCrypto's header check lets through comes first: only the CRC
     * of the member read to its end can turn it down. */
    if (strcmp(encryption, "zipcrypt") == 0 && wrong > 0) {
        char *fake = zipcrypto_false_pass(path);
        print_message("  a wrong candidate that passes the header check: %s\n", fake);
        g_free(c->pdata[0]);
        c->pdata[0] = fake;
    }
    const char *const names[] = {PDF_OUT, DOCX_OUT};
    outcome o;
    char *stem = g_strdup_printf("out-%s", file);

    unlock_file(path, utf8 ? "\xe6\xb7\xbb\xe4\xbb\x98.zip" : "attach.zip",
                (const char *const *)c->pdata, c->len, stem, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, (int)wrong);
    assert_int_equal(o.tried, wrong + 1);
    assert_int_equal(o.r.verdict, SAN_SANITIZED);
    assert_non_null(o.r.output_path);
    assert_true(g_str_has_suffix(o.r.output_path, ".zip"));
    assert_int_equal(o.r.nmembers, 2);
    for (size_t i = 0; i < o.r.nmembers; i++) {
        print_message("  %s -> %s: %s\n", o.r.members[i].name, o.r.members[i].output_name,
                      o.r.members[i].r.reason);
        assert_int_equal(o.r.members[i].r.verdict, SAN_SANITIZED);
    }
    assert_string_equal(o.r.members[0].name, PDF_UTF8);
    assert_string_equal(o.r.members[1].name, DOCX_UTF8);
    check_rebuilt(o.r.output_path, names, 2);
    /* r describes the encrypted input, not the decrypted zip. */
    char want[65];
    int fd = open(path, O_RDONLY);
    assert_int_equal(mg_sha256_fd(fd, want), 0);
    close(fd);
    assert_string_equal(o.r.sha256, want);
    san_result_clear(&o.r);
    g_ptr_array_unref(c);
    g_free(stem);
    g_free(path);
}

/* WinZip AES-256, UTF-8 names: the fourth candidate opens it. */
static void test_aes_utf8(void **state)
{
    (void)state;
    zip_case("aes-utf8.zip", "aes256", 1, 3, RIGHT);
}

/* ZipCrypto, CP932 names without the UTF-8 flag, a Japanese password after many wrong ones,
 * some of which pass ZipCrypto's header check. */
static void test_zipcrypto_cp932(void **state)
{
    (void)state;
    zip_case("zipcrypto-cp932.zip", "zipcrypt", 0, WRONG_MANY, RIGHT_JA);
}

/* ZipCrypto with UTF-8 names and AES with CP932 names: the name handling does not depend on
 * the encryption. */
static void test_mixed(void **state)
{
    (void)state;
    zip_case("zipcrypto-utf8.zip", "zipcrypt", 1, 1, RIGHT);
    zip_case("aes-cp932.zip", "aes256", 0, 2, RIGHT);
}

/* No candidate opens it: held, every one tried, nothing written. */
static void test_zip_none(void **state)
{
    char *path = make_japanese_zip("none.zip", "aes256", RIGHT, 1);
    GPtrArray *c = candidates(5, NULL);
    outcome o;

    (void)state;
    unlock_file(path, "none.zip", (const char *const *)c->pdata, c->len, "out-none", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.tried, 5);
    assert_int_equal(o.r.verdict, SAN_HELD);
    assert_string_equal(o.r.reason, "no password opened it");
    assert_null(o.r.output_path);
    assert_int_equal(o.r.sha256[0] != '\0', 1);
    san_result_clear(&o.r);
    /* No candidate at all: the same, nothing tried. */
    unlock_file(path, "none.zip", NULL, 0, "out-none", &o);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.tried, 0);
    assert_int_equal(o.r.verdict, SAN_HELD);
    san_result_clear(&o.r);
    g_ptr_array_unref(c);
    g_free(path);
}

/* A PDF encrypted by qpdf (AES-256, user password): opened by the right candidate and
 * flattened with its text layer; without it, held. */
static void test_pdf(void **state)
{
    size_t len = 0;
    char *plain = make_pdf(&len);
    char *in = g_build_filename(workdir, "plain.pdf", NULL);
    char *enc = g_build_filename(workdir, "locked.pdf", NULL);
    char *argv[] = {"qpdf", "--encrypt", RIGHT_JA, "owner-secret-1", "256", "--", in, enc, NULL};
    GPtrArray *c = candidates(2, RIGHT_JA);
    outcome o;
    char *out = NULL;
    size_t out_len = 0;

    (void)state;
    assert_true(g_file_set_contents(in, plain, (gssize)len, NULL));
    run(argv);
    g_ptr_array_add(used, g_strdup("owner-secret-1"));
    unlock_file(enc, "\xe8\xa6\x8b\xe7\xa9\x8d.pdf", (const char *const *)c->pdata, c->len,
                "out-pdf", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, 2);
    assert_int_equal(o.tried, 3);
    assert_int_equal(o.r.verdict, SAN_SANITIZED);
    assert_int_equal(o.r.pages, 1);
    assert_true(g_str_has_suffix(o.r.output_path, ".pdf"));
    assert_true(g_file_get_contents(o.r.output_path, &out, &out_len, NULL));
    assert_non_null(memmem(out, out_len, "/Subtype /Image", 14));
    assert_null(memmem(out, out_len, "/Encrypt", 8));
    g_free(out);
    san_result_clear(&o.r);
    /* Wrong ones only: held, all tried. */
    g_ptr_array_remove_index(c, c->len - 1);
    unlock_file(enc, "locked.pdf", (const char *const *)c->pdata, c->len, "out-pdf-none", &o);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.tried, 2);
    assert_int_equal(o.r.verdict, SAN_HELD);
    assert_string_equal(o.r.reason, "no password opened it");
    assert_null(o.r.output_path);
    san_result_clear(&o.r);
    g_ptr_array_unref(c);
    g_free(plain);
    g_free(in);
    g_free(enc);
}

/* A bomb behind a password: 64 MiB of zeros with [archive] max_total_mb = 8 stops at the
 * bound with a verdict. */
static void test_bomb(void **state)
{
    size_t big = (size_t)64 << 20;
    char *zeros = g_malloc0(big);
    member m[] = {{"zeros.txt", 1, zeros, big}};
    char *path = make_zip("bomb.zip", "aes256", RIGHT, m, 1);
    const char *cands[] = {"nope", RIGHT};
    outcome o;

    (void)state;
    g_free(zeros);
    unlock_file(path, "bomb.zip", cands, 2, "out-bomb", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.r.verdict, SAN_BLOCKED);
    assert_non_null(strstr(o.r.reason, "limit"));
    assert_null(o.r.output_path);
    san_result_clear(&o.r);
    g_free(path);
}

/* A 7z with AES and encrypted names (7-Zip's -mhe), Japanese names: opened by 7-Zip in the
 * jail with the third candidate, its members flattened as a zip's. */
static void test_7z(void **state)
{
    size_t plen = 0, dlen = 0;
    char *pdf = make_pdf(&plen), *docx = make_docx(&dlen);
    char *dir = g_build_filename(workdir, "7z-src", NULL);
    char *a = g_build_filename(dir, PDF_UTF8, NULL), *b = g_build_filename(dir, DOCX_UTF8, NULL);
    char *path = g_build_filename(workdir, "aes.7z", NULL);
    char *pw = g_strdup_printf("-p%s", RIGHT);
    char *argv[] = {SEVENZIP, "a", "-bso0", "-bsp0", "-mhe=on", pw, path, a, b, NULL};
    const char *cands[] = {"7z-wrong-1", "7z-wrong-2", RIGHT};
    const char *const names[] = {PDF_OUT, DOCX_OUT};
    outcome o;

    (void)state;
    if (access(SEVENZIP, X_OK) != 0) {
        print_message("# skipped: no %s (Debian's 7zip)\n", SEVENZIP);
        return;
    }
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(g_file_set_contents(a, pdf, (gssize)plen, NULL));
    assert_true(g_file_set_contents(b, docx, (gssize)dlen, NULL));
    run(argv);
    unlock_file(path, "\xe6\xb7\xbb\xe4\xbb\x98.7z", cands, 3, "out-7z", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, 2);
    assert_int_equal(o.tried, 3);
    assert_int_equal(o.r.verdict, SAN_SANITIZED);
    assert_int_equal(o.r.nmembers, 2);
    for (size_t i = 0; i < o.r.nmembers; i++)
        assert_int_equal(o.r.members[i].r.verdict, SAN_SANITIZED);
    check_rebuilt(o.r.output_path, names, 2);
    san_result_clear(&o.r);
    /* Wrong ones only: held. */
    unlock_file(path, "locked.7z", cands, 2, "out-7z-none", &o);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.tried, 2);
    assert_int_equal(o.r.verdict, SAN_HELD);
    assert_null(o.r.output_path);
    san_result_clear(&o.r);
    /* A bomb: 64 MiB of zeros with [archive] max_total_mb = 8 stops at the bound. */
    char *zeros = g_malloc0((size_t)64 << 20);
    char *big = g_build_filename(dir, "zeros.txt", NULL),
         *bomb = g_build_filename(workdir, "bomb.7z", NULL);
    assert_true(g_file_set_contents(big, zeros, (gssize)64 << 20, NULL));
    char *bargv[] = {SEVENZIP, "a", "-bso0", "-bsp0", "-mhe=on", pw, bomb, big, NULL};
    run(bargv);
    unlock_file(bomb, "bomb.7z", cands, 3, "out-7z-bomb", &o);
    assert_int_equal(o.which, 2);
    assert_int_equal(o.r.verdict, SAN_BLOCKED);
    assert_non_null(strstr(o.r.reason, "limit"));
    assert_null(o.r.output_path);
    san_result_clear(&o.r);
    g_free(zeros);
    g_free(big);
    g_free(bomb);
    g_free(pdf);
    g_free(docx);
    g_free(dir);
    g_free(a);
    g_free(b);
    g_free(path);
    g_free(pw);
}

/* A ZipCrypto zip whose only encrypted member is empty (made by 7-Zip: libarchive's writer
 * leaves an empty member unencrypted), beside a plain one: nothing in it can tell the right
 * password from a wrong one that passes ZipCrypto's one-byte header check, so no candidate
 * may be said to open it (the wrong one, first, would be). */
static void test_zip_empty_member(void **state)
{
    char *dir = g_build_filename(workdir, "empty-member", NULL);
    char *path = g_build_filename(workdir, "empty-member.zip", NULL);
    char *pw = g_strdup_printf("-p%s", RIGHT);
    char *eargv[] = {SEVENZIP, "a",  "-bso0", "-bsp0",     "-tzip", "-mem=ZipCrypto",
                     pw,       path, "--",    "empty.txt", NULL};
    char *pargv[] = {SEVENZIP, "a", "-bso0", "-bsp0", "-tzip", path, "--", "note.txt", NULL};
    outcome o;

    (void)state;
    if (access(SEVENZIP, X_OK) != 0) {
        print_message("# skipped: no %s (Debian's 7zip)\n", SEVENZIP);
        return;
    }
    char *pwd = g_get_current_dir();
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chdir(dir), 0);
    assert_true(g_file_set_contents("empty.txt", "", 0, NULL));
    assert_true(g_file_set_contents("note.txt", "a note\n", -1, NULL));
    run(eargv);
    run(pargv);
    assert_int_equal(chdir(pwd), 0);
    char *fake = zipcrypto_false_pass(path);
    const char *cands[] = {fake, RIGHT};
    unlock_file(path, "empty-member.zip", cands, 2, "out-empty-member", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.r.verdict, SAN_FAILED);
    assert_non_null(strstr(o.r.reason, "no encrypted member of the zip holds data"));
    assert_null(o.r.output_path);
    san_result_clear(&o.r);
    g_free(fake);
    g_free(pwd);
    g_free(pw);
    g_free(path);
    g_free(dir);
}

/* A PDF with no password, which poppler opens whatever password it is given: no candidate
 * opens it. Nor does one open what is not a PDF though "%PDF-" is in its first bytes (a tar
 * whose first member, so named, is test_pdf's encrypted PDF): the candidates reach no PDF
 * but the input itself, not one inside it. */
static void test_pdf_lookalike(void **state)
{
    size_t len = 0;
    char *pdf = make_pdf(&len);
    char *path = g_build_filename(workdir, "lookalike.tar", NULL);
    struct archive *w = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    const char *cands[] = {"lookalike-wrong-1", RIGHT_JA};
    char *locked = g_build_filename(workdir, "locked.pdf", NULL), *enc = NULL;
    size_t enc_len = 0;
    outcome o;

    (void)state;
    char *plain = g_build_filename(workdir, "nopassword.pdf", NULL);
    assert_true(g_file_set_contents(plain, pdf, (gssize)len, NULL));
    unlock_file(plain, "nopassword.pdf", cands, 2, "out-nopassword", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.r.verdict, SAN_FAILED);
    assert_non_null(strstr(o.r.reason, "the PDF opens without a password"));
    assert_null(o.r.output_path);
    san_result_clear(&o.r);
    g_free(plain);
    assert_int_equal(archive_write_set_format_ustar(w), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    archive_entry_copy_pathname(e, "%PDF-1.7.pdf");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    assert_true(g_file_get_contents(locked, &enc, &enc_len, NULL));
    archive_entry_set_size(e, (la_int64_t)enc_len);
    assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(w, enc, enc_len), (la_ssize_t)enc_len);
    assert_int_equal(archive_write_close(w), ARCHIVE_OK);
    archive_entry_free(e);
    archive_write_free(w);
    unlock_file(path, "lookalike.tar", cands, 2, "out-lookalike", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.tried, 0);
    san_result_clear(&o.r);
    g_free(enc);
    g_free(locked);
    g_free(pdf);
    g_free(path);
}

/* Hostile 7z: one that needs no password is opened by none of the candidates (7-Zip would
 * pass it with any); one with symbolic links (to /etc/passwd, to /) gives only its regular
 * file, nothing from outside the jail's work directory. */
static void test_7z_hostile(void **state)
{
    char *dir = g_build_filename(workdir, "7z-hostile", NULL);
    char *file = g_build_filename(dir, "note.txt", NULL);
    char *plain = g_build_filename(workdir, "plain.7z", NULL);
    char *links = g_build_filename(workdir, "links.7z", NULL);
    char *pw = g_strdup_printf("-p%s", RIGHT);
    char *pargv[] = {SEVENZIP, "a", "-bso0", "-bsp0", plain, file, NULL};
    char *largv[] = {SEVENZIP, "a",  "-bso0",    "-bsp0",  "-snl", "-mhe=on", pw,
                     links,    "--", "note.txt", "passwd", "root", NULL};
    const char *cands[] = {"7z-hostile-wrong", RIGHT};
    outcome o;
    char *data = NULL;
    size_t len = 0;

    (void)state;
    if (access(SEVENZIP, X_OK) != 0) {
        print_message("# skipped: no %s (Debian's 7zip)\n", SEVENZIP);
        return;
    }
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(g_file_set_contents(file, "a note\n", -1, NULL));
    run(pargv);
    unlock_file(plain, "plain.7z", cands, 2, "out-7z-plain", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, -1);
    assert_int_equal(o.r.verdict, SAN_FAILED);
    assert_non_null(strstr(o.r.reason, "the 7z opens without a password"));
    assert_null(o.r.output_path);
    san_result_clear(&o.r);
    /* 7-Zip stores the links as links (-snl); it runs in dir to name them relatively. */
    char *pwd = g_get_current_dir();
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(symlink("/etc/passwd", "passwd"), 0);
    assert_int_equal(symlink("/", "root"), 0);
    run(largv);
    assert_int_equal(chdir(pwd), 0);
    g_free(pwd);
    unlock_file(links, "links.7z", cands, 2, "out-7z-links", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.which, 1);
    assert_int_equal(o.r.verdict, SAN_SANITIZED);
    assert_int_equal(o.r.nmembers, 1);
    assert_string_equal(o.r.members[0].name, "note.txt");
    assert_true(g_file_get_contents(o.r.output_path, &data, &len, NULL));
    assert_null(memmem(data, len, "root:", 5));
    g_free(data);
    san_result_clear(&o.r);
    g_free(dir);
    g_free(file);
    g_free(plain);
    g_free(links);
    g_free(pw);
}

/* Inputs that cannot be opened: a verdict each, no crash, nothing tried where the type
 * cannot be opened at all. */
static void test_garbage(void **state)
{
    static const struct {
        const char *name;
        const char *data;
        size_t len;
        san_verdict want;
        int tries; /* the candidates reach the jail */
    } rows[] = {
#define GARBAGE(name, data, want, tries) {name, data, sizeof(data) - 1, want, tries}
        GARBAGE("random.bin", "\x01\x02\x03 not an archive at all", SAN_HELD, 0),
        GARBAGE("broken.zip", "PK\3\4\x14\0\x01\0 garbage after a zip header", SAN_FAILED, 1),
        GARBAGE("broken.pdf", "%PDF-1.7\n/Encrypt garbage\n", SAN_FAILED, 1),
        GARBAGE("locked.7z", "7z\xbc\xaf\x27\x1c\0\x04 AES data", SAN_HELD, 1),
        GARBAGE("locked.docx", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 EncryptedPackage", SAN_HELD, 0),
        GARBAGE("empty", "", SAN_HELD, 0),
#undef GARBAGE
    };
    const char *cands[] = {"garbage-pw-1", "garbage-pw-2"};

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        char *path = g_build_filename(workdir, rows[i].name, NULL);
        outcome o;
        assert_true(g_file_set_contents(path, rows[i].data, (gssize)rows[i].len, NULL));
        unlock_file(path, rows[i].name, cands, 2, "out-garbage", &o);
        assert_int_equal(o.rc, 0);
        assert_int_equal(o.r.verdict, rows[i].want);
        assert_int_equal(o.which, -1);
        assert_null(o.r.output_path);
        if (!rows[i].tries)
            assert_int_equal(o.tried, 0);
        /* A 7z goes to 7-Zip when it is installed, which opens nothing here. */
        if (strcmp(rows[i].name, "locked.7z") == 0 && access(SEVENZIP, X_OK) == 0)
            assert_string_equal(o.r.reason, "no password opened it");
        else if (strcmp(rows[i].name, "locked.7z") == 0)
            assert_string_equal(o.r.reason, "7z with AES cannot be opened here (no " SEVENZIP ")");
        san_result_clear(&o.r);
        g_free(path);
    }
}

/* In a child that is a pool worker (its jails made by its spawner, itself confined): open the
 * zip at zip, the PDF at pdf and, when 7-Zip is there, the 7z at sevenz (the right candidate
 * second each time). Exit status 0 when all were opened and sanitized, else the step that
 * failed. */
static void worker_child(const char *zip, const char *pdf, const char *sevenz)
{
    struct passwd *pw = getpwnam(cfg->jail_user);
    const char *cands[] = {"worker-wrong", RIGHT};
    const char *pdf_cands[] = {"worker-wrong", RIGHT_JA};
    const char *paths[] = {zip, pdf, sevenz};
    const char *const *lists[] = {cands, pdf_cands, cands};
    int n = access(SEVENZIP, X_OK) == 0 ? 3 : 2;

    if (!pw)
        _exit(1);
    san_jail_ids_set(pw->pw_uid, pw->pw_gid); /* as mugai-milter does */
    if (san_jail_spawner_start(cfg) < 0 || san_confine_worker(cfg) < 0)
        _exit(2);
    for (int i = 0; i < n; i++) {
        san_result r;
        int which = -1;
        unsigned tried = 0;
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        char stem[32];
        g_snprintf(stem, sizeof stem, "out-worker-%d", i);
        if (fd < 0 ||
            san_unlock(eng, fd, paths[i], lists[i], 2, workdir, stem, &which, &tried, &r) < 0)
            _exit(10 + i);
        printf("# worker: %s: %s (%s), which %d, tried %u\n", paths[i], san_verdict_name(r.verdict),
               r.reason, which, tried);
        fflush(stdout);
        if (r.verdict != SAN_SANITIZED || which != 1 || tried != 2)
            _exit(20 + i);
        san_result_clear(&r);
        close(fd);
    }
    _exit(0);
}

/* A confined pool worker opens a zip, a PDF and a 7z through its spawner: the candidates'
 * sealed file and the output file pass the spawner's checks. */
static void test_through_spawner(void **state)
{
    char *zip = make_japanese_zip("worker.zip", "aes256", RIGHT, 1);
    char *pdf = g_build_filename(workdir, "locked.pdf", NULL); /* test_pdf made it */
    char *sevenz = g_build_filename(workdir, "aes.7z", NULL);  /* test_7z */
    int st = 0;

    (void)state;
    g_ptr_array_add(used, g_strdup("worker-wrong"));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        worker_child(zip, pdf, sevenz);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    g_free(zip);
    g_free(pdf);
    g_free(sevenz);
}

/* Non-zero when the file at path (at most 64 MiB read) holds s. */
static int file_holds(const char *path, const char *s)
{
    char *data = NULL;
    size_t len = 0;
    int found = 0;

    if (g_file_get_contents(path, &data, &len, NULL))
        found = memmem(data, len, s, strlen(s)) != NULL;
    g_free(data);
    return found;
}

/* After everything: no candidate appears in the log or in any output written. */
static void test_no_password_leaks(void **state)
{
    GDir *d = g_dir_open(workdir, 0, NULL);
    const char *name;

    (void)state;
    assert_non_null(d);
    fflush(stderr);
    assert_true(used->len > WRONG_MANY);
    for (guint i = 0; i < used->len; i++)
        assert_false(file_holds(logpath, used->pdata[i]));
    while ((name = g_dir_read_name(d)) != NULL) {
        if (!g_str_has_prefix(name, "out-"))
            continue;
        char *path = g_build_filename(workdir, name, NULL);
        for (guint i = 0; i < used->len; i++)
            assert_false(file_holds(path, used->pdata[i]));
        g_free(path);
    }
    g_dir_close(d);
    /* The log did record the attempts (without their values). */
    assert_true(file_holds(logpath, "unlock: "));
}

/* Make the work directory, the engine, and send the log (info and up) to a file. */
static int setup(void **state)
{
    char *err = NULL;

    (void)state;
    workdir = g_dir_make_tmp("test_unlock-XXXXXX", NULL);
    logpath = g_build_filename(workdir, "log.txt", NULL);
    int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (!workdir || log < 0 || dup2(log, STDERR_FILENO) < 0)
        return -1;
    close(log);
    mg_log_init("test_unlock", 0, MG_LOG_INFO);
    used = g_ptr_array_new_with_free_func(g_free);
    cfg = conf_new_defaults();
    g_free(cfg->render_path);
    cfg->render_path = g_strdup(JAIL_RENDER);
    g_free(cfg->clamav_db_dir);
    cfg->clamav_db_dir = g_strdup("/nonexistent/mugai-test-clamav");
    cfg->scan_required = 0;
    cfg->archive_max_total_mb = 8;
    eng = san_engine_new(cfg, &err);
    if (!eng)
        fprintf(stdout, "engine: %s\n", err ? err : "?");
    return eng ? 0 : -1;
}

/* Show the log (where cmocka's failures went too) on stdout, free the engine; keep the work
 * directory when MUGAI_KEEP is set. */
static int teardown(void **state)
{
    char *log = NULL;

    (void)state;
    fflush(stderr);
    if (g_file_get_contents(logpath, &log, NULL, NULL))
        printf("---- log ----\n%s", log);
    g_free(log);
    san_engine_free(eng);
    conf_free(cfg);
    g_ptr_array_unref(used);
    if (!getenv("MUGAI_KEEP"))
        mg_remove_tree(workdir);
    g_free(logpath);
    g_free(workdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aes_utf8),
        cmocka_unit_test(test_zipcrypto_cp932),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_zip_none),
        cmocka_unit_test(test_pdf),
        cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_7z),
        cmocka_unit_test(test_zip_empty_member),
        cmocka_unit_test(test_7z_hostile),
        cmocka_unit_test(test_pdf_lookalike),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_through_spawner),
        cmocka_unit_test(test_no_password_leaks),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
