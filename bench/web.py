#!/usr/bin/python3
"""bench/web.py BUILD_DIR [--messages N] [--requests N] - the review console's latency.

A store is built the real way first: sanitize-file quarantines a few dozen varied
messages (plain, HTML-free Japanese text, attachments, a virus). Their rows are then
copied with new ids in one SQLite transaction until the store holds --messages
(100,000) messages, their times spread over the last six months and their verdict,
status, sender and subject varied; the copies share their template's original.
(Copies get no audit events: the hash chain is the store's to write.)

mugai-web then serves that store on loopback and a signed-in client measures, over
HTTP on one kept-alive connection, --requests (300) of each of:
  floor         GET /api/v1/me (session check and JSON, no query)
  list q        GET messages?q=SUBSTRING&limit=50&offset=K
  list sender   GET messages?sender=SUBSTRING&limit=50&offset=K
  list verdict  GET messages?verdict=V&status=S&limit=50&offset=K
  list dates    GET messages?since=DATE&until=DATE&limit=50&offset=K
  message       GET messages/ID of a random stored message
and prints the median and 95th percentile of each. Aim: 95th percentile < 50 ms.
Figures are printed, never asserted.
"""
import argparse
import http.client
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "web"))
import webharness as wh  # noqa: E402
import make_clamdb  # noqa: E402

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # quar_new_id's: no 0/O, 1/I/L, U
SENDERS = ["keiri@vendor%d.example" % i for i in range(40)] + [
    "info@shop.example", "noreply@bank.example", "somu@pref.example.lg.jp"]
TOPICS = ["請求書", "見積書", "会議のお知らせ", "議事録", "納品書", "契約書の送付", "研修案内",
          "Invoice", "Meeting minutes", "お問い合わせ"]
VERDICTS = ["clean"] * 5 + ["sanitized"] * 4 + ["blocked", "failed"]
STATUSES = ["quarantined"] * 14 + ["released", "deleted", "purged"]
DAY = 86400


def templates():
    """A few dozen varied messages for sanitize-file to quarantine: {name: bytes}."""
    eicar = make_clamdb.eicar_bytes()
    out = {}
    for i in range(30):
        att = []
        if i % 3 == 0:
            att.append(("資料%d.txt" % i, "text/plain", ("資料 %d\n" % i).encode() * 50))
        if i % 7 == 0:
            att.append(("eicar%d.com" % i, "application/octet-stream", eicar))
        if i % 5 == 0:
            att.append(("data%d.csv" % i, "text/csv", b"a,b,=1+2\n1,2,3\n"))
        out["t%02d.eml" % i] = wh.eml("%s %d" % (TOPICS[i % len(TOPICS)], i),
                                      sender=SENDERS[i % len(SENDERS)],
                                      to="somu@city.example.lg.jp, user%d@city.example.lg.jp" % i,
                                      body="本文 %d です。\n" % i * 20, attachments=att)
    return out


def new_id(t, taken, rnd):
    """A readable id for time t not in taken."""
    day = time.strftime("%Y%m%d", time.gmtime(t))
    while True:
        qid = "Q-%s-%s" % (day, "".join(rnd.choice(ALPHABET) for _ in range(6)))
        if qid not in taken:
            taken.add(qid)
            return qid


def columns(db, table):
    return [r[1] for r in db.execute("PRAGMA table_info(%s)" % table)]


def fill(dbpath, target, rnd):
    """Copy the stored messages' rows, with the rows of the tables that hang off them
    (recipients, parts, the decoded headers and clean text), under new ids until the store
    holds target messages. Returns the ids."""
    db = sqlite3.connect(dbpath, timeout=60)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    children = [t for t in ("recipients", "parts", "msg_texts") if t in tables]
    mcols = columns(db, "messages")
    ccols = {t: columns(db, t) for t in children}
    tmpl = [r[0] for r in db.execute("SELECT id FROM messages")]
    taken = set(tmpl)
    ids = list(tmpl)
    now = int(time.time())
    retention = 90 * DAY
    rows = {}
    for t in tmpl:
        m = db.execute("SELECT %s FROM messages WHERE id = ?" % ", ".join(mcols), (t,)).fetchone()
        kids = {c: db.execute("SELECT %s FROM %s WHERE msg_id = ?" % (", ".join(ccols[c]), c),
                              (t,)).fetchall() for c in children}
        rows[t] = (m, kids)

    def insert(table, cols):
        return "INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(cols),
                                                    ", ".join("?" * len(cols)))

    mins = insert("messages", mcols)
    cins = {c: insert(c, ccols[c]) for c in children}
    with db:
        for n in range(len(tmpl), target):
            m, kids = rows[rnd.choice(tmpl)]
            t = now - rnd.randrange(183 * DAY)
            qid = new_id(t, taken, rnd)
            over = {"id": qid, "time": t, "expires": t + retention,
                    "verdict": rnd.choice(VERDICTS), "status": rnd.choice(STATUSES),
                    "sender": rnd.choice(SENDERS),
                    "subject": "%s %d" % (rnd.choice(TOPICS), n)}
            db.execute(mins, [over.get(c, v) for c, v in zip(mcols, m)])
            for c in children:
                db.executemany(cins[c], [[qid if k == "msg_id" else v
                                          for k, v in zip(ccols[c], r)] for r in kids[c]])
            ids.append(qid)
    db.execute("ANALYZE")
    db.close()
    return ids


class Conn:
    """One kept-alive HTTP connection with the session cookie; reconnects when closed."""

    def __init__(self, port, cookie):
        self.port, self.cookie = port, cookie
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path):
        """GET path; (status, seconds, body length)."""
        for attempt in range(2):
            try:
                t = time.perf_counter()
                self.c.request("GET", path, headers={"Cookie": self.cookie})
                r = self.c.getresponse()
                body = r.read()
                return r.status, time.perf_counter() - t, len(body)
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        raise RuntimeError("GET %s failed twice" % path)


def measure(conn, paths):
    """Latencies (ms) of GETting each path; stops on a non-200 answer."""
    out = []
    for p in paths:
        status, secs, _ = conn.get(p)
        if status != 200:
            raise RuntimeError("GET %s: HTTP %d" % (p, status))
        out.append(secs * 1e3)
    return out


def p95(xs):
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--requests", type=int, default=300)
    a = ap.parse_args()
    rnd = random.Random(20261129)
    tmp = tempfile.mkdtemp(prefix="mugai-bench-web-")
    try:
        h = wh.WebHarness(tmp, a.build, sink=False)
        t = time.monotonic()
        stored = h.put_messages(templates())
        print("store: %d messages quarantined by sanitize-file in %.1f s" %
              (len(stored), time.monotonic() - t))
        t = time.monotonic()
        ids = fill(h.db, a.messages, rnd)
        print("store: copied to %d messages (six months, varied verdict/status) in %.1f s; "
              "index %.0f MiB" % (len(ids), time.monotonic() - t,
                                  os.path.getsize(h.db) / 1048576))
        password = "bench-%s-password" % rnd.getrandbits(64)
        h.add_user("bench", "auditor", password)
        h.start()
        c = h.client()
        r = c.login("bench", password)
        if r.status != 200:
            raise SystemExit("bench: login failed: %r\n%s" % (r, h.tail_log()))
        conn = Conn(h.port, c.cookie)
        n = a.requests
        now = int(time.time())

        def day(t):
            return time.strftime("%Y-%m-%d", time.gmtime(t))

        api = wh.API
        q = urllib.parse.quote
        cases = [
            ("floor: GET me", [api + "me"] * n),
            ("list q=substring", [api + "messages?q=%s&limit=50&offset=%d" % (
                q(rnd.choice(["請求", "会議", "Invoice", "議事録", "送付"])), rnd.randrange(0, 500, 50))
                for _ in range(n)]),
            ("list sender=substring", [api + "messages?sender=%s&limit=50&offset=%d" % (
                q(rnd.choice(["vendor1", "bank", "shop", "pref.example"])),
                rnd.randrange(0, 500, 50)) for _ in range(n)]),
            ("list verdict+status", [api + "messages?verdict=%s&status=%s&limit=50&offset=%d" % (
                rnd.choice(["clean", "sanitized", "blocked"]),
                rnd.choice(["quarantined", "released"]), rnd.randrange(0, 500, 50))
                for _ in range(n)]),
            ("list date range", [api + "messages?since=%s&until=%s&limit=50&offset=%d" % (
                day(s), day(s + rnd.choice([7, 30]) * DAY), rnd.randrange(0, 500, 50))
                for s in (now - rnd.randrange(30, 180) * DAY for _ in range(n))]),
            ("message page GET messages/ID", [api + "messages/" + rnd.choice(ids)
                                              for _ in range(n)]),
        ]
        measure(conn, [api + "messages?limit=50"] * 20)  # warm the page cache
        print()
        print("%-30s %6s %10s %10s   %s" % ("request (%d messages)" % len(ids), "n",
                                            "median ms", "p95 ms", "target p95 < 50 ms"))
        for name, paths in cases:
            ms = measure(conn, paths)
            verdict = "" if name.startswith("floor") else ("met" if p95(ms) < 50 else "NOT met")
            print("%-30s %6d %10.2f %10.2f   %s" % (name, len(ms), statistics.median(ms),
                                                    p95(ms), verdict))
        print()
        print("(one kept-alive connection, one request at a time, mugai-web on 127.0.0.1; "
              "the floor is the same run's cheapest signed-in request)")
        h.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
