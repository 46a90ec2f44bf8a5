/*
 * sanitize/san.h - the sanitization engine: classify, scan and convert one
 * input through the render jail into a harmless output file and a verdict.
 */
#ifndef SAN_H
#define SAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "conf.h"

typedef enum {
    SAN_SANITIZED = 0, /* a harmless output was written */
    SAN_BLOCKED,       /* removed by policy or a virus signature */
    SAN_HELD,          /* cannot be inspected (encrypted) */
    SAN_FAILED         /* conversion failed: removed, reason given */
} san_verdict;

/* One sheet of a spreadsheet, given as CSV beside the flat PDF ([office] sheet_csv). */
typedef struct san_sheet {
    char *name;        /* the sheet's name made safe for a file name (UTF-8, no separators,
                          controls or bidi characters, at most SAN_SHEET_NAME_MAX bytes) */
    int hidden;        /* the workbook hides the sheet */
    char *output_path; /* the CSV written: its path (san_file), its name in the rebuilt zip
                          (an archive member); else NULL */
    size_t out_size;
    int fd; /* the CSV as rebuilt on the trusted side (BOM, neutralized cells) in an anonymous
               file, rewound; -1 once closed */
} san_sheet;

#define SAN_SHEET_NAME_MAX 64

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
    san_sheet *sheets; /* a spreadsheet's sheets as CSV, in the workbook's order */
    size_t nsheets;
    unsigned sheets_lost;       /* sheets the workbook has that came without CSV (a name too long
                                 * for a file, an export cut short) */
    int sheets_failed;          /* the sheets were to come as CSV and none could */
    struct san_member *members; /* archive members, in archive order */
    size_t nmembers;
    struct quar_msg *mail; /* a message: its quarantine record with every part's fate */
} san_result;

/* One member of an archive and what became of it. */
typedef struct san_member {
    char *name;        /* normalized UTF-8 path inside the archive */
    char *output_name; /* path inside the rebuilt zip, NULL when removed */
    san_result r;
} san_member;

typedef struct san_engine san_engine;

/* Load libmagic and the ClamAV database named by c (borrowed for the engine's life).
 * Returns NULL with a message in *err (caller frees with free()). */
san_engine *san_engine_new(const conf *c, char **err);
void san_engine_free(san_engine *e);
/* Non-zero when virus scanning is active. */
int san_engine_scanning(const san_engine *e);

struct quar_store;
/* Store originals of messages given to san_file in q (borrowed; NULL: not stored). */
void san_engine_set_store(san_engine *e, struct quar_store *q, const char *actor);

/* Sanitize the file at in_path; display_name is the name used for type checks and reports.
 * The output is written in out_dir as out_stem + the new extension, never overwriting unless
 * overwrite. Fills *r (free with san_result_clear). Returns 0 when a verdict was reached
 * (any verdict), -1 on an internal error (reason in r->reason). */
int san_file(san_engine *e, const char *in_path, const char *display_name, const char *out_dir,
             const char *out_stem, int overwrite, san_result *r);
void san_result_clear(san_result *r);
/* The file name of sheet s of the output called stem: "stem-NAME.csv", "stem-NAME
 * (hidden).csv" for a hidden sheet. Caller g_free()s. */
char *san_sheet_file_name(const char *stem, const san_sheet *s);
/* "sanitized", "blocked", "held", "failed". */
const char *san_verdict_name(san_verdict v);

/* ---- jail.c: the render jail as a sanitizer pool uses it ---- */

/* Let every conversion this process runs from now on end at until (mg_now() clock) at the
 * latest, its processes killed then, and start none after it; 0 lifts the limit. Clears the
 * mark san_deadline_reached reads. Per process: a pool worker sets its job's deadline. */
void san_deadline_set(double until);
/* Non-zero when, since san_deadline_set, a conversion was stopped or refused because the
 * deadline had come: the result lacks that conversion and the job has run out of time. */
int san_deadline_reached(void);
/* Remove the private directories of conversions whose process no longer runs (one killed
 * mid-conversion leaves them), under $TMPDIR (or /tmp); only those of the effective user. */
void san_jail_dirs_sweep(void);
/* From now on, switch jailed programs to uid and gid (as the caller sees them) instead of
 * looking up [jail] user. */
void san_jail_ids_set(uid_t uid, gid_t gid);
/* For a process started as root that is to run as uid/gid (mugai-milter's [milter] user):
 * move it into a new user namespace where it is root, mapped to uid/gid outside, and where
 * uid/gid 1 are juid/jgid outside, then become that root. It keeps no privilege outside
 * the namespace, yet its jails can still run programs as the jail user. 0 or -1 (errno). */
int san_jail_userns_enter(uid_t uid, gid_t gid, uid_t juid, gid_t jgid);
/* Drop every capability of the calling process for good (mugai-milter's front end, which
 * needs none). 0 or -1. */
int san_caps_drop(void);

/* ---- spawn.c: a worker's jail spawner ---- */

/* Fork the calling process's jail spawner: a child that keeps this process's privileges and
 * from now on makes its jails (jail.c asks it instead of making them), so that this process
 * can confine itself (san_confine_worker). Call once, single-threaded, before opening what the
 * spawner should not hold; c is borrowed for the process's life. 0, or -1 (logged). */
int san_jail_spawner_start(const conf *c);
/* Zero once the spawner is known to be gone: no jail can be made any more, and a worker
 * should exit after its job. Non-zero otherwise, also without a spawner. */
int san_jail_spawner_ok(void);

/* ---- jail.c: the Office service ([office] mode = warm) ---- */

/* The Office service's program, mugai-office beside [general] render_path (free), or NULL
 * when it was not built (no LibreOfficeKit): then Office documents are converted cold. */
char *san_office_program(const conf *c);
/* Send Office documents (but spreadsheets) to the service on fd, a socket connected to it
 * (a pool worker connects before it confines itself); the process keeps fd. */
void san_office_attach(int fd);
/* Have this process start a service of its own (mugai-office --fd) for its first Office
 * document, with the configuration file config (NULL: the default one). */
void san_office_autostart(const char *config);
/* Zero once an attached service is gone: the worker should exit after its job, for a new one
 * that connects to the restarted service. Non-zero otherwise, also without a service. */
int san_office_ok(void);
/* The socket to the service, or -1. */
int san_office_fd(void);
/* Close the socket to the service; end this process's own service. */
void san_office_stop(void);
/* Start the service for a pool on the listening socket lsock (mugai-milter's supervisor,
 * which restarts it when it ends), jailed programs as c's jail user, configuration file
 * config (NULL: the default one). Its pid, or -1 with errno (ENOENT: not built). */
pid_t san_office_serve(const conf *c, const char *config, int lsock);
/* Connect to the service listening at path and attach the socket (san_office_attach). 0, or
 * -1 with errno. */
int san_office_connect(const char *path);

/* ---- confine.c: a sanitizer worker confines itself ---- */

/* Confine the calling process for good, as a pool worker running with c: every capability
 * dropped, no_new_privs; Landlock, when the kernel offers it, limits its files to reading
 * what the engine needs and writing the spool, the quarantine and $TMPDIR (the audit log
 * too), and forbids TCP and signals or abstract sockets beyond itself; a seccomp filter
 * refuses what a worker never does (sockets other than local ones, ptrace, mounts,
 * namespaces, exec, kernel modules, BPF, keys, io_uring). Call after san_jail_spawner_start.
 * 0, or -1 (logged) when a step failed: the process must not go on. Without Landlock it
 * applies the rest and returns 0 (san_confine_check says so once). */
int san_confine_worker(const conf *c);
/* Log once, in the process that starts the workers, whether their confinement includes
 * Landlock. Returns the kernel's Landlock ABI version, 0 when it has none. */
int san_confine_check(void);

/* ---- mail.c: one Internet mail message ---- */

#include "quar.h"

typedef struct san_envelope {
    const char *queue_id;          /* may be NULL */
    const char *client;            /* may be NULL */
    const char *sender;            /* may be NULL */
    const char *const *recipients; /* NULL-terminated, may be NULL */
} san_envelope;

typedef struct san_mail_result {
    quar_msg *record; /* the quarantine record with every part's fate; owned */
    int changed;      /* something was removed or converted besides the text body */
    char *text;       /* the body text as the recipients got it, without the notice (UTF-8,
                         at most 1 MiB; g_free) */
    double seconds;
} san_mail_result;

/* Sanitize the RFC 5322 message on in_fd. The original is stored in q first (when q is not
 * NULL), then the clean message (text/plain UTF-8 body with the notice, sanitized attachments)
 * is written to out_fd, CRLF, and re-parsed before return. Returns 0 (a clean message was
 * written, whatever the input), or -1 on an internal error (reason logged and in *err): the
 * caller must not pass the message on. */
int san_mail(san_engine *e, quar_store *q, int in_fd, const san_envelope *env, const char *actor,
             int out_fd, san_mail_result *r, char **err);
void san_mail_result_clear(san_mail_result *r);

/* ---- ppap.c: held encrypted attachments ([ppap]) ---- */

/* Hand a finished mail (on fd, at its start) from the gateway to rcpts, with the null
 * sender: send it or queue it. 0 with what happened in *reply ("250 ... queued as X",
 * "queued in the outbox"), -1 with why in *reply. Caller frees *reply with g_free. */
typedef int (*san_ppap_deliver_fn)(void *ctx, int fd, char *const *rcpts, char **reply);

/* Who opens held parts, and how their mails leave. Every member borrowed. */
typedef struct san_ppap {
    san_engine *e;
    quar_store *q;
    const conf *c;
    const char *actor;  /* for the audit trail: "mugai-milter", an IT user */
    const char *source; /* "cli", a client address, or NULL */
    san_ppap_deliver_fn deliver;
    void *deliver_ctx;
} san_ppap;

typedef enum { SAN_PPAP_MAIL, SAN_PPAP_REPLY, SAN_PPAP_IT } san_ppap_by;

/* Where a password came from (never the password itself). */
typedef struct san_ppap_origin {
    san_ppap_by by;
    const char *who;     /* the mail's envelope sender, the replying recipient, the IT user */
    const char *msg_id;  /* the password mail's quarantine id (SAN_PPAP_MAIL), else NULL */
    const char *subject; /* the password mail's subject, else NULL */
    int64_t time;        /* when it arrived */
} san_ppap_origin;

typedef struct san_ppap_outcome {
    int opened;        /* opened, follow-up handed on, part marked opened */
    int which;         /* the index of the candidate that opened it, -1 none */
    unsigned tried;    /* candidates tried */
    unsigned attempts; /* wrong passwords counted on the part so far (when not opened) */
    int locked;        /* this attempt locked the part */
    char *why;         /* why it was not opened, or NULL (g_free) */
} san_ppap_outcome;

/* Try cands on the held part h (pending, or locked when o is IT): on success the follow-up
 * with the sanitized contents goes to the original recipients, then h is marked opened; on
 * failure the wrong candidates are counted (locking h at [ppap] max_attempts). Both are in
 * the audit trail and the log, with how many candidates were tried and from where. 0 (see
 * out), 1 when h is not open to o (out->why), -1 on an error (out->why). */
int san_ppap_try(san_ppap *x, const quar_held *h, const char *const *cands, size_t n,
                 const san_ppap_origin *o, san_ppap_outcome *out);
/* After the message m (stored, body text text) was sanitized: when pending parts of messages
 * from the same envelope sender to one of m's recipients within [ppap] match_hours wait, try
 * the candidates of text on each. Masks the password that worked in m's stored text. Returns
 * how many parts opened (0 or 1+). */
int san_ppap_mail(san_ppap *x, const quar_msg *m, const char *text);
/* A recipient's reply to [ppap] submit_address (the message on fd, envelope sender sender,
 * from a trusted network): the quarantine id from its subject, the password from its body;
 * accepted only from a recipient of that message; the sender is answered either way.
 * Returns 0: the reply is consumed. */
int san_ppap_reply(san_ppap *x, int fd, const char *sender);
/* Expire pending and locked parts whose time is up, telling their recipients. How many, or
 * -1. */
int san_ppap_expire(san_ppap *x, int64_t now);

/* ---- mailpart.c ---- */

/* Write the part at IMAP part number path (quar.h) of the message on in (read from its
 * start through a dup) to out: a leaf's decoded content, an attached message whole, a
 * multipart raw. 0, 1 when there is no such part, -1 on error. */
int san_part_write(int in, int out, const char *path);

/* ---- unlock.c: opening a held encrypted part ([ppap]) ---- */

/* Try the password candidates cands[0..ncands-1] (UTF-8, NUL-terminated), in order, on the
 * encrypted file in_fd (a zip with ZipCrypto or WinZip AES, a 7z with AES, a password-protected
 * PDF), decrypting only in the render jail. With the first that opens it, sanitize what it holds
 * like any attachment of that name: r as san_file fills it (a zip or 7z: the rebuilt zip of its
 * sanitized members, archive bounds applied; a PDF: the flattened PDF with its text layer),
 * written in out_dir as out_stem + the new extension. *which gets that candidate's index (-1 when
 * none opened it: r->verdict SAN_HELD, reason "no password opened it"), *tried how many
 * candidates were tried. A type that cannot be opened (an encrypted Office file, unknown) is
 * SAN_HELD with a reason saying so, *tried 0. 0 when a verdict was reached, -1 on an internal
 * error (reason in r->reason). No password ever appears in a log line, a reason or a file. */
int san_unlock(san_engine *e, int in_fd, const char *display_name, const char *const *cands,
               size_t ncands, const char *out_dir, const char *out_stem, int *which,
               unsigned *tried, san_result *r);

/* ---- report.c ---- */

typedef struct _JsonNode JsonNode;
/* A JSON object describing r for input (the report and audit format); caller frees with
 * json_node_unref. */
JsonNode *san_result_to_json(const char *input, const san_result *r);
/* Append one JSON line for input to c->audit_log (nothing when it is empty). 0 or -1. */
int san_audit_write(const conf *c, const char *program, const char *input, const san_result *r);
typedef struct _JsonBuilder JsonBuilder;
/* Add "parts": the fate of every part of a message, to the open object in b. */
void san_json_parts(JsonBuilder *b, const struct quar_msg *m);
/* Add a string member (NULL as null) or an integer member to the open JSON object. */
void san_json_str(JsonBuilder *b, const char *name, const char *s);
void san_json_int(JsonBuilder *b, const char *name, int64_t v);
/* Append the audit line of a message sanitized by the milter (input: its queue id). */
int san_audit_mail(const conf *c, const char *program, const struct quar_msg *m, double seconds);

#endif
