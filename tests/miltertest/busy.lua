-- The only worker is occupied and queue_wait is 1 s: the message is
-- deferred with 451 4.7.1 instead of waiting or passing unsanitized.
conn = mt.connect(os.getenv("MUGAI_SOCK"), 40, 0.25)
assert(conn, "cannot connect to mugai-milter")
mt.set_timeout(120)
assert(mt.conninfo(conn, "mail.example.com", "192.0.2.1") == nil)
assert(mt.mailfrom(conn, "<alice@example.com>") == nil)
assert(mt.rcptto(conn, "<bob@example.lg.jp>") == nil)
assert(mt.header(conn, "Subject", " wait") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "hello\r\n") == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_REPLYCODE, "not deferred")
mt.disconnect(conn)
