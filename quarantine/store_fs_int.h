/*
 * quarantine/store_fs_int.h - internals of the filesystem + SQLite backend shared
 * by store_fs.c (messages, originals, the audit chain) and console_fs.c (the
 * console's records): the store's struct and the SQLite helpers.
 */
#ifndef STORE_FS_INT_H
#define STORE_FS_INT_H

#include <sqlite3.h>

#include "quar_int.h"

/* The statements run for every message (the put path, the failure count's lookup, the chain's
 * tail, a listed message's recipients and parts), prepared once per store. */
enum {
    ST_RCPTS_OF,
    ST_PARTS_OF,
    ST_MESSAGE,
    ST_TEXTS,
    ST_RECIPIENT,
    ST_PART,
    ST_BLOB,
    ST_EVENT,
    ST_CHAIN_TAIL,
    ST_TAKEN,
    ST_FAILURES,
    ST_COUNT
};

typedef struct fs_store {
    quar_store head;
    sqlite3 *db;
    char *originals;                /* DIR/originals */
    size_t inline_max;              /* larger originals are files; 0: all are */
    sqlite3_stmt *cached[ST_COUNT]; /* prepared on first use, finalized by fs_close */
} fs_store;

/* The backend's view of s. */
static inline fs_store *fs(quar_store *s)
{
    return (fs_store *)s;
}

/* Report the database's last error, naming what was being done. Returns -1. */
int qfs_db_err(quar_store *s, char **err, const char *what);
/* Run SQL without results. 0 or -1. */
int qfs_exec_sql(quar_store *s, const char *sql, char **err);
/* Prepare one statement. 0 or -1. */
int qfs_prep(quar_store *s, const char *sql, sqlite3_stmt **st, char **err);
/* Bind a string, NULL as SQL NULL. */
int qfs_bind_str(sqlite3_stmt *st, int i, const char *v);
/* A heap copy of a text column (NULL stays NULL); g_free. */
char *qfs_col_str(sqlite3_stmt *st, int i);
/* Step a statement expected to finish without rows, then finalize it. 0 or -1. */
int qfs_step_done(quar_store *s, sqlite3_stmt *st, char **err);

/* The console's tables and indexes (schema version 4). */
extern const char qfs_console_sql[];
/* The console's records in the index. */
extern const quar_console_ops qfs_console_ops;

/* The held parts' table and indexes (schema version 5; held_fs.c). */
extern const char qfs_held_sql[];
/* The held parts' records in the index. */
extern const quar_held_ops qfs_held_ops;
/* Record a pending row for each of m's parts whose action is "held", inside the caller's
 * write transaction (quar_put's). 0 or -1. */
int qfs_held_put(quar_store *s, const quar_msg *m, char **err);

#endif
