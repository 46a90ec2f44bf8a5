#!/usr/bin/python3
"""Seeds of the charset harness: charset.py OUTDIR

The harness reads a label, then text: a first byte below 0x20 picks a label
from its table (bits 0-3: 0 none, 1 UTF-8, 2 Shift_JIS, 3 ISO-2022-JP,
4 EUC-JP, 5 US-ASCII, 6 ISO-8859-1, 7 windows-1252, 8 CP932, 9 EUC-JP-MS,
10 ISO-2022-JP-2, 11 ISO-2022-JP-3, 12 UTF-16LE, 13 KOI8-R, 14 GB18030,
15 x-unknown) and a fallback list (bit 4); otherwise the first line is the
label as a sender wrote it. The texts are those of the test corpus
(tests/gen/make_corpus.py, make_mail_corpus.py) in every Japanese encoding,
right and wrong labels, byte-order marks, text cut inside a character, JIS
escapes of every designation and half-width kana.
"""

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "gen"))
import make_corpus as mc  # noqa: E402
import make_mail_corpus as mm  # noqa: E402

TEXT = mc.text_body(True)
PLAIN = mc.text_body(False)


def seeds():
    """(label prefix, text bytes) pairs."""
    utf8 = TEXT.encode("utf-8")
    sjis = TEXT.encode("cp932")
    return [
        (b"\x00", utf8),
        (b"\x01", utf8),
        (b"\x02", sjis),
        (b"\x03", mm.jis(TEXT)),
        (b"\x04", PLAIN.encode("euc_jp")),
        (b"\x09", PLAIN.encode("euc_jp")),
        (b"\x00", sjis),
        (b"\x10", PLAIN.encode("euc_jp")),
        (b"\x13", mm.jis(TEXT)),
        (b"\x00", utf8[:-2]),  # cut inside the last character
        (b"\x0c", b"\xff\xfe" + PLAIN.encode("utf-16-le")),
        (b"\x00", b"\xfe\xff" + PLAIN.encode("utf-16-be")),
        (b"\x06", utf8),  # a lying label on UTF-8
        (b"\x0d", "Привет".encode("koi8_r")),
        (b"\x0e", "中文文本".encode("gb18030")),
        (b"\x0f", sjis),
        (b"Shift_JIS\n", sjis),
        (b"\"iso-2022-jp\"\n", b"\x1b$B$3$s\x1b(B \x1b(I1\x1b(B \x1b$(D0!\x1b(B \x1b(J\\~\x1b(B"
         b" \x0e12\x0f"),
        (b"UTF-8//TRANSLIT\n", utf8),
        (b"x-mac-japanese\n", sjis),
        (b"EUC-JP\n", b"\x8f\xb0\xa1 \x8e\xb1 " + PLAIN.encode("euc_jp")),
        (b"utf-8\n", b"\xef\xbb\xbf" + utf8 + b"\x00\xc0\x80"),
    ]


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: charset.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for label, text in seeds():
        data = label + text
        with open(os.path.join(argv[1], hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
