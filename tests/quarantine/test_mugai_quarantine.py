#!/usr/bin/python3
"""End-to-end tests of mugai-quarantine: a store built with quar_fixture (and,
for what the engine records, with sanitize-file), the command run as IT staff
run it, the two-person rule between two actors, the audit trail checked and then
edited with the sqlite3 tool, and a small SMTP sink on 127.0.0.1 standing in for
the release listener (it answers the message data as Postfix does: "250 2.0.0
Ok: queued as ID").

usage: test_mugai_quarantine.py BUILD_DIR
"""
import email
import email.header
import email.policy
import hashlib
import itertools
import json
import os
import socket
import socketserver
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import unittest

BUILD = None
DAY = 86400
GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen")
# The events table's column holding an event's position in the trail.
EVENT_SEQ = "id"

JP_EML = (
    b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.com>\r\n"
    b"To: somu@city.example.lg.jp\r\n"
    b"Subject: =?ISO-2022-JP?B?GyRCMnE1RCROO3FOQRsoQg==?=\r\n"
    b"Message-ID: <jp1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    b"\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=UTF-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"=E4=BC=9A=E8=AD=B0=E3=81=AE=E8=B3=87=E6=96=99=E3=81=A7=E3=81=99=E3=80=82\r\n"
    b".a line starting with a dot\r\n"
    b"..and one with two\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name=\"mitsumori.pdf\"\r\n"
    b"Content-Disposition: attachment; filename=\"mitsumori.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJcfsj6IKAAECAwQFBgcICf/+/fz7+g==\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@example.net\r\n"
    b"Subject: inner\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"inner\"\r\n"
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=US-ASCII\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--inner\r\n"
    b"Content-Type: application/octet-stream; name=\"tool.exe\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\r\n"
    b"--inner--\r\n"
    b"\r\n"
    b"--outer--\r\n"
)

JP_SUBJECT = "会議の資料"
JP_PARTS = [
    "1||text/plain|text/plain|60||body||",
    "2|mitsumori.pdf|application/pdf|application/pdf|30||sanitized|rendered to images|",
    "3|||message/rfc822|0||sanitized|attached message|",
    "3.1||text/plain|text/plain|10||body||",
    "3.2|tool.exe|application/octet-stream|application/x-dosexec|32||blocked|executable"
    "|Win.Test.EICAR_HDB-1",
]


# A message for sanitize-file: Japanese subject and display name (ISO-2022-JP), a header the
# record does not keep, a UTF-8 text body.
SF_SUBJECT = "令和8年度 予算資料"
SF_EML = (
    b"Date: Tue, 24 Nov 2026 10:00:00 +0900\r\n"
    b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <yamada@example.com>\r\n"
    b"To: somu@city.example.lg.jp\r\n"
    b"Subject: " + email.header.Header(SF_SUBJECT, "iso-2022-jp").encode().encode() + b"\r\n"
    b"Message-ID: <sf1@example.com>\r\n"
    b"X-Secret: not for the record\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=UTF-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + "来週の会議資料をお送りします。\r\n"
    "よろしくお願いします。\r\n".encode()
)


def plain_eml(n):
    return ("From: s%d@example.org\r\nTo: r@city.example.lg.jp\r\nSubject: plain %d\r\n"
            "\r\nbody %d\r\n" % (n, n, n)).encode()


# Over the 256 KiB up to which the store keeps originals in its index: stored as a file.
LARGE_EML = (b"From: big@example.com\r\nTo: somu@city.example.lg.jp\r\nSubject: large\r\n"
             b"\r\n" + b"".join(b"line %06d of a long report ........................\r\n" % i
                               for i in range(6000)))
assert len(LARGE_EML) > 256 * 1024


class SmtpSink(socketserver.ThreadingTCPServer):
    """Records every transaction: (mail_from, [rcpts], data un-dot-stuffed)."""
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.received = []
        self.helo = []
        self.reject = set()
        self.qids = []  # the queue id given to each message received
        self.serial = itertools.count(1)


class SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        srv = self.server
        sender, rcpts = None, []
        self.reply("220 sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                srv.helo.append(cmd[5:])
                self.reply("250-sink\r\n250 8BITMIME" if verb == "EHLO" else "250 sink")
            elif verb == "MAIL":
                sender, rcpts = cmd.split(":", 1)[1].strip(), []
                sender = sender.split()[0].strip("<>")
                self.reply("250 ok")
            elif verb == "RCPT":
                addr = cmd.split(":", 1)[1].strip().strip("<>")
                if addr in srv.reject:
                    self.reply("550 5.1.1 <%s>: Recipient address rejected" % addr)
                else:
                    rcpts.append(addr)
                    self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b""
                while True:
                    l = self.rfile.readline()
                    if l in (b".\r\n", b""):
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    data += l
                qid = "4Q%06XZ" % next(srv.serial)
                srv.received.append((sender, rcpts, data))
                srv.qids.append(qid)
                self.reply("250 2.0.0 Ok: queued as %s" % qid)
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class QuarantineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tool = os.path.join(BUILD, "tools", "mugai-quarantine")
        cls.fixture = os.path.join(BUILD, "tests", "quar_fixture")
        cls.sink = SmtpSink()
        threading.Thread(target=cls.sink.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.sink.shutdown()
        cls.sink.server_close()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="e2e_quar-")
        self.dir = self.tmp.name
        self.store = os.path.join(self.dir, "store")
        self.conf = self.write_conf(self.sink.server_address[1])
        self.sink.received.clear()
        self.sink.qids.clear()
        self.sink.reject.clear()
        self.now = int(time.time())
        self.jp_file = os.path.join(self.dir, "jp.eml")
        with open(self.jp_file, "wb") as f:
            f.write(JP_EML)
        self.jp = self.put(self.jp_file, time=self.now - 3600, sender="yamada@example.com",
                           rcpts=["somu@city.example.lg.jp", "kikaku@city.example.lg.jp"],
                           subject=JP_SUBJECT, verdict="blocked", parts=JP_PARTS,
                           extra=["--from", "山田 <yamada@example.com>", "--queue-id", "4Xy1",
                                  "--message-id", "<jp1@example.com>"])

    def tearDown(self):
        self.tmp.cleanup()

    def write_conf(self, port, name="mugai.conf", extra="", approvals=1):
        """A configuration; approvals is [web] release_approvals (1: one person acts alone)."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("[quarantine]\ndir = %s\nretention_days = 30\nrelease_host = 127.0.0.1\n"
                    "release_port = %d\nrelease_helo = mugai-release.test\n%s"
                    "\n[web]\nrelease_approvals = %d\n"
                    % (self.store, port, extra, approvals))
        return path

    def put(self, path, time, sender, rcpts, subject, verdict="clean", parts=(),
            retention=30, extra=()):
        args = [self.fixture, self.store, path, "--time", str(time), "--sender", sender,
                "--subject", subject, "--verdict", verdict, "--retention", str(retention),
                "--actor", "mugai-milter"]
        for r in rcpts:
            args += ["--rcpt", r]
        for p in parts:
            args += ["--part", p]
        out = subprocess.run(args + list(extra), capture_output=True, check=True, text=True)
        return out.stdout.strip()

    def put_plain(self, n, **kw):
        path = os.path.join(self.dir, "plain%d.eml" % n)
        with open(path, "wb") as f:
            f.write(plain_eml(n))
        return self.put(path, **kw)

    def run_tool(self, *args, conf=None, env=None, actor="tanaka"):
        cmd = [self.tool, "-c", conf or self.conf]
        if actor:
            cmd += ["--actor", actor]
        e = dict(os.environ, TZ="Asia/Tokyo", LC_ALL="C.UTF-8")
        e.pop("SUDO_USER", None)
        e.update(env or {})
        return subprocess.run(cmd + list(args), capture_output=True, text=True, env=e)

    def show(self, mid):
        r = self.run_tool("--json", "show", mid)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def original_path(self, sha):
        return os.path.join(self.store, "originals", sha[:2], sha)

    def stored_as(self, sha):
        """Where the store keeps the original with this hash: "row", "file" or None."""
        db = sqlite3.connect(os.path.join(self.store, "index.sqlite"))
        try:
            row = db.execute("SELECT length(data) FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
        finally:
            db.close()
        in_file = os.path.exists(self.original_path(sha))
        self.assertFalse(row and in_file, "one copy per content")
        return "row" if row else "file" if in_file else None

    # list ---------------------------------------------------------------

    def list_ids(self, *args):
        r = self.run_tool("--json", "list", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [m["id"] for m in json.loads(r.stdout)["messages"]]

    def test_list_filters_newest_first(self):
        t = self.now - 10 * DAY
        a = self.put_plain(1, time=t, sender="alice@example.org", rcpts=["a@city.example.lg.jp"],
                           subject="a")
        b = self.put_plain(2, time=t + DAY, sender="bob@example.net",
                           rcpts=["kikaku@city.example.lg.jp"], subject="b", verdict="sanitized")
        c = self.put_plain(3, time=t + 2 * DAY, sender="Alice@Example.org",
                           rcpts=["b@city.example.lg.jp"], subject="c")
        day = lambda ts: time.strftime("%Y-%m-%d", time.localtime(ts))
        self.assertEqual(self.list_ids(), [self.jp, c, b, a])
        self.assertEqual(self.list_ids("--sender", "alice"), [c, a])
        self.assertEqual(self.list_ids("--recipient", "kikaku@"), [self.jp, b])
        self.assertEqual(self.list_ids("--verdict", "sanitized"), [b])
        self.assertEqual(self.list_ids("--verdict", "blocked"), [self.jp])
        self.assertEqual(self.list_ids("--status", "quarantined", "--limit", "2"), [self.jp, c])
        self.assertEqual(self.list_ids("--status", "deleted"), [])
        self.assertEqual(self.list_ids("--since", day(t + DAY), "--until", day(t + 2 * DAY)),
                         [c, b])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t + DAY))
        self.assertEqual(self.list_ids("--until", stamp), [b, a])
        self.assertEqual(self.run_tool("list", "--verdict", "odd").returncode, 2)
        self.assertEqual(self.run_tool("list", "--since", "yesterday").returncode, 2)

    def test_list_human_table(self):
        r = self.run_tool("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("ID"))
        self.assertIn(self.jp, lines[1])
        self.assertIn(JP_SUBJECT, lines[1])
        self.assertIn("somu@city.example.lg.jp", lines[1])
        self.assertIn("blocked", lines[1])

    def test_list_json_times_have_offset(self):
        m = self.show(self.jp)
        r = self.run_tool("--json", "list")
        msg = json.loads(r.stdout)["messages"][0]
        self.assertTrue(msg["time"].endswith("+09:00"), msg["time"])
        self.assertEqual(msg["subject"], JP_SUBJECT)
        self.assertEqual(m["recipients"], ["somu@city.example.lg.jp", "kikaku@city.example.lg.jp"])

    def test_list_aligns_wide_subjects(self):
        self.put_plain(1, time=self.now - 7200, sender="a@example.org",
                       rcpts=["r@city.example.lg.jp"], subject="short ascii")
        self.put_plain(2, time=self.now - 9000, sender="b@example.org",
                       rcpts=["r@city.example.lg.jp"],
                       subject="令和八年度予算要求に関する資料の送付について（再送）長い件名")
        width = lambda t: sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in t)
        lines = self.run_tool("list").stdout.splitlines()[1:]
        self.assertEqual(len(lines), 3)
        ends = {width(l[:l.index(" clean ") if " clean " in l else l.index(" blocked ")])
                for l in lines}
        self.assertEqual(len(ends), 1, lines)
        self.assertIn("…", lines[2])

    def test_control_characters_never_reach_the_terminal(self):
        mid = self.put_plain(1, time=self.now, sender="evil@example.org",
                             rcpts=["r@city.example.lg.jp"], subject="hi\x1b[2J\x1b]0;owned\x07")
        for args in (["list"], ["show", mid]):
            out = self.run_tool(*args).stdout
            self.assertNotIn("\x1b", out)
            self.assertNotIn("\x07", out)
        self.assertEqual(self.show(mid)["subject"], "hi\x1b[2J\x1b]0;owned\x07")

    def test_export_part_of_single_part_message(self):
        mid = self.put_plain(5, time=self.now, sender="s@example.org", rcpts=["r@x"], subject="s")
        out = os.path.join(self.dir, "body")
        r = self.run_tool("export", mid, "--part", "1", "-o", out, "--reason", "r")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"body 5\r\n")
        self.assertEqual(self.run_tool("export", mid, "--part", "2", "-o", out + "2",
                                       "--reason", "r").returncode, 1)

    # show ---------------------------------------------------------------

    def test_show_human(self):
        r = self.run_tool("show", self.jp.lower())
        self.assertEqual(r.returncode, 0, r.stderr)
        for text in (self.jp, JP_SUBJECT, "山田 <yamada@example.com>", "yamada@example.com",
                     "kikaku@city.example.lg.jp", "mitsumori.pdf", "application/x-dosexec",
                     "Win.Test.EICAR_HDB-1", "3.2", "stored", "mugai-milter", "blocked"):
            self.assertIn(text, r.stdout)

    def test_show_json(self):
        m = self.show(self.jp)
        self.assertEqual(m["id"], self.jp)
        self.assertEqual(m["subject"], JP_SUBJECT)
        self.assertEqual(m["queue_id"], "4Xy1")
        self.assertEqual(m["message_id"], "<jp1@example.com>")
        self.assertEqual(m["sha256"], hashlib.sha256(JP_EML).hexdigest())
        self.assertEqual(m["size"], len(JP_EML))
        self.assertEqual([p["path"] for p in m["parts"]], ["1", "2", "3", "3.1", "3.2"])
        self.assertEqual(m["parts"][4]["signature"], "Win.Test.EICAR_HDB-1")
        self.assertEqual(m["parts"][4]["action"], "blocked")
        self.assertEqual([(e["actor"], e["action"]) for e in m["events"]],
                         [("mugai-milter", "stored")])

    def test_show_records_no_event(self):
        self.run_tool("show", self.jp)
        self.assertEqual(len(self.show(self.jp)["events"]), 1)

    # export -------------------------------------------------------------

    def test_export_whole(self):
        out = os.path.join(self.dir, "orig.eml")
        r = self.run_tool("export", self.jp, "-o", out, "--reason", "問合せ 1234")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), JP_EML)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        ev = self.show(self.jp)["events"][-1]
        self.assertEqual((ev["actor"], ev["action"], ev["reason"]),
                         ("tanaka", "exported", "問合せ 1234"))
        self.assertIn(out, ev["detail"])
        again = self.run_tool("export", self.jp, "-o", out, "--reason", "x")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("exists", again.stderr)

    def test_export_parts_decoded(self):
        msg = email.message_from_bytes(JP_EML, policy=email.policy.compat32)
        inner = msg.get_payload()[2].get_payload()[0]
        expect = {
            "1": msg.get_payload()[0].get_payload(decode=True),
            "2": msg.get_payload()[1].get_payload(decode=True),
            "3.1": inner.get_payload()[0].get_payload(decode=True),
            "3.2": inner.get_payload()[1].get_payload(decode=True),
        }
        for path, data in expect.items():
            out = os.path.join(self.dir, "part-" + path)
            r = self.run_tool("export", self.jp, "--part", path, "-o", out, "--reason", "check")
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), data, path)
        self.assertTrue(expect["2"].startswith(b"%PDF-1.4"))
        details = [e["detail"] for e in self.show(self.jp)["events"] if e["action"] == "exported"]
        self.assertEqual(len(details), 4)
        self.assertIn("part 3.2", details[-1])

    def test_export_unknown_part(self):
        out = os.path.join(self.dir, "none")
        for path in ("4", "3.3", "1.1", "x", "0"):
            r = self.run_tool("export", self.jp, "--part", path, "-o", out, "--reason", "r")
            self.assertEqual(r.returncode, 1, path)
            self.assertIn("no part", r.stderr)
            self.assertFalse(os.path.exists(out))
        self.assertEqual(len(self.show(self.jp)["events"]), 1)

    def test_missing_reason_is_usage_error(self):
        out = os.path.join(self.dir, "x")
        for args in (["export", self.jp, "-o", out], ["release", self.jp],
                     ["delete", self.jp], ["release", self.jp, "--reason", ""]):
            r = self.run_tool(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("--reason", r.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.sink.received, [])

    # release ------------------------------------------------------------

    def test_release_sends_original(self):
        r = self.run_tool("--json", "release", self.jp, "--reason", "sender confirmed")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["ok"])
        self.assertEqual(len(self.sink.received), 1)
        qid = self.sink.qids[0]
        self.assertEqual(out["queue_id"], qid)
        self.assertEqual(out["reply"], "250 2.0.0 Ok: queued as " + qid)
        sender, rcpts, data = self.sink.received[0]
        self.assertEqual(sender, "yamada@example.com")
        self.assertEqual(rcpts, ["somu@city.example.lg.jp", "kikaku@city.example.lg.jp"])
        self.assertEqual(data, JP_EML)
        self.assertIn("mugai-release.test", self.sink.helo)
        m = self.show(self.jp)
        self.assertEqual(m["status"], "released")
        self.assertEqual(m["release_result"], "250 2.0.0 Ok: queued as " + qid)
        ev = m["events"][-1]
        self.assertEqual((ev["actor"], ev["action"], ev["reason"], ev["source"], ev["outcome"]),
                         ("tanaka", "released", "sender confirmed", "cli", "ok"))
        self.assertIn(qid, ev["detail"])

    def test_release_to_override(self):
        r = self.run_tool("release", self.jp, "--reason", "forward", "--to", "it@city.example.lg.jp",
                          "--to", "boss@city.example.lg.jp")
        self.assertEqual(r.returncode, 0, r.stderr)
        sender, rcpts, data = self.sink.received[0]
        self.assertEqual(rcpts, ["it@city.example.lg.jp", "boss@city.example.lg.jp"])
        self.assertEqual(data, JP_EML)
        self.assertIn("queue id: %s\n" % self.sink.qids[0], r.stdout)
        self.assertIn("it@city.example.lg.jp", self.show(self.jp)["events"][-1]["detail"])

    def test_release_refused_prints_reply(self):
        self.sink.reject.add("somu@city.example.lg.jp")
        r = self.run_tool("release", self.jp, "--reason", "try")
        self.assertEqual(r.returncode, 4)
        self.assertIn("550", r.stderr)
        self.assertIn("Recipient address rejected", r.stderr)
        m = self.show(self.jp)
        self.assertEqual(m["status"], "quarantined")
        self.assertEqual(m["events"][-1]["action"], "release-failed")
        self.assertTrue(m["events"][-1]["outcome"].startswith("failed: "), m["events"][-1])
        self.assertTrue(m["release_result"].startswith("failed: "), m["release_result"])
        self.assertIn("Recipient address rejected", m["release_result"])

    def test_release_closed_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        conf = self.write_conf(port, "closed.conf")
        r = self.run_tool("release", self.jp, "--reason", "try", conf=conf)
        self.assertEqual(r.returncode, 4)
        self.assertIn("release of %s failed" % self.jp, r.stderr)
        self.assertIn(str(port), r.stderr)
        self.assertNotIn("queue id", r.stdout)
        m = self.show(self.jp)
        self.assertEqual(m["status"], "quarantined")
        self.assertTrue(m["release_result"].startswith("failed: "), m["release_result"])

    def test_release_cannot_smuggle_a_second_message(self):
        # an original whose bare-LF "end of data" would, sent as is to a lenient listener,
        # end the message early and run the sender's own SMTP commands (SMTP smuggling)
        smuggle = (b"From: a@example.net\r\nTo: somu@city.example.lg.jp\r\nSubject: s\r\n\r\n"
                   b"one\n.\r\nMAIL FROM:<ceo@city.example.lg.jp>\r\n"
                   b"RCPT TO:<all@city.example.lg.jp>\r\nDATA\r\nSubject: forged\r\n\r\n"
                   b"forged\r\n.\r\ntwo\r\n.\nthree\r\n..four\n")
        path = os.path.join(self.dir, "smuggle.eml")
        with open(path, "wb") as f:
            f.write(smuggle)
        mid = self.put(path, time=self.now - 60, sender="a@example.net",
                       rcpts=["somu@city.example.lg.jp"], subject="s")
        r = self.run_tool("release", mid, "--reason", "r")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.sink.received), 1, self.sink.received)
        sender, rcpts, data = self.sink.received[0]
        self.assertEqual((sender, rcpts), ("a@example.net", ["somu@city.example.lg.jp"]))
        self.assertEqual(data, smuggle.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))

    def test_release_refuses_an_address_that_would_inject_commands(self):
        for bad in ("it@city.example.lg.jp\r\nRCPT TO:<evil@example.net>", "a b@example.net",
                    "<it@city.example.lg.jp>"):
            r = self.run_tool("release", self.jp, "--reason", "r", "--to", bad)
            self.assertEqual(r.returncode, 4, bad)
            self.assertIn("not a usable recipient address", r.stderr)
        self.assertEqual(self.sink.received, [])
        m = self.show(self.jp)
        self.assertEqual(m["status"], "quarantined")
        self.assertEqual(m["events"][-1]["action"], "release-failed")

    # integrity ----------------------------------------------------------

    def assert_refused(self, mid, stored_sha, forged):
        """export and release of mid fail, naming it and both hashes; nothing leaves."""
        out = os.path.join(self.dir, "tampered.eml")
        for args in (["export", mid, "-o", out, "--reason", "check"],
                     ["release", mid, "--reason", "check"]):
            r = self.run_tool(*args)
            self.assertEqual(r.returncode, 3, r.stderr)
            for word in (mid, "integrity", stored_sha, hashlib.sha256(forged).hexdigest()):
                self.assertIn(word, r.stderr, args[0])
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.sink.received, [])
        m = self.show(mid)
        self.assertEqual(m["status"], "quarantined")
        actions = [e["action"] for e in m["events"]]
        self.assertEqual(actions.count("integrity-failed"), 2)
        self.assertNotIn("exported", actions)
        self.assertNotIn("released", actions)

    def test_tampered_original_in_index_is_refused(self):
        sha = hashlib.sha256(JP_EML).hexdigest()
        self.assertEqual(self.stored_as(sha), "row")
        forged = JP_EML.replace(b"tool.exe", b"TOOL.EXE")
        db = sqlite3.connect(os.path.join(self.store, "index.sqlite"))
        with db:
            db.execute("UPDATE blobs SET data = ? WHERE sha256 = ?", (forged, sha))
        db.close()
        self.assert_refused(self.jp, sha, forged)

    def test_tampered_original_file_is_refused(self):
        path = os.path.join(self.dir, "large.eml")
        with open(path, "wb") as f:
            f.write(LARGE_EML)
        mid = self.put(path, time=self.now, sender="big@example.com",
                       rcpts=["somu@city.example.lg.jp"], subject="large")
        sha = hashlib.sha256(LARGE_EML).hexdigest()
        self.assertEqual(self.stored_as(sha), "file")
        forged = LARGE_EML[:-20] + b"changed on the disk\n"
        with open(self.original_path(sha), "r+b") as f:
            f.write(forged)
        self.assert_refused(mid, sha, forged)
        # The same content stored again replaces the bad file: both read right afterwards.
        twin = self.put(path, time=self.now, sender="big@example.com",
                        rcpts=["somu@city.example.lg.jp"], subject="again")
        self.assertEqual(self.show(twin)["events"][-1]["action"], "repaired")
        out = os.path.join(self.dir, "healed.eml")
        r = self.run_tool("export", mid, "-o", out, "--reason", "after repair")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), LARGE_EML)

    # delete and purge ---------------------------------------------------

    def test_delete(self):
        twin = self.put(self.jp_file, time=self.now, sender="x@example.com", rcpts=["y@z"],
                        subject="twin")
        sha = hashlib.sha256(JP_EML).hexdigest()
        self.assertEqual(self.stored_as(sha), "row")
        r = self.run_tool("delete", self.jp, "--reason", "spam")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.stored_as(sha), "row", "the twin still holds the original")
        m = self.show(self.jp)
        self.assertEqual(m["status"], "deleted")
        self.assertEqual((m["events"][-1]["action"], m["events"][-1]["reason"]),
                         ("deleted", "spam"))
        r = self.run_tool("export", self.jp, "-o", os.path.join(self.dir, "gone"), "--reason", "r")
        self.assertEqual(r.returncode, 3)
        self.assertIn("deleted", r.stderr)
        self.assertEqual(self.run_tool("delete", twin, "--reason", "spam").returncode, 0)
        self.assertIsNone(self.stored_as(sha))
        self.assertEqual(self.run_tool("release", twin, "--reason", "r").returncode, 3)
        self.assertEqual(self.run_tool("show", twin).returncode, 0)

    def test_large_original_is_a_file(self):
        path = os.path.join(self.dir, "large.eml")
        with open(path, "wb") as f:
            f.write(LARGE_EML)
        ids = [self.put(path, time=self.now - i, sender="big@example.com",
                        rcpts=["somu@city.example.lg.jp"], subject="large") for i in (1, 2)]
        sha = hashlib.sha256(LARGE_EML).hexdigest()
        self.assertEqual(self.stored_as(sha), "file")
        # readable by the store's group (the review console's user), never by others
        self.assertEqual(stat.S_IMODE(os.stat(self.original_path(sha)).st_mode), 0o640)
        out = os.path.join(self.dir, "large-out.eml")
        r = self.run_tool("export", ids[0], "-o", out, "--reason", "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), LARGE_EML)
        r = self.run_tool("release", ids[0], "--reason", "confirmed")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.sink.received[-1][2], LARGE_EML)
        self.assertEqual(self.run_tool("delete", ids[0], "--reason", "done").returncode, 0)
        self.assertEqual(self.stored_as(sha), "file", "the twin still holds the file")
        self.assertEqual(self.run_tool("delete", ids[1], "--reason", "done").returncode, 0)
        self.assertIsNone(self.stored_as(sha))

    def test_purge(self):
        old = self.put_plain(1, time=self.now - 100 * DAY, sender="old@example.org",
                             rcpts=["r@city.example.lg.jp"], subject="old")
        older = self.put_plain(2, time=self.now - 200 * DAY, sender="older@example.org",
                               rcpts=["r@city.example.lg.jp"], subject="older")
        sha = self.show(old)["sha256"]
        r = self.run_tool("purge", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(old, r.stdout)
        self.assertIn(older, r.stdout)
        self.assertNotIn(self.jp, r.stdout)
        self.assertEqual(self.show(old)["status"], "quarantined")
        self.assertEqual(self.stored_as(sha), "row")
        r = self.run_tool("--json", "purge", actor="purge-timer")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(json.loads(r.stdout)["ids"]), sorted([old, older]))
        self.assertIsNone(self.stored_as(sha))
        for mid in (old, older):
            m = self.show(mid)
            self.assertEqual(m["status"], "purged")
            self.assertEqual((m["events"][-1]["actor"], m["events"][-1]["action"]),
                             ("purge-timer", "purged"))
        self.assertEqual(self.show(self.jp)["status"], "quarantined")
        r = self.run_tool("purge")
        self.assertIn("nothing to purge", r.stdout)

    # two-person rule ------------------------------------------------------

    def two_person_conf(self, port=None):
        return self.write_conf(port or self.sink.server_address[1], "two.conf", approvals=2)

    def requests(self, conf, *args):
        r = self.run_tool("--json", "requests", *args, conf=conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["requests"]

    def request_release(self, conf, actor="tanaka", reason="sender confirmed by phone"):
        """A release asked for by actor: exit 5, the request id printed; returns it."""
        r = self.run_tool("release", self.jp, "--reason", reason, conf=conf, actor=actor)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("needs approval by another person", r.stdout)
        rid = int(r.stdout.split()[1].rstrip(":"))
        self.assertIn("mugai-quarantine approve %d --reason" % rid, r.stdout)
        return rid

    def test_two_person_release(self):
        conf = self.two_person_conf()
        rid = self.request_release(conf)
        self.assertEqual(self.sink.received, [])
        self.assertEqual(self.show(self.jp)["status"], "quarantined")
        # asking again shows the same pending request
        again = self.run_tool("release", self.jp, "--reason", "again", conf=conf, actor="sato")
        self.assertEqual(again.returncode, 5)
        self.assertIn("request %d:" % rid, again.stdout)
        self.assertIn("already pending", again.stdout)
        reqs = self.requests(conf)
        self.assertEqual(len(reqs), 1)
        self.assertEqual((reqs[0]["id"], reqs[0]["item"], reqs[0]["action"], reqs[0]["status"],
                          reqs[0]["requester"]), (rid, self.jp, "release", "pending", "tanaka"))
        # the requester cannot approve: nothing is sent
        own = self.run_tool("approve", str(rid), "--reason", "mine", conf=conf, actor="tanaka")
        self.assertEqual(own.returncode, 6)
        self.assertIn("requester cannot approve", own.stderr)
        self.assertEqual(self.sink.received, [])
        self.assertEqual(self.requests(conf, "--status", "pending")[0]["id"], rid)
        # another person approves: delivered, the queue id printed and kept
        ok = self.run_tool("approve", str(rid), "--reason", "checked with 総務課", conf=conf,
                           actor="suzuki")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(len(self.sink.received), 1)
        sender, rcpts, data = self.sink.received[0]
        self.assertEqual((sender, data), ("yamada@example.com", JP_EML))
        self.assertEqual(rcpts, ["somu@city.example.lg.jp", "kikaku@city.example.lg.jp"])
        qid = self.sink.qids[0]
        self.assertIn("queue id: %s\n" % qid, ok.stdout)
        m = self.show(self.jp)
        self.assertEqual(m["status"], "released")
        self.assertEqual(m["release_result"], "250 2.0.0 Ok: queued as " + qid)
        req = self.requests(conf)[0]
        self.assertEqual((req["status"], req["approver"], req["decision_reason"]),
                         ("done", "suzuki", "checked with 総務課"))
        self.assertIn(qid, req["result"])
        trail = [(e["actor"], e["action"], e["outcome"]) for e in m["events"]]
        self.assertEqual(trail[1:], [
            ("tanaka", "requested", "ok"),
            ("tanaka", "approved", "refused: the requester cannot decide their own request"),
            ("suzuki", "approved", "ok"),
            ("suzuki", "released", "ok")])
        self.assertEqual({e["source"] for e in m["events"][1:]}, {"cli"})
        # a decided request cannot be decided again
        late = self.run_tool("approve", str(rid), "--reason", "again", conf=conf, actor="sato")
        self.assertEqual(late.returncode, 3)
        self.assertIn("not pending", late.stderr)
        self.assertEqual(len(self.sink.received), 1)

    def test_two_person_release_to(self):
        conf = self.two_person_conf()
        r = self.run_tool("release", self.jp, "--reason", "to IT",
                          "--to", "it@city.example.lg.jp", "--to", "boss@city.example.lg.jp",
                          conf=conf)
        self.assertEqual(r.returncode, 5, r.stderr)
        req = self.requests(conf)[0]
        self.assertEqual(req["to"], "it@city.example.lg.jp,boss@city.example.lg.jp")
        ok = self.run_tool("approve", str(req["id"]), "--reason", "ok", conf=conf, actor="suzuki")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(self.sink.received[0][1],
                         ["it@city.example.lg.jp", "boss@city.example.lg.jp"])

    def test_two_person_deny(self):
        conf = self.two_person_conf()
        rid = self.request_release(conf)
        own = self.run_tool("deny", str(rid), "--reason", "withdrawn", conf=conf, actor="tanaka")
        self.assertEqual(own.returncode, 6)
        r = self.run_tool("deny", str(rid), "--reason", "sender not confirmed", conf=conf,
                          actor="suzuki")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("denied", r.stdout)
        req = self.requests(conf)[0]
        self.assertEqual((req["status"], req["approver"], req["decision_reason"]),
                         ("denied", "suzuki", "sender not confirmed"))
        late = self.run_tool("approve", str(rid), "--reason", "r", conf=conf, actor="sato")
        self.assertEqual(late.returncode, 3)
        self.assertEqual(self.sink.received, [])
        m = self.show(self.jp)
        self.assertEqual(m["status"], "quarantined")
        self.assertIsNone(m["release_result"])
        self.assertEqual(m["events"][-1]["action"], "denied")
        # a new request may follow a denied one
        self.assertNotEqual(self.request_release(conf), rid)

    def test_two_person_export(self):
        conf = self.two_person_conf()
        out = os.path.join(self.dir, "part2.pdf")
        r = self.run_tool("export", self.jp, "--part", "2", "-o", out, "--reason", "問合せ 77",
                          conf=conf)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertFalse(os.path.exists(out))
        rid = self.requests(conf)[0]["id"]
        self.assertIn("approve %d --reason TEXT -o %s --part 2" % (rid, out), r.stdout)
        r = self.run_tool("approve", str(rid), "--reason", "ok", conf=conf, actor="suzuki")
        self.assertEqual(r.returncode, 2)
        self.assertIn("-o FILE", r.stderr)
        self.assertEqual(self.requests(conf)[0]["status"], "pending")
        r = self.run_tool("approve", str(rid), "--reason", "ok", "-o", out, "--part", "2",
                          conf=conf, actor="suzuki")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            self.assertTrue(f.read().startswith(b"%PDF-1.4"))
        req = self.requests(conf)[0]
        self.assertEqual(req["status"], "done")
        self.assertIn(out, req["result"])
        ev = self.show(self.jp)["events"][-1]
        self.assertEqual((ev["actor"], ev["action"], ev["reason"]),
                         ("suzuki", "exported", "問合せ 77"))

    def test_two_person_release_to_dead_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        conf = self.two_person_conf(port)
        rid = self.request_release(conf)
        r = self.run_tool("approve", str(rid), "--reason", "ok", conf=conf, actor="suzuki")
        self.assertEqual(r.returncode, 4)
        self.assertIn("release of %s failed" % self.jp, r.stderr)
        self.assertNotIn("queue id", r.stdout)
        req = self.requests(conf)[0]
        self.assertEqual(req["status"], "failed")
        self.assertTrue(req["result"].startswith("failed: "), req["result"])
        self.assertIn(str(port), req["result"])
        m = self.show(self.jp)
        self.assertEqual(m["status"], "quarantined")
        self.assertTrue(m["release_result"].startswith("failed: "), m["release_result"])
        self.assertEqual((m["events"][-1]["action"], m["events"][-1]["actor"]),
                         ("release-failed", "suzuki"))

    def test_delete_stays_immediate(self):
        conf = self.two_person_conf()
        r = self.run_tool("delete", self.jp, "--reason", "spam", conf=conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.show(self.jp)["status"], "deleted")
        self.assertEqual(self.requests(conf), [])

    def test_unknown_request(self):
        conf = self.two_person_conf()
        r = self.run_tool("approve", "999", "--reason", "r", conf=conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("999", r.stderr)
        self.assertEqual(self.run_tool("approve", "x", "--reason", "r", conf=conf).returncode, 2)
        self.assertEqual(self.run_tool("deny", "1", conf=conf).returncode, 2)

    # audit trail ---------------------------------------------------------

    def test_audit_list_and_filters(self):
        out = os.path.join(self.dir, "o.eml")
        r = self.run_tool("export", self.jp, "-o", out, "--reason", "r1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.run_tool("release", self.jp, "--reason", "r2",
                                       actor="suzuki").returncode, 0)
        r = self.run_tool("--json", "audit")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual([e["action"] for e in doc["events"]], ["released", "exported", "stored"])
        self.assertEqual(doc["total"], 3)
        seqs = [e["seq"] for e in doc["events"]]
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        self.assertEqual(doc["events"][0]["source"], "cli")
        self.assertEqual(doc["events"][0]["outcome"], "ok")
        actions = lambda *a: [e["action"] for e in
                              json.loads(self.run_tool("audit", "--json", *a).stdout)["events"]]
        self.assertEqual(actions("--actor", "suzuki"), ["released"])
        self.assertEqual(actions("--action", "exported"), ["exported"])
        self.assertEqual(actions("--item", self.jp.lower(), "--limit", "2"),
                         ["released", "exported"])
        self.assertEqual(actions("--item", "Q-20000101-ZZZZZZ"), [])
        human = self.run_tool("audit", "--actor", "tanaka")
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertIn("exported", human.stdout)
        self.assertIn("cli", human.stdout)
        self.assertNotIn("released", human.stdout)

    def test_audit_verify_finds_an_edited_row(self):
        conf = self.two_person_conf()
        rid = self.request_release(conf)
        self.assertEqual(self.run_tool("deny", str(rid), "--reason", "no", conf=conf,
                                       actor="suzuki").returncode, 0)
        r = self.run_tool("audit", "verify")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(self.run_tool("--json", "audit", "verify").stdout)
        head = doc.pop("head")
        self.assertEqual(r.stdout.splitlines(),
                         ["audit trail intact: 3 events", "head: 3 %s" % head["hash"]])
        self.assertEqual(doc, {"ok": True, "first_bad": None, "events": 3})
        self.assertEqual(head, {"seq": 3, "hash": self.trail()[-1]["hash"]})
        seq = json.loads(self.run_tool("--json", "audit", "--action", "requested").stdout)[
            "events"][0]["seq"]
        db = os.path.join(self.store, "index.sqlite")
        subprocess.run(["sqlite3", db, "UPDATE events SET reason = 'nothing to see' WHERE %s = %d"
                        % (EVENT_SEQ, seq)], check=True)
        r = self.run_tool("audit", "verify")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("audit trail broken at event %d" % seq, r.stdout)
        doc = json.loads(self.run_tool("--json", "audit", "verify").stdout)
        self.assertEqual((doc["ok"], doc["first_bad"]), (False, seq))

    def trail(self):
        """The events table's rows in seq order, as dicts."""
        db = sqlite3.connect(os.path.join(self.store, "index.sqlite"))
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM events ORDER BY %s" % EVENT_SEQ)]
        db.close()
        return rows

    @staticmethod
    def event_hash(prev, row):
        """A row's hash as quar.c's header comment defines it, computed independently."""
        out = prev.encode()
        for v in [row[EVENT_SEQ]] + [row[c] for c in ("time", "msg_id", "actor", "action",
                                                      "reason", "detail", "source", "outcome")]:
            if v is None:
                out += b"n"
            elif isinstance(v, int):
                out += b"i%d;" % v
            else:
                b = v.encode()
                out += b"s%d:" % len(b) + b
        return hashlib.sha256(out).hexdigest()

    def test_audit_verify_finds_an_emptied_trail(self):
        self.assertEqual(self.run_tool("delete", self.jp, "--reason", "spam").returncode, 0)
        self.assertEqual(self.run_tool("audit", "verify").returncode, 0)
        # everything removed, the sequence reset too: no gap and no bad hash left to find
        subprocess.run(["sqlite3", os.path.join(self.store, "index.sqlite"),
                        "DELETE FROM events; DELETE FROM sqlite_sequence WHERE name = 'events'"],
                       check=True)
        r = self.run_tool("audit", "verify")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("audit trail broken at event 1", r.stdout)
        self.assertIn("head: 0 " + "0" * 64, r.stdout)
        doc = json.loads(self.run_tool("--json", "audit", "verify").stdout)
        self.assertEqual((doc["ok"], doc["first_bad"], doc["events"]), (False, 1, 0))

    def test_audit_verify_head_finds_a_rehashed_trail(self):
        r = self.run_tool("-v", "delete", self.jp, "--reason", "spam")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = self.trail()
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0]["hash"], self.event_hash("0" * 64, rows[0]),
                         "the documented format")
        witness = "audit: trail head 2 %s" % rows[1]["hash"]
        self.assertIn(witness, r.stderr.splitlines()[-1])
        noted = "2:" + rows[1]["hash"]
        r = self.run_tool("audit", "verify", "--head", noted)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("event 2 matches the noted head", r.stdout)
        self.assertEqual(self.run_tool("audit", "verify", "--head", witness).returncode, 0,
                         "the whole log line is taken too")
        # the deletion's reason rewritten and the chain recomputed from there on
        db = sqlite3.connect(os.path.join(self.store, "index.sqlite"))
        prev = rows[0]["hash"]
        for row in self.trail()[1:]:
            if row["action"] == "deleted":
                row["reason"] = "retention"
            row["prev_hash"], row["hash"] = prev, self.event_hash(prev, row)
            db.execute("UPDATE events SET reason = ?, prev_hash = ?, hash = ? WHERE %s = ?"
                       % EVENT_SEQ, (row["reason"], row["prev_hash"], row["hash"],
                                     row[EVENT_SEQ]))
            prev = row["hash"]
        db.commit()
        db.close()
        r = self.run_tool("audit", "verify")
        self.assertEqual(r.returncode, 0, "a rehashed chain holds together: " + r.stdout)
        r = self.run_tool("audit", "verify", "--head", noted)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("audit trail rewritten: event 2", r.stdout)
        doc = json.loads(self.run_tool("--json", "audit", "verify", "--head", noted).stdout)
        self.assertEqual((doc["ok"], doc["noted"]["ok"], doc["noted"]["found"]),
                         (False, False, prev))
        # the end cut off, the sequence lowered to match: only the noted head shows it
        subprocess.run(["sqlite3", os.path.join(self.store, "index.sqlite"),
                        "DELETE FROM events WHERE %s = 2;"
                        " UPDATE sqlite_sequence SET seq = 1 WHERE name = 'events'" % EVENT_SEQ],
                       check=True)
        self.assertEqual(self.run_tool("audit", "verify").returncode, 0)
        r = self.run_tool("audit", "verify", "--head", noted)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("event 2, noted as the head, is missing", r.stdout)
        r = self.run_tool("audit", "verify", "--head", "2:nothex")
        self.assertEqual(r.returncode, 2, r.stderr)

    # what the engine records ---------------------------------------------

    def test_show_headers_and_text_from_sanitize_file(self):
        clamdb = os.path.join(self.dir, "clamav")
        subprocess.run([sys.executable, os.path.join(GEN, "make_clamdb.py"), clamdb], check=True,
                       stdout=subprocess.DEVNULL)
        conf = os.path.join(self.dir, "sf.conf")
        with open(conf, "w") as f:
            f.write("[scan]\nclamav_db_dir = %s\n\n[quarantine]\ndir = %s\n\n"
                    "[web]\nrelease_approvals = 1\n" % (clamdb, self.store))
        src = os.path.join(self.dir, "yosan.eml")
        with open(src, "wb") as f:
            f.write(SF_EML)
        out = os.path.join(self.dir, "sf-out")
        r = subprocess.run([os.path.join(BUILD, "tools", "sanitize-file"), "-c", conf, "--json",
                            "--no-progress", "-o", out, src], capture_output=True, text=True,
                           timeout=300)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        mid = [x["quarantine_id"] for x in json.loads(r.stdout)["inputs"]
               if x.get("quarantine_id")][0]
        m = self.show(mid)
        self.assertEqual(m["subject"], SF_SUBJECT)
        lines = m["headers"].splitlines()
        self.assertIn("Subject: " + SF_SUBJECT, lines)
        self.assertIn("From: 山田 太郎 <yamada@example.com>", lines)
        self.assertIn("To: somu@city.example.lg.jp", lines)
        self.assertIn("Message-ID: <sf1@example.com>", lines)
        self.assertIn("Date: Tue, 24 Nov 2026 10:00:00 +0900", lines)
        self.assertFalse([l for l in lines if l.startswith("X-Secret")], lines)
        self.assertIn("来週の会議資料をお送りします。", m["clean_text"])
        self.assertIn(mid, m["clean_text"], "the notice names the quarantine id")
        human = self.run_tool("show", mid)
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertIn("Subject: " + SF_SUBJECT, human.stdout)
        self.assertIn("来週の会議資料をお送りします。", human.stdout)
        self.assertIn("Text the recipients received:", human.stdout)

    # actor, ids, configuration, help -------------------------------------

    def test_actor_from_sudo_user(self):
        out = os.path.join(self.dir, "o")
        r = self.run_tool("export", self.jp, "-o", out, "--reason", "r",
                          env={"SUDO_USER": "suzuki"}, actor=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.show(self.jp)["events"][-1]["actor"], "suzuki")

    def test_sudo_user_cannot_act_as_another(self):
        # a sudoer asks as themselves, then tries to approve under another name
        conf = self.two_person_conf()
        r = self.run_tool("release", self.jp, "--reason", "mine", conf=conf, actor=None,
                          env={"SUDO_USER": "tanaka"})
        self.assertEqual(r.returncode, 5, r.stderr)
        rid = self.requests(conf)[0]["id"]
        r = self.run_tool("approve", str(rid), "--reason", "as someone else", conf=conf,
                          actor="suzuki", env={"SUDO_USER": "tanaka"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--actor suzuki", r.stderr)
        self.assertEqual(self.sink.received, [])
        req = self.requests(conf)[0]
        self.assertEqual((req["status"], req["approver"]), ("pending", None))
        # nor ask under another name for the sudoer to approve as themselves
        r = self.run_tool("export", self.jp, "-o", os.path.join(self.dir, "x"), "--reason", "r",
                          conf=conf, actor="ghost", env={"SUDO_USER": "tanaka"})
        self.assertEqual(r.returncode, 2, r.stderr)
        # --actor naming the sudo user is fine
        r = self.run_tool("approve", str(rid), "--reason", "own", conf=conf, actor="tanaka",
                          env={"SUDO_USER": "tanaka"})
        self.assertEqual(r.returncode, 6, r.stderr)

    def test_unknown_id(self):
        bad = "Q-20000101-ZZZZZZ"
        out = os.path.join(self.dir, "u")
        for args in (["show", bad], ["export", bad, "-o", out, "--reason", "r"],
                     ["release", bad, "--reason", "r"], ["delete", bad, "--reason", "r"]):
            r = self.run_tool(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(bad, r.stderr)
        self.assertFalse(os.path.exists(out))

    def test_bad_config_key(self):
        conf = self.write_conf(25, "bad.conf", "relase_port = 25\n")
        r = self.run_tool("list", conf=conf)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.conf", r.stderr)
        self.assertIn("relase_port", r.stderr)

    def test_usage_errors(self):
        self.assertEqual(self.run_tool().returncode, 2)
        self.assertEqual(self.run_tool("frobnicate").returncode, 2)
        self.assertEqual(self.run_tool("show").returncode, 2)
        self.assertEqual(self.run_tool("list", "--limit", "0").returncode, 2)

    def test_help(self):
        r = subprocess.run([self.tool, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        for word in ("SYNOPSIS", "EXAMPLES", "EXIT STATUS", "release", "purge", "TWO-PERSON RULE",
                     "approve RID", "audit verify", "5 pending approval"):
            self.assertIn(word, r.stdout)
        for cmd in ("list", "show", "export", "release", "delete", "purge", "requests", "approve",
                    "deny", "audit"):
            r = subprocess.run([self.tool, cmd, "--help"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn("usage: mugai-quarantine", r.stdout)


if __name__ == "__main__":
    BUILD = sys.argv.pop(1)
    os.environ["TZ"] = "Asia/Tokyo"  # dates given to --since/--until are local time
    time.tzset()
    unittest.main(verbosity=2)
