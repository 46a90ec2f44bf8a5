#!/usr/bin/python3
"""A private Postfix on loopback, an SMTP sink and mugai-milter, for mugai's
end-to-end tests, the mail demo and the Postfix benchmarks.

Nothing here touches the system Postfix: each instance has its own
config_directory, queue_directory and data_directory under a work directory
and listens on free loopback ports. The sink stands in for the LGWAN mail
server and stores every message it receives (envelope + bytes) so tests can
read what the LGWAN side got.

    with Harness(workdir, build) as h:      # everything stopped on exit
        h.start_sink(); h.start_postfix(milter=True); h.start_milter(conf_extra)
        send_with_retry(h.smtp_port, sender, rcpts, data)
        h.sink.wait_count(1)

Standard library only (used from /usr/bin/python3).
"""

import json
import os
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import subprocess
import threading
import time

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
SINK_NAME = "lgwan-sink.invalid"  # must differ from Postfix's myhostname (loop check)
PF_NAME = "mugai-gw.invalid"


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, step=0.1):
    """Poll pred() until it is true or timeout seconds passed; return its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def port_open(port, host="127.0.0.1"):
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- the sink


class _SinkHandler(socketserver.StreamRequestHandler):
    """One SMTP session: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, text):
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 %s ESMTP sink" % SINK_NAME)
        helo, sender, rcpts = "", None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("HELO", "EHLO"):
                helo, sender, rcpts = cmd[5:].strip(), None, []
                if verb == "EHLO":
                    self.reply("250-%s\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING"
                               % SINK_NAME)
                else:
                    self.reply("250 %s" % SINK_NAME)
            elif verb == "MAIL":
                sender, rcpts = _addr(cmd), []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                rcpts.append(_addr(cmd))
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if sender is None or not rcpts:
                    self.reply("503 5.5.1 need MAIL and RCPT")
                    continue
                self.reply("354 go ahead")
                data = self.read_data()
                if data is None:
                    return
                self.server.sink.store(helo, sender, rcpts, data)
                self.reply("250 2.0.0 stored")
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 not implemented")

    def read_data(self):
        """The message up to the lone dot, dot-unstuffed, CRLF kept; None on EOF."""
        chunks = []
        while True:
            line = self.rfile.readline(1 << 20)
            if not line:
                return None
            if line in (b".\r\n", b".\n"):
                return b"".join(chunks)
            if line.startswith(b"."):
                line = line[1:]
            chunks.append(line)


def _addr(cmd):
    """The address between < and > of a MAIL/RCPT command."""
    m = re.search(r"<([^>]*)>", cmd)
    return m.group(1) if m else cmd.split(":", 1)[-1].strip()


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Sink:
    """The LGWAN side: an SMTP server on 127.0.0.1 storing NNNNNN.eml + NNNNNN.json."""

    def __init__(self, directory, port=0):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.lock = threading.Lock()
        self.n = 0
        self.server = _Server(("127.0.0.1", port), _SinkHandler)
        self.server.sink = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def store(self, helo, sender, rcpts, data):
        """Write one received message atomically (envelope JSON beside the bytes)."""
        with self.lock:
            self.n += 1
            base = os.path.join(self.dir, "%06d" % self.n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        with open(base + ".json", "w", encoding="utf-8") as f:
            json.dump({"helo": helo, "from": sender, "rcpts": rcpts, "time": time.time()}, f)
        os.rename(base + ".eml.tmp", base + ".eml")

    def messages(self):
        """[(envelope dict, bytes)] of every stored message, in arrival order."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".eml"):
                continue
            base = os.path.join(self.dir, name[:-4])
            with open(base + ".json", encoding="utf-8") as f:
                env = json.load(f)
            with open(base + ".eml", "rb") as f:
                out.append((env, f.read()))
        return out

    def count(self):
        return sum(1 for n in os.listdir(self.dir) if n.endswith(".eml"))

    def wait_count(self, n, timeout):
        """Wait until at least n messages arrived; return the count."""
        wait_until(lambda: self.count() >= n, timeout, 0.2)
        return self.count()

    def clear(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- Postfix

# The release listener of a private instance (port and smtpd_milters set per instance).
RELEASE_CF = """\
127.0.0.1:{release_port} inet n - n - - smtpd
  -o smtpd_milters=
  -o non_smtpd_milters=
  -o receive_override_options=no_milters
"""

# master.cf of a private mugai test instance (loopback only; smtpd chrooted in the queue
# directory when asked, as Debian's master.cf has it; nothing else chrooted).
MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - {chroot} - - smtpd
{release}pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance under root (config, queue, data directories)."""

    def __init__(self, root, sink_port, smtp_port=0, release_port=0, milter_socket=None,
                 name="mugaitest", chroot=False, main_cf=None, release_cf=None):
        """chroot: smtpd runs chrooted; main_cf: main.cf values over the instance's own;
        release_cf: master.cf text of the release listener ({release_port} filled in)."""
        self.root = root
        self.conf_dir = os.path.join(root, "etc")
        self.queue_dir = os.path.join(root, "queue")
        self.data_dir = os.path.join(root, "data")
        self.log = os.path.join(root, "maillog")
        self.smtp_port = smtp_port or free_port()
        self.release_port = release_port or free_port()
        self.sink_port = sink_port
        self.milter_socket = milter_socket
        self.name = name
        self.chroot = chroot
        self.main_cf = main_cf or {}
        self.release_cf = release_cf or RELEASE_CF
        self.running = False

    def postconf(self, *settings):
        """postconf -c DIR -e settings... (raises on failure)."""
        subprocess.run([POSTCONF, "-c", self.conf_dir, "-e"] + list(settings), check=True,
                       stdout=subprocess.DEVNULL)

    def settings(self):
        """main.cf values of the instance."""
        s = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "syslog_name": "postfix-" + self.name,
            "maillog_file": self.log,
            "maillog_file_prefixes": self.root,
            "myhostname": PF_NAME,
            "mydomain": "invalid",
            "myorigin": PF_NAME,
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:local delivery disabled",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": "",
            "relayhost": "[127.0.0.1]:%d" % self.sink_port,
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject",
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "smtp_dns_support_level": "disabled",
            "smtputf8_enable": "no",
            "biff": "no",
            "append_dot_mydomain": "no",
            "message_size_limit": str(100 << 20),
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "queue_run_delay": "1s",
            "delay_warning_time": "0",
            "bounce_queue_lifetime": "1h",
            "maximal_queue_lifetime": "1h",
            "smtp_connect_timeout": "5s",
            "default_destination_concurrency_limit": "20",
            "default_process_limit": "50",
            "smtpd_milters": "",
            "non_smtpd_milters": "",
            "milter_default_action": "tempfail",
            "milter_connect_timeout": "5s",
            "milter_command_timeout": "30s",
            "milter_content_timeout": "300s",
            "milter_protocol": "6",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "shlib_directory": "/usr/lib/postfix",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "meta_directory": "/etc/postfix",
        }
        if self.milter_socket:
            s["smtpd_milters"] = "unix:" + self.milter_socket
        s.update(self.main_cf)
        return s

    def write_config(self):
        """Write main.cf (from Debian's stock prototype, edited by postconf) and master.cf."""
        for d in (self.conf_dir, self.queue_dir, self.data_dir):
            os.makedirs(d, exist_ok=True)
        _world_traversable(self.root)
        subprocess.run(["chown", "postfix", self.data_dir], check=True)
        open(os.path.join(self.conf_dir, "main.cf"), "w").close()
        self.postconf(*["%s = %s" % kv for kv in self.settings().items()])
        with open(os.path.join(self.conf_dir, "master.cf"), "w", encoding="ascii") as f:
            f.write(MASTER_CF.format(
                smtp_port=self.smtp_port, chroot="y" if self.chroot else "n",
                release=self.release_cf.format(release_port=self.release_port)))

    def check(self):
        """postfix -c DIR check: (exit code, output)."""
        p = subprocess.run([POSTFIX, "-c", self.conf_dir, "check"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def start(self, timeout=30):
        """Write the configuration if needed, check it, start the instance, wait for ports."""
        if not os.path.exists(os.path.join(self.conf_dir, "main.cf")):
            self.write_config()
        rc, out = self.check()
        if rc != 0:
            raise RuntimeError("postfix check failed: " + out)
        p = subprocess.run([POSTFIX, "-c", self.conf_dir, "start"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise RuntimeError("postfix start failed: %s %s" % (
                p.stdout.decode("utf-8", "replace"), self.tail_log(10)))
        self.running = True
        if not wait_until(lambda: port_open(self.smtp_port) and port_open(self.release_port),
                          timeout):
            raise RuntimeError("postfix did not listen on %d/%d: %s"
                               % (self.smtp_port, self.release_port, self.tail_log()))

    def set_milter(self, sock):
        """Point smtpd_milters at unix:sock (None: no milter) and reload a running instance."""
        self.milter_socket = sock
        self.postconf("smtpd_milters = %s" % ("unix:" + sock if sock else ""))
        if self.running:
            subprocess.run([POSTFIX, "-c", self.conf_dir, "reload"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)

    def flush(self):
        """Ask the queue manager to retry deferred mail now."""
        subprocess.run([POSTFIX, "-c", self.conf_dir, "flush"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def queue_count(self):
        """Messages in the instance's queue (incoming, active, deferred, hold, maildrop)."""
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _dirpath, _dirs, files in os.walk(os.path.join(self.queue_dir, sub)):
                n += len(files)
        return n

    def stop(self):
        """postfix stop (then abort if still running); safe to call twice."""
        if not self.running:
            return
        subprocess.run([POSTFIX, "-c", self.conf_dir, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        pidf = os.path.join(self.queue_dir, "pid", "master.pid")
        if not wait_until(lambda: not _pidfile_alive(pidf), 15):
            subprocess.run([POSTFIX, "-c", self.conf_dir, "abort"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        self.running = False

    def tail_log(self, n=40):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no maillog)"


def give_to(user, *paths):
    """Make paths (recursively) the user's and reachable for it: mugai-milter runs as its
    [milter] user and must reach its files."""
    for p in paths:
        subprocess.run(["chown", "-R", "%s:%s" % (user, user), p], check=True)
        _world_traversable(p)


def _world_traversable(path):
    """Make path and its parents searchable by the postfix user (mkdtemp makes 0700)."""
    path = os.path.abspath(path)
    while path != "/":
        mode = os.stat(path).st_mode
        if mode & 0o001 == 0:
            os.chmod(path, (mode & 0o7777) | 0o055)
        path = os.path.dirname(path)


def _pidfile_alive(path):
    """True when the pid in path names a live process."""
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


# ---------------------------------------------------------------- mugai-milter


def find_binary(build, sub, name):
    """build/sub/name, or None when it is not built there (no other build is used:
    the tests must exercise the build they were given)."""
    path = os.path.join(build, sub, name)
    return path if os.access(path, os.X_OK) else None


def children(pid):
    """Pids of the direct children of pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, encoding="ascii", errors="replace") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(d))
    return sorted(out)


def comm(pid):
    """The command name of pid ("" when gone)."""
    try:
        with open("/proc/%d/comm" % pid, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:].split()[0] != "Z"


def descendants(pid):
    """Every descendant pid of pid."""
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def conversions(worker):
    """The first processes (the jails' inits) of worker's running conversions: the children
    of its jail spawner, the worker's child that makes its jails."""
    return [p for s in children(worker) for p in children(s)]


def threads_of(pid):
    """Number of threads of pid (0 when gone)."""
    try:
        with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def ids(pid):
    """(uids, gids) of pid: its real, effective, saved and filesystem ids."""
    with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as f:
        v = {ln.split(":")[0]: ln.split()[1:] for ln in f}
    return [int(x) for x in v["Uid"]], [int(x) for x in v["Gid"]]


def rss_kib(pid):
    """Resident set size of pid in KiB (0 when gone)."""
    try:
        with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Milter:
    """mugai-milter -c CONF -f -p unix:SOCK, in its own process group; stderr to a log.
    Started as root with [milter] user = user, as in production: what the milter reads is
    copied into root, which belongs to that user with the quarantine directory."""

    def __init__(self, binary, root, clamav_db_dir, quarantine_dir, release_port,
                 workers=2, extra="", env=None, user="mugai"):
        self.binary = binary
        self.env = env  # variables added to the environment it starts with
        self.root = root
        self.sock = os.path.join(root, "milter.sock")
        self.spool = os.path.join(root, "spool")
        self.conf = os.path.join(root, "mugai.conf")
        self.log = os.path.join(root, "milter.log")
        self.proc = None
        os.makedirs(self.spool, exist_ok=True)
        os.makedirs(quarantine_dir, exist_ok=True)
        db = os.path.join(root, "clamdb")
        if not os.path.exists(db):
            shutil.copytree(clamav_db_dir, db)
        render = os.path.join(root, "mugai-render")
        shutil.copy(os.path.join(os.path.dirname(os.path.dirname(binary)), "render",
                                 "mugai-render"), render)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write("[general]\naudit_log = %s\nrender_path = %s\n\n"
                    % (os.path.join(root, "audit.jsonl"), render))
            f.write("[scan]\nclamav_db_dir = %s\n\n" % db)
            f.write("[quarantine]\ndir = %s\nrelease_host = 127.0.0.1\nrelease_port = %d\n\n"
                    % (quarantine_dir, release_port))
            f.write("[milter]\nsocket = unix:%s\nspool_dir = %s\nworkers = %d\npid_file = %s\n"
                    "user = %s\n" % (self.sock, self.spool, workers,
                                     os.path.join(root, "mugai-milter.pid"), user))
            f.write(extra)
        give_to(user, root, quarantine_dir)

    def start(self, timeout=60):
        """Start it and wait until its socket accepts connections."""
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf, "-f", "-p",
                                      "unix:" + self.sock], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, start_new_session=True,
                                     env=dict(os.environ, **self.env) if self.env else None)
        logf.close()
        if not wait_until(lambda: self.proc.poll() is not None or self.socket_ready(), timeout):
            raise RuntimeError("mugai-milter not ready: " + self.tail_log())
        if self.proc.poll() is not None:
            raise RuntimeError("mugai-milter exited %d: %s" % (self.proc.returncode,
                                                              self.tail_log()))

    def socket_ready(self):
        """True when the milter socket accepts a connection."""
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(self.sock)
                return True
            except OSError:
                return False

    def pids(self):
        """{'supervisor': pid, 'front': [pids], 'workers': [pids]} (empty when not running)."""
        if not self.proc or self.proc.poll() is not None:
            return {"supervisor": None, "front": [], "workers": []}
        kids = children(self.proc.pid)
        front = [k for k in kids if threads_of(k) > 1 or comm(k) == "mugai-front"]
        return {"supervisor": self.proc.pid, "front": front,
                "workers": [k for k in kids if k not in front and comm(k) != "mugai-spawner"]}

    def busy_worker(self, timeout):
        """A worker pid with a conversion running (see conversions), or None."""
        def find():
            for w in self.pids()["workers"]:
                if conversions(w):
                    return w
            return None
        return wait_until(find, timeout, 0.05)

    def kill(self):
        """SIGKILL the whole milter: supervisor, front end, workers and their jails."""
        if not self.proc:
            return
        pids = descendants(self.proc.pid) + [self.proc.pid]
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()

    def stop(self):
        """SIGTERM, then SIGKILL after 15 s; safe to call twice."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail_log(self, n=30):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


# ---------------------------------------------------------------- sending


def send_once(port, sender, rcpts, data, timeout=600):
    """One SMTP transaction to 127.0.0.1:port. Returns (code, text): 250 on success, the
    server's code on refusal, 0 when the connection failed."""
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="internet-mta.invalid",
                          timeout=timeout) as s:
            s.sendmail(sender, rcpts, data)
            return 250, "ok"
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        return code, text.decode("utf-8", "replace")
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode("utf-8", "replace")
    except (OSError, smtplib.SMTPException) as e:
        return 0, str(e)


def send_with_retry(port, sender, rcpts, data, tries=30, delay=2.0, on_retry=None):
    """Send as a real MTA would: retry on 4xx and connection failures (bounded).
    Returns (final code, text, list of codes seen)."""
    seen = []
    for i in range(tries):
        code, text = send_once(port, sender, rcpts, data)
        seen.append(code)
        if code == 250 or 500 <= code < 600:
            return code, text, seen
        if on_retry:
            on_retry(i, code, text)
        time.sleep(delay)
    return code, text, seen


# ---------------------------------------------------------------- everything together


class Harness:
    """Sink + private Postfix + (optionally) mugai-milter under one work directory.
    Use as a context manager: everything started is stopped on exit, even on failure."""

    def __init__(self, workdir, build=None, sink_port=0):
        self.work = workdir
        self.build = build
        os.makedirs(workdir, exist_ok=True)
        self.sink = None
        self.postfix = None
        self.milter = None
        self.sink_port = sink_port
        self.milter_sock = os.path.join(workdir, "milter", "milter.sock")

    def start_sink(self):
        self.sink = Sink(os.path.join(self.work, "sink"), self.sink_port)
        return self.sink

    def start_postfix(self, milter=True, sink_port=None, **kw):
        """Start Postfix relaying to the sink (or sink_port); with the milter socket set when
        milter is true (mugai-milter need not be running: Postfix then answers 4xx). kw go
        to Postfix (chroot, main_cf, release_cf)."""
        port = sink_port or self.sink.port
        self.postfix = Postfix(os.path.join(self.work, "postfix"), port,
                               milter_socket=self.milter_sock if milter else None, **kw)
        self.postfix.start()
        return self.postfix

    @property
    def smtp_port(self):
        return self.postfix.smtp_port

    def milter_binary(self):
        return find_binary(self.build, "milter", "mugai-milter") if self.build else None

    def quarantine_binary(self):
        return find_binary(self.build, "tools", "mugai-quarantine") if self.build else None

    def make_milter(self, clamav_db_dir, workers=2, extra="", user="mugai"):
        """Write the milter's configuration (does not start it)."""
        binary = self.milter_binary()
        if not binary:
            raise RuntimeError("mugai-milter is not built under %s" % self.build)
        self.milter = Milter(binary, os.path.join(self.work, "milter"), clamav_db_dir,
                             os.path.join(self.work, "quarantine"), self.postfix.release_port,
                             workers=workers, extra=extra, user=user)
        return self.milter

    def quarantine(self, *args, timeout=120):
        """Run mugai-quarantine -c CONF ARGS: (exit code, stdout, stderr)."""
        p = subprocess.run([self.quarantine_binary(), "-c", self.milter.conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def stop(self):
        """Stop whatever runs; never raises."""
        for part in (self.milter, self.postfix, self.sink):
            if part is None:
                continue
            try:
                part.stop()
            except Exception:  # noqa: BLE001 - teardown must go on
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
