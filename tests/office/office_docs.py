"""Office documents for the isolation and failure tests, written by hand (zip and XML), each
carrying the visible marker text DOC_MARK so that a test can tell it converted at all."""
import io
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
              'script:language="ooo:script" script:event-name="office:load" '
              'xlink:href="vnd.sun.star.script:Standard.Module1.OnOpen?language=Basic&amp;'
              'location=document" xlink:type="simple"/></office:event-listeners></office:scripts>')
    man = ''.join('<manifest:file-entry manifest:full-path="%s" manifest:media-type="text/xml"/>'
                  % n for n in ("Basic/script-lc.xml", "Basic/Standard/script-lb.xml",
                                "Basic/Standard/Module1.xml"))
    return odt("", extra=[("Basic/script-lc.xml", libs), ("Basic/Standard/script-lb.xml", lib),
                          ("Basic/Standard/Module1.xml", basic)],
               scripts=events, manifest_extra=man)


def docx(body_xml):
    """A docx whose body holds body_xml after a paragraph with the marker."""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" '
          'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/word/document.xml" ContentType="application/'
          'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="%s">'
            '<Relationship Id="rId1" Type="%s" Target="word/document.xml"/></Relationships>'
            % (RELS_NS, OFFDOC))
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="%s">'
           '<w:body><w:p><w:r><w:t>%s</w:t></w:r></w:p>%s</w:body></w:document>'
           % (W_NS, DOC_MARK, body_xml))
    return zip_bytes([("[Content_Types].xml", ct), ("_rels/.rels", rels),
                      ("word/document.xml", doc)])


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
    import struct
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
