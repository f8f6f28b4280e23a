#!/usr/bin/env python3
"""Recording proxy for OpenFlow on unix sockets (test-vector capture tool).

Usage: ofrecord.py LISTEN_SOCKET UPSTREAM_SOCKET LOGFILE

Accepts connections on LISTEN_SOCKET (e.g. PROXYDIR/br0.mgmt, so that
`OVS_RUNDIR=PROXYDIR ovs-ofctl ... br0` talks to it), forwards each one to
UPSTREAM_SOCKET (the real switch's DIR/br0.mgmt) and appends every whole
OpenFlow message to LOGFILE, one per line:

    <conn> <c2s|s2c> <hex>

Messages are split on the 8-byte ofp_header's length.  Not part of the build;
see README.md next to it.
"""
import os
import socket
import sys
import threading

lock = threading.Lock()


def pump(conn_id, direction, src, dst, log):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            buf += data
            while len(buf) >= 8:
                length = int.from_bytes(buf[2:4], "big")
                if length < 8 or len(buf) < length:
                    break
                msg, buf = buf[:length], buf[length:]
                with lock:
                    log.write("%d %s %s\n" % (conn_id, direction, msg.hex()))
                    log.flush()
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen_path, upstream_path, log_path = sys.argv[1:4]
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen_path)
    server.listen(16)
    log = open(log_path, "a")
    conn_id = 0
    while True:
        client, _ = server.accept()
        conn_id += 1
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(upstream_path)
        for args in ((conn_id, "c2s", client, upstream, log),
                     (conn_id, "s2c", upstream, client, log)):
            threading.Thread(target=pump, args=args, daemon=True).start()


if __name__ == "__main__":
    main()
