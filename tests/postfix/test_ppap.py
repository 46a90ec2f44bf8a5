#!/usr/bin/python3
"""End to end: PPAP, encrypted attachments opened after the fact, through a real,
private Postfix on loopback with mugai-milter and the release listener.

Each scenario has its own Internet sender, so that the held messages of one never
match another's password mail. Zips are made with bsdtar: WinZip AES with UTF-8
names and ZipCrypto with CP932 names (no UTF-8 flag), each holding a Japanese PDF
and a docx. What the tests check is what a recipient or IT would:

- the held message reaches the recipient with a notice naming the quarantine ID and
  saying how the attachment is opened;
- a later password mail from the same sender, in each of the common forms
  (「パスワード：…」, full-width characters, the password alone on a line after a
  greeting, English "Password: ..."), is delivered as usual and is followed by a
  follow-up mail that parses with Python's email package, refers to the original
  (In-Reply-To, References), says how it was opened, and carries a zip whose members
  are flattened PDFs with the Japanese names and the Japanese text;
- the same password from another sender, or after [ppap] match_hours, opens nothing;
- a recipient's reply to [ppap] submit_address opens it and is answered; one from a
  non-recipient is answered with a refusal; one from outside trusted_networks is
  refused in SMTP (550); no reply is ever delivered to the submit address;
- mugai-quarantine unlock: a wrong password (exit 7), then the right one (exit 0);
- the lock after [ppap] max_attempts (a reply then gets "locked", IT still opens it);
- expiry: mugai-quarantine purge expires the part and its recipients are told;
- no password used appears in the milter's log, the audit log, the audit trail or any
  table of the store but the originals themselves.

Usage: test_ppap.py --build DIR --corpus DIR [unittest args]
Runs as root (Postfix must start). MUGAI_KEEP=1 keeps the work directory.
"""

import email
import email.policy
import io
import json
import os
import re
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, "mail"))
import pfharness  # noqa: E402
import test_mail as tm  # noqa: E402 - reuse the argument helper

BUILD = os.environ.get("MUGAI_BUILD", "")
CORPUS = ""
PASSWORD = "Ab3#xY9!"
WRONG = ["Zz9#wrong1", "Qq8$wrong2"]
SUBMIT = "ppap@gw.lgwan.example"
MAX_ATTEMPTS = 6
MEMBERS = ["見積書.pdf", "議事録.docx"]
PDF_TEXT = "無害化試験文書"
OPENED_SUBJECT = "[無害化] 添付ファイルを開きました"
S = {}
CONSOLE_LOGIN = "console sign-in 0K!"  # a console account's password (not a PPAP one)
sys.path.insert(0, os.path.join(TESTS, "web"))


# ---------------------------------------------------------------- fixtures


def make_zip(kind, password):
    """A zip of the corpus's Japanese PDF and docx under Japanese names: kind "aes" (WinZip
    AES-256, UTF-8 names), "zipcrypto" (CP932 names) or "none" (not encrypted). Bytes."""
    d = tempfile.mkdtemp(prefix="ppapzip-", dir=S["tmp"])
    shutil.copy(os.path.join(CORPUS, "files", "ja_text.pdf"), os.path.join(d, MEMBERS[0]))
    shutil.copy(os.path.join(CORPUS, "files", "office_docx.docx"), os.path.join(d, MEMBERS[1]))
    opts = {"aes": ["--options", "zip:encryption=aes256", "--passphrase", password],
            "zipcrypto": ["--options", "zip:encryption=zipcrypt,zip:hdrcharset=CP932",
                          "--passphrase", password],
            "none": []}[kind]
    subprocess.run(["bsdtar", "--format", "zip"] + opts + ["-cf", "out.zip"] + MEMBERS, cwd=d,
                   check=True, env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8"))
    with open(os.path.join(d, "out.zip"), "rb") as f:
        return f.read()


def held_mail(sender, rcpts, tag, kind="aes"):
    """A mail with an encrypted zip attachment; its Message-ID."""
    m = EmailMessage()
    m["From"] = "取引先 <%s>" % sender
    m["To"] = ", ".join(rcpts)
    m["Subject"] = "見積書の送付 %s" % tag
    m["Message-ID"] = "<held-%s@internet.example>" % tag
    m["Date"] = email.utils.formatdate(localtime=True)
    m.set_content("お世話になっております。\n見積書をお送りします。パスワードは別途お送りします。\n")
    m.add_attachment(make_zip(kind, PASSWORD), maintype="application", subtype="zip",
                     filename="見積書_%s.zip" % tag)
    return m.as_bytes(policy=email.policy.SMTP), m["Message-ID"]


def text_mail(sender, rcpts, subject, body, mid):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = ", ".join(rcpts)
    m["Subject"] = subject
    m["Message-ID"] = "<%s@internet.example>" % mid
    m["Date"] = email.utils.formatdate(localtime=True)
    m.set_content(body)
    return m.as_bytes(policy=email.policy.SMTP)


FORMS = {
    "label": "お世話になっております。\n先ほどのファイルのパスワードです。\n\nパスワード：%s\n\n"
             "よろしくお願いいたします。\n" % PASSWORD,
    "fullwidth": "パスワード：%s\n" % PASSWORD.translate(
        {c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
    "alone": "お世話になっております。\n先ほどのファイルのパスワードをお送りします。\n\n%s\n\n"
             "よろしくお願いいたします。\n山田\n" % PASSWORD,
    "english": "Hello,\n\nPassword: %s\n\nBest regards,\nTaro\n" % PASSWORD,
}


# ---------------------------------------------------------------- helpers


def send(sender, rcpts, data, source=None):
    """One SMTP transaction to the gateway, from source (a loopback address) when given:
    (code, text)."""
    if source is None:
        code, text, _ = pfharness.send_with_retry(S["h"].smtp_port, sender, rcpts, data, tries=5)
        return code, text
    try:
        with smtplib.SMTP("127.0.0.1", S["h"].smtp_port, local_hostname="lgwan-mta.invalid",
                          timeout=120, source_address=(source, 0)) as s:
            s.sendmail(sender, rcpts, data)
            return 250, "ok"
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode("utf-8", "replace")
    except smtplib.SMTPDataError as e:
        return e.smtp_code, str(e)


def at_sink(rcpt, pred=lambda e, m: True):
    """Parsed messages the sink got for rcpt that satisfy pred(envelope, message)."""
    out = []
    for env, data in S["h"].sink.messages():
        if rcpt in env["rcpts"]:
            m = email.message_from_bytes(data, policy=email.policy.default)
            if pred(env, m):
                out.append((env, m))
    return out


def subject_has(text):
    return lambda e, m: text in str(m["Subject"] or "")


def wait_sink(rcpt, pred, timeout=90, n=1):
    pfharness.wait_until(lambda: len(at_sink(rcpt, pred)) >= n, timeout, 0.3)
    return at_sink(rcpt, pred)


def quarantine_id(rcpt, subject):
    """The X-Mugai-Quarantine-Id of the sanitized copy rcpt got of subject."""
    got = wait_sink(rcpt, subject_has(subject), 90)
    if not got:
        return None
    return str(got[0][1]["X-Mugai-Quarantine-Id"]).strip()


def followup_members(msg):
    """{name: bytes} of the zip attached to a follow-up, or {}."""
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True)
        if data and data[:2] == b"PK":
            z = zipfile.ZipFile(io.BytesIO(data))
            return {i.filename: z.read(i) for i in z.infolist()}
    return {}


def pdf_text(data):
    p = subprocess.run(["pdftotext", "-", "-"], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, check=False)
    return p.stdout.decode("utf-8", "replace")


def store_db():
    return os.path.join(S["h"].work, "quarantine", "index.sqlite")


def db_rows(sql, *args):
    con = sqlite3.connect(store_db(), timeout=30)
    try:
        rows = con.execute(sql, args).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def held_status(qid):
    return [r[0] for r in db_rows("SELECT status FROM held WHERE msg_id = ?", qid)]


def events(qid):
    rc, out, _ = S["h"].quarantine("--json", "show", qid)
    return json.loads(out).get("events", []) if rc == 0 else []


# ---------------------------------------------------------------- the scenario


def scenario_forms():
    """Held zips opened by password mails in each form (two zip kinds)."""
    r = S["r"]["forms"] = {}
    for i, (form, body) in enumerate(FORMS.items()):
        sender, rcpt = "form%d@internet.example" % i, "staff%d@lgwan.example" % i
        kind = "zipcrypto" if i % 2 else "aes"
        data, mid = held_mail(sender, [rcpt], "form%d" % i, kind)
        code, _ = send(sender, [rcpt], data)
        qid = quarantine_id(rcpt, "form%d" % i)
        pw_code, _ = send(sender, [rcpt], text_mail(sender, [rcpt], "パスワードのご連絡",
                                                     body, "pw-form%d" % i))
        got = wait_sink(rcpt, subject_has(OPENED_SUBJECT), 120)
        r[form] = {"code": code, "pw_code": pw_code, "qid": qid, "mid": mid, "kind": kind,
                   "followups": got, "rcpt": rcpt,
                   "password_mail": at_sink(rcpt, subject_has("パスワードのご連絡"))}


def scenario_no_match():
    """The right password from another sender, and after the window: nothing opens."""
    r = S["r"]["nomatch"] = {}
    sender, rcpt = "owner@internet.example", "nomatch@lgwan.example"
    data, _ = held_mail(sender, [rcpt], "nomatch")
    send(sender, [rcpt], data)
    r["qid"] = quarantine_id(rcpt, "nomatch")
    send("other@internet.example", [rcpt],
         text_mail("other@internet.example", [rcpt], "password", FORMS["label"], "pw-other"))
    wait_sink(rcpt, subject_has("password"), 60)
    sender2, rcpt2 = "late@internet.example", "late@lgwan.example"
    data, _ = held_mail(sender2, [rcpt2], "late")
    send(sender2, [rcpt2], data)
    r["late_qid"] = quarantine_id(rcpt2, "late")
    # The held message is made older than [ppap] match_hours (72 h).
    db_rows("UPDATE messages SET time = time - 80 * 3600 WHERE id = ?", r["late_qid"])
    send(sender2, [rcpt2], text_mail(sender2, [rcpt2], "password", FORMS["label"], "pw-late"))
    wait_sink(rcpt2, subject_has("password"), 60)
    time.sleep(8)  # a follow-up would come within seconds
    r["other"] = at_sink(rcpt, subject_has(OPENED_SUBJECT))
    r["late"] = at_sink(rcpt2, subject_has(OPENED_SUBJECT))


def scenario_reply():
    """A recipient's reply opens it; a non-recipient's is refused; an outsider's gets 550."""
    r = S["r"]["reply"] = {}
    sender, rcpt = "reply@internet.example", "kakari@lgwan.example"
    data, mid = held_mail(sender, [rcpt], "reply")
    send(sender, [rcpt], data)
    qid = r["qid"] = quarantine_id(rcpt, "reply")
    r["outsider"] = send(rcpt, [SUBMIT], text_mail(rcpt, [SUBMIT], "Re: %s" % qid, PASSWORD,
                                                    "reply-out"), source="127.0.0.2")
    r["stranger_code"] = send("stranger@lgwan.example", [SUBMIT],
                              text_mail("stranger@lgwan.example", [SUBMIT], "Re: %s" % qid,
                                        PASSWORD, "reply-stranger"))[0]
    r["stranger_answer"] = wait_sink("stranger@lgwan.example",
                                     subject_has("パスワードの受付結果"), 60)
    r["reply_code"] = send(rcpt, [SUBMIT], text_mail(rcpt, [SUBMIT], "Re: 件名 %s" % qid,
                                                     PASSWORD + "\n", "reply-ok"))[0]
    r["answer"] = wait_sink(rcpt, subject_has("パスワードの受付結果"), 90)
    r["followups"] = wait_sink(rcpt, subject_has(OPENED_SUBJECT), 90)
    r["mid"] = mid


def scenario_unlock():
    """IT: a wrong password, then the right one."""
    r = S["r"]["unlock"] = {}
    sender, rcpt = "it@internet.example", "it-rcpt@lgwan.example"
    data, _ = held_mail(sender, [rcpt], "unlock")
    send(sender, [rcpt], data)
    qid = r["qid"] = quarantine_id(rcpt, "unlock")
    r["wrong"] = quarantine_input(WRONG[0], "--actor", "tanaka", "unlock", qid)
    r["right"] = quarantine_input(PASSWORD, "--actor", "tanaka", "unlock", qid)
    r["followups"] = wait_sink(rcpt, subject_has(OPENED_SUBJECT), 90)


def quarantine_input(stdin, *args):
    p = subprocess.run([S["h"].quarantine_binary(), "-c", S["h"].milter.conf] + list(args),
                       input=(stdin + "\n").encode("utf-8"), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def scenario_lock():
    """Wrong candidates up to max_attempts lock the part; a right reply then opens nothing,
    IT still does."""
    r = S["r"]["lock"] = {}
    sender, rcpt = "lock@internet.example", "lock@lgwan.example"
    data, _ = held_mail(sender, [rcpt], "lock")
    send(sender, [rcpt], data)
    qid = r["qid"] = quarantine_id(rcpt, "lock")
    body = "".join("PW: wrong-%d-Xy\n" % i for i in range(MAX_ATTEMPTS))
    send(sender, [rcpt], text_mail(sender, [rcpt], "pw lock", body, "pw-lock"))
    pfharness.wait_until(lambda: held_status(qid) == ["locked"], 60, 0.5)
    r["status_after_wrong"] = held_status(qid)
    send(rcpt, [SUBMIT], text_mail(rcpt, [SUBMIT], "Re: %s" % qid, PASSWORD, "reply-lock"))
    r["answer"] = wait_sink(rcpt, subject_has("パスワードの受付結果"), 60)
    time.sleep(3)
    r["followups_before_it"] = at_sink(rcpt, subject_has(OPENED_SUBJECT))
    r["it"] = quarantine_input(PASSWORD, "--actor", "suzuki", "unlock", qid)
    r["followups"] = wait_sink(rcpt, subject_has(OPENED_SUBJECT), 90)


def scenario_expiry():
    """An expired part: purge expires it and its recipients are told."""
    r = S["r"]["expiry"] = {}
    sender, rcpt = "exp@internet.example", "exp@lgwan.example"
    data, _ = held_mail(sender, [rcpt], "expiry")
    send(sender, [rcpt], data)
    qid = r["qid"] = quarantine_id(rcpt, "expiry")
    db_rows("UPDATE held SET expires = ? WHERE msg_id = ?", int(time.time()) - 10, qid)
    r["purge"] = S["h"].quarantine("--actor", "tanaka", "purge", "--reason", "timer")
    r["notice"] = wait_sink(rcpt, subject_has("保留期限が切れました"), 60)
    r["status"] = held_status(qid)


def console_start(r):
    """mugai-web on the milter's own configuration file ([web] added; the milter ignores it),
    started as root as in production: it becomes [web] user mugai-web, whose supplementary
    group mugai (the milter user's, the store's) reaches SPOOL/unlock.sock. A reviewer
    account is added with `mugai-web user add`. Returns the process and a signed-in client."""
    import webharness
    h = S["h"]
    port = webharness.free_port()
    with open(h.milter.conf, "a", encoding="utf-8") as f:
        f.write("\n[web]\nlisten = 127.0.0.1:%d\nuser = mugai-web\n" % port)
    web = os.path.join(BUILD, "web", "mugai-web")
    add = subprocess.run([web, "-c", h.milter.conf, "user", "add", "yamada", "--role",
                          "reviewer"], input=CONSOLE_LOGIN + "\n", capture_output=True,
                         text=True, timeout=60)
    if add.returncode != 0:
        raise RuntimeError("mugai-web user add: %s" % add.stderr)
    for name, role in (("mori", "auditor"),):
        subprocess.run([web, "-c", h.milter.conf, "user", "add", name, "--role", role],
                       input=CONSOLE_LOGIN + "\n", capture_output=True, text=True,
                       timeout=60, check=True)
    S["web_log"] = os.path.join(S["tmp"], "mugai-web.log")
    logf = open(S["web_log"], "ab")
    proc = subprocess.Popen([web, "-c", h.milter.conf, "-f"], stdout=logf, stderr=logf,
                            stdin=subprocess.DEVNULL)
    logf.close()
    S["web"] = proc
    if not webharness.wait_until(lambda: proc.poll() is not None or
                                 webharness.port_open(port), 30) or proc.poll() is not None:
        raise RuntimeError("mugai-web did not start: %s" % open(S["web_log"]).read()[-2000:])
    r["web_ids"] = proc_ids(proc.pid)
    c = webharness.Client(port)
    login = c.login("yamada", CONSOLE_LOGIN)
    if login.status != 200:
        raise RuntimeError("sign-in: %r" % login)
    auditor = webharness.Client(port)
    auditor.login("mori", CONSOLE_LOGIN)
    return proc, c, auditor


def proc_ids(pid):
    """{"Uid": [...], "Gid": [...], "Groups": [...]} of a process, as numbers."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(v) for v in val.split()]
    return out


def typed_message(mtype, *fields):
    """One message of mugai-milter's own protocol (milter/proto.c): {magic "MGJ1", type,
    length} then the fields, each a string (u32 length + bytes; None as 0xffffffff) or an
    int (u32)."""
    import struct
    body = b""
    for f in fields:
        if isinstance(f, int):
            body += struct.pack("!I", f)
        elif f is None:
            body += struct.pack("!I", 0xFFFFFFFF)
        else:
            b = f.encode("utf-8")
            body += struct.pack("!I", len(b)) + b
    return struct.pack("!III", 0x4D474A31, mtype, len(body)) + body


def raw_exchange(path, data, timeout=60):
    """Send data on the Unix socket path as the console would; all it answers until EOF."""
    import socket
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def connect_as(user, path):
    """Connect to the Unix socket path as user (with that user's groups): "connected", or the
    name of the error."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            "    s.connect(sys.argv[1])\n"
            "    print('connected')\n"
            "except OSError as e:\n"
            "    print(type(e).__name__)\n")
    out = subprocess.run(["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups",
                          "/usr/bin/python3", "-c", code, path], capture_output=True, text=True,
                         timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def scenario_console():
    """The review console opens a held item through the gateway's workers: a reviewer posts
    a wrong password, then the right one; an auditor may not."""
    r = S["r"]["console"] = {}
    sender, rcpt = "console@internet.example", "console-rcpt@lgwan.example"
    data, _ = held_mail(sender, [rcpt], "console")
    send(sender, [rcpt], data)
    qid = r["qid"] = quarantine_id(rcpt, "console")
    spool = S["h"].milter.spool
    r["spool_stat"] = os.stat(spool)
    r["sock_stat"] = os.stat(os.path.join(spool, "unlock.sock"))
    r["spool_files"] = [(n, os.lstat(os.path.join(spool, n))) for n in os.listdir(spool)]
    # postfix is in group mugai (it reaches the milter socket so), and may not connect here
    r["postfix_connect"] = connect_as("postfix", os.path.join(spool, "unlock.sock"))
    # each socket takes only its own kind: a job on unlock.sock, an unlock on pool.sock
    r["job_on_unlock"] = raw_exchange(os.path.join(spool, "unlock.sock"),
                                      typed_message(1, "Q1", None, sender, 0, 0))
    r["unlock_on_pool"] = raw_exchange(os.path.join(spool, "pool.sock"),
                                       typed_message(3, qid, None, WRONG[0], "intruder", None))
    proc, c, auditor = console_start(r)
    try:
        r["page"] = c.get("messages/%s" % qid)
        part = (r["page"].json.get("held") or [{}])[0].get("part")
        path = "messages/%s/unlock" % qid
        r["auditor"] = auditor.post(path, {"password": PASSWORD})
        r["no_csrf"] = c.post(path, {"password": PASSWORD}, csrf=False)
        r["no_part"] = c.post(path, {"part": "9", "password": PASSWORD})
        r["wrong"] = c.post(path, {"part": part, "password": WRONG[1]})
        r["right"] = c.post(path, {"password": PASSWORD})
        r["followups"] = wait_sink(rcpt, subject_has(OPENED_SUBJECT), 90)
        r["again"] = c.post(path, {"password": PASSWORD})
        r["page_after"] = c.get("messages/%s" % qid)
    finally:
        proc.terminate()
        proc.wait(15)


def scenario_edges():
    """A reply to the submit address with another recipient; a password mail whose subject is
    long; a held message IT deleted before its password came."""
    r = S["r"]["edges"] = {}
    rcpt = "kakari2@lgwan.example"
    r["mixed"] = send(rcpt, [SUBMIT, "colleague@lgwan.example"],
                      text_mail(rcpt, [SUBMIT, "colleague@lgwan.example"], "Re: Q-20261101-ABCDEF",
                                PASSWORD, "reply-mixed"), source="127.0.0.1")
    sender, rcpt = "long@internet.example", "long@lgwan.example"
    data, _ = held_mail(sender, [rcpt], "long")
    send(sender, [rcpt], data)
    qid = r["long_qid"] = quarantine_id(rcpt, "long")
    for i in range(2):  # the second (a resend) must not open it again
        subject = "𠮷" * 120 + str(i)  # 4 bytes each: 400 in the 100 characters quoted
        send(sender, [rcpt], text_mail(sender, [rcpt], subject, FORMS["label"], "pw-long%d" % i))
        wait_sink(rcpt, subject_has(subject), 90)
        if i == 0:
            wait_sink(rcpt, subject_has(OPENED_SUBJECT), 120)
    time.sleep(8)
    r["long_followups"] = at_sink(rcpt, subject_has(OPENED_SUBJECT))
    r["long_status"] = held_status(qid)
    sender, rcpt = "gone@internet.example", "gone@lgwan.example"
    data, _ = held_mail(sender, [rcpt], "gone")
    send(sender, [rcpt], data)
    qid = r["gone_qid"] = quarantine_id(rcpt, "gone")
    r["delete"] = S["h"].quarantine("--actor", "tanaka", "delete", qid, "--reason", "spam")
    send(sender, [rcpt], text_mail(sender, [rcpt], "pw gone", FORMS["label"], "pw-gone"))
    wait_sink(rcpt, subject_has("pw gone"), 60)
    r["purge"] = S["h"].quarantine("--actor", "tanaka", "purge", "--reason", "timer")
    time.sleep(8)
    r["gone_mails"] = at_sink(rcpt, lambda e, m: OPENED_SUBJECT in str(m["Subject"]) or
                              "保留期限が切れました" in str(m["Subject"]))
    r["gone_status"] = held_status(qid)
    r["gone_events"] = events(qid)


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("Postfix tests must run as root")
    if not BUILD or not CORPUS:
        raise unittest.SkipTest("pass --build and --corpus")
    if not shutil.which("bsdtar"):
        raise unittest.SkipTest("bsdtar (libarchive-tools) is needed to make encrypted zips")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-ppap-")
    S["r"] = {}
    h = pfharness.Harness(os.path.join(S["tmp"], "work"), BUILD)
    S["h"] = h
    try:
        h.start_sink()
        h.start_postfix(milter=True)
        h.make_milter(os.path.join(CORPUS, "clamdb"), workers=2,
                      extra="\n[ppap]\nsubmit_address = %s\ntrusted_networks = 127.0.0.1/32\n"
                            "max_attempts = %d\n" % (SUBMIT, MAX_ATTEMPTS))
        h.milter.start()
        for step in (scenario_forms, scenario_no_match, scenario_reply, scenario_unlock,
                     scenario_lock, scenario_expiry, scenario_console, scenario_edges):
            step()
        time.sleep(3)  # anything that would arrive late
    except BaseException:
        h.stop()
        raise


def tearDownModule():
    if "h" in S:
        S["h"].stop()
    if "tmp" in S and not os.environ.get("MUGAI_KEEP"):
        shutil.rmtree(S["tmp"], ignore_errors=True)
    elif "tmp" in S:
        print("kept", S["tmp"], file=sys.stderr)


# ---------------------------------------------------------------- the checks


class Held(unittest.TestCase):
    def test_held_message_has_the_notice(self):
        r = S["r"]["forms"]["label"]
        self.assertTrue(r["qid"], "no sanitized copy with a quarantine id arrived")
        env, m = at_sink(r["rcpt"], subject_has("form0"))[0]
        body = m.get_body(("plain",)).get_content()
        self.assertIn(r["qid"], body)
        self.assertIn("保留", body)
        self.assertIn("パスワード", body)
        self.assertIn(SUBMIT, body)
        names = [p.get_filename() for p in m.iter_attachments()]
        self.assertFalse(any(n and n.endswith(".zip") for n in names),
                         "the encrypted zip itself must not be delivered: %s" % names)

    def test_store_records_pending_then_opened(self):
        r = S["r"]["forms"]["label"]
        self.assertEqual(held_status(r["qid"]), ["opened"])
        acts = [e.get("action") for e in events(r["qid"])]
        self.assertIn("unlocked", acts)


class PasswordMail(unittest.TestCase):
    def check_followup(self, r):
        self.assertEqual(r["code"], 250)
        self.assertEqual(r["pw_code"], 250)
        self.assertEqual(len(r["password_mail"]), 1, "the password mail is delivered as usual")
        self.assertEqual(len(r["followups"]), 1, "exactly one follow-up")
        env, m = r["followups"][0]
        self.assertEqual(env["rcpts"], [r["rcpt"]])
        self.assertIn(r["mid"], str(m["In-Reply-To"]))
        self.assertIn(r["mid"], str(m["References"]))
        body = m.get_body(("plain",)).get_content()
        self.assertIn(r["qid"], body)
        self.assertIn("パスワードメール", body)
        self.assertIn("password mail", body)
        self.assertNotIn(PASSWORD, m.as_string())
        members = followup_members(m)
        names = sorted(members)
        self.assertEqual(names, sorted(["見積書.pdf", "議事録.pdf"]), names)
        for name, data in members.items():
            self.assertTrue(data.startswith(b"%PDF"), name)
            self.assertNotIn(b"/JavaScript", data)
            self.assertNotIn(b"/EmbeddedFile", data)
        self.assertIn(PDF_TEXT, pdf_text(members["見積書.pdf"]))

    def test_label_form_aes(self):
        self.check_followup(S["r"]["forms"]["label"])

    def test_fullwidth_form_zipcrypto_cp932_names(self):
        self.check_followup(S["r"]["forms"]["fullwidth"])

    def test_alone_on_a_line_after_greeting(self):
        self.check_followup(S["r"]["forms"]["alone"])

    def test_english_form_zipcrypto(self):
        self.check_followup(S["r"]["forms"]["english"])

    def test_other_sender_opens_nothing(self):
        r = S["r"]["nomatch"]
        self.assertEqual(r["other"], [])
        self.assertEqual(held_status(r["qid"]), ["pending"])

    def test_after_the_window_opens_nothing(self):
        r = S["r"]["nomatch"]
        self.assertEqual(r["late"], [])
        self.assertEqual(held_status(r["late_qid"]), ["pending"])


class Reply(unittest.TestCase):
    def test_outsider_refused_in_smtp(self):
        code, text = S["r"]["reply"]["outsider"]
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1", text)

    def test_non_recipient_answered_with_refusal(self):
        r = S["r"]["reply"]
        self.assertEqual(r["stranger_code"], 250)
        self.assertEqual(len(r["stranger_answer"]), 1)
        body = r["stranger_answer"][0][1].get_body(("plain",)).get_content()
        self.assertIn("受信者ではない", body)
        self.assertIn("not a recipient", body)
        acts = [e.get("action") for e in events(r["qid"])]
        self.assertIn("unlock-refused", acts)

    def test_recipient_reply_opens_it(self):
        r = S["r"]["reply"]
        self.assertEqual(r["reply_code"], 250)
        self.assertEqual(len(r["followups"]), 1)
        m = r["followups"][0][1]
        self.assertIn(r["mid"], str(m["In-Reply-To"]))
        self.assertIn("kakari@lgwan.example", m.get_body(("plain",)).get_content())
        self.assertEqual(sorted(followup_members(m)), sorted(["見積書.pdf", "議事録.pdf"]))
        self.assertEqual(len(r["answer"]), 1)
        self.assertIn("開きました", r["answer"][0][1].get_body(("plain",)).get_content())

    def test_replies_never_delivered(self):
        self.assertEqual(at_sink(SUBMIT), [])


class ItUnlock(unittest.TestCase):
    def test_wrong_then_right(self):
        r = S["r"]["unlock"]
        rc, out, err = r["wrong"]
        self.assertEqual(rc, 7, out + err)
        self.assertIn("did not open", err)
        rc, out, err = r["right"]
        self.assertEqual(rc, 0, out + err)
        self.assertIn("opened", out)
        self.assertEqual(len(r["followups"]), 1)
        body = r["followups"][0][1].get_body(("plain",)).get_content()
        self.assertIn("tanaka", body)

    def test_lock_after_max_attempts(self):
        r = S["r"]["lock"]
        self.assertEqual(r["status_after_wrong"], ["locked"])
        self.assertEqual(r["followups_before_it"], [])
        self.assertEqual(len(r["answer"]), 1)
        self.assertIn("locked", r["answer"][0][1].get_body(("plain",)).get_content())
        rc, out, err = r["it"]
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(len(r["followups"]), 1)
        acts = [e.get("action") for e in events(r["qid"])]
        self.assertIn("unlock-locked", acts)

    def test_expiry(self):
        r = S["r"]["expiry"]
        self.assertEqual(r["purge"][0], 0, r["purge"])
        self.assertEqual(r["status"], ["expired"])
        self.assertEqual(len(r["notice"]), 1)
        self.assertIn(r["qid"], r["notice"][0][1].get_body(("plain",)).get_content())
        acts = [e.get("action") for e in events(r["qid"])]
        self.assertIn("expired", acts)


class NoPasswordsKept(unittest.TestCase):
    def test_password_masked_in_the_stored_text_of_a_password_mail(self):
        """The password that opened a part is masked in the text kept of the mail that gave
        it, in the form the sender wrote it (full-width too)."""
        for form, r in S["r"]["forms"].items():
            env, m = r["password_mail"][0]
            pw_qid = str(m["X-Mugai-Quarantine-Id"]).strip()
            rows = db_rows("SELECT * FROM msg_texts WHERE msg_id = ?", pw_qid)
            self.assertEqual(len(rows), 1, form)
            dump = repr(rows)
            for s in self.SECRETS:
                self.assertNotIn(s, dump, form)
            self.assertIn("********", dump, form)

    SECRETS = [PASSWORD, PASSWORD.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})] + WRONG

    def test_logs(self):
        for path in (S["h"].milter.log, os.path.join(S["h"].milter.root, "audit.jsonl"),
                     S["h"].postfix.log):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for s in self.SECRETS:
                self.assertNotIn(s, text, path)

    def test_audit_trail(self):
        rc, out, err = S["h"].quarantine("--json", "audit", "--limit", "100000")
        self.assertEqual(rc, 0, err)
        for s in self.SECRETS:
            self.assertNotIn(s, out)

    def test_store_tables(self):
        """Every table but the mails themselves: the originals' bytes and the text each
        recipient received (a mail that merely contains a password is content)."""
        con = sqlite3.connect(store_db(), timeout=30)
        try:
            tables = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                "('blobs', 'msg_texts')")]
            for t in tables:
                dump = repr(con.execute("SELECT * FROM %s" % t).fetchall())
                for s in self.SECRETS:
                    self.assertNotIn(s, dump, t)
        finally:
            con.close()


class ConsoleUnlock(unittest.TestCase):
    """IT opens a held item from the review console, through the gateway's workers."""

    def test_socket_reachable_by_the_console_only(self):
        import grp
        import pwd
        r = S["r"]["console"]
        gid = pwd.getpwnam("mugai").pw_gid
        self.assertEqual(r["spool_stat"].st_mode & 0o7777, 0o710)
        self.assertEqual(r["spool_stat"].st_gid, gid)
        self.assertIn("mugai-web", grp.getgrgid(gid).gr_mem)
        # the console's user alone
        self.assertEqual(r["sock_stat"].st_mode & 0o777, 0o600)
        self.assertEqual(r["sock_stat"].st_uid, pwd.getpwnam("mugai-web").pw_uid)
        self.assertEqual(r["sock_stat"].st_gid, gid)
        # Postfix reaches the milter socket through its own group, never through mugai's
        self.assertNotIn("postfix", grp.getgrgid(gid).gr_mem)
        self.assertEqual(r["postfix_connect"], "PermissionError")
        # nothing else in the spool directory is open to the group
        for name, st in r["spool_files"]:
            if name != "unlock.sock":
                self.assertEqual(st.st_mode & 0o077, 0, name)

    def test_console_runs_as_its_own_user_in_the_store_group(self):
        import pwd
        ids = S["r"]["console"]["web_ids"]
        web, milter = pwd.getpwnam("mugai-web"), pwd.getpwnam("mugai")
        self.assertEqual(set(ids["Uid"]), {web.pw_uid})
        self.assertEqual(set(ids["Gid"]), {web.pw_gid})
        self.assertIn(milter.pw_gid, ids["Groups"])

    def test_each_socket_refuses_the_other_kind(self):
        import struct
        r = S["r"]["console"]
        data = r["job_on_unlock"]
        magic, mtype, length = struct.unpack("!III", data[:12])
        status, tlen = struct.unpack("!II", data[12:20])
        self.assertEqual((magic, mtype, status), (0x4D474A31, 4, 2), data)
        self.assertEqual(data[20:20 + tlen], b"not an unlock request")
        self.assertEqual(r["unlock_on_pool"], b"", "an unlock on pool.sock gets no answer")
        self.assertEqual(r["page"].json["held"][0]["attempts"], 0, "nor is it tried")

    def test_page_lists_the_held_part(self):
        r = S["r"]["console"]
        self.assertEqual(r["page"].status, 200, r["page"])
        held = r["page"].json["held"]
        self.assertEqual(len(held), 1, held)
        self.assertEqual(held[0]["status"], "pending")
        self.assertEqual(held[0]["attempts"], 0)
        self.assertTrue(held[0]["filename"].endswith(".zip"), held)
        after = r["page_after"].json["held"][0]
        self.assertEqual(after["status"], "opened")
        self.assertIn("yamada (console)", after["opened_by"])
        self.assertNotIn(PASSWORD, r["page_after"].body.decode("utf-8"))

    def test_refused_without_the_role_or_csrf_and_for_no_such_part(self):
        r = S["r"]["console"]
        self.assertEqual(r["auditor"].status, 403, r["auditor"])
        self.assertEqual(r["no_csrf"].status, 403, r["no_csrf"])
        self.assertEqual(r["no_part"].status, 404, r["no_part"])

    def test_wrong_then_right(self):
        r = S["r"]["console"]
        self.assertEqual(r["wrong"].status, 200, r["wrong"])
        [p] = r["wrong"].json["parts"]
        self.assertEqual((p["opened"], p["tried"], p["attempts"], p["locked"]),
                         (False, 1, 1, False), p)
        self.assertTrue(p["why"])
        self.assertEqual(r["right"].status, 200, r["right"])
        [p] = r["right"].json["parts"]
        self.assertTrue(p["opened"], p)
        self.assertIsNone(p["why"])
        self.assertEqual(len(r["followups"]), 1)
        m = r["followups"][0][1]
        self.assertIn("yamada (console)", m.get_body(("plain",)).get_content())
        self.assertEqual(sorted(followup_members(m)), sorted(["見積書.pdf", "議事録.pdf"]))
        self.assertEqual(held_status(r["qid"]), ["opened"])
        # nothing is still held: a further try has nothing to open
        self.assertEqual(r["again"].status, 404, r["again"])

    def test_audit_trail_names_the_console_user(self):
        r = S["r"]["console"]
        evs = [e for e in events(r["qid"]) if e.get("action") in ("unlock-failed", "unlocked")]
        self.assertEqual([e["action"] for e in evs], ["unlock-failed", "unlocked"], evs)
        for e in evs:
            self.assertEqual(e["actor"], "yamada")
            self.assertEqual(e["source"], "127.0.0.1")
            self.assertIn("yamada (console)", e["detail"])

    def test_no_password_in_the_console_log(self):
        with open(S["web_log"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        for s in NoPasswordsKept.SECRETS:
            self.assertNotIn(s, text)


class Edges(unittest.TestCase):
    def test_reply_with_another_recipient_refused(self):
        """Consumed, the colleague would never get it: refused whole, with the reason."""
        code, text = S["r"]["edges"]["mixed"]
        self.assertEqual(code, 550, text)
        self.assertIn("5.5.3", text)
        self.assertEqual(at_sink("colleague@lgwan.example"), [])

    def test_long_subject_opens_once(self):
        """How it was opened (with the password mail's subject) is kept, cut to fit: the
        part is marked opened and a resent password mail sends no second follow-up."""
        r = S["r"]["edges"]
        self.assertEqual(len(r["long_followups"]), 1)
        self.assertEqual(r["long_status"], ["opened"])

    def test_deleted_original_ends_its_parts_silently(self):
        r = S["r"]["edges"]
        self.assertEqual(r["delete"][0], 0, r["delete"])
        self.assertEqual(r["purge"][0], 0, r["purge"])
        self.assertEqual(r["gone_mails"], [])
        self.assertEqual(r["gone_status"], ["expired"])
        details = " ".join(e.get("detail") or "" for e in r["gone_events"])
        self.assertIn("the original was removed", details)


def main():
    global BUILD, CORPUS
    BUILD = tm.arg_value("--build") or BUILD
    CORPUS = tm.arg_value("--corpus") or CORPUS
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
