/*
 * tests/unit/test_detect.c - the file policy: content type and name in,
 * kind, output and verdict out; one row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "san.h"
#include "san_int.h"

typedef struct detect_case {
    const char *mime;
    const char *desc;
    const char *name;
    const char *kind;
    const char *out_ext; /* NULL: nothing produced */
    san_verdict verdict;
    const char *reason_has; /* substring of the reason, or NULL */
} detect_case;

static const detect_case cases[] = {
    {"application/pdf", "PDF document", "見積書.pdf", "pdf", "pdf", SAN_SANITIZED, NULL},
    {"application/pdf", "PDF document", "REPORT.PDF", "pdf", "pdf", SAN_SANITIZED, NULL},
    {"application/pdf", "PDF document", "notes.txt", "pdf", "pdf", SAN_SANITIZED, "name says .txt"},
    {"image/png", "PNG image", "a.png", "image", "png", SAN_SANITIZED, NULL},
    {"image/jpeg", "JPEG image", "photo.JPG", "image", "jpg", SAN_SANITIZED, NULL},
    {"image/jpeg", "JPEG image", "photo.png", "image", "jpg", SAN_SANITIZED, "name says .png"},
    {"image/webp", "RIFF", "x.webp", "image", "png", SAN_SANITIZED, NULL},
    {"image/svg+xml", "SVG", "logo.svg", "script", NULL, SAN_BLOCKED, NULL},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word 2007+",
     "a.docx", "office", "pdf", SAN_SANITIZED, NULL},
    {"application/zip", "Zip archive data", "b.xlsx", "office", "pdf", SAN_SANITIZED, NULL},
    {"application/vnd.ms-excel", "Composite Document File V2", "c.xls", "office", "pdf",
     SAN_SANITIZED, NULL},
    {"application/vnd.ms-word.document.macroEnabled.12", "Word", "m.docm", "office", "pdf",
     SAN_SANITIZED, NULL},
    {"text/rtf", "Rich Text Format", "r.rtf", "office", "pdf", SAN_SANITIZED, NULL},
    {"application/CDFV2", "CDFV2 Encrypted", "secret.docx", "encrypted", NULL, SAN_HELD,
     "encrypted"},
    {"application/encrypted", "data", "secret.xlsx", "encrypted", NULL, SAN_HELD, NULL},
    {"text/plain", "UTF-8 text", "memo.txt", "text", "txt", SAN_SANITIZED, NULL},
    {"text/plain", "CSV text", "list.csv", "csv", "csv", SAN_SANITIZED, NULL},
    {"text/csv", "CSV text", "list.csv", "csv", "csv", SAN_SANITIZED, NULL},
    {"text/html", "HTML document", "page.html", "html", "txt", SAN_SANITIZED, NULL},
    {"inode/x-empty", "empty", "empty.txt", "text", "txt", SAN_SANITIZED, NULL},
    {"application/x-pie-executable", "ELF", "invoice.pdf", "mismatch", NULL, SAN_BLOCKED,
     "the name says .pdf"},
    {"application/x-dosexec", "PE32", "setup.exe", "executable", NULL, SAN_BLOCKED, NULL},
    {"application/x-executable", "ELF", "tool", "executable", NULL, SAN_BLOCKED, NULL},
    {"text/x-shellscript", "shell script", "run.sh", "script", NULL, SAN_BLOCKED, NULL},
    {"text/plain", "ASCII text", "payload.js", "script", NULL, SAN_BLOCKED, ".js"},
    {"text/plain", "ASCII text", "macro.VBS", "script", NULL, SAN_BLOCKED, NULL},
    {"application/x-ms-shortcut", "MS Windows shortcut", "doc.lnk", "shortcut", NULL, SAN_BLOCKED,
     NULL},
    {"application/x-iso9660-image", "ISO 9660", "disk.iso", "disk-image", NULL, SAN_BLOCKED, NULL},
    {"application/zip", "Zip archive data", "files.zip", "archive", "zip", SAN_SANITIZED, NULL},
    {"application/x-7z-compressed", "7-zip", "a.7z", "archive", "zip", SAN_SANITIZED, NULL},
    {"application/gzip", "gzip", "a.tar.gz", "archive", "zip", SAN_SANITIZED, NULL},
    {"application/zip", "Zip archive data", "a.pdf", "archive", "zip", SAN_SANITIZED,
     "name says .pdf"},
    {"message/rfc822", "RFC 822 mail", "fwd.eml", "mail", "eml", SAN_SANITIZED, NULL},
    {"application/octet-stream", "data", "nul.eml", "mail", "eml", SAN_SANITIZED, NULL},
    {"text/plain", "ASCII text", "plain.eml", "mail", "eml", SAN_SANITIZED, NULL},
    {"application/octet-stream", "data", "blob.dat", "unknown", NULL, SAN_BLOCKED,
     "application/octet-stream"},
    {"image/png", "PNG image", "x.exe", "executable", NULL, SAN_BLOCKED, ".exe"},
    {"application/x-dosexec", "DOS executable (COM), start instruction 0x8c8f96bc", "件名.txt",
     "text", "txt", SAN_SANITIZED, "DOS program"},
    {"application/x-dosexec", "DOS executable (COM)", "prog.com", "executable", NULL, SAN_BLOCKED,
     NULL},
    {"application/x-dosexec", "DOS executable (COM)", "x.pdf", "mismatch", NULL, SAN_BLOCKED, NULL},
};

static void test_policy_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const detect_case *t = &cases[i];
        san_class c;
        san_classify(t->mime, t->desc, t->name, &c);
        if (strcmp(c.kind, t->kind) != 0 || c.verdict != (int)t->verdict ||
            (t->out_ext == NULL) != (c.out_ext == NULL) ||
            (t->out_ext && strcmp(t->out_ext, c.out_ext) != 0) ||
            (t->reason_has && strstr(c.reason, t->reason_has) == NULL))
            fail_msg("case %zu (%s as %s): got kind %s, verdict %d, output %s, reason \"%s\"", i,
                     t->name, t->mime, c.kind, c.verdict, c.out_ext ? c.out_ext : "-", c.reason);
        if (c.verdict != SAN_SANITIZED && c.reason[0] == '\0')
            fail_msg("case %zu: a removed input needs a reason", i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_policy_table)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
