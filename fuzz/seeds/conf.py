#!/usr/bin/python3
"""Seeds of the conf harness: conf.py OUTDIR

The sample configuration conf/mugai.conf (generated from the parameter table),
the same with every parameter set to its default, one with changed values,
and files each rejected for one reason: unknown section or key, a number out
of range, a bad boolean or choice, a relative program path, broken INI
syntax, a key outside any section, invalid UTF-8.
"""

import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "conf", "mugai.conf")


def seeds():
    """The seed files' texts."""
    with open(SAMPLE, "rb") as f:
        sample = f.read()
    active = re.sub(rb"(?m)^#([a-z_]+ = )", rb"\1", sample)
    changed = (b"# changed values\n[general]\nlog_level = debug\nmax_input_mb = 4096\n"
               b"render_path = /usr/libexec/mugai/mugai-render\n"
               b"[render]\npdf_dpi=50\nmax_pages = 1\nimage_output = png\njpeg_quality = 100\n"
               b"charsets = UTF-8, CP932 ,KOI8-R\n"
               b"[jail]\nseccomp = off\nnetwork_namespace = no\nmemory_mb = 65536\n"
               b"[scan]\nrequired = 0\n[mail]\nalternative = html\nsubject_tag = [\\u7121\\s]\n")
    return [
        sample,
        active,
        changed,
        b"[general]\nlog_level = info\n[nosuch]\nkey = 1\n",
        b"[render]\npdf_dpi = 49\n",
        b"[render]\nmax_pages = 18446744073709551617\n",
        b"[jail]\nseccomp = maybe\n",
        b"[render]\nimage_output = gif\n",
        b"[general]\nsoffice_path = bin/soffice\n",
        b"[general\nlog_level = info\n",
        b"log_level = info\n[general]\n",
        b"[general]\naudit_log = /var/log/\xff\xfe.json\n",
        b"[general]\nlog_level = info\nlog_level = debug\nunknown_key = x\n",
    ]


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: conf.py OUTDIR\n")
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for data in seeds():
        with open(os.path.join(argv[1], hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
