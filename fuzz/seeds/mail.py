#!/usr/bin/python3
"""Write the seed inputs of the mail harness: mail.py OUTDIR

The messages of the mail test corpus (tests/gen/make_mail_corpus.py: charsets,
file names, HTML, attachments, nested messages, archives, broken structure)
and the hostile messages of tests/gen/make_hostile.py, each one file in
OUTDIR. Messages over SEED_MAX bytes are left out: long inputs slow every
mutation, and the fuzzer's own length bound follows the largest seed.
"""

import os
import sys

GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "gen")
sys.path.insert(0, os.path.normpath(GEN))
import make_hostile  # noqa: E402
import make_mail_corpus as corpus  # noqa: E402

SEED_MAX = 128 * 1024
# The corpus generators, in make_mail_corpus.main's order (its manifest checks are for the
# end-to-end test and are not needed here).
GENERATORS = (corpus.gen_charsets, corpus.gen_filenames, corpus.gen_html,
              corpus.gen_attachments, corpus.gen_nested, corpus.gen_archives,
              corpus.gen_hostile)
HOSTILE = ("deep.eml", "bidi_from.eml")


def seeds():
    """Yield (name, bytes) of every seed message."""
    for gen in GENERATORS:
        gen()
    for e in corpus.MANIFEST:
        yield e["name"], e["_data"]
    for name in HOSTILE:
        yield "hostile_" + name, make_hostile.INPUTS[name]()


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: mail.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    written = 0
    for name, data in seeds():
        if len(data) <= SEED_MAX:
            with open(os.path.join(argv[1], name), "wb") as f:
                f.write(data)
            written += 1
    print("mail.py: %d seeds in %s" % (written, argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
