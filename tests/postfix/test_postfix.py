#!/usr/bin/python3
"""End-to-end tests of mugai-milter behind a real, private Postfix on loopback.

The test plays the Internet-side MTA (smtplib, retrying every 4xx as a real
MTA would, bounded); Postfix relays to an SMTP sink that stands in for the
LGWAN mail server and stores what it gets. Checks: Postfix alone delivers;
without a running milter Postfix answers 4xx and nothing reaches the sink;
every corpus message arrives exactly once, sanitized, with its original in
quarantine; a worker killed mid-job and a milter killed mid-burst lose and
duplicate nothing; headers a reader is shown carry no bidi control, however
encoded (doubly encoded words, a second Subject, an attachment name holding an
encoded word); 200 rewritten header fields are delivered and more than
[milter] max_headers are rejected (554); a release delivers the original
through the no-milter listener; a message whose sanitization runs past [milter] job_timeout is deferred
at that time and the worker pool recovers; no conversion process and no jail
directory outlives its job or its worker.

Usage: test_postfix.py [--build DIR] [--corpus DIR] [unittest args]
   or: MUGAI_BUILD=DIR [MUGAI_MAIL_CORPUS=DIR] test_postfix.py
Runs as root (Postfix must start). MUGAI_KEEP=1 keeps the work directory.
"""

import base64
import email
import email.policy
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, "mail"))
sys.path.insert(0, os.path.join(TESTS, "gen"))
import make_hostile  # noqa: E402
import pfharness  # noqa: E402
import test_mail as tm  # noqa: E402 - reuse the mail checks

BUILD = os.environ.get("MUGAI_BUILD", "")
CORPUS = os.environ.get("MUGAI_MAIL_CORPUS", "")
SENDER = "sender@internet.example"
DELIVERY_WAIT = 240  # seconds the sink may wait for everything sent
S = {}


def rcpt_for(tag):
    """A unique envelope recipient per message: the sink's copy is found by it."""
    return "%s@lgwan.example" % tag.replace(".", "-").replace("_", "-")


def by_rcpt():
    """{recipient: [(envelope, bytes)]} of everything the sink received."""
    out = {}
    for env, data in S["h"].sink.messages():
        for r in env["rcpts"]:
            out.setdefault(r, []).append((env, data))
    return out


def plain_mail(n, tag):
    """A small Japanese plain-text message with a unique Message-ID."""
    body = "本日は晴天なり。%s 第%d報。\r\n" % (tag, n)
    return ("From: sender@internet.example\r\nTo: staff@lgwan.example\r\n"
            "Subject: =?UTF-8?B?6Kmm6aiT?= %d\r\nMessage-ID: <%s-%d@internet.example>\r\n"
            "Date: Wed, 25 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "\r\n%s" % (n, tag, n, body)).encode("utf-8")


def read_corpus(name):
    with open(os.path.join(S["corpus"], "mail", name), "rb") as f:
        return f.read()


def return_path(name):
    """The Return-Path: lines (CRLF included) of a corpus message's header block."""
    head = read_corpus(name).split(b"\r\n\r\n", 1)[0] + b"\r\n"
    return b"".join(ln + b"\r\n" for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"return-path:"))


def check_sanitized(tc, data, e=None):
    """A message the LGWAN side got: only sanitized types, the quarantine id header, and
    (for a corpus entry) its Japanese body text. Returns the quarantine id."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    leaves = tm.leaves(msg)
    tc.assertTrue(leaves)
    tc.assertEqual(leaves[0].get_content_type(), "text/plain")
    for p in leaves:
        tc.assertIn(p.get_content_type(), tm.SANITIZED_TYPES, p.get_filename())
    for p in leaves[1:]:
        ext = os.path.splitext(p.get_filename() or "")[1].lower()
        tc.assertIn(ext, tm.OUTPUT_EXTS, p.get_filename())
    qid = msg.get("X-Mugai-Quarantine-Id")
    tc.assertRegex(qid or "", r"^Q-[0-9A-Z-]+$")
    text = (leaves[0].get_payload(decode=True) or b"").decode("utf-8", "replace")
    tc.assertNotIn("\ufffd", text)
    for s in (e or {}).get("body", []):
        tc.assertIn(s, text)
    return qid


def need_milter(tc):
    if not S.get("milter_bin"):
        tc.fail("mugai-milter is not built")


def ensure_milter(tc):
    """Start mugai-milter unless it runs."""
    need_milter(tc)
    m = S["h"].milter
    if m.proc is None or m.proc.poll() is not None:
        m.start()


def setUpModule():
    """Corpus, sink, Postfix with the milter socket set (the milter is not started)."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("Postfix tests must run as root")
    if not BUILD:
        raise unittest.SkipTest("set MUGAI_BUILD or pass --build")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-pf-")
    S["corpus"] = CORPUS or os.path.join(S["tmp"], "corpus")
    if not os.path.exists(os.path.join(S["corpus"], "manifest.json")):
        subprocess.run([sys.executable, os.path.join(TESTS, "gen", "make_mail_corpus.py"),
                        S["corpus"]], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(S["corpus"], "manifest.json"), encoding="utf-8") as f:
        S["manifest"] = {e["name"]: e for e in json.load(f)["messages"]}
    h = pfharness.Harness(os.path.join(S["tmp"], "work"), BUILD)
    S["h"] = h
    try:
        h.start_sink()
        h.start_postfix(milter=True)
        S["milter_bin"] = h.milter_binary()
        if S["milter_bin"]:
            h.make_milter(os.path.join(S["corpus"], "clamdb"), workers=2)
            # The jail's private directories go here, where the tests can see every one.
            S["jail_tmp"] = os.path.join(S["tmp"], "work", "milter-tmp")
            os.makedirs(S["jail_tmp"])
            pfharness.give_to("mugai", S["jail_tmp"])
            h.milter.env = {"TMPDIR": S["jail_tmp"]}
    except Exception:
        h.stop()
        raise


def tearDownModule():
    if "h" in S:
        S["h"].stop()
        if os.environ.get("MUGAI_KEEP") != "1":
            shutil.rmtree(S["tmp"], ignore_errors=True)
        else:
            print("kept", S["tmp"], file=sys.stderr)


def diag():
    """Postfix and milter log tails for failure messages."""
    h = S["h"]
    out = "\n--- maillog ---\n" + h.postfix.tail_log(25)
    if h.milter:
        out += "\n--- milter ---\n" + h.milter.tail_log(25)
    return out


class T1Postfix(unittest.TestCase):
    """The private Postfix itself."""

    def test_check(self):
        rc, out = S["h"].postfix.check()
        self.assertEqual(rc, 0, out)

    def test_release_listener_delivers_unchanged(self):
        data = plain_mail(1, "plain-release-listener")
        rc, text = pfharness.send_once(S["h"].postfix.release_port, SENDER,
                                       [rcpt_for("t1-listener")], data)
        self.assertEqual(rc, 250, text)
        S["h"].sink.wait_count(1, 30)
        got = by_rcpt().get(rcpt_for("t1-listener"), [])
        self.assertEqual(len(got), 1, diag())
        self.assertTrue(got[0][1].endswith(data.split(b"\r\n\r\n", 1)[1]))
        self.assertNotIn(b"X-Mugai", got[0][1])


class T2NoMilter(unittest.TestCase):
    """A dead milter loses nothing: 4xx, then delivery once it is up."""

    def test_tempfail_then_deliver(self):
        h = S["h"]
        if h.milter:
            h.milter.stop()
        data = plain_mail(1, "t2")
        rc, text = pfharness.send_once(h.smtp_port, SENDER, [rcpt_for("t2")], data)
        self.assertTrue(400 <= rc < 500, "%d %s" % (rc, text))
        time.sleep(2)
        self.assertEqual(by_rcpt().get(rcpt_for("t2"), []), [])
        ensure_milter(self)
        rc, text, seen = pfharness.send_with_retry(h.smtp_port, SENDER, [rcpt_for("t2")], data,
                                                   tries=20)
        self.assertEqual(rc, 250, "%s %s %s" % (seen, text, diag()))
        h.sink.wait_count(1, 60)
        got = wait_for(rcpt_for("t2"), 1, 60)
        self.assertEqual(len(got), 1, diag())
        check_sanitized(self, got[0][1], {"body": ["本日は晴天なり。"]})


class T2UnsafeHeaders(unittest.TestCase):
    """Headers the LGWAN side shows carry no bidi control or invisible character: a From
    display name with U+202E in an encoded word and a To display name with U+2067 in raw
    UTF-8 (tests/gen/make_hostile.py) arrive re-encoded without them, the addresses and the
    other headers as they were."""

    def test_display_names_cleaned(self):
        ensure_milter(self)
        rcpt = rcpt_for("t2-unsafe-headers")
        rc, text, seen = pfharness.send_with_retry(S["h"].smtp_port, SENDER, [rcpt],
                                                   make_hostile.bidi_from_eml(), tries=20)
        self.assertEqual(rc, 250, "%s %s %s" % (seen, text, diag()))
        got = wait_for(rcpt, 1, 60)
        self.assertEqual(len(got), 1, diag())
        check_sanitized(self, got[0][1], {"body": ["名前に制御文字があるメールです。"]})
        msg = email.message_from_bytes(got[0][1], policy=email.policy.default)
        for name, addr in (("From", "<alice@internet.example>"), ("To", "<staff@lgwan.example>")):
            self.assertEqual(len(msg.get_all(name) or []), 1, name)
            value = str(msg[name])
            self.assertEqual([c for c in value if c in make_hostile.UNSAFE + ["\u2060"]], [],
                             "%s: %s" % (name, ascii(value)))
            self.assertIn(addr, value)
        self.assertIn("Alice", str(msg["From"]))
        self.assertIn("山田", str(msg["To"]))
        self.assertEqual(msg["Message-ID"], "<bidi-from@internet.example>")
        self.assertEqual(msg["Subject"], "bidi in names")


def ew(text):
    """text as one RFC 2047 UTF-8 B encoded word."""
    return "=?UTF-8?B?%s?=" % base64.b64encode(text.encode("utf-8")).decode("ascii")


def unsafe_in(text):
    """The characters of text no reader may be shown (bidi controls, isolates, invisibles)."""
    return [c for c in text if c in make_hostile.UNSAFE + ["\u2060"]]


def head_mail(tag, headers, body="hello\r\n", ctype="text/plain; charset=us-ascii"):
    """A message with extra header lines (a list of str) and a body."""
    return ("From: sender@internet.example\r\nTo: staff@lgwan.example\r\n%s"
            "Message-ID: <%s@internet.example>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0900\r\n"
            "MIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n%s"
            % ("".join(h + "\r\n" for h in headers), tag, ctype, body)).encode("ascii")


class T2HeaderAttacks(unittest.TestCase):
    """What a reader of the LGWAN copy is shown, decoded as a mail client would (Python's
    email package): a doubly encoded From display name, a second Subject and an attachment
    name holding a literal encoded word bring no bidi control back; a message whose 200
    header fields all need rewriting is delivered, not deferred for good by Postfix's queue
    file limits; one with more fields than [milter] max_headers is rejected (554), not
    retried."""

    def deliver(self, tag, data, tries=20):
        ensure_milter(self)
        rcpt = rcpt_for(tag)
        rc, text, seen = pfharness.send_with_retry(S["h"].smtp_port, SENDER, [rcpt], data,
                                                   tries=tries)
        self.assertEqual(rc, 250, "%s %s %s" % (seen, text, diag()))
        got = wait_for(rcpt, 1, 60)
        self.assertEqual(len(got), 1, diag())
        check_sanitized(self, got[0][1])
        return email.message_from_bytes(got[0][1], policy=email.policy.default)

    def test_doubly_encoded_from(self):
        # The display name decodes to the text of an encoded word for "Alice\u202Egpj.exe".
        name = ew(ew("Alice\u202egpj.exe"))
        data = head_mail("t2-dbl-from", []).replace(
            b"From: sender@internet.example", b"From: %s <alice@internet.example>" % name.encode())
        msg = self.deliver("t2-dbl-from", data)
        self.assertEqual(len(msg.get_all("From") or []), 1)
        value = str(msg["From"])
        self.assertEqual(unsafe_in(value), [], ascii(value))
        self.assertIn("<alice@internet.example>", value)
        self.assertEqual([a.addr_spec for a in msg["From"].addresses], ["alice@internet.example"])

    def test_second_subject(self):
        data = head_mail("t2-two-subjects",
                         ["Subject: plain", "Subject: " + ew("invoice\u202efdp.exe")])
        msg = self.deliver("t2-two-subjects", data)
        subjects = [str(v) for v in msg.get_all("Subject") or []]
        self.assertEqual(len(subjects), 2, subjects)
        self.assertEqual(subjects[0], "plain")
        for v in subjects:
            self.assertEqual(unsafe_in(v), [], ascii(v))
        self.assertIn("invoice", subjects[1])

    def test_attachment_name_with_encoded_word(self):
        # The name decodes to "=?UTF-8?B?aW1n4oCuZ3Bq?=.txt", a client's "img\u202Egpj.txt".
        outer = ew(ew("img\u202egpj") + ".txt")
        body = ("--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b\r\n"
                "Content-Type: text/plain; name=\"%s\"\r\n"
                "Content-Disposition: attachment; filename=\"%s\"\r\n\r\nattached\r\n--b--\r\n"
                % (outer, outer))
        msg = self.deliver("t2-dbl-name", head_mail("t2-dbl-name", ["Subject: dblname"], body,
                                                    'multipart/mixed; boundary="b"'))
        names = [p.get_filename() for p in tm.leaves(msg)[1:]]
        self.assertEqual(len(names), 1, names)
        self.assertEqual(unsafe_in(names[0]), [], ascii(names[0]))
        self.assertTrue(names[0].endswith(".txt"), names[0])
        self.assertNotIn("=?", names[0])

    def test_many_rewritten_headers_delivered(self):
        # Each needs rewriting (an encoded word); changed in place, Postfix would record a
        # reverse jump for each and refuse the queue file for good past its limit.
        fields = ["X-H%d: =?UTF-8?Q?a?=" % i for i in range(200)]
        msg = self.deliver("t2-many-headers",
                           head_mail("t2-many-headers", ["Subject: many"] + fields), tries=3)
        for i in range(200):
            self.assertEqual([str(v) for v in msg.get_all("X-H%d" % i) or []], ["a"], i)
        self.assertEqual(str(msg["Subject"]), "many")
        self.assertEqual(msg["From"], "sender@internet.example")

    def test_too_many_headers_rejected(self):
        ensure_milter(self)
        rcpt = rcpt_for("t2-too-many-headers")
        fields = ["X-F: %d" % i for i in range(1100)]  # [milter] max_headers is 1000
        rc, text = pfharness.send_once(S["h"].smtp_port, SENDER, [rcpt],
                                       head_mail("t2-too-many-headers", fields))
        self.assertEqual(rc, 554, text + diag())
        self.assertIn("5.6.0", text)
        self.assertIn("too many header fields", text)
        time.sleep(2)
        self.assertEqual(by_rcpt().get(rcpt, []), [])


def wait_for(rcpt, n, timeout):
    """The sink's copies for rcpt, waiting until there are n of them (or timeout)."""
    pfharness.wait_until(lambda: len(by_rcpt().get(rcpt, [])) >= n, timeout, 0.2)
    return by_rcpt().get(rcpt, [])


def send_all(items, threads, tries=40):
    """Send [(rcpt, data)] from several threads with retries; {rcpt: (code, text, seen)}."""
    results, lock, todo = {}, threading.Lock(), list(items)

    def run():
        while True:
            with lock:
                if not todo:
                    return
                rcpt, data = todo.pop(0)
            r = pfharness.send_with_retry(S["h"].smtp_port, SENDER, [rcpt], data, tries=tries)
            with lock:
                results[rcpt] = r

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


class T3Corpus(unittest.TestCase):
    """Every corpus message arrives once, sanitized; its original is in quarantine."""

    def test_corpus(self):
        ensure_milter(self)
        names = sorted(S["manifest"])
        items = [(rcpt_for("c-" + n), read_corpus(n)) for n in names]
        results = send_all(items, threads=3)
        for n in names:
            with self.subTest(msg=n):
                code, text, seen = results[rcpt_for("c-" + n)]
                self.assertEqual(code, 250, "%s: %s %s" % (n, seen, text))
        for n in names:
            wait_for(rcpt_for("c-" + n), 1, DELIVERY_WAIT)
        got = by_rcpt()
        S["qids"] = {}
        for n in names:
            with self.subTest(msg=n):
                copies = got.get(rcpt_for("c-" + n), [])
                self.assertEqual(len(copies), 1, n + diag())
                e = S["manifest"][n]
                qid = check_sanitized(self, copies[0][1], e)
                S["qids"][n] = qid
                self.check_quarantine(qid, e)

    def check_quarantine(self, qid, e):
        """mugai-quarantine --json show ID names the original."""
        if not S["h"].quarantine_binary():
            self.fail("mugai-quarantine is not built")
        rc, out, err = S["h"].quarantine("--json", "show", qid)
        self.assertEqual(rc, 0, err)
        q = json.loads(out)
        self.assertEqual(q.get("id"), qid)
        # Postfix adds its Received: line and drops Return-Path: (set at final delivery).
        if not e["hostile"]:  # Postfix also strips NULs and mends broken lines
            self.assertGreaterEqual(q.get("size", 0), e["size"] - len(return_path(e["name"])))
        self.assertGreater(q.get("size", 0), 0)
        if "smtp_subject" in e:
            self.assertEqual(q.get("subject"), e["smtp_subject"])
        elif e["subject"] is not None:
            self.assertEqual(q.get("subject"), e["subject"])
        if e["leaves"] is not None:
            tm.check_parts(self, e, q.get("parts") or [])


def comm(pid):
    """The command name of pid ("" when gone)."""
    try:
        with open("/proc/%d/comm" % pid, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def office_worker(m, timeout):
    """A worker of m running LibreOffice (soffice.bin among its descendants), or None."""
    def find():
        for w in m.pids()["workers"]:
            if any(comm(p) == "soffice.bin" for p in pfharness.descendants(w)):
                return w
        return None
    return pfharness.wait_until(find, timeout, 0.05)


def jail_dirs(owner=None):
    """The jail directories in the shared milter's TMPDIR (of one worker when owner is set)."""
    prefix = "mugai-jail-" if owner is None else "mugai-jail-%d-" % owner
    return sorted(n for n in os.listdir(S["jail_tmp"]) if n.startswith(prefix))


def milter_log(m):
    with open(m.log, encoding="utf-8", errors="replace") as f:
        return f.read()


class T4WorkerKill(unittest.TestCase):
    """A worker killed while LibreOffice converts for it: the message is deferred (4xx),
    then delivered on retry; the conversion dies with the worker, its jail directory is
    removed, and the log says how the worker died."""

    def test_worker_killed(self):
        ensure_milter(self)
        h = S["h"]
        data = read_corpus("attach_all.eml")  # a docx and an xlsx: LibreOffice is slow
        rcpt = rcpt_for("t4-worker")
        first = {}
        t = threading.Thread(target=lambda: first.update(
            r=pfharness.send_once(h.smtp_port, SENDER, [rcpt], data)))
        t.start()
        victim = office_worker(h.milter, 120)
        self.assertIsNotNone(victim, "no LibreOffice conversion seen" + diag())
        jail = pfharness.descendants(victim)
        self.assertTrue(jail_dirs(victim), "no jail directory of the worker seen")
        os.kill(victim, 9)
        left = pfharness.wait_until(lambda: not [p for p in jail if pfharness.alive(p)], 3)
        self.assertTrue(left, "LibreOffice outlived its worker: %s"
                        % [(p, comm(p)) for p in jail if pfharness.alive(p)])
        self.assertTrue(pfharness.wait_until(lambda: not jail_dirs(victim), 3),
                        "jail directory of the killed worker left: %s" % jail_dirs(victim))
        t.join(300)
        code, text = first["r"]
        self.assertTrue(400 <= code < 500, "%d %s" % (code, text))
        self.assertEqual(by_rcpt().get(rcpt, []), [])
        self.assertRegex(milter_log(h.milter),
                         r"worker %d died during a job: killed by signal 9 \(SIGKILL\)" % victim)
        rc, text, seen = pfharness.send_with_retry(h.smtp_port, SENDER, [rcpt], data, tries=20)
        self.assertEqual(rc, 250, "%s %s %s" % (seen, text, diag()))
        got = wait_for(rcpt, 1, 120)
        self.assertEqual(len(got), 1, diag())
        check_sanitized(self, got[0][1], S["manifest"]["attach_all.eml"])
        self.assertEqual(jail_dirs(), [])


class T5MilterKill(unittest.TestCase):
    """mugai-milter killed during a burst: every message arrives once, sanitized."""

    def test_burst_kill(self):
        ensure_milter(self)
        h = S["h"]
        n = 30
        items = [(rcpt_for("t5-%02d" % i), plain_mail(i, "t5")) for i in range(n)]
        out = {}
        sender = threading.Thread(target=lambda: out.update(r=send_all(items, 5, tries=60)))
        sender.start()
        pfharness.wait_until(lambda: sum(1 for r in by_rcpt() if r.startswith("t5-")) >= 5,
                             120, 0.05)
        h.milter.kill()
        time.sleep(3)
        h.milter.start()
        sender.join(600)
        for rcpt, _ in items:
            self.assertEqual(out["r"][rcpt][0], 250, "%s %s" % (rcpt, out["r"][rcpt]))
        for rcpt, _ in items:
            wait_for(rcpt, 1, 120)
        time.sleep(3)  # a duplicate would arrive late
        got = by_rcpt()
        ids = {}
        for rcpt, _ in items:
            copies = got.get(rcpt, [])
            self.assertEqual(len(copies), 1, rcpt + diag())
            check_sanitized(self, copies[0][1], {"body": ["本日は晴天なり。"]})
            msg = email.message_from_bytes(copies[0][1], policy=email.policy.default)
            mid = msg.get("Message-ID")
            if mid:
                ids[mid] = ids.get(mid, 0) + 1
        self.assertEqual([m for m, c in ids.items() if c != 1], [])


class T6Release(unittest.TestCase):
    """mugai-quarantine release sends the original through the no-milter listener, once a
    second person approved it ([web] release_approvals = 2, the default)."""

    def test_release(self):
        ensure_milter(self)
        h = S["h"]
        if not h.quarantine_binary():
            self.fail("mugai-quarantine is not built")
        orig = read_corpus("sjis_cp932.eml")
        rcpt = rcpt_for("t6-release")
        rc, text, seen = pfharness.send_with_retry(h.smtp_port, SENDER, [rcpt], orig, tries=20)
        self.assertEqual(rc, 250, "%s %s" % (seen, text))
        got = wait_for(rcpt, 1, 120)
        self.assertEqual(len(got), 1, diag())
        qid = check_sanitized(self, got[0][1], S["manifest"]["sjis_cp932.eml"])
        rc, out, err = h.quarantine("--actor", "tanaka", "release", qid, "--reason", "test")
        self.assertEqual(rc, 5, out + err + diag())  # pending another person's approval
        rid = re.search(r"^request (\d+):", out, re.M).group(1)
        rc, out, err = h.quarantine("--actor", "suzuki", "approve", rid, "--reason", "checked")
        self.assertEqual(rc, 0, out + err + diag())
        # the release listener's own queue id, printed and kept on the message
        pf_qid = re.search(r"^queue id: ([0-9A-Za-z]+)$", out, re.M).group(1)
        self.assertIn(pf_qid, h.postfix.tail_log(400))
        rc, out, err = h.quarantine("--json", "show", qid)
        self.assertEqual(json.loads(out)["release_result"].split()[-1], pf_qid)
        got = wait_for(rcpt, 2, 60)
        self.assertEqual(len(got), 2, diag())
        released = got[1][1]
        self.assertNotIn(b"X-Mugai", released)
        self.assertEqual(got[1][0]["rcpts"], [rcpt])
        head, body = orig.split(b"\r\n\r\n", 1)
        rhead, rbody = released.split(b"\r\n\r\n", 1)
        self.assertEqual(rbody, body)
        for line in head.split(b"\r\n"):
            if not line.lower().startswith(b"return-path:"):
                self.assertIn(line, rhead)


def slow_pdf(pages):
    """A plain PDF of `pages` A4 pages, each with its number written on it: harmless, but
    every page takes long to render at 600 dpi."""
    fonts = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None, fonts]
    kids = []
    for i in range(pages):
        text = b"BT /F1 24 Tf 72 760 Td (Page %d of %d) Tj ET" % (i + 1, pages)
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources"
                    b" << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (len(objs) + 2))
        kids.append(b"%d 0 R" % len(objs))
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages)
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def slow_mail(tag, pages):
    """A message with a text part and a many-page PDF attachment."""
    pdf = base64.encodebytes(slow_pdf(pages)).replace(b"\n", b"\r\n")
    return (b"From: sender@internet.example\r\nTo: staff@lgwan.example\r\n"
            b"Subject: slow %s\r\nMessage-ID: <%s@internet.example>\r\n"
            b"Date: Wed, 25 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"SLOW\"\r\n\r\n"
            b"--SLOW\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the report.\r\n"
            b"--SLOW\r\nContent-Type: application/pdf\r\n"
            b"Content-Disposition: attachment; filename=\"t7-report.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n%s--SLOW--\r\n"
            % (tag.encode(), tag.encode(), pdf))


class T7JobTimeout(unittest.TestCase):
    """[milter] job_timeout, end to end: a message whose sanitization runs past it is
    deferred (451 4.7.1) when it runs out, not later, and never delivered; its conversion
    is stopped by then and the worker answers itself (it is not killed), the log says the
    job timed out, the pool serves the next message, and neither a spool file holding data
    nor a jail directory is left.

    A second milter stands in for the shared one while this runs: one worker, job_timeout
    at its minimum, a PDF attachment whose pages are rendered at 600 dpi (tens of seconds,
    far past the timeout), and the jail limits far above the timeout so that the job
    timeout acts first. The scenario runs once; each test checks one thing of it."""

    JOB_TIMEOUT = 5  # the minimum
    PAGES = 60
    R = {}

    @classmethod
    def setUpClass(cls):
        if not S.get("milter_bin"):
            raise AssertionError("mugai-milter is not built")
        h, r = S["h"], cls.R
        if h.milter:
            h.milter.stop()
        root = os.path.join(S["tmp"], "work", "milter-jt")
        r["jail_tmp"] = os.path.join(root, "tmp")
        os.makedirs(r["jail_tmp"])
        extra = ("job_timeout = %d\nqueue_wait = 60\n\n[render]\npdf_dpi = 600\n\n"
                 "[jail]\ntimeout = 600\ncpu = 600\n" % cls.JOB_TIMEOUT)
        m = pfharness.Milter(S["milter_bin"], root, os.path.join(S["corpus"], "clamdb"),
                             os.path.join(root, "quarantine"), h.postfix.release_port,
                             workers=1, extra=extra, env={"TMPDIR": r["jail_tmp"]})
        cls.m = m
        m.start()
        try:
            h.postfix.set_milter(m.sock)
            cls.scenario()
        finally:
            h.postfix.set_milter(h.milter_sock)
            m.stop()
            r["diag"] = ("\n--- maillog ---\n" + h.postfix.tail_log(25) + "\n--- milter ---\n" +
                         m.tail_log(25))
            r["spool_after_exit"] = sorted(n for n in os.listdir(m.spool)
                                           if n.startswith(("msg-", "clean-")))
            r["jail_dirs"] = sorted(os.listdir(r["jail_tmp"]))

    @classmethod
    def spool_data(cls):
        """Spool files holding data (the milter may keep emptied ones for the next message)."""
        out = []
        for n in os.listdir(cls.m.spool):
            path = os.path.join(cls.m.spool, n)
            if n.startswith(("msg-", "clean-")) and os.path.getsize(path) > 0:
                out.append(n)
        return sorted(out)

    @classmethod
    def scenario(cls):
        h, m, r = S["h"], cls.m, cls.R
        r["rcpt"] = rcpt_for("t7-timeout")

        def send():
            t0 = time.monotonic()
            r["first"] = pfharness.send_once(h.smtp_port, SENDER, [r["rcpt"]],
                                             slow_mail("t7-timeout", cls.PAGES), timeout=120)
            r["secs"] = time.monotonic() - t0

        t = threading.Thread(target=send)
        t.start()
        worker = m.busy_worker(30)
        r["jail"] = pfharness.conversions(worker) if worker else []
        t.join(120)
        if t.is_alive() or worker is None:
            raise AssertionError("no conversion started or no answer to DATA: %s %s"
                                 % (worker, m.tail_log()))
        r["spool_after_reply"] = cls.spool_data()
        r["jail_dirs_after_reply"] = sorted(os.listdir(r["jail_tmp"]))
        # Stopped before the reply: a moment to be reaped is all it may take.
        r["jail_gone"] = pfharness.wait_until(
            lambda: not any(pfharness.alive(p) for p in r["jail"]), 1)
        r["renderers"] = [p for p in pfharness.descendants(m.proc.pid)
                          if comm(p) == "mugai-render"]
        r["workers_after"] = m.pids()["workers"]
        r["worker"] = worker
        rcpt = rcpt_for("t7-after")
        r["after"] = pfharness.send_with_retry(h.smtp_port, SENDER, [rcpt],
                                               plain_mail(1, "t7-after"), tries=5)
        r["after_copies"] = wait_for(rcpt, 1, 60)
        r["spool_after_next"] = cls.spool_data()
        with open(m.log, encoding="utf-8", errors="replace") as f:
            r["log"] = [ln for ln in f if " started on " not in ln]
        with open(h.postfix.log, encoding="utf-8", errors="replace") as f:
            ids = re.findall(r"\b([0-9A-F]+): message-id=<t7-timeout@internet\.example>", f.read())
        r["qid"] = ids[-1] if ids else "(no queue id)"

    def test_deferred(self):
        code, text = self.R["first"]
        self.assertEqual(code, 451, text + self.R["diag"])
        self.assertIn("4.7.1", text)

    def test_deferred_when_the_timeout_passed(self):
        # The job ends at job_timeout; the worker's alarm (the backstop) would end it 5 s
        # later, the front end alone after queue_wait + job_timeout + 10 s.
        self.assertGreaterEqual(self.R["secs"], self.JOB_TIMEOUT)
        self.assertLess(self.R["secs"], self.JOB_TIMEOUT + 3, self.R["diag"])

    def test_nothing_delivered(self):
        self.assertEqual(by_rcpt().get(self.R["rcpt"], []), [])
        for _env, data in S["h"].sink.messages():
            self.assertNotIn(b"<t7-timeout@internet.example>", data)
            self.assertNotIn(b"t7-report", data)

    def test_conversion_stopped(self):
        self.assertTrue(self.R["jail"], "no conversion seen")
        self.assertTrue(self.R["jail_gone"], "the conversion outlived its job" + self.R["diag"])
        self.assertEqual(self.R["renderers"], [], self.R["diag"])

    def test_worker_answered_itself(self):
        # The job's conversions are stopped at the deadline and the worker replies: it is
        # not killed, and it serves the next message.
        self.assertIn(self.R["worker"], self.R["workers_after"], self.R["diag"])
        self.assertNotRegex("".join(self.R["log"]), r"worker \d+ (died|killed)")

    def test_pool_serves_the_next_message(self):
        rc, text, seen = self.R["after"]
        self.assertEqual(rc, 250, "%s %s %s" % (seen, text, self.R["diag"]))
        self.assertEqual(len(self.R["after_copies"]), 1, self.R["diag"])
        check_sanitized(self, self.R["after_copies"][0][1], {"body": ["本日は晴天なり。"]})

    def test_no_spool_file_left(self):
        self.assertEqual(self.R["spool_after_reply"], [])
        self.assertEqual(self.R["spool_after_next"], [])
        self.assertEqual(self.R["spool_after_exit"], [])

    def test_log_names_the_timeout(self):
        self.assertRegex("".join(self.R["log"]),
                         r"%s: pool says: sanitization timed out after %d s"
                         % (self.R["qid"], self.JOB_TIMEOUT))

    def test_no_jail_directory_left(self):
        self.assertEqual(self.R["jail_dirs_after_reply"], [])
        self.assertEqual(self.R["jail_dirs"], [])


def shipped(name):
    """The text of a file in conf/."""
    with open(os.path.join(os.path.dirname(TESTS), "conf", name), encoding="utf-8") as f:
        return f.read()


class T8ShippedConfig(unittest.TestCase):
    """conf/postfix-main.cf and conf/postfix-master.cf as shipped, in a Postfix whose smtpd
    is chrooted in its queue directory as Debian's master.cf has it, and mugai-milter on its
    default socket place inside that directory, started as root with a [milter] user: mail is
    sanitized, and the release listener delivers without the milter."""

    @classmethod
    def setUpClass(cls):
        if not S.get("milter_bin"):
            raise AssertionError("mugai-milter is not built")
        main_cf = {}
        for ln in shipped("postfix-main.cf").splitlines():
            if ln.strip() and not ln.startswith("#"):
                k, v = ln.split("=", 1)
                main_cf[k.strip()] = v.strip()
        release_cf = shipped("postfix-master.cf").replace("{", "{{").replace("}", "}}") \
            .replace("127.0.0.1:10026", "127.0.0.1:{release_port}")
        cls.h = h = pfharness.Harness(os.path.join(S["tmp"], "shipped"), BUILD)
        try:
            h.start_sink()
            h.start_postfix(milter=False, chroot=True, main_cf=main_cf, release_cf=release_cf)
            # [milter] socket's default, /var/spool/postfix/mugai/milter.sock, in this
            # instance's queue directory.
            sockdir = os.path.join(h.postfix.queue_dir, "mugai")
            os.mkdir(sockdir)
            # [milter] user = postfix (an account every test machine has; production uses
            # its own): smtpd reaches the 0660 socket as its owner.
            m = h.make_milter(os.path.join(S["corpus"], "clamdb"), workers=1, user="postfix")
            m.sock = os.path.join(sockdir, "milter.sock")
            m.start()
        except Exception:
            h.stop()
            raise
        cls.main_cf = main_cf

    @classmethod
    def tearDownClass(cls):
        cls.h.stop()

    def diag(self):
        return ("\n--- maillog ---\n" + self.h.postfix.tail_log(25) + "\n--- milter ---\n" +
                self.h.milter.tail_log(25))

    def copies(self, rcpt, n=1):
        sink = self.h.sink
        pfharness.wait_until(lambda: sum(rcpt in e["rcpts"] for e, _ in sink.messages()) >= n,
                             60, 0.2)
        return [d for e, d in sink.messages() if rcpt in e["rcpts"]]

    def test_shipped_lines_are_in_force(self):
        self.assertEqual(self.main_cf["smtpd_milters"], "unix:mugai/milter.sock")
        out = subprocess.run([pfharness.POSTCONF, "-c", self.h.postfix.conf_dir, "-h", "smtpd_milters",
                              "milter_default_action"], capture_output=True, text=True)
        self.assertEqual(out.stdout.split(), ["unix:mugai/milter.sock", "tempfail"])

    def test_chrooted_smtpd_reaches_the_milter(self):
        rcpt = rcpt_for("t8-chroot")
        rc, text, seen = pfharness.send_with_retry(self.h.smtp_port, SENDER, [rcpt],
                                                   plain_mail(1, "t8-chroot"), tries=5)
        self.assertEqual(rc, 250, "%s %s %s" % (seen, text, self.diag()))
        got = self.copies(rcpt)
        self.assertEqual(len(got), 1, self.diag())
        check_sanitized(self, got[0], {"body": ["本日は晴天なり。"]})
        # The milter runs as postfix, its socket 0660.
        st = os.stat(self.h.milter.sock)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (pwd.getpwnam("postfix").pw_uid, 0o660))
        for pid in [self.h.milter.proc.pid] + pfharness.children(self.h.milter.proc.pid):
            self.assertEqual(pfharness.ids(pid)[0], [st.st_uid] * 4)
        # The smtpd that took it runs chrooted in the queue directory.
        queue = os.path.realpath(self.h.postfix.queue_dir)
        roots = set()
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                if comm(pid) == "smtpd":
                    roots.add(os.readlink("/proc/%d/root" % pid))
            except OSError:
                pass
        self.assertIn(queue, roots)

    def test_release_listener_skips_the_milter(self):
        rcpt = rcpt_for("t8-release")
        data = plain_mail(1, "t8-release")
        rc, text = pfharness.send_once(self.h.postfix.release_port, SENDER, [rcpt], data)
        self.assertEqual(rc, 250, text + self.diag())
        got = self.copies(rcpt)
        self.assertEqual(len(got), 1, self.diag())
        self.assertNotIn(b"X-Mugai", got[0])
        self.assertTrue(got[0].endswith(data.split(b"\r\n\r\n", 1)[1]))


def main():
    global BUILD, CORPUS
    BUILD = tm.arg_value("--build") or BUILD
    CORPUS = tm.arg_value("--corpus") or CORPUS
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
