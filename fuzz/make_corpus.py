#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

The seeds are real inputs: frames of every kind the parsers take (built here from the
RFC layouts, checksums included, as the crates' own test vectors are), the messages
ovs-ofctl 3.1 sent to ovs-vswitchd (control/openflow/tests/vectors/), the flows of the
OVS vectors (control/pipeline/tests/ovs_vectors/), control socket requests as xvsctl
writes them, and an OVSDB conversation as ovsdb-server has it. Run again after changing
it; the fuzzers add what they find to the corpus directories they run on, which
scripts/fuzz.sh keeps out of the repository (it runs on a copy).
"""

import hashlib
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)


def write(target, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(s):
    return bytes(int(x) for x in s.split("."))


VM1, VM2 = mac("fa:16:3e:00:00:01"), mac("fa:16:3e:00:00:02")
BCAST = b"\xff" * 6


def eth(dst, src, ethertype, payload, vlan=None, tpid=0x8100):
    h = dst + src
    if vlan is not None:
        h += struct.pack("!HH", tpid, vlan)
    return h + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, payload, ttl=64, flags=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 7, flags, ttl, proto, 0,
                    ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def udp(src, dst, sport, dport, payload, with_csum=True):
    length = 8 + len(payload)
    u = struct.pack("!HHHH", sport, dport, length, 0) + payload
    if with_csum:
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 17, length)
        c = csum(pseudo + u) or 0xFFFF
        u = u[:6] + struct.pack("!H", c) + u[8:]
    return ipv4(src, dst, 17, u)


def tcp(src, dst, sport, dport):
    t = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(t))
    t = t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]
    return ipv4(src, dst, 6, t)


def icmp(src, dst):
    m = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"abcdefgh"
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return ipv4(src, dst, 1, m)


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + ip4(spa) + tha + ip4(tpa)


def ipv6(src, dst, nh, payload, hop=255):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, hop) + src + dst + payload


LL1 = bytes.fromhex("fe80000000000000f8163efffe000001")
LL2 = bytes.fromhex("fe80000000000000f8163efffe000005")
SOL = bytes.fromhex("ff0200000000000000000001ff000005")


def icmp6(src, dst, body):
    pseudo = src + dst + struct.pack("!IxxxB", len(body), 58)
    c = csum(pseudo + body)
    return ipv6(src, dst, 58, body[:2] + struct.pack("!H", c) + body[4:])


def nd(ty, target, opt_type, opt_mac):
    body = struct.pack("!BBHI", ty, 0, 0, 0x60000000 if ty == 136 else 0) + target
    body += struct.pack("!BB", opt_type, 1) + opt_mac
    return body


def gre(inner, key=None, csum_on=False, src="192.168.1.253", dst="192.168.1.254"):
    flags = (0x8000 if csum_on else 0) | (0x2000 if key is not None else 0)
    g = struct.pack("!HH", flags, 0x6558)
    if csum_on:
        g += b"\0\0\0\0"
    if key is not None:
        g += struct.pack("!I", key)
    if csum_on:
        c = csum(g + inner)
        g = g[:4] + struct.pack("!H", c) + g[6:]
    return eth(mac("52:54:00:00:01:fe"), mac("52:54:00:00:01:01"), 0x0800,
               ipv4(src, dst, 47, g + inner))


def vxlan(inner, vni, src="192.168.1.252", dst="192.168.1.254", with_csum=False):
    v = struct.pack("!II", 0x08000000, vni << 8) + inner
    return eth(mac("52:54:00:00:01:fe"), mac("52:54:00:00:01:01"), 0x0800,
               udp(src, dst, 50000, 4789, v, with_csum))


def frames():
    a = "10.0.0.1"
    b = "10.0.0.5"
    inner = eth(VM2, VM1, 0x0800, icmp(a, b))
    inner_tagged = eth(VM2, VM1, 0x0800, udp(a, b, 5353, 53, b"query"), vlan=0x2001)
    out = [
        eth(VM2, VM1, 0x0800, icmp(a, b)),
        eth(VM2, VM1, 0x0800, udp(a, b, 5353, 53, b"hello")),
        eth(VM2, VM1, 0x0800, tcp(a, b, 40000, 80)),
        eth(VM2, VM1, 0x0800, tcp(a, "10.9.1.1", 40000, 443)),
        eth(VM2, VM1, 0x0800, udp(a, b, 68, 67, b"dhcp"), vlan=0x0001),
        eth(VM2, VM1, 0x0800, tcp(a, b, 1, 2), vlan=0xA064, tpid=0x88A8),
        eth(BCAST, VM1, 0x0806, arp(1, VM1, b, b"\0" * 6, a)),
        eth(BCAST, VM1, 0x0806, arp(1, VM1, "10.0.0.5", b"\0" * 6, "10.0.0.1"), vlan=1),
        eth(VM1, VM2, 0x0806, arp(2, VM2, a, VM1, b)),
        eth(VM2, VM1, 0x8100, struct.pack("!HH", 7, 0x0800) + icmp(a, b), vlan=5, tpid=0x88A8),
        eth(VM2, VM1, 0x86DD, icmp6(LL2, SOL, nd(135, LL2, 1, VM1))),
        eth(VM2, VM1, 0x86DD, icmp6(LL2, LL1, nd(136, LL2, 2, VM1))),
        eth(VM2, VM1, 0x86DD, ipv6(LL1, LL2, 0, struct.pack("!BB6x", 44, 0)
                                   + struct.pack("!BBHI", 6, 0, 1, 9) + b"\0" * 20)),
        eth(VM2, VM1, 0x86DD, ipv6(LL1, LL2, 17, struct.pack("!HHHH", 1, 2, 8, 0)), vlan=7),
        eth(mac("01:80:c2:00:00:00"), VM1, 0x0026, b"\x42\x42\x03" + b"\0" * 35),
        eth(VM2, VM1, 0x0800, ipv4(a, b, 17, b"\0" * 8, flags=0x2000)),
        gre(inner, key=0x3E7),
        gre(inner_tagged, key=0x3E7, csum_on=True),
        gre(eth(BCAST, VM2, 0x0806, arp(1, VM2, b, b"\0" * 6, "10.0.0.1")), key=0x3E7),
        gre(inner),
        vxlan(inner, 0x3E7),
        vxlan(inner_tagged, 0x3E7, with_csum=True),
        vxlan(eth(BCAST, VM2, 0x0806, arp(1, VM2, b, b"\0" * 6, "10.0.0.1")), 0x3E7),
    ]
    return out


def frame_targets():
    fs = frames()
    for f in fs:
        write("extract", f)
        write("tunnel", f)
        # execute: a headroom choice, "one more action" bytes and action bytes the
        # fuzzer then reshapes, then the frame.
        for prefix in (b"\x04\x01\x0b\x0a\x00\x00\x01\x00", b"\x03\x01\x1e\x01\x02\x03\x04" + b"\x05" * 40 + b"\x00",
                       b"\x02\x01\x01\x01\x00\x81\x10\x01\x02\x00"):
            write("execute", prefix + f)
    # xlate: sequences of (port, length, frame): port 0 tap-vm, 1 tap-other, 2 the
    # trunk, 3 the underlay.
    def seq(*pkts):
        out = b""
        for port, f in pkts:
            f = f[:255]
            out += bytes([port, len(f)]) + f
        return out
    vm = eth(BCAST, VM1, 0x0806, arp(1, VM1, "10.0.0.5", b"\0" * 6, "10.0.0.1"))
    reply_from_remote = gre(eth(VM1, VM2, 0x0800, icmp("10.0.0.1", "10.0.0.5"), vlan=None), key=0x3E7)
    write("xlate", seq((0, vm), (3, reply_from_remote), (0, fs[0])))
    write("xlate", seq((3, fs[20]), (0, eth(VM2, VM1, 0x0800, icmp("10.0.0.5", "10.0.0.1")))))
    write("xlate", seq((2, fs[4]), (2, fs[7]), (1, fs[1]), (0, fs[3])))
    write("xlate", seq((0, fs[10]), (0, fs[11]), (3, fs[17]), (3, fs[21])))
    write("xlate", seq((0, fs[14]), (2, fs[9]), (2, fs[5])))


def openflow():
    version_sel = {0x01: 0, 0x04: 1, 0x05: 2}
    n = 0
    for name in ("ovs-ofctl-requests.txt", "ovs-model-flows.txt"):
        text = open(os.path.join(REPO, "control/openflow/tests/vectors", name)).read()
        conns = []
        cur = []
        for line in text.splitlines():
            if line.startswith("conn ") or line.startswith("# "):
                if cur:
                    conns.append(cur)
                cur = []
                continue
            m = re.match(r"^(?:c2s|flow_mod|add):? ([0-9a-f]+)$", line)
            if m:
                cur.append(bytes.fromhex(m.group(1)))
        if cur:
            conns.append(cur)
        for msgs in conns:
            # Messages the tests of one connection: HELLO etc. and the requests.
            body = b"".join(msgs)
            if len(body) < 16 or len(body) > 1500:
                continue
            sel = version_sel.get(msgs[-1][0], 0)
            # flow_mod_table_id on for 1.0 connections that asked for it.
            if any(len(m) >= 16 and m[1] == 4 and m[8:16] == bytes.fromhex("000023200000000f") for m in msgs):
                sel |= 4
            write("openflow", bytes([sel]) + body)
            # The session: a service connection (even) read 7 bytes at a time, or a
            # controller's (odd) read in larger pieces.
            write("openflow_session", bytes([n % 2 + 2 * (n % 5)]) + body)
            n += 1
            if n >= 120:
                return


def flow_syntax():
    seen = 0
    base = os.path.join(REPO, "control/pipeline/tests/ovs_vectors")
    lines = []
    for line in open(os.path.join(base, "dump_flows.txt")).read().splitlines():
        if line.startswith("flow: "):
            lines.append(line[6:])
    for name in ("flows_of13.txt", "flows_of10.txt", "flows_err.txt"):
        for line in open(os.path.join(base, name)).read().splitlines():
            if line and not line.startswith("#"):
                lines.append(line)
    lines += [
        "cookie=0x5/-1,table=3,out_port=gre-1,in_port=\"patch-int\",tcp,nw_src=10.0.0.0/8",
        "actions=learn(NXM_OF_ETH_TYPE[]=0x0806,arp_tpa=10.0.0.1,load:NXM_OF_IN_PORT[]->NXM_NX_TUN_ID[0..15]),resubmit(vxlan-1,4)",
        " cookie=0x0, duration=4.200s, table=0, n_packets=3, n_bytes=250, idle_age=1, priority=0 actions=NORMAL",
    ]
    for l in lines:
        write("flow_syntax", l)
        seen += 1


def control_protocol():
    reqs = [
        {"command": "add-br", "bridge": "br-new"},
        {"command": "del-br", "bridge": "br-tun"},
        {"command": "add-port", "bridge": "br-int", "port": "tap2", "options": {"tag": "5"}},
        {"command": "add-port", "bridge": "br-tun", "port": "gre-2",
         "options": {"type": "gre", "remote_ip": "192.0.2.3", "local_ip": "192.0.2.1", "key": "flow", "csum": "true"}},
        {"command": "add-port", "bridge": "br-int", "port": "trunk",
         "options": {"trunks": "1,2,7", "vlan_mode": "native-untagged", "ofport": "9"}},
        {"command": "del-port", "bridge": "br-int", "port": "tap1"},
        {"command": "show"},
        {"command": "add-flow", "bridge": "br-tun", "flow": "priority=5,in_port=gre-1,tun_id=0x3e7 actions=mod_vlan_vid:1,output:patch-int"},
        {"command": "add-flows", "bridge": "br-tun", "flows": ["table=1,priority=1 actions=drop", "# comment", ""]},
        {"command": "mod-flows", "bridge": "br-tun", "flow": "in_port=1 actions=output:3", "strict": True},
        {"command": "del-flows", "bridge": "br-tun", "match": "tun_id=0x3e7"},
        {"command": "del-flows", "bridge": "br-tun"},
        {"command": "replace-flows", "bridge": "br-tun", "flows": ["priority=0 actions=NORMAL"]},
        {"command": "dump-flows", "bridge": "br-tun", "names": True, "match": "table=0"},
        {"command": "dump-ports", "bridge": "br-tun"},
        {"command": "fdb-show", "bridge": "br-tun"},
        {"command": "dp-show"},
        {"command": "trace", "bridge": "br-tun", "packet": "in_port=1,dl_vlan=1,dl_dst=fa:16:3e:00:00:02"},
    ]
    for i, r in enumerate(reqs):
        r = dict(r)
        r["version"] = 1
        if i % 2:
            r["id"] = i
        write("control_protocol", json.dumps(r) + "\n")
    write("control_protocol", '{"version":2,"command":"show"}')
    write("control_protocol", '{"version":1,"command":"frobnicate","id":"x"}')


def ovsdb():
    snapshot = {
        "Open_vSwitch": {"o1": {"new": {
            "bridges": ["set", [["uuid", "b1"], ["uuid", "b2"]]], "next_cfg": 4, "cur_cfg": 3,
            "other_config": ["map", [["flow-restore-wait", "true"]]],
            "datapath_types": ["set", ["netdev", "system"]], "iface_types": ["set", []]}}},
        "Bridge": {
            "b1": {"new": {"name": "br-int", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]],
                           "fail_mode": "secure", "protocols": ["set", ["OpenFlow10", "OpenFlow13"]],
                           "controller": ["uuid", "c1"],
                           "other_config": ["map", [["hwaddr", "fa:16:3e:00:00:aa"], ["mac-table-size", "5000"],
                                                    ["datapath-id", "0000000000000001"]]]}},
            "b2": {"new": {"name": "br-tun", "ports": ["uuid", "p3"], "fail_mode": ["set", []],
                           "controller": ["set", []], "other_config": ["map", []]}},
        },
        "Port": {
            "p1": {"new": {"name": "br-int", "interfaces": ["uuid", "i1"], "tag": ["set", []],
                           "trunks": ["set", []], "vlan_mode": ["set", []]}},
            "p2": {"new": {"name": "tap1", "interfaces": ["uuid", "i2"], "tag": 1,
                           "trunks": ["set", [1, 2]], "vlan_mode": "native-tagged",
                           "other_config": ["map", [["priority-tags", "if-nonzero"]]]}},
            "p3": {"new": {"name": "gre-1", "interfaces": ["uuid", "i3"]}},
        },
        "Interface": {
            "i1": {"new": {"name": "br-int", "type": "internal", "ofport": 65534}},
            "i2": {"new": {"name": "tap1", "type": "", "ofport_request": 5, "ofport": -1,
                           "error": "could not open network device tap1 (No such device)"}},
            "i3": {"new": {"name": "gre-1", "type": "gre", "options": ["map", [
                ["remote_ip", "192.168.1.253"], ["local_ip", "192.168.1.254"], ["key", "flow"], ["tos", "inherit"]]]}},
        },
        "Controller": {"c1": {"new": {"target": "tcp:127.0.0.1:6633", "inactivity_probe": 5000,
                                      "max_backoff": 8000, "is_connected": False}}},
    }
    msgs = [
        {"id": 1, "result": {"locked": True}, "error": None},
        {"id": 2, "result": snapshot, "error": None},
        {"method": "echo", "params": [], "id": "echo"},
        {"method": "update", "params": ["xvsd", {"Interface": {"i2": {"old": {"ofport": -1}, "new": {"ofport": 5, "error": ["set", []]}}}}], "id": None},
        {"method": "update", "params": ["xvsd", {"Port": {"p3": {"old": {"name": "gre-1"}}}}], "id": None},
        {"method": "update", "params": ["xvsd", {"Interface": {"i4": {"new": {"name": "vx", "type": "vxlan", "options": ["map", [["remote_ip", "flow"], ["dst_port", "4790"]]]}}}}], "id": None},
        {"id": 3, "result": [{}, {"count": 1}, {"rows": [{"next_cfg": 4}]}], "error": None},
        {"method": "stolen", "params": ["ovs_vswitchd"], "id": None},
        {"method": "locked", "params": ["ovs_vswitchd"], "id": None},
        {"id": "echo", "result": [], "error": None},
    ]
    stream = "".join(json.dumps(m) for m in msgs)
    for sel in (0, 7, 64):
        write("ovsdb", bytes([sel]) + stream.encode())
    write("ovsdb", b"\x01" + json.dumps(msgs[1]).encode() + b"\n" + json.dumps(msgs[3]).encode())
    write("ovsdb", b"\x03" + json.dumps({"id": 2, "result": None, "error": "unknown database"}).encode())
    write("ovsdb", b"\x00" + json.dumps({"id": 2, "result": {"Bridge": {"b": {"new": 3}}}, "error": None}).encode())


if __name__ == "__main__":
    frame_targets()
    openflow()
    flow_syntax()
    control_protocol()
    ovsdb()
    for t in sorted(os.listdir(os.path.join(ROOT, "corpus"))):
        print(t, len(os.listdir(os.path.join(ROOT, "corpus", t))))
