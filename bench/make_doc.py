#!/usr/bin/python3
"""Generate a Japanese text document of N pages as a flat ODF file (.fodt).

Used by bench/run: LibreOffice converts the .fodt to PDF (the PDF "as
LibreOffice exports it") and to .docx for the Office benchmark. The text is
made of deterministic pseudo-random sentences, one heading and several
paragraphs per page, with a page break before every heading.

usage: make_doc.py PAGES OUT.fodt
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


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_doc.py PAGES OUT.fodt")
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
