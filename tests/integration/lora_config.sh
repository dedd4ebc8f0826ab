#!/bin/sh
# Issue 4, node side (docs/lora.md "Configuration"): the node reads the modem's
# settings back and refuses a mismatch, and never transmits without a region. Two fake
# modems on pseudo-terminals (a Python script speaking the KISS/RNode protocol of
# docs/modem.md) record every command they receive:
#   - "liar" answers every setting faithfully except the spreading factor: the link
#     must be refused, counted, and send no DATA;
#   - "quiet" is a faithful modem, but its section sets no region: the link listens
#     and sends no REGION, no radio setting and no DATA, while the node has bundles of
#     its own (certificate, prekey) that it would flood anywhere else.
set -u

. "$(dirname "$0")/../lib/check.sh"
. "$(dirname "$0")/../lib/daemon.sh"
test_begin lora_config
daemon_setup lora_config

net_create "Config Test"
member_add alice

python3 - "$T" >"$T/fake.log" 2>&1 <<'EOP' &
import os, pty, select, sys, time
T = sys.argv[1]
FEND, FESC, TFEND, TFESC = 0xC0, 0xDB, 0xDC, 0xDD

def enc(cmd, arg=b""):
    body = bytes([cmd]) + arg
    out = bytearray([FEND])
    for b in body:
        if b == FEND: out += bytes([FESC, TFEND])
        elif b == FESC: out += bytes([FESC, TFESC])
        else: out.append(b)
    out.append(FEND)
    return bytes(out)

class Fake:
    def __init__(self, name, lie_sf):
        self.m, s = pty.openpty()
        os.symlink(os.ttyname(s), f"{T}/{name}.pty")
        self.s = s
        self.name, self.lie_sf = name, lie_sf
        self.buf, self.inframe, self.esc = bytearray(), False, False
        self.log = open(f"{T}/{name}.cmds", "w")
    def frame(self, body):
        cmd, arg = body[0], bytes(body[1:])
        self.log.write("%02x %s\n" % (cmd, arg.hex())); self.log.flush()
        reply = None
        if cmd == 0x08: reply = enc(0x08, b"\x46")
        elif cmd == 0x04 and self.lie_sf: reply = enc(0x04, b"\x09")
        elif cmd in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xA0, 0xA4): reply = enc(cmd, arg)
        elif cmd == 0xA2: reply = enc(0xA2, b"\x01\x00\x00\x00\x00")
        elif cmd == 0xA3: reply = enc(0xA3, bytes(17))
        if reply:
            os.write(self.m, reply)
    def feed(self, data):
        for b in data:
            if b == FEND:
                if self.inframe and self.buf: self.frame(self.buf)
                self.buf, self.inframe, self.esc = bytearray(), True, False
            elif not self.inframe: pass
            elif self.esc:
                self.buf.append(FEND if b == TFEND else FESC); self.esc = False
            elif b == FESC: self.esc = True
            else: self.buf.append(b)

fakes = [Fake("liar", True), Fake("quiet", False)]
while True:
    r, _, _ = select.select([f.m for f in fakes], [], [], 1.0)
    for f in fakes:
        if f.m in r:
            try: f.feed(os.read(f.m, 4096))
            except OSError: time.sleep(0.1)
EOP
PIDS="$PIDS $!"
check fake_modems_up wait_for 10 test -e "$T/quiet.pty"

cat >alice/apagon.conf <<EOF
[lora liar]
device = $T/liar.pty
region = EU868
preset = long-fast

[lora quiet]
device = $T/quiet.pty
preset = short-fast
EOF
check daemon_started daemon_start alice

lora_counter() {
	"$APAGON_BIN" --dir alice --json status >"$T/st.json" 2>/dev/null &&
	    json "$T/st.json" "d['links'][$1]['counters'].get('$2', 0)"
}
mismatch_counted() { [ "$(lora_counter 0 config_mismatches)" -ge 1 ]; }
check mismatch_refused wait_for 30 mismatch_counted
check mismatch_logged grep -q "the modem reports spreading factor 9 where apagon.conf needs 11: refused" \
	"$T/alice.log"
check liar_asked_sf grep -q "^04 0b" "$T/liar.cmds"
check no_region_listening wait_for 30 link_state alice listening 1
# Time for anything that would be sent: counters are polled, the store is scanned.
sleep 8
check liar_got_no_data sh -c '! grep -qE "^(00|a1) " "$1"' sh "$T/liar.cmds"
check quiet_got_no_data sh -c '! grep -qE "^(00|a1) " "$1"' sh "$T/quiet.cmds"
check quiet_got_no_settings sh -c '! grep -qE "^(a0|01|02|04|05|06) " "$1"' sh "$T/quiet.cmds"
check quiet_polled grep -q "^08 73" "$T/quiet.cmds"
run --dir alice status
check status_says_not_transmitting out_has "no region set: not transmitting"

daemon_stop alice
rc=$?
check daemon_stops_cleanly rc_is 0
test_end
