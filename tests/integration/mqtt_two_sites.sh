#!/bin/sh
# Issue 3, "Must be shown" 1: three nodes, two sites. alice and bob share broker
# site1; bob and carol share broker site2, so bob has two [mqtt ...] sections and
# relays. A message from alice reaches carol through bob, and the receipt comes back
# the same way: alice's outbox says delivered.
#
#   APAGON_BIN=build/apagon sh tests/integration/mqtt_two_sites.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin mqtt_two_sites
daemon_setup mqtt_two_sites

net_create "Two Sites"
for n in alice bob carol; do member_add "$n"; done

broker_config site1
broker_config site2
check broker_site1_started broker_start site1
check broker_site2_started broker_start site2
node_links alice site1
node_links bob site1 site2
node_links carol site2
for n in alice bob carol; do check "daemon_${n}_started" daemon_start "$n"; done

check bob_two_links_connected wait_for 60 sh -c '
	"$1" --dir bob --json status >"$2" 2>/dev/null &&
	python3 -c "import json,sys; l=json.load(open(sys.argv[1]))[\"links\"]; sys.exit(0 if len(l) == 2 and all(x[\"state\"] == \"connected\" for x in l) else 1)" "$2"' \
    sh "$APAGON_BIN" "$T/st.json"
check alice_meets_bob wait_for 60 session_open alice bob
check carol_meets_bob wait_for 60 session_open carol bob
# alice and carol share no broker: neither may see the other as a peer.
run --dir alice --json peers
check alice_has_no_carol_session sh -c '! grep -q "\"member\":\"carol\"" "$1"' sh "$T/out"

# carol's certificate and prekey reach alice only through bob; until then a send is
# refused (no prekey), so try until it is accepted.
send_to_carol() { run --dir alice send --to carol "$1"; [ "$rc" -eq 0 ]; }
check alice_sends_to_carol wait_for 60 send_to_carol "Water at the east depot, site two"
check send_went_through_daemon out_has "The daemon carries it"
check message_reaches_carol wait_for 60 inbox_has carol "Water at the east depot, site two"
check receipt_reaches_alice wait_for 60 outbox_delivered alice 1
run --dir alice outbox
check outbox_text_says_delivered out_has "[delivered]"
# bob relays: it holds the bundle but cannot read it, and has no message of its own.
inbox_texts bob "$T/bob.txt"
check bob_inbox_empty [ ! -s "$T/bob.txt" ]

# And back: carol answers alice through bob.
send_to_alice() { run --dir carol send --to alice "$1"; [ "$rc" -eq 0 ]; }
check carol_answers wait_for 60 send_to_alice "Understood, sending a truck"
check answer_reaches_alice wait_for 60 inbox_has alice "Understood, sending a truck"
check answer_delivered wait_for 60 outbox_delivered carol 1

for n in alice bob carol; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
