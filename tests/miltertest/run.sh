#!/bin/sh
# Run one miltertest script against a freshly started mugai-milter.
# Usage: run.sh BUILD_DIR SOURCE_DIR SCRIPT.lua [normal|tag|busy]
# busy: the only worker is held by a job connection that sends nothing, and
# queue_wait is 1 s; tag: [mail] subject_tag is set.
set -eu
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd) script=$3 mode=${4:-normal}
tmp=$(mktemp -d /tmp/mugai-mt.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "${MT_KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM
/usr/bin/python3 "$src/tests/gen/make_clamdb.py" "$tmp/clamdb" >/dev/null
# Started as root it runs as [milter] user = mugai: what it reads and writes is that user's.
cp "$build/render/mugai-render" "$tmp/mugai-render"
workers=1 wait=30
if [ "$mode" = busy ]; then wait=1; fi
cat > "$tmp/mugai.conf" <<CONF
[general]
log_level = info
render_path = $tmp/mugai-render
[scan]
clamav_db_dir = $tmp/clamdb
[quarantine]
dir = $tmp/quarantine
[milter]
socket = unix:$tmp/milter.sock
pid_file = $tmp/milter.pid
spool_dir = $tmp/spool
workers = $workers
queue_wait = $wait
job_timeout = 60
user = mugai
CONF
if [ "$mode" = tag ]; then printf "[mail]\nsubject_tag = [SAN]\n" >> "$tmp/mugai.conf"; export MUGAI_TAG=1; fi
chown -R mugai:mugai "$tmp"
chmod 0755 "$tmp"
"$build/milter/mugai-milter" -c "$tmp/mugai.conf" -f 2> "$tmp/milter.log" &
pid=$!
i=0
while [ ! -S "$tmp/milter.sock" ] || [ ! -S "$tmp/spool/pool.sock" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then echo "mugai-milter did not start"; cat "$tmp/milter.log"; exit 1; fi
    sleep 0.1
done
if [ "$mode" = busy ]; then
    # occupy the only worker with a job connection that never sends its job
    /usr/bin/python3 -c "
import socket,time,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(5)" "$tmp/spool/pool.sock" &
    sleep 0.5
fi
rc=0
MUGAI_SOCK="unix:$tmp/milter.sock" MUGAI_TMP="$tmp" miltertest ${MT_VERBOSE:-} -s "$src/tests/miltertest/$script" || rc=$?
if [ $rc -ne 0 ]; then cat "$tmp/milter.log"; fi
# spool files are kept empty for the next message while the milter runs, removed at exit
left=$(find "$tmp/spool" -name 'msg-*' -size +0 | wc -l)
if [ "$left" != 0 ]; then echo "spool files left holding data: $left"; rc=1; fi
kill -TERM "$pid"
wait "$pid" || { echo "mugai-milter exited $? after SIGTERM"; rc=1; }
pid=
left=$(find "$tmp/spool" -name 'msg-*' | wc -l)
if [ "$left" != 0 ]; then echo "spool files left after exit: $left"; rc=1; fi
exit $rc
