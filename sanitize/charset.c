/*
 * sanitize/charset.c - the worker's gate in front of iconv: in a process
 * linked with the engine, only the charsets of the allow-list are converted.
 *
 * Runs in sanitize-file, every pool worker and every other program linked
 * with the san library, in any thread. A charset name chosen by the sender
 * reaches iconv_open not only through mugai's own decoders (render/text.c for
 * headers and plain-text bodies) but inside the libraries that read untrusted
 * bytes here: GMime while it parses a message (encoded words in Subject and
 * address headers, RFC 2231 and RFC 2047 parameters of Content-Type and
 * Content-Disposition), libxml2 and libclamav (encoding declarations of the
 * documents they scan) and libarchive. glibc would load whichever of its
 * gconv modules the name selects.
 *
 * So this file defines iconv_open itself; the dynamic linker binds every
 * library's calls to it (the san target exports it). Each name is mapped to
 * its canonical name (mg_charset_canonical) or matched against the configured
 * [render] charsets, and only then handed to glibc; any other name is refused
 * with EINVAL before a module is looked up. Callers fall back: mugai's
 * decoders through the configured list, the libraries to their defaults.
 * Labels outside the list are converted in the render jail only. It must
 * never pass glibc a name that is not on the list, and never block or
 * allocate in iconv_open.
 */
#include <dlfcn.h>
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "san_int.h"

#define CHARSET_MAX_EXTRA 16 /* configured charsets outside the built-in list */
#define CHARSET_MAX_NAME 40

/* Configured charsets outside the built-in list, upper case. Published whole and never
 * changed or freed once published: other threads may be reading it. */
typedef struct extra_list {
    unsigned n;
    char names[CHARSET_MAX_EXTRA][CHARSET_MAX_NAME + 1];
} extra_list;

typedef iconv_t (*iconv_open_fn)(const char *tocode, const char *fromcode);

static const extra_list *extras;
static iconv_open_fn real_iconv_open;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

/* Look up glibc's iconv_open, the next definition after this one. */
static void real_find(void)
{
    real_iconv_open = (iconv_open_fn)dlsym(RTLD_NEXT, "iconv_open");
}

/* The configured charset called name (compared without case), or NULL. */
static const char *extra_find(const char *name)
{
    const extra_list *l = __atomic_load_n(&extras, __ATOMIC_ACQUIRE);

    for (unsigned i = 0; l && i < l->n; i++)
        if (g_ascii_strcasecmp(l->names[i], name) == 0)
            return l->names[i];
    return NULL;
}

/* Non-zero for an iconv suffix that changes error handling only. */
static int suffix_ok(const char *s)
{
    static const char *const ok[] = {
        "", "//", "//TRANSLIT", "//IGNORE", "//TRANSLIT//IGNORE", "//IGNORE//TRANSLIT"};

    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++)
        if (g_ascii_strcasecmp(s, ok[i]) == 0)
            return 1;
    return 0;
}

/* The name to give glibc for name, written into buf (any suffix kept); NULL when refused. */
static const char *gate_name(const char *name, char *buf, size_t size)
{
    char base[CHARSET_MAX_NAME + 1];
    const char *slash = name ? strchr(name, '/') : NULL;
    size_t n;

    if (!name)
        return NULL;
    n = slash ? (size_t)(slash - name) : strlen(name);
    if (n == 0 || n >= sizeof base || !suffix_ok(slash ? slash : ""))
        return NULL;
    memcpy(base, name, n);
    base[n] = '\0';
    const char *canon = mg_charset_canonical(base);
    if (!canon)
        canon = extra_find(base);
    if (!canon || mg_snprintf(buf, size, "%s%s", canon, slash ? slash : "") < 0)
        return NULL;
    return buf;
}

/* iconv_open for every caller in this process: both names through the allow-list. */
iconv_t iconv_open(const char *tocode, const char *fromcode)
{
    char to[CHARSET_MAX_NAME + 32], from[CHARSET_MAX_NAME + 32];
    const char *t = gate_name(tocode, to, sizeof to);
    const char *f = gate_name(fromcode, from, sizeof from);

    pthread_once(&real_once, real_find);
    if (!t || !f || !real_iconv_open) {
        errno = EINVAL;
        return (iconv_t)-1;
    }
    return real_iconv_open(t, f);
}

/* Non-zero when name may join the list: a charset label of ordinary characters. */
static int extra_ok(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n <= CHARSET_MAX_NAME &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") == n;
}

/* Non-zero when l already holds name. */
static int extra_has(const extra_list *l, const char *name)
{
    for (unsigned i = 0; i < l->n; i++)
        if (g_ascii_strcasecmp(l->names[i], name) == 0)
            return 1;
    return 0;
}

/* Add one configured name to l unless it is built in, held already, odd or one too many. */
static void extra_add(extra_list *l, const char *name)
{
    if (!*name || mg_charset_canonical(name) || extra_has(l, name))
        return;
    if (!extra_ok(name) || l->n >= CHARSET_MAX_EXTRA) {
        mg_warn("[render] charsets: %s is not converted outside the jail", name);
        return;
    }
    for (size_t k = 0; name[k]; k++)
        l->names[l->n][k] = g_ascii_toupper(name[k]);
    l->n++;
}

/* Build the list of configured extras and publish it when it changed. */
void charset_allow_config(const char *list)
{
    static const extra_list none;
    extra_list *l = g_new0(extra_list, 1);
    gchar **names = g_strsplit(list ? list : "", ",", -1);

    for (size_t i = 0; names[i]; i++)
        extra_add(l, g_strstrip(names[i]));
    g_strfreev(names);
    const extra_list *old = __atomic_load_n(&extras, __ATOMIC_ACQUIRE);
    if (memcmp(old ? old : &none, l, sizeof *l) == 0) {
        g_free(l);
        return;
    }
    /* The old list stays allocated, since a reader may still hold it: one per reload. */
    __atomic_store_n(&extras, l, __ATOMIC_RELEASE);
}

/* A built-in label or a configured name. */
int charset_allowed(const char *label)
{
    return label && (mg_charset_canonical(label) || extra_find(label));
}
