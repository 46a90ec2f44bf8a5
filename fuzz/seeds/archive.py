#!/usr/bin/python3
"""Write the seed inputs of the archive harness: archive.py OUTDIR

The archives of tests/gen/make_archives.py (zip with CP932 and UTF-8 names,
traversal names, duplicates, encryption, nesting, tar.gz, tar.bz2, lone .gz
and .xz files, a small bomb) and tests/gen/make_hostile.py (links, fifos,
bidi names, external filters, chains of zips), each one file in OUTDIR.
fuzz_archive.c takes the archive's name from the first byte of its input, so
each seed starts with the index of the name of its kind (ARCHIVE_NAMES below
mirrors that list). Seeds over SEED_MAX bytes are left out.
"""

import os
import sys
import tempfile

GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "gen")
sys.path.insert(0, os.path.normpath(GEN))
import make_archives  # noqa: E402
import make_hostile  # noqa: E402

SEED_MAX = 128 * 1024
# fuzz_archive.c's archive_names, in its order.
ARCHIVE_NAMES = ("x.zip", "x.7z", "x.tar", "x.tar.gz", "x.tgz", "x.lzh", "memo.txt.gz", "x.bz2",
                 "data.txt.xz", "x.cpio", "x.rar", "x.cab", "archive", "x.tar.bz2", "dir/.gz",
                 "資料.txt.gz", "x.tar.xz")
# A seed's file name suffix -> the harness name it is given; longest suffixes first.
SUFFIXES = ((".tar.gz", "x.tar.gz"), (".tar.bz2", "x.tar.bz2"), (".tar.xz", "x.tar.xz"),
            (".txt.gz", "memo.txt.gz"), (".txt.xz", "data.txt.xz"), (".tgz", "x.tgz"),
            (".zip", "x.zip"), (".7z", "x.7z"), (".tar", "x.tar"), (".lzh", "x.lzh"),
            (".gz", "memo.txt.gz"), (".bz2", "x.bz2"), (".xz", "data.txt.xz"),
            (".cpio", "x.cpio"), (".rar", "x.rar"), (".cab", "x.cab"))


def name_index(filename):
    """The index of the harness name for a seed file named filename."""
    for suffix, name in SUFFIXES:
        if filename.endswith(suffix):
            return ARCHIVE_NAMES.index(name)
    return ARCHIVE_NAMES.index("archive")


def seeds():
    """Yield (name, bytes) of every seed archive, without the name byte."""
    with tempfile.TemporaryDirectory() as tmp:
        # A bomb of 1 MiB: enough to pass the harness's bounds, small enough to seed.
        if make_archives.main(["make_archives.py", tmp, "--bomb-mib", "1"]) != 0:
            raise SystemExit("archive.py: make_archives.py failed")
        for name in sorted(os.listdir(tmp)):
            path = os.path.join(tmp, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    yield name, f.read()
    for name, make in make_hostile.INPUTS.items():
        if not name.endswith(".eml"):
            yield "hostile_" + name, make()
    yield from extras()


def extras():
    """Yield (name, bytes) of formats the generators write only compressed or large: a
    plain tar, a cpio with one text file, a 7z with an empty symlink."""
    yield "docs.tar", make_archives.tar_gz_plain()
    text = make_archives.NOTE_JA.encode("utf-8")
    cpio = make_hostile.cpio_newc(b"note.txt", 0o100644, len(text)) + text
    cpio += b"\0" * (-len(cpio) % 4) + make_hostile.cpio_newc(b"TRAILER!!!", 0, 0)
    yield "note.cpio", cpio
    yield "link.7z", make_hostile.seven_z_link(0)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: archive.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    written = 0
    for name, data in seeds():
        if len(data) < SEED_MAX:
            with open(os.path.join(argv[1], name), "wb") as f:
                f.write(bytes([name_index(name)]) + data)
            written += 1
    print("archive.py: %d seeds in %s" % (written, argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
