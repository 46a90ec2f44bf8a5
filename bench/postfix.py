#!/usr/bin/python3
"""Postfix benchmarks of mugai-milter (figures printed, never asserted).

    bench/postfix.py BUILD_DIR [--messages N] [--soak SECONDS]

throughput  smtp-source -> private Postfix -> smtp-sink, plain-text mail: messages/s
            with mugai-milter against the same Postfix without it, alternating in the
            same run, and the ratio (target >= 0.8), with the machine's busy CPU time per
            message and mugai-milter's share of it; the same Postfix with
            bench/null_milter.c (accepting only, and rewriting the body as mugai does) shows
            what the milter protocol alone costs Postfix; then the same with a PDF
            attachment (messages/s, pages/s).
--soak S    S seconds of steady load through the milter into a storing sink: resident
            memory of the milter processes at start and end, messages lost.
Needs root (Postfix). Uses tests/postfix/pfharness.py.
"""

import email
import email.policy
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "postfix"))
import pfharness as pf  # noqa: E402

SOURCE_SESSIONS = 10
ROUNDS = 3
SETTLE = int(os.environ.get("MUGAI_BENCH_SETTLE", "35"))


def arg(flag, default):
    if flag in sys.argv:
        i = sys.argv.index(flag)
        v = sys.argv[i + 1]
        del sys.argv[i:i + 2]
        return v
    return default


def start_smtp_sink(port):
    """Debian's smtp-sink on 127.0.0.1:port (content discarded)."""
    return subprocess.Popen(["smtp-sink", "-u", "postfix", "127.0.0.1:%d" % port, "256"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_source(port, n, msg_file=None, size=2000):
    """smtp-source N messages; seconds until Postfix's queue is empty again."""
    cmd = ["smtp-source", "-s", str(SOURCE_SESSIONS), "-m", str(n), "-f",
           "bench@internet.example", "-t", "staff@lgwan.example"]
    cmd += ["-F", msg_file] if msg_file else ["-l", str(size)]
    t0 = time.monotonic()
    subprocess.run(cmd + ["127.0.0.1:%d" % port], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return t0


def busy_seconds():
    """CPU seconds spent busy by the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def proc_seconds(pid, children):
    """CPU seconds of a process (all its threads), with its reaped children when asked."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            f_ = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    t = int(f_[11]) + int(f_[12]) + (int(f_[13]) + int(f_[14]) if children else 0)
    return t / os.sysconf("SC_CLK_TCK")


def milter_seconds(m):
    """CPU seconds of mugai-milter so far: supervisor with the workers it reaped, front end,
    live workers with the conversions they reaped. 0 when it is not running."""
    if m is None:
        return 0.0
    p = m.pids()
    return (proc_seconds(p["supervisor"] or 0, True) + sum(proc_seconds(x, False)
                                                           for x in p["front"])
            + sum(proc_seconds(x, True) for x in p["workers"]))


def timed(h, n, msg_file=None, settle=0, m=None):
    """(messages/s, busy CPU ms per message, mugai-milter CPU ms per message) for n messages
    (queue drained, i.e. delivered to the sink), after settle seconds of rest: ext4 without
    a journal makes every new inode skip those freed in the last ~30 s, so a run right after
    another pays for the other's deleted queue files."""
    time.sleep(settle)
    b0, m0 = busy_seconds(), milter_seconds(m)
    t0 = run_source(h.smtp_port, n, msg_file)
    pf.wait_until(lambda: h.postfix.queue_count() == 0, 600, 0.05)
    rate = n / (time.monotonic() - t0)
    return rate, (busy_seconds() - b0) * 1000 / n, (milter_seconds(m) - m0) * 1000 / n


def null_milter(work, mode):
    """Build bench/null_milter.c and start it in mode (accept|rewrite) on a unix socket in
    work; (process, socket path), or (None, None) when it cannot be built."""
    exe = os.path.join(work, "null_milter")
    if not os.path.exists(exe) and subprocess.run(
            ["cc", "-O2", "-o", exe, os.path.join(HERE, "null_milter.c"), "-lmilter",
             "-lpthread"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
        return None, None
    sock = os.path.join(work, "null-%s.sock" % mode)
    proc = subprocess.Popen([exe, mode, "unix:" + sock], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not pf.wait_until(lambda: os.path.exists(sock), 10, 0.05):
        proc.kill()
        return None, None
    return proc, sock


def pdf_message(corpus, path):
    """A message with the corpus's PDF attachment; returns its page count."""
    with open(os.path.join(corpus, "mail", "attach_all.eml"), "rb") as f:
        m = email.message_from_bytes(f.read(), policy=email.policy.default)
    pdf = next(p.get_payload(decode=True) for p in m.walk()
               if p.get_content_type() == "application/pdf")
    out = email.message.EmailMessage()
    out["From"], out["To"], out["Subject"] = "bench@internet.example", "staff@lgwan.example", \
        "PDF bench"
    out.set_content("PDFを添付します。\n")
    out.add_attachment(pdf, maintype="application", subtype="pdf", filename="doc.pdf")
    with open(path, "wb") as f:
        f.write(out.as_bytes(policy=email.policy.SMTP))
    with open(path + ".pdf", "wb") as f:
        f.write(pdf)
    info = subprocess.run(["pdfinfo", path + ".pdf"], stdout=subprocess.PIPE).stdout.decode()
    return int(next(ln.split()[1] for ln in info.splitlines() if ln.startswith("Pages:")))


def milter_rss(m):
    """(supervisor KiB, front end KiB, workers KiB total)."""
    p = m.pids()
    return (pf.rss_kib(p["supervisor"] or 0), sum(pf.rss_kib(x) for x in p["front"]),
            sum(pf.rss_kib(x) for x in p["workers"]))


def throughput(h, corpus, n, work):
    sink_port = pf.free_port()
    sink = start_smtp_sink(sink_port)
    nulls = [null_milter(work, mode) for mode in ("accept", "rewrite")]
    try:
        h.start_postfix(milter=False, sink_port=sink_port)
        m = h.make_milter(os.path.join(corpus, "clamdb"))
        m.start()
        timed(h, 20)  # warm up
        base, with_m, with_null = [], [], [[], []]
        for _ in range(ROUNDS):  # alternate, so that drift hits all sides alike
            h.postfix.set_milter(None)
            base.append(timed(h, n, settle=SETTLE))
            for k, (proc, sock) in enumerate(nulls):
                if sock:
                    h.postfix.set_milter(sock)
                    with_null[k].append(timed(h, n, settle=SETTLE))
            h.postfix.set_milter(m.sock)
            with_m.append(timed(h, n, settle=SETTLE, m=m))
        print("== plain text, %d messages, %d sessions (smtp-source -> Postfix -> smtp-sink),"
              " %d rounds, median" % (n, SOURCE_SESSIONS, ROUNDS))
        print("  Postfix alone        %8.1f msg/s  (%s)  %.2f ms CPU/msg" % (
            statistics.median(r[0] for r in base), " ".join("%.0f" % r[0] for r in base),
            statistics.median(r[1] for r in base)))
        print("  Postfix + mugai      %8.1f msg/s  (%s)  %.2f ms CPU/msg, of which"
              " mugai-milter %.2f" % (
                  statistics.median(r[0] for r in with_m),
                  " ".join("%.0f" % r[0] for r in with_m),
                  statistics.median(r[1] for r in with_m), statistics.median(r[2] for r in with_m)))
        for k, what in enumerate(("null milter, accept only", "null milter, rewriting body")):
            if with_null[k]:
                rate = statistics.median(r[0] for r in with_null[k])
                print("  Postfix + %-26s %8.1f msg/s  (%s)  %.2f ms CPU/msg, ratio %.2f" % (
                    what, rate, " ".join("%.0f" % r[0] for r in with_null[k]),
                    statistics.median(r[1] for r in with_null[k]),
                    rate / statistics.median(r[0] for r in base)))
        # Throughput swings with the machine; CPU time per message is steadier, and when the
        # machine is CPU-bound the throughput ratio tends to the ratio of CPU costs.
        print("  CPU per message, Postfix alone / with mugai: %.2f" % (
            statistics.median(r[1] for r in base) / statistics.median(r[1] for r in with_m)))
        base = statistics.median(r[0] for r in base)
        with_m = statistics.median(r[0] for r in with_m)
        print("  target: ratio >= 0.8  %.2f (%s)" % (with_m / base,
                                                     "met" if with_m >= 0.8 * base else "NOT met"))
        msg = os.path.join(work, "pdf.eml")
        pages = pdf_message(corpus, msg)
        k = max(5, n // 20)
        h.postfix.set_milter(None)
        pbase = timed(h, k, msg, settle=SETTLE)[0]
        h.postfix.set_milter(m.sock)
        pwith = timed(h, k, msg, settle=SETTLE)[0]
        print("== PDF attachment (%d page(s)), %d messages" % (pages, k))
        print("  Postfix alone        %8.2f msg/s" % pbase)
        print("  Postfix + mugai      %8.2f msg/s  %8.2f pages/s" % (pwith, pwith * pages))
    finally:
        h.stop()
        sink.kill()
        sink.wait()
        for proc, _ in nulls:
            if proc:
                proc.kill()
                proc.wait()


def soak(h, corpus, seconds):
    """Steady load for seconds; RSS at start and end, messages lost."""
    h.start_sink()
    h.start_postfix(milter=True)
    m = h.make_milter(os.path.join(corpus, "clamdb"))
    m.start()
    sent, lock, stop = [0], threading.Lock(), time.monotonic() + seconds
    body = ("Subject: soak\r\nFrom: a@internet.example\r\nTo: b@lgwan.example\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n\r\n" + "本日は晴天なり。\r\n" * 20)

    def load():
        while time.monotonic() < stop:
            code, _ = pf.send_once(h.smtp_port, "a@internet.example", ["b@lgwan.example"],
                                   body.encode("utf-8"))
            if code == 250:
                with lock:
                    sent[0] += 1
            time.sleep(0.05)

    time.sleep(2)
    start = milter_rss(m)
    ts = [threading.Thread(target=load) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    end = milter_rss(m)
    got = h.sink.wait_count(sent[0], 120)
    print("== soak %d s: %d messages accepted, %d delivered, %d lost" % (
        seconds, sent[0], got, max(0, sent[0] - got)))
    print("  RSS KiB supervisor/front end/workers  start %d/%d/%d  end %d/%d/%d" % (start + end))
    h.stop()


def main():
    n = int(arg("--messages", "2000"))
    secs = arg("--soak", None)
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="mugai-bench-pf-")
    corpus = os.path.join(build, "mail-corpus")
    if not os.path.exists(os.path.join(corpus, "manifest.json")):
        corpus = os.path.join(work, "mail-corpus")
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "gen",
                                                     "make_mail_corpus.py"), corpus],
                       check=True, stdout=subprocess.DEVNULL)
    with pf.Harness(os.path.join(work, "h"), build) as h:
        if not h.milter_binary():
            print("bench: mugai-milter is not built under %s" % build, file=sys.stderr)
            return 1
        if secs is not None:
            soak(h, corpus, int(secs))
        else:
            throughput(h, corpus, n, work)
    subprocess.run(["rm", "-rf", work], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
