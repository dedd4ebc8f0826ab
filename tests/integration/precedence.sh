#!/bin/sh
# Precedence, live (issue 3, "Must be shown" 7): alice's daemon queues 1,000 ROUTINE
# messages for bob while bob is offline, then one FLASH. When bob's link comes up, the
# FLASH is delivered before any ROUTINE message: it is the first message.received
# event `apagon watch --json` shows at bob, and the first message in bob's inbox.
#
#   APAGON_BIN=build/apagon sh tests/integration/precedence.sh
#
# Every process started here is killed on exit. Only 127.0.0.1 is used.
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin precedence
daemon_setup precedence
ROUTINE=${ROUTINE:-1000}

run admin --dir hq init --network "Precedence Test" --no-passphrase
for who in alice bob; do member_add "$who"; done

broker_config lan
check broker_started broker_start lan
for who in alice bob; do node_links "$who" lan; done

# Once together, so alice holds bob's certificate and prekey; then bob goes away.
daemon_start alice
daemon_start bob
check session_alice_bob wait_for 20 session_open alice bob
daemon_stop bob
check bob_offline sh -c '! kill -0 "$1" 2>/dev/null' sh "$PID_bob"

# ---- 1,000 ROUTINE, then one FLASH, queued at alice's daemon ----
START=$(date +%s)
python3 - "$T/alice/control.sock" "$ROUTINE" >"$T/out" 2>"$T/err" <<'EOP'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
bad = 0
for i in range(int(sys.argv[2])):
    req = {"jsonrpc": "2.0", "id": i, "method": "send",
           "params": {"to": "bob", "text": "routine %04d" % i, "precedence": "routine"}}
    f.write((json.dumps(req) + "\n").encode())
    f.flush()
    r = json.loads(f.readline())
    if "result" not in r:
        bad += 1
        print(r, file=sys.stderr)
print("sent", int(sys.argv[2]) - bad)
sys.exit(1 if bad else 0)
EOP
rc=$?
check routine_queued rc_is 0
echo "# queued $ROUTINE routine messages in $(($(date +%s) - START)) s"
run --dir alice send --to bob --precedence flash "FLASH behind the queue"
check flash_queued rc_is 0
outbox_count() {
	"$APAGON_BIN" --dir alice --json outbox >"$T/outbox.json" 2>/dev/null &&
	    python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["messages"]))' "$T/outbox.json"
}
check outbox_holds_all [ "$(outbox_count)" -eq $((ROUTINE + 1)) ]

# ---- bob comes back without a link, a watcher subscribes, then the link opens ----
: >bob/apagon.conf
daemon_start bob
"$APAGON_BIN" --dir bob --json watch >"$T/watch.out" 2>"$T/watch.err" &
WATCH=$!
PIDS="$PIDS $WATCH"
subscribed() {
	"$APAGON_BIN" --dir bob --json status >"$T/st.json" 2>/dev/null &&
	    python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["control"]["subscribers"] >= 1 else 1)' "$T/st.json"
}
check watcher_subscribed wait_for 10 subscribed
START=$(date +%s)
node_links bob lan
kill -HUP "$PID_bob"
received_all() {
	[ "$(grep -c '"event":"message.received"' "$T/watch.out")" -ge $((ROUTINE + 1)) ]
}
check all_delivered wait_for 60 received_all
echo "# delivered $((ROUTINE + 1)) messages in $(($(date +%s) - START)) s"
kill -INT "$WATCH" 2>/dev/null

# The first message bob heard of is the FLASH; the first he stored, too.
python3 - "$T/watch.out" >"$T/out" 2>"$T/err" <<'EOP'
import json, sys
texts = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "message.received":
        texts.append(e["message"]["text"] if "message" in e else e.get("text"))
print("first:", texts[0], "flash at:", texts.index("FLASH behind the queue"))
sys.exit(0 if texts[0] == "FLASH behind the queue" else 1)
EOP
rc=$?
check flash_first_in_watch_events rc_is 0
run --dir bob --json inbox
python3 - "$T/out" <<'EOP'
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
first = min(range(len(m)), key=lambda i: m[i]["received"])
flash = [x for x in m if x["precedence"] == "flash"]
routine = [x for x in m if x["precedence"] == "routine"]
ok = len(flash) == 1 and flash[0]["received"] <= min(x["received"] for x in routine)
sys.exit(0 if ok else 1)
EOP
rc=$?
check flash_not_received_after_routine rc_is 0
texts_unique() {
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
t = [x["text"] for x in m]
sys.exit(0 if len(t) == len(set(t)) == int(sys.argv[2]) + 1 else 1)' "$T/out" "$ROUTINE"
}
check inbox_exactly_once texts_unique

test_end
