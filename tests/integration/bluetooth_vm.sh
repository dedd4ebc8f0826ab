#!/bin/sh
# Issue 5: the Bluetooth transport against Linux's real Bluetooth stack. This host's
# kernel has no AF_BLUETOOTH, so the test boots Debian's kernel in QEMU (TCG) with an
# initramfs built from our own apagond/apagon (tests/bluetooth/build_vm.sh); inside,
# BlueZ's btvirt makes four controllers and tests/bluetooth/init.sh runs the nodes.
# Every check below is a PASS/FAIL line the VM printed after real L2CAP sockets
# carried the traffic; nothing is judged on this host but the VM's own lines.
#
#   APAGON_BIN=build/apagon sh tests/integration/bluetooth_vm.sh
#   APAGON_BT_BENCH=1 ...   also measure bt.goodput_vs_raw ("bench NAME VALUE" lines)
#
# The kernel and BlueZ packages are fetched once with apt-get download into
# BUILD/bt-cache. Without qemu, busybox, the packages or a mirror, the script says
# "skip" with the reason.
set -u

. "$(dirname "$0")/../lib/check.sh"
test_begin bluetooth_vm
BUILD_DIR=$(dirname "$APAGON_BIN")
APAGOND_BIN=$BUILD_DIR/apagond
TOP=$(cd "$(dirname "$0")/../.." && pwd)

skip_all() { echo "skip bluetooth_vm ($1)"; test_end; exit $?; }

[ -x "$APAGOND_BIN" ] || skip_all "needs $APAGOND_BIN"
[ -x "$BUILD_DIR/bench/bench_bt" ] || skip_all "needs $BUILD_DIR/bench/bench_bt: make test-bluetooth builds it"
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    skip_all "needs qemu-system-x86_64: make deps installs qemu-system-x86"

# ---- the members, made here (fast) and carried into the VM ----
N=$T/extra/nodes
mkdir -p "$N"
cd "$N" || exit 1
run() { "$APAGON_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
unset APAGON_DIR APAGON_PASSPHRASE XDG_DATA_HOME APAGON_FAKE_TIME
member() {  # member NAME AUTHORITY
	run --dir "$1" --no-passphrase init --name "$1" && run --dir "$1" request --out "$1.req" &&
	    run admin --dir "$2" enroll --request "$1.req" --out "$1.enr" &&
	    run --dir "$1" import "$1.enr"
	check "setup_$1" rc_is 0
}
run admin --dir hq init --network "Bluetooth Office" --no-passphrase
check net_create rc_is 0
for n in alice bob carol; do member "$n" hq; done
run admin --dir hq2 init --network "Someone Else" --no-passphrase
check outsider_net_create rc_is 0
member mallory hq2
rm -rf hq hq2 ./*.req ./*.enr

# ---- the VM ----
sh "$TOP/tests/bluetooth/build_vm.sh" "$(cd "$BUILD_DIR" && pwd)" "$T/extra" >"$T/build.log" 2>&1
brc=$?
if [ "$brc" -eq 2 ]; then
	skip_all "$(tail -n 1 "$T/build.log")"
fi
check vm_built [ "$brc" -eq 0 ]
[ "$brc" -eq 0 ] || { cat "$T/build.log" >&2; test_end; exit 1; }

VM=$BUILD_DIR/bt-vm
start=$(date +%s)
timeout 1500 qemu-system-x86_64 -accel tcg -smp 1 -m 768 -nographic -no-reboot \
    -kernel "$VM/vmlinux" -initrd "$VM/initramfs.gz" \
    -append "console=ttyS0 quiet panic=-1 apagon.bench=${APAGON_BT_BENCH:-0}" \
    </dev/null >"$T/console.log" 2>&1
qrc=$?
echo "info: VM run took $(($(date +%s) - start)) s (qemu exit $qrc)"
cp "$T/console.log" "$BUILD_DIR/bt-vm/console.log" 2>/dev/null

tr -d '\r' <"$T/console.log" >"$T/console.txt"
while read -r word name rest; do
	case "$word" in
	PASS) ok "$name" ;;
	FAIL) rc=1; echo "FAIL $name"; fail=$((fail + 1)) ;;
	INFO) echo "info: $name $rest" ;;
	SKIP) echo "skip $name ($rest)" ;;
	BENCH) echo "bench $name $rest" ;;
	esac
done <"$T/console.txt"
check vm_ran_to_the_end grep -q '^VM-DONE' "$T/console.txt"
if [ "$fail" -ne 0 ]; then
	echo "--- VM console (last 120 lines):" >&2
	tail -n 120 "$T/console.txt" >&2
fi
test_end
