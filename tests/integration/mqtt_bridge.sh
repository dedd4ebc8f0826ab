#!/bin/sh
# Issue 3, "Must be shown" 4: two brokers joined by mosquitto's own bridge (a
# connection/address/topic block in the second broker's config, loopback only) carry
# a message and its receipt between nodes that share no broker: alice on site1,
# carol on site2.
#
#   APAGON_BIN=build/apagon sh tests/integration/mqtt_bridge.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin mqtt_bridge
daemon_setup mqtt_bridge

net_create "Bridged Sites"
for n in alice carol; do member_add "$n"; done

# site1 first, with alice on it: the bridge forwards the network's topic prefix P,
# which "apagon status" shows ("topics P/#"), as docs/mqtt.md says.
broker_config site1
check broker_site1_started broker_start site1
node_links alice site1
check daemon_alice_started daemon_start alice
check alice_connected wait_for 60 link_state alice connected
run --dir alice --json status
PREFIX=$(json "$T/out" 'd["links"][0]["detail"].split()[1].split("/")[0]')
check topic_prefix_known sh -c 'printf %s "$1" | grep -qE "^[0-9a-f]{16}$"' sh "$PREFIX"

broker_config site2
cat >>"$T/site2.conf" <<EOC

connection site1
address 127.0.0.1:$PORT_site1
topic $PREFIX/# both 0
cleansession true
EOC
check broker_site2_started broker_start site2
# Before carol announces herself, the bridge must carry both ways.
check bridge_carries_site2_to_site1 bridge_carries "$PORT_site2" "$PORT_site1" "$PREFIX/probe"
check bridge_carries_site1_to_site2 bridge_carries "$PORT_site1" "$PORT_site2" "$PREFIX/probe"

node_links carol site2
check daemon_carol_started daemon_start carol
check carol_meets_alice wait_for 60 session_open carol alice
check alice_meets_carol wait_for 60 session_open alice carol

send_to() { run --dir "$1" send --to "$2" "$3"; [ "$rc" -eq 0 ]; }
check alice_sends wait_for 60 send_to alice carol "Bridge test: convoy leaves at six"
check message_crosses_bridge wait_for 60 inbox_has carol "Bridge test: convoy leaves at six"
check receipt_crosses_back wait_for 60 outbox_delivered alice 1
check carol_answers wait_for 60 send_to carol alice "Bridge test: received, standing by"
check answer_crosses_bridge wait_for 60 inbox_has alice "Bridge test: received, standing by"
check answer_delivered wait_for 60 outbox_delivered carol 1
# Only the bridge joined them: each daemon talks to its own broker alone.
run --dir alice --json status
check alice_one_link [ "$(json "$T/out" 'len(d["links"])')" = 1 ]
check alice_on_site1 out_has "127.0.0.1:$PORT_site1"
run --dir carol --json status
check carol_on_site2 out_has "127.0.0.1:$PORT_site2"

for n in alice carol; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
