/*
 * fuzz/engine_fixture.c - the engine harnesses' shared set-up (engine_fixture.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <glib.h>

#include "engine_fixture.h"
#include "mg.h"

static const char *fixture_who = "fuzz";
static conf *fixture_cfg;
static san_engine *fixture_engine;

void fuzz_set_str(char **field, const char *value)
{
    g_free(*field);
    *field = g_strdup(value);
}

/* Write a ClamAV database into the new directory dir (a mkdtemp template): one MD5
 * signature, of the EICAR test file, as tests/gen/make_clamdb.py writes it. Returns dir;
 * exits on failure. */
static const char *clamdb_write(char *dir)
{
    static const char sig[] = "44d88612fea8a8f36de82e1278abb02f:68:Mugai.Test.EICAR\n";
    char path[64];
    int fd;

    if (!mkdtemp(dir) || mg_snprintf(path, sizeof path, "%s/fuzz.hdb", dir) < 0 ||
        (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        mg_write_all(fd, sig, sizeof sig - 1) < 0 || close(fd) < 0) {
        fprintf(stderr, "%s: ClamAV database: ", fixture_who);
        perror(NULL);
        exit(1);
    }
    return dir;
}

/* Remove what clamdb_write made. */
static void clamdb_remove(const char *dir)
{
    char path[64];

    if (mg_snprintf(path, sizeof path, "%s/fuzz.hdb", dir) >= 0)
        unlink(path);
    rmdir(dir);
}

/* Free the engine at exit: libclamav keeps pointers to its compiled database in memory
 * the leak checker does not scan, so that an engine still held at exit looks leaked. */
static void engine_end(void)
{
    san_engine_free(fixture_engine);
    conf_free(fixture_cfg);
}

san_engine *fuzz_engine_start(const char *who, conf *c)
{
    char dbdir[] = "/tmp/fuzz_engine-XXXXXX", *err = NULL;

    fixture_who = who;
    fixture_cfg = c;
    /* Never run: the stand-in jail answers in process. san_engine_new wants a program. */
    fuzz_set_str(&c->render_path, "/bin/true");
    /* A real libclamav engine with one signature: scanning costs little and its verdicts
     * reach the engine. The database is read once, at san_engine_new. */
    fuzz_set_str(&c->clamav_db_dir, clamdb_write(dbdir));
    fixture_engine = san_engine_new(c, &err);
    clamdb_remove(dbdir);
    atexit(engine_end);
    if (!fixture_engine) {
        fprintf(stderr, "%s: cannot start the engine: %s\n", who, err);
        exit(1);
    }
    return fixture_engine;
}

int fuzz_memfd(const char *name, const uint8_t *data, size_t size)
{
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0 || mg_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        fprintf(stderr, "%s: memfd: ", fixture_who);
        perror(NULL);
        exit(1);
    }
    return fd;
}
