/*
 * web/util.c - mugai-web's pure helpers: tokens, constant-time comparison,
 * the Origin rule, times, the JSON body, path matching and the listen address.
 *
 * Runs inside mugai-web on untrusted request data (headers, paths, bodies):
 * every function bounds what it reads and keeps nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <glib.h>

#include "web.h"

web_role web_role_parse(const char *name)
{
    if (name == NULL)
        return WEB_ROLE_NONE;
    if (strcmp(name, "admin") == 0)
        return WEB_ROLE_ADMIN;
    if (strcmp(name, "reviewer") == 0)
        return WEB_ROLE_REVIEWER;
    if (strcmp(name, "auditor") == 0)
        return WEB_ROLE_AUDITOR;
    return WEB_ROLE_NONE;
}

int web_token_valid(const char *s)
{
    size_t i;

    if (s == NULL)
        return 0;
    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

int web_ct_equal(const char *a, const char *b)
{
    size_t la, lb, i;
    unsigned char d;

    if (a == NULL || b == NULL)
        return 0;
    la = strlen(a);
    lb = strlen(b);
    d = la != lb;
    for (i = 0; i < la; i++)
        d |= (unsigned char)a[i] ^ (unsigned char)b[lb ? i % lb : 0];
    return d == 0;
}

int web_origin_ok(const char *origin, const char *host, int tls)
{
    const char *rest;

    if (origin == NULL || host == NULL || *host == '\0')
        return 0;
    if (g_str_has_prefix(origin, "https://"))
        rest = origin + strlen("https://");
    else if (!tls && g_str_has_prefix(origin, "http://"))
        rest = origin + strlen("http://");
    else
        return 0;
    return g_ascii_strcasecmp(rest, host) == 0;
}

void web_sha256_hex(const char *s, char out[65])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);

    g_checksum_update(ck, (const guchar *)s, (gssize)strlen(s));
    g_strlcpy(out, g_checksum_get_string(ck), 65);
    g_checksum_free(ck);
}

int web_random_hex(char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[32];
    size_t got = 0;

    while (got < sizeof(buf)) {
        ssize_t n = getrandom(buf + got, sizeof(buf) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(buf); i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int web_parse_time(const char *s, int end_of_day, int64_t *out)
{
    struct tm tm;
    char *end;

    if (s == NULL || *s == '\0')
        return -1;
    if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, "%Y-%m-%d", &tm);
        if (end == NULL || *end != '\0')
            return -1;
        *out = (int64_t)timegm(&tm) + (end_of_day ? 86399 : 0);
        return 0;
    }
    if (strspn(s, "0123456789") != strlen(s) || strlen(s) > 12)
        return -1;
    *out = strtoll(s, &end, 10);
    return 0;
}

int web_parse_uint(const char *s, unsigned max, unsigned *out)
{
    unsigned long v;
    char *end;

    if (s == NULL || *s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return -1;
    v = strtoul(s, &end, 10);
    if (v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

void web_iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        g_strlcpy(out, "", 32);
}

/* Non-zero when a JSON text holds the escape \u0000: the string would reach C cut short at
 * the NUL (a name, password or reason shorter than the one sent). */
static int has_nul_escape(const char *body, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (body[i] != '\\')
            continue;
        if (body[i + 1] == 'u' && i + 5 < len && memcmp(body + i + 2, "0000", 4) == 0)
            return 1;
        i++; /* skip the escaped character: in \\u0000 the second backslash is text */
    }
    return 0;
}

JsonParser *web_json_body(const char *body, size_t len, JsonObject **obj, const char **why)
{
    JsonParser *p = json_parser_new();
    JsonNode *root;

    if (len == 0)
        body = "{}", len = 2;
    if (!g_utf8_validate(body, (gssize)len, NULL)) {
        *why = "the body is not UTF-8";
    } else if (has_nul_escape(body, len)) {
        *why = "the body holds a NUL character (\\u0000)";
    } else if (!json_parser_load_from_data(p, body, (gssize)len, NULL)) {
        *why = "the body is not valid JSON";
    } else if ((root = json_parser_get_root(p)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        *why = "the body must be a JSON object";
    } else {
        *obj = json_node_get_object(root);
        return p;
    }
    g_object_unref(p);
    return NULL;
}

const char *web_json_get_str(JsonObject *o, const char *name, int *bad)
{
    JsonNode *n = json_object_get_member(o, name);

    if (n == NULL || JSON_NODE_HOLDS_NULL(n))
        return NULL;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        *bad = 1;
        return NULL;
    }
    return json_node_get_string(n);
}

int web_path_match(const char *pattern, char *const *segs, const char *args[2])
{
    gchar **pat = g_strsplit(pattern, "/", -1);
    size_t i, nargs = 0;
    int ok = 1;

    for (i = 0; pat[i] && ok; i++) {
        if (segs[i] == NULL)
            ok = 0;
        else if (strcmp(pat[i], "*") == 0 && *segs[i] != '\0' && nargs < 2)
            args[nargs++] = segs[i];
        else if (strcmp(pat[i], segs[i]) != 0)
            ok = 0;
    }
    if (ok && segs[i] != NULL)
        ok = 0;
    g_strfreev(pat);
    return ok;
}

int web_listen_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
                     const char **why)
{
    char host[64];
    const char *port, *colon;
    unsigned p;

    memset(ss, 0, sizeof(*ss));
    *why = "expected ADDRESS:PORT or [IPv6]:PORT with a numeric address";
    if (spec == NULL)
        return -1;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
            return -1;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL || (size_t)(colon - spec) >= sizeof(host) || strchr(spec, ':') != colon)
            return -1;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    if (web_parse_uint(port, 65535, &p) < 0 || p == 0) {
        *why = "the port must be 1-65535";
        return -1;
    }
    if (spec[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return -1;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        *len = sizeof(*a4);
    }
    return 0;
}

int web_addr_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
        return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

int web_addr_valid(const char *addr)
{
    const char *at;
    size_t n;

    if (addr == NULL || (n = strlen(addr)) == 0 || n > 254)
        return 0;
    for (const char *p = addr; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f || strchr(",;<>()[]\"\\", *p))
            return 0;
    at = strrchr(addr, '@');
    return at != NULL && at != addr && at[1] != '\0';
}

void web_json_add_str(JsonBuilder *b, const char *s)
{
    gchar *valid;

    if (g_utf8_validate(s, -1, NULL)) {
        json_builder_add_string_value(b, s);
        return;
    }
    valid = g_utf8_make_valid(s, -1);
    json_builder_add_string_value(b, valid);
    g_free(valid);
}

void web_json_str(JsonBuilder *b, const char *name, const char *s)
{
    json_builder_set_member_name(b, name);
    if (s)
        web_json_add_str(b, s);
    else
        json_builder_add_null_value(b);
}

void web_json_int(JsonBuilder *b, const char *name, int64_t v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

void web_json_time(JsonBuilder *b, const char *name, int64_t t)
{
    char iso[32];
    char *iso_name = g_strconcat(name, "_iso", NULL);

    web_iso_time(t, iso);
    json_builder_set_member_name(b, name);
    if (t)
        json_builder_add_int_value(b, t);
    else
        json_builder_add_null_value(b);
    web_json_str(b, iso_name, t ? iso : NULL);
    g_free(iso_name);
}
