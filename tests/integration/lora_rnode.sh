#!/bin/sh
# Issue 4, boards on stock RNode firmware (docs/lora.md "RNode boards"): three apagond,
# each on apagon-modem-sim --rnode (RNode's command set only, no regions, no duty
# limiter of its own), all in range of each other on the simulated channel. Shown:
#   - the node finds the firmware (no answer to REGION) and drives the board anyway;
#     certificates and prekeys flood, a message from a reaches b and its receipt comes
#     back; a board that reboots (and so forgets its settings) is configured again;
#   - the node-side limiter holds: every sender's airtime in the channel's own log, and
#     the boards' own hour books (STAT_CHTM), stay within the band's 1 % budget, and c,
#     which floods, is stopped at its budget (duty_holds);
#   - a board that cannot do the configured TX power answers another value: the node
#     refuses it with a line that says what to do, and that board never transmits; so
#     is a board reporting its frequency 300 Hz off, while 40 Hz (within one SX127x
#     synthesizer step) is accepted;
#   - a flood from one sender (c) is cut by the per-sender rate limit at a and b
#     (rate_limited), while a's next message to b still gets through.
# Channel: 866.5 MHz (h1.4, 865-868 MHz, 1 %: 36 s an hour), medium-fast (SF9/250 kHz),
# where one full frame is about 0.64 s on air. --time-scale 0.1: the simulated hour is
# six real minutes, longer than this whole run, so "within the budget" is checked on
# each sender's total. No timing is judged: deadlines only stop a broken run.
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin lora_rnode
bin=$(dirname "$APAGON_BIN")
if [ ! -x "$bin/apagon-channel" ] || [ ! -x "$bin/apagon-modem-sim" ]; then
	echo "skip lora_rnode (needs $bin/apagon-channel and apagon-modem-sim)"
	test_end
	exit $?
fi
daemon_setup lora_rnode
scale=0.1
budget_ms=36000
NODES="a b c"

net_create "Field Team"
for n in $NODES; do member_add "$n"; done

cat >"$T/chan.conf" <<'CONF'
node a 0 0
node b 400 0
node c 200 300
node d 200 -300
node f 0 -300
CONF
"$bin/apagon-channel" --socket "$T/chan.sock" --config "$T/chan.conf" --time-scale $scale \
	>"$T/chan.log" 2>"$T/chan.err" &
PIDS="$PIDS $!"
# "listening" comes after listen(); the socket file already exists after bind().
check channel_listening wait_for 10 grep -q "^listening " "$T/chan.log"

# rnode_start NAME [ARGS]: a simulated board on stock RNode firmware, pty at $T/NAME.pty.
rnode_start() {
	name=$1
	shift
	"$bin/apagon-modem-sim" --rnode "$@" --name "$name" --channel "$T/chan.sock" \
		--link "$T/$name.pty" --time-scale $scale >>"$T/modem-$name.log" 2>&1 &
	eval "MODEM_$name=$!"
	PIDS="$PIDS $!"
	wait_for 10 test -e "$T/$name.pty"
}
# b's board reports its frequency 40 Hz off, as an SX127x does (within one synthesizer
# step: accepted); f's 300 Hz off (refused). d's amplifier stops at 10 dBm: it answers
# TXPOWER 10 to a request for 14 (refused).
check rnode_a_up rnode_start a
check rnode_b_up rnode_start b --rnode-freq-offset 40
check rnode_c_up rnode_start c
check rnode_d_up rnode_start d --rnode-max-dbm 10
check rnode_f_up rnode_start f --rnode-freq-offset 300

for n in $NODES; do
	cat >"$n/apagon.conf" <<EOF
[lora radio]
device = $T/$n.pty
region = EU868
preset = medium-fast
frequency = 866500000
tx-power = 14
slot-ms = 64
time-scale = $scale
sender-rate = 2
sender-burst = 3
EOF
done
for w in d f; do
	printf '\n[lora %s]\ndevice = %s\nregion = EU868\npreset = medium-fast\nfrequency = 866500000\ntx-power = 14\ntime-scale = %s\n' \
		"$w" "$T/$w.pty" "$scale" >>a/apagon.conf
done

for n in $NODES; do check "daemon_${n}_started" daemon_start "$n"; done

lora_counter() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st-$1.json" 2>/dev/null &&
	    json "$T/st-$1.json" "d['links'][$2]['counters'].get('$3', 0)"
}
all_up() {
	for n in $NODES; do link_state "$n" up 0 || return 1; done
}
check all_boards_configured wait_for 30 all_up
for n in $NODES; do
	check "rnode_firmware_found_$n" [ "$(lora_counter "$n" 0 rnode_firmware)" = 1 ]
	check "airtime_lock_set_$n" [ "$(lora_counter "$n" 0 rnode_airtime_lock)" = 1 ]
done
check log_names_rnode_firmware grep -q "runs RNode firmware 1.85" "$T/a.log"

# The board that cannot do 14 dBm: refused, counted, told what to do; a's radio link
# stays up; that board never transmits.
weak_refused() { [ "$(lora_counter a 1 config_mismatches)" -ge 1 ]; }
check weak_board_refused wait_for 30 weak_refused
check weak_board_error_line grep -q "reports TX power (dBm) 10 where apagon.conf needs 14: refused" "$T/a.log"
check weak_board_not_up [ "$(json "$T/st-a.json" "d['links'][1]['state']")" != up ]
far_refused() { [ "$(lora_counter a 2 config_mismatches)" -ge 1 ]; }
check off_frequency_board_refused wait_for 30 far_refused
check off_frequency_error_line grep -q "reports frequency (Hz) 866500300 where apagon.conf needs 866500000: refused" "$T/a.log"
check a_radio_still_up link_state a up 0

send_to() { run --dir "$1" send --to "$2" --precedence "$3" "$4"; [ "$rc" -eq 0 ]; }
check a_sends_to_b wait_for 90 send_to a b routine "Water point 3 is dry"
check message_arrives wait_for 90 inbox_has b "Water point 3 is dry"
check receipt_comes_back wait_for 90 outbox_delivered a 1

# b's board reboots (its settings are gone; it says RESET): the node notices,
# configures it again, and b is back on air.
resets_before=$(lora_counter b 0 resets)
kill -USR1 "$MODEM_b"
b_reconfigured() { [ "$(lora_counter b 0 resets)" -gt "$resets_before" ] && link_state b up 0; }
check board_reboot_noticed wait_for 30 b_reconfigured
check board_reboot_logged grep -q "the modem restarted and forgot its settings" "$T/b.log"

# c floods b: sixty FLASH messages as fast as the CLI goes (FLASH may use the whole
# budget; ROUTINE stops at half of it, docs/lora.md "Precedence and the airtime budget").
check c_knows_b wait_for 60 send_to c b flash "flood 0"
i=1
while [ $i -lt 60 ]; do
	"$APAGON_BIN" --dir c send --to b --precedence flash "flood $i" >/dev/null 2>&1
	i=$((i + 1))
done
limited() { [ "$(lora_counter b 0 rate_limited)" -ge 1 ] && [ "$(lora_counter a 0 rate_limited)" -ge 1 ]; }
check flood_rate_limited_at_a_and_b wait_for 60 limited
check rate_limit_logged grep -q "is over its rate limit" "$T/b.log"
c_held() { [ "$(lora_counter c 0 duty_holds)" -ge 1 ]; }
check c_stopped_at_its_budget wait_for 60 c_held

# Others still get through.
check a_sends_again send_to a b flash "Convoy leaves at 0600"
check others_get_through wait_for 90 inbox_has b "Convoy leaves at 0600"
got=$("$APAGON_BIN" --dir b --json inbox | grep -o "flood [0-9]*" | sort -u | wc -l)
echo "b took $got of c's 60 flood messages" >&2
check flood_mostly_dropped [ "$got" -lt 30 ]

# The law, from counters the node does not keep: the channel's log of every frame (the
# whole run is shorter than one simulated hour, so each sender's total must fit one
# budget), and each board's own hour books.
airtime_of() { awk -v n="$1" '$1 == "tx" && $2 == n { for (i = 3; i <= NF; i++) if ($i ~ /^airtime_us=/) { sub("airtime_us=", "", $i); s += $i } } END { printf "%d\n", s / 1000 }' "$T/chan.log"; }
for n in $NODES; do
	used=$(airtime_of "$n")
	echo "$n: $used ms on air of $budget_ms ms; node books max $(lora_counter "$n" 0 duty_max_used_ms) ms; board hour books $(lora_counter "$n" 0 modem.airtime_long_bp)/10000" >&2
	check "airtime_${n}_within_budget" [ "$used" -gt 0 ] && [ "$used" -le "$budget_ms" ]
	check "node_books_${n}_within_budget" [ "$(lora_counter "$n" 0 duty_max_used_ms)" -le "$budget_ms" ]
	check "board_books_${n}_within_duty" [ "$(lora_counter "$n" 0 modem.airtime_long_bp)" -le 100 ]
done
# c really reached its budget: the limiter, not a lack of traffic, stopped it.
check c_used_most_of_budget [ "$(airtime_of c)" -ge $((budget_ms * 8 / 10)) ]
check weak_board_never_sent [ "$(awk '$1 == "tx" && $2 == "d"' "$T/chan.log" | wc -l)" -eq 0 ]
check off_frequency_board_never_sent [ "$(awk '$1 == "tx" && $2 == "f"' "$T/chan.log" | wc -l)" -eq 0 ]

for n in $NODES; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
