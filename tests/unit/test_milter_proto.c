/*
 * tests/unit/test_milter_proto.c - unit tests of the typed messages between
 * mugai-milter, its pool supervisor and its workers (milter/proto.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "milter.h"

/* A connected socket pair. */
static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* Write a raw header {magic, type, length} and payload bytes, then close. */
static void raw(int fd, uint32_t magic, uint32_t type, uint32_t len, const void *p, size_t n)
{
    uint32_t h[3] = {htonl(magic), htonl(type), htonl(len)};

    assert_int_equal(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
    if (n > 0)
        assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* Typed values come back in order; reading past the end is an error. */
static void test_roundtrip(void **state)
{
    milter_msg *m = milter_msg_new(7), *r = NULL;
    uint32_t v;
    char *s, *z;
    int sv[2];

    (void)state;
    pair(sv);
    assert_int_equal(milter_msg_put_u32(m, 42), 0);
    assert_int_equal(milter_msg_put_str(m, "日本語"), 0);
    assert_int_equal(milter_msg_put_str(m, NULL), 0);
    assert_int_equal(milter_msg_send(sv[0], m, NULL, 0), 0);
    assert_int_equal(milter_msg_recv(sv[1], &r), 0);
    assert_int_equal(r->type, 7);
    assert_int_equal(milter_msg_get_u32(r, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(milter_msg_get_str(r, &s), 0);
    assert_string_equal(s, "日本語");
    assert_int_equal(milter_msg_get_str(r, &z), 0);
    assert_null(z);
    assert_int_equal(milter_msg_end(r), 0);
    assert_int_equal(milter_msg_get_u32(r, &v), -1);
    free(s);
    milter_msg_free(m);
    milter_msg_free(r);
    close(sv[0]);
    close(sv[1]);
}

/* One row per malformed input that milter_msg_recv must refuse. */
typedef struct bad_case {
    const char *name;
    uint32_t magic, len;
    size_t sent; /* payload bytes actually sent */
} bad_case;

static const bad_case bad_cases[] = {
    {"wrong magic", 0x12345678u, 4, 4},
    {"short payload", MILTER_MAGIC, 16, 8},
    {"over-long", MILTER_MAGIC, MILTER_MSG_MAX + 1, 0},
    {"empty stream", 0, 0, 0},
};

/* Each malformed message is an error, never a partial message. */
static void test_bad_messages(void **state)
{
    unsigned char payload[16] = {0};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case *c = &bad_cases[i];
        milter_msg *r = NULL;
        int sv[2];

        pair(sv);
        if (c->magic == 0)
            close(sv[0]);
        else
            raw(sv[0], c->magic, MILTER_T_JOB, c->len, payload, c->sent);
        assert_int_equal(milter_msg_recv(sv[1], &r), -1);
        assert_null(r);
        close(sv[1]);
    }
}

/* Trailing bytes after the typed fields make a job invalid. */
static void test_job_trailing(void **state)
{
    milter_msg *m = milter_msg_new(MILTER_T_JOB);
    milter_job j;
    int sv[2], fd[2] = {dup(0), dup(0)};

    (void)state;
    pair(sv);
    milter_msg_put_str(m, "Q1");
    milter_msg_put_str(m, NULL);
    milter_msg_put_str(m, "a@example.com");
    milter_msg_put_u32(m, 0);
    milter_msg_put_u32(m, 99); /* extra */
    assert_int_equal(milter_msg_send(sv[0], m, fd, 2), 0);
    assert_int_equal(milter_job_recv(sv[1], &j), -1);
    milter_msg_free(m);
    close(fd[0]);
    close(fd[1]);
    close(sv[0]);
    close(sv[1]);
}

/* A job carries its envelope, its spool fd and its output fd (the same open files). */
static void test_job_fd(void **state)
{
    char *rc[] = {"b@example.lg.jp", "c@example.lg.jp", NULL};
    char tmpl[] = "/tmp/mugai-proto-XXXXXX", tmpl2[] = "/tmp/mugai-proto-XXXXXX";
    char buf[8] = {0};
    int fd = mkstemp(tmpl), out = mkstemp(tmpl2), sv[2];
    milter_job j = {"Q1", "mx [192.0.2.1]", "a@example.com", rc, 2, fd, out, MILTER_JOB_SUBMIT},
               got;

    (void)state;
    unlink(tmpl);
    unlink(tmpl2);
    assert_int_equal(write(fd, "spooled", 7), 7);
    pair(sv);
    assert_int_equal(milter_job_send(sv[0], &j), 0);
    assert_int_equal(milter_job_recv(sv[1], &got), 0);
    assert_string_equal(got.queue_id, "Q1");
    assert_string_equal(got.sender, "a@example.com");
    assert_int_equal(got.kind, MILTER_JOB_SUBMIT);
    assert_int_equal(got.nrcpts, 2);
    assert_string_equal(got.rcpts[1], "c@example.lg.jp");
    assert_null(got.rcpts[2]);
    assert_true(got.fd >= 0 && got.fd != fd);
    assert_int_equal(pread(got.fd, buf, 7, 0), 7);
    assert_string_equal(buf, "spooled");
    assert_true(got.out >= 0 && got.out != out);
    assert_int_equal(pwrite(got.out, "clean", 5, 0), 5);
    assert_int_equal(pread(out, buf, 5, 0), 5);
    assert_memory_equal(buf, "clean", 5);
    milter_job_clear(&got);
    assert_int_equal(got.fd, -1);
    assert_int_equal(got.out, -1);
    close(fd);
    close(out);
    close(sv[0]);
    close(sv[1]);
}

/* A job without both fds is not sent, and not accepted when it arrives. */
static void test_job_without_fd(void **state)
{
    milter_job j = {"Q1", NULL, "", NULL, 0, dup(0), -1, MILTER_JOB_MAIL}, got;
    milter_msg *m = milter_msg_new(MILTER_T_JOB);
    int sv[2];

    (void)state;
    pair(sv);
    assert_int_equal(milter_job_send(sv[0], &j), -1);
    milter_msg_put_str(m, "Q1");
    milter_msg_put_str(m, NULL);
    milter_msg_put_str(m, "");
    milter_msg_put_u32(m, 0);
    assert_int_equal(milter_msg_send(sv[0], m, &j.fd, 1), 0);
    assert_int_equal(milter_job_recv(sv[1], &got), -1);
    milter_msg_free(m);
    close(j.fd);
    close(sv[0]);
    close(sv[1]);
}

/* More descriptors than a message may carry: not sent, and an error when they arrive. */
static void test_too_many_fds(void **state)
{
    milter_msg *m = milter_msg_new(MILTER_T_JOB), *got = NULL;
    int sv[2], fd[3] = {dup(0), dup(0), dup(0)};
    uint32_t h[3] = {htonl(MILTER_MAGIC), htonl(MILTER_T_JOB), 0};
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(3 * sizeof(int))];
    } cm;
    struct iovec iov = {h, sizeof(h)};
    struct msghdr mh;

    (void)state;
    pair(sv);
    assert_int_equal(milter_msg_send(sv[0], m, fd, 3), -1);
    memset(&mh, 0, sizeof(mh));
    memset(&cm, 0, sizeof(cm));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    cm.c.cmsg_level = SOL_SOCKET;
    cm.c.cmsg_type = SCM_RIGHTS;
    cm.c.cmsg_len = CMSG_LEN(3 * sizeof(int));
    memcpy(CMSG_DATA(&cm.c), fd, sizeof(fd));
    assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)sizeof(h));
    assert_int_equal(milter_msg_recv(sv[1], &got), -1);
    assert_null(got);
    milter_msg_free(m);
    close(fd[0]);
    close(fd[1]);
    close(fd[2]);
    close(sv[0]);
    close(sv[1]);
}

/* OK and busy replies round-trip with their completion mark. */
static void test_reply(void **state)
{
    milter_reply ok = {MILTER_ST_OK, "Q-20261125-ABCDEF", NULL};
    milter_reply busy = {MILTER_ST_BUSY, NULL, "no worker"};
    milter_reply r;
    int sv[2];

    (void)state;
    pair(sv);
    assert_int_equal(milter_reply_send(sv[0], &ok), 0);
    assert_int_equal(milter_reply_send(sv[0], &busy), 0);
    assert_int_equal(milter_reply_recv(sv[1], &r), 0);
    assert_int_equal(r.status, MILTER_ST_OK);
    assert_string_equal(r.qid, "Q-20261125-ABCDEF");
    milter_reply_clear(&r);
    assert_int_equal(milter_reply_recv(sv[1], &r), 0);
    assert_int_equal(r.status, MILTER_ST_BUSY);
    assert_string_equal(r.text, "no worker");
    milter_reply_clear(&r);
    close(sv[0]);
    close(sv[1]);
}

/* A reply cut before its completion mark (a worker that died) is an error. */
static void test_reply_no_mark(void **state)
{
    milter_msg *m = milter_msg_new(MILTER_T_REPLY);
    milter_reply r;
    int sv[2];

    (void)state;
    pair(sv);
    milter_msg_put_u32(m, MILTER_ST_FAIL);
    milter_msg_put_str(m, NULL);
    milter_msg_put_str(m, "oops");
    assert_int_equal(milter_msg_send(sv[0], m, NULL, 0), 0);
    assert_int_equal(milter_reply_recv(sv[1], &r), -1);
    close(sv[0]);
    assert_int_equal(milter_reply_recv(sv[1], &r), -1); /* EOF: no reply at all */
    milter_msg_free(m);
    close(sv[1]);
}

/* An OK reply needs its quarantine id, and a reply carries no descriptor. */
static void test_reply_bad(void **state)
{
    milter_msg *m = milter_msg_new(MILTER_T_REPLY), *m2 = milter_msg_new(MILTER_T_REPLY);
    milter_reply r;
    int sv[2], fd = dup(0);

    (void)state;
    pair(sv);
    milter_msg_put_u32(m, MILTER_ST_OK);
    milter_msg_put_str(m, NULL);
    milter_msg_put_str(m, NULL);
    milter_msg_put_u32(m, MILTER_DONE);
    assert_int_equal(milter_msg_send(sv[0], m, NULL, 0), 0);
    assert_int_equal(milter_reply_recv(sv[1], &r), -1);
    milter_msg_put_u32(m2, MILTER_ST_OK);
    milter_msg_put_str(m2, "Q-1");
    milter_msg_put_str(m2, NULL);
    milter_msg_put_u32(m2, MILTER_DONE);
    assert_int_equal(milter_msg_send(sv[0], m2, &fd, 1), 0);
    assert_int_equal(milter_reply_recv(sv[1], &r), -1);
    milter_msg_free(m);
    milter_msg_free(m2);
    close(fd);
    close(sv[0]);
    close(sv[1]);
}

/* The control channel passes a connection fd with a tag byte. */
static void test_fd_channel(void **state)
{
    int sv[2], fd;
    char tag;

    (void)state;
    pair(sv);
    assert_int_equal(milter_fd_send(sv[0], 'J', 0), 0);
    assert_int_equal(milter_fd_recv(sv[1], &tag, &fd), 0);
    assert_int_equal(tag, 'J');
    assert_true(fd >= 0);
    close(fd);
    close(sv[0]);
    assert_int_equal(milter_fd_recv(sv[1], &tag, &fd), -1);
    close(sv[1]);
}

typedef struct qid_case {
    const char *qid;
    int valid;
} qid_case;

static const qid_case qid_cases[] = {
    {"Q-20261125-7F3K9X", 1},
    {"Q-00000000-000000", 1},
    {"Q-20261125-ABCDEZ", 1},
    {NULL, 0},
    {"", 0},
    {"Q-20261125-7F3K9", 0},              /* short */
    {"Q-20261125-7F3K9XY", 0},            /* long */
    {"Q-20261125-7f3k9x", 0},             /* lower case */
    {"q-20261125-7F3K9X", 0},             /* prefix case */
    {"Q-2026112A-7F3K9X", 0},             /* letter in the date */
    {"Q_20261125-7F3K9X", 0},             /* separator */
    {"Q-20261125_7F3K9X", 0},             /* separator */
    {"Q-20261125-7F3K9\n", 0},            /* line break */
    {"Q-20261125-7F3K9X\r\nBcc: x@y", 0}, /* header injection */
    {"Q-20261125-7F3%9X", 0},             /* format character */
    {" Q-20261125-7F3K9X", 0},            /* leading space */
    {"Q-20261125-7F3K9\xc3\x89", 0},      /* non-ASCII */
};

/* A quarantine id goes into a header only in the store's own form. */
static void test_qid_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(qid_cases) / sizeof(qid_cases[0]); i++) {
        print_message("%s\n", qid_cases[i].qid ? qid_cases[i].qid : "(null)");
        assert_int_equal(milter_qid_valid(qid_cases[i].qid) != 0, qid_cases[i].valid);
    }
}

/* An unlock request round-trips; an empty part means every part still held (NULL). */
static void test_unlock_roundtrip(void **state)
{
    milter_unlock u = {"Q-20261129-ABC123", "2", "Ab3#xY9!パス", "tanaka", "192.0.2.7"}, got;
    milter_unlock all = {"Q-20261129-ABC123", "", "pw", NULL, NULL};
    int sv[2];

    (void)state;
    pair(sv);
    assert_int_equal(milter_unlock_send(sv[0], &u), 0);
    assert_int_equal(milter_unlock_send(sv[0], &all), 0);
    assert_int_equal(milter_unlock_recv(sv[1], &got), 0);
    assert_string_equal(got.msg_id, "Q-20261129-ABC123");
    assert_string_equal(got.part, "2");
    assert_string_equal(got.password, "Ab3#xY9!パス");
    assert_string_equal(got.actor, "tanaka");
    assert_string_equal(got.source, "192.0.2.7");
    milter_unlock_clear(&got);
    assert_null(got.password);
    assert_int_equal(milter_unlock_recv(sv[1], &got), 0);
    assert_null(got.part);
    assert_null(got.actor);
    assert_string_equal(got.password, "pw");
    milter_unlock_clear(&got);
    milter_unlock_clear(NULL);
    close(sv[0]);
    close(sv[1]);
}

/* An unlock request with a field out of bounds is not sent. */
static void test_unlock_send_bounds(void **state)
{
    static char long_pw[MILTER_UNLOCK_PW_MAX + 2], max_pw[MILTER_UNLOCK_PW_MAX + 1];
    static char long_field[MILTER_UNLOCK_FIELD_MAX + 2];
    const struct {
        milter_unlock u;
        int rc;
    } cases[] = {
        {{"Q-1", NULL, max_pw, "a", "b"}, 0},       /* the longest password */
        {{"Q-1", NULL, long_pw, "a", "b"}, -1},     /* one byte more */
        {{"Q-1", NULL, "", "a", "b"}, -1},          /* empty password */
        {{"Q-1", NULL, NULL, "a", "b"}, -1},        /* no password */
        {{NULL, NULL, "pw", "a", "b"}, -1},         /* no id */
        {{"", NULL, "pw", "a", "b"}, -1},           /* empty id */
        {{"Q-1", long_field, "pw", "a", "b"}, -1},  /* part too long */
        {{"Q-1", NULL, "pw", long_field, "b"}, -1}, /* actor too long */
        {{"Q-1", NULL, "pw", "a", long_field}, -1}, /* source too long */
        {{long_field, NULL, "pw", "a", "b"}, -1},   /* id too long */
    };
    milter_unlock got;
    int sv[2];

    (void)state;
    memset(long_pw, 'p', sizeof(long_pw) - 1);
    memset(max_pw, 'p', sizeof(max_pw) - 1);
    memset(long_field, 'f', sizeof(long_field) - 1);
    pair(sv);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu\n", i);
        errno = 0;
        assert_int_equal(milter_unlock_send(sv[0], &cases[i].u), cases[i].rc);
        if (cases[i].rc < 0) {
            assert_int_equal(errno, EINVAL);
            continue;
        }
        assert_int_equal(milter_unlock_recv(sv[1], &got), 0);
        assert_int_equal(strlen(got.password), MILTER_UNLOCK_PW_MAX);
        milter_unlock_clear(&got);
    }
    close(sv[0]);
    close(sv[1]);
}

/* Each field of an unlock request has its form, checked when it is sent and when it is
 * received: whoever reaches the unlock socket must not write a line of its own into the log
 * or a name that hides its text into the trail. */
static void test_unlock_fields_of_their_form(void **state)
{
    const struct {
        const char *id, *part, *actor, *source;
        int ok;
    } cases[] = {
        {"Q-20261129-ABC123", "2.1", "山田", "::1", 1},        /* all of their form */
        {"Q-20261129-ABC123", NULL, "", "", 1},                /* empty actor and source */
        {"Q-1", NULL, "tanaka\nmugai-milter: opened", "a", 0}, /* a line in the actor */
        {"Q-1", NULL, "tanaka\r", "a", 0},                     /* a control */
        {"Q-1", NULL,
         "evil\xe2\x80\xae"
         "exe.pdf",
         "a", 0},                                        /* U+202E */
        {"Q-1", NULL, "\xff\xfe", "a", 0},               /* not UTF-8 */
        {"Q-1", NULL, "tanaka", "192.0.2.7 spoofed", 0}, /* a blank in the source */
        {"Q-1", NULL, "tanaka", "192.0.2.7\n", 0},       /* a line in the source */
        {"Q-1\nX", NULL, "tanaka", "a", 0},              /* a line in the id */
        {"Q-1 ", NULL, "tanaka", "a", 0},                /* a blank in the id */
        {"Q-1", "2..1", "tanaka", "a", 0},               /* not a part path */
        {"Q-1", ".2", "tanaka", "a", 0},
        {"Q-1", "2.", "tanaka", "a", 0},
        {"Q-1", "2/../1", "tanaka", "a", 0},
        {"Q-1", "x", "tanaka", "a", 0},
    };
    milter_unlock got;
    int sv[2];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        milter_unlock u = {(char *)cases[i].id, (char *)cases[i].part, "pw", (char *)cases[i].actor,
                           (char *)cases[i].source};
        milter_msg *m = milter_msg_new(MILTER_T_UNLOCK);

        print_message("case %zu\n", i);
        pair(sv);
        errno = 0;
        assert_int_equal(milter_unlock_send(sv[0], &u), cases[i].ok ? 0 : -1);
        if (cases[i].ok) {
            assert_int_equal(milter_unlock_recv(sv[1], &got), 0);
            assert_string_equal(got.actor, cases[i].actor);
            milter_unlock_clear(&got);
        } else {
            assert_int_equal(errno, EINVAL);
        }
        /* The same fields sent raw, as another process could: refused on receipt. */
        milter_msg_put_str(m, cases[i].id);
        milter_msg_put_str(m, cases[i].part);
        milter_msg_put_str(m, "pw");
        milter_msg_put_str(m, cases[i].actor);
        milter_msg_put_str(m, cases[i].source);
        assert_int_equal(milter_msg_send(sv[0], m, NULL, 0), 0);
        assert_int_equal(milter_unlock_recv(sv[1], &got), cases[i].ok ? 0 : -1);
        if (!cases[i].ok)
            assert_null(got.actor);
        milter_unlock_clear(&got);
        milter_msg_free(m);
        close(sv[0]);
        close(sv[1]);
    }
}

/* What a worker must refuse on the unlock socket: another type (a job), a descriptor, a
 * password out of bounds, bytes left over; and an unlock request where a job is expected. */
static void test_unlock_recv_refused(void **state)
{
    static char long_pw[MILTER_UNLOCK_PW_MAX + 2];
    const struct {
        uint32_t type;
        const char *pw;
        int with_fd, trailing;
    } cases[] = {
        {MILTER_T_UNLOCK, "pw", 0, 0},    /* well formed: accepted */
        {MILTER_T_JOB, "pw", 0, 0},       /* another type */
        {MILTER_T_UNLOCK, "pw", 1, 0},    /* with a descriptor */
        {MILTER_T_UNLOCK, "", 0, 0},      /* empty password */
        {MILTER_T_UNLOCK, long_pw, 0, 0}, /* password too long */
        {MILTER_T_UNLOCK, NULL, 0, 0},    /* no password */
        {MILTER_T_UNLOCK, "pw", 0, 1},    /* bytes left over */
    };
    milter_unlock got;
    milter_job job;
    int sv[2], fd = dup(0);

    (void)state;
    memset(long_pw, 'p', sizeof(long_pw) - 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        milter_msg *m = milter_msg_new(cases[i].type);

        print_message("case %zu\n", i);
        pair(sv);
        milter_msg_put_str(m, "Q-20261129-ABC123");
        milter_msg_put_str(m, NULL);
        milter_msg_put_str(m, cases[i].pw);
        milter_msg_put_str(m, "tanaka");
        milter_msg_put_str(m, "192.0.2.7");
        if (cases[i].trailing)
            milter_msg_put_u32(m, 0);
        assert_int_equal(milter_msg_send(sv[0], m, &fd, cases[i].with_fd ? 1 : 0), 0);
        assert_int_equal(milter_unlock_recv(sv[1], &got), i == 0 ? 0 : -1);
        if (i == 0)
            assert_string_equal(got.password, "pw");
        else
            assert_null(got.msg_id);
        milter_unlock_clear(&got);
        /* The same request on the job socket is no job. */
        if (i == 0) {
            assert_int_equal(milter_msg_send(sv[0], m, NULL, 0), 0);
            assert_int_equal(milter_job_recv(sv[1], &job), -1);
        }
        milter_msg_free(m);
        close(sv[0]);
        close(sv[1]);
    }
    close(fd);
}

/* An unlock answer round-trips with its parts; a busy one has none. */
static void test_unlock_reply(void **state)
{
    milter_unlock_part parts[] = {{"2", 0, 1, 3, 0, "no password opened it"},
                                  {"4", 1, 1, 0, 0, NULL}};
    milter_unlock_reply r = {MILTER_UNLOCK_DONE, NULL, parts, 2}, got;
    milter_unlock_reply busy = {MILTER_UNLOCK_BUSY, "no worker", NULL, 0};
    int sv[2];

    (void)state;
    pair(sv);
    assert_int_equal(milter_unlock_reply_send(sv[0], &r), 0);
    assert_int_equal(milter_unlock_reply_send(sv[0], &busy), 0);
    assert_int_equal(milter_unlock_reply_recv(sv[1], &got), 0);
    assert_int_equal(got.status, MILTER_UNLOCK_DONE);
    assert_null(got.text);
    assert_int_equal(got.nparts, 2);
    assert_string_equal(got.parts[0].part, "2");
    assert_int_equal(got.parts[0].opened, 0);
    assert_int_equal(got.parts[0].tried, 1);
    assert_int_equal(got.parts[0].attempts, 3);
    assert_string_equal(got.parts[0].why, "no password opened it");
    assert_string_equal(got.parts[1].part, "4");
    assert_int_equal(got.parts[1].opened, 1);
    assert_null(got.parts[1].why);
    milter_unlock_reply_clear(&got);
    assert_int_equal(milter_unlock_reply_recv(sv[1], &got), 0);
    assert_int_equal(got.status, MILTER_UNLOCK_BUSY);
    assert_string_equal(got.text, "no worker");
    assert_int_equal(got.nparts, 0);
    milter_unlock_reply_clear(&got);
    close(sv[0]);
    close(sv[1]);
}

/* Malformed unlock answers are errors: no mark (a worker that died), an unknown status, a flag
 * other than 0/1, a part without a name, more parts than allowed (not sent either). */
static void test_unlock_reply_bad(void **state)
{
    const struct {
        uint32_t status, nparts, opened, mark;
        const char *part;
    } cases[] = {
        {MILTER_UNLOCK_DONE, 1, 1, MILTER_DONE, "2"}, /* well formed: accepted */
        {MILTER_UNLOCK_DONE, 1, 1, 0, "2"},           /* no completion mark */
        {9, 1, 1, MILTER_DONE, "2"},                  /* unknown status */
        {MILTER_UNLOCK_DONE, 1, 2, MILTER_DONE, "2"}, /* opened is 0 or 1 */
        {MILTER_UNLOCK_DONE, 1, 1, MILTER_DONE, NULL},
        {MILTER_UNLOCK_DONE, MILTER_UNLOCK_MAX_PARTS + 1, 1, MILTER_DONE, "2"},
    };
    milter_unlock_part many[MILTER_UNLOCK_MAX_PARTS + 1];
    milter_unlock_reply r = {MILTER_UNLOCK_DONE, NULL, many, MILTER_UNLOCK_MAX_PARTS + 1}, got;
    int sv[2];

    (void)state;
    memset(many, 0, sizeof(many));
    for (size_t i = 0; i < MILTER_UNLOCK_MAX_PARTS + 1; i++)
        many[i].part = "1";
    pair(sv);
    errno = 0;
    assert_int_equal(milter_unlock_reply_send(sv[0], &r), -1);
    assert_int_equal(errno, EINVAL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        milter_msg *m = milter_msg_new(MILTER_T_UNLOCK_REPLY);

        print_message("case %zu\n", i);
        milter_msg_put_u32(m, cases[i].status);
        milter_msg_put_str(m, NULL);
        milter_msg_put_u32(m, cases[i].nparts);
        for (uint32_t k = 0; k < cases[i].nparts; k++) {
            milter_msg_put_str(m, cases[i].part);
            milter_msg_put_u32(m, cases[i].opened);
            milter_msg_put_u32(m, 1);
            milter_msg_put_u32(m, 0);
            milter_msg_put_u32(m, 0);
            milter_msg_put_str(m, NULL);
        }
        if (cases[i].mark)
            milter_msg_put_u32(m, cases[i].mark);
        assert_int_equal(milter_msg_send(sv[0], m, NULL, 0), 0);
        assert_int_equal(milter_unlock_reply_recv(sv[1], &got), i == 0 ? 0 : -1);
        assert_int_equal(got.nparts, i == 0 ? 1 : 0);
        milter_unlock_reply_clear(&got);
        milter_msg_free(m);
    }
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_job_trailing),
        cmocka_unit_test(test_job_fd),
        cmocka_unit_test(test_job_without_fd),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_reply_no_mark),
        cmocka_unit_test(test_reply_bad),
        cmocka_unit_test(test_fd_channel),
        cmocka_unit_test(test_too_many_fds),
        cmocka_unit_test(test_qid_valid),
        cmocka_unit_test(test_unlock_roundtrip),
        cmocka_unit_test(test_unlock_send_bounds),
        cmocka_unit_test(test_unlock_recv_refused),
        cmocka_unit_test(test_unlock_reply),
        cmocka_unit_test(test_unlock_reply_bad),
        cmocka_unit_test(test_unlock_fields_of_their_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
