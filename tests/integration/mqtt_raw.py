#!/usr/bin/env python3
"""A raw MQTT 3.1.1 publisher for the daemon tests: hostile traffic a library would
refuse to send. Talks only to the broker given (the tests use 127.0.0.1).

  mqtt_raw.py PORT garbage TOPIC N        N random payloads of 1..200 bytes
  mqtt_raw.py PORT oversize TOPIC BYTES   one payload of BYTES bytes
  mqtt_raw.py PORT flood TOPIC N          N small payloads as fast as possible
  mqtt_raw.py PORT emptytopic             a PUBLISH with a zero-length topic
  mqtt_raw.py PORT fake TOPIC N           N payloads shaped like apagon's (version 1,
                                          kind, salt, tag) under a wrong key
  mqtt_raw.py PORT capture TOPIC DIR      subscribe and write each payload received
                                          to DIR/NNN, until killed
  mqtt_raw.py PORT replay TOPIC FILE...   publish each FILE's bytes verbatim, in order
"""
import os
import socket
import struct
import sys


def varlen(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def packet(kind, body):
    return bytes([kind]) + varlen(len(body)) + body


def mqtt_str(s):
    return struct.pack(">H", len(s)) + s


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    cid = b"raw-" + os.urandom(4).hex().encode()
    body = mqtt_str(b"MQTT") + bytes([4, 0x02]) + struct.pack(">H", 30) + mqtt_str(cid)
    s.sendall(packet(0x10, body))
    ack = s.recv(4)
    if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
        sys.exit("connack refused")
    return s


def publish(s, topic, payload):
    s.sendall(packet(0x30, mqtt_str(topic) + payload))


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b


def capture(s, topic, outdir):
    """Someone on the broker without the network key, recording what passes."""
    s.settimeout(None)
    s.sendall(packet(0x82, struct.pack(">H", 1) + mqtt_str(topic) + b"\x00"))
    i = 0
    while True:
        head = recv_exact(s, 1)[0]
        n, mult = 0, 1
        while True:
            b = recv_exact(s, 1)[0]
            n += (b & 127) * mult
            mult *= 128
            if not b & 128:
                break
        body = recv_exact(s, n)
        if head >> 4 == 3:
            tlen = struct.unpack(">H", body[:2])[0]
            path = os.path.join(outdir, "%03d" % i)
            with open(path + ".tmp", "wb") as f:
                f.write(body[2 + tlen:])
            os.rename(path + ".tmp", path)
            i += 1


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    s = connect(port)
    if mode == "capture":
        capture(s, sys.argv[3].encode(), sys.argv[4])
        return
    if mode == "replay":
        for path in sys.argv[4:]:
            with open(path, "rb") as f:
                publish(s, sys.argv[3].encode(), f.read())
        s.sendall(packet(0xE0, b""))
        s.close()
        return
    if mode == "emptytopic":
        publish(s, b"", b"x")
    else:
        topic = sys.argv[3].encode()
        n = int(sys.argv[4])
        if mode == "garbage":
            for _ in range(n):
                publish(s, topic, os.urandom(1 + os.urandom(1)[0] % 200))
        elif mode == "oversize":
            publish(s, topic, b"\x01\x01" + os.urandom(n - 2))
        elif mode == "flood":
            data = b"".join(packet(0x30, mqtt_str(topic) + b"\x01\x02flood" + os.urandom(40))
                            for _ in range(n))
            s.sendall(data)
        elif mode == "fake":
            for _ in range(n):
                publish(s, topic, b"\x01\x01" + os.urandom(16 + 17 + 16))
    try:
        s.sendall(packet(0xE0, b""))
    except OSError:
        pass                    # the broker may have dropped us (empty topic)
    s.close()


main()
