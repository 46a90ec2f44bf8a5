/*
 * render/html.c - HTML mail bodies and attachments to structured plain text.
 *
 * Runs inside mugai-render, in the render jail, on untrusted bytes: the
 * charset is decoded by text.c, libxml2's forgiving HTML parser builds a tree
 * (no network, no external entities), and an iterative walk with an explicit
 * depth bound writes paragraphs, lists, table rows, link targets and image
 * alt texts. It must never emit anything active: scripts, styles, frames and
 * objects are dropped with their content, javascript:/data: link targets are
 * never written, and the result holds no NUL, no control character other than
 * newline and tab, and no bidirectional override that could disguise a URL.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "mg.h"
#include "rnd.h"

#define HTML_MAX_DEPTH 256 /* deeper elements are emitted as flat text */
#define HTML_SNIFF 4096    /* bytes searched for <meta charset> */
#define HTML_MAX_NEST 64   /* lists, tables and links tracked per kind */
#define HTML_MAX_URL 4096
#define HTML_SCAN_MAX 4096 /* nodes looked at to tell a layout table from a data table */
#define HTML_TRUNCATED "[…]"
#define HTML_LINK_REMOVED "[リンク削除]"

/* What an element does to the text layout. */
typedef enum {
    EL_INLINE,
    EL_SKIP,
    EL_BLOCK,
    EL_HEADING,
    EL_BR,
    EL_HR,
    EL_PRE,
    EL_QUOTE,
    EL_UL,
    EL_OL,
    EL_LI,
    EL_DT,
    EL_DD,
    EL_TABLE,
    EL_TR,
    EL_CELL,
    EL_A,
    EL_IMG,
    EL_INPUT,
    EL_FLAT /* a layout element past the depth bound: a space, nothing more */
} el_kind;

static const struct {
    const char *name;
    el_kind kind;
} el_table[] = {
    {"script", EL_SKIP},
    {"style", EL_SKIP},
    {"head", EL_SKIP},
    {"title", EL_SKIP},
    {"noscript", EL_SKIP},
    {"template", EL_SKIP},
    {"iframe", EL_SKIP},
    {"frame", EL_SKIP},
    {"frameset", EL_SKIP},
    {"object", EL_SKIP},
    {"embed", EL_SKIP},
    {"applet", EL_SKIP},
    {"svg", EL_SKIP},
    {"math", EL_SKIP},
    {"canvas", EL_SKIP},
    {"p", EL_BLOCK},
    {"div", EL_BLOCK},
    {"section", EL_BLOCK},
    {"article", EL_BLOCK},
    {"header", EL_BLOCK},
    {"footer", EL_BLOCK},
    {"address", EL_BLOCK},
    {"figure", EL_BLOCK},
    {"figcaption", EL_BLOCK},
    {"nav", EL_BLOCK},
    {"aside", EL_BLOCK},
    {"main", EL_BLOCK},
    {"form", EL_BLOCK},
    {"fieldset", EL_BLOCK},
    {"legend", EL_BLOCK},
    {"details", EL_BLOCK},
    {"summary", EL_BLOCK},
    {"center", EL_BLOCK},
    {"caption", EL_BLOCK},
    {"dl", EL_BLOCK},
    {"h3", EL_BLOCK},
    {"h4", EL_BLOCK},
    {"h5", EL_BLOCK},
    {"h6", EL_BLOCK},
    {"h1", EL_HEADING},
    {"h2", EL_HEADING},
    {"br", EL_BR},
    {"hr", EL_HR},
    {"pre", EL_PRE},
    {"listing", EL_PRE},
    {"xmp", EL_PRE},
    {"blockquote", EL_QUOTE},
    {"ul", EL_UL},
    {"menu", EL_UL},
    {"dir", EL_UL},
    {"ol", EL_OL},
    {"li", EL_LI},
    {"dt", EL_DT},
    {"dd", EL_DD},
    {"table", EL_TABLE},
    {"tr", EL_TR},
    {"td", EL_CELL},
    {"th", EL_CELL},
    {"a", EL_A},
    {"img", EL_IMG},
    {"input", EL_INPUT},
};

/* The walk's output and layout state. */
typedef struct {
    GString *out;
    int pending_nl;    /* newlines owed before the next text, at most 2 */
    int pending_space; /* collapsed whitespace owed before the next text */
    int no_space;      /* just wrote a line start, marker or separator */
    int marker;        /* a list marker or heading mark awaits its text */
    int pre;           /* inside <pre> */
    int cells;         /* inside a table cell: breaks become spaces */
    int quote;         /* blockquote depth */
    int lists;         /* list nesting; kinds and counters kept up to HTML_MAX_NEST */
    int ordered[HTML_MAX_NEST];
    long counter[HTML_MAX_NEST];
    int tables;
    int row_cells[HTML_MAX_NEST];
    int layout[HTML_MAX_NEST]; /* table used for page layout, not data */
    int links;
    size_t link_start[HTML_MAX_NEST];
} walk;

/* Classify an element by its (lower-case) name. */
static el_kind el_classify(const xmlNode *n)
{
    for (size_t i = 0; i < G_N_ELEMENTS(el_table); i++)
        if (strcmp((const char *)n->name, el_table[i].name) == 0)
            return el_table[i].kind;
    return EL_INLINE;
}

/* An attribute's value (caller xmlFree()s) or NULL. */
static char *el_attr(const xmlNode *n, const char *name)
{
    return (char *)xmlGetProp(n, (const xmlChar *)name);
}

/* Owe a line break of n newlines (1 or 2); forced breaks ignore a pending marker. */
static void w_break(walk *w, int n, int force)
{
    if (w->cells > 0) {
        w->pending_space = 1;
        return;
    }
    if (w->marker && !force)
        return;
    if (w->pending_nl < n)
        w->pending_nl = n;
}

/* Remove spaces and tabs at the end of the output. */
static void w_rstrip(walk *w)
{
    size_t n = w->out->len;

    while (n > 0 && (w->out->str[n - 1] == ' ' || w->out->str[n - 1] == '\t'))
        n--;
    g_string_truncate(w->out, n);
}

/* Write the owed line breaks and, on a fresh line, the blockquote prefix. */
static void w_flush(walk *w)
{
    int have = 0;

    if (w->out->len == 0)
        w->pending_nl = 0;
    if (w->pending_nl > 0)
        w_rstrip(w);
    for (size_t i = w->out->len; i > 0 && w->out->str[i - 1] == '\n' && have < 2; i--)
        have++;
    if (w->pending_nl == 0 && !(w->out->len == 0 && w->quote > 0))
        return;
    for (; have < w->pending_nl; have++)
        g_string_append_c(w->out, '\n');
    w->pending_nl = 0;
    w->pending_space = 0;
    w->no_space = 1;
    for (int i = 0; i < w->quote && i < HTML_MAX_NEST; i++)
        g_string_append(w->out, "> ");
}

/* Write literal text (markers, URLs) after owed breaks and spaces. */
static void w_lit(walk *w, const char *s)
{
    w_flush(w);
    if (w->pending_space && !w->no_space && w->out->len > 0)
        g_string_append_c(w->out, ' ');
    w->pending_space = 0;
    g_string_append(w->out, s);
    w->no_space = 0;
    w->marker = 0;
}

/* Write a marker that the following text joins without a space. */
static void w_marker(walk *w, const char *s)
{
    w_lit(w, s);
    w->no_space = 1;
    w->marker = 1;
}

/* Append one text node, collapsing whitespace as a browser does outside <pre>. */
static void w_text(walk *w, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (w->pre && (*p == '\n' || *p == '\r')) {
            if (*p == '\r' && p[1] == '\n')
                continue;
            w_rstrip(w);
            g_string_append_c(w->out, '\n');
            continue;
        }
        if (!w->pre && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')) {
            w->pending_space = 1;
            continue;
        }
        w_flush(w);
        if (w->pending_space && !w->no_space && w->out->len > 0)
            g_string_append_c(w->out, ' ');
        w->pending_space = 0;
        w->no_space = 0;
        w->marker = 0;
        g_string_append_c(w->out, *p);
    }
}

/* Start a list item: a new line with indentation and the list's marker. */
static void w_list_item(walk *w)
{
    char mark[48];
    int level = w->lists > 0 ? w->lists - 1 : 0;
    int top = w->lists > 0 && w->lists <= HTML_MAX_NEST ? w->lists - 1 : -1;

    w_break(w, 1, 1);
    w_flush(w);
    for (int i = 0; i < level && i < HTML_MAX_NEST; i++)
        g_string_append(w->out, "  ");
    if (top >= 0 && w->ordered[top]) {
        if (mg_snprintf(mark, sizeof mark, "%ld. ", w->counter[top]++) < 0)
            g_strlcpy(mark, "- ", sizeof mark);
    } else {
        g_strlcpy(mark, "・ ", sizeof mark);
    }
    w->no_space = 1;
    w->pending_space = 0;
    w_marker(w, mark);
}

/* Enter a list: remember its kind and first number. */
static void w_list_enter(walk *w, const xmlNode *n, int ordered)
{
    w_break(w, w->lists == 0 ? 2 : 1, 1);
    if (w->lists < HTML_MAX_NEST) {
        char *start = ordered ? el_attr(n, "start") : NULL;
        long v = start ? strtol(start, NULL, 10) : 1;
        w->ordered[w->lists] = ordered;
        w->counter[w->lists] = v >= 0 && v < 1000000000L ? v : 1;
        xmlFree(start);
    }
    w->lists++;
}

/* Non-zero for a URL scheme that must never be written (script or inline data). */
static int url_is_active(const char *href)
{
    static const char *const bad[] = {"javascript:", "data:", "vbscript:"};
    char scheme[16];
    size_t n = 0;

    /* Browsers ignore whitespace and controls inside the scheme. */
    for (const char *p = href; *p && n + 1 < sizeof scheme; p++)
        if ((unsigned char)*p > 0x20 && *p != 0x7F)
            scheme[n++] = g_ascii_tolower(*p);
    scheme[n] = '\0';
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        if (strncmp(scheme, bad[i], strlen(bad[i])) == 0)
            return 1;
    return 0;
}

/* The URL as it will be printed: no whitespace or controls, <> escaped, bounded. */
static GString *url_clean(const char *href)
{
    GString *u = g_string_new(NULL);

    for (const char *p = href; *p && u->len < HTML_MAX_URL; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7F)
            continue;
        if (*p == '<' || *p == '>')
            g_string_append(u, *p == '<' ? "%3C" : "%3E");
        else
            g_string_append_c(u, *p);
    }
    return u;
}

/* End a link: write its target unless the text already shows it. */
static void w_link_leave(walk *w, const xmlNode *n, size_t start)
{
    char *href = el_attr(n, "href");

    if (!href || href[0] == '#' || href[0] == '\0') {
        xmlFree(href);
        return;
    }
    if (url_is_active(href)) {
        w->pending_space = 1;
        w_lit(w, HTML_LINK_REMOVED);
        xmlFree(href);
        return;
    }
    GString *u = url_clean(href);
    xmlFree(href);
    const char *text = start <= w->out->len ? w->out->str + start : "";
    gchar *shown = g_strstrip(g_strdup(text));
    if (shown[0] == '\0' || strcmp(shown, u->str) == 0) {
        if (shown[0] == '\0')
            w_lit(w, u->str);
    } else {
        w->pending_space = 1;
        g_string_prepend_c(u, '<');
        g_string_append_c(u, '>');
        w_lit(w, u->str);
    }
    g_free(shown);
    g_string_free(u, TRUE);
}

/* Write an image as its alt text. */
static void w_image(walk *w, const xmlNode *n)
{
    char *alt = el_attr(n, "alt");
    gchar **words = g_strsplit_set(alt ? alt : "", " \t\r\n\f", -1);
    GString *s = g_string_new("[画像");
    int first = 1;

    for (size_t i = 0; words[i]; i++) {
        if (words[i][0] == '\0')
            continue;
        g_string_append(s, first ? ": " : " ");
        g_string_append(s, words[i]);
        first = 0;
    }
    g_string_append_c(s, ']');
    w_lit(w, s->str);
    g_string_free(s, TRUE);
    g_strfreev(words);
    xmlFree(alt);
}

/* The next node after n in document order inside root, or NULL. */
static const xmlNode *next_in(const xmlNode *root, const xmlNode *n, int skip_children)
{
    if (!skip_children && n->children)
        return n->children;
    while (n != root && !n->next)
        n = n->parent;
    return n == root ? NULL : n->next;
}

/* Elements that only page layout puts inside a table cell. */
static int el_structural(el_kind k)
{
    return k == EL_TABLE || k == EL_HEADING || k == EL_UL || k == EL_OL || k == EL_LI ||
           k == EL_PRE || k == EL_QUOTE || k == EL_HR;
}

/* Non-zero for a table that lays out a page (nested tables, lists, headings,
 * several paragraphs in a cell) rather than holding rows of data. */
static int table_is_layout(const xmlNode *table)
{
    size_t seen = 0;
    int blocks = 0;
    int skip = 0;

    for (const xmlNode *n = table->children; n; n = next_in(table, n, skip)) {
        skip = 0;
        if (++seen > HTML_SCAN_MAX)
            return 1;
        if (n->type != XML_ELEMENT_NODE || !n->name)
            continue;
        el_kind k = el_classify(n);
        if (el_structural(k))
            return 1;
        skip = k == EL_SKIP;
        if (k == EL_CELL)
            blocks = 0;
        if (k == EL_BLOCK && ++blocks >= 3)
            return 1;
    }
    return 0;
}

/* Non-zero when the innermost table is a layout table (or untracked). */
static int w_layout(const walk *w)
{
    return w->tables == 0 || w->tables > HTML_MAX_NEST || w->layout[w->tables - 1];
}

/* Enter a table and decide how its cells are written. */
static void w_table_enter(walk *w, const xmlNode *n)
{
    w_break(w, 2, 1);
    if (w->tables < HTML_MAX_NEST)
        w->layout[w->tables] = table_is_layout(n);
    w->tables++;
}

/* Start a table cell: data cells join the row, layout cells are blocks. */
static void w_cell_enter(walk *w)
{
    int t = w->tables > 0 && w->tables <= HTML_MAX_NEST ? w->tables - 1 : -1;

    if (w_layout(w)) {
        w_break(w, 1, 0);
        return;
    }
    if (t >= 0 && w->row_cells[t]++ > 0) {
        w->pending_space = 0;
        w_lit(w, " |");
        w->pending_space = 1;
    }
    w->cells++;
}

/* Start a table row on its own line. */
static void w_row_enter(walk *w)
{
    if (w->tables > 0 && w->tables <= HTML_MAX_NEST)
        w->row_cells[w->tables - 1] = 0;
    w_break(w, 1, 1);
}

/* Layout on entering a block-level element; returns non-zero to walk its children. */
static int w_enter_block(walk *w, el_kind k)
{
    switch (k) {
    case EL_HEADING:
        w_break(w, 2, 1);
        w_marker(w, "■ ");
        return 1;
    case EL_BR:
        if (w->pending_nl < 2)
            w_break(w, w->pending_nl + 1, 1);
        return 0;
    case EL_HR:
        w_break(w, 2, 1);
        w_lit(w, "----");
        w_break(w, 2, 1);
        return 0;
    case EL_PRE:
    case EL_QUOTE:
        w_break(w, 2, 1);
        w->pre += k == EL_PRE;
        w->quote += k == EL_QUOTE;
        return 1;
    case EL_DD:
        w_break(w, 1, 1);
        w_marker(w, "  ");
        return 1;
    default:
        w_break(w, k == EL_DT ? 1 : 2, 0);
        return 1;
    }
}

/* Layout on entering an element; returns non-zero to walk its children. */
static int w_enter_el(walk *w, const xmlNode *n, el_kind k)
{
    switch (k) {
    case EL_SKIP:
    case EL_INPUT: /* hidden values and form data are never shown */
        return 0;
    case EL_UL:
    case EL_OL:
        w_list_enter(w, n, k == EL_OL);
        return 1;
    case EL_LI:
        w_list_item(w);
        return 1;
    case EL_TABLE:
        w_table_enter(w, n);
        return 1;
    case EL_TR:
        w_row_enter(w);
        return 1;
    case EL_CELL:
        w_cell_enter(w);
        return 1;
    case EL_A:
        if (w->links < HTML_MAX_NEST)
            w->link_start[w->links] = w->out->len;
        w->links++;
        return 1;
    case EL_IMG:
        w_image(w, n);
        return 0;
    case EL_INLINE:
        return 1;
    case EL_FLAT:
        w->pending_space = 1;
        return 1;
    default:
        return w_enter_block(w, k);
    }
}

/* Layout on leaving an element entered with w_enter_el. */
static void w_leave_el(walk *w, const xmlNode *n, el_kind k)
{
    switch (k) {
    case EL_BLOCK:
    case EL_HEADING:
    case EL_PRE:
    case EL_QUOTE:
    case EL_TABLE:
        w_break(w, 2, 1);
        w->pre -= k == EL_PRE;
        w->quote -= k == EL_QUOTE;
        w->tables -= k == EL_TABLE;
        break;
    case EL_UL:
    case EL_OL:
        w->lists--;
        w_break(w, w->lists == 0 ? 2 : 1, 1);
        break;
    case EL_LI:
    case EL_DT:
    case EL_DD:
    case EL_TR:
        w_break(w, 1, 1);
        break;
    case EL_FLAT:
        w->pending_space = 1;
        break;
    case EL_CELL:
        if (w_layout(w))
            w_break(w, 1, 1);
        else
            w->cells--;
        break;
    case EL_A:
        w->links--;
        if (w->links < HTML_MAX_NEST)
            w_link_leave(w, n, w->link_start[w->links]);
        break;
    default:
        break;
    }
}

/* Classify a node for the walk: elements past the depth bound lose their layout. */
static el_kind w_kind(const xmlNode *n, int depth)
{
    el_kind k = el_classify(n);

    if (depth <= HTML_MAX_DEPTH || k == EL_SKIP || k == EL_INPUT)
        return k;
    return k == EL_IMG || k == EL_INLINE ? k : EL_FLAT;
}

/* Visit a node on the way down; returns non-zero to walk its children. */
static int w_enter(walk *w, const xmlNode *n, int depth)
{
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content)
            w_text(w, (const char *)n->content);
        return 0;
    }
    if (n->type != XML_ELEMENT_NODE || !n->name)
        return 0;
    return w_enter_el(w, n, w_kind(n, depth));
}

/* Visit a node on the way up. */
static void w_leave(walk *w, const xmlNode *n, int depth)
{
    if (n->type == XML_ELEMENT_NODE && n->name)
        w_leave_el(w, n, w_kind(n, depth));
}

/* Walk the tree without recursion, so depth costs no stack. */
static void walk_tree(walk *w, xmlNode *top)
{
    xmlNode *n = top->children;
    int depth = 1;

    while (n) {
        if (w_enter(w, n, depth) && n->children) {
            n = n->children;
            depth++;
            continue;
        }
        w_leave(w, n, depth);
        while (!n->next) {
            n = n->parent;
            depth--;
            if (!n || n == top)
                return;
            w_leave(w, n, depth);
        }
        n = n->next;
    }
}

/* Non-zero for characters never written: controls and bidirectional overrides. */
static int tidy_drop(gunichar c)
{
    if (c == '\n' || c == '\t')
        return 0;
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) ||
           (c >= 0x2066 && c <= 0x2069);
}

/* Append one line: trailing blanks removed, at most one blank line in a row. */
static void tidy_line(GString *out, const char *line, size_t n, int *blank)
{
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    if (n == 0) {
        *blank = out->len > 0;
        return;
    }
    if (*blank)
        g_string_append_c(out, '\n');
    *blank = 0;
    if (out->len > 0)
        g_string_append_c(out, '\n');
    g_string_append_len(out, line, (gssize)n);
}

/* Final guarantee of the output rules, whatever the walk did. */
static char *tidy(const GString *in)
{
    GString *clean = g_string_sized_new(in->len + 1);
    GString *out = g_string_sized_new(in->len + 1);
    int blank = 0;

    for (const char *p = in->str; p < in->str + in->len;) {
        gunichar c = g_utf8_get_char_validated(p, (gssize)(in->str + in->len - p));
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            p++;
            continue;
        }
        const char *next = g_utf8_next_char(p);
        if (!tidy_drop(c))
            g_string_append_len(clean, p, next - p);
        p = next;
    }
    for (const char *line = clean->str; line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        tidy_line(out, line, n, &blank);
        line = nl ? nl + 1 : NULL;
    }
    g_string_free(clean, TRUE);
    return g_string_free(out, FALSE);
}

/* The token after "charset" inside [p, end), or NULL. */
static char *sniff_token(const char *p, const char *end)
{
    p += strlen("charset");
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p >= end || *p != '=')
        return NULL;
    p++;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '"' || *p == '\''))
        p++;
    const char *t = p;
    while (p < end && (g_ascii_isalnum(*p) || strchr("-_.:", *p)) && *p)
        p++;
    if (p == t || p - t > 40)
        return NULL;
    /* A page that is read as ASCII-compatible cannot really be UTF-16. */
    if (p - t >= 6 && g_ascii_strncasecmp(t, "utf-16", 6) == 0)
        return g_strdup("utf-8");
    return g_strndup(t, (gsize)(p - t));
}

/* The charset named by a <meta> tag in the first 4 KiB; caller g_free()s. */
static char *html_sniff_charset(const char *d, size_t n)
{
    size_t m = MIN(n, (size_t)HTML_SNIFF);
    const char *end = d + m;

    for (const char *p = d; p < end;) {
        const char *tag = g_strstr_len(p, end - p, "<");
        if (!tag)
            break;
        p = tag + 1;
        if (end - tag < 5 || g_ascii_strncasecmp(tag, "<meta", 5) != 0)
            continue;
        const char *close = memchr(tag, '>', (size_t)(end - tag));
        const char *stop = close ? close : end;
        for (const char *q = tag + 5; q + 7 <= stop; q++) {
            if (g_ascii_strncasecmp(q, "charset", 7) != 0)
                continue;
            char *tok = sniff_token(q, stop);
            if (tok)
                return tok;
        }
    }
    return NULL;
}

/* Parse UTF-8 HTML and walk it into text; caller g_free()s. XML_PARSE_HUGE
 * lifts the parser's 256-level depth limit, which would drop the rest of the
 * page: the walk is iterative and bounds layout depth itself, and the jail's
 * address-space limit bounds memory. */
static char *html_convert(const char *utf8, size_t len)
{
    const int opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                     HTML_PARSE_NONET | HTML_PARSE_COMPACT | HTML_PARSE_IGNORE_ENC | XML_PARSE_HUGE;
    walk w;

    if (len > INT_MAX)
        return NULL;
    htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
    if (!ctxt)
        return NULL;
    htmlDocPtr doc = htmlCtxtReadMemory(ctxt, utf8, (int)len, NULL, "UTF-8", opts);
    /* A parser that stopped early (a limit) loses the rest: say so. */
    int halted = ctxt->disableSAX != 0;
    htmlFreeParserCtxt(ctxt);
    memset(&w, 0, sizeof w);
    w.out = g_string_sized_new(len / 2 + 1);
    if (doc)
        walk_tree(&w, (xmlNode *)doc);
    xmlFreeDoc(doc);
    if (halted) {
        w_break(&w, 2, 1);
        w_lit(&w, HTML_TRUNCATED);
    }
    char *text = tidy(w.out);
    g_string_free(w.out, TRUE);
    return text;
}

/* HTML in any charset to structured plain UTF-8 text; caller g_free()s. */
char *rnd_html_to_text(const char *data, size_t len, const char *label, const char *fallbacks)
{
    const char *used = NULL;
    char *sniffed = NULL;

    if ((!data && len > 0) || len > INT_MAX)
        return NULL;
    if (!label || !*label)
        sniffed = html_sniff_charset(data, len);
    char *utf8 = rnd_text_to_utf8(data, len, sniffed ? sniffed : label, fallbacks, &used);
    g_free(sniffed);
    if (!utf8)
        return NULL;
    char *text = html_convert(utf8, strlen(utf8));
    g_free(utf8);
    if (!text)
        mg_warn("html: input too large to parse (%zu bytes)", len);
    return text;
}
