/*
 * tests/unit/quar_fixture.c - builds quarantine stores for end-to-end tests:
 * stores one .eml with the envelope and parts given on the command line and
 * prints the new quarantine id.
 *
 * Run by test scripts only, on temporary stores; it must never be installed.
 *
 *   quar_fixture STORE EML [--time UNIX] [--retention DAYS] [--hold-days DAYS]
 *       [--sender S] [--rcpt R]... [--subject S] [--from F] [--message-id M]
 *       [--queue-id Q] [--client C] [--verdict V] [--actor A] [--headers TEXT] [--clean-text TEXT]
 *       [--part PATH|FILENAME|DECLARED|DETECTED|SIZE|SHA256|ACTION|REASON|SIGNATURE]...
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "quar.h"

/* Empty fields of a --part value become NULL. */
static const char *field(char **f, size_t i)
{
    return f[i] && f[i][0] ? f[i] : NULL;
}

/* Add a part described as nine '|'-separated fields. 0 or -1. */
static int add_part(quar_msg *m, const char *spec)
{
    char **f = g_strsplit(spec, "|", 9);

    if (g_strv_length(f) != 9) {
        g_strfreev(f);
        return -1;
    }
    quar_msg_add_part(m, field(f, 0), field(f, 1), field(f, 2), field(f, 3),
                      g_ascii_strtoull(f[4], NULL, 10), field(f, 5), field(f, 6), field(f, 7),
                      field(f, 8));
    g_strfreev(f);
    return 0;
}

/* Append a recipient to m. */
static void add_rcpt(quar_msg *m, const char *addr)
{
    guint n = g_strv_length(m->recipients);

    m->recipients = g_renew(char *, m->recipients, n + 2);
    m->recipients[n] = g_strdup(addr);
    m->recipients[n + 1] = NULL;
}

/* Apply one option to m. 0 or -1. */
static int apply(quar_msg *m, int opt, const char *v, unsigned *retention, const char **actor)
{
    char **slot[] = {['s'] = &m->sender,     ['S'] = &m->subject,  ['f'] = &m->from,
                     ['m'] = &m->message_id, ['q'] = &m->queue_id, ['c'] = &m->client,
                     ['v'] = &m->verdict,    ['h'] = &m->headers,  ['x'] = &m->clean_text};

    if (opt == 't')
        m->time = g_ascii_strtoll(v, NULL, 10);
    else if (opt == 'd')
        *retention = (unsigned)g_ascii_strtoull(v, NULL, 10);
    else if (opt == 'r')
        add_rcpt(m, v);
    else if (opt == 'a')
        *actor = v;
    else if (opt == 'p')
        return add_part(m, v);
    else if (opt > 0 && (size_t)opt < G_N_ELEMENTS(slot) && slot[opt]) {
        g_free(*slot[opt]);
        *slot[opt] = g_strdup(v);
    } else
        return -1;
    return 0;
}

/* Store one message as described by the options; print its id. */
int main(int argc, char **argv)
{
    static const struct option opts[] = {{"time", 1, NULL, 't'},       {"retention", 1, NULL, 'd'},
                                         {"sender", 1, NULL, 's'},     {"rcpt", 1, NULL, 'r'},
                                         {"subject", 1, NULL, 'S'},    {"from", 1, NULL, 'f'},
                                         {"message-id", 1, NULL, 'm'}, {"queue-id", 1, NULL, 'q'},
                                         {"client", 1, NULL, 'c'},     {"verdict", 1, NULL, 'v'},
                                         {"actor", 1, NULL, 'a'},      {"part", 1, NULL, 'p'},
                                         {"headers", 1, NULL, 'h'},    {"clean-text", 1, NULL, 'x'},
                                         {"hold-days", 1, NULL, 'H'},  {NULL, 0, NULL, 0}};
    quar_msg *m = quar_msg_new();
    unsigned retention = 90, hold_days = QUAR_HOLD_DAYS_DEFAULT;
    const char *actor = "quar_fixture";
    quar_store *s;
    char *err = NULL;
    int opt, fd;

    m->verdict = g_strdup("clean");
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (opt == 'H')
            hold_days = (unsigned)g_ascii_strtoull(optarg, NULL, 10);
        else if (apply(m, opt, optarg, &retention, &actor) < 0) {
            fprintf(stderr, "quar_fixture: bad option\n");
            return 2;
        }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: quar_fixture STORE EML [options]\n");
        return 2;
    }
    fd = open(argv[optind + 1], O_RDONLY);
    s = fd < 0 ? NULL : quar_open_fs(argv[optind], retention, &err);
    if (s)
        quar_set_hold_days(s, hold_days);
    if (!s || quar_put(s, fd, m, actor, &err) != 0) {
        fprintf(stderr, "quar_fixture: %s\n", err ? err : "cannot open input");
        return 1;
    }
    printf("%s\n", m->id);
    quar_close(s);
    quar_msg_free(m);
    close(fd);
    return 0;
}
