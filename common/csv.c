/*
 * common/csv.c - CSV formula neutralization: parse delimited text cell by
 * cell and write it again with every cell a spreadsheet would evaluate made
 * inert.
 *
 * Used on both sides: in mugai-render (the jail) on the text it decoded, and
 * in the trusted worker on whatever text came back from the jail, which it
 * must treat as hostile. The trusted call is the one that counts. It only
 * computes on a buffer of known length: it must never read past that length,
 * and its output must parse, under the usual CSV rules (RFC 4180, as Python's
 * csv module and spreadsheet programs read it), into the same records and
 * cells as its input did, except for the added prefixes.
 *
 * A cell is evaluated as a formula when its content starts with = + - @ or,
 * in some programs, TAB or CR (the OWASP list), also after blanks a reader may
 * trim (spaces, no-break and ideographic spaces, zero-width characters, a
 * byte-order mark, any other space or format character), and in their fullwidth
 * forms, which Japanese input methods produce (any character whose compatibility
 * form is one of them). Such a cell gets a leading single quote, inside the quotes when it
 * is quoted. A cell already starting with a single quote is left alone, so
 * neutralizing twice changes nothing. The output is written in the canonical
 * form: a cell is quoted when it was quoted or holds a comma, semicolon, tab,
 * the delimiter, a quote or a line break, so that a reader splitting on
 * another separator still sees one cell; a leading byte-order mark is dropped
 * (the writer of the file adds its own; a first cell that still starts with
 * one is quoted), and a first line "sep=X", which would make a spreadsheet
 * split the cells elsewhere, is neutralized too.
 */
#include <string.h>

#include <glib.h>

#include "mg.h"

/* One parsed cell: its content and whether it was quoted. */
typedef struct csv_cell {
    GString *text;
    int quoted;
} csv_cell;

/* Non-zero for a first character that makes a spreadsheet evaluate the cell. */
static int csv_dangerous(char c)
{
    return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

/* Length of the blank a reader may trim at s (len bytes), or 0: a space, a no-break or an
 * ideographic space, a zero-width character or a byte-order mark; also any other space
 * separator or format character (en and em spaces, bidi marks), which show nothing before
 * the formula. */
static size_t csv_blank(const char *s, size_t len)
{
    static const char *const blanks[] = {" ",
                                         "\xc2\xa0",
                                         "\xe3\x80\x80",
                                         "\xe2\x80\x8b",
                                         "\xe2\x80\x8c",
                                         "\xe2\x80\x8d",
                                         "\xe2\x81\xa0",
                                         "\xef\xbb\xbf"};

    for (size_t i = 0; i < sizeof blanks / sizeof blanks[0]; i++) {
        size_t n = strlen(blanks[i]);
        if (n <= len && memcmp(s, blanks[i], n) == 0)
            return n;
    }
    if ((unsigned char)s[0] < 0x80)
        return 0;
    gunichar c = g_utf8_get_char_validated(s, (gssize)len);
    if (c == (gunichar)-1 || c == (gunichar)-2)
        return 0;
    GUnicodeType t = g_unichar_type(c);
    return t == G_UNICODE_SPACE_SEPARATOR || t == G_UNICODE_FORMAT
               ? (size_t)(g_utf8_next_char(s) - s)
               : 0;
}

/* Non-zero when s (len bytes) starts with a character whose compatibility form is = + - or @:
 * the fullwidth ones (U+FF1D, U+FF0B, U+FF0D, U+FF20) Japanese input methods produce, the
 * small ones (U+FE62, U+FE63, U+FE66, U+FE6B), super- and subscripts. */
static int csv_compat_dangerous(const char *s, size_t len)
{
    if (len == 0 || (unsigned char)s[0] < 0x80)
        return 0;
    gunichar c = g_utf8_get_char_validated(s, (gssize)len);
    if (c == (gunichar)-1 || c == (gunichar)-2)
        return 0;
    char one[8];
    char *norm = g_utf8_normalize(one, g_unichar_to_utf8(c, one), G_NORMALIZE_ALL);
    int bad = norm && strchr("=+-@", norm[0]) && norm[0] != '\0';
    g_free(norm);
    return bad;
}

/* Non-zero when the cell must get the neutralizing prefix; first: the file's first cell. */
static int csv_needs_prefix(const csv_cell *cell, int first)
{
    const GString *t = cell->text;
    size_t i = 0, n;

    /* Excel reads a first line "sep=X" as the delimiter to split every other line with. */
    if (first && t->len >= 4 && g_ascii_strncasecmp(t->str, "sep=", 4) == 0)
        return 1;
    if (t->len > 0 && t->str[0] == '\'')
        return 0;
    while (i < t->len && (n = csv_blank(t->str + i, t->len - i)) > 0)
        i += n;
    return i < t->len && (csv_dangerous(t->str[i]) || csv_compat_dangerous(t->str + i, t->len - i));
}

/* Non-zero when the cell must be quoted to be read back as one cell with delimiter delim. */
static int csv_needs_quotes(const csv_cell *cell, char delim)
{
    const GString *t = cell->text;

    if (cell->quoted)
        return 1;
    for (size_t i = 0; i < t->len; i++)
        if (t->str[i] == delim || strchr("\",;\t\r\n", t->str[i]))
            return 1;
    return 0;
}

/* Write one cell to out, neutralized and quoted as needed. A byte-order mark that would
 * start the output is quoted: unquoted, a reader takes it for the file's own and drops it. */
static void csv_write_cell(GString *out, const csv_cell *cell, char delim, int first)
{
    int quote = csv_needs_quotes(cell, delim) || (out->len == 0 && cell->text->len >= 3 &&
                                                  memcmp(cell->text->str, "\xEF\xBB\xBF", 3) == 0);

    if (quote)
        g_string_append_c(out, '"');
    if (csv_needs_prefix(cell, first))
        g_string_append_c(out, '\'');
    for (size_t i = 0; i < cell->text->len; i++) {
        if (quote && cell->text->str[i] == '"')
            g_string_append_c(out, '"');
        g_string_append_c(out, cell->text->str[i]);
    }
    if (quote)
        g_string_append_c(out, '"');
}

/* Read the quoted part of a cell from s[i], just after its opening quote, into cell; a
 * doubled quote is one quote. Returns the index after the closing quote (len if none). */
static size_t csv_read_quoted(const char *s, size_t len, size_t i, csv_cell *cell)
{
    cell->quoted = 1;
    while (i < len) {
        if (s[i] != '"') {
            g_string_append_c(cell->text, s[i++]);
        } else if (i + 1 < len && s[i + 1] == '"') {
            g_string_append_c(cell->text, '"');
            i += 2;
        } else {
            return i + 1;
        }
    }
    return len;
}

/* Read one cell starting at s[i] into cell. Text after a closing quote belongs to the cell,
 * and a quote that does not open the cell is an ordinary character, as in Python's csv
 * module. Returns the index of the delimiter or line break that ends it (len at the end). */
static size_t csv_read_cell(const char *s, size_t len, size_t i, char delim, csv_cell *cell)
{
    g_string_truncate(cell->text, 0);
    cell->quoted = 0;
    if (i < len && s[i] == '"')
        i = csv_read_quoted(s, len, i + 1, cell);
    while (i < len && s[i] != delim && s[i] != '\r' && s[i] != '\n')
        g_string_append_c(cell->text, s[i++]);
    return i;
}

/* Copy the line break at s[i] (CR LF, LF or CR) to out; returns the index after it. */
static size_t csv_copy_break(GString *out, const char *s, size_t len, size_t i)
{
    size_t n = s[i] == '\r' && i + 1 < len && s[i + 1] == '\n' ? 2 : 1;

    g_string_append_len(out, s + i, (gssize)n);
    return i + n;
}

/* Read s cell by cell with in_delim and write it again with out_delim, neutralized. */
char *mg_csv_neutralize(const char *s, size_t len, char in_delim, char out_delim)
{
    csv_cell cell = {NULL, 0};
    GString *out;
    size_t i = 0;
    int first = 1, cell_start = 1;

    if ((!s && len > 0) || len > G_MAXSIZE / 4)
        return NULL;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    out = g_string_sized_new(len + len / 8 + 16);
    cell.text = g_string_new(NULL);
    while (i < len) {
        if (s[i] == '\r' || s[i] == '\n') {
            i = csv_copy_break(out, s, len, i);
            cell_start = 1;
            continue;
        }
        if (!cell_start) {
            /* s[i] is the delimiter that ended the previous cell. */
            g_string_append_c(out, out_delim);
            i++;
        }
        i = csv_read_cell(s, len, i, in_delim, &cell);
        csv_write_cell(out, &cell, out_delim, first);
        first = cell_start = 0;
    }
    g_string_free(cell.text, TRUE);
    return g_string_free(out, FALSE);
}

/* Count tabs and commas outside quotes in the first record. */
char mg_csv_guess_delimiter(const char *s, size_t len)
{
    size_t tabs = 0, commas = 0;
    int quoted = 0;

    if (!s)
        return ',';
    for (size_t i = 0; i < len && (quoted || (s[i] != '\r' && s[i] != '\n')); i++) {
        if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == '\t')
            tabs++;
        else if (!quoted && s[i] == ',')
            commas++;
    }
    return tabs > commas ? '\t' : ',';
}
