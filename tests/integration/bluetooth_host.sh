#!/bin/sh
# Issue 5: a node with a Bluetooth link on a machine whose kernel has no Bluetooth
# (this build host: socket(AF_BLUETOOTH) fails with EAFNOSUPPORT). alice has an MQTT
# link and a [bluetooth radio] link; bob has the MQTT link only. The Bluetooth link
# says why it waits in one log line and in status, and MQTT carries a message and
# its receipt regardless. Where the kernel does have Bluetooth, the script skips.
#
#   APAGON_BIN=build/apagon sh tests/integration/bluetooth_host.sh
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin bluetooth_host
daemon_setup bluetooth_host

if python3 -c 'import socket; socket.socket(31, socket.SOCK_SEQPACKET, 0)' 2>/dev/null; then
	echo "skip bluetooth_host (this kernel has Bluetooth; the VM test covers it)"
	test_end
	exit $?
fi

net_create "Blackout Office"
member_add alice
member_add bob
broker_config site1
check broker_started broker_start site1
node_links alice site1
printf '[bluetooth radio]\nadapter = hci0\n' >>alice/apagon.conf
node_links bob site1
check daemon_alice_started daemon_start alice
check daemon_bob_started daemon_start bob

check mqtt_link_connected wait_for 30 link_state alice connected 0
check bluetooth_link_waiting wait_for 30 link_state alice waiting 1
run --dir alice --json status
cp "$T/out" "$T/status.json"
bt_field() { json "$T/status.json" "d['links'][1]$1"; }
says_why() { [ "$(bt_field "['detail']")" = "this kernel has no Bluetooth support (Address family not supported by protocol)" ]; }
says_when() { [ "$(bt_field "['retry_in_ms'] > 0")" = True ]; }
jcheck status_says_why says_why
jcheck status_says_when_to_retry says_when
run --dir alice status
check plain_status_shows_waiting out_has "waiting"

check alice_meets_bob wait_for 60 session_open alice bob
send_to_bob() { run --dir alice send --to bob "$1"; [ "$rc" -eq 0 ]; }
check alice_sends wait_for 60 send_to_bob "Bluetooth is out, MQTT still carries this"
check message_reaches_bob wait_for 60 inbox_has bob "Bluetooth is out, MQTT still carries this"
check receipt_reaches_alice wait_for 60 outbox_delivered alice 1

# One line about it, however often the link retries (every 30 s: wait for a second try).
attempts() {
	"$APAGON_BIN" --dir alice --json status >"$T/st2.json" 2>/dev/null &&
	    [ "$(json "$T/st2.json" "d['links'][1]['counters']['bring_up_attempts'] >= 2")" = True ]
}
check bluetooth_retried wait_for 60 attempts
check one_log_line [ "$(grep -c 'no Bluetooth support' "$T/alice.log")" -eq 1 ]
check bt_link_still_waiting link_state alice waiting 1

for n in alice bob; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
