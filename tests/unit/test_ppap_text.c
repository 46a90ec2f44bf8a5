/*
 * tests/unit/test_ppap_text.c - the text side of the PPAP flow: password candidates from the
 * password mails senders really write (one row per form), bounds on hostile bodies, the
 * quarantine id in a reply's subject, and the follow-up mail as GMime and Python's email
 * package read it back.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gmime/gmime.h>

#include "mg.h"
#include "ppap.h"

#define PW "Ab3#xY9!"
#define CAND_MAX 20

/* ---- candidates ---- */

typedef struct cand_case {
    const char *label;
    const char *text;
    const char *first; /* the candidate expected first */
} cand_case;

static const cand_case forms[] = {
    {"full-width colon", "パスワード：" PW, PW},
    {"ASCII colon", "パスワード:" PW, PW},
    {"は, brackets and です。", "パスワードは「" PW "」です。", PW},
    {"は without brackets", "パスワードは" PW "です。", PW},
    {"full-width value", "パスワード：Ａｂ３＃ｘＹ９！", PW},
    {"label in 【】 alone, value on the next line", "【パスワード】\n" PW "\n", PW},
    {"label alone, a blank line, the value", "パスワード:\n\n" PW "\n", PW},
    {"label in 【】 with the value after it", "【パスワード】" PW, PW},
    {"label and a sentence, value on the next line",
     "解凍パスワードは以下の通りです。\n" PW "\nよろしくお願いします。", PW},
    {"greeting, the password alone, signature",
     "お世話になっております。\n先ほどのファイルのパスワードをお送りします。\n\n" PW
     "\n\nよろしくお願いいたします。\n山田",
     PW},
    {"English Password:", "Hello,\nPassword: " PW "\nRegards", PW},
    {"English PW:", "PW: " PW, PW},
    {"pass=", "pass=" PW, PW},
    {"half-width katakana label", "ﾊﾟｽﾜｰﾄﾞ：" PW, PW},
    {"full-width PW", "ＰＷ：" PW, PW},
    {"full-width Password, upper case", "ＰＡＳＳＷＯＲＤ　" PW, PW},
    {"full-width Password", "Ｐａｓｓｗｏｒｄ：" PW, PW},
    {"解凍パスワード", "解凍パスワード：" PW, PW},
    {"暗証番号, digits only", "暗証番号：48213975", "48213975"},
    {"パス", "パス：" PW, PW},
    {"note in brackets after the label", "パスワード（半角英数）：" PW, PW},
    {"note after the value", "Password: " PW " (case-sensitive)", PW},
    {"quotes", "password = \"" PW "\"", PW},
    {"curly quotes", "パスワード：“" PW "”", PW},
    {"『』", "パスワード『" PW "』", PW},
    {"label mid-line", "添付ファイルのパスワード：" PW "\n", PW},
    {"bullet before the label", "■パスワード：" PW, PW},
    {"CRLF line ends", "お世話になっております。\r\n\r\nパスワード：" PW "\r\n\r\n山田\r\n", PW},
    {"labelled value first, lone token before it", "Xy7#token\nパスワード：" PW "\n", PW},
    {"full-width blanks around a lone token", "　" PW "　\n", PW},
    {"NUL inside is skipped", NULL, PW}, /* built in the test: "パスワード：Ab3#\0xY9!" */
};

/* The candidates of a NUL-terminated text with the default maximum. */
static GPtrArray *cands_of(const char *text)
{
    return ppap_candidates(text, strlen(text), CAND_MAX);
}

/* Non-zero when arr holds s. */
static int holds(GPtrArray *arr, const char *s)
{
    for (guint i = 0; i < arr->len; i++)
        if (strcmp(g_ptr_array_index(arr, i), s) == 0)
            return 1;
    return 0;
}

/* Every real-world form yields the password, first. */
static void test_forms(void **state)
{
    static const char nul[] = "パスワード：Ab3#\0xY9!";
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(forms); i++) {
        GPtrArray *c = forms[i].text ? cands_of(forms[i].text)
                                     : ppap_candidates(nul, sizeof nul - 1, CAND_MAX);
        if (c->len == 0 || strcmp(g_ptr_array_index(c, 0), forms[i].first) != 0)
            fail_msg("%s: first candidate \"%s\", want \"%s\"", forms[i].label,
                     c->len ? (char *)g_ptr_array_index(c, 0) : "(none)", forms[i].first);
        g_ptr_array_unref(c);
    }
}

/* The greeting form: the password and nothing of the greeting or the signature. */
static void test_greeting_only_password(void **state)
{
    GPtrArray *c = cands_of("お世話になっております。\n先ほどのファイルのパスワードをお送りします。"
                            "\n\n" PW "\n\nよろしくお願いいたします。\n山田\n");
    (void)state;
    assert_int_equal(c->len, 1);
    assert_string_equal(g_ptr_array_index(c, 0), PW);
    g_ptr_array_unref(c);
}

/* A labelled value comes before a lone token that appears earlier in the text. */
static void test_labelled_first(void **state)
{
    GPtrArray *c = cands_of("Xy7#token\nパスワード：" PW "\n");
    (void)state;
    assert_int_equal(c->len, 2);
    assert_string_equal(g_ptr_array_index(c, 0), PW);
    assert_string_equal(g_ptr_array_index(c, 1), "Xy7#token");
    g_ptr_array_unref(c);
}

/* Lines that are never passwords: URLs, addresses, dates, times, telephone numbers,
 * signature lines, a quarantine id, Japanese-only text, sentences after a label. */
static void test_not_passwords(void **state)
{
    GPtrArray *c = cands_of("https://example.jp/files/x\nwww.example.jp\nyamada@example.co.jp\n"
                            "2026/11/29\n2026年11月29日(月)\n10:30\n03-1234-5678\n"
                            "TEL:03-1234-5678\nFAX.03-1234-5679\n〒100-0001\n"
                            "Q-20261129-7F3K9X\n山田太郎\nよろしくお願いします\n--\n======\n"
                            "ok\nパスワードは別途お送りします。\nよろしくお願いいたします。\n"
                            "先ほどのファイルのパスワードをお送りします。\n");
    (void)state;
    for (guint i = 0; i < c->len; i++)
        print_error("unexpected candidate \"%s\"\n", (char *)g_ptr_array_index(c, i));
    assert_int_equal(c->len, 0);
    g_ptr_array_unref(c);
}

/* Words that merely contain a label are not labels. */
static void test_label_word_bounds(void **state)
{
    GPtrArray *c = cands_of("We bypass: nothing here\nPlease pass this on to Hanako\n");
    (void)state;
    assert_false(holds(c, "nothing here"));
    assert_false(holds(c, "this on to Hanako"));
    assert_false(holds(c, "this"));
    g_ptr_array_unref(c);
}

/* The same password in several places is one candidate; NFKC makes full-width the same. */
static void test_duplicates(void **state)
{
    GPtrArray *c = cands_of("パスワード：" PW "\n" PW "\nPW: " PW "\nＡｂ３＃ｘＹ９！\n");
    (void)state;
    assert_int_equal(c->len, 1);
    assert_string_equal(g_ptr_array_index(c, 0), PW);
    g_ptr_array_unref(c);
}

/* At most max candidates, the first ones in order; max 0 gives none. */
static void test_max(void **state)
{
    GString *s = g_string_new(NULL);
    GPtrArray *c;
    (void)state;
    for (int i = 0; i < 30; i++)
        g_string_append_printf(s, "Tok%02dxyz\n", i);
    c = ppap_candidates(s->str, s->len, 20);
    assert_int_equal(c->len, 20);
    assert_string_equal(g_ptr_array_index(c, 0), "Tok00xyz");
    assert_string_equal(g_ptr_array_index(c, 19), "Tok19xyz");
    g_ptr_array_unref(c);
    c = ppap_candidates(s->str, s->len, 0);
    assert_int_equal(c->len, 0);
    g_ptr_array_unref(c);
    c = ppap_candidates(NULL, 0, 5);
    assert_int_equal(c->len, 0);
    g_ptr_array_unref(c);
    g_string_free(s, TRUE);
}

/* Check a result of hostile input: at most max, each valid UTF-8 of at most 128 bytes. */
static void check_bounded(GPtrArray *c, unsigned max)
{
    assert_true(c->len <= max);
    for (guint i = 0; i < c->len; i++) {
        const char *v = g_ptr_array_index(c, i);
        assert_true(g_utf8_validate(v, -1, NULL));
        assert_true(strlen(v) >= 1 && strlen(v) <= 128);
    }
}

/* One hostile input: bounded result within a second. */
static void hostile(const char *label, const char *text, size_t len)
{
    double t0 = mg_now(), dt;
    GPtrArray *c = ppap_candidates(text, len, CAND_MAX);

    dt = mg_now() - t0;
    check_bounded(c, CAND_MAX);
    if (dt > 1.0)
        fail_msg("%s: %.2f s", label, dt);
    g_ptr_array_unref(c);
}

/* 100,000 lines, NULs, invalid UTF-8, 1 MB on one line, text NFKC makes 18 times longer, a
 * line of labels, an over-long value: bounded, quick. */
static void test_hostile(void **state)
{
    GString *s = g_string_new(NULL);
    GRand *r = g_rand_new_with_seed(10);
    (void)state;

    for (int i = 0; i < 100000; i++)
        g_string_append_printf(s, "Line%06d\n", i);
    hostile("100,000 lines", s->str, s->len);
    g_string_truncate(s, 0);
    for (int i = 0; i < (1 << 20); i++)
        g_string_append_c(s, (char)g_rand_int_range(r, 0, 256));
    hostile("1 MB of random bytes", s->str, s->len);
    memset(s->str, 0, s->len);
    hostile("1 MB of NULs", s->str, s->len);
    memset(s->str, 'A', s->len);
    hostile("1 MB on one line", s->str, s->len);
    g_string_assign(s, "パスワード：");
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "x\xff");
    hostile("over-long value with invalid bytes", s->str, s->len);
    g_string_truncate(s, 0);
    for (int i = 0; i < 30000; i++)
        g_string_append(s, "\xef\xb7\xba"); /* U+FDFA: 18 characters under NFKC */
    hostile("NFKC expansion", s->str, s->len);
    g_string_truncate(s, 0);
    for (int i = 0; i < 30000; i++)
        g_string_append(s, "pw:(");
    hostile("a line of labels", s->str, s->len);
    g_string_truncate(s, 0);
    for (int i = 0; i < 30000; i++)
        g_string_append(s, "【パスワード】\n");
    hostile("labels alone on every line", s->str, s->len);
    g_string_free(s, TRUE);
    g_rand_free(r);
}

/* A labelled value over 128 bytes is not a candidate (a cut password opens nothing). */
static void test_long_value(void **state)
{
    GString *s = g_string_new("パスワード：");
    GPtrArray *c;
    (void)state;
    for (int i = 0; i < 129; i++)
        g_string_append_c(s, 'a' + i % 26);
    c = cands_of(s->str);
    assert_int_equal(c->len, 0);
    g_ptr_array_unref(c);
    g_string_free(s, TRUE);
}

/* ---- the quarantine id in a subject ---- */

typedef struct id_case {
    const char *subject;
    const char *want; /* NULL: none */
} id_case;

static const id_case ids[] = {
    {"Re: [無害化] Q-20261129-7F3K9X", "Q-20261129-7F3K9X"},
    {"re: q-20261129-7f3k9x", "Q-20261129-7F3K9X"},
    {"Ｒｅ：Ｑ－２０２６１１２９－７Ｆ３Ｋ９Ｘ", "Q-20261129-7F3K9X"},
    {"【Q-20261129-7F3K9X】パスワード", "Q-20261129-7F3K9X"},
    {"(Q-20261129-7F3K9X)", "Q-20261129-7F3K9X"},
    {"Q\xe2\x80\x90"
     "20261129\xe2\x88\x92"
     "7F3K9X",
     "Q-20261129-7F3K9X"}, /* U+2010 and U+2212 */
    {"Q-20261129-7F3K9X Q-20261130-ABCDEF", "Q-20261129-7F3K9X"},
    {"x Q-2026112-7F3K9X then Q-20261130-22HJKM", "Q-20261130-22HJKM"},
    {"Q-20261129-7F3K9O", NULL}, /* O is not in the alphabet */
    {"Q-20261129-7F3K9U", NULL},
    {"Q-2026112-7F3K9X", NULL},
    {"XQ-20261129-7F3K9X", NULL},
    {"Q-20261129-7F3K9XY", NULL},
    {"Re: 見積書の件", NULL},
    {"", NULL},
    {"Q-20261129-\xff\xfe", NULL},
};

/* Every row: the id, upper case, or none. */
static void test_find_id(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
        char out[24] = "";
        int rc = ppap_find_id(ids[i].subject, out);
        if (ids[i].want ? rc != 0 || strcmp(out, ids[i].want) != 0 : rc != -1)
            fail_msg("row %zu \"%s\": rc %d \"%s\"", i, ids[i].subject, rc, out);
    }
    char out[24];
    assert_int_equal(ppap_find_id(NULL, out), -1);
}

/* ---- the mails the flow sends ---- */

#define SUBJECT "[無害化] 添付ファイルを開きました: 見積書の送付について（株式会社サンプル）"
#define NAME1 "見積書 2026年11月.pdf"
#define NAME2 "請求書①.xlsx.pdf"
#define BODY "山田様\n\n保留していた添付ファイルを開きました。\nThe held attachments were opened.\n"

typedef struct mail_fixture {
    char *dir;
    char *path[2];
    char *out;
} mail_fixture;

/* A directory with two files to attach. */
static int mail_setup(void **state)
{
    mail_fixture *f = g_new0(mail_fixture, 1);

    f->dir = g_dir_make_tmp("ppap-XXXXXX", NULL);
    assert_non_null(f->dir);
    for (int i = 0; i < 2; i++) {
        GString *content = g_string_new(NULL);
        f->path[i] = g_strdup_printf("%s/file%d", f->dir, i);
        for (int k = 0; k < 5000 * (i + 1); k++)
            g_string_append_c(content, (char)(k * 7 + i));
        assert_true(g_file_set_contents(f->path[i], content->str, (gssize)content->len, NULL));
        g_string_free(content, TRUE);
    }
    f->out = g_strdup_printf("%s/mail.eml", f->dir);
    *state = f;
    return 0;
}

/* Remove the directory. */
static int mail_teardown(void **state)
{
    mail_fixture *f = *state;

    mg_remove_tree(f->dir);
    g_free(f->path[0]);
    g_free(f->path[1]);
    g_free(f->out);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Write m to f->out. The result of ppap_mail_write; *err as it set. */
static int write_mail(mail_fixture *f, const ppap_mail *m, char **err)
{
    int fd = open(f->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc;

    assert_true(fd >= 0);
    rc = ppap_mail_write(m, fd, err);
    close(fd);
    return rc;
}

/* The written mail parsed by GMime. */
static GMimeMessage *parse_mail(const char *path)
{
    GMimeStream *s = g_mime_stream_file_open(path, "r", NULL);
    GMimeParser *p;
    GMimeMessage *msg;

    assert_non_null(s);
    p = g_mime_parser_new_with_stream(s);
    msg = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(s);
    assert_non_null(msg);
    return msg;
}

/* Check that every line of the file at path ends with CRLF and holds at most 998 bytes. */
static void check_crlf(const char *path)
{
    gchar *data;
    gsize len, line = 0;

    assert_true(g_file_get_contents(path, &data, &len, NULL));
    assert_true(len >= 2 && data[len - 2] == '\r' && data[len - 1] == '\n');
    for (gsize i = 0; i < len; i++) {
        if (data[i] == '\n') {
            assert_true(i > 0 && data[i - 1] == '\r');
            line = 0;
        } else if (data[i] == '\r') {
            assert_true(i + 1 < len && data[i + 1] == '\n');
        } else {
            assert_true(++line <= 998);
        }
    }
    g_free(data);
}

/* The decoded content of part. */
static GByteArray *part_bytes(GMimePart *part)
{
    GMimeStream *mem = g_mime_stream_mem_new();
    GByteArray *out = g_byte_array_new();

    assert_true(g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(part), mem) >= 0);
    g_byte_array_append(out, g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->data,
                        g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->len);
    g_object_unref(mem);
    return out;
}

/* The value of header name on msg, or NULL. */
static const char *header(GMimeMessage *msg, const char *name)
{
    return g_mime_object_get_header(GMIME_OBJECT(msg), name);
}

/* Non-zero when the file at path has a header line starting with name (a raw check:
 * no header the reader could take as its own). */
static int raw_has_header(const char *path, const char *name)
{
    gchar *data, **lines;
    int found = 0;

    assert_true(g_file_get_contents(path, &data, NULL, NULL));
    lines = g_strsplit(data, "\r\n", -1);
    for (gchar **l = lines; *l && **l; l++)
        if (g_ascii_strncasecmp(*l, name, strlen(name)) == 0 && (*l)[strlen(name)] == ':')
            found = 1;
    g_strfreev(lines);
    g_free(data);
    return found;
}

/* A follow-up mail: Japanese subject, two attachments with Japanese names, In-Reply-To. */
static void test_mail_write(void **state)
{
    mail_fixture *f = *state;
    const char *to[] = {"taro@lgwan.example.jp", "hanako@lgwan.example.jp", NULL};
    ppap_file files[] = {{f->path[0], NAME1, "application/pdf"},
                         {f->path[1], NAME2, "application/pdf"}};
    ppap_mail m = {"無害化ゲートウェイ <mugai@gw.example.jp>",
                   to,
                   SUBJECT,
                   "orig-123.456@mail.example.com",
                   BODY,
                   files,
                   2};
    char *err = NULL;
    GMimeMessage *msg;
    GMimeObject *top;
    InternetAddressList *from;
    gchar *raw;

    if (write_mail(f, &m, &err) != 0)
        fail_msg("%s", err);
    check_crlf(f->out);
    assert_true(g_file_get_contents(f->out, &raw, NULL, NULL));
    assert_non_null(strstr(raw, "filename*="));  /* RFC 2231 */
    assert_non_null(strstr(raw, "Subject: =?")); /* RFC 2047 */
    g_free(raw);

    msg = parse_mail(f->out);
    assert_string_equal(g_mime_message_get_subject(msg), SUBJECT);
    from = g_mime_message_get_from(msg);
    assert_int_equal(internet_address_list_length(from), 1);
    assert_string_equal(internet_address_get_name(internet_address_list_get_address(from, 0)),
                        "無害化ゲートウェイ");
    assert_int_equal(
        internet_address_list_length(g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO)), 2);
    assert_string_equal(header(msg, "In-Reply-To"), "<orig-123.456@mail.example.com>");
    assert_string_equal(header(msg, "References"), "<orig-123.456@mail.example.com>");
    assert_string_equal(header(msg, "Auto-Submitted"), "auto-generated");
    assert_non_null(g_mime_message_get_message_id(msg));
    assert_true(g_str_has_suffix(g_mime_message_get_message_id(msg), "@gw.example.jp"));
    assert_non_null(g_mime_message_get_date(msg));

    top = g_mime_message_get_mime_part(msg);
    assert_true(GMIME_IS_MULTIPART(top));
    assert_int_equal(g_mime_multipart_get_count(GMIME_MULTIPART(top)), 3);
    {
        GMimeObject *text = g_mime_multipart_get_part(GMIME_MULTIPART(top), 0);
        gchar *body;
        assert_true(GMIME_IS_TEXT_PART(text));
        body = g_mime_text_part_get_text(GMIME_TEXT_PART(text));
        assert_string_equal(body, BODY);
        g_free(body);
    }
    for (int i = 0; i < 2; i++) {
        GMimePart *p = GMIME_PART(g_mime_multipart_get_part(GMIME_MULTIPART(top), i + 1));
        GByteArray *got = part_bytes(p);
        gchar *want;
        gsize want_len;
        assert_string_equal(g_mime_part_get_filename(p), files[i].name);
        assert_true(g_file_get_contents(files[i].path, &want, &want_len, NULL));
        assert_int_equal(got->len, want_len);
        assert_memory_equal(got->data, want, want_len);
        g_free(want);
        g_byte_array_unref(got);
    }
    g_object_unref(msg);
}

/* CR, LF and controls in the subject, a display name and the Message-ID never make a header
 * of their own; a Message-ID that is not one is left out; a bad address is refused. */
static void test_mail_injection(void **state)
{
    mail_fixture *f = *state;
    const char *to[] = {"taro@lgwan.example.jp", NULL};
    const char *bad_to[] = {"taro@lgwan.example.jp\r\nBcc: x@y", NULL};
    ppap_mail m = {"Evil\r\nBcc: z@y.example <mugai@gw.example.jp>",
                   to,
                   "Hello\r\nBcc: x@y\r\n\r\nbody",
                   "<a@b>\r\nBcc: x@y",
                   "text",
                   NULL,
                   0};
    char *err = NULL;
    GMimeMessage *msg;

    (void)state;
    assert_int_equal(write_mail(f, &m, &err), 0);
    check_crlf(f->out);
    assert_false(raw_has_header(f->out, "Bcc"));
    assert_false(raw_has_header(f->out, "In-Reply-To"));
    msg = parse_mail(f->out);
    assert_null(header(msg, "Bcc"));
    assert_null(header(msg, "In-Reply-To"));
    assert_null(strchr(g_mime_message_get_subject(msg), '\n'));
    assert_non_null(strstr(g_mime_message_get_subject(msg), "Hello"));
    assert_int_equal(
        internet_address_list_length(g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO)), 1);
    g_object_unref(msg);

    m.in_reply_to = "<has space@x>";
    assert_int_equal(write_mail(f, &m, &err), 0);
    assert_false(raw_has_header(f->out, "In-Reply-To"));
    assert_false(raw_has_header(f->out, "References"));

    m.subject = NULL;
    if (write_mail(f, &m, &err) != 0)
        fail_msg("no subject: %s", err);
    m.subject = "\xff\xfe\x01";
    if (write_mail(f, &m, &err) != 0)
        fail_msg("invalid subject: %s", err);
    check_crlf(f->out);

    m.to = bad_to;
    assert_int_equal(write_mail(f, &m, &err), -1);
    assert_non_null(strstr(err, "not a plain mail address"));
    g_free(err);
}

/* A file that cannot be read: -1 and an error naming it. */
static void test_mail_missing_file(void **state)
{
    mail_fixture *f = *state;
    const char *to[] = {"taro@lgwan.example.jp", NULL};
    ppap_file files[] = {{"/nonexistent/ppap-file", "x.pdf", "application/pdf"}};
    ppap_mail m = {"mugai@gw.example.jp", to, "s", NULL, "b", files, 1};
    char *err = NULL;

    assert_int_equal(write_mail(f, &m, &err), -1);
    assert_non_null(strstr(err, "/nonexistent/ppap-file"));
    g_free(err);
}

/* Python's email package reads the follow-up mail the same way. */
static const char python_check[] =
    "import sys, email, email.policy\n"
    "m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)\n"
    "assert m['Subject'] == sys.argv[2], repr(m['Subject'])\n"
    "names = [p.get_filename() for p in m.iter_attachments()]\n"
    "assert names == sys.argv[3:5], names\n"
    "assert m['In-Reply-To'] == '<orig@example.com>', m['In-Reply-To']\n"
    "assert m['References'] == '<orig@example.com>', m['References']\n"
    "assert m['Auto-Submitted'] == 'auto-generated'\n"
    "assert 'Bcc' not in m\n"
    "assert m.get_body(('plain',)).get_content() == sys.argv[5]\n"
    "assert not m.defects, m.defects\n";

static void test_mail_python(void **state)
{
    mail_fixture *f = *state;
    const char *to[] = {"taro@lgwan.example.jp", NULL};
    ppap_file files[] = {{f->path[0], NAME1, "application/pdf"},
                         {f->path[1], NAME2, "application/pdf"}};
    ppap_mail m = {"mugai@gw.example.jp", to, SUBJECT, "orig@example.com", BODY, files, 2};
    char *err = NULL, *out = NULL, *errs = NULL;
    const char *argv[] = {
        "/usr/bin/python3", "-c", python_check, f->out, SUBJECT, NAME1, NAME2, BODY, NULL};
    int status = -1;

    if (write_mail(f, &m, &err) != 0)
        fail_msg("%s", err);
    assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs,
                             &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL))
        fail_msg("python: %s", errs);
    g_free(out);
    g_free(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_greeting_only_password),
        cmocka_unit_test(test_labelled_first),
        cmocka_unit_test(test_not_passwords),
        cmocka_unit_test(test_label_word_bounds),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_long_value),
        cmocka_unit_test(test_find_id),
        cmocka_unit_test_setup_teardown(test_mail_write, mail_setup, mail_teardown),
        cmocka_unit_test_setup_teardown(test_mail_injection, mail_setup, mail_teardown),
        cmocka_unit_test_setup_teardown(test_mail_missing_file, mail_setup, mail_teardown),
        cmocka_unit_test_setup_teardown(test_mail_python, mail_setup, mail_teardown),
    };
    g_mime_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
