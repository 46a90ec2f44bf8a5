#!/usr/bin/python3
"""Mail benchmarks: bench/mail.py BUILD_DIR [N]

1. Messages per second through the engine: sanitize-file, one process, over a
   directory of N generated plain-text mails (ISO-2022-JP) and over one of N
   HTML mails (UTF-8, quoted-printable); prints msgs/s and ms/msg.
2. HTML to text: mugai-render html (the jailed converter alone, no jail) vs
   `w3m -dump` on the same ~200 KB Japanese HTML page with tables and lists,
   best of 5, with the ratio.

Figures are printed, never asserted. Run through `bench/run mail`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "gen"))
import make_mail_corpus as mm  # noqa: E402

RUNS = 5


def write_mails(outdir, n, html):
    """n distinct messages, plain text or HTML-only."""
    os.makedirs(outdir)
    for i in range(n):
        name = "m%04d.eml" % i
        if html:
            page = mm.HTML_BODY.replace("説明会", "説明会%d" % i).replace("\n", "\r\n")
            ent = mm.leaf('text/html; charset="utf-8"', page.encode(), "quoted-printable")
        else:
            ent = mm.text_leaf(mm.BODY_EXT * 20 + "通番 %d\n" % i, "jis", "ISO-2022-JP", "7bit")
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(mm.message(name, "Bench %d" % i, ent))


def big_html(target=200 * 1024):
    """A Japanese page of about `target` bytes with headings, tables and lists."""
    out = ['<html><head><meta charset="utf-8"><title>議事録</title></head><body>']
    i = 0
    while sum(len(s.encode()) for s in out) < target:
        out.append("<h2>第%d章 市政だより</h2><p>%s%s</p>" % (i, mm.JA * 3, mm.EXT))
        out.append("<table border=1><tr><th>項目</th><th>数量</th><th>備考</th></tr>")
        out += ["<tr><td>品目%d-%d</td><td>%d</td><td>備考欄です</td></tr>" % (i, j, j * 7)
                for j in range(8)]
        out.append("</table><ul>")
        out += ["<li>手順%dの%d：<a href=\"https://www.city.example.lg.jp/p/%d\">詳細</a></li>"
                % (i, j, j) for j in range(6)]
        out.append("</ul>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out).encode()


def best_of(cmd, runs=RUNS, stdin_path=None):
    """Best wall time in seconds of running cmd `runs` times (output discarded)."""
    best = None
    for _ in range(runs):
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t = time.monotonic() - t0
        if stdin_path:
            stdin.close()
        if p.returncode not in (0, 1):
            print("  %s exited %d: %s" % (cmd[0], p.returncode, p.stderr.decode()[-300:]))
            return None
        best = t if best is None or t < best else best
    return best


def bench_engine(build, tmp, n):
    """sanitize-file over n plain and n HTML mails."""
    sf = os.path.join(build, "tools", "sanitize-file")
    conf = os.path.join(tmp, "bench.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[scan]\nrequired = false\n\n[quarantine]\ndir = %s\n" % os.path.join(tmp, "q"))
    print("== mail through sanitize-file (one process, %d messages each) ==" % n)
    print("%-10s %9s %9s %9s" % ("mails", "seconds", "msgs/s", "ms/msg"))
    for kind in ("plain", "html"):
        src = os.path.join(tmp, kind)
        write_mails(src, n, kind == "html")
        out = os.path.join(tmp, "out-" + kind)
        t0 = time.monotonic()
        p = subprocess.run([sf, "-c", conf, "--quiet", "-o", out, src],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t = time.monotonic() - t0
        done = sum(len(fs) for _, _, fs in os.walk(out)) if os.path.isdir(out) else 0
        if p.returncode != 0 or done != n:
            print("%-10s failed: exit %d, %d of %d written: %s"
                  % (kind, p.returncode, done, n, p.stderr.decode()[-300:]))
            continue
        print("%-10s %9.2f %9.1f %9.1f" % (kind, t, n / t, 1000 * t / n))


def bench_html(build, tmp):
    """mugai-render html vs w3m -dump on one ~200 KB page."""
    page = os.path.join(tmp, "page.html")
    with open(page, "wb") as f:
        f.write(big_html())
    rnd = os.path.join(build, "render", "mugai-render")
    print("== HTML -> text on a %d KB Japanese page (best of %d) ==" % (
        os.path.getsize(page) // 1024, RUNS))
    a = best_of([rnd, "html", "--no-seccomp"], stdin_path=page)
    b = None
    if shutil.which("w3m"):
        b = best_of(["w3m", "-dump", "-T", "text/html", "-I", "UTF-8", "-O", "UTF-8", page])
    else:
        print("  w3m not installed (apt-get install w3m): baseline skipped")
    print("%-28s %9s" % ("converter", "ms"))
    if a is not None:
        print("%-28s %9.1f" % ("mugai-render html", 1000 * a))
    if b is not None:
        print("%-28s %9.1f" % ("w3m -dump", 1000 * b))
    if a and b:
        print("  ratio mugai-render / w3m: %.2f x" % (a / b))


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: mail.py BUILD_DIR [N]\n")
        return 2
    build = os.path.abspath(argv[1])
    n = int(argv[2]) if len(argv) > 2 else 200
    tmp = tempfile.mkdtemp(prefix="mugai-bench-mail-")
    try:
        if os.access(os.path.join(build, "tools", "sanitize-file"), os.X_OK):
            bench_engine(build, tmp, n)
        else:
            print("note: %s/tools/sanitize-file not found: engine figures skipped" % build)
        print()
        bench_html(build, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
