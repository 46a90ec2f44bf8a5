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
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pfharness  # noqa: E402

SAMPLES = ["html_sjis.eml", "attach_all.eml", "zip_exe.eml", "jis_nec.eml"]


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
        m = h.make_milter(os.path.join(corpus, "clamdb"))
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
        print("==> mugai-quarantine list (originals kept on the Internet side):")
        rc, out, err = h.quarantine("list")
        print(out + err)
        return 0 if n == len(SAMPLES) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
