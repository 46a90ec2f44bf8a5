/*
 * fuzz/replay.c - run a libFuzzer harness over saved inputs without libFuzzer:
 * the regression tests of every harness in builds that are not fuzzing builds.
 *
 *   replay_NAME FILE|DIR...
 *
 * Each file (each regular file of a directory, in name order) is read whole
 * and given to LLVMFuzzerTestOneInput once. Exit 0 when every input ran; a
 * crash or sanitizer report ends the process as it would under the fuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Read path whole and run the harness on it. 0, or -1 with a message. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap ? cap * 2 : 65536);
            if (nb == NULL) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                fclose(f);
                free(buf);
                return -1;
            }
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* A copy of exactly len bytes, so that reading past the input is caught. */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replay every regular file of dir. Returns the number that failed to run, or -1. */
static int replay_dir(const char *dir, unsigned *ran)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, by_name), bad = 0;

    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;

        if (snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) < (int)sizeof path &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            bad += replay_file(path) < 0;
            ++*ran;
        }
        free(list[i]);
    }
    free(list);
    return bad;
}

int main(int argc, char **argv)
{
    unsigned ran = 0;
    int bad = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: %s FILE|DIR...\n"
               "Run this fuzzing harness once on each input file (each regular file of a\n"
               "directory). Exit 0 when every input ran.\n",
               argv[0]);
        return argc < 2 ? 2 : 0;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            int r = replay_dir(argv[i], &ran);
            bad += r < 0 ? 1 : r;
        } else {
            bad += replay_file(argv[i]) < 0;
            ran++;
        }
    }
    printf("replay: %u inputs, %d unreadable\n", ran, bad);
    return bad ? 1 : 0;
}
