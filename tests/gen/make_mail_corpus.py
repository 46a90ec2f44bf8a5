#!/usr/bin/python3
"""Generate the mail test corpus: make_mail_corpus.py OUTDIR

Every message is built here, byte by byte where the email package would
repair what must stay broken, and deterministically (fixed boundaries, dates
and Message-IDs). Attachments reuse the generators of make_corpus.py.

OUTDIR/mail/<name>.eml   the messages
OUTDIR/clamdb/           the test signature database (make_clamdb.py)
OUTDIR/manifest.json     per message what the end-to-end test expects:
  subject       the decoded Subject the clean message must keep (or null)
  body          snippets the decoded body text must contain exactly
  body_absent   snippets that must not appear in the body text
  attachments   sanitized attachments that must come out:
                {"orig": decoded original name, "name": allowed output names,
                 "types": allowed content types, "optional": true when it may
                 also be removed, "sheet": true for a spreadsheet's sheet as CSV,
                 listed on its own line under the spreadsheet's}
  fates         notice lines: {"name": original name or type, "words": allowed
                 fate words ("converted", "removed", "held")}
  leaves        the original leaves for the quarantine record, or null when
                the structure is hostile: {"filename": name or null,
                "actions": allowed actions}
  signature     a virus name that must be reported, or null
  hostile       true for broken structure; note: an "  note:" line is required
  smtp_subject  when present, the Subject the quarantine records for it sent over SMTP
  max_seconds   bound on the time one message may take
"""

import base64
import email
import email.policy
import hashlib
import json
import os
import quopri
import random
import shutil
import struct
import sys
import tempfile
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_clamdb  # noqa: E402
import make_corpus as mc  # noqa: E402

from PIL import PngImagePlugin  # noqa: E402

JA = mc.JA
EXT = mc.JA_EXT
CRLF = b"\r\n"
DATE = "Mon, 01 Apr 2024 09:00:00 +0900"
MANIFEST = []


# ---------------------------------------------------------------- encodings


def sjis_to_jis(b1, b2):
    """One Shift_JIS (CP932) double-byte character to its JIS X 0208 row/cell bytes.
    NEC row 13 (①, ㈱, Ⅲ) maps to row 13 like every other row."""
    off = 0x70 if b1 <= 0x9F else 0xB0
    if b2 >= 0x9F:
        return (b1 - off) * 2, b2 - 0x7E
    return (b1 - off) * 2 - 1, b2 - (0x20 if b2 >= 0x80 else 0x1F)


def jis(text):
    """ISO-2022-JP bytes of text as Japanese mail clients write it, NEC specials included
    (Python's iso2022_jp codec refuses them). Every line ends in ASCII mode."""
    out = bytearray()
    for li, line in enumerate(text.split("\n")):
        if li:
            out += b"\n"
        raw = line.encode("cp932")
        kanji = False
        i = 0
        while i < len(raw):
            b = raw[i]
            if b < 0x80:
                if kanji:
                    out += b"\x1b(B"
                    kanji = False
                out.append(b)
                i += 1
                continue
            if not kanji:
                out += b"\x1b$B"
                kanji = True
            out += bytes(sjis_to_jis(b, raw[i + 1]))
            i += 2
        if kanji:
            out += b"\x1b(B"
    return bytes(out)


def self_check_jis():
    """The hand-made encoder must agree with Python's codec where the codec works."""
    sample = JA + "\n市民課 ABC 漢字"
    if jis(sample) != sample.encode("iso2022_jp"):
        raise SystemExit("make_mail_corpus: JIS encoder disagrees with iso2022_jp")
    if jis(EXT).decode("iso2022_jp_ext", "replace") == EXT:
        return  # some Pythons know NEC row 13; either way the bytes are the ones clients send
    row13 = jis(EXT)
    if row13 != b"\x1b$B-!-j-7\x1b(B":
        raise SystemExit("make_mail_corpus: unexpected JIS bytes for NEC specials: %r" % row13)


def b64lines(data):
    """Base64 in 76-character CRLF lines."""
    enc = base64.b64encode(data)
    return CRLF.join(enc[i:i + 76] for i in range(0, len(enc), 76)) + CRLF


def ew_b(charset, raw):
    """One RFC 2047 B encoded word of raw bytes."""
    return "=?%s?B?%s?=" % (charset, base64.b64encode(raw).decode("ascii"))


def ew_q(charset, raw):
    """One RFC 2047 Q encoded word of raw bytes."""
    out = []
    for b in raw:
        c = chr(b)
        if c.isalnum() and b < 0x80:
            out.append(c)
        elif c == " ":
            out.append("_")
        else:
            out.append("=%02X" % b)
    return "=?%s?Q?%s?=" % (charset, "".join(out))


def rfc2231(charset, raw, chunk=None):
    """filename*=... (or continuations filename*0*=..., when chunk) of raw bytes."""
    enc = urllib.parse.quote_from_bytes(raw, safe="")
    if not chunk:
        return "filename*=%s''%s" % (charset, enc)
    pieces, i = [], 0
    while i < len(enc):
        j = min(i + chunk, len(enc))
        while j < len(enc) and "%" in enc[j - 2:j]:  # never split a %XX triplet
            j += 1
        pieces.append(enc[i:j])
        i = j
    lines = ["filename*0*=%s''%s" % (charset, pieces[0])]
    lines += ["filename*%d*=%s" % (n, p) for n, p in enumerate(pieces[1:], start=1)]
    return ";\r\n ".join(lines)


# ---------------------------------------------------------------- MIME by hand


def hdrs(pairs):
    """Header block from (name, value) pairs; values are str (ASCII) or bytes (raw)."""
    out = b""
    for name, value in pairs:
        v = value if isinstance(value, bytes) else value.encode("ascii")
        out += name.encode("ascii") + b": " + v + CRLF
    return out


def leaf(ctype, body, cte="base64", disp=None, extra=()):
    """A leaf part: Content-Type line (raw), optional disposition, encoded body."""
    pairs = [("Content-Type", ctype)]
    if disp:
        pairs.append(("Content-Disposition", disp))
    pairs.append(("Content-Transfer-Encoding", cte))
    pairs += list(extra)
    if cte == "base64":
        data = b64lines(body)
    elif cte == "quoted-printable":
        data = quopri.encodestring(body.replace(CRLF, b"\n")).replace(b"\n", CRLF)
        if not data.endswith(CRLF):
            data += CRLF
    else:
        data = body if body.endswith(CRLF) else body + CRLF
    return hdrs(pairs) + CRLF + data


def attach(ctype, filename_param, data, extra=()):
    """An attachment with a prepared filename parameter (already encoded)."""
    return leaf(ctype, data, "base64", "attachment;\r\n " + filename_param, extra)


def multipart(subtype, parts, boundary):
    """A multipart entity (headers included) from already-built parts."""
    out = hdrs([("Content-Type", 'multipart/%s;\r\n boundary="%s"' % (subtype, boundary))]) + CRLF
    out += b"This is a multi-part message in MIME format." + CRLF
    for p in parts:
        out += b"--" + boundary.encode("ascii") + CRLF + p
    return out + b"--" + boundary.encode("ascii") + b"--" + CRLF


def message(name, subject, entity, extra=()):
    """A top-level message: envelope-ish headers then the entity (which holds Content-*)."""
    pairs = [("Return-Path", "<sender@example.com>"),
             ("Received", "from mx.example.com (mx.example.com [192.0.2.10])\r\n"
                          "\tby gw.city.example.lg.jp; " + DATE),
             ("From", "=?UTF-8?B?%s?= <sender@example.com>"
              % base64.b64encode("送信者 太郎".encode()).decode()),
             ("To", "shimin@city.example.lg.jp"),
             ("Subject", subject),
             ("Date", DATE),
             ("Message-ID", "<%s@corpus.mugai.test>" % name.replace(".eml", "")),
             ("MIME-Version", "1.0")]
    return hdrs(pairs + list(extra)) + entity


def text_leaf(text, codec, label, cte):
    """A text/plain body in codec, labelled label (None: no charset parameter)."""
    raw = jis(text) if codec == "jis" else text.encode(codec)
    raw = raw.replace(b"\n", CRLF)
    ctype = "text/plain" + ('; charset="%s"' % label if label else "")
    return leaf(ctype, raw, cte)


def entry(name, data, **kw):
    """Record a message and write it later."""
    e = {"name": name, "subject": None, "body": [], "body_absent": [], "attachments": [],
         "fates": [], "leaves": [], "signature": None, "hostile": False, "note": False,
         "max_seconds": 60, "absent_bytes": []}
    e.update(kw)
    e["_data"] = data
    MANIFEST.append(e)


def body_leaf():
    """The leaf record of a text body."""
    return {"filename": None, "actions": ["body"]}


def att(orig, names, types, kind_word="converted", action=("sanitized",)):
    """Expectations of one attachment that must come out sanitized."""
    names = [names] if isinstance(names, str) else list(names)
    return ({"orig": orig, "name": names, "types": list(types)},
            {"name": orig, "words": [kind_word]},
            {"filename": orig, "actions": list(action)})


def gone(orig, words, actions):
    """Expectations of one attachment that must not come out."""
    return {"name": orig, "words": list(words)}, {"filename": orig, "actions": list(actions)}


# ---------------------------------------------------------------- zip by hand


def zipcrypto(data, password, seed, crc):
    """Traditional PKWARE encryption of data (12-byte header included); crc is the
    member's CRC-32, whose high byte is the password check byte."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def crc_byte(k, b):
        return zlib.crc32(bytes([b]), k ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def update(b):
        keys[0] = crc_byte(keys[0], b)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc_byte(keys[2], keys[1] >> 24)

    def stream_byte():
        t = (keys[2] | 2) & 0xFFFF
        return ((t * (t ^ 1)) >> 8) & 0xFF

    for b in password:
        update(b)
    head = random.Random(seed).randbytes(11) + bytes([crc >> 24])
    out = bytearray()
    for b in head + data:
        out.append(b ^ stream_byte())
        update(b)
    return bytes(out)


def zip_raw(members, password=None):
    """A zip from (raw name bytes, data, utf8 flag) members, stored or deflated, names kept
    byte for byte (zipfile would re-encode them); ZipCrypto when password is given."""
    body, central = bytearray(), bytearray()
    dostime, dosdate = (9 << 11), ((2024 - 1980) << 9) | (4 << 5) | 1
    for name, data, utf8 in members:
        crc = zlib.crc32(data) & 0xFFFFFFFF
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        cdata = comp.compress(data) + comp.flush()
        flags = (0x800 if utf8 else 0) | (1 if password else 0)
        if password:
            cdata = zipcrypto(cdata, password, len(body), crc)
        fields = struct.pack("<HHHHHIIIHH", 20, flags, 8, dostime, dosdate, crc, len(cdata),
                             len(data), len(name), 0)
        central += (struct.pack("<IH", 0x02014B50, 20) + fields
                    + struct.pack("<HHHII", 0, 0, 0, 0, len(body)) + name)
        body += struct.pack("<I", 0x04034B50) + fields + name + cdata
    n = len(members)
    return bytes(body + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central),
                                              len(body), 0))


def zip_bomb(total=512 << 20):
    """One member of `total` zero bytes, deflated (about 1000:1)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    parts, crc = [], 0
    for _ in range(total >> 20):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    cdata = b"".join(parts)
    name = b"zeros.bin"
    fields = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0x5881, crc & 0xFFFFFFFF, len(cdata), total,
                         len(name), 0)
    local = struct.pack("<I", 0x04034B50) + fields + name
    central = (struct.pack("<IH", 0x02014B50, 20) + fields + struct.pack("<HHHII", 0, 0, 0, 0, 0)
               + name)
    return (local + cdata + central
            + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                          len(local) + len(cdata), 0))


# ---------------------------------------------------------------- attachments


def png_meta():
    """A PNG with text metadata."""
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Author", "MUGAI-PNG-AUTHOR")
    meta.add_itxt("Comment", "MUGAI-PNG-ITXT 秘密", lang="ja", tkey="コメント")
    return mc.save(mc.picture(320, 200), "PNG", pnginfo=meta)


def jpeg_exif():
    """A JPEG with EXIF (camera maker, GPS)."""
    exif = mc.Image.Exif()
    exif[0x010F] = "MUGAI-CAMERA-MAKER"
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}
    return mc.save(mc.picture(640, 480), "JPEG", quality=90, exif=exif)


CSV_DATA = ("名前,式,備考\r\n山田太郎,=1+2,通常\r\n鈴木花子,+cmd|' /C calc'!A0,危険\r\n"
            "佐藤次郎,@SUM(A1),関数\r\n①㈱Ⅲ,123,普通\r\n").encode("utf-8")
HTML_ATT = ("<html><body><h1>添付の案内</h1><p>案内本文です。</p>"
            "<script>alert('MUGAI-ATT-SCRIPT')</script></body></html>").encode("utf-8")
JS_DATA = b"var s = new ActiveXObject('WScript.Shell');\r\ns.Run('cmd /c echo MUGAI-JS');\r\n"


def office_files():
    """(docx bytes, xlsx bytes) made by LibreOffice, or (None, None) when disabled."""
    if os.environ.get("MUGAI_NO_OFFICE") == "1":
        return None, None
    work = tempfile.mkdtemp(prefix="mugai-mailgen-")
    try:
        src = os.path.join(work, "src")
        os.makedirs(src)
        with open(os.path.join(src, "writer.html"), "w", encoding="utf-8") as f:
            f.write(mc.WRITER_HTML)
        with open(os.path.join(src, "calc.csv"), "w", encoding="utf-8") as f:
            f.write(mc.CALC_CSV)
        profile = os.path.join(work, "profile")
        d1 = mc.soffice(profile, work, "docx:MS Word 2007 XML", "HTML (StarWriter)",
                        [os.path.join(src, "writer.html")])
        d2 = mc.soffice(profile, work, "xlsx", "CSV:44,34,76,1", [os.path.join(src, "calc.csv")])
        with open(os.path.join(d1, "writer.docx"), "rb") as f:
            docx = f.read()
        with open(os.path.join(d2, "calc.xlsx"), "rb") as f:
            xlsx = f.read()
        return docx, xlsx
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- messages: charsets


BODY = JA + "\n" + "市民課の皆様へ。" + "\n"
BODY_EXT = JA + EXT + "\n" + "市民課の皆様へ。株式会社㈱、丸数字①、ローマ数字Ⅲ。" + "\n"


def gen_charsets():
    """One message per Japanese charset and transfer encoding."""
    subj = "会議のお知らせ" + EXT
    entry("jis_nec.eml", message(
        "jis_nec.eml", ew_b("ISO-2022-JP", jis(subj)),
        text_leaf(BODY_EXT, "jis", "ISO-2022-JP", "7bit")),
        subject=subj, body=[JA + EXT, "株式会社㈱", "ローマ数字Ⅲ"], leaves=[body_leaf()])
    entry("sjis_cp932.eml", message(
        "sjis_cp932.eml", ew_q("Shift_JIS", "見積の件①".encode("cp932")),
        text_leaf(BODY_EXT, "cp932", "Shift_JIS", "8bit")),
        subject="見積の件①", body=[JA + EXT, "株式会社㈱"], leaves=[body_leaf()])
    entry("eucjp.eml", message(
        "eucjp.eml", ew_b("EUC-JP", "住民票の交付について".encode("euc_jp")),
        text_leaf(BODY, "euc_jp", "EUC-JP", "8bit")),
        subject="住民票の交付について", body=[JA, "市民課の皆様へ。"], leaves=[body_leaf()])
    split = "予算案の確認をお願いします".encode("utf-8")
    cut = 7  # inside the third character: the word boundary splits a UTF-8 sequence
    entry("utf8_b64.eml", message(
        "utf8_b64.eml", ew_b("UTF-8", split[:cut]) + "\r\n " + ew_b("UTF-8", split[cut:]),
        text_leaf(BODY_EXT, "utf-8", "UTF-8", "base64")),
        subject="予算案の確認をお願いします", body=[JA + EXT, "株式会社㈱"], leaves=[body_leaf()])
    qsub = "防災訓練 実施のご案内".encode("utf-8")
    entry("utf8_qp.eml", message(
        "utf8_qp.eml", ew_q("UTF-8", qsub[:10]) + " " + ew_q("UTF-8", qsub[10:]),
        text_leaf(BODY_EXT + ("長い行" * 40) + "\n", "utf-8", "UTF-8", "quoted-printable")),
        subject="防災訓練 実施のご案内", body=[JA + EXT, "長い行" * 40], leaves=[body_leaf()])
    entry("utf8_8bit.eml", message(
        "utf8_8bit.eml", ew_b("UTF-8", "８ビット本文".encode()),
        text_leaf(BODY_EXT, "utf-8", "utf-8", "8bit")),
        subject="８ビット本文", body=[JA + EXT], leaves=[body_leaf()])
    entry("no_charset.eml", message(
        "no_charset.eml", "No charset label",
        text_leaf(BODY_EXT, "utf-8", None, "8bit")),
        subject="No charset label", body=[JA + EXT], leaves=[body_leaf()])
    entry("lying_label.eml", message(
        "lying_label.eml", "Lying charset label",
        text_leaf(BODY_EXT, "utf-8", "ISO-2022-JP", "8bit")),
        subject="Lying charset label", body=[JA + EXT], leaves=[body_leaf()])
    gen_raw8bit()
    gen_bom()


def gen_raw8bit():
    """Raw CP932 bytes in Subject, From and a file name; the body has no charset label."""
    name = "議事録①.txt"
    att_part = leaf(b'text/plain; name="' + name.encode("cp932") + b'"',
                    ("議事録の本文" + EXT + "\r\n").encode("cp932"), "base64",
                    b'attachment; filename="' + name.encode("cp932") + b'"')
    ent = multipart("mixed", [text_leaf(BODY_EXT, "cp932", None, "8bit"), att_part],
                    "=_raw8bit_boundary")
    # Long and mixed, so that the clean copy's Subject takes several encoded words.
    subject = "回覧：議事録の送付① 2026年度 第3回 定例会議（総務課・企画課）のご案内"
    data = message("raw8bit_hdr.eml", subject.encode("cp932"), ent)
    a, f, l_ = att(name, "議事録①.txt", ["text/plain"])
    entry("raw8bit_hdr.eml", data, subject=subject, body=[JA + EXT],
          attachments=[a], fates=[f], leaves=[body_leaf(), l_])


def gen_bom():
    """A message that starts with a UTF-8 byte order mark (as some Windows tools save .eml
    files): the mark is dropped and the first header, here the Subject, is kept."""
    subject = "先頭にBOMがあるメール"
    data = message("bom_start.eml", ew_b("UTF-8", subject.encode()),
                   text_leaf(BODY, "utf-8", "UTF-8", "8bit"))
    first = b"Subject: " + ew_b("UTF-8", subject.encode()).encode("ascii") + CRLF
    data = b"\xef\xbb\xbf" + first + data.replace(first, b"")
    # Over SMTP, Postfix puts its Received: line first and ends the header block at the
    # line with the mark (not a header line to it): what follows reaches the gateway as body.
    entry("bom_start.eml", data, subject=subject, body=[JA], leaves=[body_leaf()],
          smtp_subject=None)


# ---------------------------------------------------------------- messages: file names


def gen_filenames():
    """File names in every encoding real clients use."""
    note_txt = ("添付のメモ" + EXT + "\r\n").encode("utf-8")
    specs = [
        # (original name, filename parameter, content type, data, output names, types)
        ("見積書.csv", 'filename="%s"' % ew_b("ISO-2022-JP", jis("見積書") + b".csv"),
         "text/csv", CSV_DATA, "見積書.csv", ["text/csv"]),
        ("会議資料①.txt", 'filename="%s"' % ew_b("Shift_JIS", "会議資料①.txt".encode("cp932")),
         "text/plain; charset=UTF-8", note_txt, "会議資料①.txt", ["text/plain"]),
        ("とても長い名前の添付ファイル名前その一その二その三.txt",
         rfc2231("UTF-8", "とても長い名前の添付ファイル名前その一その二その三.txt".encode(), 40),
         "text/plain; charset=UTF-8", note_txt,
         "とても長い名前の添付ファイル名前その一その二その三.txt", ["text/plain"]),
        ("申請書.png", rfc2231("ISO-2022-JP", jis("申請書") + b".png"), "image/png", png_meta(),
         "申請書.png", ["image/png"]),
    ]
    q = "分割名前.txt".encode("utf-8")
    specs.append(("分割名前.txt", 'filename="%s %s"' % (ew_q("UTF-8", q[:5]), ew_q("UTF-8", q[5:])),
                  "text/plain; charset=UTF-8", note_txt, "分割名前.txt", ["text/plain"]))
    parts = [text_leaf("ファイル名の試験です。\n" + BODY_EXT, "utf-8", "UTF-8", "base64")]
    attachments, fates, leaves = [], [], [body_leaf()]
    for orig, param, ctype, data, outname, types in specs:
        parts.append(attach(ctype, param, data))
        a, f, l_ = att(orig, outname, types)
        attachments.append(a)
        fates.append(f)
        leaves.append(l_)
    entry("filenames.eml", message("filenames.eml", "=?UTF-8?B?%s?=" % base64.b64encode(
        "ファイル名の試験".encode()).decode(), multipart("mixed", parts, "=_names_b")),
        subject="ファイル名の試験", body=["ファイル名の試験です。", JA + EXT],
        attachments=attachments, fates=fates, leaves=leaves,
        absent_bytes=["MUGAI-PNG-AUTHOR", "MUGAI-PNG-ITXT"])


# ---------------------------------------------------------------- messages: HTML


HTML_BODY = """<html><head><meta charset="utf-8"><title>お知らせ</title>
<style>.MUGAI-STYLE {{ display:none }}</style>
<script>document.write("MUGAI-SCRIPT-BODY")</script></head>
<body onload="alert('MUGAI-ONLOAD')"><h1>市役所からのお知らせ</h1>
<p>{ja}{ext}</p>
<table border="1"><tr><th>項目</th><th>日時</th></tr>
<tr><td>説明会</td><td>四月一日</td></tr></table>
<ul><li>持ち物その一</li><li>持ち物その二</li></ul>
<p><a href="https://www.city.example.lg.jp/setsumeikai">説明会の詳細</a></p>
<img src="https://tracker.example/pixel.gif" alt="地図">
</body></html>
""".format(ja=JA, ext=EXT)


def gen_html():
    """HTML-only mail (UTF-8 and Shift_JIS) and multipart/alternative."""
    absent = ["MUGAI-SCRIPT-BODY", "MUGAI-ONLOAD", "<script", "<table", "<a href"]
    entry("html_only.eml", message(
        "html_only.eml", "HTML only",
        leaf('text/html; charset="utf-8"', HTML_BODY.replace("\n", "\r\n").encode(),
             "quoted-printable")),
        subject="HTML only",
        body=[JA + EXT, "市役所からのお知らせ", "説明会", "四月一日", "持ち物その一",
              "https://www.city.example.lg.jp/setsumeikai"],
        body_absent=absent, leaves=[body_leaf()], absent_bytes=["MUGAI-SCRIPT-BODY"])
    entry("html_sjis.eml", message(
        "html_sjis.eml", "HTML Shift_JIS",
        leaf('text/html; charset="Shift_JIS"', mc.HTML_SJIS.replace("\n", "\r\n").encode("cp932"),
             "base64")),
        subject="HTML Shift_JIS",
        body=[JA + EXT, "セルA1", "セルB2", "項目その一",
              "https://www.city.example.lg.jp/oshirase"],
        body_absent=["MUGAI-SCRIPT-BODY", "MUGAI-ONLOAD", "<iframe"], leaves=[body_leaf()])
    alt = multipart("alternative", [
        text_leaf("テキスト版の本文です。TEXT-PART-MARKER\n" + BODY_EXT, "jis", "ISO-2022-JP",
                  "7bit"),
        leaf('text/html; charset="utf-8"',
             "<html><body><p>HTML版の本文です。HTML-PART-MARKER</p></body></html>".encode(),
             "base64")], "=_alt_b")
    entry("alternative.eml", message("alternative.eml", "Alternative", alt),
          subject="Alternative", body=["テキスト版の本文です。TEXT-PART-MARKER", JA + EXT],
          body_absent=["HTML-PART-MARKER"], leaves=[body_leaf(), body_leaf()])


# ---------------------------------------------------------------- messages: attachments


def gen_attachments():
    """One attachment of every class in one message."""
    docx, xlsx = office_files()
    with open("/bin/true", "rb") as f:
        elf = f.read()
    keep = [
        ("見積書.pdf", "application/pdf", mc.pdf_active(), "見積書.pdf", ["application/pdf"]),
        ("写真.png", "image/png", png_meta(), "写真.png", ["image/png"]),
        ("現場写真.jpg", "image/jpeg", jpeg_exif(), ["現場写真.jpg", "現場写真.png"],
         ["image/jpeg", "image/png"]),
        ("名簿.csv", "text/csv", CSV_DATA, "名簿.csv", ["text/csv"]),
        ("メモ.txt", "text/plain; charset=Shift_JIS", ("メモ" + EXT + "\r\n").encode("cp932"),
         "メモ.txt", ["text/plain"]),
        ("案内.html", "text/html; charset=UTF-8", HTML_ATT, "案内.txt", ["text/plain"]),
    ]
    if docx:
        keep.append(("報告書.docx", "application/vnd.openxmlformats-officedocument."
                     "wordprocessingml.document", docx, "報告書.pdf", ["application/pdf"]))
        keep.append(("集計表.xlsx", "application/vnd.openxmlformats-officedocument."
                     "spreadsheetml.sheet", xlsx, "集計表.pdf", ["application/pdf"]))
    drop = [
        ("tool.exe", "application/octet-stream", mc.pe_stub()),
        ("payload.js", "application/javascript", JS_DATA),
        ("ショートカット.lnk", "application/octet-stream", mc.lnk_stub()),
        ("linux.bin", "application/octet-stream", elf),
    ]
    parts = [text_leaf("添付ファイルを送ります。\n" + BODY_EXT, "utf-8", "UTF-8", "8bit")]
    e = {"attachments": [], "fates": [], "leaves": [body_leaf()]}
    for orig, ctype, data, outname, types in keep:
        parts.append(attach(ctype, rfc2231("UTF-8", orig.encode()), data))
        a, f, l_ = att(orig, outname, types)
        e["attachments"].append(a), e["fates"].append(f), e["leaves"].append(l_)
    if docx:  # the workbook's one sheet, "calc", also comes as CSV after its PDF
        e["attachments"].append({"orig": "集計表.xlsx", "name": ["集計表-calc.csv"],
                                 "types": ["text/csv"], "sheet": True})
    for orig, ctype, data in drop:
        parts.append(attach(ctype, rfc2231("UTF-8", orig.encode()), data))
        f, l_ = gone(orig, ["removed"], ["blocked"])
        e["fates"].append(f), e["leaves"].append(l_)
    entry("attach_all.eml", message("attach_all.eml", "=?UTF-8?B?%s?=" % base64.b64encode(
        "添付ファイル一式".encode()).decode(), multipart("mixed", parts, "=_all_b")),
        subject="添付ファイル一式", body=["添付ファイルを送ります。", JA + EXT],
        absent_bytes=["MUGAI-OPENACTION", "MUGAI-AA", "MUGAI-EMBEDDED-PAYLOAD", "MUGAI-PNG-AUTHOR",
                      "MUGAI-CAMERA-MAKER", "MUGAI-ATT-SCRIPT", "MUGAI-JS"],
        max_seconds=180, **e)


def gen_nested():
    """A forwarded message (message/rfc822) with its own attachments."""
    inner_ent = multipart("mixed", [
        text_leaf("転送元の本文です。" + EXT + "\n", "jis", "ISO-2022-JP", "7bit"),
        attach("application/pdf", 'filename="inner.pdf"', mc.pdf_multipage(2)),
        attach("application/octet-stream", 'filename="inner.exe"', mc.pe_stub()),
    ], "=_inner_b")
    inner = (hdrs([("From", "inner@example.org"), ("Subject", ew_b("ISO-2022-JP", jis("元の件名"))),
                   ("Date", DATE), ("MIME-Version", "1.0")]) + inner_ent)
    outer = multipart("mixed", [
        text_leaf("転送します。\n", "utf-8", "UTF-8", "8bit"),
        hdrs([("Content-Type", "message/rfc822"), ("Content-Disposition", "inline")]) + CRLF + inner,
        attach("image/png", 'filename="outer.png"', png_meta()),
    ], "=_outer_b")
    a1, f1, l1 = att("inner.pdf", "inner.pdf", ["application/pdf"])
    a2, f2, l2 = att("outer.png", "outer.png", ["image/png"])
    f3, l3 = gone("inner.exe", ["removed"], ["blocked"])
    entry("nested_rfc822.eml", message("nested_rfc822.eml", "Fwd: nested", outer),
          subject="Fwd: nested", body=["転送します。", "転送元の本文です。" + EXT, "元の件名"],
          attachments=[a1, a2], fates=[f1, f2, f3],
          leaves=[body_leaf(), body_leaf(), l1, l3, l2])


def gen_archives():
    """Zips: executable inside, encrypted, hostile names, EICAR inside, a bomb; EICAR direct."""
    eicar = make_clamdb.eicar_bytes()
    base = [text_leaf("圧縮ファイルを添付します。\n" + BODY, "utf-8", "UTF-8", "8bit")]
    members = [("資料/説明.txt".encode(), ("説明" + EXT + "\r\n").encode(), True),
               (b"setup.exe", mc.pe_stub(), False)]
    cases = [
        ("zip_exe.eml", "書類一式.zip", zip_raw(members),
         ("converted", ["書類一式.zip"], ["application/zip"], ["sanitized"]), None),
        ("zip_names.eml", "名前.zip", zip_raw([
            (b"../../etc/evil.txt", b"MUGAI-TRAVERSAL\r\n", False),
            ("報告書①.txt".encode("cp932"), ("報告" + EXT + "\r\n").encode("cp932"), False),
            (b"/abs/path.txt", b"absolute\r\n", False)]),
         ("converted", ["名前.zip"], ["application/zip"], ["sanitized"]), None),
        ("zip_encrypted.eml", "secret.zip", zip_raw(members, password=b"himitsu"),
         ("held", None, None, ["held"]), None),
        ("zip_eicar.eml", "virus.zip", zip_raw([(b"eicar.com", eicar, False),
                                                (b"readme.txt", b"hello\r\n", False)]),
         (["removed", "converted"], None, None, ["blocked", "sanitized"]), make_clamdb.SIG_NAME),
        ("zip_bomb.eml", "bomb.zip", zip_bomb(),
         ("removed", None, None, ["blocked", "failed"]), None),
        ("eicar_direct.eml", "eicar.com", eicar,
         ("removed", None, None, ["blocked"]), make_clamdb.SIG_NAME),
    ]
    for name, fname, data, (words, outs, types, actions), sig in cases:
        ctype = "application/zip" if fname.endswith(".zip") else "application/octet-stream"
        parts = base + [attach(ctype, rfc2231("UTF-8", fname.encode()), data)]
        words = [words] if isinstance(words, str) else words
        e = {"fates": [{"name": fname, "words": words}],
             "leaves": [body_leaf(), {"filename": fname, "actions": actions}],
             "attachments": []}
        if outs:
            e["attachments"] = [{"orig": fname, "name": outs, "types": types}]
        elif "converted" in words:  # a zip may come out without its infected member
            e["attachments"] = [{"orig": fname, "name": [fname], "types": ["application/zip"],
                                 "optional": True}]
        entry(name, message(name, "Archive " + name, multipart("mixed", parts, "=_zip_b")),
              subject="Archive " + name, body=["圧縮ファイルを添付します。", JA],
              signature=sig, max_seconds=120, **e)


# ---------------------------------------------------------------- messages: hostile


def gen_hostile():
    """Broken structure: each must still give a clean message, in bounded time."""
    body = text_leaf("壊れたメールの本文です。\n", "utf-8", "UTF-8", "8bit")
    common = {"hostile": True, "leaves": None, "subject": None}
    # no boundary parameter at all
    ent = hdrs([("Content-Type", "multipart/mixed")]) + CRLF + b"--x\r\n" + body + b"--x--\r\n"
    entry("h_no_boundary.eml", message("h_no_boundary.eml", "No boundary", ent), **common)
    # boundary never closed, last part cut inside base64
    ent = multipart("mixed", [body, attach("application/pdf", 'filename="cut.pdf"',
                                           mc.pdf_multipage(1))], "=_open_b")
    ent = ent[:ent.rindex(b"--=_open_b--") - 200]
    entry("h_unterminated.eml", message("h_unterminated.eml", "Unterminated", ent),
          body=["壊れたメールの本文です。"], **common)
    # broken base64 in the body and in an attachment
    bad = (b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.b64encode("不正な符号化の本文です。".encode())[:-3] + b"!!*&\r\n====\r\nAB\r\n")
    badatt = (b"Content-Type: image/png\r\nContent-Disposition: attachment; filename=\"bad.png\""
              b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b"iVBORw0KGgo$$$%%%^^^\r\n"
              + b"A" * 77 + b"\r\n=\r\n")
    ent = multipart("mixed", [bad, badatt], "=_b64_b")
    entry("h_bad_base64.eml", message("h_bad_base64.eml", "Broken base64", ent), **common)
    # NUL bytes in a header and in the body
    nulbody = leaf("text/plain; charset=UTF-8", "NULの前\0NULの後\r\n".encode(), "8bit")
    data = message("h_nul.eml", b"NUL\0in subject", nulbody, extra=[("X-Nul", b"a\0b")])
    entry("h_nul.eml", data, body=["NULの前", "NULの後"], **common)
    # a 10,000-character header line (no place to fold it)
    data = message("h_long_header.eml", "Long header", text_leaf(BODY, "utf-8", "UTF-8", "8bit"),
                   extra=[("X-Long", "A" * 10000), ("Subject-Long", "x " * 5000)])
    entry("h_long_header.eml", data, body=[JA], **common)
    gen_deep()
    gen_many()


def gen_deep(levels=200):
    """multipart/mixed nested 200 deep with a text leaf at the bottom."""
    ent = text_leaf("最深部の本文です。\n", "utf-8", "UTF-8", "8bit")
    for i in range(levels):
        ent = multipart("mixed", [ent], "=_deep_%d" % i)
    top = text_leaf("深い入れ子の本文です。\n", "utf-8", "UTF-8", "8bit")
    ent = multipart("mixed", [top, ent], "=_deep_top")
    entry("h_deep.eml", message("h_deep.eml", "Deep nesting", ent), hostile=True, note=True,
          leaves=None, body=["深い入れ子の本文です。"])


def gen_many(n=5000):
    """5,000 small attachments in one multipart."""
    parts = [text_leaf("部品の多いメールです。\n", "utf-8", "UTF-8", "8bit")]
    for i in range(n):
        parts.append(b'Content-Type: text/plain; charset=UTF-8\r\nContent-Disposition: '
                     b'attachment; filename="p%05d.txt"\r\n\r\npart %d\r\n' % (i, i))
    ent = multipart("mixed", parts, "=_many_b")
    entry("h_many_parts.eml", message("h_many_parts.eml", "Many parts", ent), hostile=True,
          note=True, leaves=None, body=["部品の多いメールです。"])


# ---------------------------------------------------------------- main


def validate(e):
    """Each non-hostile message must parse with Python's email package without defects
    in its structure (the hostile ones are meant to be broken). A leading byte order mark,
    which mail readers skip, is skipped here too."""
    data = e["_data"]
    msg = email.message_from_bytes(data[3:] if data.startswith(b"\xef\xbb\xbf") else data,
                                   policy=email.policy.default)
    if e["hostile"]:
        return
    bad = [d for part in msg.walk() for d in part.defects]
    if bad:
        raise SystemExit("make_mail_corpus: %s: defects %r" % (e["name"], bad))
    leaves = [p for p in msg.walk() if not p.is_multipart()
              and p.get_content_type() != "message/rfc822"]
    if e["leaves"] is not None and len(leaves) != len(e["leaves"]):
        raise SystemExit("make_mail_corpus: %s: %d leaves, manifest says %d"
                         % (e["name"], len(leaves), len(e["leaves"])))


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: make_mail_corpus.py OUTDIR\n")
        return 2
    out = os.path.abspath(argv[1])
    mdir = os.path.join(out, "mail")
    shutil.rmtree(mdir, ignore_errors=True)
    os.makedirs(mdir)
    self_check_jis()
    gen_charsets()
    gen_filenames()
    gen_html()
    gen_attachments()
    gen_nested()
    gen_archives()
    gen_hostile()
    make_clamdb.write_db(os.path.join(out, "clamdb"))
    for e in MANIFEST:
        validate(e)
        data = e.pop("_data")
        with open(os.path.join(mdir, e["name"]), "wb") as f:
            f.write(data)
        e["sha256"] = hashlib.sha256(data).hexdigest()
        e["size"] = len(data)
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"version": 1, "messages": MANIFEST}, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
