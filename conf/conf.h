/*
 * conf/conf.h - mugai configuration: one declarative table of parameters
 * (conf_table.c) drives the parser, the sample file and the help text.
 */
#ifndef CONF_H
#define CONF_H

#include <stdio.h>
#include <stddef.h>

#define CONF_DEFAULT_PATH "/etc/mugai/mugai.conf"

typedef struct conf {
    /* [general] */
    char *log_level;   /* debug, info, warning, error */
    char *audit_log;   /* JSON lines; empty disables */
    char *render_path; /* the mugai-render program */
    char *soffice_path;
    size_t max_input_mb;
    /* [render] */
    unsigned pdf_dpi;
    unsigned max_pages;
    unsigned max_image_mpixels; /* megapixels per page or image */
    char *image_output;         /* "png" or "auto" (JPEG for photographs) */
    unsigned jpeg_quality;
    size_t max_text_mb;
    char *charsets;   /* comma-separated fallback order for unlabeled text */
    int text_layer;   /* documents get an invisible layer of their original's text */
    char *text_pages; /* "bilevel" (JBIG2) or "grey" (4 levels, Flate): pages of grey text */
    /* [jail] */
    unsigned jail_timeout;    /* wall-clock seconds per conversion */
    unsigned jail_cpu;        /* CPU seconds per conversion */
    size_t jail_memory_mb;    /* address space */
    size_t jail_file_size_mb; /* largest file the child may write */
    unsigned jail_open_files;
    unsigned jail_processes;
    int jail_seccomp;
    int jail_network_namespace;
    char *jail_user; /* who jailed programs run as */
    unsigned office_timeout;
    size_t office_memory_mb;
    /* [office] */
    int office_sheet_csv;       /* spreadsheets also give one CSV per sheet */
    unsigned office_max_sheets; /* most sheets taken from one spreadsheet */
    char *office_mode;          /* "warm" (the Office service) or "cold" (soffice per document) */
    unsigned office_recycle_after; /* the service restarts after this many documents */
    unsigned office_spares;        /* children the service keeps started ahead of documents */
    /* [scan] */
    char *clamav_db_dir;
    int scan_required; /* no database: 1 = refuse to start, 0 = warn loudly and go on */
    size_t scan_max_file_mb;
    /* [mail] */
    unsigned mail_max_depth;    /* nesting of multiparts and attached messages */
    unsigned mail_max_parts;    /* leaf parts per message */
    size_t mail_max_header_kb;  /* one header field */
    size_t mail_max_message_mb; /* whole message */
    char *mail_alternative;     /* "text" or "html": which alternative body is used */
    char *mail_notice_template; /* file with the notice text; "builtin" for the built-in */
    char *mail_subject_tag;     /* prefixed to the subject of sanitized mail; empty for none */
    /* [archive] */
    unsigned archive_max_depth;
    unsigned archive_max_entries;
    size_t archive_max_total_mb; /* sum of member sizes */
    size_t archive_max_entry_mb; /* one member */
    unsigned archive_max_ratio;  /* uncompressed / compressed */
    /* [quarantine] */
    char *quarantine_dir;
    unsigned quarantine_retention_days;
    char *release_host;
    unsigned release_port;
    char *release_helo;
    /* [milter] */
    char *milter_socket;       /* "unix:/path" or "inet:port@host" */
    char *milter_user;         /* run as this user after binding; empty: stay */
    char *milter_socket_group; /* group of the milter socket and its directory ("": the user's) */
    char *milter_pid_file;
    char *milter_spool_dir;
    unsigned milter_workers;
    unsigned milter_jobs_per_worker;
    unsigned milter_queue_wait;  /* seconds to wait for a free worker */
    unsigned milter_job_timeout; /* seconds one message may take in a worker */
    unsigned milter_max_headers; /* header fields a message may have; more: 554 */
    /* failed attempts at one message before a notice replaces it; 0: never */
    unsigned milter_poison_attempts;
    /* [web] */
    char *web_listen;   /* "ADDRESS:PORT" ("[v6]:PORT" for IPv6) */
    char *web_tls_cert; /* PEM files; both empty: plain HTTP, loopback only */
    char *web_tls_key;
    char *web_user; /* run as this user; empty: stay */
    unsigned web_session_idle_minutes;
    unsigned web_session_max_hours;
    unsigned web_release_approvals; /* 2: a second person approves; 1: an admin alone */
    unsigned web_lockout_failures;
    unsigned web_lockout_minutes;
    unsigned web_download_minutes; /* life of an approved export's one-time link */
    /* [ppap] */
    unsigned ppap_hold_days;      /* a held encrypted part waits this long for a password */
    unsigned ppap_match_hours;    /* a password mail counts this long after the held message */
    unsigned ppap_max_candidates; /* password candidates taken from one mail */
    unsigned ppap_max_attempts;   /* wrong passwords before only IT can open a part */
    char *ppap_submit_address;    /* recipients reply with passwords to it; "": no replies */
    char *ppap_trusted_networks;  /* comma-separated CIDRs replies may come from */
} conf;

/* Non-zero when addr (a numeric IPv4 or IPv6 address, as a milter sees the client) is inside
 * one of the comma-separated networks ("10.0.0.0/8, 192.0.2.7, 2001:db8::/32") of list. An
 * address or list that does not parse is outside. */
int conf_addr_in(const char *list, const char *addr);

/* Defaults from the table. Caller frees with conf_free. */
conf *conf_new_defaults(void);
/* Load path over the defaults; on failure returns NULL and a message naming
 * the file, line, key and reason in *err (caller frees with free()).
 * A NULL path loads CONF_DEFAULT_PATH if it exists, else the defaults. */
conf *conf_load(const char *path, char **err);
void conf_free(conf *c);
/* Write the commented sample configuration generated from the table. */
int conf_write_sample(FILE *out);
/* Print "group.key  default  doc" lines for --help output. */
void conf_print_keys(FILE *out);

#endif
