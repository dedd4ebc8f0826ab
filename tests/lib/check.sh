# Shared by the integration scripts: a scratch directory, check helpers and the
# "ok NAME" / "FAIL NAME" / "N passed, N failed" protocol that tests/run.sh reads.
#
#   . "$(dirname "$0")/../lib/check.sh"
#   test_begin NAME          # sets $T (removed on exit) and $APAGON_BIN
#   ... check NAME COMMAND ...
#   test_end                 # prints the summary, exits 1 on any failure
#
# Commands under test write to "$T/out" and "$T/err" and set $rc; a failing check
# prints both to stderr, which tests/run.sh shows for failing parts.

APAGON_BIN=${APAGON_BIN:-build/apagon}
case $APAGON_BIN in /*) ;; *) APAGON_BIN=$(pwd)/$APAGON_BIN ;; esac
pass=0
fail=0
rc=0

test_begin() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/apagon-$1.XXXXXX") || exit 1
	trap 'rm -rf "$T"' EXIT
	trap 'exit 130' INT TERM
	: >"$T/out"
	: >"$T/err"
}

test_end() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

ok() { echo "ok $1"; pass=$((pass + 1)); }
no() {
	echo "FAIL $1"
	fail=$((fail + 1))
	{ echo "--- $1: exit $rc; stdout:"; cat "$T/out"; echo "--- stderr:"; cat "$T/err"; } >&2
}
# check NAME COMMAND...: ok if the command succeeds.
check() { name=$1; shift; if "$@"; then ok "$name"; else no "$name"; fi; }
# jcheck NAME COMMAND...: a check that reads JSON values through python3; skipped
# (tests/run.sh counts "skip" lines as neither) where python3 is missing.
jcheck() {
	if command -v python3 >/dev/null 2>&1; then
		check "$@"
	else
		echo "skip $1 (no python3)"
	fi
}
# The key ID of the roster line marked "you" (plain output, no python needed).
my_key_id() { awk 'NR > 2 && $5 == "you" { print $4 }' "$T/out"; }
# has FILE TEXT: FILE contains TEXT literally.
has() { grep -qF -- "$2" "$1"; }
out_has() { has "$T/out" "$1"; }
err_has() { has "$T/err" "$1"; }
rc_is() { [ "$rc" -eq "$1" ]; }
# A JSON document on stdout that a real parser accepts (skipped without python3).
json_ok() {
	command -v python3 >/dev/null 2>&1 || return 0
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" 2>/dev/null
}
# A JSON field from stdout: json_get 'd["messages"][0]["state"]'.
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	    "$T/out" "$1" 2>/dev/null
}
# The error line format: "apagon: <what failed>: <why>. <what to do next>"
err_format() { grep -qE '^apagon: [^:]+: .+\. .+' "$T/err"; }
