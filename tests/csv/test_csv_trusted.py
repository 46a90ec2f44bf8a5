#!/usr/bin/python3
"""The trusted side neutralizes CSV formulas whatever the renderer sends.

sanitize-file runs with [general] render_path set to csv_probe, a renderer
that answers with the input as it is, formula cells and all (as a compromised
mugai-render could). Every output cell that a spreadsheet would evaluate must
carry the single-quote prefix, and the output must still parse, with Python's
csv module, into the same rows and cells as the input did (comma-separated,
also for a .tsv input, since the output is named .csv).

Usage: test_csv_trusted.py --build BUILD_DIR --probe CSV_PROBE [unittest args]
"""

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import unittest

BUILD = None
PROBE = None

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")

COMMA = (
    "名前,式,備考\r\n"
    "山田,=cmd|' /C calc'!A0,通常\r\n"
    "b,+1,-2+3\r\n"
    'c,@SUM(A1),"=HYPERLINK(""http://x"")"\r\n'
    '"改行\nと,カンマ",=1+1,"\t=タブ"\r\n'
    '"",""=2+2,"\r=cr"\r\n'
    "\t-5,'=already,\"'+1\"\r\n"
    "-,=,@\r\n"
)

TABS = (
    "名前\t式\t備考\n"
    "山田\t=cmd|' /C calc'!A0\t通常\n"
    "a,=b\t+1\t-2+3\n"
    'c\t@SUM(A1)\t"=HYPERLINK(""http://x"")"\n'
    '"multi\nline\tcell"\t=1+1\tx, y\n'
    "x,=1\t\t-\n"
)


def rows(text, delimiter, strict=False):
    """The rows of text as Python's csv module reads them (strict: well-formed only)."""
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict))


class TrustedCsvTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-csv-")
        self.dir = self.tmp.name
        self.conf = os.path.join(self.dir, "mugai.conf")
        with open(self.conf, "w") as f:
            f.write("[general]\nrender_path = %s\n[scan]\nrequired = false\n"
                    "clamav_db_dir = %s\n" % (PROBE, os.path.join(self.dir, "no-db")))

    def tearDown(self):
        self.tmp.cleanup()

    def sanitize(self, name, text):
        """Run sanitize-file on text saved as name; return the output file's bytes."""
        src = os.path.join(self.dir, "in", name)
        os.makedirs(os.path.dirname(src), exist_ok=True)
        with open(src, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        out = os.path.join(self.dir, "out")
        cmd = [os.path.join(BUILD, "tools", "sanitize-file"), "-c", self.conf, "-o", out, src]
        p = subprocess.run(cmd, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace"))
        stem = os.path.splitext(name)[0]
        with open(os.path.join(out, stem + ".csv"), "rb") as f:
            return f.read()

    def check(self, name, text, delimiter):
        raw = self.sanitize(name, text)
        self.assertTrue(raw.startswith(b"\xef\xbb\xbf"), "CSV output lacks a BOM")
        got = rows(raw.decode("utf-8-sig"), ",", strict=True)
        want = rows(text, delimiter)
        self.assertEqual([len(r) for r in got], [len(r) for r in want])
        for got_row, want_row in zip(got, want):
            for g, w in zip(got_row, want_row):
                expected = "'" + w if w.startswith(DANGEROUS) else w
                self.assertEqual(g, expected, "cell %r" % w)
                self.assertFalse(g.startswith(DANGEROUS), "cell %r is live" % g)
        return raw

    def test_comma_separated_formulas_neutralized(self):
        raw = self.check("formulas.csv", COMMA, ",")
        self.assertIn("'=cmd|' /C calc'!A0".encode(), raw)
        self.assertIn(b'"\'=HYPERLINK(""http://x"")"', raw)

    def test_tab_separated_formulas_neutralized(self):
        raw = self.check("formulas.tsv", TABS, "\t")
        # A cell holding a comma is quoted: a reader splitting at commas sees it whole.
        self.assertIn(b'"a,=b"', raw)

    def test_neutralized_output_is_left_alone(self):
        first = self.sanitize("once.csv", COMMA)
        second = self.sanitize("twice.csv", first.decode("utf-8-sig"))
        self.assertEqual(second, first)


def main():
    global BUILD, PROBE
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--probe", required=True)
    args, rest = ap.parse_known_args()
    BUILD, PROBE = os.path.abspath(args.build), os.path.abspath(args.probe)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
