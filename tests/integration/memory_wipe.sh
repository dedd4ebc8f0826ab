#!/bin/sh
# Plaintext does not linger in the daemons' memory, nor in a watcher's that keeps
# running (docs/threat-model.md, "Wipe secrets"). alice sends bob a message through
# her control socket; bob's watchers hear it, and both outbox and inbox show it. Once
# that traffic is over, every readable, writable mapping of both daemons and of the
# running watcher (heap, stack, anonymous memory) is read through /proc/PID/mem and
# searched for the message's text: it must not be there.
# The text passes through JSON requests and events, control buffers, the sealing
# and opening code and the SQLite page cache (which holds it sealed only).
#
#   APAGON_BIN=build/apagon sh tests/integration/memory_wipe.sh
#
# Every process started here is killed on exit. Only 127.0.0.1 is used.
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin memory_wipe
daemon_setup memory_wipe

run admin --dir hq init --network "Wipe Test" --no-passphrase
for who in alice bob; do member_add "$who"; done
broker_config lan
check broker_started broker_start lan
for who in alice bob; do node_links "$who" lan; done
daemon_start alice
daemon_start bob
check session_alice_bob wait_for 20 session_open alice bob

# A text that appears nowhere else: 24 random hex digits after a fixed word.
MARK="wipecheck$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
"$APAGON_BIN" --dir bob --json watch >"$T/watch.txt" 2>/dev/null &
WATCH=$!
PIDS="$PIDS $WATCH"
# A second watcher, printing for a person, stays running: what it printed must not
# stay in its memory either (it reads events for hours in an operations room).
"$APAGON_BIN" --dir bob watch >"$T/watch2.txt" 2>/dev/null &
WATCH2=$!
PIDS="$PIDS $WATCH2"
sleep 1
check sent "$APAGON_BIN" --dir alice send --to bob "Meet at the east stairwell, $MARK"
check watcher_heard_it wait_for 20 grep -qF "$MARK" "$T/watch.txt"
check second_watcher_printed_it wait_for 20 grep -qF "$MARK" "$T/watch2.txt"
check inbox_shows_it wait_for 20 inbox_has bob "$MARK"
check outbox_shows_it sh -c "'$APAGON_BIN' --dir alice --json outbox | grep -qF '$MARK'"
check delivered wait_for 20 delivered alice
kill "$WATCH" 2>/dev/null
sleep 1

# count PID: occurrences of the text in the process's writable memory.
count() {
	python3 - "$1" "$MARK" <<'EOP'
import sys
pid, mark = sys.argv[1], sys.argv[2].encode()
CHUNK = 16 << 20
n = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        f = line.split()
        if len(f) < 2 or not f[1].startswith("rw"):
            continue
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        if hi - lo > (4 << 30):
            continue        # a sanitizer's shadow memory, not the daemon's own
        at = lo
        while at < hi:
            try:
                mem.seek(at)
                buf = mem.read(min(CHUNK + len(mark) - 1, hi - at))
            except (OSError, ValueError, OverflowError):
                break
            n += buf.count(mark)
            at += CHUNK
print(n)
EOP
}
a=$(count "$PID_alice")
b=$(count "$PID_bob")
w=$(count "$WATCH2")
echo "# copies of the text in memory: alice's daemon $a, bob's daemon $b, bob's running watcher $w"
check alice_daemon_holds_no_plaintext [ "$a" = 0 ]
check bob_daemon_holds_no_plaintext [ "$b" = 0 ]
check running_watcher_holds_no_plaintext [ "$w" = 0 ]
check watcher_alive kill -0 "$WATCH2"
check daemons_alive sh -c 'kill -0 "$1" && kill -0 "$2"' sh "$PID_alice" "$PID_bob"
test_end
