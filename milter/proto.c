/*
 * milter/proto.c - typed messages between the milter front end, the pool
 * supervisor and the sanitizer workers, modelled on OpenSMTPD's mproc: a
 * fixed header {magic, type, length}, typed getters, file descriptors
 * passed with SCM_RIGHTS.
 *
 * Runs in the milter threads, the supervisor and the workers (all trusted,
 * unprivileged). Must never trust a length it has not checked against
 * MILTER_MSG_MAX and the bytes actually present, and never leak a received
 * descriptor.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib.h>

#include "mg.h"
#include "milter.h"

#define HDR_LEN 12u
#define STR_NULL 0xffffffffu

/* A new empty message of type. */
milter_msg *milter_msg_new(uint32_t type)
{
    milter_msg *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->type = type;
    m->fd[0] = m->fd[1] = -1;
    return m;
}

/* Free m, closing the fds it holds. */
void milter_msg_free(milter_msg *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < MILTER_MAX_FDS; i++)
        if (m->fd[i] >= 0)
            close(m->fd[i]);
    free(m->buf);
    free(m);
}

/* Make room for n more payload bytes. */
static int msg_reserve(milter_msg *m, size_t n)
{
    size_t want, cap;
    unsigned char *nb;

    if (n > MILTER_MSG_MAX || m->len > MILTER_MSG_MAX - n) {
        errno = EMSGSIZE;
        return -1;
    }
    want = m->len + n;
    if (want <= m->cap)
        return 0;
    cap = m->cap ? m->cap : 256;
    while (cap < want)
        cap *= 2;
    nb = realloc(m->buf, cap);
    if (nb == NULL)
        return -1;
    m->buf = nb;
    m->cap = cap;
    return 0;
}

/* Append n raw bytes. */
static int msg_put(milter_msg *m, const void *p, size_t n)
{
    if (msg_reserve(m, n) < 0)
        return -1;
    if (n > 0)
        memcpy(m->buf + m->len, p, n);
    m->len += n;
    return 0;
}

/* Append a 32-bit value in network order. */
int milter_msg_put_u32(milter_msg *m, uint32_t v)
{
    uint32_t n = htonl(v);

    return msg_put(m, &n, sizeof(n));
}

/* Append a string as its length then its bytes; NULL is a reserved length. */
int milter_msg_put_str(milter_msg *m, const char *s)
{
    size_t n;

    if (s == NULL)
        return milter_msg_put_u32(m, STR_NULL);
    n = strlen(s);
    if (n >= MILTER_MSG_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    if (milter_msg_put_u32(m, (uint32_t)n) < 0)
        return -1;
    return msg_put(m, s, n);
}

/* Take the next 32-bit value; -1 when the payload is too short. */
int milter_msg_get_u32(milter_msg *m, uint32_t *v)
{
    uint32_t n;

    if (m->len - m->pos < sizeof(n)) {
        errno = EBADMSG;
        return -1;
    }
    memcpy(&n, m->buf + m->pos, sizeof(n));
    m->pos += sizeof(n);
    *v = ntohl(n);
    return 0;
}

/* Take the next string as a fresh copy; an embedded NUL is an error. */
int milter_msg_get_str(milter_msg *m, char **s)
{
    uint32_t n;

    *s = NULL;
    if (milter_msg_get_u32(m, &n) < 0)
        return -1;
    if (n == STR_NULL)
        return 0;
    if (n > m->len - m->pos || memchr(m->buf + m->pos, '\0', n) != NULL) {
        errno = EBADMSG;
        return -1;
    }
    *s = malloc((size_t)n + 1);
    if (*s == NULL)
        return -1;
    memcpy(*s, m->buf + m->pos, n);
    (*s)[n] = '\0';
    m->pos += n;
    return 0;
}

/* Check that nothing is left unread. */
int milter_msg_end(const milter_msg *m)
{
    if (m->pos != m->len) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

/* sendmsg iov, the nfd descriptors of fd riding with the first byte. */
static int send_iov(int sock, struct iovec *iov, int niov, const int *fd, size_t nfd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(MILTER_MAX_FDS * sizeof(int))];
    } cm;
    struct msghdr mh;
    ssize_t n;

    if (nfd > MILTER_MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)niov;
    if (nfd > 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.buf;
        mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
        cm.h.cmsg_level = SOL_SOCKET;
        cm.h.cmsg_type = SCM_RIGHTS;
        cm.h.cmsg_len = CMSG_LEN(nfd * sizeof(int));
        memcpy(CMSG_DATA(&cm.h), fd, nfd * sizeof(int));
    }
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    return (int)n;
}

/* Send the message; the kernel may take a stream write in parts, so finish the rest. */
int milter_msg_send(int sock, const milter_msg *m, const int *fd, size_t nfd)
{
    unsigned char hdr[HDR_LEN];
    uint32_t v[3] = {htonl(MILTER_MAGIC), htonl(m->type), htonl((uint32_t)m->len)};
    struct iovec iov[2];
    size_t total = HDR_LEN + m->len, done;
    int n;

    memcpy(hdr, v, sizeof(hdr));
    iov[0].iov_base = hdr;
    iov[0].iov_len = HDR_LEN;
    iov[1].iov_base = m->buf;
    iov[1].iov_len = m->len;
    n = send_iov(sock, iov, m->len ? 2 : 1, fd, nfd);
    if (n < 0)
        return -1;
    done = (size_t)n;
    if (done < HDR_LEN) {
        if (mg_write_all(sock, hdr + done, HDR_LEN - done) < 0)
            return -1;
        done = HDR_LEN;
    }
    if (done < total)
        return mg_write_all(sock, m->buf + (done - HDR_LEN), total - done);
    return 0;
}

/* Keep the fds of a control message in the free slots of fd[]; one too many is a
 * protocol error (and is closed). */
static int take_fds(struct msghdr *mh, int *fd)
{
    struct cmsghdr *c;
    int bad = 0;

    for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        size_t i, k, nfd;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < nfd; i++) {
            int got;

            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            for (k = 0; k < MILTER_MAX_FDS && fd[k] >= 0; k++)
                ;
            if (k < MILTER_MAX_FDS) {
                fd[k] = got;
            } else {
                close(got);
                bad = 1;
            }
        }
    }
    if ((mh->msg_flags & MSG_CTRUNC) != 0)
        bad = 1;
    return bad ? -1 : 0;
}

/* Read exactly len bytes, collecting passed fds into fd[MILTER_MAX_FDS]; *got counts bytes
 * read before an EOF. */
static int recv_full(int sock, void *buf, size_t len, int *fd, size_t *got)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * MILTER_MAX_FDS * sizeof(int))];
    } cm;

    *got = 0;
    while (*got < len) {
        struct iovec iov = {(char *)buf + *got, len - *got};
        struct msghdr mh;
        ssize_t n;

        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof(cm.buf);
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (take_fds(&mh, fd) < 0) {
            errno = EBADMSG;
            return -1;
        }
        if (n == 0) {
            errno = *got ? EBADMSG : ENODATA;
            return -1;
        }
        *got += (size_t)n;
    }
    return 0;
}

/* Read and check the fixed header. */
static int recv_header(int sock, milter_msg *m, uint32_t *len)
{
    unsigned char hdr[HDR_LEN];
    uint32_t v[3];
    size_t got;

    if (recv_full(sock, hdr, HDR_LEN, m->fd, &got) < 0)
        return -1;
    memcpy(v, hdr, sizeof(v));
    if (ntohl(v[0]) != MILTER_MAGIC) {
        errno = EPROTO;
        return -1;
    }
    m->type = ntohl(v[1]);
    *len = ntohl(v[2]);
    if (*len > MILTER_MSG_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* Receive one whole message. */
int milter_msg_recv(int sock, milter_msg **out)
{
    milter_msg *m = milter_msg_new(0);
    uint32_t len;
    size_t got;

    *out = NULL;
    if (m == NULL)
        return -1;
    if (recv_header(sock, m, &len) < 0 || msg_reserve(m, len) < 0)
        goto fail;
    if (len > 0 && recv_full(sock, m->buf, len, m->fd, &got) < 0) {
        if (errno == ENODATA)
            errno = EBADMSG;
        goto fail;
    }
    m->len = len;
    *out = m;
    return 0;
fail:
    milter_msg_free(m);
    return -1;
}

/* Encode the envelope of j. */
static int job_encode(milter_msg *m, const milter_job *j)
{
    size_t i;

    if (milter_msg_put_str(m, j->queue_id) < 0 || milter_msg_put_str(m, j->client) < 0 ||
        milter_msg_put_str(m, j->sender) < 0 || j->nrcpts > UINT32_MAX ||
        milter_msg_put_u32(m, (uint32_t)j->nrcpts) < 0)
        return -1;
    for (i = 0; i < j->nrcpts; i++)
        if (milter_msg_put_str(m, j->rcpts[i]) < 0)
            return -1;
    return milter_msg_put_u32(m, j->kind);
}

/* Send a job with its spool and output fds. */
int milter_job_send(int sock, const milter_job *j)
{
    milter_msg *m = milter_msg_new(MILTER_T_JOB);
    int fd[2] = {j->fd, j->out};
    int rc = -1;

    if (j->fd < 0 || j->out < 0)
        errno = EBADF;
    else if (m != NULL && job_encode(m, j) == 0)
        rc = milter_msg_send(sock, m, fd, 2);
    milter_msg_free(m);
    return rc;
}

/* Decode the envelope; each recipient costs at least 4 payload bytes, which bounds n. */
static int job_decode(milter_msg *m, milter_job *j)
{
    uint32_t n, i;

    if (milter_msg_get_str(m, &j->queue_id) < 0 || milter_msg_get_str(m, &j->client) < 0 ||
        milter_msg_get_str(m, &j->sender) < 0 || milter_msg_get_u32(m, &n) < 0)
        return -1;
    if (n > (m->len - m->pos) / 4) {
        errno = EBADMSG;
        return -1;
    }
    j->rcpts = calloc((size_t)n + 1, sizeof(char *));
    if (j->rcpts == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (milter_msg_get_str(m, &j->rcpts[i]) < 0 || j->rcpts[i] == NULL)
            return -1;
        j->nrcpts++;
    }
    if (milter_msg_get_u32(m, &j->kind) < 0)
        return -1;
    if (j->kind > MILTER_JOB_SUBMIT) {
        errno = EBADMSG;
        return -1;
    }
    return milter_msg_end(m);
}

/* Receive a job; it must carry its spool and output fds. */
int milter_job_recv(int sock, milter_job *j)
{
    milter_msg *m = NULL;
    int rc = -1;

    memset(j, 0, sizeof(*j));
    j->fd = j->out = -1;
    if (milter_msg_recv(sock, &m) < 0)
        return -1;
    if (m->type != MILTER_T_JOB || m->fd[0] < 0 || m->fd[1] < 0)
        errno = EBADMSG;
    else if (job_decode(m, j) == 0)
        rc = 0;
    if (rc == 0) {
        j->fd = m->fd[0];
        j->out = m->fd[1];
        m->fd[0] = m->fd[1] = -1;
    } else {
        milter_job_clear(j);
    }
    milter_msg_free(m);
    return rc;
}

/* Free the strings and close the fds of j. */
void milter_job_clear(milter_job *j)
{
    size_t i;

    if (j == NULL)
        return;
    free(j->queue_id);
    free(j->client);
    free(j->sender);
    for (i = 0; j->rcpts != NULL && j->rcpts[i] != NULL; i++)
        free(j->rcpts[i]);
    free(j->rcpts);
    if (j->fd >= 0)
        close(j->fd);
    if (j->out >= 0)
        close(j->out);
    memset(j, 0, sizeof(*j));
    j->fd = j->out = -1;
}

/* Send a reply and its completion mark. */
int milter_reply_send(int sock, const milter_reply *r)
{
    milter_msg *m = milter_msg_new(MILTER_T_REPLY);
    int rc = -1;

    if (m != NULL && milter_msg_put_u32(m, (uint32_t)r->status) == 0 &&
        milter_msg_put_str(m, r->qid) == 0 && milter_msg_put_str(m, r->text) == 0 &&
        milter_msg_put_u32(m, MILTER_DONE) == 0)
        rc = milter_msg_send(sock, m, NULL, 0);
    milter_msg_free(m);
    return rc;
}

/* Decode a reply; the mark must be present and last. */
static int reply_decode(milter_msg *m, milter_reply *r)
{
    uint32_t st, mark;

    if (milter_msg_get_u32(m, &st) < 0 || milter_msg_get_str(m, &r->qid) < 0 ||
        milter_msg_get_str(m, &r->text) < 0 || milter_msg_get_u32(m, &mark) < 0)
        return -1;
    if (mark != MILTER_DONE || st > MILTER_ST_CONSUMED || milter_msg_end(m) < 0) {
        errno = EBADMSG;
        return -1;
    }
    r->status = (milter_status)st;
    if ((r->status == MILTER_ST_OK && r->qid == NULL) || m->fd[0] >= 0) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

/* Receive a reply. */
int milter_reply_recv(int sock, milter_reply *r)
{
    milter_msg *m = NULL;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (milter_msg_recv(sock, &m) < 0)
        return -1;
    if (m->type != MILTER_T_REPLY)
        errno = EBADMSG;
    else if (reply_decode(m, r) == 0)
        rc = 0;
    if (rc != 0)
        milter_reply_clear(r);
    milter_msg_free(m);
    return rc;
}

/* Free m after wiping every byte its buffer held (it carried a password). */
static void msg_free_wiped(milter_msg *m)
{
    if (m != NULL && m->buf != NULL)
        explicit_bzero(m->buf, m->cap);
    milter_msg_free(m);
}

/* Non-zero when s is NULL or at most max bytes of printable ASCII without blanks (an id, a
 * client's address): nothing that could start a new log line or hide in one. */
static int plain_ok(const char *s, size_t max)
{
    size_t n;

    if (s == NULL)
        return 1;
    for (n = 0; s[n] != '\0'; n++)
        if (n >= max || s[n] <= ' ' || s[n] > '~')
            return 0;
    return 1;
}

/* Non-zero when s is NULL or a part path: digits in groups joined by single dots ("2", "2.1"),
 * at most MILTER_UNLOCK_FIELD_MAX bytes. */
static int part_ok(const char *s)
{
    size_t n, i;

    if (s == NULL || *s == '\0')
        return 1;
    n = strlen(s);
    if (n > MILTER_UNLOCK_FIELD_MAX || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && s[i + 1] != '.')))
            return 0;
    return 1;
}

/* Non-zero when s is NULL or at most max bytes of UTF-8 without a character mg_uchar_unsafe
 * names (the actor: written into the log and the audit trail as it comes). */
static int text_ok(const char *s, size_t max)
{
    const char *q;

    if (s == NULL)
        return 1;
    if (strlen(s) > max || !g_utf8_validate(s, -1, NULL))
        return 0;
    for (q = s; *q != '\0'; q = g_utf8_next_char(q))
        if (mg_uchar_unsafe(g_utf8_get_char(q)))
            return 0;
    return 1;
}

/* Non-zero when u's fields are within their bounds (the password 1-MILTER_UNLOCK_PW_MAX) and
 * of their form: an id and a source of plain ASCII, a part path, an actor of showable text.
 * Whoever reaches the unlock socket must not get a forged line into the log or the trail. */
static int unlock_valid(const milter_unlock *u)
{
    return u->msg_id != NULL && *u->msg_id != '\0' &&
           plain_ok(u->msg_id, MILTER_UNLOCK_FIELD_MAX) && part_ok(u->part) &&
           text_ok(u->actor, MILTER_UNLOCK_FIELD_MAX) &&
           plain_ok(u->source, MILTER_UNLOCK_FIELD_MAX) && u->password != NULL &&
           *u->password != '\0' && strlen(u->password) <= MILTER_UNLOCK_PW_MAX;
}

/* Send an unlock request. Room for all of it is made first, so that no realloc leaves a
 * copy of the password behind. */
int milter_unlock_send(int sock, const milter_unlock *u)
{
    milter_msg *m;
    int rc = -1;

    if (!unlock_valid(u)) {
        errno = EINVAL;
        return -1;
    }
    m = milter_msg_new(MILTER_T_UNLOCK);
    if (m != NULL &&
        msg_reserve(m, 5 * 4 + 4 * MILTER_UNLOCK_FIELD_MAX + MILTER_UNLOCK_PW_MAX) == 0 &&
        milter_msg_put_str(m, u->msg_id) == 0 && milter_msg_put_str(m, u->part) == 0 &&
        milter_msg_put_str(m, u->password) == 0 && milter_msg_put_str(m, u->actor) == 0 &&
        milter_msg_put_str(m, u->source) == 0)
        rc = milter_msg_send(sock, m, NULL, 0);
    msg_free_wiped(m);
    return rc;
}

/* Decode an unlock request; an empty part is every part still held (NULL). */
static int unlock_decode(milter_msg *m, milter_unlock *u)
{
    if (milter_msg_get_str(m, &u->msg_id) < 0 || milter_msg_get_str(m, &u->part) < 0 ||
        milter_msg_get_str(m, &u->password) < 0 || milter_msg_get_str(m, &u->actor) < 0 ||
        milter_msg_get_str(m, &u->source) < 0 || milter_msg_end(m) < 0)
        return -1;
    if (u->part != NULL && *u->part == '\0') {
        free(u->part);
        u->part = NULL;
    }
    if (!unlock_valid(u)) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

/* Receive an unlock request. */
int milter_unlock_recv(int sock, milter_unlock *u)
{
    milter_msg *m = NULL;
    int rc = -1;

    memset(u, 0, sizeof(*u));
    if (milter_msg_recv(sock, &m) < 0)
        return -1;
    if (m->type != MILTER_T_UNLOCK || m->fd[0] >= 0)
        errno = EBADMSG;
    else if (unlock_decode(m, u) == 0)
        rc = 0;
    if (rc != 0)
        milter_unlock_clear(u);
    msg_free_wiped(m);
    return rc;
}

/* Free u's strings; the password is wiped first. */
void milter_unlock_clear(milter_unlock *u)
{
    if (u == NULL)
        return;
    if (u->password != NULL)
        explicit_bzero(u->password, strlen(u->password));
    free(u->msg_id);
    free(u->part);
    free(u->password);
    free(u->actor);
    free(u->source);
    memset(u, 0, sizeof(*u));
}

/* Encode one part of an unlock answer. */
static int unlock_part_encode(milter_msg *m, const milter_unlock_part *p)
{
    return milter_msg_put_str(m, p->part) < 0 || milter_msg_put_u32(m, p->opened) < 0 ||
                   milter_msg_put_u32(m, p->tried) < 0 || milter_msg_put_u32(m, p->attempts) < 0 ||
                   milter_msg_put_u32(m, p->locked) < 0 || milter_msg_put_str(m, p->why) < 0
               ? -1
               : 0;
}

/* Send an unlock answer and its completion mark. */
int milter_unlock_reply_send(int sock, const milter_unlock_reply *r)
{
    milter_msg *m;
    int rc = -1;
    size_t i;

    if (r->nparts > MILTER_UNLOCK_MAX_PARTS) {
        errno = EINVAL;
        return -1;
    }
    m = milter_msg_new(MILTER_T_UNLOCK_REPLY);
    if (m == NULL || milter_msg_put_u32(m, (uint32_t)r->status) < 0 ||
        milter_msg_put_str(m, r->text) < 0 || milter_msg_put_u32(m, (uint32_t)r->nparts) < 0)
        goto out;
    for (i = 0; i < r->nparts; i++)
        if (unlock_part_encode(m, &r->parts[i]) < 0)
            goto out;
    if (milter_msg_put_u32(m, MILTER_DONE) == 0)
        rc = milter_msg_send(sock, m, NULL, 0);
out:
    milter_msg_free(m);
    return rc;
}

/* Decode one part of an unlock answer; the flags are 0 or 1 and the part is named. */
static int unlock_part_decode(milter_msg *m, milter_unlock_part *p)
{
    if (milter_msg_get_str(m, &p->part) < 0 || milter_msg_get_u32(m, &p->opened) < 0 ||
        milter_msg_get_u32(m, &p->tried) < 0 || milter_msg_get_u32(m, &p->attempts) < 0 ||
        milter_msg_get_u32(m, &p->locked) < 0 || milter_msg_get_str(m, &p->why) < 0)
        return -1;
    if (p->part == NULL || p->opened > 1 || p->locked > 1) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

/* Decode an unlock answer; the mark must be present and last. */
static int unlock_reply_decode(milter_msg *m, milter_unlock_reply *r)
{
    uint32_t st, n, mark, i;

    if (milter_msg_get_u32(m, &st) < 0 || milter_msg_get_str(m, &r->text) < 0 ||
        milter_msg_get_u32(m, &n) < 0)
        return -1;
    if (st > MILTER_UNLOCK_BUSY || n > MILTER_UNLOCK_MAX_PARTS) {
        errno = EBADMSG;
        return -1;
    }
    r->status = (milter_unlock_status)st;
    r->parts = calloc(n ? n : 1, sizeof(*r->parts));
    if (r->parts == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        r->nparts++;
        if (unlock_part_decode(m, &r->parts[i]) < 0)
            return -1;
    }
    if (milter_msg_get_u32(m, &mark) < 0)
        return -1;
    if (mark != MILTER_DONE || milter_msg_end(m) < 0 || m->fd[0] >= 0) {
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

/* Receive an unlock answer. */
int milter_unlock_reply_recv(int sock, milter_unlock_reply *r)
{
    milter_msg *m = NULL;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (milter_msg_recv(sock, &m) < 0)
        return -1;
    if (m->type != MILTER_T_UNLOCK_REPLY)
        errno = EBADMSG;
    else if (unlock_reply_decode(m, r) == 0)
        rc = 0;
    if (rc != 0)
        milter_unlock_reply_clear(r);
    milter_msg_free(m);
    return rc;
}

/* Free the strings and parts of r. */
void milter_unlock_reply_clear(milter_unlock_reply *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nparts; i++) {
        free(r->parts[i].part);
        free(r->parts[i].why);
    }
    free(r->parts);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

/* Non-zero when the n bytes at s are all in set. */
static int all_in(const char *s, size_t n, const char *set)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] == '\0' || strchr(set, s[i]) == NULL)
            return 0;
    return 1;
}

/* Q-YYYYMMDD-XXXXXX: the only form that may go into a header. */
int milter_qid_valid(const char *s)
{
    static const char digits[] = "0123456789";
    static const char upper[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    return s != NULL && strlen(s) == 17 && s[0] == 'Q' && s[1] == '-' && all_in(s + 2, 8, digits) &&
           s[10] == '-' && all_in(s + 11, 6, upper);
}

/* Free the strings of r. */
void milter_reply_clear(milter_reply *r)
{
    if (r == NULL)
        return;
    free(r->qid);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

/* One tag byte with an optional fd. */
int milter_fd_send(int sock, char tag, int fd)
{
    struct iovec iov = {&tag, 1};

    return send_iov(sock, &iov, 1, &fd, fd >= 0 ? 1 : 0) == 1 ? 0 : -1;
}

/* Receive one tag byte and the fd riding with it. */
int milter_fd_recv(int sock, char *tag, int *fd)
{
    int got_fd[MILTER_MAX_FDS] = {-1, -1};
    size_t got;

    *fd = -1;
    if (recv_full(sock, tag, 1, got_fd, &got) < 0 || got_fd[1] >= 0) {
        if (got_fd[0] >= 0)
            close(got_fd[0]);
        if (got_fd[1] >= 0)
            close(got_fd[1]);
        return -1;
    }
    *fd = got_fd[0];
    return 0;
}
