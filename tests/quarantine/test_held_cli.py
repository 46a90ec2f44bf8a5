#!/usr/bin/python3
"""End-to-end tests of `mugai-quarantine held` and of the held parts in `show`:
a store built with quar_fixture (messages whose encrypted attachments the engine
held), the states a password mail, a recipient or IT would leave (written with
Python's sqlite3, as the flows do through the store), then the command run as IT
staff run it, in text and JSON.

usage: test_held_cli.py BUILD_DIR
"""
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = None
DAY = 86400

EML = (b"From: taro@example.jp\r\nTo: somu@city.example.lg.jp\r\nSubject: mitsumori\r\n"
       b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
       b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
       b"--b\r\nContent-Type: application/zip; name=a.zip\r\n\r\nPK\r\n--b--\r\n")

HELD = "encrypted: cannot inspect"


def iso(t):
    """Local ISO 8601 with offset, as the tool prints times in JSON."""
    return datetime.datetime.fromtimestamp(t).astimezone().isoformat()


class HeldTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tool = os.path.join(BUILD, "tools", "mugai-quarantine")
        cls.fixture = os.path.join(BUILD, "tests", "quar_fixture")

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="e2e_held-")
        self.dir = self.tmp.name
        self.store = os.path.join(self.dir, "store")
        self.conf = os.path.join(self.dir, "mugai.conf")
        with open(self.conf, "w") as f:
            f.write("[quarantine]\ndir = %s\nretention_days = 30\n\n[ppap]\nhold_days = 7\n"
                    % self.store)
        self.eml = os.path.join(self.dir, "m.eml")
        with open(self.eml, "wb") as f:
            f.write(EML)
        self.now = int(time.time())
        # oldest first: a (two held parts, one sanitized between), b (one held), c (none)
        self.a = self.put(self.now - 7200, "taro@example.jp", [
            "1||text/plain|text/plain|12||body||",
            "2|見積書.zip|application/zip|application/zip|100||held|%s|" % HELD,
            "3|b.pdf|application/pdf|application/pdf|100||sanitized|flattened|",
            "4|資料.7z|application/x-7z-compressed|application/x-7z-compressed|100||held|%s|"
            % HELD], hold_days=7)
        self.b = self.put(self.now - 3600, "hanako@example.co.jp", [
            "1||text/plain|text/plain|12||body||",
            "2|order.pdf|application/pdf|application/pdf|100||held|%s|" % HELD], hold_days=3)
        self.c = self.put(self.now - 60, "plain@example.jp", [
            "1||text/plain|text/plain|12||body||"], hold_days=7)

    def tearDown(self):
        self.tmp.cleanup()

    def put(self, t, sender, parts, hold_days):
        args = [self.fixture, self.store, self.eml, "--time", str(t), "--sender", sender,
                "--rcpt", "somu@city.example.lg.jp", "--subject", "mitsumori",
                "--verdict", "sanitized", "--hold-days", str(hold_days),
                "--actor", "mugai-milter"]
        for p in parts:
            args += ["--part", p]
        out = subprocess.run(args, capture_output=True, check=True, text=True)
        return out.stdout.strip()

    def run_tool(self, *args):
        return subprocess.run([self.tool, "-c", self.conf, "--actor", "tanaka"] + list(args),
                              capture_output=True, text=True)

    def held_json(self, *args):
        r = self.run_tool("--json", "held", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["held"]

    def db(self, sql, params=()):
        con = sqlite3.connect(os.path.join(self.store, "index.sqlite"))
        try:
            with con:
                return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def open_part(self, mid, part, how, when):
        """Leave a part as an opener would: status opened, how, when."""
        self.db("UPDATE held SET status = 'opened', opened_by = ?, opened = ?"
                " WHERE msg_id = ? AND part = ?", (how, when, mid, part))

    def lock_part(self, mid, part, attempts):
        self.db("UPDATE held SET status = 'locked', attempts = ? WHERE msg_id = ? AND part = ?",
                (attempts, mid, part))

    def test_held_lists_each_held_part(self):
        rows = self.held_json()
        self.assertEqual([(h["id"], h["part"]) for h in rows],
                         [(self.a, "2"), (self.a, "4"), (self.b, "2")])
        first = rows[0]
        self.assertEqual(first["filename"], "見積書.zip")
        self.assertEqual(first["status"], "pending")
        self.assertEqual(first["attempts"], 0)
        self.assertEqual(first["expires"], iso(self.now - 7200 + 7 * DAY))
        self.assertIsNone(first["opened_by"])
        self.assertIsNone(first["opened"])
        self.assertEqual(first["time"], iso(self.now - 7200))
        self.assertEqual(first["sender"], "taro@example.jp")
        self.assertEqual(rows[2]["expires"], iso(self.now - 3600 + 3 * DAY))
        self.assertEqual(rows[2]["filename"], "order.pdf")
        # the store's rows: the held parts only, no password anywhere
        self.assertEqual(self.db("SELECT msg_id, part, status FROM held ORDER BY msg_id, part"),
                         sorted([(self.a, "2", "pending"), (self.a, "4", "pending"),
                                 (self.b, "2", "pending")]))
        cols = [r[1] for r in self.db("PRAGMA table_info(held)")]
        self.assertFalse([c for c in cols if "pass" in c.lower()], cols)

    def test_held_human_table(self):
        self.open_part(self.a, "4", "password mail Q-20261125-ZZZZZZ from taro@example.jp",
                       self.now - 60)
        r = self.run_tool("held")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        for col in ("ID", "RECEIVED", "SENDER", "PART", "FILE NAME", "STATUS", "WRONG",
                    "EXPIRES", "OPENED BY"):
            self.assertIn(col, lines[0])
        self.assertEqual(len(lines), 4, r.stdout)
        self.assertTrue(lines[1].startswith(self.a), lines[1])
        self.assertIn("見積書.zip", lines[1])
        self.assertIn("pending", lines[1])
        exp = datetime.datetime.fromtimestamp(self.now - 7200 + 7 * DAY).strftime("%Y-%m-%d %H:%M")
        self.assertIn(exp, lines[1])
        self.assertIn("opened", lines[2])
        self.assertIn("password mail Q-20261125-ZZZZZZ from taro@example.jp", lines[2])
        self.assertTrue(lines[3].startswith(self.b), lines[3])

    def test_status_and_item_filter(self):
        self.open_part(self.a, "2", "IT user sato", self.now - 30)
        self.lock_part(self.b, "2", 50)
        self.assertEqual([(h["id"], h["part"]) for h in self.held_json("--status", "pending")],
                         [(self.a, "4")])
        opened = self.held_json("--status", "opened")
        self.assertEqual([(h["id"], h["part"]) for h in opened], [(self.a, "2")])
        self.assertEqual(opened[0]["opened_by"], "IT user sato")
        self.assertEqual(opened[0]["opened"], iso(self.now - 30))
        locked = self.held_json("--status", "locked")
        self.assertEqual([(h["id"], h["attempts"]) for h in locked], [(self.b, 50)])
        self.assertEqual(self.held_json("--status", "expired"), [])
        self.assertEqual([h["part"] for h in self.held_json("--item", self.a.lower())],
                         ["2", "4"])
        self.assertEqual(self.held_json("--item", self.c), [])
        r = self.run_tool("held", "--status", "open")
        self.assertEqual(r.returncode, 2)
        self.assertIn("pending, opened, locked or expired", r.stderr)
        self.assertEqual(self.run_tool("held", "extra").returncode, 2)
        self.assertEqual(self.run_tool("held", "--bogus").returncode, 2)

    def test_show_includes_held_state(self):
        self.lock_part(self.a, "4", 50)
        r = self.run_tool("show", self.a)
        self.assertEqual(r.returncode, 0, r.stderr)
        section = r.stdout.split("Held encrypted parts", 1)
        self.assertEqual(len(section), 2, r.stdout)
        held = section[1].split("\n\n", 1)[0]
        rows = [l for l in held.splitlines() if l.startswith("  ") and "PART" not in l]
        self.assertEqual(len(rows), 2, held)
        self.assertIn("見積書.zip", rows[0])
        self.assertIn("pending", rows[0])
        self.assertIn("locked", rows[1])
        self.assertIn("   50 ", rows[1])
        r = self.run_tool("--json", "show", self.a)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual([(h["part"], h["status"], h["attempts"]) for h in doc["held"]],
                         [("2", "pending", 0), ("4", "locked", 50)])
        self.assertEqual(doc["held"][1]["expires"], iso(self.now - 7200 + 7 * DAY))
        r = self.run_tool("show", self.c)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("Held encrypted parts", r.stdout)
        self.assertEqual(json.loads(self.run_tool("--json", "show", self.c).stdout)["held"], [])

    def test_help(self):
        r = self.run_tool("held", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: mugai-quarantine [--json] held [--status S] [--item ID]", r.stdout)
        r = subprocess.run([self.tool, "--help"], capture_output=True, text=True)
        self.assertIn("    held [--status S] [--item ID]", r.stdout)


if __name__ == "__main__":
    BUILD = sys.argv.pop(1)
    unittest.main(verbosity=2)
