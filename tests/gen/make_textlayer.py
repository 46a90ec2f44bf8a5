#!/usr/bin/python3
"""Generate the inputs of the text-layer tests: make_textlayer.py OUTDIR

Every input is made here by script, deterministically: PDFs with PyMuPDF
(python3-fitz) and the IPAex Mincho font, Office files and their reference
PDFs with LibreOffice (one soffice call per target format, throw-away
profile). Where a PDF must carry text that no installed font draws (𠮷) or
that a generator emits for other characters (Kangxi radicals, control and
bidi characters), a font's ToUnicode CMap is rewritten so that its glyphs
stand for those code points, as such PDFs do.

OUTDIR/files/ja_horizontal.pdf  two pages of horizontal Japanese and Latin text
OUTDIR/files/ja_vertical.pdf    vertical writing (an Identity-V font), columns right to left
OUTDIR/files/ja_rotated.pdf     pages with /Rotate 90, 180 and 270
OUTDIR/files/ja_kangxi.pdf      text whose ideographs are Kangxi radicals (⾒ for 見)
OUTDIR/files/ja_nonbmp.pdf      characters beyond the BMP (𠮷, 𩸽)
OUTDIR/files/ja_hidden.pdf      Japanese text, light grey text and a lone ー, with text on the
                                same page that is not drawn (HIDDEN: render mode 3, white on
                                white, blue on blue, covered by a white rectangle), and twice
                                見積書 with a URL glued to it that is not drawn (GLUED: render
                                mode 3, white on white); a second page all of grey with text
                                in greys that the page's grey levels make one (FAINT: a very
                                light grey on white, a grey on a darker grey band)
OUTDIR/files/hostile.pdf        bidi overrides, controls, tags, noncharacters in the text;
                                a second page of 100,000 tiny characters
OUTDIR/files/office.docx, office.xlsx  Office files
OUTDIR/ref/office.docx.pdf, office.xlsx.pdf  LibreOffice's PDFs of them: what pdftotext
                                recovers from the originals is measured on these
"""

import os
import shutil
import subprocess
import sys
import tempfile

import fitz

FONT = "/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"
JA = ("本日は晴天なり。無害化通信の試験です。情報セキュリティ基本方針に基づき、"
      "インターネット接続系から届いたメールは、添付ファイルを画像に変換してから"
      "LGWAN接続系へ送ります。")
JA2 = ("住民票の写しの交付、税務証明書の発行、①㈱Ⅲの機種依存文字、"
       "ＡＢＣ全角英字とｶﾀｶﾅ半角、Version 2.5 (2024年4月1日) 以降。")
LATIN = "The quick brown fox jumps over the lazy dog, 1234567890 times."
GREY = "薄い灰色の注記、読めます。"
HIDDEN = ["https://evil.example/hidden", "WHITEHIDDEN", "BLUEHIDDEN", "COVEREDHIDDEN"]
GLUED = ["https://glued.example/x", "https://glued.example/white"]
FAINT = ["https://faint.example/lightgrey", "https://faint.example/onband"]


def tounicode(mapping):
    """A ToUnicode CMap from {code: text}, two-byte codes, UTF-16BE destinations."""
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
    items = sorted(mapping.items())
    for i in range(0, len(items), 100):
        block = items[i:i + 100]
        lines.append("%d beginbfchar" % len(block))
        for code, text in block:
            dst = text.encode("utf-16-be", "surrogatepass").hex().upper()
            lines.append("<%04X> <%s>" % (code, dst))
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


def retarget(doc, page, fontname, drawn, meant):
    """Make the glyphs of font `fontname` on page stand for other text in extraction:
    drawn[i] is the character whose glyph is drawn, meant[i] the text it stands for."""
    font = fitz.Font(fontfile=FONT)
    mapping = {}
    for d, m in zip(drawn, meant):
        gid = font.has_glyph(ord(d))
        assert gid, d
        assert mapping.get(gid, m) == m, (d, m)
        mapping[gid] = m
    for xref, _ext, _type, _base, name, _enc in page.get_fonts():
        if name == fontname:
            kind, val = doc.xref_get_key(xref, "ToUnicode")
            assert kind == "xref", (kind, val)
            doc.update_stream(int(val.split()[0]), tounicode(mapping))
            return
    raise AssertionError("font %s not on the page" % fontname)


def new_page(doc, rotate=0):
    """An A4 page, rotated by `rotate` degrees when shown."""
    page = doc.new_page(width=595, height=842)
    if rotate:
        page.set_rotation(rotate)
    return page


def textbox(page, rect, text, size=10.5, name="ipa"):
    """Fill rect with text in IPAex Mincho."""
    rc = page.insert_textbox(fitz.Rect(*rect), text, fontname=name, fontfile=FONT,
                             fontsize=size, lineheight=1.5)
    assert rc >= 0, rc


def horizontal(path):
    """Two pages of horizontal text: paragraphs, a heading, Latin, numbers."""
    doc = fitz.open()
    for n in range(2):
        page = new_page(doc)
        textbox(page, (72, 60, 523, 100), "第%d章 業務報告" % (n + 1), size=16)
        textbox(page, (72, 110, 523, 400), (JA + JA2) * 3)
        textbox(page, (72, 420, 523, 520), LATIN * 3, size=11)
        textbox(page, (72, 540, 300, 640), JA2, size=8)
    doc.save(path, garbage=3, deflate=True)


def vertical(path):
    """Vertical writing: an Identity-V font, columns from the right."""
    doc = fitz.open()
    page = new_page(doc)
    cols = [JA[i:i + 30] for i in range(0, len(JA), 30)] + [JA2[:30], JA2[30:]]
    for i, col in enumerate(cols):
        page.insert_text((500 - i * 24, 72), col, fontname="tate", fontfile=FONT, fontsize=16)
    for xref, _ext, _type, _base, name, _enc in page.get_fonts():
        if name == "tate":
            doc.xref_set_key(xref, "Encoding", "/Identity-V")
    doc.save(path, garbage=3, deflate=True)


def rotated(path):
    """Horizontal text on pages shown rotated by 90, 180 and 270 degrees."""
    doc = fitz.open()
    for rot in (90, 180, 270):
        page = new_page(doc, rot)
        textbox(page, (72, 72, 523, 300), "回転%d度のページ。" % rot + JA, size=12)
        textbox(page, (72, 320, 523, 400), LATIN, size=12)
    doc.save(path, garbage=3, deflate=True)


def kangxi(path):
    """Ideographs that extract as Kangxi radicals, as some Japanese generators emit them."""
    drawn = "見積書金額一人入力長高"
    meant = "\u2F92積書\u2FA6額\u2F00\u2F08\u2F0A力\u2FA7\u2FBC"
    doc = fitz.open()
    page = new_page(doc)
    line = "見積書の金額は一人で入力、長高。"
    for i in range(6):
        page.insert_text((72, 100 + 30 * i), line, fontname="kx", fontfile=FONT, fontsize=14)
    used = sorted(set(line))
    meant_all = [meant[drawn.index(c)] if c in drawn else c for c in used]
    retarget(doc, page, "kx", used, meant_all)
    doc.save(path, garbage=3, deflate=True)


def nonbmp(path):
    """𠮷 (drawn with the glyph of 吉: no installed font has it) and 𩸽."""
    doc = fitz.open()
    page = new_page(doc)
    line = "吉野家で𩸽の定食、吉田さん。"
    for i in range(4):
        page.insert_text((72, 100 + 30 * i), line, fontname="nb", fontfile=FONT, fontsize=14)
    used = sorted(set(line))
    retarget(doc, page, "nb", used, ["\U00020BB7" if c == "吉" else c for c in used])
    doc.save(path, garbage=3, deflate=True)


def hidden(path):
    """Text a reader sees, and on the same page, away from it, text no reader sees: the
    strings of HIDDEN, in that order; then two lines of 見積書, each with a string of GLUED
    right after it (same line, font and size, no space) that no reader sees. A second page
    all of grey: text, and the strings of FAINT, which a reader of the original can make
    out but which the page's grey levels make one grey."""
    doc = fitz.open()
    page = new_page(doc)
    textbox(page, (72, 60, 523, 260), JA + JA2)
    page.insert_text((72, 300), GREY, fontname="ipa", fontfile=FONT, fontsize=10.5,
                     color=(0.75, 0.75, 0.75))
    page.insert_text((72, 330), "項目 ー 備考", fontname="ipa", fontfile=FONT, fontsize=10.5)
    url, white, blue, covered = HIDDEN
    page.insert_text((72, 420), url, fontname="ipa", fontfile=FONT, fontsize=12, render_mode=3)
    page.draw_rect(fitz.Rect(60, 480, 400, 520), color=None, fill=(1, 1, 1))
    page.insert_text((72, 500), white, fontname="ipa", fontfile=FONT, fontsize=12,
                     color=(1, 1, 1))
    page.draw_rect(fitz.Rect(60, 560, 400, 600), color=None, fill=(0.2, 0.4, 0.8))
    page.insert_text((72, 580), blue, fontname="ipa", fontfile=FONT, fontsize=12,
                     color=(0.2, 0.4, 0.8))
    page.insert_text((72, 660), covered, fontname="ipa", fontfile=FONT, fontsize=12)
    page.draw_rect(fitz.Rect(60, 640, 400, 680), color=None, fill=(1, 1, 1))
    x = 72 + fitz.Font(fontfile=FONT).text_length("見積書", fontsize=12)
    styles = [{"render_mode": 3}, {"color": (1, 1, 1)}]
    for y, glued, style in zip((730, 760), GLUED, styles):
        page.insert_text((72, y), "見積書", fontname="ipa", fontfile=FONT, fontsize=12)
        page.insert_text((x, y), glued, fontname="ipa", fontfile=FONT, fontsize=12, **style)
    # A page all of grey, which may be written with 4 grey levels or in black and white.
    page = new_page(doc)
    textbox(page, (72, 60, 523, 260), JA2 + JA)
    light, onband = FAINT
    page.insert_text((72, 400), light, fontname="ipa", fontfile=FONT, fontsize=12,
                     color=(0.86, 0.86, 0.86))
    page.draw_rect(fitz.Rect(60, 460, 400, 500), color=None, fill=(0.25, 0.25, 0.25))
    page.insert_text((72, 485), onband, fontname="ipa", fontfile=FONT, fontsize=12,
                     color=(0.42, 0.42, 0.42))
    doc.save(path, garbage=3, deflate=True)


def hostile(path):
    """Text that carries what the layer must drop, and a page of 100,000 tiny characters."""
    doc = fitz.open()
    page = new_page(doc)
    bad = {"A": "\u202E", "B": "\u0007", "C": "\uFFFD", "D": "\U000E0041", "E": "\uFDD0",
           "F": "\u2066", "G": "\u200F", "H": "\u001B", "I": "\u2029", "J": "\uFEFF"}
    line = "安全A確認B文書C本文D試験E終了F表示G改行H区切I印J。"
    for i in range(8):
        page.insert_text((72, 100 + 24 * i), line, fontname="h", fontfile=FONT, fontsize=12)
    used = sorted(set(line))
    retarget(doc, page, "h", used, [bad.get(c, c) for c in used])
    # 4 pt: poppler itself keeps only the first 50,000 characters smaller than 3 units.
    tiny = doc.new_page(width=1200, height=1300)
    rows = ["".join(chr(0x61 + (i * 7 + j * 13) % 26) for j in range(500)) for i in range(200)]
    tiny.insert_text((20, 20), rows, fontname="helv", fontsize=4, lineheight=1.5)
    doc.save(path, garbage=3, deflate=True)


FODT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
<office:styles><style:style style:name="Standard" style:family="paragraph">
<style:text-properties style:font-name="IPAexMincho" style:font-name-asian="IPAexMincho"
 fo:font-size="10.5pt" style:font-size-asian="10.5pt"/></style:style></office:styles>
<office:body><office:text>
<text:h text:outline-level="1">業務報告書</text:h>
{paras}
</office:text></office:body></office:document>
"""

FODS = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
<office:body><office:spreadsheet><table:table table:name="予算">
{rows}
</table:table></office:spreadsheet></office:body></office:document>
"""


def cell(v):
    """One spreadsheet cell of text v."""
    return ('<table:table-cell office:value-type="string"><text:p>%s</text:p>'
            "</table:table-cell>" % v)


def office(out, ref):
    """office.docx and office.xlsx into out, and LibreOffice's PDF of each into ref."""
    work = tempfile.mkdtemp(prefix="mugai-gen-")
    try:
        profile = "-env:UserInstallation=file://" + os.path.join(work, "profile")
        paras = "\n".join("<text:p>%s</text:p>" % p for p in [JA, JA2, LATIN, JA * 2])
        with open(os.path.join(work, "office.fodt"), "w", encoding="utf-8") as f:
            f.write(FODT.format(paras=paras))
        names = ["総務課", "市民課", "税務課", "防災担当", "教育委員会", "情報政策課"]
        rows = "\n".join("<table:table-row>%s%s%s</table:table-row>" %
                         (cell(n), cell("令和%d年度" % (i + 5)), cell("%d円" % (1200 * i + 345)))
                         for i, n in enumerate(names * 3))
        with open(os.path.join(work, "office.fods"), "w", encoding="utf-8") as f:
            f.write(FODS.format(rows=rows))
        soffice = ["soffice", profile, "--headless", "--nologo", "--nodefault", "--nolockcheck",
                   "--norestore", "--convert-to"]
        for src, target in (("office.fodt", "docx:MS Word 2007 XML"),
                            ("office.fods", "xlsx:Calc MS Excel 2007 XML")):
            subprocess.run(soffice + [target, "--outdir", work, os.path.join(work, src)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=180)
        for name in ("office.docx", "office.xlsx"):
            shutil.copyfile(os.path.join(work, name), os.path.join(out, name))
            pdfdir = os.path.join(work, "pdf")
            subprocess.run(soffice + ["pdf", "--outdir", pdfdir, os.path.join(out, name)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=180)
            shutil.copyfile(os.path.join(pdfdir, os.path.splitext(name)[0] + ".pdf"),
                            os.path.join(ref, name + ".pdf"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_textlayer.py OUTDIR")
    out, ref = os.path.join(sys.argv[1], "files"), os.path.join(sys.argv[1], "ref")
    os.makedirs(out, exist_ok=True)
    os.makedirs(ref, exist_ok=True)
    horizontal(os.path.join(out, "ja_horizontal.pdf"))
    vertical(os.path.join(out, "ja_vertical.pdf"))
    rotated(os.path.join(out, "ja_rotated.pdf"))
    kangxi(os.path.join(out, "ja_kangxi.pdf"))
    nonbmp(os.path.join(out, "ja_nonbmp.pdf"))
    hidden(os.path.join(out, "ja_hidden.pdf"))
    hostile(os.path.join(out, "hostile.pdf"))
    office(out, ref)


if __name__ == "__main__":
    main()
