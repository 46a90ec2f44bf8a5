#!/usr/bin/python3
"""Generate the benchmark documents.

  make_doc.py PAGES OUT.fodt         a Japanese text document as a flat ODF file
  make_doc.py --scan PAGES OUT.pdf   a scanned-photo PDF (one JPEG image per page)

Used by bench/run. LibreOffice converts the .fodt to PDF (the PDF "as
LibreOffice exports it") and to .docx for the Office benchmark. The text is
made of deterministic pseudo-random sentences, one heading and several
paragraphs per page, with a page break before every heading.

The scanned PDF is what a multifunction printer sends for a page of photographs
with captions: per A4 page at 200 dpi, two photograph-like pictures (sky and
ground gradients, blurred shapes, a sign with Japanese text in the picture) and a
printed caption under each, the whole page with sensor noise, stored as JPEG
(quality 85) the way scanners store colour pages. Everything is drawn from a
fixed seed with Pillow, so the file is the same on every run.
"""
import random
import sys
from xml.sax.saxutils import escape

SUBJECTS = ["本市", "情報政策課", "各部署", "住民の皆様", "当該システム", "委託事業者",
            "担当職員", "教育委員会", "市民課", "財政課", "保健センター", "防災担当"]
OBJECTS = ["個人情報の取扱い", "ネットワークの分離", "電子メールの無害化", "添付ファイル",
           "予算の執行状況", "窓口業務の改善", "災害時の連絡体制", "住民票の写しの交付",
           "会議資料", "監査の結果", "業務継続計画", "庁内の情報資産"]
VERBS = ["について検討を行いました", "を適切に管理しなければなりません",
         "に関する報告書を提出しました", "の見直しを進めています",
         "について説明会を開催する予定です", "を定期的に点検することとします",
         "に係る手順を文書化しました", "の状況を確認し、必要な措置を講じます"]
EXTRA = ["なお、", "また、", "このため、", "令和七年度においては、", "前年度に引き続き、", ""]


def sentence(rng):
    return (rng.choice(EXTRA) + rng.choice(SUBJECTS) + "は、" + rng.choice(OBJECTS)
            + rng.choice(VERBS) + "。")


def paragraph(rng, n):
    return "".join(sentence(rng) for _ in range(n))


HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
<office:font-face-decls>
 <style:font-face style:name="IPAexMincho" svg:font-family="IPAexMincho"
  xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"/>
 <style:font-face style:name="IPAexGothic" svg:font-family="IPAexGothic"
  xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"/>
</office:font-face-decls>
<office:styles>
 <style:style style:name="Body" style:family="paragraph">
  <style:paragraph-properties fo:margin-bottom="0.2cm" fo:text-indent="0.4cm"/>
  <style:text-properties style:font-name-asian="IPAexMincho" style:font-size-asian="10.5pt"
   style:font-name="IPAexMincho" fo:font-size="10.5pt"/>
 </style:style>
 <style:style style:name="Head" style:family="paragraph">
  <style:paragraph-properties fo:break-before="page" fo:margin-bottom="0.4cm"/>
  <style:text-properties style:font-name-asian="IPAexGothic" style:font-size-asian="16pt"
   style:font-name="IPAexGothic" fo:font-size="16pt" fo:font-weight="bold"
   style:font-weight-asian="bold"/>
 </style:style>
</office:styles>
<office:automatic-styles>
 <style:page-layout style:name="A4">
  <style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm"
   fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="2.5cm" fo:margin-right="2.5cm"/>
 </style:page-layout>
</office:automatic-styles>
<office:master-styles>
 <style:master-page style:name="Standard" style:page-layout-name="A4"/>
</office:master-styles>
<office:body><office:text>
"""

TAIL = "</office:text></office:body></office:document>\n"


SCAN_DPI = 200
SCAN_SIZE = (1654, 2339)  # A4 at 200 dpi
FONT = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"
SIGNS = ["市民課 窓口 受付 9:00〜17:00", "避難所 第二小学校 体育館", "本日の会議は3階 第1会議室",
         "ごみ収集日 火曜・金曜", "防災訓練 11月25日（火）"]


def noise(img, rng, amplitude):
    """img with uniform noise of +-amplitude on each channel (a scanner's sensor noise)."""
    from PIL import Image, ImageChops
    size = img.size[0] * img.size[1]
    chans = [Image.frombytes("L", img.size, rng.randbytes(size))
             .point(lambda v: 128 + (v - 128) * amplitude // 128) for _ in range(3)]
    return ImageChops.add(img, Image.merge("RGB", chans), 1.0, -128)


def picture(rng, size, sign):
    """A photograph-like picture: sky and ground, blurred shapes, a sign with text on it."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont
    w, h = size
    sky = Image.linear_gradient("L").resize((w, h // 2))
    top = Image.merge("RGB", (sky.point(lambda v: 90 + v // 3), sky.point(lambda v: 140 + v // 3),
                              sky.point(lambda v: 230 - v // 8)))
    ground = Image.linear_gradient("L").resize((w, h - h // 2))
    bottom = Image.merge("RGB", (ground.point(lambda v: 60 + v // 3),
                                 ground.point(lambda v: 110 + v // 4),
                                 ground.point(lambda v: 40 + v // 5)))
    img = Image.new("RGB", size)
    img.paste(top, (0, 0))
    img.paste(bottom, (0, h // 2))
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = rng.randrange(-100, w), rng.randrange(h // 4, h)
        rx, ry = rng.randrange(40, 260), rng.randrange(30, 200)
        colour = tuple(rng.randrange(20, 230) for _ in range(3))
        d.ellipse((x - rx, y - ry, x + rx, y + ry), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(6))
    d = ImageDraw.Draw(img)
    for _ in range(700):  # grass and leaves: the fine detail of a real photograph
        x, y = rng.randrange(0, w), rng.randrange(h // 2, h)
        colour = (rng.randrange(30, 120), rng.randrange(80, 170), rng.randrange(20, 90))
        d.ellipse((x, y, x + rng.randrange(3, 14), y + rng.randrange(6, 30)), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 34)
    box = d.textbbox((0, 0), sign, font=font)
    sx, sy = rng.randrange(40, max(41, w - box[2] - 80)), rng.randrange(40, h // 3)
    d.rectangle((sx - 16, sy - 12, sx + box[2] + 16, sy + box[3] + 14), fill=(238, 236, 228),
                outline=(40, 60, 120), width=4)
    d.text((sx, sy), sign, font=font, fill=(25, 35, 80))
    return img.filter(ImageFilter.GaussianBlur(0.8))


def scan_page(rng, n):
    """Page n of the scanned PDF."""
    from PIL import Image, ImageDraw, ImageFont
    page = Image.new("RGB", SCAN_SIZE, (244, 242, 236))
    d = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 30)
    for i in range(2):
        y = 130 + i * 1080
        page.paste(picture(rng, (1414, 880), rng.choice(SIGNS)), (120, y))
        d.text((120, y + 905), "写真%d-%d　%s（撮影：%s）" % (n, i + 1, rng.choice(OBJECTS),
                                                      rng.choice(SUBJECTS)),
               font=font, fill=(30, 30, 30))
    return noise(page, rng, 10)


def scan(pages, out):
    """Write the scanned-photo PDF of pages pages to out."""
    rng = random.Random(20261126)
    imgs = [scan_page(rng, p + 1) for p in range(pages)]
    imgs[0].save(out, "PDF", save_all=True, append_images=imgs[1:], resolution=SCAN_DPI,
                 quality=85)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--scan":
        scan(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) != 3:
        sys.exit("usage: make_doc.py PAGES OUT.fodt | make_doc.py --scan PAGES OUT.pdf")
    pages = int(sys.argv[1])
    rng = random.Random(20261125)
    out = [HEAD]
    for p in range(1, pages + 1):
        out.append('<text:p text:style-name="Head">第%d章 業務報告（%d）</text:p>\n' % (p, p))
        for _ in range(10):
            out.append('<text:p text:style-name="Body">%s</text:p>\n'
                       % escape(paragraph(rng, 5)))
    out.append(TAIL)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("".join(out))


if __name__ == "__main__":
    main()
