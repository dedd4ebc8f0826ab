#!/bin/sh
# Issue 3, "Must be shown" 5: crash safety. alice and bob send to each other in two
# loops while their daemons are killed with kill -9, one after the other, 15 times
# over, during sends and during the syncs that follow each restart. A send the CLI
# reported as done was accepted (by the daemon, or by the CLI itself on the directory
# while no daemon ran). Afterwards the restarted daemons converge:
#   - every accepted message is in the recipient's inbox (no message lost),
#   - no text is in an inbox twice (no duplicates),
#   - every outbox shows all its messages delivered,
#   - SQLite's integrity_check prints ok for every node.
#
#   APAGON_BIN=build/apagon sh tests/integration/crash_safety.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin crash_safety
daemon_setup crash_safety
command -v sqlite3 >/dev/null || { echo "skip crash_safety (no sqlite3)"; test_end; exit $?; }

ROUNDS=15
net_create "Crash Safety"
for n in alice bob; do member_add "$n"; done
broker_config lan
check broker_started broker_start lan
for n in alice bob; do
	node_links "$n" lan
	check "daemon_${n}_started" daemon_start "$n"
done
check sessions_open wait_for 60 session_open alice bob
# Prekeys have crossed once the first message is accepted.
send_ok() { run --dir "$1" send --to "$2" "$3"; [ "$rc" -eq 0 ]; }
check alice_can_send wait_for 60 send_ok alice bob "Crash test warm-up from alice"
check bob_can_send wait_for 60 send_ok bob alice "Crash test warm-up from bob"
echo "Crash test warm-up from alice" >"$T/alice.sent"
echo "Crash test warm-up from bob" >"$T/bob.sent"

# sender FROM TO: send numbered messages until $T/stop exists; the accepted texts go to
# $T/FROM.sent, one a line, as soon as the CLI says so.
sender() {
	i=1
	while [ ! -e "$T/stop" ]; do
		text="Crash test $1 to $2 number $i"
		if "$APAGON_BIN" --dir "$1" send --to "$2" "$text" >/dev/null 2>>"$T/$1.senderr" \
		    </dev/null; then
			echo "$text" >>"$T/$1.sent"
		fi
		i=$((i + 1))
	done
}
sender alice bob &
PIDS="$PIDS $!"
SENDER_alice=$!
sender bob alice &
PIDS="$PIDS $!"
SENDER_bob=$!

lines() { wc -l <"$1"; }
# grown FILE N: FILE has more than N lines.
grown() { [ "$(lines "$1")" -gt "$2" ]; }
# A pause of 0 to 0.5 s, so the kills land at varied points of sends and syncs.
jitter() { sleep "0.$(od -An -N1 -tu1 /dev/urandom | awk '{ printf "%d", $1 % 5 }')"; }

restarts=0
r=1
while [ "$r" -le "$ROUNDS" ]; do
	if [ $((r % 2)) -eq 1 ]; then v=alice; else v=bob; fi
	# Let some traffic through first: a new accepted send from each side.
	na=$(lines "$T/alice.sent")
	nb=$(lines "$T/bob.sent")
	wait_for 60 grown "$T/alice.sent" "$na"
	wait_for 60 grown "$T/bob.sent" "$nb"
	jitter
	daemon_stop "$v" 9
	# Some rounds the other dies too, before the first is back.
	if [ $((r % 4)) -eq 0 ]; then
		if [ "$v" = alice ]; then o=bob; else o=alice; fi
		jitter
		daemon_stop "$o" 9
		daemon_start "$o" && restarts=$((restarts + 1))
	fi
	daemon_start "$v" && restarts=$((restarts + 1))
	r=$((r + 1))
done
check every_restart_served [ "$restarts" -eq $((ROUNDS + ROUNDS / 4)) ]
: >"$T/stop"
wait "$SENDER_alice"
wait "$SENDER_bob"
echo "accepted: alice $(lines "$T/alice.sent"), bob $(lines "$T/bob.sent")" >&2
check sends_were_accepted sh -c '[ "$(wc -l <"$1")" -gt 10 ] && [ "$(wc -l <"$2")" -gt 10 ]' \
    sh "$T/alice.sent" "$T/bob.sent"
check daemons_alive sh -c 'kill -0 "$1" && kill -0 "$2"' sh "$PID_alice" "$PID_bob"

check no_loss_alice_to_bob wait_for 60 inbox_holds bob "$T/alice.sent"
check no_loss_bob_to_alice wait_for 60 inbox_holds alice "$T/bob.sent"
check alice_outbox_all_delivered wait_for 60 outbox_delivered alice "$(lines "$T/alice.sent")"
check bob_outbox_all_delivered wait_for 60 outbox_delivered bob "$(lines "$T/bob.sent")"
for n in alice bob; do
	inbox_texts "$n" "$T/$n.inbox"
	uniq -d "$T/$n.inbox" >"$T/$n.dups"
	check "no_duplicates_at_$n" [ ! -s "$T/$n.dups" ]
	[ -s "$T/$n.dups" ] && sed 's/^/duplicate: /' "$T/$n.dups" >&2
done

for n in alice bob; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
	# sqlite3 would create a missing file and call it ok: insist on the node's own.
	if [ -s "$n/apagon.db" ]; then
		sqlite3 "$n/apagon.db" 'PRAGMA integrity_check' >"$T/out" 2>"$T/err"
		rc=$?
	else
		echo "no $n/apagon.db" >"$T/err"
		rc=1
	fi
	check "integrity_check_$n" sh -c '[ "$1" -eq 0 ] && [ "$(cat "$2")" = ok ]' sh "$rc" "$T/out"
done
test_end
