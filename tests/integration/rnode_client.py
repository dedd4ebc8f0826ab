"""A small KISS/RNode client for the modem's serial protocol (docs/modem.md), used by
the integration tests to drive apagon-modem-sim over its pseudo-terminal. Standard
library only."""
import os
import select
import struct
import termios
import time
import tty

FEND, FESC, TFEND, TFESC = 0xC0, 0xDB, 0xDC, 0xDD

CMD = dict(DATA=0x00, FREQUENCY=0x01, BANDWIDTH=0x02, TXPOWER=0x03, SF=0x04, CR=0x05,
           RADIO_STATE=0x06, DETECT=0x08, LEAVE=0x0A, READY=0x0F, STAT_RX=0x21,
           STAT_TX=0x22, STAT_RSSI=0x23, STAT_SNR=0x24, STAT_CHTM=0x25, PLATFORM=0x48,
           MCU=0x49, FW_VERSION=0x50, ERROR=0x90, REGION=0xA0, DATA_PREC=0xA1,
           STATS=0xA2, DUTY=0xA3, PREAMBLE=0xA4, TX_DONE=0xA5)
STAT_IDS = ["", "rx_frames", "rx_crc_errors", "tx_frames", "tx_bytes", "tx_airtime_ms",
            "rx_airtime_ms", "duty_refusals", "no_region_refusals", "lbt_busy",
            "queue_full", "tx_failed", "kiss_overflows", "kiss_bad_escapes",
            "bad_commands", "uart_drops", "last_rssi", "last_snr", "noise_floor",
            "queue_len", "channel_load", "radio_errors"]


def encode(cmd, arg=b""):
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
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        termios.tcflush(self.fd, termios.TCIOFLUSH)
        self.buf = bytearray()
        self.frames = []
        self.in_frame = False
        self.esc = False

    def close(self):
        os.close(self.fd)

    def send(self, cmd, arg=b""):
        os.write(self.fd, encode(cmd, arg))

    def raw(self, data):
        os.write(self.fd, data)

    def _feed(self, data):
        for b in data:
            if b == FEND:
                if self.in_frame and self.buf:
                    self.frames.append((self.buf[0], bytes(self.buf[1:])))
                self.buf = bytearray()
                self.in_frame = True
                self.esc = False
            elif not self.in_frame:
                continue
            elif self.esc:
                self.esc = False
                self.buf.append(FEND if b == TFEND else FESC if b == TFESC else b)
            elif b == FESC:
                self.esc = True
            else:
                self.buf.append(b)

    def recv(self, timeout=2.0):
        """Next frame (cmd, arg), or None after timeout seconds."""
        end = time.monotonic() + timeout
        while not self.frames:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                self._feed(os.read(self.fd, 4096))
        return self.frames.pop(0)

    def expect(self, cmd, timeout=2.0):
        """Skip frames until one with command `cmd`; its argument, or None."""
        end = time.monotonic() + timeout
        while True:
            f = self.recv(max(0.0, end - time.monotonic()))
            if f is None:
                return None
            if f[0] == cmd:
                return f[1]

    def ask(self, cmd, arg=b"", timeout=2.0):
        self.send(cmd, arg)
        return self.expect(cmd, timeout)

    def stats(self):
        a = self.ask(CMD["STATS"])
        out = {}
        for i in range(0, len(a or b"") - 4, 5):
            k = a[i]
            out[STAT_IDS[k] if k < len(STAT_IDS) else k] = struct.unpack(">I", a[i + 1:i + 5])[0]
        return out

    def configure(self, freq, bw, sf, cr, txp, region=1, preamble=None):
        """Region, channel and modulation, then radio on; read-backs as a dict."""
        got = {}
        got["region"] = self.ask(CMD["REGION"], bytes([region]))
        got["freq"] = self.ask(CMD["FREQUENCY"], struct.pack(">I", freq))
        got["bw"] = self.ask(CMD["BANDWIDTH"], struct.pack(">I", bw))
        got["sf"] = self.ask(CMD["SF"], bytes([sf]))
        got["cr"] = self.ask(CMD["CR"], bytes([cr]))
        got["txp"] = self.ask(CMD["TXPOWER"], bytes([txp & 0xFF]))
        if preamble:
            got["preamble"] = self.ask(CMD["PREAMBLE"], struct.pack(">H", preamble))
        got["state"] = self.ask(CMD["RADIO_STATE"], bytes([1]))
        return got
