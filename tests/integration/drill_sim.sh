#!/bin/sh
# apagon-drill sim beyond the random contact model (docs/drills.md, "Simulation"):
#   - contacts from a trace file (docs/drills/field-team.trace): both routings deliver
#     the same, nothing shown twice or lost; a broken trace is refused with its file
#     and line; with --receipts, receipts come back to the senders;
#   - contacts from random-waypoint mobility;
#   - the LoRa channel: every node runs the flooding engine on one simulated channel;
#     delivery, collisions counted, the duty cycle within EU868's 10 %, also on a
#     saturated slow channel where the limit binds.
#
#   APAGON_BIN=build/apagon sh tests/integration/drill_sim.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
test_begin drill_sim
DRILL_BIN=$(dirname "$APAGON_BIN")/apagon-drill
TOP=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -x "$DRILL_BIN" ]; then
	echo "skip drill_sim (needs $DRILL_BIN)"
	test_end
	exit $?
fi
sim() { "$DRILL_BIN" sim "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	    "$1" "$2" 2>/dev/null
}

# ---- a contact trace ----
sim --out "$T/tr" --trace "$TOP/docs/drills/field-team.trace" --messages 20 --senders 12 \
    --compare --quiet
check trace_runs rc_is 0
M="$T/tr/metrics.json"
jcheck trace_sets_nodes [ "$(json "$M" 'd["model"]["nodes"]')" = 12 ]
jcheck trace_sets_minutes [ "$(json "$M" 'd["model"]["minutes"]')" = 45 ]
jcheck trace_contacts_used [ "$(json "$M" '"field-team.trace" in d["model"]["contacts_from"]')" = True ]
jcheck trace_delivers [ "$(json "$M" 'd["delivery_ratio"] >= 0.9')" = True ]
jcheck trace_same_delivery_as_flood [ "$(json "$M" 'd["delivery_ratio"] == d["flood"]["delivery_ratio"]')" = True ]
jcheck trace_no_duplicate [ "$(json "$M" 'd["duplicates_shown"]')" = 0 ]
jcheck trace_no_loss [ "$(json "$M" 'd["lost_accepted"]')" = 0 ]
printf '# two contacts\n0 10 0 1\n20 15 1 2\n' >"$T/bad.trace"
sim --out "$T/bad" --trace "$T/bad.trace" --quiet
check bad_trace_refused rc_is 1
check bad_trace_names_line err_has "$T/bad.trace:3: "
printf '0 10 0 1\n5 CONN 1 9 down\n' >"$T/bad2.trace"
sim --out "$T/bad2" --trace "$T/bad2.trace" --quiet
check conn_down_without_up_names_line err_has "$T/bad2.trace:2: "
sim --out "$T/bad3" --trace "$TOP/docs/drills/field-team.trace" --nodes 5 --quiet
check trace_node_over_nodes_refused rc_is 1
check trace_node_over_nodes_names_line err_has "field-team.trace:12: node numbers go from 0 to 4"

# Receipts: every delivery seals one back, and they reach the senders.
sim --out "$T/rc" --trace "$TOP/docs/drills/field-team.trace" --messages 20 --senders 12 \
    --receipts --quiet
check receipts_run rc_is 0
M="$T/rc/metrics.json"
jcheck receipts_one_per_delivery [ "$(json "$M" 'd["receipts"]["made"] == round(d["delivery_ratio"] * 20)')" = True ]
jcheck receipts_back_at_senders [ "$(json "$M" 'd["receipts"]["back_at_sender"] >= 10')" = True ]
jcheck receipts_no_loss [ "$(json "$M" 'd["lost_accepted"] == 0 and d["duplicates_shown"] == 0')" = True ]

# ---- random-waypoint mobility ----
sim --out "$T/mob" --mobility walk --nodes 60 --minutes 20 --messages 20 --senders 10 \
    --area 400 --compare --quiet
check mobility_runs rc_is 0
M="$T/mob/metrics.json"
jcheck mobility_contacts [ "$(json "$M" 'd["model"]["contacts"] > 0 and "waypoint" in d["model"]["contacts_from"]')" = True ]
jcheck mobility_delivers [ "$(json "$M" 'd["delivery_ratio"] > 0.5')" = True ]
jcheck mobility_same_delivery_as_flood [ "$(json "$M" 'd["delivery_ratio"] == d["flood"]["delivery_ratio"]')" = True ]

# ---- the LoRa channel ----
sim --out "$T/lora" --radio lora --nodes 30 --minutes 30 --messages 20 --senders 10 \
    --compare --quiet
check lora_runs rc_is 0
M="$T/lora/metrics.json"
jcheck lora_delivers [ "$(json "$M" 'd["delivery_ratio"] >= 0.9')" = True ]
jcheck lora_flood_delivers [ "$(json "$M" 'd["flood"]["delivery_ratio"] > 0')" = True ]
jcheck lora_frames_counted [ "$(json "$M" 'd["tx_per_delivered"] >= 1 and d["flood"]["tx_per_delivered"] >= 1')" = True ]
jcheck lora_collisions_counted [ "$(json "$M" 'd["lora"]["managed"]["lost_to_collisions"] + d["lora"]["naive"]["lost_to_collisions"] > 0')" = True ]
jcheck lora_duty_measured [ "$(json "$M" '0 < d["duty_cycle_max"] <= 0.1')" = True ]
jcheck lora_no_duplicate [ "$(json "$M" 'd["duplicates_shown"]')" = 0 ]
jcheck lora_no_loss [ "$(json "$M" 'd["lost_accepted"]')" = 0 ]
sim --out "$T/lorarc" --radio lora --nodes 20 --minutes 20 --messages 10 --senders 5 \
    --receipts --quiet
check lora_receipts_run rc_is 0
jcheck lora_receipts_back [ "$(json "$T/lorarc/metrics.json" 'd["receipts"]["back_at_sender"] >= 5')" = True ]
# Saturated: twelve nodes in earshot on long-slow (14 s a frame), 300 messages an
# hour: the duty-cycle books come near the limit and stay under it.
sim --out "$T/busy" --radio lora --nodes 12 --minutes 60 --messages 300 --senders 12 \
    --sf 12 --bw 125000 --cr 8 --area 2000 --compare --quiet
check lora_busy_runs rc_is 0
M="$T/busy/metrics.json"
jcheck lora_busy_duty_near_limit [ "$(json "$M" '0.05 <= d["duty_cycle_max"] <= 0.1 and d["flood"]["duty_cycle_max"] <= 0.1')" = True ]
sim --out "$T/badlora" --radio lora --trace "$TOP/docs/drills/field-team.trace" --quiet
check lora_with_trace_refused rc_is 2
test_end
