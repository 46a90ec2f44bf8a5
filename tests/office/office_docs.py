"""Office documents for the isolation and failure tests, written by hand (zip and XML), each
carrying the visible marker text DOC_MARK so that a test can tell it converted at all."""
import io
import struct
import zipfile

DOC_MARK = "ISOLATION DOCUMENT"

ODF_MIME = "application/vnd.oasis.opendocument.text"
ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
          'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
          'xmlns:xlink="http://www.w3.org/1999/xlink" '
          'xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" '
          'xmlns:ooo="http://openoffice.org/2004/office" '
          'xmlns:dom="http://www.w3.org/2001/xml-events" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
          'office:version="1.3"')
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFDOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"


def zip_bytes(members, first_stored=None):
    """A zip from (name, bytes) pairs; first_stored (ODF's mimetype) goes first, stored."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if first_stored:
            z.writestr(zipfile.ZipInfo(first_stored[0]), first_stored[1])
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def odt(body, extra=(), scripts="", manifest_extra=""):
    """An ODT whose office:text holds body (XML), with extra (name, bytes) members."""
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content %s>%s'
               '<office:body><office:text><text:p>%s</text:p>%s</office:text></office:body>'
               '</office:document-content>' % (ODF_NS, scripts, DOC_MARK, body))
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest %s>'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="%s"/>'
                '<manifest:file-entry manifest:full-path="content.xml" '
                'manifest:media-type="text/xml"/>%s</manifest:manifest>'
                % (ODF_NS, ODF_MIME, manifest_extra))
    return zip_bytes([("content.xml", content), ("META-INF/manifest.xml", manifest)]
                     + list(extra), first_stored=("mimetype", ODF_MIME))


def odt_linked_image(url):
    """An ODT whose picture is not embedded but linked to url (fetched on load if allowed)."""
    return odt('<text:p><draw:frame draw:name="pic" svg:width="5cm" svg:height="5cm" '
               'text:anchor-type="as-char"><draw:image xlink:href="%s" xlink:type="simple" '
               'xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></text:p>' % url)


def odt_section_link(path):
    """An ODT with a section that takes its content from the file at path."""
    return odt('<text:section text:name="linked"><text:section-source xlink:href="file://%s" '
               'xlink:type="simple"/><text:p>placeholder</text:p></text:section>' % path)


def odt_macro(mark_path):
    """An ODT whose Basic macro runs when it is opened: it would add MACRO RAN to the text
    and write the file mark_path."""
    basic = ('<?xml version="1.0" encoding="UTF-8"?>'
             '<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" '
             '"module.dtd"><script:module xmlns:script="http://openoffice.org/2000/script" '
             'script:name="Module1" script:language="StarBasic">Sub OnOpen\n'
             '  ThisComponent.Text.insertString(ThisComponent.Text.getEnd(), "MACRO RAN", False)\n'
             '  Open "%s" For Output As #1\n  Print #1, "macro"\n  Close #1\n'
             'End Sub\n</script:module>' % mark_path)
    lib = ('<?xml version="1.0" encoding="UTF-8"?>'
           '<!DOCTYPE library:library PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" '
           '"library.dtd"><library:library xmlns:library="http://openoffice.org/2000/library" '
           'library:name="Standard" library:readonly="false" library:passwordprotected="false">'
           '<library:element library:name="Module1"/></library:library>')
    libs = ('<?xml version="1.0" encoding="UTF-8"?>'
            '<!DOCTYPE library:libraries PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" '
            '"libraries.dtd"><library:libraries '
            'xmlns:library="http://openoffice.org/2000/library" '
            'xmlns:xlink="http://www.w3.org/1999/xlink"><library:library library:name="Standard" '
            'library:link="false"/></library:libraries>')
    events = ('<office:scripts><office:event-listeners><script:event-listener '
              'script:language="ooo:script" script:event-name="dom:load" '
              'xlink:href="vnd.sun.star.script:Standard.Module1.OnOpen?language=Basic&amp;'
              'location=document" xlink:type="simple"/></office:event-listeners></office:scripts>')
    man = ''.join('<manifest:file-entry manifest:full-path="%s" manifest:media-type="text/xml"/>'
                  % n for n in ("Basic/script-lc.xml", "Basic/Standard/script-lb.xml",
                                "Basic/Standard/Module1.xml"))
    return odt("", extra=[("Basic/script-lc.xml", libs), ("Basic/Standard/script-lb.xml", lib),
                          ("Basic/Standard/Module1.xml", basic)],
               scripts=events, manifest_extra=man)


DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def docx(body_xml, main_type=DOCX_MAIN, parts=(), doc_rels=()):
    """A docx whose body holds body_xml after a paragraph with the marker; parts are more
    (name, content type, bytes) members and doc_rels (id, type, target) relationships of the
    document part."""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" '
          'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/word/document.xml" ContentType="%s"/>%s</Types>'
          % (main_type, "".join('<Override PartName="/%s" ContentType="%s"/>' % (n, t)
                                for n, t, _ in parts)))
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="%s">'
            '<Relationship Id="rId1" Type="%s" Target="word/document.xml"/></Relationships>'
            % (RELS_NS, OFFDOC))
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="%s">'
           '<w:body><w:p><w:r><w:t>%s</w:t></w:r></w:p>%s</w:body></w:document>'
           % (W_NS, DOC_MARK, body_xml))
    members = [("[Content_Types].xml", ct), ("_rels/.rels", rels), ("word/document.xml", doc)]
    if doc_rels:
        members.append(("word/_rels/document.xml.rels",
                        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                        '<Relationships xmlns="%s">%s</Relationships>'
                        % (RELS_NS, "".join('<Relationship Id="%s" Type="%s" Target="%s"/>' % r
                                            for r in doc_rels))))
    return zip_bytes(members + [(n, data) for n, _, data in parts])


def docx_includetext(path):
    """A docx with an INCLUDETEXT field naming the file at path."""
    return docx('<w:p><w:fldSimple w:instr=" INCLUDETEXT &quot;%s&quot; \\* MERGEFORMAT ">'
                '<w:r><w:t>placeholder</w:t></w:r></w:fldSimple></w:p>' % path)


def docx_pages(paragraphs):
    """A long docx: paragraphs paragraphs of text (a conversion of a few seconds)."""
    para = ('<w:p><w:r><w:t>%s paragraph %%d: the quick brown fox jumps over the lazy dog, '
            'again and again, to fill the page.</w:t></w:r></w:p>' % DOC_MARK)
    return docx("".join(para % i for i in range(paragraphs)))


def fods_extref(path):
    """A flat ODF spreadsheet whose cell A1 refers to cell A1 of the CSV file at path."""
    return ('<?xml version="1.0" encoding="UTF-8"?><office:document %s '
            'office:mimetype="application/vnd.oasis.opendocument.spreadsheet">'
            '<office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-row>'
            '<table:table-cell table:formula="of:=[\'file://%s\'#$Sheet1.A1]"/>'
            '<table:table-cell office:value-type="string"><text:p>%s</text:p></table:table-cell>'
            '</table:table-row></table:table></office:spreadsheet></office:body></office:document>'
            % (ODF_NS, path, DOC_MARK))


def big_png(width, height):
    """A white RGB PNG of width x height pixels, written a row at a time: a few hundred
    kilobytes on disk, width * height * 3 bytes or more once decoded."""
    import zlib

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff))
    z = zlib.compressobj(9)
    row = b"\0" + b"\xff" * (width * 3)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def odt_picture(png):
    """An ODT showing the PNG png (bytes), embedded, 15 cm wide."""
    return odt('<text:p><draw:frame draw:name="pic" svg:width="15cm" svg:height="15cm" '
               'text:anchor-type="as-char"><draw:image xlink:href="Pictures/big.png" '
               'xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame>'
               '</text:p>', extra=[("Pictures/big.png", png)])


# A VBA project (MS-OVBA) in a compound file (MS-CFB), as Word keeps it in vbaProject.bin.

def ovba_compress(data):
    """data in the VBA compression of MS-OVBA 2.4.1: a signature byte, then one chunk for
    each 4096 bytes, each a run of flag bytes and the eight tokens (a literal byte or a copy
    of earlier bytes of the chunk) each flag byte announces."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start:start + 4096]
        body = ovba_compress_chunk(chunk)
        if len(body) > 4096:  # stored as it is, padded to the 4096 bytes of such a chunk
            out += struct.pack("<H", 0x3FFF) + chunk.ljust(4096, b"\0")
        else:
            out += struct.pack("<H", 0xB000 | (len(body) - 1)) + body
    return bytes(out)


def ovba_compress_chunk(chunk):
    """The tokens of one chunk: at each place the longest earlier match of 3 bytes or more
    (a copy token whose offset and length share 16 bits as the place in the chunk allows),
    else a literal."""
    out, pos, n = bytearray(), 0, len(chunk)
    while pos < n:
        flag_at, flags = len(out), 0
        out.append(0)
        for bit in range(8):
            if pos >= n:
                break
            offset_bits = max((pos - 1).bit_length(), 4)
            longest = min((0xFFFF >> offset_bits) + 3, n - pos)
            best, best_from = 0, 0
            for cand in range(pos - 1, -1, -1):
                size = 0
                while size < longest and chunk[cand + size] == chunk[pos + size]:
                    size += 1
                if size > best:
                    best, best_from = size, cand
            if best >= 3:
                out += struct.pack("<H", ((pos - best_from - 1) << (16 - offset_bits))
                                   | (best - 3))
                flags |= 1 << bit
                pos += best
            else:
                out.append(chunk[pos])
                pos += 1
        out[flag_at] = flags
    return out


def ovba_encrypt(project_id, data, seed=0x5A):
    """data obfuscated as MS-OVBA 2.4.3.2 does the protection fields of the PROJECT stream
    (CMG, DPB, GC), in hex: each byte is xored with the sum of the byte two places back in
    the output and the previous plain byte."""
    key = sum(project_id.encode("ascii")) & 0xFF
    version_enc, key_enc = seed ^ 2, seed ^ key
    out = bytearray([seed, version_enc, key_enc])
    state = [version_enc, key_enc, key]  # the next-to-last and last output, the last input
    for byte in bytes([7] * ((seed & 6) // 2)) + struct.pack("<I", len(data)) + data:
        enc = byte ^ ((state[0] + state[2]) & 0xFF)
        out.append(enc)
        state = [state[1], enc, byte]
    return out.hex().upper()


def vba_dir_record(rid, payload):
    """One record of the dir stream: its id, the size of payload, payload."""
    return struct.pack("<HI", rid, len(payload)) + payload


def vba_project(modules, name="Project"):
    """The streams of a VBA project (path in the compound file, bytes) holding modules, a
    list of (name, source, is_document): PROJECT (its properties as text), PROJECTwm (the
    module names in Unicode), VBA/_VBA_PROJECT (version 0xFFFF: no compiled code, so the
    source is all there is), VBA/dir (MS-OVBA 2.3.4.2, compressed) and one compressed
    stream of source for each module, at offset 0."""
    pid = "{9A3F4D2E-6B1C-4E8A-9F0D-2C7B5E1A3D64}"
    props = ['ID="%s"' % pid]
    props += ["Document=%s/&H00000000" % m if doc else "Module=%s" % m
              for m, _, doc in modules]
    props += ['Name="%s"' % name, 'HelpContextID="0"', 'VersionCompatible32="393222000"',
              'CMG="%s"' % ovba_encrypt(pid, bytes(4)), 'DPB="%s"' % ovba_encrypt(pid, b"\0"),
              'GC="%s"' % ovba_encrypt(pid, b"\xff"), "", "[Host Extender Info]",
              "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000", "",
              "[Workspace]"] + ["%s=0, 0, 0, 0, C" % m for m, _, _ in modules]
    wm = b"".join(m.encode("cp1252") + b"\0" + m.encode("utf-16-le") + b"\0\0"
                  for m, _, _ in modules) + b"\0\0"
    u32, u16 = (lambda v: struct.pack("<I", v)), (lambda v: struct.pack("<H", v))
    rec = vba_dir_record
    d = (rec(0x01, u32(1)) + rec(0x02, u32(0x409)) + rec(0x14, u32(0x409))  # win32, en-US
         + rec(0x03, u16(1252)) + rec(0x04, name.encode("cp1252"))
         + rec(0x05, b"") + rec(0x40, b"") + rec(0x06, b"") + rec(0x3D, b"")
         + rec(0x07, u32(0)) + rec(0x08, u32(0))
         + u16(0x09) + u32(4) + u32(1) + u16(0)  # PROJECTVERSION: 6 bytes after a size of 4
         + rec(0x0C, b"") + rec(0x3C, b"")
         + rec(0x0F, u16(len(modules))) + rec(0x13, u16(0xFFFF)))
    streams = [("PROJECT", ("\r\n".join(props) + "\r\n").encode("cp1252")),
               ("PROJECTwm", wm), ("VBA/_VBA_PROJECT", b"\xcc\x61\xff\xff\x00\x00\x00")]
    for m, source, doc in modules:
        d += (rec(0x19, m.encode("cp1252")) + rec(0x47, m.encode("utf-16-le"))
              + rec(0x1A, m.encode("cp1252")) + rec(0x32, m.encode("utf-16-le"))
              + rec(0x1C, b"") + rec(0x48, b"") + rec(0x31, u32(0)) + rec(0x1E, u32(0))
              + rec(0x2C, u16(0xFFFF)) + rec(0x22 if doc else 0x21, b"") + rec(0x2B, b""))
        streams.append(("VBA/" + m, ovba_compress(source.replace("\n", "\r\n")
                                                  .encode("cp1252"))))
    d += rec(0x10, b"")
    streams.append(("VBA/dir", ovba_compress(d)))
    return streams


CFB_FREE, CFB_END, CFB_FAT, CFB_NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def cfb_tree(entries, kids):
    """Link the entries kids (indexes in entries, siblings in one storage) as the red-black
    tree MS-CFB 2.6.4 asks for, ordered by name length and then by upper-case name: a
    balanced tree whose last level, when it is not full, is red. Its root."""
    order = sorted(kids, key=lambda i: (len(entries[i]["name"]), entries[i]["name"].upper()))
    depth = max(len(order).bit_length() - 1, 0)
    full = len(order) == (1 << (depth + 1)) - 1

    def build(lo, hi, level):
        if lo >= hi:
            return CFB_NONE
        mid = (lo + hi) // 2
        e = entries[order[mid]]
        e["left"], e["right"] = build(lo, mid, level + 1), build(mid + 1, hi, level + 1)
        e["color"] = 0 if level == depth and not full else 1
        return order[mid]
    return build(0, len(order), 0)


def cfb(streams):
    """A compound file (MS-CFB version 3: 512-byte sectors) holding streams, a list of
    (path, bytes) with storages named by the path; streams under 4096 bytes are kept in the
    mini stream (64-byte sectors), the others in sectors of their own."""
    entries = [{"name": "Root Entry", "type": 5, "kids": [], "data": b""}]
    where = {"": 0}
    for path, data in streams:
        parent = ""
        for part in path.split("/")[:-1]:
            key = parent + "/" + part
            if key not in where:
                where[key] = len(entries)
                entries[where[parent]]["kids"].append(len(entries))
                entries.append({"name": part, "type": 1, "kids": [], "data": b""})
            parent = key
        entries[where[parent]]["kids"].append(len(entries))
        entries.append({"name": path.split("/")[-1], "type": 2, "kids": [], "data": data})
    for e in entries:
        e.update(left=CFB_NONE, right=CFB_NONE, child=CFB_NONE, color=1, start=0, size=0)
    for e in entries:
        if e["kids"]:
            e["child"] = cfb_tree(entries, e["kids"])
    # The mini stream and its FAT.
    mini, minifat = bytearray(), []
    for e in entries:
        if e["type"] == 2 and len(e["data"]) < 4096:
            e["size"] = len(e["data"])
            if not e["data"]:
                e["start"] = CFB_END
                continue
            e["start"], count = len(mini) // 64, (len(e["data"]) + 63) // 64
            minifat += list(range(e["start"] + 1, e["start"] + count)) + [CFB_END]
            mini += e["data"].ljust(count * 64, b"\0")
    big = [i for i, e in enumerate(entries) if e["type"] == 2 and len(e["data"]) >= 4096]
    runs = [("dir", (len(entries) + 3) // 4), ("minifat", (len(minifat) * 4 + 511) // 512),
            ("mini", (len(mini) + 511) // 512)]
    runs += [(i, (len(entries[i]["data"]) + 511) // 512) for i in big]
    used = sum(n for _, n in runs)
    nfat = 1
    while nfat * 128 < nfat + used:
        nfat += 1
    if nfat > 109:
        raise ValueError("compound file too large for the header's FAT list")
    fat, first = [CFB_FAT] * nfat, {}
    for what, n in runs:  # each run a chain of consecutive sectors
        first[what] = len(fat) if n else CFB_END
        if n:
            fat += list(range(len(fat) + 1, len(fat) + n)) + [CFB_END]
    fat += [CFB_FREE] * (nfat * 128 - len(fat))
    entries[0]["start"], entries[0]["size"] = first["mini"], len(mini)
    for i in big:
        entries[i]["start"], entries[i]["size"] = first[i], len(entries[i]["data"])
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
              + struct.pack("<HHHHH6xIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, 0, nfat, first["dir"],
                            0, 4096, first["minifat"], (len(minifat) * 4 + 511) // 512,
                            CFB_END, 0)
              + struct.pack("<109I", *(list(range(nfat)) + [CFB_FREE] * (109 - nfat))))
    dirs = bytearray()
    for e in entries:
        raw = e["name"].encode("utf-16-le") + b"\0\0"
        dirs += (raw.ljust(64, b"\0")
                 + struct.pack("<HBBIII16sIQQIQ", len(raw), e["type"], e["color"], e["left"],
                               e["right"], e["child"], bytes(16), 0, 0, 0, e["start"],
                               e["size"]))
    empty = bytes(64) + struct.pack("<HBBIII16sIQQIQ", 0, 0, 0, CFB_NONE, CFB_NONE, CFB_NONE,
                                    bytes(16), 0, 0, 0, 0, 0)
    while len(dirs) % 512:
        dirs += empty

    def sectors(b):
        return bytes(b) + bytes(-len(b) % 512)
    mfat = struct.pack("<%dI" % len(minifat), *minifat)
    mfat += struct.pack("<I", CFB_FREE) * (-len(minifat) % 128)
    return (header + struct.pack("<%dI" % len(fat), *fat) + bytes(dirs) + mfat
            + sectors(mini) + b"".join(sectors(entries[i]["data"]) for i in big))


VBA_REL = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def docm_macro(mark_path):
    """A macro-enabled Word document (docm) whose VBA runs when it is opened: Document_Open
    of ThisDocument and AutoOpen of the module AutoMacros each add a line to the file
    mark_path and text with MACRO RAN to the document."""
    def sub(name):
        return ('Sub %s()\n  Open "%s" For Append As #1\n  Print #1, "%s"\n  Close #1\n'
                '  Selection.TypeText "MACRO RAN %s "\nEnd Sub\n'
                % (name, mark_path, name, name.upper()))
    this = ('Attribute VB_Name = "ThisDocument"\nAttribute VB_Base = "1Normal.ThisDocument"\n'
            'Attribute VB_GlobalNameSpace = False\nAttribute VB_Creatable = False\n'
            'Attribute VB_PredeclaredId = True\nAttribute VB_Exposed = True\n'
            'Attribute VB_TemplateDerived = True\nAttribute VB_Customizable = True\n'
            + sub("Document_Open"))
    auto = 'Attribute VB_Name = "AutoMacros"\n' + sub("AutoOpen")
    vba = cfb(vba_project([("ThisDocument", this, True), ("AutoMacros", auto, False)]))
    return docx("", main_type=DOCM_MAIN,
                parts=[("word/vbaProject.bin", "application/vnd.ms-office.vbaProject", vba)],
                doc_rels=[("rId1", VBA_REL, "vbaProject.bin")])


XLSM_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
SML_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFDOC_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def xlsm_macro(mark_path):
    """A macro-enabled workbook (xlsm) whose VBA runs when it is opened: Workbook_Open of
    ThisWorkbook adds a line to the file mark_path and MACRO RAN to cell A2."""
    this = ('Attribute VB_Name = "ThisWorkbook"\n'
            'Attribute VB_Base = "0{00020819-0000-0000-C000-000000000046}"\n'
            'Attribute VB_GlobalNameSpace = False\nAttribute VB_Creatable = False\n'
            'Attribute VB_PredeclaredId = True\nAttribute VB_Exposed = True\n'
            'Attribute VB_TemplateDerived = False\nAttribute VB_Customizable = True\n'
            'Private Sub Workbook_Open()\n  Open "%s" For Append As #1\n'
            '  Print #1, "Workbook_Open"\n  Close #1\n'
            '  Worksheets(1).Range("A2").Value = "MACRO RAN WORKBOOK_OPEN"\nEnd Sub\n'
            % mark_path)
    sheet = ('Attribute VB_Name = "Sheet1"\n'
             'Attribute VB_Base = "0{00020820-0000-0000-C000-000000000046}"\n'
             'Attribute VB_GlobalNameSpace = False\nAttribute VB_Creatable = False\n'
             'Attribute VB_PredeclaredId = True\nAttribute VB_Exposed = True\n'
             'Attribute VB_TemplateDerived = False\nAttribute VB_Customizable = True\n')
    vba = cfb(vba_project([("ThisWorkbook", this, True), ("Sheet1", sheet, True)],
                          name="VBAProject"))
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    ct = (head + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" '
          'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" ContentType="%s"/>'
          '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
          'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
          '<Override PartName="/xl/vbaProject.bin" '
          'ContentType="application/vnd.ms-office.vbaProject"/></Types>' % XLSM_MAIN)
    rels = (head + '<Relationships xmlns="%s"><Relationship Id="rId1" Type="%s" '
            'Target="xl/workbook.xml"/></Relationships>' % (RELS_NS, OFFDOC))
    wbrels = (head + '<Relationships xmlns="%s"><Relationship Id="rId1" Type="%s/worksheet" '
              'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="%s" '
              'Target="vbaProject.bin"/></Relationships>' % (RELS_NS, OFFDOC_NS, VBA_REL))
    wb = (head + '<workbook xmlns="%s" xmlns:r="%s"><workbookPr codeName="ThisWorkbook"/>'
          '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
          % (SML_NS, OFFDOC_NS))
    ws = (head + '<worksheet xmlns="%s"><sheetPr codeName="Sheet1"/><sheetData><row r="1">'
          '<c r="A1" t="inlineStr"><is><t>%s</t></is></c></row></sheetData></worksheet>'
          % (SML_NS, DOC_MARK))
    return zip_bytes([("[Content_Types].xml", ct), ("_rels/.rels", rels),
                      ("xl/workbook.xml", wb), ("xl/_rels/workbook.xml.rels", wbrels),
                      ("xl/worksheets/sheet1.xml", ws), ("xl/vbaProject.bin", vba)])
