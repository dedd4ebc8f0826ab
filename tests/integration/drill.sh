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

# ---- the parser: file:line errors, radios refused for now ----
run_drill() { "$DRILL_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
run_drill check "$TOP/docs/drills/short.drill"
check check_accepts_short rc_is 0
run_drill check "$TOP/docs/drills/blackout.drill"
check check_accepts_blackout rc_is 0
printf '[drill]\nduration = 10s\n[site a]\n[node x]\nsite = a\n[node y]\nsite = a\n[lora hill]\n' >"$T/lora.drill"
run_drill check "$T/lora.drill"
check lora_refused rc_is 1
check lora_error_names_line err_has "$T/lora.drill:8: LoRa links are not supported yet"
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
test_end
