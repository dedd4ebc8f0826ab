#!/bin/sh
# The sneakernet walk-through: a network authority, two members, and one FLASH
# message carried there and its receipt carried back, by files alone.
#
#   make demo                   (sets BUILD; the binary is $BUILD/apagon)
#   BUILD=build tools/demo.sh
#
# Everything happens in a fresh directory under ${TMPDIR:-/tmp}, which is left in
# place at the end so you can look at the files and run more commands on them.
set -eu

BUILD=${BUILD:-build}
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
