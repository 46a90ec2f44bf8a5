#!/usr/bin/python3
"""End-to-end tests of hostile inputs through sanitize-file.

Usage: test_hostile.py --build BUILD_DIR [--inputs DIR]

The inputs come from tests/gen/make_hostile.py (made here when DIR has none).
Checked as a user would, on the report (--json) and the output files:

- nesting: a zip holding a message holding a zip ... 30 levels, and a message
  attached as a file 200 levels deep, end within the limits of one input
  ([archive] max_depth, [mail] max_depth), in bounded time and with few open
  files, and the notices name the limit that stopped them;
- compressions libarchive would hand to an external program (lrzip, lzop)
  never start one: stand-in programs of those names come first in PATH and
  leave a mark when run;
- names with bidi controls and other invisible characters (archive members,
  a From display name, an attachment name) come out without them;
- archives whose reading libarchive would let grow without a bound end with a
  verdict naming the limit: a 7z symlink with a huge target (memory, measured
  as the run's peak resident size), data of entries mugai never reads (a FIFO,
  a member over the part budget: never decompressed), and archives inside an
  archive that each stay under [archive] max_total_mb but not together.
"""

import argparse
import email
import email.policy
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(os.path.dirname(HERE), "gen")
sys.path.insert(0, GEN)
import make_hostile  # noqa: E402

BUILD = None
INPUTS = None
RUN_TIMEOUT = 120  # one hostile input, alone
MAX_FDS = 64  # sanitize-file holds about 15 before any input
ARCHIVE_MAX_DEPTH = 3  # the defaults the tests run with
MAIL_MAX_DEPTH = 20
EXTERNAL = ("lrzip", "lzop", "grzip")
# A run of the suite under AddressSanitizer (run/test --asan): its shadow memory makes the
# worker's data size, and so the memory bound and the peak figure, meaningless there.
UNDER_ASAN = "ASAN_OPTIONS" in os.environ

# Peak resident size for the 7z symlinks: the bound lets libarchive add 512 MiB; without it a
# 512 MiB target took twice that (the target and libarchive's copy of it).
MAX_RSS_7Z = 640 << 20
MAX_CPU_UNREAD = 5.0  # seconds; 256 MiB of bzip2 zeros would take well under that too
# Small limits for the budget and total runs.
CONF_PARTS = "[archive]\nmax_entries = 4\n\n[mail]\nmax_parts = 4\n"
CONF_TOTAL = "[archive]\nmax_total_mb = 20\n"
S = {}


def run_watched(args, env=None):
    """Run args; return (exit code or None on time-out, stdout, seconds, most open fds,
    resource usage of the run: peak resident bytes and CPU seconds, its children included)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, env=env)
        most, pid, status, ru = 0, 0, 0, None
        while pid == 0:
            if time.monotonic() - t0 > RUN_TIMEOUT:
                p.kill()
                os.wait4(p.pid, 0)
                p.returncode = -9
                return None, b"", time.monotonic() - t0, most, {}
            try:
                most = max(most, len(os.listdir("/proc/%d/fd" % p.pid)))
            except OSError:
                pass
            time.sleep(0.002)
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        usage = {"rss": ru.ru_maxrss * 1024, "cpu": ru.ru_utime + ru.ru_stime}
        return p.returncode, out.read(), time.monotonic() - t0, most, usage


def fake_programs(bindir, markdir):
    """Stand-ins for the external decompressors: each leaves a mark and reads its input."""
    os.makedirs(bindir)
    for name in EXTERNAL:
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\ntouch '%s/%s'\ncat >/dev/null\nexit 0\n" % (markdir, name))
        os.chmod(path, 0o755)


def write_conf(name, extra=""):
    """A configuration under the temporary directory: the test database and quarantine, and
    extra; returns its path."""
    path = os.path.join(S["tmp"], name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[scan]\nclamav_db_dir = %s\n\n[quarantine]\ndir = %s\n\n%s"
                % (os.path.join(S["inputs"], "clamdb"), os.path.join(S["tmp"], "quarantine"),
                   extra))
    return path


def sanitize(names, tag, env=None, conf=None):
    """sanitize-file --json on inputs, alone in its run; keeps the results under tag."""
    out = os.path.join(S["tmp"], "out-" + tag)
    args = [S["bin"], "-c", conf or S["conf"], "--json", "-o", out]
    rc, so, secs, fds, usage = run_watched(
        args + [os.path.join(S["inputs"], n) for n in names], env)
    try:
        rep = json.loads(so.decode("utf-8"))
    except ValueError:
        rep = {"inputs": []}
    S[tag] = {"rc": rc, "secs": secs, "fds": fds, "out": out, "usage": usage,
              "by": {os.path.basename(r["input"]): r for r in rep.get("inputs", [])}}


def setUpModule():
    """Make the inputs if needed; run sanitize-file on them (nesting inputs one per run)."""
    if not BUILD:
        raise unittest.SkipTest("pass --build")
    S["bin"] = os.path.join(BUILD, "tools", "sanitize-file")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-hostile-")
    S["inputs"] = INPUTS or os.path.join(S["tmp"], "inputs")
    if not os.path.exists(os.path.join(S["inputs"], "nest.zip")):
        subprocess.run([sys.executable, os.path.join(GEN, "make_hostile.py"), S["inputs"]],
                       check=True)
    os.makedirs(os.path.join(S["tmp"], "quarantine"))
    S["conf"] = write_conf("mugai.conf")
    S["marks"] = os.path.join(S["tmp"], "marks")
    os.makedirs(S["marks"])
    bindir = os.path.join(S["tmp"], "bin")
    fake_programs(bindir, S["marks"])
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"))
    sanitize(["x.tar.lrz.gz", "x.tar.lzo.gz", "x.tar.lrz", "x.tar.lzo"], "compressed", env)
    sanitize(["bidi.zip", "bidi_from.eml"], "names")
    sanitize(["chain.zip"], "chain")
    sanitize(["deep.eml"], "deep")
    if not UNDER_ASAN:
        sanitize(["link512.7z", "link300.7z"], "7z")
    sanitize(["fifo.cpio.bz2"], "unread")
    sanitize(["skip.zip"], "parts", conf=write_conf("parts.conf", CONF_PARTS))
    sanitize(["nest.zip"], "total", conf=write_conf("total.conf", CONF_TOTAL))


def tearDownModule():
    """Remove the temporary directory unless MUGAI_KEEP is set."""
    if S.get("tmp") and not os.environ.get("MUGAI_KEEP"):
        shutil.rmtree(S["tmp"], ignore_errors=True)


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def text_and_attachments(msg):
    """The text body of a clean message and its attachments."""
    leaves = [p for p in msg.walk() if not p.is_multipart()]
    return leaves[0].get_content(), leaves[1:]


def english_notice(text):
    return text[text.find("[Sanitization notice]"):]


def unsafe_in(s):
    """The characters of s that no reader may be shown (a few of each kind)."""
    return [c for c in s if c in make_hostile.UNSAFE or c in "\u2060\u200e\u200f\u202a\u202d"]


class Run(unittest.TestCase):
    def entry(self, tag, name):
        run = S[tag]
        self.assertIsNotNone(run["rc"], "%s: no answer within %d s" % (name, RUN_TIMEOUT))
        self.assertIn(name, run["by"], "%s: no report entry" % name)
        return run["by"][name]

    def bounded(self, tag):
        run = S[tag]
        self.assertIsNotNone(run["rc"], "no answer within %d s" % RUN_TIMEOUT)
        self.assertLess(run["fds"], MAX_FDS, "open files grew with the nesting")


class Nesting(Run):
    """Messages and archives inside each other share one depth limit."""

    def test_chain_stops_at_the_archive_limit(self):
        self.bounded("chain")
        r = self.entry("chain", "chain.zip")
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        z, zips, msgs, last = zipfile.ZipFile(r["output"]), 1, [], None
        while z is not None:
            (name,) = z.namelist()
            msg = parse(z.read(name))
            text, atts = text_and_attachments(msg)
            msgs.append(english_notice(text))
            z = None
            for a in atts:
                if a.get_filename().endswith(".zip"):
                    z, zips = zipfile.ZipFile(io.BytesIO(a.get_payload(decode=True))), zips + 1
            last = text
        self.assertEqual(zips, ARCHIVE_MAX_DEPTH, "the zips that came out, nested")
        lines = [ln for ln in english_notice(last).splitlines() if ".zip (" in ln]
        self.assertEqual(len(lines), 1, last)
        self.assertIn("removed: archives nested too deeply (limit %d levels)"
                      % ARCHIVE_MAX_DEPTH, lines[0])
        for notice in msgs:  # every level says why something is missing below it
            self.assertIn("archives nested too deeply (limit %d levels)" % ARCHIVE_MAX_DEPTH,
                          notice)

    def test_attached_messages_stop_at_the_depth_limit(self):
        self.bounded("deep")
        r = self.entry("deep", "deep.eml")
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        with open(r["output"], "rb") as f:
            data = f.read()
        levels, last = 0, None
        while data is not None:
            text, atts = text_and_attachments(parse(data))
            levels, last, data = levels + 1, text, None
            if levels == 1:
                self.assertIn("nested too deeply (limit %d levels)" % MAIL_MAX_DEPTH,
                              english_notice(text))
            for a in atts:
                if a.get_filename().endswith(".eml.txt"):
                    data = a.get_payload(decode=True)
        # a message attached as a file costs at least two levels: its own and its part
        self.assertLessEqual(levels, MAIL_MAX_DEPTH // 2)
        self.assertGreater(levels, 1)
        lines = [ln for ln in english_notice(last).splitlines() if ".eml (" in ln]
        self.assertEqual(len(lines), 1, last)
        self.assertIn("removed: nested too deeply (limit %d levels)" % MAIL_MAX_DEPTH, lines[0])


class ExternalPrograms(Run):
    """lrzip and lzop streams get a verdict without any program being started."""

    def test_no_program_started(self):
        self.assertIsNotNone(S["compressed"]["rc"])
        self.assertEqual(sorted(os.listdir(S["marks"])), [], "external programs ran")

    def test_inside_gzip_blocked(self):
        for name in ("x.tar.lrz.gz", "x.tar.lzo.gz"):
            with self.subTest(input=name):
                r = self.entry("compressed", name)
                self.assertIn(r["verdict"], ("blocked", "failed"), r["reason"])
                self.assertIsNone(r["output"])
                for m in r.get("members", []):
                    self.assertNotEqual(m["verdict"], "sanitized", m)

    def test_alone_blocked(self):
        for name in ("x.tar.lrz", "x.tar.lzo"):
            with self.subTest(input=name):
                r = self.entry("compressed", name)
                self.assertEqual(r["verdict"], "blocked", r["reason"])
                self.assertIsNone(r["output"])


class Names(Run):
    """Bidi controls and invisible characters never reach a name a reader sees."""

    def test_archive_member_names(self):
        r = self.entry("names", "bidi.zip")
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        z = zipfile.ZipFile(r["output"])
        want = [clean for _, clean in make_hostile.BIDI_MEMBERS]
        self.assertEqual(z.namelist(), want)
        for m in r["members"]:
            self.assertEqual(unsafe_in(m["input"] + m["output_name"] + m["reason"]), [], m)
        for name in want:
            self.assertEqual(z.read(name).decode("utf-8"), name + "\n")

    def test_message_headers_and_names(self):
        r = self.entry("names", "bidi_from.eml")
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        with open(r["output"], "rb") as f:
            msg = parse(f.read())
        sender, to = str(msg["From"]), str(msg["To"])
        self.assertEqual(unsafe_in(sender), [], ascii(sender))
        self.assertIn("Alice", sender)
        self.assertIn("<alice@internet.example>", sender)
        self.assertEqual(unsafe_in(to), [], ascii(to))
        self.assertIn("<staff@lgwan.example>", to)
        text, atts = text_and_attachments(msg)
        self.assertEqual([unsafe_in(a.get_filename()) for a in atts], [[]])
        self.assertEqual(unsafe_in(text), [], ascii(english_notice(text)))
        for p in r["parts"]:
            self.assertEqual(unsafe_in(p.get("filename") or ""), [], p)


class ArchiveBounds(Run):
    """What libarchive would read without a bound ends with a verdict naming the limit."""

    @unittest.skipIf(UNDER_ASAN, "AddressSanitizer's shadow memory makes the memory bound moot")
    def test_7z_symlink_memory(self):
        self.bounded("7z")
        for name in ("link512.7z", "link300.7z"):
            with self.subTest(input=name):
                r = self.entry("7z", name)
                self.assertEqual(r["verdict"], "blocked", r["reason"])
                self.assertIn("over a memory limit", r["reason"])
                self.assertIsNone(r["output"])
        rss = S["7z"]["usage"]["rss"]
        self.assertLess(rss, MAX_RSS_7Z, "peak resident size %d MiB" % (rss >> 20))

    def test_unread_data_is_bounded(self):
        self.bounded("unread")
        r = self.entry("unread", "fifo.cpio.bz2")
        self.assertEqual(r["verdict"], "blocked", r["reason"])
        self.assertIn("compression ratio over 100: archive bomb", r["reason"])
        self.assertEqual([(m["input"], m["verdict"]) for m in r["members"]],
                         [("fifo", "blocked")])
        self.assertLess(S["unread"]["usage"]["cpu"], MAX_CPU_UNREAD)

    def test_part_budget_stops_reading(self):
        self.bounded("parts")
        r = self.entry("parts", "skip.zip")
        self.assertEqual(r["verdict"], "sanitized", r["reason"])
        (tbz,) = r["members"]
        self.assertEqual(tbz["verdict"], "sanitized", tbz["reason"])
        self.assertIn("3 of 4 members sanitized; the rest removed unread: too many parts and "
                      "members in all (limit 4)", tbz["reason"])
        self.assertEqual([(m["input"], m["verdict"]) for m in tbz["members"]],
                         [("a.txt", "sanitized"), ("b.txt", "sanitized"),
                          ("c.txt", "sanitized"), ("big.bin", "blocked")])
        self.assertLess(S["parts"]["usage"]["cpu"], MAX_CPU_UNREAD)

    def test_total_across_nested_archives(self):
        self.bounded("total")
        r = self.entry("total", "nest.zip")
        self.assertEqual(r["verdict"], "blocked", r["reason"])
        self.assertIn("members expand to more than 20 MiB in all", r["reason"])
        inner = [m["reason"] for m in r["members"]]
        self.assertIn("members expand to more than 20 MiB in all", inner)
        self.assertEqual(inner[:2], ["no member could be sanitized (1 members)"] * 2)


def main():
    global BUILD, INPUTS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--inputs")
    args, rest = ap.parse_known_args()
    BUILD, INPUTS = args.build, args.inputs
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
