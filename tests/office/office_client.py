"""The client side of mugai-office's messages (render/office.h), for the tests and the
benchmark: start a service on one end of a socket pair, send it documents."""
import os
import socket
import struct
import subprocess

MAGIC = 0x4F46474D
CONVERT, DONE = 1, 2
REQ = struct.Struct("<IIIII12s")
SHEETS = 1
REP = struct.Struct("<IIIIiI200s")
RESULTS = ["ok", "load_failed", "save_failed", "timeout", "crashed", "setup", "refused"]


class Service:
    """A mugai-office serving one socket (--fd), started with the configuration conf."""

    def __init__(self, program, conf=None, env=None):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        args = [program, "--fd", str(theirs.fileno())]
        if conf:
            args += ["--config", conf]
        self.proc = subprocess.Popen(args, pass_fds=[theirs.fileno()], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        theirs.close()
        self.seq = 0

    def convert(self, path, out_path, timeout=60.0, ext=None, sheets_path=None):
        """Convert path to PDF into out_path (and, given sheets_path, its sheets' stream
        there); (result name, wait status, reason)."""
        self.seq += 1
        ext = ext or os.path.splitext(path)[1].lstrip(".")
        fds = [os.open(path, os.O_RDONLY),
               os.open(out_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)]
        if sheets_path:
            fds.append(os.open(sheets_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600))
        try:
            req = REQ.pack(MAGIC, CONVERT, self.seq, int(timeout * 1000),
                           SHEETS if sheets_path else 0, ext.encode())
            socket.send_fds(self.sock, [req], fds)
        finally:
            for fd in fds:
                os.close(fd)
        self.sock.settimeout(timeout + 120)
        data = self.sock.recv(REP.size + 16)
        if not data:
            return ("gone", -1, "the service closed its socket")
        magic, typ, seq, result, status, _cpu, why = REP.unpack(data)
        assert (magic, typ, seq) == (MAGIC, DONE, self.seq), (magic, typ, seq)
        return (RESULTS[result], status, why.split(b"\0")[0].decode())

    def close(self):
        self.sock.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read().decode(errors="replace")
