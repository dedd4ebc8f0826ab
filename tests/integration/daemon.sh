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
. "$(dirname "$0")/../lib/daemon.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
test_begin daemon
daemon_setup daemon

# ---- a network of three members; alice's key is sealed under a passphrase ----
PW_alice='alice daemon passphrase'
net_create "Daemon Test"
for n in alice bob carol; do member_add "$n"; done

broker_config lan
PORT=$PORT_lan
check broker_started broker_start lan
for n in alice bob carol; do node_links "$n" lan; done

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
daemon_start alice
check alice_starts_with_passphrase kill -0 "$PID_alice"
daemon_start bob
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
check peers_discover_alice_sees_bob wait_for 30 session_open alice bob
check peers_discover_bob_sees_alice wait_for 30 session_open bob alice
run --dir alice peers
check peers_text_lists_member out_has "bob ("

# ---- a message through the control socket, with live events at bob ----
"$APAGON_BIN" --dir bob --json watch >"$T/watch.out" 2>"$T/watch.err" &
WATCH=$!
PIDS="$PIDS $WATCH"
# A second watcher that asked for no texts: the same event, the text left out.
"$APAGON_BIN" --dir bob --json watch --no-text >"$T/watch_nt.out" 2>"$T/watch_nt.err" &
WATCH_NT=$!
PIDS="$PIDS $WATCH_NT"
sleep 0.5
run --dir alice send --to bob --precedence flash "Generator at the north gate"
check send_through_daemon rc_is 0
check send_says_daemon out_has "The daemon carries it"
check message_reaches_bob wait_for 30 inbox_has bob "Generator at the north gate"
check outbox_says_delivered wait_for 30 delivered alice
check watch_saw_message wait_for 30 grep -q '"event":"message.received"' "$T/watch.out"
check watch_saw_text grep -q 'Generator at the north gate' "$T/watch.out"
check watch_no_text_saw_message wait_for 30 grep -q '"event":"message.received".*"from":"alice"\|"from":"alice".*"event":"message.received"' "$T/watch_nt.out"
check watch_no_text_has_no_text sh -c '! grep -q "Generator at the north gate\|\"text\"" "$1"' sh "$T/watch_nt.out"
kill -INT "$WATCH_NT" 2>/dev/null
wait "$WATCH_NT" 2>/dev/null
run --dir bob watch --no-text extra
check watch_no_text_refuses_extra_args [ "$rc" -ne 0 ]
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
check garbage_counted_by_reason wait_for 30 rejected
check daemons_survive_garbage sh -c 'kill -0 "$1" && kill -0 "$2"' sh "$PID_alice" "$PID_bob"
run --dir bob status
check status_shows_rejections out_has "rejected "
check peers_survive_garbage wait_for 30 session_open bob alice

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
broker_kill lan
check link_notices_broker_gone wait_for 30 link_state alice waiting
check daemon_survives_broker_loss kill -0 "$PID_alice"
check broker_restarted broker_start lan
check reconnect_alice wait_for 30 link_state alice connected
check reconnect_bob wait_for 30 link_state bob connected
check sessions_again wait_for 30 session_open alice bob
run --dir alice send --to bob "After the broker restart"
check message_after_restart wait_for 30 inbox_has bob "After the broker restart"

# ---- an offline recipient: bob stops, alice sends, bob comes back ----
kill -TERM "$PID_bob"
check bob_stops wait_for 30 sh -c '! kill -0 "$1" 2>/dev/null' sh "$PID_bob"
run --dir alice send --to bob --precedence priority "While you were away"
check send_while_bob_offline rc_is 0
daemon_start bob
check offline_message_arrives wait_for 30 inbox_has bob "While you were away"

# ---- SIGHUP: a broken config is refused and the old one kept; a good one applies ----
cp alice/apagon.conf "$T/alice.conf.good"
printf '[mqtt lan]\nhost = 127.0.0.1\nport = %s\nprot = 1\n' "$PORT" >alice/apagon.conf
kill -HUP "$PID_alice"
check reload_broken_reported wait_for 30 grep -q "apagon.conf:4: unknown key 'prot'" "$T/alice.log"
check reload_broken_kept_old wait_for 30 grep -q "keeping the old one" "$T/alice.log"
check reload_broken_still_connected link_state alice connected
DEAD=$(free_port)
{ cat "$T/alice.conf.good"; printf '\n[mqtt dead]\nhost = 127.0.0.1\nport = %s\n' "$DEAD"; } >alice/apagon.conf
kill -HUP "$PID_alice"
two_links() {
	"$APAGON_BIN" --dir alice --json status >"$T/st.json" 2>/dev/null &&
	    [ "$(json "$T/st.json" 'len(d["links"])')" = 2 ]
}
check reload_adds_link wait_for 30 two_links
check reload_keeps_first_link link_state alice connected
check broken_link_retried wait_for 30 grep -q "mqtt dead: broker 127.0.0.1:$DEAD: cannot connect" "$T/alice.log"
check daemon_survives_broken_link kill -0 "$PID_alice"

# ---- SIGTERM: a clean exit ----
kill -TERM "$PID_alice"
wait "$PID_alice"
rc=$?
check sigterm_exit_0 rc_is 0
check sigterm_removes_socket [ ! -e alice/control.sock ]
check sigterm_logged grep -q "stopped" "$T/alice.log"
# Without a daemon the CLI works on the directory again.
APAGON_PASSPHRASE=$PW_alice run --dir alice outbox
check cli_without_daemon rc_is 0
check cli_without_daemon_delivered out_has "[delivered]"
run --dir alice status
check status_without_daemon_fails rc_is 1
check status_without_daemon_says_why err_has "no apagond is running"

test_end
