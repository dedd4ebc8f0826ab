# Shared by the integration scripts that run real brokers and real daemons: a network
# of members, mosquitto brokers on free loopback ports with their own config files,
# apagond processes, and predicates to poll with wait_for. Only 127.0.0.1 is used;
# every process started here is killed on exit.
#
#   . "$(dirname "$0")/../lib/check.sh"
#   . "$(dirname "$0")/../lib/daemon.sh"
#   test_begin NAME
#   daemon_setup NAME        # skips the script when apagond, mosquitto or python3 lack
#   net_create "Net Name"; member_add alice; member_add bob
#   broker_config b1; broker_start b1     # $T/b1.conf, port in $PORT_b1
#   node_links alice b1; daemon_start alice
#   ... check NAME wait_for 60 inbox_has bob "text" ...
#   test_end
#
# Nodes live in $T/NAME (the scripts cd to $T). A member with PW_NAME set has its key
# sealed under that passphrase; the others use --no-passphrase.

APAGOND_BIN=${APAGOND_BIN:-$(dirname "$APAGON_BIN")/apagond}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PIDS=""

# APAGON_TEST_KEEP=1 keeps $T (node directories, broker and daemon logs) for a look.
daemon_cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	if [ -n "${APAGON_TEST_KEEP:-}" ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
}

# daemon_setup NAME: after test_begin. Skips (exit 0) without the tools; else sets the
# clean-up trap, clears the environment the CLI reads and moves to $T.
daemon_setup() {
	if [ ! -x "$APAGOND_BIN" ] || [ ! -x "$MOSQUITTO" ] || ! command -v python3 >/dev/null; then
		echo "skip $1 (needs $APAGOND_BIN, $MOSQUITTO and python3)"
		test_end
		exit $?
	fi
	trap daemon_cleanup EXIT
	unset APAGON_DIR APAGON_PASSPHRASE XDG_DATA_HOME APAGON_FAKE_TIME
	cd "$T" || exit 1
}

# run ARGS...: the CLI, output in $T/out and $T/err, status in $rc.
run() { "$APAGON_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds; 1 once SECONDS of wall time
# have passed. The deadline only keeps a broken run from hanging: no timing is judged.
wait_for() {
	deadline=$(($(date +%s) + $1))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# json FILE EXPR: a value from a JSON document (d is the document).
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

# ---------------- the network ----------------

# net_create NETWORK: an authority in $T/hq.
net_create() {
	run admin --dir hq init --network "$1" --no-passphrase
	check net_create rc_is 0
}

# member_add NAME: a node in $T/NAME, enrolled by hq; check "setup_NAME".
member_add() {
	eval "pw=\${PW_$1:-}"
	if [ -n "$pw" ]; then
		APAGON_PASSPHRASE=$pw run --dir "$1" init --name "$1" &&
		    APAGON_PASSPHRASE=$pw run --dir "$1" request --out "$1.req"
	else
		run --dir "$1" --no-passphrase init --name "$1" &&
		    run --dir "$1" request --out "$1.req"
	fi
	[ "$rc" -eq 0 ] && run admin --dir hq enroll --request "$1.req" --out "$1.enr"
	[ "$rc" -eq 0 ] && APAGON_PASSPHRASE=$pw run --dir "$1" import "$1.enr"
	check "setup_$1" rc_is 0
}

# ---------------- brokers ----------------

# broker_config NAME: $T/NAME.conf, a listener on a free loopback port ($PORT_NAME).
# Append bridge lines to the file before broker_start.
broker_config() {
	port=$(free_port)
	eval "PORT_$1=$port"
	cat >"$T/$1.conf" <<EOC
listener $port 127.0.0.1
allow_anonymous true
persistence false
EOC
}

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() {
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null
}

# broker_start NAME: mosquitto on $T/NAME.conf (log $T/NAME.log, pid $BROKER_NAME);
# 0 once its port accepts connections.
broker_start() {
	"$MOSQUITTO" -c "$T/$1.conf" >>"$T/$1.log" 2>&1 &
	eval "BROKER_$1=$!"
	PIDS="$PIDS $!"
	eval "port=\$PORT_$1"
	wait_for 20 port_open "$port"
}

# broker_kill NAME: kill -9, and reap it.
broker_kill() {
	eval "pid=\$BROKER_$1"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# bridge_carries PORT_FROM PORT_TO TOPIC: a publish on TOPIC at one broker reaches a
# subscriber at the other (tried until it does, for at most 20 s).
bridge_carries() {
	python3 - "$1" "$2" "$3" <<'EOP'
import os, socket, struct, sys, time

def pkt(kind, body):
    n, v = len(body), b""
    while True:
        b, n = n % 128, n // 128
        v += bytes([b | (0x80 if n else 0)])
        if not n:
            return bytes([kind]) + v + body

def s16(b):
    return struct.pack(">H", len(b)) + b

def conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    cid = b"probe-" + os.urandom(4).hex().encode()
    s.sendall(pkt(0x10, s16(b"MQTT") + bytes([4, 2]) + struct.pack(">H", 30) + s16(cid)))
    if s.recv(4)[:1] != b"\x20":
        sys.exit(1)
    return s

src, dst, topic = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
sub, pub = conn(dst), conn(src)
sub.sendall(pkt(0x82, struct.pack(">H", 1) + s16(topic) + b"\x00"))
sub.settimeout(0.5)
end = time.time() + 20
while time.time() < end:
    pub.sendall(pkt(0x30, s16(topic) + b"probe"))
    try:
        while True:
            data = sub.recv(4096)
            if not data:
                sys.exit(1)
            if b"probe" in data:
                sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
EOP
}

# ---------------- nodes and daemons ----------------

# node_links NAME BROKER...: NAME/apagon.conf with one [mqtt BROKER] per broker.
node_links() {
	n=$1
	shift
	echo "# test links" >"$n/apagon.conf"
	for b in "$@"; do
		eval "port=\$PORT_$b"
		printf '[mqtt %s]\nhost = 127.0.0.1\nport = %s\nkeepalive = 10\n\n' "$b" "$port" \
		    >>"$n/apagon.conf"
	done
}

# daemon_start NAME: apagond on $T/NAME (log $T/NAME.log, pid $PID_NAME); 0 once it
# answers on its control socket.
daemon_start() {
	eval "pw=\${PW_$1:-}"
	if [ -n "$pw" ]; then
		APAGON_PASSPHRASE=$pw "$APAGOND_BIN" --dir "$1" >>"$T/$1.log" 2>&1 </dev/null &
	else
		"$APAGOND_BIN" --dir "$1" >>"$T/$1.log" 2>&1 </dev/null &
	fi
	eval "PID_$1=$!"
	PIDS="$PIDS $!"
	wait_for 20 "$APAGON_BIN" --dir "$1" status >/dev/null 2>&1
}

# daemon_stop NAME [SIGNAL]: SIGTERM (or SIGNAL) and reap; the daemon's exit status.
daemon_stop() {
	eval "pid=\$PID_$1"
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# ---------------- predicates for wait_for ----------------

# session_open NODE MEMBER: NODE has an open sync session with MEMBER.
session_open() {
	"$APAGON_BIN" --dir "$1" --json peers >"$T/peers.json" 2>/dev/null &&
	    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(p["session"]=="open" and p.get("member")==sys.argv[2] for p in d["peers"]) else 1)' "$T/peers.json" "$2"
}
# no_session NODE MEMBER: NODE has no open sync session with MEMBER.
no_session() { ! session_open "$1" "$2"; }

# link_state NODE STATE [INDEX]: link INDEX (default 0) of NODE is in STATE.
link_state() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st.json" 2>/dev/null &&
	    [ "$(json "$T/st.json" "d['links'][${3:-0}]['state']")" = "$2" ]
}

inbox_has() { "$APAGON_BIN" --dir "$1" --json inbox 2>/dev/null | grep -qF "$2"; }
# delivered NODE: some message of NODE's outbox is delivered.
delivered() { "$APAGON_BIN" --dir "$1" --json outbox 2>/dev/null | grep -q '"state":"delivered"'; }

# inbox_texts NODE FILE: the texts of NODE's inbox, one a line, sorted (duplicates kept).
inbox_texts() {
	"$APAGON_BIN" --dir "$1" --json inbox >"$T/inbox.json" 2>/dev/null &&
	    python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["messages"]:
    print(m.get("text"))' "$T/inbox.json" | LC_ALL=C sort >"$2"
}

# inbox_holds NODE EXPECTED: every line of the file EXPECTED is a text in NODE's inbox.
inbox_holds() {
	inbox_texts "$1" "$T/got.txt" || return 1
	[ -z "$(LC_ALL=C sort -u "$2" | LC_ALL=C comm -23 - "$T/got.txt")" ]
}

# outbox_delivered NODE N: NODE's outbox holds N messages or more, all delivered.
outbox_delivered() {
	"$APAGON_BIN" --dir "$1" --json outbox >"$T/outbox.json" 2>/dev/null &&
	    python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
sys.exit(0 if len(m) >= int(sys.argv[2]) and all(x["state"] == "delivered" for x in m) else 1)' \
	    "$T/outbox.json" "$2"
}
