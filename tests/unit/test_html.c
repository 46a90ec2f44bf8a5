/*
 * tests/unit/test_html.c - table-driven tests of HTML to plain text
 * (render/html.c): layout, dropped active content, link targets, charsets,
 * and bounds on deep or large input.
 *
 * Run by CTest as an ordinary user; no files, no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "rnd.h"

#define FALLBACKS "UTF-8,CP932,EUC-JP,ISO-2022-JP"
#define BYTES(s) s, sizeof(s) - 1

/* One case: input, label, and the exact output expected (or NULL), text that
 * must appear (or NULL) and text that must not (or NULL). */
typedef struct {
    const char *name;
    const char *in;
    size_t len;
    const char *label;
    const char *expect;
    const char *contains;
    const char *absent;
} html_case;

static const html_case html_cases[] = {
    {"paragraphs and whitespace", BYTES("<p>Hello,\n   <b>world</b> !</p><p>Second</p>"), NULL,
     "Hello, world !\n\nSecond", NULL, NULL},
    {"script and style dropped",
     BYTES("<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
           "<body><p>visible</p><script>var secret=1;</script><noscript>ns</noscript></body>"
           "</html>"),
     NULL, "visible", NULL, "secret"},
    {"title, iframe, object, svg dropped",
     BYTES("<title>T</title><p>a</p><iframe src=x>inner</iframe><object>obj</object>"
           "<svg><text>svgtext</text></svg><math>m</math><template>tpl</template><p>b</p>"),
     NULL, "a\n\nb", NULL, NULL},
    {"hidden form values dropped",
     BYTES("<form><input type=hidden name=t value=TOKEN123><p>form text</p></form>"), NULL,
     "form text", NULL, "TOKEN123"},
    {"table rows",
     BYTES("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr>"
           "</table>"),
     NULL, "a | b\n1 | 2", NULL, NULL},
    {"table cell with paragraphs stays on one row",
     BYTES("<table><tr><td><p>x</p><p>y</p></td><td>z</td></tr></table>"), NULL, "x y | z", NULL,
     NULL},
    {"nested lists",
     BYTES("<ul><li>one<ul><li>inner<li>inner2</ul></li><li>two</li></ul>"
           "<ol start=3><li>three<li><p>four</p></ol>"),
     NULL, "・ one\n  ・ inner\n  ・ inner2\n・ two\n\n3. three\n4. four", NULL, NULL},
    {"link target written out",
     BYTES("<p>See <a href=\"https://example.jp/a?b=1\">our page</a>.</p>"), NULL,
     "See our page <https://example.jp/a?b=1>.", NULL, NULL},
    {"link equal to its text written once",
     BYTES("<a href=\"https://example.jp/\">https://example.jp/</a>"), NULL, "https://example.jp/",
     NULL, NULL},
    {"link target with spaces and angle brackets", BYTES("<a href=\" https://e.jp/a b<c> \">x</a>"),
     NULL, "x <https://e.jp/ab%3Cc%3E>", NULL, NULL},
    {"javascript link removed", BYTES("<a href=\"java\tscript:alert(1)\">click</a>"), NULL,
     "click [リンク削除]", NULL, "alert"},
    {"data link removed", BYTES("<a href=\"DATA:text/html;base64,PHNjcmlwdD4=\">x</a>"), NULL,
     "x [リンク削除]", NULL, "base64"},
    {"fragment link has no target", BYTES("<a href=\"#top\">top</a>"), NULL, "top", NULL, NULL},
    {"image alt", BYTES("<p>logo: <img src=a.png alt=\" Our\n logo \"> <img src=b.png></p>"), NULL,
     "logo: [画像: Our logo] [画像]", NULL, NULL},
    {"image in a link", BYTES("<a href=\"https://e.jp/\"><img alt=\"banner\"></a>"), NULL,
     "[画像: banner] <https://e.jp/>", NULL, NULL},
    {"entities decoded", BYTES("<p>a &amp; b &lt;c&gt; &#x3042;&#12354; &copy;</p>"), NULL,
     "a & b <c> ああ ©", NULL, NULL},
    {"headings marked", BYTES("<h1>Title</h1><h2>Sub</h2><h3>Small</h3>text"), NULL,
     "■ Title\n\n■ Sub\n\nSmall\n\ntext", NULL, NULL},
    {"br and blank lines", BYTES("a<br>b<br><br><br><br>c<div></div><div></div><p></p>d"), NULL,
     "a\nb\n\nc\n\nd", NULL, NULL},
    {"pre keeps whitespace", BYTES("<p>x</p><pre>  a  b\n    c</pre><p>y</p>"), NULL,
     "x\n\n  a  b\n    c\n\ny", NULL, NULL},
    {"blockquote prefixed", BYTES("<p>he wrote:</p><blockquote><p>q1</p><p>q2</p></blockquote>"),
     NULL, "he wrote:\n\n> q1\n\n> q2", NULL, NULL},
    {"hr and definition list", BYTES("<p>a</p><hr><dl><dt>term</dt><dd>def</dd></dl>"), NULL,
     "a\n\n----\n\nterm\n  def", NULL, NULL},
    {"control characters and bidi override removed",
     BYTES("<p>a\x01\x1b[31mb&#x202E;c&#x7f;d\tz</p>"), NULL, "a[31mbcd z", NULL, NULL},
    {"shift_jis html with meta charset",
     BYTES("<html><head><meta charset=\x22Shift_JIS\x22><title>t</title></head><body><p>\x82\xa8"
           "\x92m\x82\xe7\x82\xb9\x87@</p></body></html>"),
     NULL, "お知らせ①", NULL, NULL},
    {"euc-jp html with http-equiv",
     BYTES("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=EUC-JP\">"
           "<p>\xa4\xb3\xa4\xf3\xa4\xcb\xa4\xc1\xa4\xcf</p>"),
     NULL, "こんにちは", NULL, NULL},
    {"label wins over meta", BYTES("<meta charset=\"EUC-JP\"><p>\x82\xa8\x92m\x82\xe7\x82\xb9</p>"),
     "Shift_JIS", "お知らせ", NULL, NULL},
    {"utf-8 without any label", BYTES("<p>\xe6\x97\xa5\xe6\x9c\xac</p>"), NULL, "日本", NULL, NULL},
    {"not html at all", BYTES("just text"), NULL, "just text", NULL, NULL},
    {"empty", "", 0, NULL, "", NULL, NULL},
    {"nul bytes", BYTES("<p>a\0b</p>\0"), NULL, "ab", NULL, NULL},
    {"broken markup", BYTES("<p>a<table><tr><td>x<p>b</div></li></ul>c"), NULL, NULL, "x", NULL},
};

/* Every output rule: no NUL or controls but \n \t, no trailing blanks,
 * at most one blank line in a row, no leading or trailing blank line. */
static void check_rules(const char *out)
{
    assert_true(g_utf8_validate(out, -1, NULL));
    for (const char *p = out; *p; p++) {
        unsigned char c = (unsigned char)*p;
        assert_false(c < 0x20 && c != '\n' && c != '\t');
        assert_false(c == 0x7F);
        if (*p == '\n')
            assert_false(p > out && (p[-1] == ' ' || p[-1] == '\t'));
    }
    assert_null(strstr(out, "\n\n\n"));
    if (*out) {
        assert_true(out[0] != '\n');
        assert_true(out[strlen(out) - 1] != '\n' && out[strlen(out) - 1] != ' ');
    }
}

/* Convert every row and check the expectations and the output rules. */
static void test_html_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(html_cases); i++) {
        const html_case *c = &html_cases[i];
        char *out = rnd_html_to_text(c->in, c->len, c->label, FALLBACKS);
        print_message("html: %s\n", c->name);
        assert_non_null(out);
        check_rules(out);
        if (c->expect)
            assert_string_equal(out, c->expect);
        if (c->contains)
            assert_non_null(strstr(out, c->contains));
        if (c->absent)
            assert_null(strstr(out, c->absent));
        g_free(out);
    }
}

/* Build n nested elements open, text, then closed. */
static GString *nested(const char *open, const char *close, size_t n, const char *text)
{
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < n; i++)
        g_string_append(s, open);
    g_string_append(s, text);
    for (size_t i = 0; i < n; i++)
        g_string_append(s, close);
    return s;
}

/* 300 and 5000 nested divs (past the walk's depth bound) still convert. */
static void test_html_deep(void **state)
{
    static const size_t depths[] = {300, 5000};

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(depths); i++) {
        GString *s = nested("<div>", "</div>", depths[i], "deep <b>text</b><script>x()</script>");
        char *out = rnd_html_to_text(s->str, s->len, "UTF-8", FALLBACKS);
        assert_non_null(out);
        check_rules(out);
        assert_null(strstr(out, "x()"));
        g_free(out);
        g_string_free(s, TRUE);
    }
}

/* Deeply nested lists and tables keep their bounds. */
static void test_html_deep_lists(void **state)
{
    GString *l = nested("<ul><li>i", "</li></ul>", 400, "end");
    GString *t = nested("<table><tr><td>c", "</td></tr></table>", 400, "end");

    (void)state;
    char *out = rnd_html_to_text(l->str, l->len, NULL, FALLBACKS);
    assert_non_null(out);
    check_rules(out);
    g_free(out);
    out = rnd_html_to_text(t->str, t->len, NULL, FALLBACKS);
    assert_non_null(out);
    check_rules(out);
    g_free(out);
    g_string_free(l, TRUE);
    g_string_free(t, TRUE);
}

/* A 1 MiB page converts and keeps its last paragraph. */
static void test_html_large(void **state)
{
    GString *s = g_string_new("<html><body>");

    (void)state;
    while (s->len < 1024 * 1024)
        g_string_append(s, "<p>日本語の段落 <a href=\"https://e.jp/\">link</a> &amp; more</p>\n"
                           "<table><tr><td>a</td><td>b</td></tr></table>");
    g_string_append(s, "<p>THE END</p></body></html>");
    char *out = rnd_html_to_text(s->str, s->len, NULL, FALLBACKS);
    assert_non_null(out);
    check_rules(out);
    assert_non_null(strstr(out, "THE END"));
    assert_non_null(strstr(out, "日本語の段落 link <https://e.jp/> & more"));
    g_free(out);
    g_string_free(s, TRUE);
}

/* Run the HTML table and the bound tests. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_table),
        cmocka_unit_test(test_html_deep),
        cmocka_unit_test(test_html_deep_lists),
        cmocka_unit_test(test_html_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
