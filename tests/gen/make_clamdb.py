#!/usr/bin/python3
"""Write the test ClamAV signature database: DIR/mugai-test.hdb.

The database holds one hash signature, for the EICAR anti-virus test file,
so sanitize-file can be tested with a real libclamav engine without the
official databases. Usage: make_clamdb.py DIR
"""

import hashlib
import os
import sys

SIG_NAME = "Mugai.Test.EICAR"


def eicar_bytes():
    """Return the 68-byte EICAR test string, assembled from pieces so that no
    file in the repository contains it whole."""
    pieces = [
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
        "EICAR-STANDARD-",
        "ANTIVIRUS-TEST-",
        "FILE!$H+H*",
    ]
    data = "".join(pieces).encode("ascii")
    if len(data) != 68 or hashlib.md5(data).hexdigest() != "44d88612fea8a8f36de82e1278abb02f":
        raise SystemExit("make_clamdb: EICAR string assembled wrongly")
    return data


def write_db(outdir):
    """Write mugai-test.hdb into outdir; return its path."""
    os.makedirs(outdir, exist_ok=True)
    data = eicar_bytes()
    line = "%s:%d:%s\n" % (hashlib.md5(data).hexdigest(), len(data), SIG_NAME)
    path = os.path.join(outdir, "mugai-test.hdb")
    with open(path, "w", encoding="ascii") as f:
        f.write(line)
    return path


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: make_clamdb.py DIR\n")
        return 2
    write_db(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
