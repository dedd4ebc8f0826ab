#!/usr/bin/env python3
"""Drive the modem image booted under qemu over its UART (a unix socket).

Used by tests/integration/firmware_qemu.sh. It speaks KISS/RNode as written in
docs/modem.md, with its own few lines of framing code: an independent second
implementation, so a bug in firmware/proto/ cannot agree with itself here.
Prints one "ok NAME" or "FAIL NAME: why" line per check; exit 0 if none failed.

    firmware_qemu_client.py SOCKET FW_MAJOR FW_MINOR PLATFORM MCU ECHO_RSSI ECHO_SNR4

PLATFORM and MCU are the bytes the board reports, ECHO_RSSI (dBm) and ECHO_SNR4
(SNR x 4) how the board's reflector makes the echoed frame heard.
"""
import os
import re
import socket
import sys
import time

FEND, FESC, TFEND, TFESC = 0xC0, 0xDB, 0xDC, 0xDD
CMD_DATA, CMD_FREQUENCY, CMD_BANDWIDTH, CMD_TXPOWER = 0x00, 0x01, 0x02, 0x03
CMD_SF, CMD_CR, CMD_RADIO_STATE, CMD_DETECT = 0x04, 0x05, 0x06, 0x08
CMD_STAT_RSSI, CMD_STAT_SNR = 0x23, 0x24
CMD_PLATFORM, CMD_MCU, CMD_FW_VERSION, CMD_ERROR = 0x48, 0x49, 0x50, 0x90
DETECT_REQ, DETECT_RESP = 0x73, 0x46
APG_CMD_REGION, APG_CMD_DATA_PREC, APG_CMD_STATS, APG_CMD_TX_DONE = 0xA0, 0xA1, 0xA2, 0xA5
APG_ERROR_NO_REGION, APG_ERROR_BAD_COMMAND = 0xA2, 0xA3
STAT = {"rx_frames": 1, "tx_frames": 3, "no_region_refusals": 8,
        "kiss_overflows": 12, "kiss_bad_escapes": 13}

failed = 0


def report(name, good, why=""):
    global failed
    name = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if good:
        print("ok " + name, flush=True)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)


def kiss(cmd, arg=b""):
    out = bytearray([FEND])
    for b in bytes([cmd]) + bytes(arg):
        if b == FEND:
            out += bytes([FESC, TFEND])
        elif b == FESC:
            out += bytes([FESC, TFESC])
        else:
            out.append(b)
    out.append(FEND)
    return bytes(out)


class Modem:
    def __init__(self, path, deadline):
        self.sock = None
        while self.sock is None:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                self.sock = s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.raw = bytearray()
        self.frames = []

    def send(self, data):
        self.sock.sendall(data)

    def _pump(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(4096)
        except socket.timeout:
            return
        if not chunk:
            raise EOFError("the modem closed its UART")
        self.raw += chunk
        while True:
            try:
                start = self.raw.index(FEND)
            except ValueError:
                self.raw.clear()
                return
            try:
                end = self.raw.index(FEND, start + 1)
            except ValueError:
                del self.raw[:start]
                return
            body, i = bytearray(), start + 1
            while i < end:
                b = self.raw[i]
                if b == FESC and i + 1 < end:
                    i += 1
                    body.append(FEND if self.raw[i] == TFEND else FESC)
                else:
                    body.append(b)
                i += 1
            del self.raw[:end]     # keep the closing FEND: it may open the next frame
            if body:
                self.frames.append((body[0], bytes(body[1:])))

    def expect(self, cmd, timeout=10.0):
        """The next frame with command `cmd` (earlier other frames are kept)."""
        end = time.monotonic() + timeout
        while True:
            for i, (c, arg) in enumerate(self.frames):
                if c == cmd:
                    del self.frames[i]
                    return arg
            left = end - time.monotonic()
            if left <= 0:
                return None
            self._pump(min(left, 0.5))

    def ask(self, cmd, arg, reply=None, timeout=10.0):
        self.send(kiss(cmd, arg))
        return self.expect(cmd if reply is None else reply, timeout)

    def stats(self):
        arg = self.ask(APG_CMD_STATS, b"")
        if arg is None or len(arg) % 5:
            return None
        return {arg[i]: int.from_bytes(arg[i + 1:i + 5], "big") for i in range(0, len(arg), 5)}


def main():
    path, fw_major, fw_minor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    platform, mcu = int(sys.argv[4], 0), int(sys.argv[5], 0)
    echo_rssi, echo_snr4 = int(sys.argv[6]), int(sys.argv[7])
    try:
        m = Modem(path, time.monotonic() + 20)
    except OSError as e:
        report("uart connects", False, "no UART socket from qemu: %s" % e)
        return 1
    report("uart connects", True)

    r = m.ask(CMD_DETECT, bytes([DETECT_REQ]))
    report("detect", r == bytes([DETECT_RESP]), "DETECT reply %r" % r)
    r = m.ask(CMD_FW_VERSION, b"")
    report("fw version", r == bytes([fw_major, fw_minor]),
           "FW_VERSION %r, firmware/modem.h says %d.%d" % (r, fw_major, fw_minor))
    r1, r2 = m.ask(CMD_PLATFORM, b""), m.ask(CMD_MCU, b"")
    report("platform and mcu", r1 == bytes([platform]) and
           r2 == bytes([mcu]), "PLATFORM %r MCU %r" % (r1, r2))

    # Configuration: every set is echoed, and a later ask reads the same value back.
    u32 = lambda v: v.to_bytes(4, "big")
    settings = [("frequency", CMD_FREQUENCY, u32(869525000), u32(0)),
                ("bandwidth", CMD_BANDWIDTH, u32(250000), u32(0)),
                ("sf", CMD_SF, bytes([10]), b"\xff"),
                ("cr", CMD_CR, bytes([6]), b"\xff"),
                ("txpower", CMD_TXPOWER, bytes([10]), b"\xff")]
    for name, cmd, value, ask in settings:
        r = m.ask(cmd, value)
        report("set " + name, r == value, "sent %s, echoed %r" % (value.hex(), r))
    for name, cmd, value, ask in settings:
        r = m.ask(cmd, ask)
        report("read back " + name, r == value, "set %s, read %r" % (value.hex(), r))
    r = m.ask(CMD_SF, bytes([13]), reply=CMD_ERROR)
    sf = m.expect(CMD_SF)
    report("out-of-range sf refused and sf unchanged",
           r == bytes([APG_ERROR_BAD_COMMAND, CMD_SF]) and sf == bytes([10]),
           "error %r, sf now %r" % (r, sf))

    # The law holds in the emulated image too: no region, no transmission.
    r = m.ask(CMD_DATA, b"before any region", reply=CMD_ERROR)
    report("data before a region is refused", r == bytes([APG_ERROR_NO_REGION]),
           "ERROR %r" % r)
    r = m.ask(APG_CMD_REGION, b"\x01")
    report("region eu868", r == b"\x01", "REGION %r" % r)
    r = m.ask(CMD_RADIO_STATE, b"\x01")
    report("radio on", r == b"\x01", "RADIO_STATE %r" % r)

    # DATA out through the radio and back in through the loopback: every byte value,
    # FEND and FESC included, so escaping is crossed both ways.
    payload = bytes(range(256))[:200]
    m.send(kiss(CMD_DATA, payload))
    done = m.expect(APG_CMD_TX_DONE, 30)
    report("data transmitted (TX_DONE, routine)",
           done is not None and len(done) == 5 and done[0] == 0 and
           int.from_bytes(done[1:], "big") > 0, "TX_DONE %r" % done)
    got = m.expect(CMD_DATA, 30)
    rssi, snr = m.expect(CMD_STAT_RSSI, 1), m.expect(CMD_STAT_SNR, 1)
    report("data received back from the reflector", got == payload,
           "sent %d bytes, received %r" % (len(payload), got))
    want_rssi, want_snr = bytes([echo_rssi + 157]), bytes([echo_snr4 & 0xFF])
    report("rssi and snr of the received frame", rssi == want_rssi and snr == want_snr,
           "STAT_RSSI %r STAT_SNR %r, want %r %r" % (rssi, snr, want_rssi, want_snr))

    flash = os.urandom(140)
    m.send(kiss(APG_CMD_DATA_PREC, b"\x03" + flash))
    done = m.expect(APG_CMD_TX_DONE, 30)
    got = m.expect(CMD_DATA, 30)
    report("flash data transmitted and received",
           done is not None and done[:1] == b"\x03" and got == flash,
           "TX_DONE %r, received %r" % (done, got))

    # Broken serial input: a bad escape and an oversized frame are dropped and
    # counted, and the modem keeps answering.
    m.send(bytes([FEND, CMD_DATA, FESC, 0x01, FEND]) + bytes([FEND]) + b"\x00" + b"A" * 400 + bytes([FEND]))
    r = m.ask(CMD_DETECT, bytes([DETECT_REQ]))
    report("still answering after garbage", r == bytes([DETECT_RESP]), "DETECT %r" % r)

    st = m.stats()
    want = {"tx_frames": 2, "rx_frames": 2, "no_region_refusals": 1,
            "kiss_bad_escapes": 1, "kiss_overflows": 1}
    report("counters", st is not None and all(st.get(STAT[k]) == v for k, v in want.items()),
           "STATS %r, want %r" % (st and {k: st.get(STAT[k]) for k in want}, want))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (EOFError, OSError) as e:
        report("uart session", False, str(e))
        sys.exit(1)
