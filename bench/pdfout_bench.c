/*
 * bench/pdfout_bench.c - time the image-only PDF writer alone.
 *
 * Run by bench/run (compiled there with -DPDFW_ZLEVEL=1..9 to choose the
 * deflate level): reads binary PPM pages (as `pdftoppm` writes them), then
 * writes one PDF of all pages with pdfw_* and prints seconds and bytes. A
 * benchmark tool only: it prints figures and never asserts them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg.h"
#include "san_int.h"

typedef struct {
    unsigned w, h;
    uint8_t *rgb;
} page;

/* Read one header number of a PPM file. 0 or -1. */
static int ppm_num(FILE *f, unsigned *out)
{
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '#')
        if (c == '#')
            while ((c = fgetc(f)) != '\n' && c != EOF)
                ;
    if (c == EOF)
        return -1;
    ungetc(c, f);
    return fscanf(f, "%u", out) == 1 ? 0 : -1;
}

/* Load a binary PPM (P6, maxval 255) into p. 0 or -1. */
static int ppm_load(const char *path, page *p)
{
    FILE *f = fopen(path, "rb");
    unsigned maxval = 0;
    char magic[3] = {0};
    if (f == NULL)
        return -1;
    int ok = fread(magic, 1, 2, f) == 2 && strcmp(magic, "P6") == 0 && ppm_num(f, &p->w) == 0 &&
             ppm_num(f, &p->h) == 0 && ppm_num(f, &maxval) == 0 && maxval == 255 &&
             fgetc(f) != EOF && p->w > 0 && p->h > 0 && p->w <= 10000 && p->h <= 10000;
    size_t n = ok ? (size_t)p->w * p->h * 3 : 0;
    p->rgb = ok ? malloc(n) : NULL;
    ok = ok && p->rgb != NULL && fread(p->rgb, 1, n, f) == n;
    fclose(f);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pdfout_bench OUT.pdf DPI PAGE.ppm...\n");
        return 2;
    }
    int npages = argc - 3;
    page *pages = calloc((size_t)npages, sizeof *pages);
    for (int i = 0; pages && i < npages; i++)
        if (ppm_load(argv[3 + i], &pages[i]) < 0) {
            fprintf(stderr, "pdfout_bench: cannot read %s\n", argv[3 + i]);
            return 1;
        }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    double t0 = mg_now();
    pdfw *w = fd >= 0 ? pdfw_new(fd, (unsigned)atoi(argv[2])) : NULL;
    int rc = w ? 0 : -1;
    for (int i = 0; rc == 0 && i < npages; i++)
        rc = pdfw_add_page(w, pages[i].w, pages[i].h, pages[i].rgb);
    if (rc == 0)
        rc = pdfw_finish(w);
    pdfw_free(w);
    double t = mg_now() - t0;
    struct stat st;
    if (rc < 0 || fstat(fd, &st) < 0 || close(fd) < 0) {
        fprintf(stderr, "pdfout_bench: writing %s failed\n", argv[1]);
        return 1;
    }
    printf("%.3f %lld\n", t, (long long)st.st_size);
    for (int i = 0; i < npages; i++)
        free(pages[i].rgb);
    free(pages);
    return 0;
}
