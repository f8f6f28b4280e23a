#!/usr/bin/env python3
"""Records ../vectors/ovs-model-flows.txt: the flow model's byte-for-byte vectors
(test-vector capture tool; nothing here is built or run by `cargo test`).

Usage: capture_model.py PIPELINE_VECTORS_DIR OUTPUT_FILE

Starts a PRIVATE ovsdb-server + `ovs-vswitchd --enable-dummy` in a temporary
directory (bridge br0, datapath_type=dummy, protocols OpenFlow10 and OpenFlow13,
ports 1 patch-int, 2 gre-1, 3 vxlan-1, 5 tap5, 6 int-br-eth1 as in the pipeline's
tests/ovs_vectors/gen.sh), with ofrecord.py in front of br0.mgmt, and then:

1. for every flow of PIPELINE_VECTORS_DIR/flows_of13.txt (`ovs-ofctl -O OpenFlow13
   add-flow`) and flows_of10.txt (plain `ovs-ofctl add-flow`, OpenFlow 1.0 + NXM):
   del-flows, add-flow through the proxy, then `ovs-ofctl dump-flows` (NXST_FLOW)
   and `ovs-ofctl -O OpenFlow13 dump-flows` (OFPMP_FLOW) through the proxy; keeps
   the FLOW_MOD ovs-ofctl sent (and whether NXT_FLOW_MOD_TABLE_ID was enabled
   before it) and the one flow entry of each reply;
2. for every refused flow of flows_err.txt that can be put on the wire, sends a
   hand-built OpenFlow 1.3 FLOW_MOD (the closest wire form) and keeps OVS's
   answer (its OFPT_ERROR, or "ok");
3. sends os-ken-style OpenFlow 1.3 FLOW_MODs for Neutron's flows (the encodings
   of AGENT-NEEDS.md section 2.7: OXM matches, NXAST_LEARN with NXM and OXM
   specs, NXAST_REG_MOVE with OXM headers) and keeps OVS's answer and its
   `ovs-ofctl -O OpenFlow13 dump-flows` (text and OFPMP_FLOW entry).

Everything runs as the current user in the temporary directory, which is removed
at the end; the daemons are stopped by their pid files.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(*args, env=None, check=True):
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr))
    return r


class Ovs:
    def __init__(self):
        self.d = tempfile.mkdtemp(prefix="xvs-ofmap.")
        self.proxy = os.path.join(self.d, "proxy")
        os.mkdir(self.proxy)
        self.log = os.path.join(self.d, "record.log")
        d = self.d
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d)
        self.penv = dict(self.env, OVS_RUNDIR=self.proxy)
        sh("ovsdb-tool", "create", d + "/conf.db",
           "/usr/share/openvswitch/vswitch.ovsschema")
        sh("ovsdb-server", "--remote=punix:%s/db.sock" % d,
           "--pidfile=%s/ovsdb.pid" % d, "--unixctl=%s/ovsdb.ctl" % d,
           "--detach", "--log-file=%s/ovsdb.log" % d, d + "/conf.db", env=self.env)
        self.vsctl("--no-wait", "init")
        sh("ovs-vswitchd", "--enable-dummy", "unix:%s/db.sock" % d,
           "--pidfile=%s/vs.pid" % d, "--unixctl=%s/vs.ctl" % d, "--detach",
           "--log-file=%s/vs.log" % d, env=self.env)
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0",
                   "datapath_type=dummy", "protocols=OpenFlow10,OpenFlow13")
        n = 1
        for p in ["patch-int", "gre-1", "vxlan-1", None, "tap5", "int-br-eth1"]:
            if p:
                self.vsctl("add-port", "br0", p, "--", "set", "interface", p,
                           "type=dummy", "ofport_request=%d" % n)
            n += 1
        self.rec = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "ofrecord.py"),
             self.proxy + "/br0.mgmt", d + "/br0.mgmt", self.log])
        for _ in range(50):
            if os.path.exists(self.proxy + "/br0.mgmt"):
                break
            time.sleep(0.1)

    def vsctl(self, *args):
        return sh("ovs-vsctl", "--db=unix:%s/db.sock" % self.d, *args, env=self.env)

    def ofctl(self, *args, proxy=True):
        r = sh("ovs-ofctl", *args, env=self.penv if proxy else self.env, check=False)
        time.sleep(0.15)  # let the proxy log the last reply
        return r

    def log_lines(self):
        with open(self.log) as f:
            return f.read().splitlines()

    def stop(self):
        self.rec.terminate()
        self.rec.wait()
        for p in ("vs", "ovsdb"):
            try:
                with open("%s/%s.pid" % (self.d, p)) as f:
                    os.kill(int(f.read().strip()), 15)
            except (OSError, ValueError):
                pass
        time.sleep(0.5)
        shutil.rmtree(self.d, ignore_errors=True)


def msgs_since(ovs, start):
    """(conn, dir, bytes) of every message logged from line `start` on."""
    out = []
    for line in ovs.log_lines()[start:]:
        conn, d, hx = line.split()
        out.append((int(conn), d, bytes.fromhex(hx)))
    return out


def strip(line):
    """A dump line without what changes from run to run."""
    line = line.strip()
    for key in ("duration", "n_packets", "n_bytes", "idle_age", "hard_age"):
        line = re.sub(r"%s=[0-9.]+s?, " % key, "", line)
    return line


def u16(b, o):
    return int.from_bytes(b[o:o + 2], "big")


def u32(b, o):
    return int.from_bytes(b[o:o + 4], "big")


def is_flow_mod(m):
    if m[0] == 1 and m[1] == 14 or m[0] == 4 and m[1] == 14:
        return True
    return m[1] == 4 and u32(m, 8) == 0x2320 and u32(m, 12) == 13


def is_tid_on(m):
    return m[0] == 1 and m[1] == 4 and u32(m, 8) == 0x2320 and u32(m, 12) == 15 \
        and m[16] == 1


def flow_entry(m):
    """The body of a NXST_FLOW (OF1.0) or OFPMP_FLOW (OF1.3) reply, else None."""
    if m[0] == 1 and m[1] == 17 and u16(m, 8) == 0xffff and u32(m, 16) == 0:
        return m[24:]
    if m[0] == 4 and m[1] == 19 and u16(m, 8) == 1:
        return m[16:]
    return None


def record_flow(ovs, out, proto, flow, kind="flow"):
    ovs.ofctl("-O", "OpenFlow13", "del-flows", "br0", proxy=False)
    start = len(ovs.log_lines())
    args = ["-O", "OpenFlow13"] if proto == "of13" else []
    r = ovs.ofctl(*args, "add-flow", "br0", flow)
    if r.returncode != 0:
        raise RuntimeError("add-flow %s: %s" % (flow, r.stderr))
    tid = False
    fm = None
    for _, d, m in msgs_since(ovs, start):
        if d == "c2s" and is_tid_on(m):
            tid = True
        if d == "c2s" and is_flow_mod(m):
            fm = m
    start = len(ovs.log_lines())
    ovs.ofctl("dump-flows", "br0")
    nxst = [flow_entry(m) for _, d, m in msgs_since(ovs, start) if d == "s2c"]
    start = len(ovs.log_lines())
    text = ovs.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
    mp13 = [flow_entry(m) for _, d, m in msgs_since(ovs, start) if d == "s2c"]
    # OpenFlow 1.0's own OFPST_FLOW (ofp10_match), which ovs-ofctl never asks for.
    st10 = [m[12:] for m in talk(ovs.d + "/br0.mgmt", [OFPST_FLOW10], 1)
            if m[1] == 17 and u16(m, 8) == 1]
    nxst = [e for e in nxst if e is not None]
    mp13 = [e for e in mp13 if e is not None]
    out.append("%s: %s" % (kind, flow))
    out.append("add: %s" % proto)
    out.append("tid: %d" % tid)
    out.append("flow_mod: " + fm.hex())
    out.append("nxst: " + b"".join(nxst).hex())
    out.append("mp13: " + b"".join(mp13).hex())
    out.append("st10: " + b"".join(st10).hex())
    line = [strip(l) for l in text.splitlines() if "actions=" in l]
    out.append("ovs13: " + (line[0] if line else ""))
    out.append("")


# --- hand-built OpenFlow 1.3 messages (os-ken's encodings) ---------------------

def be(n, v):
    return v.to_bytes(n, "big")


def oxm(field, value, mask=None, cls=0x8000):
    n = len(value)
    hdr = cls << 16 | field << 9 | (0x100 if mask else 0) | (2 * n if mask else n)
    return be(4, hdr) + value + (mask or b"")


def nxm_hdr(cls, field, n):
    return cls << 16 | field << 9 | n


def pad8(b):
    return b + bytes((-len(b)) % 8)


def match13(*tlvs):
    body = b"".join(tlvs)
    return pad8(be(2, 1) + be(2, 4 + len(body)) + body)


def inst_goto(t):
    return be(2, 1) + be(2, 8) + bytes([t]) + bytes(3)


def inst_apply(*acts):
    body = b"".join(acts)
    return be(2, 4) + be(2, 8 + len(body)) + bytes(4) + body


def inst_write_metadata(v, m):
    return be(2, 2) + be(2, 24) + bytes(4) + be(8, v) + be(8, m)


def a_output(port, max_len=0):
    return be(2, 0) + be(2, 16) + be(4, port) + be(2, max_len) + bytes(6)


def a_push_vlan(t=0x8100):
    return be(2, 17) + be(2, 8) + be(2, t) + bytes(2)


def a_pop_vlan():
    return be(2, 18) + be(2, 8) + bytes(4)


def a_set_field(tlv):
    return fix_len(pad8(be(2, 25) + be(2, 0) + tlv))


def fix_len(a):
    return a[:2] + be(2, len(a)) + a[4:]


def nx(subtype, body):
    a = be(2, 0xffff) + be(2, 0) + be(4, 0x2320) + be(2, subtype) + body
    return fix_len(pad8(a))


def a_reg_move(n_bits, src_ofs, dst_ofs, src, dst):
    return nx(6, be(2, n_bits) + be(2, src_ofs) + be(2, dst_ofs) + be(4, src) + be(4, dst))


def a_reg_load(ofs, n_bits, dst, value):
    return nx(7, be(2, ofs << 6 | (n_bits - 1)) + be(4, dst) + be(8, value))


def a_learn(idle, hard, prio, cookie, table, specs):
    body = (be(2, idle) + be(2, hard) + be(2, prio) + be(8, cookie) + be(2, 0)
            + bytes([table, 0]) + be(2, 0) + be(2, 0) + specs)
    return nx(16, body)


def spec(n_bits, src, dst, src_field=None, src_imm=None, dst_field=None):
    b = be(2, src << 13 | dst << 11 | n_bits)
    if src == 0:
        b += be(4, src_field) + be(2, 0)
    else:
        b += be(2 * ((n_bits + 15) // 16), src_imm)
    if dst in (0, 1):
        b += be(4, dst_field) + be(2, 0)
    return b


def a_set_field_plain(tlv):
    return a_set_field(tlv)


def flow_mod13(table, prio, match, insts, command=0, cookie=0, cookie_mask=0,
               out_port=0, out_group=0, flags=0, buffer_id=0xffffffff):
    body = (be(8, cookie) + be(8, cookie_mask) + bytes([table, command])
            + be(2, 0) + be(2, 0) + be(2, prio) + be(4, buffer_id)
            + be(4, out_port) + be(4, out_group) + be(2, flags) + bytes(2)
            + match + b"".join(insts))
    return bytes([4, 14]) + be(2, 8 + len(body)) + be(4, 0x10) + body


OXM_IN_PORT = (0, 4)
HELLO13 = bytes.fromhex("04000010000000010001000800000010")
BARRIER13 = bytes.fromhex("0414000800000099")


HELLO10 = bytes.fromhex("0100000800000001")
OFPST_FLOW10 = bytes.fromhex("011000380000000700010000" + "003fffff" + "00" * 36 + "ff00ffff")
BARRIER10 = bytes.fromhex("0112000800000099")


def talk(path, msgs, version=4):
    """Sends HELLO, each message and a barrier; returns every message received
    (but HELLO and the barrier reply)."""
    hello, barrier, reply = ((HELLO13, BARRIER13, 21) if version == 4
                             else (HELLO10, BARRIER10, 19))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(hello + b"".join(msgs) + barrier)
    s.settimeout(2)
    data = b""
    got = []
    done = False
    while not done:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        while len(data) >= 8 and len(data) >= u16(data, 2):
            m, data = data[:u16(data, 2)], data[u16(data, 2):]
            if m[1] == reply:
                done = True
            elif m[1] != 0:
                got.append(m)
    s.close()
    return got


MAC = lambda s: bytes.fromhex(s.replace(":", ""))
IP4 = lambda s: bytes(int(x) for x in s.split("."))
C = 0x9d5b0e5c3b25ca44


def neutron_flows():
    """(label, FLOW_MOD) of the Neutron flows of AGENT-NEEDS.md 2.6, as os-ken
    encodes them (2.7)."""
    eth_type = lambda t: oxm(5, be(2, t))
    in_port = lambda p: oxm(0, be(4, p))
    vlan_vid = lambda v: oxm(6, be(2, v))
    l = []
    l.append(("br-int canary t23", flow_mod13(23, 0, match13(), [], cookie=C)))
    l.append(("br-int t0 goto 58", flow_mod13(0, 0, match13(), [inst_goto(58)], cookie=C)))
    l.append(("br-int t60 NORMAL", flow_mod13(60, 1, match13(),
                                              [inst_apply(a_output(0xfffffffa))], cookie=C)))
    l.append(("br-int t0 vlan_vid=0x1fff drop",
              flow_mod13(0, 65535, match13(vlan_vid(0x1fff)), [], cookie=C)))
    l.append(("br-int t25 port security",
              flow_mod13(25, 2, match13(in_port(5), oxm(4, MAC("fa:16:3e:11:11:11"))),
                         [inst_goto(30)], cookie=C)))
    l.append(("br-int t0 p9 in_port goto 25",
              flow_mod13(0, 9, match13(in_port(5)), [inst_goto(25)], cookie=C)))
    nd = bytes.fromhex("fe80000000000000f8163efffe111111")
    l.append(("br-int t24 ND target",
              flow_mod13(24, 2, match13(eth_type(0x86dd), oxm(10, b"\x3a"), oxm(29, b"\x88"),
                                        in_port(5), oxm(31, nd)), [inst_goto(58)], cookie=C)))
    l.append(("br-int t24 ND target masked",
              flow_mod13(24, 2, match13(eth_type(0x86dd), oxm(10, b"\x3a"), oxm(29, b"\x88"),
                                        in_port(5),
                                        oxm(31, bytes.fromhex("20010db8000000000000000000000000"),
                                            bytes.fromhex("ffffffffffffffff0000000000000000"))),
                         [inst_goto(58)], cookie=C)))
    l.append(("br-int t0 icmp6 136 goto 24",
              flow_mod13(0, 10, match13(eth_type(0x86dd), oxm(10, b"\x3a"), oxm(29, b"\x88"),
                                        in_port(5)), [inst_goto(24)], cookie=C)))
    l.append(("br-int t24 arp_spa masked",
              flow_mod13(24, 2, match13(eth_type(0x806), in_port(5),
                                        oxm(22, IP4("10.0.1.0"), IP4("255.255.255.0"))),
                         [inst_goto(25)], cookie=C)))
    l.append(("br-int t0 arp goto 24",
              flow_mod13(0, 10, match13(eth_type(0x806), in_port(5)), [inst_goto(24)], cookie=C)))
    l.append(("br-int provider vlan",
              flow_mod13(0, 3, match13(in_port(6), vlan_vid(0x1065)),
                         [inst_apply(a_set_field(vlan_vid(0x1001))), inst_goto(58)], cookie=C)))
    l.append(("br-int provider flat",
              flow_mod13(0, 3, match13(in_port(6), vlan_vid(0)),
                         [inst_apply(a_push_vlan(), a_set_field(vlan_vid(0x1002))),
                          inst_goto(58)], cookie=C)))
    l.append(("br-tun t2 arp broadcast",
              flow_mod13(2, 1, match13(eth_type(0x806), oxm(3, MAC("ff:ff:ff:ff:ff:ff"))),
                         [inst_goto(21)], cookie=C)))
    l.append(("br-tun t2 unicast",
              flow_mod13(2, 0, match13(oxm(3, MAC("00:00:00:00:00:00"), MAC("01:00:00:00:00:00"))),
                         [inst_goto(20)], cookie=C)))
    learn = a_learn(0, 300, 1, C, 20, b"".join([
        spec(12, 0, 0, nxm_hdr(0, 4, 2), dst_field=nxm_hdr(0, 4, 2)),
        spec(48, 0, 0, nxm_hdr(0x8000, 4, 6), dst_field=nxm_hdr(0x8000, 3, 6)),
        spec(16, 1, 1, src_imm=0, dst_field=nxm_hdr(0, 4, 2)),
        spec(64, 0, 1, nxm_hdr(0x8000, 38, 8), dst_field=nxm_hdr(0x8000, 38, 8)),
        spec(32, 0, 2, nxm_hdr(0x8000, 0, 4)),
    ]))
    l.append(("br-tun t10 learn",
              flow_mod13(10, 1, match13(), [inst_apply(learn, a_output(1))], cookie=C)))
    l.append(("br-tun t3 tunnel to vlan",
              flow_mod13(3, 1, match13(oxm(38, be(8, 0x3e7))),
                         [inst_apply(a_push_vlan(), a_set_field(vlan_vid(0x1001))),
                          inst_goto(10)], cookie=C)))
    l.append(("br-tun t22 flood",
              flow_mod13(22, 1, match13(vlan_vid(0x1001)),
                         [inst_apply(a_pop_vlan(), a_set_field(oxm(38, be(8, 0x3e7))),
                                     a_output(2), a_output(3))], cookie=C)))
    l.append(("br-tun t20 l2pop unicast",
              flow_mod13(20, 2, match13(vlan_vid(0x1001), oxm(3, MAC("fa:16:3e:22:22:22"))),
                         [inst_apply(a_pop_vlan(), a_set_field(oxm(38, be(8, 0x3e7))),
                                     a_output(2))], cookie=C)))
    arp = [
        a_set_field(oxm(21, be(2, 2))),
        a_reg_move(48, 0, 0, nxm_hdr(0x8000, 24, 6), nxm_hdr(0x8000, 25, 6)),
        a_reg_move(32, 0, 0, nxm_hdr(0x8000, 22, 4), nxm_hdr(0x8000, 23, 4)),
        a_set_field(oxm(24, MAC("fa:16:3e:f1:5e:7d"))),
        a_set_field(oxm(22, IP4("10.0.0.1"))),
        a_reg_move(48, 0, 0, nxm_hdr(0x8000, 4, 6), nxm_hdr(0x8000, 3, 6)),
        a_set_field(oxm(4, MAC("fa:16:3e:f1:5e:7d"))),
        a_output(0xfffffff8),
    ]
    l.append(("br-tun t21 ARP responder",
              flow_mod13(21, 1, match13(eth_type(0x806), vlan_vid(0x1001), oxm(23, IP4("10.0.0.1"))),
                         [inst_apply(*arp)], cookie=C)))
    l.append(("br-phys vlan translation",
              flow_mod13(0, 4, match13(in_port(1), vlan_vid(0x1001)),
                         [inst_apply(a_set_field(vlan_vid(0x1065)), a_output(0xfffffffa))],
                         cookie=C)))
    l.append(("br-int reg6 set_field NXM header",
              flow_mod13(1, 20, match13(oxm(6, be(4, 3), cls=1)),
                         [inst_apply(a_set_field(oxm(6, be(4, 3), cls=1))), inst_goto(61)],
                         cookie=C)))
    l.append(("write_metadata and goto", flow_mod13(1, 5, match13(),
              [inst_goto(5), inst_write_metadata(2, 0xff)], cookie=C)))
    return l


def neutron_deletes():
    """Deletes as os-ken sends them, each after adding flows it should or should
    not remove: (label, adds, delete)."""
    C2 = 0x1111
    adds = [flow_mod13(0, 2, match13(oxm(0, be(4, 5))), [], cookie=C),
            flow_mod13(0, 1, match13(oxm(0, be(4, 2))), [inst_goto(3)], cookie=C),
            flow_mod13(3, 1, match13(oxm(0, be(4, 2))), [], cookie=C2)]
    return [
        ("delete table=ALL in_port=2", adds,
         flow_mod13(255, 0, match13(oxm(0, be(4, 2))), [], command=3,
                    out_port=0xffffffff, out_group=0xffffffff)),
        ("delete_strict t0 p2 in_port=5 own cookie", adds,
         flow_mod13(0, 2, match13(oxm(0, be(4, 5))), [], command=4, cookie=C,
                    cookie_mask=0xffffffffffffffff, out_port=0xffffffff,
                    out_group=0xffffffff)),
        ("delete foreign cookie", adds,
         flow_mod13(255, 0, match13(), [], command=3, cookie=C2,
                    cookie_mask=0xffffffffffffffff, out_port=0xffffffff,
                    out_group=0xffffffff)),
    ]


def refused_flows():
    """Wire forms of flows_err.txt's flows (OpenFlow 1.3), by the text they stand
    for. Flows that cannot be put on the wire (text syntax errors: note:xy,
    ipv6_src=zz::1, a /129 mask, apply_actions(...)) are left out."""
    eth_type = lambda t: oxm(5, be(2, t))
    out1 = inst_apply(a_output(1))
    reg0 = nxm_hdr(1, 0, 4)
    return [
        ("table=3 actions=goto_table:2", flow_mod13(3, 0x8000, match13(), [inst_goto(2)])),
        ("table=3 actions=goto_table:3", flow_mod13(3, 0x8000, match13(), [inst_goto(3)])),
        ("actions=goto_table:1,output:1", flow_mod13(0, 0x8000, match13(), [inst_goto(1), out1])),
        ("actions=output:1,goto_table:1,goto_table:2",
         flow_mod13(0, 0x8000, match13(), [out1, inst_goto(1), inst_goto(2)])),
        ("actions=write_metadata:0x1,output:1",
         flow_mod13(0, 0x8000, match13(), [inst_write_metadata(1, 2**64 - 1), out1])),
        ("actions=goto_table:5,write_metadata:0x1",
         flow_mod13(0, 0x8000, match13(), [inst_goto(5), inst_write_metadata(1, 2**64 - 1)])),
        ("actions=set_field:1->nw_ttl",
         flow_mod13(0, 0x8000, match13(), [inst_apply(a_set_field(oxm(29, b"\x01", cls=1)))])),
        ("actions=set_field:0x1001->vlan_vid",
         flow_mod13(0, 0x8000, match13(), [inst_apply(a_set_field(oxm(6, be(2, 0x1001))))])),
        ("actions=set_field:1->eth_type",
         flow_mod13(0, 0x8000, match13(), [inst_apply(a_set_field(eth_type(1)))])),
        ("actions=set_field:1->foo",
         flow_mod13(0, 0x8000, match13(), [inst_apply(a_set_field(oxm(120, be(4, 1))))])),
        ("udp,actions=set_field:53->tp_dst",
         flow_mod13(0, 0x8000, match13(eth_type(0x800), oxm(10, b"\x11")),
                    [inst_apply(a_set_field(oxm(14, be(2, 53))))])),
        ("actions=move:NXM_NX_IP_TTL[]->NXM_NX_REG0[0..7]",
         flow_mod13(0, 0x8000, match13(),
                    [inst_apply(a_reg_move(8, 0, 0, nxm_hdr(1, 29, 1), reg0))])),
        ("actions=move:NXM_NX_REG0[0..7]->NXM_NX_IP_TTL[]",
         flow_mod13(0, 0x8000, match13(),
                    [inst_apply(a_reg_move(8, 0, 0, reg0, nxm_hdr(1, 29, 1)))])),
        ("actions=move:NXM_OF_VLAN_TCI[0..12]->OXM_OF_VLAN_VID[]",
         flow_mod13(0, 0x8000, match13(),
                    [inst_apply(a_reg_move(13, 0, 0, nxm_hdr(0, 4, 2), nxm_hdr(0x8000, 6, 2)))])),
        ("dl_vlan=1,actions=load:0x1001->OXM_OF_VLAN_VID[]",
         flow_mod13(0, 0x8000, match13(oxm(6, be(2, 0x1001))),
                    [inst_apply(a_reg_load(0, 12, nxm_hdr(0x8000, 6, 2), 0x1001))])),
        ("actions=load:0x1->NXM_NX_REG0[32]",
         flow_mod13(0, 0x8000, match13(), [inst_apply(a_reg_load(32, 1, reg0, 1))])),
        ("actions=set_field:0x1ffffffff->reg0",
         flow_mod13(0, 0x8000, match13(), [inst_apply(a_reg_load(0, 32, reg0, 0x1ffffffff))])),
        ("actions=push_vlan:0x800",
         flow_mod13(0, 0x8000, match13(), [inst_apply(a_push_vlan(0x800))])),
        ("actions=learn(NXM_OF_ARP_TPA[])",
         flow_mod13(0, 0x8000, match13(),
                    [inst_apply(a_learn(0, 0, 0x8000, 0, 1,
                                        spec(32, 0, 0, nxm_hdr(0, 17, 4),
                                             dst_field=nxm_hdr(0, 17, 4))))])),
        ("actions=learn(table=1,ipv6_src=fe80::1)",
         flow_mod13(0, 0x8000, match13(),
                    [inst_apply(a_learn(0, 0, 0x8000, 0, 1,
                                        spec(128, 1, 0, src_imm=0xfe800000000000000000000000000001,
                                             dst_field=nxm_hdr(1, 19, 16))))])),
        ("in_port=1/1,actions=drop",
         flow_mod13(0, 0x8000, match13(oxm(0, be(4, 1), be(4, 1))), [])),
        ("reg16=1,actions=drop",
         flow_mod13(0, 0x8000, match13(oxm(16, be(4, 1), cls=1)), [])),
    ]


HEADER = """\
# Open vSwitch 3.1.0 (Debian 12) and the flow model: recorded by
# tests/capture/capture_model.py (private ovsdb-server + ovs-vswitchd --enable-dummy,
# bridge br0 datapath_type=dummy, protocols OpenFlow10,OpenFlow13, ports 1 patch-int,
# 2 gre-1, 3 vxlan-1, 5 tap5, 6 int-br-eth1). Checked by tests/model_vectors.rs.
#
# "flow:" blocks, one per flow of control/pipeline/tests/ovs_vectors/flows_of13.txt
# ("add: of13", ovs-ofctl -O OpenFlow13 add-flow) and flows_of10.txt ("add: of10",
# plain ovs-ofctl): the FLOW_MOD ovs-ofctl sent ("tid: 1" when it had enabled
# NXT_FLOW_MOD_TABLE_ID first), OVS's NXST_FLOW reply entry to plain dump-flows
# ("nxst:"), OFPMP_FLOW reply entry to -O OpenFlow13 dump-flows ("mp13:"), the entry of
# OVS's reply to an OpenFlow 1.0 OFPST_FLOW request (all tables, "st10:"), and the
# line ovs-ofctl -O OpenFlow13 printed (durations and counters removed).
# "[wire]": single faults of OpenFlow 1.0 and 1.3 flow mods ("c2s:") and OVS's answer.
# "[other encodings]": actions OVS takes that xvs writes back in another form.
# "[refused]": flows_err.txt's flows in an OpenFlow 1.3 wire form ("c2s:", built by
# hand) and OVS's answer ("s2c:", its OFPT_ERROR, or "ok" when the wire form is one
# OVS takes). "[neutron]": the Neutron agent's flows as os-ken encodes them
# (AGENT-NEEDS.md 2.6-2.7), OVS's answer and its dump; "delete:" os-ken's deletes
# after the "add:" flow mods, and the flows left.
"""


# Flows beyond the pipeline's vectors, for mappings they do not show: a 1.0
# setter the 1.3 view has no set-field for, resubmit spellings, ports.
MORE = [
    ("of10", "ip,actions=mod_tp_src:5,output:2"),
    ("of10", "arp,actions=mod_nw_src:10.0.0.1,mod_nw_tos:4,output:2"),
    ("of10", "table=3,in_port=3,actions=resubmit(1,),resubmit(,7),resubmit(1,7),output:LOCAL"),
    ("of10", "actions=output:TABLE,output:ALL,FLOOD,LOCAL,NORMAL,IN_PORT"),
    ("of13", "table=2,priority=9,udp6,udp_src=5,actions=dec_ttl(0),output:65279"),
    ("of10", "table=1,icmp,icmp_type=3,icmp_code=1,actions=set_field:2->nw_ecn,output:1"),
    ("of13", "table=1,arp,arp_op=1,arp_sha=fa:16:3e:00:00:01/ff:ff:ff:00:00:00,arp_tha=00:00:00:00:00:01,actions=output:1"),
]


def of10_match(wildcards=0x3fffff, **f):
    """A 40-byte ofp10_match: fields by name, as the structure lays them out."""
    return (be(4, wildcards) + be(2, f.get("in_port", 0)) + f.get("dl_src", bytes(6))
            + f.get("dl_dst", bytes(6)) + be(2, f.get("dl_vlan", 0))
            + bytes([f.get("dl_vlan_pcp", 0), 0]) + be(2, f.get("dl_type", 0))
            + bytes([f.get("nw_tos", 0), f.get("nw_proto", 0), 0, 0])
            + be(4, f.get("nw_src", 0)) + be(4, f.get("nw_dst", 0))
            + be(2, f.get("tp_src", 0)) + be(2, f.get("tp_dst", 0)))


def flow_mod10(match, actions, command=0, prio=0x8000, buffer_id=0xffffffff,
               out_port=0xffff, cookie=0):
    body = (match + be(8, cookie) + be(2, command) + be(2, 0) + be(2, 0) + be(2, prio)
            + be(4, buffer_id) + be(2, out_port) + be(2, 0) + b"".join(actions))
    return bytes([1, 14]) + be(2, 8 + len(body)) + be(4, 0x10) + body


def nx_flow_mod10(nxm, actions, command=0, prio=0x8000):
    m = pad8(nxm)
    body = (be(4, 0x2320) + be(4, 13) + be(8, 0) + be(2, command) + be(2, 0) + be(2, 0)
            + be(2, prio) + be(4, 0xffffffff) + be(2, 0xffff) + be(2, 0)
            + be(2, len(nxm)) + bytes(6) + m + b"".join(actions))
    return bytes([1, 4]) + be(2, 8 + len(body)) + be(4, 0x10) + body


def a10(t, arg):
    return be(2, t) + be(2, 8) + arg + bytes(4 - len(arg))


def onf_copy_field(n_bits, src, dst, junk=b""):
    a = (be(2, 0xffff) + be(2, 0) + be(4, 0x4f4e4600) + be(2, 3200) + bytes(2)
         + be(2, n_bits) + be(2, 0) + be(2, 0) + bytes(2) + be(4, src) + be(4, dst) + junk)
    return fix_len(pad8(a))


def other_encodings():
    """Actions OVS takes that xvs reads into the model but writes back in another
    form (OVS writes each back as it came): reg_load2, output_reg2, ONF's
    copy-field."""
    eth_type = lambda t: oxm(5, be(2, t))
    fm = lambda acts, m=match13(): flow_mod13(1, 7, m, [inst_apply(*acts)])
    return [
        ("reg_load2 masked eth_dst", fm([nx(33, oxm(3, MAC("fa:16:3e:00:00:00"),
                                                     MAC("ff:ff:ff:00:00:00"))), a_output(1)])),
        ("reg_load2 reg6", fm([nx(33, oxm(6, be(4, 3), cls=1)), a_output(1)])),
        ("output_reg2 reg0", fm([fix_len(nx(32, be(2, 15) + be(2, 0xffff)
                                          + be(4, nxm_hdr(1, 0, 4))))])),
        ("copy_field arp_sha to arp_tha", fm([onf_copy_field(48, nxm_hdr(0x8000, 24, 6),
                                                              nxm_hdr(0x8000, 25, 6)),
                                               a_output(0xfffffff8)],
                                              match13(eth_type(0x806)))),
    ]


def wire_cases():
    """Single faults the model's decoder checks, as (label, version, FLOW_MOD)."""
    eth_type = lambda t: oxm(5, be(2, t))
    out1 = a_output(1)
    ip = eth_type(0x800)
    vlan5 = oxm(6, be(2, 0x1005))
    m0 = match13()
    fm = lambda *i, **k: flow_mod13(0, 0x8000, k.pop("match", m0), list(i), **k)
    ap = inst_apply
    return [
        ("of13 match vlan_vid with PCP bits", 4, fm(match=match13(oxm(6, be(2, 0x2005))))),
        ("of13 match ip_dscp above 63", 4, fm(match=match13(ip, oxm(8, b"\x40")))),
        ("of13 match in_port between the port ranges", 4,
         fm(match=match13(oxm(0, be(4, 0x10000))))),
        ("of13 match arp_op above 255", 4,
         fm(match=match13(eth_type(0x806), oxm(21, be(2, 0x100))))),
        ("of13 add with a buffer id", 4, fm(ap(out1), buffer_id=5)),
        ("of13 pop_vlan without a tag", 4, fm(ap(a_pop_vlan(), out1))),
        ("of13 pop_vlan with a tag", 4, fm(ap(a_pop_vlan(), out1), match=match13(vlan5))),
        ("of13 mod_nw_src without ip", 4, fm(ap(a10(5, IP4("10.0.0.1")), out1))),
        ("of13 mod_nw_src with ip", 4, fm(ap(a10(5, IP4("10.0.0.1")), out1),
                                          match=match13(ip))),
        ("of13 dec_ttl without ip", 4, fm(ap(be(2, 24) + be(2, 8) + bytes(4)))),
        ("of13 mod_tp_src without tcp", 4, fm(ap(a10(9, be(2, 5))), match=match13(ip))),
        ("of13 set_vlan_vid without a tag", 4, fm(ap(a10(1, be(2, 5))))),
        ("of13 three push_vlan", 4, fm(ap(a_push_vlan(), a_push_vlan(), a_push_vlan()))),
        ("of13 two push_vlan", 4, fm(ap(a_push_vlan(), a_push_vlan(), out1))),
        ("of13 output to 0xff00", 4, fm(ap(a_output(0xff00)))),
        ("of13 output to 0xffffff00", 4, fm(ap(a_output(0xffffff00)))),
        ("of13 output to 0x10000", 4, fm(ap(a_output(0x10000)))),
        ("of13 output to OFPP_ANY", 4, fm(ap(a_output(0xffffffff)))),
        ("of13 set_field vlan_vid without present bit", 4,
         fm(ap(a_set_field(oxm(6, be(2, 0x0005)))), match=match13(vlan5))),
        ("of13 set_field masked", 4,
         fm(ap(a_set_field(oxm(3, MAC("fa:16:3e:00:00:01"), MAC("ff:ff:ff:00:00:00")))))),
        ("of13 set_field in_port_oxm", 4, fm(ap(a_set_field(oxm(0, be(4, 1)))))),
        ("of13 set_field with junk after it", 4,
         fm(ap(fix_len(be(2, 25) + be(2, 0) + oxm(4, MAC("fa:16:3e:00:00:01")) + b"\x01"
                       + bytes(1))))),
        ("of13 set_field eth_dst of 3 bytes", 4,
         fm(ap(a_set_field(oxm(3, bytes(3)))))),
        ("of13 set_field ip_dscp above 63", 4,
         fm(ap(a_set_field(oxm(8, b"\x40"))), match=match13(ip))),
        ("of13 set_field pkt_mark", 4, fm(ap(a_set_field(oxm(31, be(4, 1), cls=1))))),
        ("of13 learn to table 255", 4, fm(ap(a_learn(0, 0, 1, 0, 255, b"")))),
        ("of13 learn with a bad spec", 4,
         fm(ap(a_learn(0, 0, 1, 0, 1, be(2, 0x3000 | 16) + bytes(6))))),
        ("of13 learn with junk after the specs", 4,
         fm(ap(a_learn(0, 0, 1, 0, 1, bytes(2) + b"\x01")))),
        ("of13 learn spec past the end", 4,
         fm(ap(fix_len(nx(16, be(2, 0) + be(2, 0) + be(2, 1) + be(8, 0) + be(2, 0)
                              + bytes([1, 0]) + be(4, 0) + be(2, 48)))))),
        ("of13 learn with a fin timeout", 4,
         fm(ap(fix_len(nx(16, be(2, 0) + be(2, 0) + be(2, 1) + be(8, 0) + be(2, 0)
                              + bytes([1, 0]) + be(2, 5) + be(2, 0)))))),
        ("of13 reg_move with a masked header", 4,
         fm(ap(a_reg_move(8, 0, 0, nxm_hdr(1, 0, 4) | 0x100 | 4, nxm_hdr(1, 1, 4))))),
        ("of13 reg_move from an unknown field", 4,
         fm(ap(a_reg_move(8, 0, 0, nxm_hdr(1, 127, 4), nxm_hdr(1, 1, 4))))),
        ("of13 reg_move from ct_nw_src", 4,
         fm(ap(a_reg_move(8, 0, 0, nxm_hdr(1, 120, 4), nxm_hdr(1, 1, 4))))),
        ("of13 reg_move with junk after the headers", 4,
         fm(ap(fix_len(nx(6, be(2, 8) + be(2, 0) + be(2, 0) + be(4, nxm_hdr(1, 0, 4))
                             + be(4, nxm_hdr(1, 1, 4)) + b"\x01"))))),
        ("of13 reg_move of 40 bits of a register", 4,
         fm(ap(a_reg_move(40, 0, 0, nxm_hdr(1, 0, 4), nxm_hdr(1, 1, 4))))),
        ("of13 reg_move into eth_type", 4,
         fm(ap(a_reg_move(16, 0, 0, nxm_hdr(1, 0, 4), nxm_hdr(0, 3, 2))))),
        ("of13 resubmit_table with pad bytes", 4,
         fm(ap(nx(14, be(2, 0xfff8) + bytes([3, 0, 1, 0]))))),
        ("of13 nx write_metadata with nonzero zeros", 4,
         fm(ap(nx(22, bytes([0, 0, 0, 0, 0, 1]) + be(8, 1) + be(8, 1))))),
        ("of13 nx write_metadata before output", 4,
         fm(ap(nx(22, bytes(6) + be(8, 1) + be(8, 1)), out1))),
        ("of13 output_reg with nonzero zeros", 4,
         fm(ap(nx(15, be(2, 15) + be(4, nxm_hdr(1, 0, 4)) + be(2, 0xffff) + b"\x01"
                  + bytes(5))))),
        ("of13 output_reg past its field", 4,
         fm(ap(nx(15, be(2, 31 << 6 | 15) + be(4, nxm_hdr(1, 0, 4)) + be(2, 0xffff)
                  + bytes(6))))),
        ("of13 dec_ttl_cnt_ids short", 4, fm(ap(nx(21, be(2, 3) + bytes(4))))),
        ("of13 reg_load into eth_type", 4,
         fm(ap(a_reg_load(0, 16, nxm_hdr(0, 3, 2), 1)))),
        ("of13 meter instruction", 4,
         fm(be(2, 6) + be(2, 8) + be(4, 1), ap(out1))),
        ("of13 write_actions", 4,
         fm(be(2, 3) + be(2, 24) + bytes(4) + out1)),
        ("of13 clear_actions", 4, fm(be(2, 5) + be(2, 8) + bytes(4))),
        ("of13 enqueue-like set_queue", 4, fm(ap(be(2, 21) + be(2, 8) + be(4, 1)))),
        ("of13 goto_table 255", 4, flow_mod13(3, 1, m0, [inst_goto(255)])),
        ("of13 reg_load2 with value bits outside its mask", 4,
         fm(ap(nx(33, oxm(3, MAC("fa:16:3e:00:00:01"), MAC("ff:00:00:00:00:00")))))),
        ("of13 reg_load2 into eth_type", 4, fm(ap(nx(33, eth_type(1))))),
        ("of13 reg_load2 of an unknown field", 4, fm(ap(nx(33, oxm(120, be(4, 1)))))),
        ("of13 output_reg2 with junk after the header", 4,
         fm(ap(fix_len(nx(32, be(2, 15) + be(2, 0xffff) + be(4, nxm_hdr(1, 0, 4)) + b"\x01"))))),
        ("of13 copy_field with junk after the headers", 4,
         fm(ap(onf_copy_field(48, nxm_hdr(0x8000, 24, 6), nxm_hdr(0x8000, 25, 6), b"\x01")),
            match=match13(eth_type(0x806)))),
        ("of13 modify with a buffer id", 4, fm(ap(out1), command=1, buffer_id=7)),
        ("of13 delete with a buffer id", 4, fm(command=3, buffer_id=7,
                                                out_port=0xffffffff, out_group=0xffffffff)),
        ("of10 set_vlan_vid 0x1000", 1, flow_mod10(of10_match(), [a10(1, be(2, 0x1000))])),
        ("of10 set_vlan_pcp 8", 1, flow_mod10(of10_match(), [a10(2, b"\x08")])),
        ("of10 set_nw_tos with ECN bits", 1, flow_mod10(of10_match(), [a10(8, b"\x09")])),
        ("of10 output to 0xff00", 1, flow_mod10(of10_match(), [a10(0, be(2, 0xff00))])),
        ("of10 output to OFPP_NONE", 1, flow_mod10(of10_match(), [a10(0, be(2, 0xffff))])),
        ("of10 strip_vlan without a tag", 1,
         flow_mod10(of10_match(), [a10(3, b""), a10(0, be(2, 1))])),
        ("of10 mod_nw_src without ip", 1,
         flow_mod10(of10_match(), [a10(6, IP4("10.0.0.1"))])),
        ("of10 enqueue", 1,
         flow_mod10(of10_match(), [be(2, 11) + be(2, 16) + be(2, 1) + bytes(6) + be(4, 1)])),
        ("of10 add with a buffer id", 1, flow_mod10(of10_match(), [], buffer_id=3)),
        ("of10 nx write_metadata before output", 1,
         nx_flow_mod10(b"", [nx(22, bytes(6) + be(8, 1) + be(8, 1)), a10(0, be(2, 1))])),
        ("of10 nx match vlan_tci and an unknown action", 1,
         nx_flow_mod10(oxm(4, be(2, 0x1005), cls=0), [nx(99, bytes(6))])),
        ("of10 nx match ip_tos with ECN bits", 1,
         nx_flow_mod10(oxm(3, be(2, 0x800), cls=0) + oxm(5, b"\x03", cls=0), [])),
    ]


def main():
    vec_dir, out_path = sys.argv[1:3]
    ovs = Ovs()
    out = [HEADER]
    try:
        for proto, name in (("of13", "flows_of13.txt"), ("of10", "flows_of10.txt")):
            with open(os.path.join(vec_dir, name)) as f:
                for line in f:
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    record_flow(ovs, out, proto, line)
        out.append("[more]")
        out.append("")
        for proto, flow in MORE:
            record_flow(ovs, out, proto, flow, "more")
        mgmt = ovs.d + "/br0.mgmt"
        out.append("[refused]")
        out.append("")
        for label, fm in refused_flows():
            ovs.ofctl("-O", "OpenFlow13", "del-flows", "br0", proxy=False)
            got = talk(mgmt, [fm])
            out.append("refused: " + label)
            out.append("c2s: " + fm.hex())
            out.append("s2c: " + (got[0].hex() if got else "ok"))
            out.append("")
        out.append("[wire]")
        out.append("")
        for label, version, fm in wire_cases():
            ovs.ofctl("-O", "OpenFlow13", "del-flows", "br0", proxy=False)
            got = talk(mgmt, [fm], version)
            out.append("wire: " + label)
            out.append("c2s: " + fm.hex())
            out.append("s2c: " + (got[0].hex() if got else "ok"))
            out.append("")
        out.append("[other encodings]")
        out.append("")
        for label, fm in other_encodings():
            ovs.ofctl("-O", "OpenFlow13", "del-flows", "br0", proxy=False)
            got = talk(mgmt, [fm])
            text = ovs.ofctl("-O", "OpenFlow13", "dump-flows", "br0", proxy=False).stdout
            line = [strip(l) for l in text.splitlines() if "actions=" in l]
            out.append("other: " + label)
            out.append("c2s: " + fm.hex())
            out.append("s2c: " + (got[0].hex() if got else "ok"))
            out.append("ovs13: " + (line[0] if line else ""))
            out.append("")
        out.append("[neutron]")
        out.append("")
        for label, fm in neutron_flows():
            ovs.ofctl("-O", "OpenFlow13", "del-flows", "br0", proxy=False)
            got = talk(mgmt, [fm])
            start = len(ovs.log_lines())
            text = ovs.ofctl("-O", "OpenFlow13", "dump-flows", "br0").stdout
            mp13 = [flow_entry(m) for _, d, m in msgs_since(ovs, start) if d == "s2c"]
            mp13 = [e for e in mp13 if e is not None]
            line = [strip(l) for l in text.splitlines() if "actions=" in l]
            out.append("neutron: " + label)
            out.append("c2s: " + fm.hex())
            out.append("s2c: " + (got[0].hex() if got else "ok"))
            out.append("ovs13: " + (line[0] if line else ""))
            out.append("mp13: " + b"".join(mp13).hex())
            out.append("")
        for label, adds, delete in neutron_deletes():
            ovs.ofctl("-O", "OpenFlow13", "del-flows", "br0", proxy=False)
            got = talk(mgmt, adds + [delete])
            text = ovs.ofctl("-O", "OpenFlow13", "dump-flows", "br0", proxy=False).stdout
            out.append("delete: " + label)
            for a in adds:
                out.append("add: " + a.hex())
            out.append("c2s: " + delete.hex())
            out.append("s2c: " + (got[0].hex() if got else "ok"))
            for l in text.splitlines():
                if "actions=" in l:
                    out.append("left: " + strip(l))
            out.append("")
    finally:
        ovs.stop()
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
