/*
 * conf/conf_table.c - every mugai configuration parameter, declared once.
 *
 * The parser, the sample mugai.conf and the --help key list are generated
 * from this table; a parameter that is not here does not exist.
 */
#include <stddef.h>

#include "conf.h"
#include "conf_int.h"

#define S(g, k, d, ch, f, doc)                                                                     \
    {                                                                                              \
        g, k, CONF_STRING, d, 0, 0, ch, offsetof(conf, f), doc                                     \
    }
#define P(g, k, d, ch, f, doc)                                                                     \
    {                                                                                              \
        g, k, CONF_PATH, d, 0, 0, ch, offsetof(conf, f), doc                                       \
    }
#define U(g, k, d, lo, hi, f, doc)                                                                 \
    {                                                                                              \
        g, k, CONF_UINT, #d, lo, hi, NULL, offsetof(conf, f), doc                                  \
    }
#define Z(g, k, d, lo, hi, f, doc)                                                                 \
    {                                                                                              \
        g, k, CONF_SIZE, #d, lo, hi, NULL, offsetof(conf, f), doc                                  \
    }
#define B(g, k, d, f, doc)                                                                         \
    {                                                                                              \
        g, k, CONF_BOOL, d, 0, 1, NULL, offsetof(conf, f), doc                                     \
    }

const conf_param conf_params[] = {
    S("general", "log_level", "info", "debug|info|warning|error", log_level,
      "Lowest level of log lines written (debug, info, warning, error)."),
    S("general", "audit_log", "", NULL, audit_log,
      "File that receives one JSON line per sanitized input; empty disables the audit log."),
    P("general", "render_path", "auto", "auto", render_path,
      "The jailed renderer program; auto finds the one installed with mugai."),
    P("general", "soffice_path", "/usr/bin/soffice", NULL, soffice_path,
      "LibreOffice's soffice program, used to turn Office documents into PDF in the jail."),
    Z("general", "max_input_mb", 100, 1, 4096, max_input_mb,
      "Largest input file in MiB; a larger one is blocked."),
    U("render", "pdf_dpi", 150, 50, 600, pdf_dpi,
      "Resolution in dots per inch at which document pages are rendered to pixels."),
    U("render", "max_pages", 500, 1, 10000, max_pages,
      "Most pages a document may have; a longer one is blocked."),
    U("render", "max_image_mpixels", 100, 1, 1000, max_image_mpixels,
      "Most pixels (in millions) an image or a rendered page may have, checked before decoding."),
    S("render", "image_output", "auto", "auto|png", image_output,
      "Image output format: png always, or auto (JPEG for photographs, PNG otherwise)."),
    U("render", "jpeg_quality", 85, 30, 100, jpeg_quality,
      "JPEG quality for photographs when image_output is auto."),
    Z("render", "max_text_mb", 32, 1, 1024, max_text_mb,
      "Largest text, CSV or HTML conversion result in MiB."),
    S("render", "charsets", "UTF-8,CP932,EUC-JP,ISO-2022-JP", NULL, charsets,
      "Character sets tried, in order, for text whose encoding is not declared."),
    B("render", "text_layer", "true", text_layer,
      "Lay the original's own text, checked, over the pages of flattened PDF and Office "
      "documents as invisible text, so that they can be searched and copied from."),
    S("render", "text_pages", "bilevel", "bilevel|grey", text_pages,
      "How flattened pages of grey text are encoded: bilevel (black and white, thin strokes "
      "kept, JBIG2: about 35 KB a page of text at 150 dpi; a page with areas of flat grey "
      "keeps grey) or grey (4 grey levels, Flate: about 90 KB). Colour pages, pictures and "
      "photographs are not affected."),
    U("jail", "timeout", 120, 1, 3600, jail_timeout,
      "Wall-clock seconds one conversion may take before its processes are killed."),
    U("jail", "cpu", 60, 1, 3600, jail_cpu, "CPU seconds one conversion may use."),
    Z("jail", "memory_mb", 1024, 64, 65536, jail_memory_mb,
      "Address space of the renderer in MiB."),
    Z("jail", "file_size_mb", 256, 1, 65536, jail_file_size_mb,
      "Largest file a jailed process may write, in MiB."),
    U("jail", "open_files", 64, 16, 4096, jail_open_files,
      "Most file descriptors a jailed process may hold."),
    U("jail", "processes", 256, 1, 65536, jail_processes,
      "Most processes of the jail's user (RLIMIT_NPROC; not enforced for root)."),
    B("jail", "seccomp", "true", jail_seccomp,
      "Confine the renderer with a seccomp system-call allow-list."),
    B("jail", "network_namespace", "true", jail_network_namespace,
      "Run every conversion in a new network namespace without interfaces; when one cannot "
      "be made, the conversion fails and the part is held. false is for diagnosis only: "
      "jailed programs then share the host's network namespace and its abstract local "
      "sockets."),
    S("jail", "user", "nobody", NULL, jail_user,
      "User jailed programs run as when mugai starts as root; it must own nothing of mugai's "
      "and differ from [milter] user."),
    U("jail", "office_timeout", 180, 5, 3600, office_timeout,
      "Wall-clock seconds LibreOffice may take for one document (for a spreadsheet, its PDF "
      "and its sheets together)."),
    Z("jail", "office_memory_mb", 4096, 512, 65536, office_memory_mb,
      "Address space of LibreOffice in MiB."),
    B("office", "sheet_csv", "true", office_sheet_csv,
      "Give a spreadsheet (xls, xlsx, ods, ...) one UTF-8 CSV per sheet beside its flat PDF, "
      "NAME-SHEET.csv with the values as the sheet shows them, formulas neutralized; hidden "
      "sheets are included and marked \"(hidden)\" in the name. Made in the same jail as the "
      "PDF, by two more LibreOffice runs."),
    U("office", "max_sheets", 64, 1, 1024, office_max_sheets,
      "Most sheets of one spreadsheet given as CSV; a workbook with more gets none. Each "
      "sheet's CSV is bounded by [render] max_text_mb, all of them together by "
      "[jail] file_size_mb."),
    S("office", "mode", "warm", "warm|cold", office_mode,
      "warm: the Office service (mugai-office, beside mugai-render) keeps LibreOffice loaded "
      "and converts each document in a fresh jailed child of its own; cold: one soffice run "
      "per document in the jail. Warm needs LibreOfficeKit (Debian libreofficekit-dev at "
      "build time); without it, or when the service cannot start, cold is used. Spreadsheets "
      "are always converted cold (their sheets' CSV come from the same jail)."),
    U("office", "recycle_after", 200, 0, 1000000, office_recycle_after,
      "The Office service exits once idle after this many documents and is started afresh "
      "(0: never)."),
    U("office", "spares", 1, 0, 8, office_spares,
      "Children the Office service keeps started ahead of their documents: in the jail, "
      "LibreOffice started, waiting for one document each, so that a document does not wait "
      "for that (0: each child is started when its document comes)."),
    S("scan", "clamav_db_dir", "/var/lib/clamav", NULL, clamav_db_dir,
      "Directory of the ClamAV signature database."),
    B("scan", "required", "true", scan_required,
      "Refuse to start without a usable signature database (false: warn and go on unscanned)."),
    Z("scan", "max_file_mb", 100, 1, 4096, scan_max_file_mb,
      "Largest file, in MiB, that ClamAV scans in full."),
    U("mail", "max_depth", 20, 1, 100, mail_max_depth,
      "Deepest nesting of multiparts, attached messages (also as files) and archives, "
      "counted together; deeper parts are removed."),
    U("mail", "max_parts", 500, 1, 100000, mail_max_parts,
      "Most parts one message may have; the rest are removed with a notice. With "
      "[archive] max_entries it also bounds the parts and members of one input in all."),
    Z("mail", "max_header_kb", 64, 1, 10240, mail_max_header_kb,
      "Longest header field in KiB; a longer one is cut."),
    Z("mail", "max_message_mb", 100, 1, 4096, mail_max_message_mb,
      "Largest message in MiB; over it only the notice passes."),
    S("mail", "alternative", "text", "text|html", mail_alternative,
      "Body used from multipart/alternative: the text part, or the HTML part converted to text."),
    S("mail", "notice_template", "builtin", NULL, mail_notice_template,
      "File with the notice appended to sanitized mail (see conf/notice.txt); builtin uses the "
      "built-in text."),
    S("mail", "subject_tag", "", NULL, mail_subject_tag,
      "Text put before the subject of every sanitized message, e.g. [無害化]; empty for none."),
    U("archive", "max_depth", 3, 1, 10, archive_max_depth,
      "Deepest nesting of archives inside archives."),
    U("archive", "max_entries", 1000, 1, 100000, archive_max_entries,
      "Most members one archive may have."),
    Z("archive", "max_total_mb", 500, 1, 65536, archive_max_total_mb,
      "Most bytes all archive members of one input (its nested archives included) may "
      "expand to, in MiB."),
    Z("archive", "max_entry_mb", 100, 1, 65536, archive_max_entry_mb,
      "Largest single member in MiB."),
    U("archive", "max_ratio", 100, 2, 100000, archive_max_ratio,
      "Largest expansion ratio (expanded / compressed size) before an archive counts as a bomb."),
    S("quarantine", "dir", "/var/lib/mugai/quarantine", NULL, quarantine_dir,
      "Directory of the quarantine store (originals and the SQLite index)."),
    U("quarantine", "retention_days", 90, 1, 36500, quarantine_retention_days,
      "Days an original is kept before `mugai-quarantine purge` removes it."),
    S("quarantine", "release_host", "127.0.0.1", NULL, release_host,
      "SMTP listener without milters that released originals are sent to."),
    U("quarantine", "release_port", 10026, 1, 65535, release_port, "Port of the release listener."),
    S("quarantine", "release_helo", "mugai-release", NULL, release_helo,
      "Name mugai gives in EHLO when it releases mail."),
    S("milter", "socket", "unix:/var/spool/postfix/mugai/milter.sock", NULL, milter_socket,
      "Where mugai-milter listens: unix:/path or inet:port@host. The default is inside "
      "Postfix's queue directory, where Debian's chrooted smtpd finds it as "
      "unix:mugai/milter.sock."),
    S("milter", "user", "mugai", NULL, milter_user,
      "User mugai-milter runs as after binding its socket; empty keeps the starting user, "
      "which must then not be root. Started as root, it first creates the socket's directory "
      "(0750), the spool and the quarantine directory for that user when they are missing, "
      "then becomes that user in a user namespace of its own."),
    S("milter", "socket_group", "postfix", NULL, milter_socket_group,
      "Group given the unix milter socket (0660) and its directory (0750), so that Postfix "
      "reaches it without being in the milter user's group, which owns the quarantine; empty "
      "gives them the milter user's own group."),
    S("milter", "pid_file", "/run/mugai/mugai-milter.pid", NULL, milter_pid_file,
      "File holding the process id of mugai-milter; empty for none."),
    S("milter", "spool_dir", "/var/spool/mugai", NULL, milter_spool_dir,
      "Directory where messages are spooled while they are sanitized."),
    U("milter", "workers", 2, 1, 256, milter_workers, "Sanitizer worker processes."),
    U("milter", "jobs_per_worker", 500, 1, 1000000, milter_jobs_per_worker,
      "Messages a worker handles before it is replaced by a fresh one."),
    U("milter", "queue_wait", 60, 1, 3600, milter_queue_wait,
      "Seconds a message may wait for a free worker before it is deferred (451)."),
    U("milter", "job_timeout", 300, 5, 3600, milter_job_timeout,
      "Seconds one message may take in a worker; then its conversions are stopped and it is "
      "deferred (451)."),
    U("milter", "max_headers", 1000, 50, 5000, milter_max_headers,
      "Most header fields a message may have; one with more is rejected for good (554 5.6.0), "
      "not deferred: Postfix could not take the header changes its clean copy needs."),
    U("milter", "poison_attempts", 3, 0, 100, milter_poison_attempts,
      "Attempts at the same message (known by a digest of its content) that may stop a worker "
      "or run past job_timeout; at the next one its original is quarantined with verdict "
      "failed and the recipients get a notice instead of the message. 0 turns this off."),
    S("web", "listen", "127.0.0.1:8443", NULL, web_listen,
      "Address and port of the review console mugai-web (ADDRESS:PORT, [IPv6]:PORT). Without "
      "tls_cert and tls_key it serves plain HTTP and only on a loopback address, for a reverse "
      "proxy; on any other address it refuses to start."),
    S("web", "tls_cert", "", NULL, web_tls_cert,
      "PEM certificate chain of the console (absolute path); with tls_key, the console "
      "serves HTTPS only."),
    S("web", "tls_key", "", NULL, web_tls_key, "PEM private key of tls_cert (absolute path)."),
    S("web", "user", "mugai-web", NULL, web_user,
      "User mugai-web runs as after binding its port when started as root (a member of the "
      "quarantine owner's group); empty keeps the starting user, which must then not be root."),
    U("web", "session_idle_minutes", 15, 1, 1440, web_session_idle_minutes,
      "Minutes without a request after which a console session ends."),
    U("web", "session_max_hours", 8, 1, 168, web_session_max_hours,
      "Hours after sign-in at which a console session ends, however busy."),
    U("web", "release_approvals", 2, 1, 2, web_release_approvals,
      "People needed to release or export an original: 2, a request and an approval by "
      "another person; 1, an admin's request is carried out at once. mugai-quarantine "
      "follows the same rule."),
    U("web", "lockout_failures", 5, 1, 1000, web_lockout_failures,
      "Failed sign-ins within lockout_minutes that lock an account."),
    U("web", "lockout_minutes", 15, 1, 10080, web_lockout_minutes,
      "Window in which failed sign-ins are counted, and how long a locked account stays "
      "locked."),
    U("web", "download_minutes", 10, 1, 1440, web_download_minutes,
      "Minutes an approved export's single-use download link stays valid."),
    U("ppap", "hold_days", 14, 1, 365, ppap_hold_days,
      "Days a held encrypted attachment (zip, 7z, PDF) waits for its password; then it "
      "expires and its recipients are told."),
    U("ppap", "match_hours", 72, 1, 720, ppap_match_hours,
      "Hours after a held message during which a mail from the same envelope sender to one "
      "of its recipients is read for the password."),
    U("ppap", "max_candidates", 20, 1, 100, ppap_max_candidates,
      "Most password candidates taken from one mail or reply."),
    U("ppap", "max_attempts", 50, 1, 100000, ppap_max_attempts,
      "Wrong passwords tried on a held attachment before it is locked; then only IT can "
      "open it (mugai-quarantine unlock)."),
    S("ppap", "submit_address", "", NULL, ppap_submit_address,
      "Address recipients send a password to, with the quarantine ID in the subject; the "
      "gateway consumes such a mail and answers it. Empty turns replies off."),
    S("ppap", "trusted_networks", "127.0.0.0/8, ::1", NULL, ppap_trusted_networks,
      "Comma-separated networks (CIDR) of the LGWAN mail server: the only clients a mail to "
      "submit_address is accepted from."),
};

const size_t conf_nparams = sizeof(conf_params) / sizeof(conf_params[0]);
