#!/bin/sh
# Issue 6, "Must be shown": apagon-drill plays docs/drills/short.drill end to end on
# real processes (an authority and four members enrolled with the CLI, two mosquitto
# brokers bridged through the drill's relay, four apagond) with every fault it knows:
# a partition healed, a node killed -9 and restarted, a broker killed and restarted, a
# site gone dark and back, a member revoked. Then its metrics.json must show:
#   - everything owed to a live node delivered once the partitions heal;
#   - no duplicate shown to a user;
#   - no accepted message lost;
#   - nothing of the revoked member accepted after the revocation reached a node.
# Then docs/drills/lora.drill: two sites whose bridge is cut from the start, with a
# LoRa radio at each (simulated modems on a simulated channel): every message owed
# crosses over the air, LoRa frames are counted, and the modems' own duty-cycle books
# stay within the legal limit; the radio unplugged and plugged in again is survived.
# Bluetooth links are refused with one line on this machine (it has no Bluetooth).
# And the scenario parser names the file and line of what it refuses; and a small
# simulation (apagon-drill sim) moves what naive flooding moves, for fewer frames.
#
#   APAGON_BIN=build/apagon sh tests/integration/drill.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin drill
DRILL_BIN=$(dirname "$APAGON_BIN")/apagon-drill
TOP=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -x "$DRILL_BIN" ]; then
	echo "skip drill (needs $DRILL_BIN)"
	test_end
	exit $?
fi
daemon_setup drill

# ---- the parser: file:line errors ----
run_drill() { "$DRILL_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
run_drill check "$TOP/docs/drills/short.drill"
check check_accepts_short rc_is 0
run_drill check "$TOP/docs/drills/blackout.drill"
check check_accepts_blackout rc_is 0
run_drill check "$TOP/docs/drills/lora.drill"
check check_accepts_lora rc_is 0
check check_shows_radios out_has "sradio at (800, 0) m"
# bad_radio NAME LINE MESSAGE: a two-node scenario with one radio line appended
# (line 10 onwards) is refused, naming that line.
head='[drill]\nduration = 10s\n[lora hill]\n[site a]\n[node x]\nsite = a\nlora = hill 0 0\n[node y]\nsite = a\n'
bad_radio() {
	printf "$head%s\n" "$2" >"$T/$1.drill"
	run_drill check "$T/$1.drill"
	check "${1}_refused" rc_is 1
	check "${1}_names_line" err_has "$T/$1.drill:$3: $4"
}
bad_radio lora_bad_position "lora = hill 12 north" 10 "the radio's position is X Y in whole metres"
bad_radio lora_unknown_channel "lora = ridge 5 5" 10 "no LoRa channel \"ridge\": declare [lora ridge] above"
bad_radio lora_second_radio "lora = hill 5 5
lora = hill 6 6" 11 "node y already has a radio"
bad_radio lora_bad_preset "lora = hill 5 5
[lora ridge]
preset = very-fast" 12 "unknown preset \"very-fast\""
bad_radio lora_fault_without_radio "[node z]
site = a
[timeline]
at 2s radio-down z" 13 "node z has no radio"
bad_radio lora_radio_up_not_down "lora = hill 5 5
[timeline]
at 2s radio-up y" 12 "the radio of y is not down here"
bad_radio lora_one_radio "" 3 "LoRa channel hill has 1 radio"
bad_radio bluetooth_bad_adapter "bluetooth = yes" 10 "bluetooth is this node's adapter"
printf '[drill]\nduration = 10s\n[site a]\n[node x]\nsite = a\n[node y]\nsite = a\n[traffic]\nat 2s x -> z routine\n' >"$T/bad.drill"
run_drill check "$T/bad.drill"
check unknown_node_refused rc_is 1
check unknown_node_names_line err_has "$T/bad.drill:9: no node \"z\""

# ---- the drill itself ----
run_drill run "$TOP/docs/drills/short.drill" --out "$T/out1" --bin "$(dirname "$APAGON_BIN")" \
    --mosquitto "$MOSQUITTO"
check drill_runs rc_is 0
M="$T/out1/metrics.json"
check metrics_written [ -s "$M" ]
check report_md_written [ -s "$T/out1/report.md" ]
check report_html_has_svg grep -q "<svg" "$T/out1/report.html"
check summary_names_report out_has "$T/out1/report.html"
jcheck metrics_have_keys python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
need = ["delivery_ratio", "latency_p50_ms", "latency_p95_ms", "latency_by_precedence",
        "tx_per_delivered", "bytes_per_delivered", "duplicates_shown", "lost_accepted",
        "duty_cycle_max"]
sys.exit(0 if all(k in d for k in need) else 1)' "$M"
jcheck all_faults_applied [ "$(json "$M" 'sum(1 for f in d["faults"] if f["ok"])')" = 9 ]
jcheck messages_flowed [ "$(json "$M" 'd["messages"]["delivered"] >= 20')" = True ]
jcheck everything_owed_delivered [ "$(json "$M" 'd["delivery_ratio"]')" = 1 ]
jcheck no_duplicate_shown [ "$(json "$M" 'd["duplicates_shown"]')" = 0 ]
jcheck no_accepted_lost [ "$(json "$M" 'd["lost_accepted"]')" = 0 ]
jcheck nothing_revoked_accepted [ "$(json "$M" 'd["revoked_accepted"]')" = 0 ]
jcheck revocation_cut_something [ "$(json "$M" 'd["messages"]["cut_by_revocation"] + d["messages"]["refused_by_sender"] >= 1')" = True ]
jcheck no_node_crashed [ "$(json "$M" 'd["node_crashes"]')" = 0 ]
jcheck latency_measured [ "$(json "$M" 'd["latency_p50_ms"] is not None and d["latency_p95_ms"] >= d["latency_p50_ms"]')" = True ]
jcheck cost_measured [ "$(json "$M" 'd["tx_per_delivered"] > 0 and d["bytes_per_delivered"] > 0')" = True ]
jcheck no_lora_explained [ "$(json "$M" 'd["duty_cycle_max"] is None and "LoRa" in d["duty_cycle_note"]')" = True ]
# Read alice's store after the drill: dave's FLASH from before his revocation is
# there, his message from after it is not.
run --dir "$T/out1/run/alice" --json inbox
check alice_inbox_readable rc_is 0
check alice_has_flash_before_revocation out_has "all stations: drill flash"
check alice_lacks_message_after_revocation sh -c '! grep -qF "from the revoked laptop" "$1"' sh "$T/out"
check no_process_left sh -c '! pgrep -f "$1/out1/run" >/dev/null' sh "$T"

# ---- the simulation: the production core in one process, on virtual time ----
run_drill sim --out "$T/sim" --nodes 100 --minutes 20 --messages 40 --senders 10 \
    --contact-every 60 --compare --quiet
check sim_runs rc_is 0
S="$T/sim/metrics.json"
jcheck sim_mode [ "$(json "$S" 'd["mode"]')" = sim ]
jcheck sim_delivers [ "$(json "$S" 'd["delivery_ratio"] > 0.5')" = True ]
# Both routings are epidemic over the same contacts: the same messages arrive.
jcheck sim_same_delivery_as_flood [ "$(json "$S" 'd["delivery_ratio"] == d["flood"]["delivery_ratio"]')" = True ]
jcheck sim_cheaper_than_flood [ "$(json "$S" 'd["tx_per_delivered_vs_flood"] < 1')" = True ]
jcheck sim_no_duplicate [ "$(json "$S" 'd["duplicates_shown"]')" = 0 ]
jcheck sim_no_loss [ "$(json "$S" 'd["lost_accepted"]')" = 0 ]
jcheck sim_every_session_reconciled [ "$(json "$S" 'd["sessions"]["without_a_full_round"]')" = 0 ]

run_drill run "$TOP/docs/drills/short.drill" --out "$T/out1"
check second_run_refused_same_out rc_is 1
check second_run_says_why err_has "already holds a drill"

# ---- LoRa: the bridge is cut from the start, the radios carry everything ----
if [ -x "$(dirname "$APAGON_BIN")/apagon-channel" ] &&
    [ -x "$(dirname "$APAGON_BIN")/apagon-modem-sim" ]; then
	run_drill run "$TOP/docs/drills/lora.drill" --out "$T/lora" \
	    --bin "$(dirname "$APAGON_BIN")" --mosquitto "$MOSQUITTO"
	check lora_drill_runs rc_is 0
	L="$T/lora/metrics.json"
	jcheck lora_faults_applied [ "$(json "$L" 'sum(1 for f in d["faults"] if f["ok"])')" = 3 ]
	jcheck lora_messages_accepted [ "$(json "$L" 'd["messages"]["accepted"]')" = 7 ]
	# The bridge was cut before the first message: all that arrived crossed the air.
	jcheck lora_everything_owed_delivered [ "$(json "$L" 'd["delivery_ratio"]')" = 1 ]
	jcheck lora_message_after_radio_back [ "$(json "$L" 'd["latency_by_precedence"]["flash"]["delivered"]')" = 1 ]
	# tx_per_delivered counts every link's frames, LoRa's among them.
	jcheck lora_frames_counted [ "$(json "$L" 'd["traffic"]["lora"]["tx_frames"] > 0 and d["traffic"]["tx_frames"] == d["traffic"]["mqtt"]["tx_frames"] + d["traffic"]["lora"]["tx_frames"] and abs(d["tx_per_delivered"] * d["messages"]["delivered"] - d["traffic"]["tx_frames"]) < d["messages"]["delivered"]')" = True ]
	jcheck lora_frames_on_air [ "$(json "$L" 'all(r["airtime_ms"] > 0 and r["modem_tx_frames"] > 0 for r in d["lora"]["radios"])')" = True ]
	jcheck lora_heard_both_ways [ "$(json "$L" 'sorted((p["from"], p["to"]) for p in d["lora"]["channels"][0]["heard"] if p["ok"] > 0)')" = "[('nradio', 'sradio'), ('sradio', 'nradio')]" ]
	jcheck lora_duty_measured [ "$(json "$L" 'd["duty_cycle_max"] is not None and d["duty_cycle_max"] > 0')" = True ]
	jcheck lora_duty_within_limit [ "$(json "$L" 'd["duty_cycle_limit"] == 0.1 and d["duty_cycle_max"] <= d["duty_cycle_limit"]')" = True ]
	jcheck lora_no_duty_refusal [ "$(json "$L" 'd["lora"]["duty_refusals"]')" = 0 ]
	jcheck lora_modem_restarted [ "$(json "$L" '[r["starts"] for r in d["lora"]["radios"]]')" = "[1, 2]" ]
	jcheck lora_no_duplicate [ "$(json "$L" 'd["duplicates_shown"]')" = 0 ]
	jcheck lora_no_loss [ "$(json "$L" 'd["lost_accepted"]')" = 0 ]
	jcheck lora_no_crash [ "$(json "$L" 'd["node_crashes"]')" = 0 ]
	check lora_in_report grep -q "^## LoRa" "$T/lora/report.md"
	check lora_in_html grep -q "lora valley" "$T/lora/report.html"
	check lora_nothing_left sh -c '! pgrep -f "$1/lora/run" >/dev/null' sh "$T"
else
	echo "skip lora drill (needs apagon-channel and apagon-modem-sim next to $APAGON_BIN)"
fi

# ---- Bluetooth: this machine has none; refused before anything starts ----
printf '[drill]\nduration = 10s\n[site a]\n[node x]\nsite = a\nbluetooth = hci0\n[node y]\nsite = a\nbluetooth = hci1\n' >"$T/bt.drill"
run_drill check "$T/bt.drill"
check bluetooth_parses rc_is 0
if python3 -c 'import socket; socket.socket(socket.AF_BLUETOOTH, socket.SOCK_SEQPACKET, 0)' 2>/dev/null; then
	echo "skip bluetooth_refused (this machine has Bluetooth sockets)"
else
	run_drill run "$T/bt.drill" --out "$T/bt"
	check bluetooth_refused rc_is 1
	check bluetooth_says_why err_has "$T/bt.drill:6: this drill has Bluetooth links, but this machine has no Bluetooth"
	check bluetooth_one_line [ "$(wc -l <"$T/err")" -eq 1 ]
	check bluetooth_started_nothing [ ! -e "$T/bt" ]
fi
test_end
