#!/usr/bin/python3
"""mugai-milter's answer to a message whose clean copy is larger than one milter
packet, seen from the MTA's side of the milter protocol (libmilter's wire format,
spoken here directly): the replacement body comes in SMFIR_REPLBODY packets of at
most 65535 bytes, all of them before any header change; the body and the header
changes, applied as an MTA applies them, give a message that parses and holds all
of the sanitized text in order; the final reply is accept, and no spool file is
left holding data.

Usage: test_replbody.py BUILD_DIR CLAMDB_GENERATOR
"""

import base64
import email
import email.policy
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "postfix"))
from pfharness import give_to  # noqa: E402 - the milter runs as [milter] user = mugai

BUILD = None
CLAMDB = None

MILTER_CHUNK_SIZE = 65535  # the largest data of one packet
MAX_PACKET = 1 << 20
ALL_ACTIONS = 0x1FF  # SMFIF_ADDHDRS .. SMFIF_SETSYMLIST
ALL_STEPS = 0x1FFFFF  # every SMFIP_NO*, SMFIP_NR_* and SMFIP_HDR_LEADSPC
SMFIF_ADDHDRS, SMFIF_CHGBODY, SMFIF_CHGHDRS = 0x01, 0x02, 0x10
SMFIP_HDR_LEADSPC = 0x100000
# Per command: the SMFIP_NO* bit that skips it and the SMFIP_NR_* bit that skips its reply.
SKIP = {b"C": 0x1, b"H": 0x2, b"M": 0x4, b"R": 0x8, b"B": 0x10, b"L": 0x20, b"N": 0x40}
NOREPLY = {b"C": 0x1000, b"H": 0x2000, b"M": 0x4000, b"R": 0x8000, b"L": 0x80, b"N": 0x40000,
           b"B": 0x80000}
FINAL = (b"a", b"c", b"d", b"r", b"t", b"y")  # accept, continue, discard, reject, tempfail, code
HEADER_CHANGES = (b"h", b"i", b"m")  # add, insert, change (or delete)
QID = re.compile(r"^Q-[0-9A-Z-]+$")


class MilterClient:
    """The MTA side of one milter connection."""

    def __init__(self, path, timeout=120):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.steps = 0

    def close(self):
        try:
            self.send(b"Q")
        except OSError:
            pass
        self.s.close()

    def send(self, cmd, data=b""):
        self.s.sendall(struct.pack("!I", len(data) + 1) + cmd + data)

    def exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            got = self.s.recv(n - len(buf))
            if not got:
                raise EOFError("the milter closed the connection")
            buf += got
        return bytes(buf)

    def read(self):
        """One packet: (command byte, data)."""
        (n,) = struct.unpack("!I", self.exact(4))
        if not 1 <= n <= MAX_PACKET:
            raise ValueError("bad packet length %d" % n)
        data = self.exact(n)
        return data[:1], data[1:]

    def negotiate(self):
        """Offer every action and step; return (version, actions, steps) the milter wants."""
        self.send(b"O", struct.pack("!III", 6, ALL_ACTIONS, ALL_STEPS))
        cmd, data = self.read()
        if cmd != b"O" or len(data) < 12:
            raise ValueError("bad negotiation reply %r" % cmd)
        version, actions, self.steps = struct.unpack("!III", data[:12])
        return version, actions, self.steps

    def step(self, cmd, data=b""):
        """Send one step unless negotiated away; its reply command, or None when none is due."""
        if self.steps & SKIP.get(cmd, 0):
            return None
        self.send(cmd, data)
        if self.steps & NOREPLY.get(cmd, 0):
            return None
        while True:
            rc, _ = self.read()
            if rc != b"p":  # progress
                return rc

    def message(self, headers, body, queue_id=b"Q1"):
        """One message from alice to bob up to its end: connection, HELO, the queue id macro,
        envelope, headers ([(name, value)], values with their leading space), end of headers
        and the body in packets of at most MILTER_CHUNK_SIZE. The replies of the steps that
        had one (None for the others)."""
        replies = [self.step(b"C", b"mail.example.com\0" + b"4" + struct.pack("!H", 25) +
                             b"192.0.2.1\0"),
                   self.step(b"H", b"mail.example.com\0")]
        self.send(b"D", b"M" + b"i\0" + queue_id + b"\0")
        replies += [self.step(b"M", b"<alice@example.com>\0"),
                    self.step(b"R", b"<bob@example.lg.jp>\0")]
        replies += [self.step(b"L", name + b"\0" + value + b"\0") for name, value in headers]
        replies.append(self.step(b"N"))
        replies += [self.step(b"B", body[off:off + MILTER_CHUNK_SIZE])
                    for off in range(0, len(body), MILTER_CHUNK_SIZE)]
        return replies

    def eom(self):
        """End of message: every packet up to and including the final reply."""
        self.send(b"E")
        out = []
        while True:
            cmd, data = self.read()
            out.append((cmd, data))
            if cmd in FINAL:
                return out


def nul_fields(data):
    """The NUL-terminated strings of a packet's data."""
    return data.split(b"\0")[:-1]


def apply_header_changes(headers, replies):
    """headers ([(name, value)], values as sent with SMFIP_HDR_LEADSPC) after the changes
    among replies, applied in order as an MTA does: 'm' changes (empty value: deletes) the
    index-th (from 1) field of that name or adds it, 'h' appends, 'i' inserts at an index."""
    out = list(headers)
    for cmd, data in replies:
        if cmd == b"h":
            name, value = nul_fields(data)
            out.append((name, value))
        elif cmd == b"i":
            (idx,) = struct.unpack("!I", data[:4])
            name, value = nul_fields(data[4:])
            out.insert(idx, (name, value))
        elif cmd == b"m":
            (idx,) = struct.unpack("!I", data[:4])
            name, value = nul_fields(data[4:])
            at = [k for k, (n, _) in enumerate(out) if n.lower() == name.lower()]
            if idx < 1 or idx > len(at):
                if value:
                    out.append((name, value))
            elif value:
                out[at[idx - 1]] = (name, value)
            else:
                del out[at[idx - 1]]
    return out


def rebuild(headers, replies):
    """The message the MTA passes on: changed header, replacement body."""
    head = b"".join(n + b":" + re.sub(rb"\r?\n", b"\r\n", v) + b"\r\n"
                    for n, v in apply_header_changes(headers, replies))
    body = b"".join(d for c, d in replies if c == b"b")
    return head + b"\r\n" + body


def numbered(text, word):
    """The numbers of `word NNNNN:` in text, in order."""
    return [int(x) for x in re.findall(re.escape(word) + r" (\d{5}):", text)]


class ReplaceBody(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mugai-replbody-")
        d = cls.tmp.name
        subprocess.run([sys.executable, CLAMDB, os.path.join(d, "db")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.spool = os.path.join(d, "spool")
        os.mkdir(cls.spool)
        cls.sock = os.path.join(d, "milter.sock")
        conf = os.path.join(d, "mugai.conf")
        render = os.path.join(d, "mugai-render")  # where the milter user can run it
        shutil.copy(os.path.join(BUILD, "render", "mugai-render"), render)
        with open(conf, "w") as f:
            f.write("[general]\nrender_path = %s\n"
                    "[scan]\nclamav_db_dir = %s/db\n[quarantine]\ndir = %s/q\n"
                    "[milter]\nsocket = unix:%s\nspool_dir = %s\n"
                    "pid_file = %s/milter.pid\nworkers = 1\njob_timeout = 60\n"
                    "user = mugai\n" % (render, d, d, cls.sock, cls.spool, d))
        give_to("mugai", d)
        cls.log = open(os.path.join(d, "log"), "w+")
        cls.proc = subprocess.Popen(
            [os.path.join(BUILD, "milter", "mugai-milter"), "-c", conf, "-f"],
            stdout=cls.log, stderr=subprocess.STDOUT)
        pool = os.path.join(cls.spool, "pool.sock")
        end = time.monotonic() + 30
        while not (os.path.exists(cls.sock) and os.path.exists(pool)):
            if cls.proc.poll() is not None or time.monotonic() > end:
                cls.tearDownClass()
                raise AssertionError("mugai-milter did not start")
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.terminate()
            try:
                cls.proc.wait(30)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.log.close()
        cls.tmp.cleanup()

    def milter_log(self):
        self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return "\n--- milter ---\n" + f.read()[-3000:]

    def run_message(self, headers, body):
        """Send one message (headers: [(name, value)] with the value's leading space);
        return every packet of the end-of-message answer."""
        c = MilterClient(self.sock)
        try:
            _version, actions, steps = c.negotiate()
            want = SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_CHGHDRS
            self.assertEqual(actions & want, want)
            self.assertTrue(steps & SMFIP_HDR_LEADSPC)
            for reply in c.message(headers, body, b"BIG123"):
                self.assertIn(reply, (b"c", None))
            return c.eom()
        finally:
            c.close()

    def check_packets(self, replies):
        """Accepted; the body in packets of at most 65535 bytes, all before header changes."""
        cmds = [c for c, _ in replies]
        self.assertEqual(cmds[-1], b"a", "%r%s" % (cmds, self.milter_log()))
        chunks = [len(d) for c, d in replies if c == b"b"]
        self.assertGreaterEqual(len(chunks), 2, chunks)
        self.assertGreater(sum(chunks), MILTER_CHUNK_SIZE)
        self.assertLessEqual(max(chunks), MILTER_CHUNK_SIZE)
        first_change = min(k for k, c in enumerate(cmds) if c in HEADER_CHANGES)
        last_body = max(k for k, c in enumerate(cmds) if c == b"b")
        self.assertLess(last_body, first_change, cmds)
        self.assertEqual(self.spool_data(), [])

    def spool_data(self):
        """Spool files holding data (emptied ones may be kept for the next message)."""
        return sorted(n for n in os.listdir(self.spool) if n.startswith(("msg-", "clean-")) and
                      os.path.getsize(os.path.join(self.spool, n)) > 0)

    def check_mugai_headers(self, msg):
        self.assertEqual(len(msg.get_all("X-Mugai-Quarantine-Id") or []), 1)
        self.assertRegex(msg["X-Mugai-Quarantine-Id"], QID)
        self.assertEqual(msg.get_all("X-Mugai-Sanitized"), ["yes"])
        self.assertEqual(len(msg.get_all("Content-Type")), 1)
        self.assertLessEqual(len(msg.get_all("Content-Transfer-Encoding") or []), 1)
        self.assertFalse(msg.defects, msg.defects)

    def test_plain_text_body(self):
        """A 280 KB UTF-8 plain-text body, sent 8bit and given back base64 with a notice."""
        n = 4000
        text = "".join("line %05d: 本日は晴天なり。無害化通信の試験です。\r\n" % i for i in range(n))
        headers = [(b"From", b" Alice <alice@example.com>"), (b"To", b" bob@example.lg.jp"),
                   (b"Subject", b" big"), (b"X-Mugai-Sanitized", b" forged"),
                   (b"MIME-Version", b" 1.0"),
                   (b"Content-Type", b" text/plain; charset=UTF-8"),
                   (b"Content-Transfer-Encoding", b" 8bit")]
        replies = self.run_message(headers, text.encode("utf-8"))
        self.check_packets(replies)
        msg = email.message_from_bytes(rebuild(headers, replies), policy=email.policy.default)
        self.check_mugai_headers(msg)
        self.assertEqual(msg["Subject"], "big")
        self.assertEqual(msg.get_content_type(), "text/plain")
        clean = msg.get_content()
        self.assertEqual(numbered(clean, "line"), list(range(n)))
        self.assertIn(msg["X-Mugai-Quarantine-Id"], clean)

    def test_html_attachment(self):
        """A 360 KB message whose HTML attachment comes back as a text file over 200 KB."""
        n = 3000
        html = "<html><body>\n" + "".join(
            "<p>段落 %05d: 本日は晴天なり。<a href=\"https://example.com/%d\">link</a></p>\n"
            % (i, i) for i in range(n)) + "</body></html>\n"
        att = base64.encodebytes(html.encode("utf-8")).replace(b"\n", b"\r\n")
        body = (b"--XX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the page.\r\n"
                b"--XX\r\nContent-Type: text/html; charset=UTF-8\r\n"
                b"Content-Disposition: attachment; filename=\"page.html\"\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + att + b"--XX--\r\n")
        headers = [(b"From", b" Alice <alice@example.com>"), (b"To", b" bob@example.lg.jp"),
                   (b"Subject", b" page"), (b"MIME-Version", b" 1.0"),
                   (b"Content-Type", b" multipart/mixed; boundary=\"XX\"")]
        replies = self.run_message(headers, body)
        self.check_packets(replies)
        msg = email.message_from_bytes(rebuild(headers, replies), policy=email.policy.default)
        self.check_mugai_headers(msg)
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        self.assertNotEqual(msg.get_param("boundary"), "XX")
        parts = list(msg.iter_parts())
        self.assertEqual([p.get_content_type() for p in parts], ["text/plain", "text/plain"])
        self.assertIn("See the page.", parts[0].get_content())
        self.assertIn(msg["X-Mugai-Quarantine-Id"], parts[0].get_content())
        self.assertEqual(parts[1].get_filename(), "page.txt")
        page = parts[1].get_content()
        self.assertGreater(len(page.encode("utf-8")), 3 * MILTER_CHUNK_SIZE)
        self.assertEqual(numbered(page, "段落"), list(range(n)))
        self.assertIn("https://example.com/%d" % (n - 1), page)


if __name__ == "__main__":
    BUILD, CLAMDB = os.path.abspath(sys.argv[1]), sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
