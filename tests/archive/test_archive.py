#!/usr/bin/python3
"""End-to-end test of archives through sanitize-file.

Usage: test_archive.py --build BUILD_DIR [--inputs DIR]

The inputs come from tests/gen/make_archives.py (made here when DIR has none).
sanitize-file runs once over all of them with --json; the tests then check
what a user would: which inputs give NAME.zip, that Python's zipfile opens it,
that it holds exactly the sanitized members under their new names, that each
member is of its sanitized type (image-only PDF without JavaScript or fonts other
than its text layer's, a PNG, UTF-8 text), and that the report lists every member
and its fate.
"""

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(os.path.dirname(HERE), "gen")
BUILD = None
INPUTS = None
S = {}

ARCHIVES = ["mixed.zip", "traversal.zip", "cp932names.zip", "utf8names.zip", "dup.zip",
            "encrypted.zip", "nested.zip", "eicar.zip", "docs.tar.gz", "memo.txt.gz",
            "data.txt.xz", "bundle.tar.bz2", "truncated.zip", "empty.zip", "bomb.zip", "badmethod.zip"]


def setUpModule():
    """Make the inputs if needed and run sanitize-file over all of them once."""
    if not BUILD:
        raise unittest.SkipTest("pass --build")
    S["bin"] = os.path.join(BUILD, "tools", "sanitize-file")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-archive-")
    inputs = INPUTS or os.path.join(S["tmp"], "inputs")
    if not os.path.exists(os.path.join(inputs, "bomb.zip")):
        subprocess.run([sys.executable, os.path.join(GEN, "make_archives.py"), inputs],
                       check=True)
    S["conf"] = os.path.join(S["tmp"], "mugai.conf")
    with open(S["conf"], "w", encoding="utf-8") as f:
        f.write("[scan]\nclamav_db_dir = %s\n" % os.path.join(inputs, "clamdb"))
    S["out"] = os.path.join(S["tmp"], "out")
    args = [S["bin"], "-c", S["conf"], "--json", "-o", S["out"]]
    p = subprocess.run(args + [os.path.join(inputs, n) for n in ARCHIVES],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    S["rc"], S["stderr"] = p.returncode, p.stderr.decode("utf-8", "replace")
    S["report"] = json.loads(p.stdout.decode("utf-8"))
    S["by"] = {os.path.basename(r["input"]): r for r in S["report"]["inputs"]}


def tearDownModule():
    """Remove the temporary directory unless MUGAI_KEEP is set."""
    if S.get("tmp") and not os.environ.get("MUGAI_KEEP"):
        shutil.rmtree(S["tmp"], ignore_errors=True)


def tool(*args, data=None):
    """Run a checking tool on stdin data or arguments; return (exit code, stdout text)."""
    p = subprocess.run(list(args), input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace")


class Archives(unittest.TestCase):
    def result(self, name):
        self.assertIn(name, S["by"], "no report for %s: %s" % (name, S["stderr"]))
        return S["by"][name]

    def sanitized_zip(self, name, stem):
        """The report entry and the opened output zip of a sanitized archive."""
        r = self.result(name)
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        self.assertEqual(r["kind"], "archive")
        self.assertEqual(r["output"], os.path.join(S["out"], stem + ".zip"))
        z = zipfile.ZipFile(r["output"])
        self.assertIsNone(z.testzip())
        self.assertIn("members", r, "the JSON report must list the members")
        kept = [m["output_name"] for m in r["members"] if m["verdict"] == "sanitized"]
        self.assertEqual(z.namelist(), kept)
        for m in r["members"]:
            if m["verdict"] != "sanitized":
                self.assertIsNone(m["output_name"])
        return r, z

    def members(self, r):
        return {m["input"]: m for m in r["members"]}

    def check_pdf(self, data):
        """An image-only PDF: qpdf accepts it, no font but the text layer's, no JavaScript or
        actions."""
        self.assertTrue(data.startswith(b"%PDF-"))
        path = os.path.join(S["tmp"], "member.pdf")
        with open(path, "wb") as f:
            f.write(data)
        rc, _ = tool("qpdf", "--check", path)
        self.assertEqual(rc, 0)
        rc, fonts = tool("pdffonts", path)
        self.assertEqual(rc, 0)
        rows = fonts.strip().splitlines()[2:]  # after the header: the text layer's font only
        self.assertEqual([r for r in rows if r.split()[0] != "MugaiGlyphless"], [], fonts)
        self.assertLessEqual(len(rows), 1, fonts)
        rc, flat = tool("qpdf", "--qdf", "--object-streams=disable", path, "-")
        for word in ("/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile"):
            self.assertNotIn(word, flat)

    def test_exit_code_and_summary(self):
        self.assertEqual(S["rc"], 1, S["stderr"])  # some inputs are blocked, held or failed
        self.assertEqual(sum(S["report"]["summary"].values()), len(ARCHIVES))

    def test_mixed(self):
        r, z = self.sanitized_zip("mixed.zip", "mixed")
        self.assertEqual(z.namelist(), ["report.pdf", "pictures/photo.png", "note.txt"])
        m = self.members(r)
        self.assertEqual(m["setup.exe"]["verdict"], "blocked")
        self.assertEqual(m["setup.exe"]["kind"], "executable")
        self.check_pdf(z.read("report.pdf"))
        from PIL import Image
        img = Image.open(io.BytesIO(z.read("pictures/photo.png")))
        self.assertEqual(img.format, "PNG")
        self.assertEqual(img.size, (160, 100))
        self.assertIn("本日は晴天なり", z.read("note.txt").decode("utf-8"))
        self.assertIn("①㈱", z.read("note.txt").decode("utf-8"))

    def test_unsafe_names_normalized(self):
        r, z = self.sanitized_zip("traversal.zip", "traversal")
        self.assertEqual(z.namelist(), ["etc/passwd.txt", "abs/path.txt", "Windows/evil.txt",
                                        "a/b/c.txt", "badname.txt", "member-6.txt"])
        for m in r["members"]:
            self.assertIn("name normalized from", m["reason"])
        for n in z.namelist():
            self.assertFalse(n.startswith("/") or ".." in n.split("/"))

    def test_cp932_names(self):
        r, z = self.sanitized_zip("cp932names.zip", "cp932names")
        self.assertEqual(z.namelist(), ["請求書.txt", "請求書/明細.csv"])
        for info in z.infolist():
            self.assertTrue(info.flag_bits & 0x800, "UTF-8 flag missing on " + info.filename)
        self.assertTrue(z.read("請求書/明細.csv").startswith(b"\xef\xbb\xbf"))

    def test_utf8_names_and_collisions(self):
        _, z = self.sanitized_zip("utf8names.zip", "utf8names")
        self.assertEqual(z.namelist(), ["請求書/明細.txt", "請求書/明細 (2).txt"])
        _, z = self.sanitized_zip("dup.zip", "dup")
        self.assertEqual(z.namelist(), ["a.txt", "A (2).txt", "a (3).txt"])

    def test_encrypted_held(self):
        r = self.result("encrypted.zip")
        self.assertEqual(r["verdict"], "held")
        self.assertIn("encrypted", r["reason"])
        self.assertIsNone(r["output"])
        self.assertFalse(os.path.exists(os.path.join(S["out"], "encrypted.zip")))

    def test_nested_too_deep(self):
        r, z = self.sanitized_zip("nested.zip", "nested")
        self.assertEqual(z.namelist(), ["level1.zip", "level1.txt"])
        z1 = zipfile.ZipFile(io.BytesIO(z.read("level1.zip")))
        self.assertEqual(z1.namelist(), ["level2.zip", "level2.txt"])
        z2 = zipfile.ZipFile(io.BytesIO(z1.read("level2.zip")))
        self.assertEqual(z2.namelist(), ["level3.txt"])  # level3.zip is too deep
        lv2 = self.members(self.members(r)["level1.zip"])["level2.zip"]
        lv3 = self.members(lv2)["level3.zip"]
        self.assertEqual(lv3["verdict"], "blocked")
        self.assertIn("nested too deep", lv3["reason"])

    def test_eicar(self):
        # The member is found either by the scan of the archive (the whole archive is blocked
        # with the signature) or by the scan of the member (the member is removed).
        r = self.result("eicar.zip")
        if r["verdict"] == "blocked":
            self.assertIn("Mugai.Test.EICAR", r["signature"] or "")
            self.assertIsNone(r["output"])
            return
        r, z = self.sanitized_zip("eicar.zip", "eicar")
        m = self.members(r)["eicar.com.txt"]
        self.assertEqual(m["verdict"], "blocked")
        self.assertIn("Mugai.Test.EICAR", m["signature"])
        self.assertEqual(z.namelist(), ["ok.txt"])

    def test_tar_gz_and_link(self):
        for name, stem in (("docs.tar.gz", "docs.tar"), ("bundle.tar.bz2", "bundle.tar")):
            r, z = self.sanitized_zip(name, stem)
            self.assertEqual(z.namelist(), ["docs/readme.txt", "docs/table.csv"])
            link = self.members(r)["docs/link"]
            self.assertEqual(link["verdict"], "blocked")
            self.assertIn("link", link["reason"])
            self.assertIn("'=1+1", z.read("docs/table.csv").decode("utf-8-sig"))

    def test_lone_compressed_files(self):
        _, z = self.sanitized_zip("memo.txt.gz", "memo.txt")
        self.assertEqual(z.namelist(), ["memo.txt"])
        self.assertIn("本日は晴天なり", z.read("memo.txt").decode("utf-8"))
        _, z = self.sanitized_zip("data.txt.xz", "data.txt")
        self.assertEqual(z.read("data.txt"), b"xz text\n")

    def test_truncated_failed(self):
        r = self.result("truncated.zip")
        self.assertEqual(r["verdict"], "failed")
        self.assertIsNone(r["output"])

    def test_unreadable_member_failed(self):
        r, z = self.sanitized_zip("badmethod.zip", "badmethod")
        self.assertEqual(z.namelist(), ["ok.txt"])
        self.assertEqual(self.members(r)["odd.txt"]["verdict"], "failed")

    def test_empty_blocked(self):
        r = self.result("empty.zip")
        self.assertEqual(r["verdict"], "blocked")
        self.assertIn("no member", r["reason"])

    def test_bomb_blocked(self):
        r = self.result("bomb.zip")
        self.assertEqual(r["verdict"], "blocked")
        self.assertIn("compression ratio over 100: archive bomb", r["reason"])
        self.assertIsNone(r["output"])

    def test_no_output_for_removed_inputs(self):
        written = sorted(os.listdir(S["out"]))
        want = sorted(os.path.basename(r["output"]) for r in S["report"]["inputs"]
                      if r["verdict"] == "sanitized")
        self.assertEqual(written, want)


def main():
    global BUILD, INPUTS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--inputs")
    args, rest = ap.parse_known_args()
    BUILD = args.build and os.path.abspath(args.build)
    INPUTS = args.inputs and os.path.abspath(args.inputs)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
