/*
 * web/web.h - mugai-web, the review console: the daemon's shared types, the
 * route table's shape, the reply helpers and the pure helpers of util.c.
 */
#ifndef WEB_H
#define WEB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <json-glib/json-glib.h>
#include <microhttpd.h>

#include "conf.h"
#include "quar.h"

#define WEB_MAX_BODY (64 * 1024) /* largest request body accepted */
#define WEB_PASSWORD_MIN 12      /* characters */
#define WEB_PASSWORD_MAX 1024    /* bytes */
#define WEB_API_PREFIX "/api/v1/"
#define WEB_THREADS 4         /* MHD's thread pool */
#define WEB_SIGNIN_PARALLEL 2 /* password checks at once; more sign-ins get 503 */

typedef enum {
    WEB_ROLE_NONE = 0, /* no session needed (login, the page) */
    WEB_ROLE_AUDITOR,  /* reads everything; also "any signed-in user" */
    WEB_ROLE_REVIEWER, /* reads and makes requests */
    WEB_ROLE_ADMIN     /* also decides requests and manages accounts */
} web_role;

/* What the daemon shares between its threads; the store only under lock. */
typedef struct web_ctx {
    conf *cf;
    quar_store *store;
    pthread_mutex_t lock; /* held around every handler (released while hashing a password) */
    int tls;              /* serving HTTPS: __Host- cookie, Secure, https Origin */
    unsigned signing_in;  /* sign-ins checking a password now (under lock) */
} web_ctx;

/* One HTTP request, from its first byte to its reply (freed when MHD completes it). */
typedef struct web_req {
    web_ctx *ctx;
    struct MHD_Connection *con;
    const char *url;    /* borrowed from MHD */
    const char *method; /* borrowed from MHD */
    GString *body;
    int too_big;         /* the body passed WEB_MAX_BODY */
    const char *args[2]; /* the path segments the route's '*' matched (borrowed from segs) */
    char **segs;         /* the API path split at '/' */
    JsonParser *parser;  /* the body's parser, when it had one */
    JsonObject *in;      /* the body as an object (an empty one for an empty body) */
    char source[64];     /* the client's address */
    char token_hash[65]; /* the session cookie's SHA-256, when signed in */
    quar_session *session;
    quar_user *user;
    web_role role;
    char *set_cookie; /* a Set-Cookie header for the reply, or NULL */
} web_req;

typedef enum MHD_Result (*web_handler)(web_req *r);

/* One line of the route table: API path below /api/v1/ ('*' matches one segment), method,
 * handler and the least role allowed (WEB_ROLE_NONE: no session). Every POST but login
 * needs the CSRF token. */
typedef struct web_route {
    const char *path;
    const char *method;
    web_handler handler;
    web_role role;
} web_route;

extern const web_route web_routes[];
extern const size_t web_nroutes;

/* ---- http.c: serving and replies ---- */

/* Start serving on the bound socket lsock; NULL (logged) on failure. key and cert (PEM, NULL
 * without TLS) must outlive the daemon. */
struct MHD_Daemon *web_http_start(web_ctx *ctx, int lsock, int ipv6, const char *key,
                                  const char *cert);
/* Reply JSON built in b (freed here), with the console's headers. */
enum MHD_Result web_reply_json(web_req *r, unsigned status, JsonBuilder *b);
/* Reply {"error": msg}. */
enum MHD_Result web_reply_error(web_req *r, unsigned status, const char *msg);
/* Reply an original read from fd (owned from here on) as a download named name. */
enum MHD_Result web_reply_file(web_req *r, int fd, uint64_t size, const char *name);
/* A query-string parameter, or NULL. */
const char *web_query(web_req *r, const char *name);
/* A request header, or NULL. */
const char *web_header(web_req *r, const char *name);

/* ---- the handlers, one file per resource ---- */

enum MHD_Result web_login(web_req *r);
enum MHD_Result web_logout(web_req *r);
enum MHD_Result web_me(web_req *r);
/* Find the session of the request's cookie: 0 signed in (r->session, r->user, r->role set), or
 * an HTTP status (401) with the reason in *why (static). */
unsigned web_session_check(web_req *r, const char **why);
enum MHD_Result web_messages_list(web_req *r);
enum MHD_Result web_message_get(web_req *r);
/* unlock.c: open a held encrypted part with IT's password, through the gateway's workers. */
enum MHD_Result web_message_unlock(web_req *r);
enum MHD_Result web_request_add(web_req *r);
enum MHD_Result web_requests_list(web_req *r);
enum MHD_Result web_request_approve(web_req *r);
enum MHD_Result web_request_deny(web_req *r);
enum MHD_Result web_download(web_req *r);
enum MHD_Result web_audit_list(web_req *r);
enum MHD_Result web_audit_verify(web_req *r);
enum MHD_Result web_users_list(web_req *r);
enum MHD_Result web_user_add(web_req *r);
enum MHD_Result web_user_change(web_req *r);

/* The limit (default 50, at most 500) and offset query parameters. 0, or -1 when malformed. */
int web_paging(web_req *r, unsigned *limit, unsigned *offset);
/* Add an audit event object (members as in the API) as the builder's next value. */
void web_json_event(JsonBuilder *b, const quar_event *ev);
/* Add a request object; download, when not NULL, is its one-time URL. */
void web_json_request(JsonBuilder *b, const quar_request *q, const char *download);
/* Record an event by the signed-in user (or actor when r has no user) from r's address. */
void web_audit(web_req *r, const char *actor, const char *item, const char *action,
               const char *reason, const char *detail, const char *outcome);

/* ---- password.c ---- */

/* The argon2id encoding of password into a new string; NULL on failure. Caller frees. */
char *web_password_hash(const char *password);
/* 1 when password matches the encoded hash, 0 when not (or the hash is unusable). With hash
 * NULL, checks against a dummy hash (same cost) and answers 0. */
int web_password_verify(const char *hash, const char *password);
/* Make the dummy hash now (it takes as long as one sign-in). 0 or -1. */
int web_password_init(void);

/* ---- cli.c ---- */

/* mugai-web user ...: argv starts at "user". Returns the exit status. */
int web_cli_user(const conf *cf, int argc, char **argv);

/* ---- util.c: pure helpers (unit tested) ---- */

/* The role named ("admin", ...), or WEB_ROLE_NONE. */
web_role web_role_parse(const char *name);
/* Non-zero when s is exactly 64 lower-case hex digits (a session or download token). */
int web_token_valid(const char *s);
/* Compare two strings in time that depends only on their lengths. 1 equal, 0 not. */
int web_ct_equal(const char *a, const char *b);
/* Non-zero when an Origin header value names this console: host[:port] equal to the Host
 * header (without case) and scheme https, or also http when serving plain HTTP (on loopback
 * only, where a local TLS proxy in front makes browsers send https). */
int web_origin_ok(const char *origin, const char *host, int tls);
/* Lower-case hex SHA-256 of s into out. */
void web_sha256_hex(const char *s, char out[65]);
/* 256 random bits as 64 hex digits into out. 0 or -1. */
int web_random_hex(char out[65]);
/* Unix seconds from "YYYY-MM-DD" (UTC; with end_of_day the day's last second) or a decimal
 * number. 0 ok, -1 malformed. */
int web_parse_time(const char *s, int end_of_day, int64_t *out);
/* A decimal number up to max. 0 ok, -1 malformed or too large. */
int web_parse_uint(const char *s, unsigned max, unsigned *out);
/* ISO-8601 UTC ("2026-11-29T05:06:15Z") of t into out. */
void web_iso_time(int64_t t, char out[32]);
/* Parse a JSON request body (len bytes; empty: an empty object) that must be an object.
 * Returns the parser holding it (caller frees with g_object_unref) and the object in *obj, or
 * NULL with a reason in *why (static). */
JsonParser *web_json_body(const char *body, size_t len, JsonObject **obj, const char **why);
/* A string member of o, or NULL when absent; *bad set when present but not a string. */
const char *web_json_get_str(JsonObject *o, const char *name, int *bad);
/* Match an API path split into segs against a route pattern ('*' matches one non-empty
 * segment, captured into args[0..1]). 1 match, 0 not. */
int web_path_match(const char *pattern, char *const *segs, const char *args[2]);
/* Parse "ADDRESS:PORT" or "[IPv6]:PORT" (numeric) into ss. 0, or -1 with a reason in *why. */
int web_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
                     const char **why);
/* Non-zero for a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
int web_addr_loopback(const struct sockaddr_storage *ss);
/* Non-zero when addr looks like one envelope address (local@domain, no blanks, commas,
 * brackets or control characters, at most 254 bytes). */
int web_addr_valid(const char *addr);
/* Add a string as the builder's next value, each invalid UTF-8 byte as U+FFFD: the store keeps
 * some values as the sender sent them (a raw Message-ID), and the answer must stay JSON. */
void web_json_add_str(JsonBuilder *b, const char *s);
/* Append a JSON member: a string (as web_json_add_str), or null for NULL. */
void web_json_str(JsonBuilder *b, const char *name, const char *s);
void web_json_int(JsonBuilder *b, const char *name, int64_t v);
/* Member name as unix seconds and name_iso as ISO-8601; both null when t is 0. */
void web_json_time(JsonBuilder *b, const char *name, int64_t t);

#endif
