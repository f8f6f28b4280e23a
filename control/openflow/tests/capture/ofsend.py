#!/usr/bin/env python3
"""Send raw OpenFlow messages to a switch and print what comes back
(test-vector capture tool, for malformed input that no OVS tool sends).

Usage: ofsend.py SOCKET HELLO_HEX MSG_HEX [MSG_HEX...]

Connects to SOCKET (e.g. DIR/br0.mgmt), sends HELLO_HEX, then each MSG_HEX
followed by nothing else, waits a moment and prints every whole message
received as `s2c <hex>`, each sent one as `c2s <hex>`.
"""
import socket
import sys
import time


def read_all(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    msgs = []
    while len(data) >= 8:
        length = int.from_bytes(data[2:4], "big")
        if length < 8 or len(data) < length:
            break
        msgs.append(data[:length])
        data = data[length:]
    return msgs


def main():
    path = sys.argv[1]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    for hx in sys.argv[2:]:
        msg = bytes.fromhex(hx)
        print("c2s", msg.hex())
        sock.sendall(msg)
        for m in read_all(sock, 0.5):
            print("s2c", m.hex())
    sock.close()


if __name__ == "__main__":
    main()
