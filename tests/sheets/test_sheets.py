#!/usr/bin/python3
"""End-to-end test of spreadsheets' sheets as CSV, through sanitize-file.

Usage: test_sheets.py --build BUILD_DIR [--inputs DIR]

The inputs come from tests/gen/make_sheets.py (made here when DIR has none): a workbook with
a visible and a hidden sheet, Japanese text, a date, an amount in yen, a rate, a formula,
cells that start with = + - @, and sheets with hostile names; the same as ods; a message
carrying it; a zip holding it. sanitize-file runs once over all of them with --json, with
the real jail and LibreOffice. The tests check what a user would: the CSV files beside the
PDF and what they hold as a spreadsheet program reads them, the hidden sheet's file marked,
names made safe, the report, the mail's attachments and notice, the rebuilt zip. Further runs
check the limits: a zip of many sheets under a low open-file limit, sheets counted against a
low parts budget, and an output of the run never replaced by a later one of the same name.
"""

import argparse
import csv
import email
import email.policy
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

# The ods gives the same output names as the xlsx: it goes to a directory of its own.
RUNS = {"out": ["sheets.xlsx", "sheets.eml", "sheets.zip", "pair.xlsx"],
        "out-ods": ["sheets.ods"]}
BOM = b"\xef\xbb\xbf"


def setUpModule():
    """Make the inputs if needed and run sanitize-file over all of them once."""
    if not BUILD:
        raise unittest.SkipTest("pass --build")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-sheets-")
    inputs = S["inputs"] = INPUTS or os.path.join(S["tmp"], "inputs")
    if not os.path.exists(os.path.join(inputs, "sheets.ods")):
        subprocess.run([sys.executable, os.path.join(GEN, "make_sheets.py"), inputs], check=True)
    with open(os.path.join(inputs, "expect.json"), encoding="utf-8") as f:
        S["names"] = json.load(f)
    S["conf"] = os.path.join(S["tmp"], "mugai.conf")
    with open(S["conf"], "w", encoding="utf-8") as f:
        f.write("[scan]\nrequired = false\n[quarantine]\ndir = %s\n"
                % os.path.join(S["tmp"], "quarantine"))
    S["by"], S["stderr"], S["rc"] = {}, "", []
    for out, names in RUNS.items():
        S[out] = os.path.join(S["tmp"], out)
        args = [os.path.join(BUILD, "tools", "sanitize-file"), "-c", S["conf"], "--json", "-o",
                S[out]]
        p = subprocess.run(args + [os.path.join(inputs, n) for n in names],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=800)
        S["rc"].append(p.returncode)
        S["stderr"] += p.stderr.decode("utf-8", "replace")
        report = json.loads(p.stdout.decode("utf-8"))
        S["by"].update({os.path.basename(r["input"]): r for r in report["inputs"]})


def tearDownModule():
    """Remove the temporary directory unless MUGAI_KEEP is set."""
    if S.get("tmp") and not os.environ.get("MUGAI_KEEP"):
        shutil.rmtree(S["tmp"], ignore_errors=True)


def rows(data):
    """The cells of a CSV file's bytes, read as a spreadsheet program reads them."""
    return list(csv.reader(io.StringIO(data[len(BOM):].decode("utf-8"), newline="")))


class Sheets(unittest.TestCase):
    def result(self, name):
        self.assertIn(name, S["by"], "no report for %s: %s" % (name, S["stderr"]))
        r = S["by"][name]
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        return r

    def check_sheet_set(self, sheets, read):
        """The sheets of the workbook, in its order, and what their CSVs hold. read(sheet)
        returns the bytes of a sheet's CSV."""
        names = [s["name"] for s in sheets]
        self.assertEqual(names[:2], ["売上", "内訳"])
        self.assertEqual([s["hidden"] for s in sheets[:2]], [False, True])
        self.assertFalse(any(s["hidden"] for s in sheets[2:]))
        for s in sheets:
            data = read(s)
            self.assertTrue(data.startswith(BOM), s["name"])
            self.assertEqual(len(data), s["output_size"])
        sales = rows(read(sheets[0]))
        self.assertEqual(sales[0], ["品名", "日付", "金額", "率"])
        # Values as the sheet shows them: the date, the yen amount, the rate.
        self.assertEqual(sales[1], ["りんご（青森県産）", "2024/04/01", "¥1,234", "12.5%"])
        # The formula cell gives its value, never its formula.
        self.assertEqual(sales[2][:3], ["合計", "", "¥2,468"])
        # Cells a spreadsheet would evaluate are neutralized, text or formula result.
        self.assertEqual(sales[3], ["'=1+2", "'+81-3-1234-5678", "'-payload", "'@SUM(A1)"])
        self.assertEqual(sales[4][:2], ["'=HYPERLINK(1)", "普通の文字"])
        hidden = rows(read(sheets[1]))
        self.assertEqual(hidden, [["秘密の内訳", "1,000,000"]])
        return names

    def check_hostile_names(self, names):
        """Names without separators, bidi controls or leading dots, bounded in length."""
        bidi = S["names"]["bidi"]
        self.assertIn(bidi.replace("\u202e", ""), names)
        longs = [n for n in names if n.startswith("長")]
        self.assertEqual(len(longs), 1)
        self.assertLessEqual(len(longs[0].encode("utf-8")), 64)
        self.assertTrue(S["names"]["long"].startswith(longs[0]))
        for n in names:
            self.assertNotIn("/", n)
            self.assertNotIn("\\", n)
            self.assertNotIn("\u202e", n)
            self.assertFalse(n.startswith("."), n)
        self.assertEqual(len(set(names)), len(names))

    def check_files(self, outdir, stem, r):
        """sanitize-file: NAME.pdf and NAME-SHEET.csv beside it."""
        self.assertEqual(r["output"], os.path.join(outdir, stem + ".pdf"))
        self.assertIn("sheets", r, "the JSON report must list the sheets")
        for s in r["sheets"]:
            want = "%s-%s%s.csv" % (stem, s["name"], " (hidden)" if s["hidden"] else "")
            self.assertEqual(s["output"], os.path.join(outdir, want))
            self.assertEqual(os.path.dirname(os.path.realpath(s["output"])),
                             os.path.realpath(outdir))

        def read(s):
            with open(s["output"], "rb") as f:
                return f.read()
        return self.check_sheet_set(r["sheets"], read)

    def test_exit_code(self):
        self.assertEqual(S["rc"], [0, 0], S["stderr"])

    def test_hidden_beside_one_visible(self):
        """One sheet shown and one hidden: the hidden one is still marked."""
        r = self.result("pair.xlsx")
        self.assertEqual([(s["name"], s["hidden"]) for s in r["sheets"]],
                         [("表紙", False), ("非公開", True)])
        with open(os.path.join(S["out"], "pair-非公開 (hidden).csv"), "rb") as f:
            self.assertEqual(rows(f.read()), [["非公開の値", "7"]])
        with open(os.path.join(S["out"], "pair-表紙.csv"), "rb") as f:
            self.assertEqual(rows(f.read()), [["公開の値", "42"]])

    def test_cold_gives_the_same_sheets(self):
        """[office] mode = cold (LibreOffice run per export) gives the warm run's sheets, the
        hidden one beside a single visible sheet marked too."""
        tmp = tempfile.mkdtemp(prefix="mugai-sheets-cold-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out, conf = os.path.join(tmp, "out"), os.path.join(tmp, "cold.conf")
        with open(S["conf"], encoding="utf-8") as f, open(conf, "w", encoding="utf-8") as g:
            g.write(f.read() + "[office]\nmode = cold\n")
        books = ["sheets.xlsx", "pair.xlsx"]
        rc, by, err = sanitize([os.path.join(S["inputs"], n) for n in books], out, conf)
        self.assertEqual(rc, 0, err)
        for n in books:
            cold, warm = by[n]["sheets"], S["by"][n]["sheets"]
            self.assertEqual([(s["name"], s["hidden"]) for s in cold],
                             [(s["name"], s["hidden"]) for s in warm])
            for c, w in zip(cold, warm):
                with open(c["output"], "rb") as f, open(w["output"], "rb") as g:
                    self.assertEqual(f.read(), g.read(), c["name"])

    def test_xlsx(self):
        r = self.result("sheets.xlsx")
        names = self.check_files(S["out"], "sheets", r)
        self.check_hostile_names(names)
        self.assertTrue(os.path.exists(os.path.join(S["out"], "sheets-内訳 (hidden).csv")))

    def test_ods(self):
        r = self.result("sheets.ods")
        names = self.check_files(S["out-ods"], "sheets", r)
        self.check_hostile_names(names)

    def test_only_reported_outputs(self):
        """Each output directory holds exactly the files the report lists, nothing else,
        and nothing was written beside them."""
        for out, names in RUNS.items():
            want = set()
            for n in names:
                r = S["by"][n]
                want.add(os.path.basename(r["output"]))
                want.update(os.path.basename(s["output"]) for s in r.get("sheets", []))
            self.assertEqual(set(os.listdir(S[out])), want)
        self.assertLessEqual(set(os.listdir(S["tmp"])),
                             {"mugai.conf", "quarantine", "inputs"} | set(RUNS))
        self.assertFalse(os.path.exists(os.path.join(S["tmp"], "x.csv")))

    def test_mail(self):
        r = self.result("sheets.eml")
        with open(r["output"], "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        atts = [p for p in msg.iter_attachments()]
        names = [p.get_filename() for p in atts]
        self.assertEqual(names[0], "sheets.pdf")
        self.assertEqual(names[1:3], ["sheets-売上.csv", "sheets-内訳 (hidden).csv"])
        for p in atts[1:]:
            self.assertEqual(p.get_content_type(), "text/csv")
        by = {p.get_filename(): p.get_payload(decode=True) for p in atts}
        self.check_sheet_set([{"name": n[len("sheets-"):-4].replace(" (hidden)", ""),
                               "hidden": n.endswith(" (hidden).csv"),
                               "output_size": len(by[n]), "file": n} for n in names[1:]],
                             lambda s: by[s["file"]])
        body = msg.get_body(preferencelist=("plain",)).get_content()
        self.assertIn("came as CSV", body)
        self.assertIn("CSV（%d件）" % (len(names) - 1), body)
        # The attachment's line says so and names the PDF; one line per CSV follows it.
        self.assertIn("came as CSV with formulas disarmed (%d files) -> sheets.pdf"
                      % (len(names) - 1), body)
        for n in names[1:]:
            self.assertIn("- sheets.xlsx (a sheet's data as CSV) -> %s" % n, body)

    def test_zip(self):
        r = self.result("sheets.zip")
        z = zipfile.ZipFile(r["output"])
        names = z.namelist()
        self.assertEqual(names[:3], ["book/sheets.pdf", "book/sheets-売上.csv",
                                     "book/sheets-内訳 (hidden).csv"])
        m = r["members"][0]
        self.assertEqual([s["output"] for s in m["sheets"]], names[1:])
        self.check_sheet_set(m["sheets"], lambda s: z.read(s["output"]))


def make_sheets_module():
    """tests/gen/make_sheets.py as a module, to write workbooks of other sheets."""
    sys.path.insert(0, GEN)
    try:
        import make_sheets
    finally:
        sys.path.remove(GEN)
    return make_sheets


def sanitize(inputs, out, conf=None, extra=(), nofile=None):
    """Run sanitize-file --json over inputs into out (under the soft open-file limit nofile,
    if given); (exit code, report by input name, stderr)."""
    args = [os.path.join(BUILD, "tools", "sanitize-file"), "-c", conf or S["conf"], "--json",
            "-o", out] + list(extra) + inputs

    def limit():
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=800,
                       preexec_fn=limit if nofile else None)
    err = p.stderr.decode("utf-8", "replace")
    report = json.loads(p.stdout.decode("utf-8")) if p.stdout.strip() else {"inputs": []}
    return p.returncode, {os.path.basename(r["input"]): r for r in report["inputs"]}, err


class Limits(unittest.TestCase):
    """Sheets within the limits of the process and of one input."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mugai-sheets-limits-")
        self.make = make_sheets_module()

    def tearDown(self):
        if not os.environ.get("MUGAI_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def workbook(self, path, names):
        """Write an xlsx at path with one small visible sheet per name."""
        with open(path, "wb") as f:
            f.write(self.make.xlsx_bytes([(n, False, [["data of " + n]]) for n in names]))

    def test_sheet_without_a_file_is_told(self):
        """A sheet whose name is too long for a file name (270 bytes with input- and .csv)
        gets no CSV from LibreOffice: the others still come, and the report, warm and cold,
        and the mail's notice say that one sheet could not be exported."""
        book = os.path.join(self.dir, "lost.xlsx")
        self.workbook(book, ["表紙", "長" * 90, "末尾"])
        eml = os.path.join(self.dir, "lost.eml")
        with open(book, "rb") as f, open(eml, "wb") as g:
            g.write(self.make.eml_bytes(f.read()))
        cold = os.path.join(self.dir, "cold.conf")
        with open(S["conf"], encoding="utf-8") as f, open(cold, "w", encoding="utf-8") as g:
            g.write(f.read() + "[office]\nmode = cold\n")
        for mode, conf in (("warm", None), ("cold", cold)):
            with self.subTest(mode=mode):
                out = os.path.join(self.dir, "out-" + mode)
                rc, by, err = sanitize([book, eml], out, conf)
                self.assertEqual(rc, 0, err)
                r = by["lost.xlsx"]
                self.assertEqual([s["name"] for s in r["sheets"]], ["表紙", "末尾"])
                self.assertEqual(r.get("sheets_lost"), 1, r)
                self.assertIn("but for 1 sheet that could not be exported", r["reason"])
                with open(by["lost.eml"]["output"], "rb") as f:
                    msg = email.message_from_binary_file(f, policy=email.policy.default)
                names = [p.get_filename() for p in msg.iter_attachments()]
                self.assertEqual(names, ["sheets.pdf", "sheets-表紙.csv", "sheets-末尾.csv"])
                body = msg.get_body(preferencelist=("plain",)).get_content()
                self.assertIn("- sheets.xlsx: 1 of its sheets could not be exported (no CSV)",
                              body)
                self.assertIn("- sheets.xlsx のシートのうち 1 件はデータを取り出せませんでした",
                              body)

    def test_workbook_named_txt(self):
        """A workbook named .txt is converted by its content, as a workbook (LibreOffice took
        it for text and made no PDF when given the name's extension), with its sheets."""
        txt = os.path.join(self.dir, "pair.txt")
        shutil.copy(os.path.join(S["inputs"], "pair.xlsx"), txt)
        rc, by, err = sanitize([txt], os.path.join(self.dir, "out"))
        self.assertEqual(rc, 0, err)
        r = by["pair.txt"]
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        self.assertTrue(r["output"].endswith("pair.pdf"))
        self.assertEqual([(s["name"], s["hidden"]) for s in r["sheets"]],
                         [("表紙", False), ("非公開", True)])
        self.assertIn("converted by content; its sheets' data as CSV", r["reason"])

    def test_no_sheet_at_all_is_told(self):
        """A workbook over [office] max_sheets gets its PDF and no CSV, and the report says the
        sheets' data could not be exported."""
        conf = os.path.join(self.dir, "one.conf")
        with open(S["conf"], encoding="utf-8") as f, open(conf, "w", encoding="utf-8") as g:
            g.write(f.read() + "[office]\nmax_sheets = 1\n")
        rc, by, err = sanitize([os.path.join(S["inputs"], "pair.xlsx")],
                               os.path.join(self.dir, "out"), conf)
        self.assertEqual(rc, 0, err)
        r = by["pair.xlsx"]
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        self.assertTrue(r["output"].endswith("pair.pdf"))
        self.assertNotIn("sheets", r)
        self.assertIs(r.get("sheets_failed"), True, r)
        self.assertIn("its sheets' data could not be exported as CSV", r["reason"])

    def test_archive_of_many_sheets_within_open_files(self):
        """Four workbooks of twelve sheets in one zip under a soft limit of 40 open files: a
        sheet's CSV is closed once in the zip, so every member keeps all its sheets."""
        names = ["s%02d" % i for i in range(1, 13)]
        book = os.path.join(self.dir, "book.xlsx")
        self.workbook(book, names)
        zpath = os.path.join(self.dir, "books.zip")
        with zipfile.ZipFile(zpath, "w") as z:
            for i in range(4):
                z.write(book, "b%d.xlsx" % i)
        rc, by, err = sanitize([zpath], os.path.join(self.dir, "out"), nofile=40)
        self.assertEqual(rc, 0, err)
        r = by["books.zip"]
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        got = zipfile.ZipFile(r["output"]).namelist()
        for i in range(4):
            self.assertEqual(r["members"][i]["verdict"], "sanitized", r["members"][i]["reason"])
            for n in names:
                self.assertIn("b%d-%s.csv" % (i, n), got)
        self.assertEqual(len(got), 4 * 13)

    def test_sheets_count_against_the_parts_budget(self):
        """With at most 3 parts and members in all, a message (text body, workbook) gets the
        PDF and one sheet, a zip (workbook) the PDF and two; the rest are left out, saying
        why."""
        conf = os.path.join(self.dir, "low.conf")
        with open(S["conf"], encoding="utf-8") as f:
            text = f.read()
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text + "[mail]\nmax_parts = 3\n[archive]\nmax_entries = 3\n")
        inputs = [os.path.join(INPUTS or S["inputs"], n) for n in ("sheets.eml", "sheets.zip")]
        rc, by, err = sanitize(inputs, os.path.join(self.dir, "out"), conf=conf)
        self.assertIn("sheets.eml", by, err)
        with open(by["sheets.eml"]["output"], "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        names = [p.get_filename() for p in msg.iter_attachments()]
        self.assertEqual(names, ["sheets.pdf", "sheets-売上.csv"])
        body = msg.get_body(preferencelist=("plain",)).get_content()
        self.assertIn("(1 files) -> sheets.pdf", body)
        self.assertIn("- sheets.xlsx (a sheet's data as CSV) removed: sheets-内訳 (hidden).csv: "
                      "too many parts and members in all (limit 3)", body)
        z = by["sheets.zip"]
        total = len(z["members"][0]["sheets"])
        self.assertGreaterEqual(total, 4)
        self.assertEqual(body.count("(a sheet's data as CSV) removed:"), total - 1, body)
        self.assertEqual(zipfile.ZipFile(z["output"]).namelist(),
                         ["book/sheets.pdf", "book/sheets-売上.csv",
                          "book/sheets-内訳 (hidden).csv"])
        m = z["members"][0]
        self.assertEqual(m["verdict"], "sanitized")
        self.assertIn("left out: too many parts and members in all (limit 3)", m["reason"])
        self.assertEqual(sum(1 for s in m["sheets"] if s["output"] is None), total - 2)

    def check_no_replace(self, inputs, extra):
        """book.xlsx (a sheet "x") and book-x.csv in one run: both CSVs kept, the later one as
        "book-x (2).csv", and its report says so."""
        out = os.path.join(self.dir, "out")
        rc, by, err = sanitize([os.path.join(self.dir, n) for n in inputs], out, extra=extra)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(os.listdir(out)), ["book-x (2).csv", "book-x.csv", "book.pdf"])
        sheet = by["book.xlsx"]["sheets"][0]["output"]
        plain = by["book-x.csv"]["output"]
        self.assertEqual({os.path.basename(sheet), os.path.basename(plain)},
                         {"book-x.csv", "book-x (2).csv"})
        with open(sheet, encoding="utf-8-sig") as f:
            self.assertIn("from the sheet", f.read())
        with open(plain, encoding="utf-8-sig") as f:
            self.assertIn("from the file", f.read())
        later = by[inputs[1]]
        self.assertIn("written as book-x (2).csv, since an earlier input of this run wrote "
                      "book-x.csv", later["reason"])

    def write_inputs(self):
        """book.xlsx with one sheet "x", and book-x.csv."""
        with open(os.path.join(self.dir, "book.xlsx"), "wb") as f:
            f.write(self.make.xlsx_bytes([("x", False, [["from the sheet"]])]))
        with open(os.path.join(self.dir, "book-x.csv"), "w", encoding="utf-8") as f:
            f.write("from the file,1\n")

    def test_no_replace_with_force(self):
        self.write_inputs()
        self.check_no_replace(["book.xlsx", "book-x.csv"], ["--force"])

    def test_no_replace_without_force(self):
        self.write_inputs()
        self.check_no_replace(["book-x.csv", "book.xlsx"], [])


def main():
    global BUILD, INPUTS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--inputs")
    args, rest = ap.parse_known_args()
    BUILD, INPUTS = args.build, args.inputs
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
