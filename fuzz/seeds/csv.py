#!/usr/bin/python3
"""Seeds of the csv harness: csv.py OUTDIR

CSV and TSV texts of the tests (tests/gen/make_corpus.py,
tests/gen/make_mail_corpus.py, tests/csv/test_csv_trusted.py) and small ones
for each rule of common/csv.c: formulas after blanks and in fullwidth forms,
a first line "sep=", byte-order marks, quotes inside and after quoted cells,
an unterminated quote, every kind of line break, empty cells and lines, cells
already prefixed.
"""

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "..", "tests")
sys.path.insert(0, os.path.join(TESTS, "gen"))
sys.path.insert(0, os.path.join(TESTS, "csv"))
import make_corpus as mc  # noqa: E402
import make_mail_corpus as mm  # noqa: E402
import test_csv_trusted as tc  # noqa: E402

SMALL = [
    "sep=;\r\na;=1;b\r\n",
    "\ufeff=SUM(A1)\n\ufeff\ufeff@x,y\n",
    " \u3000\u00a0=1, \u200b+2,\u2060-3,\ufeff@4\n",
    "\uff1d1+1,\uff0b2,\uff0d3,\uff20A1\n",
    "\"a\"b\"c\",\"unterminated\n=1,2\r",
    "a,,\r\n,\r\n\r\n\n\r,,\"\"\n",
    "'=already,\"'+1\",''@x\n",
    "x\ty,\"a\tb\"\t=c\r\n-1\t+2\n",
]


def seeds():
    """The seed texts, UTF-8 (str or bytes)."""
    rows = [["名前", "式", "備考"], ["山田太郎", "=1+2", "通常"],
            ["鈴木花子", "+cmd|' /C calc'!A0", "危険"], ["佐藤次郎", "@SUM(A1)", "関数"]]
    data = "\r\n".join(",".join(r) for r in rows) + "\r\n"
    return [data, mc.CALC_CSV, mm.CSV_DATA, tc.COMMA, tc.TABS] + SMALL


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: csv.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for text in seeds():
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        with open(os.path.join(argv[1], hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
