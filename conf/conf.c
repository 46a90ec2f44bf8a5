/*
 * conf/conf.c - load mugai.conf (GKeyFile INI) over the table's defaults.
 *
 * Runs in trusted processes at start-up and on reload. Rejects unknown
 * groups and keys, out-of-range values and relative paths of programs the
 * jail runs with the file, line and key, so that a typo never silently falls
 * back to a default and nothing fails only once the first message arrives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "conf.h"
#include "conf_int.h"

#ifndef MUGAI_LIBEXECDIR
#define MUGAI_LIBEXECDIR "/usr/local/libexec/mugai"
#endif

/* Address of a parameter's field inside c. */
static void *field(conf *c, const conf_param *p)
{
    return (char *)c + p->offset;
}

/* Parse a boolean as written by people: true/false, yes/no, on/off, 1/0. */
static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (g_ascii_strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* Non-zero when v is one of the '|'-separated choices. */
static int in_choices(const char *choices, const char *v)
{
    gchar **list = g_strsplit(choices, "|", -1);
    int found = g_strv_contains((const gchar *const *)list, v);

    g_strfreev(list);
    return found;
}

/* Store value v for parameter p; on a bad value return a reason in why (or static text). */
static const char *set_value(conf *c, const conf_param *p, const char *v, char *why, size_t len)
{
    guint64 n;
    int b;

    switch (p->type) {
    case CONF_STRING:
        if (p->choices && !in_choices(p->choices, v))
            return g_snprintf(why, len, "\"%s\" is not one of %s", v, p->choices) > 0
                       ? why
                       : "not an allowed value";
        g_free(*(char **)field(c, p));
        *(char **)field(c, p) = g_strdup(v);
        return NULL;
    case CONF_PATH:
        if (v[0] != '/' && !(p->choices && in_choices(p->choices, v)))
            return g_snprintf(why, len,
                              "\"%s\" is not an absolute path (the jail runs it from its private "
                              "directory)%s%s",
                              v, p->choices ? "; or one of " : "", p->choices ? p->choices : "") > 0
                       ? why
                       : "not an absolute path";
        g_free(*(char **)field(c, p));
        *(char **)field(c, p) = g_strdup(v);
        return NULL;
    case CONF_UINT:
    case CONF_SIZE:
        if (!g_ascii_string_to_unsigned(v, 10, p->min, p->max, &n, NULL))
            return g_snprintf(why, len, "\"%s\" is not a whole number from %lu to %lu", v, p->min,
                              p->max) > 0
                       ? why
                       : "not a whole number in range";
        if (p->type == CONF_UINT)
            *(unsigned *)field(c, p) = (unsigned)n;
        else
            *(size_t *)field(c, p) = (size_t)n;
        return NULL;
    case CONF_BOOL:
        if (parse_bool(v, &b) < 0)
            return g_snprintf(why, len, "\"%s\" is not true or false", v) > 0 ? why
                                                                              : "not a boolean";
        *(int *)field(c, p) = b;
        return NULL;
    }
    return "unknown parameter type";
}

/* The table entry for group.key, or NULL. */
static const conf_param *lookup(const char *group, const char *key)
{
    for (size_t i = 0; i < conf_nparams; i++)
        if (strcmp(conf_params[i].group, group) == 0 && strcmp(conf_params[i].key, key) == 0)
            return &conf_params[i];
    return NULL;
}

/* Non-zero when the table has parameters in this group. */
static int known_group(const char *group)
{
    for (size_t i = 0; i < conf_nparams; i++)
        if (strcmp(conf_params[i].group, group) == 0)
            return 1;
    return 0;
}

conf *conf_new_defaults(void)
{
    conf *c = g_new0(conf, 1);

    char why[160];

    for (size_t i = 0; i < conf_nparams; i++)
        if (set_value(c, &conf_params[i], conf_params[i].def, why, sizeof(why)) != NULL)
            g_error("conf: default of %s.%s is invalid", conf_params[i].group, conf_params[i].key);
    return c;
}

void conf_free(conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < conf_nparams; i++)
        if (conf_params[i].type == CONF_STRING || conf_params[i].type == CONF_PATH)
            g_free(*(char **)field(c, &conf_params[i]));
    g_free(c);
}

/* Line number of "key =" inside [group] in the file's text, or 0 when not found. */
static unsigned find_line(const char *text, const char *group, const char *key)
{
    gchar **lines = g_strsplit(text ? text : "", "\n", -1);
    int in_group = group == NULL;
    unsigned found = 0;

    for (unsigned i = 0; lines[i] && !found; i++) {
        const char *l = lines[i] + strspn(lines[i], " \t");
        size_t klen = key ? strlen(key) : 0;
        if (*l == '[') {
            in_group =
                group && strncmp(l + 1, group, strlen(group)) == 0 && l[1 + strlen(group)] == ']';
            if (!key && in_group)
                found = i + 1;
        } else if (key && in_group && strncmp(l, key, klen) == 0 &&
                   strchr(" \t=", l[klen]) != NULL) {
            found = i + 1;
        }
    }
    g_strfreev(lines);
    return found;
}

/* Format an error naming the file, the line (when known) and the key. */
static char *conf_err(const char *path, const char *text, const char *group, const char *key,
                      const char *why)
{
    unsigned line = find_line(text, group, key);
    GString *s = g_string_new(path);

    if (line)
        g_string_append_printf(s, ":%u", line);
    if (key)
        g_string_append_printf(s, ": [%s] %s: %s", group, key, why);
    else
        g_string_append_printf(s, ": [%s]: %s", group, why);
    char *msg = strdup(s->str);

    g_string_free(s, TRUE);
    return msg;
}

/* Apply every key of the loaded file to c; returns an error message or NULL. */
static char *apply_file(conf *c, GKeyFile *kf, const char *path, const char *text)
{
    gchar **groups = g_key_file_get_groups(kf, NULL);
    char *err = NULL;

    for (size_t g = 0; groups[g] && !err; g++) {
        gchar **keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
        if (!known_group(groups[g]))
            err = conf_err(path, text, groups[g], NULL, "unknown section");
        for (size_t k = 0; keys[k] && !err; k++) {
            const conf_param *p = lookup(groups[g], keys[k]);
            gchar *v = g_key_file_get_value(kf, groups[g], keys[k], NULL);
            const char *why;
            char buf[256];
            if (!p)
                err = conf_err(path, text, groups[g], keys[k], "unknown key");
            else if ((why = set_value(c, p, g_strstrip(v), buf, sizeof(buf))) != NULL)
                err = conf_err(path, text, groups[g], keys[k], why);
            g_free(v);
        }
        g_strfreev(keys);
    }
    g_strfreev(groups);
    return err;
}

/* Check [web]: listen is ADDRESS:PORT or [IPv6]:PORT (numeric), tls_cert and tls_key both set or
 * both empty, and without them a loopback address. Returns an error message or NULL. */
static char *check_web(const conf *c, const char *path, const char *text)
{
    const char *l = c->web_listen, *port;
    char host[64];
    unsigned char addr[16];
    int v6 = l[0] == '[', ok, cert = *c->web_tls_cert != '\0', key = *c->web_tls_key != '\0';
    size_t n;

    port = v6 ? strstr(l, "]:") : strrchr(l, ':');
    n = port ? (size_t)(port - l) - (v6 ? 1 : 0) : 0;
    ok = port != NULL && n > 0 && n < sizeof(host) && (v6 || strchr(l, ':') == port);
    if (ok) {
        memcpy(host, l + (v6 ? 1 : 0), n);
        host[n] = '\0';
        port += v6 ? 2 : 1;
        ok = inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) == 1 && *port != '\0' &&
             strspn(port, "0123456789") == strlen(port) && strlen(port) <= 5 && atoi(port) >= 1 &&
             atoi(port) <= 65535;
    }
    if (!ok)
        return conf_err(path, text, "web", "listen",
                        "expected ADDRESS:PORT or [IPv6]:PORT with a numeric address and a port "
                        "1-65535");
    if (cert != key)
        return conf_err(path, text, "web", cert ? "tls_key" : "tls_cert",
                        "tls_cert and tls_key must both be set (HTTPS) or both be empty");
    if (!cert &&
        !(v6 ? memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0 : addr[0] == 127)) {
        gchar *why = g_strdup_printf("%s is not a loopback address: without tls_cert and tls_key "
                                     "the console serves plain HTTP on loopback only",
                                     l);
        char *err = conf_err(path, text, "web", "listen", why);
        g_free(why);
        return err;
    }
    return NULL;
}

/* One network "ADDR" or "ADDR/BITS" into addr[16], its family's length in *len and its prefix
 * bits in *bits. 0, or -1 when it does not parse. */
static int net_parse(const char *text, unsigned char addr[16], size_t *len, unsigned *bits)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    int v6;

    if (n == 0 || n >= sizeof(host))
        return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    v6 = strchr(host, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1)
        return -1;
    *len = v6 ? 16 : 4;
    *bits = (unsigned)*len * 8;
    if (slash) {
        char *end;
        unsigned long b;
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        b = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || b > *bits)
            return -1;
        *bits = (unsigned)b;
    }
    return 0;
}

/* Split list at commas into trimmed, non-empty networks. Caller g_strfreev()s. */
static char **net_list(const char *list)
{
    char **v = g_strsplit(list ? list : "", ",", -1);
    size_t k = 0;

    for (size_t i = 0; v[i]; i++) {
        g_strstrip(v[i]);
        if (*v[i])
            v[k++] = v[i];
        else
            g_free(v[i]);
    }
    v[k] = NULL;
    return v;
}

/* See conf.h. An IPv4-mapped IPv6 client (::ffff:a.b.c.d) is compared as IPv4. */
int conf_addr_in(const char *list, const char *addr)
{
    unsigned char a[16], n[16];
    size_t alen, nlen;
    unsigned abits, nbits;
    char **nets;
    int in = 0;

    if (!addr || strchr(addr, '/') || net_parse(addr, a, &alen, &abits) < 0)
        return 0;
    if (alen == 16 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
        memmove(a, a + 12, 4);
        alen = 4;
    }
    nets = net_list(list);
    for (size_t i = 0; nets[i] && !in; i++) {
        if (net_parse(nets[i], n, &nlen, &nbits) < 0 || nlen != alen)
            continue;
        in = memcmp(a, n, nbits / 8) == 0 &&
             (nbits % 8 == 0 || ((a[nbits / 8] ^ n[nbits / 8]) & (0xff00u >> (nbits % 8))) == 0);
    }
    g_strfreev(nets);
    return in;
}

/* Check [ppap]: every trusted network parses, and submit_address is empty or one plain
 * address (local@domain, no spaces, angle brackets or control characters). */
static char *check_ppap(const conf *c, const char *path, const char *text)
{
    char **nets = net_list(c->ppap_trusted_networks);
    const char *a = c->ppap_submit_address, *at = strchr(a, '@');
    char *err = NULL;

    for (size_t i = 0; nets[i] && !err; i++) {
        unsigned char n[16];
        size_t len;
        unsigned bits;
        if (net_parse(nets[i], n, &len, &bits) < 0) {
            gchar *why =
                g_strdup_printf("\"%s\" is not a network (ADDRESS or ADDRESS/BITS)", nets[i]);
            err = conf_err(path, text, "ppap", "trusted_networks", why);
            g_free(why);
        }
    }
    g_strfreev(nets);
    if (!err && *a &&
        (!at || at == a || !at[1] || strchr(at + 1, '@') || strlen(a) > 254 ||
         strpbrk(a, " \t<>,;\"\\()[]") != NULL || g_utf8_validate(a, -1, NULL) == FALSE))
        err = conf_err(path, text, "ppap", "submit_address",
                       "expected one plain address, local@domain");
    for (const char *p = a; !err && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            err = conf_err(path, text, "ppap", "submit_address", "control character");
    return err;
}

/* Resolve render_path "auto": beside the build tree's program, else the install location. */
static void resolve_render_path(conf *c)
{
    char exe[PATH_MAX];
    ssize_t n;

    if (strcmp(c->render_path, "auto") != 0)
        return;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        gchar *dir = g_path_get_dirname(exe);
        gchar *cand = g_build_filename(dir, "..", "render", "mugai-render", NULL);
        g_free(dir);
        if (access(cand, X_OK) == 0) {
            g_free(c->render_path);
            c->render_path = cand;
            return;
        }
        g_free(cand);
    }
    g_free(c->render_path);
    c->render_path = g_strdup(MUGAI_LIBEXECDIR "/mugai-render");
}

conf *conf_load(const char *path, char **err)
{
    conf *c = conf_new_defaults();
    GKeyFile *kf;
    GError *gerr = NULL;
    gchar *text = NULL;

    *err = NULL;
    if (!path) {
        if (access(CONF_DEFAULT_PATH, F_OK) != 0 && errno == ENOENT) {
            resolve_render_path(c);
            return c;
        }
        path = CONF_DEFAULT_PATH;
    }
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        *err = g_strdup_printf("%s: cannot read configuration: %s", path, gerr->message);
    } else {
        kf = g_key_file_new();
        if (!g_key_file_load_from_data(kf, text, (gsize)-1, G_KEY_FILE_NONE, &gerr))
            *err = g_strdup_printf("%s: %s", path, gerr->message);
        else if ((*err = apply_file(c, kf, path, text)) == NULL &&
                 (*err = check_web(c, path, text)) == NULL)
            *err = check_ppap(c, path, text);
        g_key_file_free(kf);
    }
    g_clear_error(&gerr);
    g_free(text);
    if (*err) {
        char *copy = strdup(*err);
        g_free(*err);
        *err = copy;
        conf_free(c);
        return NULL;
    }
    resolve_render_path(c);
    return c;
}

/* Describe the allowed values of p in a short parenthesis, into buf. */
static const char *describe_range(const conf_param *p, char *buf, size_t len)
{
    switch (p->type) {
    case CONF_UINT:
    case CONF_SIZE:
        g_snprintf(buf, len, "%lu..%lu", p->min, p->max);
        return buf;
    case CONF_BOOL:
        return "true or false";
    case CONF_STRING:
        return p->choices ? p->choices : "text";
    case CONF_PATH:
        if (p->choices)
            g_snprintf(buf, len, "absolute path or %s", p->choices);
        return p->choices ? buf : "absolute path";
    }
    return "";
}

/* Write text as "# " comment lines of at most SAMPLE_WIDTH columns, broken at spaces. */
#define SAMPLE_WIDTH 78
static void write_comment(FILE *out, const char *text)
{
    const size_t max = SAMPLE_WIDTH - 2;

    while (*text != '\0') {
        size_t cut = strlen(text);

        if (cut > max) {
            for (cut = max; cut > 0 && text[cut] != ' '; cut--)
                ;
            if (cut == 0) /* one word longer than a line */
                cut = strcspn(text, " ");
        }
        fprintf(out, "# %.*s\n", (int)cut, text);
        text += cut;
        while (*text == ' ')
            text++;
    }
}

int conf_write_sample(FILE *out)
{
    const char *group = NULL;
    char range[64];

    fprintf(out, "# mugai.conf - configuration of the mugai sanitization gateway.\n"
                 "# Generated from the parameter table by `mugai-config --sample`.\n"
                 "# Every line below shows a parameter with its default value; remove the\n"
                 "# leading '#' to change it. Unknown keys are an error.\n");
    for (size_t i = 0; i < conf_nparams; i++) {
        const conf_param *p = &conf_params[i];
        if (!group || strcmp(group, p->group) != 0) {
            group = p->group;
            fprintf(out, "\n[%s]\n", group);
        }
        char *doc = g_strdup_printf("%s (%s)", p->doc, describe_range(p, range, sizeof(range)));

        fputc('\n', out);
        write_comment(out, doc);
        g_free(doc);
        fprintf(out, "#%s = %s\n", p->key, p->def);
    }
    return ferror(out) ? -1 : 0;
}

void conf_print_keys(FILE *out)
{
    char range[64];

    for (size_t i = 0; i < conf_nparams; i++) {
        const conf_param *p = &conf_params[i];
        fprintf(out, "  [%s] %s = %s  (%s)\n      %s\n", p->group, p->key, p->def,
                describe_range(p, range, sizeof(range)), p->doc);
    }
}
