/*
 * web/main.c - mugai-web: the review console's daemon, and its user
 * commands.
 *
 * Started by systemd (or by hand) as root or as [web] user. Reads the
 * configuration, binds [web] listen and reads the TLS key and certificate
 * while it may, then becomes [web] user (with its supplementary groups, so
 * that the store owner's group applies) with no_new_privs, and only then
 * opens the store and starts serving. Without TLS it serves plain HTTP on a
 * loopback address only (behind a reverse proxy) and refuses any other
 * address. Must never serve as root, and never start a thread before the
 * privileges are gone.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>

#include "mg.h"
#include "web.h"

#define EXIT_USAGE 2

typedef struct opts {
    const char *conf_path;
    int foreground;
} opts;

/* The --help text. */
static void usage(FILE *out)
{
    fputs("Usage: mugai-web [-c FILE] [-f]\n"
          "       mugai-web [-c FILE] user add NAME --role admin|reviewer|auditor\n"
          "       mugai-web [-c FILE] user passwd|disable|enable NAME\n"
          "       mugai-web [-c FILE] user list\n"
          "\n"
          "The review console of the mugai sanitization gateway: a web page and a JSON\n"
          "API (under /api/v1/) where IT staff search the quarantine, inspect what the\n"
          "gateway recorded about each message (envelope, decoded headers, every part\n"
          "and what became of it, the text the recipients received), request and\n"
          "approve releases, exports and deletions, and read and check the hash-chained\n"
          "audit trail. It never opens an original to show it: it shows what the\n"
          "quarantine store recorded.\n"
          "\n"
          "Serving: binds [web] listen (ADDRESS:PORT or [IPv6]:PORT). With [web]\n"
          "tls_cert and tls_key (PEM files, read before privileges are dropped) it\n"
          "serves HTTPS only; without them plain HTTP, and only on a loopback address\n"
          "(for a reverse proxy on the same host): any other address is refused at\n"
          "start. Started as root it binds, reads the key, then becomes [web] user\n"
          "(default mugai-web, a member of the quarantine owner's group) and cannot\n"
          "regain privileges; it refuses to serve as root. SIGTERM or SIGINT stop it.\n"
          "A reverse proxy in front must pass the browser's Host header on (nginx:\n"
          "proxy_set_header Host $host), as the Origin of every POST is checked against\n"
          "it; the audit trail then names the proxy's address as the source.\n"
          "\n"
          "Roles: auditor reads everything and acts on nothing; reviewer also requests\n"
          "a release, an export or a deletion, each with a reason; admin also approves\n"
          "or denies requests and manages accounts. With [web] release_approvals = 2\n"
          "(the default) a release or an export is carried out only after another\n"
          "person approved the request: the store refuses an approval by the\n"
          "requester. With 1, an admin's request is carried out at once, as is an\n"
          "admin's deletion. A release reports the release listener's real answer\n"
          "(its queue id, or the error). An approved export gives a single-use\n"
          "download link, valid [web] download_minutes.\n"
          "\n"
          "Sign-in: a session is 256 random bits in an HttpOnly, SameSite=Strict\n"
          "cookie (Secure under HTTPS, or behind a TLS proxy); it ends after [web]\n"
          "session_idle_minutes without use, or session_max_hours after sign-in. After\n"
          "lockout_failures failed sign-ins within lockout_minutes an account is locked\n"
          "for lockout_minutes. At most two sign-ins check a password at once; more are\n"
          "answered 503 (try again). Every state change is a POST carrying the\n"
          "session's CSRF token. Every action is recorded in the audit trail.\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE   configuration file (default " CONF_DEFAULT_PATH ")\n"
          "  -f, --foreground    do not detach; log to standard error instead of syslog\n"
          "  -h, --help          show this help and exit\n"
          "\n"
          "Accounts (run on the gateway by an administrator; each change is audited\n"
          "with the invoking Unix user as actor and \"cli\" as source):\n"
          "  user add NAME --role ROLE   add an account (NAME: 1-64 of A-Z a-z 0-9 . _ @ -)\n"
          "  user passwd NAME            set a new password; ends the account's sessions\n"
          "  user disable NAME           disable the account; ends its sessions\n"
          "  user enable NAME            enable it again\n"
          "  user list                   list accounts, roles, state and locks\n"
          "A new password is read from the terminal twice without echo, or as one line\n"
          "from standard input when that is not a terminal; at least 12 characters.\n"
          "Only its argon2id hash is stored.\n"
          "\n"
          "Exit status: 0 success (or a clean stop); 1 a runtime failure (store,\n"
          "socket, unknown account); 2 a usage or configuration error.\n"
          "\n"
          "Files: " CONF_DEFAULT_PATH " ([web], [quarantine]); the quarantine store\n"
          "in [quarantine] dir. See also mugai-quarantine --help, mugai-config --help.\n",
          out);
}

/* Parse the options; 0 go on (argv from *first are a command), 1 done (help), -1 usage. */
static int parse_args(int argc, char **argv, opts *o, int *first)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"foreground", no_argument, NULL, 'f'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;

    while ((ch = getopt_long(argc, argv, "+c:fh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->conf_path = optarg;
            break;
        case 'f':
            o->foreground = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            fputs("Try 'mugai-web --help'.\n", stderr);
            return -1;
        }
    }
    *first = optind;
    return 0;
}

/* Print a configuration error about o's file and exit 2. */
static void conf_refuse(const opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conf_refuse(const opts *o, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "mugai-web: %s: ", o->conf_path ? o->conf_path : CONF_DEFAULT_PATH);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_USAGE);
}

/* Load the configuration or exit 2. */
static conf *load_conf(const opts *o)
{
    char *err = NULL;
    conf *c = conf_load(o->conf_path, &err);

    if (c == NULL) {
        fprintf(stderr, "mugai-web: %s\n", err);
        free(err);
        exit(EXIT_USAGE);
    }
    return c;
}

/* Check [web] listen and TLS against each other; the address into ss. Exits 2 when wrong. */
static void check_listen(const conf *c, const opts *o, struct sockaddr_storage *ss, socklen_t *len)
{
    const char *why;
    int cert = *c->web_tls_cert != '\0', key = *c->web_tls_key != '\0';

    if (web_listen_parse(c->web_listen, ss, len, &why) < 0)
        conf_refuse(o, "[web] listen %s: %s", c->web_listen, why);
    if (cert != key)
        conf_refuse(o, "[web] tls_cert and tls_key must both be set (HTTPS) or both be empty");
    if (!cert && !web_addr_loopback(ss))
        conf_refuse(o,
                    "[web] listen %s is not a loopback address: without tls_cert and tls_key "
                    "mugai-web serves plain HTTP on loopback only (for a reverse proxy); set "
                    "both, or listen on 127.0.0.1 or [::1]",
                    c->web_listen);
}

/* Started as root: [web] user, who must exist and not be root. NULL when not root. */
static struct passwd *web_user(const conf *c, const opts *o)
{
    struct passwd *pw;

    if (getuid() != 0 && geteuid() != 0)
        return NULL;
    if (*c->web_user == '\0')
        conf_refuse(o, "refusing to serve as root: set [web] user (e.g. user = mugai-web, a "
                       "member of the quarantine owner's group)");
    pw = getpwnam(c->web_user);
    if (pw == NULL)
        conf_refuse(o, "unknown [web] user %s", c->web_user);
    if (pw->pw_uid == 0 || pw->pw_gid == 0)
        conf_refuse(o, "[web] user %s is root or in group root", c->web_user);
    return pw;
}

/* Read a PEM file named in [web]; exits 2 when unreadable. Caller frees with g_free. */
static char *read_pem(const opts *o, const char *key, const char *path)
{
    char *text = NULL;
    GError *gerr = NULL;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        fprintf(stderr, "mugai-web: %s: [web] %s: %s\n",
                o->conf_path ? o->conf_path : CONF_DEFAULT_PATH, key, gerr->message);
        g_error_free(gerr);
        exit(EXIT_USAGE);
    }
    return text;
}

/* Bind and listen on ss; the socket, or exit 1. */
static int bind_listen(const conf *c, const struct sockaddr_storage *ss, socklen_t len)
{
    int one = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        mg_fatal("socket: %s", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0))
        mg_fatal("setsockopt: %s", strerror(errno));
    if (bind(fd, (const struct sockaddr *)ss, len) < 0)
        mg_fatal("cannot bind [web] listen %s: %s", c->web_listen, strerror(errno));
    if (listen(fd, 64) < 0)
        mg_fatal("listen on %s: %s", c->web_listen, strerror(errno));
    return fd;
}

/* Become pw for good (groups first), and forbid gaining privileges again. Exits 1 on failure. */
static void drop_privileges(const struct passwd *pw)
{
    if (pw != NULL) {
        if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
            setuid(pw->pw_uid) < 0)
            mg_fatal("cannot become [web] user %s: %s", pw->pw_name, strerror(errno));
        if (setuid(0) == 0)
            mg_fatal("could regain root after becoming %s", pw->pw_name);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        mg_fatal("no_new_privs: %s", strerror(errno));
}

/* Block the stop signals in every thread to come (sigwait takes them); ignore SIGPIPE. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
        mg_fatal("cannot block signals");
    signal(SIGPIPE, SIG_IGN);
}

/* Serve until SIGTERM or SIGINT; the exit status. */
static int serve(web_ctx *ctx, int lsock, int ipv6, const char *key, const char *cert)
{
    sigset_t set;
    int sig = 0;
    struct MHD_Daemon *d;

    block_signals(&set);
    d = web_http_start(ctx, lsock, ipv6, key, cert);
    if (d == NULL)
        return 1;
    mg_info("serving %s on %s (pid %ld)", key ? "HTTPS" : "HTTP", ctx->cf->web_listen,
            (long)getpid());
    while (sig != SIGTERM && sig != SIGINT) {
        if (sigwait(&set, &sig) != 0)
            break;
        if (sig == SIGHUP)
            mg_info("SIGHUP ignored: restart mugai-web to read a new configuration");
    }
    mg_info("stopping on signal %d", sig);
    MHD_stop_daemon(d);
    return 0;
}

/* The daemon: checks, bind, key, privileges, store, serve. */
static int run_daemon(const opts *o)
{
    conf *c = load_conf(o);
    struct sockaddr_storage ss;
    socklen_t len = 0;
    struct passwd *pw;
    char *key = NULL, *cert = NULL, *err = NULL;
    int lsock, rc, lvl = mg_log_level_parse(c->log_level);
    web_ctx ctx;

    check_listen(c, o, &ss, &len);
    pw = web_user(c, o);
    if (*c->web_tls_cert) {
        cert = read_pem(o, "tls_cert", c->web_tls_cert);
        key = read_pem(o, "tls_key", c->web_tls_key);
    }
    mg_log_init("mugai-web", !o->foreground, lvl < 0 ? MG_LOG_INFO : (mg_log_level)lvl);
    lsock = bind_listen(c, &ss, len);
    drop_privileges(pw);
    if (web_password_init() < 0)
        mg_fatal("cannot prepare password checks (argon2id)");
    if (!o->foreground && daemon(0, 0) < 0)
        mg_fatal("daemon: %s", strerror(errno));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        mg_fatal("cannot initialise libcurl");
    memset(&ctx, 0, sizeof(ctx));
    ctx.cf = c;
    ctx.tls = key != NULL;
    pthread_mutex_init(&ctx.lock, NULL);
    ctx.store = quar_open_fs(c->quarantine_dir, c->quarantine_retention_days, &err);
    if (ctx.store == NULL)
        mg_fatal("quarantine store %s: %s", c->quarantine_dir, err);
    rc = serve(&ctx, lsock, ss.ss_family == AF_INET6, key, cert);
    quar_close(ctx.store);
    close(lsock);
    g_free(key);
    g_free(cert);
    curl_global_cleanup();
    conf_free(c);
    return rc;
}

/* mugai-web. */
int main(int argc, char **argv)
{
    opts o = {NULL, 0};
    int first = 0, rc = parse_args(argc, argv, &o, &first);

    if (rc != 0)
        return rc > 0 ? 0 : EXIT_USAGE;
    if (first < argc && strcmp(argv[first], "user") == 0) {
        conf *c = load_conf(&o);
        mg_log_init("mugai-web", 0, MG_LOG_WARNING);
        rc = web_cli_user(c, argc - first, argv + first);
        conf_free(c);
        return rc;
    }
    if (first < argc) {
        fprintf(stderr, "mugai-web: unknown command %s (try 'mugai-web --help')\n", argv[first]);
        return EXIT_USAGE;
    }
    return run_daemon(&o);
}
