#!/usr/bin/python3
"""API tests of the review console: a real mugai-web on loopback over real HTTP,
a real store filled by sanitize-file, accounts made with `mugai-web user add`,
and an SMTP listener on 127.0.0.1 (answering "250 2.0.0 Ok: queued as ID") that
receives releases. What is asserted is what a user of the API sees: statuses,
bodies, headers, cookies, what arrived at the listener, what the audit trail and
`mugai-quarantine audit verify` say.

Two further daemons share the main store for a few cases: one with
release_approvals = 1, and ones whose release listener is down or refuses.
A second, separate store serves the cases that need time to pass:
session_idle_minutes = 1 and lockout_minutes = 1, checked after a real wait of
a little over a minute (taken while the other tests run).

usage: test_api.py BUILD_DIR
"""
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import webharness as wh  # noqa: E402  (puts tests/gen on the path)
import make_clamdb  # noqa: E402

BUILD = None
CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
BAD_LOGIN = None  # the one 401 body every failed sign-in gets (learned from an unknown user)
XSS = "<img src=x onerror=alert(1)>"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
QUEUED = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$")


def pw():
    """A password of this run only (so that a search of the store can find it)."""
    return "Pw-%s-secret" % secrets.token_hex(10)


def acted(events):
    """The events that record an action (without views of the record, if those are audited)."""
    return [e for e in events if e["action"] != "shown"]


PASSWORDS = {name: pw() for name in ("alice", "bob", "rita", "aud", "locky", "dora",
                                     "timer", "neu", "late", "idle")}


class ApiTest(unittest.TestCase):
    """One store with a few dozen messages and one mugai-web, shared by the tests."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mugai-web-api-")
        cls.t0 = time.monotonic()
        cls.slow = cls.slow_setup()
        cls.h = h = wh.WebHarness(os.path.join(cls.tmp, "main"), BUILD,
                                  web={"lockout_failures": 3, "lockout_minutes": 15,
                                       "session_max_hours": 1})
        for name, role in (("alice", "admin"), ("bob", "admin"), ("rita", "reviewer"),
                           ("aud", "auditor"), ("locky", "reviewer"), ("dora", "reviewer"),
                           ("timer", "auditor")):
            h.add_user(name, role, PASSWORDS[name])
        r = h.user("disable", "dora")
        assert r.returncode == 0, r.stderr
        cls.originals = {}
        cls.ids = h.put_messages(cls.corpus())
        h.start()
        cls.alice = cls.signed_in("alice")
        cls.bob = cls.signed_in("bob")
        cls.rita = cls.signed_in("rita")
        cls.aud = cls.signed_in("aud")

    @classmethod
    def slow_setup(cls):
        """The store for cases that need a minute to pass: a session left idle and an
        account locked, both started now and checked at the end."""
        s = wh.WebHarness(os.path.join(cls.tmp, "slow"), BUILD, sink=False,
                          web={"session_idle_minutes": 1, "lockout_failures": 2,
                               "lockout_minutes": 1})
        s.add_user("idle", "auditor", PASSWORDS["idle"])
        s.add_user("late", "auditor", PASSWORDS["late"])
        s.start()
        s.idle_client = c = s.client()
        r = c.login("idle", PASSWORDS["idle"])
        assert r.status == 200, r
        assert c.get("me").status == 200
        s.idle_since = time.monotonic()
        for _ in range(2):
            assert s.client().login("late", "wrong password!!").status == 401
        s.locked_since = time.monotonic()
        s.locked_right = s.client().login("late", PASSWORDS["late"]).status
        return s

    @classmethod
    def corpus(cls):
        """The messages of the store: named ones the tests act on, and 55 fillers."""
        eicar = make_clamdb.eicar_bytes()
        msgs = {
            "invoice.eml": wh.eml("請求書 2026年11月分", sender="keiri@vendor.example",
                                  to="kaikei@city.example.lg.jp", body="請求書を送ります。"),
            "xss.eml": wh.eml("見積 " + XSS, sender="attacker@evil.example",
                              body="見積書を添付します。",
                              attachments=[(XSS + ".txt", "text/plain", b"hello"),
                                           ("eicar.com", "application/octet-stream", eicar)]),
        }
        # a Message-ID kept as the sender's bytes, which are not UTF-8
        msgs["badbytes.eml"] = (b"From: odd@sender.example\r\nTo: somu@city.example.lg.jp\r\n"
                                b"Subject: bytes\r\nMessage-ID: <a\xffb@sender.example>\r\n"
                                b"MIME-Version: 1.0\r\n"
                                b"Content-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n")
        for name in ("rel", "self", "to", "deny", "dup", "exp", "del", "adel", "fail", "one",
                     "onerev", "csrf", "roles", "exp2", "bad"):
            msgs[name + ".eml"] = wh.eml("操作 %s のテスト" % name, sender="%s@sender.example" % name,
                                         to="somu@city.example.lg.jp, jinji@city.example.lg.jp",
                                         body="%s の本文です。\n.dot line\n" % name)
        for i in range(55):
            msgs["filler%02d.eml" % i] = wh.eml("定例会議のお知らせ %02d" % i,
                                                sender="filler@city.example",
                                                body="会議 %d" % i)
        cls.originals = msgs
        return msgs

    @classmethod
    def signed_in(cls, name, port=None):
        """A client signed in as name."""
        c = cls.h.client(port)
        r = c.login(name, PASSWORDS[name])
        assert r.status == 200, "login %s: %r\n%s" % (name, r, cls.h.tail_log())
        return c

    @classmethod
    def tearDownClass(cls):
        cls.h.close()
        cls.slow.close()
        if os.environ.get("MUGAI_KEEP"):
            print("work directory kept:", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers

    def status(self, r, code, what=""):
        """Assert r's HTTP status, showing the body and the daemon's log when it differs."""
        if r.status != code:
            self.fail("%s: expected HTTP %d, got %r\n--- mugai-web log:\n%s"
                      % (what, code, r, self.h.tail_log(15)))

    def error(self, r, code, what=""):
        """Assert an error answer: the status and a JSON {"error": non-empty text}."""
        self.status(r, code, what)
        self.assertIn("application/json", r.headers.get("Content-Type", ""), what)
        self.assertIsInstance(r.json.get("error"), str, what)
        self.assertTrue(r.json["error"], what)
        return r.json["error"]

    def request(self, client, name, action, reason="業務上必要なため", **extra):
        """POST messages/ID/requests for the corpus message name."""
        body = {"action": action, "reason": reason}
        body.update(extra)
        return client.post("messages/%s/requests" % self.ids[name], body)

    def original(self, name):
        return self.originals[name]

    def arrived(self, qid):
        """The message the listener queued as qid: (sender, rcpts, bytes), or None."""
        for q, sender, rcpts, data in self.h.sink.messages():
            if q == qid:
                return sender, rcpts, data
        return None

    def item_events(self, name, client=None):
        r = (client or self.aud).get("messages/" + self.ids[name])
        self.status(r, 200)
        return r.json["events"]

    # ------------------------------------------------------------ sign-in, sessions, cookies

    def test_01_login_answer_and_cookie(self):
        c = self.h.client()
        r = c.login("rita", PASSWORDS["rita"])
        self.status(r, 200, "login")
        self.assertEqual(r.json["user"], "rita")
        self.assertEqual(r.json["role"], "reviewer")
        self.assertRegex(r.json["csrf"], r"^[0-9a-f]{32,}$")
        sc = r.headers.get("Set-Cookie")
        self.assertIsNotNone(sc, "login sets the session cookie")
        m = re.match(r"mugai_session=([^;]*)", sc)
        self.assertIsNotNone(m, sc)
        self.assertRegex(m.group(1), HEX64, "256 random bits as 64 hex digits")
        attrs = [a.strip().lower() for a in sc.split(";")[1:]]
        self.assertIn("httponly", attrs)
        self.assertIn("samesite=strict", attrs)
        self.assertIn("path=/", attrs)
        self.assertNotIn("secure", attrs, "plain HTTP on loopback: no Secure attribute")
        me = c.get("me")
        self.status(me, 200, "me")
        self.assertEqual(me.json["user"], "rita")
        self.assertEqual(me.json["role"], "reviewer")
        self.assertEqual(me.json["csrf"], r.json["csrf"])
        self.assertEqual(me.json["approvals"], 2)
        other = self.h.client()
        other.login("rita", PASSWORDS["rita"])
        self.assertNotEqual(other.cookie, c.cookie, "each sign-in gets a new session")
        self.assertNotEqual(other.csrf, c.csrf)

    def test_02_failed_sign_ins_look_alike(self):
        answers = {}
        for what, user, password in (("unknown user", "nobody-here", "whatever password"),
                                     ("wrong password", "bob", "not bob's password"),
                                     ("disabled account", "dora", PASSWORDS["dora"]),
                                     ("empty password", "bob", "")):
            c = self.h.client()
            r = c.login(user, password)
            answers[what] = self.error(r, 401, what)
            self.assertIsNone(r.headers.get("Set-Cookie"), what + ": no session cookie")
            self.assertIsNone(c.cookie)
        self.assertEqual(len(set(answers.values())), 1,
                         "every failed sign-in gets the same answer: %r" % answers)
        # an unknown user costs the server a password check too (no fast path that tells)
        times = {"unknown": [], "wrong": []}
        for i in range(6):
            for key, user in (("unknown", "nobody-%s" % secrets.token_hex(3)), ("wrong", "timer")):
                t = time.monotonic()
                self.assertEqual(self.h.client().login(user, "wrong password here").status, 401)
                times[key].append(time.monotonic() - t)
            if i % 2:  # a success clears the failure count: never locked, always checked
                self.status(self.h.client().login("timer", PASSWORDS["timer"]), 200)
        unknown, wrong = statistics.median(times["unknown"]), statistics.median(times["wrong"])
        self.assertGreater(unknown, wrong * 0.3,
                           "an unknown user answered in %.1f ms, a wrong password in %.1f ms"
                           % (unknown * 1e3, wrong * 1e3))
        r = self.h.client().request("POST", "login", "{not json", csrf=False)
        self.assertIn(r.status, (400, 401), "login with a body that is not JSON: %r" % r)
        self.status(self.h.client().login("bob", PASSWORDS["bob"]), 200,
                    "two failures do not lock (3 needed within 15 minutes)")

    def test_03_unauthenticated_is_401(self):
        anon = self.h.client()
        for method, path in (("GET", "me"), ("GET", "messages"),
                             ("GET", "messages/" + self.ids["invoice.eml"]),
                             ("GET", "requests"), ("GET", "audit"), ("GET", "audit/verify"),
                             ("GET", "users"), ("POST", "logout"),
                             ("POST", "messages/%s/requests" % self.ids["roles.eml"]),
                             ("GET", "downloads/" + "0" * 64)):
            body = {"action": "release", "reason": "x"} if method == "POST" else None
            self.error(anon.request(method, path, body), 401, "%s %s without a cookie" % (
                method, path))
        forged = self.h.client()
        forged.cookie = "mugai_session=" + secrets.token_hex(32)
        self.error(forged.get("me"), 401, "a cookie the server never gave")
        forged.cookie = "mugai_session=" + "a" * 10
        self.error(forged.get("me"), 401, "a malformed cookie")

    def test_04_logout(self):
        c = self.signed_in("rita")
        old = c.cookie
        self.error(c.post("logout", csrf=False), 403, "logout without the CSRF token")
        self.status(c.get("me"), 200, "still signed in after the refused logout")
        r = c.post("logout")
        self.status(r, 200, "logout")
        self.assertEqual(r.json, {"ok": True})
        sc = r.headers.get("Set-Cookie") or ""
        self.assertRegex(sc.lower(), r"mugai_session=;|max-age=0|expires=thu, 01 jan 1970",
                         "the cookie is cleared")
        c.cookie = old
        self.error(c.get("me"), 401, "the session is gone on the server, not only in the browser")

    def test_05_session_absolute_expiry(self):
        # session_max_hours = 1 (the smallest): the session's creation is moved two hours back
        # with sqlite3, as waiting an hour is out of the question; the session stays fresh
        # (just used), so only the absolute limit can end it.
        c = self.signed_in("rita")
        self.status(c.get("me"), 200)
        token = c.cookie.split("=", 1)[1]
        digest = hashlib.sha256(token.encode()).hexdigest()
        db = sqlite3.connect(self.h.db, timeout=30)
        with db:
            n = db.execute("UPDATE sessions SET created = created - 7200 WHERE token_hash = ?",
                           (digest,)).rowcount
        db.close()
        self.assertEqual(n, 1, "the session is stored by the SHA-256 of its cookie")
        self.error(c.get("me"), 401, "a session older than session_max_hours")

    # ------------------------------------------------------------ headers, methods, paths

    def test_06_security_headers_everywhere(self):
        anon = self.h.client()
        answers = {
            "GET me": self.rita.get("me"),
            "GET messages": self.rita.get("messages?limit=1"),
            "401": anon.get("me"),
            "404 api": self.rita.get("no-such-thing"),
            "405": self.rita.get("login"),
            "failed login": anon.login("nobody", "nothing at all"),
            "403 csrf": self.rita.post("logout", csrf=False),
        }
        for what, r in answers.items():
            self.assertEqual(r.headers.get("Content-Security-Policy"), CSP, what)
            self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff", what)
            self.assertEqual(r.headers.get("Referrer-Policy"), "no-referrer", what)
            self.assertEqual(r.headers.get("Cache-Control"), "no-store", what)
            self.assertRegex(r.headers.get("Content-Type", ""),
                             r"^application/json; ?charset=utf-8$", what)
        page = anon.get("/")
        self.status(page, 200, "the page")
        self.assertIn("text/html", page.headers.get("Content-Type", ""))
        self.assertEqual(page.headers.get("Content-Security-Policy"), CSP, "the page")
        self.assertEqual(page.headers.get("X-Content-Type-Options"), "nosniff", "the page")
        self.assertEqual(page.headers.get("Referrer-Policy"), "no-referrer", "the page")
        self.assertNotIn(b"<script>", page.body.lower(), "no inline script (the CSP forbids it)")
        self.assertEqual(anon.get("/static/no-such-file.js").status, 404)
        self.assertEqual(anon.get("/api/v2/me").status, 404)

    def test_07_wrong_method_is_405_with_allow(self):
        mid = self.ids["invoice.eml"]
        for method, path, allowed in (("GET", "login", "POST"), ("POST", "me", "GET"),
                                      ("POST", "messages", "GET"),
                                      ("DELETE", "messages/" + mid, "GET"),
                                      ("GET", "requests/1/approve", "POST"),
                                      ("PUT", "users", "GET"), ("GET", "logout", "POST")):
            r = self.alice.request(method, path, {} if method != "GET" else None)
            self.error(r, 405, "%s %s" % (method, path))
            allow = r.headers.get("Allow")
            self.assertIsNotNone(allow, "%s %s: Allow header" % (method, path))
            self.assertIn(allowed, [a.strip() for a in allow.split(",")],
                              "%s %s: Allow: %s" % (method, path, allow))
            self.assertNotIn(method, [a.strip() for a in allow.split(",")])

    def test_08_unknown_things_are_404(self):
        self.error(self.aud.get("messages/Q-20000101-AAAAAA"), 404, "unknown message")
        self.error(self.aud.get("no/such/endpoint"), 404, "unknown API path")
        self.error(self.alice.post("requests/999999/approve", {"reason": "x"}), 404,
                   "unknown request")
        self.error(self.rita.post("messages/Q-20000101-AAAAAA/requests",
                                  {"action": "release", "reason": "x"}), 404,
                   "a request on an unknown message")
        self.error(self.alice.get("downloads/" + secrets.token_hex(32)), 404, "unknown download")

    # ------------------------------------------------------------ CSRF and Origin

    def test_09_csrf_missing_or_wrong_is_403(self):
        path = "messages/%s/requests" % self.ids["csrf.eml"]
        body = {"action": "release", "reason": "csrf test"}
        self.error(self.rita.post(path, body, csrf=False), 403, "no X-CSRF-Token")
        self.error(self.rita.post(path, body, headers={"X-CSRF-Token": "0" * 64}), 403,
                   "a wrong token")
        self.error(self.rita.post(path, body, headers={"X-CSRF-Token": self.rita.csrf[:-1]}), 403,
                   "a truncated token")
        self.error(self.rita.post(path, body, headers={"X-CSRF-Token": self.aud.csrf}), 403,
                   "another session's token")
        self.error(self.rita.post(path, body, headers={"X-CSRF-Token": ""}), 403, "empty token")
        r = self.aud.get("requests?item=" + self.ids["csrf.eml"])
        self.status(r, 200)
        self.assertEqual(r.json["items"], [], "no refused call created a request")
        self.error(self.alice.post("users", {"name": "csrf-user", "role": "admin",
                                             "password": "a password long enough"}, csrf=False),
                   403, "user creation without the token")
        self.error(self.alice.post("users/rita", {"role": "admin"}, csrf=False), 403,
                   "role change without the token")
        r = self.alice.get("users")
        self.assertEqual({u["name"]: u["role"] for u in r.json["items"]}["rita"], "reviewer")
        self.assertNotIn("csrf-user", [u["name"] for u in r.json["items"]])

    def test_10_foreign_origin_is_403(self):
        path = "messages/%s/requests" % self.ids["csrf.eml"]
        body = {"action": "export", "reason": "origin test"}
        for origin in ("http://evil.example", "http://127.0.0.1:%d.evil.example" % self.h.port,
                       "http://127.0.0.1:%d" % (self.h.port + 1), "null"):
            self.error(self.rita.post(path, body, headers={"Origin": origin}), 403,
                       "Origin %s" % origin)
            c = self.h.client()
            r = c.login("rita", PASSWORDS["rita"], headers={"Origin": origin})
            self.error(r, 403, "login from Origin %s" % origin)
            self.assertIsNone(c.cookie, "no session from a foreign origin")
        r = self.aud.get("requests?item=" + self.ids["csrf.eml"])
        self.assertEqual(r.json["items"], [], "no request from a foreign origin")
        own = "http://127.0.0.1:%d" % self.h.port
        c = self.h.client()
        self.status(c.login("rita", PASSWORDS["rita"], headers={"Origin": own}), 200,
                    "login from the console's own origin")
        r = c.post(path, body, headers={"Origin": own})
        self.status(r, 201, "a request from the console's own origin")
        # behind a TLS reverse proxy the browser's origin is https://HOST while mugai-web
        # serves plain HTTP on loopback: that origin is the console's own too
        c = self.h.client()
        r = c.login("aud", PASSWORDS["aud"],
                    headers={"Origin": "https://127.0.0.1:%d" % self.h.port})
        self.status(r, 200, "login through a TLS reverse proxy (Origin https://HOST)")
        # the browser is on HTTPS there: its cookie must be Secure, or it would go in clear
        # text to any plain-HTTP service of the same host name
        self.assertIn("secure", [a.strip().lower() for a in c.set_cookie.split(";")],
                      "session cookie behind a TLS proxy: %s" % c.set_cookie)
        r = c.post("logout", headers={"Origin": "https://127.0.0.1:%d" % self.h.port})
        self.status(r, 200, "logout through a TLS reverse proxy")
        self.assertIn("secure", [a.strip().lower() for a in c.set_cookie.split(";")])
        c = self.h.client()
        self.status(c.login("aud", PASSWORDS["aud"], headers={"Origin": own}), 200)
        self.assertNotIn("secure", [a.strip().lower() for a in c.set_cookie.split(";")],
                         "plain HTTP straight to the console: a Secure cookie would be lost")

    # ------------------------------------------------------------ the list and the record

    def test_11_list_filters_and_paging(self):
        c = self.aud
        r = c.get("messages")
        self.status(r, 200, "list")
        total = r.json["total"]
        self.assertEqual(total, len(self.ids), "every stored message is counted")
        self.assertEqual(len(r.json["items"]), 50, "limit defaults to 50")
        item = r.json["items"][0]
        for key in ("id", "time", "time_iso", "sender", "recipients", "subject", "verdict",
                    "status", "size"):
            self.assertIn(key, item)
        self.assertIsInstance(item["recipients"], list)
        self.assertIsInstance(item["time"], int)
        self.assertRegex(item["time_iso"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        times = [i["time"] for i in r.json["items"]]
        self.assertEqual(times, sorted(times, reverse=True), "newest first")
        rest = c.get("messages?offset=50").json
        self.assertEqual(rest["total"], total)
        self.assertEqual(len(rest["items"]), total - 50)
        seen = [i["id"] for i in r.json["items"]] + [i["id"] for i in rest["items"]]
        self.assertEqual(sorted(seen), sorted(self.ids.values()), "the pages cover every id once")
        p1 = c.get("messages?limit=3").json["items"]
        p2 = c.get("messages?limit=3&offset=3").json["items"]
        self.assertEqual(len(p1), 3)
        self.assertFalse({i["id"] for i in p1} & {i["id"] for i in p2}, "pages do not overlap")
        self.assertEqual(len(c.get("messages?limit=500").json["items"]), total)

        def ids_of(query):
            r = c.get("messages?" + query)
            self.status(r, 200, query)
            self.assertEqual(r.json["total"], len(r.json["items"]), query)
            return sorted(i["id"] for i in r.json["items"])

        import urllib.parse as up
        self.assertEqual(ids_of("q=" + up.quote("請求書")), [self.ids["invoice.eml"]])
        self.assertEqual(ids_of("q=" + up.quote("onerror=alert")), [self.ids["xss.eml"]])
        self.assertEqual(ids_of("q=" + self.ids["invoice.eml"].lower()), [self.ids["invoice.eml"]],
                         "q finds an id, in any case")
        self.assertEqual(len(ids_of("limit=500&q=" + up.quote("定例会議"))), 55)
        self.assertEqual(ids_of("sender=vendor.example"), [self.ids["invoice.eml"]])
        self.assertEqual(ids_of("recipient=kaikei%40city"), [self.ids["invoice.eml"]])
        self.assertEqual(len(ids_of("sender=filler%40city.example&q=" + up.quote("お知らせ 0"))),
                         10)
        sanitized = ids_of("verdict=sanitized&limit=500")
        self.assertIn(self.ids["xss.eml"], sanitized, "the message with a virus was sanitized")
        self.assertNotIn(self.ids["invoice.eml"], sanitized)
        self.assertIn(self.ids["invoice.eml"], ids_of("verdict=clean&limit=500"))
        self.assertEqual(ids_of("status=quarantined&verdict=sanitized&sender=attacker"),
                         [self.ids["xss.eml"]])
        self.assertEqual(ids_of("status=purged"), [])
        today = time.strftime("%Y-%m-%d", time.gmtime())
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
        yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        self.assertEqual(ids_of("since=%s&until=%s&sender=vendor" % (yesterday, tomorrow)),
                         [self.ids["invoice.eml"]])
        self.assertEqual(ids_of("since=" + tomorrow), [], "nothing stored after tomorrow")
        self.assertEqual(ids_of("until=" + yesterday), [], "nothing stored before yesterday")
        now = int(time.time())
        self.assertEqual(ids_of("since=%d&until=%d&sender=vendor" % (now - 3600, now + 3600)),
                         [self.ids["invoice.eml"]], "since/until as unix seconds")
        self.assertEqual(ids_of("since=%d" % (now + 3600)), [])
        self.assertIn(today, c.get("messages?limit=1").json["items"][0]["time_iso"])
        for bad in ("limit=abc", "offset=-1", "since=yesterday", "until=2026-13-45", "limit=-5"):
            self.error(c.get("messages?" + bad), 400, bad)

    def test_12_message_record(self):
        mid = self.ids["xss.eml"]
        r = self.aud.get("messages/" + mid)
        self.status(r, 200, "the record")
        m = r.json
        for key in ("id", "time", "time_iso", "queue_id", "client", "sender", "recipients",
                    "subject", "from", "message_id", "size", "sha256", "verdict", "status",
                    "expires", "headers", "parts", "clean_text", "release_result", "events",
                    "requests"):
            self.assertIn(key, m)
        orig = self.original("xss.eml")
        self.assertEqual(m["id"], mid)
        self.assertEqual(m["subject"], "見積 " + XSS, "the subject as the sender wrote it, decoded")
        self.assertEqual(m["sender"], "attacker@evil.example")
        self.assertEqual(m["recipients"], ["somu@city.example.lg.jp"])
        self.assertEqual(m["size"], len(orig))
        self.assertEqual(m["sha256"], hashlib.sha256(orig).hexdigest())
        self.assertEqual(m["status"], "quarantined")
        self.assertEqual(m["verdict"], "sanitized")
        self.assertGreater(m["expires"], m["time"])
        names = {hd["name"].lower(): hd["value"] for hd in m["headers"]}
        self.assertEqual(names.get("subject"), "見積 " + XSS, "decoded headers")
        self.assertIn("attacker@evil.example", names.get("from", ""))
        parts = {p["filename"]: p for p in m["parts"] if p["filename"]}
        self.assertIn(XSS + ".txt", parts, "the attachment's name as sent: %r" % list(parts))
        ev = parts["eicar.com"]
        self.assertEqual(ev["action"], "blocked")
        self.assertIn("Mugai.Test.EICAR", ev["signature"] or "")
        self.assertEqual(ev["sha256"], hashlib.sha256(make_clamdb.eicar_bytes()).hexdigest())
        self.assertEqual(ev["size"], 68)
        for p in m["parts"]:
            for key in ("path", "filename", "declared_type", "detected_type", "size", "sha256",
                        "action", "reason", "signature"):
                self.assertIn(key, p)
        self.assertIn("見積書を添付します。", m["clean_text"] or "",
                      "the text the recipient received")
        self.assertIn("stored", [e["action"] for e in m["events"]])
        self.assertIsNone(m["release_result"])

    # ------------------------------------------------------------ roles

    def test_12_record_of_bytes_that_are_not_utf8(self):
        # every answer is JSON in UTF-8, whatever bytes a sender put in what the store keeps
        r = self.aud.get("messages/" + self.ids["badbytes.eml"])
        self.status(r, 200)
        self.assertEqual(r.json["message_id"], "<a\ufffdb@sender.example>")
        r = self.aud.get("messages?sender=odd%40sender.example")
        self.assertEqual([i["id"] for i in r.json["items"]], [self.ids["badbytes.eml"]])

    def test_13_roles(self):
        mid = self.ids["roles.eml"]
        path = "messages/%s/requests" % mid
        self.error(self.aud.post(path, {"action": "release", "reason": "auditor"}), 403,
                   "an auditor cannot request")
        self.error(self.aud.post(path, {"action": "delete", "reason": "auditor"}), 403,
                   "an auditor cannot request a delete")
        r = self.rita.post(path, {"action": "export", "reason": "for the roles test"})
        self.status(r, 201, "a reviewer requests")
        rid = r.json["id"]
        for who, c in (("auditor", self.aud), ("reviewer", self.rita)):
            self.error(c.post("requests/%s/approve" % rid, {"reason": "x"}), 403,
                       who + " approves")
            self.error(c.post("requests/%s/deny" % rid, {"reason": "x"}), 403, who + " denies")
            self.error(c.get("users"), 403, who + " lists users")
            self.error(c.post("users", {"name": "x-" + who, "role": "admin",
                                        "password": "long enough password"}), 403,
                       who + " adds a user")
            self.error(c.post("users/" + who, {"role": "admin"}), 403, who + " promotes")
        self.error(self.rita.post(path, {"action": "release", "reason": "elsewhere",
                                         "to": ["someone@outside.example"]}), 403,
                   "'to' is admin-only")
        r = self.aud.get("requests?item=" + mid)
        self.assertEqual([(q["action"], q["status"]) for q in r.json["items"]],
                         [("export", "pending")], "only the reviewer's request exists")
        for path in ("messages", "messages/" + mid, "requests?status=pending", "audit",
                     "audit/verify"):
            self.status(self.aud.get(path), 200, "an auditor reads " + path)
        self.assertEqual(acted(self.item_events("roles.eml"))[-1]["action"], "requested")

    # ------------------------------------------------------------ requests

    def test_14_bad_requests(self):
        path = "messages/%s/requests" % self.ids["bad.eml"]
        for what, body in (("empty reason", {"action": "release", "reason": ""}),
                           ("blank reason", {"action": "release", "reason": "   "}),
                           ("no reason", {"action": "release"}),
                           ("no action", {"reason": "x"}),
                           ("unknown action", {"action": "purge", "reason": "x"}),
                           ("reason not a string", {"action": "release", "reason": 5}),
                           ("a JSON array", ["release"]),
                           ("not JSON", "{action: release"),
                           ("no body", None)):
            r = self.rita.request("POST", path, body)
            self.error(r, 400, what)
        r = self.rita.request("POST", path, b'{"action":"release","reason":"' + b"x" * 70000 + b'"}')
        self.error(r, 413, "a body over 64 KiB")
        self.assertEqual(self.aud.get("requests?item=" + self.ids["bad.eml"]).json["items"], [])

    def test_15_duplicate_pending_request_is_409(self):
        r = self.request(self.rita, "dup.eml", "release")
        self.status(r, 201)
        self.assertEqual(r.json["status"], "pending")
        self.error(self.request(self.rita, "dup.eml", "release"), 409, "the same request again")
        self.error(self.request(self.bob, "dup.eml", "release"), 409,
                   "the same action by another user")
        self.status(self.request(self.rita, "dup.eml", "export"), 201, "another action")
        r = self.aud.get("requests?status=pending&item=" + self.ids["dup.eml"])
        self.assertEqual(sorted(q["action"] for q in r.json["items"]), ["export", "release"])

    def test_16_two_person_release_arrives_with_queue_id(self):
        name = "rel.eml"
        mid = self.ids[name]
        r = self.request(self.rita, name, "release", reason="宛先の職員から依頼")
        self.status(r, 201, "request")
        q = r.json
        for key in ("id", "item", "action", "reason", "to", "requester", "time", "time_iso",
                    "status", "approver", "decided", "decision_reason", "result"):
            self.assertIn(key, q)
        self.assertEqual((q["item"], q["action"], q["requester"], q["status"], q["reason"]),
                         (mid, "release", "rita", "pending", "宛先の職員から依頼"))
        self.assertIsNone(q["approver"])
        self.assertEqual([m for m in self.h.sink.messages() if m[3] == self.original(name)], [],
                         "nothing is sent before the approval")
        pending = self.alice.get("requests?status=pending").json["items"]
        self.assertIn(q["id"], [p["id"] for p in pending])
        r = self.alice.post("requests/%s/approve" % q["id"], {"reason": "確認しました"})
        self.status(r, 200, "approval")
        a = r.json
        self.assertEqual((a["status"], a["approver"], a["decision_reason"]),
                         ("done", "alice", "確認しました"), a)
        m = QUEUED.match(a["result"] or "")
        self.assertIsNotNone(m, "the listener's reply: %r" % a["result"])
        qid = m.group(1)
        got = self.arrived(qid)
        self.assertIsNotNone(got, "the listener queued %s" % qid)
        sender, rcpts, data = got
        self.assertEqual(data.replace(b"\r\n", b"\n"), self.original(name).replace(b"\r\n", b"\n"),
                         "the original's bytes arrived")
        self.assertEqual(sender, "rel@sender.example")
        self.assertEqual(sorted(rcpts), ["jinji@city.example.lg.jp", "somu@city.example.lg.jp"])
        rec = self.aud.get("messages/" + mid).json
        self.assertEqual(rec["status"], "released")
        self.assertIn(qid, rec["release_result"] or "")
        done = [x for x in rec["requests"] if x["id"] == q["id"]]
        self.assertEqual(len(done), 1)
        self.assertEqual(done[0]["status"], "done")
        self.assertIn(qid, done[0]["result"])
        acts = {e["action"]: e for e in rec["events"]}
        self.assertIn("requested", acts)
        self.assertIn("approved", acts)
        rel = acts.get("released")
        self.assertIsNotNone(rel, [e["action"] for e in rec["events"]])
        self.assertEqual(rel["actor"], "alice")
        self.assertIn(qid, " ".join(str(v) for v in rel.values()), "the queue id is audited")
        self.assertEqual(rel["source"], "127.0.0.1")
        self.error(self.bob.post("requests/%s/approve" % q["id"], {"reason": "again"}), 409,
                   "approve twice")
        self.error(self.bob.post("requests/%s/deny" % q["id"], {"reason": "late"}), 409,
                   "deny a done request")
        self.assertEqual(len([x for x in self.h.sink.messages() if x[3] == data]), 1,
                         "sent once")

    def test_17_requester_cannot_approve(self):
        r = self.request(self.alice, "self.eml", "release", reason="自分で依頼")
        self.status(r, 201)
        rid = r.json["id"]
        self.assertEqual(r.json["status"], "pending", "with approvals = 2 an admin needs another")
        for body in ({"reason": "self"}, {"reason": "self", "approver": "bob"},
                     {"reason": "self", "requester": "bob", "user": "bob"}):
            r = self.alice.post("requests/%s/approve" % rid, body)
            self.status(r, 403, "the requester approves with %r" % body)
            self.assertEqual(r.json["error"], "the requester cannot approve their own request")
        r = self.alice.post("requests/%s/approve" % rid, {"reason": "self"},
                            headers={"X-Mugai-User": "bob", "X-Forwarded-User": "bob"})
        self.status(r, 403, "the requester approves with headers naming another user")
        q = self.aud.get("requests?item=" + self.ids["self.eml"]).json["items"]
        self.assertEqual([(x["status"], x["approver"]) for x in q], [("pending", None)])
        self.assertEqual(self.aud.get("messages/" + self.ids["self.eml"]).json["status"],
                         "quarantined")
        r = self.bob.post("requests/%s/approve" % rid, {"reason": "second person"})
        self.status(r, 200)
        self.assertEqual(r.json["status"], "done")
        self.assertIsNotNone(self.arrived(QUEUED.match(r.json["result"]).group(1)))

    def test_18_deny(self):
        r = self.request(self.rita, "deny.eml", "release")
        rid = r.json["id"]
        self.error(self.alice.post("requests/%s/deny" % rid, {"reason": ""}), 400,
                   "deny without a reason")
        r = self.alice.post("requests/%s/deny" % rid, {"reason": "業務に不要"})
        self.status(r, 200, "deny")
        self.assertEqual((r.json["status"], r.json["approver"], r.json["decision_reason"]),
                         ("denied", "alice", "業務に不要"))
        self.assertIsInstance(r.json["decided"], int)
        self.error(self.bob.post("requests/%s/approve" % rid, {"reason": "x"}), 409,
                   "approve a denied request")
        rec = self.aud.get("messages/" + self.ids["deny.eml"]).json
        self.assertEqual(rec["status"], "quarantined")
        self.assertIsNone(rec["release_result"])
        self.assertIn("denied", [e["action"] for e in rec["events"]])
        self.assertIn(rid, [x["id"] for x in
                            self.aud.get("requests?status=denied").json["items"]])
        self.assertNotIn(rid, [x["id"] for x in
                               self.aud.get("requests?status=pending").json["items"]])

    def test_19_release_to_another_address(self):
        r = self.request(self.alice, "to.eml", "release", reason="担当者へ転送",
                         to=["kikaku@city.example.lg.jp"])
        self.status(r, 201, "an admin's request with 'to'")
        self.assertIn("kikaku@city.example.lg.jp", str(r.json["to"]))
        r = self.bob.post("requests/%s/approve" % r.json["id"], {"reason": "ok"})
        self.assertEqual(r.json["status"], "done", r.json)
        sender, rcpts, data = self.arrived(QUEUED.match(r.json["result"]).group(1))
        self.assertEqual(rcpts, ["kikaku@city.example.lg.jp"], "only the address asked for")
        events = self.item_events("to.eml")
        self.assertIn("kikaku@city.example.lg.jp",
                      " ".join(str(v) for e in events if e["action"] == "requested"
                               for v in e.values()), "the other recipient is audited")
        self.error(self.request(self.alice, "to.eml", "release", to="not-a-list"), 400,
                   "'to' must be a list of addresses")
        self.error(self.request(self.alice, "to.eml", "release", to=["no at sign"]), 400,
                   "'to' must hold addresses")
        self.error(self.request(self.alice, "to.eml", "release",
                                to=["a@city.example.lg.jp\r\nRCPT TO:<x@evil.example>"]), 400,
                   "no SMTP command smuggled in an address")

    def test_20_failed_release_is_reported_as_failed(self):
        dead, port, port2 = wh.free_port(), wh.free_port(), wh.free_port()
        conf = self.h.write_conf({"listen": "127.0.0.1:%d" % port}, {"release_port": dead},
                                 path=os.path.join(self.h.dir, "dead.conf"))
        proc = self.h.start(conf=conf, port=port)
        refusing = wh.QueueSink(reject="554 5.7.1 Error: rejected by policy")
        conf2 = self.h.write_conf({"listen": "127.0.0.1:%d" % port2},
                                  {"release_port": refusing.port},
                                  path=os.path.join(self.h.dir, "refuse.conf"))
        proc2 = self.h.start(conf=conf2, port=port2)
        try:
            before = len(self.h.sink.messages())
            for p, what in ((port, "listener down"), (port2, "listener refuses")):
                r = self.request(self.rita, "fail.eml", "release", reason=what)
                self.status(r, 201)
                admin = self.signed_in("alice", port=p)
                r = admin.post("requests/%s/approve" % r.json["id"], {"reason": what})
                self.status(r, 200, "the approval happened (%s)" % what)
                self.assertEqual(r.json["status"], "failed", "%s: %r" % (what, r.json))
                self.assertTrue(r.json["result"], what)
                self.assertNotRegex(r.json["result"], r"^250", what)
                if p == port2:
                    self.assertIn("554", r.json["result"], "the listener's answer is shown")
                rec = self.aud.get("messages/" + self.ids["fail.eml"]).json
                self.assertEqual(rec["status"], "quarantined", what)
                self.assertTrue((rec["release_result"] or "").startswith("failed"),
                                "%s: %r" % (what, rec["release_result"]))
                last = acted(rec["events"])[-1]
                self.assertEqual(last["action"], "release-failed", what)
                self.assertNotEqual(last["outcome"], "ok", what)
            self.assertEqual(len(self.h.sink.messages()), before, "nothing was sent")
            self.assertEqual(refusing.messages(), [])
            r = self.request(self.rita, "fail.eml", "release", reason="listener back")
            self.status(r, 201, "a failed request does not block a new one")
            r = self.alice.post("requests/%s/approve" % r.json["id"], {"reason": "retry"})
            self.assertEqual(r.json["status"], "done", r.json)
            rec = self.aud.get("messages/" + self.ids["fail.eml"]).json
            self.assertEqual(rec["status"], "released")
            self.assertEqual([x["status"] for x in rec["requests"]], ["failed", "failed", "done"])
        finally:
            self.h.stop(proc)
            self.h.stop(proc2)
            refusing.stop()

    def test_21_export_gives_a_single_use_download(self):
        mid = self.ids["exp.eml"]
        r = self.request(self.rita, "exp.eml", "export", reason="証拠保全")
        self.status(r, 201)
        r = self.bob.post("requests/%s/approve" % r.json["id"], {"reason": "ok"})
        self.status(r, 200, "approve the export")
        self.assertEqual(r.json["status"], "done", r.json)
        link = r.json.get("download")
        self.assertRegex(link or "", r"^/api/v1/downloads/[0-9a-f]{64}$")
        self.error(self.h.client().get(link), 401, "a download needs a session")
        d = self.rita.get(link)
        self.status(d, 200, "the requester downloads")
        self.assertEqual(d.body, self.original("exp.eml"), "the original, byte for byte")
        self.assertEqual(d.headers.get("Content-Type"), "application/octet-stream")
        cd = d.headers.get("Content-Disposition", "")
        self.assertTrue(cd.startswith("attachment"), cd)
        self.assertIn('filename="%s.eml"' % mid, cd)
        self.assertIn("filename*=UTF-8''%s.eml" % mid, cd)
        self.assertEqual(d.headers.get("X-Content-Type-Options"), "nosniff")
        self.error(self.rita.get(link), 404, "the second use")
        self.error(self.bob.get(link), 404, "the approver after the requester used it")
        self.assertIn("exported", [e["action"] for e in self.item_events("exp.eml")])
        # another export: a third person gets nothing from the link and does not use it up;
        # the approver may use it too
        r = self.request(self.rita, "exp2.eml", "export", reason="もう一度")
        self.status(r, 201)
        r = self.alice.post("requests/%s/approve" % r.json["id"], {"reason": "ok"})
        self.assertEqual(r.json["status"], "done", r.json)
        link2 = r.json["download"]
        self.assertNotEqual(link2, link)
        d = self.aud.get(link2)
        self.assertIn(d.status, (403, 404), "an auditor uses another's link: %r" % d)
        self.assertNotIn(self.original("exp2.eml"), d.body)
        d = self.alice.get(link2)
        self.status(d, 200, "the approver downloads after a third person tried")
        self.assertEqual(d.body, self.original("exp2.eml"))
        self.error(self.rita.get(link2), 404, "used up by the approver")
        self.assertEqual(self.aud.get("messages/" + mid).json["status"], "quarantined")

    def test_22_delete(self):
        r = self.request(self.rita, "del.eml", "delete", reason="迷惑メール")
        self.status(r, 201)
        self.assertEqual(r.json["status"], "pending", "a reviewer's delete waits for an admin")
        self.assertEqual(self.aud.get("messages/" + self.ids["del.eml"]).json["status"],
                         "quarantined")
        r = self.alice.post("requests/%s/approve" % r.json["id"], {"reason": "ok"})
        self.assertEqual(r.json["status"], "done", r.json)
        rec = self.aud.get("messages/" + self.ids["del.eml"]).json
        self.assertEqual(rec["status"], "deleted")
        self.assertIn("deleted", [e["action"] for e in rec["events"]])
        r = self.request(self.alice, "adel.eml", "delete", reason="admin deletes")
        self.status(r, 201, "an admin's delete")
        self.assertEqual(r.json["status"], "done", "an admin's delete is carried out at once")
        self.assertEqual(self.aud.get("messages/" + self.ids["adel.eml"]).json["status"],
                         "deleted")
        self.assertIn(self.ids["adel.eml"],
                      [i["id"] for i in self.aud.get("messages?status=deleted").json["items"]])
        self.error(self.request(self.rita, "adel.eml", "release"), 409,
                   "a release of a deleted message")

    def test_23_one_approval_configured(self):
        port = wh.free_port()
        conf = self.h.write_conf({"listen": "127.0.0.1:%d" % port, "release_approvals": 1}, {},
                                 path=os.path.join(self.h.dir, "one.conf"))
        proc = self.h.start(conf=conf, port=port)
        try:
            admin = self.signed_in("alice", port=port)
            self.assertEqual(admin.get("me").json["approvals"], 1)
            r = admin.post("messages/%s/requests" % self.ids["one.eml"],
                           {"action": "release", "reason": "一人で十分"})
            self.status(r, 201)
            self.assertEqual(r.json["status"], "done", "carried out at once: %r" % r.json)
            self.assertIsNotNone(self.arrived(QUEUED.match(r.json["result"]).group(1)))
            self.error(admin.post("messages/%s/requests" % self.ids["one.eml"],
                                  {"action": "export", "reason": ""}), 400,
                       "still with a reason")
            rev = self.signed_in("rita", port=port)
            r = rev.post("messages/%s/requests" % self.ids["onerev.eml"],
                         {"action": "release", "reason": "reviewer"})
            self.status(r, 201)
            self.assertEqual(r.json["status"], "pending", "a reviewer still needs an admin")
            self.error(rev.post("requests/%s/approve" % r.json["id"], {"reason": "x"}), 403,
                       "a reviewer approves")
        finally:
            self.h.stop(proc)

    # ------------------------------------------------------------ accounts

    def test_24_users(self):
        r = self.alice.get("users")
        self.status(r, 200)
        users = {u["name"]: u for u in r.json["items"]}
        self.assertEqual(users["rita"]["role"], "reviewer")
        self.assertEqual(users["aud"]["role"], "auditor")
        self.assertTrue(users["dora"]["disabled"])
        for u in users.values():
            self.assertFalse([k for k in u if "pass" in k or "hash" in k], u)
        good = PASSWORDS["neu"]
        self.error(self.alice.post("users", {"name": "neu", "role": "reviewer",
                                             "password": "short"}), 400, "a short password")
        self.error(self.alice.post("users", {"name": "neu", "role": "boss",
                                             "password": good}), 400, "an unknown role")
        self.error(self.alice.post("users", {"name": "neu<x>", "role": "auditor",
                                             "password": good}), 400, "a bad name")
        r = self.alice.post("users", {"name": "neu", "role": "auditor", "password": good})
        self.status(r, 201, "add a user")
        self.assertEqual(self.alice.post("users", {"name": "neu", "role": "auditor",
                                                   "password": good}).status // 100, 4,
                         "the name is taken")
        c = self.h.client()
        self.status(c.login("neu", good), 200, "the new user signs in")
        self.error(c.post("messages/%s/requests" % self.ids["roles.eml"],
                          {"action": "delete", "reason": "x"}), 403, "as an auditor")
        self.status(self.alice.post("users/neu", {"role": "reviewer"}), 200, "promote")
        self.assertEqual(c.get("me").json["role"], "reviewer", "the new role applies")
        self.status(self.alice.post("users/neu", {"disabled": True}), 200, "disable")
        self.error(self.h.client().login("neu", good), 401, "a disabled user")
        self.assertNotEqual(c.get("me").status, 200, "a disabled user's session ends")
        self.status(self.alice.post("users/neu", {"disabled": False}), 200, "enable")
        new = pw()
        PASSWORDS["neu2"] = new
        self.error(self.alice.post("users/neu", {"password": "too short"}), 400)
        self.status(self.alice.post("users/neu", {"password": new}), 200, "reset the password")
        self.error(self.h.client().login("neu", good), 401, "the old password")
        self.status(self.h.client().login("neu", new), 200, "the new password")
        self.error(self.alice.post("users/nobody-at-all", {"role": "admin"}), 404)
        actions = [e["action"] for e in self.aud.get("audit?actor=alice&limit=500").json["items"]]
        self.assertIn("user-added", actions)
        cli = self.h.user("list")
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertIn("neu", cli.stdout)

    def test_25_lockout(self):
        bad = []
        for i in range(3):
            r = self.h.client().login("locky", "wrong password %d" % i)
            bad.append(self.error(r, 401, "failure %d" % (i + 1)))
        c = self.h.client()
        r = c.login("locky", PASSWORDS["locky"])
        self.status(r, 401, "the right password while locked")
        self.assertEqual(r.json["error"], bad[0], "locked looks like a wrong password")
        self.assertIsNone(c.cookie)
        self.assertEqual(r.json["error"], self.h.client().login("no-such-user", "x" * 12).json[
            "error"])
        users = {u["name"]: u for u in self.alice.get("users").json["items"]}
        self.assertGreater(users["locky"]["locked_until"], time.time() + 600)
        self.assertEqual(users["rita"]["locked_until"] or 0, 0, "others are not locked")
        events = self.aud.get("audit?action=lockout").json["items"]
        self.assertTrue(any("locky" in " ".join(str(v) for v in e.values()) for e in events),
                        "the lockout is audited: %r" % events)
        failed = self.aud.get("audit?action=login-failed&limit=500").json["items"]
        self.assertGreaterEqual(len([e for e in failed
                                     if "locky" in " ".join(str(v) for v in e.values())]), 3)
        self.assertTrue(all(e["source"] == "127.0.0.1" for e in failed))
        new = pw()
        PASSWORDS["locky2"] = new
        self.status(self.alice.post("users/locky", {"password": new}), 200, "an admin resets")
        self.status(self.h.client().login("locky", new), 200, "a new password lifts the lock")

    # ------------------------------------------------------------ listening

    def test_27_tls(self):
        if not shutil.which("openssl"):
            self.skipTest("no openssl to make a certificate")
        cert, key = (os.path.join(self.h.dir, n) for n in ("cert.pem", "key.pem"))
        out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                              "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                              "-addext", "subjectAltName=IP:127.0.0.1"],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        os.chmod(key, 0o600)
        port = wh.free_port()
        conf = self.h.write_conf({"listen": "127.0.0.1:%d" % port, "tls_cert": cert,
                                  "tls_key": key}, {},
                                 path=os.path.join(self.h.dir, "tls.conf"))
        proc = self.h.start(conf=conf, port=port)
        try:
            plain = self.h.client(port)
            self.assertRaises(Exception, plain.get, "me")
            c = self.h.client(port, tls_ca=cert)
            r = c.login("aud", PASSWORDS["aud"])
            self.status(r, 200, "login over HTTPS")
            sc = r.headers.get("Set-Cookie", "")
            self.assertTrue(sc.startswith("__Host-mugai_session="), sc)
            attrs = [a.strip().lower() for a in sc.split(";")[1:]]
            for a in ("secure", "httponly", "samesite=strict", "path=/"):
                self.assertIn(a, attrs, sc)
            self.assertNotIn("domain", " ".join(attrs), "__Host- cookies have no Domain")
            self.status(c.get("me"), 200, "the __Host- cookie is accepted")
            self.assertEqual(c.get("me").headers.get("Content-Security-Policy"), CSP)
            self.error(c.post("logout", headers={"Origin": "http://127.0.0.1:%d" % port}), 403,
                       "an http origin for an https console")
            self.status(c.post("logout", headers={"Origin": "https://127.0.0.1:%d" % port}), 200,
                        "its own https origin")
        finally:
            self.h.stop(proc)

    def test_28_no_plain_http_beyond_loopback(self):
        port = wh.free_port()
        conf = self.h.write_conf({"listen": "0.0.0.0:%d" % port}, {},
                                 path=os.path.join(self.h.dir, "public.conf"))
        p = subprocess.run([self.h.web_bin, "-c", conf, "-f"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("0.0.0.0", p.stderr, "the refusal names the address")
        self.assertFalse(wh.port_open(port))
        conf = self.h.write_conf({"listen": "0.0.0.0:%d" % port, "tls_cert": "/nonexistent.pem",
                                  "tls_key": ""}, {},
                                 path=os.path.join(self.h.dir, "halftls.conf"))
        p = subprocess.run([self.h.web_bin, "-c", conf, "-f"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 2, "a certificate without its key: %s" % p.stderr)

    def test_29_a_sign_in_flood_leaves_the_console_usable(self):
        # anyone may send sign-ins, and each costs a quarter of a second of a thread: a flood
        # must not queue the signed-in users' requests behind password checks
        stop, got = threading.Event(), []

        def flood():
            while not stop.is_set():
                got.append(self.h.client().login("nobody", "not a password at all").status)

        threads = [threading.Thread(target=flood) for _ in range(8)]
        for t in threads:
            t.start()
        waits = []
        try:
            time.sleep(0.5)
            for _ in range(5):
                t0 = time.monotonic()
                self.status(self.aud.get("me"), 200, "a signed-in user during the flood")
                waits.append(time.monotonic() - t0)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertLessEqual(set(got), {401, 503}, "sign-ins during the flood")
        self.assertIn(503, got, "sign-ins beyond the password checks at once are turned away")
        self.assertLess(sorted(waits)[2], 0.5, "GET me took %r s during the flood" % waits)
        self.status(self.h.client().login("aud", PASSWORDS["aud"]), 200, "after the flood")

    # ------------------------------------------------------------ the audit trail

    def test_26_audit_list(self):
        c = self.aud
        r = c.get("audit?limit=20")
        self.status(r, 200)
        items = r.json["items"]
        self.assertEqual(len(items), 20)
        self.assertGreater(r.json["total"], 20)
        for e in items:
            for key in ("seq", "time", "time_iso", "item", "actor", "action", "reason", "detail",
                        "source", "outcome"):
                self.assertIn(key, e)
        seqs = [e["seq"] for e in items]
        self.assertEqual(seqs, sorted(seqs, reverse=True), "newest first")
        page2 = [e["seq"] for e in c.get("audit?limit=20&offset=20").json["items"]]
        self.assertEqual(len(page2), 20)
        self.assertLess(max(page2), min(seqs), "the next page holds older events")
        logins = c.get("audit?action=login&actor=bob").json
        self.assertGreaterEqual(logins["total"], 1)
        self.assertTrue(all(e["actor"] == "bob" and e["action"] == "login"
                            for e in logins["items"]))
        self.assertIsNone(logins["items"][0]["item"], "a sign-in is about no item")
        inv = c.get("audit?item=" + self.ids["invoice.eml"]).json
        self.assertEqual([e["action"] for e in inv["items"] if e["action"] != "shown"],
                         ["stored"])
        self.assertTrue(all(e["item"] == self.ids["invoice.eml"] for e in inv["items"]))
        now = int(time.time())
        self.assertEqual(c.get("audit?since=%d" % (now + 3600)).json["total"], 0)
        self.assertEqual(c.get("audit?until=%d" % (now - 86400)).json["total"], 0)
        self.assertEqual(c.get("audit?since=%d&action=login&actor=bob" % (now - 3600)).json[
            "total"], logins["total"])
        self.error(c.get("audit?since=notadate"), 400)

    def test_90_audit_verify_then_tamper(self):
        # (runs after the tests that add events; only the edited row breaks the chain)
        r = self.aud.get("audit/verify")
        self.status(r, 200)
        self.assertEqual(r.json["ok"], True, r.json)
        self.assertIsNone(r.json["first_bad"])
        newest = self.aud.get("audit?limit=1").json
        total = newest["total"]
        self.assertEqual(r.json["events"], total)
        # the head to note outside the store: the newest event's seq and its row's hash
        last = newest["items"][0]["seq"]
        out = subprocess.run(["sqlite3", self.h.db,
                              "SELECT hash FROM events WHERE id = %d;" % last],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(r.json["head"], {"seq": last, "hash": out.stdout.strip()}, r.json)
        self.assertRegex(r.json["head"]["hash"], "^[0-9a-f]{64}$")
        cli = self.h.quarantine("audit", "verify")
        self.assertEqual(cli.returncode, 0, cli.stdout + cli.stderr)
        # an IT insider rewrites the reason of one approval with the sqlite3 tool
        ev = self.aud.get("audit?action=approved&actor=alice&limit=1").json["items"][0]
        seq = ev["seq"]
        out = subprocess.run(["sqlite3", self.h.db,
                              "UPDATE events SET reason = 'routine' WHERE id = %d;" % seq],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        changed = [e for e in self.aud.get("audit?action=approved&actor=alice&limit=1").json[
            "items"] if e["seq"] == seq]
        self.assertEqual(changed[0]["reason"], "routine", "the row was edited")
        r = self.aud.get("audit/verify")
        self.status(r, 200)
        self.assertEqual((r.json["ok"], r.json["first_bad"]), (False, seq), r.json)
        cli = self.h.quarantine("audit", "verify")
        self.assertEqual(cli.returncode, 1, cli.stdout + cli.stderr)
        self.assertIn(str(seq), cli.stdout + cli.stderr)

    # ------------------------------------------------------------ what is left behind

    def test_95_no_password_in_the_store_or_logs(self):
        roots = [self.h.dir, self.slow.dir]
        self.assertTrue(os.path.getsize(self.h.db) > 0)
        found = []
        for root in roots:
            for d, _, files in os.walk(root):
                for f in files:
                    path = os.path.join(d, f)
                    with open(path, "rb") as fh:
                        data = fh.read()
                    for name, p in PASSWORDS.items():
                        if p.encode() in data:
                            found.append((name, path))
        self.assertEqual(found, [], "clear passwords written to disk")
        with open(self.h.log, encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertIn("serving HTTP on 127.0.0.1", log)
        self.assertNotIn(": error:", log, "mugai-web met no internal error in all of the above")

    def test_99_idle_session_and_lock_expire(self):
        s = self.slow
        self.assertEqual(s.locked_right, 401, "the right password while locked")
        lock_events = s.client()
        self.status(lock_events.login("idle", PASSWORDS["idle"]), 200)
        self.assertTrue(any("late" in " ".join(str(v) for v in e.values())
                            for e in lock_events.get("audit?action=lockout").json["items"]))
        self.assertEqual(lock_events.get("me").status, 200)
        wait = 62 - (time.monotonic() - s.idle_since)
        if wait > 0:
            time.sleep(wait)
        self.error(s.idle_client.get("me"), 401, "a session idle for over a minute")
        self.error(s.idle_client.post("logout"), 401, "an expired session cannot act")
        wait = 62 - (time.monotonic() - s.locked_since)
        if wait > 0:
            time.sleep(wait)
        self.status(s.client().login("late", PASSWORDS["late"]), 200,
                    "the lock ends after lockout_minutes")
        # a row removed from the middle of this store's trail is found too
        c = s.client()
        self.status(c.login("idle", PASSWORDS["idle"]), 200)
        r = c.get("audit/verify")
        self.assertEqual(r.json["ok"], True, r.json)
        seqs = sorted(e["seq"] for e in c.get("audit?limit=500").json["items"])
        gone = seqs[len(seqs) // 2]
        out = subprocess.run(["sqlite3", s.db, "DELETE FROM events WHERE id = %d;" % gone],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        r = c.get("audit/verify")
        self.assertEqual((r.json["ok"], r.json["first_bad"]), (False, gone + 1), r.json)


class UnlockApiTest(unittest.TestCase):
    """POST messages/ID/unlock and the held parts of GET messages/ID, against a store whose
    message holds an encrypted zip, with no gateway running (its socket directory is empty,
    then holds a stale socket, then one that hangs up). The real gateway's side is tested
    end to end in tests/postfix/test_ppap.py."""

    SECRET = "Zip-%s-pass" % secrets.token_hex(6)

    @classmethod
    def setUpClass(cls):
        if not shutil.which("bsdtar"):
            raise unittest.SkipTest("bsdtar (libarchive-tools) makes the encrypted zip")
        cls.tmp = tempfile.mkdtemp(prefix="mugai-web-unlock-")
        cls.h = h = wh.WebHarness(os.path.join(cls.tmp, "w"), BUILD, sink=False)
        cls.spool = os.path.join(h.dir, "spool")
        os.makedirs(cls.spool)
        os.chmod(cls.spool, 0o711)
        with open(h.conf, "a", encoding="utf-8") as f:
            f.write("\n[milter]\nspool_dir = %s\njob_timeout = 10\nqueue_wait = 1\n" % cls.spool)
        h.add_user("rita", "reviewer", PASSWORDS["rita"])
        h.add_user("aud", "auditor", PASSWORDS["aud"])
        ids = h.put_messages({
            "held.eml": wh.eml("暗号化ZIP", sender="sender@vendor.example",
                               attachments=[("見積.zip", "application/zip",
                                             wh.encrypted_zip(cls.tmp, cls.SECRET))]),
            "held2.eml": wh.eml("暗号化ZIP 2", sender="sender@vendor.example",
                                attachments=[("別紙.zip", "application/zip",
                                              wh.encrypted_zip(cls.tmp, cls.SECRET))]),
            "plain.eml": wh.eml("平文", sender="sender@vendor.example"),
        })
        cls.held, cls.held2, cls.plain = ids["held.eml"], ids["held2.eml"], ids["plain.eml"]
        h.start()
        cls.rita = h.client()
        assert cls.rita.login("rita", PASSWORDS["rita"]).status == 200
        cls.aud = h.client()
        assert cls.aud.login("aud", PASSWORDS["aud"]).status == 200

    @classmethod
    def tearDownClass(cls):
        cls.h.close()
        if os.environ.get("MUGAI_KEEP"):
            print("work directory kept:", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def error(self, r, code):
        self.assertEqual(r.status, code, "%r\n%s" % (r, self.h.tail_log(10)))
        self.assertTrue(r.json.get("error"), r)
        return r.json["error"]

    def unlock(self, body, client=None, item=None, **kw):
        return (client or self.rita).post("messages/%s/unlock" % (item or self.held), body, **kw)

    def test_1_the_page_lists_held_parts(self):
        m = self.rita.get("messages/" + self.held).json
        self.assertEqual(len(m["held"]), 1, m["held"])
        p = m["held"][0]
        self.assertEqual((p["filename"], p["status"], p["attempts"]), ("見積.zip", "pending", 0))
        self.assertIsNone(p["opened"])
        self.assertIsNone(p["opened_by"])
        self.assertGreater(p["expires"], time.time())
        self.assertEqual(self.rita.get("messages/" + self.plain).json["held"], [])

    def test_2_no_gateway_is_503(self):
        err = self.error(self.unlock({"password": self.SECRET}), 503)
        self.assertEqual(err, "the gateway (mugai-milter) is not running")
        # a socket left by a gateway that stopped: nobody listens on it
        import socket
        path = os.path.join(self.spool, "unlock.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        os.chmod(path, 0o666)
        s.close()
        try:
            err = self.error(self.unlock({"part": "2", "password": self.SECRET}), 503)
            self.assertEqual(err, "the gateway (mugai-milter) is not running")
        finally:
            os.unlink(path)

    def test_3_a_gateway_that_hangs_up_is_502(self):
        import socket
        path = os.path.join(self.spool, "unlock.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        os.chmod(path, 0o666)
        srv.listen(1)
        got = []

        def serve():
            c, _ = srv.accept()
            got.append(c.recv(4096))
            c.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            self.error(self.unlock({"password": self.SECRET}), 502)
        finally:
            t.join(10)
            srv.close()
            os.unlink(path)
        # what went to the gateway: the typed unlock request with the id and the password
        self.assertTrue(got and got[0][:4] == b"MGJ1", got)
        self.assertIn(self.held.encode(), got[0])
        self.assertIn(self.SECRET.encode(), got[0])
        self.assertIn(b"rita", got[0])

    def test_4_roles_and_csrf(self):
        self.assertIn("role", self.error(self.unlock({"password": self.SECRET},
                                                     client=self.aud), 403))
        self.assertIn("CSRF", self.error(self.unlock({"password": self.SECRET}, csrf=False), 403))
        self.error(self.unlock({"password": self.SECRET}, headers={"X-CSRF-Token": "0" * 64}),
                   403)
        self.error(self.h.client().post("messages/%s/unlock" % self.held,
                                        {"password": self.SECRET}), 401)

    def test_5_bad_requests(self):
        for body in ({}, {"password": ""}, {"password": "x" * 513}, {"password": 12345},
                     {"password": ["a"]}, {"password": "ok", "part": 2},
                     {"password": "ok", "part": "../2"}, {"password": "ok", "part": "2."},
                     {"password": "ok", "part": "1" * 65}):
            with self.subTest(body=body):
                self.error(self.unlock(body), 400)
        self.error(self.unlock('{"password": "a\\u0000b"}'), 400)
        self.error(self.unlock(b'{"password": "\xff\xfe-not-utf-8"}'), 400)
        self.error(self.unlock('{"password": "\\udc80-lone-surrogate"}'), 400)

    def test_6_unknown_item_or_part_is_404(self):
        self.assertIn("no held", self.error(self.unlock({"password": "x"}, item=self.plain), 404))
        self.error(self.unlock({"password": "x"}, item="Q-20000101-AAAAAA"), 404)
        self.assertIn("no such held part",
                      self.error(self.unlock({"part": "3", "password": "x"}), 404))

    def gateway(self, answers, hold=0.0):
        """Listen on SPOOL/unlock.sock as the gateway would (root's socket, as mugai-milter
        makes it): each connection's request is read and answered with the next of answers
        (bytes, or None to hang up) after hold seconds. Returns the thread, the listening
        socket and the list of requests read."""
        import socket
        path = os.path.join(self.spool, "unlock.sock")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(path)
        os.chmod(path, 0o666)
        srv.listen(8)
        got = []

        def serve():
            for answer in answers:
                c, _ = srv.accept()
                c.settimeout(10)
                got.append(c.recv(4096))
                time.sleep(hold)
                if answer is not None:
                    c.sendall(answer)
                c.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        return t, srv, got

    def gateway_stop(self, t, srv):
        t.join(15)
        srv.close()
        os.unlink(os.path.join(self.spool, "unlock.sock"))

    @staticmethod
    def answer(status, parts=(), text=None, mark=0x444F4E45):
        """An unlock answer in the gateway's typed messages (milter/proto.c): status, text,
        the parts (part, opened, tried, attempts, locked, why), the completion mark."""
        import struct

        def s(v):
            if v is None:
                return struct.pack("!I", 0xFFFFFFFF)
            b = v.encode("utf-8")
            return struct.pack("!I", len(b)) + b
        body = struct.pack("!I", status) + s(text) + struct.pack("!I", len(parts))
        for part, opened, tried, attempts, locked, why in parts:
            body += s(part) + struct.pack("!IIII", opened, tried, attempts, locked) + s(why)
        body += struct.pack("!I", mark)
        return struct.pack("!III", 0x4D474A31, 4, len(body)) + body

    def test_7_one_unlock_waits_at_a_time(self):
        """An unlock waiting on the gateway holds one of the console's threads: a second one
        is refused at once rather than holding another, and other requests are served."""
        wrong = self.answer(0, [("2", 0, 1, 1, 0, "no password opened it")])
        t, srv, got = self.gateway([wrong], hold=4)
        first = {}
        try:
            th = threading.Thread(target=lambda: first.update(r=self.unlock(
                {"password": "wrong-one"})))
            th.start()
            self.assertTrue(wh.wait_until(lambda: got, 10), "the first unlock reached no one")
            t0 = time.monotonic()
            err = self.error(self.unlock({"password": "another"}), 503)
            self.assertIn("another held attachment is being opened", err)
            self.assertEqual(self.rita.get("messages/" + self.held).status, 200)
            self.assertLess(time.monotonic() - t0, 3, "the others waited for the gateway")
            th.join(30)
        finally:
            self.gateway_stop(t, srv)
        self.assertEqual(first["r"].status, 200, first["r"])
        self.assertEqual(first["r"].json["parts"][0]["attempts"], 1)
        self.assertEqual(len(got), 1, "the refused one never reached the gateway")

    def test_8_a_broken_answer_is_502(self):
        bad = [self.answer(9), self.answer(0, [("2", 2, 1, 1, 0, None)]),
               self.answer(0, [("2", 0, 1, 1, 0, None)], mark=0)]
        t, srv, got = self.gateway(bad)
        try:
            for _ in bad:
                err = self.error(self.unlock({"password": "x"}), 502)
                self.assertEqual(err, "the gateway ended the request unanswered")
        finally:
            self.gateway_stop(t, srv)
        self.assertEqual(len(got), 3)

    def test_8z_passwords_per_message_are_limited(self):
        """The gateway tries the console's passwords as IT, past the lock: one message takes
        five within five minutes, counting only those the gateway took (not one it was too
        busy for, nor one that never reached it), whatever case its id is written in."""
        busy = self.answer(3, text="no sanitizer worker free within queue_wait")
        wrong = self.answer(0, [("2", 0, 1, 1, 0, "no password opened it")])
        self.error(self.unlock({"password": "x"}, item=self.held2), 503)  # no gateway: free
        t, srv, got = self.gateway([busy] + [wrong] * 5)
        try:
            self.error(self.unlock({"password": "x"}, item=self.held2), 503)  # busy: free
            codes = [self.unlock({"password": "x%d" % i}, item=self.held2).status
                     for i in range(5)]
            r = self.unlock({"part": "2", "password": "y"}, item=self.held2.lower())
        finally:
            self.gateway_stop(t, srv)
        self.assertEqual(codes, [200] * 5)
        self.assertEqual(len(got), 6, "the refused one never reached the gateway")
        err = self.error(r, 429)
        self.assertRegex(err, r"^5 passwords were tried on this message within 5 minutes; "
                              r"try again in \d+ s$")
        with open(self.h.log, encoding="utf-8", errors="replace") as f:
            self.assertIn("5 passwords within 300 s already; refused", f.read())

    def test_9_password_nowhere(self):
        with open(self.h.log, encoding="utf-8", errors="replace") as f:
            self.assertNotIn(self.SECRET, f.read())
        con = sqlite3.connect(self.h.db)
        try:
            for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                    "name NOT IN ('blobs', 'msg_texts')"):
                self.assertNotIn(self.SECRET, repr(con.execute("SELECT * FROM %s" % t)
                                                   .fetchall()), t)
        finally:
            con.close()
        # nothing about an unlock that never reached the gateway is recorded as done
        evs = self.rita.get("messages/" + self.held).json["events"]
        self.assertFalse([e for e in evs if e["action"].startswith("unlock")], evs)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_api.py BUILD_DIR [unittest args]")
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
