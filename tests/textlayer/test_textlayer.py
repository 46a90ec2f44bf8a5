#!/usr/bin/python3
"""End-to-end tests of the invisible text layer of flattened documents.

Runs the real sanitize-file (real jail, real poppler, real LibreOffice) over
the inputs of tests/gen/make_textlayer.py and checks with poppler-utils and
qpdf what a reader would: the text of the original can be found and copied
from the flat PDF (pdftotext recovers at least 95% of the characters it
recovers from the original, NFKC, whitespace removed, compared as multisets),
words sit where they are drawn (pdftotext -bbox boxes overlap the original's,
in the same direction), text the page does not show (render mode 3, white on
white, covered, or on a page all of grey in greys its grey levels make one),
even glued to text it shows, is left out while light grey text and thin marks
are kept, the only font is the writer's own, nothing active is added, hostile text comes out
clean and bounded, and [render] text_layer = false turns the layer off.

Usage: test_textlayer.py --build DIR [--inputs DIR] [unittest args]
Without an inputs directory they are generated into a temporary one.
"""

import collections
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(os.path.dirname(HERE), "gen")

BUILD = os.environ.get("MUGAI_BUILD", "")
INPUTS = os.environ.get("MUGAI_TEXTLAYER_INPUTS", "")
PAGE_MAX = 50000  # SAN_TEXT_PAGE_MAX: characters of one page's layer
FONT = "MugaiGlyphless"
FORBIDDEN = {"/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/URI", "/SubmitForm",
             "/EmbeddedFiles", "/EmbeddedFile", "/AcroForm", "/Annots", "/Metadata", "/XFA"}
# Inputs compared with the original, and the PDF that stands for the original.
JAPANESE = ["ja_horizontal.pdf", "ja_vertical.pdf", "ja_rotated.pdf", "ja_kangxi.pdf",
            "ja_nonbmp.pdf", "ja_hidden.pdf"]
# Text an input carries but does not draw, or draws in greys its page's grey levels make one
# (make_textlayer.py HIDDEN, GLUED and FAINT): the original gives it back, the output must not,
# and the comparisons leave it out.
GLUED = ["https://glued.example/x", "https://glued.example/white"]
FAINT = ["https://faint.example/lightgrey", "https://faint.example/onband"]
HIDDEN = {"ja_hidden.pdf": ["https://evil.example/hidden", "WHITEHIDDEN", "BLUEHIDDEN",
                            "COVEREDHIDDEN"] + GLUED + FAINT}
OFFICE = ["office.docx", "office.xlsx"]

S = {}


def tool(*args):
    """Run a tool that must succeed; return its stdout as text."""
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if p.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout.decode("utf-8")


def sanitize(conf, outdir, *inputs):
    """Run sanitize-file with conf over inputs into outdir; return {input name: output}."""
    p = subprocess.run([S["bin"], "-c", conf, "--json", "-o", outdir] + list(inputs),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
    if p.returncode != 0:
        raise AssertionError("sanitize-file failed: %s" % p.stderr.decode())
    report = json.loads(p.stdout.decode())
    return {os.path.basename(r["input"]): r["output"] for r in report["inputs"]
            if r["verdict"] == "sanitized"}


def setUpModule():
    """Make the inputs, then sanitize them with the layer on, and some with it off."""
    if not BUILD:
        raise unittest.SkipTest("pass --build")
    S["bin"] = os.path.join(BUILD, "tools", "sanitize-file")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-textlayer-")
    inputs = INPUTS or os.path.join(S["tmp"], "inputs")
    if not os.path.isdir(os.path.join(inputs, "ref")):
        subprocess.run([sys.executable, os.path.join(GEN, "make_textlayer.py"), inputs],
                       check=True)
    S["files"] = os.path.join(inputs, "files")
    S["ref"] = os.path.join(inputs, "ref")
    base = "[scan]\nrequired = false\n"
    for name, body in (("on", base), ("off", base + "[render]\ntext_layer = false\n")):
        with open(os.path.join(S["tmp"], name + ".conf"), "w", encoding="utf-8") as f:
            f.write(body)
    names = sorted(os.listdir(S["files"]))
    S["out"] = sanitize(os.path.join(S["tmp"], "on.conf"), os.path.join(S["tmp"], "out"),
                        *[os.path.join(S["files"], n) for n in names])
    S["off"] = sanitize(os.path.join(S["tmp"], "off.conf"), os.path.join(S["tmp"], "off"),
                        *[os.path.join(S["files"], n) for n in ("ja_horizontal.pdf", "office.docx")])


def tearDownModule():
    """Remove the temporary directory unless asked to keep it."""
    if S.get("tmp") and not os.environ.get("MUGAI_KEEP"):
        shutil.rmtree(S["tmp"], ignore_errors=True)


def original(name):
    """The PDF that stands for input name: itself, or LibreOffice's PDF of it."""
    if name in OFFICE:
        return os.path.join(S["ref"], name + ".pdf")
    return os.path.join(S["files"], name)


def output(name, where="out"):
    """The sanitized PDF of input name (in the run with the layer off when where is "off")."""
    if name not in S[where]:
        raise AssertionError("%s was not sanitized" % name)
    return S[where][name]


def text(path, page=None):
    """pdftotext of path (one page when given), NFKC-normalized."""
    args = ["pdftotext", "-enc", "UTF-8"]
    if page:
        args += ["-f", str(page), "-l", str(page)]
    return unicodedata.normalize("NFKC", tool(*(args + [path, "-"])))


def bare(s):
    """s without whitespace."""
    return "".join(c for c in s if not c.isspace())


def shown(name, s):
    """s, text of input name without whitespace, less the text name does not draw."""
    for h in HIDDEN.get(name, []):
        s = s.replace(bare(h), "")
    return s


def recovery(name):
    """Share of the original's characters that the output gives back, as multisets (those
    it shows)."""
    want = collections.Counter(shown(name, bare(text(original(name)))))
    got = collections.Counter(bare(text(output(name))))
    total = sum(want.values())
    return sum(min(n, got[c]) for c, n in want.items()) / total if total else 1.0


def words(path):
    """Per page, the words of pdftotext -bbox as (xmin, ymin, xmax, ymax, text)."""
    import xml.etree.ElementTree as ET
    raw = tool("pdftotext", "-bbox", path, "-")
    root = ET.fromstring(raw[raw.index("<html"):])
    pages = []
    for page in root.iter("{http://www.w3.org/1999/xhtml}page"):
        ws = []
        for w in page.iter("{http://www.w3.org/1999/xhtml}word"):
            ws.append(tuple(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")) +
                      (w.text or "",))
        pages.append(ws)
    return pages


def overlap(a, b):
    """Area shared by two boxes."""
    return (max(0.0, min(a[2], b[2]) - max(a[0], b[0])) *
            max(0.0, min(a[3], b[3]) - max(a[1], b[1])))


def best_match(w, candidates):
    """The candidate box that shares most area with w, and that area."""
    best, area = None, 0.0
    for c in candidates:
        a = overlap(w, c)
        if a > area:
            best, area = c, a
    return best, area


class Recovery(unittest.TestCase):
    """The original's text comes back from the flat PDF."""

    def test_characters_recovered(self):
        for name in JAPANESE + OFFICE:
            with self.subTest(input=name):
                rate = recovery(name)
                print("text recovery %s: %.1f%%" % (name, 100 * rate), file=sys.stderr)
                self.assertGreaterEqual(rate, 0.95)

    def test_words_where_drawn(self):
        """At least 95% of the original's words have an output word over half their box."""
        for name in JAPANESE + OFFICE:
            with self.subTest(input=name):
                src, out = words(original(name)), words(output(name))
                self.assertEqual(len(src), len(out))
                total = hit = 0
                hidden = HIDDEN.get(name, [])
                for ws, os_ in zip(src, out):
                    for w in [w for w in ws if not any(h in w[4] for h in hidden)]:
                        total += 1
                        area = (w[2] - w[0]) * (w[3] - w[1])
                        hit += best_match(w, os_)[1] >= 0.5 * area
                self.assertGreater(total, 0)
                self.assertGreaterEqual(hit / total, 0.95, "%d of %d words" % (hit, total))

    def test_direction_and_order_kept(self):
        """Vertical and rotated text: words run the way the original's do (a column stays a
        column) and read in the same order, so that a selection follows the image."""
        for name in ("ja_vertical.pdf", "ja_rotated.pdf"):
            with self.subTest(input=name):
                src, out = words(original(name)), words(output(name))
                tall = 0
                for ws, os_ in zip(src, out):
                    for w in ws:
                        if len(w[4]) < 2:
                            continue
                        m, _ = best_match(w, os_)
                        self.assertIsNotNone(m, w)
                        src_tall = w[3] - w[1] > w[2] - w[0]
                        self.assertEqual(m[3] - m[1] > m[2] - m[0], src_tall, (w, m))
                        tall += src_tall
                self.assertGreater(tall, 0)
                for page in range(1, len(src) + 1):
                    a, b = bare(text(original(name), page)), bare(text(output(name), page))
                    ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
                    self.assertGreaterEqual(ratio, 0.95, (page, a, b))

    def test_kangxi_radicals_normalized(self):
        src = tool("pdftotext", "-enc", "UTF-8", original("ja_kangxi.pdf"), "-")
        out = tool("pdftotext", "-enc", "UTF-8", output("ja_kangxi.pdf"), "-")
        self.assertIn("\u2F92", src)  # the original extracts as radicals
        self.assertIn("見積書の金額は一人で入力", out)
        self.assertEqual([c for c in out if 0x2E80 <= ord(c) <= 0x2FDF], [])

    def test_beyond_bmp(self):
        src = tool("pdftotext", "-enc", "UTF-8", original("ja_nonbmp.pdf"), "-")
        out = tool("pdftotext", "-enc", "UTF-8", output("ja_nonbmp.pdf"), "-")
        for c in ("\U00020BB7", "\U00029E3D"):
            self.assertGreater(src.count(c), 0)
            self.assertEqual(out.count(c), src.count(c), c)
        self.assertIn("\U00020BB7野家で\U00029E3Dの定食", out)
        self.assertEqual([c for c in out if 0xD800 <= ord(c) <= 0xDFFF], [])


class Undrawn(unittest.TestCase):
    """Text the original carries but does not draw stays out of the layer, so that a reader
    neither finds, copies nor follows (as a link) what the page does not show."""

    def test_hidden_left_out(self):
        src, out = text(original("ja_hidden.pdf")), text(output("ja_hidden.pdf"))
        for h in HIDDEN["ja_hidden.pdf"]:
            with self.subTest(hidden=h):
                self.assertIn(h, src)  # poppler reads it from the original
                self.assertNotIn(h, out)
        self.assertNotIn("evil", out)
        self.assertNotIn("HIDDEN", out)
        self.assertNotIn("faint", out)

    def test_glued_left_out(self):
        """A URL glued to 見積書 (one word to poppler) but not drawn, in render mode 3 or white
        on white: 見積書 is kept, and nothing of the URL."""
        src, out = text(original("ja_hidden.pdf")), text(output("ja_hidden.pdf"))
        for url in GLUED:
            self.assertIn("見積書" + url, src.split())  # one word in the original
        self.assertEqual([w for w in out.split() if w.startswith("見積")], ["見積書"] * 2)
        self.assertNotIn("glued", out)
        self.assertNotIn("https", out)

    def test_faint_and_thin_kept(self):
        """Light grey text, every 、 and 。 and a lone ー (a thin line in its box) are kept."""
        src, out = text(original("ja_hidden.pdf")), text(output("ja_hidden.pdf"))
        self.assertIn("薄い灰色の注記、読めます。", bare(out))
        self.assertIn("ー", out.split())
        for mark in "、。":
            self.assertEqual(out.count(mark), src.count(mark), mark)


class Safety(unittest.TestCase):
    """The layer adds one font of the writer's own and nothing else."""

    def each_output(self):
        for name in sorted(os.listdir(S["files"])):
            yield name, output(name)

    def test_only_own_font(self):
        for name, out in self.each_output():
            with self.subTest(input=name):
                rows = tool("pdffonts", out).splitlines()[2:]
                self.assertEqual(len(rows), 1, rows)
                cols = rows[0].split()
                self.assertEqual(cols[0], FONT)
                self.assertEqual(cols[1:4], ["CID", "TrueType", "Identity-H"])
                self.assertEqual(cols[4:7], ["yes", "no", "yes"])  # embedded, whole, ToUnicode

    def test_nothing_active(self):
        for name, out in self.each_output():
            with self.subTest(input=name):
                tool("qpdf", "--check", out)
                found = set()
                walk_names(json.loads(tool("qpdf", "--json=2", "--json-key=qpdf", out)), found)
                self.assertEqual(sorted(found & FORBIDDEN), [])

    def test_invisible(self):
        """The page looks exactly as it does without the layer."""
        for name in ("ja_horizontal.pdf", "office.docx"):
            with self.subTest(input=name):
                a, b = os.path.join(S["tmp"], "a"), os.path.join(S["tmp"], "b")
                tool("pdftoppm", "-r", "40", "-f", "1", "-l", "1", output(name), a)
                tool("pdftoppm", "-r", "40", "-f", "1", "-l", "1", output(name, "off"), b)
                with open(a + "-1.ppm", "rb") as fa, open(b + "-1.ppm", "rb") as fb:
                    self.assertTrue(fa.read() == fb.read())

    def test_hostile_text_clean_and_bounded(self):
        out = output("hostile.pdf")
        first = tool("pdftotext", "-enc", "UTF-8", "-f", "1", "-l", "1", out, "-")
        bad = [c for c in first if c not in "\n\f " and (
            unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") or c == "\uFFFD" or
            0xFDD0 <= ord(c) <= 0xFDEF or (ord(c) & 0xFFFE) == 0xFFFE)]
        self.assertEqual(bad, [])
        for w in ("安全", "確認", "文書", "本文", "試験", "終了", "表示", "改行", "区切", "印。"):
            self.assertIn(w, first)
        tiny = bare(tool("pdftotext", "-enc", "UTF-8", "-f", "2", "-l", "2", out, "-"))
        src = bare(tool("pdftotext", "-enc", "UTF-8", "-f", "2", "-l", "2",
                        original("hostile.pdf"), "-"))
        self.assertGreater(len(src), PAGE_MAX)  # more than one page's layer may hold
        self.assertLessEqual(len(tiny), PAGE_MAX)
        self.assertGreater(len(tiny), PAGE_MAX * 9 // 10)
        self.assertTrue(src.startswith(tiny[:1000]))

    def test_layer_off(self):
        for name in ("ja_horizontal.pdf", "office.docx"):
            with self.subTest(input=name):
                off = output(name, "off")
                self.assertEqual(tool("pdffonts", off).splitlines()[2:], [])
                self.assertEqual(tool("pdftotext", off, "-").strip(), "")


def walk_names(node, found):
    """Collect every dictionary key and name value of a qpdf JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            found.add(k)
            walk_names(v, found)
    elif isinstance(node, list):
        for v in node:
            walk_names(v, found)
    elif isinstance(node, str) and node.startswith("/"):
        found.add(node)


def parse_args(argv):
    """Take --build/--inputs off argv; return the rest for unittest."""
    global BUILD, INPUTS
    rest = [argv[0]]
    i = 1
    while i < len(argv):
        if argv[i] in ("--build", "--inputs") and i + 1 < len(argv):
            if argv[i] == "--build":
                BUILD = argv[i + 1]
            else:
                INPUTS = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return rest


if __name__ == "__main__":
    unittest.main(argv=parse_args(sys.argv), verbosity=2)
