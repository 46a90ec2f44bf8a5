#!/usr/bin/python3
"""Generate hostile inputs for limits and displayed names: make_hostile.py OUTDIR

Made with the standard library only (zipfile, gzip, bz2, email; the 7z
files are written byte by byte with zlib's deflate); nothing is
downloaded. Each input is one way of getting past a bound or into what a
reader sees:

  chain.zip        zip -> .eml -> zip -> .eml ... 30 levels, a text file at the bottom:
                   every message restarting the limits would pass [archive] max_depth
  deep.eml         a message with a message attached as application/octet-stream
                   (named levelN.eml), 200 levels deep, each level a new parse
  x.tar.lrz.gz     gzip around an lrzip stream: libarchive decompresses the gzip itself,
  x.tar.lzo.gz     then, with every filter on, would start lrzip or lzop on the rest
  x.tar.lrz        the lrzip and lzop streams alone
  x.tar.lzo
  bidi.zip         member names with bidi controls (U+202E, U+2066-U+2069), invisible and
                   tag characters: "invoice<U+202E>fdp.txt" shows as "invoicetxt.pdf"
  bidi_from.eml    a From display name with U+202E (and U+061C, U+200B, a tag character)
                   in an encoded word, a To display name with U+2067 and U+2060 in raw
                   UTF-8, an attachment name with U+202E and U+200B
  link512.7z       a 7z whose one entry is a symlink with a 512 MiB target (deflate, 0.5 MB):
                   libarchive reads the whole target into memory inside the header call
  link300.7z       the same with a 300 MiB target: reading it fits in the memory bound, but
                   libarchive's copy of it does not (it then exits the process)
  fifo.cpio.bz2    bzip2 around a cpio whose one entry is a FIFO claiming 256 MiB of data
                   (zeros): data mugai never reads, which libarchive would skip by
                   decompressing it
  skip.zip         a zip holding skip.tar.bz2: three small text files, then big.bin with
                   256 MiB of zeros, refused by the part budget (tests set 4 parts in all)
  nest.zip         four zips each holding an 8 MiB member that compresses about 40:1: each
                   inner zip alone stays under [archive] max_total_mb 20, all together not
OUTDIR/clamdb/     the test signature database (see make_clamdb.py)
"""

import base64
import binascii
import bz2
import gzip
import io
import os
import random
import struct
import sys
import tarfile
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clamdb  # noqa: E402

ZIP_DATE = (2024, 4, 1, 9, 0, 0)
CHAIN_LEVELS = 30
DEEP_LEVELS = 200
RLO = "\u202e"
# What every unsafe name below hides, one character of each kind.
UNSAFE = ["\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200b", "\u061c", "\U000e0041",
          "\ufeff", "\u2028"]
BIDI_MEMBERS = [
    ("invoice" + RLO + "fdp.txt", "invoicefdp.txt"),
    ("\u2066report\u2069\u2067.txt", "report.txt"),
    ("dir\u2068x/zero\u200bwidth\U000e0041.txt", "dirx/zerowidth.txt"),
    ("arabic\u061cmark\u2028line.txt", "arabicmarkline.txt"),
]
FROM_NAME = "Alice " + RLO + "gpj.exe\u061c\u200b\U000e0041"
TO_NAME = "\u5c71\u7530 \u2067\u592a\u90ce\u2060"  # 山田 <U+2067>太郎<U+2060>
ATTACH_NAME = "photo" + RLO + "gpj\u200b.txt"


def zip_bytes(members):
    """A deflated zip of (name, bytes) pairs with fixed dates and UTF-8 names."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, ZIP_DATE), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def headers(level, subject):
    """The header lines of one generated message."""
    return ("From: sender%d@internet.example\r\nTo: staff@lgwan.example\r\n"
            "Subject: %s\r\nDate: Wed, 25 Nov 2026 10:00:00 +0900\r\n"
            "Message-ID: <hostile-%d@internet.example>\r\nMIME-Version: 1.0\r\n"
            % (level, subject, level)).encode("ascii")


def text_leaf(text):
    return (b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + text.encode("utf-8") + b"\r\n")


def mixed(level, parts):
    """multipart/mixed of raw parts; the boundary is never a prefix of another level's."""
    b = ("=_lvl_%03d_=" % level).encode("ascii")
    out = b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\r\n\r\n"
    for p in parts:
        out += b"--" + b + b"\r\n" + p + b"\r\n"
    return out + b"--" + b + b"--\r\n"


def attachment(ctype, name, data, encoding):
    """An attachment part: data base64-encoded, or as it is (7bit) when it is a message."""
    head = ("Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; "
            "filename=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n\r\n"
            % (ctype, name, name, encoding)).encode("ascii")
    if encoding == "base64":
        data = b"\r\n".join(base64.encodebytes(data).splitlines())
    return head + data


def chain_zip():
    """zip -> .eml -> zip ... CHAIN_LEVELS containers, a text file at the bottom."""
    inner, name = b"the bottom of the chain\n", "bottom.txt"
    for level in range(CHAIN_LEVELS - 1, -1, -1):
        if level % 2 == 0:
            inner, name = zip_bytes([(name, inner)]), "level%02d.zip" % level
        else:
            body = mixed(level, [text_leaf("level %d" % level),
                                 attachment("application/zip", name, inner, "base64")])
            inner, name = headers(level, "level %d" % level) + body, "level%02d.eml" % level
    return inner


def deep_eml():
    """A message attached as a file (7bit, so no level grows), DEEP_LEVELS deep."""
    inner = headers(DEEP_LEVELS, "bottom") + text_leaf("the bottom message")
    for level in range(DEEP_LEVELS - 1, -1, -1):
        body = mixed(level, [text_leaf("深い入れ子 level %d" % level),
                             attachment("application/octet-stream", "level%03d.eml" % (level + 1),
                                        inner, "7bit")])
        inner = headers(level, "deep %d" % level) + body
    return inner


def lrzip_stream():
    """An lrzip header (magic, version 0.6, size) and bytes that are no valid stream."""
    return b"LRZI\x00\x06" + (4096).to_bytes(8, "little") + bytes(range(256)) * 8


def lzop_stream():
    """An lzop header (magic, versions, method LZO1X-1, level) and no valid blocks."""
    head = b"\x89LZO\x00\r\n\x1a\n" + b"\x10\x30\x20\xa0\x09\x40\x01\x05"
    return head + b"\x00" * 16 + bytes(range(256)) * 8


def bidi_zip():
    """Members whose names hide characters; each holds its clean name as text."""
    return zip_bytes([(raw, ("%s\n" % clean).encode("utf-8")) for raw, clean in BIDI_MEMBERS])


def encoded_word(text):
    return "=?UTF-8?B?%s?=" % base64.b64encode(text.encode("utf-8")).decode("ascii")


def bidi_from_eml():
    """From: an encoded display name with U+202E; To: raw UTF-8 with U+2067; an attachment
    named with U+202E (RFC 2231)."""
    fname = "UTF-8''" + "".join("%%%02X" % b for b in ATTACH_NAME.encode("utf-8"))
    head = ("From: %s <alice@internet.example>\r\nTo: %s <staff@lgwan.example>\r\n"
            "Subject: bidi in names\r\nDate: Wed, 25 Nov 2026 10:00:00 +0900\r\n"
            "Message-ID: <bidi-from@internet.example>\r\nMIME-Version: 1.0\r\n"
            % (encoded_word(FROM_NAME), TO_NAME)).encode("utf-8")
    att = ("Content-Type: text/plain; charset=UTF-8\r\nContent-Disposition: attachment; "
           "filename*=%s\r\nContent-Transfer-Encoding: 8bit\r\n\r\nattached text\r\n"
           % fname).encode("ascii")
    return head + mixed(0, [text_leaf("名前に制御文字があるメールです。"), att])


def sz_number(v):
    """A 7z NUMBER: the leading one bits of the first byte count the bytes that follow."""
    for n in range(9):
        if n == 8 or v >> (8 * n) < (1 << (7 - n)):
            first = (0xFF00 >> n) & 0xFF | (v >> (8 * n) if n < 8 else 0)
            return bytes([first]) + (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def deflate_repeated(byte, size, chunk=1 << 20):
    """Raw deflate of byte * size: one compressed chunk, flushed to a byte boundary and
    repeated, then an empty final block; and the CRC-32 of the data."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(byte * chunk) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // chunk):
        crc = binascii.crc32(byte * chunk, crc)
    return block * (size // chunk) + b"\x03\x00", crc


def seven_z_link(target_mib):
    """A 7z holding one symlink, "link", whose target is target_mib MiB of "A" (deflate)."""
    size = target_mib << 20
    packed, crc = deflate_repeated(b"A", size)
    name = "link".encode("utf-16-le") + b"\0\0"
    attr = 0x8000 | (0o120777 << 16)  # Unix mode in the high half: a symlink
    num = sz_number
    streams = (b"\x06" + num(0) + num(1) + b"\x09" + num(len(packed)) + b"\x00"  # PackInfo
               + b"\x07\x0b" + num(1) + b"\x00" + num(1) + b"\x03\x04\x01\x08"  # Deflate
               + b"\x0c" + num(size) + b"\x00"
               + b"\x08\x0a\x01" + struct.pack("<I", crc) + b"\x00")  # SubStreams: CRC
    files = (b"\x05" + num(1) + b"\x11" + num(len(name) + 1) + b"\x00" + name
             + b"\x15" + num(6) + b"\x01\x00" + struct.pack("<I", attr) + b"\x00")
    head = b"\x01\x04" + streams + b"\x00" + files + b"\x00"
    start = struct.pack("<QQI", len(packed), len(head), binascii.crc32(head))
    return (b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", binascii.crc32(start)) + start
            + packed + head)


def bz2_zeros(comp, head, size, tail):
    """Compress head, size zero bytes and tail with comp (a BZ2Compressor)."""
    out = [comp.compress(head)]
    zeros = b"\0" * (1 << 24)
    for left in range(size, 0, -len(zeros)):
        out.append(comp.compress(zeros[:min(left, len(zeros))]))
    return b"".join(out) + comp.compress(tail) + comp.flush()


def cpio_newc(name, mode, size):
    """A cpio newc header for name claiming size bytes of data."""
    name = name + b"\0"
    fields = (1, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name), 0)
    h = b"070701" + b"".join(b"%08X" % v for v in fields) + name
    return h + b"\0" * (-len(h) % 4)


def fifo_cpio_bz2():
    """One FIFO entry claiming 256 MiB (zeros follow), then the trailer."""
    size = 256 << 20
    return bz2_zeros(bz2.BZ2Compressor(9), cpio_newc(b"fifo", 0o010644, size), size,
                     cpio_newc(b"TRAILER!!!", 0, 0))


def tar_header(name, size):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 1711962000, 0o644
    return info.tobuf(tarfile.USTAR_FORMAT)


def skip_zip():
    """skip.tar.bz2 (three text files, then big.bin: 256 MiB of zeros) in a stored zip."""
    head = b""
    for name in ("a.txt", "b.txt", "c.txt"):
        data = ("%s\n" % name).encode("ascii")
        head += tar_header(name, len(data)) + data + b"\0" * (-len(data) % 512)
    size = 256 << 20
    tbz = bz2_zeros(bz2.BZ2Compressor(9), head + tar_header("big.bin", size), size,
                    b"\0" * 1024)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("skip.tar.bz2", ZIP_DATE), tbz)
    return buf.getvalue()


def nest_zip():
    """Four zips, each holding data.bin: 8 MiB, 1.5 KiB of noise in every 64 KiB."""
    rnd = random.Random(7)
    data = b"".join(rnd.randbytes(1536) + b"\0" * (65536 - 1536) for _ in range(128))
    inner = zip_bytes([("data.bin", data)])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(4):
            z.writestr(zipfile.ZipInfo("in%d.zip" % i, ZIP_DATE), inner)
    return buf.getvalue()


INPUTS = {
    "chain.zip": chain_zip,
    "deep.eml": deep_eml,
    "x.tar.lrz.gz": lambda: gzip.compress(lrzip_stream(), mtime=0),
    "x.tar.lzo.gz": lambda: gzip.compress(lzop_stream(), mtime=0),
    "x.tar.lrz": lrzip_stream,
    "x.tar.lzo": lzop_stream,
    "bidi.zip": bidi_zip,
    "bidi_from.eml": bidi_from_eml,
    "link512.7z": lambda: seven_z_link(512),
    "link300.7z": lambda: seven_z_link(300),
    "fifo.cpio.bz2": fifo_cpio_bz2,
    "skip.zip": skip_zip,
    "nest.zip": nest_zip,
}


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: make_hostile.py OUTDIR\n")
        return 2
    out = os.path.abspath(argv[1])
    os.makedirs(out, exist_ok=True)
    for name, make in INPUTS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(make())
    make_clamdb.write_db(os.path.join(out, "clamdb"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
