/*
 * milter/spool.c - the front end's spool files, reused from message to message.
 *
 * Runs in the milter front end, in libmilter's threads. Each message in
 * progress holds a pair of 0600 files in the spool directory: the spooled
 * original (named msg-*, so that a crash leaves something the next start
 * can remove) and an anonymous file the worker writes the clean message to.
 * When a message ends and no worker can still be writing, the pair is emptied
 * and kept for the next message: creating and deleting two inodes per message
 * costs more than sanitizing a short mail (ext4 without a journal scans past
 * every recently freed inode on each allocation). Must never hand out a pair that still holds bytes
 * of an earlier message, or one a worker may still write to.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg.h"
#include "milter.h"

#define SPOOL_KEEP 32u /* idle pairs kept at most */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static milter_spool *g_idle;
static unsigned g_nidle;

/* Close and remove a pair. */
static void spool_destroy(milter_spool *sp)
{
    if (sp->f != NULL) {
        fclose(sp->f);
        unlink(sp->path);
    }
    if (sp->out >= 0)
        close(sp->out);
    free(sp);
}

/* A new pair in dir. */
static milter_spool *spool_create(const char *dir)
{
    milter_spool *sp = calloc(1, sizeof(*sp));
    int fd, saved;

    if (sp == NULL)
        return NULL;
    sp->out = -1;
    if (mg_snprintf(sp->path, sizeof(sp->path), "%s/msg-XXXXXX", dir) < 0) {
        free(sp);
        errno = ENAMETOOLONG;
        return NULL;
    }
    fd = mkostemp(sp->path, O_CLOEXEC);
    if (fd < 0) {
        free(sp);
        return NULL;
    }
    sp->f = fdopen(fd, "w+");
    if (sp->f == NULL) {
        saved = errno;
        close(fd);
        unlink(sp->path);
        free(sp);
        errno = saved;
        return NULL;
    }
    sp->out = mg_tmp_file(dir);
    if (sp->out < 0) {
        saved = errno;
        spool_destroy(sp);
        errno = saved;
        return NULL;
    }
    return sp;
}

/* An idle pair, or a new one. */
milter_spool *milter_spool_take(const char *dir)
{
    milter_spool *sp;

    pthread_mutex_lock(&g_lock);
    sp = g_idle;
    if (sp != NULL) {
        g_idle = sp->next;
        g_nidle--;
    }
    pthread_mutex_unlock(&g_lock);
    if (sp == NULL)
        return spool_create(dir);
    sp->next = NULL;
    return sp;
}

/* Empty both files; 0, or -1 when they cannot be emptied. */
static int spool_empty(milter_spool *sp)
{
    /* fseek first: it writes out or drops what the stream still buffers. */
    if (fseek(sp->f, 0, SEEK_SET) != 0 || ftruncate(fileno(sp->f), 0) < 0)
        return -1;
    clearerr(sp->f);
    if (ftruncate(sp->out, 0) < 0 || lseek(sp->out, 0, SEEK_SET) < 0)
        return -1;
    return 0;
}

/* Keep sp for the next message when allowed and possible, else remove it. */
void milter_spool_give(milter_spool *sp, int reuse)
{
    int keep;

    if (sp == NULL)
        return;
    keep = reuse && spool_empty(sp) == 0;
    pthread_mutex_lock(&g_lock);
    if (keep && g_nidle < SPOOL_KEEP) {
        sp->next = g_idle;
        g_idle = sp;
        g_nidle++;
        sp = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    if (sp != NULL)
        spool_destroy(sp);
}

/* Remove every idle pair. */
void milter_spool_drop_all(void)
{
    milter_spool *sp;

    pthread_mutex_lock(&g_lock);
    sp = g_idle;
    g_idle = NULL;
    g_nidle = 0;
    pthread_mutex_unlock(&g_lock);
    while (sp != NULL) {
        milter_spool *next = sp->next;

        spool_destroy(sp);
        sp = next;
    }
}
