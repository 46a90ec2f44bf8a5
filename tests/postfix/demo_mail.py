#!/usr/bin/python3
"""The mail demo: a private Postfix + LGWAN-side sink + mugai-milter on loopback.

    demo_mail.py BUILD_DIR DEMO_DIR

Sends sample Japanese mail from the mail corpus (HTML body, PDF, docx, xlsx, an
executable in a zip, ...) over SMTP, waits for delivery and prints what the
LGWAN side received and `mugai-quarantine list`; everything is stopped at the
end, even on failure. Run as root (called by run/demo-mail.sh).
"""

import email
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pfharness  # noqa: E402

SAMPLES = ["html_sjis.eml", "attach_all.eml", "zip_exe.eml", "jis_nec.eml"]
SUBMIT = "ppap@gw.lgwan.example"
PPAP_PASSWORD = "Mt7#kq2Z"


def show(env, data):
    """Print one received message: subject, body excerpt, attachments with types."""
    m = email.message_from_bytes(data, policy=email.policy.default)
    print("  To:", ", ".join(env["rcpts"]))
    print("  Subject:", m["Subject"])
    print("  X-Mugai-Quarantine-Id:", m["X-Mugai-Quarantine-Id"])
    parts = [p for p in m.walk() if not p.is_multipart()]
    if parts:
        text = (parts[0].get_payload(decode=True) or b"").decode("utf-8", "replace")
        for line in text.splitlines()[:8]:
            print("    | " + line)
    for p in parts[1:]:
        size = len(p.get_payload(decode=True) or b"")
        print("  attachment: %-30s %-22s %d bytes" % (p.get_filename(), p.get_content_type(),
                                                        size))
    print()


def ppap_zip(corpus, work):
    """An AES-encrypted zip of the PDF and docx of the attach_all sample (Japanese names)."""
    with open(os.path.join(corpus, "mail", "attach_all.eml"), "rb") as f:
        sample = email.message_from_bytes(f.read(), policy=email.policy.default)
    d = tempfile.mkdtemp(dir=work)
    names = []
    for part in sample.iter_attachments():
        if part.get_filename() in ("見積書.pdf", "報告書.docx"):
            with open(os.path.join(d, part.get_filename()), "wb") as f:
                f.write(part.get_payload(decode=True))
            names.append(part.get_filename())
    subprocess.run(["bsdtar", "--format", "zip", "--options", "zip:encryption=aes256",
                    "--passphrase", PPAP_PASSWORD, "-cf", "out.zip"] + names, cwd=d, check=True,
                   env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8"))
    with open(os.path.join(d, "out.zip"), "rb") as f:
        data = f.read()
    shutil.rmtree(d)
    return data


def ppap_demo(h, corpus):
    """PPAP: a password-protected zip, then the sender's password mail; the LGWAN side gets
    the held message, the password mail, and the follow-up with the sanitized contents."""
    if not shutil.which("bsdtar"):
        print("==> PPAP: skipped (bsdtar, package libarchive-tools, makes the sample zip)")
        return True
    sender, rcpt = "torihiki@internet.example", "keiyaku@lgwan.example"
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, rcpt, "見積書の送付（パスワード別送）"
    m.set_content("いつもお世話になっております。\n見積書をお送りします。パスワードは別途お送りします。\n")
    m.add_attachment(ppap_zip(corpus, h.work), maintype="application", subtype="zip",
                     filename="見積書.zip")
    p = EmailMessage()
    p["From"], p["To"], p["Subject"] = sender, rcpt, "パスワードのご連絡"
    p.set_content("先ほどお送りしたファイルのパスワードです。\n\nパスワード：%s\n" % PPAP_PASSWORD)
    before = h.sink.count()
    for name, msg in (("encrypted zip", m), ("password mail", p)):
        code, text, _ = pfharness.send_with_retry(h.smtp_port, sender, [rcpt],
                                                  msg.as_bytes(policy=email.policy.SMTP))
        print("    sent %-16s -> %d %s" % (name, code, text))
    n = h.sink.wait_count(before + 3, 180)
    print("\n==> PPAP: the LGWAN side received %d message(s): the held one, the password mail,"
          " and the follow-up opened with the password from the second\n" % (n - before))
    for env, data in h.sink.messages()[before:]:
        show(env, data)
    return n >= before + 3


def main(argv):
    if len(argv) != 3:
        print("usage: demo_mail.py BUILD_DIR DEMO_DIR", file=sys.stderr)
        return 2
    build, demo = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    corpus = os.path.join(demo, "mail-corpus")
    if not os.path.exists(os.path.join(corpus, "manifest.json")):
        subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), "gen",
                                                     "make_mail_corpus.py"), corpus],
                       check=True, stdout=subprocess.DEVNULL)
    with pfharness.Harness(os.path.join(demo, "postfix-demo"), build) as h:
        h.start_sink()
        pf = h.start_postfix(milter=True)
        m = h.make_milter(os.path.join(corpus, "clamdb"),
                          extra="\n[ppap]\nsubmit_address = %s\n" % SUBMIT)
        m.start()
        print("==> private Postfix on 127.0.0.1:%d (release listener %d), LGWAN sink on %d"
              % (pf.smtp_port, pf.release_port, h.sink.port))
        for i, name in enumerate(SAMPLES):
            with open(os.path.join(corpus, "mail", name), "rb") as f:
                data = f.read()
            code, text, _ = pfharness.send_with_retry(pf.smtp_port, "sender@internet.example",
                                                      ["staff%d@lgwan.example" % i], data)
            print("    sent %-16s -> %d %s" % (name, code, text))
        n = h.sink.wait_count(len(SAMPLES), 300)
        print("\n==> the LGWAN side received %d message(s):\n" % n)
        for env, data in h.sink.messages():
            show(env, data)
        ppap_ok = ppap_demo(h, corpus)
        print("==> mugai-quarantine list (originals kept on the Internet side):")
        rc, out, err = h.quarantine("list")
        print(out + err)
        print("==> mugai-quarantine held (encrypted attachments and how they were opened):")
        rc, out, err = h.quarantine("held")
        print(out + err)
        return 0 if n == len(SAMPLES) and ppap_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
