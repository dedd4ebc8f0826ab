#!/bin/sh
# Revocation, live (issue 3, "Must be shown" 6): three daemons on one real mosquitto
# on loopback. The authority's revocation of carol is imported at alice through her
# daemon; it reaches bob through the mesh; from then on carol's links are refused
# (open sessions closed, new handshakes refused at alice and bob) and carol's new
# bundles are dropped (a message from carol to bob never arrives, and bob's counters
# show the refusal when the bundle reaches him by file).
#
#   APAGON_BIN=build/apagon sh tests/integration/revocation_live.sh
#
# Every process started here is killed on exit. Only 127.0.0.1 is used.
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin revocation_live
daemon_setup revocation_live

run admin --dir hq init --network "Revocation Test" --no-passphrase
for n in alice bob carol; do member_add "$n"; done

broker_config lan
check broker_started broker_start lan
for n in alice bob carol; do node_links "$n" lan; done

for who in alice bob carol; do
	daemon_start "$who"
	check "${who}_daemon_up" kill -0 "$(eval echo \$PID_$who)"
done

check alice_carol_session wait_for 20 session_open alice carol
check bob_carol_session wait_for 20 session_open bob carol
check alice_bob_session wait_for 20 session_open alice bob
# Before the revocation carol's messages get through, so the refusal later is the
# revocation's doing and not a link that never worked.
run --dir carol send --to bob "carol before the revocation"
check carol_sends_before rc_is 0
check carol_reaches_bob_before wait_for 20 inbox_has bob "carol before the revocation"

# ---- the authority revokes carol; the file is imported at alice's daemon only ----
run admin --dir hq revoke --request carol.req --out "$T/revoke-carol.apg" --reason "device lost"
check revocation_written rc_is 0
run --dir alice --json import "$T/revoke-carol.apg"
check import_at_alice rc_is 0
check import_went_through_daemon grep -q '"accepted":[1-9]' "$T/out"

revoked_at() {
	"$APAGON_BIN" --dir "$1" --json roster >"$T/roster-$1.json" 2>/dev/null &&
	    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if [m for m in d["members"] if m["name"]=="carol"][0]["revoked"] else 1)' "$T/roster-$1.json"
}
check alice_knows_revoked revoked_at alice
check revocation_reaches_bob_by_mesh wait_for 20 revoked_at bob

# ---- carol's links are refused ----
check alice_closes_carol_session wait_for 15 no_session alice carol
check bob_closes_carol_session wait_for 15 no_session bob carol
check alice_bob_session_stays session_open alice bob
closed_count() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st-$1.json" 2>/dev/null &&
	    python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["daemon"]["sessions_revoked"] >= 1 else 1)' "$T/st-$1.json"
}
check alice_counts_closed_session closed_count alice
check bob_counts_closed_session closed_count bob
# A fresh start of carol (new tokens, new handshakes) is refused at both.
daemon_stop carol
ALICE_LINES=$(wc -l <"$T/alice.log")
BOB_LINES=$(wc -l <"$T/bob.log")
daemon_start carol
# The refusal is logged at once; the session then waits for an acceptable answer until
# its handshake timeout (docs/protocol.md 15.2) and never opens.
refused_in_log() {
	tail -n +"$(($2 + 1))" "$T/$1.log" | grep -q "handshake answer refused: sender or its issuer is revoked"
}
check alice_refuses_carol_handshake wait_for 30 refused_in_log alice "$ALICE_LINES"
check bob_refuses_carol_handshake wait_for 30 refused_in_log bob "$BOB_LINES"
check no_session_after_restart_alice no_session alice carol
check no_session_after_restart_bob no_session bob carol

# ---- carol's new bundles are dropped ----
run --dir carol send --to bob "carol after the revocation"
SENT_RC=$rc
sleep 5
check carol_message_never_arrives_live sh -c '! "$1" --dir bob --json inbox | grep -qF "carol after the revocation"' sh "$APAGON_BIN"
if [ "$SENT_RC" -eq 0 ]; then
	# The only way left: by hand. bob's node refuses it there too, and counts it.
	run --dir carol export --out "$T/carol.apg"
	check carol_exports rc_is 0
	run --dir bob --json import "$T/carol.apg"
	check bob_import_rejects grep -q '"rejected":[1-9]' "$T/out"
	check bob_import_reason_revoked grep -q '"reason":"revoked"' "$T/out"
	check carol_message_never_arrives sh -c '! "$1" --dir bob --json inbox | grep -qF "carol after the revocation"' sh "$APAGON_BIN"
	run --dir bob counters
	check bob_counters_show_revoked out_has "revoked"
else
	cat "$T/err" >&2
	check carol_send_refused_locally err_has "revoked"
fi
check daemons_alive sh -c 'kill -0 "$1" && kill -0 "$2" && kill -0 "$3"' sh "$PID_alice" "$PID_bob" "$PID_carol"

test_end
