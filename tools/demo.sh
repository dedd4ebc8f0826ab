#!/bin/sh
# `make demo`: a blackout drill on this machine, with real processes (docs/drills.md).
# Three ministries, each with its own mosquitto broker and a few laptops running
# apagond; the brokers are bridged, and a LoRa link (two simulated modems on a
# simulated radio channel, 1.2 km apart) joins Interior and Health. Mid-drill Health
# loses its broker and its traffic crosses over the air, the Defence bridge is cut
# and healed, an operations laptop is killed and restarted, the crisis cell sends a
# FLASH alert to everyone, and a lost laptop is revoked. apagon-drill prints
# progress, then a summary and where the HTML report is.
#
#   make demo                          (sets BUILD; the binaries are in $BUILD/)
#   BUILD=build tools/demo.sh [SCENARIO]
#   BUILD=build tools/demo.sh --walkthrough    the sneakernet walk-through instead
#
# The results stay in a fresh directory under ${TMPDIR:-/tmp}.
set -eu

BUILD=${BUILD:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" != "--walkthrough" ]; then
	DRILL=$TOP/$BUILD/apagon-drill
	[ -x "$DRILL" ] || { echo "demo: $DRILL not found; run make first" >&2; exit 1; }
	SCENARIO=${1:-$TOP/docs/drills/blackout.drill}
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/apagon-drill.XXXXXX")
	echo "== apagon demo: a blackout drill ($SCENARIO)"
	echo "   Three ministries with their own brokers, bridged; a LoRa link between"
	echo "   Interior and Health carries Health's traffic while its broker is down."
	echo
	"$DRILL" run "$SCENARIO" --out "$OUT"
	echo
	echo "Open the after-action report in a browser: $OUT/report.html"
	echo "Figures for machines: $OUT/metrics.json; every node, config and log: $OUT/run/"
	echo "The sneakernet walk-through (files on a USB stick): tools/demo.sh --walkthrough"
	exit 0
fi

# ---- the sneakernet walk-through: a network authority, two members, and one FLASH
# message carried there and its receipt carried back, by files alone ----
APAGON=$(cd "$(dirname "$0")/.." && pwd)/$BUILD/apagon
[ -x "$APAGON" ] || { echo "demo: $APAGON not found; run make first" >&2; exit 1; }

D=$(mktemp -d "${TMPDIR:-/tmp}/apagon-demo.XXXXXX")
cd "$D"

step() {
	printf '\n== %s\n' "$*"
}
# Show each command as a person would type it (quoting what needs it), then run it.
run() {
	printf '$ apagon'
	for a in "$@"; do
		case $a in
		*[!A-Za-z0-9_./=-]* | '') printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	"$APAGON" "$@"
}

# Members' keys are sealed under passphrases. A real user types them at the prompt;
# here they come from the environment so the demo runs by itself.
PW_ALICE='alice demo passphrase'
PW_BOB='bob demo passphrase'
alice() { APAGON_PASSPHRASE=$PW_ALICE run --dir alice "$@"; }
bob() { APAGON_PASSPHRASE=$PW_BOB run --dir bob "$@"; }

step "1. The IT office creates the network authority"
# --no-passphrase because this demo runs unattended, with nobody to type the
# authority's passphrase. A real authority key is sealed under a passphrase and
# kept on an offline machine.
run admin --dir hq init --network "Ministry of Interior" --no-passphrase

step "2. Alice and Bob each create a node and write an enrollment request"
alice init --name alice
alice request --out alice.req
bob init --name bob
bob request --out bob.req

step "3. The IT office enrolls them; each imports the enrollment file"
run admin --dir hq enroll --request alice.req --out alice.enr --unit ops
run admin --dir hq enroll --request bob.req --out bob.enr --unit ops
alice import alice.enr
bob import bob.enr

step "4. Bob exports his certificate and prekey; Alice imports them"
bob export --out bob-to-alice-1.apg
alice import bob-to-alice-1.apg

step "5. Alice sends Bob a FLASH message"
alice send --to bob --precedence flash "Bridge at grid 4471 is out. Use the ford, 0600."
alice outbox

step "6. Alice exports; the file travels to Bob on a USB stick"
alice export --out alice-to-bob.apg
alice outbox

step "7. Bob imports Alice's export and reads his inbox"
bob import alice-to-bob.apg
bob inbox

step "8. Bob exports again: the file now carries his delivery receipt"
bob export --out bob-to-alice-2.apg
alice import bob-to-alice-2.apg

step "9. Alice's outbox shows the message delivered"
alice outbox

step "10. Alice and Bob compare their safety number in person"
alice safety-number bob
bob safety-number alice
echo "(Both show the same 60 digits: nobody substituted a key between them.)"
alice safety-number bob --verify
alice roster

step "Done"
echo "The files are in $D:"
echo "  hq/            the authority (authority.key, register of certificates)"
echo "  alice/, bob/   the two nodes (identity.key sealed, apagon.db)"
echo "  *.req *.enr    enrollment requests and enrollment files"
echo "  *.apg          the exports that travelled between them"
echo "Try: APAGON_PASSPHRASE='$PW_BOB' $APAGON --dir $D/bob roster"
echo "Remove it with: rm -rf $D"
