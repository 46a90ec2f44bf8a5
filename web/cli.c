/*
 * web/cli.c - mugai-web user ...: console accounts from the shell (add,
 * passwd, disable, enable, list).
 *
 * Run by an administrator (root or a member of the store's group) on the
 * gateway. Reads a new password from the terminal without echo (twice), or
 * one line from standard input when it is not a terminal; stores only its
 * argon2id hash. Every change is audited with the invoking Unix user as the
 * actor and "cli" as the source.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "web.h"

#define EXIT_USAGE 2

/* The Unix user running the command (the one behind sudo when root through sudo). */
static const char *invoking_user(void)
{
    static char name[64];
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw;

    if (getuid() == 0 && sudo != NULL && *sudo != '\0') {
        g_strlcpy(name, sudo, sizeof(name));
        return name;
    }
    pw = getpwuid(getuid());
    if (pw != NULL)
        g_strlcpy(name, pw->pw_name, sizeof(name));
    else if (mg_snprintf(name, sizeof(name), "uid %lu", (unsigned long)getuid()) < 0)
        g_strlcpy(name, "unknown", sizeof(name));
    return name;
}

/* A new password: prompted twice on a terminal, else one line of standard input; at least
 * WEB_PASSWORD_MIN characters. NULL (said on stderr) otherwise. */
static char *read_password(void)
{
    char *pw, *again;

    if (!isatty(STDIN_FILENO)) {
        pw = mg_read_secret_line(stdin, WEB_PASSWORD_MAX);
        if (pw == NULL)
            fprintf(stderr,
                    "mugai-web: no password on standard input (one line, at most %d "
                    "bytes)\n",
                    WEB_PASSWORD_MAX);
    } else {
        pw = mg_prompt_secret("New password: ", WEB_PASSWORD_MAX);
        again = pw ? mg_prompt_secret("Again: ", WEB_PASSWORD_MAX) : NULL;
        if (pw == NULL || again == NULL || strcmp(pw, again) != 0) {
            fprintf(stderr, "mugai-web: the passwords differ\n");
            g_free(pw);
            pw = NULL;
        }
        g_free(again);
    }
    if (pw != NULL &&
        (!g_utf8_validate(pw, -1, NULL) || g_utf8_strlen(pw, -1) < WEB_PASSWORD_MIN)) {
        fprintf(stderr, "mugai-web: a password has at least %d characters (UTF-8)\n",
                WEB_PASSWORD_MIN);
        g_free(pw);
        pw = NULL;
    }
    return pw;
}

/* Record an account change by the invoking user. */
static void cli_audit(quar_store *s, const char *action, const char *detail)
{
    quar_event ev;
    char *err = NULL;

    memset(&ev, 0, sizeof(ev));
    ev.actor = (char *)invoking_user();
    ev.action = (char *)action;
    ev.detail = (char *)detail;
    ev.source = "cli";
    ev.outcome = "ok";
    if (quar_audit_ev(s, &ev, &err) != 0) {
        fprintf(stderr, "mugai-web: audit trail: %s\n", err ? err : "cannot record");
        free(err);
    }
}

/* user add NAME --role ROLE */
static int user_add(quar_store *s, const char *name, const char *role)
{
    quar_user u;
    char *err = NULL, *pw, *detail;
    int rc;

    if (web_role_parse(role) == WEB_ROLE_NONE) {
        fprintf(stderr, "mugai-web: --role must be admin, reviewer or auditor\n");
        return EXIT_USAGE;
    }
    if ((pw = read_password()) == NULL)
        return 1;
    memset(&u, 0, sizeof(u));
    u.name = (char *)name;
    u.role = (char *)role;
    u.created = (int64_t)time(NULL);
    u.pwhash = web_password_hash(pw);
    g_free(pw);
    if (u.pwhash == NULL)
        return 1;
    rc = quar_user_add(s, &u, &err);
    g_free(u.pwhash);
    if (rc != 0) {
        fprintf(stderr, "mugai-web: user add %s: %s\n", name,
                rc == 2 ? "an account of that name exists" : err);
        free(err);
        return 1;
    }
    detail = g_strdup_printf("%s as %s", name, role);
    cli_audit(s, "user-added", detail);
    g_free(detail);
    return 0;
}

/* Set field of name to value, end its sessions when asked, and audit what. */
static int user_set(quar_store *s, const char *name, const char *field, const char *value,
                    const char *what, int end_sessions)
{
    char *err = NULL, *detail;
    int rc = quar_user_set(s, name, field, value, &err);

    if (rc == 0 && end_sessions)
        rc = quar_session_drop(s, NULL, name, &err);
    if (rc != 0) {
        fprintf(stderr, "mugai-web: %s: %s\n", name, rc == 1 ? "no such account" : err);
        free(err);
        return 1;
    }
    detail = g_strdup_printf("%s: %s", name, what);
    cli_audit(s, "user-changed", detail);
    g_free(detail);
    return 0;
}

/* user passwd NAME */
static int user_passwd(quar_store *s, const char *name)
{
    char *pw = read_password(), *hash;
    int rc;

    if (pw == NULL)
        return 1;
    hash = web_password_hash(pw);
    g_free(pw);
    if (hash == NULL)
        return 1;
    rc = user_set(s, name, "pwhash", hash, "password set", 1);
    g_free(hash);
    return rc;
}

/* user list */
static int user_list(quar_store *s)
{
    quar_user **list = NULL;
    size_t n = 0;
    char *err = NULL, created[32], locked[32];
    int64_t now = (int64_t)time(NULL);

    if (quar_user_list(s, &list, &n, &err) < 0) {
        fprintf(stderr, "mugai-web: user list: %s\n", err);
        free(err);
        return 1;
    }
    printf("%-24s %-9s %-9s %-21s %s\n", "NAME", "ROLE", "STATE", "CREATED", "LOCKED UNTIL");
    for (size_t i = 0; i < n; i++) {
        web_iso_time(list[i]->created, created);
        web_iso_time(list[i]->locked_until, locked);
        printf("%-24s %-9s %-9s %-21s %s\n", list[i]->name, list[i]->role,
               list[i]->disabled ? "disabled" : "enabled", created,
               list[i]->locked_until > now ? locked : "-");
    }
    quar_user_list_free(list, n);
    return 0;
}

/* Non-zero when argv is one of the user subcommands' forms. */
static int usage_ok(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";

    if (strcmp(sub, "list") == 0)
        return argc == 2;
    if (strcmp(sub, "add") == 0)
        return (argc == 5 && strcmp(argv[3], "--role") == 0) ||
               (argc == 4 && g_str_has_prefix(argv[3], "--role="));
    return argc == 3 && (strcmp(sub, "passwd") == 0 || strcmp(sub, "disable") == 0 ||
                         strcmp(sub, "enable") == 0);
}

/* Run one user subcommand (its form checked by usage_ok) on the open store. */
static int run(quar_store *s, int argc, char **argv)
{
    const char *sub = argv[1], *name = argc > 2 ? argv[2] : NULL;

    if (strcmp(sub, "list") == 0)
        return user_list(s);
    if (strcmp(sub, "add") == 0)
        return user_add(s, name, argc == 5 ? argv[4] : argv[3] + strlen("--role="));
    if (strcmp(sub, "passwd") == 0)
        return user_passwd(s, name);
    if (strcmp(sub, "disable") == 0)
        return user_set(s, name, "disabled", "1", "disabled", 1);
    return user_set(s, name, "disabled", "0", "enabled", 0);
}

int web_cli_user(const conf *cf, int argc, char **argv)
{
    quar_store *s;
    char *err = NULL;
    int rc;

    if (!usage_ok(argc, argv)) {
        fprintf(stderr, "mugai-web: usage: mugai-web [-c FILE] user add NAME --role "
                        "admin|reviewer|auditor | passwd NAME | disable NAME | enable NAME | "
                        "list\n");
        return EXIT_USAGE;
    }
    s = quar_open_fs(cf->quarantine_dir, cf->quarantine_retention_days, &err);
    if (s == NULL) {
        fprintf(stderr, "mugai-web: quarantine store %s: %s\n", cf->quarantine_dir, err);
        free(err);
        return 1;
    }
    rc = run(s, argc, argv);
    quar_close(s);
    return rc;
}
