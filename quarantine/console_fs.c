/*
 * quarantine/console_fs.c - the review console's records in the filesystem
 * store's index: accounts (users), sessions (by the SHA-256 of their cookie),
 * requests to release, export or delete an original, and single-use downloads.
 *
 * Runs in mugai-web and mugai-quarantine, as the store's owner or a member of its
 * group; never sees a password or a cookie, only their hashes. It must keep the
 * two-person rule (request_decide refuses the requester as approver, in one
 * statement, whatever the client), let a download be taken once only however many
 * take it at the same time (DELETE ... RETURNING), and allow one pending request
 * per action and item (a partial unique index).
 */
#include <string.h>
#include <time.h>

#include <glib.h>
#include <sqlite3.h>

#include "quar_int.h"
#include "store_fs_int.h"

/* Version 4: the console's tables. */
const char qfs_console_sql[] =
    "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, pwhash TEXT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " failures INTEGER NOT NULL DEFAULT 0, first_failure INTEGER NOT NULL DEFAULT 0,"
    " locked_until INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY,"
    " user_name TEXT NOT NULL REFERENCES users(name), csrf TEXT NOT NULL,"
    " created INTEGER NOT NULL, last_seen INTEGER NOT NULL, source TEXT);"
    "CREATE INDEX sessions_user ON sessions(user_name);"
    "CREATE INDEX sessions_seen ON sessions(last_seen);"
    "CREATE INDEX sessions_created ON sessions(created);"
    "CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " msg_id TEXT NOT NULL REFERENCES messages(id), action TEXT NOT NULL, reason TEXT,"
    " to_addrs TEXT, requester TEXT NOT NULL, time INTEGER NOT NULL, status TEXT NOT NULL,"
    " approver TEXT, decided INTEGER NOT NULL DEFAULT 0, decision_reason TEXT, result TEXT);"
    "CREATE INDEX requests_status ON requests(status, id);"
    "CREATE INDEX requests_msg ON requests(msg_id, id);"
    "CREATE UNIQUE INDEX requests_pending ON requests(msg_id, action) WHERE status = 'pending';"
    "CREATE TABLE downloads (token_hash TEXT PRIMARY KEY,"
    " request_id INTEGER NOT NULL REFERENCES requests(id), expires INTEGER NOT NULL);"
    "CREATE INDEX downloads_expires ON downloads(expires);";

static const char user_cols[] =
    "name, role, pwhash, disabled, created, failures, first_failure, locked_until";
static const char session_cols[] = "token_hash, user_name, csrf, created, last_seen, source";
static const char request_cols[] = "id, msg_id, action, reason, to_addrs, requester, time, status,"
                                   " approver, decided, decision_reason, result";

/* Prepare sql, bind the strings a and b (NULL: SQL NULL; b only when two) and the integer n
 * (when has_n, after them), step it to its end; the rows changed, or -1. */
static int change(quar_store *s, const char *sql, const char *a, const char *b, int two, int has_n,
                  int64_t n, char **err)
{
    sqlite3_stmt *st;
    int i = 1;

    if (qfs_prep(s, sql, &st, err) < 0)
        return -1;
    qfs_bind_str(st, i++, a);
    if (two)
        qfs_bind_str(st, i++, b);
    if (has_n)
        sqlite3_bind_int64(st, i, n);
    if (qfs_step_done(s, st, err) < 0)
        return -1;
    return sqlite3_changes(fs(s)->db);
}

/* An account from a row selected with user_cols. */
static quar_user *row_to_user(sqlite3_stmt *st)
{
    quar_user *u = g_new0(quar_user, 1);

    u->name = qfs_col_str(st, 0);
    u->role = qfs_col_str(st, 1);
    u->pwhash = qfs_col_str(st, 2);
    u->disabled = sqlite3_column_int(st, 3) != 0;
    u->created = sqlite3_column_int64(st, 4);
    u->failures = (unsigned)sqlite3_column_int(st, 5);
    u->first_failure = sqlite3_column_int64(st, 6);
    u->locked_until = sqlite3_column_int64(st, 7);
    return u;
}

/* Add an account; 2 when the name is taken. */
static int fs_user_add(quar_store *s, const quar_user *u, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s, "INSERT INTO users (name, role, pwhash, disabled, created) VALUES (?,?,?,?,?)",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, u->name);
    qfs_bind_str(st, 2, u->role);
    qfs_bind_str(st, 3, u->pwhash);
    sqlite3_bind_int(st, 4, u->disabled != 0);
    sqlite3_bind_int64(st, 5, u->created ? u->created : (int64_t)time(NULL));
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (sqlite3_extended_errcode(fs(s)->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
        return 2;
    return qfs_db_err(s, err, "adding a user");
}

/* One account; 1 when there is none. */
static int fs_user_get(quar_store *s, const char *name, quar_user **out, char **err)
{
    char *sql = g_strdup_printf("SELECT %s FROM users WHERE name = ?", user_cols);
    sqlite3_stmt *st;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc < 0)
        return -1;
    qfs_bind_str(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = row_to_user(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "reading a user");
}

/* Every account by name. */
static int fs_user_list(quar_store *s, quar_user ***out, size_t *n, char **err)
{
    char *sql = g_strdup_printf("SELECT %s FROM users ORDER BY name", user_cols);
    GPtrArray *found = g_ptr_array_new();
    sqlite3_stmt *st;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc < 0) {
        g_ptr_array_free(found, TRUE);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(found, row_to_user(st));
    sqlite3_finalize(st);
    *n = found->len;
    g_ptr_array_add(found, NULL);
    *out = (quar_user **)g_ptr_array_free(found, FALSE);
    if (rc == SQLITE_DONE)
        return 0;
    quar_user_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return qfs_db_err(s, err, "reading users");
}

/* Set an account's hash (clearing failures and lock), role or disabled flag (disabling also
 * clears them); 1 when there is no such account. */
static int fs_user_set(quar_store *s, const char *name, const char *field, const char *value,
                       char **err)
{
    const char *sql;
    int rc;

    if (strcmp(field, "pwhash") == 0 || (strcmp(field, "disabled") == 0 && value[0] == '1'))
        sql = strcmp(field, "pwhash") == 0
                  ? "UPDATE users SET pwhash = ?, failures = 0, first_failure = 0,"
                    " locked_until = 0 WHERE name = ?"
                  : "UPDATE users SET disabled = ?, failures = 0, first_failure = 0,"
                    " locked_until = 0 WHERE name = ?";
    else if (strcmp(field, "disabled") == 0)
        sql = "UPDATE users SET disabled = ? WHERE name = ?";
    else
        sql = "UPDATE users SET role = ? WHERE name = ?";
    rc = change(s, sql, value, name, 1, 0, 0, err);
    return rc < 0 ? -1 : rc == 0;
}

/* Count a failed sign-in at now in one write transaction; see quar.h. */
static int fs_login_failed(quar_store *s, const char *name, int64_t now, unsigned limit,
                           int64_t window, int *locked, char **err)
{
    sqlite3_stmt *st;
    int64_t failures, first, until;
    int rc;

    if (qfs_exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    rc = qfs_prep(s, "SELECT failures, first_failure, locked_until FROM users WHERE name = ?", &st,
                  err);
    if (rc == 0) {
        qfs_bind_str(st, 1, name);
        rc = sqlite3_step(st);
        failures = sqlite3_column_int64(st, 0);
        first = sqlite3_column_int64(st, 1);
        until = sqlite3_column_int64(st, 2);
        sqlite3_finalize(st);
        rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "reading a user");
    }
    if (rc == 0) {
        if (first == 0 || now - first > window) {
            failures = 0;
            first = now;
        }
        failures++;
        if (limit > 0 && failures >= (int64_t)limit && until <= now) {
            until = now + window;
            *locked = 1;
        }
        rc = qfs_prep(s,
                      "UPDATE users SET failures = ?, first_failure = ?, locked_until = ?"
                      " WHERE name = ?",
                      &st, err);
    }
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, failures);
        sqlite3_bind_int64(st, 2, first);
        sqlite3_bind_int64(st, 3, until);
        qfs_bind_str(st, 4, name);
        rc = qfs_step_done(s, st, err);
    }
    if (rc == 0 && qfs_exec_sql(s, "COMMIT", err) == 0)
        return 0;
    qfs_exec_sql(s, "ROLLBACK", NULL);
    *locked = 0;
    return rc == 1 ? 1 : -1;
}

/* Clear the failure count (a running lock stays). */
static int fs_login_ok(quar_store *s, const char *name, char **err)
{
    int rc = change(s, "UPDATE users SET failures = 0, first_failure = 0 WHERE name = ?", name,
                    NULL, 0, 0, 0, err);

    return rc < 0 ? -1 : rc == 0;
}

/* Record a session; 1 when its user is unknown. */
static int fs_session_put(quar_store *s, const quar_session *se, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s,
                 "INSERT INTO sessions (token_hash, user_name, csrf, created, last_seen, source)"
                 " VALUES (?,?,?,?,?,?)",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, se->token_hash);
    qfs_bind_str(st, 2, se->user);
    qfs_bind_str(st, 3, se->csrf);
    sqlite3_bind_int64(st, 4, se->created);
    sqlite3_bind_int64(st, 5, se->last_seen ? se->last_seen : se->created);
    qfs_bind_str(st, 6, se->source);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (sqlite3_extended_errcode(fs(s)->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        return 1;
    return qfs_db_err(s, err, "adding a session");
}

/* One session by token hash; 1 when there is none. */
static int fs_session_get(quar_store *s, const char *token_hash, quar_session **out, char **err)
{
    char *sql = g_strdup_printf("SELECT %s FROM sessions WHERE token_hash = ?", session_cols);
    sqlite3_stmt *st;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc < 0)
        return -1;
    qfs_bind_str(st, 1, token_hash);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        quar_session *se = g_new0(quar_session, 1);
        g_strlcpy(se->token_hash, (const char *)sqlite3_column_text(st, 0), sizeof se->token_hash);
        se->user = qfs_col_str(st, 1);
        g_strlcpy(se->csrf, (const char *)sqlite3_column_text(st, 2), sizeof se->csrf);
        se->created = sqlite3_column_int64(st, 3);
        se->last_seen = sqlite3_column_int64(st, 4);
        se->source = qfs_col_str(st, 5);
        *out = se;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "reading a session");
}

/* Mark a session used at now; 1 when there is none. */
static int fs_session_touch(quar_store *s, const char *token_hash, int64_t now, char **err)
{
    int rc = change(s, "UPDATE sessions SET last_seen = max(last_seen, ?2) WHERE token_hash = ?1",
                    token_hash, NULL, 0, 1, now, err);

    return rc < 0 ? -1 : rc == 0;
}

/* Drop one session, or every session of user. */
static int fs_session_drop(quar_store *s, const char *token_hash, const char *user, char **err)
{
    int rc =
        token_hash
            ? change(s, "DELETE FROM sessions WHERE token_hash = ?", token_hash, NULL, 0, 0, 0, err)
            : change(s, "DELETE FROM sessions WHERE user_name = ?", user, NULL, 0, 0, 0, err);

    return rc < 0 ? -1 : 0;
}

/* Drop the sessions idle or alive too long. */
static int fs_session_prune(quar_store *s, int64_t idle_before, int64_t created_before, char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s, "DELETE FROM sessions WHERE last_seen < ? OR created < ?", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, idle_before);
    sqlite3_bind_int64(st, 2, created_before);
    return qfs_step_done(s, st, err);
}

/* Add a pending request; 1 unknown message, 2 the same action already pending on it. */
static int fs_request_add(quar_store *s, quar_request *r, char **err)
{
    sqlite3_stmt *st;
    int rc, ext;

    if (r->time == 0)
        r->time = (int64_t)time(NULL);
    if (qfs_prep(s,
                 "INSERT INTO requests (msg_id, action, reason, to_addrs, requester, time,"
                 " status) VALUES (?,?,?,?,?,?,'pending')",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, r->msg_id);
    qfs_bind_str(st, 2, r->action);
    qfs_bind_str(st, 3, r->reason);
    qfs_bind_str(st, 4, r->to);
    qfs_bind_str(st, 5, r->requester);
    sqlite3_bind_int64(st, 6, r->time);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        ext = sqlite3_extended_errcode(fs(s)->db);
        if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
            return 1;
        return ext == SQLITE_CONSTRAINT_UNIQUE ? 2 : qfs_db_err(s, err, "adding a request");
    }
    r->id = sqlite3_last_insert_rowid(fs(s)->db);
    g_free(r->status);
    r->status = g_strdup("pending");
    return 0;
}

/* A request from a row selected with request_cols. */
static quar_request *row_to_request(sqlite3_stmt *st)
{
    quar_request *r = g_new0(quar_request, 1);

    r->id = sqlite3_column_int64(st, 0);
    g_strlcpy(r->msg_id, (const char *)sqlite3_column_text(st, 1), sizeof r->msg_id);
    r->action = qfs_col_str(st, 2);
    r->reason = qfs_col_str(st, 3);
    r->to = qfs_col_str(st, 4);
    r->requester = qfs_col_str(st, 5);
    r->time = sqlite3_column_int64(st, 6);
    r->status = qfs_col_str(st, 7);
    r->approver = qfs_col_str(st, 8);
    r->decided = sqlite3_column_int64(st, 9);
    r->decision_reason = qfs_col_str(st, 10);
    r->result = qfs_col_str(st, 11);
    return r;
}

/* Requests by a prepared query into a NULL-terminated list; st is finalized. */
static int collect_requests(quar_store *s, sqlite3_stmt *st, quar_request ***out, size_t *n,
                            char **err)
{
    GPtrArray *found = g_ptr_array_new();
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(found, row_to_request(st));
    sqlite3_finalize(st);
    *n = found->len;
    g_ptr_array_add(found, NULL);
    *out = (quar_request **)g_ptr_array_free(found, FALSE);
    if (rc == SQLITE_DONE)
        return 0;
    quar_request_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return qfs_db_err(s, err, "reading requests");
}

/* One request; 1 when unknown. */
static int fs_request_get(quar_store *s, int64_t id, quar_request **out, char **err)
{
    char *sql = g_strdup_printf("SELECT %s FROM requests WHERE id = ?", request_cols);
    quar_request **list = NULL;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc < 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    if (collect_requests(s, st, &list, &n, err) < 0)
        return -1;
    if (n == 1) {
        *out = list[0];
        list[0] = NULL;
    }
    quar_request_list_free(list, n);
    return n == 1 ? 0 : 1;
}

/* Requests, oldest first, with status and msg_id when not NULL (each condition an index's). */
static int fs_request_list(quar_store *s, const char *status, const char *msg_id,
                           quar_request ***out, size_t *n, char **err)
{
    char *sql = g_strdup_printf("SELECT %s FROM requests WHERE 1%s%s ORDER BY id", request_cols,
                                status ? " AND status = ?1" : "", msg_id ? " AND msg_id = ?2" : "");
    sqlite3_stmt *st;
    int rc = qfs_prep(s, sql, &st, err);

    g_free(sql);
    if (rc < 0)
        return -1;
    if (status)
        qfs_bind_str(st, 1, status);
    if (msg_id)
        qfs_bind_str(st, 2, msg_id);
    return collect_requests(s, st, out, n, err);
}

/* Why request id could not be changed: 1 unknown, 2 not in a state that allows it, 3 its
 * requester is who (when not NULL) while it is still pending, or -1. */
static int why_not(quar_store *s, int64_t id, const char *who, char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s, "SELECT status, requester FROM requests WHERE id = ?", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = who && g_strcmp0((const char *)sqlite3_column_text(st, 0), "pending") == 0 &&
                     g_strcmp0((const char *)sqlite3_column_text(st, 1), who) == 0
                 ? 3
                 : 2;
    else
        rc = rc == SQLITE_DONE ? 1 : qfs_db_err(s, err, "reading a request");
    sqlite3_finalize(st);
    return rc;
}

/* Approve or deny a pending request by someone other than its requester, in one statement
 * (no other writer can decide it in between); 1 unknown, 2 not pending, 3 the requester. */
static int fs_request_decide(quar_store *s, int64_t id, const char *status, const char *approver,
                             const char *reason, int64_t now, char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s,
                 "UPDATE requests SET status = ?, approver = ?, decision_reason = ?, decided = ?"
                 " WHERE id = ? AND status = 'pending' AND requester <> ?2",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, status);
    qfs_bind_str(st, 2, approver);
    qfs_bind_str(st, 3, reason);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, id);
    if (qfs_step_done(s, st, err) < 0)
        return -1;
    return sqlite3_changes(fs(s)->db) == 1 ? 0 : why_not(s, id, approver, err);
}

/* Record how carrying out an approved request (or a pending one the rule lets its requester
 * carry out at once) ended; 1 unknown, 2 already ended or denied. */
static int fs_request_finish(quar_store *s, int64_t id, const char *status, const char *result,
                             char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s,
                 "UPDATE requests SET status = ?, result = ?"
                 " WHERE id = ? AND status IN ('pending', 'approved')",
                 &st, err) < 0)
        return -1;
    qfs_bind_str(st, 1, status);
    qfs_bind_str(st, 2, result);
    sqlite3_bind_int64(st, 3, id);
    if (qfs_step_done(s, st, err) < 0)
        return -1;
    return sqlite3_changes(fs(s)->db) == 1 ? 0 : why_not(s, id, NULL, err);
}

/* Record a download. */
static int fs_download_put(quar_store *s, const char *token_hash, int64_t request_id,
                           int64_t expires, char **err)
{
    sqlite3_stmt *st;

    if (qfs_prep(s, "INSERT INTO downloads (token_hash, request_id, expires) VALUES (?,?,?)", &st,
                 err) < 0)
        return -1;
    qfs_bind_str(st, 1, token_hash);
    sqlite3_bind_int64(st, 2, request_id);
    sqlite3_bind_int64(st, 3, expires);
    return qfs_step_done(s, st, err);
}

/* Take a download: one DELETE ... RETURNING, so that of two takers at once only one gets the
 * row; 1 when there is none or it expired (it is gone either way, as is every download
 * expired at now). */
static int fs_download_take(quar_store *s, const char *token_hash, int64_t now, int64_t *request_id,
                            char **err)
{
    sqlite3_stmt *st;
    int rc;

    if (qfs_prep(s, "DELETE FROM downloads WHERE expires <= ?", &st, err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    if (qfs_step_done(s, st, err) < 0)
        return -1;
    if (qfs_prep(s, "DELETE FROM downloads WHERE token_hash = ? RETURNING request_id, expires", &st,
                 err) < 0)
        return -1;
    qfs_bind_str(st, 1, token_hash);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_int64(st, 1) > now)
            *request_id = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st); /* the token is the key: no second row */
    }
    if (rc != SQLITE_DONE) {
        *request_id = 0;
        qfs_db_err(s, err, "taking a download");
    }
    sqlite3_finalize(st);
    return rc != SQLITE_DONE ? -1 : *request_id ? 0 : 1;
}

const quar_console_ops qfs_console_ops = {
    .user_add = fs_user_add,
    .user_get = fs_user_get,
    .user_list = fs_user_list,
    .user_set = fs_user_set,
    .login_failed = fs_login_failed,
    .login_ok = fs_login_ok,
    .session_put = fs_session_put,
    .session_get = fs_session_get,
    .session_touch = fs_session_touch,
    .session_drop = fs_session_drop,
    .session_prune = fs_session_prune,
    .request_add = fs_request_add,
    .request_get = fs_request_get,
    .request_list = fs_request_list,
    .request_decide = fs_request_decide,
    .request_finish = fs_request_finish,
    .download_put = fs_download_put,
    .download_take = fs_download_take,
};
