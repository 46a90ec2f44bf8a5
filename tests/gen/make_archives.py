#!/usr/bin/python3
"""Generate the archive test inputs: make_archives.py OUTDIR [--bomb-mib N]

Every input is made here by script with the standard library (zipfile,
tarfile, gzip, bz2, lzma) plus the PDF and picture helpers of
make_corpus.py; nothing is downloaded. Zip features the zipfile module
cannot write (names in CP932 without the UTF-8 flag, the encryption flag)
are made by patching the bytes zipfile wrote.

OUTDIR/<name>     the inputs (see INPUTS below for what each one tests)
OUTDIR/clamdb/    the test signature database (EICAR, see make_clamdb.py)
"""

import bz2
import gzip
import io
import lzma
import os
import sys
import tarfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clamdb  # noqa: E402
import make_corpus  # noqa: E402

ZIP_DATE = (2024, 4, 1, 9, 0, 0)
NOTE_JA = "本日は晴天なり。無害化通信の試験です。①㈱\r\n"


def zip_bytes(members, compression=zipfile.ZIP_DEFLATED):
    """A zip of (name, bytes) pairs with fixed dates."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, ZIP_DATE), data, compress_type=compression)
    return buf.getvalue()


def png_bytes():
    """A small PNG picture."""
    return make_corpus.save(make_corpus.picture(160, 100), "PNG")


def mixed_zip():
    """A PDF, a PNG, CP932 text and a program: three members survive."""
    return zip_bytes([
        ("report.pdf", make_corpus.pdf_multipage(1)),
        ("pictures/photo.png", png_bytes()),
        ("note.txt", NOTE_JA.encode("cp932")),
        ("setup.exe", make_corpus.pe_stub()),
    ])


def traversal_zip():
    """Names that try to leave the extraction directory or hide characters."""
    text = b"plain text member\n"
    return zip_bytes([
        ("../../etc/passwd", text),
        ("/abs/path.txt", text),
        ("C:\\Windows\\evil.txt", text),
        ("a/./b/../c.txt", text),
        ("bad\x01name.txt", text),
        ("../..", text),
    ])


def cp932_names_zip():
    """Japanese names in CP932 without the UTF-8 flag, as Windows Explorer writes them."""
    names = ["請求書.txt", "請求書/明細.csv"]
    raw = [n.encode("cp932") for n in names]
    # ASCII placeholders of the same byte length, replaced after zipfile wrote them.
    holders = ["".join(chr(b) if b < 0x80 else "X" for b in r) for r in raw]
    data = zip_bytes([(h, ("行%d,金額\r\n1,100\r\n" % i).encode("cp932"))
                      for i, h in enumerate(holders)])
    for h, r in zip(holders, raw):
        hb = h.encode("ascii")
        if data.count(hb) != 2:
            raise SystemExit("make_archives: placeholder %r not unique" % h)
        data = data.replace(hb, r)
    return data


def utf8_names_zip():
    """Japanese names with the UTF-8 flag (zipfile sets it for non-ASCII names)."""
    return zip_bytes([("請求書/明細.txt", "明細です\n".encode("utf-8")),
                      ("請求書/明細.TXT", b"second with the same name\n")])


def encrypted_zip():
    """A zip whose member has the traditional encryption flag (bit 0) set."""
    data = bytearray(zip_bytes([("secret.txt", b"x" * 100)], zipfile.ZIP_STORED))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 6] |= 1
    data[central + 8] |= 1
    return bytes(data)


def bad_method_zip():
    """A member with a compression method nobody supports, then a readable one."""
    data = bytearray(zip_bytes([("odd.txt", b"odd\n"), ("ok.txt", b"fine\n")],
                               zipfile.ZIP_STORED))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 8] = data[central + 10] = 97
    return bytes(data)


def write_bomb(path, mib):
    """A zip with one member of mib MiB of zeros, written without holding it in memory."""
    chunk = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("zeros.txt", ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            for _ in range(mib):
                f.write(chunk)


def nested_zip(levels):
    """A text file inside `levels` zips, each inside the previous one."""
    data = zip_bytes([("deep.txt", b"deepest\n")])
    for i in range(levels - 1, 0, -1):
        data = zip_bytes([("level%d.zip" % i, data), ("level%d.txt" % i, b"level\n")])
    return data


def eicar_zip():
    """The EICAR test file beside an innocent text file."""
    return zip_bytes([("eicar.com.txt", make_clamdb.eicar_bytes()), ("ok.txt", b"fine\n")])


def tar_gz():
    """A tar.gz with a text file, a CSV in a folder, a directory and a symbolic link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        def add(name, data=None, kind=tarfile.REGTYPE, target=""):
            info = tarfile.TarInfo(name)
            info.mtime = 1711929600
            info.type = kind
            info.linkname = target
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
        add("docs", kind=tarfile.DIRTYPE)
        add("docs/readme.txt", "お知らせ\n".encode("utf-8"))
        add("docs/table.csv", b"a,b\n=1+1,2\n")
        add("docs/link", kind=tarfile.SYMTYPE, target="/etc/passwd")
    return buf.getvalue()


def dup_names_zip():
    """Names that collide once their extension is replaced (or by case)."""
    return zip_bytes([("a.txt", b"one\n"), ("A.TXT", b"two\n"), ("a.text", b"three\n")])


INPUTS = {
    "mixed.zip": mixed_zip,
    "traversal.zip": traversal_zip,
    "cp932names.zip": cp932_names_zip,
    "utf8names.zip": utf8_names_zip,
    "encrypted.zip": encrypted_zip,
    "nested.zip": lambda: nested_zip(5),
    "eicar.zip": eicar_zip,
    "docs.tar.gz": tar_gz,
    "memo.txt.gz": lambda: gzip.compress(NOTE_JA.encode("cp932"), mtime=0),
    "data.txt.xz": lambda: lzma.compress(b"xz text\n"),
    "bundle.tar.bz2": lambda: bz2.compress(tar_gz_plain()),
    "truncated.zip": lambda: mixed_zip()[:900],
    "dup.zip": dup_names_zip,
    "empty.zip": lambda: zip_bytes([]),
    "badmethod.zip": bad_method_zip,
}


def tar_gz_plain():
    """The tar inside docs.tar.gz, uncompressed."""
    return gzip.decompress(tar_gz())


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--bomb-mib"):
        sys.stderr.write("usage: make_archives.py OUTDIR [--bomb-mib N]\n")
        return 2
    out = os.path.abspath(argv[1])
    bomb_mib = int(argv[3]) if len(argv) == 4 else 1024
    os.makedirs(out, exist_ok=True)
    for name, make in INPUTS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(make())
    bomb = os.path.join(out, "bomb.zip")
    if not os.path.exists(bomb) or os.path.getsize(bomb) == 0:
        write_bomb(bomb + ".tmp", bomb_mib)
        os.replace(bomb + ".tmp", bomb)
    make_clamdb.write_db(os.path.join(out, "clamdb"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
