#!/usr/bin/python3
"""Seeds of the html harness: html.py OUTDIR

The harness reads a label, then HTML: a first byte below 0x20 picks a label
from its table (0 none, so that <meta charset> is sniffed; 1 UTF-8,
2 Shift_JIS, 3 ISO-2022-JP, 4 EUC-JP, 5 US-ASCII, 6 ISO-8859-1,
7 windows-1252, 8 CP932, 9 EUC-JP-MS, 10 UTF-16LE, 11 UTF-16BE, 12 UTF-16,
13 KOI8-R, 14 GB18030, 15 x-unknown); otherwise the first line is the label
as a sender wrote it. The pages are those of the test corpus
(tests/gen/make_corpus.py, make_mail_corpus.py) and small ones for each
construct html.c handles: lists, tables (data and layout), links (active
schemes too), images, preformatted text, quotes, forms, hidden content,
bidirectional controls, deep nesting.
"""

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "gen"))
import make_corpus as mc  # noqa: E402
import make_mail_corpus as mm  # noqa: E402

SMALL = [
    "<ul><li>一<ul><li>二</li></ul></li><li>三</li></ul><ol start=3><li>a<li>b</ol>",
    "<table><tr><th>項目</th><th>日時</th></tr><tr><td>説明会</td><td colspan=2>四月</td>"
    "</tr></table><table width=600><tr><td><table><tr><td>入れ子</td></tr></table></td></tr>"
    "</table>",
    "<p><a href=\"https://example.lg.jp/a\">詳細</a> <a href=\" JaVa\tScRiPt:alert(1)\">x</a>"
    " <a href=\"data:text/html,x\">d</a> <a href=\"#top\">t</a> <a href=\"mailto:a@b\">"
    "mailto:a@b</a></p>",
    "<img src=\"x.png\" alt=\"地図\"><img src=\"y.png\"><input type=text value=\"入力\">"
    "<button>送信</button><select><option>選択</option></select>",
    "<pre>  整形済み\n\t本文\n</pre><blockquote>引用<blockquote>二重</blockquote></blockquote>"
    "<dl><dt>用語</dt><dd>説明</dd></dl><hr><h2>見出し</h2>改行<br>次",
    "<div style=\"display:none\">隠し</div><script>alert(1)</script><style>p{}</style>"
    "<noscript>n</noscript><iframe src=x></iframe><svg><text>s</text></svg><template>t"
    "</template>",
    "<p>\u202eevil\u202c <a href=\"https://ex\u202eample.jp\">\u2066x\u2069</a>&#x202E;"
    "&#0;&#x1;\x7f\x0b</p>",
    "<div>" * 300 + "深い" + "</div>" * 300,
    "<ul>" * 80 + "<li>深いリスト" + "</ul>" * 80,
]


def seeds():
    """(label prefix, HTML bytes) pairs."""
    out = [
        (b"\x00", mc.HTML_SJIS.encode("cp932")),
        (b"\x02", mc.HTML_SJIS.encode("cp932")),
        (b"\x00", mm.HTML_BODY.encode("utf-8")),
        (b"\x01", mc.WRITER_HTML.encode("utf-8")),
        (b"\x03", mm.jis(mc.WRITER_HTML.replace("utf-8", "iso-2022-jp"))),
        (b"\x0a", mc.WRITER_HTML.encode("utf-16-le")),
        (b"EUC-JP\n", mc.WRITER_HTML.replace("utf-8", "euc-jp").encode("euc_jp", "replace")),
    ]
    out += [(b"\x01", s.encode("utf-8")) for s in SMALL]
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: html.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for label, page in seeds():
        data = label + page
        with open(os.path.join(argv[1], hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
