#!/bin/sh
# Issue 4, node side (docs/lora.md): five apagond in a line on the simulated LoRa
# channel, each on its own apagon-modem-sim over a pseudo-terminal. Each node hears
# only its neighbours (1 km apart at SF7: 2 km is below the demodulation floor, and the
# channel config cuts every other path too). Shown here:
#   - certificates and prekeys flood over the air; a message from n1 crosses all four
#     hops to n5 and its receipt comes back;
#   - FLASH is delivered before ROUTINE traffic queued ahead of it;
#   - hidden terminals: n1 and n3 cannot hear each other and both send at once, so
#     frames collide at n2; retries bring every message through;
#   - the duty-cycle limit is never exceeded (the modems' own counters);
#   - a modem spewing garbage, and a modem killed and restarted, are survived.
# The channel runs at --time-scale 0.25 (a 200 ms frame takes 50 ms); slot-ms tells the
# nodes the scaled airtime of a full frame. No timing is judged: deadlines only stop a
# broken run.
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin lora_multihop
bin=$(dirname "$APAGON_BIN")
if [ ! -x "$bin/apagon-channel" ] || [ ! -x "$bin/apagon-modem-sim" ]; then
	echo "skip lora_multihop (needs $bin/apagon-channel and apagon-modem-sim)"
	test_end
	exit $?
fi
daemon_setup lora_multihop
scale=0.25
NODES="n1 n2 n3 n4 n5"

net_create "Field Team"
for n in $NODES; do member_add "$n"; done

cat >"$T/chan.conf" <<'CONF'
# n1 - n2 - n3 - n4 - n5, 1 km apart; only neighbours hear each other.
path_loss_exponent 3.0
ref_loss_db 40
node n1 0 0
node n2 1000 0
node n3 2000 0
node n4 3000 0
node n5 4000 0
link n1 n3 off
link n1 n4 off
link n1 n5 off
link n2 n4 off
link n2 n5 off
link n3 n5 off
CONF
"$bin/apagon-channel" --socket "$T/chan.sock" --config "$T/chan.conf" --time-scale $scale \
	>"$T/chan.log" 2>"$T/chan.err" &
PIDS="$PIDS $!"
check channel_listening wait_for 10 test -S "$T/chan.sock"

# modem_start NAME: the simulated modem of node NAME, its pty linked at $T/NAME.pty.
modem_start() {
	"$bin/apagon-modem-sim" --name "$1" --channel "$T/chan.sock" --link "$T/$1.pty" \
		--time-scale $scale >>"$T/modem-$1.log" 2>&1 &
	eval "MODEM_$1=$!"
	PIDS="$PIDS $!"
	wait_for 10 test -e "$T/$1.pty"
}
for n in $NODES; do check "modem_${n}_up" modem_start "$n"; done

# short-fast: SF7/BW250/CR4:5; a 255-byte frame is 204 ms on air, 51 ms at this scale.
for n in $NODES; do
	cat >"$n/apagon.conf" <<EOF
[lora radio]
device = $T/$n.pty
region = EU868
preset = short-fast
slot-ms = 60
EOF
done
# n3 also has a second modem that only ever sends garbage (a pty fed from /dev/urandom
# by a helper): that link is reset again and again, the node runs on.
python3 - "$T/junk.pty" >"$T/junk.log" 2>&1 <<'EOP' &
import os, pty, sys, time
m, s = pty.openpty()
os.symlink(os.ttyname(s), sys.argv[1])
while True:
    try:
        os.write(m, os.urandom(256) + b"\xc0\x00\xdb\x01\xc0" + os.urandom(64))
    except OSError:
        pass
    time.sleep(0.05)
EOP
PIDS="$PIDS $!"
wait_for 10 test -e "$T/junk.pty"
printf '\n[lora junk]\ndevice = %s\nregion = EU868\npreset = short-fast\n' "$T/junk.pty" \
	>>n3/apagon.conf

for n in $NODES; do check "daemon_${n}_started" daemon_start "$n"; done

# lora_counter NODE LINK NAME: a counter of link index LINK in NODE's status.
lora_counter() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st-$1.json" 2>/dev/null &&
	    json "$T/st-$1.json" "d['links'][$2]['counters'].get('$3', 0)"
}
all_up() {
	for n in $NODES; do link_state "$n" up 0 || return 1; done
}
check all_modems_configured wait_for 30 all_up

# lora_report: after a failed delivery check, where things stand (to stderr, which
# tests/run.sh shows for a failing part): each node's flooding counters, and for every
# message n1 and n3 sent that has no receipt yet, which nodes hold its bundle (row,
# tombstone, or the recipient's inbox record), read from their stores.
lora_report() {
	for n in $NODES; do
		"$APAGON_BIN" --dir "$n" --json status 2>/dev/null | python3 -c '
import json, sys
try:
    c = json.load(sys.stdin)["links"][0]["counters"]
except Exception:
    sys.exit(0)
keys = ("relays", "retries", "implicit_acks", "doubts", "digests_out", "requests_out",
        "answers", "route_fallbacks", "carry", "crowd", "duty_used_ms")
print(sys.argv[1] + ":", " ".join("%s=%s" % (k, c.get(k, "?")) for k in keys))' "$n"
	done >&2
	python3 - "$T" $NODES <<'EOP' >&2
import os, sqlite3, sys
top, nodes = sys.argv[1], sys.argv[2:]
def db(n):
    return sqlite3.connect("file:%s/%s/apagon.db?mode=ro" % (top, n), uri=True, timeout=5)
for sender in ("n1", "n3"):
    c = db(sender)
    rows = c.execute("SELECT bundle_id, state, local_time FROM messages WHERE dir = 1 "
                     "AND state != 2 ORDER BY local_time").fetchall()
    for bid, state, t in rows:
        where = []
        for n in nodes:
            d = db(n)
            for table, col, mark in (("bundles", "id", "row"), ("tombstones", "id", "tomb"),
                                     ("messages", "bundle_id", "msg")):
                if d.execute("SELECT 1 FROM %s WHERE %s = ?" % (table, col), (bid,)).fetchone():
                    where.append(n + ":" + mark)
        print("%s's %s (state %d, queued at %d): %s" % (sender, bid.hex()[:12], state, t,
              " ".join(where) or "nowhere"))
EOP
}

# Certificates and prekeys travel the line; n1 can send to n5 once n5's have arrived.
send_to() { run --dir "$1" send --to "$2" --precedence "$3" "$4"; [ "$rc" -eq 0 ]; }
check n1_sends_to_n5 wait_for 120 send_to n1 n5 routine "Bridge at km 12 is out"
check message_crosses_four_hops wait_for 90 inbox_has n5 "Bridge at km 12 is out"
check receipt_comes_back wait_for 90 outbox_delivered n1 1
inbox_texts n3 "$T/n3.txt"
check relay_n3_reads_nothing [ ! -s "$T/n3.txt" ]

# FLASH before ROUTINE: n1 queues five long ROUTINE messages (two fragments each),
# then one FLASH; n5's subscriber sees the FLASH before the last ROUTINE.
"$APAGON_BIN" --dir n5 --json watch >"$T/watch.jsonl" 2>/dev/null &
PIDS="$PIDS $!"
sleep 1
long=$(python3 -c 'print("x" * 300)')
for i in 1 2 3 4 5; do
	check "routine_${i}_queued" send_to n1 n5 routine "routine $i $long"
done
check flash_queued send_to n1 n5 flash "FLASH evacuate sector 4"
check flash_delivered wait_for 120 inbox_has n5 "FLASH evacuate sector 4"
failed=$fail
check routine_all_delivered wait_for 180 sh -c '
	n=$("$1" --dir n5 --json inbox | grep -o "routine [0-9]" | sort -u | wc -l); [ "$n" -eq 5 ]' \
	sh "$APAGON_BIN"
[ "$fail" -eq "$failed" ] || lora_report
check flash_before_last_routine python3 - "$T/watch.jsonl" <<'EOP'
import json, sys
order = []
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    text = json.dumps(ev)
    if "FLASH evacuate" in text:
        order.append("F")
    elif "routine " in text and "message.received" in text:
        order.append("R")
print(order, file=sys.stderr)
sys.exit(0 if "F" in order and order.count("R") >= 1 and order.index("F") < len(order) - 1 - order[::-1].index("R") else 1)
EOP

# Hidden terminals: n1 and n3 both send to n2's neighbours at once, several times.
# Whether two transmissions overlap at n2 depends on timing, so rounds of five
# simultaneous pairs go on (at most twelve) until the channel has logged at least
# one collision at n2; every message of every round must then be delivered. (With
# three pairs and at most five rounds, two runs of six on 2026-11-29 logged no
# collision at all, and others had their first only in the fourth or fifth round.)
# The senders must know their recipients (certificate and prekey) first. These travel
# the line on their own schedule; the first send above waited only for n5's at n1.
# (Without this wait a send failed now and then: 'no member matches "n2"' at n3.)
knows() {
	"$APAGON_BIN" --dir "$1" --json roster 2>/dev/null | python3 -c '
import json, sys
m = [x for x in json.load(sys.stdin)["members"] if x["name"] == sys.argv[1]]
sys.exit(0 if m and m[0]["has_prekey"] else 1)' "$2"
}
hidden_recipients_known() { knows n1 n4 && knows n3 n2; }
check hidden_recipients_known wait_for 120 hidden_recipients_known
before=$(wc -l <"$T/chan.log")
round=0
echo 0 >"$T/hidden.count"
while [ "$round" -lt 12 ] && [ "$(cat "$T/hidden.count")" -lt 1 ]; do
	round=$((round + 1))
	ok=1
	for i in 1 2 3 4 5; do
		"$APAGON_BIN" --dir n1 send --to n4 "hidden a$round.$i" >/dev/null 2>>"$T/hidden.err" &
		a=$!
		"$APAGON_BIN" --dir n3 send --to n2 "hidden b$round.$i" >/dev/null 2>>"$T/hidden.err" &
		b=$!
		wait "$a"
		ra=$?
		wait "$b"
		rb=$?
		[ "$ra" -eq 0 ] && [ "$rb" -eq 0 ] || ok=0
	done
	check "hidden_round_${round}_sent" [ "$ok" -eq 1 ]
	[ "$ok" -eq 1 ] || { echo "why a send failed:" >&2; cat "$T/hidden.err" >&2; }
	# all_in NODE LETTER: every message of the rounds so far is in NODE's inbox.
	all_in() {
		n=$("$APAGON_BIN" --dir "$1" --json inbox | grep -o "hidden $2[0-9]*\.[0-9]" |
		    sort -u | wc -l)
		[ "$n" -eq $((5 * round)) ]
	}
	failed=$fail
	check "hidden_round_${round}_a_delivered" wait_for 180 all_in n4 a
	check "hidden_round_${round}_b_delivered" wait_for 180 all_in n2 b
	[ "$fail" -eq "$failed" ] || lora_report
	tail -n +"$before" "$T/chan.log" | grep -c "^rx n2 from=n[13] .*collision" >"$T/hidden.count"
done
echo "hidden-terminal collisions at n2: $(cat "$T/hidden.count") in $round round(s)" >&2
check hidden_terminals_collided [ "$(cat "$T/hidden.count")" -ge 1 ]

# The garbage modem: reset and counted, and n3 still relays (above).
junk_reset() { [ "$(lora_counter n3 1 resets)" -ge 1 ] && [ "$(lora_counter n3 1 kiss_errors)" -ge 1 ]; }
check junk_modem_reset wait_for 30 junk_reset

# A dead modem: kill n3's, the middle of the line; n3 notices, keeps retrying; a new
# modem comes up and traffic crosses again.
kill -9 "$MODEM_n3" 2>/dev/null
wait "$MODEM_n3" 2>/dev/null
rm -f "$T/n3.pty"
check n3_notices_dead_modem wait_for 60 sh -c '! "$1" --dir n3 --json status | grep -q "\"state\":\"up\""' sh "$APAGON_BIN"
run --dir n3 status
check n3_daemon_alive rc_is 0
check modem_n3_restarted modem_start n3
check n3_modem_back wait_for 90 link_state n3 up 0
check after_restart_sent wait_for 30 send_to n5 n1 immediate "Road clear again"
check after_restart_crosses wait_for 120 inbox_has n1 "Road clear again"

# The law: every modem's own duty-cycle books stay within the band's budget.
within_budget() {
	used=$(lora_counter "$1" 0 duty_used_ms)
	budget=$(lora_counter "$1" 0 duty_budget_ms)
	echo "$1: duty used ${used:-?} ms of ${budget:-?} ms" >&2
	[ "${budget:-0}" -gt 0 ] && [ "${used:-1}" -gt 0 ] && [ "${used:-1}" -le "${budget:-0}" ]
}
for n in $NODES; do
	check "duty_${n}_within_budget" wait_for 20 within_budget "$n"
	check "duty_${n}_no_refusals" [ "$(lora_counter "$n" 0 modem.duty_refusals)" = 0 ]
done

for n in $NODES; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
