#!/bin/sh
# The modem firmware's host build on a simulated channel (docs/modem.md "Host build"):
# apagon-channel with three apagon-modem-sim processes a, b, c in a line (a and c out
# of each other's reach), driven over their pseudo-terminals by rnode_client.py:
# DETECT, configuration read-back, DATA across with RSSI/SNR, FLASH, a hidden-terminal
# collision, a duty-cycle refusal with its counters, garbage on the serial line, and a
# partition applied mid-run (SIGHUP to the channel after cutting a link in its config).
. "$(dirname "$0")/../lib/check.sh"
test_begin lora_modem
here=$(cd "$(dirname "$0")" && pwd)
bin=$(dirname "$APAGON_BIN")
scale=0.1
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

if ! command -v python3 >/dev/null 2>&1; then
	echo "skip lora_modem (no python3 for the test client)"
	test_end
	exit $?
fi
check binaries_built test -x "$bin/apagon-channel" -a -x "$bin/apagon-modem-sim"

cat >"$T/chan.conf" <<'CONF'
# a -- b -- c, 1 km apart; a and c cannot hear each other.
path_loss_exponent 3.0
ref_loss_db 40
node a 0 0
node b 1000 0
node c 2000 0
link a c off
CONF
"$bin/apagon-channel" --socket "$T/chan.sock" --config "$T/chan.conf" --time-scale $scale \
	>"$T/chan.log" 2>"$T/chan.err" &
chan_pid=$!
pids="$chan_pid"
i=0
while [ ! -S "$T/chan.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check channel_listening test -S "$T/chan.sock"
for n in a b c; do
	"$bin/apagon-modem-sim" --name $n --channel "$T/chan.sock" --link "$T/$n.pty" \
		--time-scale $scale >"$T/$n.log" 2>"$T/$n.err" &
	pids="$pids $!"
done
i=0
while { [ ! -e "$T/a.pty" ] || [ ! -e "$T/b.pty" ] || [ ! -e "$T/c.pty" ]; } && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
check modems_up test -e "$T/a.pty" -a -e "$T/b.pty" -a -e "$T/c.pty"
rc=0
python3 "$here/lora_modem.py" "$T" "$chan_pid" >"$T/py.out" 2>"$T/py.err" || rc=$?
while read -r word name; do
	case $word in
	ok) ok "$name" ;;
	FAIL) no "$name" ;;
	esac
done <"$T/py.out"
check client_ran [ -s "$T/py.out" ]
[ $rc -ne 0 ] && { echo "--- client (exit $rc):"; cat "$T/py.err"; } >&2
check channel_logged_collision grep -q "^rx b from=[ac] id=[0-9]* collision" "$T/chan.log"
check channel_logged_delivery grep -q "^rx b from=a id=1 ok" "$T/chan.log"
[ "$fail" -eq 0 ] || { echo "--- channel log:"; cat "$T/chan.log"; } >&2
test_end
