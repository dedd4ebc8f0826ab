#!/bin/sh
# The sneakernet walk-through (tools/demo.sh) as a test, on the real binary:
# an authority enrolls alice and bob, files go back and forth, a FLASH message
# reaches bob and its receipt comes back to alice. Then the failure cases a user
# meets first: duplicates, a wrong passphrase, two members sharing a name.
#
#   APAGON_BIN=build/apagon sh tests/integration/walkthrough.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
test_begin walk

# Nodes keep their identity sealed under a passphrase (Argon2id), as in the field.
PW_ALICE='correct horse alice'
PW_BOB='battery staple bob'
PW_BOB2='another bob entirely'

# run: any apagon invocation; stdout in $T/out, stderr in $T/err, status in $rc.
run() { "$APAGON_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
alice() { APAGON_PASSPHRASE=$PW_ALICE run --dir "$T/alice" "$@"; }
bob() { APAGON_PASSPHRASE=$PW_BOB run --dir "$T/bob" "$@"; }
bob2() { APAGON_PASSPHRASE=$PW_BOB2 run --dir "$T/bob2" "$@"; }
# The authority uses --no-passphrase: Argon2id at moderate cost takes 256 MiB and about
# a second per opening, and the nodes already exercise sealed keys (cli.sh tests a
# sealed authority once).
admin() { run admin --dir "$T/hq" "$@"; }

MSG='Meet at the "old" bridge at 0600 \o/'
MSG_JSON='Meet at the \"old\" bridge at 0600 \\o/'

cd "$T" || exit 1

# ---- the network and its members ----
admin init --network "Ministry of Interior" --no-passphrase
check admin_init rc_is 0
check admin_init_warns_unprotected err_has "unprotected"

# enroll NAME FN: init, request, enroll at the authority, import the enrollment file.
enroll() {
	$2 init --name "$1"
	check "init_$3" rc_is 0
	$2 request --out "$T/$3.req"
	check "request_$3" rc_is 0
	admin enroll --request "$T/$3.req" --out "$T/$3.enr" --unit ops
	check "enroll_$3" rc_is 0
	check "enroll_prints_who_$3" out_has "name    $1"
	$2 import "$T/$3.enr"
	check "import_enrollment_$3" rc_is 0
	check "import_enrollment_says_enrolled_$3" out_has 'Enrolled in network "Ministry of Interior"'
}
enroll alice alice alice
enroll bob bob bob

# Byte 5 of a key file is its strength (docs/protocol.md, "Key file"): 1, Argon2id.
check key_file_sealed [ "$(od -An -tu1 -j5 -N1 "$T/alice/identity.key" | tr -d ' ')" = 1 ]

bob roster
BOB_ID=$(my_key_id)

# ---- bob -> alice: bob's certificate and prekey ----
bob export --out "$T/bob1.apg"
check bob_export rc_is 0
check bob_export_counts out_has "Exported 2 bundles"
alice import "$T/bob1.apg"
check alice_imports_bob rc_is 0
check alice_imports_bob_summary out_has "2 accepted, 0 duplicates, 0 refused"

# ---- alice sends a FLASH message ----
alice --json send --to bob --precedence flash "$MSG"
check send_flash rc_is 0
check send_json_valid json_ok
check send_json_queued out_has '"state":"queued"'
MSG_ID=$(sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' "$T/out")
check send_json_id sh -c "[ \${#1} -eq 64 ]" sh "$MSG_ID"

alice outbox
check outbox_queued out_has "[queued] FLASH to bob"

alice export --out "$T/alice1.apg"
check alice_export rc_is 0
alice outbox
# node_msg_state() words for one export ("exported"; node.h documents "sent to 1 peers").
check outbox_sent_after_export sh -c "grep -qE '^\[(exported|sent to 1 peers?)\] FLASH to bob' '$T/out'"
alice --json outbox
check outbox_json_sent out_has '"state":"sent"'
check outbox_json_exported out_has '"exported":1'

# ---- bob reads it ----
bob import "$T/alice1.apg"
check bob_imports_alice rc_is 0
check bob_import_new_message out_has "1 new message"
bob inbox
check inbox_from_alice_verified sh -c "grep -qE '^FLASH from alice \([0-9a-f]{12}\), signature checked' '$T/out'"
# shellcheck disable=SC2016 # $1 and $2 belong to the inner sh
check inbox_exact_text sh -c 'grep -qxF -- "    $1" "$2"' sh "$MSG" "$T/out"
bob --json inbox
check inbox_json_valid json_ok
check inbox_json_text out_has "\"text\":\"$MSG_JSON\""
check inbox_json_from out_has '"from":"alice"'
check inbox_json_verified out_has '"signature_checked":true'
check inbox_json_flash out_has '"precedence":"flash"'
check inbox_json_id out_has "\"id\":\"$MSG_ID\""

# ---- the receipt travels back ----
bob export --out "$T/bob2.apg"
check bob_export_receipt rc_is 0
alice import "$T/bob2.apg"
check alice_imports_receipt rc_is 0
check alice_import_counts_receipt out_has "1 receipt"
alice outbox
check outbox_delivered out_has "[delivered] FLASH to bob"
alice --json outbox
check outbox_json_delivered out_has '"state":"delivered"'

# ---- importing the same file twice ----
alice import "$T/bob2.apg"
check duplicate_import_exit_0 rc_is 0
check duplicate_import_reported sh -c "grep -qE ': 0 accepted, [1-9][0-9]* duplicates?, 0 refused' '$T/out'"
alice --json import "$T/bob2.apg"
jcheck duplicate_import_json sh -c "[ \"\$1\" = 0 ] && [ \"\$2\" -gt 0 ]" sh \
    "$(json_get 'd["accepted"]')" "$(json_get 'd["duplicates"]')"

# ---- safety numbers agree on both sides ----
alice safety-number bob
check safety_number rc_is 0
SN_A=$(grep -E '^  [0-9]{5}( [0-9]{5}){11}$' "$T/out")
bob safety-number alice
SN_B=$(grep -E '^  [0-9]{5}( [0-9]{5}){11}$' "$T/out")
check safety_number_12_groups_of_5 sh -c "[ -n \"\$1\" ]" sh "$SN_A"
check safety_number_same_both_sides [ "$SN_A" = "$SN_B" ]
alice safety-number bob --verify
check safety_number_verify rc_is 0
alice roster
check roster_verified sh -c "grep -qE '^bob +ops +member +$BOB_ID +verified' '$T/out'"

# ---- wrong passphrase, and none at all ----
APAGON_PASSPHRASE='not the passphrase' run --dir "$T/alice" inbox
check wrong_passphrase_exit_1 rc_is 1
check wrong_passphrase_message err_has "wrong passphrase"
env -u APAGON_PASSPHRASE "$APAGON_BIN" --dir "$T/alice" inbox >"$T/out" 2>"$T/err" </dev/null
rc=$?
check no_passphrase_exit_1 rc_is 1
check no_passphrase_says_what_to_do err_has "set APAGON_PASSPHRASE, pass --passphrase-file FILE, or use --no-passphrase for an unattended relay"

# ---- a second "bob": a name shared by two keys ----
enroll bob bob2 bob2
bob2 roster
BOB2_ID=$(my_key_id)
check two_bobs_two_keys sh -c "[ -n \"\$1\" ] && [ -n \"\$2\" ] && [ \"\$1\" != \"\$2\" ]" sh "$BOB_ID" "$BOB2_ID"
bob2 export --out "$T/bob2x.apg"
alice import "$T/bob2x.apg"
check import_second_bob rc_is 0
check import_warns_key_conflict out_has "a second key now answers to the name"
alice roster
check roster_name_shared out_has "NAME SHARED BY SEVERAL KEYS"
alice send --to bob "Which bob are you?"
check send_ambiguous_exit_1 rc_is 1
check send_ambiguous_lists_first_id err_has "$BOB_ID"
check send_ambiguous_lists_second_id err_has "$BOB2_ID"
check send_ambiguous_says_pick_by_id err_has "pick one by key ID"
alice send --to "$BOB2_ID" "Hello second bob"
check send_by_id rc_is 0
check send_by_id_queued out_has ": queued"
alice outbox
check send_by_id_right_key out_has "to bob ($BOB2_ID)"

# ---- usage ----
for v in init request import export send inbox outbox roster safety-number counters \
    admin "admin init" "admin enroll" "admin revoke" help; do
	# shellcheck disable=SC2086
	run $v --help
	check "help_$(echo "$v" | tr ' -' '__')" sh -c "[ $rc -eq 0 ] && grep -q '^usage: apagon' '$T/out'"
done
run --help
check help_global rc_is 0
run frobnicate
check unknown_verb_exit_2 rc_is 2
check unknown_verb_message err_has 'unknown command "frobnicate"'

test_end
