#!/usr/bin/env python3
"""The render jail fails closed, as an operator would see it through sanitize-file: when
its network namespace cannot be made (forced with MUGAI_JAIL_TEST_FAIL=netns), nothing is
converted outside it. A document is held (exit status 1, no output); a message still gets
its clean copy, whose notice says each attachment is held, and its original is in the
quarantine. Usage: test_failclosed.py BUILD_DIR MAKE_CLAMDB MAKE_CORPUS"""
import email
import email.policy
import json
import os
import subprocess
import sys
import tempfile
import unittest

BUILD = CLAMDB = CORPUS = None


class FailsClosed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mugai-failclosed-")
        d = cls.tmp.name
        subprocess.run([sys.executable, CLAMDB, os.path.join(d, "db")], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, CORPUS, os.path.join(d, "mail")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.conf = os.path.join(d, "mugai.conf")
        with open(cls.conf, "w") as f:
            f.write("[general]\nrender_path = %s/render/mugai-render\n[scan]\n"
                    "clamav_db_dir = %s/db\n[quarantine]\ndir = %s/q\n" % (BUILD, d, d))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def sanitize(self, *inputs):
        out = tempfile.mkdtemp(dir=self.tmp.name)
        p = subprocess.run([os.path.join(BUILD, "tools", "sanitize-file"), "-c", self.conf,
                            "--json", "-o", out] + list(inputs), capture_output=True,
                           env=dict(os.environ, MUGAI_JAIL_TEST_FAIL="netns"), timeout=300)
        return p.returncode, json.loads(p.stdout), out

    def test_document_is_held(self):
        pdf = os.path.join(self.tmp.name, "見積書.pdf")
        with open(pdf, "wb") as f:
            f.write(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/"
                    b"Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
        rc, rep, out = self.sanitize(pdf)
        self.assertEqual(rc, 1)
        r = rep["inputs"][0]
        self.assertEqual(r["verdict"], "held", r)
        self.assertIn("render jail is unavailable", r["reason"])
        self.assertEqual(os.listdir(out), [])

    def test_message_gets_a_notice_and_keeps_its_original(self):
        eml = os.path.join(self.tmp.name, "mail", "mail", "attach_all.eml")
        rc, rep, out = self.sanitize(eml)
        r = rep["inputs"][0]
        self.assertEqual(r["verdict"], "sanitized", r)
        converted = [p for p in r["parts"] if p["action"] not in ("body", "blocked", "removed")]
        self.assertTrue(converted)
        for p in converted:
            self.assertEqual(p["action"], "held", p)
            self.assertIn("render jail is unavailable", p["reason"])
        with open(r["output"], "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        self.assertEqual([p.get_content_type() for p in msg.walk()], ["text/plain"])
        body = msg.get_content()
        self.assertIn("見積書.pdf", body)
        self.assertIn("render jail is unavailable", body)
        self.assertIn(r["quarantine_id"], body)
        q = subprocess.run([os.path.join(BUILD, "tools", "mugai-quarantine"), "-c", self.conf,
                            "--json", "show", r["quarantine_id"]], capture_output=True)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertIn(r["sha256"], q.stdout.decode())


if __name__ == "__main__":
    BUILD, CLAMDB, CORPUS = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1], verbosity=2)
