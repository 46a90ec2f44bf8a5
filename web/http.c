/*
 * web/http.c - mugai-web's HTTP layer on libmicrohttpd: reads each request
 * (bodies up to 64 KiB), applies the rules that hold for every request once,
 * before the route table dispatches (Origin, session, role, CSRF token, a
 * JSON object body), serves the embedded page, and answers through one set
 * of reply helpers that add the security headers to every response.
 *
 * Runs as [web] user on untrusted requests from the network. Threads: MHD's
 * pool of WEB_THREADS threads; every handler runs under ctx->lock, so the one
 * store handle is never used by two threads at once (SQLite's connection and
 * the store's statements are not shared across threads), while slow clients
 * and TLS handshakes do not hold up others. The sign-in handler releases the
 * lock while argon2 runs (a quarter of a second, 64 MiB). A handler must never
 * change state on a GET (but the single-use download), nor trust a header it
 * did not check here.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "web.h"

/* The page's files, embedded at build time (web_static_data.c). */
typedef struct web_static_file {
    const char *name; /* relative to web/static/, e.g. "app.js" */
    const unsigned char *data;
    size_t len;
} web_static_file;
extern const web_static_file web_static_files[];
extern const size_t web_static_nfiles;

static const char csp[] = "default-src 'self'; script-src 'self'; object-src 'none'; "
                          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/* Add the headers every response carries, and Cache-Control and a pending cookie on the API's. */
static void add_headers(web_req *r, struct MHD_Response *resp, int api)
{
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (r->ctx->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (api)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->set_cookie)
        MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
}

/* Queue resp (destroyed here) with status. */
static enum MHD_Result queue(web_req *r, unsigned status, struct MHD_Response *resp, int api)
{
    enum MHD_Result rc;

    if (resp == NULL)
        return MHD_NO;
    add_headers(r, resp, api);
    rc = MHD_queue_response(r->con, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Reply a copy of len bytes of body with the content type. */
static enum MHD_Result reply_bytes(web_req *r, unsigned status, const char *type, const void *body,
                                   size_t len, int api)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);

    if (resp != NULL)
        MHD_add_response_header(resp, "Content-Type", type);
    return queue(r, status, resp, api);
}

enum MHD_Result web_reply_json(web_req *r, unsigned status, JsonBuilder *b)
{
    JsonGenerator *g = json_generator_new();
    JsonNode *root = json_builder_get_root(b);
    gsize len;
    gchar *text;
    enum MHD_Result rc;

    json_generator_set_root(g, root);
    text = json_generator_to_data(g, &len);
    rc = reply_bytes(r, status, "application/json; charset=utf-8", text, len, 1);
    g_free(text);
    json_node_unref(root);
    g_object_unref(g);
    g_object_unref(b);
    return rc;
}

enum MHD_Result web_reply_error(web_req *r, unsigned status, const char *msg)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    web_json_str(b, "error", msg);
    json_builder_end_object(b);
    return web_reply_json(r, status, b);
}

enum MHD_Result web_reply_file(web_req *r, int fd, uint64_t size, const char *name)
{
    struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
    char disp[160];

    if (resp == NULL) {
        close(fd);
        return MHD_NO;
    }
    if (mg_snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"; filename*=UTF-8''%s", name,
                    name) < 0)
        g_strlcpy(disp, "attachment", sizeof(disp));
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Content-Disposition", disp);
    return queue(r, MHD_HTTP_OK, resp, 1);
}

const char *web_query(web_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->con, MHD_GET_ARGUMENT_KIND, name);
}

const char *web_header(web_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->con, MHD_HEADER_KIND, name);
}

/* The Content-Type of a page file by its extension. */
static const char *static_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };

    for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
        if (g_str_has_suffix(name, types[i][0]))
            return types[i][1];
    return "application/octet-stream";
}

/* Serve "/" (index.html) and "/static/NAME" from the embedded files; GET and HEAD only. */
static enum MHD_Result serve_static(web_req *r)
{
    const char *name = NULL;

    if (strcmp(r->url, "/") == 0 || strcmp(r->url, "/index.html") == 0)
        name = "index.html";
    else if (g_str_has_prefix(r->url, "/static/"))
        name = r->url + strlen("/static/");
    for (size_t i = 0; name && i < web_static_nfiles; i++) {
        if (strcmp(web_static_files[i].name, name) != 0)
            continue;
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
            struct MHD_Response *resp =
                MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            if (resp != NULL)
                MHD_add_response_header(resp, "Allow", "GET, HEAD");
            return queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp, 0);
        }
        return reply_bytes(r, MHD_HTTP_OK, static_type(name), web_static_files[i].data,
                           web_static_files[i].len, 0);
    }
    return reply_bytes(r, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "not found\n", 10, 0);
}

/* Reply 405 naming the methods the path allows. */
static enum MHD_Result reply_405(web_req *r, const char *allow)
{
    JsonBuilder *b = json_builder_new();
    JsonGenerator *g = json_generator_new();
    JsonNode *root;
    gchar *text;
    gsize len;
    struct MHD_Response *resp;

    json_builder_begin_object(b);
    web_json_str(b, "error", "method not allowed");
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    text = json_generator_to_data(g, &len);
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    g_free(text);
    json_node_unref(root);
    g_object_unref(g);
    g_object_unref(b);
    if (resp != NULL) {
        MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
        MHD_add_response_header(resp, "Allow", allow);
    }
    return queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp, 1);
}

/* The route for r's API path and method; NULL with *allow (caller frees) the methods the path
 * allows, empty when no route has the path. */
static const web_route *find_route(web_req *r, GString **allow)
{
    const char *args[2];

    *allow = g_string_new("");
    for (size_t i = 0; i < web_nroutes; i++) {
        if (!web_path_match(web_routes[i].path, r->segs, args))
            continue;
        if (strcmp(web_routes[i].method, r->method) == 0) {
            r->args[0] = args[0];
            r->args[1] = args[1];
            return &web_routes[i];
        }
        if (strstr((*allow)->str, web_routes[i].method) == NULL)
            g_string_append_printf(*allow, "%s%s", (*allow)->len ? ", " : "", web_routes[i].method);
    }
    return NULL;
}

/* The checks every API request passes before its handler: Origin, session and role, CSRF
 * token, JSON body. 0, or an HTTP status with *why (static). */
static unsigned admit(web_req *r, const web_route *rt, const char **why)
{
    const char *origin = web_header(r, "Origin");
    int post = strcmp(r->method, "POST") == 0;
    const char *ctype = web_header(r, "Content-Type");
    unsigned st;

    if (origin != NULL && !web_origin_ok(origin, web_header(r, "Host"), r->ctx->tls)) {
        *why = "cross-origin requests are not allowed";
        return MHD_HTTP_FORBIDDEN;
    }
    if (rt->role != WEB_ROLE_NONE) {
        if ((st = web_session_check(r, why)) != 0)
            return st;
        if (r->role < rt->role) {
            *why = "your role does not allow this";
            return MHD_HTTP_FORBIDDEN;
        }
        if (post && !web_ct_equal(web_header(r, "X-CSRF-Token"), r->session->csrf)) {
            *why = "missing or wrong CSRF token (X-CSRF-Token)";
            return MHD_HTTP_FORBIDDEN;
        }
    }
    if (!post)
        return 0;
    if (r->body->len > 0 &&
        (ctype == NULL || g_ascii_strncasecmp(ctype, "application/json", 16) != 0)) {
        *why = "the body must be JSON (Content-Type: application/json)";
        return MHD_HTTP_BAD_REQUEST;
    }
    r->parser = web_json_body(r->body->str, r->body->len, &r->in, why);
    return r->parser ? 0 : MHD_HTTP_BAD_REQUEST;
}

/* Dispatch an API request through the route table. */
static enum MHD_Result serve_api(web_req *r)
{
    GString *allow;
    const web_route *rt;
    const char *why = NULL;
    unsigned st;
    enum MHD_Result rc;

    r->segs = g_strsplit(r->url + strlen(WEB_API_PREFIX), "/", 32);
    rt = find_route(r, &allow);
    if (rt == NULL) {
        rc = allow->len ? reply_405(r, allow->str)
                        : web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
        g_string_free(allow, TRUE);
        return rc;
    }
    g_string_free(allow, TRUE);
    pthread_mutex_lock(&r->ctx->lock);
    st = admit(r, rt, &why);
    rc = st ? web_reply_error(r, st, why) : rt->handler(r);
    pthread_mutex_unlock(&r->ctx->lock);
    return rc;
}

/* A new request's state, with the client's address. */
static web_req *req_new(web_ctx *ctx, struct MHD_Connection *con, const char *url,
                        const char *method)
{
    web_req *r = g_new0(web_req, 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    r->ctx = ctx;
    r->con = con;
    r->url = url;
    r->method = method;
    r->body = g_string_new(NULL);
    g_strlcpy(r->source, "unknown", sizeof(r->source));
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->source,
                      sizeof(r->source));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->source,
                      sizeof(r->source));
    }
    return r;
}

/* Free a request's state (MHD's completion callback). */
static void req_done(void *cls, struct MHD_Connection *con, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
    web_req *r = *con_cls;

    (void)cls, (void)con, (void)toe;
    if (r == NULL)
        return;
    g_string_free(r->body, TRUE);
    g_strfreev(r->segs);
    if (r->parser)
        g_object_unref(r->parser);
    quar_session_free(r->session);
    quar_user_free(r->user);
    g_free(r->set_cookie);
    g_free(r);
    *con_cls = NULL;
}

/* Non-zero when the request announces a body larger than WEB_MAX_BODY. */
static int announced_too_big(struct MHD_Connection *con)
{
    const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");

    return cl != NULL && (strlen(cl) > 9 || strtoul(cl, NULL, 10) > WEB_MAX_BODY);
}

/* MHD's access handler: collect the body, then answer. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    web_req *r = *con_cls;

    (void)version;
    if (r == NULL) {
        *con_cls = r = req_new(cls, con, url, method);
        if (announced_too_big(con))
            return web_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the body is over 64 KiB");
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (r->body->len + *upload_data_size > WEB_MAX_BODY)
            r->too_big = 1;
        else
            g_string_append_len(r->body, upload_data, (gssize)*upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return web_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the body is over 64 KiB");
    if (g_str_has_prefix(url, WEB_API_PREFIX))
        return serve_api(r);
    if (g_str_has_prefix(url, "/api/"))
        return web_reply_error(r, MHD_HTTP_NOT_FOUND, "no such API path");
    return serve_static(r);
}

/* MHD's error log, into ours. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];

    (void)cls;
    if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
        return;
    g_strchomp(buf);
    mg_warn("http: %s", buf);
}

struct MHD_Daemon *web_http_start(web_ctx *ctx, int lsock, int ipv6, const char *key,
                                  const char *cert)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;

    if (ipv6)
        flags |= MHD_USE_IPv6;
    if (key != NULL)
        flags |= MHD_USE_TLS;
    /* Behind the loopback reverse proxy every client has the proxy's address: a limit per
     * address only when clients connect directly (TLS). */
    d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, ctx, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, lsock, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)WEB_THREADS,
        MHD_OPTION_NOTIFY_COMPLETED, req_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        key ? 64u : 0u, key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, key,
        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
    if (d == NULL)
        mg_error("cannot start the HTTP server (libmicrohttpd)");
    return d;
}
