#!/bin/sh
# Issue 6: a drill with Bluetooth links, played on Linux's real Bluetooth stack. This
# host's kernel has no AF_BLUETOOTH (apagon-drill refuses such a drill here: drill.sh),
# so the test boots the Bluetooth test VM (Debian's kernel under QEMU TCG) with an
# initramfs holding apagon-drill, apagond, apagon, mosquitto and BlueZ's btvirt
# (tests/bluetooth/build_vm.sh BUILD EXTRA drill). Inside, tests/bluetooth/
# drill_init.sh makes two virtual controllers and runs `apagon-drill run` on
# docs/drills/bluetooth.drill: desk on the office broker, liaison on the broker and
# hci0, field on hci1 only; field's daemon is killed and restarted mid-drill. The VM
# prints metrics.json, report.md, messages.csv and the daemons' logs; every check
# below reads them here. Nothing in them is made on this host.
#
#   APAGON_BIN=build/apagon sh tests/integration/bluetooth_drill.sh
#
# The kernel and BlueZ packages are fetched once (BUILD/bt-cache). Without qemu,
# mosquitto, the packages or a mirror, the script says "skip" with the reason.
set -u

. "$(dirname "$0")/../lib/check.sh"
test_begin bluetooth_drill
BUILD_DIR=$(dirname "$APAGON_BIN")
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SCENARIO=$TOP/docs/drills/bluetooth.drill

skip_all() { echo "skip bluetooth_drill ($1)"; test_end; exit $?; }

for b in apagond apagon-drill; do
	[ -x "$BUILD_DIR/$b" ] || skip_all "needs $BUILD_DIR/$b"
done
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    skip_all "needs qemu-system-x86_64: make deps installs qemu-system-x86"
command -v python3 >/dev/null 2>&1 || skip_all "needs python3 to read metrics.json"

# ---- on this host: the scenario parses; a node of a site without a broker needs a radio ----
run_drill() { "$BUILD_DIR/apagon-drill" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
run_drill check "$SCENARIO"
check scenario_parses rc_is 0
check scenario_shows_adapters out_has "liaison on hci0, field on hci1"
printf '[drill]\nduration = 10s\n[site a]\nbroker = no\n[node x]\nsite = a\nbluetooth = hci0\n[node y]\nsite = a\n' >"$T/nolink.drill"
run_drill check "$T/nolink.drill"
check node_without_link_refused rc_is 1
check node_without_link_names_line err_has "$T/nolink.drill:8: node y has no link"
if ! python3 -c 'import socket; socket.socket(socket.AF_BLUETOOTH, socket.SOCK_SEQPACKET, 0)' 2>/dev/null; then
	run_drill run "$SCENARIO" --out "$T/here"
	check refused_on_this_host err_has "this drill has Bluetooth links, but this machine has no Bluetooth"
fi

# ---- the VM ----
mkdir -p "$T/extra/drill"
cp "$SCENARIO" "$T/extra/drill/"
sh "$TOP/tests/bluetooth/build_vm.sh" "$(cd "$BUILD_DIR" && pwd)" "$T/extra" drill \
    >"$T/build.log" 2>&1
brc=$?
[ "$brc" -eq 2 ] && skip_all "$(tail -n 1 "$T/build.log")"
check vm_built [ "$brc" -eq 0 ]
[ "$brc" -eq 0 ] || { cat "$T/build.log" >&2; test_end; exit 1; }

start=$(date +%s)
timeout 600 qemu-system-x86_64 -accel tcg -smp 1 -m 768 -nographic -no-reboot \
    -kernel "$BUILD_DIR/bt-vm/vmlinux" -initrd "$BUILD_DIR/bt-vm-drill/initramfs.gz" \
    -append "console=ttyS0 quiet panic=-1" </dev/null >"$T/console.log" 2>&1
qrc=$?
echo "info: VM run took $(($(date +%s) - start)) s (qemu exit $qrc)"
cp "$T/console.log" "$BUILD_DIR/bt-vm-drill/console.log" 2>/dev/null

# The files the VM printed, each between BEGIN-FILE and END-FILE, lines prefixed "|".
C=$T/console.txt
tr -d '\r' <"$T/console.log" >"$C"
mkdir -p "$T/vm/run"
awk -v dir="$T/vm" '
	/^BEGIN-FILE / { f = dir "/" $2; printf "" >f; next }
	/^END-FILE / { close(f); f = ""; next }
	f != "" && /^\|/ { print substr($0, 2) >>f }' "$C"
grep '^INFO ' "$C" | sed 's/^INFO /info: /'
check vm_ran_to_the_end grep -q '^VM-DONE' "$C"
check drill_exit_0 grep -q '^INFO drill exit 0 ' "$C"
check drill_not_refused sh -c '! grep -q "has no Bluetooth" "$1"' sh "$T/vm/drill.out"
M=$T/vm/metrics.json
check metrics_from_vm [ -s "$M" ]
check report_from_vm grep -q "^| field | bluetooth bt | [1-9]" "$T/vm/report.md"
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	    "$M" "$1" 2>/dev/null
}
# csv_count EXPR: messages of messages.csv (rows as dicts) for which EXPR holds.
csv_count() {
	python3 -c 'import csv,sys
print(sum(1 for m in csv.DictReader(open(sys.argv[1])) if eval(sys.argv[2])))' \
	    "$T/vm/messages.csv" "$1" 2>/dev/null
}
node() { echo "[n for n in d[\"nodes\"] if n[\"name\"] == \"$1\"][0]"; }

# ---- what the drill measured ----
check both_faults_applied [ "$(json 'sum(1 for f in d["faults"] if f["ok"])')" = 2 ]
check messages_accepted [ "$(json 'd["messages"]["accepted"]')" = 9 ]
check everything_owed_delivered [ "$(json 'd["delivery_ratio"]')" = 1 ]
check no_duplicate_shown [ "$(json 'd["duplicates_shown"]')" = 0 ]
check no_accepted_lost [ "$(json 'd["lost_accepted"]')" = 0 ]
check no_node_crashed [ "$(json 'd["node_crashes"]')" = 0 ]
check flash_to_both [ "$(json 'd["latency_by_precedence"]["flash"]["delivered"]')" = 2 ]
check field_restarted [ "$(json "$(node field)[\"starts\"]")" = 2 ]

# ---- that Bluetooth carried it ----
# field's only link is its [bluetooth bt] section: whatever it received or sent went
# over a real L2CAP socket between hci1 and liaison's hci0.
check field_has_only_bluetooth [ "$(json "[l[\"kind\"] for l in $(node field)[\"links\"]]")" = "['bluetooth']" ]
check field_bt_link_carried [ "$(json "all(l[\"tx_bytes\"] > 0 and l[\"rx_bytes\"] > 0 for l in $(node field)[\"links\"])")" = True ]
check liaison_bt_link_carried [ "$(json "[l[\"rx_bytes\"] > 0 and l[\"tx_bytes\"] > 0 for l in $(node liaison)[\"links\"] if l[\"kind\"] == \"bluetooth\"]")" = "[True]" ]
check bluetooth_frames_counted [ "$(json 'd["traffic"]["bluetooth"]["tx_frames"] > 0 and d["traffic"]["tx_frames"] == d["traffic"]["mqtt"]["tx_frames"] + d["traffic"]["lora"]["tx_frames"] + d["traffic"]["bluetooth"]["tx_frames"]')" = True ]
# desk -> field crossed the broker, then Bluetooth; field -> desk the other way.
check desk_to_field_over_broker_and_bt [ "$(csv_count 'm["from"] == "desk" and m["to"] == "field" and m["delivered"] == "1"')" = 5 ]
check field_to_desk_over_bt_and_broker [ "$(csv_count 'm["from"] == "field" and m["to"] == "desk" and m["delivered"] == "1"')" = 2 ]
check receipts_back_from_field [ "$(csv_count 'm["to"] == "field" and m["receipt_ms"] != ""')" -ge 1 ]
# Sent at 14 s while field was down (killed at 9 s, back at 15 s): it waited at the
# liaison and crossed the new Bluetooth link.
check sent_while_field_down_delivered [ "$(csv_count 'm["at_s"] == "14.0" and m["to"] == "field" and m["delivered"] == "1" and int(m["received_ms"]) > 15000')" = 1 ]
check message_from_down_sender_not_sent [ "$(csv_count 'm["from"] == "field" and m["state"] == "not_sent"')" = 1 ]
# The daemons' own logs (members are named by key ID there): field's sessions, each
# over a Bluetooth link with liaison's controller, before the kill and after the
# restart; liaison's with field over Bluetooth and with desk over the broker.
LF=$T/vm/run/field.log
LL=$T/vm/run/liaison.log
A0=$(sed -n 's/^INFO controllers hci0=\([0-9A-F:]*\) .*/\1/p' "$C")
A1=$(sed -n 's/^INFO controllers .* hci1=\([0-9A-F:]*\) .*/\1/p' "$C")
check controllers_known [ -n "$A0" -a -n "$A1" ]
check field_bt_links_with_liaison [ "$(grep -c "bluetooth bt: link with $A0 up (.*LE" "$LF")" -ge 2 ]
check field_bt_session_each_start [ "$(grep -c "bluetooth bt: peer bt/$A0: session open with member" "$LF")" -ge 2 ]
check liaison_bt_session_with_field grep -q "bluetooth bt: peer bt/$A1: session open with member" "$LL"
check liaison_mqtt_session grep -q 'mqtt office: peer .*: session open with member' "$LL"
if [ "$fail" -ne 0 ]; then
	echo "--- VM console (last 80 lines):" >&2
	tail -n 80 "$C" >&2
fi
test_end
