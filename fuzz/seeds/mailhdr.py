#!/usr/bin/python3
"""Seeds of the mailhdr harness: mailhdr.py OUTDIR

One file per header field, "Name: value" as it stands in a message: the
Subject, address and Content-Type / Content-Disposition fields of the mail
test corpus (tests/gen/make_mail_corpus.py: every Japanese charset, encoded
words split inside a character, RFC 2231 continuations, raw 8-bit bytes), and
hostile values the corpus does not hold (doubly encoded words, bidirectional
overrides, paths, over-long names, NUL bytes, broken words).
"""

import base64
import email
import email.policy
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "gen"))
import make_mail_corpus as mm  # noqa: E402

FIELDS = {"subject", "from", "to", "cc", "reply-to", "content-type", "content-disposition"}


def corpus_fields():
    """The interesting header fields of the corpus messages, raw, each once."""
    mm.gen_charsets()
    mm.gen_filenames()
    mm.gen_html()
    seen = []
    for e in mm.MANIFEST:
        data = e["_data"]
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        for part in msg.walk():
            for name, value in part._headers:
                if name.lower() not in FIELDS:
                    continue
                field = name.encode("ascii") + b":" + value.encode("ascii", "surrogateescape")
                if field not in seen:
                    seen.append(field)
    return seen


def hostile_fields():
    """Values built to break the promises of mailhdr.h."""
    rlo = "\u202e".encode()
    inner = "=?UTF-8?B?%s?=" % base64.b64encode(rlo).decode()
    twice = mm.ew_b("UTF-8", inner.encode())
    long_name = ("長い名前" * 30 + ".txt").encode()
    return [
        b"Subject: " + twice.encode(),
        b"Subject: =?UTF-8?Q?invoice=E2=80=AEtxt.exe?=",
        b"Subject: =?UTF-8?B?broken!!?= =?UTF-8?X?what?= =?=?UTF-8?Q??=",
        b"Subject: NUL\x00in subject\r\n\tfolded\r\n next",
        b"Subject: \x1b$B=?UTF-8?B?5bGx?=\x1b(B raw JIS",
        b"From: \"" + twice.encode() + b"\" <a@example.com>, Group: =?UTF-8?B?"
        + base64.b64encode("一覧\u202e".encode()) + b"?= <b@example.com>;",
        b"Content-Disposition: attachment; filename*=UTF-8''invoice%E2%80%AEtxt.exe",
        b"Content-Disposition: attachment; filename=\"../../etc/passwd\"",
        b"Content-Disposition: attachment; filename*0*=UTF-8''" + b"%E5%90%8D" * 3
        + b"; filename*2=x.txt; filename*1*=%E5%89%8D",
        b"Content-Type: application/octet-stream; name=\"" + long_name.decode().encode("cp932")
        + b"\"",
        b"Content-Disposition: attachment; filename=\"" + long_name + b"\"; filename*=bogus'",
    ]


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: mailhdr.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for data in corpus_fields() + hostile_fields():
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(argv[1], name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
