/*
 * fuzz/fuzz_csv.c - libFuzzer harness of CSV formula neutralization: the
 * trusted CSV writer mg_csv_neutralize (common/csv.c) as the engine runs it
 * on the renderer's text (comma or tab in, comma out), and rnd_csv_neutralize
 * (render/text.c) as mugai-render runs it (delimiter guessed).
 *
 * Input: CSV text. It is made what the renderer delivers and the trusted
 * side accepts (valid UTF-8 without NUL) and neutralized the three ways.
 * Each output is read back with a reader written here (RFC 4180 as Python's
 * csv module reads it: a quote opens a cell only at its start, "" inside
 * quotes is one quote, text after the closing quote belongs to the cell) and
 * checked: no cell a spreadsheet would evaluate (= + - @ TAB CR first, also in
 * a compatibility form such as fullwidth, also after spaces and format
 * characters, or a first cell "sep=") lacks the single-quote prefix; the records and cells are
 * those of the input, each cell unchanged or with that prefix added; neutralizing the output again
 * changes nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "mg.h"
#include "rnd.h"

#define BOM "\xEF\xBB\xBF"

/* Report a broken promise and stop, so that the fuzzer keeps the input. */
static void fail(const char *what, const char *why, const char *s) __attribute__((noreturn));
static void fail(const char *what, const char *why, const char *s)
{
    fprintf(stderr, "fuzz_csv: %s: %s: \"%s\"\n", what, why, s);
    abort();
}

/* Free one record (an array of GString cells). */
static void record_free(gpointer p)
{
    GPtrArray *rec = p;

    for (guint i = 0; i < rec->len; i++)
        g_string_free(g_ptr_array_index(rec, i), TRUE);
    g_ptr_array_free(rec, TRUE);
}

/* Read one cell at s[i] into cell; returns the index of what ends it. */
static size_t read_cell(const char *s, size_t n, size_t i, char delim, GString *cell)
{
    if (i < n && s[i] == '"') {
        for (i++; i < n; i++) {
            if (s[i] != '"') {
                g_string_append_c(cell, s[i]);
            } else if (i + 1 < n && s[i + 1] == '"') {
                g_string_append_c(cell, '"');
                i++;
            } else {
                i++;
                break;
            }
        }
    }
    for (; i < n && s[i] != delim && s[i] != '\r' && s[i] != '\n'; i++)
        g_string_append_c(cell, s[i]);
    return i;
}

/* The records of s read with delim (a leading byte-order mark skipped); an empty line is a
 * record of no cells. Caller frees with g_ptr_array_free. */
static GPtrArray *parse(const char *s, size_t n, char delim)
{
    GPtrArray *recs = g_ptr_array_new_with_free_func(record_free);
    GPtrArray *rec = g_ptr_array_new();
    size_t i = n >= 3 && memcmp(s, BOM, 3) == 0 ? 3 : 0;

    while (i < n) {
        if (s[i] == '\r' || s[i] == '\n') {
            i += s[i] == '\r' && i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
            g_ptr_array_add(recs, rec);
            rec = g_ptr_array_new();
            continue;
        }
        if (rec->len > 0)
            i++; /* the delimiter after the previous cell */
        GString *cell = g_string_new(NULL);
        i = read_cell(s, n, i, delim, cell);
        g_ptr_array_add(rec, cell);
    }
    if (rec->len > 0)
        g_ptr_array_add(recs, rec);
    else
        g_ptr_array_free(rec, TRUE);
    return recs;
}

/* The character at s (n bytes) and its length in *k; (gunichar)-1 when invalid or none. */
static gunichar char_at(const char *s, size_t n, size_t *k)
{
    gunichar c = n ? g_utf8_get_char_validated(s, (gssize)n) : (gunichar)-1;

    *k = c == (gunichar)-1 || c == (gunichar)-2 ? 0 : (size_t)(g_utf8_next_char(s) - s);
    return *k ? c : (gunichar)-1;
}

/* Non-zero when a reader may show nothing for c before a formula: a space separator or a
 * format character (no-break and ideographic spaces, zero-width characters, the byte-order
 * mark, bidirectional marks). */
static int blank(gunichar c)
{
    GUnicodeType t = g_unichar_type(c);

    return t == G_UNICODE_SPACE_SEPARATOR || t == G_UNICODE_FORMAT;
}

/* Non-zero when c starts a formula: = + - @ TAB CR, or a character whose compatibility form
 * starts with = + - @ (fullwidth, small, super- and subscript forms). */
static int formula_start(gunichar c)
{
    char one[8];

    if (c < 0x80)
        return c != 0 && strchr("=+-@\t\r", (int)c) != NULL;
    char *norm = g_utf8_normalize(one, g_unichar_to_utf8(c, one), G_NORMALIZE_ALL);
    int bad = norm && norm[0] != '\0' && strchr("=+-@", norm[0]) != NULL;
    g_free(norm);
    return bad;
}

/* Non-zero when a spreadsheet would evaluate the cell. */
static int evaluated(const GString *c, int first)
{
    size_t i = 0, k;
    gunichar u;

    if (c->len > 0 && c->str[0] == '\'')
        return 0;
    if (first && g_ascii_strncasecmp(c->str, "sep=", 4) == 0)
        return 1;
    while ((u = char_at(c->str + i, c->len - i, &k)) != (gunichar)-1 && blank(u))
        i += k;
    return u != (gunichar)-1 && formula_start(u);
}

/* Check out (read with out_delim) against in (read with in_delim): same records and cells,
 * each unchanged or prefixed, none left that a spreadsheet evaluates. */
static void check_cells(const char *what, const char *in, size_t in_len, char in_delim,
                        const char *out, char out_delim)
{
    GPtrArray *a = parse(in, in_len, in_delim);
    GPtrArray *b = parse(out, strlen(out), out_delim);

    if (a->len != b->len)
        fail(what, "the records changed", out);
    for (guint r = 0; r < a->len; r++) {
        GPtrArray *ra = g_ptr_array_index(a, r), *rb = g_ptr_array_index(b, r);
        if (ra->len != rb->len)
            fail(what, "the cells of a record changed", out);
        for (guint k = 0; k < ra->len; k++) {
            const GString *ca = g_ptr_array_index(ra, k), *cb = g_ptr_array_index(rb, k);
            int same = g_string_equal(ca, cb);
            int prefixed = cb->len == ca->len + 1 && cb->str[0] == '\'' &&
                           memcmp(cb->str + 1, ca->str, ca->len) == 0;
            if (!same && !prefixed)
                fail(what, "a cell changed beyond the prefix", out);
            if (evaluated(cb, r == 0 && k == 0))
                fail(what, "a cell a spreadsheet evaluates", out);
        }
    }
    g_ptr_array_free(a, TRUE);
    g_ptr_array_free(b, TRUE);
}

/* Neutralize out once more with delim: it must not change. */
static void check_again(const char *what, const char *out, char delim)
{
    char *again = mg_csv_neutralize(out, strlen(out), delim, delim);

    if (!again || strcmp(again, out) != 0)
        fail(what, "neutralizing twice changed the text", out);
    g_free(again);
}

/* One way of neutralizing: in_delim to out_delim (0 for rnd_csv_neutralize's guess). */
static void one_way(const char *what, const char *s, size_t n, char in_delim, char out_delim)
{
    char guessed = mg_csv_guess_delimiter(s, n);
    char *out = in_delim ? mg_csv_neutralize(s, n, in_delim, out_delim) : rnd_csv_neutralize(s, n);

    if (!out)
        fail(what, "no output", s);
    if (!in_delim)
        in_delim = out_delim = guessed;
    check_cells(what, s, n, in_delim, out, out_delim);
    check_again(what, out, out_delim);
    g_free(out);
}

/* The input as the trusted side gets text: NUL bytes dropped, then made valid UTF-8. */
static char *as_text(const uint8_t *data, size_t size)
{
    GString *s = g_string_sized_new(size + 1);

    for (size_t i = 0; i < size; i++)
        if (data[i] != '\0')
            g_string_append_c(s, (char)data[i]);
    char *valid = g_utf8_make_valid(s->str, (gssize)s->len);
    g_string_free(s, TRUE);
    return valid;
}

/* Once per process: logging off below fatal. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mg_log_init("fuzz_csv", 0, MG_LOG_FATAL);
    return 0;
}

/* One text neutralized the three ways, each output checked. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = as_text(data, size);
    size_t n = strlen(s);

    one_way("mg_csv_neutralize (comma)", s, n, ',', ',');
    one_way("mg_csv_neutralize (tab to comma)", s, n, '\t', ',');
    one_way("rnd_csv_neutralize", s, n, 0, 0);
    g_free(s);
    return 0;
}
