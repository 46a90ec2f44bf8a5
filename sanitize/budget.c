/*
 * sanitize/budget.c - the nesting, part and byte limits of one input, shared by
 * every message, multipart, attached message, archive and member inside it.
 *
 * Used by the engine in trusted processes. A container never starts its own
 * count: a zip holding a message holding a zip is three levels of one input,
 * and a message attached as a file counts its parts against the same total
 * as the message it is attached to, and archives inside archives count the
 * bytes their members expand to against one total. It must never let a
 * level, a part or a byte through once its limit is reached.
 */
#include <glib.h>

#include "san_int.h"

/* The most parts and members one input may hold, all levels together. */
static unsigned parts_max(const conf *c)
{
    return MAX(c->mail_max_parts, c->archive_max_entries);
}

int san_budget_enter(san_budget *b, const conf *c, int archive, char *why, size_t len)
{
    if (b->depth >= c->mail_max_depth) {
        b->too_deep++;
        g_snprintf(why, len, "nested too deeply (limit %u levels)", c->mail_max_depth);
        return -1;
    }
    if (archive && b->archives >= c->archive_max_depth) {
        b->archives_deep++;
        g_snprintf(why, len, "archives nested too deeply (limit %u levels)", c->archive_max_depth);
        return -1;
    }
    b->depth++;
    b->archives += archive ? 1 : 0;
    return 0;
}

void san_budget_leave(san_budget *b, int archive)
{
    if (b->depth > 0)
        b->depth--;
    if (archive && b->archives > 0)
        b->archives--;
}

int san_budget_part(san_budget *b, const conf *c, char *why, size_t len)
{
    if (b->parts >= parts_max(c)) {
        b->too_many++;
        g_snprintf(why, len, "too many parts and members in all (limit %u)", parts_max(c));
        return -1;
    }
    b->parts++;
    return 0;
}

unsigned san_budget_parts_max(const conf *c)
{
    return parts_max(c);
}

int san_budget_expand(san_budget *b, const conf *c, uint64_t n, char *why, size_t len)
{
    uint64_t max = (uint64_t)c->archive_max_total_mb * 1024 * 1024;

    b->expanded = n > UINT64_MAX - b->expanded ? UINT64_MAX : b->expanded + n;
    if (b->expanded > max) {
        g_snprintf(why, len, "members expand to more than %zu MiB in all", c->archive_max_total_mb);
        return -1;
    }
    return 0;
}
