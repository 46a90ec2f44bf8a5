#!/usr/bin/python3
"""sanitize-file as a script or an operator sees it: the audit log, the JSON
report, directory walking (symbolic links, an output folder inside the input),
output name collisions, and help.

Usage: test_cli.py BUILD_DIR CLAMDB_GENERATOR
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

BUILD = None
CLAMDB = None

JA_PLAIN = "住民票の写しを添付します。"
JA = JA_PLAIN + "①㈱Ⅲ"


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-cli-")
        self.dir = self.tmp.name
        db = os.path.join(self.dir, "db")
        subprocess.run([sys.executable, CLAMDB, db], check=True)
        self.audit = os.path.join(self.dir, "audit.jsonl")
        self.conf = os.path.join(self.dir, "mugai.conf")
        with open(self.conf, "w") as f:
            f.write("[general]\naudit_log = %s\n[scan]\nclamav_db_dir = %s\n" % (self.audit, db))

    def tearDown(self):
        self.tmp.cleanup()

    def run_sf(self, *args):
        cmd = [os.path.join(BUILD, "tools", "sanitize-file"), "-c", self.conf] + list(args)
        return subprocess.run(cmd, capture_output=True, timeout=300)

    def write(self, rel, data):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_audit_log_has_one_line_per_input_and_no_content(self):
        memo = self.write("in/memo.txt", JA.encode("cp932"))
        script = self.write("in/run.sh", b"#!/bin/sh\nrm -rf /\n")
        out = os.path.join(self.dir, "out")
        p = self.run_sf("--json", "-o", out, memo, script)
        self.assertEqual(p.returncode, 1, p.stderr)
        with open(self.audit, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual([r["input"] for r in lines], [memo, script])
        self.assertEqual([r["verdict"] for r in lines], ["sanitized", "blocked"])
        with open(memo, "rb") as f:
            self.assertEqual(lines[0]["sha256"], hashlib.sha256(f.read()).hexdigest())
        for r in lines:
            self.assertEqual(r["program"], "sanitize-file")
            self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        with open(self.audit, encoding="utf-8") as f:
            log = f.read()
        self.assertNotIn("住民票", log)
        self.assertNotIn("rm -rf", log)

    def test_directory_walk_keeps_layout_skips_links_and_own_output(self):
        self.write("tree/a/memo.txt", JA.encode("utf-8"))
        self.write("tree/b/c/list.csv", "名前,金額\n山田,=1+2\n".encode("utf-8"))
        os.symlink("/etc/passwd", os.path.join(self.dir, "tree", "passwd-link"))
        tree = os.path.join(self.dir, "tree")
        out = os.path.join(tree, "out")  # output inside the input folder
        p = self.run_sf("--json", "-o", out, tree)
        report = json.loads(p.stdout)
        by_input = {os.path.relpath(r["input"], tree): r for r in report["inputs"]}
        self.assertEqual(sorted(by_input), ["a/memo.txt", "b/c/list.csv", "passwd-link"])
        self.assertEqual(by_input["passwd-link"]["verdict"], "failed")
        self.assertIn("symbolic link", by_input["passwd-link"]["reason"])
        self.assertTrue(os.path.isfile(os.path.join(out, "tree", "a", "memo.txt")))
        self.assertTrue(os.path.isfile(os.path.join(out, "tree", "b", "c", "list.csv")))
        self.assertEqual(report["summary"], {"sanitized": 2, "blocked": 0, "held": 0, "failed": 1})
        self.assertEqual(p.returncode, 1)
        # A second run does not pick up the outputs of the first.
        p2 = self.run_sf("--json", "--force", "-o", out, tree)
        self.assertEqual(len(json.loads(p2.stdout)["inputs"]), 3)

    def test_same_stem_keeps_both_outputs(self):
        a = self.write("in/報告.txt", JA.encode("utf-8"))
        b = self.write("in/報告.csv", "a,b\n".encode("utf-8"))
        out = os.path.join(self.dir, "out")
        p = self.run_sf("--json", "-o", out, a, b)
        self.assertEqual(p.returncode, 0, p.stdout)
        outputs = sorted(os.path.basename(r["output"]) for r in json.loads(p.stdout)["inputs"])
        self.assertEqual(len(set(outputs)), 2)
        self.assertEqual(sorted(os.listdir(out)), outputs)

    def test_text_report_names_input_output_and_reason(self):
        memo = self.write("in/memo.txt", JA_PLAIN.encode("euc-jp"))
        script = self.write("in/run.sh", b"#!/bin/sh\necho hi\n")
        out = os.path.join(self.dir, "out")
        p = self.run_sf("-o", out, memo, script)
        text = p.stdout.decode("utf-8")
        self.assertIn("sanitized  " + memo, text)
        self.assertIn("-> " + os.path.join(out, "memo.txt"), text)
        self.assertIn("blocked    " + script, text)
        self.assertIn("reason: ", text)
        self.assertIn("1 sanitized, 1 blocked, 0 held, 0 failed", text)
        with open(os.path.join(out, "memo.txt"), encoding="utf-8") as f:
            self.assertIn(JA_PLAIN, f.read())

    def test_missing_input_is_a_usage_error(self):
        p = self.run_sf("-o", os.path.join(self.dir, "out"), os.path.join(self.dir, "nope.pdf"))
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"nope.pdf: No such file or directory", p.stderr)

    def test_help_and_version(self):
        p = self.run_sf("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"Usage: sanitize-file", p.stdout)
        self.assertIn(b"Exit status:", p.stdout)
        # The table says what happens: archives are repacked and mail is sanitized, not
        # blocked (the archive and mail tests check that this is so).
        text = p.stdout.decode()
        self.assertRegex(text, r"archives \(zip, 7z[^\n]*-> NAME\.zip")
        self.assertRegex(text, r"mail messages \(\.eml\)[^\n]*-> NAME\.eml")
        blocked = text[text.index("programs, scripts"):text.index("-> blocked")]
        self.assertNotIn("archives", blocked)
        p = self.run_sf("--version")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"mugai", p.stdout)


if __name__ == "__main__":
    BUILD, CLAMDB = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
