/*
 * sanitize/san.h - the sanitization engine: classify, scan and convert one
 * input through the render jail into a harmless output file and a verdict.
 */
#ifndef SAN_H
#define SAN_H

#include <stddef.h>
#include "conf.h"

typedef enum {
    SAN_SANITIZED = 0, /* a harmless output was written */
    SAN_BLOCKED,       /* removed by policy or a virus signature */
    SAN_HELD,          /* cannot be inspected (encrypted) */
    SAN_FAILED         /* conversion failed: removed, reason given */
} san_verdict;

typedef struct san_result {
    san_verdict verdict;
    char *reason;        /* one line, English; never NULL after san_file */
    char *kind;          /* "pdf", "image", "office", "text", "csv", "html", "executable", ... */
    char *detected_type; /* MIME type from libmagic */
    char *declared_ext;  /* extension of the input name, lower case, may be "" */
    char *signature;     /* virus name when blocked by a signature, else NULL */
    char *output_path;   /* written file, or NULL */
    char sha256[65];     /* of the input */
    size_t in_size;
    size_t out_size;
    unsigned pages; /* pages rendered, 0 when not paged */
    double seconds;
} san_result;

typedef struct san_engine san_engine;

/* Load libmagic and the ClamAV database named by c (borrowed for the engine's life).
 * Returns NULL with a message in *err (caller frees with free()). */
san_engine *san_engine_new(const conf *c, char **err);
void san_engine_free(san_engine *e);
/* Non-zero when virus scanning is active. */
int san_engine_scanning(const san_engine *e);

/* Sanitize the file at in_path; display_name is the name used for type checks and reports.
 * The output is written in out_dir as out_stem + the new extension, never overwriting unless
 * overwrite. Fills *r (free with san_result_clear). Returns 0 when a verdict was reached
 * (any verdict), -1 on an internal error (reason in r->reason). */
int san_file(san_engine *e, const char *in_path, const char *display_name, const char *out_dir,
             const char *out_stem, int overwrite, san_result *r);
void san_result_clear(san_result *r);
/* "sanitized", "blocked", "held", "failed". */
const char *san_verdict_name(san_verdict v);

/* ---- report.c ---- */

typedef struct _JsonNode JsonNode;
/* A JSON object describing r for input (the report and audit format); caller frees with
 * json_node_unref. */
JsonNode *san_result_to_json(const char *input, const san_result *r);
/* Append one JSON line for input to c->audit_log (nothing when it is empty). 0 or -1. */
int san_audit_write(const conf *c, const char *program, const char *input, const san_result *r);

#endif
