/*
 * quarantine/store_fs.c - the filesystem + SQLite quarantine backend.
 *
 * The index is DIR/index.sqlite (WAL mode, synchronous FULL, foreign keys
 * on, schema version in PRAGMA user_version). Originals up to inline_max bytes
 * (256 KiB unless quar_fs_set_inline_max says otherwise) are rows of its blobs
 * table, written in the same transaction as the message's rows, so that one
 * commit makes both durable; larger ones live in DIR/originals/ab/abcdef...
 * named by their SHA-256. Either way one copy per content. The store is shared
 * with its owner's group (the review console's user is a member): directories
 * 0770 and set-group-id (a file made in them, such as the -wal and -shm files
 * that whichever process opens the index first creates, belongs to the store's
 * group, not to that process's own group), the index 0660 (SQLite gives its
 * -wal and -shm files the same mode), original files 0640; nothing is ever
 * readable by others. The attempts table counts the failed attempts at
 * sanitizing a message, by a digest of its content (poison messages). The held
 * table records the encrypted parts held for their password (held_fs.c). The
 * events table is the hash-chained audit trail (quar.c defines the chain); an
 * event is appended in a write transaction that reads the chain's tail first,
 * so that concurrent writers (workers, the console, the command line) chain one
 * after another. The console's records (users, sessions, requests, downloads)
 * are in console_fs.c. Runs in trusted processes as the store's owner or a
 * member of its group and never interprets message content. It
 * must never index a message before its original is durable (fsync'd under
 * its final name, or in the same commit), never drop an original another
 * held message still refers to, and never let a new message reuse a stored
 * copy whose bytes no longer hash to its name (such a copy is replaced by the
 * bytes being stored, and the message's trail says so).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <sqlite3.h>

#include "mg.h"
#include "quar_int.h"
#include "store_fs_int.h"

#define SCHEMA_VERSION 5
#define DIR_MODE 02770
#define INDEX_MODE 0660
#define ORIGINAL_MODE 0640
#define INLINE_MAX_DEFAULT (256 * 1024)
#define INLINE_MAX_LIMIT (64 * 1024 * 1024) /* far below SQLite's 1e9-byte row limit */
#define TMP_PREFIX ".tmp-"
#define STALE_TMP_SECONDS 3600
#define BUSY_TIMEOUT_MS 10000
#define COPY_CHUNK 65536

static int unknown_id(quar_store *s, const char *id, char **err);

/* What a stored copy of a content holds. */
enum { COPY_ABSENT, COPY_GOOD, COPY_BAD };

static const char *const cached_sql[ST_COUNT] = {
    [ST_RCPTS_OF] = "SELECT addr FROM recipients WHERE msg_id = ? ORDER BY idx",
    [ST_PARTS_OF] = "SELECT path, filename, declared_type, detected_type, size, sha256, action,"
                    " reason, signature FROM parts WHERE msg_id = ? ORDER BY idx",
    [ST_MESSAGE] = "INSERT INTO messages (id, time, queue_id, client, sender, subject, from_hdr,"
                   " message_id, size, sha256, verdict, status, expires, release_result,"
                   " rcpt_list) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_TEXTS] = "INSERT INTO msg_texts (msg_id, headers, clean_text) VALUES (?,?,?)",
    [ST_RECIPIENT] = "INSERT INTO recipients (msg_id, idx, addr) VALUES (?,?,?)",
    [ST_PART] = "INSERT INTO parts (msg_id, idx, path, filename, declared_type, detected_type,"
                " size, sha256, action, reason, signature) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    [ST_BLOB] = "INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?,?)",
    [ST_EVENT] = "INSERT INTO events (id, time, msg_id, actor, action, reason, detail, source,"
                 " outcome, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    /* the last row's hash, and the highest seq ever used (a removed last row still counts) */
    [ST_CHAIN_TAIL] = "SELECT (SELECT hash FROM events ORDER BY id DESC LIMIT 1),"
                      " max(coalesce((SELECT max(id) FROM events), 0),"
                      " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))",
    [ST_TAKEN] = "SELECT 1 FROM messages WHERE id = ?",
    [ST_FAILURES] = "SELECT failures, first_time FROM attempts WHERE digest = ? AND last_time >= ?",
};

/* The first bytes of an original read for the inline decision: all of it when eof. */
typedef struct head {
    unsigned char *data;
    size_t len;
    int eof;
} head;

static const char schema_sql[] =
    "CREATE TABLE messages ("
    " id TEXT PRIMARY KEY, time INTEGER NOT NULL, queue_id TEXT, client TEXT,"
    " sender TEXT NOT NULL, subject TEXT, from_hdr TEXT, message_id TEXT,"
    " size INTEGER NOT NULL, sha256 TEXT NOT NULL, verdict TEXT, status TEXT NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX messages_time ON messages(time);"
    "CREATE INDEX messages_sha256 ON messages(sha256);"
    "CREATE INDEX messages_expires ON messages(expires);"
    "CREATE TABLE recipients ("
    " msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, addr TEXT NOT NULL, PRIMARY KEY (msg_id, idx));"
    "CREATE TABLE parts ("
    " msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, path TEXT, filename TEXT, declared_type TEXT,"
    " detected_type TEXT, size INTEGER NOT NULL, sha256 TEXT, action TEXT, reason TEXT,"
    " signature TEXT, PRIMARY KEY (msg_id, idx));"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " actor TEXT, action TEXT NOT NULL, reason TEXT, detail TEXT);"
    "CREATE INDEX events_msg ON events(msg_id, id);";

/* Added by version 2. Rows of up to 256 KiB fill overflow pages: an ordinary rowid table (WITHOUT
 * ROWID suits small rows only), its primary key a separate index of short keys. */
static const char blobs_sql[] = "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);";

/* Added by version 3: failed attempts at sanitizing messages, by content digest. */
static const char attempts_sql[] =
    "CREATE TABLE attempts (digest TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
    " first_time INTEGER NOT NULL, last_time INTEGER NOT NULL);"
    "CREATE INDEX attempts_last ON attempts(last_time);";

/* Version 4, before the events are copied: the release outcome; the envelope recipients once
 * more, in the message's row (rcpt_list: one per line), so that a recipient search scans one
 * index, not the recipients table; the decoded headers and the clean text in a table of their
 * own (kept out of the messages rows, which lists and counts scan); indexes for the console's
 * newest-first lists (messages_list holds every column a list filters on, so that a subject,
 * sender or recipient search scans it, not the table; messages_search, narrower, is what a
 * count by subject or sender scans; the status and verdict ones hold the other of the two); the new
 * events table. msg_id is NULL for an event about no item and is no foreign key (an event is never
 * refused, nor removed with anything: the store checks the item when it appends). */
static const char v4_before_sql[] =
    "ALTER TABLE messages ADD COLUMN release_result TEXT;"
    "ALTER TABLE messages ADD COLUMN rcpt_list TEXT;"
    "CREATE TABLE msg_texts (msg_id TEXT PRIMARY KEY REFERENCES messages(id),"
    " headers TEXT, clean_text TEXT);"
    "DROP INDEX IF EXISTS messages_time;"
    "CREATE INDEX messages_list ON messages(time, id, status, verdict, sender, subject,"
    " rcpt_list);"
    "CREATE INDEX messages_search ON messages(subject, sender);"
    "CREATE INDEX messages_status ON messages(status, time, id, verdict);"
    "CREATE INDEX messages_verdict ON messages(verdict, time, id, status);"
    "CREATE TABLE events_v4 ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " msg_id TEXT, actor TEXT, action TEXT NOT NULL, reason TEXT,"
    " detail TEXT, source TEXT, outcome TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);";

/* Version 4, after the events are copied and chained: the new table takes the old one's name. */
static const char v4_after_sql[] = "DROP TABLE IF EXISTS events;"
                                   "ALTER TABLE events_v4 RENAME TO events;"
                                   "CREATE INDEX events_msg ON events(msg_id, id);"
                                   "CREATE INDEX events_actor ON events(actor, id);"
                                   "CREATE INDEX events_action ON events(action, id);"
                                   "CREATE INDEX events_time ON events(time);";

static const char msg_cols[] = "id, time, queue_id, client, sender, subject, from_hdr, "
                               "message_id, size, sha256, verdict, status, expires, "
                               "release_result";

static const char event_cols[] = "id, time, msg_id, actor, action, reason, detail, source, "
                                 "outcome";

/* Report the database's last error. Returns -1. */
int qfs_db_err(quar_store *s, char **err, const char *what)
{
    return quar_err(s, err, "index: %s: %s", what, sqlite3_errmsg(fs(s)->db));
}

/* Run SQL without results. 0 or -1. */
int qfs_exec_sql(quar_store *s, const char *sql, char **err)
{
    char *msg = NULL;

    if (sqlite3_exec(fs(s)->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    quar_err(s, err, "index: %s", msg ? msg : "unknown error");
    sqlite3_free(msg);
    return -1;
}

/* Prepare one statement. 0 or -1. */
int qfs_prep(quar_store *s, const char *sql, sqlite3_stmt **st, char **err)
{
    if (sqlite3_prepare_v2(fs(s)->db, sql, -1, st, NULL) == SQLITE_OK)
        return 0;
    *st = NULL;
    return qfs_db_err(s, err, "prepare");
}

/* Bind a string, NULL as SQL NULL. */
int qfs_bind_str(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* A heap copy of a text column (NULL stays NULL). */
char *qfs_col_str(sqlite3_stmt *st, int i)
{
    return g_strdup((const char *)sqlite3_column_text(st, i));
}

/* Step a statement expected to finish without rows, then finalize it. 0 or -1. */
int qfs_step_done(quar_store *s, sqlite3_stmt *st, char **err)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE) {
        qfs_db_err(s, err, "write");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* The cached statement k of s into *st, prepared on first use. 0 or -1. */
static int cached(quar_store *s, int k, sqlite3_stmt **st, char **err)
{
    sqlite3_stmt **slot = &fs(s)->cached[k];

    *st = NULL;
    if (!*slot && sqlite3_prepare_v3(fs(s)->db, cached_sql[k], -1, SQLITE_PREPARE_PERSISTENT, slot,
                                     NULL) != SQLITE_OK) {
        *slot = NULL;
        return qfs_db_err(s, err, "prepare");
    }
    *st = *slot;
    return 0;
}

/* Step a cached statement expected to finish without rows, then reset it and drop its bindings
 * (blobs are bound without a copy). 0 or -1. */
static int step_reset(quar_store *s, sqlite3_stmt *st, char **err)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : qfs_db_err(s, err, "write");

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* DIR/originals/ab/abcdef... for a hash into a new string; NULL (with a reason in *err) when
 * sha is not 64 lower-case hex digits: the index is writable by the sanitizer workers, and a
 * hash read from it must not name a file outside the store. */
static char *original_path(quar_store *s, const char *sha, char **err)
{
    size_t n = 0;

    while (sha && n < 64 && g_ascii_isxdigit(sha[n]) && !g_ascii_isupper(sha[n]))
        n++;
    if (sha == NULL || n != 64 || sha[64] != '\0') {
        quar_err(s, err, "index: a malformed content hash \"%.70s\"", sha ? sha : "");
        return NULL;
    }
    return g_strdup_printf("%s/%.2s/%s", fs(s)->originals, sha, sha);
}

/* fsync a directory so that a rename or unlink in it is durable. 0 or -1. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* Create a directory 02770 (whatever the umask) unless it exists. 1 when created, 0 when it
 * existed, -1 on error. */
static int make_dir(const char *dir)
{
    if (mkdir(dir, DIR_MODE) == 0)
        return chmod(dir, DIR_MODE) == 0 ? 1 : -1;
    return errno == EEXIST ? 0 : -1;
}

/* Read fd until its end or until limit + 1 bytes (limit > 0) into h. The size fstat reports only
 * sizes the buffer: the bytes read decide. 0 or -1 (errno set); h->data always allocated. */
static int read_head(int fd, size_t limit, head *h)
{
    struct stat st;
    off_t pos = lseek(fd, 0, SEEK_CUR);
    size_t cap = 4096;
    ssize_t n;

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pos >= 0 && st.st_size > pos &&
        (uint64_t)(st.st_size - pos) < limit)
        cap = (size_t)(st.st_size - pos) + 1; /* room to see the end in the same buffer */
    cap = MIN(cap, limit + 1);
    h->data = g_malloc(cap);
    h->len = 0;
    h->eof = 0;
    while (h->len <= limit) {
        if (h->len == cap) {
            cap = cap > limit / 2 ? limit + 1 : cap * 2;
            h->data = g_realloc(h->data, cap);
        }
        n = read(fd, h->data + h->len, cap - h->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            h->eof = 1;
            break;
        }
        h->len += (size_t)n;
    }
    return 0;
}

/* Write h, then the rest of fd (none when fd < 0), into out while hashing into ck; the byte count
 * in *size. 0 or -1 (errno set). */
static int copy_hash(const head *h, int fd, int out, GChecksum *ck, uint64_t *size)
{
    unsigned char *buf;
    ssize_t n;
    int rc = 0;

    if (mg_write_all(out, h->data, h->len) < 0)
        return -1;
    g_checksum_update(ck, h->data, (gssize)h->len);
    *size = h->len;
    if (fd < 0)
        return 0;
    buf = g_malloc(COPY_CHUNK);
    while ((n = read(fd, buf, COPY_CHUNK)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || mg_write_all(out, buf, (size_t)n) < 0) {
            rc = -1;
            break;
        }
        g_checksum_update(ck, buf, n);
        *size += (uint64_t)n;
    }
    g_free(buf);
    return rc;
}

/* Write h and the rest of fd (none when fd < 0) to a fsync'd temporary file under originals; its
 * name in *tmp, the hash and size into m. 0 or -1. */
static int write_temp(quar_store *s, const head *h, int fd, quar_msg *m, char **tmp, char **err)
{
    GChecksum *ck;
    char *name = g_strdup_printf("%s/" TMP_PREFIX "XXXXXX", fs(s)->originals);
    int out = mkostemp(name, O_CLOEXEC);
    int saved, rc;

    if (out < 0) {
        quar_err(s, err, "creating %s: %s", name, strerror(errno));
        g_free(name);
        return -1;
    }
    ck = g_checksum_new(G_CHECKSUM_SHA256);
    rc = fchmod(out, ORIGINAL_MODE) == 0 && copy_hash(h, fd, out, ck, &m->size) == 0 &&
         fsync(out) == 0;
    saved = errno;
    if (close(out) < 0 && rc) {
        rc = 0;
        saved = errno;
    }
    g_strlcpy(m->sha256, g_checksum_get_string(ck), sizeof m->sha256);
    g_checksum_free(ck);
    if (rc) {
        *tmp = name;
        return 0;
    }
    unlink(name);
    quar_err(s, err, "writing %s: %s", name, strerror(saved));
    g_free(name);
    return -1;
}

/* A new shard directory, made durable in originals/ before anything is renamed into it. */
static int make_shard(quar_store *s, const char *dir, char **err)
{
    int made = make_dir(dir);

    if (made < 0)
        return quar_err(s, err, "creating %s: %s", dir, strerror(errno));
    if (made && sync_dir(fs(s)->originals) < 0)
        return quar_err(s, err, "syncing %s: %s", fs(s)->originals, strerror(errno));
    return 0;
}

/* Open path read-only only when it is a regular file (never a link, FIFO or device someone
 * put in the store, which could block the reader). The fd (blocking), or -1 with errno. */
static int open_regular(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) < 0) {
        close(fd);
        return errno = EINVAL, -1;
    }
    return fd;
}

/* SHA-256 of the file at path into hex[65], without following a symbolic link. 0 or -1 (errno
 * set). */
static int hash_file(const char *path, char hex[65])
{
    int fd = open_regular(path);
    GChecksum *ck;
    unsigned char *buf;
    ssize_t n;
    int saved = 0;

    if (fd < 0)
        return -1;
    ck = g_checksum_new(G_CHECKSUM_SHA256);
    buf = g_malloc(COPY_CHUNK);
    while ((n = read(fd, buf, COPY_CHUNK)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            break;
        }
        g_checksum_update(ck, buf, n);
    }
    g_strlcpy(hex, g_checksum_get_string(ck), 65);
    g_checksum_free(ck);
    g_free(buf);
    close(fd);
    errno = saved;
    return saved ? -1 : 0;
}

/* Whether the file at path holds the content sha: COPY_ABSENT, COPY_GOOD, COPY_BAD (other bytes,
 * or not a regular file), or -1 when it cannot be read. */
static int file_state(quar_store *s, const char *path, const char *sha, char **err)
{
    struct stat st;
    char hex[65];

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? COPY_ABSENT : quar_err(s, err, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return COPY_BAD;
    if (hash_file(path, hex) < 0)
        return quar_err(s, err, "reading %s: %s", path, strerror(errno));
    return strcmp(hex, sha) == 0 ? COPY_GOOD : COPY_BAD;
}

/* Whether the index row of sha holds that content: COPY_ABSENT, COPY_GOOD, COPY_BAD, or -1. */
static int row_state(quar_store *s, const char *sha, char **err)
{
    sqlite3_stmt *st;
    char *hex;
    int rc;

    if (qfs_prep(s, "SELECT data FROM blobs WHERE sha256 = ?", &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, sha);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, sqlite3_column_blob(st, 0),
                                          (gsize)sqlite3_column_bytes(st, 0));
        rc = strcmp(hex, sha) == 0 ? COPY_GOOD : COPY_BAD;
        g_free(hex);
    } else {
        rc = rc == SQLITE_DONE ? COPY_ABSENT : qfs_db_err(s, err, "reading an original");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Run one statement on the blobs row of sha, with data (when not NULL) bound first. 0 or -1. */
static int blob_sql(quar_store *s, const char *sql, const head *data, const char *sha, char **err)
{
    sqlite3_stmt *st;
    int i = 1;

    if (qfs_prep(s, sql, &st, err) < 0)
        return -1;
    if (data)
        sqlite3_bind_blob64(st, i++, data->data, data->len, SQLITE_STATIC);
    qfs_bind_str(st, i, sha);
    return qfs_step_done(s, st, err);
}

/* Rename tmp onto path (replacing what is there) and make it durable; tmp is gone either way. */
static int rename_durably(quar_store *s, const char *tmp, const char *path, char **err)
{
    char *dir = g_path_get_dirname(path);
    int rc = 0;

    if (rename(tmp, path) < 0) {
        rc = quar_err(s, err, "renaming to %s: %s", path, strerror(errno));
        unlink(tmp);
    } else if (sync_dir(dir) < 0) {
        rc = quar_err(s, err, "syncing %s: %s", dir, strerror(errno));
    }
    g_free(dir);
    return rc;
}

/* Move the temporary file to its content address, or drop it when a good copy is there: a file
 * with other bytes is replaced, a row with other bytes (it would be read first) deleted, and
 * *healed set. tmp is gone afterwards either way. 0 or -1. */
static int place_original(quar_store *s, const char *tmp, const char *sha, int *healed, char **err)
{
    char *path = original_path(s, sha, err);
    if (path == NULL) {
        unlink(tmp);
        return -1;
    }
    char *dir = g_path_get_dirname(path);
    int rc = make_shard(s, dir, err), state = -1, row = COPY_ABSENT;

    if (rc == 0 && (state = file_state(s, path, sha, err)) < 0)
        rc = -1;
    if (rc < 0 || state == COPY_GOOD)
        unlink(tmp); /* same content already stored: reuse it */
    else
        rc = rename_durably(s, tmp, path, err);
    *healed = state == COPY_BAD;
    if (rc == 0 && (row = row_state(s, sha, err)) == COPY_BAD) {
        rc = blob_sql(s, "DELETE FROM blobs WHERE sha256 = ?", NULL, sha, err);
        *healed = 1;
    } else if (rc == 0 && row < 0) {
        rc = -1;
    }
    g_free(dir);
    g_free(path);
    return rc;
}

/* Rewrite a small original's file, found with other bytes, from h. 0 or -1. */
static int rewrite_file(quar_store *s, const head *h, quar_msg *m, const char *path, char **err)
{
    char *tmp = NULL;
    int rc = write_temp(s, h, -1, m, &tmp, err) < 0 ? -1 : rename_durably(s, tmp, path, err);

    g_free(tmp);
    return rc;
}

/* Keep a small original in the index, unless a file already holds the same content (a row
 * already holding it is kept by INSERT OR IGNORE). A file or row found with other bytes is
 * rewritten from h and *healed set. 0 or -1. */
static int insert_blob(quar_store *s, const head *h, quar_msg *m, int *healed, char **err)
{
    char *path = original_path(s, m->sha256, err);
    if (path == NULL)
        return -1;
    int state = file_state(s, path, m->sha256, err), rc;
    sqlite3_stmt *st;

    *healed = state == COPY_BAD;
    if (state != COPY_ABSENT) {
        rc = state == COPY_BAD ? rewrite_file(s, h, m, path, err) : state == COPY_GOOD ? 0 : -1;
        g_free(path);
        return rc;
    }
    g_free(path);
    if (cached(s, ST_BLOB, &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, m->sha256);
    sqlite3_bind_blob64(st, 2, h->data, h->len, SQLITE_STATIC);
    if (step_reset(s, st, err) < 0)
        return -1;
    if (sqlite3_changes(fs(s)->db) > 0 || (state = row_state(s, m->sha256, err)) == COPY_GOOD)
        return 0;
    if (state < 0)
        return -1;
    *healed = 1;
    return blob_sql(s, "UPDATE blobs SET data = ? WHERE sha256 = ?", h, m->sha256, err);
}

/* m's envelope recipients, one per line, as a new string (g_free). */
static char *rcpt_list(const quar_msg *m)
{
    static char *const none[] = {NULL};

    return g_strjoinv("\n", m->recipients ? m->recipients : (char **)none);
}

/* Insert the messages row (and the texts' row when there are texts). 0 or -1. */
static int insert_message(quar_store *s, const quar_msg *m, char **err)
{
    sqlite3_stmt *st;

    if (cached(s, ST_MESSAGE, &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, m->id);
    sqlite3_bind_int64(st, 2, m->time);
    qfs_bind_str(st, 3, m->queue_id);
    qfs_bind_str(st, 4, m->client);
    qfs_bind_str(st, 5, m->sender ? m->sender : "");
    qfs_bind_str(st, 6, m->subject);
    qfs_bind_str(st, 7, m->from);
    qfs_bind_str(st, 8, m->message_id);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)m->size);
    qfs_bind_str(st, 10, m->sha256);
    qfs_bind_str(st, 11, m->verdict);
    qfs_bind_str(st, 12, m->status);
    sqlite3_bind_int64(st, 13, m->expires);
    qfs_bind_str(st, 14, m->release_result);
    sqlite3_bind_text(st, 15, rcpt_list(m), -1, g_free);
    if (step_reset(s, st, err) < 0)
        return -1;
    if (!m->headers && !m->clean_text)
        return 0;
    if (cached(s, ST_TEXTS, &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, m->id);
    qfs_bind_str(st, 2, m->headers);
    qfs_bind_str(st, 3, m->clean_text);
    return step_reset(s, st, err);
}

/* Insert the recipients rows. 0 or -1. */
static int insert_recipients(quar_store *s, const quar_msg *m, char **err)
{
    for (size_t i = 0; m->recipients && m->recipients[i]; i++) {
        sqlite3_stmt *st;
        if (cached(s, ST_RECIPIENT, &st, err) < 0)
            return -1;
        qfs_bind_str(st, 1, m->id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        qfs_bind_str(st, 3, m->recipients[i]);
        if (step_reset(s, st, err) < 0)
            return -1;
    }
    return 0;
}

/* Insert the parts rows. 0 or -1. */
static int insert_parts(quar_store *s, const quar_msg *m, char **err)
{
    for (size_t i = 0; i < m->nparts; i++) {
        const quar_part *p = &m->parts[i];
        sqlite3_stmt *st;
        if (cached(s, ST_PART, &st, err) < 0)
            return -1;
        qfs_bind_str(st, 1, m->id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        qfs_bind_str(st, 3, p->path);
        qfs_bind_str(st, 4, p->filename);
        qfs_bind_str(st, 5, p->declared_type);
        qfs_bind_str(st, 6, p->detected_type);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)p->size);
        qfs_bind_str(st, 8, p->sha256);
        qfs_bind_str(st, 9, p->action);
        qfs_bind_str(st, 10, p->reason);
        qfs_bind_str(st, 11, p->signature);
        if (step_reset(s, st, err) < 0)
            return -1;
    }
    return 0;
}

/* The chain's tail: the last row's hash into prev[65] (QUAR_CHAIN_ORIGIN when there is none)
 * and the highest seq used so far into *seq. Inside a write transaction. 0 or -1. */
static int chain_tail(quar_store *s, char prev[65], int64_t *seq, char **err)
{
    sqlite3_stmt *st;
    const char *h;
    int rc;

    if (cached(s, ST_CHAIN_TAIL, &st, err) < 0)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        h = (const char *)sqlite3_column_text(st, 0);
        g_strlcpy(prev, h ? h : QUAR_CHAIN_ORIGIN, 65);
        *seq = sqlite3_column_int64(st, 1);
    }
    rc = rc == SQLITE_ROW ? 0 : qfs_db_err(s, err, "reading the audit trail's last event");
    sqlite3_reset(st);
    return rc;
}

/* Insert ev as row seq chained to prev, its hash into hash[65]. 0 or -1. */
static int insert_chained(quar_store *s, const quar_event *ev, int64_t seq, const char *prev,
                          char hash[65], char **err)
{
    quar_event e = *ev;
    sqlite3_stmt *st;

    e.seq = seq;
    quar_event_hash(prev, &e, hash, NULL);
    if (cached(s, ST_EVENT, &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, ev->time);
    qfs_bind_str(st, 3, ev->msg_id);
    qfs_bind_str(st, 4, ev->actor);
    qfs_bind_str(st, 5, ev->action);
    qfs_bind_str(st, 6, ev->reason);
    qfs_bind_str(st, 7, ev->detail);
    qfs_bind_str(st, 8, ev->source);
    qfs_bind_str(st, 9, ev->outcome);
    qfs_bind_str(st, 10, prev);
    qfs_bind_str(st, 11, hash);
    return step_reset(s, st, err);
}

/* The trail's head after an append: the new row's seq and hash, logged once committed. */
typedef struct trail_head {
    int64_t seq;
    char hash[65];
} trail_head;

/* Append an event to the chain, inside the caller's write transaction (BEGIN IMMEDIATE: no
 * other writer can append between reading the tail and inserting); the new row into *th.
 * 0 or -1. */
static int insert_event(quar_store *s, const quar_event *ev, trail_head *th, char **err)
{
    char prev[65];
    int64_t seq = 0;

    if (chain_tail(s, prev, &seq, err) < 0)
        return -1;
    th->seq = seq + 1;
    return insert_chained(s, ev, th->seq, prev, th->hash, err);
}

/* Witness a committed append outside the index: one log line naming the trail's new head, which
 * `mugai-quarantine audit verify --head N:HASH` checks the index against later. */
static void log_head(const trail_head *th)
{
    mg_info("audit: trail head %lld %s", (long long)th->seq, th->hash);
}

/* Record in m's trail (and the log) that a stored copy of its content was found changed and was
 * replaced by the bytes just received. 0 or -1. */
static int note_healed(quar_store *s, const quar_msg *m, const quar_event *stored, trail_head *th,
                       char **err)
{
    char *detail = g_strdup_printf("sha256 %s", m->sha256);
    quar_event ev = {.time = stored->time,
                     .msg_id = (char *)m->id,
                     .actor = stored->actor,
                     .action = (char *)"repaired",
                     .reason = (char *)"a stored copy of this content did not match its SHA-256"
                                       " and was replaced",
                     .detail = detail};
    int rc;

    mg_warn("quarantine store %s: %s: the stored copy of %s did not match its SHA-256; replaced",
            s->where, m->id, m->sha256);
    rc = insert_event(s, &ev, th, err);
    g_free(detail);
    return rc;
}

/* In one write transaction: place the original (the temporary file tmp, else h as a row), then
 * the message's rows and its "stored" event; the commit makes an inline original durable with
 * them. 0 or -1. */
static int index_put(quar_store *s, const head *h, const char *tmp, quar_msg *m,
                     const quar_event *stored, char **err)
{
    trail_head th;
    int rc, healed = 0;

    if (qfs_exec_sql(s, "BEGIN IMMEDIATE", err) < 0) {
        if (tmp)
            unlink(tmp);
        return -1;
    }
    rc = tmp ? place_original(s, tmp, m->sha256, &healed, err) : insert_blob(s, h, m, &healed, err);
    if (rc == 0 && insert_message(s, m, err) == 0 && insert_recipients(s, m, err) == 0 &&
        insert_parts(s, m, err) == 0 && qfs_held_put(s, m, err) == 0 &&
        insert_event(s, stored, &th, err) == 0 &&
        (!healed || note_healed(s, m, stored, &th, err) == 0) &&
        qfs_exec_sql(s, "COMMIT", err) == 0) {
        log_head(&th);
        return 0;
    }
    qfs_exec_sql(s, "ROLLBACK", NULL);
    return -1;
}

/* Store the original (inline when it fits, else as a fsync'd file), then index it. */
static int fs_put(quar_store *s, int fd, quar_msg *m, const quar_event *stored, char **err)
{
    head h = {0};
    char *tmp = NULL, *sha;
    int rc;

    if (fs(s)->inline_max > 0 && read_head(fd, fs(s)->inline_max, &h) < 0) {
        rc = quar_err(s, err, "reading the original: %s", strerror(errno));
        g_free(h.data);
        return rc;
    }
    if (h.eof) {
        sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, h.data, h.len);
        g_strlcpy(m->sha256, sha, sizeof m->sha256);
        g_free(sha);
        m->size = h.len;
    } else if (write_temp(s, &h, fd, m, &tmp, err) < 0) {
        g_free(h.data);
        return -1;
    }
    rc = index_put(s, &h, tmp, m, stored, err);
    g_free(h.data);
    g_free(tmp);
    return rc;
}

/* Fill a message from a row selected with msg_cols. */
static quar_msg *row_to_msg(sqlite3_stmt *st)
{
    quar_msg *m = quar_msg_new();

    g_strlcpy(m->id, (const char *)sqlite3_column_text(st, 0), sizeof m->id);
    m->time = sqlite3_column_int64(st, 1);
    m->queue_id = qfs_col_str(st, 2);
    m->client = qfs_col_str(st, 3);
    m->sender = qfs_col_str(st, 4);
    m->subject = qfs_col_str(st, 5);
    m->from = qfs_col_str(st, 6);
    m->message_id = qfs_col_str(st, 7);
    m->size = (uint64_t)sqlite3_column_int64(st, 8);
    g_strlcpy(m->sha256, (const char *)sqlite3_column_text(st, 9), sizeof m->sha256);
    m->verdict = qfs_col_str(st, 10);
    m->status = qfs_col_str(st, 11);
    m->expires = sqlite3_column_int64(st, 12);
    m->release_result = qfs_col_str(st, 13);
    return m;
}

/* Load m's decoded headers and clean text (quar_get only: lists leave them out). 0 or -1. */
static int load_texts(quar_store *s, quar_msg *m, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s, "SELECT headers, clean_text FROM msg_texts WHERE msg_id = ?", &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, m->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        m->headers = qfs_col_str(st, 0);
        m->clean_text = qfs_col_str(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "reading texts");
}

/* Load m's recipients and parts. 0 or -1. */
static int load_children(quar_store *s, quar_msg *m, char **err)
{
    GPtrArray *rcpts = g_ptr_array_new();
    sqlite3_stmt *st;
    int rc;

    if (cached(s, ST_RCPTS_OF, &st, err) < 0) {
        g_ptr_array_free(rcpts, TRUE);
        return -1;
    }
    qfs_bind_str(st, 1, m->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(rcpts, qfs_col_str(st, 0));
    rc = rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "reading recipients");
    sqlite3_reset(st);
    g_ptr_array_add(rcpts, NULL);
    g_strfreev(m->recipients);
    m->recipients = (char **)g_ptr_array_free(rcpts, FALSE);
    if (rc < 0 || cached(s, ST_PARTS_OF, &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, m->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        quar_msg_add_part(
            m, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
            (uint64_t)sqlite3_column_int64(st, 4), (const char *)sqlite3_column_text(st, 5),
            (const char *)sqlite3_column_text(st, 6), (const char *)sqlite3_column_text(st, 7),
            (const char *)sqlite3_column_text(st, 8));
    rc = rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "reading parts");
    sqlite3_reset(st);
    return rc;
}

/* Run a prepared message query; the rows become complete messages in *out. */
static int collect(quar_store *s, sqlite3_stmt *st, GPtrArray *out, char **err)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(out, row_to_msg(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return qfs_db_err(s, err, "reading messages");
    for (guint i = 0; i < out->len; i++)
        if (load_children(s, g_ptr_array_index(out, i), err) < 0)
            return -1;
    return 0;
}

/* Message id with its recipients and parts. */
static int fs_get(quar_store *s, const char *id, quar_msg **out, char **err)
{
    GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)quar_msg_free);
    char *sql = g_strdup_printf("SELECT %s FROM messages WHERE id = ?", msg_cols);
    sqlite3_stmt *st;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc == 0) {
        qfs_bind_str(st, 1, id);
        rc = collect(s, st, found, err);
    }
    if (rc == 0 && found->len == 0)
        rc = 1;
    if (rc == 0)
        rc = load_texts(s, g_ptr_array_index(found, 0), err);
    if (rc == 0)
        *out = g_ptr_array_steal_index(found, 0);
    g_ptr_array_free(found, TRUE);
    return rc;
}

/* The SELECT of what (columns, or count(*)) for a filter, paged when paged; parameters bound
 * in the same order by bind_filter. */
static char *filter_sql(const quar_filter *f, const char *what, int paged)
{
    GString *q = g_string_new(NULL);

    g_string_printf(q, "SELECT %s FROM messages m WHERE 1", what);
    if (f->since)
        g_string_append(q, " AND time >= ?");
    if (f->until)
        g_string_append(q, " AND time <= ?");
    /* LIKE ignores ASCII case as lower() did */
    if (f->sender)
        g_string_append(q, " AND sender LIKE ? ESCAPE '\\'");
    if (f->recipient) /* a line of rcpt_list; no address holds a line break */
        g_string_append(q, strchr(f->recipient, '\n') ? " AND ? IS NULL"
                                                      : " AND rcpt_list LIKE ? ESCAPE '\\'");
    if (f->verdict)
        g_string_append(q, " AND verdict = ?");
    if (f->status)
        g_string_append(q, " AND status = ?");
    /* an id is looked up (an index search), anything else searched for in the subjects */
    if (f->q)
        g_string_append(q, quar_id_form(f->q) ? " AND id = ?" : " AND subject LIKE ? ESCAPE '\\'");
    if (!paged)
        return g_string_free(q, FALSE);
    g_string_append(q, " ORDER BY time DESC, id DESC");
    if (f->limit || f->offset)
        g_string_append(q, " LIMIT ? OFFSET ?");
    return g_string_free(q, FALSE);
}

/* "%q%" for LIKE, with the pattern characters % _ and the escape \ in q taken literally. */
static char *like_pattern(const char *q)
{
    GString *p = g_string_new("%");

    for (; *q; q++) {
        if (*q == '%' || *q == '_' || *q == '\\')
            g_string_append_c(p, '\\');
        g_string_append_c(p, *q);
    }
    g_string_append_c(p, '%');
    return g_string_free(p, FALSE);
}

/* Bind the filter's values in filter_sql's order. */
static void bind_filter(sqlite3_stmt *st, const quar_filter *f, int paged)
{
    int i = 1;

    if (f->since)
        sqlite3_bind_int64(st, i++, f->since);
    if (f->until)
        sqlite3_bind_int64(st, i++, f->until);
    if (f->sender)
        sqlite3_bind_text(st, i++, like_pattern(f->sender), -1, g_free);
    if (f->recipient)
        sqlite3_bind_text(st, i++, like_pattern(f->recipient), -1, g_free);
    if (f->verdict)
        qfs_bind_str(st, i++, f->verdict);
    if (f->status)
        qfs_bind_str(st, i++, f->status);
    if (f->q)
        sqlite3_bind_text(
            st, i++, quar_id_form(f->q) ? g_ascii_strup(f->q, -1) : like_pattern(f->q), -1, g_free);
    if (paged && (f->limit || f->offset)) {
        sqlite3_bind_int64(st, i++, f->limit ? (sqlite3_int64)f->limit : -1);
        sqlite3_bind_int64(st, i++, f->offset);
    }
}

/* Messages matching f, newest first. */
static int fs_list(quar_store *s, const quar_filter *f, quar_msg ***out, size_t *n, char **err)
{
    GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)quar_msg_free);
    char *sql = filter_sql(f, msg_cols, 1);
    sqlite3_stmt *st;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc == 0) {
        bind_filter(st, f, 1);
        rc = collect(s, st, found, err);
    }
    if (rc == 0) {
        g_ptr_array_set_free_func(found, NULL);
        *n = found->len;
        g_ptr_array_add(found, NULL);
        *out = (quar_msg **)g_ptr_array_free(found, FALSE);
        return 0;
    }
    g_ptr_array_free(found, TRUE);
    return -1;
}

/* How many messages match f. */
static int fs_count(quar_store *s, const quar_filter *f, size_t *total, char **err)
{
    char *sql = filter_sql(f, "count(*)", 0);
    sqlite3_stmt *st;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc < 0)
        return -1;
    bind_filter(st, f, 0);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *total = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : qfs_db_err(s, err, "counting messages");
}

/* Set a message's headers or clean text (their own table) or release result. */
static int fs_set_text(quar_store *s, const char *id, const char *field, const char *value,
                       char **err)
{
    char *sql;
    sqlite3_stmt *st;
    int rc = unknown_id(s, id, err);

    if (rc != 0)
        return rc;
    if (strcmp(field, "release_result") == 0)
        sql = g_strdup("UPDATE messages SET release_result = ?1 WHERE id = ?2");
    else
        sql = g_strdup_printf("INSERT INTO msg_texts (msg_id, %s) VALUES (?2, ?1)"
                              " ON CONFLICT (msg_id) DO UPDATE SET %s = excluded.%s",
                              field, field, field);
    rc = qfs_prep(s, sql, &st, err);
    g_free(sql);
    if (rc < 0)
        return -1;
    qfs_bind_str(st, 1, value);
    qfs_bind_str(st, 2, id);
    return qfs_step_done(s, st, err);
}

/* sha256 and status of message id into new strings. 0, 1 unknown, or -1. */
static int lookup_file(quar_store *s, const char *id, char **sha, char **status, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s, "SELECT sha256, status FROM messages WHERE id = ?", &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *sha = qfs_col_str(st, 0);
        *status = qfs_col_str(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "lookup");
}

/* A memory file holding len bytes at p, at offset 0, sealed against writing, growing and
 * shrinking. The fd, or -1 (errno set). */
static int sealed_copy(const void *p, size_t len)
{
    int fd = memfd_create("quar-original", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int saved;

    if (fd < 0)
        return -1;
    if (mg_write_all(fd, p, len) == 0 && lseek(fd, 0, SEEK_SET) == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) == 0)
        return fd;
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* A read-only fd on the original file of id, named by its hash. */
static int open_file(quar_store *s, const char *id, const char *sha, int *fd, char **err)
{
    char *path = original_path(s, sha, err);
    int rc = 0;

    *fd = -1;
    if (path == NULL)
        return -1;
    if ((*fd = open_regular(path)) < 0)
        rc = quar_err(s, err, "%s: opening %s: %s", id, path,
                      errno == EINVAL ? "not a regular file" : strerror(errno));
    g_free(path);
    return rc;
}

/* A read-only fd on the original of id: a sealed memory copy of its row, else its file. The
 * message and its row are read by one statement, so a concurrent remove cannot split them. */
static int fs_open_original(quar_store *s, const char *id, int *fd, char **err)
{
    sqlite3_stmt *st;
    const char *status;
    int rc;

    if (qfs_prep(s,
                 "SELECT m.sha256, m.status, b.data FROM messages m"
                 " LEFT JOIN blobs b ON b.sha256 = m.sha256 WHERE m.id = ?",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "lookup");
    } else if (!quar_status_holds(status = (const char *)sqlite3_column_text(st, 1))) {
        rc = quar_err(s, err, "%s: original removed (status %s)", id, status);
    } else if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
        rc = open_file(s, id, (const char *)sqlite3_column_text(st, 0), fd, err);
    } else if ((*fd = sealed_copy(sqlite3_column_blob(st, 2),
                                  (size_t)sqlite3_column_bytes(st, 2))) < 0) {
        rc = quar_err(s, err, "%s: memory file: %s", id, strerror(errno));
    } else {
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Change a message's status. */
static int fs_set_status(quar_store *s, const char *id, const char *status, char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s, "UPDATE messages SET status = ? WHERE id = ?", &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, status);
    qfs_bind_str(st, 2, id);
    if (qfs_step_done(s, st, err) < 0)
        return -1;
    return sqlite3_changes(fs(s)->db) == 0 ? 1 : 0;
}

/* How many other held messages refer to sha. -1 on error. */
static int other_holders(quar_store *s, const char *id, const char *sha, char **err)
{
    sqlite3_stmt *st;
    int n = -1;

    if (qfs_prep(s,
                 "SELECT count(*) FROM messages WHERE sha256 = ? AND id <> ?"
                 " AND status IN ('quarantined', 'released')",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, sha);
    qfs_bind_str(st, 2, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    else
        qfs_db_err(s, err, "counting holders");
    sqlite3_finalize(st);
    return n;
}

/* Delete the row and the file holding sha, whichever exist. 0 or -1. */
static int drop_original(quar_store *s, const char *sha, char **err)
{
    char *path, *dir;
    sqlite3_stmt *st;
    int rc = 0;

    if (qfs_prep(s, "DELETE FROM blobs WHERE sha256 = ?", &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, sha);
    if (qfs_step_done(s, st, err) < 0)
        return -1;
    if ((path = original_path(s, sha, err)) == NULL)
        return -1;
    dir = g_path_get_dirname(path);
    if (unlink(path) == 0) {
        if (sync_dir(dir) < 0)
            rc = quar_err(s, err, "syncing %s: %s", dir, strerror(errno));
    } else if (errno != ENOENT) {
        rc = quar_err(s, err, "removing %s: %s", path, strerror(errno));
    }
    g_free(path);
    g_free(dir);
    return rc;
}

/* Drop the original unless shared; under the write lock so no put reuses it meanwhile. */
static int fs_remove_original(quar_store *s, const char *id, char **err)
{
    char *sha = NULL, *status = NULL;
    int rc = qfs_exec_sql(s, "BEGIN IMMEDIATE", err);
    int others = -1;

    if (rc < 0)
        return -1;
    rc = lookup_file(s, id, &sha, &status, err);
    if (rc == 0 && (others = other_holders(s, id, sha, err)) < 0)
        rc = -1;
    if (rc == 0 && others == 0)
        rc = drop_original(s, sha, err);
    if (rc == 0 && qfs_exec_sql(s, "COMMIT", err) < 0)
        rc = -1;
    if (rc != 0)
        qfs_exec_sql(s, "ROLLBACK", NULL);
    g_free(sha);
    g_free(status);
    return rc;
}

/* Ids past expiry that still hold an original, oldest expiry first. */
static int fs_expired(quar_store *s, int64_t now, char ***ids, size_t *n, char **err)
{
    GPtrArray *found = g_ptr_array_new();
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s,
                 "SELECT id FROM messages WHERE expires < ?"
                 " AND status IN ('quarantined', 'released') ORDER BY expires, id",
                 &st, err) < 0) {
        g_ptr_array_free(found, TRUE);
        return -1;
    }
    sqlite3_bind_int64(st, 1, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(found, qfs_col_str(st, 0));
    sqlite3_finalize(st);
    *n = found->len;
    g_ptr_array_add(found, NULL);
    *ids = (char **)g_ptr_array_free(found, FALSE);
    if (rc == SQLITE_DONE)
        return 0;
    g_strfreev(*ids);
    *ids = NULL;
    *n = 0;
    return qfs_db_err(s, err, "reading expiry");
}

/* 1 when a message has this id, 0 when none has, -1 on error. */
static int fs_taken(quar_store *s, const char *id, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (cached(s, ST_TAKEN, &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, id);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "lookup");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* 1 when no message has this id, 0 when one has, -1 on error. */
static int unknown_id(quar_store *s, const char *id, char **err)
{
    int rc = fs_taken(s, id, err);

    return rc < 0 ? -1 : !rc;
}

/* Append an audit event (about no item when its msg_id is NULL) to the chain, in a write
 * transaction of its own. */
static int fs_audit(quar_store *s, const quar_event *ev, char **err)
{
    int rc = ev->msg_id ? unknown_id(s, ev->msg_id, err) : 0;
    trail_head th;

    if (rc != 0)
        return rc;
    if (qfs_exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if (insert_event(s, ev, &th, err) == 0 && qfs_exec_sql(s, "COMMIT", err) == 0) {
        log_head(&th);
        return 0;
    }
    qfs_exec_sql(s, "ROLLBACK", NULL);
    return -1;
}

/* An event from a row selected with event_cols. */
static quar_event *row_to_event(sqlite3_stmt *st)
{
    quar_event *e = g_new0(quar_event, 1);

    e->seq = sqlite3_column_int64(st, 0);
    e->time = sqlite3_column_int64(st, 1);
    e->msg_id = qfs_col_str(st, 2);
    e->actor = qfs_col_str(st, 3);
    e->action = qfs_col_str(st, 4);
    e->reason = qfs_col_str(st, 5);
    e->detail = qfs_col_str(st, 6);
    e->source = qfs_col_str(st, 7);
    e->outcome = qfs_col_str(st, 8);
    return e;
}

/* Run a prepared event query into a NULL-terminated *out of *n events; st is finalized. */
static int collect_events(quar_store *s, sqlite3_stmt *st, quar_event ***out, size_t *n, char **err)
{
    GPtrArray *found = g_ptr_array_new();
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(found, row_to_event(st));
    sqlite3_finalize(st);
    *n = found->len;
    g_ptr_array_add(found, NULL);
    *out = (quar_event **)g_ptr_array_free(found, FALSE);
    if (rc == SQLITE_DONE)
        return 0;
    quar_event_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return qfs_db_err(s, err, "reading events");
}

/* A message's events, oldest first. */
static int fs_events(quar_store *s, const char *id, quar_event ***out, size_t *n, char **err)
{
    char *sql;
    sqlite3_stmt *st;
    int rc = unknown_id(s, id, err);

    if (rc != 0)
        return rc;
    sql = g_strdup_printf("SELECT %s FROM events WHERE msg_id = ? ORDER BY id", event_cols);
    rc = qfs_prep(s, sql, &st, err);
    g_free(sql);
    if (rc < 0)
        return -1;
    qfs_bind_str(st, 1, id);
    return collect_events(s, st, out, n, err);
}

/* The WHERE clause of an audit filter; bound in the same order by bind_audit_filter. */
static void audit_where(GString *q, const quar_audit_filter *f)
{
    g_string_append(q, " WHERE 1");
    if (f->actor)
        g_string_append(q, " AND actor = ?");
    if (f->item)
        g_string_append(q, " AND msg_id = ?");
    if (f->action)
        g_string_append(q, " AND action = ?");
    if (f->since)
        g_string_append(q, " AND time >= ?");
    if (f->until)
        g_string_append(q, " AND time <= ?");
}

/* Bind an audit filter's values in audit_where's order; the next parameter's index. */
static int bind_audit_filter(sqlite3_stmt *st, const quar_audit_filter *f)
{
    int i = 1;

    if (f->actor)
        qfs_bind_str(st, i++, f->actor);
    if (f->item)
        qfs_bind_str(st, i++, f->item);
    if (f->action)
        qfs_bind_str(st, i++, f->action);
    if (f->since)
        sqlite3_bind_int64(st, i++, f->since);
    if (f->until)
        sqlite3_bind_int64(st, i++, f->until);
    return i;
}

/* How many events match f into *total. 0 or -1. */
static int audit_count(quar_store *s, const quar_audit_filter *f, size_t *total, char **err)
{
    GString *q = g_string_new("SELECT count(*) FROM events");
    sqlite3_stmt *st;
    int rc;

    audit_where(q, f);
    rc = qfs_prep(s, q->str, &st, err);
    g_string_free(q, TRUE);
    if (rc < 0)
        return -1;
    bind_audit_filter(st, f);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *total = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : qfs_db_err(s, err, "counting events");
}

/* Events matching f, newest first, paged, with the unpaged count; one read transaction so
 * that the page and the count agree. */
static int fs_audit_list(quar_store *s, const quar_audit_filter *f, quar_event ***out, size_t *n,
                         size_t *total, char **err)
{
    GString *q = g_string_new(NULL);
    sqlite3_stmt *st;
    int rc, i;

    if (qfs_exec_sql(s, "BEGIN", err) < 0) {
        g_string_free(q, TRUE);
        return -1;
    }
    g_string_printf(q, "SELECT %s FROM events", event_cols);
    audit_where(q, f);
    g_string_append(q, " ORDER BY id DESC LIMIT ? OFFSET ?");
    rc = audit_count(s, f, total, err);
    if (rc == 0 && (rc = qfs_prep(s, q->str, &st, err)) == 0) {
        i = bind_audit_filter(st, f);
        sqlite3_bind_int64(st, i, f->limit ? (sqlite3_int64)f->limit : -1);
        sqlite3_bind_int64(st, i + 1, f->offset);
        rc = collect_events(s, st, out, n, err);
    }
    g_string_free(q, TRUE);
    qfs_exec_sql(s, rc == 0 ? "COMMIT" : "ROLLBACK", NULL);
    return rc;
}

/* The highest seq the trail ever used (its AUTOINCREMENT high-water mark). -1 on error. */
static int64_t seq_high(quar_store *s, char **err)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (qfs_prep(s, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
                 &st, err) < 0)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        qfs_db_err(s, err, "reading the trail's last seq");
    sqlite3_finalize(st);
    return v;
}

/* 1 when some message has no "stored" event (each gets one with its row, so the trail was
 * emptied or cut), 0 when none, -1 on error. One anti-join over the events_msg index: the "+"
 * keeps the planner off events_action, which would scan every "stored" row per message. */
static int unstored_messages(quar_store *s, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s,
                 "SELECT 1 FROM messages m WHERE NOT EXISTS (SELECT 1 FROM events e"
                 " WHERE e.msg_id = m.id AND +e.action = 'stored') LIMIT 1",
                 &st, err) < 0)
        return -1;
    rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "reading messages");
    sqlite3_finalize(st);
    return rc;
}

/* Walk every event in seq order, in one read transaction. A last row removed shows as the
 * trail ending below the highest seq it used; a trail emptied or cut (its sequence reset too)
 * as a message without its "stored" event. Either way first_bad is the last seq + 1. */
static int fs_audit_verify(quar_store *s, quar_chain *out, char **err)
{
    quar_chain_walk w;
    quar_event e = {0};
    sqlite3_stmt *st;
    int64_t high;
    int rc, unstored = 0;

    if (qfs_exec_sql(s, "BEGIN", err) < 0)
        return -1;
    if (qfs_prep(s,
                 "SELECT id, time, msg_id, actor, action, reason, detail, source, outcome,"
                 " prev_hash, hash FROM events ORDER BY id",
                 &st, err) < 0) {
        qfs_exec_sql(s, "ROLLBACK", NULL);
        return -1;
    }
    quar_chain_begin(&w, out);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        e.seq = sqlite3_column_int64(st, 0);
        e.time = sqlite3_column_int64(st, 1);
        e.msg_id = (char *)sqlite3_column_text(st, 2);
        e.actor = (char *)sqlite3_column_text(st, 3);
        e.action = (char *)sqlite3_column_text(st, 4);
        e.reason = (char *)sqlite3_column_text(st, 5);
        e.detail = (char *)sqlite3_column_text(st, 6);
        e.source = (char *)sqlite3_column_text(st, 7);
        e.outcome = (char *)sqlite3_column_text(st, 8);
        quar_chain_next(&w, &e, (const char *)sqlite3_column_text(st, 9),
                        (const char *)sqlite3_column_text(st, 10));
    }
    sqlite3_finalize(st);
    rc = rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "reading events");
    if (rc == 0 && (high = seq_high(s, err)) < 0)
        rc = -1;
    if (rc == 0 && out->ok && high > w.last_seq) {
        out->ok = 0;
        out->first_bad = w.last_seq + 1;
    }
    if (rc == 0 && out->ok && (unstored = unstored_messages(s, err)) < 0)
        rc = -1;
    else if (rc == 0 && out->ok && unstored) {
        out->ok = 0;
        out->first_bad = w.last_seq + 1;
    }
    quar_chain_end(&w);
    qfs_exec_sql(s, "COMMIT", NULL);
    return rc;
}

/* Row seq's stored hash into hash[65]; 1 when the trail has no such row. */
static int fs_audit_head(quar_store *s, int64_t seq, char hash[65], char **err)
{
    sqlite3_stmt *st;
    const char *h;
    int rc;

    if (qfs_prep(s, "SELECT hash FROM events WHERE id = ?", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        h = (const char *)sqlite3_column_text(st, 0);
        g_strlcpy(hash, h ? h : "", 65);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "reading the audit trail");
    }
    sqlite3_finalize(st);
    return rc;
}

/* digest's failure count, unless last raised before since; see quar_backend. */
static int fs_attempt_get(quar_store *s, const char *digest, int64_t since, quar_attempts *a,
                          char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (cached(s, ST_FAILURES, &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, digest);
    sqlite3_bind_int64(st, 2, since);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
        a->count = (unsigned)MIN(sqlite3_column_int64(st, 0), (sqlite3_int64)UINT_MAX);
        a->first = sqlite3_column_int64(st, 1);
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "reading a failure count");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Prune old counts and raise digest's, in one transaction; the new count into *a. */
static int fs_attempt_failed(quar_store *s, const char *digest, int64_t now, int64_t prune_before,
                             quar_attempts *a, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    rc = qfs_prep(s, "DELETE FROM attempts WHERE last_time < ?", &st, err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, prune_before);
        rc = qfs_step_done(s, st, err);
    }
    if (rc == 0 && (rc = qfs_prep(s,
                                  "INSERT INTO attempts (digest, failures, first_time, last_time)"
                                  " VALUES (?, 1, ?, ?) ON CONFLICT (digest) DO UPDATE"
                                  " SET failures = failures + 1, last_time = excluded.last_time"
                                  " RETURNING failures, first_time",
                                  &st, err)) == 0) {
        qfs_bind_str(st, 1, digest);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, now);
        if (sqlite3_step(st) == SQLITE_ROW) {
            a->count = (unsigned)MIN(sqlite3_column_int64(st, 0), (sqlite3_int64)UINT_MAX);
            a->first = sqlite3_column_int64(st, 1);
            rc = qfs_step_done(s, st, err);
        } else {
            rc = qfs_db_err(s, err, "counting a failed attempt");
            sqlite3_finalize(st);
        }
    }
    if (rc == 0 && qfs_exec_sql(s, "COMMIT", err) == 0)
        return 0;
    qfs_exec_sql(s, "ROLLBACK", NULL);
    return -1;
}

/* Forget digest's count. */
static int fs_attempt_forget(quar_store *s, const char *digest, char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s, "DELETE FROM attempts WHERE digest = ?", &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, digest);
    return qfs_step_done(s, st, err);
}

/* Finalize the cached statements, close the database and free the store. */
static void fs_close(quar_store *s)
{
    for (int k = 0; k < ST_COUNT; k++)
        sqlite3_finalize(fs(s)->cached[k]);
    sqlite3_close(fs(s)->db);
    g_free(fs(s)->originals);
    g_free(s->where);
    g_free(s);
}

static const quar_backend fs_backend = {
    .put = fs_put,
    .get = fs_get,
    .taken = fs_taken,
    .list = fs_list,
    .open_original = fs_open_original,
    .set_status = fs_set_status,
    .remove_original = fs_remove_original,
    .expired = fs_expired,
    .audit = fs_audit,
    .events = fs_events,
    .audit_list = fs_audit_list,
    .audit_verify = fs_audit_verify,
    .audit_head = fs_audit_head,
    .count = fs_count,
    .set_text = fs_set_text,
    .console = &qfs_console_ops,
    .held = &qfs_held_ops,
    .attempt_get = fs_attempt_get,
    .attempt_failed = fs_attempt_failed,
    .attempt_forget = fs_attempt_forget,
    .close = fs_close,
};

/* Set the largest original kept in the index; ignored for other backends. */
void quar_fs_set_inline_max(quar_store *s, size_t bytes)
{
    if (s && s->be == &fs_backend)
        fs(s)->inline_max = MIN(bytes, (size_t)INLINE_MAX_LIMIT);
}

/* Remove temporary files left by a writer that died; recent ones may still be in use. */
static void clean_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    time_t now = time(NULL);

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            now - st.st_mtime > STALE_TMP_SECONDS)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* The schema version stored in the index, or -1. */
static int user_version(quar_store *s)
{
    sqlite3_stmt *st;
    int v = -1;

    if (qfs_prep(s, "PRAGMA user_version", &st, NULL) < 0)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Non-zero when the index has a table of this name. */
static int table_exists(quar_store *s, const char *name)
{
    sqlite3_stmt *st;
    int found = 0;

    if (qfs_prep(s, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", &st, NULL) < 0)
        return 0;
    qfs_bind_str(st, 1, name);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* Copy the version 3 events into events_v4 in id order, numbered 1, 2, ... and chained (the
 * hash is computed here: SQLite has no SHA-256). Inside the migration's transaction. 0 or -1. */
static int chain_old_events(quar_store *s, char **err)
{
    char prev[65] = QUAR_CHAIN_ORIGIN, hash[65];
    sqlite3_stmt *rd, *wr;
    quar_event e = {0};
    int rc;

    if (!table_exists(s, "events"))
        return 0;
    if (qfs_prep(s, "SELECT time, msg_id, actor, action, reason, detail FROM events ORDER BY id",
                 &rd, err) < 0)
        return -1;
    if (qfs_prep(s,
                 "INSERT INTO events_v4 (id, time, msg_id, actor, action, reason, detail,"
                 " prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                 &wr, err) < 0) {
        sqlite3_finalize(rd);
        return -1;
    }
    while ((rc = sqlite3_step(rd)) == SQLITE_ROW) {
        e.seq++;
        e.time = sqlite3_column_int64(rd, 0);
        e.msg_id = (char *)sqlite3_column_text(rd, 1);
        e.actor = (char *)sqlite3_column_text(rd, 2);
        e.action = (char *)sqlite3_column_text(rd, 3);
        e.reason = (char *)sqlite3_column_text(rd, 4);
        e.detail = (char *)sqlite3_column_text(rd, 5);
        quar_event_hash(prev, &e, hash, NULL);
        sqlite3_bind_int64(wr, 1, e.seq);
        for (int i = 0; i < 6; i++)
            sqlite3_bind_value(wr, i + 2, sqlite3_column_value(rd, i));
        qfs_bind_str(wr, 8, prev);
        qfs_bind_str(wr, 9, hash);
        if (sqlite3_step(wr) != SQLITE_DONE)
            break;
        sqlite3_reset(wr);
        memcpy(prev, hash, sizeof prev);
    }
    rc = rc == SQLITE_DONE ? 0 : qfs_db_err(s, err, "chaining the existing events");
    sqlite3_finalize(wr);
    sqlite3_finalize(rd);
    return rc;
}

/* Bring an index of version v (0: empty, at most 3) to version 4 inside the caller's
 * transaction: version 1 gains the blobs table, 2 the attempts table, 3 the release result, the
 * texts table, the list indexes, the chained events table and the console's tables. 0 or -1. */
static int migrate_v4(quar_store *s, int v, char **err)
{
    char *sql = g_strdup_printf("%s %s %s %s", v == 0 ? schema_sql : "", v <= 1 ? blobs_sql : "",
                                v <= 2 ? attempts_sql : "", v4_before_sql);
    int rc = qfs_exec_sql(s, sql, err);

    g_free(sql);
    if (rc == 0 && table_exists(s, "recipients"))
        rc = qfs_exec_sql(s,
                          "UPDATE messages SET rcpt_list = (SELECT group_concat(addr, char(10))"
                          " FROM (SELECT addr FROM recipients r WHERE r.msg_id = messages.id"
                          " ORDER BY idx))",
                          err);
    if (rc == 0)
        rc = chain_old_events(s, err);
    if (rc == 0)
        rc = qfs_exec_sql(s, v4_after_sql, err);
    if (rc == 0)
        rc = qfs_exec_sql(s, qfs_console_sql, err);
    return rc;
}

/* Bring an index of version v (0: empty) to SCHEMA_VERSION inside the caller's transaction:
 * up to version 4 as migrate_v4 says, then version 4 gains the held parts' table. 0 or -1. */
static int migrate(quar_store *s, int v, char **err)
{
    int rc = v < 4 ? migrate_v4(s, v, err) : 0;
    char *sql;

    if (rc == 0)
        rc = qfs_exec_sql(s, qfs_held_sql, err);
    if (rc == 0) {
        sql = g_strdup_printf("PRAGMA user_version = %d;", SCHEMA_VERSION);
        rc = qfs_exec_sql(s, sql, err);
        g_free(sql);
    }
    return rc;
}

/* Give a new store, or one made before version 4 (directories 0700, originals 0600), the
 * group modes: its directory, the originals directory, its shards and their files. Only what
 * this user owns; a failure is logged, not fatal (the owner's processes still work). */
static void widen_modes(quar_store *s)
{
    const char *top = fs(s)->originals;
    GDir *d = g_dir_open(top, 0, NULL), *sub;
    const char *name, *file;
    struct stat st;

    if (!d)
        return;
    if ((lstat(s->where, &st) == 0 && st.st_uid == geteuid() && chmod(s->where, DIR_MODE) < 0) ||
        (lstat(top, &st) == 0 && st.st_uid == geteuid() && chmod(top, DIR_MODE) < 0))
        mg_warn("quarantine store %s: making it group-accessible: %s", s->where, strerror(errno));
    while ((name = g_dir_read_name(d)) != NULL) {
        char *shard = g_build_filename(top, name, NULL);
        if (lstat(shard, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
            chmod(shard, DIR_MODE) == 0 && (sub = g_dir_open(shard, 0, NULL)) != NULL) {
            while ((file = g_dir_read_name(sub)) != NULL) {
                char *path = g_build_filename(shard, file, NULL);
                if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
                    chmod(path, ORIGINAL_MODE);
                g_free(path);
            }
            g_dir_close(sub);
        }
        g_free(shard);
    }
    g_dir_close(d);
}

/* Create the schema in a fresh index, bring an older index up to date, or check an existing
 * one's version. An index already up to date is only read (every worker, and the supervisor
 * counting a failed attempt, opens the store: none waits for another's write lock here);
 * else all in one write transaction, the version read again inside it. 0 or -1. */
static int ensure_schema(quar_store *s, char **err)
{
    int v;

    if (user_version(s) == SCHEMA_VERSION)
        return 0;
    if (qfs_exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    v = user_version(s);
    if (v == SCHEMA_VERSION)
        return qfs_exec_sql(s, "COMMIT", err);
    if (v < 0 || v > SCHEMA_VERSION) {
        qfs_exec_sql(s, "ROLLBACK", NULL);
        return quar_err(s, err, "index schema version %d, this program knows %d", v,
                        SCHEMA_VERSION);
    }
    if (migrate(s, v, err) < 0 || qfs_exec_sql(s, "COMMIT", err) < 0) {
        qfs_exec_sql(s, "ROLLBACK", NULL);
        return -1;
    }
    widen_modes(s);
    return 0;
}

/* Give the index's -wal and -shm files, when there, mode 0660 if this user owns them (made
 * before version 4): SQLite creates them with the index's mode, and the console's user, a
 * member of the group, must open all three. */
static void index_modes(const char *path)
{
    static const char *const suffix[] = {"-wal", "-shm"};
    struct stat st;

    for (size_t i = 0; i < G_N_ELEMENTS(suffix); i++) {
        char *p = g_strconcat(path, suffix[i], NULL);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            (st.st_mode & 07777) != INDEX_MODE)
            chmod(p, INDEX_MODE);
        g_free(p);
    }
}

/* Open the index (0660) and set WAL, busy timeout, foreign keys and full sync. 0 or -1. */
static int open_index(quar_store *s, const char *dir, char **err)
{
    char *path = g_strdup_printf("%s/index.sqlite", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, INDEX_MODE);
    struct stat st;
    int rc;

    if (fd < 0) {
        quar_err(s, err, "opening %s: %s", path, strerror(errno));
        g_free(path);
        return -1;
    }
    if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 07777) != INDEX_MODE &&
        fchmod(fd, INDEX_MODE) < 0)
        mg_warn("quarantine store %s: chmod %s: %s", dir, path, strerror(errno));
    close(fd);
    index_modes(path);
    rc = sqlite3_open_v2(path, &fs(s)->db, SQLITE_OPEN_READWRITE, NULL);
    g_free(path);
    if (rc != SQLITE_OK)
        return qfs_db_err(s, err, "open");
    sqlite3_busy_timeout(fs(s)->db, BUSY_TIMEOUT_MS);
    /* Checkpoints every 10000 pages rather than 1000: each message touches the same few
     * index leaves, which a longer interval writes back once instead of many times. */
    if (qfs_exec_sql(s,
                     "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
                     " PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 10000;",
                     err) < 0)
        return -1;
    return ensure_schema(s, err);
}

/* Open or create the store under dir. Caller closes with quar_close. */
quar_store *quar_open_fs(const char *dir, unsigned retention_days, char **err)
{
    fs_store *st = g_new0(fs_store, 1);
    quar_store *s = &st->head;

    s->be = &fs_backend;
    s->retention_days = retention_days;
    s->hold_days = QUAR_HOLD_DAYS_DEFAULT;
    s->where = g_strdup(dir);
    st->originals = g_strdup_printf("%s/originals", dir);
    st->inline_max = INLINE_MAX_DEFAULT;
    if (make_dir(dir) < 0 || make_dir(st->originals) < 0) {
        quar_err(s, err, "creating directories: %s", strerror(errno));
        fs_close(s);
        return NULL;
    }
    clean_stale_temps(st->originals);
    if (open_index(s, dir, err) < 0) {
        fs_close(s);
        return NULL;
    }
    return s;
}
