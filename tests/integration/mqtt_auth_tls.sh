#!/bin/sh
# Issue 3, broker authentication: username/password and TLS, against a real mosquitto
# that allows no anonymous client. One broker has two listeners: TLS (a CA and a server
# certificate for 127.0.0.1 made here with openssl) and plain TCP, both behind one
# password file.
#
#   alice  TLS + the right password          -> connected
#   bob    plain TCP + the right password    -> connected; alice's message reaches him
#   carol  plain TCP + a wrong password      -> refused, status says "not authorised"
#   dave   TLS + the right password, but a CA that did not sign the broker's
#          certificate                        -> never connected, status says why
#   erin   a password-file that does not exist -> the daemon refuses the link by name
#
# The refused daemons keep running and answer on their control sockets.
#
#   APAGON_BIN=build/apagon sh tests/integration/mqtt_auth_tls.sh
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin mqtt_auth_tls
if ! command -v openssl >/dev/null || [ ! -x /usr/bin/mosquitto_passwd ]; then
	echo "skip mqtt_auth_tls (needs openssl and mosquitto_passwd)"
	test_end
	exit $?
fi
daemon_setup mqtt_auth_tls

# ---- a CA, a server certificate for 127.0.0.1, and a CA that signed nothing ----
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout ca.key -out ca.crt -days 2 -subj /CN=apagon-test-ca &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout other.key -out other.crt -days 2 -subj /CN=apagon-other-ca &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout server.key -out server.csr -subj /CN=127.0.0.1 &&
	printf 'subjectAltName = IP:127.0.0.1\n' >server.ext &&
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	    -out server.crt -days 2 -extfile server.ext
}
mkcert >"$T/openssl.log" 2>&1
check certificates_signed [ -s server.crt ]

printf 's3cret-for-the-drill\n' >right.pw
printf 'guessed\n' >wrong.pw
chmod 600 right.pw wrong.pw
mosquitto_passwd -c -b broker.pw apagon s3cret-for-the-drill >"$T/passwd.log" 2>&1
check broker_password_file [ -s broker.pw ]

TLS_PORT=$(free_port)
PLAIN_PORT=$(free_port)
PORT_site=$TLS_PORT
cat >"$T/site.conf" <<EOC
per_listener_settings false
# Run as root by CI, mosquitto would drop to its own user and lose access to $T.
user $(id -un)
allow_anonymous false
password_file $T/broker.pw
persistence false
listener $TLS_PORT 127.0.0.1
cafile $T/ca.crt
certfile $T/server.crt
keyfile $T/server.key
listener $PLAIN_PORT 127.0.0.1
EOC
check broker_started broker_start site
check broker_plain_listener wait_for 20 port_open "$PLAIN_PORT"

net_create "Authenticated Site"
for n in alice bob carol dave erin; do member_add "$n"; done

# link NODE PORT PASSWORD-FILE [CA]: the node's one [mqtt site] section.
link() {
	{
		printf '[mqtt site]\nhost = 127.0.0.1\nport = %s\nkeepalive = 10\n' "$2"
		printf 'username = apagon\npassword-file = %s\n' "$3"
		[ -n "${4:-}" ] && printf 'tls-ca = %s\n' "$4"
	} >"$1/apagon.conf"
}
link alice "$TLS_PORT" "$T/right.pw" "$T/ca.crt"
link bob "$PLAIN_PORT" "$T/right.pw"
link carol "$PLAIN_PORT" "$T/wrong.pw"
link dave "$TLS_PORT" "$T/right.pw" "$T/other.crt"
link erin "$PLAIN_PORT" "$T/missing.pw"

# link_is NODE STATE TEXT: status shows the link in STATE with TEXT in its detail.
link_is() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st-$1.json" 2>/dev/null &&
	python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["links"]
ok = any(x["state"] == sys.argv[2] and sys.argv[3].lower() in (x.get("detail", "") + " " + x.get("endpoint", "")).lower() for x in l)
sys.exit(0 if ok else 1)' "$T/st-$1.json" "$2" "$3"
}
# link_never_up NODE: no link of NODE is connected.
link_never_up() {
	"$APAGON_BIN" --dir "$1" --json status >"$T/st-$1.json" 2>/dev/null &&
	python3 -c '
import json, sys
l = json.load(open(sys.argv[1]))["links"]
sys.exit(0 if l and all(x["state"] != "connected" for x in l) else 1)' "$T/st-$1.json"
}

for n in alice bob carol dave; do check "daemon_${n}_started" daemon_start "$n"; done

check alice_connected_over_tls wait_for 60 link_is alice connected "(tls)"
check bob_connected_with_password wait_for 60 link_is bob connected "127.0.0.1"
check alice_meets_bob wait_for 60 session_open alice bob

send_to_bob() { run --dir alice send --to bob "$1"; [ "$rc" -eq 0 ]; }
check alice_sends wait_for 60 send_to_bob "Generator fuel for two days"
check message_reaches_bob wait_for 60 inbox_has bob "Generator fuel for two days"
check receipt_reaches_alice wait_for 60 outbox_delivered alice 1

# The wrong password: the broker's CONNACK says so, and status repeats it.
check carol_refused_not_authorised wait_for 60 link_is carol waiting "not authorised"
# A CA that did not sign the broker: the TLS handshake fails, the link never comes up.
sleep 2
check dave_never_connected link_never_up dave
check dave_status_says_tls_failed wait_for 20 link_is dave waiting "TLS handshake failed"
# Neither refusal brought a daemon down, and neither met anyone.
check carol_daemon_answers "$APAGON_BIN" --dir carol status
check dave_daemon_answers "$APAGON_BIN" --dir dave status
run --dir bob --json peers
check bob_never_met_carol_or_dave sh -c '! grep -q "\"member\":\"\(carol\|dave\)\"" "$1"' sh "$T/out"

# A password-file that cannot be read: named in the log, the daemon still runs.
daemon_start erin
check erin_daemon_answers "$APAGON_BIN" --dir erin status
check erin_log_names_password_file wait_for 20 grep -q "cannot read password-file .*missing.pw" "$T/erin.log"
run --dir erin status
check erin_status_says_what_to_fix out_has "fix the path or the file's permissions"
run --dir erin --json status
check erin_not_connected sh -c '! grep -q "\"state\":\"connected\"" "$1"' sh "$T/out"

for n in alice bob carol dave erin; do
	daemon_stop "$n"
	rc=$?
	check "daemon_${n}_stops_cleanly" rc_is 0
done
test_end
