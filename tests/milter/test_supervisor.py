#!/usr/bin/python3
"""mugai-milter's process management as an operator sees it: the pool
supervisor restarts a killed worker, replaces its workers on SIGHUP (and keeps
serving), removes spool files left by a crash when it starts, refuses a bad
configuration with exit status 2, and stops cleanly on SIGTERM.

Usage: test_supervisor.py BUILD_DIR CLAMDB_GENERATOR
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = None
CLAMDB = None


def children(pid):
    """Pids of the direct children of pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return sorted(out)


def wait_for(pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


class Supervisor(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-sup-")
        d = self.tmp.name
        subprocess.run([sys.executable, CLAMDB, os.path.join(d, "db")], check=True)
        self.spool = os.path.join(d, "spool")
        os.mkdir(self.spool)
        self.sock = os.path.join(d, "milter.sock")
        self.pidfile = os.path.join(d, "milter.pid")
        self.conf = os.path.join(d, "mugai.conf")
        with open(self.conf, "w") as f:
            f.write("[scan]\nclamav_db_dir = %s/db\n[quarantine]\ndir = %s/q\n"
                    "[milter]\nsocket = unix:%s\nspool_dir = %s\npid_file = %s\nworkers = 2\n"
                    % (d, d, self.sock, self.spool, self.pidfile))
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()

    def start(self):
        self.log = open(os.path.join(self.tmp.name, "log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "milter", "mugai-milter"), "-c", self.conf, "-f"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.assertTrue(wait_for(lambda: os.path.exists(self.sock) and
                                 len(self.workers()) == 2), "milter did not come up")

    def workers(self):
        """The supervisor's children except the libmilter front end (the oldest)."""
        kids = children(self.proc.pid)
        return kids[1:] if len(kids) > 1 else []

    def test_killed_worker_is_replaced(self):
        self.start()
        before = self.workers()
        os.kill(before[-1], signal.SIGKILL)
        self.assertTrue(wait_for(lambda: len(self.workers()) == 2 and
                                 before[-1] not in self.workers()))

    def test_sighup_replaces_workers_and_keeps_serving(self):
        self.start()
        before = set(self.workers())
        os.kill(self.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_for(lambda: len(self.workers()) == 2 and
                                 not before & set(self.workers())))
        self.assertIsNone(self.proc.poll())
        self.assertTrue(os.path.exists(self.sock))

    def test_sigterm_stops_cleanly(self):
        self.start()
        with open(self.pidfile) as f:
            self.assertEqual(int(f.read().strip()), self.proc.pid)
        os.kill(self.proc.pid, signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0)
        self.assertEqual(children(self.proc.pid), [])

    def test_leftover_spool_files_removed_at_start(self):
        for name in ("msg-abc123", "clean-def456"):
            with open(os.path.join(self.spool, name), "w") as f:
                f.write("From: a@b\r\n\r\nleft by a crash\r\n")
        self.start()
        self.assertEqual([n for n in os.listdir(self.spool) if n.startswith(("msg-", "clean-"))],
                         [])

    def test_bad_configuration_is_exit_2(self):
        with open(self.conf, "a") as f:
            f.write("no_such_key = 1\n")
        p = subprocess.run([os.path.join(BUILD, "milter", "mugai-milter"), "-c", self.conf, "-f"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"no_such_key", p.stderr)


if __name__ == "__main__":
    BUILD, CLAMDB = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
