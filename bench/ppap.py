#!/usr/bin/python3
"""bench/ppap.py BUILD_DIR - what opening a held encrypted zip costs (run as root).

Through a private Postfix with mugai-milter and an LGWAN-side sink (tests/postfix/pfharness):
a zip of a Japanese PDF and a docx, sent

  baseline  unencrypted, as an ordinary attachment: from the end of DATA to the sanitized copy
            at the sink (the same sanitization with nothing to decrypt);
  ppap-1    encrypted (WinZip AES), then the password mail with the password alone: from the
            end of the password mail's DATA to the follow-up at the sink;
  ppap-20   the same with 19 wrong candidates before the right one (max_candidates);
  unlock    `mugai-quarantine unlock` with the password on stdin: the command's wall time
            (it starts its own engine) until it has handed the follow-up to the listener;

median of RUNS each, and the ratios to the baseline. Prints figures, never asserts them.
"""

import email.policy
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "postfix"))
import pfharness  # noqa: E402
import test_ppap as tp  # noqa: E402 - the same fixtures as the end-to-end test

RUNS = 5


def arrived(h, rcpt, text, n=1, timeout=120):
    """Wait until rcpt got n messages whose subject holds text; the time then."""
    pfharness.wait_until(lambda: len(tp.at_sink(rcpt, tp.subject_has(text))) >= n, timeout, 0.02)
    return time.monotonic()


def one(h, kind, i):
    """One measurement of kind; seconds."""
    sender, rcpt = "%s%d@internet.example" % (kind, i), "%s%d@lgwan.example" % (kind, i)
    tag = "%s%d" % (kind, i)
    if kind == "baseline":
        m = tp.EmailMessage()
        m["From"], m["To"], m["Subject"] = sender, rcpt, "plain " + tag
        m.set_content("本文\n")
        m.add_attachment(tp.make_zip("none", ""), maintype="application", subtype="zip",
                         filename="見積書.zip")
        t0 = time.monotonic()
        tp.send(sender, [rcpt], m.as_bytes(policy=email.policy.SMTP))
        return arrived(h, rcpt, "plain " + tag) - t0
    data, _ = tp.held_mail(sender, [rcpt], tag)
    tp.send(sender, [rcpt], data)
    qid = tp.quarantine_id(rcpt, tag)
    if kind == "unlock":
        t0 = time.monotonic()
        rc, out, err = tp.quarantine_input(tp.PASSWORD, "--actor", "bench", "unlock", qid)
        if rc != 0:
            raise RuntimeError("unlock failed: " + out + err)
        return time.monotonic() - t0
    wrong = "".join("PW: wrong-%02d-Xy\n" % k for k in range(19)) if kind == "ppap-20" else ""
    body = wrong + "パスワード：%s\n" % tp.PASSWORD
    t0 = time.monotonic()
    tp.send(sender, [rcpt], tp.text_mail(sender, [rcpt], "pw " + tag, body, "pw-" + tag))
    return arrived(h, rcpt, tp.OPENED_SUBJECT) - t0


def main(argv):
    if os.geteuid() != 0:
        print("bench ppap: run as root (Postfix)", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1] if len(argv) > 1 else "build")
    tp.CORPUS = os.path.join(build, "corpus")
    if not os.path.exists(os.path.join(tp.CORPUS, "files", "ja_text.pdf")):
        print("bench ppap: no corpus in %s (run ctest -R e2e_corpus first)" % build,
              file=sys.stderr)
        return 2
    tp.S["tmp"] = tempfile.mkdtemp(prefix="mugai-bench-ppap-")
    h = pfharness.Harness(os.path.join(tp.S["tmp"], "work"), build)
    tp.S["h"] = h
    try:
        h.start_sink()
        h.start_postfix(milter=True)
        h.make_milter(os.path.join(tp.CORPUS, "clamdb"), workers=2,
                      extra="\n[ppap]\nsubmit_address = %s\nmax_attempts = 1000\n" % tp.SUBMIT)
        h.milter.start()
        one(h, "baseline", 99)  # warm-up
        res = {}
        for kind in ("baseline", "ppap-1", "ppap-20", "unlock"):
            res[kind] = statistics.median(one(h, kind, i) for i in range(RUNS))
        base = res["baseline"]
        print("== PPAP: a zip of a Japanese PDF and a docx, median of %d ==" % RUNS)
        print("%-10s %9s %9s" % ("", "seconds", "x base"))
        for kind, t in res.items():
            print("%-10s %9.3f %9.2f" % (kind, t, t / base))
        print("per wrong candidate: %.1f ms" % ((res["ppap-20"] - res["ppap-1"]) / 19 * 1000))
    finally:
        h.stop()
        subprocess.run(["rm", "-rf", tp.S["tmp"]], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
