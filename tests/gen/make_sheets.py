#!/usr/bin/python3
"""Generate the spreadsheet test inputs: make_sheets.py OUTDIR

OUTDIR/sheets.xlsx  an Excel workbook written here with zipfile: a visible sheet
                    売上 (Japanese text, a date shown as 2024/04/01, an amount
                    shown as ¥1,234, a rate shown as 12.5%, a formula cell, cells
                    that start with = + - @ as text and from a formula), a
                    hidden sheet 内訳, and sheets whose names are hostile (a
                    bidi override, a path, a very long name)
OUTDIR/pair.xlsx    one visible sheet 表紙 and one hidden sheet 非公開: the hidden one
                    must be told apart although a single sheet is shown
OUTDIR/sheets.ods   the same workbook as OpenDocument, converted by LibreOffice
OUTDIR/sheets.eml   a message with sheets.xlsx attached
OUTDIR/sheets.zip   a zip with sheets.xlsx as book/sheets.xlsx
OUTDIR/expect.json  what each sheet's CSV must hold

Nothing is downloaded; the xlsx is written part by part (openpyxl is not in
Debian's base), the ods by one soffice run with a throw-away profile.
"""

import base64
import datetime
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from xml.sax.saxutils import escape, quoteattr

ZIP_DATE = (2024, 4, 1, 9, 0, 0)
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_REL = REL_NS + "/worksheet"
STYLES_REL = REL_NS + "/styles"

# Hostile sheet names: a right-to-left override, a path, and a long name.
BIDI_NAME = "表\u202etxt.exe"
PATH_NAME = "../x"
LONG_NAME = "長" * 80

# Cell styles (index into cellXfs): 0 general, 1 date, 2 yen, 3 percent, 4 thousands.
STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<styleSheet xmlns="%s">'
          '<numFmts count="3">'
          '<numFmt numFmtId="164" formatCode="yyyy/mm/dd"/>'
          '<numFmt numFmtId="165" formatCode="&quot;¥&quot;#,##0"/>'
          '<numFmt numFmtId="166" formatCode="0.0%%"/>'
          '</numFmts>'
          '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
          '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
          '<borders count="1"><border/></borders>'
          '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
          '<cellXfs count="5">'
          '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
          '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
          '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
          '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
          '<xf numFmtId="3" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
          '</cellXfs></styleSheet>' % MAIN_NS)


def serial(d):
    """Excel's day number of date d."""
    return (d - datetime.date(1899, 12, 30)).days


def col(i):
    """Column letter of 0-based index i (up to Z)."""
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i]


def cell(ref, value):
    """One <c> element: str -> inline string, (number, style) -> number, dict -> formula."""
    if isinstance(value, str):
        return '<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref, escape(value))
    if isinstance(value, dict):
        kind = ' t="str"' if isinstance(value["v"], str) else ""
        style = ' s="%d"' % value.get("s", 0)
        return '<c r="%s"%s%s><f>%s</f><v>%s</v></c>' % (ref, style, kind, escape(value["f"]),
                                                         escape(str(value["v"])))
    number, style = value
    return '<c r="%s" s="%d"><v>%s</v></c>' % (ref, style, number)


def sheet_xml(rows):
    """A worksheet part of rows (lists of cell values)."""
    out = []
    for r, row in enumerate(rows, 1):
        cells = "".join(cell("%s%d" % (col(c), r), v) for c, v in enumerate(row) if v is not None)
        out.append('<row r="%d">%s</row>' % (r, cells))
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="%s"><sheetData>%s</sheetData></worksheet>' % (MAIN_NS, "".join(out)))


def workbook():
    """The sheets: (name, hidden, rows)."""
    day = serial(datetime.date(2024, 4, 1))
    sales = [
        ["品名", "日付", "金額", "率"],
        ["りんご（青森県産）", (day, 1), (1234, 2), (0.125, 3)],
        ["合計", None, {"f": "C2*2", "v": 2468, "s": 2}, None],
        ["=1+2", "+81-3-1234-5678", "-payload", "@SUM(A1)"],
        [{"f": "\"=\"&\"HYPERLINK(1)\"", "v": "=HYPERLINK(1)"}, "普通の文字", None, None],
    ]
    detail = [["秘密の内訳", (1000000, 4)]]
    return [("売上", False, sales), ("内訳", True, detail),
            (BIDI_NAME, False, [["bidi"]]), (PATH_NAME, False, [["path"]]),
            (LONG_NAME, False, [["long"]])]


def xlsx_bytes(sheets):
    """The workbook as xlsx."""
    ct = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>']
    rels = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="%s">'
            % PKG_REL_NS]
    names = []
    parts = []
    for i, (name, hidden, rows) in enumerate(sheets, 1):
        ct.append('<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/'
                  'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' % i)
        rels.append('<Relationship Id="rId%d" Type="%s" Target="worksheets/sheet%d.xml"/>'
                    % (i, SHEET_REL, i))
        names.append('<sheet name=%s sheetId="%d"%s r:id="rId%d"/>'
                     % (quoteattr(name), i, ' state="hidden"' if hidden else "", i))
        parts.append(("xl/worksheets/sheet%d.xml" % i, sheet_xml(rows)))
    rels.append('<Relationship Id="rId%d" Type="%s" Target="styles.xml"/></Relationships>'
                % (len(sheets) + 1, STYLES_REL))
    ct.append("</Types>")
    wb = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<workbook xmlns="%s" xmlns:r="%s"><sheets>%s</sheets></workbook>'
          % (MAIN_NS, REL_NS, "".join(names)))
    top = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="%s">'
           '<Relationship Id="rId1" Type="%s/officeDocument" Target="xl/workbook.xml"/>'
           '</Relationships>' % (PKG_REL_NS, REL_NS))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in [("[Content_Types].xml", "".join(ct)), ("_rels/.rels", top),
                           ("xl/workbook.xml", wb), ("xl/_rels/workbook.xml.rels", "".join(rels)),
                           ("xl/styles.xml", STYLES)] + parts:
            z.writestr(zipfile.ZipInfo(name, ZIP_DATE), data.encode("utf-8"))
    return buf.getvalue()


def to_ods(xlsx_path, outdir):
    """Convert the xlsx to ods with one soffice run and a throw-away profile."""
    work = tempfile.mkdtemp(prefix="mugai-gen-")
    try:
        cmd = ["soffice", "-env:UserInstallation=file://" + os.path.join(work, "profile"),
               "--headless", "--nologo", "--nodefault", "--nolockcheck", "--norestore",
               "--convert-to", "ods", "--outdir", outdir, xlsx_path]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=180)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def eml_bytes(xlsx):
    """A message with the workbook attached."""
    b64 = base64.encodebytes(xlsx).decode("ascii").replace("\n", "\r\n")
    return ("From: sender@example.org\r\nTo: staff@example.lg.jp\r\n"
            "Subject: sheets\r\nDate: Mon, 1 Apr 2024 09:00:00 +0900\r\n"
            "Message-ID: <sheets@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n売上表を送ります。\r\n"
            "--b\r\nContent-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            "; name=\"sheets.xlsx\"\r\n"
            "Content-Disposition: attachment; filename=\"sheets.xlsx\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--b--\r\n").encode("utf-8")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    xlsx = xlsx_bytes(workbook())
    with open(os.path.join(out, "sheets.xlsx"), "wb") as f:
        f.write(xlsx)
    with open(os.path.join(out, "sheets.eml"), "wb") as f:
        f.write(eml_bytes(xlsx))
    with zipfile.ZipFile(os.path.join(out, "sheets.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("book/sheets.xlsx", ZIP_DATE), xlsx)
    with open(os.path.join(out, "pair.xlsx"), "wb") as f:
        f.write(xlsx_bytes([("表紙", False, [["公開の値", (42, 0)]]),
                            ("非公開", True, [["非公開の値", (7, 0)]])]))
    to_ods(os.path.join(out, "sheets.xlsx"), out)
    expect = {"bidi": BIDI_NAME, "path": PATH_NAME, "long": LONG_NAME}
    with open(os.path.join(out, "expect.json"), "w", encoding="utf-8") as f:
        json.dump(expect, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
