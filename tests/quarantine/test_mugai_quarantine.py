#!/usr/bin/python3
"""End-to-end tests of mugai-quarantine: a store built with quar_fixture, the
command run as IT staff run it, and a small SMTP sink on 127.0.0.1 standing in
for the release listener.

usage: test_mugai_quarantine.py BUILD_DIR
"""
import email
import email.policy
import hashlib
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
                srv.received.append((sender, rcpts, data))
                self.reply("250 2.0.0 queued")
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

    def write_conf(self, port, name="mugai.conf", extra=""):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("[quarantine]\ndir = %s\nretention_days = 30\nrelease_host = 127.0.0.1\n"
                    "release_port = %d\nrelease_helo = mugai-release.test\n%s"
                    % (self.store, port, extra))
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
        self.assertTrue(json.loads(r.stdout)["ok"])
        self.assertEqual(len(self.sink.received), 1)
        sender, rcpts, data = self.sink.received[0]
        self.assertEqual(sender, "yamada@example.com")
        self.assertEqual(rcpts, ["somu@city.example.lg.jp", "kikaku@city.example.lg.jp"])
        self.assertEqual(data, JP_EML)
        self.assertIn("mugai-release.test", self.sink.helo)
        m = self.show(self.jp)
        self.assertEqual(m["status"], "released")
        ev = m["events"][-1]
        self.assertEqual((ev["actor"], ev["action"], ev["reason"]),
                         ("tanaka", "released", "sender confirmed"))

    def test_release_to_override(self):
        r = self.run_tool("release", self.jp, "--reason", "forward", "--to", "it@city.example.lg.jp",
                          "--to", "boss@city.example.lg.jp")
        self.assertEqual(r.returncode, 0, r.stderr)
        sender, rcpts, data = self.sink.received[0]
        self.assertEqual(rcpts, ["it@city.example.lg.jp", "boss@city.example.lg.jp"])
        self.assertEqual(data, JP_EML)
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
        self.assertEqual(self.show(self.jp)["status"], "quarantined")

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
        self.assertEqual(stat.S_IMODE(os.stat(self.original_path(sha)).st_mode), 0o600)
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

    # actor, ids, configuration, help -------------------------------------

    def test_actor_from_sudo_user(self):
        out = os.path.join(self.dir, "o")
        r = self.run_tool("export", self.jp, "-o", out, "--reason", "r",
                          env={"SUDO_USER": "suzuki"}, actor=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.show(self.jp)["events"][-1]["actor"], "suzuki")

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
        for word in ("SYNOPSIS", "EXAMPLES", "EXIT STATUS", "release", "purge"):
            self.assertIn(word, r.stdout)
        for cmd in ("list", "show", "export", "release", "delete", "purge"):
            r = subprocess.run([self.tool, cmd, "--help"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn("usage: mugai-quarantine", r.stdout)


if __name__ == "__main__":
    BUILD = sys.argv.pop(1)
    os.environ["TZ"] = "Asia/Tokyo"  # dates given to --since/--until are local time
    time.tzset()
    unittest.main(verbosity=2)
