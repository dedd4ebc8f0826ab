"""Checks for tests/integration/lora_modem.sh: three simulated modems (a, b, c) on one
simulated channel, driven over their pseudo-terminals. Prints "ok NAME" / "FAIL NAME"
lines; the shell script counts them."""
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rnode_client import CMD, Modem  # noqa: E402

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("ok " if cond else "FAIL ") + name, flush=True)
    if not cond:
        print("--- %s: %s" % (name, detail), file=sys.stderr, flush=True)


def u32(b):
    return struct.unpack(">I", b)[0] if b and len(b) == 4 else None


T = sys.argv[1]
a, b, c = (Modem(os.path.join(T, n + ".pty")) for n in "abc")
LONGFAST = (869525000, 250000, 11, 5, 14)

# DETECT, version, platform
for name, m in (("a", a), ("b", b)):
    check("detect_" + name, m.ask(CMD["DETECT"], b"\x73") == b"\x46")
fw = a.ask(CMD["FW_VERSION"], b"\x00")
check("fw_version", fw is not None and len(fw) == 2 and (fw[0], fw[1]) >= (1, 52), fw)
check("platform", a.ask(CMD["PLATFORM"], b"\x00") is not None)

# No region: nothing is sent.
c.send(CMD["FREQUENCY"], struct.pack(">I", LONGFAST[0]))
c.send(CMD["BANDWIDTH"], struct.pack(">I", LONGFAST[1]))
c.send(CMD["SF"], bytes([LONGFAST[2]]))
st = c.ask(CMD["RADIO_STATE"], b"\x01")
c.send(CMD["DATA"], b"before any region")
err = c.expect(CMD["ERROR"], 3)
check("no_region_refused", err is not None and err[0] == 0xA2, err)
s = c.stats()
check("no_region_nothing_sent", s.get("tx_frames") == 0 and s.get("no_region_refusals") == 1, s)

# Configuration read-back (long-fast in EU868 g3).
for name, m in (("a", a), ("b", b), ("c", c)):
    got = m.configure(*LONGFAST, region=1, preamble=16)
    ok = (got["region"] == b"\x01" and u32(got["freq"]) == LONGFAST[0] and
          u32(got["bw"]) == LONGFAST[1] and got["sf"] == b"\x0b" and got["cr"] == b"\x05" and
          got["txp"] == b"\x0e" and got["preamble"] == b"\x00\x10" and got["state"] == b"\x01")
    check("config_readback_" + name, ok, got)
check("readback_ask", u32(a.ask(CMD["FREQUENCY"], b"\0\0\0\0")) == LONGFAST[0] and
      a.ask(CMD["SF"], b"\xff") == b"\x0b")

# DATA across: b hears a, with RSSI and SNR first.
payload = bytes(range(200)) + b"\xc0\xdb" * 20
a.send(CMD["DATA"], payload)
done = a.expect(CMD["TX_DONE"], 10)
check("tx_done_a", done is not None and done[0] == 0 and u32(done[1:5]) > 1000, done)
frames = []
end = time.monotonic() + 10
while time.monotonic() < end:
    f = b.recv(max(0.0, end - time.monotonic()))
    if f is None:
        break
    frames.append(f)
    if f[0] == CMD["DATA"]:
        break
cmds = [f[0] for f in frames]
check("data_across", frames and frames[-1] == (CMD["DATA"], payload), cmds)
check("rssi_snr_before_data", cmds[-3:] == [CMD["STAT_RSSI"], CMD["STAT_SNR"], CMD["DATA"]], cmds)
sa, sb = a.stats(), b.stats()
check("counters_tx", sa.get("tx_frames") == 1 and sa.get("tx_bytes") == len(payload), sa)
check("counters_rx", sb.get("rx_frames") == 1 and sb.get("last_rssi", 0) > 0, sb)
check("stat_rx_rnode", u32(b.ask(CMD["STAT_RX"], b"\x00")) == 1)
chtm = a.ask(CMD["STAT_CHTM"], b"\x00")
check("channel_stats", chtm is not None and len(chtm) == 8 and struct.unpack(">4H", chtm)[1] > 0, chtm)

# FLASH through the precedence command.
a.send(CMD["DATA_PREC"], b"\x03" + b"flash message")
got = b.expect(CMD["DATA"], 10)
done = a.expect(CMD["TX_DONE"], 5)
check("flash_across", got == b"flash message" and done is not None and done[0] == 3, (got, done))

# Hidden terminals: a and c cannot hear each other (link a c off), both hear b. Both
# send at once; both listen first, both find the channel free, the frames collide at b.
for m in (a, b, c):
    m.frames.clear()
a.send(CMD["DATA"], b"A" * 250)
c.send(CMD["DATA"], b"C" * 250)
da, dc = a.expect(CMD["TX_DONE"], 10), c.expect(CMD["TX_DONE"], 10)
check("hidden_both_sent", da is not None and dc is not None, (da, dc))
time.sleep(0.5)
sb2 = b.stats()
check("hidden_collision_seen", sb2.get("rx_crc_errors", 0) >= 1 and sb2.get("rx_frames") == sb.get("rx_frames") + 1, sb2)

# Duty cycle: g2 (868.7-869.2 MHz) allows 0.1 %, 3.6 s per hour. Three 200-byte
# frames at SF11/250 take 1.7 s each: the third is refused, with the wait.
for m in (a, b):
    m.ask(CMD["FREQUENCY"], struct.pack(">I", 868950000))
for m in (a, b):
    m.frames.clear()
for i in range(3):
    a.send(CMD["DATA"], bytes([i]) * 200)
err = a.expect(CMD["ERROR"], 15)
check("duty_refusal", err is not None and err[0] == 0xA1 and len(err) == 5 and u32(err[1:5]) > 60000, err)
s = a.stats()
check("duty_counter", s.get("duty_refusals") == 1 and s.get("tx_frames") == 5, s)
duty = a.ask(CMD["DUTY"])
recs = {}
for i in range(0, len(duty or b""), 17):
    bid, bp, used, budget, total, refused = struct.unpack(">BHIIIH", duty[i:i + 17])
    recs[bid] = (bp, used, budget, total, refused)
g2 = recs.get(4)
check("duty_report_g2", g2 is not None and g2[0] == 10 and g2[2] == 3600 and
      3000 < g2[1] <= 3600 and g2[4] == 1, recs)

# Garbage on the serial line: counted, and the modem still answers.
a.raw(bytes([0xC0, 0x05, 0xDB, 0x41, 0xC0]) + os.urandom(300) + bytes([0xC0]))
time.sleep(0.3)
a.frames.clear()
check("survives_garbage", a.ask(CMD["DETECT"], b"\x73") == b"\x46")
s = a.stats()
check("garbage_counted", s.get("kiss_bad_escapes", 0) >= 1, s)

# Partition mid-run: cut a-b in the channel config, SIGHUP the channel; b's next frame
# no longer reaches a.
chan_pid = int(sys.argv[2])
with open(os.path.join(T, "chan.conf"), "a") as f:
    f.write("link a b off\n")
os.kill(chan_pid, signal.SIGHUP)
end = time.monotonic() + 5
while time.monotonic() < end and "reload" not in open(os.path.join(T, "chan.log")).read():
    time.sleep(0.05)
a.frames.clear()
rx_before = a.stats().get("rx_frames")
b.send(CMD["DATA"], b"after the partition")
done = b.expect(CMD["TX_DONE"], 10)
time.sleep(0.3)
check("partition_applied", done is not None and a.expect(CMD["DATA"], 1) is None and
      a.stats().get("rx_frames") == rx_before, done)

for m in (a, b, c):
    m.close()
sys.exit(0 if all(results) else 1)
