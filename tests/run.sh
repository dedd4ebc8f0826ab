#!/bin/sh
# Run the whole suite: unit test binaries, integration scripts and the fuzz corpus
# replay. Every part prints its own `N passed, N failed` line; this script adds them
# up and ends with the total. Exit status is non-zero if anything failed.
#
#   BUILD=build tests/run.sh [FILTER]      FILTER: run only parts whose name contains it
set -u
BUILD=${BUILD:-build}
FILTER=${1:-}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
export APAGON_BIN="$top/$BUILD/apagon"
log="$top/$BUILD/test-logs"
mkdir -p "$log"

pass=0
fail=0

# run NAME CMD...: run one part, echo its output, add its summary line to the totals.
run() {
	name=$1
	shift
	case "$name" in *"$FILTER"*) ;; *) return 0 ;; esac
	echo "== $name"
	"$@" >"$log/$name.out" 2>"$log/$name.err"
	rc=$?
	grep -E '^(ok|FAIL|skip) ' "$log/$name.out"
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/$name.out" | tail -n 1)
	if [ -z "$summary" ]; then
		echo "FAIL $name: no summary line (exit $rc); stderr follows"
		tail -n 30 "$log/$name.err"
		fail=$((fail + 1))
		return
	fi
	p=${summary%% passed*}
	f=${summary#*passed, }
	f=${f%% failed*}
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exit status $rc"
		tail -n 30 "$log/$name.err"
		fail=$((fail + 1))
	elif [ "$f" -ne 0 ]; then
		tail -n 60 "$log/$name.err"
	fi
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run "$(basename "$t")" "$t"
done

for r in "$BUILD"/fuzz/replay_*; do
	[ -x "$r" ] || continue
	h=${r##*/replay_}
	run "replay_$h" "$r" "tests/fuzz/corpus/$h"
done

for s in tests/integration/*.sh; do
	[ -f "$s" ] || continue
	run "$(basename "$s" .sh)" sh "$s"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
