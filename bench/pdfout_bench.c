/*
 * bench/pdfout_bench.c - time the image-only PDF writer alone.
 *
 * Run by bench/run (compiled there with -DPDFW_ZLEVEL=1..9 to choose the
 * deflate level, with -DPDFW_BILEVEL_FLATE for bilevel text pages in 1-bit
 * Flate instead of JBIG2): reads pages, either binary PPM files (as
 * `pdftoppm` writes them) or one file holding mugai-render's output (rnd.h
 * wire format: the pixels the trusted side gets), then writes one PDF of all
 * pages with pdfw_* (pages of grey text bilevel, or in 4 grey levels with
 * --grey, as [render] text_pages says) and prints wall seconds, CPU seconds
 * and bytes. A benchmark tool only: it prints figures and never asserts them.
 */
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mg.h"
#include "rnd.h"
#include "san_int.h"

typedef struct {
    unsigned w, h;
    uint8_t *rgb;
} page;

typedef struct {
    page *v;
    size_t n, cap;
} pages;

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

/* Append an empty page to ps and return it, or NULL. */
static page *pages_add(pages *ps)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        page *v = realloc(ps->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        ps->v = v;
        ps->cap = cap;
    }
    memset(&ps->v[ps->n], 0, sizeof ps->v[0]);
    return &ps->v[ps->n++];
}

/* Read the pixels of a w x h page from f into a new page of ps. 0 or -1. */
static int page_read(FILE *f, pages *ps, unsigned w, unsigned h)
{
    page *p = pages_add(ps);
    if (p == NULL || w == 0 || h == 0 || w > RND_MAX_DIM || h > RND_MAX_DIM)
        return -1;
    size_t n = (size_t)w * h * 3;
    p->w = w;
    p->h = h;
    p->rgb = malloc(n);
    return p->rgb != NULL && fread(p->rgb, 1, n, f) == n ? 0 : -1;
}

/* Load a binary PPM (P6, maxval 255) as one page of ps. 0 or -1. */
static int ppm_load(FILE *f, pages *ps)
{
    unsigned w = 0, h = 0, maxval = 0;
    int ok = ppm_num(f, &w) == 0 && ppm_num(f, &h) == 0 && ppm_num(f, &maxval) == 0 &&
             maxval == 255 && fgetc(f) != EOF;
    return ok ? page_read(f, ps, w, h) : -1;
}

/* Read a 4-byte tag and, when n is not NULL, a 32-bit little-endian number after it. */
static int wire_tag(FILE *f, const char *tag, unsigned *n)
{
    uint8_t b[8];
    size_t len = n ? 8 : 4;
    if (fread(b, 1, len, f) != len || memcmp(b, tag, 4) != 0)
        return -1;
    if (n)
        *n = (unsigned)b[4] | (unsigned)b[5] << 8 | (unsigned)b[6] << 16 | (unsigned)b[7] << 24;
    return 0;
}

/* Load every page of a mugai-render pixel stream (after its magic) into ps. 0 or -1. */
static int wire_load(FILE *f, pages *ps)
{
    unsigned n = 0, w = 0, h = 0;
    if (wire_tag(f, RND_TAG_PAGES, &n) < 0)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (wire_tag(f, RND_TAG_PAGE, &w) < 0 || fread(&h, 1, 4, f) != 4 ||
            page_read(f, ps, w, le32toh(h)) < 0)
            return -1;
    return 0;
}

/* Load path, a PPM or a wire stream, into ps. 0 or -1. */
static int load(const char *path, pages *ps)
{
    FILE *f = fopen(path, "rb");
    char magic[4];
    if (f == NULL)
        return -1;
    int rc = -1;
    if (fread(magic, 1, 4, f) == 4 && memcmp(magic, RND_MAGIC, 4) == 0)
        rc = wire_load(f, ps);
    else if (memcmp(magic, "P6", 2) == 0 && fseek(f, 2, SEEK_SET) == 0)
        rc = ppm_load(f, ps);
    fclose(f);
    return rc;
}

/* CPU seconds used by this process. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int grey = argc > 1 && strcmp(argv[1], "--grey") == 0;
    argv += grey;
    argc -= grey;
    if (argc < 4) {
        fprintf(stderr, "usage: pdfout_bench [--grey] OUT.pdf DPI PAGES.{ppm,wire}...\n"
                        "prints: wall-seconds cpu-seconds bytes pages\n");
        return 2;
    }
    pages ps = {0};
    for (int i = 3; i < argc; i++)
        if (load(argv[i], &ps) < 0) {
            fprintf(stderr, "pdfout_bench: cannot read %s\n", argv[i]);
            return 1;
        }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    double t0 = mg_now(), c0 = cpu_now();
    pdfw *w = fd >= 0 ? pdfw_new(fd, (unsigned)atoi(argv[2])) : NULL;
    int rc = w ? pdfw_grey_text(w, grey) : -1;
    for (size_t i = 0; rc == 0 && i < ps.n; i++)
        rc = pdfw_add_page(w, ps.v[i].w, ps.v[i].h, ps.v[i].rgb);
    if (rc == 0)
        rc = pdfw_finish(w);
    pdfw_free(w);
    double t = mg_now() - t0, c = cpu_now() - c0;
    struct stat st;
    if (rc < 0 || fstat(fd, &st) < 0 || close(fd) < 0) {
        fprintf(stderr, "pdfout_bench: writing %s failed\n", argv[1]);
        return 1;
    }
    printf("%.3f %.3f %lld %zu\n", t, c, (long long)st.st_size, ps.n);
    for (size_t i = 0; i < ps.n; i++)
        free(ps.v[i].rgb);
    free(ps.v);
    return 0;
}
