#!/usr/bin/python3
"""bench/office.py - Office documents: warm mode, cold mode and soffice alone, per document.

Usage: bench/office.py BUILD_DIR

Over 20 mixed Office files (the corpus's doc, docx, xls, xlsx, ppt, pptx, odt, ods, odp and
rtf, twice each), prints the time per document of
  - sanitize-file with [office] mode = warm (one run; its service's start included),
  - sanitize-file with [office] mode = cold (one run),
  - soffice --headless --convert-to pdf, a new process with a new profile per document,
and the memory of the Office service (resident, once loaded) and of one conversion child
(peak resident and proportional set size, which counts the pages it shares with the service
by their share). Prints figures; never asserts them.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "office"))
from office_client import Service  # noqa: E402

TYPES = ("doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf")


def corpus(build, tmp):
    """The corpus's files directory and its ClamAV database, made when the build has none."""
    root = os.path.join(build, "corpus")
    if not os.path.isdir(os.path.join(root, "files")):
        root = os.path.join(build, "bench-cache", "corpus")
        if not os.path.isdir(os.path.join(root, "files")):
            subprocess.run([sys.executable, os.path.join(REPO, "tests", "gen", "make_corpus.py"),
                            root], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(root, "files"), os.path.join(root, "clamdb")


def inputs(files, tmp):
    """20 files: each Office type twice, under distinct names."""
    d = os.path.join(tmp, "in")
    os.mkdir(d)
    out = []
    for t in TYPES:
        for k in (1, 2):
            dst = os.path.join(d, "%s%d.%s" % (t, k, t))
            shutil.copy(os.path.join(files, "office_%s.%s" % (t, t)), dst)
            out.append(dst)
    return out


def run_sanitize(build, conf, out, docs):
    """Seconds for one sanitize-file run over docs, whether every input came out, and the
    median of the seconds its report gives each input."""
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(build, "tools", "sanitize-file"), "--json", "-c", conf,
                        "-o", out] + docs, capture_output=True)
    secs = time.monotonic() - t0
    try:
        per = [i["seconds"] for i in json.loads(p.stdout)["inputs"]]
    except (ValueError, KeyError, TypeError):
        per = [float("nan")]
    return secs, p.returncode == 0, statistics.median(per)


def run_soffice(docs, tmp):
    """Seconds per document of soffice alone, a new process and profile each."""
    times = []
    for i, doc in enumerate(docs):
        prof = os.path.join(tmp, "lo-%d" % i)
        t0 = time.monotonic()
        subprocess.run(["soffice", "-env:UserInstallation=file://" + prof, "--headless",
                        "--norestore", "--convert-to", "pdf", "--outdir",
                        os.path.join(tmp, "so"), doc], capture_output=True)
        times.append(time.monotonic() - t0)
        shutil.rmtree(prof, ignore_errors=True)
    return times


def proc_kb(pid, key, name="status"):
    try:
        with open("/proc/%d/%s" % (pid, name)) as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid):
    kids, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                ks = [int(k) for k in f.read().split()]
        except OSError:
            ks = []
        kids += ks
        todo += ks
    return kids


def memory(build, doc, tmp):
    """The service's resident size once loaded; a child's peak RSS and PSS (KiB)."""
    svc = Service(os.path.join(build, "render", "mugai-office"))
    try:
        svc.convert(doc, os.path.join(tmp, "m0.pdf"))  # loaded
        svc_rss = proc_kb(svc.proc.pid, "VmRSS")
        peak = {"rss": 0, "pss": 0}
        done = threading.Event()

        def watch():
            while not done.is_set():
                for k in descendants(svc.proc.pid):
                    peak["rss"] = max(peak["rss"], proc_kb(k, "VmHWM"))
                    peak["pss"] = max(peak["pss"], proc_kb(k, "Pss", "smaps_rollup"))
                time.sleep(0.02)
        t = threading.Thread(target=watch)
        t.start()
        svc.convert(doc, os.path.join(tmp, "m1.pdf"))
        done.set()
        t.join()
        return svc_rss, peak["rss"], peak["pss"]
    finally:
        svc.close()


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build"))
    if not os.access(os.path.join(build, "render", "mugai-office"), os.X_OK):
        print("note: no mugai-office in %s (built without LibreOfficeKit): warm mode is cold"
              % build)
    with tempfile.TemporaryDirectory(prefix="mugai-bench-office-") as tmp:
        files, db = corpus(build, tmp)
        docs = inputs(files, tmp)
        sheets = [d for d in docs if d.rsplit(".", 1)[1] in ("xls", "xlsx", "ods")]
        texts = [d for d in docs if d not in sheets]
        res = {}
        for mode in ("warm", "cold"):
            conf = os.path.join(tmp, mode + ".conf")
            with open(conf, "w") as f:
                f.write("[scan]\nclamav_db_dir = %s\n[office]\nmode = %s\n" % (db, mode))
            for name, subset in (("all", docs), ("texts", texts)):
                res[mode, name] = run_sanitize(build, conf, os.path.join(tmp, mode + name),
                                               subset)
        so = run_soffice(docs, tmp)
        so_all = sum(so) / len(so)
        so_texts = sum(t for d, t in zip(docs, so) if d in texts) / len(texts)
        print("== Office: %d mixed documents (%s, twice each), seconds per document =="
              % (len(docs), ", ".join(TYPES)))
        print("%-46s %8s %8s" % ("", "all 20", "no sheets"))
        for mode in ("warm", "cold"):
            (a, ok_a, _), (t, ok_t, _) = res[mode, "all"], res[mode, "texts"]
            print("%-46s %8.2f %8.2f%s" % ("sanitize-file, [office] mode = " + mode,
                                           a / len(docs), t / len(texts),
                                           "" if ok_a and ok_t else "  (some inputs failed)"))
        for mode in ("warm", "cold"):
            print("%-46s %8.2f %8.2f" % ("  %s: median of the report's s per input" % mode,
                                         res[mode, "all"][2], res[mode, "texts"][2]))
        print("%-46s %8.2f %8.2f" % ("soffice --convert-to pdf, new process each", so_all,
                                     so_texts))
        print("(one sanitize-file run per column: the ClamAV load and, warm, the service's start "
              "included; a spreadsheet's sheets are exported as CSV too, in both modes)")
        print("target: warm / soffice cold <= 0.3: %.2f x all, %.2f x without sheets "
              "(cold mode: %.2f x, %.2f x)"
              % (res["warm", "all"][0] / len(docs) / so_all,
                 res["warm", "texts"][0] / len(texts) / so_texts,
                 res["cold", "all"][0] / len(docs) / so_all,
                 res["cold", "texts"][0] / len(texts) / so_texts))
        svc_rss, child_rss, child_pss = memory(build, os.path.join(files, "office_docx.docx"),
                                               tmp)
        print("memory: service %d MiB resident; a docx child peak %d MiB resident, %d MiB "
              "proportional" % (svc_rss // 1024, child_rss // 1024, child_pss // 1024))


if __name__ == "__main__":
    main()
