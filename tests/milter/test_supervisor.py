#!/usr/bin/python3
"""mugai-milter's process management as an operator sees it: the pool
supervisor restarts a killed worker and logs how it died, replaces its workers
on SIGHUP (and keeps serving), removes spool files and jail directories left by
a crash when it starts, refuses a bad configuration with exit status 2, and
stops cleanly on SIGTERM. With a renderer that hangs: a job ends at
[milter] job_timeout with a temporary failure that says so, its conversion
stopped and the worker kept; a worker killed mid-conversion (SIGKILL, or the
alarm's SIGALRM) takes its conversion's processes and jail directory along.
Started as root, each worker is confined (seccomp, no_new_privs, no
capabilities, Landlock) while its jail spawner, which keeps the capabilities,
makes its jails, and mail is still sanitized.

Usage: test_supervisor.py BUILD_DIR CLAMDB_GENERATOR
"""

import email
import email.policy
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "postfix"))
from pfharness import alive, children, comm, descendants, give_to, ids, threads_of  # noqa: E402 - /proc helpers
from test_replbody import MilterClient, rebuild  # noqa: E402 - the MTA side of the milter protocol

BUILD = None
CLAMDB = None

# A renderer that never answers and has a child of its own, as LibreOffice's soffice has
# soffice.bin: only the whole process group going away stops it.
HANGING_RENDERER = """#!/bin/sh
sleep 600 &
wait
"""

# Leaves a process in a session of its own, out of the conversion's process group, then hangs.
ESCAPING_RENDERER = """#!/bin/sh
setsid sleep 600 &
wait
"""


def status(pid):
    """The fields of /proc/PID/status as a dict of strings."""
    with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as f:
        return {k: v.strip() for k, v in (ln.split(":", 1) for ln in f if ":" in ln)}


def spawner_of(worker):
    """The worker's jail spawner (its child that makes its jails), or None."""
    kids = [k for k in children(worker) if comm(k) == "mugai-spawner" and alive(k)]
    return kids[0] if kids else None


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
                    "user = mugai\n" % (d, d, self.sock, self.spool, self.pidfile))
        give_to("mugai", d)
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
        """The supervisor's live workers: its children except the libmilter front end (the
        one with threads), the Office service and a killed worker's jail spawner while it is
        being reaped (the supervisor is a subreaper). Not by pid order: pids wrap."""
        return [k for k in children(self.proc.pid)
                if alive(k) and threads_of(k) == 1 and
                comm(k) not in ("mugai-spawner", "mugai-office", "mugai-front")]

    def read_log(self):
        with open(os.path.join(self.tmp.name, "log")) as f:
            return f.read()

    def test_killed_worker_is_replaced(self):
        self.start()
        for _ in range(3):  # every death is logged, however the events interleave
            before = self.workers()
            os.kill(before[-1], signal.SIGKILL)
            self.assertTrue(wait_for(lambda: len(self.workers()) == 2 and
                                     before[-1] not in self.workers()))
            # logged when the supervisor reaps it, which may come after the count is back
            died = "worker %d died: killed by signal 9 (SIGKILL)" % before[-1]
            self.assertTrue(wait_for(lambda: died in self.read_log()), self.read_log())

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


class HungConversion(unittest.TestCase):
    """One worker, a renderer that hangs, the jail's own time limit far away; the jail's
    private directories go to a TMPDIR of the test's own."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-hang-")
        d = self.tmp.name
        subprocess.run([sys.executable, CLAMDB, os.path.join(d, "db")], check=True,
                       stdout=subprocess.DEVNULL)
        self.spool = os.path.join(d, "spool")
        self.jail_tmp = os.path.join(d, "tmp")
        os.mkdir(self.spool)
        os.mkdir(self.jail_tmp)
        self.sock = os.path.join(d, "milter.sock")
        self.renderer = os.path.join(d, "hang.sh")
        with open(self.renderer, "w") as f:
            f.write(HANGING_RENDERER)
        os.chmod(self.renderer, 0o755)
        give_to("mugai", d)
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for p in getattr(self, "jail", []):  # never leave a stray sleep behind
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.tmp.cleanup()

    def start(self, job_timeout):
        d = self.tmp.name
        conf = os.path.join(d, "mugai.conf")
        with open(conf, "w") as f:
            f.write("[general]\nrender_path = %s\n[jail]\ntimeout = 600\n"
                    "[scan]\nclamav_db_dir = %s/db\n[quarantine]\ndir = %s/q\n"
                    "[milter]\nsocket = unix:%s\nspool_dir = %s\npid_file = %s/milter.pid\n"
                    "workers = 1\njob_timeout = %d\nuser = mugai\n"
                    % (self.renderer, d, d, self.sock, self.spool, d, job_timeout))
        self.logf = open(os.path.join(d, "log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "milter", "mugai-milter"), "-c", conf, "-f"],
            stdout=self.logf, stderr=subprocess.STDOUT,
            env=dict(os.environ, TMPDIR=self.jail_tmp))
        self.assertTrue(wait_for(lambda: os.path.exists(self.sock) and self.worker()),
                        "milter did not come up")

    def worker(self):
        """The worker: the supervisor's child that is not the libmilter front end (threads)
        and has not come to the supervisor as an orphan (the oldest such)."""
        kids = [k for k in children(self.proc.pid)
                if threads_of(k) == 1 and alive(k) and comm(k) != "mugai-front"]
        return kids[0] if kids else None

    def log(self):
        with open(os.path.join(self.tmp.name, "log")) as f:
            return f.read()

    def send(self, out):
        """Send a message with a text attachment (converted in the jail); out["reply"] gets
        the final packet, out["secs"] the time end of message took."""
        body = (b"--B\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello.\r\n"
                b"--B\r\nContent-Type: text/plain; charset=us-ascii\r\n"
                b"Content-Disposition: attachment; filename=\"memo.txt\"\r\n\r\n"
                b"A memo.\r\n--B--\r\n")
        headers = [(b"From", b" alice@example.com"), (b"To", b" bob@example.lg.jp"),
                   (b"Subject", b" memo"), (b"MIME-Version", b" 1.0"),
                   (b"Content-Type", b" multipart/mixed; boundary=\"B\"")]
        c = MilterClient(self.sock)
        try:
            c.negotiate()
            c.message(headers, body, b"HANG1")
            t0 = time.monotonic()
            out["reply"] = c.eom()[-1]
            out["secs"] = time.monotonic() - t0
        finally:
            c.close()

    def start_job(self):
        """Send the message in a thread; wait until the renderer and its child run. Returns
        (thread, result dict, worker pid); self.jail holds the conversion's processes, which
        the worker's jail spawner started (self.spawner)."""
        out = {}
        t = threading.Thread(target=self.send, args=(out,))
        t.start()
        w = self.worker()
        self.assertTrue(wait_for(lambda: spawner_of(w)), "no jail spawner")
        self.spawner = spawner_of(w)
        self.assertTrue(wait_for(lambda: len(descendants(self.spawner)) >= 2),
                        "no conversion seen")
        self.jail = descendants(self.spawner)
        return t, out, w

    def check_tempfail(self, out):
        cmd, data = out["reply"]
        self.assertEqual(cmd, b"y", (cmd, data))
        self.assertTrue(data.startswith(b"451 4.7.1"), data)

    def check_conversion_gone(self, timeout):
        self.assertTrue(wait_for(lambda: not [p for p in self.jail if alive(p)], timeout),
                        "the conversion outlived its job or worker: %s"
                        % [p for p in self.jail if alive(p)])
        self.assertTrue(wait_for(lambda: not os.listdir(self.jail_tmp), timeout),
                        "jail directories left: %s" % os.listdir(self.jail_tmp))

    def test_job_ends_at_job_timeout(self):
        self.start(job_timeout=5)
        t, out, w = self.start_job()
        t.join(60)
        self.check_tempfail(out)
        # At job_timeout, not when the alarm (5 s later) or the front end would end it.
        self.assertGreaterEqual(out["secs"], 4.5)
        self.assertLess(out["secs"], 8, self.log())
        self.check_conversion_gone(0.5)
        self.assertIn("HANG1: pool says: sanitization timed out after 5 s", self.log())
        self.assertEqual(self.worker(), w, "the worker was killed instead of answering")
        self.assertNotIn("died", self.log())

    def test_conversion_runs_as_the_jail_user_in_its_namespaces(self):
        """The worker runs as [milter] user; what it starts runs as [jail] user (nobody), in
        PID, mount and network namespaces of its own."""
        self.start(job_timeout=5)
        t, out, w = self.start_job()
        mugai, nobody = pwd.getpwnam("mugai"), pwd.getpwnam("nobody")
        self.assertEqual(ids(w), ([mugai.pw_uid] * 4, [mugai.pw_gid] * 4))

        def ns(pid, kind):
            return os.readlink("/proc/%d/ns/%s" % (pid, kind))
        for p in self.jail:
            self.assertEqual(ids(p), ([nobody.pw_uid] * 4, [nobody.pw_gid] * 4), p)
            for kind in ("pid_for_children", "mnt", "net", "ipc"):
                self.assertNotEqual(ns(p, kind), ns(w, kind), (p, kind))
        t.join(60)
        self.check_tempfail(out)
        self.check_conversion_gone(0.5)

    def test_killed_worker_takes_its_conversion_along(self):
        self.start(job_timeout=60)
        t, out, w = self.start_job()
        os.kill(w, signal.SIGKILL)
        self.check_conversion_gone(3)
        self.assertTrue(wait_for(lambda: not alive(self.spawner), 3), "the spawner outlived it")
        t.join(60)
        self.check_tempfail(out)
        self.assertIn("worker %d died during a job: killed by signal 9 (SIGKILL)" % w, self.log())
        self.assertTrue(wait_for(lambda: self.worker() not in (None, w)), "no new worker")

    def test_alarm_is_logged_as_job_timeout(self):
        self.start(job_timeout=60)
        t, out, w = self.start_job()
        os.kill(w, signal.SIGALRM)  # what the worker's backstop alarm does
        self.check_conversion_gone(3)
        t.join(60)
        self.check_tempfail(out)
        self.assertIn("worker %d killed by SIGALRM: its job exceeded [milter] job_timeout (60 s)"
                      % w, self.log())

    def test_process_that_left_its_group_is_killed(self):
        with open(self.renderer, "w") as f:
            f.write(ESCAPING_RENDERER)
        self.start(job_timeout=5)
        t, out, w = self.start_job()

        def escaped():
            return [p for p in descendants(w) if alive(p) and
                    os.getsid(p) != os.getsid(self.jail[0])]
        self.assertTrue(wait_for(lambda: escaped()), "no process left its session")
        gone = escaped()
        self.jail += gone
        t.join(60)
        self.check_tempfail(out)
        # The jail's PID namespace ends with the conversion at job_timeout, and with it the
        # process that left the conversion's group and session.
        self.assertTrue(wait_for(lambda: not [p for p in gone if alive(p)], 2),
                        "processes %s outlived their conversion" % gone)
        self.assertEqual(self.worker(), w)
        self.assertNotIn("died", self.log())

    def test_leftover_jail_directories_removed_at_start(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        dead = os.path.join(self.jail_tmp, "mugai-jail-%d-AbC123" % gone.pid)
        live = os.path.join(self.jail_tmp, "mugai-jail-%d-XyZ789" % os.getpid())
        other = os.path.join(self.jail_tmp, "mugai-jail-notapid")
        for d in (dead, live, other):
            os.makedirs(os.path.join(d, "profile"))
            with open(os.path.join(d, "profile", "registrymodifications.xcu"), "w") as f:
                f.write("left by a crash\n")
        give_to("mugai", self.jail_tmp)  # made by the milter's user, as a crash leaves them
        self.start(job_timeout=60)
        self.assertEqual(sorted(os.listdir(self.jail_tmp)),
                         sorted(os.path.basename(d) for d in (live, other)))


@unittest.skipUnless(os.geteuid() == 0, "needs root: checks the switch to [milter] user")
class Privileges(unittest.TestCase):
    """Started as root with [milter] user = mugai: the directories it needs are made for
    that user, the socket is the user's (group access for Postfix), and every process runs
    as that user before any mail is read; its jails run as [jail] user (nobody). Without a
    [milter] user, or with one that is root or the jail's, it does not start."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-priv-")
        d = self.tmp.name
        os.chmod(d, 0o755)  # the milter user must reach its files
        subprocess.run([sys.executable, CLAMDB, os.path.join(d, "db")], check=True,
                       stdout=subprocess.DEVNULL)
        self.sock = os.path.join(d, "sock", "milter.sock")
        self.conf = os.path.join(d, "mugai.conf")
        self.user = pwd.getpwnam("mugai")
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()

    def write_conf(self, user):
        d = self.tmp.name
        render = os.path.join(d, "mugai-render")  # where the milter user can run it
        shutil.copy(os.path.join(BUILD, "render", "mugai-render"), render)
        with open(self.conf, "w") as f:
            f.write("[general]\nrender_path = %s\n" % render)
            f.write("[scan]\nclamav_db_dir = %s/db\n[quarantine]\ndir = %s/q\n"
                    "[milter]\nsocket = unix:%s\nspool_dir = %s/spool\npid_file = %s/pid\n"
                    "workers = 1\nuser = %s\n" % (d, d, self.sock, d, d, user))

    def run_milter(self):
        self.log = os.path.join(self.tmp.name, "log")
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(
                [os.path.join(BUILD, "milter", "mugai-milter"), "-c", self.conf, "-f"],
                stdout=logf, stderr=subprocess.STDOUT)

    def read_log(self):
        with open(self.log) as f:
            return f.read()

    def owned(self, path, mode):
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), (self.user.pw_uid, self.user.pw_gid), path)
        self.assertEqual(st.st_mode & 0o777, mode, path)

    def test_runs_as_the_milter_user(self):
        self.write_conf("mugai")
        self.run_milter()
        self.assertTrue(wait_for(lambda: os.path.exists(self.sock) and
                                 len(children(self.proc.pid)) == 2), self.read_log())
        d = self.tmp.name
        for pid in [self.proc.pid] + children(self.proc.pid):
            uids, gids = ids(pid)
            self.assertEqual(uids, [self.user.pw_uid] * 4, pid)
            self.assertEqual(gids, [self.user.pw_gid] * 4, pid)
        # the milter socket and its directory: Postfix's group ([milter] socket_group), so that
        # Postfix needs no membership of group mugai, which owns the store
        pf = grp.getgrnam("postfix").gr_gid
        for path, mode in ((os.path.dirname(self.sock), 0o750), (self.sock, 0o660)):
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777),
                             (self.user.pw_uid, pf, mode), path)
        self.assertNotIn("mugai", [g.gr_name for g in grp.getgrall() if "postfix" in g.gr_mem])
        # the group may only pass through the spool (to the console's unlock.sock)
        self.owned(os.path.join(d, "spool"), 0o710)
        # unlock.sock is the console user's alone ([web] user)
        try:
            console = pwd.getpwnam("mugai-web").pw_uid
        except KeyError:  # no console on this system: only root connects
            console = self.user.pw_uid
        st = os.stat(os.path.join(d, "spool", "unlock.sock"))
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777),
                         (console, self.user.pw_gid, 0o600))
        # the store is shared with its group (the console's user), never with others, and
        # what is made in it belongs to that group
        self.owned(os.path.join(d, "q"), 0o770)
        self.assertTrue(os.stat(os.path.join(d, "q")).st_mode & 0o2000, "q is set-group-id")
        with open(os.path.join(d, "pid")) as f:
            self.assertEqual(int(f.read()), self.proc.pid)
        # A message goes through, its attachment converted in the jail, which takes the
        # network away from this user too; the original lands in a store the user owns.
        headers = [(b"From", b" alice@example.com"), (b"Subject", b" hi"),
                   (b"MIME-Version", b" 1.0"),
                   (b"Content-Type", b" multipart/mixed; boundary=\"B\"")]
        body = ("--B\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n本日は晴天なり。\r\n"
                "--B\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                "Content-Disposition: attachment; filename=\"memo.txt\"\r\n\r\n"
                "議事録です。\r\n--B--\r\n").encode()
        c = MilterClient(self.sock)
        try:
            c.negotiate()
            c.message(headers, body)
            replies = c.eom()
        finally:
            c.close()
        self.assertEqual(replies[-1][0], b"a", self.read_log())
        msg = email.message_from_bytes(rebuild(headers, replies), policy=email.policy.default)
        memo = [p for p in msg.walk() if p.get_filename() == "memo.txt"]
        self.assertEqual(len(memo), 1, self.read_log())
        self.assertIn("議事録です。", memo[0].get_content())
        self.assertNotIn("network namespaces are not available", self.read_log())
        index = [os.path.join(r, n) for r, _, ns in os.walk(os.path.join(d, "q")) for n in ns
                 if n.endswith(".sqlite")]
        self.assertTrue(index)
        self.assertEqual(os.stat(index[0]).st_uid, self.user.pw_uid)

    def test_workers_are_confined_and_their_spawners_make_the_jails(self):
        """Each worker runs under its seccomp filter (mode 2), no_new_privs and with no
        capability left; its jail spawner, its child, keeps the capabilities making jails
        needs, and a message's attachment is still converted in a jail."""
        self.write_conf("mugai")
        self.run_milter()
        self.assertTrue(wait_for(lambda: os.path.exists(self.sock) and
                                 len(children(self.proc.pid)) == 2), self.read_log())
        worker = [k for k in children(self.proc.pid)
                  if threads_of(k) == 1 and comm(k) != "mugai-front"][0]
        self.assertTrue(wait_for(lambda: status(worker).get("Seccomp") == "2"), self.read_log())
        st = status(worker)
        self.assertEqual(st["NoNewPrivs"], "1")
        for caps in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
            self.assertEqual(int(st[caps], 16), 0, caps)
        spawner = spawner_of(worker)
        self.assertIsNotNone(spawner, "the worker has no jail spawner")
        sp = status(spawner)
        self.assertEqual(sp["Seccomp"], "0")
        self.assertNotEqual(int(sp["CapEff"], 16), 0)
        self.assertEqual(ids(spawner), ids(worker))
        self.assertIn("sanitizer workers confine themselves", self.read_log())
        headers = [(b"From", b" alice@example.com"), (b"Subject", b" confined"),
                   (b"MIME-Version", b" 1.0"),
                   (b"Content-Type", b" multipart/mixed; boundary=\"B\"")]
        body = ("--B\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n本文です。\r\n"
                "--B\r\nContent-Type: text/plain; charset=Shift_JIS\r\n"
                "Content-Disposition: attachment; filename=\"memo.txt\"\r\n\r\n").encode() + \
            "添付の議事録です。\r\n".encode("cp932") + b"--B--\r\n"
        c = MilterClient(self.sock)
        try:
            c.negotiate()
            c.message(headers, body)
            replies = c.eom()
        finally:
            c.close()
        self.assertEqual(replies[-1][0], b"a", self.read_log())
        msg = email.message_from_bytes(rebuild(headers, replies), policy=email.policy.default)
        memo = [p for p in msg.walk() if p.get_filename() == "memo.txt"]
        self.assertEqual(len(memo), 1, self.read_log())
        self.assertIn("添付の議事録です。", memo[0].get_content())
        # The same worker did it, still confined, with the same spawner.
        self.assertEqual([k for k in children(self.proc.pid)
                          if threads_of(k) == 1 and comm(k) != "mugai-front"], [worker])
        self.assertEqual(status(worker)["Seccomp"], "2")
        self.assertEqual(spawner_of(worker), spawner)
        self.assertNotIn("jail spawner", self.read_log())

    def test_store_it_cannot_write_is_named(self):
        os.mkdir(os.path.join(self.tmp.name, "q"), 0o755)  # root's, left as it is
        self.write_conf("mugai")
        self.run_milter()
        self.assertEqual(self.proc.wait(timeout=60), 1)
        self.assertIn("quarantine store %s/q" % self.tmp.name, self.read_log())
        self.assertIn("Permission denied (mugai-milter runs as user mugai)", self.read_log())

    def refused(self, user, extra=""):
        """Start with [milter] user = user: exit status 2 and stderr, nothing bound."""
        self.write_conf(user)
        with open(self.conf, "a") as f:
            f.write(extra)
        p = subprocess.run([os.path.join(BUILD, "milter", "mugai-milter"), "-c", self.conf, "-f"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertFalse(os.path.exists(self.sock))
        return p.stderr.decode()

    def test_root_without_milter_user_refuses(self):
        err = self.refused("")
        self.assertIn(self.conf, err)
        self.assertIn("refusing to run as root: set [milter] user", err)

    def test_root_as_milter_user_refuses(self):
        self.assertIn("[milter] user root is root or in group root", self.refused("root"))

    def test_jail_user_must_differ(self):
        err = self.refused("mugai", "[jail]\nuser = mugai\n")
        self.assertIn("[milter] user mugai and [jail] user mugai must differ", err)

    def test_pid_file_directory_is_made(self):
        """Like /run/mugai on a fresh boot: the pid file's directory is missing."""
        self.write_conf("mugai")
        pid = os.path.join(self.tmp.name, "run-mugai", "mugai-milter.pid")
        with open(self.conf) as f:
            text = f.read().replace("pid_file = %s/pid" % self.tmp.name, "pid_file = " + pid)
        with open(self.conf, "w") as f:
            f.write(text)
        self.run_milter()
        self.assertTrue(wait_for(lambda: os.path.exists(pid)), self.read_log())
        with open(pid) as f:
            self.assertEqual(int(f.read()), self.proc.pid)

    def test_unknown_user_is_exit_2(self):
        self.write_conf("no-such-mugai-user")
        p = subprocess.run([os.path.join(BUILD, "milter", "mugai-milter"), "-c", self.conf, "-f"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"unknown [milter] user no-such-mugai-user", p.stderr)
        self.assertFalse(os.path.exists(self.sock))


if __name__ == "__main__":
    BUILD, CLAMDB = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
