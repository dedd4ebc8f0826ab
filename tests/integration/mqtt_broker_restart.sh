#!/bin/sh
# Issue 3, "Must be shown" 3: the broker is killed (kill -9) and restarted while
# traffic flows. alice sends 30 messages to bob in a loop; the broker dies after the
# tenth and comes back after the twentieth. Afterwards bob's inbox holds each of the
# 30 texts exactly once, and alice's outbox says all 30 are delivered.
#
#   APAGON_BIN=build/apagon sh tests/integration/mqtt_broker_restart.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin mqtt_broker_restart
daemon_setup mqtt_broker_restart

N=30
net_create "Broker Restart"
for n in alice bob; do member_add "$n"; done
broker_config lan
check broker_started broker_start lan
for n in alice bob; do
	node_links "$n" lan
	check "daemon_${n}_started" daemon_start "$n"
done
check sessions_open wait_for 60 session_open alice bob
send_ok() { run --dir alice send --to bob "$1"; [ "$rc" -eq 0 ]; }
check first_send_accepted wait_for 60 send_ok "Restart test warm-up"
check warm_up_delivered wait_for 60 outbox_delivered alice 1

: >"$T/sent.txt"
i=1
failed=0
while [ "$i" -le "$N" ]; do
	text="Restart test message $i of $N"
	run --dir alice send --to bob "$text"
	if [ "$rc" -eq 0 ]; then echo "$text" >>"$T/sent.txt"; else failed=$((failed + 1)); fi
	if [ "$i" -eq 10 ]; then
		broker_kill lan
		# The daemons notice while the loop keeps sending into the stores.
		wait_for 60 link_state alice waiting
	fi
	if [ "$i" -eq 20 ]; then
		check broker_restarted broker_start lan
	fi
	i=$((i + 1))
done
check all_sends_accepted [ "$failed" -eq 0 ]
echo "Restart test warm-up" >>"$T/sent.txt"
check daemons_survive sh -c 'kill -0 "$1" && kill -0 "$2"' sh "$PID_alice" "$PID_bob"
check link_reconnects wait_for 60 link_state alice connected
check all_messages_arrive wait_for 60 inbox_holds bob "$T/sent.txt"
check all_delivered wait_for 60 outbox_delivered alice $((N + 1))

# Exactly once: bob's inbox is the sent texts, each once, nothing else.
inbox_texts bob "$T/got.txt"
LC_ALL=C sort "$T/sent.txt" >"$T/want.txt"
check inbox_exactly_once cmp -s "$T/want.txt" "$T/got.txt"
check inbox_count [ "$(wc -l <"$T/got.txt")" -eq $((N + 1)) ]
[ -s "$T/got.txt" ] && ! cmp -s "$T/want.txt" "$T/got.txt" && diff "$T/want.txt" "$T/got.txt" >&2

for n in alice bob; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
