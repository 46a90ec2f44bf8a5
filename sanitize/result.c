/*
 * sanitize/result.c - the per-input result record: names, setting and freeing.
 *
 * Used by every part of the engine, in trusted processes only.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "quar.h"
#include "san.h"
#include "san_int.h"

const char *san_verdict_name(san_verdict v)
{
    static const char *const names[] = {"sanitized", "blocked", "held", "failed"};

    return (unsigned)v < G_N_ELEMENTS(names) ? names[v] : "failed";
}

void san_result_clear(san_result *r)
{
    for (size_t i = 0; i < r->nmembers; i++) {
        g_free(r->members[i].name);
        g_free(r->members[i].output_name);
        san_result_clear(&r->members[i].r);
    }
    g_free(r->members);
    for (size_t i = 0; i < r->nsheets; i++) {
        g_free(r->sheets[i].name);
        g_free(r->sheets[i].output_path);
        if (r->sheets[i].fd >= 0)
            close(r->sheets[i].fd);
    }
    g_free(r->sheets);
    quar_msg_free(r->mail);
    g_free(r->reason);
    g_free(r->kind);
    g_free(r->detected_type);
    g_free(r->declared_ext);
    g_free(r->signature);
    g_free(r->output_path);
    memset(r, 0, sizeof(*r));
}

char *san_sheet_file_name(const char *stem, const san_sheet *s)
{
    return g_strdup_printf("%s-%s%s.csv", stem, s->name, s->hidden ? " (hidden)" : "");
}

/* Set the verdict, kind (unless NULL) and reason of r. */
void san_result_set(san_result *r, san_verdict v, const char *kind, const char *fmt, ...)
{
    va_list ap;

    r->verdict = v;
    if (kind) {
        g_free(r->kind);
        r->kind = g_strdup(kind);
    }
    g_free(r->reason);
    va_start(ap, fmt);
    r->reason = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}
