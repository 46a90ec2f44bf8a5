#!/usr/bin/python3
"""Dangerzone's pixels -> PDF pipeline, reproduced with Debian's python3-fitz.

Baseline for bench/run: each page of IN.pdf is rendered to RGB pixels at DPI
(Dangerzone does this inside its container and sends width, height and raw
RGB bytes out), then a pixmap is rebuilt from those raw bytes on the trusted
side, inserted full page into a new page of the same size, and the document is
saved with deflate=True. No OCR (Dangerzone's default without OCR).

usage: dangerzone_pipeline.py IN.pdf OUT.pdf [DPI]
"""
import sys

import fitz  # PyMuPDF 1.21 (python3-fitz)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: dangerzone_pipeline.py IN.pdf OUT.pdf [DPI]")
    dpi = int(sys.argv[3]) if len(sys.argv) == 4 else 150
    src = fitz.open(sys.argv[1])
    out = fitz.open()
    for page in src:
        # Untrusted side: render to raw RGB.
        pix = page.get_pixmap(dpi=dpi)
        width, height, rgb = pix.width, pix.height, bytes(pix.samples)
        pix = None
        # Trusted side: rebuild from the raw bytes, one PDF page per image.
        clean = fitz.Pixmap(fitz.csRGB, width, height, rgb, False)
        clean.set_dpi(dpi, dpi)
        new = out.new_page(width=width * 72 / dpi, height=height * 72 / dpi)
        new.insert_image(new.rect, pixmap=clean)
    out.save(sys.argv[2], deflate=True)


if __name__ == "__main__":
    main()
