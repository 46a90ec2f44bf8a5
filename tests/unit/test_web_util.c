/*
 * tests/unit/test_web_util.c - table-driven tests of mugai-web's pure helpers
 * (web/util.c): the Origin rule, tokens and their comparison, JSON bodies,
 * route patterns, times, the listen address and release addresses.
 *
 * Run by CTest as an ordinary user; no files, no network. One row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "web.h"

#define TOK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* One Origin check: header, Host, TLS, accepted. */
typedef struct origin_case {
    const char *origin, *host;
    int tls, want;
} origin_case;

static const origin_case origin_cases[] = {
    {"http://127.0.0.1:8443", "127.0.0.1:8443", 0, 1},
    {"https://console.city.example.lg.jp", "console.city.example.lg.jp", 1, 1},
    {"https://Console.City.Example.lg.jp", "console.city.example.lg.jp", 1, 1},
    {"http://console.example", "console.example", 1, 0},  /* scheme downgraded */
    {"https://console.example", "console.example", 0, 1}, /* through a local TLS proxy */
    {"ftp://console.example", "console.example", 0, 0},
    {"http://evil.example", "127.0.0.1:8443", 0, 0},
    {"http://127.0.0.1:8444", "127.0.0.1:8443", 0, 0}, /* another port */
    {"http://127.0.0.1:8443.evil.example", "127.0.0.1:8443", 0, 0},
    {"http://127.0.0.1:8443/", "127.0.0.1:8443", 0, 0},
    {"null", "127.0.0.1:8443", 0, 0},
    {"http://127.0.0.1:8443", NULL, 0, 0}, /* no Host */
    {"http://", "", 0, 0},
    {NULL, "127.0.0.1:8443", 0, 0},
};

/* The Origin header must name exactly the console that serves it. */
static void test_origin(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(origin_cases); i++) {
        const origin_case *c = &origin_cases[i];
        if (web_origin_ok(c->origin, c->host, c->tls) != c->want)
            fail_msg("origin %s host %s tls %d: want %d", c->origin ? c->origin : "(null)",
                     c->host ? c->host : "(null)", c->tls, c->want);
    }
}

/* Tokens: exactly 64 lower-case hex digits; comparison equal only when equal. */
static void test_tokens(void **state)
{
    static const struct {
        const char *s;
        int valid;
    } cases[] = {
        {TOK, 1},     {"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 0},
        {TOK "0", 0}, {"0123456789abcdef", 0},
        {"", 0},      {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", 0},
        {NULL, 0},
    };
    char a[65], b[65];

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
        assert_int_equal(web_token_valid(cases[i].s), cases[i].valid);
    assert_int_equal(web_random_hex(a), 0);
    assert_int_equal(web_random_hex(b), 0);
    assert_true(web_token_valid(a));
    assert_string_not_equal(a, b);
    assert_true(web_ct_equal(TOK, TOK));
    assert_false(web_ct_equal(TOK, a));
    assert_false(web_ct_equal(TOK, TOK "x"));
    assert_false(web_ct_equal(TOK, ""));
    assert_false(web_ct_equal("", TOK));
    assert_true(web_ct_equal("", ""));
    assert_false(web_ct_equal(NULL, TOK));
    assert_false(web_ct_equal(TOK, NULL));
}

/* One body: text, accepted, a string member to find and its value. */
typedef struct body_case {
    const char *body;
    int ok;
    const char *member, *want; /* want NULL: absent; "!": present but not a string */
} body_case;

static const body_case body_cases[] = {
    {"", 1, "reason", NULL},
    {"{}", 1, "reason", NULL},
    {"{\"reason\":\"spam \\u0041\"}", 1, "reason", "spam A"},
    {"{\"reason\":null}", 1, "reason", NULL},
    {"{\"reason\":5}", 1, "reason", "!"},
    {"{\"reason\":[\"a\"]}", 1, "reason", "!"},
    {"{\"reason\":{\"a\":1}}", 1, "reason", "!"},
    {"[\"reason\"]", 0, NULL, NULL},
    {"\"reason\"", 0, NULL, NULL},
    {"42", 0, NULL, NULL},
    {"null", 0, NULL, NULL},
    {"{\"reason\":", 0, NULL, NULL},
    {"reason=x", 0, NULL, NULL},
    {"{\"reason\":\"\xff\"}", 0, NULL, NULL},
    {"{\"reason\":\"a\\u0000b\"}", 0, NULL, NULL},
    {"{\"user\":\"alice\\u0000x\",\"reason\":\"r\"}", 0, NULL, NULL},
    {"{\"reason\":\"a\\\\u0000b\"}", 1, "reason", "a\\u0000b"},
    {"{\"reason\":\"a\\u0001b\"}", 1, "reason", "a\001b"},
};

/* A body is a JSON object (empty: {}); members are read by type. */
static void test_json_body(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(body_cases); i++) {
        const body_case *c = &body_cases[i];
        JsonObject *o = NULL;
        const char *why = NULL;
        JsonParser *p = web_json_body(c->body, strlen(c->body), &o, &why);
        int bad = 0;
        const char *v;

        if ((p != NULL) != c->ok)
            fail_msg("body %s: want %s", c->body, c->ok ? "accepted" : "refused");
        if (p == NULL) {
            assert_non_null(why);
            continue;
        }
        v = web_json_get_str(o, c->member, &bad);
        if (c->want != NULL && strcmp(c->want, "!") == 0)
            assert_true(bad);
        else if (c->want == NULL)
            assert_true(!bad && v == NULL);
        else
            assert_string_equal(v, c->want);
        g_object_unref(p);
    }
}

/* One route pattern against a path: matches, and the captured segments. */
typedef struct path_case {
    const char *pattern, *path;
    int want;
    const char *a0, *a1;
} path_case;

static const path_case path_cases[] = {
    {"messages", "messages", 1, NULL, NULL},
    {"messages", "messages/", 0, NULL, NULL},
    {"messages/*", "messages/Q-20261129-ABCDEF", 1, "Q-20261129-ABCDEF", NULL},
    {"messages/*", "messages/", 0, NULL, NULL},
    {"messages/*", "messages", 0, NULL, NULL},
    {"messages/*", "messages/a/requests", 0, NULL, NULL},
    {"messages/*/requests", "messages/a/requests", 1, "a", NULL},
    {"requests/*/approve", "requests/12/approve", 1, "12", NULL},
    {"requests/*/approve", "requests/12/deny", 0, NULL, NULL},
    {"audit/verify", "audit/verify", 1, NULL, NULL},
    {"audit", "audit/verify", 0, NULL, NULL},
    {"users/*", "users/alice", 1, "alice", NULL},
    {"a/*/b/*", "a/1/b/2", 1, "1", "2"},
};

/* Route patterns match whole paths, '*' one non-empty segment. */
static void test_path_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(path_cases); i++) {
        const path_case *c = &path_cases[i];
        gchar **segs = g_strsplit(c->path, "/", -1);
        const char *args[2] = {NULL, NULL};
        int got = web_path_match(c->pattern, segs, args);

        if (got != c->want)
            fail_msg("pattern %s path %s: want %d", c->pattern, c->path, c->want);
        if (got && c->a0)
            assert_string_equal(args[0], c->a0);
        if (got && c->a1)
            assert_string_equal(args[1], c->a1);
        g_strfreev(segs);
    }
}

/* Times: dates (UTC, until a day's end) and unix seconds; ISO output. */
static void test_times(void **state)
{
    static const struct {
        const char *s;
        int end, ok;
        int64_t want;
    } cases[] = {
        {"2026-11-29", 0, 1, 1795910400},
        {"2026-11-29", 1, 1, 1795910400 + 86399},
        {"1795929062", 0, 1, 1795929062},
        {"0", 0, 1, 0},
        {"2026-13-01", 0, 0, 0},
        {"2026-11-29x", 0, 0, 0},
        {"29/11/2026", 0, 0, 0},
        {"-5", 0, 0, 0},
        {"", 0, 0, 0},
        {"12345678901234", 0, 0, 0},
    };
    char iso[32];

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        int64_t t = -1;
        int rc = web_parse_time(cases[i].s, cases[i].end, &t);
        if ((rc == 0) != cases[i].ok)
            fail_msg("time %s: want %s", cases[i].s, cases[i].ok ? "accepted" : "refused");
        if (rc == 0)
            assert_int_equal(t, cases[i].want);
    }
    web_iso_time(1795929062, iso);
    assert_string_equal(iso, "2026-11-29T05:11:02Z");
}

/* One listen address: accepted, loopback. */
typedef struct listen_case {
    const char *spec;
    int ok, loopback;
} listen_case;

static const listen_case listen_cases[] = {
    {"127.0.0.1:8443", 1, 1},
    {"127.1.2.3:80", 1, 1},
    {"[::1]:8443", 1, 1},
    {"0.0.0.0:8443", 1, 0},
    {"192.0.2.10:443", 1, 0},
    {"[::]:8443", 1, 0},
    {"[2001:db8::1]:443", 1, 0},
    {"[::ffff:127.0.0.1]:1", 1, 1},
    {"127.0.0.1", 0, 0},
    {"127.0.0.1:0", 0, 0},
    {"127.0.0.1:65536", 0, 0},
    {"localhost:8443", 0, 0},
    {"::1:8443", 0, 0},
    {"[::1]8443", 0, 0},
    {"[::1:8443", 0, 0},
    {"127.0.0.1:84x", 0, 0},
    {"", 0, 0},
};

/* [web] listen: numeric ADDRESS:PORT or [IPv6]:PORT; what counts as loopback. */
static void test_listen(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(listen_cases); i++) {
        const listen_case *c = &listen_cases[i];
        struct sockaddr_storage ss;
        socklen_t len;
        const char *why;
        int rc = web_listen_parse(c->spec, &ss, &len, &why);

        if ((rc == 0) != c->ok)
            fail_msg("listen %s: want %s", c->spec, c->ok ? "accepted" : "refused");
        if (rc == 0 && web_addr_loopback(&ss) != c->loopback)
            fail_msg("listen %s: loopback want %d", c->spec, c->loopback);
    }
}

/* Release addresses: one plain address each, nothing that could add a recipient. */
static void test_addresses(void **state)
{
    static const struct {
        const char *a;
        int ok;
    } cases[] = {
        {"somu@city.example.lg.jp", 1},
        {"a@b", 1},
        {"a,b@c", 0},
        {"a@b,c@d", 0},
        {"a b@c", 0},
        {"a@b\r\n", 0},
        {"<a@b>", 0},
        {"@b", 0},
        {"a@", 0},
        {"ab", 0},
        {"", 0},
        {NULL, 0},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
        if (web_addr_valid(cases[i].a) != cases[i].ok)
            fail_msg("address %s: want %d", cases[i].a ? cases[i].a : "(null)", cases[i].ok);
}

/* Role names. */
static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(web_role_parse("admin"), WEB_ROLE_ADMIN);
    assert_int_equal(web_role_parse("reviewer"), WEB_ROLE_REVIEWER);
    assert_int_equal(web_role_parse("auditor"), WEB_ROLE_AUDITOR);
    assert_int_equal(web_role_parse("Admin"), WEB_ROLE_NONE);
    assert_int_equal(web_role_parse(""), WEB_ROLE_NONE);
    assert_int_equal(web_role_parse(NULL), WEB_ROLE_NONE);
    assert_true(WEB_ROLE_AUDITOR < WEB_ROLE_REVIEWER && WEB_ROLE_REVIEWER < WEB_ROLE_ADMIN);
}

/* Run the tables. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin),    cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_json_body), cmocka_unit_test(test_path_match),
        cmocka_unit_test(test_times),     cmocka_unit_test(test_listen),
        cmocka_unit_test(test_addresses), cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
