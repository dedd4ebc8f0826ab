#!/bin/sh
# apagond with real mosquitto brokers on loopback: the config check, the control
# socket, discovery of peers, messages end to end with receipts, live events, hostile
# publishes and control clients, a broker killed and restarted, an offline recipient,
# SIGHUP reload and SIGTERM.
#
#   APAGON_BIN=build/apagon sh tests/integration/daemon.sh
#
# Every process started here is killed on exit. Only 127.0.0.1 is used.
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
test_begin daemon
APAGOND_BIN=${APAGOND_BIN:-$(dirname "$APAGON_BIN")/apagond}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}

if [ ! -x "$APAGOND_BIN" ] || [ ! -x "$MOSQUITTO" ] || ! command -v python3 >/dev/null; then
	echo "skip daemon (needs $APAGOND_BIN, $MOSQUITTO and python3)"
	test_end
	exit $?
fi

PIDS=""
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

unset APAGON_DIR APAGON_PASSPHRASE XDG_DATA_HOME APAGON_FAKE_TIME
run() { "$APAGON_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
	n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# json FILE EXPR: a value from a JSON document.
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

# ---- a network of two members; alice's key is sealed under a passphrase ----
cd "$T" || exit 1
PW_ALICE='alice daemon passphrase'
run admin --dir hq init --network "Daemon Test" --no-passphrase
for n in alice bob carol; do
	if [ "$n" = alice ]; then
		APAGON_PASSPHRASE=$PW_ALICE run --dir "$n" init --name "$n"
	else
		run --dir "$n" --no-passphrase init --name "$n"
	fi
	APAGON_PASSPHRASE=$PW_ALICE run --dir "$n" request --out "$n.req"
	run admin --dir hq enroll --request "$n.req" --out "$n.enr"
	APAGON_PASSPHRASE=$PW_ALICE run --dir "$n" import "$n.enr"
	check "setup_$n" rc_is 0
done

PORT=$(free_port)
cat >"$T/mosquitto.conf" <<EOC
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
EOC
start_broker() {
	"$MOSQUITTO" -c "$T/mosquitto.conf" >>"$T/mosquitto.log" 2>&1 &
	BROKER=$!
	PIDS="$PIDS $BROKER"
	wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)"
}
start_broker
check broker_started kill -0 "$BROKER"

for n in alice bob carol; do
	printf '# test link\n[mqtt lan]\nhost = 127.0.0.1\nport = %s\nkeepalive = 10\n' "$PORT" >"$n/apagon.conf"
done

# ---- --check ----
mkdir -p bad
printf '[mqtt lan]\nhost = 127.0.0.1\n\n[mqtt site2]\nhost = 127.0.0.1\nprot = 1883\n[radio x]\n' >bad/apagon.conf
"$APAGOND_BIN" --dir bad --check >"$T/out" 2>"$T/err"; rc=$?
check check_bad_exit_1 rc_is 1
check check_bad_names_file_line err_has "bad/apagon.conf:6: unknown key 'prot' in [mqtt site2]; expected one of host, port"
check check_bad_unknown_kind err_has "bad/apagon.conf:7: unknown section kind 'radio'"
"$APAGOND_BIN" --dir alice --check >"$T/out" 2>"$T/err"; rc=$?
check check_good_exit_0 rc_is 0
check check_good_lists_link out_has "[mqtt lan] line 2"
"$APAGOND_BIN" --help >"$T/out" 2>"$T/err"; rc=$?
check apagond_help sh -c '[ "$1" -eq 0 ] && grep -q -- "--check" "$2"' sh "$rc" "$T/out"

# ---- start the daemons ----
start_daemon() {
	if [ "$1" = alice ]; then
		APAGON_PASSPHRASE=$PW_ALICE "$APAGOND_BIN" --dir "$1" >>"$T/$1.log" 2>&1 &
	else
		"$APAGOND_BIN" --dir "$1" >>"$T/$1.log" 2>&1 &
	fi
	eval "PID_$1=$!"
	PIDS="$PIDS $!"
	wait_for 10 "$APAGON_BIN" --dir "$1" status >/dev/null 2>&1
}
start_daemon alice
check alice_starts_with_passphrase kill -0 "$PID_alice"
start_daemon bob
check bob_starts kill -0 "$PID_bob"

check control_socket_mode_0600 [ "$(stat -c %a alice/control.sock)" = 600 ]
check control_socket_is_socket [ -S alice/control.sock ]
run --dir alice status
check status_answers rc_is 0
check status_says_connected out_has "connected"
run --dir alice --json status
jcheck status_json_link_connected [ "$(json "$T/out" 'd["links"][0]["state"]')" = connected ]

# A second daemon on the same directory is refused; the first keeps serving.
"$APAGOND_BIN" --dir bob >"$T/out" 2>"$T/err" </dev/null; rc=$?
check second_daemon_refused rc_is 1
check second_daemon_says_why err_has "another apagond already serves"
check first_daemon_still_serves sh -c '"$1" --dir bob status >/dev/null' sh "$APAGON_BIN"

# ---- discovery and sessions ----
session_open() {
	"$APAGON_BIN" --dir "$1" --json peers >"$T/peers.json" 2>/dev/null &&
	    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(p["session"]=="open" and p.get("member")==sys.argv[2] for p in d["peers"]) else 1)' "$T/peers.json" "$2"
}
check peers_discover_alice_sees_bob wait_for 15 session_open alice bob
check peers_discover_bob_sees_alice wait_for 15 session_open bob alice
run --dir alice peers
check peers_text_lists_member out_has "bob ("

# ---- a message through the control socket, with live events at bob ----
"$APAGON_BIN" --dir bob --json watch >"$T/watch.out" 2>"$T/watch.err" &
WATCH=$!
PIDS="$PIDS $WATCH"
sleep 0.5
run --dir alice send --to bob --precedence flash "Generator at the north gate"
check send_through_daemon rc_is 0
check send_says_daemon out_has "The daemon carries it"
inbox_has() { "$APAGON_BIN" --dir "$1" --json inbox 2>/dev/null | grep -qF "$2"; }
delivered() { "$APAGON_BIN" --dir "$1" --json outbox 2>/dev/null | grep -q '"state":"delivered"'; }
check message_reaches_bob wait_for 20 inbox_has bob "Generator at the north gate"
check outbox_says_delivered wait_for 20 delivered alice
check watch_saw_message wait_for 5 grep -q '"event":"message.received"' "$T/watch.out"
check watch_saw_text grep -q 'Generator at the north gate' "$T/watch.out"
kill -INT "$WATCH" 2>/dev/null
wait "$WATCH" 2>/dev/null
rc=$?
check watch_stops_on_sigint rc_is 0

# ---- hostile publishes on the daemons' own topics ----
run --dir bob --json status
PREFIX=$(json "$T/out" 'd["links"][0]["detail"].split()[1].split("/")[0]')
check topic_prefix_known [ -n "$PREFIX" ]
python3 "$HERE/mqtt_raw.py" "$PORT" garbage "$PREFIX/a" 50
python3 "$HERE/mqtt_raw.py" "$PORT" fake "$PREFIX/a" 50
python3 "$HERE/mqtt_raw.py" "$PORT" oversize "$PREFIX/a" 200000
python3 "$HERE/mqtt_raw.py" "$PORT" flood "$PREFIX/a" 20000
python3 "$HERE/mqtt_raw.py" "$PORT" emptytopic 2>/dev/null
rejected() {
	"$APAGON_BIN" --dir bob --json status >"$T/st.json" 2>/dev/null &&
	    python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["links"][0]["counters"]
need = ("rejected.auth", "rejected.oversize", "rejected.short", "rejected.flood")
sys.exit(0 if all(c.get(k, 0) > 0 for k in need) else 1)' "$T/st.json"
}
check garbage_counted_by_reason wait_for 10 rejected
check daemons_survive_garbage sh -c 'kill -0 "$1" && kill -0 "$2"' sh "$PID_alice" "$PID_bob"
run --dir bob status
check status_shows_rejections out_has "rejected "
check peers_survive_garbage wait_for 10 session_open bob alice

# ---- hostile control clients ----
python3 - "$T/bob/control.sock" <<'EOP'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"this is not json\n")
s.settimeout(3)
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except socket.timeout:
    sys.exit(1)
sys.exit(0 if b"-32700" in data else 1)
EOP
rc=$?
check control_garbage_answered_and_dropped rc_is 0
# A client that subscribes and never reads, while events pile up, must not block.
python3 - "$T/bob/control.sock" <<'EOP' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b'{"jsonrpc":"2.0","method":"subscribe","id":1}\n')
time.sleep(20)
EOP
SLOW=$!
PIDS="$PIDS $SLOW"
run --dir bob --json status
jcheck control_counts_garbage [ "$(json "$T/out" 'd["control"]["dropped_garbage"]')" -ge 1 ]
check status_answers_beside_silent_client sh -c '"$1" --dir bob status >/dev/null' sh "$APAGON_BIN"
kill "$SLOW" 2>/dev/null

# ---- the broker dies and comes back ----
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
link_state() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st.json" 2>/dev/null &&
	    [ "$(json "$T/st.json" 'd["links"][0]["state"]')" = "$2" ]
}
check link_notices_broker_gone wait_for 10 link_state alice waiting
check daemon_survives_broker_loss kill -0 "$PID_alice"
start_broker
check reconnect_alice wait_for 20 link_state alice connected
check reconnect_bob wait_for 20 link_state bob connected
check sessions_again wait_for 20 session_open alice bob
run --dir alice send --to bob "After the broker restart"
check message_after_restart wait_for 20 inbox_has bob "After the broker restart"

# ---- an offline recipient: bob stops, alice sends, bob comes back ----
kill -TERM "$PID_bob"
check bob_stops wait_for 10 sh -c '! kill -0 "$1" 2>/dev/null' sh "$PID_bob"
run --dir alice send --to bob --precedence priority "While you were away"
check send_while_bob_offline rc_is 0
start_daemon bob
check offline_message_arrives wait_for 30 inbox_has bob "While you were away"

# ---- SIGHUP: a broken config is refused and the old one kept; a good one applies ----
cp alice/apagon.conf "$T/alice.conf.good"
printf '[mqtt lan]\nhost = 127.0.0.1\nport = %s\nprot = 1\n' "$PORT" >alice/apagon.conf
kill -HUP "$PID_alice"
check reload_broken_reported wait_for 5 grep -q "apagon.conf:4: unknown key 'prot'" "$T/alice.log"
check reload_broken_kept_old wait_for 5 grep -q "keeping the old one" "$T/alice.log"
check reload_broken_still_connected link_state alice connected
DEAD=$(free_port)
{ cat "$T/alice.conf.good"; printf '\n[mqtt dead]\nhost = 127.0.0.1\nport = %s\n' "$DEAD"; } >alice/apagon.conf
kill -HUP "$PID_alice"
two_links() {
	"$APAGON_BIN" --dir alice --json status >"$T/st.json" 2>/dev/null &&
	    [ "$(json "$T/st.json" 'len(d["links"])')" = 2 ]
}
check reload_adds_link wait_for 5 two_links
check reload_keeps_first_link link_state alice connected
check broken_link_retried wait_for 5 grep -q "mqtt dead: broker 127.0.0.1:$DEAD: cannot connect" "$T/alice.log"
check daemon_survives_broken_link kill -0 "$PID_alice"

# ---- SIGTERM: a clean exit ----
kill -TERM "$PID_alice"
wait "$PID_alice"
rc=$?
check sigterm_exit_0 rc_is 0
check sigterm_removes_socket [ ! -e alice/control.sock ]
check sigterm_logged grep -q "stopped" "$T/alice.log"
# Without a daemon the CLI works on the directory again.
APAGON_PASSPHRASE=$PW_ALICE run --dir alice outbox
check cli_without_daemon rc_is 0
check cli_without_daemon_delivered out_has "[delivered]"
run --dir alice status
check status_without_daemon_fails rc_is 1
check status_without_daemon_says_why err_has "no apagond is running"

test_end
