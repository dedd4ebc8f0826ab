#!/bin/sh
# Build the Bluetooth test VM (docs/bluetooth.md, ../shared/reference/bluetooth-vm.md):
# Debian's own kernel and an initramfs holding busybox, BlueZ's btvirt and btmgmt, the
# kernel modules of the Bluetooth stack, and our binaries with their libraries.
#
#   sh tests/bluetooth/build_vm.sh BUILD EXTRA_DIR [drill]
#
# BUILD      the build folder (absolute): apagon, apagond and bench/bench_bt are taken
#            from it; fetched packages are cached in BUILD/bt-cache, so a second run
#            downloads nothing; the VM goes to BUILD/bt-vm/{vmlinux,initramfs.gz}
# EXTRA_DIR  copied into the initramfs root as it is (node directories, scripts)
# drill      the drill VM instead (tests/integration/bluetooth_drill.sh): apagon-drill
#            and mosquitto (with their libraries, and the users mosquitto looks up)
#            in place of bench_bt, tests/bluetooth/drill_init.sh as /init; its
#            initramfs goes to BUILD/bt-vm-drill/initramfs.gz, the kernel stays in
#            BUILD/bt-vm
#
# Exit 0 when built; 2 when something needed is missing (the caller skips), with one
# line on stderr saying what.
set -eu

BUILD=$1
EXTRA=$2
MODE=${3:-}
CACHE=$BUILD/bt-cache
KDIR=$BUILD/bt-vm
OUT=$KDIR
PROGS="apagon apagond bench/bench_bt"
INIT=init.sh
MOSQUITTO=
if [ "$MODE" = drill ]; then
	OUT=$BUILD/bt-vm-drill
	PROGS="apagon apagond apagon-drill"
	INIT=drill_init.sh
	MOSQUITTO=${MOSQUITTO_BIN:-/usr/sbin/mosquitto}
fi
TOP=$(cd "$(dirname "$0")/../.." && pwd)
MODULES="sha3_generic jitterentropy_rng ctr sha512_generic drbg ecb cmac af_alg algif_hash
algif_skcipher hci_vhci rfcomm"

missing() { echo "$1" >&2; exit 2; }

for tool in qemu-system-x86_64 busybox cpio depmod modprobe dpkg python3 gzip; do
	command -v "$tool" >/dev/null 2>&1 || [ -x "/sbin/$tool" ] || [ -x "/usr/sbin/$tool" ] ||
	    missing "needs $tool (make deps installs qemu-system-x86 busybox-static cpio kmod)"
done
for b in $PROGS; do
	[ -x "$BUILD/$b" ] || missing "needs $BUILD/$b (make BUILD=... all $BUILD/bench/bench_bt)"
done
[ -z "$MOSQUITTO" ] || [ -x "$MOSQUITTO" ] || missing "needs $MOSQUITTO (make deps installs mosquitto)"
PATH=$PATH:/sbin:/usr/sbin
mkdir -p "$CACHE" "$KDIR" "$OUT"

# ---- the packages: fetched once, kept in the cache ----
if ! ls "$CACHE"/linux-image-6.1.*-amd64_*.deb >/dev/null 2>&1; then
	# The 6.1 kernel the metapackage points at, else the newest 6.1 the mirror lists.
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '/Depends: linux-image-6\.1\.[0-9-]*-amd64$/ { print $2; exit }')
	[ -n "$kpkg" ] || kpkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' \
	    2>/dev/null | awk '{ print $1 }' | sort -V | tail -n 1)
	[ -n "$kpkg" ] || missing "no linux-image-6.1.*-amd64 known to apt (apt-get update?)"
	(cd "$CACHE" && apt-get download "$kpkg" >/dev/null 2>&1) ||
	    missing "apt-get download $kpkg failed (no mirror reachable?)"
fi
for p in bluez bluez-test-tools; do
	if ! ls "$CACHE/${p}_"*.deb >/dev/null 2>&1; then
		(cd "$CACHE" && apt-get download "$p" >/dev/null 2>&1) ||
		    missing "apt-get download $p failed (no mirror reachable?)"
	fi
done

# ---- unpacked once ----
if [ ! -f "$CACHE/kroot.done" ]; then
	rm -rf "$CACHE/kroot"
	dpkg -x "$CACHE"/linux-image-6.1.*-amd64_*.deb "$CACHE/kroot"
	touch "$CACHE/kroot.done"
fi
KVER=$(ls "$CACHE/kroot/lib/modules" | head -n 1)
[ -f "$CACHE/kroot/lib/modules/$KVER/modules.dep" ] || depmod -b "$CACHE/kroot" "$KVER"
if [ ! -f "$CACHE/bz.done" ]; then
	rm -rf "$CACHE/bz"
	for d in "$CACHE"/bluez_*.deb "$CACHE"/bluez-test-tools_*.deb; do dpkg -x "$d" "$CACHE/bz"; done
	touch "$CACHE/bz.done"
fi
# The uncompressed kernel boots fastest (QEMU loads the ELF through its PVH note):
# the XZ stream inside vmlinuz, decompressed.
if [ ! -s "$KDIR/vmlinux" ] || [ "$KDIR/vmlinux" -ot "$CACHE/kroot.done" ]; then
	python3 - "$CACHE/kroot/boot/vmlinuz-$KVER" "$KDIR/vmlinux" <<'EOP'
import lzma, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")
if at < 0:
    sys.exit("no XZ stream in " + sys.argv[1])
d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
out = d.decompress(data[at:])
if not out.startswith(b"\x7fELF"):
    sys.exit("the XZ stream is not an ELF kernel")
open(sys.argv[2], "wb").write(out)
EOP
fi

# ---- the initramfs root ----
R=$OUT/root
rm -rf "$R"
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/lib" "$R/lib64" "$R/proc" "$R/sys" "$R/dev" \
    "$R/tmp" "$R/run" "$R/var/run" "$R/etc"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"
done
# Kernel modules, with their dependency closure, in load order.
: >"$R/modules.list"
for m in $MODULES; do
	modprobe -d "$CACHE/kroot" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	rel=${ko#"$CACHE/kroot"}
	mkdir -p "$R$(dirname "$rel")"
	cp "$ko" "$R$rel"
	echo "$rel" >>"$R/modules.list"
done
# Programs, and every library ldd names (with the loader).
cp "$CACHE/bz/usr/bin/btvirt" "$CACHE/bz/usr/bin/btmgmt" "$R/usr/bin/"
for b in $PROGS; do cp "$BUILD/$b" "$R/usr/bin/"; done
if [ -n "$MOSQUITTO" ]; then
	mkdir -p "$R/usr/sbin"
	cp "$MOSQUITTO" "$R/usr/sbin/mosquitto"
	# mosquitto started as root drops to the user mosquitto (else nobody).
	cat >"$R/etc/passwd" <<'EOP'
root:x:0:0:root:/:/bin/sh
mosquitto:x:100:100::/tmp:/bin/false
nobody:x:65534:65534::/nonexistent:/bin/false
EOP
	printf 'root:x:0:\nmosquitto:x:100:\nnogroup:x:65534:\n' >"$R/etc/group"
fi
for f in "$R/usr/bin/btvirt" "$R/usr/bin/btmgmt" ${MOSQUITTO:+"$R/usr/sbin/mosquitto"} \
    $(for b in $PROGS; do echo "$R/usr/bin/${b##*/}"; done); do
	ldd "$f" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'
done | sort -u | while read -r lib; do
	mkdir -p "$R$(dirname "$lib")"
	cp -L "$lib" "$R$lib"
done
cp "$TOP/tests/bluetooth/$INIT" "$R/init"
chmod 0755 "$R/init"
cp -R "$EXTRA/." "$R/"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 >"$OUT/initramfs.gz")
echo "built $KDIR/vmlinux and $OUT/initramfs.gz (kernel $KVER)"
