#!/bin/sh
# PID 1 of the drill VM (tests/bluetooth/build_vm.sh BUILD EXTRA drill; busybox sh).
# Linux's own Bluetooth stack with two virtual controllers from BlueZ's btvirt (hci0,
# hci1, in reach of each other), loopback for the drill's broker, and then
# `apagon-drill run` on the scenario the host put in /drill/ (tests/integration/
# bluetooth_drill.sh: docs/drills/bluetooth.drill). The drill itself does everything
# else, as on any machine: the authority, the members, mosquitto, one apagond per
# node, the traffic, the timeline, the report.
#
# The console gets "INFO ..." lines, then each file the host judges between
# "BEGIN-FILE NAME" and "END-FILE NAME", every line of it prefixed with "|" (so that
# a stray kernel line cannot pass for one), then "VM-DONE"; then the VM powers off.
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
exec </dev/console >/dev/console 2>&1
dmesg -n 1 2>/dev/null
echo

now() { cut -d' ' -f1 /proc/uptime; }
emit() {  # emit FILE NAME
	[ -f "$1" ] || { echo "INFO no $2"; return 0; }
	echo "BEGIN-FILE $2"
	sed 's/^/|/' "$1"
	echo "END-FILE $2"
}
finish() {
	for p in $(pidof apagon-drill) $(pidof apagond) $(pidof mosquitto) $(pidof btvirt); do
		kill "$p" 2>/dev/null
	done
	sleep 1
	echo "VM-DONE"
	sync
	poweroff -f
}

# ---- the machine: loopback, the Bluetooth stack, two controllers ----
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
for m in $(cat /modules.list); do insmod "$m" 2>/dev/null; done
btvirt -l2 >/tmp/btvirt.log 2>&1 &
tries=0      # at most 30 s for the controllers (a deadline against a hang)
while [ ! -e /sys/class/bluetooth/hci1 ] && [ "$tries" -lt 150 ]; do
	sleep 0.2
	tries=$((tries + 1))
done
if [ ! -e /sys/class/bluetooth/hci1 ]; then
	echo "INFO vm_controllers: btvirt made no hci0 and hci1"
	cat /tmp/btvirt.log
	finish
fi
# btmgmt quits before the reply when its stdin is /dev/null: keep the console.
mg() { timeout 5 btmgmt "$@" </dev/console >>/tmp/btmgmt.log 2>&1; }
for i in 0 1; do
	mg -i $i le on
	mg -i $i bredr on
	mg -i $i connectable on
	mg -i $i power on
done
addr() { timeout 5 btmgmt -i "$1" info </dev/console 2>/dev/null | awk '$1 == "addr" { print $2; exit }'; }
echo "INFO controllers hci0=$(addr 0) hci1=$(addr 1) at $(now)"

# ---- the drill ----
S=$(ls /drill/*.drill | head -n 1)
echo "INFO drill $S starts at $(now)"
apagon-drill run "$S" --out /tmp/d >/tmp/drill.out 2>&1
echo "INFO drill exit $? at $(now)"
emit /tmp/drill.out drill.out
emit /tmp/d/metrics.json metrics.json
emit /tmp/d/report.md report.md
emit /tmp/d/messages.csv messages.csv
for f in /tmp/d/run/*.log; do
	[ -f "$f" ] && emit "$f" "run/${f##*/}"
done
finish
