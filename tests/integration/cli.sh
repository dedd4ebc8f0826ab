#!/bin/sh
# The command line's contract, beyond the walk-through: usage errors and exit codes,
# default directories, passphrase sources, --json validity, refused bundles, expiry,
# revocation, enrollers and terminal-safe output.
#
#   APAGON_BIN=build/apagon sh tests/integration/cli.sh
#
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
test_begin cli


PW_ALICE='alice passphrase'
PW_BOB='bob passphrase'

# Nothing from the caller's environment may leak in: directories and passphrases.
unset APAGON_DIR APAGON_PASSPHRASE XDG_DATA_HOME APAGON_FAKE_TIME
run() { "$APAGON_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
alice() { APAGON_PASSPHRASE=$PW_ALICE run --dir "$T/alice" "$@"; }
bob() { APAGON_PASSPHRASE=$PW_BOB run --dir "$T/bob" "$@"; }
# Unattended authority: see walkthrough.sh; a sealed one is tested below.
admin() { run admin --dir "$T/hq" "$@"; }

cd "$T" || exit 1

# ---- usage errors exit 2 ----
run
check no_verb_exit_2 rc_is 2
run frobnicate
check unknown_verb_exit_2 rc_is 2
run --frobnicate inbox
check unknown_global_option_exit_2 rc_is 2
run --dir
check global_option_missing_value_exit_2 rc_is 2
run inbox --frobnicate
check unknown_verb_option_exit_2 rc_is 2
check unknown_option_named err_has "unknown option --frobnicate"
run inbox extra
check extra_argument_exit_2 rc_is 2
run send hello
check send_without_to_exit_2 rc_is 2
run send --to
check option_missing_value_exit_2 rc_is 2
run send --to bob --precedence urgent hi
check bad_precedence_exit_2 rc_is 2
for d in 0 9x 1y -5 64w 99999999999; do
	run send --to bob --lifetime "$d" hi
	check "bad_lifetime_${d}_exit_2" rc_is 2
done
run admin
check admin_without_command_exit_2 rc_is 2
run admin frobnicate
check admin_unknown_command_exit_2 rc_is 2
run admin init --network X
check admin_init_needs_dir_exit_2 rc_is 2
run admin --dir "$T/x" enroll --request a --out b --role general
check admin_bad_role_exit_2 rc_is 2
run admin --dir "$T/x" enroll --request a --out b --days 0
check admin_bad_days_exit_2 rc_is 2
run admin --dir "$T/x" revoke --out r
check admin_revoke_needs_who_exit_2 rc_is 2
run help frobnicate
check help_unknown_exit_2 rc_is 2
run --json frobnicate
check usage_error_json json_ok

# ---- help ----
run help
check help_verb rc_is 0
check help_lists_commands out_has "safety-number"
run -h
check help_short rc_is 0
run help send
check help_send sh -c "[ $rc -eq 0 ] && grep -q -- '--precedence' '$T/out'"
run help admin enroll
check help_admin_enroll sh -c "[ $rc -eq 0 ] && grep -q -- '--role' '$T/out'"
run admin help revoke
check admin_help_revoke sh -c "[ $rc -eq 0 ] && grep -q -- '--reason' '$T/out'"
run send -h
check send_dash_h rc_is 0

# ---- default directories ----
mkdir -p "$T/home"
HOME=$T/home run init --name homer --no-passphrase
check default_dir_home sh -c "[ $rc -eq 0 ] && [ -f '$T/home/.local/share/apagon/identity.key' ]"
HOME=$T/home XDG_DATA_HOME=$T/xdg run init --name xavier --no-passphrase
check default_dir_xdg sh -c "[ $rc -eq 0 ] && [ -f '$T/xdg/apagon/identity.key' ]"
HOME=$T/home XDG_DATA_HOME=$T/xdg APAGON_DIR=$T/envdir run init --name eve --no-passphrase
check default_dir_env sh -c "[ $rc -eq 0 ] && [ -f '$T/envdir/identity.key' ]"
HOME=$T/home XDG_DATA_HOME=$T/xdg APAGON_DIR=$T/envdir run --dir "$T/flag" init --name flo --no-passphrase
check dir_flag_wins sh -c "[ $rc -eq 0 ] && [ -f '$T/flag/identity.key' ]"
run --dir "$T/flag" init --name again --no-passphrase
check init_twice_exit_1 rc_is 1
check init_twice_message err_has "already holds a node"

# ---- a relay without a passphrase ----
run --dir "$T/relay" init --name relay1 --no-passphrase
check relay_init rc_is 0
check relay_init_warns err_has "stored unprotected"
check relay_key_clear [ "$(od -An -tu1 -j5 -N1 "$T/relay/identity.key" | tr -d ' ')" = 0 ]
run --dir "$T/relay" roster
check relay_opens_without_passphrase rc_is 0
run --dir "$T/relay" export --out "$T/relay.apg"
check export_not_enrolled_exit_1 rc_is 1
check export_not_enrolled_message err_has "not enrolled"
check error_line_format err_format
run --dir "$T/nowhere" inbox
check no_node_exit_1 rc_is 1
check no_node_says_init err_has "init --name NAME"

# ---- passphrase sources ----
run --dir "$T/alice" init --name alice
check init_without_passphrase_exit_1 rc_is 1
check init_without_passphrase_message err_has "set APAGON_PASSPHRASE, pass --passphrase-file FILE, or use --no-passphrase"
check init_without_passphrase_no_key sh -c "[ ! -f '$T/alice/identity.key' ]"
printf '%s\n' "$PW_ALICE" >"$T/alice.pass"
chmod 600 "$T/alice.pass"
run --dir "$T/alice" --passphrase-file "$T/alice.pass" --json init --name alice
check init_passphrase_file rc_is 0
check init_json json_ok
ALICE_ID=$(sed -n 's/.*"key_id":"\([0-9a-f]*\)".*/\1/p' "$T/out")
alice roster
check env_passphrase_matches_file rc_is 0
run --dir "$T/alice" counters --passphrase-file="$T/alice.pass"
check passphrase_file_after_verb rc_is 0
chmod 644 "$T/alice.pass"
run --dir "$T/alice" --passphrase-file "$T/alice.pass" counters
check passphrase_file_readable_warns err_has "can be read by other users"
APAGON_PASSPHRASE=$PW_ALICE run --dir "$T/alice" --no-passphrase roster
check no_passphrase_on_sealed_exit_1 rc_is 1
APAGON_PASSPHRASE=wrong run --dir "$T/alice" --json roster
check wrong_passphrase_json_error sh -c "[ $rc -eq 1 ] && grep -q '\"error\"' '$T/out'"
check wrong_passphrase_json_valid json_ok

# ---- the network: a sealed authority once, then an unattended one ----
printf 'authority secret\n' >"$T/hq-sealed.pass"
chmod 600 "$T/hq-sealed.pass"
run admin --dir "$T/hq-sealed" --passphrase-file "$T/hq-sealed.pass" init --network Sealed
check sealed_authority_init rc_is 0
check sealed_authority_key_moderate [ "$(od -An -tu1 -j5 -N1 "$T/hq-sealed/authority.key" | tr -d ' ')" = 2 ]
alice request --out "$T/alice.req"
printf 'wrong\n' >"$T/wrong.pass"
run admin --dir "$T/hq-sealed" --passphrase-file "$T/wrong.pass" enroll --request "$T/alice.req" --out "$T/x.enr"
check sealed_authority_wrong_passphrase sh -c "[ $rc -eq 1 ] && grep -q 'wrong passphrase' '$T/err'"
run --passphrase-file "$T/hq-sealed.pass" admin --dir "$T/hq-sealed" enroll --request "$T/alice.req" --out "$T/x.enr"
check sealed_authority_enroll rc_is 0
check enrollment_file_private [ "$(stat -c %a "$T/x.enr")" = 600 ]

admin init --network "Ministry of Interior" --no-passphrase
check admin_init rc_is 0
run --dir "$T/hq" admin --json enroll --request "$T/alice.req" --out "$T/alice.enr" --unit ops --days 30
check enroll_dir_before_admin rc_is 0
check enroll_json json_ok
jcheck enroll_json_key [ "$(json_get 'd["key_id"]')" = "$ALICE_ID" ]
jcheck enroll_json_days [ "$(json_get 'd["not_after"] - d["not_before"]')" = 2592000 ]
alice import "$T/alice.enr"
check alice_enrolled rc_is 0
alice import "$T/alice.req"
check import_request_exit_1 rc_is 1
check import_request_message err_has "enrollment request"
printf 'not an apagon file\n' >"$T/junk"
alice import "$T/junk"
check import_junk_exit_1 rc_is 1
alice import "$T/missing.apg"
check import_missing_exit_1 rc_is 1

APAGON_PASSPHRASE=$PW_BOB run --dir "$T/bob" init --name bob
bob request --out "$T/bob.req"
admin enroll --request "$T/bob.req" --out "$T/bob.enr" --unit ops
bob import "$T/bob.enr"
check bob_enrolled rc_is 0
bob --json export --out "$T/bob1.apg"
check export_json json_ok
check export_private [ "$(stat -c %a "$T/bob1.apg")" = 600 ]
alice --json import "$T/bob1.apg"
check import_json json_ok
jcheck import_json_accepted [ "$(json_get 'd["accepted"]')" = 2 ]

# ---- sending: stdin, options after the verb, terminal safety ----
printf 'line one\nline two\n' | APAGON_PASSPHRASE=$PW_ALICE "$APAGON_BIN" send --to bob --dir "$T/alice" - >"$T/out" 2>"$T/err"
rc=$?
check send_from_stdin rc_is 0
ESC=$(printf '\033')
alice send --to bob --precedence immediate --lifetime 2h "red ${ESC}[31malert"
check send_escape rc_is 0
alice send --to bob --lifetime 1m "short-lived"
check send_short_lifetime rc_is 0
alice send --to "$ALICE_ID" "to myself"
check send_to_self_exit_1 rc_is 1
alice send --to carol "nobody"
check send_unknown_exit_1 rc_is 1
check send_unknown_says_roster err_has "apagon roster"

# An hour on, the one-minute message expired without a receipt.
APAGON_FAKE_TIME=$(($(date +%s) + 3600)) APAGON_PASSPHRASE=$PW_ALICE run --dir "$T/alice" outbox
check outbox_expired out_has "[expired"
alice --json outbox
check outbox_json json_ok
jcheck outbox_json_expired [ "$(json_get '[m["state"] for m in d["messages"] if m["text"]=="short-lived"][0]')" = expired ]

alice export --out "$T/alice1.apg"
bob import "$T/alice1.apg"
check bob_gets_messages rc_is 0
bob inbox
check inbox_multiline sh -c "grep -qx '    line one' '$T/out' && grep -qx '    line two' '$T/out'"
check inbox_escape_shown out_has 'red \x1b[31malert'
check inbox_no_raw_escape sh -c "! grep -q \"\$(printf '\\033')\" '$T/out'"
check inbox_immediate out_has "IMMEDIATE from alice"
bob --json inbox
check inbox_json json_ok
check inbox_json_escape out_has '"text":"red \u001b[31malert"'

# ---- refused bundles ----
# A bundle cut short or altered is refused by position; the others are kept.
run --dir "$T/carl" init --name carl --no-passphrase 2>/dev/null
run --dir "$T/carl" request --out "$T/carl.req"
admin enroll --request "$T/carl.req" --out "$T/carl.enr"
run --dir "$T/carl" import "$T/carl.enr"
run --dir "$T/carl" export --out "$T/carl.apg"
size=$(wc -c <"$T/carl.apg")
# Flip one bit (a fixed value would leave the file alone when the byte already had it).
byte=$(od -An -tu1 -j $((size - 3)) -N1 "$T/carl.apg" | tr -d ' ')
printf "\\$(printf %03o $((byte ^ 1)))" | dd of="$T/carl.apg" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
alice import "$T/carl.apg"
check tampered_exit_1 rc_is 1
check tampered_refused_line sh -c "grep -qE '^refused #2 ' '$T/out'"
check tampered_summary out_has "1 accepted, 0 duplicates, 1 refused"
check tampered_error_line err_format
alice --json import "$T/carl.apg"
check tampered_json json_ok
jcheck tampered_json_item [ "$(json_get '[i["index"] for i in d["items"] if i["reason"] not in ("ok","duplicate")][0]')" = 2 ]
alice counters
check counters_count_refusal sh -c "grep -qE '^rejected\.' '$T/out'"
alice --json counters
check counters_json json_ok

# Another network's export: every bundle refused as "network".
run admin --dir "$T/hq2" init --network Other --no-passphrase
run --dir "$T/eve" init --name eve --no-passphrase 2>/dev/null
run --dir "$T/eve" request --out "$T/eve.req"
run admin --dir "$T/hq2" enroll --request "$T/eve.req" --out "$T/eve.enr"
run --dir "$T/eve" import "$T/eve.enr"
run --dir "$T/eve" export --out "$T/eve.apg"
alice import "$T/eve.apg"
check other_network_exit_1 rc_is 1
check other_network_reason out_has ": network: "
run --dir "$T/eve" import "$T/alice.enr"
check foreign_enrollment_exit_1 rc_is 1

# ---- safety numbers ----
alice --json safety-number bob
check safety_json json_ok
jcheck safety_json_digits sh -c "echo '$(json_get 'd["safety_number"]')' | grep -qxE '[0-9]{60}'"
alice safety-number bob --verify --unverify
check verify_unverify_exit_2 rc_is 2
alice safety-number
check safety_needs_who_exit_2 rc_is 2

# ---- enrollers ----
run --dir "$T/carol" init --name carol --no-passphrase 2>/dev/null
run --dir "$T/carol" request --out "$T/carol.req"
admin enroll --request "$T/carol.req" --out "$T/carol.enr" --role enroller --unit signals
check enroll_enroller sh -c "[ $rc -eq 0 ] && grep -q 'role    enroller' '$T/out'"
run --dir "$T/carol" import "$T/carol.enr"
run --dir "$T/dave" init --name dave --no-passphrase 2>/dev/null
run --dir "$T/dave" request --out "$T/dave.req"
run admin --dir "$T/carol" enroll --request "$T/dave.req" --out "$T/dave.enr"
check enroller_enrolls sh -c "[ $rc -eq 0 ] && grep -q 'unit    signals' '$T/out'"
run admin --dir "$T/carol" enroll --request "$T/dave.req" --out "$T/dave2.enr" --role enroller
check enroller_cannot_make_enrollers rc_is 1
run admin --dir "$T/relay" enroll --request "$T/dave.req" --out "$T/dave3.enr"
check member_cannot_enroll rc_is 1
run --dir "$T/dave" import "$T/dave.enr"
check dave_enrolled rc_is 0
run --dir "$T/dave" export --out "$T/dave.apg"
alice import "$T/dave.apg"
check chain_through_enroller rc_is 0

# ---- revocation ----
admin revoke --request "$T/bob.req" --out "$T/revoke-bob.apg" --reason "device lost"
check revoke_by_request rc_is 0
alice import "$T/revoke-bob.apg"
check import_revocation rc_is 0
alice --json roster
check roster_json json_ok
jcheck roster_revoked [ "$(json_get '[m for m in d["members"] if m["name"]=="bob"][0]["revoked"]')" = True ]
alice roster
check roster_revoked_text out_has "REVOKED"
alice send --to bob "are you there?"
check send_to_revoked_exit_1 rc_is 1
admin revoke --id dave --out "$T/revoke-dave.apg"
check revoke_by_id_not_issued_here rc_is 1
run admin --dir "$T/carol" revoke --id dave --out "$T/revoke-dave.apg"
check enroller_revokes_own rc_is 0

test_end
