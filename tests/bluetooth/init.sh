#!/bin/sh
# PID 1 of the Bluetooth test VM (tests/bluetooth/build_vm.sh; busybox sh, not bash).
# Linux's own Bluetooth stack, three virtual controllers from BlueZ's btvirt sharing
# one virtual air, and real apagond processes, each bound to its own controller by
# its [bluetooth radio] section. Prints "PASS NAME" / "FAIL NAME" / "INFO ..." /
# "BENCH NAME VALUE" lines on the console, then "VM-DONE", and powers off.
#
# Nodes (made on the host, one network): alice on hci0, bob on hci1, carol on hci2;
# mallory (another network, an outsider) on hci2 while carol is down.
#
# Relaying is shown by store and forward rather than by radio range: btvirt's air
# puts every controller in reach of every other, so alice and carol are never run at
# the same time. bob, the laptop carried between rooms, meets carol, then alice, then
# carol, then alice: the message and its receipt can only have crossed through him.
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
exec </dev/console >/dev/console 2>&1
echo

BENCH=0
grep -q 'apagon.bench=1' /proc/cmdline && BENCH=1

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; }
FAILED=0
check() { n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; FAILED=1; fi; echo "INFO $n at $(now)"; }
# must NAME CMD...: a check the rest depends on; on failure, the logs and the end.
must() {
	check "$@"
	[ "$FAILED" = 0 ] && return 0
	echo "INFO stopping early: later checks depend on $1"
	show_logs alice bob carol mallory
	finish
}
finish() {
	for p in $(pidof apagond) $(pidof btvirt); do kill "$p" 2>/dev/null; done
	sleep 1
	echo "VM-DONE"
	sync
	poweroff -f
}
now() { cut -d' ' -f1 /proc/uptime; }
# wait_for SECONDS CMD...: poll until CMD succeeds, at most SECONDS (a deadline
# against hangs, not a timing judgement).
wait_for() {
	secs=$1
	shift
	end=$(awk -v t="$(now)" -v s="$secs" 'BEGIN { print t + s }')
	while :; do
		"$@" && return 0
		awk -v t="$(now)" -v e="$end" 'BEGIN { exit !(t > e) }' && return 1
		sleep 0.2
	done
}

# ---- the stack ----
for m in $(cat /modules.list); do insmod "$m" 2>/dev/null; done
btvirt -l3 >/tmp/btvirt.log 2>&1 &
have_hcis() { [ -e /sys/class/bluetooth/hci0 ] && [ -e /sys/class/bluetooth/hci1 ] &&
    [ -e /sys/class/bluetooth/hci2 ]; }
if ! wait_for 30 have_hcis; then
	fail vm_three_controllers
	cat /tmp/btvirt.log
	finish
fi
pass vm_three_controllers
# btmgmt quits before the reply when its stdin is /dev/null: keep the console.
mg() { timeout 5 btmgmt "$@" </dev/console >>/tmp/btmgmt.log 2>&1; }
for i in 0 1 2; do
	mg -i $i le on
	mg -i $i bredr on
	mg -i $i connectable on
	mg -i $i power on
done
addr() { timeout 5 btmgmt -i "$1" info </dev/console 2>/dev/null | awk '$1 == "addr" { print $2; exit }'; }
A0=$(addr 0)
A1=$(addr 1)
A2=$(addr 2)
echo "INFO controllers hci0=$A0 hci1=$A1 hci2=$A2"
check vm_controllers_powered [ -n "$A0" -a -n "$A1" -a -n "$A2" ]

# ---- nodes ----
conf() {
	printf '[bluetooth radio]\nadapter = %s\n' "$2" >"/nodes/$1/apagon.conf"
	[ -n "${3:-}" ] && printf 'peers = %s\n' "$3" >>"/nodes/$1/apagon.conf"
	return 0
}
conf alice hci0
conf bob hci1
conf carol hci2
conf mallory hci2 "$A1"

start() {
	echo "== start $(now)" >>"/tmp/$1.log"
	apagond -v --dir "/nodes/$1" >>"/tmp/$1.log" 2>&1 </dev/null &
	eval "PID_$1=$!"
	wait_for 30 apagon --dir "/nodes/$1" status >/dev/null 2>&1
}
stop() {
	eval "pid=\$PID_$1"
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
# session_open NODE MEMBER: an open session with MEMBER (the peers' JSON, one
# object a line).
peers_lines() { apagon --dir "/nodes/$1" --json peers 2>/dev/null | sed 's/},{/}\n{/g'; }
session_open() { peers_lines "$1" | grep "\"member\":\"$2\"" | grep -q '"session":"open"'; }
inbox_has() { apagon --dir "/nodes/$1" --json inbox 2>/dev/null | grep -qF "$2"; }
inbox_count() {
	apagon --dir "/nodes/$1" --json status 2>/dev/null | sed -n 's/.*"inbox":\([0-9]*\).*/\1/p'
}
inbox_at_least() { c=$(inbox_count "$1"); [ -n "$c" ] && [ "$c" -ge "$2" ]; }
counter() {
	apagon --dir "/nodes/$1" --json status 2>/dev/null |
	    sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" | head -n 1
}
counter_at_least() { c=$(counter "$1" "$2"); [ -n "$c" ] && [ "$c" -ge "$3" ]; }
outbox_state() { apagon --dir "/nodes/$1" --json outbox 2>/dev/null | grep -q "\"state\":\"$2\""; }
alive() { apagon --dir "/nodes/$1" status >/dev/null 2>&1; }
show_logs() { for n in "$@"; do echo "---- $n.log"; cat "/tmp/$n.log"; done; }

big=$(awk 'BEGIN { for (i = 0; i < 30; i++) printf "supply line report, sector %02d; ", i }')

# ---- 1. bob meets carol: carol's certificate and prekey reach bob ----
must bob_started start bob
must carol_started start carol
must link_up_bob_carol wait_for 150 session_open bob carol
must bt_link_is_up sh -c 'apagon --dir /nodes/bob --json status | grep -q "\"state\":\"up\""'
stop carol

# ---- 2. alice meets bob; her message for carol goes to bob only ----
must alice_started start alice
must link_up_alice_bob wait_for 150 session_open alice bob
send_to_carol() { apagon --dir /nodes/alice send --to carol "$1" >/dev/null 2>&1; }
must alice_sends_to_carol wait_for 60 send_to_carol "Generator 2 is down, east wing"
must bob_took_custody wait_for 60 outbox_state alice sent
stop alice

# ---- 3. carol meets bob again (alice is off): the message crosses through bob ----
must carol_restarted start carol
must message_reaches_carol_via_bob wait_for 90 inbox_has carol "Generator 2 is down, east wing"
# carol's receipt reaches bob's store: bob accepted a new bundle from carol in this
# session (everything else of carol's he already held since step 1).
receipt_at_bob() { peers_lines bob | grep '"member":"carol"' | grep -q '"bundles_in":[1-9]'; }
must receipt_taken_by_bob wait_for 60 receipt_at_bob
stop carol

# ---- 4. alice meets bob again (carol is off): the receipt crosses back ----
must alice_restarted start alice
must receipt_reaches_alice_via_bob wait_for 90 outbox_state alice delivered
must relay_bob_cannot_read sh -c '! apagon --dir /nodes/bob --json inbox | grep -qF "Generator 2"'

# Bench mode measures only (make bench); steps 5 to 7 run in make test.
if [ "$BENCH" = 0 ]; then
# ---- 5. a garbage stream: bob hangs up on it and keeps running ----
# alice goes away first: on btvirt, a controller already in a link as peripheral
# did not reliably take a second incoming LE link (docs/bluetooth.md, "Limits").
stop alice
# The raw client dials from alice's controller (alice is off). The kernel connects to
# an LE address once a scan reports it advertising, so btmgmt scans meanwhile.
timeout 90 btmgmt -i 0 find -l </dev/console >/dev/null 2>&1 &
bench_bt garbage hci0 "$A1" 0x81
grc=$?
kill $! 2>/dev/null
if [ "$grc" -eq 3 ]; then
	# Not a pass and not a failure of ours: say so (the framing's refusal is then
	# covered only by tests/unit/test_bt.c and the fuzz corpus, not on air).
	echo "SKIP garbage_refused the raw client could not connect to bob on btvirt"
	echo "SKIP garbage_counted no garbage reached bob"
else
	check garbage_refused [ "$grc" -eq 0 ]
	check garbage_counted wait_for 20 counter_at_least bob rejected.framing 1
fi
check bob_alive_after_garbage alive bob

# ---- 6. an outsider (another network) dials bob: the handshake refuses it ----
inbox_bob=$(inbox_count bob)
acc0=$(counter bob accepted)
lines0=$(wc -l </tmp/bob.log)
check outsider_started start mallory
check outsider_reached_bob wait_for 60 counter_at_least bob accepted $((acc0 + 1))
# Either end gives up on the handshake (a wrong network key fails its first MAC).
mallory_refused() {
	grep -q "session closed" /tmp/mallory.log ||
	    tail -n +"$((lines0 + 1))" /tmp/bob.log | grep -q "session closed"
}
check outsider_refused wait_for 90 mallory_refused
check outsider_has_no_session sh -c '! apagon --dir /nodes/bob --json peers | grep -q "\"member\":\"mallory\""'
check bob_store_unchanged_by_outsider [ "$(inbox_count bob)" = "$inbox_bob" ]
stop mallory
check bob_alive_after_outsider alive bob
check alice_back start alice
check alice_bob_open_again wait_for 150 session_open alice bob

# ---- 7. a peer lost mid-transfer: bob is killed while alice's bundles stream in ----
# alice queues 60 bundles (about 350 kB) while bob is away; bob comes back and is
# killed (kill -9) the moment his first bundle is stored (his own live events say
# so), with the rest in flight.
msgs() { apagon --dir /nodes/bob --json inbox 2>/dev/null | grep -o '"text":"msg [0-9]*:' | wc -l; }
msgs_at_least() { [ "$(msgs)" -ge "$1" ]; }
stop bob
i=1
while [ $i -le 60 ]; do
	apagon --dir /nodes/alice send --to bob "msg $i: $big$big$big$big$big$big" >/dev/null 2>&1 ||
	    echo "INFO send $i refused"
	i=$((i + 1))
done
echo "# no links yet" >/nodes/bob/apagon.conf
check bob_back start bob
apagon --dir /nodes/bob --json watch 2>/dev/null |
    awk -v pid="$PID_bob" '/"message.received"/ { system("kill -9 " pid); exit }' &
sleep 1
conf bob hci1
kill -HUP "$PID_bob"
bob_dead() { [ ! -e "/proc/$PID_bob" ] || grep -q ') Z' "/proc/$PID_bob/stat"; }
wait_for 120 bob_dead || stop bob KILL
wait "$PID_bob" 2>/dev/null
k=$(msgs)
echo "INFO bob killed with $k of 60 stored"
check killed_mid_transfer [ "$k" -gt 0 -a "$k" -lt 60 ]
check bob_restarted_after_kill start bob
check all_60_arrive_after_kill wait_for 180 msgs_at_least 60
distinct=$(apagon --dir /nodes/bob --json inbox 2>/dev/null | grep -o '"text":"msg [0-9]*:' | sort -u | wc -l)
total=$(msgs)
echo "INFO after restart: $total texts, $distinct distinct"
check none_lost_or_doubled [ "$distinct" -eq 60 -a "$total" -eq 60 ]
check whole_texts_only sh -c '[ "$(apagon --dir /nodes/bob --json inbox | grep -o "sector 29; " | wc -l)" -eq 360 ]'
fi

# ---- 8. bench: bundle goodput over one L2CAP link, then raw bytes over the same ----
if [ "$BENCH" = 1 ]; then
	N=100
	stop bob
	apagon --dir /nodes/alice export --out /tmp/e0.apg >/dev/null 2>&1
	i=1
	while [ $i -le $N ]; do
		apagon --dir /nodes/alice send --to bob "bench $i: $big$big" >/dev/null 2>&1
		i=$((i + 1))
	done
	apagon --dir /nodes/alice export --out /tmp/e1.apg >/dev/null 2>&1
	bytes=$(($(stat -c %s /tmp/e1.apg) - $(stat -c %s /tmp/e0.apg)))
	base=$(inbox_count bob)
	# Times from bob's live events, stamped as they come: from the link to alice
	# coming up (before the handshake) to the last of the N bundles stored. bob
	# starts with no link, so that the watcher is listening before it opens.
	echo "# no links yet" >/nodes/bob/apagon.conf
	start bob
	apagon --dir /nodes/bob --json watch 2>/dev/null | awk '{
		getline u < "/proc/uptime"; close("/proc/uptime"); split(u, a, " ")
		print a[1], $0; fflush() }' >/tmp/watch.txt &
	sleep 1
	conf bob hci1
	kill -HUP "$PID_bob"
	wait_for 300 inbox_at_least bob $((base + N))
	sleep 1
	kill $(pidof apagon) 2>/dev/null
	t0=$(awk '/"peer.up"/ { print $1; exit }' /tmp/watch.txt)
	t1=$(awk '/"message.received"/ && /bench / { t = $1 } END { print t }' /tmp/watch.txt)
	tf=$(awk '/"message.received"/ && /bench / { print $1; exit }' /tmp/watch.txt)
	nf=$(awk -v f="$tf" '/"message.received"/ && /bench / && $1 == f { n++ } END { print n + 0 }' /tmp/watch.txt)
	echo "INFO watch: $(grep -c '"message.received"' /tmp/watch.txt) messages seen, link up at $t0"
	ours=$(awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { d = z - a; if (d < 0.01) d = 0.01; printf "%.0f", b / d }')
	echo "INFO bundles: $N, $bytes bytes in $(awk -v a="$t0" -v z="$t1" 'BEGIN { print z - a }') s"
	stop bob
	stop alice
	bench_bt server hci1 0x83 >/tmp/server.log 2>&1 &
	sleep 1
	bench_bt client hci0 "$A1" 0x83 "$bytes" >/tmp/raw.txt 2>&1
	cat /tmp/raw.txt
	raw=$(awk '$1 == "raw_bytes_per_s" { print $2 }' /tmp/raw.txt)
	if [ -n "$raw" ] && [ "$raw" -gt 0 ]; then
		echo "BENCH bt.bundle_bytes_per_s $ours"
		echo "BENCH bt.raw_bytes_per_s $raw"
		echo "BENCH bt.goodput_vs_raw $(awk -v o="$ours" -v r="$raw" 'BEGIN { printf "%.3f", o / r }')"
		# The same, from the first bundle stored to the last: without the
		# handshake and the first reconciliation (bundles stored together with the
		# first are left out of the bytes).
		if [ "$nf" -lt "$N" ]; then
			echo "BENCH bt.stream_goodput_vs_raw $(awk -v b="$bytes" -v n="$N" -v k="$nf" \
			    -v a="$tf" -v z="$t1" -v r="$raw" 'BEGIN { d = z - a; if (d < 0.01) d = 0.01;
			    printf "%.3f", b * (n - k) / n / d / r }')"
		fi
	else
		echo "INFO raw sender failed"
	fi
fi

show_logs alice bob carol mallory
finish
