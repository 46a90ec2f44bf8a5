-- A plain-text body of about 70 KiB: the replacement body arrives in
-- several chunks of at most 64 KiB.
conn = mt.connect(os.getenv("MUGAI_SOCK"), 40, 0.25)
assert(conn, "cannot connect to mugai-milter")
mt.set_timeout(120)
assert(mt.conninfo(conn, "mail.example.com", "192.0.2.1") == nil)
assert(mt.mailfrom(conn, "<alice@example.com>") == nil)
assert(mt.rcptto(conn, "<bob@example.lg.jp>") == nil)
assert(mt.header(conn, "Subject", " big") == nil)
assert(mt.header(conn, "Content-Type", " text/plain; charset=us-ascii") == nil)
assert(mt.eoh(conn) == nil)
line = string.rep("0123456789", 7) .. "\r\n"
chunk = string.rep(line, 100)
for i = 1, 10 do
  assert(mt.bodystring(conn, chunk) == nil)
end
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_ACCEPT, "not accepted")
assert(mt.eom_check(conn, MT_BODYCHANGE), "no body change")
assert(mt.eom_check(conn, MT_HDRADD, "X-Mugai-Quarantine-Id"), "no quarantine id")
mt.disconnect(conn)
