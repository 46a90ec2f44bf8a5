#!/usr/bin/python3
"""A real quarantine store and a real mugai-web on loopback, for the review
console's API tests, its browser tests and its benchmark.

    with WebHarness(workdir, build, web={"lockout_failures": 3}) as h:
        h.add_user("alice", "admin", "a long password 1")
        ids = h.put_messages({"a.eml": EML})       # through sanitize-file, the real path
        h.start()                                  # mugai-web -f on a free port
        c = h.client(); c.login("alice", "a long password 1")
        r = c.get("messages?q=invoice")            # /api/v1/ is implied
        assert r.status == 200 and r.json["total"] == 1

Messages enter the store the way mail does: sanitize-file, configured with the
store, sanitizes .eml files and quarantines their originals. Releases go to a
QueueSink, an SMTP server on 127.0.0.1 answering the message data with
"250 2.0.0 Ok: queued as <random id>" as Postfix does, and keeping what
arrived. Everything started here is stopped on exit.

Standard library only (used from /usr/bin/python3).
"""

import http.client
import json
import os
import re
import secrets
import socket
import socketserver
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gen"))  # make_clamdb, for the tests' viruses

API = "/api/v1/"


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


def find_binary(build, sub, name):
    """BUILD/SUB/NAME, or exit with a message naming what is missing."""
    path = os.path.join(build, sub, name)
    if not os.access(path, os.X_OK):
        raise SystemExit("webharness: %s not built" % path)
    return path


def eml(subject, sender="sender@example.com", to="somu@city.example.lg.jp", body="本文です。",
        attachments=(), message_id=None, date=None):
    """A small MIME message (bytes): a UTF-8 text body and attachments given as
    (filename, content type, bytes); subject and filename RFC 2047/2231-encoded
    when not ASCII."""
    import email.message
    import email.policy
    import email.utils
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = date or email.utils.formatdate(localtime=False)
    m["Message-ID"] = message_id or "<%s@example.com>" % secrets.token_hex(8)
    m.set_content(body)
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def encrypted_zip(workdir, password, name="見積.txt", text="見積金額 100 円\n"):
    """A WinZip AES zip of one text file (bytes), as a sender makes one (bsdtar, from
    libarchive-tools): the engine holds it for its password."""
    import tempfile
    d = tempfile.mkdtemp(prefix="zip-", dir=workdir)
    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
        f.write(text)
    subprocess.run(["bsdtar", "--format", "zip", "--options", "zip:encryption=aes256",
                    "--passphrase", password, "-cf", "a.zip", name], cwd=d, check=True,
                   env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8"))
    with open(os.path.join(d, "a.zip"), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- the release listener


class _SinkHandler(socketserver.StreamRequestHandler):
    """One SMTP session: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, text):
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self):
        sink = self.server.sink
        self.reply("220 release-listener.invalid ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb == "EHLO":
                self.reply("250-release-listener.invalid\r\n250-8BITMIME\r\n250 SMTPUTF8")
            elif verb == "HELO":
                self.reply("250 release-listener.invalid")
            elif verb == "MAIL":
                sender, rcpts = _addr(cmd), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(_addr(cmd))
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if sender is None or not rcpts:
                    self.reply("503 5.5.1 Error: need MAIL and RCPT")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = self.read_data()
                if data is None:
                    return
                self.reply(sink.accept(sender, rcpts, data))
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")

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


class QueueSink:
    """The release listener: an SMTP server on 127.0.0.1 that queues every message
    with a new random queue id (or rejects the data with reject, e.g.
    "554 5.7.1 Error: rejected by policy") and keeps [(queue id, sender, rcpts, bytes)]."""

    def __init__(self, port=0, reject=None):
        self.reject = reject
        self.lock = threading.Lock()
        self.received = []
        self.server = _Server(("127.0.0.1", port), _SinkHandler)
        self.server.sink = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accept(self, sender, rcpts, data):
        """Keep one message; the reply to its data."""
        if self.reject:
            return self.reject
        qid = secrets.token_hex(5).upper()
        with self.lock:
            self.received.append((qid, sender, list(rcpts), data))
        return "250 2.0.0 Ok: queued as %s" % qid

    def messages(self):
        with self.lock:
            return list(self.received)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- HTTP


class Response:
    """One answer: status, headers (case-insensitive .get/.get_all), body bytes, .json."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise AssertionError("not JSON (HTTP %d): %r" % (self.status, self.body[:300]))

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:300])


class Client:
    """A console user's browser, reduced to HTTP: keeps the session cookie and the
    CSRF token from login; sends X-CSRF-Token on POSTs unless told otherwise."""

    def __init__(self, port, host="127.0.0.1", tls_ca=None):
        self.host, self.port = host, port
        self.tls_ca = tls_ca  # HTTPS, trusting this certificate file
        self.cookie = None  # "name=value" of the session cookie
        self.csrf = None
        self.set_cookie = None  # the last Set-Cookie header received

    def request(self, method, path, body=None, headers=None, csrf=True, cookie=True):
        """Send one request; path is relative to /api/v1/ unless it starts with "/".
        body: a dict/list (sent as JSON), bytes or str (sent as is), or None."""
        url = path if path.startswith("/") else API + path
        hdrs = {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        if cookie and self.cookie:
            hdrs["Cookie"] = self.cookie
        if csrf and method == "POST" and self.csrf:
            hdrs["X-CSRF-Token"] = self.csrf
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        if self.tls_ca:
            import ssl
            ctx = ssl.create_default_context(cafile=self.tls_ca)
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=60, context=ctx)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, url, body=body, headers=hdrs)
            resp = conn.getresponse()
            r = Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()
        self._take_cookie(r)
        return r

    def _take_cookie(self, r):
        """Remember (or forget, when cleared) the session cookie a response sets."""
        for sc in r.headers.get_all("Set-Cookie") or []:
            self.set_cookie = sc
            pair = sc.split(";", 1)[0].strip()
            name, _, value = pair.partition("=")
            if "session" not in name:
                continue
            cleared = value == "" or re.search(r"(?i)max-age=0\b|expires=thu, 01 jan 1970", sc)
            self.cookie = None if cleared else pair

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def login(self, user, password, **kw):
        """POST login; on 200 keeps the cookie and the CSRF token."""
        r = self.request("POST", "login", {"user": user, "password": password}, csrf=False, **kw)
        if r.status == 200:
            self.csrf = r.json["csrf"]
        return r


# ---------------------------------------------------------------- the store and the daemon


class WebHarness:
    """A work directory with a configuration, a store, optional release sink, and
    mugai-web. web and quarantine: extra [web]/[quarantine] parameters."""

    def __init__(self, workdir, build, web=None, quarantine=None, sink=True):
        self.dir = os.path.abspath(workdir)
        self.build = os.path.abspath(build)
        os.makedirs(self.dir, exist_ok=True)
        self.web_bin = find_binary(self.build, "web", "mugai-web")
        self.sf_bin = find_binary(self.build, "tools", "sanitize-file")
        self.mq_bin = find_binary(self.build, "tools", "mugai-quarantine")
        self.store = os.path.join(self.dir, "quarantine")
        self.db = os.path.join(self.store, "index.sqlite")
        self.log = os.path.join(self.dir, "mugai-web.log")
        self.sink = QueueSink() if sink else None
        self.port = free_port()
        self.proc = None
        self.batches = 0
        # started as root, mugai-web must become an unprivileged user that owns the store
        self.run_as = os.environ.get("MUGAI_WEB_USER", "mugai") if os.geteuid() == 0 else ""
        _write_clamdb(os.path.join(self.dir, "clamav"))
        self.conf = os.path.join(self.dir, "mugai.conf")
        self.write_conf(web or {}, quarantine or {})

    def write_conf(self, web, quarantine, path=None):
        """Write the configuration (to path, default self.conf); returns its path."""
        q = {"dir": self.store, "release_host": "127.0.0.1",
             "release_port": self.sink.port if self.sink else free_port()}
        q.update(quarantine)
        w = {"listen": "127.0.0.1:%d" % self.port, "user": self.run_as}
        w.update(web)
        text = "[general]\naudit_log = %s\n\n[scan]\nclamav_db_dir = %s\n\n" % (
            os.path.join(self.dir, "audit.jsonl"), os.path.join(self.dir, "clamav"))
        text += "[quarantine]\n" + "".join("%s = %s\n" % kv for kv in q.items())
        text += "\n[web]\n" + "".join("%s = %s\n" % kv for kv in w.items())
        path = path or self.conf
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    # -- accounts and messages

    def user(self, *args, password=None, conf=None):
        """Run mugai-web [-c conf] user ARGS..., the password (if any) on stdin.
        Returns the CompletedProcess (text)."""
        inp = (password + "\n") if password is not None else ""
        return subprocess.run([self.web_bin, "-c", conf or self.conf, "user"] + list(args),
                              input=inp, capture_output=True, text=True, timeout=60)

    def add_user(self, name, role, password):
        """mugai-web user add NAME --role ROLE; raises when it fails."""
        r = self.user("add", name, "--role", role, password=password)
        if r.returncode != 0:
            raise RuntimeError("mugai-web user add %s: exit %d: %s"
                               % (name, r.returncode, r.stderr.strip()))

    def put_messages(self, files):
        """Sanitize {name.eml: bytes} with sanitize-file configured with the store, as
        IT staff do; returns {name: quarantine id}. The originals are quarantined."""
        self.batches += 1
        src = os.path.join(self.dir, "in-%d" % self.batches)
        out = os.path.join(self.dir, "out-%d" % self.batches)
        os.makedirs(src)
        for name, data in files.items():
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        r = subprocess.run([self.sf_bin, "-c", self.conf, "--json", "--no-progress", "-o", out,
                            src], capture_output=True, timeout=600)
        if r.returncode not in (0, 1):
            raise RuntimeError("sanitize-file exit %d: %s"
                               % (r.returncode, r.stderr.decode(errors="replace")[-2000:]))
        return {os.path.basename(res["input"]): res["quarantine_id"]
                for res in _results(json.loads(r.stdout)) if res.get("quarantine_id")}

    def quarantine(self, *args):
        """Run mugai-quarantine -c CONF ARGS...; returns the CompletedProcess (text)."""
        return subprocess.run([self.mq_bin, "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=120)

    # -- the daemon

    def start(self, conf=None, port=None, timeout=30):
        """Start mugai-web -f (stderr to self.log) and wait until it accepts connections.
        Returns the Popen; with conf/port, a second daemon (the caller stops it)."""
        port = port or self.port
        self.give_store()
        logf = open(self.log, "ab")
        proc = subprocess.Popen([self.web_bin, "-c", conf or self.conf, "-f"],
                                stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        if not wait_until(lambda: proc.poll() is not None or port_open(port), timeout):
            proc.kill()
            raise RuntimeError("mugai-web did not listen on %d:\n%s" % (port, self.tail_log()))
        if proc.poll() is not None:
            raise RuntimeError("mugai-web exited %d:\n%s" % (proc.returncode, self.tail_log()))
        if conf is None:
            self.proc = proc
        return proc

    def give_store(self):
        """Make the store the daemon's user's and reachable for it (mkdtemp makes 0700); the
        user subcommands and sanitize-file ran as root."""
        if not self.run_as:
            return
        os.makedirs(self.store, exist_ok=True)
        subprocess.run(["chown", "-R", "%s:%s" % (self.run_as, self.run_as), self.store],
                       check=True)
        path = self.store
        while path != "/":
            mode = os.stat(path).st_mode
            if mode & 0o001 == 0:
                os.chmod(path, (mode & 0o7777) | 0o011)
            path = os.path.dirname(path)

    def stop(self, proc=None):
        """Stop mugai-web (SIGTERM, then SIGKILL after 10 s); its exit status."""
        proc = proc or self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.terminate()
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def client(self, port=None, tls_ca=None):
        return Client(port or self.port, tls_ca=tls_ca)

    def tail_log(self, n=40):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def close(self):
        self.stop()
        if self.sink:
            self.sink.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _write_clamdb(directory):
    """The test signature database (EICAR by hash), as tests/gen/make_clamdb.py writes it."""
    subprocess.run([sys.executable, os.path.join(HERE, "..", "gen", "make_clamdb.py"), directory],
                   check=True, stdout=subprocess.DEVNULL)


def _results(report):
    """The per-input results of a sanitize-file --json report."""
    if isinstance(report, list):
        return report
    for key in ("results", "inputs", "files"):
        if isinstance(report.get(key), list):
            return report[key]
    return []


def _serve_sink(argv):
    """webharness.py sink --dir DIR [--port N] [--port-file FILE]: run a QueueSink until
    SIGTERM, keeping each message as DIR/QUEUEID.eml (the demo's stand-in release listener)."""
    import argparse
    import signal
    ap = argparse.ArgumentParser(prog="webharness.py sink")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args(argv)
    os.makedirs(a.dir, exist_ok=True)

    class Keeping(QueueSink):
        def accept(self, sender, rcpts, data):
            reply = QueueSink.accept(self, sender, rcpts, data)
            qid = reply.rsplit(" ", 1)[-1]
            with open(os.path.join(a.dir, qid + ".eml"), "wb") as f:
                f.write(data)
            return reply

    sink = Keeping(a.port)
    if a.port_file:
        with open(a.port_file, "w") as f:
            f.write("%d\n" % sink.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    finally:
        sink.stop()


if __name__ == "__main__":
    if sys.argv[1:2] != ["sink"]:
        sys.exit("usage: webharness.py sink --dir DIR [--port N] [--port-file FILE]")
    _serve_sink(sys.argv[2:])
