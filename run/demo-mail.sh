#!/usr/bin/env bash
# run/demo-mail.sh BUILD_DIR DEMO_DIR - the mail half of the demo: a private
# Postfix on loopback with mugai-milter, a sink standing in for the LGWAN mail
# server, sample Japanese mail sent over SMTP; prints what the LGWAN side got
# and the quarantine list, then stops everything. Needs root (Postfix).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: run/demo-mail.sh BUILD_DIR DEMO_DIR" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$2"
exec /usr/bin/python3 "$ROOT/tests/postfix/demo_mail.py" "$1" "$2"
