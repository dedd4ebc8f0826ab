#!/bin/sh
# Issue 3, hostile brokers: someone on the broker without the network key records the
# announcements of alice and bob (their "first", "reply" and "hello"), then publishes
# them again, verbatim, once the two have a session. Sealed announcements cannot be
# forged without the key, but they could be replayed: a replayed "first" used to tear
# down every node's session with its sender. Each announcement now carries a counter
# that only goes up; anything not newer than what was heard from its token is dropped
# and counted, and the sessions stay up.
#
#   APAGON_BIN=build/apagon sh tests/integration/mqtt_replay.sh
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
RAW="$(cd "$(dirname "$0")" && pwd)/mqtt_raw.py"
test_begin mqtt_replay
daemon_setup mqtt_replay

net_create "Replay Test"
for n in alice bob; do member_add "$n"; done
broker_config lan
check broker_started broker_start lan
for n in alice bob; do node_links "$n" lan; done

check daemon_alice_started daemon_start alice
run --dir alice --json status
PREFIX=$(json "$T/out" 'd["links"][0]["detail"].split("topics ")[1].split("/")[0]')
check topic_prefix_known [ -n "$PREFIX" ]
mkdir -p "$T/cap"
python3 "$RAW" "$PORT_lan" capture "$PREFIX/a" "$T/cap" 2>"$T/capture.err" &
PIDS="$PIDS $!"
sleep 1
check daemon_bob_started daemon_start bob
check alice_meets_bob wait_for 60 session_open alice bob
check bob_meets_alice wait_for 60 session_open bob alice
check announcements_captured sh -c 'ls "$1" | grep -q .' sh "$T/cap"

ALICE_LINES=$(wc -l <"$T/alice.log")
BOB_LINES=$(wc -l <"$T/bob.log")
python3 "$RAW" "$PORT_lan" replay "$PREFIX/a" $(ls "$T/cap"/* | grep -v '\.tmp$')
check replay_published rc_is 0
sleep 3

# stale_counted NODE: the MQTT link counted stale (replayed) announcements. (The
# capture began after alice announced herself, so only alice hears a replay from
# someone else: bob's "first".)
stale_counted() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st-$1.json" 2>/dev/null &&
	python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["links"][0]
s = l.get("stats", l.get("counters", {}))
sys.exit(0 if s.get("rejected.stale_announcement", 0) >= 1 else 1)' "$T/st-$1.json"
}
check alice_counts_stale_announcements wait_for 10 stale_counted alice
check alice_session_survives session_open alice bob
check bob_session_survives session_open bob alice
check alice_saw_no_peer_down sh -c '! tail -n +"$(($2 + 1))" "$1" | grep -q "down"' sh "$T/alice.log" "$ALICE_LINES"
check bob_saw_no_peer_down sh -c '! tail -n +"$(($2 + 1))" "$1" | grep -q "down"' sh "$T/bob.log" "$BOB_LINES"

# And still useful: a message crosses after the replay.
run --dir alice send --to bob "Still here after the replay"
check send_after_replay rc_is 0
check message_after_replay wait_for 60 inbox_has bob "Still here after the replay"

for n in alice bob; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
