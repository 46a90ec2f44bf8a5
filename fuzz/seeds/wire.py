#!/usr/bin/python3
"""Seeds of the wire harness: wire.py OUTDIR

Renderer output streams built per render/rnd.h (all integers unsigned 32-bit
little-endian): "MGR1", then pixels ("PAGS" n, n times "PAGE" w h and w*h*3
RGB bytes, each followed, when the text layer is on, by "PTXT" nchars nboxes,
the code points and 4 integers per box in 1/64 pixel; "DONE" n), text ("TEXT"
len, len bytes of UTF-8, "DONE" 0) or a failure ("FAIL" code len, len bytes
of ASCII) or unlock mode's answer ("OPEN" which tried, then "DONE" 0 or a
PDF's pixels; which 0xffffffff when none opened it). Good streams (flat, grey, photographic and one-pixel pages, with
and without page text; Japanese text, CSV text, empty text), one failure per
code, and streams each broken in one way: a count that disagrees with DONE,
too many pages, a page over the limits, a short page, bytes after DONE,
invalid UTF-8 and a NUL in the text, an over-long FAIL message, an unknown
tag, page text with hostile characters, boxes off the page, counts that
disagree or pass the limit; unlock answers that name a candidate never sent,
miscount the candidates tried, or bring pages for a zip.
"""

import hashlib
import os
import random
import struct
import sys


def u32(*values):
    """Little-endian 32-bit integers."""
    return b"".join(struct.pack("<I", v) for v in values)


def page(w, h, pixels, text=None, boxes=None):
    """A PAGE frame; with text (a str), its PTXT frame, one box per character laid left to
    right over the page unless boxes are given."""
    assert len(pixels) == w * h * 3
    frame = b"PAGE" + u32(w, h) + pixels
    if text is None:
        return frame
    cps = [ord(c) for c in text]
    if boxes is None:
        step = max(w * 64 // max(len(cps), 1), 1)
        boxes = [(i * step, 0, (i + 1) * step, h * 64) for i in range(len(cps))]
    return (frame + b"PTXT" + u32(len(cps), len(boxes)) + u32(*cps)
            + b"".join(u32(*b) for b in boxes))


def pages(*frames, done=None):
    """A whole pixel stream of the given PAGE frames."""
    n = len(frames)
    return b"MGR1PAGS" + u32(n) + b"".join(frames) + b"DONE" + u32(n if done is None else done)


def text(data):
    """A whole text stream."""
    return b"MGR1TEXT" + u32(len(data)) + data + b"DONE" + u32(0)


def fail(code, msg):
    """A failure stream."""
    return b"MGR1FAIL" + u32(code, len(msg)) + msg


def opened(which, tried, rest=b"DONE" + u32(0)):
    """An unlock answer: OPEN which tried, then rest (DONE 0, or a PDF's pixels after MGR1)."""
    return b"MGR1OPEN" + u32(which, tried) + rest


def flat(w, h, rgb=(255, 255, 255)):
    """A page of one colour."""
    return bytes(rgb) * (w * h)


def grey(w, h):
    """A grey ramp."""
    return b"".join(bytes([(x * 255 // max(w - 1, 1))] * 3) for _ in range(h) for x in range(w))


def photo(w, h):
    """Smooth colour gradients with noise: what imgout_is_photo calls a photograph."""
    rnd = random.Random(7)
    out = bytearray()
    for y in range(h):
        for x in range(w):
            out += bytes(((x * 4 + rnd.randrange(8)) & 255, (y * 4 + rnd.randrange(8)) & 255,
                          (x + y + rnd.randrange(8)) & 255))
    return bytes(out)


def seeds():
    """The seed streams."""
    ja = "本日は晴天なり。①㈱Ⅲ\n".encode()
    csv = "名前,式\r\n山田,=1+2\r\n".encode()
    return [
        pages(page(8, 4, flat(8, 4))),
        pages(page(16, 16, grey(16, 16)), page(1, 1, b"\x00\x00\x00")),
        pages(page(40, 40, photo(40, 40))),
        pages(page(2, 2, flat(2, 2, (255, 0, 0))), page(3, 1, flat(3, 1)),
              page(1, 3, flat(1, 3)), page(2, 2, flat(2, 2))),
        text(ja),
        text(csv),
        text(b""),
        fail(1, b"cannot be parsed"),
        fail(2, b"encrypted"),
        fail(3, b"over the page limit"),
        fail(4, b"internal\x01\xff"),
        pages(page(2, 2, flat(2, 2)), done=2),
        b"MGR1PAGS" + u32(5) + page(1, 1, b"abc"),
        b"MGR1PAGS" + u32(1) + b"PAGE" + u32(1001, 1000),
        b"MGR1PAGS" + u32(1) + b"PAGE" + u32(4, 4) + b"\x00" * 20,
        pages(page(1, 1, b"xyz")) + b"X",
        text(b"\xe6\x97\xa5\xff"),
        text(b"a\x00b"),
        b"MGR1FAIL" + u32(1, 600) + b"x" * 600,
        b"MGR1PAGZ" + u32(1),
        pages(page(16, 8, grey(16, 8), "本日は晴天なり"), page(4, 4, flat(4, 4), "")),
        pages(page(32, 32, photo(32, 32), "①㈱Ⅲ ⼀豈ｶﾀｶﾅ 😀 ABC")),
        pages(page(8, 8, flat(8, 8), "a\u202eb\u0000c\ufffe\U000e0041\ud800"
                                     "\U0010ffff\ufffd\u200bd")),
        pages(page(8, 8, flat(8, 8), "xyz", [(0, 0, 1 << 31, 1 << 31), (9 << 20, 0, 0, 9 << 20),
                                             (4294967295, 4294967295, 0, 0)])),
        pages(page(8, 8, flat(8, 8), "two boxes", [(0, 0, 64, 64), (64, 0, 128, 64)])),
        b"MGR1PAGS" + u32(1) + page(1, 1, b"abc") + b"PTXT" + u32(50001, 0),
        b"MGR1PAGS" + u32(1) + page(1, 1, b"abc") + b"PTXT" + u32(1, 1) + u32(0x110000),
        opened(3, 4),
        opened(0xFFFFFFFF, 20),
        opened(19, 20, pages(page(8, 4, flat(8, 4)))[4:]),
        opened(2, 3, pages(page(16, 8, grey(16, 8), "本日は晴天なり"))[4:]),
        opened(20, 21),
        opened(0xFFFFFFFF, 3),
        opened(0xFFFFFFFE, 0xFFFFFFFF),
        opened(5, 2),
        opened(1, 2) + b"X",
        b"MGR1OPEN" + u32(1),
    ]


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: wire.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for data in seeds():
        with open(os.path.join(argv[1], hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
