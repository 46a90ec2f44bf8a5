/*
 * sanitize/mailpart.c - one part of a stored original, found by its IMAP part
 * number, written out decoded: for `mugai-quarantine export --part` and for
 * opening a held encrypted attachment.
 *
 * Parses an untrusted original with GMime (as the engine does); writes only the
 * part's decoded content, to a descriptor the caller opened.
 */
#include <stdlib.h>
#include <unistd.h>

#include <glib.h>
#include <gmime/gmime.h>

#include "san.h"

/* The n-th (1-based) IMAP child of o, or NULL. Borrowed from o. */
static GMimeObject *imap_child(GMimeObject *o, unsigned long n)
{
    GMimeMessage *msg = NULL;
    GMimeObject *body;

    if (GMIME_IS_MULTIPART(o))
        return n <= (unsigned long)g_mime_multipart_get_count(GMIME_MULTIPART(o))
                   ? g_mime_multipart_get_part(GMIME_MULTIPART(o), (int)n - 1)
                   : NULL;
    if (GMIME_IS_MESSAGE_PART(o))
        msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
    else if (GMIME_IS_MESSAGE(o))
        msg = GMIME_MESSAGE(o);
    body = msg ? g_mime_message_get_mime_part(msg) : NULL;
    if (!body)
        return NULL;
    if (GMIME_IS_MULTIPART(body))
        return imap_child(body, n);
    return n == 1 ? body : NULL;
}

/* The object at IMAP part path in msg, or NULL when there is none. */
static GMimeObject *find_part(GMimeMessage *msg, const char *path)
{
    char **nums = g_strsplit(path, ".", -1);
    GMimeObject *cur = GMIME_OBJECT(msg);

    for (size_t i = 0; nums[i] && cur; i++) {
        char *end;
        unsigned long n = strtoul(nums[i], &end, 10);
        if (!g_ascii_isdigit(nums[i][0]) || *end || n == 0 || n > 100000)
            cur = NULL;
        else
            cur = imap_child(cur, n);
    }
    g_strfreev(nums);
    return cur == GMIME_OBJECT(msg) ? NULL : cur;
}

/* See san.h. */
int san_part_write(int in, int out, const char *path)
{
    int copy = dup(in);
    GMimeStream *src;
    GMimeParser *parser;
    GMimeMessage *msg;
    GMimeStream *dst;
    GMimeObject *part;
    ssize_t rc = -2;

    if (copy < 0)
        return -1;
    src = g_mime_stream_fs_new(copy);
    parser = g_mime_parser_new_with_stream(src);
    msg = g_mime_parser_construct_message(parser, NULL);
    dst = g_mime_stream_fs_new(out);
    part = msg ? find_part(msg, path) : NULL;

    g_mime_stream_fs_set_owner(GMIME_STREAM_FS(dst), FALSE);
    if (part && GMIME_IS_PART(part) && g_mime_part_get_content(GMIME_PART(part)))
        rc = g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(GMIME_PART(part)), dst);
    else if (part && GMIME_IS_MESSAGE_PART(part))
        rc = g_mime_object_write_to_stream(
            GMIME_OBJECT(g_mime_message_part_get_message(GMIME_MESSAGE_PART(part))), NULL, dst);
    else if (part)
        rc = g_mime_object_write_to_stream(part, NULL, dst);
    if (rc >= 0 && g_mime_stream_flush(dst) < 0)
        rc = -1;
    g_object_unref(dst);
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(src);
    return rc == -2 ? 1 : rc < 0 ? -1 : 0;
}
