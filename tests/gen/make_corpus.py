#!/usr/bin/python3
"""Generate the sanitize-file test corpus: make_corpus.py OUTDIR

Every input is made here by script (nothing downloaded, nothing binary in the
repository) and deterministically. Office documents are converted by
LibreOffice, one soffice call per target format, with a throw-away profile.

OUTDIR/files/<name>     the inputs
OUTDIR/manifest.json    one entry per input with what the end-to-end test
                        expects (verdicts allowed, kinds, output extension,
                        text that must or must not appear, ...)
"""

import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clamdb  # noqa: E402

from PIL import Image, ImageDraw, PngImagePlugin  # noqa: E402

JA = "本日は晴天なり。無害化通信の試験です。"
JA_EXT = "①㈱Ⅲ"
ZIP_DATE = (2024, 4, 1, 9, 0, 0)

MANIFEST = []


def entry(name, expect, kinds=(), ext=(), **more):
    """Record what the test expects of input `name`."""
    e = {
        "name": name,
        "expect": list(expect),
        "kinds": list(kinds),
        "ext": list(ext),
        "pages": None,
        "dims": None,
        "text": [],
        "absent": [],
        "reason_any": [],
        "pdf_checks": False,
        "ink": False,
        "csv_formulas": [],
        "fast": False,
        "max_seconds": 120,
    }
    e.update(more)
    MANIFEST.append(e)


def put(outdir, name, data):
    """Write bytes to outdir/files/name."""
    path = os.path.join(outdir, "files", name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------- PDF by hand


def pdf_stream(dictbody, data):
    """Return a PDF stream object body."""
    return b"<< " + dictbody + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def pdf_build(objs):
    """Assemble numbered objects (1-based list of bodies) with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def page_text(lines, y0=760):
    """Content stream drawing ASCII lines in Helvetica plus a dark bar."""
    ops = [b"0.1 0.1 0.5 rg 60 780 475 20 re f 0 g"]
    for i, line in enumerate(lines):
        ops.append(b"BT /F1 18 Tf 72 %d Td (%s) Tj ET" % (y0 - 30 * i, line.encode("ascii")))
    return b"\n".join(ops)


def pdf_active():
    """One page with every kind of active content a PDF can carry."""
    content = page_text(["Mugai active PDF test page", "Visible text on the page.",
                         "OpenAction, AA, Launch, URI, attachment, form."])
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /AA << /WC 6 0 R >>"
        b" /Names << /EmbeddedFiles << /Names [(secret.txt) 7 0 R] >>"
        b" /JavaScript << /Names [(init) 5 0 R] >> >>"
        b" /AcroForm << /Fields [10 0 R] /NeedAppearances true"
        b" /DR << /Font << /Helv 4 0 R >> >> /DA (/Helv 12 Tf 0 g) >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 9 0 R"
        b" /Annots [10 0 R 11 0 R 12 0 R] /AA << /O 6 0 R >> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Action /S /JavaScript /JS (app.alert\\('MUGAI-OPENACTION'\\);) >>",
        b"<< /Type /Action /S /JavaScript /JS (app.alert\\('MUGAI-AA'\\);) >>",
        b"<< /Type /Filespec /F (secret.txt) /UF (secret.txt) /EF << /F 8 0 R >> >>",
        pdf_stream(b"/Type /EmbeddedFile", b"MUGAI-EMBEDDED-PAYLOAD\n"),
        pdf_stream(b"", content),
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (MUGAI-FORMVALUE)"
        b" /Rect [72 600 300 630] /P 3 0 R /F 4 /DA (/Helv 12 Tf 0 g) >>",
        b"<< /Type /Annot /Subtype /Link /Rect [72 500 300 520] /Border [0 0 0]"
        b" /A << /S /URI /URI (http://evil.example/track) >> >>",
        b"<< /Type /Annot /Subtype /Link /Rect [72 450 300 470] /Border [0 0 0]"
        b" /A << /S /Launch /F (cmd.exe) /Win << /F (cmd.exe) /P (/c calc) >> >> >>",
    ]
    return pdf_build(objs)


def pdf_multipage(n=3):
    """n plain pages, each with its number written on it."""
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(n):
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
                    b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i))
        objs.append(pdf_stream(b"", page_text(["Page %d of %d" % (i + 1, n)])))
    return pdf_build(objs)


def gen_pdfs(out):
    """Hand-made PDFs: active content, multi-page, encrypted, corrupt, random."""
    put(out, "pdf_active.pdf", pdf_active())
    entry("pdf_active.pdf", ["sanitized"], ["pdf"], [".pdf"], pages=1, pdf_checks=True,
          ink=True, fast=True,
          absent=["MUGAI-OPENACTION", "MUGAI-AA", "MUGAI-EMBEDDED-PAYLOAD", "MUGAI-FORMVALUE",
                  "evil.example", "cmd.exe"])
    multi = pdf_multipage(3)
    put(out, "pdf_multipage.pdf", multi)
    entry("pdf_multipage.pdf", ["sanitized"], ["pdf"], [".pdf"], pages=3, pdf_checks=True,
          ink=True, fast=True)
    src = put(out, "pdf_multipage.pdf", multi)
    dst = os.path.join(out, "files", "pdf_encrypted.pdf")
    subprocess.run(["qpdf", "--static-id", "--static-aes-iv", "--encrypt", "user", "owner", "256", "--",
                    src, dst], check=True)
    entry("pdf_encrypted.pdf", ["held"], ["encrypted"], reason_any=["encrypt", "password"],
          max_seconds=30)
    cut = multi.index(b"2 0 obj") + 20
    put(out, "pdf_corrupt.pdf", multi[:cut])
    entry("pdf_corrupt.pdf", ["failed", "blocked"], max_seconds=30)
    rnd = random.Random(20240401)
    put(out, "pdf_random.pdf", rnd.randbytes(4096))
    entry("pdf_random.pdf", ["failed", "blocked"], max_seconds=30)


# ---------------------------------------------------------------- Office


WRITER_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>試験文書</title></head>
<body>
<h1>無害化試験文書</h1>
<p style="font-size:20pt">{ja}{ext}</p>
<p>株式会社（㈱）の表記と丸数字①②③、ローマ数字Ⅲを含みます。</p>
<table border="1"><tr><td>品名</td><td>数量</td></tr><tr><td>りんご</td><td>3</td></tr></table>
</body></html>
""".format(ja=JA, ext=JA_EXT)

CALC_CSV = "品名,数量,単価\n" + "".join(
    "{ja}{i},{i},{p}\n".format(ja=JA, i=i, p=100 + i) for i in range(1, 31))


def fodp_source():
    """A one-slide flat ODF presentation with Japanese text."""
    return """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"
 office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.presentation">
 <office:body><office:presentation>
  <draw:page draw:name="page1">
   <draw:frame svg:x="2cm" svg:y="2cm" svg:width="22cm" svg:height="4cm">
    <draw:text-box><text:p>無害化試験スライド</text:p></draw:text-box>
   </draw:frame>
   <draw:frame svg:x="2cm" svg:y="7cm" svg:width="22cm" svg:height="8cm">
    <draw:text-box><text:p>{ja}{ext}</text:p></draw:text-box>
   </draw:frame>
  </draw:page>
 </office:presentation></office:body>
</office:document>
""".format(ja=JA, ext=JA_EXT)


def soffice(profile, workdir, target, infilter, srcs):
    """Convert srcs to `target` in one soffice call; return the output dir."""
    outdir = os.path.join(workdir, "out-" + target.split(":")[0])
    os.makedirs(outdir, exist_ok=True)
    cmd = ["soffice", "-env:UserInstallation=file://" + profile, "--headless", "--nologo",
           "--nodefault", "--nolockcheck", "--norestore"]
    if infilter:
        cmd.append("--infilter=" + infilter)
    cmd += ["--convert-to", target, "--outdir", outdir] + srcs
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=180)
    return outdir


def gen_office(out):
    """Office files from generated sources, one soffice call per target format."""
    work = tempfile.mkdtemp(prefix="mugai-gen-")
    try:
        profile = os.path.join(work, "profile")
        srcdir = os.path.join(work, "src")
        os.makedirs(srcdir)
        with open(os.path.join(srcdir, "writer.html"), "w", encoding="utf-8") as f:
            f.write(WRITER_HTML)
        with open(os.path.join(srcdir, "calc.csv"), "w", encoding="utf-8") as f:
            f.write(CALC_CSV)
        with open(os.path.join(srcdir, "impress.fodp"), "w", encoding="utf-8") as f:
            f.write(fodp_source())
        writer = [os.path.join(srcdir, "writer.html")]
        calc = [os.path.join(srcdir, "calc.csv")]
        impress = [os.path.join(srcdir, "impress.fodp")]
        jobs = [
            ("pdf:writer_pdf_Export", "HTML (StarWriter)", writer, "writer", "ja_text.pdf"),
            ("docx:MS Word 2007 XML", "HTML (StarWriter)", writer, "writer", "office_docx.docx"),
            ("odt", "HTML (StarWriter)", writer, "writer", "office_odt.odt"),
            ("doc:MS Word 97", "HTML (StarWriter)", writer, "writer", "office_doc.doc"),
            ("rtf", "HTML (StarWriter)", writer, "writer", "office_rtf.rtf"),
            ("xlsx", "CSV:44,34,76,1", calc, "calc", "office_xlsx.xlsx"),
            ("ods", "CSV:44,34,76,1", calc, "calc", "office_ods.ods"),
            ("xls", "CSV:44,34,76,1", calc, "calc", "office_xls.xls"),
            ("pptx", None, impress, "impress", "office_pptx.pptx"),
            ("odp", None, impress, "impress", "office_odp.odp"),
            ("ppt", None, impress, "impress", "office_ppt.ppt"),
        ]
        for target, infilter, srcs, stem, final in jobs:
            odir = soffice(profile, work, target, infilter, srcs)
            ext = target.split(":")[0]
            shutil.copyfile(os.path.join(odir, stem + "." + ext),
                            os.path.join(out, "files", final))
            if final == "ja_text.pdf":
                entry(final, ["sanitized"], ["pdf"], [".pdf"], pdf_checks=True, ink=True)
            else:
                entry(final, ["sanitized"], ["office"], [".pdf"], pdf_checks=True, ink=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def zip_bytes(members):
    """A deterministic zip from (name, bytes) pairs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def vba_bin():
    """A real VBA project (an OLE compound file with compressed module source, as Office
    writes it: tests/office/office_docs.py) whose module runs a command on opening."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "office"))
    try:
        import office_docs
    finally:
        sys.path.pop(0)
    src = ('Attribute VB_Name = "MugaiMacro"\nSub AutoOpen()\n'
           '  Shell "cmd /c MUGAI-MACRO-PAYLOAD"\nEnd Sub\n')
    return office_docs.cfb(office_docs.vba_project([("MugaiMacro", src, False)]))

RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFDOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
VBA_REL = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"


def docm_bytes():
    """A macro-enabled Word document with a vbaProject.bin part."""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
          '<Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/>'
          '<Override PartName="/word/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/>'
          '</Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="%s"><Relationship Id="rId1" Type="%s" Target="word/document.xml"/>'
            '</Relationships>' % (RELS_NS, OFFDOC))
    docrels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<Relationships xmlns="%s"><Relationship Id="rId1" Type="%s" Target="vbaProject.bin"/>'
               '</Relationships>' % (RELS_NS, VBA_REL))
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           '<w:body><w:p><w:r><w:rPr><w:sz w:val="40"/></w:rPr><w:t>%s%s</w:t></w:r></w:p>'
           '<w:p><w:r><w:t>Macro document MUGAI</w:t></w:r></w:p></w:body></w:document>'
           % (JA, JA_EXT))
    return zip_bytes([("[Content_Types].xml", ct), ("_rels/.rels", rels),
                      ("word/document.xml", doc), ("word/_rels/document.xml.rels", docrels),
                      ("word/vbaProject.bin", vba_bin())])


def xlsm_bytes():
    """A macro-enabled workbook with a vbaProject.bin part."""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/>'
          '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
          '<Override PartName="/xl/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/>'
          '</Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="%s"><Relationship Id="rId1" Type="%s" Target="xl/workbook.xml"/>'
            '</Relationships>' % (RELS_NS, OFFDOC))
    wbrels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
              '<Relationships xmlns="%s">'
              '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
              '<Relationship Id="rId2" Type="%s" Target="vbaProject.bin"/>'
              '</Relationships>' % (RELS_NS, VBA_REL))
    wb = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
          ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
          '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetData>%s</sheetData></worksheet>'
             % "".join('<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c>'
                       '<c r="B%d"><v>%d</v></c></row>' % (i, i, JA, i, 40 + i)
                       for i in range(1, 31)))
    return zip_bytes([("[Content_Types].xml", ct), ("_rels/.rels", rels),
                      ("xl/workbook.xml", wb), ("xl/_rels/workbook.xml.rels", wbrels),
                      ("xl/worksheets/sheet1.xml", sheet), ("xl/vbaProject.bin", vba_bin())])


AGILE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    '<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption"'
    ' xmlns:p="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
    '<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES"'
    ' cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
    '<keyEncryptors><keyEncryptor uri="http://schemas.microsoft.com/office/2006/keyEncryptor/password">'
    '<p:encryptedKey spinCount="100000" saltSize="16" blockSize="16" keyBits="256" hashSize="64"'
    ' cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"'
    ' saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/></keyEncryptor></keyEncryptors></encryption>')


def cfb_dirent(name, kind, right, child, start, size):
    """One 128-byte compound-file directory entry."""
    raw = name.encode("utf-16-le") + b"\0\0" if name else b""
    return (raw.ljust(64, b"\0") + struct.pack("<HBBIII", len(raw), kind, 1, 0xFFFFFFFF, right,
                                               child)
            + b"\0" * 16 + b"\0" * 4 + b"\0" * 16 + struct.pack("<IQ", start, size))


def encrypted_ooxml():
    """A password-protected OOXML file as Office writes it: a compound file
    holding EncryptionInfo (agile) and EncryptedPackage streams. The
    ciphertext is random; only the structure matters to a classifier."""
    end, free = 0xFFFFFFFE, 0xFFFFFFFF
    info = (struct.pack("<HHI", 4, 4, 0x40) + AGILE_XML.encode("ascii")).ljust(4096, b"\0")
    package = struct.pack("<Q", 12000) + random.Random(11).randbytes(4088)
    fat = [0xFFFFFFFD, end] + list(range(3, 10)) + [end] + list(range(11, 18)) + [end]
    fat += [free] * (128 - len(fat))
    hdr = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
           + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
           + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
           + struct.pack("<I", 0) + struct.pack("<I", free) * 108)
    dirs = (cfb_dirent("Root Entry", 5, free, 1, end, 0)
            + cfb_dirent("EncryptionInfo", 2, 2, free, 2, len(info))
            + cfb_dirent("EncryptedPackage", 2, free, free, 10, len(package))
            + cfb_dirent("", 0, free, free, 0, 0))
    return hdr + struct.pack("<128I", *fat) + dirs + info + package


def gen_macro(out):
    """Macro-bearing OOXML: the output must be pixels with no macro trace."""
    absent = ["MUGAI-MACRO-PAYLOAD", "MugaiMacro", "vbaProject", "AutoOpen"]
    put(out, "macro_docm.docm", docm_bytes())
    entry("macro_docm.docm", ["sanitized"], ["office"], [".pdf"], pdf_checks=True, ink=True,
          absent=absent)
    put(out, "macro_xlsm.xlsm", xlsm_bytes())
    entry("macro_xlsm.xlsm", ["sanitized"], ["office"], [".pdf"], pdf_checks=True, ink=True,
          absent=absent)
    put(out, "office_encrypted.docx", encrypted_ooxml())
    entry("office_encrypted.docx", ["held"], ["encrypted"], reason_any=["encrypt", "password"],
          max_seconds=60)


# ---------------------------------------------------------------- images


def picture(w, h, mode="RGB"):
    """A deterministic test picture with shapes and a gradient."""
    img = Image.new(mode, (w, h), "white")
    d = ImageDraw.Draw(img)
    for x in range(0, w, 4):
        d.line([(x, 0), (x, h // 3)], fill=(x * 255 // w, 80, 160))
    d.rectangle([w // 8, h // 2, w // 2, h - 10], fill=(20, 20, 20))
    d.ellipse([w // 2, h // 2, w - 10, h - 10], fill=(200, 30, 30))
    return img


def png_bomb():
    """A valid PNG claiming 30000x30000 pixels (1-bit grey, all zero rows)."""
    w = h = 30000
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (w + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 1000) for _ in range(h // 1000)]
    parts.append(comp.flush())
    idat = b"".join(parts)

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def save(img, fmt, **kw):
    """Encode a PIL image to bytes."""
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def gen_images(out):
    """Images with metadata, animation, odd formats, a bomb and a truncation."""
    img = picture(320, 200)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Author", "MUGAI-PNG-AUTHOR")
    meta.add_itxt("Comment", "MUGAI-PNG-ITXT 秘密", lang="ja", tkey="コメント")
    put(out, "img_meta.png", save(img, "PNG", pnginfo=meta))
    entry("img_meta.png", ["sanitized"], ["image"], [".png"], dims=[320, 200], fast=True,
          absent=["MUGAI-PNG-AUTHOR", "MUGAI-PNG-ITXT"])
    exif = Image.Exif()
    exif[0x010F] = "MUGAI-CAMERA-MAKER"
    exif[0x0131] = "MUGAI-SOFTWARE"
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}
    put(out, "img_exif_gps.jpg", save(picture(640, 480), "JPEG", quality=90, exif=exif))
    entry("img_exif_gps.jpg", ["sanitized"], ["image"], [".jpg", ".png"], dims=[640, 480],
          fast=True, absent=["MUGAI-CAMERA-MAKER", "MUGAI-SOFTWARE"])
    frames = [picture(160, 120).rotate(90 * i) for i in range(3)]
    frames = [f.convert("P", palette=Image.ADAPTIVE) for f in frames]
    put(out, "img_anim.gif", save(frames[0], "GIF", save_all=True, append_images=frames[1:],
                                  duration=200, loop=0))
    entry("img_anim.gif", ["sanitized"], ["image"], [".png"], dims=[160, 120], fast=True)
    put(out, "img_bmp.bmp", save(picture(200, 100), "BMP"))
    entry("img_bmp.bmp", ["sanitized"], ["image"], [".png"], dims=[200, 100], fast=True)
    put(out, "img_tiff.tiff", save(picture(210, 110), "TIFF", compression="tiff_lzw"))
    entry("img_tiff.tiff", ["sanitized"], ["image"], [".png"], dims=[210, 110], fast=True)
    put(out, "img_webp.webp", save(picture(220, 120), "WEBP", lossless=True))
    entry("img_webp.webp", ["sanitized"], ["image"], [".png", ".jpg"], dims=[220, 120],
          fast=True)
    put(out, "img_bomb.png", png_bomb())
    entry("img_bomb.png", ["blocked", "failed"],
          reason_any=["pixel", "limit", "large", "dimension", "size", "bound"], max_seconds=30)
    jpg = save(picture(640, 480), "JPEG", quality=90)
    put(out, "img_truncated.jpg", jpg[: len(jpg) // 2])
    entry("img_truncated.jpg", ["failed", "blocked", "sanitized"], ["image"], [".jpg", ".png"],
          max_seconds=30)


# ---------------------------------------------------------------- HTML, text, CSV


HTML_SJIS = """<html><head><meta charset="Shift_JIS"><title>お知らせ</title>
<style>body {{ color: red }} .MUGAI-STYLE-BODY {{ display: none }}</style>
<script>var x = "MUGAI-SCRIPT-BODY"; alert(x);</script>
</head><body onload="alert('MUGAI-ONLOAD')">
<h1>市役所からのお知らせ</h1>
<p>{ja}{ext}</p>
<ul><li>項目その一</li><li>項目その二</li></ul>
<ol><li>手順その一</li></ol>
<table><tr><td>セルA1</td><td>セルB1</td></tr><tr><td>セルA2</td><td>セルB2</td></tr></table>
<p><a href="https://www.city.example.lg.jp/oshirase">詳細はこちら</a>
<a href="javascript:alert('MUGAI-JSLINK')">クリック</a></p>
<iframe src="https://evil.example/frame"></iframe>
</body></html>
""".format(ja=JA, ext=JA_EXT)


def text_body(ext):
    """A few lines of Japanese prose; `ext` adds the CP932-only characters."""
    lines = [
        "件名：無害化通信の試験について",
        JA + (JA_EXT if ext else ""),
        "市民課の皆様へ。添付ファイルを確認してください。",
        "以上、よろしくお願いいたします。",
    ]
    return "\r\n".join(lines) + "\r\n"


def gen_text(out):
    """HTML and text in the Japanese encodings, and a CSV with formulas."""
    put(out, "html_sjis.html", HTML_SJIS.encode("cp932"))
    entry("html_sjis.html", ["sanitized"], ["html", "text"], [".txt"], fast=True,
          text=[JA + JA_EXT, "https://www.city.example.lg.jp/oshirase", "セルA1", "セルB2",
                "項目その一", "市役所からのお知らせ"],
          absent=["<script", "MUGAI-SCRIPT-BODY", "MUGAI-STYLE-BODY", "MUGAI-ONLOAD", "<iframe"])
    for name, codec, ext in [("text_utf8.txt", "utf-8", True), ("text_sjis.txt", "cp932", True),
                             ("text_eucjp.txt", "euc_jp", False),
                             ("text_iso2022jp.txt", "iso2022_jp", False)]:
        put(out, name, text_body(ext).encode(codec))
        entry(name, ["sanitized"], ["text"], [".txt"], fast=True,
              text=[JA + (JA_EXT if ext else ""), "市民課の皆様へ"])
    rows = [["名前", "式", "備考"], ["山田太郎", "=1+2", "通常"],
            ["鈴木花子", "+cmd|' /C calc'!A0", "危険"], ["佐藤次郎", "@SUM(A1)", "関数"],
            ["高橋一郎", "-2+3", "マイナス"], ["①㈱Ⅲ", "123", "普通"]]
    data = "\r\n".join(",".join(r) for r in rows) + "\r\n"
    put(out, "data.csv", data.encode("utf-8"))
    entry("data.csv", ["sanitized"], ["csv"], [".csv"], fast=True,
          text=["山田太郎", "鈴木花子", "①㈱Ⅲ"],
          csv_formulas=["=1+2", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3"])


# ---------------------------------------------------------------- must be blocked


def pe_stub():
    """A minimal PE32 image: MZ header, PE signature, COFF and optional header."""
    mz = bytearray(0x80)
    mz[0:2] = b"MZ"
    struct.pack_into("<I", mz, 0x3C, 0x80)
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    opt = bytearray(0xE0)
    struct.pack_into("<HBBIII", opt, 0, 0x10B, 14, 0, 0x200, 0, 0)
    struct.pack_into("<IIII", opt, 16, 0x1000, 0x1000, 0x2000, 0x400000)
    struct.pack_into("<II", opt, 32, 0x1000, 0x200)
    struct.pack_into("<H", opt, 68, 3)  # subsystem: console
    struct.pack_into("<I", opt, 92, 16)  # NumberOfRvaAndSizes
    sect = struct.pack("<8sIIIIIIHHI", b".text", 0x10, 0x1000, 0x200, 0x200, 0, 0, 0, 0,
                       0x60000020)
    img = bytes(mz) + coff + bytes(opt) + sect
    return img + b"\0" * (0x200 - len(img)) + b"\xc3" + b"\0" * 0x1FF


def lnk_stub():
    """A minimal Windows shell link: header with the ShellLink CLSID."""
    clsid = bytes.fromhex("0114020000000000c000000000000046")
    hdr = struct.pack("<I16sII", 0x4C, clsid, 0x00000080, 0x20) + b"\0" * 24
    hdr += struct.pack("<IIIHH", 0, 0, 1, 0, 0) + b"\0" * 8
    assert len(hdr) == 0x4C
    return hdr + b"\0\0\0\0"


def iso_stub():
    """32 KiB system area, a primary volume descriptor and a terminator."""
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[40:72] = b"MUGAI_TEST".ljust(32)
    struct.pack_into("<I", pvd, 80, 32)
    struct.pack_into(">I", pvd, 84, 32)
    struct.pack_into("<H", pvd, 128, 2048)
    struct.pack_into(">H", pvd, 130, 2048)
    term = bytearray(2048)
    term[0:7] = b"\xffCD001\x01"
    data = b"\0" * 0x8000 + bytes(pvd) + bytes(term)
    return data + b"\0" * (32 * 2048 - len(data))


def gen_blocked(out):
    """Inputs that must be blocked: no output, a reason, exit code 1."""
    with open("/bin/true", "rb") as f:
        elf = f.read()
    put(out, "invoice.pdf", elf)
    entry("invoice.pdf", ["blocked"], ["mismatch", "executable"],
          reason_any=["elf", "exec", "mismatch"])
    put(out, "tool.exe", elf)
    entry("tool.exe", ["blocked"], ["executable"])
    put(out, "setup.exe", pe_stub())
    entry("setup.exe", ["blocked"], ["executable"])
    put(out, "script.sh", b"#!/bin/sh\necho MUGAI-SHELL\nrm -rf \"$HOME/tmp-mugai\"\n")
    entry("script.sh", ["blocked"], ["script"])
    put(out, "payload.js", b"var s = new ActiveXObject('WScript.Shell');\n"
        b"s.Run('cmd /c echo MUGAI-JS');\nfunction f(a) { return a + 1; }\n")
    entry("payload.js", ["blocked"], ["script"])
    put(out, "shortcut.lnk", lnk_stub())
    entry("shortcut.lnk", ["blocked"], ["shortcut"])
    put(out, "disk.iso", iso_stub())
    entry("disk.iso", ["blocked"], ["disk-image"])
    put(out, "eicar.txt", make_clamdb.eicar_bytes())
    entry("eicar.txt", ["blocked"], ["virus"], reason_any=[make_clamdb.SIG_NAME],
          signature=make_clamdb.SIG_NAME)
    put(out, "blob.qzx", random.Random(7).randbytes(3000))
    entry("blob.qzx", ["blocked"], ["unknown"])


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: make_corpus.py OUTDIR\n")
        return 2
    out = os.path.abspath(argv[1])
    shutil.rmtree(os.path.join(out, "files"), ignore_errors=True)
    os.makedirs(os.path.join(out, "files"))
    gen_pdfs(out)
    gen_images(out)
    gen_text(out)
    gen_blocked(out)
    gen_macro(out)
    if os.environ.get("MUGAI_NO_OFFICE") != "1":
        gen_office(out)
    make_clamdb.write_db(os.path.join(out, "clamdb"))
    stems = [os.path.splitext(e["name"])[0] for e in MANIFEST]
    if len(set(stems)) != len(stems):
        raise SystemExit("make_corpus: two inputs share a stem; their outputs would collide")
    for e in MANIFEST:
        with open(os.path.join(out, "files", e["name"]), "rb") as f:
            e["sha256"] = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"version": 1, "files": MANIFEST}, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
