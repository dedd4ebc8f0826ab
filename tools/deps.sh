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
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all packages present ("$PKGS")"
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
echo "deps: done"
