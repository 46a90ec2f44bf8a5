#!/usr/bin/python3
"""bench/office_postfix.py - mail with one docx attachment through Postfix and mugai-milter:
messages per minute with [office] mode = warm against cold (figures printed, never asserted).

    bench/office_postfix.py BUILD_DIR [--messages N]

smtp-source -> private Postfix -> mugai-milter (2 workers) -> smtp-sink, N messages (20)
each carrying the corpus's docx; the same Postfix and milter configuration but [office]
mode. Needs root (Postfix). Uses tests/postfix/pfharness.py and bench/postfix.py.
"""

import email.message
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "postfix"))
sys.path.insert(0, HERE)
import pfharness as pf  # noqa: E402
import postfix as bench_pf  # noqa: E402


def docx_message(build, path):
    """A message with the corpus's docx attached (the corpus is made when missing)."""
    corpus = os.path.join(build, "corpus")
    if not os.path.exists(os.path.join(corpus, "files", "office_docx.docx")):
        corpus = os.path.join(os.path.dirname(path), "corpus")
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "gen", "make_corpus.py"),
                        corpus], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(corpus, "files", "office_docx.docx"), "rb") as f:
        docx = f.read()
    out = email.message.EmailMessage()
    out["From"], out["To"], out["Subject"] = "bench@internet.example", "staff@lgwan.example", \
        "docx bench"
    out.set_content("報告書を添付します。\n")
    out.add_attachment(docx, maintype="application",
                       subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                       filename="report.docx")
    with open(path, "wb") as f:
        f.write(out.as_bytes(policy=email.policy.SMTP))
    return os.path.join(corpus, "clamdb")


def main():
    n = int(bench_pf.arg("--messages", "20"))
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    office = os.path.join(build, "render", "mugai-office")
    work = tempfile.mkdtemp(prefix="mugai-bench-office-pf-")
    msg = os.path.join(work, "docx.eml")
    clamdb = docx_message(build, msg)
    rates = {}
    with pf.Harness(os.path.join(work, "h"), build) as h:
        sink_port = pf.free_port()
        sink = bench_pf.start_smtp_sink(sink_port)
        try:
            h.start_postfix(milter=False, sink_port=sink_port)
            for mode in ("warm", "cold"):
                m = h.make_milter(clamdb, extra="\n[office]\nmode = %s\n" % mode)
                if mode == "warm":  # found beside the milter's copy of mugai-render
                    shutil.copy(office, os.path.join(m.root, "mugai-office"))
                    pf.give_to("mugai", m.root)
                m.start()
                h.postfix.set_milter(m.sock)
                bench_pf.timed(h, 2, msg)  # the first messages start what they need
                rates[mode] = bench_pf.timed(h, n, msg, settle=5, m=m)
                h.postfix.set_milter(None)
                m.stop()
        finally:
            sink.kill()
            sink.wait()
    print("== mail with one docx attachment, %d messages, %d sessions (smtp-source -> Postfix "
          "-> mugai-milter, 2 workers -> smtp-sink)" % (n, bench_pf.SOURCE_SESSIONS))
    for mode in ("warm", "cold"):
        rate, cpu, mcpu = rates[mode]
        print("  [office] mode = %s   %7.1f msg/min  %7.0f ms CPU/msg, of which mugai-milter "
              "%.0f" % (mode, rate * 60, cpu, mcpu))
    print("  warm / cold: %.2f x the messages per minute"
          % (rates["warm"][0] / rates["cold"][0]))
    subprocess.run(["rm", "-rf", work], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
