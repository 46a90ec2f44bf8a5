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
  a From display name, an attachment name) come out without them.
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
S = {}


def run_watched(args, env=None):
    """Run args; return (exit code or None on time-out, stdout, seconds, most open fds)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, env=env)
        most = 0
        while p.poll() is None:
            if time.monotonic() - t0 > RUN_TIMEOUT:
                p.kill()
                p.wait()
                return None, b"", time.monotonic() - t0, most
            try:
                most = max(most, len(os.listdir("/proc/%d/fd" % p.pid)))
            except OSError:
                pass
            time.sleep(0.002)
        out.seek(0)
        return p.returncode, out.read(), time.monotonic() - t0, most


def fake_programs(bindir, markdir):
    """Stand-ins for the external decompressors: each leaves a mark and reads its input."""
    os.makedirs(bindir)
    for name in EXTERNAL:
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\ntouch '%s/%s'\ncat >/dev/null\nexit 0\n" % (markdir, name))
        os.chmod(path, 0o755)


def sanitize(names, tag, env=None):
    """sanitize-file --json on inputs, alone in its run; keeps the results under tag."""
    out = os.path.join(S["tmp"], "out-" + tag)
    args = [S["bin"], "-c", S["conf"], "--json", "-o", out]
    rc, so, secs, fds = run_watched(args + [os.path.join(S["inputs"], n) for n in names], env)
    try:
        rep = json.loads(so.decode("utf-8"))
    except ValueError:
        rep = {"inputs": []}
    S[tag] = {"rc": rc, "secs": secs, "fds": fds, "out": out,
              "by": {os.path.basename(r["input"]): r for r in rep.get("inputs", [])}}


def setUpModule():
    """Make the inputs if needed; run sanitize-file on them (nesting inputs one per run)."""
    if not BUILD:
        raise unittest.SkipTest("pass --build")
    S["bin"] = os.path.join(BUILD, "tools", "sanitize-file")
    S["tmp"] = tempfile.mkdtemp(prefix="mugai-hostile-")
    S["inputs"] = INPUTS or os.path.join(S["tmp"], "inputs")
    if not os.path.exists(os.path.join(S["inputs"], "bidi_from.eml")):
        subprocess.run([sys.executable, os.path.join(GEN, "make_hostile.py"), S["inputs"]],
                       check=True)
    qdir = os.path.join(S["tmp"], "quarantine")
    os.makedirs(qdir)
    S["conf"] = os.path.join(S["tmp"], "mugai.conf")
    with open(S["conf"], "w", encoding="utf-8") as f:
        f.write("[scan]\nclamav_db_dir = %s\n\n[quarantine]\ndir = %s\n"
                % (os.path.join(S["inputs"], "clamdb"), qdir))
    S["marks"] = os.path.join(S["tmp"], "marks")
    os.makedirs(S["marks"])
    bindir = os.path.join(S["tmp"], "bin")
    fake_programs(bindir, S["marks"])
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"))
    sanitize(["x.tar.lrz.gz", "x.tar.lzo.gz", "x.tar.lrz", "x.tar.lzo"], "compressed", env)
    sanitize(["bidi.zip", "bidi_from.eml"], "names")
    sanitize(["chain.zip"], "chain")
    sanitize(["deep.eml"], "deep")


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
