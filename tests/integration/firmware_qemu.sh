#!/bin/sh
# The modem firmware under emulation: the qemu image ($BUILD/firmware/
# qemu-mps2-an386.elf, `make firmware`) boots on qemu-system-arm -M mps2-an386 with
# its UART0 on a unix socket, and firmware_qemu_client.py drives it over KISS/RNode:
# DETECT and identity, configuration set and read back, a refused out-of-range value,
# DATA refused before a region is set, DATA (routine and FLASH) sent through the radio
# and received back from the board's reflector (the image's radio is the host build's
# SX1262 model; every frame it sends comes back once, after its airtime) with the RSSI
# and SNR it was heard at, garbage on the serial line, and the modem's counters. The
# RAK3172 image is checked statically: initial stack pointer and reset vector.
#
#   BUILD=build sh tests/integration/firmware_qemu.sh
#
# A missing emulator, image or python3 is a failure, not a skip: `make test` installs
# and builds them (`make deps`, `make firmware`). The qemu process is killed on exit.
# Prints "ok NAME" / "FAIL NAME" per check and ends with "N passed, N failed".
set -u

. "$(dirname "$0")/../lib/check.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
test_begin firmware_qemu
BUILD=${BUILD:-$(dirname "$APAGON_BIN")}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
IMAGE=$BUILD/firmware/qemu-mps2-an386.elf
qpid=
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$T"' EXIT

need() {
	if "$@" >"$T/out" 2>"$T/err"; then return 0; fi
	return 1
}
check qemu_installed need command -v qemu-system-arm
check python3_installed need command -v python3
check image_built test -f "$IMAGE"
if [ "$fail" -ne 0 ]; then
	echo "firmware_qemu: run \`make deps\` and \`make BUILD=... firmware\` first" >&2
	test_end
	exit 1
fi

# The values the image must report, taken from the sources rather than repeated here.
fw_major=$(sed -n 's/^#define MODEM_FW_MAJOR[[:space:]]*\([0-9]*\).*/\1/p' "$TOP/firmware/modem.h")
fw_minor=$(sed -n 's/^#define MODEM_FW_MINOR[[:space:]]*\([0-9]*\).*/\1/p' "$TOP/firmware/modem.h")
platform=$(sed -n 's/^#define APG_PLATFORM_QEMU[[:space:]]*\(0x[0-9A-Fa-f]*\).*/\1/p' "$TOP/firmware/proto/rnode.h")
mcu=$(sed -n 's/^#define APG_MCU_QEMU[[:space:]]*\(0x[0-9A-Fa-f]*\).*/\1/p' "$TOP/firmware/proto/rnode.h")
echo_rssi=$(sed -n 's/^#define ECHO_RSSI_DBM[[:space:]]*\(-*[0-9]*\).*/\1/p' "$TOP/firmware/board/qemu/board.c")
echo_snr4=$(sed -n 's/^#define ECHO_SNR_DB4[[:space:]]*\(-*[0-9]*\).*/\1/p' "$TOP/firmware/board/qemu/board.c")

# wait=on: qemu holds the guest until the client connects, so no byte is lost.
qemu-system-arm -M mps2-an386 -nographic -monitor none \
	-serial "unix:$T/uart,server=on,wait=on" -kernel "$IMAGE" \
	>"$T/qemu.out" 2>"$T/qemu.err" &
qpid=$!

rc=0
timeout 120 python3 "$HERE/firmware_qemu_client.py" "$T/uart" "$fw_major" "$fw_minor" \
	"$platform" "$mcu" "$echo_rssi" "$echo_snr4" >"$T/client.out" 2>"$T/err" || rc=$?
cp "$T/client.out" "$T/out"
lines=0
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok }"; lines=$((lines + 1)) ;;
	"FAIL "*) no "${line#FAIL }"; lines=$((lines + 1)) ;;
	esac
done <"$T/client.out"
check client_finished test "$lines" -gt 0 -a "$rc" -ne 124
check qemu_still_running kill -0 "$qpid"

# The real board image cannot boot here (qemu has no STM32WL), but its start-up
# contract can be read off the file: the first two words of flash are the initial
# stack pointer (top of the RAM region) and the reset vector (a Thumb address inside
# the flash region, the ELF entry point).
RAK=$BUILD/firmware/rak3172.elf
rak_words() {
	arm-none-eabi-objcopy -O binary --only-section=.text "$RAK" "$T/rak.bin" &&
	od -An -tx4 -N8 "$T/rak.bin" >"$T/out"
}
if check rak3172_image_readable rak_words; then
	set -- $(cat "$T/out")
	sp=$((0x$1))
	reset=$((0x$2))
	entry=$(arm-none-eabi-readelf -h "$RAK" | sed -n 's/.*Entry point address:[[:space:]]*//p')
	check rak3172_initial_sp_is_top_of_ram test "$sp" -eq $((0x20000000 + 32 * 1024))
	check rak3172_reset_vector_in_flash test $((reset & 1)) -eq 1 -a \
		"$reset" -ge $((0x08000000)) -a "$reset" -lt $((0x08000000 + 128 * 1024))
	check rak3172_reset_vector_is_entry test "$reset" -eq $((entry))
fi
if [ "$fail" -ne 0 ]; then
	{ echo "--- qemu stderr:"; cat "$T/qemu.err"; } >&2
fi
test_end
