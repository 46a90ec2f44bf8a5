#!/usr/bin/python3
"""End to end: a poison message, one that stops the sanitizer every time,
behind a real, private Postfix on loopback.

Needs a build with the test hook (-DMUGAI_TEST_HOOKS=ON): a worker whose message
holds the bytes of $MUGAI_TEST_CRASH crashes for real (SIGSEGV) before
sanitizing. The test plays the Internet-side MTA, as tests/postfix/test_postfix.py
does: a 4xx at the end of DATA leaves the message with the sender, which sends it
again, each time with another Received line on top (as a relay in front would
add): the same message must still be known by its digest. With [milter]
poison_attempts = 3: the first three attempts are deferred (451), each stopping
a worker that the pool replaces and counting one failure, with a milter restart
between the second and the third (the count is in the quarantine store); the
fourth is accepted and the recipient gets a notice-only message that parses,
names the quarantine ID and carries nothing of the original's text, subject or
attachment; the store holds the original byte for byte with verdict failed and a
"failed" audit event beside "stored"; the audit log and the milter's log say so.
A normal message afterwards is sanitized as ever.

Usage: test_poison.py --build DIR [unittest args]
Runs as root (Postfix must start). MUGAI_KEEP=1 keeps the work directory.
"""

import base64
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, "mail"))
import pfharness  # noqa: E402
import test_mail as tm  # noqa: E402 - reuse the argument helper

BUILD = os.environ.get("MUGAI_BUILD", "")
SENDER = "sender@internet.example"
RCPT = "poison@lgwan.example"
MARK = "MUGAI-TEST-CRASH-7Q3K"
ATTEMPTS = 3
SECRETS = ["SECRET-BODY-TEXT", "secret-plan.txt", "SECRET-ATTACHMENT-TEXT", MARK,
           "四半期の計画", "5Zub5Y2K5pyf44Gu6KiI55S7"]
NOTICE_SUBJECT = "[無害化] 配信できなかったメッセージ / Undeliverable message"
S = {}


def ew(text):
    """text as one RFC 2047 UTF-8 B encoded word."""
    return "=?UTF-8?B?%s?=" % base64.b64encode(text.encode("utf-8")).decode("ascii")


def poison_mail(n):
    """A message whose text holds the crash mark, with a Japanese subject, a From display
    name in an encoded word, and a text attachment; as sent the n-th time, with the Received
    line a relay in front adds on each attempt."""
    attached = base64.b64encode(b"SECRET-ATTACHMENT-TEXT\r\n").decode("ascii")
    return ("Received: from relay.internet.example by mx.internet.example with ESMTP id R%d;\r\n"
            "\tWed, 25 Nov 2026 10:0%d:00 +0900\r\n"
            "From: %s <sender@internet.example>\r\nTo: staff@lgwan.example\r\n"
            "Subject: %s\r\nMessage-ID: <poison-1@internet.example>\r\n"
            "Date: Wed, 25 Nov 2026 10:00:00 +0900\r\nX-Plain-Field: kept as it is\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"P\"\r\n\r\n"
            "--P\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "SECRET-BODY-TEXT %s\r\n"
            "--P\r\nContent-Type: text/plain; name=\"secret-plan.txt\"\r\n"
            "Content-Disposition: attachment; filename=\"secret-plan.txt\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--P--\r\n"
            % (n, n, ew("山田"), ew("四半期の計画"), MARK, attached)).encode("ascii")


def plain_mail():
    """An ordinary Japanese text message."""
    return ("From: sender@internet.example\r\nTo: staff@lgwan.example\r\n"
            "Subject: after\r\nMessage-ID: <poison-after@internet.example>\r\n"
            "Date: Wed, 25 Nov 2026 10:05:00 +0900\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            "\r\n本日は晴天なり。\r\n").encode("utf-8")


def sanitizers_on():
    """True when BUILD is an AddressSanitizer build (it reports the crash and aborts)."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt"), encoding="utf-8") as f:
            return "MUGAI_SANITIZERS:BOOL=ON" in f.read()
    except OSError:
        return False


def copies(rcpt):
    """What the sink got for rcpt: [(envelope, bytes)]."""
    return [(e, d) for e, d in S["h"].sink.messages() if rcpt in e["rcpts"]]


def workers():
    """The live worker processes of the milter."""
    return [w for w in S["h"].milter.pids()["workers"] if pfharness.alive(w)]


def milter_log():
    with open(S["h"].milter.log, encoding="utf-8", errors="replace") as f:
        return f.read()


def attempt(r, n):
    """Send the poison message the n-th time; record the answer, the worker that served it
    and the one that replaced it."""
    pfharness.wait_until(lambda: len(workers()) == 1, 10)  # started a moment after the milter
    before = workers()
    code, text = pfharness.send_once(S["h"].smtp_port, SENDER, [RCPT], poison_mail(n),
                                     timeout=120)
    # The supervisor counts the failure when it sees the worker end (before the sender could
    # retry, in practice), and replaces the worker after a short back-off.
    counted = pfharness.wait_until(
        lambda: before and re.search(r"failed attempt %d at the message of worker %d counted"
                                     % (n, before[0]), milter_log()), 10)
    after = pfharness.wait_until(lambda: [w for w in workers() if w not in before], 10)
    r["attempts"].append({"code": code, "text": text, "before": before, "after": after or [],
                          "counted": bool(counted)})


def scenario():
    """Three deferred attempts (a milter restart after the second), then the notice, then a
    normal message."""
    h, r = S["h"], S["r"]
    r["attempts"] = []
    for i in range(ATTEMPTS):
        if i == 2:
            h.milter.stop()
            h.milter.start()
        attempt(r, i + 1)
    r["final"] = pfharness.send_once(h.smtp_port, SENDER, [RCPT], poison_mail(ATTEMPTS + 1),
                                     timeout=120)
    pfharness.wait_until(lambda: copies(RCPT), 60, 0.2)
    r["final_workers"] = workers()
    r["after"] = pfharness.send_with_retry(h.smtp_port, SENDER, ["after@lgwan.example"],
                                           plain_mail(), tries=5)
    pfharness.wait_until(lambda: copies("after@lgwan.example"), 60, 0.2)
    time.sleep(2)  # a duplicate would arrive late
    r["log"] = milter_log()


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("Postfix tests must run as root")
    if not BUILD:
        raise unittest.SkipTest("pass --build")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-poison-")
    S["r"] = {}
    db = os.path.join(S["tmp"], "clamdb")
    subprocess.run([sys.executable, os.path.join(TESTS, "gen", "make_clamdb.py"), db],
                   check=True, stdout=subprocess.DEVNULL)
    h = pfharness.Harness(os.path.join(S["tmp"], "work"), BUILD)
    S["h"] = h
    try:
        h.start_sink()
        h.start_postfix(milter=True)
        if not h.milter_binary() or not h.quarantine_binary():
            raise AssertionError("mugai-milter or mugai-quarantine is not built in %s" % BUILD)
        m = h.make_milter(db, workers=1, extra="poison_attempts = %d\n" % ATTEMPTS)
        m.env = {"MUGAI_TEST_CRASH": MARK}
        m.start()
        scenario()
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
    h = S["h"]
    return ("\n--- maillog ---\n" + h.postfix.tail_log(25) + "\n--- milter ---\n" +
            h.milter.tail_log(40))


def notice():
    """The one copy the recipient got, parsed."""
    got = copies(RCPT)
    if len(got) != 1:
        raise AssertionError("%d copies for %s%s" % (len(got), RCPT, diag()))
    return got[0][1], email.message_from_bytes(got[0][1], policy=email.policy.default)


def quarantine_id():
    return str(notice()[1]["X-Mugai-Quarantine-Id"]).strip()


def show():
    rc, out, err = S["h"].quarantine("--json", "show", quarantine_id())
    if rc != 0:
        raise AssertionError("mugai-quarantine show: %d %s" % (rc, err))
    return json.loads(out)


class T1Deferred(unittest.TestCase):
    """Each attempt before the limit is deferred and stops its worker, which is replaced."""

    def test_deferred(self):
        for i, a in enumerate(S["r"]["attempts"]):
            self.assertTrue(400 <= a["code"] < 500, "attempt %d: %d %s%s"
                            % (i + 1, a["code"], a["text"], diag()))
            self.assertIn("4.7.1", a["text"])

    def test_nothing_delivered_while_deferred(self):
        # the one copy is the notice, checked below; the original never arrives
        for _env, data in S["h"].sink.messages():
            for s in SECRETS:
                self.assertNotIn(s.encode("utf-8"), data, s)

    def test_worker_died_and_was_replaced(self):
        deaths = re.findall(r"pool: worker (\d+) died during a job: (.*)", S["r"]["log"])
        self.assertEqual(len(deaths), ATTEMPTS, S["r"]["log"])
        for pid, how in deaths:
            if not sanitizers_on():
                self.assertEqual(how, "killed by signal 11 (SIGSEGV)")
        for i, a in enumerate(S["r"]["attempts"]):
            self.assertEqual(len(a["before"]), 1, i)
            self.assertEqual(len(a["after"]), 1, i)
            self.assertNotEqual(a["before"], a["after"], "attempt %d: worker not replaced" % i)
            self.assertIn(str(a["before"][0]), [pid for pid, _ in deaths])

    def test_failures_counted_and_logged(self):
        for i, a in enumerate(S["r"]["attempts"]):
            self.assertTrue(a["counted"], "attempt %d not counted%s" % (i + 1, diag()))
        for n in range(1, ATTEMPTS + 1):
            self.assertRegex(S["r"]["log"], r"%d earlier attempts? at this message" % n)


class T2Notice(unittest.TestCase):
    """After poison_attempts failures the message is accepted and the recipient gets a
    notice only."""

    def test_accepted(self):
        code, text = S["r"]["final"]
        self.assertEqual(code, 250, text + diag())

    def test_notice_only(self):
        raw, msg = notice()
        self.assertEqual(str(msg["Subject"]), NOTICE_SUBJECT)
        self.assertEqual(len(msg.get_all("Subject")), 1)
        self.assertFalse(msg.is_multipart())
        self.assertEqual(msg.get_content_type(), "text/plain")
        self.assertEqual(msg.get_content_charset(), "utf-8")
        self.assertEqual(msg["X-Mugai-Sanitized"], "yes")
        text = msg.get_content()
        qid = quarantine_id()
        self.assertRegex(qid, r"^Q-\d{8}-[0-9A-Z]{6}$")
        self.assertIn("隔離ID: " + qid, text)
        self.assertIn("Quarantine ID: " + qid, text)
        self.assertIn("%d 回" % ATTEMPTS, text)
        self.assertIn("%d times" % ATTEMPTS, text)
        self.assertIn("情報システム担当", text)
        self.assertIn("ask IT", text)
        for s in SECRETS:
            self.assertNotIn(s, text)
            self.assertNotIn(s.encode("utf-8"), raw)
        self.assertNotIn(b"multipart", raw.lower())

    def test_headers(self):
        raw, msg = notice()
        # The From display name was an encoded word: the notice's plain sender replaces it.
        self.assertEqual([a.addr_spec for a in msg["From"].addresses], [SENDER])
        self.assertEqual(msg["From"].addresses[0].display_name, "")
        # A plain field stays, as on the normal path; the routing fields too.
        self.assertEqual(msg["X-Plain-Field"], "kept as it is")
        self.assertEqual(msg["Message-ID"], "<poison-1@internet.example>")
        self.assertEqual(msg["To"], "staff@lgwan.example")
        self.assertEqual(len(msg.get_all("Content-Type")), 1)

    def test_one_copy_only(self):
        self.assertEqual(len(copies(RCPT)), 1)


class T3Store(unittest.TestCase):
    """The store holds the original with verdict failed, and its trail says why."""

    def test_record(self):
        q = show()
        self.assertEqual(q["verdict"], "failed")
        self.assertEqual(q["status"], "quarantined")
        self.assertEqual(q["sender"], SENDER)
        self.assertEqual(q["recipients"], [RCPT])
        actions = [e["action"] for e in q["events"]]
        self.assertEqual(actions[:2], ["stored", "failed"], q["events"])
        failed = q["events"][1]
        self.assertEqual(failed["actor"], "mugai-milter")
        self.assertIn("%d times" % ATTEMPTS, failed["reason"])

    def test_original_kept(self):
        out = os.path.join(S["tmp"], "original.eml")
        # an export needs a request and another person's approval ([web] release_approvals)
        rc, text, err = S["h"].quarantine("--actor", "tanaka", "export", quarantine_id(), "-o", out,
                                          "--reason", "poison test")
        self.assertEqual(rc, 5, text + err)
        rid = re.search(r"^request (\d+):", text, re.M).group(1)
        rc, text, err = S["h"].quarantine("--actor", "suzuki", "approve", rid, "--reason", "checked",
                                          "-o", out)
        self.assertEqual(rc, 0, text + err)
        with open(out, "rb") as f:
            original = f.read()
        head, body = poison_mail(ATTEMPTS + 1).split(b"\r\n\r\n", 1)
        self.assertTrue(original.endswith(body))
        for line in head.split(b"\r\n"):
            self.assertIn(line, original)

    def test_listed_as_failed(self):
        rc, out, err = S["h"].quarantine("--json", "list", "--verdict", "failed")
        self.assertEqual(rc, 0, err)
        self.assertEqual([m["id"] for m in json.loads(out)["messages"]], [quarantine_id()])

    def test_audit_log(self):
        with open(os.path.join(S["h"].milter.root, "audit.jsonl"), encoding="utf-8") as f:
            lines = [json.loads(ln) for ln in f if ln.strip()]
        mine = [ln for ln in lines if ln.get("quarantine_id") == quarantine_id()]
        self.assertEqual(len(mine), 1, lines)
        self.assertEqual(mine[0]["verdict"], "failed")
        self.assertIn("%d times" % ATTEMPTS, mine[0]["reason"])
        self.assertEqual(mine[0]["sender"], SENDER)

    def test_logged(self):
        self.assertRegex(S["r"]["log"], r"quarantined as %s with verdict failed"
                         % re.escape(quarantine_id()))


class T4Afterwards(unittest.TestCase):
    """A normal message afterwards is sanitized as ever, by the worker that sent the
    notice."""

    def test_normal_message(self):
        code, text, seen = S["r"]["after"]
        self.assertEqual(code, 250, "%s %s%s" % (seen, text, diag()))
        got = copies("after@lgwan.example")
        self.assertEqual(len(got), 1, diag())
        msg = email.message_from_bytes(got[0][1], policy=email.policy.default)
        self.assertEqual(str(msg["Subject"]), "after")
        body = msg.get_body(("plain",)).get_content()
        self.assertIn("本日は晴天なり。", body)
        self.assertIn("Sanitization notice", body)
        rc, out, err = S["h"].quarantine("--json", "show",
                                         str(msg["X-Mugai-Quarantine-Id"]).strip())
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["verdict"], "clean")
        self.assertEqual(workers(), S["r"]["final_workers"])


def main():
    global BUILD
    BUILD = tm.arg_value("--build") or BUILD
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
