/*
 * fuzz/fuzz_conf.c - libFuzzer harness of the configuration parser
 * (conf/conf.c over GLib's GKeyFile and the parameter table).
 *
 * Input: the text of a mugai.conf. It is written to a memory file and loaded
 * with conf_load as the programs load -c FILE. Checked: a rejected file gives
 * a message that names the file; an accepted one holds only values the table
 * allows (numbers within their bounds, strings among their choices, programs
 * as absolute paths, booleans 0 or 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "conf.h"
#include "conf_int.h"
#include "mg.h"

/* Report a broken promise and stop, so that the fuzzer keeps the input. */
static void fail(const conf_param *p, const char *why) __attribute__((noreturn));
static void fail(const conf_param *p, const char *why)
{
    fprintf(stderr, "fuzz_conf: [%s] %s: %s\n", p ? p->group : "-", p ? p->key : "-", why);
    abort();
}

/* Non-zero when v is one of the '|'-separated choices. */
static int among(const char *choices, const char *v)
{
    gchar **list = g_strsplit(choices, "|", -1);
    int found = g_strv_contains((const gchar *const *)list, v);

    g_strfreev(list);
    return found;
}

/* Check one parameter of an accepted configuration against its table entry. */
static void check_param(const conf *c, const conf_param *p)
{
    const void *f = (const char *)c + p->offset;
    const char *s = p->type == CONF_STRING || p->type == CONF_PATH ? *(char *const *)f : NULL;

    switch (p->type) {
    case CONF_STRING:
        if (!s || (p->choices && !among(p->choices, s)))
            fail(p, "a string outside its choices");
        break;
    case CONF_PATH:
        if (!s || (s[0] != '/' && !(p->choices && among(p->choices, s))))
            fail(p, "a program that is not an absolute path");
        break;
    case CONF_UINT:
        if (*(const unsigned *)f < p->min || *(const unsigned *)f > p->max)
            fail(p, "a number out of bounds");
        break;
    case CONF_SIZE:
        if (*(const size_t *)f < p->min || *(const size_t *)f > p->max)
            fail(p, "a size out of bounds");
        break;
    case CONF_BOOL:
        if (*(const int *)f != 0 && *(const int *)f != 1)
            fail(p, "a boolean that is neither 0 nor 1");
        break;
    }
}

/* The memory file the input is written to, made once. */
static int input_file(void)
{
    static int fd = -1;

    if (fd < 0 && (fd = memfd_create("fuzz_conf", MFD_CLOEXEC)) < 0) {
        perror("fuzz_conf: memfd_create");
        abort();
    }
    return fd;
}

/* Once per process: logging off below fatal. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_log_init("fuzz_conf", 0, MG_LOG_FATAL);
    return 0;
}

/* One configuration file loaded and, when accepted, checked against the table. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = input_file();
    char path[64];
    char *err = NULL;

    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
        mg_snprintf(path, sizeof path, "/proc/self/fd/%d", fd) < 0) {
        perror("fuzz_conf: cannot write the input");
        abort();
    }
    conf *c = conf_load(path, &err);
    if (!c && (!err || strncmp(err, path, strlen(path)) != 0))
        fail(NULL, err ? err : "rejected without a message");
    if (c && err)
        fail(NULL, "accepted with an error message");
    for (size_t i = 0; c && i < conf_nparams; i++)
        check_param(c, &conf_params[i]);
    conf_free(c);
    free(err);
    return 0;
}
