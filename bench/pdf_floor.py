#!/usr/bin/python3
"""What the pixels of a flattened page cost at best, encoded other ways.

Used by bench/run pdf to explain a size target that is out of reach. Reads
mugai-render's pixel stream (rnd.h wire format: the pixels the trusted side
gets) and prints, averaged over the first pages, the bytes per page of the same
pixels as: lossless Flate (PNG, zlib 9, best filters), grey reduced to 16, 4, 3
and 2 levels (Flate at 4, 2, 2 and 1 bits), those 2 levels as CCITT G4, the
bilevel pixels the PDF writer makes of text pages (thin strokes kept as ridges,
sanitize/pdfout.c) as 1-bit Flate and CCITT G4 (the writer codes them as JBIG2:
bench/run pdfout prints that), and JPEG at several qualities; with the ratio to
Dangerzone's bytes per page when given. Grey encodings are measured on the
page's luminance. Figures only.

usage: pdf_floor.py WIRE [PAGES] [DZ_BYTES_PER_PAGE]
"""
import io
import struct
import sys

from PIL import Image, ImageChops, ImageMath


def pages(path, limit):
    """The first limit pages of a wire stream as RGB images."""
    with open(path, "rb") as f:
        if f.read(4) != b"MGR1" or f.read(4) != b"PAGS":
            sys.exit("pdf_floor: %s is not a mugai-render pixel stream" % path)
        n, = struct.unpack("<I", f.read(4))
        for _ in range(min(n, limit)):
            tag, w, h = struct.unpack("<4sII", f.read(12))
            if tag != b"PAGE":
                sys.exit("pdf_floor: bad page in %s" % path)
            yield Image.frombytes("RGB", (w, h), f.read(w * h * 3))


def png(img, bits=None):
    """Bytes of img as PNG with zlib 9 (Flate with PNG predictors, as a PDF image)."""
    out = io.BytesIO()
    kw = {"bits": bits} if bits else {}
    img.save(out, "PNG", optimize=True, **kw)
    return len(out.getvalue())


def levels(grey, n):
    """grey rounded to n evenly spaced levels, as a palette image of level indexes."""
    step = 255 / (n - 1)
    return grey.point(lambda v: int(v / step + 0.5)).convert("P")


def shifted(grey, dx, dy):
    """grey moved by (dx, dy), white where it uncovers the page."""
    w, h = grey.size
    out = Image.new("L", (w, h), 255)
    box = (max(0, -dx), max(0, -dy), w - max(0, dx), h - max(0, dy))
    out.paste(grey.crop(box), (max(0, dx), max(0, dy)))
    return out


def bilevel(grey):
    """grey made bilevel as the PDF writer makes pages of grey text (pdfw_bilevel_row): ink
    under mid-grey, and ridges no lighter than 199, darker than the neighbour on one side and
    no lighter than the one on the other, across or along. A 1-bit image, 0 = ink."""
    ink = ImageMath.eval(
        "(g < 128) | ((g <= 199) & (((g < u) & (g <= d)) | ((g < l) & (g <= r))))",
        g=grey, u=shifted(grey, 0, 1), d=shifted(grey, 0, -1), l=shifted(grey, 1, 0),
        r=shifted(grey, -1, 0))
    return ImageMath.eval("255 - ink * 255", ink=ink).convert("L").convert("1")


def g4(bw):
    """Bytes of a 1-bit image as CCITT G4 (TIFF)."""
    out = io.BytesIO()
    bw.save(out, "TIFF", compression="group4")
    return len(out.getvalue())


def sizes(img):
    """Encoding name -> bytes for one page."""
    grey = img.convert("L")
    r, g, b = img.split()
    is_grey = ImageChops.difference(r, g).getbbox() is None and \
        ImageChops.difference(g, b).getbbox() is None
    out = {"lossless Flate": png(grey if is_grey else img)}
    for n, bits in ((16, 4), (4, 2), (3, 2), (2, 1)):
        out["%d grey levels, Flate" % n] = png(levels(grey, n), bits)
    out["2 grey levels, CCITT G4"] = g4(grey.point(lambda v: 255 if v >= 128 else 0).convert("1"))
    bw = bilevel(grey)
    out["bilevel + ridges, Flate"] = png(bw)
    out["bilevel + ridges, CCITT G4"] = g4(bw)
    for q in (50, 75, 90):
        j = io.BytesIO()
        img.save(j, "JPEG", quality=q)
        out["JPEG quality %d" % q] = len(j.getvalue())
    return out


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit("usage: pdf_floor.py WIRE [PAGES] [DZ_BYTES_PER_PAGE]")
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    dz = float(sys.argv[3]) if len(sys.argv) > 3 else 0
    total, count = {}, 0
    for img in pages(sys.argv[1], limit):
        for k, v in sizes(img).items():
            total[k] = total.get(k, 0) + v
        count += 1
    for k, v in total.items():
        ratio = " %6.3f x (d)" % (v / count / dz) if dz else ""
        print("    %-28s %9d bytes/page%s" % (k, v // count, ratio))


if __name__ == "__main__":
    main()
