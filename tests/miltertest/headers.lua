-- A MIME message with an attachment: the body is replaced and the content
-- headers, X-Mugai-* and the subject tag are applied after it.
-- miltertest reads every end-of-message reply into a 1 KiB buffer without a
-- bound (mt_milter_read ignores the size it is given), so the clean body here
-- (about 1020 bytes: "hello" and the notice, base64) must stay under 1 KiB.
-- Larger replacement bodies are tested in tests/milter/test_replbody.py.
conn = mt.connect(os.getenv("MUGAI_SOCK"), 40, 0.25)
assert(conn, "cannot connect to mugai-milter")
mt.set_timeout(120)
assert(mt.conninfo(conn, "mail.example.com", "192.0.2.1") == nil)
mt.macro(conn, SMFIC_MAIL, "i", "ABC123")
assert(mt.mailfrom(conn, "<alice@example.com>") == nil)
assert(mt.rcptto(conn, "<bob@example.lg.jp>") == nil)
assert(mt.header(conn, "From", " Alice <alice@example.com>") == nil)
assert(mt.header(conn, "To", " bob@example.lg.jp") == nil)
assert(mt.header(conn, "Subject", " hello") == nil)
assert(mt.header(conn, "X-Mugai-Sanitized", " forged") == nil)
assert(mt.header(conn, "MIME-Version", " 1.0") == nil)
assert(mt.header(conn, "Content-Type", " multipart/mixed; boundary=\"XX\"") == nil)
assert(mt.header(conn, "Content-Disposition", " inline") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\n" ..
  "Content-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename=\"a.exe\"\r\n" ..
  "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAA\r\n--XX--\r\n") == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_ACCEPT, "not accepted")
assert(mt.eom_check(conn, MT_BODYCHANGE), "no body change")
assert(mt.eom_check(conn, MT_HDRDELETE, "Content-Disposition"), "Content-Disposition kept")
assert(mt.eom_check(conn, MT_HDRDELETE, "X-Mugai-Sanitized"), "forged X-Mugai kept")
assert(mt.eom_check(conn, MT_HDRCHANGE, "Content-Type"), "Content-Type not changed")
assert(mt.eom_check(conn, MT_HDRADD, "X-Mugai-Sanitized"), "no X-Mugai-Sanitized")
assert(mt.eom_check(conn, MT_HDRADD, "X-Mugai-Quarantine-Id"), "no quarantine id")
if os.getenv("MUGAI_TAG") then
  assert(mt.eom_check(conn, MT_HDRCHANGE, "Subject"), "subject not tagged")
end
mt.disconnect(conn)
-- With the subject tag, every Subject is tagged, not only the first one.
if os.getenv("MUGAI_TAG") then
  conn = mt.connect(os.getenv("MUGAI_SOCK"), 40, 0.25)
  assert(conn, "cannot connect to mugai-milter")
  mt.set_timeout(120)
  assert(mt.conninfo(conn, "mail.example.com", "192.0.2.1") == nil)
  mt.macro(conn, SMFIC_MAIL, "i", "TWOSUBJ")
  assert(mt.mailfrom(conn, "<alice@example.com>") == nil)
  assert(mt.rcptto(conn, "<bob@example.lg.jp>") == nil)
  assert(mt.header(conn, "From", " alice@example.com") == nil)
  assert(mt.header(conn, "Subject", " hello") == nil)
  assert(mt.header(conn, "Subject", " second") == nil)
  assert(mt.eoh(conn) == nil)
  assert(mt.bodystring(conn, "hello\r\n") == nil)
  assert(mt.eom(conn) == nil)
  assert(mt.getreply(conn) == SMFIR_ACCEPT, "not accepted")
  -- "[SAN] hello" and "[SAN] second" as encoded words
  assert(mt.eom_check(conn, MT_HDRCHANGE, "Subject", " =?UTF-8?B?W1NBTl0gaGVsbG8=?="),
         "first subject not tagged")
  assert(mt.eom_check(conn, MT_HDRCHANGE, "Subject", " =?UTF-8?B?W1NBTl0gc2Vjb25k?="),
         "second subject not tagged")
  mt.disconnect(conn)
end
