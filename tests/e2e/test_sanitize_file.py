#!/usr/bin/python3
"""End-to-end tests of sanitize-file against the generated corpus.

Runs the real binary over every input of tests/gen/make_corpus.py and checks,
with independent tools (qpdf, poppler-utils, PIL), what a user would check:
outputs exist and are flat, blocked inputs leave nothing behind, the report
is right, the inputs are untouched, and usage errors exit with 2.

Usage: test_sanitize_file.py [--build DIR] [--corpus DIR] [unittest args]
   or: MUGAI_BUILD=DIR [MUGAI_CORPUS=DIR] test_sanitize_file.py
Without a corpus directory the corpus is generated into a temporary one.
"""

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(os.path.dirname(HERE), "gen")

BUILD = os.environ.get("MUGAI_BUILD", "")
CORPUS = os.environ.get("MUGAI_CORPUS", "")
RUN_TIMEOUT = 600  # seconds for one sanitize-file run over the whole corpus
INPUT_SECONDS = 120.0  # bound on the report's per-input time

FORBIDDEN_PDF_NAMES = ["/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/URI",
                       "/EmbeddedFiles", "/AcroForm", "/Annots"]
TEXT_LAYER_FONT = "MugaiGlyphless"  # the writer's own font of the invisible text layer
ALLOWED_IMAGE_INFO = {"dpi", "gamma", "srgb", "chromaticity", "aspect", "jfif", "jfif_version",
                      "jfif_unit", "jfif_density", "progressive", "progression", "compression",
                      "transparency", "icc_profile", "interlace"}

S = {}  # shared state built once by setUpModule


def sha256(path):
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def run(args, timeout=RUN_TIMEOUT):
    """Run a command; return (exit code, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


def tool(*args):
    """Run a checking tool; return its stdout as text (raises on failure)."""
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), p.returncode,
                                                      p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode("utf-8", "replace")


def sanitize(*args, timeout=RUN_TIMEOUT):
    """Run sanitize-file with the test configuration plus args."""
    return run([S["bin"], "-c", S["conf"]] + list(args), timeout=timeout)


def write_conf(path, body):
    """Write a configuration file."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)
    return path


def setUpModule():
    """Find the binary, make the corpus and run sanitize-file over all of it."""
    if not BUILD:
        raise unittest.SkipTest("set MUGAI_BUILD or pass --build")
    S["bin"] = os.path.join(BUILD, "tools", "sanitize-file")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-e2e-")
    corpus = CORPUS or os.path.join(S["tmp"], "corpus")
    if not os.path.exists(os.path.join(corpus, "manifest.json")):
        subprocess.run([sys.executable, os.path.join(GEN, "make_corpus.py"), corpus], check=True)
    with open(os.path.join(corpus, "manifest.json"), encoding="utf-8") as f:
        S["manifest"] = {e["name"]: e for e in json.load(f)["files"]}
    S["files"] = os.path.join(corpus, "files")
    S["conf"] = write_conf(os.path.join(S["tmp"], "mugai.conf"),
                           "[scan]\nclamav_db_dir = %s\n" % os.path.join(corpus, "clamdb"))
    S["out"] = os.path.join(S["tmp"], "out-all")
    inputs = [os.path.join(S["files"], n) for n in sorted(S["manifest"])]
    S["main"] = sanitize("--json", "-o", S["out"], *inputs)
    S["report"] = None
    try:
        S["report"] = json.loads(S["main"][1])
    except ValueError:
        pass
    S["by_name"] = {}
    if S["report"]:
        for r in S["report"].get("inputs", []):
            S["by_name"][os.path.basename(r.get("input", ""))] = r


def tearDownModule():
    """Remove the temporary directory unless asked to keep it."""
    if "tmp" in S and os.environ.get("MUGAI_KEEP") != "1":
        shutil.rmtree(S["tmp"], ignore_errors=True)


def entries(pred=lambda e: True):
    """Manifest entries matching pred, in name order."""
    return [S["manifest"][n] for n in sorted(S["manifest"]) if pred(S["manifest"][n])]


def result(tc, name):
    """The report record of one input (fails the test if missing)."""
    r = S["by_name"].get(name)
    tc.assertIsNotNone(r, "%s: no record in the JSON report" % name)
    return r


def sanitized_output(tc, e):
    """The output path of an input that was sanitized, or None if it was not."""
    r = result(tc, e["name"])
    if r.get("verdict") != "sanitized":
        return None
    out = r.get("output")
    tc.assertTrue(out and os.path.isfile(out), "%s: output %r missing" % (e["name"], out))
    return out


class Report(unittest.TestCase):
    """The whole-corpus run: exit code, JSON report, verdicts, untouched inputs."""

    def test_exit_code_and_json(self):
        rc, out, err, secs = S["main"]
        self.assertEqual(rc, 1, "some inputs are blocked, so exit 1; stderr: " + err[-2000:])
        self.assertIsNotNone(S["report"], "stdout is not JSON: " + out[:500])
        self.assertEqual(S["report"].get("version"), 1)
        self.assertEqual(sorted(S["by_name"]), sorted(S["manifest"]))

    def test_summary_counts(self):
        rep = S["report"]
        self.assertIsNotNone(rep)
        counts = {"sanitized": 0, "blocked": 0, "held": 0, "failed": 0}
        for r in rep["inputs"]:
            self.assertIn(r.get("verdict"), counts, r)
            counts[r["verdict"]] += 1
        self.assertEqual(rep.get("summary"), counts)

    def test_verdicts(self):
        for e in entries():
            with self.subTest(input=e["name"]):
                r = result(self, e["name"])
                self.assertIn(r.get("verdict"), e["expect"], r)
                if e["kinds"]:
                    self.assertIn(r.get("kind"), e["kinds"], r)
                if r.get("verdict") != "sanitized":
                    self.assertTrue(r.get("reason"), "%s: empty reason" % e["name"])
                if e["reason_any"] and r.get("verdict") != "sanitized":
                    reason = (r.get("reason") or "").lower()
                    self.assertTrue(any(w.lower() in reason for w in e["reason_any"]),
                                    "%s: reason %r names none of %s" % (e["name"], reason,
                                                                        e["reason_any"]))
                self.assertLess(float(r.get("seconds", 0)), e.get("max_seconds", INPUT_SECONDS), r)

    def test_record_fields(self):
        for e in entries():
            with self.subTest(input=e["name"]):
                r = result(self, e["name"])
                self.assertEqual(r.get("sha256"), e["sha256"])
                self.assertEqual(r.get("size"), os.path.getsize(os.path.join(S["files"],
                                                                             e["name"])))
                for key in ("reason", "kind", "detected_type", "signature", "output",
                            "output_size", "pages", "seconds"):
                    self.assertIn(key, r)

    def test_outputs_named_and_placed(self):
        for e in entries(lambda e: e["ext"]):
            with self.subTest(input=e["name"]):
                out = sanitized_output(self, e)
                if out is None:
                    continue
                stem, ext = os.path.splitext(os.path.basename(out))
                self.assertEqual(stem, os.path.splitext(e["name"])[0])
                self.assertIn(ext, e["ext"])
                self.assertEqual(os.path.realpath(os.path.dirname(out)),
                                 os.path.realpath(S["out"]))
                self.assertEqual(result(self, e["name"]).get("output_size"),
                                 os.path.getsize(out))

    def test_nothing_else_written(self):
        reported = {os.path.realpath(r["output"]) for r in S["report"]["inputs"]
                    if r.get("output")}
        reported |= {os.path.realpath(s["output"]) for r in S["report"]["inputs"]
                     for s in r.get("sheets", [])}
        found = set()
        for root, _, names in os.walk(S["out"]):
            found |= {os.path.realpath(os.path.join(root, n)) for n in names}
        self.assertEqual(found, reported)

    def test_not_sanitized_has_no_output(self):
        for r in S["report"]["inputs"]:
            if r.get("verdict") != "sanitized":
                with self.subTest(input=r.get("input")):
                    self.assertIsNone(r.get("output"))

    def test_mismatch_names_detected_type(self):
        r = result(self, "invoice.pdf")
        self.assertTrue(r.get("detected_type"), r)
        reason = r.get("reason", "").lower()
        self.assertTrue(r["detected_type"].lower() in reason or "elf" in reason
                        or "executable" in reason, r)

    def test_eicar_signature(self):
        r = result(self, "eicar.txt")
        self.assertTrue((r.get("signature") or "").startswith("Mugai.Test.EICAR"), r)
        self.assertIn("Mugai.Test.EICAR", r.get("reason", ""))

    def test_inputs_unchanged(self):
        for e in entries():
            with self.subTest(input=e["name"]):
                self.assertEqual(sha256(os.path.join(S["files"], e["name"])), e["sha256"])


class PdfOutputs(unittest.TestCase):
    """Image-only PDFs: valid, no active content, no font but the text layer's, one image per
    page."""

    def each_pdf(self):
        for e in entries(lambda e: e["pdf_checks"]):
            out = sanitized_output(self, e)
            if out is not None:
                yield e, out

    def test_qpdf_check(self):
        for e, out in self.each_pdf():
            with self.subTest(input=e["name"]):
                tool("qpdf", "--check", out)

    def test_no_active_names(self):
        for e, out in self.each_pdf():
            with self.subTest(input=e["name"]):
                found = set()
                walk_names(json.loads(tool("qpdf", "--json=2", "--json-key=qpdf", out)), found)
                self.assertEqual(sorted(found & set(FORBIDDEN_PDF_NAMES)), [])

    def test_only_text_layer_font(self):
        for e, out in self.each_pdf():
            with self.subTest(input=e["name"]):
                fonts = tool("pdffonts", out).splitlines()[2:]
                self.assertLessEqual(len(fonts), 1, fonts)
                self.assertEqual([f for f in fonts if f.split()[0] != TEXT_LAYER_FONT], [])

    def test_one_image_per_page(self):
        for e, out in self.each_pdf():
            with self.subTest(input=e["name"]):
                pages = pdf_pages(out)
                per_page = {}
                for line in tool("pdfimages", "-list", out).splitlines()[2:]:
                    cols = line.split()
                    if len(cols) > 2 and cols[2] == "image":
                        per_page[int(cols[0])] = per_page.get(int(cols[0]), 0) + 1
                self.assertEqual(per_page, {p: 1 for p in range(1, pages + 1)})

    def test_page_count(self):
        for e, out in self.each_pdf():
            with self.subTest(input=e["name"]):
                pages = pdf_pages(out)
                self.assertGreaterEqual(pages, 1)
                self.assertEqual(result(self, e["name"]).get("pages"), pages)
                if e["name"].endswith(".pdf"):
                    self.assertEqual(pages, pdf_pages(os.path.join(S["files"], e["name"])))
                if e["pages"] is not None:
                    self.assertEqual(pages, e["pages"])

    def test_not_blank(self):
        for e, out in self.each_pdf():
            if e["ink"]:
                with self.subTest(input=e["name"]):
                    self.assertGreater(dark_pixels(out), 50, "page 1 looks blank")

    def test_looks_like_input(self):
        for e, out in self.each_pdf():
            if e["name"].endswith(".pdf"):
                with self.subTest(input=e["name"]):
                    match = page_match(os.path.join(S["files"], e["name"]), out)
                    self.assertGreater(match, 0.9, "page 1 differs from the input's rendering")

    def test_no_trace_of_active_content(self):
        for e, out in self.each_pdf():
            if e["absent"]:
                with self.subTest(input=e["name"]):
                    flat = subprocess.run(["qpdf", "--qdf", "--object-streams=disable", out, "-"],
                                          stdout=subprocess.PIPE, timeout=120).stdout
                    for word in e["absent"]:
                        self.assertNotIn(word.encode(), flat)


class ImageOutputs(unittest.TestCase):
    """Re-encoded images: same size, one frame, no metadata."""

    def test_images(self):
        from PIL import Image
        for e in entries(lambda e: e["dims"]):
            out = sanitized_output(self, e)
            if out is None:
                continue
            with self.subTest(input=e["name"]):
                with Image.open(out) as img:
                    self.assertEqual(list(img.size), e["dims"])
                    self.assertEqual(getattr(img, "n_frames", 1), 1)
                    self.assertEqual(dict(img.getexif()), {})
                    self.assertEqual(set(img.info) - ALLOWED_IMAGE_INFO, set(), img.info)
                    self.assertEqual(getattr(img, "text", {}), {})
                    img.load()
                with open(out, "rb") as f:
                    raw = f.read()
                for word in e["absent"]:
                    self.assertNotIn(word.encode(), raw)

    def test_animation_flattened_to_png(self):
        out = sanitized_output(self, S["manifest"]["img_anim.gif"])
        self.assertIsNotNone(out, "img_anim.gif was not sanitized")
        self.assertTrue(out.endswith(".png"))


class TextOutputs(unittest.TestCase):
    """Text, HTML and CSV outputs: UTF-8, readable Japanese, nothing active."""

    def read_text(self, e):
        out = sanitized_output(self, e)
        self.assertIsNotNone(out, "%s was not sanitized" % e["name"])
        with open(out, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")  # raises on invalid UTF-8
        return raw, text.lstrip("\ufeff")

    def test_text_snippets(self):
        for e in entries(lambda e: e["text"]):
            with self.subTest(input=e["name"]):
                raw, text = self.read_text(e)
                for s in e["text"]:
                    self.assertIn(s, text)
                for s in e["absent"]:
                    self.assertNotIn(s.lower(), text.lower())

    def test_csv_formulas_neutralized(self):
        for e in entries(lambda e: e["csv_formulas"]):
            with self.subTest(input=e["name"]):
                raw, text = self.read_text(e)
                self.assertTrue(raw.startswith(b"\xef\xbb\xbf"), "CSV output lacks a BOM")
                cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
                for formula in e["csv_formulas"]:
                    self.assertIn("'" + formula, cells)
                for c in cells:
                    self.assertFalse(c[:1] in ("=", "+", "-", "@"), "live cell %r" % c)


class Runs(unittest.TestCase):
    """Exit codes, --force, directories and configuration errors."""

    def good_inputs(self):
        return [os.path.join(S["files"], e["name"])
                for e in entries(lambda e: e["fast"] and e["expect"] == ["sanitized"])]

    def test_good_set_force_and_exists(self):
        out = os.path.join(S["tmp"], "out-good")
        inputs = self.good_inputs()
        rc, stdout, err, _ = sanitize("--json", "-o", out, *inputs)
        self.assertEqual(rc, 0, stdout[-2000:] + err[-2000:])
        rc, stdout, err, _ = sanitize("--json", "-o", out, *inputs)
        self.assertEqual(rc, 1, "a second run must not overwrite without --force")
        rep = json.loads(stdout)
        for r in rep["inputs"]:
            with self.subTest(input=r.get("input")):
                self.assertEqual(r.get("verdict"), "failed")
                self.assertIn("exist", r.get("reason", "").lower())
        rc, stdout, err, _ = sanitize("--json", "--force", "-o", out, *inputs)
        self.assertEqual(rc, 0, stdout[-2000:] + err[-2000:])
        self.assertEqual(json.loads(stdout)["summary"]["sanitized"], len(inputs))

    def test_directory_keeps_relative_paths(self):
        tree = os.path.join(S["tmp"], "tree")
        os.makedirs(os.path.join(tree, "sub", "deeper"), exist_ok=True)
        shutil.copy(os.path.join(S["files"], "text_utf8.txt"), os.path.join(tree, "top.txt"))
        shutil.copy(os.path.join(S["files"], "data.csv"), os.path.join(tree, "sub", "data.csv"))
        shutil.copy(os.path.join(S["files"], "img_meta.png"),
                    os.path.join(tree, "sub", "deeper", "pic.png"))
        out = os.path.join(S["tmp"], "out-tree")
        rc, stdout, err, _ = sanitize("--json", "-o", out, tree)
        self.assertEqual(rc, 0, stdout[-2000:] + err[-2000:])
        for rel in ("top.txt", "sub/data.csv", "sub/deeper/pic.png"):
            self.assertTrue(os.path.isfile(os.path.join(out, "tree", rel)), rel)

    def test_single_blocked_exits_1(self):
        out = os.path.join(S["tmp"], "out-eicar")
        rc, stdout, err, _ = sanitize("-o", out, os.path.join(S["files"], "eicar.txt"))
        self.assertEqual(rc, 1)
        self.assertIn("eicar.txt", stdout)
        self.assertFalse(os.path.exists(out) and os.listdir(out))

    def test_text_report(self):
        out = os.path.join(S["tmp"], "out-text")
        rc, stdout, err, _ = sanitize("-o", out, os.path.join(S["files"], "text_sjis.txt"))
        self.assertEqual(rc, 0, stdout + err)
        self.assertIn("text_sjis.txt", stdout)
        self.assertIn("sanitized", stdout.lower())

    def test_missing_config_file(self):
        missing = os.path.join(S["tmp"], "no-such.conf")
        rc, _, err, _ = run([S["bin"], "-c", missing, "-o", S["tmp"] + "/x",
                             os.path.join(S["files"], "text_utf8.txt")], timeout=60)
        self.assertEqual(rc, 2)
        self.assertIn("no-such.conf", err)

    def test_unknown_config_key(self):
        with open(S["conf"], encoding="utf-8") as f:
            body = f.read()
        conf = write_conf(os.path.join(S["tmp"], "badkey.conf"), body + "no_such_key = 1\n")
        rc, _, err, _ = run([S["bin"], "-c", conf, "-o", S["tmp"] + "/x",
                             os.path.join(S["files"], "text_utf8.txt")], timeout=60)
        self.assertEqual(rc, 2)
        self.assertIn("badkey.conf", err)
        self.assertIn("no_such_key", err)

    def test_missing_database_dir(self):
        conf = write_conf(os.path.join(S["tmp"], "nodb.conf"),
                          "[scan]\nclamav_db_dir = %s\n" % os.path.join(S["tmp"], "no-db"))
        rc, _, err, _ = run([S["bin"], "-c", conf, "-o", S["tmp"] + "/x",
                             os.path.join(S["files"], "text_utf8.txt")], timeout=60)
        self.assertEqual(rc, 2, err)

    def test_unknown_option(self):
        rc, _, err, _ = sanitize("--no-such-option", "-o", S["tmp"] + "/x",
                                 os.path.join(S["files"], "text_utf8.txt"), timeout=60)
        self.assertEqual(rc, 2)

    def test_help(self):
        rc, out, err, _ = run([S["bin"], "--help"], timeout=60)
        self.assertEqual(rc, 0)
        self.assertIn("usage", (out + err).lower())


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


def pdf_pages(path):
    """Page count according to pdfinfo."""
    for line in tool("pdfinfo", path).splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise AssertionError("pdfinfo gave no page count for " + path)


def dark_pixels(pdf):
    """Number of dark pixels on page 1 rendered in grey at 50 dpi."""
    from PIL import Image
    data = subprocess.run(["pdftoppm", "-r", "50", "-gray", "-f", "1", "-l", "1", pdf],
                          stdout=subprocess.PIPE, timeout=120, check=True).stdout
    with Image.open(io.BytesIO(data)) as img:
        hist = img.convert("L").histogram()
    return sum(hist[:128])


def dark_mask(pdf):
    """Page 1 of a PDF rendered at 50 dpi: 255 where dark, 0 elsewhere."""
    from PIL import Image
    data = subprocess.run(["pdftoppm", "-r", "50", "-gray", "-f", "1", "-l", "1", pdf],
                          stdout=subprocess.PIPE, timeout=120, check=True).stdout
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("L").point(lambda v: 255 if v < 128 else 0)


def covered(a, b):
    """Fraction of a's dark pixels that are dark in b, give or take one pixel."""
    from PIL import ImageChops, ImageFilter
    both = ImageChops.multiply(a, b.filter(ImageFilter.MaxFilter(3))).histogram()[255]
    return both / max(1, a.histogram()[255])


def page_match(src, out):
    """How well page 1 of out matches src: min of the two coverages (1.0 = same)."""
    a = dark_mask(src)
    b = dark_mask(out).resize(a.size)
    return min(covered(a, b), covered(b, a))


def parse_args(argv):
    """Take --build/--corpus off argv; return the rest for unittest."""
    global BUILD, CORPUS
    rest = [argv[0]]
    i = 1
    while i < len(argv):
        if argv[i] in ("--build", "--corpus") and i + 1 < len(argv):
            if argv[i] == "--build":
                BUILD = argv[i + 1]
            else:
                CORPUS = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return rest


if __name__ == "__main__":
    unittest.main(argv=parse_args(sys.argv), verbosity=2)
