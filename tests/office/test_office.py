#!/usr/bin/python3
"""The Office service (mugai-office) with the real LibreOffice, as a user would check it.

Usage: test_office.py --build BUILD_DIR --corpus CORPUS_DIR

- Every Office type of the corpus converts with [office] mode = warm and gives what cold mode
  gives (pdftotext text and page count); sanitize-file starts its own service for the run
  (once), a spreadsheet's sheets are the same CSV in both modes, and the service itself
  converts each type (a spreadsheet's sheets too).
- Isolation, warm and cold: a picture linked to a local HTTP server (no request reaches it),
  an INCLUDETEXT field and an ODT section naming a file on the gateway and a spreadsheet
  referring to one (no byte of it in the output), an ODT (Basic), a docm (VBA
  Document_Open, AutoOpen) and an xlsm (VBA Workbook_Open) whose macros run on opening:
  they neither change the text nor write their file, in warm and cold mode and in the
  service itself. The control: a LibreOffice outside the jail that allows macros runs them
  all.
- A child killed with SIGSEGV, one past its deadline and one over its memory limit fail
  their document only: the next converts, and no process is left.
- Two documents converted at the same time do not see each other's files.
- Under mugai-milter's supervisor the service is started again after its death.
"""

import argparse
import http.server
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from office_client import Service  # noqa: E402
import office_docs  # noqa: E402

BUILD = None
CORPUS = None
SHEETS = ("xls", "xlsx", "ods")


def office():
    return os.path.join(BUILD, "render", "mugai-office")


def pdf_text(path):
    """The words of the PDF's text, in order."""
    out = subprocess.run(["pdftotext", path, "-"], capture_output=True, check=True).stdout
    return out.decode("utf-8", "replace").split()


def pdf_pages(path):
    out = subprocess.run(["pdfinfo", path], capture_output=True, check=True).stdout.decode()
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


def children_of(pid):
    """Live processes whose parent is pid."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(d))
    return kids


def has_input(pid):
    """Whether process pid has a file named input.* open (its document)."""
    try:
        return any(os.path.basename(os.readlink("/proc/%d/fd/%s" % (pid, fd))).startswith(
            "input.") for fd in os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return False


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_for(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def write_conf(path, mode, extra=""):
    with open(path, "w") as f:
        f.write("[scan]\nclamav_db_dir = %s\n[office]\nmode = %s\n%s"
                % (os.path.join(CORPUS, "clamdb"), mode, extra))


def sanitize(conf, out, inputs, render_dir=None):
    """Run sanitize-file; its exit status and stderr."""
    p = subprocess.run([os.path.join(BUILD, "tools", "sanitize-file"), "-q", "-c", conf,
                        "-o", out] + inputs, capture_output=True, timeout=900)
    return p.returncode, p.stderr.decode(errors="replace")


class WarmMatchesCold(unittest.TestCase):
    """Every Office type of the corpus, through sanitize-file in both modes."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mugai-office-")
        d = cls.tmp.name
        files = os.path.join(CORPUS, "files")
        cls.inputs = sorted(os.path.join(files, n) for n in os.listdir(files)
                            if n.startswith("office_") and "encrypted" not in n)
        cls.types = sorted(os.path.splitext(p)[1][1:] for p in cls.inputs)
        # The service sanitize-file starts is found beside render_path: a copy of the
        # renderer and a wrapper of the service that notes each start.
        rdir = os.path.join(d, "bin")
        os.mkdir(rdir)
        shutil.copy(os.path.join(BUILD, "render", "mugai-render"), rdir)
        cls.starts = os.path.join(d, "starts")
        with open(os.path.join(rdir, "mugai-office"), "w") as f:
            f.write('#!/bin/sh\necho start >> %s\nexec %s "$@"\n' % (cls.starts, office()))
        os.chmod(os.path.join(rdir, "mugai-office"), 0o755)
        render = "[general]\nrender_path = %s\n" % os.path.join(rdir, "mugai-render")
        cls.out = {}
        for mode in ("warm", "cold"):
            conf = os.path.join(d, mode + ".conf")
            write_conf(conf, mode)
            with open(conf, "a") as f:
                f.write(render)
            cls.out[mode] = os.path.join(d, mode)
            t0 = time.monotonic()
            rc, err = sanitize(conf, cls.out[mode], cls.inputs)
            cls.secs = getattr(cls, "secs", {})
            cls.secs[mode] = time.monotonic() - t0
            assert rc == 0, (mode, rc, err)
        cls.starts_seen = open(cls.starts).read().split() if os.path.exists(cls.starts) else []

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_corpus_has_every_type(self):
        for t in ("doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf"):
            self.assertIn(t, self.types)

    def test_warm_run_started_one_service(self):
        self.assertEqual(self.starts_seen, ["start"])

    def test_every_type_matches_cold(self):
        for path in self.inputs:
            name = os.path.splitext(os.path.basename(path))[0] + ".pdf"
            warm, cold = (os.path.join(self.out[m], name) for m in ("warm", "cold"))
            with self.subTest(name=name):
                self.assertTrue(os.path.exists(warm) and os.path.exists(cold))
                self.assertEqual(pdf_pages(warm), pdf_pages(cold))
                self.assertEqual(pdf_text(warm), pdf_text(cold))
                self.assertTrue(pdf_text(warm))

    def test_every_sheet_matches_cold(self):
        """A spreadsheet's sheets as CSV are the same, byte for byte, warm and cold."""
        for path in self.inputs:
            stem, ext = os.path.splitext(os.path.basename(path))
            if ext[1:] not in SHEETS:
                continue
            names = {m: sorted(n for n in os.listdir(self.out[m])
                               if n.startswith(stem + "-") and n.endswith(".csv"))
                     for m in ("warm", "cold")}
            with self.subTest(name=stem + ext):
                self.assertTrue(names["warm"])
                self.assertEqual(names["warm"], names["cold"])
                for n in names["warm"]:
                    with open(os.path.join(self.out["warm"], n), "rb") as w, \
                            open(os.path.join(self.out["cold"], n), "rb") as c:
                        self.assertEqual(w.read(), c.read(), n)

    def test_service_converts_each_type_itself(self):
        """The service's own PDF (before flattening) has the text of the cold result."""
        svc = Service(office())
        try:
            for path in self.inputs:
                ext = os.path.splitext(path)[1][1:]
                out = os.path.join(self.tmp.name, "svc-" + os.path.basename(path) + ".pdf")
                cold = os.path.join(self.out["cold"],
                                    os.path.splitext(os.path.basename(path))[0] + ".pdf")
                sheets = out + ".sheets" if ext in SHEETS else None
                with self.subTest(type=ext):
                    self.assertEqual(svc.convert(path, out, sheets_path=sheets)[0], "ok")
                    self.assertEqual(pdf_pages(out), pdf_pages(cold))
                    self.assertEqual(pdf_text(out), pdf_text(cold))
                    if sheets:  # the stream sanitize/sheets.c reads: magic, count >= 1,
                        # the workbook's sheets, as many
                        with open(sheets, "rb") as f:
                            head = f.read(12)
                        self.assertEqual(head[:4], b"MGS2")
                        self.assertGreaterEqual(int.from_bytes(head[4:8], "little"), 1)
                        self.assertEqual(head[8:12], head[4:8])
        finally:
            svc.close()


# The documents whose macros run when they are opened, by name: each made for the path of
# the mark file its macros write.
MACRO_DOCS = {
    "macro.odt": office_docs.odt_macro,
    "vba.docm": office_docs.docm_macro,
    "vba-sheet.xlsm": office_docs.xlsm_macro,
}


class Recorder(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):
        Recorder.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


class Isolation(unittest.TestCase):
    """Documents that reach out of their conversion, in both modes."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mugai-office-iso-")
        d = cls.tmp.name
        cls.server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        port = cls.server.server_address[1]
        cls.secret = "GATEWAYSECRET" + secrets.token_hex(8)
        cls.gw = os.path.join(d, "gateway")
        os.mkdir(cls.gw)
        secret_txt = os.path.join(cls.gw, "secret.txt")
        secret_csv = os.path.join(cls.gw, "secret.csv")
        cls.mark = os.path.join(cls.gw, "macro-ran")
        inputs = os.path.join(d, "in")
        os.mkdir(inputs)
        docs = {
            "picture.odt": office_docs.odt_linked_image("http://127.0.0.1:%d/pic.png" % port),
            "includetext.docx": office_docs.docx_includetext(secret_txt),
            "section.odt": office_docs.odt_section_link(secret_txt),
        }
        docs.update((n, make(cls.mark)) for n, make in MACRO_DOCS.items())
        for name, data in docs.items():
            with open(os.path.join(inputs, name), "wb") as f:
                f.write(data)
        # The spreadsheet is made by LibreOffice before the file it refers to exists.
        fods = os.path.join(d, "extref.fods")
        with open(fods, "w") as f:
            f.write(office_docs.fods_extref(secret_csv))
        subprocess.run(["soffice", "-env:UserInstallation=file://%s/profile" % d, "--headless",
                        "--convert-to", "xlsx", "--outdir", inputs, fods],
                       capture_output=True, timeout=300, check=True)
        with open(secret_txt, "w") as f:
            f.write(cls.secret + "\n")
        with open(secret_csv, "w") as f:
            f.write(cls.secret + "\n")
        cls.names = sorted(os.listdir(inputs))
        cls.out = {}
        for mode in ("warm", "cold"):
            conf = os.path.join(d, mode + ".conf")
            write_conf(conf, mode)
            cls.out[mode] = os.path.join(d, "out-" + mode)
            rc, err = sanitize(conf, cls.out[mode], [os.path.join(inputs, n) for n in cls.names])
            assert rc == 0, (mode, rc, err)
        svc = Service(office())
        cls.out["service"] = os.path.join(d, "out-service")
        os.mkdir(cls.out["service"])
        try:
            for n in cls.names:
                res = svc.convert(os.path.join(inputs, n),
                                  os.path.join(cls.out["service"], n[:n.rindex(".")] + ".pdf"))
                assert res[0] == "ok", (n, res)
        finally:
            svc.close()
        cls.server.shutdown()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def outputs(self):
        for mode, out in self.out.items():
            for n in self.names:
                path = os.path.join(out, n[:n.rindex(".")] + ".pdf")
                yield mode, n, path

    def test_every_document_converts(self):
        self.assertEqual(len(self.names), 7)
        for mode, n, path in self.outputs():
            with self.subTest(mode=mode, doc=n):
                self.assertIn("ISOLATION", pdf_text(path))

    def test_no_request_reaches_the_server(self):
        self.assertEqual(Recorder.hits, [])

    def test_no_byte_of_the_gateway_file(self):
        for mode, n, path in self.outputs():
            with self.subTest(mode=mode, doc=n):
                self.assertNotIn(self.secret, " ".join(pdf_text(path)))
                with open(path, "rb") as f:
                    self.assertNotIn(self.secret.encode(), f.read())
        for n in os.listdir(self.out["warm"]):  # the sheets' CSV too
            with open(os.path.join(self.out["warm"], n), "rb") as f:
                self.assertNotIn(self.secret.encode(), f.read())

    def test_macro_neither_runs_nor_writes(self):
        """The ODT's OnLoad, the docm's Document_Open and AutoOpen, the xlsm's Workbook_Open
        (MacroControl shows they run where macros are allowed)."""
        self.assertFalse(os.path.exists(self.mark))
        for mode, n, path in self.outputs():
            if n in MACRO_DOCS:
                with self.subTest(mode=mode, doc=n):
                    self.assertNotIn("RAN", pdf_text(path))
        for n in os.listdir(self.out["warm"]):  # the sheets' CSV too
            with open(os.path.join(self.out["warm"], n), "rb") as f:
                self.assertNotIn(b"MACRO RAN", f.read())


# The Basic of MacroControl's LibreOffice: each document of names (a comma list) in dir
# loaded as a desktop opens one (macros as the profile's settings say), which runs the open
# macros of an ODT (OnLoad) and of a workbook (Workbook_Open), then exported as dir/NAME.pdf.
# LibreOffice 7.4 never raises the VBA open event of a text document (Writer asks for
# com.sun.star.script.vba.VBATextEventProcessor, registered as ...document.vba...): for a
# docm the opener raises it through that processor, which runs ThisDocument's Document_Open
# and then AutoOpen as Word would. An error is written to dir/opener.log.
OPENER = """Sub OpenEach(dir As String, names As String)
  Dim load(0) As New com.sun.star.beans.PropertyValue
  Dim pdf(0) As New com.sun.star.beans.PropertyValue
  load(0).Name = "MacroExecutionMode"
  load(0).Value = com.sun.star.document.MacroExecMode.USE_CONFIG
  pdf(0).Name = "FilterName"
  On Error Goto failed
  For Each name In Split(names, ",")
    doc = StarDesktop.loadComponentFromURL(ConvertToURL(dir & "/" & name), "_blank", 0, load())
    Wait 300
    pdf(0).Value = "writer_pdf_Export"
    If doc.supportsService("com.sun.star.sheet.SpreadsheetDocument") Then
      pdf(0).Value = "calc_pdf_Export"
    ElseIf doc.BasicLibraries.VBACompatibilityMode Then
      vba = CreateUnoServiceWithArguments("com.sun.star.document.vba.VBATextEventProcessor", _
                                          Array(doc))
      vba.processVbaEvent(com.sun.star.script.vba.VBAEventId.DOCUMENT_OPEN, Array())
    End If
    doc.storeToURL(ConvertToURL(dir & "/" & name & ".pdf"), pdf())
    doc.close(True)
  Next
  StarDesktop.terminate()
  Exit Sub
failed:
  log = FreeFile
  Open dir & "/opener.log" For Output As #log
  Print #log, name & ": " & Error$
  Close #log
  StarDesktop.terminate()
End Sub
"""

# A profile's settings (registrymodifications.xcu) that let documents' macros run: security
# level 0 (low: any macro), execution not disabled. The profile counts as installed, or
# LibreOffice would copy its presets over the Basic library written beside.
MACROS_ALLOWED = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
  xmlns:xs="http://www.w3.org/2001/XMLSchema"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Setup/Office"><prop oor:name="ooSetupInstCompleted"
  oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Setup/Product"><prop oor:name="ooSetupLastVersion"
  oor:op="fuse"><value>99.9</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop
  oor:name="DisableMacrosExecution" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop
  oor:name="MacroSecurityLevel" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""



def desktop_profile(path):
    """A LibreOffice profile at path whose settings allow macros and whose Basic library
    Standard holds OPENER."""
    basic = os.path.join(path, "user", "basic")
    os.makedirs(os.path.join(basic, "Standard"))
    lib_dtd = '<!DOCTYPE library:%s PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "%s">'
    files = {
        "registrymodifications.xcu": MACROS_ALLOWED,
        "basic/Standard/script.xlb": '<?xml version="1.0" encoding="UTF-8"?>%s<library:library '
        'xmlns:library="http://openoffice.org/2000/library" library:name="Standard" '
        'library:readonly="false" library:passwordprotected="false"><library:element '
        'library:name="Opener"/></library:library>' % (lib_dtd % ("library", "library.dtd")),
        "basic/Standard/dialog.xlb": '<?xml version="1.0" encoding="UTF-8"?>%s<library:library '
        'xmlns:library="http://openoffice.org/2000/library" library:name="Standard" '
        'library:readonly="false" library:passwordprotected="false"/>'
        % (lib_dtd % ("library", "library.dtd")),
        "basic/Standard/Opener.xba": '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE '
        'script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">'
        '<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Opener" '
        'script:language="StarBasic">%s</script:module>' % escape(OPENER),
    }
    for lib in ("script", "dialog"):
        files["basic/%s.xlc" % lib] = (
            '<?xml version="1.0" encoding="UTF-8"?>%s<library:libraries '
            'xmlns:library="http://openoffice.org/2000/library" '
            'xmlns:xlink="http://www.w3.org/1999/xlink"><library:library library:name="Standard" '
            'library:link="false"/></library:libraries>' % (lib_dtd % ("libraries",
                                                                        "libraries.dtd")))
    for name, text in files.items():
        with open(os.path.join(path, "user", name), "w") as f:
            f.write(text)


class MacroControl(unittest.TestCase):
    """The macros of Isolation's documents are real: a LibreOffice outside the jail whose
    settings allow macros (security level 0, execution not disabled) runs them when it opens
    the documents as a desktop does (OPENER; a conversion, soffice --convert-to or
    LibreOfficeKit as the service loads, never runs a document's macros). The ODT's OnLoad
    macro and the xlsm's Workbook_Open run by themselves; the docm's Document_Open and
    AutoOpen run when its VBA open event is raised, which LibreOffice 7.4 does not do itself.
    Each writes its line to its mark file and MACRO RAN into the document. One soffice
    run."""

    def test_macros_run_where_macros_are_allowed(self):
        with tempfile.TemporaryDirectory(prefix="mugai-office-macros-") as d:
            profile = os.path.join(d, "profile")
            desktop_profile(profile)
            marks = {n: os.path.join(d, "mark-" + n) for n in MACRO_DOCS}
            for n, make in MACRO_DOCS.items():
                with open(os.path.join(d, n), "wb") as f:
                    f.write(make(marks[n]))
            p = subprocess.run(["soffice", "-env:UserInstallation=file://" + profile,
                                "--headless", "--norestore",
                                'macro:///Standard.Opener.OpenEach("%s","%s")'
                                % (d, ",".join(MACRO_DOCS))], capture_output=True, timeout=300)
            log = os.path.join(d, "opener.log")
            if os.path.exists(log):
                with open(log) as f:
                    self.fail("the opener failed: " + f.read())
            self.assertEqual(p.returncode, 0, p.stderr)
            ran = {"macro.odt": ["macro"], "vba.docm": ["Document_Open", "AutoOpen"],
                   "vba-sheet.xlsm": ["Workbook_Open"]}
            for n in MACRO_DOCS:
                with self.subTest(doc=n):
                    self.assertTrue(os.path.exists(marks[n]), "its macros did not run")
                    with open(marks[n]) as f:
                        self.assertEqual(f.read().split(), ran[n])
                    text = " ".join(pdf_text(os.path.join(d, n + ".pdf")))
                    self.assertIn("ISOLATION", text)
                    self.assertIn("MACRO RAN", text)


class Failures(unittest.TestCase):
    """Children that crash, hang or run out of memory, through the service itself."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-office-fail-")
        d = self.tmp.name
        self.long = os.path.join(d, "long.docx")
        with open(self.long, "wb") as f:
            f.write(office_docs.docx_pages(3000))
        self.small = os.path.join(CORPUS, "files", "office_docx.docx")
        self.conf = os.path.join(d, "office.conf")
        write_conf(self.conf, "warm", "[jail]\noffice_memory_mb = 512\n")
        self.svc = Service(office(), self.conf)

    def tearDown(self):
        self.svc.close()
        self.tmp.cleanup()

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def convert_watched(self, *args, **kw):
        """Service.convert, noting every process of the service's children meanwhile."""
        seen, done = set(), threading.Event()

        def watch():
            while not done.is_set():
                for c in children_of(self.svc.proc.pid):
                    seen.update([c] + children_of(c))
                time.sleep(0.01)
        t = threading.Thread(target=watch)
        t.start()
        try:
            return self.svc.convert(*args, **kw)
        finally:
            done.set()
            t.join()
            self.seen = seen

    def spare_tree(self):
        """The processes of the child the service keeps ready: its init and LibreOffice."""
        kids = children_of(self.svc.proc.pid)
        return set(kids + [g for k in kids for g in children_of(k)])

    def assert_recovers(self):
        """No process of the failed conversion is left (only the one child started ahead of
        the next document: its init and LibreOffice), and the next document converts."""
        self.assertTrue(self.seen)
        self.assertTrue(wait_for(lambda: len(children_of(self.svc.proc.pid)) <= 1 and
                                 len(self.spare_tree()) <= 2 and
                                 all(not os.path.exists("/proc/%d" % p)
                                     for p in self.seen - self.spare_tree()), 10),
                        (self.seen, self.spare_tree()))
        self.assertEqual(self.svc.convert(self.small, self.out("next.pdf"))[0], "ok")
        self.assertTrue(pdf_text(self.out("next.pdf")))
        self.assertIsNone(self.svc.proc.poll())

    def test_child_killed_with_sigsegv(self):
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=self.convert_watched(self.long, self.out("long.pdf"))))
        t.start()
        # The child is the jail's init; LibreOffice is its child. The one that has the
        # document open (the other waits for the next document) is killed.
        def busy():
            return [k for c in children_of(self.svc.proc.pid) for k in children_of(c)
                    if has_input(k)]
        self.assertTrue(wait_for(busy, 30))
        time.sleep(0.3)
        for pid in busy():
            os.kill(pid, signal.SIGSEGV)
        t.join(120)
        self.assertEqual(result["r"][0], "crashed", result)
        self.assertIn("SIGSEGV", result["r"][2])
        self.assert_recovers()

    def test_child_past_its_deadline(self):
        t0 = time.monotonic()
        res = self.convert_watched(self.long, self.out("long.pdf"), timeout=0.5)
        self.assertEqual(res[0], "timeout", res)
        self.assertLess(time.monotonic() - t0, 10)
        self.assert_recovers()

    def test_child_over_its_memory_limit(self):
        """A picture of 16000 x 16000 pixels, over 700 MiB once decoded: more than the 512 MiB
        the child may add. LibreOffice either fails or leaves the picture out (with a limit of
        8 GiB the PDF has it, downsampled to 1772 pixels square)."""
        with open(self.out("big.odt"), "wb") as f:
            f.write(office_docs.odt_picture(office_docs.big_png(16000, 16000)))
        res = self.convert_watched(self.out("big.odt"), self.out("big.pdf"))
        if res[0] == "ok":
            images = subprocess.run(["pdfimages", "-list", self.out("big.pdf")],
                                    capture_output=True, check=True).stdout.decode()
            self.assertEqual(images.splitlines()[2:], [], "the picture was decoded")
        self.assert_recovers()


def xlsx_hidden_sheet(rows):
    """A workbook whose visible sheet shows "front page" and whose hidden second sheet holds
    rows (sheetData XML): only the sheets' export reads it."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml."
    return office_docs.zip_bytes([
        ("[Content_Types].xml",
         '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
         '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
         'relationships+xml"/><Override PartName="/xl/workbook.xml" ContentType="%ssheet.main'
         '+xml"/>' % ct + "".join('<Override PartName="/xl/s%d.xml" ContentType="%sworksheet'
                                  '+xml"/>' % (i, ct) for i in (1, 2)) + "</Types>"),
        ("_rels/.rels", '<Relationships xmlns="%s"><Relationship Id="r" Type="%s" '
         'Target="xl/workbook.xml"/></Relationships>' % (office_docs.RELS_NS, office_docs.OFFDOC)),
        ("xl/workbook.xml", '<workbook xmlns="%s" xmlns:r="%s"><sheets><sheet name="front" '
         'sheetId="1" r:id="r1"/><sheet name="back" sheetId="2" state="hidden" r:id="r2"/>'
         "</sheets></workbook>" % (main, rel)),
        ("xl/_rels/workbook.xml.rels", '<Relationships xmlns="%s">' % office_docs.RELS_NS +
         "".join('<Relationship Id="r%d" Type="%s/worksheet" Target="s%d.xml"/>' % (i, rel, i)
                 for i in (1, 2)) + "</Relationships>"),
        ("xl/s1.xml", '<worksheet xmlns="%s"><sheetData><row r="1"><c r="A1" t="inlineStr">'
         "<is><t>front page</t></is></c></row></sheetData></worksheet>" % main),
        ("xl/s2.xml", '<worksheet xmlns="%s"><sheetData>%s</sheetData></worksheet>'
         % (main, rows))])


class OddTmpdir(unittest.TestCase):
    """A TMPDIR holding characters a URL must encode (a space, '#', '%'): LibreOffice's
    profile and the sheets' export are given as URLs, the rest as paths. Warm and cold, a
    docx and a workbook convert, the workbook with its sheets' CSVs."""

    def test_space_hash_percent(self):
        tmp = tempfile.TemporaryDirectory(prefix="mugai-office-tmpdir-")
        self.addCleanup(tmp.cleanup)
        odd = os.path.join(tmp.name, "a b#%c")
        os.mkdir(odd)
        book = os.path.join(tmp.name, "book.xlsx")
        with open(book, "wb") as f:
            f.write(xlsx_hidden_sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>back page'
                                      "</t></is></c></row>"))
        docx = os.path.join(CORPUS, "files", "office_docx.docx")
        for mode in ("warm", "cold"):
            with self.subTest(mode=mode):
                conf = os.path.join(tmp.name, mode + ".conf")
                write_conf(conf, mode)
                out = os.path.join(tmp.name, "out-" + mode)
                p = subprocess.run([os.path.join(BUILD, "tools", "sanitize-file"), "-q", "-c",
                                    conf, "-o", out, docx, book], capture_output=True,
                                   timeout=900, env=dict(os.environ, TMPDIR=odd))
                self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
                self.assertGreaterEqual(pdf_pages(os.path.join(out, "office_docx.pdf")), 1)
                self.assertIn("front page", " ".join(pdf_text(os.path.join(out, "book.pdf"))))
                with open(os.path.join(out, "book-back (hidden).csv"), encoding="utf-8-sig") as f:
                    self.assertEqual(f.read().strip(), "back page")


class SheetsNeverCostThePdf(unittest.TestCase):
    """A spreadsheet's sheets are exported after its PDF, in the same LibreOffice: an export
    that outlasts the job's time, or that LibreOffice's limits end (CPU, file size), costs the
    sheets (the service writes no stream, which the worker takes for none), never the PDF."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-office-sheets-")
        # Formulas whose results the workbook does not hold: LibreOffice computes them for the
        # CSV alone, most of a second of CPU each.
        self.slow = self.doc("slow.xlsx", "".join(
            '<row r="%d"><c r="A%d"><f>SUMPRODUCT(ROW(A1:A1000000)*%d)</f></c></row>'
            % (r, r, r) for r in range(1, 2001)))

    def tearDown(self):
        self.tmp.cleanup()

    def doc(self, name, rows):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(xlsx_hidden_sheet(rows))
        return path

    def convert(self, path, jail="", timeout=60.0):
        """Convert path with its sheets through a service with the [jail] settings jail:
        (result, seconds, the sheets stream's size)."""
        conf = os.path.join(self.tmp.name, "office.conf")
        write_conf(conf, "warm", "[jail]\n" + jail)
        pdf, sheets = path + ".pdf", path + ".sheets"
        svc = Service(office(), conf)
        try:
            t0 = time.monotonic()
            res = svc.convert(path, pdf, timeout=timeout, sheets_path=sheets)
            secs = time.monotonic() - t0
        finally:
            err = svc.close()
        self.assertEqual(res[0], "ok", (res, err))
        self.assertIn("front page", " ".join(pdf_text(pdf)))
        return secs, os.path.getsize(sheets)

    def test_export_past_the_job_time(self):
        secs, size = self.convert(self.slow, timeout=8)
        self.assertLess(secs, 8)
        self.assertEqual(size, 0)

    def test_export_over_the_cpu_limit(self):
        self.assertEqual(self.convert(self.slow, "cpu = 5\n")[1], 0)

    def test_sheet_over_the_file_size_limit(self):
        """About 2 MiB of CSV against [jail] file_size_mb = 1."""
        big = self.doc("big.xlsx", "".join(
            '<row r="%d">%s</row>' % (r, "".join('<c r="%s%d"><v>%d</v></c>' % (c, r, r * 10 + i)
                                                 for i, c in enumerate("ABCDEFGH")))
            for r in range(1, 30001)))
        self.assertEqual(self.convert(big, "file_size_mb = 1\n")[1], 0)

def kernel_objects(pid, stdio=True):
    """The pipes, sockets and eventfds process pid holds (without stdio: from descriptor 3
    on), by what names them in the kernel."""
    objs = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        if not stdio and int(fd) < 3:
            continue
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if target == "anon_inode:[eventfd]":
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    target = "eventfd:" + re.search(r"^eventfd-id:\s*(\d+)", f.read(),
                                                    re.M).group(1)
        except OSError:
            continue
        if target.startswith(("pipe:", "socket:", "eventfd:", "anon_inode:")):
            objs.add(target)
    return objs


def threads_of(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


class Inherited(unittest.TestCase):
    """What a child takes over from the service when it is forked: LibreOffice's start left an
    eventfd and pipes open in the service, which a child must not share with the service nor
    with the other children (a channel from one document to the next); nor may it hold a
    directory or a file open for writing."""

    def test_child_shares_no_descriptor_with_the_service(self):
        svc = Service(office())
        try:
            def spare():
                kids = children_of(svc.proc.pid)
                progs = [g for k in kids for g in children_of(k)]
                return (kids[0], progs[0]) if len(kids) == 1 and len(progs) == 1 and \
                    threads_of(progs[0]) > 1 else None
            self.assertTrue(wait_for(spare, 60))
            init, prog = spare()
            mine = kernel_objects(svc.proc.pid)
            self.assertTrue(any(o.startswith("eventfd:") for o in mine), mine)
            # The jail's init keeps the service's standard error, for its own failures.
            self.assertEqual(kernel_objects(init, stdio=False) & mine, set())
            self.assertEqual(kernel_objects(prog) & mine, set())
            for fd in os.listdir("/proc/%d/fd" % prog):
                st = os.stat("/proc/%d/fd/%s" % (prog, fd))
                with open("/proc/%d/fdinfo/%s" % (prog, fd)) as f:
                    flags = int(re.search(r"^flags:\s*(\d+)", f.read(), re.M).group(1), 8)
                with self.subTest(fd=fd, target=os.readlink("/proc/%d/fd/%s" % (prog, fd))):
                    self.assertFalse(stat.S_ISDIR(st.st_mode))
                    if stat.S_ISREG(st.st_mode):
                        self.assertEqual(flags & os.O_ACCMODE, os.O_RDONLY)
            # The child converts with descriptors of its own.
            with tempfile.TemporaryDirectory(prefix="mugai-office-fds-") as d:
                out = os.path.join(d, "out.pdf")
                small = os.path.join(CORPUS, "files", "office_docx.docx")
                self.assertEqual(svc.convert(small, out)[0], "ok")
                self.assertTrue(pdf_text(out))
        finally:
            svc.close()

    def test_program_never_holds_the_output(self):
        """The output is the worker's file: LibreOffice, which the document may take over,
        saves in its jail and the jail's init copies the PDF out once it has ended. Nor does
        it hold the worker's input (the init copies it in), also when its child is made for
        the request ([office] spares = 0) while the service holds the request's files."""
        for spares in (1, 0):
            with self.subTest(spares=spares), \
                    tempfile.TemporaryDirectory(prefix="mugai-office-out-") as d:
                conf = os.path.join(d, "office.conf")
                write_conf(conf, "warm", "spares = %d\n" % spares)
                src, out = os.path.join(d, "long.docx"), os.path.join(d, "long.pdf")
                with open(src, "wb") as f:
                    f.write(office_docs.docx_pages(1500))
                svc = Service(office(), conf)
                try:
                    result, busy, held = {}, set(), set()
                    t = threading.Thread(target=lambda: result.update(r=svc.convert(src, out)))
                    t.start()
                    while t.is_alive():
                        for k in children_of(svc.proc.pid):
                            for g in children_of(k):
                                if not has_input(g):
                                    continue
                                busy.add(g)
                                try:
                                    held.update(os.readlink("/proc/%d/fd/%s" % (g, fd))
                                                for fd in os.listdir("/proc/%d/fd" % g))
                                except OSError:
                                    pass
                        time.sleep(0.02)
                    t.join()
                finally:
                    svc.close()
                self.assertEqual(result["r"][0], "ok", result)
                self.assertTrue(busy)
                self.assertNotIn(out, held)
                self.assertNotIn(src, held)
                self.assertIn("brown", pdf_text(out))


class Concurrent(unittest.TestCase):
    """Two documents at the same time, on two sockets of one listening service."""

    def test_documents_do_not_see_each_other(self):
        with tempfile.TemporaryDirectory(prefix="mugai-office-two-") as d:
            path = os.path.join(d, "office.sock")
            proc = subprocess.Popen([office(), "--listen", path], stderr=subprocess.DEVNULL)
            try:
                self.assertTrue(wait_for(lambda: os.path.exists(path), 30))
                token = "MARKER" + secrets.token_hex(8)
                a_dir = os.path.join(d, "a")
                os.mkdir(a_dir)
                with open(os.path.join(a_dir, "marker.txt"), "w") as f:
                    f.write(token + "\n")
                a = os.path.join(a_dir, "a.docx")
                with open(a, "wb") as f:
                    f.write(office_docs.docx_pages(1500))
                # B links to the marker beside A, and to A's input as the jail names its own.
                svc_dir = [n for n in os.listdir(tempfile.gettempdir())
                           if n.startswith("mugai-office-%d-" % proc.pid)]
                self.assertEqual(len(svc_dir), 1)
                work = os.path.join(tempfile.gettempdir(), svc_dir[0], "work")
                b = os.path.join(d, "b.odt")
                with open(b, "wb") as f:
                    f.write(office_docs.odt(
                        '<text:section text:name="m"><text:section-source '
                        'xlink:href="file://%s/marker.txt" xlink:type="simple"/></text:section>'
                        '<text:section text:name="a"><text:section-source '
                        'xlink:href="file://%s/input.docx" xlink:type="simple"/></text:section>'
                        % (a_dir, work)))
                results = {}

                def run(name, src):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                    s.connect(path)
                    svc = Service.__new__(Service)
                    svc.sock, svc.seq = s, 0
                    t0 = time.monotonic()
                    r = svc.convert(src, os.path.join(d, name + ".pdf"))
                    results[name] = (r, t0, time.monotonic())
                    s.close()
                ta = threading.Thread(target=run, args=("a", a))
                tb = threading.Thread(target=run, args=("b", b))
                ta.start()
                time.sleep(0.2)
                tb.start()
                ta.join(300)
                tb.join(300)
                self.assertEqual(results["a"][0][0], "ok", results)
                self.assertEqual(results["b"][0][0], "ok", results)
                # They overlapped: B started before A ended and ended after A started.
                self.assertLess(results["b"][1], results["a"][2])
                text_b = " ".join(pdf_text(os.path.join(d, "b.pdf")))
                self.assertIn("ISOLATION", text_b)
                self.assertNotIn(token, text_b)
                self.assertNotIn("quick brown fox", text_b)
            finally:
                proc.terminate()
                proc.wait(30)
            self.assertFalse(os.path.exists(path))


class ManySockets(unittest.TestCase):
    """mugai-milter may run 256 workers, each with a socket of its own to the service: the
    service keeps them all (a worker whose socket it closed would exit, be started again and
    be refused again)."""

    def test_every_worker_keeps_its_socket(self):
        from office_client import MAGIC, CONVERT, REQ, REP, RESULTS
        with tempfile.TemporaryDirectory(prefix="mugai-office-many-") as d:
            path = os.path.join(d, "office.sock")
            proc = subprocess.Popen([office(), "--listen", path], stderr=subprocess.DEVNULL)
            socks = []
            try:
                self.assertTrue(wait_for(lambda: os.path.exists(path), 30))
                for _ in range(256):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                    s.connect(path)
                    s.settimeout(30)
                    socks.append(s)
                null = os.open("/dev/null", os.O_RDONLY)
                try:
                    for i in (0, 63, 64, 255):
                        req = REQ.pack(MAGIC, CONVERT, i + 1, 1000, 0, b"no-such")
                        socket.send_fds(socks[i], [req], [null, null])
                        rep = socks[i].recv(REP.size + 16)
                        with self.subTest(socket=i):
                            self.assertEqual(len(rep), REP.size)
                            self.assertEqual(RESULTS[REP.unpack(rep)[3]], "refused")
                finally:
                    os.close(null)
            finally:
                for s in socks:
                    s.close()
                proc.terminate()
                proc.wait(30)


def mugai_user():
    try:
        import pwd
        return pwd.getpwnam("mugai")
    except KeyError:
        return None


@unittest.skipUnless(os.geteuid() == 0 and mugai_user(), "needs root and the user mugai")
class UnderTheSupervisor(unittest.TestCase):
    """mugai-milter starts the service before its worker, which converts a docx attachment
    through it; killed, the service is started again and the next attachment goes through the
    new one."""

    def setUp(self):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "postfix"))
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "milter"))
        from pfharness import give_to
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-office-sup-")
        d = self.tmp.name
        shutil.copytree(os.path.join(CORPUS, "clamdb"), os.path.join(d, "db"))
        os.mkdir(os.path.join(d, "spool"))
        self.sock = os.path.join(d, "milter.sock")
        conf = os.path.join(d, "mugai.conf")
        with open(conf, "w") as f:
            f.write("[general]\nlog_level = info\n[scan]\nclamav_db_dir = %s/db\n"
                    "[quarantine]\ndir = %s/q\n[milter]\nsocket = unix:%s\nspool_dir = %s/spool\n"
                    "pid_file = %s/pid\nworkers = 1\nuser = mugai\n" % (d, d, self.sock, d, d))
        give_to("mugai", d)
        self.logf = open(os.path.join(d, "log"), "w+")
        self.proc = subprocess.Popen([os.path.join(BUILD, "milter", "mugai-milter"), "-c", conf,
                                      "-f"], stdout=self.logf, stderr=subprocess.STDOUT)

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        self.tmp.cleanup()

    def log(self):
        with open(self.logf.name, errors="replace") as f:
            return f.read()

    def service(self):
        kids = [k for k in children_of(self.proc.pid) if comm(k) == "mugai-office"]
        return kids[0] if kids else None

    def send_docx(self):
        """A message with the corpus's docx attached, through the milter; its clean copy."""
        import base64
        import email
        import email.policy
        from test_replbody import MilterClient, rebuild
        with open(os.path.join(CORPUS, "files", "office_docx.docx"), "rb") as f:
            att = base64.encodebytes(f.read()).replace(b"\n", b"\r\n")
        body = (b"--B\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nReport.\r\n"
                b"--B\r\nContent-Type: application/vnd.openxmlformats-officedocument."
                b"wordprocessingml.document\r\n"
                b"Content-Disposition: attachment; filename=\"report.docx\"\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + att + b"--B--\r\n")
        headers = [(b"From", b" alice@example.com"), (b"To", b" bob@example.lg.jp"),
                   (b"Subject", b" report"), (b"MIME-Version", b" 1.0"),
                   (b"Content-Type", b" multipart/mixed; boundary=\"B\"")]
        c = MilterClient(self.sock)
        try:
            c.negotiate()
            c.message(headers, body, b"OFFICE1")
            replies = c.eom()
        finally:
            c.close()
        msg = email.message_from_bytes(rebuild(headers, replies), policy=email.policy.default)
        return [p.get_filename() for p in msg.iter_attachments()]

    def test_service_restarts_after_its_death(self):
        self.assertTrue(wait_for(lambda: os.path.exists(self.sock) and self.service(), 60),
                        self.log())
        self.assertEqual(self.send_docx(), ["report.pdf"], self.log())
        self.assertEqual(self.log().count("office: docx: converted"), 1, self.log())
        first = self.service()
        os.kill(first, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: self.service() not in (None, first), 60), self.log())
        self.assertIn("Office service %d ended" % first, self.log())
        # The worker that was connected to the dead service gives way to one connected to the
        # new service.
        self.assertTrue(wait_for(lambda: self.send_docx() == ["report.pdf"] and
                                 self.log().count("office: docx: converted") == 2, 120),
                        self.log())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--corpus", required=True)
    args, rest = ap.parse_known_args()
    BUILD = os.path.abspath(args.build)
    CORPUS = os.path.abspath(args.corpus)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
