#!/bin/sh
# Install the Debian packages apagon builds and tests with. Idempotent: a package
# already installed is left alone, and the script says what it does.
set -eu

# libmosquitto-dev and mosquitto: the MQTT transport and the real brokers its tests
# start; libcjson-dev: the control socket's JSON-RPC (cJSON, a small well-kept parser
# rather than one written here); openssl: the certificates of the broker TLS test.
PKGS="build-essential pkg-config libsodium-dev libsqlite3-dev sqlite3 clang
libmosquitto-dev mosquitto libcjson-dev openssl"
# gcc-arm-none-eabi and libnewlib-arm-none-eabi: the modem's board images (`make
# firmware`); qemu-system-arm and python3: the test that boots the image under qemu.
PKGS="$PKGS gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm python3"
# Bluetooth (docs/bluetooth.md): libbluetooth-dev for node/transport_bt.c; the VM that
# runs Linux's real Bluetooth stack in tests (tests/bluetooth/build_vm.sh) needs
# qemu-system-x86 busybox-static cpio zstd xz-utils kmod on the host. Its kernel and
# BlueZ packages are not installed: bt_fetch below downloads their .debs into the
# build folder's cache.
PKGS="$PKGS libbluetooth-dev qemu-system-x86 busybox-static cpio zstd xz-utils kmod"

# The Debian kernel and BlueZ .debs the Bluetooth VM test boots, into BUILD/bt-cache
# (BUILD from the environment, as make passes it; default build). Best effort: the
# test fetches them itself when missing, and skips with the reason if it cannot.
bt_fetch() {
	cache=${BUILD:-build}/bt-cache
	mkdir -p "$cache" || return 0
	if ! ls "$cache"/linux-image-6.1.*-amd64_*.deb >/dev/null 2>&1; then
		k=$(apt-cache depends linux-image-amd64 2>/dev/null |
		    awk '/Depends: linux-image-6\.1\.[0-9-]*-amd64$/ { print $2; exit }')
		[ -n "$k" ] && (cd "$cache" && apt-get download "$k" >/dev/null 2>&1) &&
		    echo "deps: fetched $k into $cache"
	fi
	for p in bluez bluez-test-tools; do
		ls "$cache/${p}_"*.deb >/dev/null 2>&1 ||
		    { (cd "$cache" && apt-get download "$p" >/dev/null 2>&1) &&
		    echo "deps: fetched $p into $cache"; }
	done
	return 0
}

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all packages present ("$PKGS")"
	bt_fetch
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: missing:$missing; run this as root or install sudo" >&2
	exit 1
fi

echo "deps: installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
bt_fetch
echo "deps: done"
