/*
 * common/secret.c - reading a secret (a password) from standard input or a
 * terminal without echo, for the command-line tools.
 *
 * The secret is read into a stack buffer that is wiped, and handed back in one
 * GLib allocation; callers wipe and free it as soon as it has been used.
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"

#define SECRET_BUF_MAX 1024

/* See mg.h. */
char *mg_read_secret_line(FILE *f, size_t max)
{
    char buf[SECRET_BUF_MAX + 3];
    char *out = NULL;
    size_t n;

    if (max > SECRET_BUF_MAX)
        max = SECRET_BUF_MAX;
    if (fgets(buf, (int)(max + 3), f) != NULL) {
        n = strlen(buf);
        if (n == 0 || buf[n - 1] == '\n' || feof(f)) {
            buf[strcspn(buf, "\r\n")] = '\0';
            if (strlen(buf) <= max)
                out = g_strdup(buf);
        }
    }
    explicit_bzero(buf, sizeof(buf));
    return out;
}

/* See mg.h. */
char *mg_prompt_secret(const char *prompt, size_t max)
{
    struct termios old, quiet;
    char *line;

    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) < 0)
        return NULL;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
        return NULL;
    line = mg_read_secret_line(stdin, max);
    (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    return line;
}
