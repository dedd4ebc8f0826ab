#!/bin/sh
# PID 1 of the Bluetooth test VM (tests/bluetooth/build_vm.sh; busybox sh, not bash).
# Linux's own Bluetooth stack, four virtual controllers from BlueZ's btvirt sharing
# one virtual air, and real apagond processes, each bound to its own controller by
# its [bluetooth radio] section. Prints "PASS NAME" / "FAIL NAME" / "INFO ..." /
# "BENCH NAME VALUE" lines on the console, then "VM-DONE", and powers off.
#
# Nodes (made on the host, one network): alice on hci0, bob on hci1, carol on hci2;
# mallory (another network, an outsider) on hci2 while carol is down. Of two peers
# that hear each other, the lower address dials (docs/protocol.md, 17.4): alice
# dials bob, bob dials carol.
#
# Relaying is shown twice, since btvirt's air puts every controller in reach of every
# other: by store and forward (steps 1 to 4: bob meets carol, then alice, then
# carol, then alice; alice and carol are never up together), and live (step 4b:
# alice and carol up together, each allowed one link, bob holding both on two
# controllers, hci1 and hci3). Steps 9 to 12 show the connection manager on air: a
# refused dial, rotation between two members, both ends dialing each other, and the
# token's epochs across jumps of the clock (docs/bluetooth.md, "Testing against the
# real stack").
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
exec </dev/console >/dev/console 2>&1
echo

BENCH=0
grep -q 'apagon.bench=1' /proc/cmdline && BENCH=1
# The bench's daemons log a stamped line per frame (node/transport_bt.c).
[ "$BENCH" = 1 ] && export APAGON_BT_TRACE=1

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
btvirt -l4 >/tmp/btvirt.log 2>&1 &
have_hcis() { [ -e /sys/class/bluetooth/hci0 ] && [ -e /sys/class/bluetooth/hci1 ] &&
    [ -e /sys/class/bluetooth/hci2 ] && [ -e /sys/class/bluetooth/hci3 ]; }
if ! wait_for 30 have_hcis; then
	fail vm_four_controllers
	cat /tmp/btvirt.log
	finish
fi
pass vm_four_controllers
# btmgmt quits before the reply when its stdin is /dev/null: keep the console.
mg() { timeout 5 btmgmt "$@" </dev/console >>/tmp/btmgmt.log 2>&1; }
for i in 0 1 2 3; do
	mg -i $i le on
	mg -i $i bredr on
	mg -i $i connectable on
	mg -i $i power on
done
addr() { timeout 5 btmgmt -i "$1" info </dev/console 2>/dev/null | awk '$1 == "addr" { print $2; exit }'; }
A0=$(addr 0)
A1=$(addr 1)
A2=$(addr 2)
A3=$(addr 3)
echo "INFO controllers hci0=$A0 hci1=$A1 hci2=$A2 hci3=$A3"
check vm_controllers_powered [ -n "$A0" -a -n "$A1" -a -n "$A2" -a -n "$A3" ]

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
# The kernel drops a connection 2 to 4 s after its last channel closed, and btvirt
# gives every connection the handle 42, so a controller still holding one cannot
# take another (Limits in docs/bluetooth.md): stop waits until the stopped node's
# controllers hold none (their entries hciN:HANDLE in /sys/class/bluetooth).
stop() {
	eval "pid=\$PID_$1"
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	for h in $(sed -n 's/^adapter = //p' "/nodes/$1/apagon.conf" 2>/dev/null); do
		wait_for 8 no_connection "$h"
	done
	return 0
}
no_connection() { ! ls /sys/class/bluetooth/ | grep -q "^$1:"; }
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
# queue_for_bob N TAG TEXT: bob goes away, alice queues N messages "TAG i: TEXT" for
# him, and bob's configuration has no link yet, for his return.
queue_for_bob() {
	stop bob
	i=1
	while [ $i -le "$1" ]; do
		apagon --dir /nodes/alice send --to bob "$2 $i: $3" >/dev/null 2>&1 ||
		    echo "INFO $2 send $i refused"
		i=$((i + 1))
	done
	echo "# no links yet" >/nodes/bob/apagon.conf
}

# The emulated CPU's time, for the bench: "uptime busy_ticks idle_ticks" then one
# "NAME ticks" line for each of btvirt, alice and bob (user + system, 100 a second;
# the bench's watcher adds NAME_in_kernel lines, the system part).
cpu_snap() {
	now
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat
	for np in "btvirt $(pidof btvirt)" "alice ${PID_alice:-}" "bob ${PID_bob:-}"; do
		set -- $np
		[ -n "${2:-}" ] && [ -r "/proc/$2/stat" ] || continue
		awk -v n="$1" '{ sub(/^[^)]*\) /, ""); print n, $12 + $13 }' "/proc/$2/stat"
	done
}
# cpu_diff A B: the CPU time spent between two snapshots, in seconds: all of it
# (user, system, interrupts), each named process's, and the rest (the kernel's
# threads, the air's interrupts, anything else).
cpu_diff() {
	awk 'FNR == 1 { t[FILENAME] = $1; next }
	    FNR == 2 { b[FILENAME] = $1; next }
	    { p[FILENAME, $1] = $2; names[$1] = 1 }
	    END { f0 = ARGV[1]; f1 = ARGV[2]; bu = (b[f1] - b[f0]) / 100
		printf "%.2f s wall, %.2f s CPU busy", t[f1] - t[f0], bu
		for (n in names) {
			c = (p[f1, n] - p[f0, n]) / 100
			if (n !~ /_in_kernel$/)
				bu -= c
			printf ", %s %.2f s", n, c
		}
		printf ", rest %.2f s", bu }' "$1" "$2"
}

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

# Bench mode measures only (make bench); steps 4b to 7 run in make test.
if [ "$BENCH" = 0 ]; then
# ---- 4b. a relay holding two links at once ----
# btvirt (BlueZ 5.66) gives every ACL connection the handle 42, so a controller
# in two links at once has two connections under one handle: the kernel cannot
# register the second ("failed to register connection device") and the links
# stall. bob therefore holds his two links on two controllers, hci1 and hci3, one
# [bluetooth] section each, as a relay with two dongles would; every controller
# stays in one link, and each may hold one (max-links = 1). alice dials bob's hci1
# and carol his hci3 (configured peers, dialed at once); at their cap, alice
# hears carol advertise and does not dial her, and carol leaves dialing to the
# lower address. So while both are up, what passes between them crosses bob's two
# links, and the message and its receipt go through them live.
stop alice
stop bob
printf '[bluetooth radio]\nadapter = hci1\nmax-links = 1\n\n[bluetooth radio2]\nadapter = hci3\nmax-links = 1\n' \
    >/nodes/bob/apagon.conf
conf alice hci0 "$A1"
printf 'max-links = 1\n' >>/nodes/alice/apagon.conf
conf carol hci2 "$A3"
printf 'max-links = 1\n' >>/nodes/carol/apagon.conf
l_alice=$(wc -l </tmp/alice.log)
l_carol=$(wc -l </tmp/carol.log)
check bob_two_adapters_started start bob
check alice_capped_started start alice
check two_links_alice_up wait_for 150 session_open bob alice
check carol_capped_started start carol
both_open() { session_open bob alice && session_open bob carol; }
check bob_holds_two_links wait_for 150 both_open
since() { tail -n +"$(($2 + 1))" "/tmp/$1.log"; }
l_both=$(wc -l </tmp/bob.log)
check bob_status_two_links sh -c '[ "$(apagon --dir /nodes/bob status | grep -c "up .*1 of 1 links")" -eq 2 ]'
send2() { apagon --dir /nodes/alice send --to carol "$1" >/dev/null 2>&1; }
check alice_sends_while_both_up wait_for 60 send2 "Water truck at the north gate, 14:00"
check relayed_live_to_carol wait_for 90 inbox_has carol "Water truck at the north gate"
out_delivered() {
	apagon --dir "/nodes/$1" --json outbox 2>/dev/null | sed 's/},{/}\n{/g' | grep -F "$2" |
	    grep -q '"state":"delivered"'
}
check receipt_live_to_alice wait_for 90 out_delivered alice "Water truck at the north gate"
# Both links stayed up from before the message left until its receipt came back.
held() { ! since bob "$l_both" | grep -q "closed" && both_open; }
check two_links_held_throughout held
# Nothing went straight from alice to carol: neither ever linked the other.
no_direct() {
	! since alice "$l_alice" | grep -q "link with $A2" &&
	    ! since carol "$l_carol" | grep -q "link with $A0"
}
check no_direct_alice_carol no_direct
# The cap on the dialing side, on air: alice heard carol's token and did not dial.
heard() { since alice "$l_alice" | grep -q "a member advertises at $A2"; }
check cap_alice_heard_carol heard
no_dial() { ! since alice "$l_alice" | grep -q "dialing $A2"; }
check cap_alice_did_not_dial no_dial
stop carol
stop bob
conf carol hci2
conf alice hci0
conf bob hci1
check bob_back_on_one_adapter start bob

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
# The raw client's connection must be gone from bob's controller before mallory's
# comes (one connection per controller on btvirt; see stop()).
wait_for 8 no_connection hci0

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
queue_for_bob 60 msg "$big$big$big$big$big$big"
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

# ---- 7b. a FLASH message overtakes a bulk transfer ----
# alice queues 80 ROUTINE messages of 28 kB (about 2.2 MB) while bob is away; bob
# comes back, and once his first one is stored alice sends one FLASH. Her session
# sends the highest precedence next (protocol.md 15.4) and the link queues at most two
# frames ahead (protocol.md 17.2), so the FLASH is stored right after what bob had
# when alice took it and what was queued or on the way then: two frames of two
# bundles at alice, what bob's kernel held for him to read (its receive buffer, some
# four bundles), and the frame bob was storing; 16 allows some more for the
# watcher's lag (seen: 17th with 6 stored before, 21st with 14). Before the queue was
# bounded it was stored last. bob's events are stamped as they come by a watcher
# that nothing else holds up, and the stamp of alice's taking the FLASH is read when
# her send returns. A FLASH taken with fewer than 20 of the bulk messages still to
# come shows nothing (the transfer outran the CLI): the check says skip with the
# figures.
bulk_order() {
	apagon --dir /nodes/bob --json inbox 2>/dev/null | grep -E -o '"text":"(bulk [0-9]+|FLASH):'
}
queue_for_bob 80 bulk "$(awk -v b="$big" 'BEGIN { for (i = 0; i < 28; i++) printf "%s", b }')"
check bob_back_for_bulk start bob
before=$(inbox_count bob)
: >/tmp/bulk_stamps
apagon --dir /nodes/bob --json watch --no-text 2>/dev/null | awk '/"message.received"/ {
	getline u < "/proc/uptime"; close("/proc/uptime"); split(u, a, " ")
	print a[1]; fflush() }' >/tmp/bulk_stamps &
sleep 1
conf bob hci1
kill -HUP "$PID_bob"
first_stored() { [ -s /tmp/bulk_stamps ]; }
wait_for 120 first_stored
apagon --dir /nodes/alice send --precedence flash --to bob "FLASH: evacuate the east wing" \
    >/dev/null 2>&1
t_flash=$(now)
check bulk_and_flash_arrive wait_for 180 inbox_at_least bob $((before + 81))
kill $(pidof apagon) 2>/dev/null
pos=$(bulk_order | awk '/FLASH/ { print NR; exit }')
had=$(awk -v t="$t_flash" '$1 <= t { n++ } END { print n + 0 }' /tmp/bulk_stamps)
echo "INFO the FLASH message was stored as number ${pos:-none} of $(bulk_order | wc -l); bob had stored $had when alice took it"
if [ "$had" -gt 60 ]; then
	echo "SKIP flash_overtakes_bulk alice took the FLASH after $had of 80 were stored"
else
	check flash_overtakes_bulk [ "${pos:-99}" -le $((had + 16)) ]
fi

# ---- 8. a peer without LE: L2CAP over BR/EDR ----
# carol's controller has LE turned off: her transport falls back to L2CAP over
# BR/EDR (PSM 0x1081) and dials bob, her configured peer; bob's dual-mode adapter
# takes BR/EDR links as well as LE ones. A message from bob and its receipt cross.
stop alice
# bob's controller must be out of its LE link with alice before carol's BR/EDR
# link comes: on btvirt both would get handle 42 (Limits in docs/bluetooth.md).
no_link_alice() { ! peers_lines bob | grep -q "$A0"; }
wait_for 30 no_link_alice
sleep 3
mg -i 2 power off
mg -i 2 le off
mg -i 2 power on
conf carol hci2 "$A1"
l_bob=$(wc -l </tmp/bob.log)
l_carol=$(wc -l </tmp/carol.log)
check bredr_carol_started start carol
carol_bredr() { since carol "$l_carol" | grep -q 'up: BR/EDR L2CAP, PSM 0x1081'; }
check bredr_carol_has_no_le wait_for 30 carol_bredr
check bredr_session_open wait_for 90 session_open bob carol
bob_took_bredr() { since bob "$l_bob" | grep -q "link with $A2 up (accepted, BR/EDR"; }
check bredr_link_is_bredr bob_took_bredr
send3() { apagon --dir /nodes/bob send --to carol "$1" >/dev/null 2>&1; }
check bredr_bob_sends wait_for 60 send3 "Radio check over the old link"
check bredr_message_reaches_carol wait_for 90 inbox_has carol "Radio check over the old link"
check bredr_receipt_reaches_bob wait_for 90 out_delivered bob "Radio check over the old link"
# The other way round: carol configures no peer and bob's dual-mode adapter has her
# as his configured peer. His first dial goes over LE and finds no one (carol has no
# LE); the next goes over BR/EDR, and his log says so.
stop carol
stop bob
conf carol hci2
conf bob hci1 "$A2"
l_bob=$(wc -l </tmp/bob.log)
check bredr_carol_restarted start carol
check bredr_bob_restarted start bob
bob_falls_back() { since bob "$l_bob" |
    grep -q "dialing $A2 over BR/EDR L2CAP (PSM 0x1081): the last dial over LE failed"; }
check bredr_bob_falls_back_to_bredr wait_for 120 bob_falls_back
bob_dialed_bredr() { since bob "$l_bob" | grep -q "link with $A2 up (dialed, BR/EDR"; }
check bredr_bob_dialed_bredr wait_for 60 bob_dialed_bredr
check bredr_dialed_session_open wait_for 90 session_open bob carol
check bredr_dialed_bob_sends wait_for 60 send3 "Second radio check, bob dialing"
check bredr_dialed_message_reaches_carol wait_for 90 inbox_has carol "Second radio check, bob dialing"
stop carol

# ---- 9. a refused dial: bob keeps dialing, keeps his other link, links when alice is back ----
# alice's daemon dies (kill -9) with her controller still advertising, so an LE dial
# to her reaches her controller and finds nothing on the PSM. bob has her as a
# configured peer on hci1; on hci3 he holds a link with carol (BR/EDR: her LE is off
# since step 8, so she neither advertises nor scans and only dials her configured
# peer), one controller per link (Limits in docs/bluetooth.md).
mark() { wc -l <"/tmp/$1.log" 2>/dev/null || echo 0; }
# le_mode N on|off: a controller's LE, with its power cycled around the change
le_mode() { mg -i "$1" power off; mg -i "$1" le "$2"; mg -i "$1" power on; }
stop bob
conf alice hci0
l_a=$(mark alice)
check refused_alice_started start alice
alice_adv() { since alice "$l_a" | grep -q "advertising token"; }
wait_for 20 alice_adv
stop alice KILL
printf '[bluetooth radio]\nadapter = hci1\nmax-links = 1\npeers = %s\n\n[bluetooth radio2]\nadapter = hci3\nmax-links = 1\n' \
    "$A0" >/nodes/bob/apagon.conf
conf carol hci2 "$A3"
printf 'max-links = 1\n' >>/nodes/carol/apagon.conf
l_b=$(mark bob)
check refused_bob_started start bob
check refused_carol_started start carol
check refused_carol_linked wait_for 60 session_open bob carol
check refused_bob_sends_carol wait_for 60 send3 "Still on the air while alice is away"
# Three dials in a row fail (LE and BR/EDR alternate for a configured peer), and the
# first LE one was refused by alice's controller: one line says so, the retries
# are debug lines naming the growing wait.
fails_in_row() { since bob "$l_b" | grep -q "dial $A0 failed again ($1 in a row)"; }
check refused_dials_fail_again wait_for 90 fails_in_row 3
refused_line() { since bob "$l_b" | grep "dial $A0 failed: refused" | grep -q "PSM 0x0081"; }
check refused_one_clear_line sh -c "[ \"\$(tail -n +$((l_b + 1)) /tmp/bob.log | grep -c 'dial $A0 failed: ')\" -eq 1 ]"
check refused_says_refused refused_line
waits() { since bob "$l_b" | sed -n "s/.*dial $A0 failed again ([0-9]* in a row).*; next in \([0-9]*\) s/\1/p" | tr '\n' ' '; }
echo "INFO refused: bob's waits after each failed dial to alice (s): $(waits)"
backs_off() { echo "$(waits)" | awk '{ exit !(NF >= 2 && $2 > $1) }'; }
check refused_backs_off backs_off
# Meanwhile bob's other link carried a message.
check refused_other_link_runs wait_for 90 inbox_has carol "Still on the air while alice is away"
conf alice hci0 "$A1"
printf 'max-links = 1\n' >>/nodes/alice/apagon.conf
check refused_alice_back start alice
check refused_links_when_back wait_for 90 session_open bob alice
check refused_carol_link_held sh -c "! tail -n +$((l_b + 1)) /tmp/bob.log | grep -q 'link with $A2 closed'"
stop alice
stop carol
stop bob

# ---- 10. rotation: a node capped to one link takes turns with two members ----
# alice (max-links = 1, rotate-after = 10) has bob and carol as configured peers and
# a message queued for carol. All three are BR/EDR-only here, so bob and carol,
# who dial no one and are not discoverable, never link each other: on btvirt a
# controller holds one connection at a time (Limits), and two free members that
# heard each other would race alice for the same controller. alice links bob
# first; carol waiting, the link is closed by rotation; alice links carol, who
# gets the message from her.
le_mode 0 off
le_mode 1 off
conf alice hci0 "$A1, $A2"
printf 'max-links = 1\nrotate-after = 10\n' >>/nodes/alice/apagon.conf
conf bob hci1
conf carol hci2
apagon --dir /nodes/alice send --to carol "Your turn comes, carol" >/dev/null 2>&1
l_a=$(mark alice)
l_b=$(mark bob)
l_c=$(mark carol)
check rotation_bob_started start bob
check rotation_carol_started start carol
check rotation_alice_started start alice
check rotation_links_bob_first wait_for 60 session_open alice bob
rotated() { since alice "$l_a" | grep -q "link with $A1 closed: rotation"; }
check rotation_closes_bob wait_for 90 rotated
carol_turn() { since alice "$l_a" | grep -q "link with $A2 up (dialed"; }
check rotation_links_carol wait_for 60 carol_turn
check rotation_message_reaches_carol wait_for 60 inbox_has carol "Your turn comes, carol"
check rotation_carol_only_via_alice sh -c "! tail -n +$((l_c + 1)) /tmp/carol.log | grep -q 'link with $A1'"
check rotation_counted counter_at_least alice dropped.rotation 1
echo "INFO rotation: alice's links: $(since alice "$l_a" | grep -E "link with" | cut -d: -f2- | tr '\n' '|')"
stop alice
stop bob
stop carol
le_mode 0 on
le_mode 1 on

# ---- 11. both ends dial each other: the redundant link is closed ----
# alice and bob have each other as configured peers. When both dials meet (two
# L2CAP channels over the one connection between their controllers), alice (the
# lower address) refuses bob's, and bob closes his own once the kernel has finished
# it: one link stays, and it carries the session. alice starts first: her dial waits
# for bob's controller to advertise, and bob dials her as he comes up, before her
# connection reaches him. Whether the dials meet still depends on timing (a link
# that comes up before the other dial is made leaves nothing to drop): up to four
# tries, each from no connection (stop waits for that).
# A try is void when the two dials made two connections between the controllers
# rather than two channels on one: btvirt gives both the handle 42, the kernel
# cannot register the second ("failed to register connection device" in its log)
# and the links stall (Limits in docs/bluetooth.md). No real controller reuses a
# handle; such a try is reported and made again.
conf alice hci0 "$A1"
conf bob hci1 "$A0"
handle_clash() { dmesg | tail -n +"$1" | grep -qE "failed to register connection device|Directory '42' with parent"; }
met=0
k=1
while [ $k -le 4 ] && [ "$met" = 0 ]; do
	l_a=$(mark alice)
	l_b=$(mark bob)
	l_k=$(($(dmesg | wc -l) + 1))
	start alice
	start bob
	open_or_clash() { session_open alice bob || handle_clash "$l_k"; }
	wait_for 60 open_or_clash
	if handle_clash "$l_k"; then
		echo "INFO redundant try $k: void, two connections under one handle (btvirt): $(dmesg | tail -n +"$l_k" | grep -E 'handle|register|42' | head -n 3 | tr '\n' '|')"
		stop alice
		stop bob
	elif [ "$(counter alice rejected.duplicate_link)" -ge 1 ] 2>/dev/null &&
	    [ "$(counter bob dropped.redundant)" -ge 1 ] 2>/dev/null; then
		met=1
	else
		echo "INFO redundant try $k: the dials did not meet: $(since bob "$l_b" | grep -E 'link with|dial' | cut -d: -f2- | tr '\n' '|')"
		stop alice
		stop bob
	fi
	k=$((k + 1))
done
if [ "$met" = 1 ]; then
	check redundant_session_open wait_for 60 session_open alice bob
	check redundant_one_link sh -c 'apagon --dir /nodes/bob status | grep -q "up .*1 of 4 links"'
	kept() { since bob "$l_b" | grep -q "link with $A0 up (accepted"; }
	check redundant_lower_dial_kept kept
	ours_closed() { since bob "$l_b" | grep -q "our redundant dial to $A0 closed"; }
	check redundant_own_dial_closed wait_for 30 ours_closed
	sleep 2
	check redundant_link_stays sh -c "! tail -n +$((l_b + 1)) /tmp/bob.log | grep -q 'link with $A0 closed'"
	# For a failure: the kernel's log since the try began, and the connections.
	tail -n +$((l_b + 1)) /tmp/bob.log | grep -q "link with $A0 closed" &&
	    echo "INFO redundant: kernel log since the try: $(dmesg | tail -n +"$l_k" | tr '\n' '|'); connections: $(ls /sys/class/bluetooth | tr '\n' ' ')"
else
	echo "SKIP redundant_link_closed in four tries alice's and bob's dials never met on one connection (one came up before the other was made, or btvirt gave two connections one handle)"
fi
stop alice
stop bob

# ---- 12. token epochs: the clock jumps; members still find each other ----
# bob advertises his token of epoch E and is stopped (SIGSTOP: his controller goes
# on advertising it); the clock jumps into E + 1 and alice, started then, hears it
# as the previous epoch's and dials; bob resumes and advertises a new token. Then
# the other way: bob advertising E + 1 is stopped, the clock goes back into E, and
# alice hears his token as the next epoch's.
tok_of() { since "$1" "$2" | sed -n 's/.*advertising token \([0-9a-f]*\) (epoch \([0-9]*\)).*/\1 \2/p' | tail -n 1; }
conf alice hci0
conf bob hci1
l_b=$(mark bob)
check epoch_bob_started start bob
bob_tok() { [ -n "$(tok_of bob "$l_b")" ]; }
wait_for 20 bob_tok
set -- $(tok_of bob "$l_b") x x
T1=$1
E1=$2
kill -STOP "$PID_bob"
date -s "@$(( ($(date +%s) / 900 + 1) * 900 + 300 ))" >/dev/null
echo "INFO epoch: bob advertised $T1 in epoch $E1; the clock now in epoch $(( $(date +%s) / 900 ))"
l_a=$(mark alice)
check epoch_alice_started start alice
heard() { since alice "$l_a" | grep -q "advertises at $A1 (token $1, $2 epoch)"; }
check epoch_previous_accepted wait_for 60 heard "$T1" previous
a_dialed() { since alice "$l_a" | grep -q "link with $A1 up (dialed"; }
check epoch_previous_dialed wait_for 60 a_dialed
l_b=$(mark bob)
kill -CONT "$PID_bob"
check epoch_previous_session wait_for 60 session_open alice bob
wait_for 20 bob_tok
set -- $(tok_of bob "$l_b") x x
T2=$1
E2=$2
echo "INFO epoch: bob now advertises $T2 in epoch $E2"
check epoch_token_changed [ "$T2" != "$T1" -a "$E2" = "$((E1 + 1))" ]
check epoch_new_token_heard wait_for 60 heard "$T2" current
l_b=$(mark bob)
stop alice
b_lost() { since bob "$l_b" | grep -q "link with $A0 closed"; }
wait_for 20 b_lost
sleep 2
kill -STOP "$PID_bob"
date -s "@$(( ($(date +%s) / 900 - 1) * 900 + 300 ))" >/dev/null
echo "INFO epoch: the clock back in epoch $(( $(date +%s) / 900 ))"
l_a=$(mark alice)
check epoch_alice_restarted start alice
check epoch_next_accepted wait_for 60 heard "$T2" next
check epoch_next_dialed wait_for 60 a_dialed
kill -CONT "$PID_bob"
check epoch_next_session wait_for 60 session_open alice bob
stop alice
stop bob
fi

# ---- 8. bench: bundle goodput over one L2CAP link, and raw bytes over the same ----
# The host's load moves the emulated CPU's speed from one second to the next, so the
# two are measured together: a round is the same byte count raw, then the bundles,
# then raw again, back to back, and the bundles are held against the mean of the two
# raw transfers' times (a host that sped up or slowed down during the round counts
# on both sides); bench_case runs five rounds and reports the median round.

# bundle_run TAG N TEXT: alice queues N messages for bob while he is away; bob comes
# back and takes them over one link. Sets bytes, ours (bytes a second), got (messages
# heard), tf, t1, nf (first and last stored, how many with the first), and keeps the
# window's CPU counters in /tmp/cpu0b.txt and /tmp/cpu1b.txt. alice is running.
bundle_run() {
	tag=$1 N=$2 text=$3
	stop bob
	apagon --dir /nodes/alice export --out /tmp/e0.apg >/dev/null 2>&1
	i=1
	while [ $i -le $N ]; do
		apagon --dir /nodes/alice send --to bob "$tag $i: $text" >/dev/null 2>&1
		i=$((i + 1))
	done
	apagon --dir /nodes/alice export --out /tmp/e1.apg >/dev/null 2>&1
	bytes=$(($(stat -c %s /tmp/e1.apg) - $(stat -c %s /tmp/e0.apg)))
	# The raw transfer before the bundles, as close to them as it can be.
	stop alice
	raw_run "$tag" "$bytes"
	raw_run "$tag" "$bytes" paced
	start alice
	# Times from bob's live events, stamped as they come: from the link to alice
	# coming up (before the handshake) to the last of the N bundles stored. bob
	# starts with no link, so that the watcher is listening before it opens. The
	# watcher also reads the CPU counters at both ends of that window, and nothing
	# else runs meanwhile: the script only sleeps until the watcher is done (a CLI
	# call or a grep a moment would take the one emulated CPU from the transfer).
	# The watcher asks for no texts (watch --no-text): only times are needed, and
	# texts would have bob open each one again and pass it through the CLI and awk,
	# on the CPU the transfer runs on. Every message.received in the window is
	# one of the N (nothing else is sent to bob); the texts are checked in bob's
	# inbox once the window is over.
	echo "# no links yet" >/nodes/bob/apagon.conf
	start bob
	rm -f /tmp/watch.done
	apagon --dir /nodes/bob --json watch --no-text 2>/dev/null | awk -v n="$N" \
	    -v pids="btvirt=$(pidof btvirt) alice=$PID_alice bob=$PID_bob" '
	function snap(f,   l, a, k, q, kv) {
		getline l < "/proc/uptime"; close("/proc/uptime"); split(l, a, " ")
		print a[1] > f
		while ((getline l < "/proc/stat") > 0)
			if (split(l, a, " ") && a[1] == "cpu")
				print a[2] + a[3] + a[4] + a[7] + a[8], a[5] + a[6] > f
		close("/proc/stat")
		k = split(pids, q, " ")
		for (i = 1; i <= k; i++) {
			split(q[i], kv, "=")
			if ((getline l < ("/proc/" kv[2] "/stat")) > 0) {
				sub(/^[^)]*\) /, "", l); split(l, a, " ")
				print kv[1], a[12] + a[13] > f
				print kv[1] "_in_kernel", a[13] > f
			}
			close("/proc/" kv[2] "/stat")
		}
		close(f)
	}
	{
		getline u < "/proc/uptime"; close("/proc/uptime"); split(u, a, " ")
		print a[1], $0; fflush()
		if (!up && /"peer.up"/) { up = 1; snap("/tmp/cpu0b.txt") }
		if (/"message.received"/ && ++got >= n) {
			snap("/tmp/cpu1b.txt"); print "" > "/tmp/watch.done"; exit
		}
	}' >/tmp/watch.txt &
	sleep 1
	conf bob hci1
	kill -HUP "$PID_bob"
	w=0
	while [ ! -e /tmp/watch.done ] && [ $w -lt 300 ]; do sleep 1; w=$((w + 1)); done
	sleep 1
	echo "INFO [$tag] bundle transfer CPU, link up to last stored: $(cpu_diff /tmp/cpu0b.txt /tmp/cpu1b.txt)"
	echo "INFO [$tag] bob's session with alice: $(peers_lines bob | grep '"member":"alice"' |
	    grep -o '"\(rx_frames\|rx_bytes\|tx_frames\|sync_rounds\|bundles_[a-z_]*\|bad_[a-z]*\|replayed\)":[0-9]*' |
	    tr '\n' ' ')"
	kill $(pidof apagon) 2>/dev/null
	# bob's refusals so far (cumulative), so that a round whose bundles were held up
	# says why.
	echo "INFO [$tag] bob's counters: $(apagon --dir /nodes/bob --json counters 2>/dev/null |
	    grep -o '"\(accepted\|rejected[.a-z_-]*\|receipt[.a-z_]*\)":[0-9]*' | tr '\n' ' ')"
	t0=$(awk '/"peer.up"/ { print $1; exit }' /tmp/watch.txt)
	t1=$(awk '/"message.received"/ { t = $1 } END { print t }' /tmp/watch.txt)
	tf=$(awk '/"message.received"/ { print $1; exit }' /tmp/watch.txt)
	nf=$(awk -v f="$tf" '/"message.received"/ && $1 == f { n++ } END { print n + 0 }' /tmp/watch.txt)
	got=$(awk '/"message.received"/ && /"from":"alice"/ { n++ } END { print n + 0 }' /tmp/watch.txt)
	# The texts themselves, now that the window is over: all N, each once.
	intext=$(apagon --dir /nodes/bob --json inbox 2>/dev/null | grep -o "\"$tag [0-9]*: " | sort -u | wc -l)
	echo "INFO [$tag] watch: $got of $N messages seen (from alice), $intext of $N texts in bob's inbox, link up at $t0"
	[ "$intext" -ge "$N" ] && [ -n "$t0" ] || got=0
	echo "INFO [$tag] bundles stored, seconds after the link came up: $(awk -v a="$t0" \
	    '/"message.received"/ { n++; if (n == 1 || n % 10 == 0)
	    printf "#%d %.2f  ", n, $1 - a }' /tmp/watch.txt)"
	ours=$(awk -v b="$bytes" -v a="${t0:-0}" -v z="${t1:-0}" 'BEGIN { d = z - a; if (d < 0.01) d = 0.01; printf "%.0f", b / d }')
	echo "INFO [$tag] bundles: $N, $bytes bytes in $(awk -v a="${t0:-0}" -v z="${t1:-0}" 'BEGIN { print z - a }') s"
}

# raw_run TAG BYTES [paced]: BYTES raw over a fresh link between the same two
# controllers, in the same direction and roles (alice's controller dials and sends);
# alice and bob are stopped. Blocking sends, as l2test's; with "paced", sends that wait
# for the peer's credits as our transport does (bench_bt client ... paced). Appends
# "seconds sender_cpu receiver_cpu" to /tmp/raws.txt (/tmp/rawsp.txt when paced). Both
# controllers are powered off and on first: whatever the daemons left running there
# (a discovery run, a connection attempt) ends with it. bob's controller then
# advertises (empty) so that alice's can dial it; on a loaded host btmgmt can time
# out, so the setting is read back.
raw_run() {
	for i in 0 1; do
		mg -i $i power off
		mg -i $i power on
	done
	k=0
	while [ $k -lt 5 ]; do
		mg -i 1 advertising on
		timeout 5 btmgmt -i 1 info </dev/console 2>/dev/null |
		    grep -q "current settings:.* advertising" && break
		k=$((k + 1))
		sleep 1
	done
	bench_bt server hci1 0x83 >/tmp/server.log 2>&1 &
	srv=$!
	k2=0
	while ! grep -q listening /tmp/server.log && [ $k2 -lt 10 ]; do
		sleep 1
		k2=$((k2 + 1))
	done
	cpu_snap >/tmp/cpu0.txt
	bench_bt client hci0 "$A1" 0x83 "$2" ${3:-} >/tmp/raw.txt 2>&1
	# The receiver is done once the sender is (it had the answer); if no link
	# came up it still waits for one: end it.
	k2=0
	while ! grep -q ') Z' "/proc/$srv/stat" 2>/dev/null && [ -e "/proc/$srv" ] &&
	    [ $k2 -lt 10 ]; do
		sleep 1
		k2=$((k2 + 1))
	done
	kill "$srv" 2>/dev/null
	wait "$srv"
	cpu_snap >/tmp/cpu1.txt
	mg -i 1 advertising off
	echo "INFO [$1] raw${3:+ ($3)}: $(tr '\n' ' ' </tmp/raw.txt) $(tr '\n' ' ' </tmp/server.log)"
	echo "INFO [$1] raw${3:+ ($3)} CPU (with the dial): $(cpu_diff /tmp/cpu0.txt /tmp/cpu1.txt)"
	awk '$1 == "raw_seconds" { t = $2 } $1 == "raw_sender_cpu_s" { s = $2 }
	    $1 == "raw_receiver_cpu_s" { r = $2 } END { if (t != "") print t, s + 0, r + 0 }' \
	    /tmp/raw.txt /tmp/server.log >>"/tmp/raws${3:+p}.txt"
}

# all_delivered NODE: no message in NODE's outbox is still without its receipt.
all_delivered() {
	p=$(apagon --dir "/nodes/$1" --json status 2>/dev/null |
	    sed -n 's/.*"messages":{[^}]*"pending":\([0-9]*\).*/\1/p')
	[ "${p:-1}" -eq 0 ]
}

# bench_case SUFFIX N COPIES: five rounds of N messages from alice to bob, each of
# COPIES times the 1 kB line above, each followed by the same byte count raw. Prints
# BENCH bt.*SUFFIX lines: the round with the median ratio, and its figures.
bench_case() {
	sfx=$1 N=$2 copies=$3
	text=$(awk -v b="$big" -v k="$copies" 'BEGIN { for (i = 0; i < k; i++) printf "%s", b }')
	: >/tmp/rounds.txt
	for r in 1 2 3 4 5; do
		tag="bench$sfx.$r"
		: >/tmp/raws.txt
		: >/tmp/rawsp.txt
		bundle_run "$tag" "$N" "$text"
		# The round's receipts reach alice before bob stops. bob writes them 2 s after
		# the last message; stopped sooner, he keeps them for the next link, and alice
		# took them at the start of the next round's window, with her purge of this
		# round's bundles (seen in slow rounds: her CPU in the window a third higher).
		wait_for 30 all_delivered alice ||
		    echo "INFO [$tag] alice still waits for receipts; the next round may take them"
		stop bob
		stop alice
		if [ "$got" -lt "$N" ]; then
			echo "INFO [$tag] not every bundle arrived: no figures from this round"
			start alice
			continue
		fi
		raw_run "$tag" "$bytes" paced
		raw_run "$tag" "$bytes"
		start alice
		# Both raw transfers, their times and CPU averaged: "seconds sender_cpu
		# receiver_cpu", as one raw transfer's.
		if [ "$(wc -l </tmp/raws.txt)" -ne 2 ] || [ "$(wc -l </tmp/rawsp.txt)" -ne 2 ]; then
			echo "INFO [$tag] a raw transfer failed: no figures from this round"
			continue
		fi
		echo "INFO [$tag] raw paced before and after (s): $(awk '{ printf "%s ", $1 }' /tmp/rawsp.txt)"
		rawp=$(awk -v b="$bytes" '{ t += $1 } END { if (t > 0) printf "%.0f", b / (t / 2) }' /tmp/rawsp.txt)
		echo "INFO [$tag] raw before and after (s): $(awk '{ printf "%s ", $1 }' /tmp/raws.txt)"
		awk '{ t += $1; s += $2; c += $3 } END { printf "%.3f %.3f %.3f\n", t / 2, s / 2, c / 2 }' \
		    /tmp/raws.txt >/tmp/raws2.txt
		mv /tmp/raws2.txt /tmp/raws.txt
		raw=$(awk -v b="$bytes" '{ if ($1 > 0) printf "%.0f", b / $1 }' /tmp/raws.txt)
		if [ -z "$raw" ]; then
			echo "INFO [$tag] raw sender failed: no figures from this round"
			continue
		fi
		# The same from the first bundle stored to the last: without the handshake
		# and the first reconciliation (bundles stored together with the first are
		# left out of the bytes).
		stream=$(awk -v b="$bytes" -v n="$N" -v k="$nf" -v a="$tf" -v z="$t1" -v r="$raw" \
		    'BEGIN { if (k >= n) { print "-"; exit } d = z - a; if (d < 0.01) d = 0.01;
		    printf "%.3f", b * (n - k) / n / d / r }')
		ab=$(awk '$1 == "alice" { a[FILENAME] = $2 } $1 == "bob" { b[FILENAME] = $2 }
		    END { printf "%.2f %.2f", (a[ARGV[2]] - a[ARGV[1]]) / 100, (b[ARGV[2]] - b[ARGV[1]]) / 100 }' \
		    /tmp/cpu0b.txt /tmp/cpu1b.txt)
		ratio=$(awk -v o="$ours" -v r="$raw" 'BEGIN { printf "%.3f", o / r }')
		ratiop=$(awk -v o="$ours" -v r="${rawp:-0}" 'BEGIN { if (r > 0) printf "%.3f", o / r; else print 0 }')
		echo "INFO [$tag] round $r: bundles $ours B/s, raw $raw B/s, ratio $ratio, stream $stream; raw paced $rawp B/s, ratio $ratiop; CPU in the bundle window, alice and bob (s): $ab; raw (s, sender CPU, receiver CPU): $(cat /tmp/raws.txt)"
		echo "$ratio $bytes $ours $raw $stream $ab $(cat /tmp/raws.txt) $ratiop $rawp" >>/tmp/rounds.txt
	done
	# What every bundle's cryptography costs on this emulated CPU, which the raw
	# sender never pays: with one CPU for both ends and the air, the bundles can
	# take no less than the raw bytes' time plus this, N times.
	bench_bt crypto $((bytes / N)) >/tmp/crypto.txt 2>&1
	echo "INFO [bench$sfx] $(tr '\n' ' ' </tmp/crypto.txt)"
	cus=$(awk '$1 == "crypto_us_per_bundle" { print $2 }' /tmp/crypto.txt)
	nr=$(wc -l </tmp/rounds.txt)
	if [ "$nr" -eq 0 ]; then
		echo "INFO [bench$sfx] no round gave figures"
		return
	fi
	echo "INFO [bench$sfx] rounds with figures: $nr of 5; ratios: $(awk '{ printf "%s ", $1 }' /tmp/rounds.txt)"
	# The median round (the lower middle one of an even count).
	set -- $(sort -n /tmp/rounds.txt | awk -v n="$nr" 'NR == int((n + 1) / 2)')
	ratio=$1 bytes=$2 ours=$3 raw=$4 stream=$5 ca=$6 cb=$7 rawsec=$8 rs=$9 rr=${10}
	echo "BENCH bt.goodput_rounds$sfx $nr"
	echo "BENCH bt.bundle_bytes$sfx $bytes"
	echo "BENCH bt.bundle_bytes_per_s$sfx $ours"
	echo "BENCH bt.raw_bytes_per_s$sfx $raw"
	echo "BENCH bt.goodput_vs_raw$sfx $ratio"
	echo "BENCH bt.goodput_vs_raw_lowest$sfx $(sort -n /tmp/rounds.txt | awk 'NR == 1 { print $1 }')"
	echo "BENCH bt.goodput_vs_raw_highest$sfx $(sort -n /tmp/rounds.txt | awk '{ v = $1 } END { print v }')"
	[ "$stream" = - ] || echo "BENCH bt.stream_goodput_vs_raw$sfx $stream"
	# Against the paced raw sender: each round's ratio, the median round of those.
	set -- $(awk '{ print $11, $12 }' /tmp/rounds.txt | sort -n | awk -v n="$nr" 'NR == int((n + 1) / 2)')
	echo "BENCH bt.raw_paced_bytes_per_s$sfx $2"
	echo "BENCH bt.goodput_vs_raw_paced$sfx $1"
	echo "BENCH bt.goodput_vs_raw_paced_lowest$sfx $(awk '{ print $11 }' /tmp/rounds.txt | sort -n | awk 'NR == 1')"
	if [ -n "$cus" ]; then
		echo "BENCH bt.crypto_us_per_bundle$sfx $cus"
		echo "BENCH bt.crypto_ceiling_vs_raw$sfx $(awk -v r="$rawsec" -v c="$cus" -v n="$N" \
		    'BEGIN { printf "%.3f", r / (r + n * c / 1e6) }')"
	fi
	# The CPU ceiling: the raw time plus only the CPU the two daemons spent in the
	# window beyond what the raw sender and receiver spent, as if the link and
	# everything else cost nothing more. One emulated CPU runs both ends and the
	# air, so the bundles cannot beat it.
	echo "BENCH bt.receiver_cpu_ms_per_bundle$sfx $(awk -v b="$cb" -v n="$N" 'BEGIN { printf "%.1f", b * 1000 / n }')"
	echo "BENCH bt.cpu_ceiling_vs_raw$sfx $(awk -v a="$ca" -v b="$cb" -v t="$rawsec" -v s="$rs" -v r="$rr" \
	    'BEGIN { extra = a - s + b - r; if (extra < 0) extra = 0; printf "%.3f", t / (t + extra) }')"
}

if [ "$BENCH" = 1 ]; then
	# Full-size bundles (30 kB of text each, near the largest a message holds):
	# the link's goodput for bulk, where the per-message costs are spread over the
	# bytes. Then short messages (2 kB), where they are not.
	bench_case "" 48 30
	bench_case _2k 100 2
fi

show_logs alice bob carol mallory
finish
