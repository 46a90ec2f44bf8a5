/*
 * quarantine/held_fs.c - the held encrypted parts ([ppap]) in the filesystem
 * store's index: one row per part the engine held, written with its message
 * (quar_put's transaction), its count of wrong passwords, and how and when it
 * was opened.
 *
 * Runs in the sanitizer workers, mugai-quarantine and mugai-web, as the store's
 * owner or a member of its group; never sees a password. It must let exactly one
 * of two openers at once open a part (one UPDATE whose WHERE names the statuses
 * it may leave), hand each expired part to exactly one expirer, and count wrong
 * passwords without losing one to a concurrent writer (a write transaction).
 */
#include <limits.h>
#include <string.h>

#include <glib.h>
#include <sqlite3.h>

#include "quar_int.h"
#include "store_fs_int.h"

/* Version 5: the held parts, in their message's part order (idx as in parts); held_status
 * serves the expiry sweep and the lookups of pending parts. */
const char qfs_held_sql[] =
    "CREATE TABLE held (msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " part TEXT NOT NULL, idx INTEGER NOT NULL, status TEXT NOT NULL,"
    " expires INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, opened_by TEXT,"
    " opened INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (msg_id, part));"
    "CREATE INDEX held_status ON held(status, expires);";

/* The columns of a listed held part, its message and its part row joined. */
static const char held_select[] =
    "SELECT h.msg_id, h.part, p.filename, h.status, h.expires, h.attempts, h.opened_by,"
    " h.opened, m.time, m.sender FROM held h JOIN messages m ON m.id = h.msg_id"
    " LEFT JOIN parts p ON p.msg_id = h.msg_id AND p.idx = h.idx";

/* Oldest message first, then part order. */
static const char held_order[] = " ORDER BY m.time, h.msg_id, h.idx";

/* Those pending or locked and past their expiry (?1: now), or whose message's original is
 * gone (deleted, purged): nothing can open them any more. */
#define HELD_DUE                                                                                   \
    " h.status IN ('pending', 'locked') AND (h.expires < ?1 OR (SELECT status FROM messages"       \
    " WHERE id = h.msg_id) NOT IN ('quarantined', 'released'))"

/* Record a pending row for each held part of m; see store_fs_int.h. */
int qfs_held_put(quar_store *s, const quar_msg *m, char **err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    for (size_t i = 0; i < m->nparts && rc == 0; i++) {
        const quar_part *p = &m->parts[i];
        if (g_strcmp0(p->action, "held") != 0 || !p->path || !p->path[0])
            continue;
        if (!st && qfs_prep(s,
                            "INSERT OR IGNORE INTO held (msg_id, part, idx, status, expires)"
                            " VALUES (?, ?, ?, 'pending', ?)",
                            &st, err) < 0)
            return -1;
        qfs_bind_str(st, 1, m->id);
        qfs_bind_str(st, 2, p->path);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        sqlite3_bind_int64(st, 4, m->time + (int64_t)s->hold_days * 86400);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = qfs_db_err(s, err, "recording a held part");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* A held part from a row selected with held_select. */
static quar_held *row_to_held(sqlite3_stmt *st)
{
    quar_held *h = g_new0(quar_held, 1);

    g_strlcpy(h->msg_id, (const char *)sqlite3_column_text(st, 0), sizeof h->msg_id);
    h->part = qfs_col_str(st, 1);
    h->filename = qfs_col_str(st, 2);
    h->status = qfs_col_str(st, 3);
    h->expires = sqlite3_column_int64(st, 4);
    h->attempts = (unsigned)MIN(sqlite3_column_int64(st, 5), (sqlite3_int64)UINT_MAX);
    h->opened_by = qfs_col_str(st, 6);
    h->opened = sqlite3_column_int64(st, 7);
    h->time = sqlite3_column_int64(st, 8);
    h->sender = qfs_col_str(st, 9);
    return h;
}

/* Step st to its end, collecting its rows into *out (NULL-terminated) and *n; finalizes st.
 * 0 or -1. */
static int collect(quar_store *s, sqlite3_stmt *st, quar_held ***out, size_t *n, char **err)
{
    GPtrArray *found = g_ptr_array_new();
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(found, row_to_held(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        for (guint i = 0; i < found->len; i++)
            quar_held_free(g_ptr_array_index(found, i));
        g_ptr_array_free(found, TRUE);
        return qfs_db_err(s, err, "reading the held parts");
    }
    *n = found->len;
    g_ptr_array_add(found, NULL);
    *out = (quar_held **)g_ptr_array_free(found, FALSE);
    return 0;
}

/* Held parts matching f, oldest message first, then in part order. */
static int fs_held_list(quar_store *s, const quar_held_filter *f, quar_held ***out, size_t *n,
                        char **err)
{
    GString *q = g_string_new(held_select);
    sqlite3_stmt *st;
    int rc;

    g_string_append(q, " WHERE 1");
    if (f->msg_id)
        g_string_append(q, " AND h.msg_id = ?1");
    if (f->status)
        g_string_append(q, " AND h.status = ?2");
    if (f->sender)
        g_string_append(q, " AND m.sender = ?3 COLLATE NOCASE");
    if (f->recipient)
        g_string_append(q, " AND EXISTS (SELECT 1 FROM recipients r WHERE r.msg_id = h.msg_id"
                           " AND r.addr = ?4 COLLATE NOCASE)");
    if (f->since)
        g_string_append(q, " AND m.time >= ?5");
    g_string_append(q, held_order);
    rc = qfs_prep(s, q->str, &st, err);
    g_string_free(q, TRUE);
    if (rc < 0)
        return -1;
    qfs_bind_str(st, 1, f->msg_id);
    qfs_bind_str(st, 2, f->status);
    qfs_bind_str(st, 3, f->sender);
    qfs_bind_str(st, 4, f->recipient);
    sqlite3_bind_int64(st, 5, f->since);
    return collect(s, st, out, n, err);
}

/* A held part's count and whether it is pending, inside the caller's transaction. 0, 1 when
 * there is no such part, or -1. */
static int held_count(quar_store *s, const char *id, const char *part, int64_t *count, int *pending,
                      char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s, "SELECT attempts, status = 'pending' FROM held WHERE msg_id = ? AND part = ?",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, id);
    qfs_bind_str(st, 2, part);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        *pending = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "reading a held part");
}

/* Set a held part's count, and lock it when lock. 0 or -1. */
static int held_set_count(quar_store *s, const char *id, const char *part, int64_t count, int lock,
                          char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s,
                 "UPDATE held SET attempts = ?, status = CASE WHEN ? THEN 'locked' ELSE status END"
                 " WHERE msg_id = ? AND part = ?",
                 &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, count);
    sqlite3_bind_int(st, 2, lock);
    qfs_bind_str(st, 3, id);
    qfs_bind_str(st, 4, part);
    return qfs_step_done(s, st, err);
}

/* Add wrong to a part's count and lock a pending part reaching max_attempts, in one write
 * transaction (the count read and written with no writer in between); 1 when unknown. */
static int fs_held_failed(quar_store *s, const char *id, const char *part, unsigned wrong,
                          unsigned max_attempts, unsigned *attempts, int *locked, char **err)
{
    int64_t count = 0;
    int pending = 0, lock = 0, rc;

    if (qfs_exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    rc = held_count(s, id, part, &count, &pending, err);
    if (rc == 0) {
        count = MIN(count + (int64_t)wrong, (int64_t)UINT_MAX);
        lock = pending && max_attempts > 0 && count >= max_attempts;
        rc = held_set_count(s, id, part, count, lock, err);
    }
    if (rc == 0 && qfs_exec_sql(s, "COMMIT", err) == 0) {
        *attempts = (unsigned)count;
        *locked = lock;
        return 0;
    }
    qfs_exec_sql(s, "ROLLBACK", NULL);
    return rc == 1 ? 1 : -1;
}

/* 1 when there is no such held part, 2 when there is, -1 on error. */
static int why_not(quar_store *s, const char *id, const char *part, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s, "SELECT 1 FROM held WHERE msg_id = ? AND part = ?", &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, id);
    qfs_bind_str(st, 2, part);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 2;
    return rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "reading a held part");
}

/* Open a pending or locked part in one UPDATE; 2 when it is neither, 1 when unknown. */
static int fs_held_open(quar_store *s, const char *id, const char *part, const char *how,
                        int64_t now, char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s,
                 "UPDATE held SET status = 'opened', opened_by = ?, opened = ?"
                 " WHERE msg_id = ? AND part = ? AND status IN ('pending', 'locked')",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, how);
    sqlite3_bind_int64(st, 2, now);
    qfs_bind_str(st, 3, id);
    qfs_bind_str(st, 4, part);
    if (qfs_step_done(s, st, err) < 0)
        return -1;
    return sqlite3_changes(fs(s)->db) == 1 ? 0 : why_not(s, id, part, err);
}

/* Read the parts due at now and mark them expired, in one write transaction: a second
 * expirer waits for it and then finds none of them due. */
static int fs_held_expire(quar_store *s, int64_t now, quar_held ***out, size_t *n, char **err)
{
    char *sql = g_strdup_printf("%s WHERE" HELD_DUE "%s", held_select, held_order);
    sqlite3_stmt *st;
    int rc;

    if (qfs_exec_sql(s, "BEGIN IMMEDIATE", err) < 0) {
        g_free(sql);
        return -1;
    }
    rc = qfs_prep(s, sql, &st, err);
    g_free(sql);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, now);
        rc = collect(s, st, out, n, err);
    }
    if (rc == 0 && *n > 0 &&
        (rc = qfs_prep(s, "UPDATE held AS h SET status = 'expired' WHERE" HELD_DUE, &st, err)) ==
            0) {
        sqlite3_bind_int64(st, 1, now);
        rc = qfs_step_done(s, st, err);
    }
    if (rc == 0 && qfs_exec_sql(s, "COMMIT", err) == 0) {
        for (size_t i = 0; i < *n; i++) {
            g_free((*out)[i]->status);
            (*out)[i]->status = g_strdup("expired");
        }
        return 0;
    }
    qfs_exec_sql(s, "ROLLBACK", NULL);
    quar_held_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

const quar_held_ops qfs_held_ops = {
    .list = fs_held_list,
    .failed = fs_held_failed,
    .open = fs_held_open,
    .expire = fs_held_expire,
};
