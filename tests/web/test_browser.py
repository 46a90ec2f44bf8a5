#!/usr/bin/python3
"""The review console in a real browser (Chromium, headless, through
chromium-driver and python3-selenium) against a real mugai-web, a real store
filled by sanitize-file, and an SMTP sink standing in for the release listener.

What a user of the console would check: signing in through the form, filtering
the list, a message whose subject, attachment name and text carry HTML and
script shown as text with nothing run or injected, a reviewer's release request
approved by an admin in another session and arriving at the sink with its queue
id on the page; the CSP on every answer, enforced by the browser, and no CSP
violation or script error in the console.

usage: test_browser.py BUILD_DIR
"""
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import webharness  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

BUILD = None
WAIT = 20

CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__x=1</script>"
# The engine keeps only the last path segment of an attachment's name, so a name
# cannot carry "</script>"; it carries both opening tags instead.
HOSTILE_SUBJECT = "見積書 " + IMG + SCRIPT
HOSTILE_FILE = IMG + "<script>window.__x=2;alert(2)<script>.txt"
HOSTILE_BODY = "お見積りを送ります。 " + IMG + " " + SCRIPT
# A bidi override reverses what follows it on screen: "evil\u202egpj.exe" reads "evilexe.jpg".
BIDI_LINE = "添付: evil\u202egpj.exe"

PASSWORDS = {"sato": "sato reviewer pass 1", "suzuki": "suzuki admin pass 1",
             "kato": "kato auditor pass 1"}
ROLES = {"sato": "reviewer", "suzuki": "admin", "kato": "auditor"}


def new_driver():
    """A fresh headless Chromium (its own profile: a separate session), 1280 px wide,
    keeping the browser console's messages."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--window-size=1280,1000", "--disable-gpu",
              "--disable-dev-shm-usage", "--lang=ja"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class BrowserTest(unittest.TestCase):
    """One store and one daemon for the class; the tests run in name order (the
    release is requested in test_03 and approved in test_04)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="web-browser-")
        cls.h = webharness.WebHarness(cls.tmp.name, BUILD)
        try:
            cls.fill()
            cls.h.start()
        except BaseException:
            cls.h.close()
            cls.tmp.cleanup()
            raise
        cls.base = "http://127.0.0.1:%d" % cls.h.port

    @classmethod
    def fill(cls):
        """Three accounts and three messages, through mugai-web and sanitize-file."""
        for name, role in ROLES.items():
            cls.h.add_user(name, role, PASSWORDS[name])
        eml = webharness.eml
        cls.hostile_eml = eml(HOSTILE_SUBJECT, sender="evil@example.net",
                              body=HOSTILE_BODY + "\n" + BIDI_LINE,
                              attachments=[(HOSTILE_FILE, "text/plain", b"quote\n")])
        cls.emls = {
            "meeting.eml": eml("会議の資料", sender="yamada@example.com"),
            "invoice.eml": eml("請求書の送付", sender="tanaka@example.org"),
            "hostile.eml": cls.hostile_eml,
        }
        cls.ids = cls.h.put_messages(cls.emls)
        assert len(cls.ids) == 3, cls.ids

    @classmethod
    def tearDownClass(cls):
        cls.h.close()
        cls.tmp.cleanup()

    # -- helpers

    def driver(self):
        """A fresh browser for this test, closed when it ends (an idle browser keeps
        connections open)."""
        d = new_driver()
        self.addCleanup(d.quit)
        return d

    def wait(self, d, cond, what):
        try:
            return WebDriverWait(d, WAIT).until(cond)
        except TimeoutException:
            status = d.find_elements(By.ID, "status")
            self.fail("%s: not seen within %d s (status line: %r; page: %r)"
                      % (what, WAIT, status[0].text if status else None,
                         d.find_element(By.TAG_NAME, "body").text[:600]))

    def text_in(self, d, locator, text, what):
        return self.wait(d, EC.text_to_be_present_in_element(locator, text), what)

    def sign_in(self, d, user, password=None):
        """Open the console, sign in through the form, wait for the message list."""
        d.get(self.base + "/")
        form = self.wait(d, EC.visibility_of_element_located((By.ID, "signin-form")), "sign-in form")
        form.find_element(By.ID, "signin-user").send_keys(user)
        form.find_element(By.ID, "signin-password").send_keys(password or PASSWORDS[user])
        form.find_element(By.ID, "signin-submit").click()
        if password:
            return
        self.wait(d, EC.presence_of_element_located((By.ID, "message-list")), "message list")
        self.assertIn(user, d.find_element(By.ID, "who").text)

    def list_subjects(self, d):
        return [a.text for a in d.find_elements(By.CSS_SELECTOR, "#message-list a.subject")]

    def filter_list(self, d, **fields):
        """Fill the list's filter form and search; wait for the new list."""
        old = d.find_element(By.ID, "message-list")
        for name, value in fields.items():
            el = d.find_element(By.ID, "f-" + name)
            if el.tag_name == "select":
                Select(el).select_by_value(value)
            else:
                el.clear()
                el.send_keys(value)
        d.find_element(By.ID, "filter-submit").click()
        self.wait(d, EC.staleness_of(old), "the filtered list")
        self.wait(d, EC.presence_of_element_located((By.ID, "message-list")), "the filtered list")

    def open_message(self, d, mid):
        d.get(self.base + "/#/messages/" + mid)
        self.wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, 'article[data-id="%s"]' % mid)),
                  "page of " + mid)

    def assert_nothing_ran(self, d):
        """No alert open, no canary set, no element injected, only the page's own script."""
        with self.assertRaises(NoAlertPresentException):
            d.switch_to.alert.text
        self.assertIsNone(d.execute_script("return window.__x === undefined ? null : window.__x"))
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "img[src=x]"), [])
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "img"), [])
        srcs = [s.get_attribute("src") for s in d.find_elements(By.TAG_NAME, "script")]
        self.assertEqual(srcs, [self.base + "/static/app.js"])

    def assert_clean_console(self, d):
        """No CSP violation and no uncaught script error in the browser's console."""
        bad = [e["message"] for e in d.get_log("browser")
               if any(k in e["message"] for k in ("Content Security Policy", "Refused to", "Uncaught"))]
        self.assertEqual(bad, [])

    # -- the tests

    def test_00_every_answer_carries_the_csp(self):
        c = self.h.client()
        for path in ("/", "/static/app.js", "/static/i18n.js", "/static/style.css", "me"):
            r = c.get(path)
            self.assertEqual(r.headers.get("Content-Security-Policy"), CSP, path)
            self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff", path)
        r = c.get("/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/html"))
        self.assertIn(b'<script type="module" src="/static/app.js"></script>', r.body)
        self.assertTrue(c.get("/static/app.js").headers.get("Content-Type", "").startswith("text/javascript"))

    def test_00_page_sources_never_parse_strings_as_html(self):
        """The page's files, as served: no HTML-parsing sink, no inline script or style,
        nothing from another host, one module per screen."""
        c = self.h.client()
        index = c.get("/").body.decode("utf-8")
        names = set(re.findall(r'(?:src|href)="/static/([\w.-]+)"', index))
        js = {}
        todo = [n for n in names if n.endswith(".js")]
        while todo:
            name = todo.pop()
            r = c.get("/static/" + name)
            self.assertEqual(r.status, 200, name)
            js[name] = r.body.decode("utf-8")
            for dep in re.findall(r'from "\./([\w.-]+\.js)"', js[name]):
                if dep not in js and dep not in todo:
                    todo.append(dep)
        for screen in ("signin.js", "messages.js", "message.js", "requests.js", "audit.js", "users.js"):
            self.assertIn(screen, js)
        sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
                           r"|setAttribute\(\s*[\"'](?:on|style)|\.on\w+\s*=")
        for name, text in js.items():
            self.assertIsNone(sinks.search(text), name)
            self.assertNotRegex(text, r"https?://", name)
        css = c.get("/static/style.css").body.decode("utf-8")
        for name, text in (("index.html", index), ("style.css", css)):
            self.assertNotRegex(text, r"https?://|@import|url\(", name)
        self.assertNotRegex(index, r"<script(?![^>]*\bsrc=)|\sstyle=|\son\w+=", "inline script or style")

    def test_01_sign_in_and_filter(self):
        d = self.driver()
        self.sign_in(d, "sato", "not the password")
        self.text_in(d, (By.ID, "signin-form"), "ユーザー名またはパスワードが違います", "the refusal")
        self.assertEqual(d.find_element(By.ID, "signin-password").get_attribute("value"), "")
        d.find_element(By.ID, "signin-user").clear()
        self.sign_in(d, "sato")
        self.assertEqual(sorted(self.list_subjects(d)), sorted(["会議の資料", "請求書の送付", HOSTILE_SUBJECT]))
        self.assertIn("3 件中 1–3 件", d.find_element(By.ID, "list-count").text)

        self.filter_list(d, q="会議")
        self.assertEqual(self.list_subjects(d), ["会議の資料"])
        self.assertIn("q=%E4%BC%9A%E8%AD%B0", d.current_url)
        self.filter_list(d, q="", sender="tanaka@")
        self.assertEqual(self.list_subjects(d), ["請求書の送付"])
        self.filter_list(d, sender="", status="deleted")
        self.assertEqual(self.list_subjects(d), [])
        self.assertIn("条件に合うメッセージはありません", d.find_element(By.ID, "message-list").text)
        self.filter_list(d, status="quarantined", limit="25")
        self.assertEqual(len(self.list_subjects(d)), 3)
        # Paging, one message a page (the hash carries the list's parameters).
        d.get(self.base + "/#/messages?limit=1")
        self.text_in(d, (By.ID, "list-count"), "3 件中 1–1 件", "the first page")
        first = self.list_subjects(d)
        d.find_element(By.CSS_SELECTOR, "nav.pager a[rel=next]").click()
        self.text_in(d, (By.ID, "list-count"), "3 件中 2–2 件", "the second page")
        second = self.list_subjects(d)
        self.assertEqual(len(first + second), 2)
        self.assertNotEqual(first, second)
        d.find_element(By.CSS_SELECTOR, "nav.pager a[rel=prev]").click()
        self.text_in(d, (By.ID, "list-count"), "3 件中 1–1 件", "back on the first page")
        self.assert_clean_console(d)

    def test_02_hostile_strings_are_only_text(self):
        d = self.driver()
        self.sign_in(d, "kato")
        # In the list: the subject is a link whose text is the whole string.
        self.assertIn(HOSTILE_SUBJECT, self.list_subjects(d))
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#message-list input[type=checkbox]"), [],
                         "an auditor gets no tick boxes")
        self.assert_nothing_ran(d)
        link = [a for a in d.find_elements(By.CSS_SELECTOR, "#message-list a.subject")
                if a.text == HOSTILE_SUBJECT][0]
        link.click()
        mid = self.ids["hostile.eml"]
        self.wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, 'article[data-id="%s"]' % mid)),
                  "the hostile message's page")
        self.assertEqual(d.find_element(By.ID, "msg-subject").text, HOSTILE_SUBJECT)
        names = [e.text for e in d.find_elements(By.CSS_SELECTOR, "table.parts .filename")]
        self.assertIn(HOSTILE_FILE, names)
        self.assertIn(HOSTILE_BODY, d.find_element(By.ID, "clean-text-body").text)
        # the override is shown as U+FFFD, as mugai-quarantine shows it, not obeyed
        text = d.find_element(By.ID, "clean-text-body").text
        self.assertIn("evil\ufffdgpj.exe", text)
        self.assertNotIn("\u202e", d.find_element(By.TAG_NAME, "body").text)
        values = [e.text for e in d.find_elements(By.CSS_SELECTOR, "table.headers td")]
        self.assertIn(HOSTILE_SUBJECT, values)
        self.assertIn("この役割では閲覧のみできます", d.find_element(By.ID, "actions").text)
        time.sleep(0.5)  # an image error or a timer would have fired by now
        self.assert_nothing_ran(d)
        self.assert_clean_console(d)

    def test_03_reviewer_requests_a_release(self):
        d = self.driver()
        self.sign_in(d, "sato")
        mid = self.ids["hostile.eml"]
        self.open_message(d, mid)
        self.assertEqual(d.find_element(By.ID, "msg-subject").text, HOSTILE_SUBJECT)
        d.find_element(By.ID, "req-submit").click()
        self.text_in(d, (By.ID, "request-form"), "理由を入力してください", "the missing reason")
        Select(d.find_element(By.ID, "req-action")).select_by_value("release")
        self.assertEqual(d.find_elements(By.ID, "req-to"), [], "only an admin may redirect")
        d.find_element(By.ID, "req-reason").send_keys("取引先に確認済みの見積書")
        d.find_element(By.ID, "req-submit").click()
        self.text_in(d, (By.ID, "status"), "依頼しました", "the request's confirmation")
        row = self.wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "table.requests tr.req-pending")),
                        "the pending request")
        self.assertIn("取引先に確認済みの見積書", row.text)
        self.assertIn("sato", row.text)
        self.assertEqual(row.find_elements(By.CSS_SELECTOR, "button.approve"), [],
                         "a reviewer cannot approve")
        self.assertEqual(self.h.sink.messages(), [], "nothing is released before the approval")
        self.assert_nothing_ran(d)
        self.assert_clean_console(d)

    def test_04_admin_approves_in_another_session(self):
        d = self.driver()
        self.sign_in(d, "suzuki")
        d.find_element(By.CSS_SELECTOR, '#nav a[href="#/requests"]').click()
        row = self.wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "table.requests tr.req-pending")),
                        "the pending request")
        self.assertIn(self.ids["hostile.eml"], row.text)
        self.assertIn("sato", row.text)
        row.find_element(By.CSS_SELECTOR, "input.reason").send_keys("内容を確認した")
        row.find_element(By.CSS_SELECTOR, "button.approve").click()
        self.text_in(d, (By.ID, "status"), "queued as", "the release's result")
        got = self.h.sink.messages()
        self.assertEqual(len(got), 1, got)
        qid, sender, rcpts, data = got[0]
        self.assertEqual(rcpts, ["somu@city.example.lg.jp"])
        self.assertEqual(data.rstrip(b"\r\n"), self.hostile_eml.rstrip(b"\r\n"),
                         "the original arrives unchanged")
        self.assertIn("250 2.0.0 Ok: queued as " + qid, d.find_element(By.ID, "status").text)
        self.assertIn("実行しました", d.find_element(By.ID, "status").text)

        self.open_message(d, self.ids["hostile.eml"])
        self.assertIn("queued as " + qid, d.find_element(By.ID, "release-result").text)
        self.assertEqual(d.find_element(By.ID, "msg-status").text, "送信済み")
        done = d.find_element(By.CSS_SELECTOR, "table.requests tr.req-done")
        self.assertIn(qid, done.text)
        self.assertIn("suzuki", done.text)
        self.assertIn("内容を確認した", done.text)
        hist = [[c.text for c in tr.find_elements(By.TAG_NAME, "td")]
                for tr in d.find_elements(By.CSS_SELECTOR, "#history tbody tr")]
        self.assertIn(["送信", "ok"], [[r[3], r[7]] for r in hist], hist)
        self.assert_nothing_ran(d)
        self.assert_clean_console(d)

    def test_05_admin_cannot_approve_own_request(self):
        d = self.driver()
        self.sign_in(d, "suzuki")
        mid = self.ids["invoice.eml"]
        self.open_message(d, mid)
        Select(d.find_element(By.ID, "req-action")).select_by_value("export")
        d.find_element(By.ID, "req-reason").send_keys("監査のため")
        d.find_element(By.ID, "req-submit").click()
        row = self.wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "table.requests tr.req-pending")),
                        "the admin's own pending request")
        self.assertEqual(row.find_elements(By.CSS_SELECTOR, "button.approve"), [])
        self.assertIn("自分の依頼は承認できません", row.text)
        self.assert_clean_console(d)

    def test_06_audit_log_and_english(self):
        d = self.driver()
        self.sign_in(d, "kato")
        d.find_element(By.CSS_SELECTOR, '#nav a[href="#/audit"]').click()
        state = self.wait(d, EC.presence_of_element_located((By.ID, "chain-state")), "the chain's state")
        self.assertIn("改ざんは検出されませんでした", state.text)
        d.find_element(By.ID, "a-actor").send_keys("sato")
        d.find_element(By.CSS_SELECTOR, "#audit-filters button[type=submit]").click()
        self.wait(d, EC.staleness_of(state), "the filtered audit log")
        actors = [tr.find_elements(By.TAG_NAME, "td")[2].text
                  for tr in self.wait(d, lambda x: x.find_elements(By.CSS_SELECTOR, "table.events tbody tr"),
                                      "sato's events")]
        self.assertEqual(set(actors), {"sato"})
        state = d.find_element(By.ID, "chain-state")
        d.find_element(By.ID, "lang").click()
        self.text_in(d, (By.ID, "chain-state"), "No tampering found", "the English chain state")
        self.assertEqual(d.find_element(By.TAG_NAME, "html").get_attribute("lang"), "en")
        d.refresh()
        self.text_in(d, (By.ID, "nav"), "Audit log", "English kept after a reload")
        d.find_element(By.ID, "lang").click()
        self.text_in(d, (By.ID, "nav"), "監査ログ", "Japanese again")
        self.assert_clean_console(d)

    def test_07_expired_session_returns_to_sign_in(self):
        d = self.driver()
        self.sign_in(d, "sato")
        d.delete_all_cookies()
        d.find_element(By.CSS_SELECTOR, '#nav a[href="#/audit"]').click()
        self.wait(d, EC.visibility_of_element_located((By.ID, "signin-form")), "the sign-in form after a 401")
        self.assertIn("もう一度サインインしてください", d.find_element(By.ID, "status").text)
        d.find_element(By.ID, "signin-user").send_keys("sato")
        d.find_element(By.ID, "signin-password").send_keys(PASSWORDS["sato"])
        d.find_element(By.ID, "signin-submit").click()
        self.wait(d, EC.presence_of_element_located((By.ID, "chain-state")), "back on the audit log")
        self.assert_clean_console(d)

    def fetch_in_page(self, d, url):
        """GET url from the page (its cookie, its origin): [status, Content-Disposition, bytes]."""
        status, disp, body = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0]).then(async (r) => done([r.status, r.headers.get('Content-Disposition'),"
            " Array.from(new Uint8Array(await r.arrayBuffer()))])).catch((e) => done([0, String(e), []]));",
            url)
        return status, disp, bytes(body)

    def approve_in_requests(self, d, mid, action, verb="approve", reason="確認済み"):
        """On the requests screen, approve (or deny) the pending request of action on mid."""
        d.get(self.base + "/#/requests")
        self.wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "table.requests")), "pending requests")
        rows = [r for r in d.find_elements(By.CSS_SELECTOR, "table.requests tr.req-pending")
                if mid in r.text and self.ACTIONS[action] in r.text]
        self.assertEqual(len(rows), 1, [r.text for r in rows])
        rows[0].find_element(By.CSS_SELECTOR, "input.reason").send_keys(reason)
        rows[0].find_element(By.CSS_SELECTOR, "button." + verb).click()
        self.wait(d, EC.staleness_of(rows[0]), "the decision")

    ACTIONS = {"release": "送信（原本）", "export": "原本の取り出し", "delete": "削除"}

    def test_08_export_download_once(self):
        mid = self.ids["meeting.eml"]
        d = self.driver()
        self.sign_in(d, "sato")
        self.open_message(d, mid)
        Select(d.find_element(By.ID, "req-action")).select_by_value("export")
        d.find_element(By.ID, "req-reason").send_keys("原本の確認")
        d.find_element(By.ID, "req-submit").click()
        self.text_in(d, (By.ID, "status"), "依頼しました", "the export request")

        a = self.driver()
        self.sign_in(a, "suzuki")
        self.approve_in_requests(a, mid, "export")
        self.text_in(a, (By.ID, "status"), "実行しました", "the export's result")
        link = a.find_element(By.CSS_SELECTOR, "#status a.download")
        href = link.get_attribute("href")
        self.assertRegex(href, r"^%s/api/v1/downloads/[0-9a-f]{64}$" % re.escape(self.base))
        status, disp, body = self.fetch_in_page(a, href)
        self.assertEqual(status, 200)
        self.assertIn("attachment", disp)
        self.assertIn(mid + ".eml", disp)
        self.assertEqual(body, self.emls["meeting.eml"])
        self.assertEqual(self.fetch_in_page(a, href)[0], 404, "the link works once")
        self.assert_clean_console(d)
        self.assert_clean_console(a)

    def test_09_bulk_delete_then_deny_and_approve(self):
        meeting, invoice = self.ids["meeting.eml"], self.ids["invoice.eml"]
        d = self.driver()
        self.sign_in(d, "sato")
        d.find_element(By.ID, "bulk-delete").click()
        self.text_in(d, (By.ID, "bulk-form"), "メッセージを選択してください", "nothing ticked")
        for mid in (meeting, invoice):
            d.find_element(By.CSS_SELECTOR, '#message-list input[type=checkbox][value="%s"]' % mid).click()
        d.find_element(By.ID, "bulk-reason").send_keys("不要な営業メール")
        d.find_element(By.ID, "bulk-delete").click()
        self.text_in(d, (By.ID, "status"), "削除の依頼 2 件、削除 0 件、失敗 0 件", "the bulk result")

        a = self.driver()
        self.sign_in(a, "suzuki")
        self.approve_in_requests(a, meeting, "delete", "deny", "会議の記録として残す")
        self.text_in(a, (By.ID, "status"), "却下しました", "the denial")
        self.approve_in_requests(a, invoice, "delete")
        self.text_in(a, (By.ID, "status"), "実行しました", "the deletion")
        a.get(self.base + "/#/messages?status=deleted")
        self.wait(a, EC.presence_of_element_located((By.ID, "message-list")), "deleted messages")
        self.assertEqual(self.list_subjects(a), ["請求書の送付"])
        self.open_message(d, meeting)
        denied = d.find_element(By.CSS_SELECTOR, "table.requests tr.req-denied")
        self.assertIn("会議の記録として残す", denied.text)
        self.assertEqual(d.find_element(By.ID, "msg-status").text, "保管中")
        self.assert_clean_console(d)
        self.assert_clean_console(a)

    def test_10_admin_manages_users(self):
        a = self.driver()
        self.sign_in(a, "suzuki")
        a.find_element(By.CSS_SELECTOR, '#nav a[href="#/users"]').click()
        form = self.wait(a, EC.presence_of_element_located((By.ID, "add-user")), "the add-user form")
        form.find_element(By.ID, "nu-name").send_keys("ito")
        Select(form.find_element(By.ID, "nu-role")).select_by_value("auditor")
        form.find_element(By.ID, "nu-pw").send_keys("short")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.text_in(a, (By.ID, "add-user"), "12 文字以上", "the short password refused")
        form.find_element(By.ID, "nu-pw").send_keys(" but now long enough")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.text_in(a, (By.ID, "status"), "ito を追加しました", "the new user")
        row = self.wait(a, EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-user="ito"]')), "ito's row")
        self.assertIn("監査者", row.text)

        u = self.driver()
        self.sign_in(u, "ito", "short but now long enough")
        self.wait(u, EC.presence_of_element_located((By.ID, "message-list")), "ito signed in")
        self.assertEqual(u.find_elements(By.CSS_SELECTOR, '#nav a[href="#/users"]'), [], "not an admin")

        row.find_element(By.CSS_SELECTOR, "button.danger").click()
        self.text_in(a, (By.ID, "status"), "ito を無効にしました", "ito disabled")
        self.assertIn("無効", a.find_element(By.CSS_SELECTOR, 'tr[data-user="ito"]').text)
        v = self.driver()
        self.sign_in(v, "ito", "short but now long enough")
        self.text_in(v, (By.ID, "signin-form"), "ユーザー名またはパスワードが違います", "a disabled account refused")
        self.assert_clean_console(a)

    def test_11_the_browser_enforces_the_csp(self):
        d = self.driver()
        self.sign_in(d, "kato")
        d.get_log("browser")
        # Even a script element put into the page by other means is refused by the policy.
        d.execute_script("var s = document.createElement('script');"
                         "s.textContent = 'window.__x = 3';"
                         "document.body.appendChild(s);")
        time.sleep(0.3)
        self.assertIsNone(d.execute_script("return window.__x === undefined ? null : window.__x"))
        logs = [e["message"] for e in d.get_log("browser")]
        self.assertTrue(any("Content Security Policy" in m for m in logs), logs)

    def test_12_a_broken_chain_is_shown(self):
        d = self.driver()
        self.sign_in(d, "kato")
        # Someone with access to the store rewrites the reason of sato's first request.
        db = sqlite3.connect(self.h.db, timeout=30)
        try:
            seq = db.execute("SELECT min(id) FROM events WHERE actor = 'sato' AND action = 'requested'"
                             ).fetchone()[0]
            self.assertIsNotNone(seq)
            db.execute("UPDATE events SET reason = 'routine' WHERE id = ?", (seq,))
            db.commit()
        finally:
            db.close()
        d.get(self.base + "/#/audit")
        state = self.wait(d, EC.presence_of_element_located((By.ID, "chain-state")), "the chain's state")
        self.assertIn("番号 %d で壊れています" % seq, state.text)
        self.assertIn("bad", state.get_attribute("class"))
        self.assert_clean_console(d)

    def test_13_a_malformed_link_does_not_stop_the_page(self):
        # a link sent to a reviewer with a broken %-escape in its hash
        d = self.driver()
        self.sign_in(d, "kato")
        d.get(self.base + "/#/messages/%E0%A4%A")
        self.text_in(d, (By.ID, "main"), "no such message", "the answer to a malformed link")
        self.assert_clean_console(d)


class HeldBrowserTest(unittest.TestCase):
    """A message whose encrypted zip is held, in a store with no gateway running: the page
    lists the held part, offers a reviewer a password field (never an auditor), posts it and
    shows the answer as text."""

    wait, text_in, sign_in, open_message, assert_clean_console, assert_nothing_ran = (
        BrowserTest.wait, BrowserTest.text_in, BrowserTest.sign_in, BrowserTest.open_message,
        BrowserTest.assert_clean_console, BrowserTest.assert_nothing_ran)
    driver = BrowserTest.driver

    @classmethod
    def setUpClass(cls):
        if not shutil.which("bsdtar"):
            raise unittest.SkipTest("bsdtar (libarchive-tools) makes the encrypted zip")
        cls.tmp = tempfile.TemporaryDirectory(prefix="web-browser-held-")
        cls.h = webharness.WebHarness(cls.tmp.name, BUILD, sink=False)
        try:
            with open(cls.h.conf, "a", encoding="utf-8") as f:  # no gateway: nothing listens
                f.write("\n[milter]\nspool_dir = %s\n" % os.path.join(cls.tmp.name, "spool"))
            for name in ("sato", "kato"):
                cls.h.add_user(name, ROLES[name], PASSWORDS[name])
            zipped = webharness.encrypted_zip(cls.tmp.name, "secret-zip-pw")
            cls.mid = cls.h.put_messages({"held.eml": webharness.eml(
                "暗号化ファイルの送付", sender="vendor@example.com",
                attachments=[(IMG + "見積.zip", "application/zip", zipped)])})["held.eml"]
            cls.h.start()
        except BaseException:
            cls.h.close()
            cls.tmp.cleanup()
            raise
        cls.base = "http://127.0.0.1:%d" % cls.h.port

    @classmethod
    def tearDownClass(cls):
        cls.h.close()
        cls.tmp.cleanup()

    def held_row(self, d):
        self.text_in(d, (By.ID, "held"), "パスワード待ち", "the held section")
        rows = d.find_elements(By.CSS_SELECTOR, "#held table.held tbody tr")
        self.assertEqual(len(rows), 1)
        return rows[0].find_elements(By.TAG_NAME, "td")

    def test_01_reviewer_posts_a_password(self):
        d = self.driver()
        self.sign_in(d, "sato")
        self.open_message(d, self.mid)
        cells = self.held_row(d)
        self.assertEqual(cells[1].text, IMG + "見積.zip")
        pw = d.find_element(By.ID, "unlock-pw-0")
        self.assertEqual(pw.get_attribute("type"), "password")
        # never filled in with the console's saved sign-in; never part of a form submission
        self.assertEqual(pw.get_attribute("autocomplete"), "new-password")
        self.assertFalse(d.execute_script("return arguments[0].hasAttribute('name')", pw))
        self.assertEqual(d.find_element(By.ID, "unlock-form-0").get_attribute("method"), "post")
        d.find_element(By.ID, "unlock-submit-0").click()
        self.text_in(d, (By.ID, "unlock-out-0"), "パスワードを入力してください",
                     "the empty password refused in the page")
        pw.send_keys("secret-zip-pw")
        d.find_element(By.ID, "unlock-submit-0").click()
        self.text_in(d, (By.ID, "unlock-out-0"), "the gateway (mugai-milter) is not running",
                     "the console's answer without a gateway")
        self.assertEqual(pw.get_attribute("value"), "", "the field is emptied once sent")
        self.assertNotIn("secret-zip-pw", d.current_url)
        self.assertNotIn("secret-zip-pw", d.page_source)
        self.assertTrue(d.find_element(By.ID, "unlock-submit-0").is_enabled())
        self.assert_nothing_ran(d)
        self.assert_clean_console(d)

    def test_02_auditor_sees_the_state_without_a_form(self):
        d = self.driver()
        self.sign_in(d, "kato")
        self.open_message(d, self.mid)
        self.held_row(d)
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "form.unlock"), [])
        self.assert_clean_console(d)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_browser.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
