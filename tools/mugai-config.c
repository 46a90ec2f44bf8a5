/*
 * tools/mugai-config.c - check a mugai configuration file or print the
 * sample generated from the parameter table.
 *
 * Run by IT staff, unprivileged; reads only the configuration file.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"

/* Print usage to out. */
static void usage(FILE *out)
{
    fprintf(out, "Usage: mugai-config [-c FILE] --check\n"
                 "       mugai-config --sample\n"
                 "\n"
                 "Check a mugai configuration file, or print the commented sample configuration.\n"
                 "\n"
                 "  -c, --config FILE  configuration file (default " CONF_DEFAULT_PATH ")\n"
                 "      --check        load the file and report the first error, if any\n"
                 "      --sample       print the sample configuration with every default\n"
                 "  -h, --help         show this help\n"
                 "\n"
                 "Exit status: 0 valid (or sample printed), 2 usage or configuration error.\n"
                 "\n"
                 "Parameters:\n");
    conf_print_keys(out);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"sample", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int mode = 0, ch;
    char *err = NULL;

    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 'k':
        case 's':
            mode = ch;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (mode == 0 || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (mode == 's')
        return conf_write_sample(stdout) == 0 ? 0 : 2;
    conf *c = conf_load(path, &err);
    if (!c) {
        fprintf(stderr, "mugai-config: %s\n", err);
        free(err);
        return 2;
    }
    printf("%s: configuration is valid\n", path ? path : CONF_DEFAULT_PATH);
    conf_free(c);
    return 0;
}
