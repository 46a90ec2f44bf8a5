/*
 * fuzz/fuzz_mail.c - libFuzzer harness of the mail engine: the input is one
 * whole Internet message, given to san_mail as a pool worker would give it.
 *
 * Runs the trusted side for real (GMime parse and walk, libmagic
 * classification, libclamav with the EICAR signature, header and file-name
 * decoding, archive members, the notice and the rebuild of the clean message,
 * the memory quarantine store) with the render jail replaced by stub_jail.c.
 * Beyond the sanitizers' reports it checks the form of every clean message:
 * printable ASCII only, in CRLF lines of at most 998 bytes. Each run frees
 * everything it made.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "conf.h"
#include "engine_fixture.h"
#include "mg.h"
#include "quar.h"
#include "san.h"

/* The longest line of a message, CRLF not counted (RFC 5322 section 2.1.1). */
#define LINE_MAX_BYTES 998

static conf *cfg;
static san_engine *engine;

/* Small limits, so that every bound is within the fuzzer's reach and each run is fast. */
static void limits_small(conf *c)
{
    c->max_input_mb = 1;
    c->max_text_mb = 1;
    c->max_pages = 3;
    c->mail_max_depth = 8;
    c->mail_max_parts = 40;
    c->mail_max_header_kb = 4;
    c->mail_max_message_mb = 1;
    c->archive_max_depth = 2;
    c->archive_max_entries = 20;
    c->archive_max_total_mb = 4;
    c->archive_max_entry_mb = 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    mg_log_init("fuzz_mail", 0, MG_LOG_FATAL);
    cfg = conf_new_defaults();
    limits_small(cfg);
    fuzz_set_str(&cfg->mail_subject_tag, "[無害化]");
    engine = fuzz_engine_start("fuzz_mail", cfg);
    return 0;
}

/* Abort when the clean message on fd breaks the rules of its form: only printable ASCII and
 * TAB (headers encoded, parts in base64), every line ended by CRLF, no CR or LF alone, and
 * no line longer than LINE_MAX_BYTES. */
static void check_clean(int fd)
{
    char *out = NULL;
    size_t len = 0, line = 0;

    if (lseek(fd, 0, SEEK_SET) < 0 || mg_read_all(fd, 64 << 20, &out, &len) < 0) {
        perror("fuzz_mail: reading the clean message");
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '\r' && i + 1 < len && out[i + 1] == '\n') {
            line = 0;
            i++;
        } else if (out[i] == '\r' || out[i] == '\n') {
            fprintf(stderr, "fuzz_mail: bare CR or LF at byte %zu of the clean message\n", i);
            abort();
        } else if ((out[i] < 0x20 && out[i] != '\t') || (unsigned char)out[i] >= 0x7F) {
            fprintf(stderr, "fuzz_mail: byte 0x%02X at byte %zu of the clean message\n",
                    (unsigned char)out[i], i);
            abort();
        } else if (++line > LINE_MAX_BYTES) {
            fprintf(stderr, "fuzz_mail: line over %d bytes at byte %zu of the clean message\n",
                    LINE_MAX_BYTES, i);
            abort();
        }
    }
    if (len > 0 && line != 0) {
        fprintf(stderr, "fuzz_mail: the clean message does not end with CRLF\n");
        abort();
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    quar_store *q = quar_open_memory(30);
    int in = fuzz_memfd("fuzz-mail-in", data, size);
    int out = memfd_create("fuzz-mail-out", MFD_CLOEXEC);
    san_mail_result r;
    char *err = NULL;

    if (!q || out < 0) {
        perror("fuzz_mail: store or output");
        exit(1);
    }
    if (san_mail(engine, q, in, NULL, "fuzz", out, &r, &err) == 0)
        check_clean(out);
    san_mail_result_clear(&r);
    free(err);
    quar_close(q);
    close(out);
    close(in);
    return 0;
}
