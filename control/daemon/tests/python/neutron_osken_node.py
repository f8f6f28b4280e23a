"""One node's bridges programmed by Neutron's own OVS agent code (neutron from PyPI): an
os-ken app, as the agent runs it, drives neutron's native bridge classes
(OVSIntegrationBridge, OVSTunnelBridge; OVSDB through ovs_lib and ovsdbapp, OpenFlow 1.3
through os-ken's ofctl service) and makes the calls the agent makes for tunnelled
networks: br-int and br-tun with their default tables, patch ports, one tunnel port per
tunnel type to the remote node, each network's local VLAN (flooding and tunnel-in
flows), l2pop unicast flows and ARP responder entries, and a VM port bound to its local
VLAN (OVSDB tag) with the agent's ARP/MAC/ND spoofing protection.

Usage: python neutron_osken_node.py CONFIG.json  (then commands on stdin, see below)
CONFIG: {"db": "unix:PATH", "of_port": 6633, "local_ip": IP, "remote_ip": IP,
         "networks": [{"type": "vxlan"|"gre", "segmentation_id": N, "lvid": N,
                       "vm": {"port": TAP, "mac": MAC, "ip": IP, "ip6": IP6,
                              "iface_id": ID},
                       "l2pop": [{"mac": MAC, "ip": IP}, ...]}, ...],
         "restart": false}
With "restart": the agent starting again on the node: the same calls under new
cookies (the VM ports are there already), then the canary check and the cleanup of
the flows of other cookies, as its rpc_loop does.
Run it where the switch can reach 127.0.0.1:of_port (the switch's network namespace).

Prints one line of JSON: the OpenFlow port numbers, each bridge's cookie, every FLOW_MOD
the classes sent (as sent, in hex, with the step that sent it and the command), the
ones that must be in the bridge now (ADDs not replaced or deleted since), and what
os-ken read back from the switch's flow statistics that differs from them. Then it
stays the bridges' controller and takes commands from stdin, one a line, each
answered with another such line: "remove_network TYPE" (the network's VM here goes),
"remove_remote TYPE" (the other node's VM of the network went: l2pop removals). At
the end of stdin it exits. On an error: one line with the step, the error and the
record so far, exit status 1.
"""
import sys

if __name__ == "__main__":
    # os-ken finds the app by module name, and os_ken.app.ofctl.api attaches its ofctl
    # service to the module that imports it first: run all of it as that module.
    import neutron_osken_node
    sys.exit(neutron_osken_node.main())

import json  # noqa: E402
import os  # noqa: E402
import traceback  # noqa: E402

import os_ken.app.ofctl.api  # noqa: E402,F401 (loads the ofctl service for this module)
from os_ken.base import app_manager  # noqa: E402
from os_ken.lib import hub  # noqa: E402
from oslo_config import cfg  # noqa: E402

from neutron.common import config as common_config  # noqa: E402
from neutron.plugins.ml2.drivers.openvswitch.agent.openflow.native import (  # noqa: E402
    main as of_main)

cfg.CONF.import_group("OVS", "neutron.plugins.ml2.drivers.openvswitch.agent.common.config")

from neutron.plugins.ml2.drivers.openvswitch.agent import ovs_neutron_agent  # noqa: E402
from neutron.plugins.ml2.drivers.openvswitch.agent.openflow.native import (  # noqa: E402
    base_oskenapp, br_int, br_tun)

OFPFC_ADD, OFPFC_DELETE, OFPFC_DELETE_STRICT = 0, 3, 4
COMMANDS = {0: "add", 1: "modify", 2: "modify_strict", 3: "delete", 4: "delete_strict"}
OFPTT_ALL = 0xFF

CONFIG = None
STEPS = []
# Every FLOW_MOD sent, in order, by bridge name.
SENT = {"br-int": [], "br-tun": []}


def step(name):
    STEPS.append(name)


class Recording:
    """Keeps every FLOW_MOD the bridge sends (once the switch accepted it)."""

    def _send_msg(self, msg, reply_cls=None, reply_multi=False, active_bundle=None):
        result = super()._send_msg(msg, reply_cls=reply_cls, reply_multi=reply_multi,
                                   active_bundle=active_bundle)
        if type(msg).__name__ == "OFPFlowMod":
            SENT[self.br_name].append({"step": STEPS[-1], "command": COMMANDS[msg.command],
                                       "hex": bytes(msg.buf).hex(), "msg": msg})
        return result


class IntegrationBridge(Recording, br_int.OVSIntegrationBridge):
    pass


class TunnelBridge(Recording, br_tun.OVSTunnelBridge):
    pass


def match_of(m):
    return dict(m.match.items())


def expected_flows(sent):
    """The flows the switch must hold after `sent`, as OpenFlow says: an ADD replaces a
    flow of the same table, priority and match; a strict DELETE removes that one flow; a
    DELETE every flow whose match has each of its fields with the same value (the only
    kind of delete these classes send); both only where the cookie matches the mask."""
    flows = []
    for rec in sent:
        m = rec["msg"]
        key = (m.table_id, m.priority, match_of(m))
        if m.command == OFPFC_ADD:
            flows = [f for f in flows if f[0] != key] + [(key, rec)]
            continue

        def hit(f):
            (table, prio, match), frec = f
            fm = frec["msg"]
            if m.table_id != OFPTT_ALL and table != m.table_id:
                return False
            if (fm.cookie ^ m.cookie) & m.cookie_mask:
                return False
            if m.command == OFPFC_DELETE_STRICT:
                return prio == m.priority and match == match_of(m)
            return all(match.get(k) == v for k, v in match_of(m).items())
        if m.command in (OFPFC_DELETE, OFPFC_DELETE_STRICT):
            flows = [f for f in flows if not hit(f)]
        else:
            raise RuntimeError("unexpected flow mod command %d" % m.command)
    return [rec for _key, rec in flows]


def same_field_names(v):
    """`v` (a to_jsondict()) with os-ken's names of NXM headers ("eth_src_nxm") made the
    OXM field's ("eth_src"): OVS writes learn specs and reg_move fields back with their
    NXM header where the field has one (nxm_header_from_mff), whichever header came."""
    if isinstance(v, dict):
        return {k: same_field_names(x) for k, x in v.items()}
    if isinstance(v, list):
        return [same_field_names(x) for x in v]
    if isinstance(v, str) and v.endswith("_nxm"):
        return v[:-len("_nxm")]
    return v


def read_back(bridge, expected):
    """Differences between os-ken's parse of the switch's flow statistics and the flows
    that must be there: table, priority, cookie, match fields and instructions (NXM or
    OXM headers aside)."""
    def ident(table, prio, match):
        return (table, prio, json.dumps(sorted((k, repr(v)) for k, v in match.items())))
    want = {}
    for rec in expected:
        m = rec["msg"]
        want[ident(m.table_id, m.priority, match_of(m))] = m
    diffs = []
    for f in bridge.dump_flows():
        k = ident(f.table_id, f.priority, match_of(f))
        m = want.pop(k, None)
        if m is None:
            if f.table_id == 20 and f.hard_timeout == 300:
                continue  # learned by table 10, if traffic has passed
            diffs.append("unexpected flow: %s" % (f,))
            continue
        if f.cookie != m.cookie:
            diffs.append("cookie %#x, not %#x: %s" % (f.cookie, m.cookie, f))
        got = same_field_names([i.to_jsondict() for i in f.instructions])
        sent = same_field_names([i.to_jsondict() for i in m.instructions])
        if got != sent:
            diffs.append("instructions %s, not %s (table %d priority %d %s)"
                         % (json.dumps(got), json.dumps(sent), f.table_id, f.priority,
                            match_of(f)))
    for m in want.values():
        diffs.append("missing flow: %s" % (m,))
    return diffs


class NodeApp(base_oskenapp.BaseNeutronAgentOSKenApp):
    def start(self):
        super().start()
        return hub.spawn(self._main, raise_error=True)

    def _main(self):
        # The node's setup, then commands from stdin (one a line) until it closes;
        # after each, one line of JSON. An error ends the app.
        status = 0
        try:
            self.drive(CONFIG)
            self.report()
            for line in sys.stdin:
                cmd = line.split()
                if not cmd:
                    continue
                getattr(self, "cmd_" + cmd[0])(*cmd[1:])
                self.report()
        except Exception as e:
            status = 1
            print(json.dumps({"error": "%s: %s" % (type(e).__name__, e),
                              "step": STEPS[-1] if STEPS else None,
                              "traceback": traceback.format_exc(),
                              "steps": STEPS, "flow_mods": self.flow_mods()}), flush=True)
        # AppManager.close() leaves os-ken's threads running: end here.
        os._exit(status)

    @staticmethod
    def flow_mods():
        return {br: [{k: v for k, v in r.items() if k != "msg"} for r in recs]
                for br, recs in SENT.items()}

    def report(self):
        """What the bridges must hold now, what os-ken reads back, the ports."""
        step("read back")
        out = {"ofports": self.ofports, "cookies": {}, "expected": {}, "read_back": {},
               "canary": self.canary, "steps": STEPS, "flow_mods": self.flow_mods()}
        for br in (self.ib, self.tb):
            want = expected_flows(SENT[br.br_name])
            out["cookies"][br.br_name] = "%#x" % br.default_cookie
            out["expected"][br.br_name] = [r["hex"] for r in want]
            out["read_back"][br.br_name] = read_back(br, want)
        print(json.dumps(out), flush=True)

    def net(self, ntype):
        return next(n for n in CONFIG["networks"] if n["type"] == ntype)

    def tunnel_port(self, ntype):
        return ovs_neutron_agent.OVSNeutronAgent.get_tunnel_name(
            ntype, CONFIG["local_ip"], CONFIG["remote_ip"])

    def cmd_remove_network(self, ntype):
        """The network's last VM on this node goes: os-vif unplugs its tap; the agent
        removes the flows of the ofport that went (update_stale_ofport_rules), then
        reclaims the local VLAN (port_unbound), and with l2pop removes the tunnel port
        no network uses any more (cleanup_tunnel_port)."""
        net = self.net(ntype)
        ib, tb, vm = self.ib, self.tb, net["vm"]
        ofport = self.ofports.pop(vm["port"])
        step("unplug %s" % vm["port"])
        ib.delete_port(vm["port"])
        step("update_stale_ofport_rules %s" % vm["port"])
        ib.delete_arp_spoofing_protection(port=ofport)
        ib.uninstall_flows(in_port=ofport)
        step("reclaim_local_vlan %s" % ntype)
        tb.reclaim_local_vlan(network_type=ntype, segmentation_id=net["segmentation_id"])
        tb.delete_flood_to_tun(net["lvid"])
        tb.delete_unicast_to_tun(net["lvid"], None)
        tb.delete_arp_responder(net["lvid"], None)
        self.remove_tunnel(ntype)

    def cmd_remove_remote(self, ntype):
        """l2pop's fdb_remove for the other node's last port of the network: its
        unicast and ARP responder entries, the flooding entry (no tunnel left, so no
        flooding), then the tunnel port no network uses (agent.del_fdb_flow,
        cleanup_tunnel_port)."""
        net = self.net(ntype)
        tb = self.tb
        for entry in net.get("l2pop", []):
            step("del_fdb_flow %s %s" % (ntype, entry["mac"]))
            tb.delete_arp_responder(net["lvid"], entry["ip"])
            tb.delete_unicast_to_tun(net["lvid"], entry["mac"])
        step("del_fdb_flow %s flooding" % ntype)
        tb.delete_flood_to_tun(net["lvid"])
        self.remove_tunnel(ntype)

    def remove_tunnel(self, ntype):
        name = self.tunnel_port(ntype)
        ofport = self.ofports.pop(name)
        step("cleanup_tunnel_port %s" % name)
        self.tb.delete_port(name)
        self.tb.cleanup_tunnel_port(ofport)

    def drive(self, c):
        conf = cfg.CONF
        local_ip, remote_ip = c["local_ip"], c["remote_ip"]
        # The agent starting again on a node it already programmed (new cookies).
        restart = c.get("restart", False)
        ofports = {}

        step("setup_integration_br")
        ib = IntegrationBridge("br-int", os_ken_app=self, datapath_type="system")
        ib.create()
        ib.set_secure_mode()
        ib.setup_controllers(conf)
        ib.set_igmp_snooping_state(False)
        ib.setup_default_table()

        step("setup_tunnel_br")
        tb = TunnelBridge("br-tun", os_ken_app=self, datapath_type="system")
        tb.create(secure_mode=True)
        tb.setup_controllers(conf)
        ofports["patch-tun"] = ib.add_patch_port("patch-tun", "patch-int")
        ofports["patch-int"] = tb.add_patch_port("patch-int", "patch-tun")
        ib.set_igmp_snooping_flood("patch-tun")

        step("setup_tunnel_br_flows")
        tb.setup_default_table(ofports["patch-int"], True, False)

        # One tunnel port per tunnel type to the remote node (agent._setup_tunnel_port).
        tun_ofport = {}
        for ntype in sorted({n["type"] for n in c["networks"]}):
            step("setup_tunnel_port %s" % ntype)
            name = ovs_neutron_agent.OVSNeutronAgent.get_tunnel_name(ntype, local_ip, remote_ip)
            ofport = tb.add_tunnel_port(name, remote_ip, local_ip, ntype)
            if ofport in (None, -1, []):
                raise RuntimeError("no ofport for tunnel port %s: %r" % (name, ofport))
            tb.setup_tunnel_port(ntype, ofport)
            tun_ofport[ntype] = ofport
            ofports[name] = ofport

        for net in c["networks"]:
            ntype, seg, lvid = net["type"], net["segmentation_id"], net["lvid"]
            # agent.provision_local_vlan: outbound flooding, inbound tunnel id -> lvid.
            step("provision_local_vlan %s %d" % (ntype, seg))
            tb.install_flood_to_tun(lvid, seg, [tun_ofport[ntype]])
            tb.provision_local_vlan(network_type=ntype, lvid=lvid, segmentation_id=seg)
            # agent.add_fdb_flow for the remote ports l2pop announces.
            for entry in net.get("l2pop", []):
                step("add_fdb_flow %s %s" % (ntype, entry["mac"]))
                tb.install_arp_responder(lvid, entry["ip"], entry["mac"])
                tb.install_unicast_to_tun(lvid, seg, tun_ofport[ntype], entry["mac"])

        for net in c["networks"]:
            vm = net["vm"]
            if not restart:
                # The VM's tap plugged as neutron's interface driver does it: on the
                # dead VLAN (tag 4095, trunk of 4095 only), with its external ids.
                step("plug %s" % vm["port"])
                ib.replace_port(vm["port"], ("external_ids", {
                    "iface-id": vm["iface_id"], "iface-status": "active",
                    "attached-mac": vm["mac"], "vm-uuid": "vm-" + vm["iface_id"]}))
            vif = ib.get_vif_port_by_id(vm["iface_id"])
            if vif is None or vif.ofport in (None, -1):
                raise RuntimeError("no VIF port for %s: %r" % (vm["port"], vif))
            ofports[vm["port"]] = vif.ofport
            if not restart:
                # Not yet bound: the agent's port_dead drop flow.
                step("port_dead %s" % vm["port"])
                ib.drop_port(in_port=vif.ofport)
            # agent.port_bound: its network in other_config, the local VLAN as its tag.
            step("port_bound %s" % vm["port"])
            other = ib.db_get_val("Port", vm["port"], "other_config")
            other.update({"net_uuid": "net-%d" % net["segmentation_id"],
                          "network_type": net["type"], "physical_network": "None",
                          "segmentation_id": str(net["segmentation_id"]),
                          "tag": str(net["lvid"])})
            with ib.ovsdb.transaction() as txn:
                txn.add(ib.ovsdb.db_set("Port", vm["port"], ("tag", net["lvid"])))
                txn.add(ib.ovsdb.db_clear("Port", vm["port"], "vlan_mode"))
                txn.add(ib.ovsdb.db_clear("Port", vm["port"], "trunks"))
            ib.set_db_attribute("Port", vm["port"], "other_config", other)
            # agent._bind_devices: spoofing protection, then port_alive.
            step("setup_arp_spoofing_protection %s" % vm["port"])
            ovs_neutron_agent.OVSNeutronAgent.setup_arp_spoofing_protection(ib, vif, {
                "port_security_enabled": True, "device_owner": "compute:nova",
                "fixed_ips": [{"ip_address": ip} for ip in (vm["ip"], vm.get("ip6")) if ip],
                "allowed_address_pairs": []})
            step("port_alive %s" % vm["port"])
            ib.uninstall_flows(strict=True, table_id=0, priority=2, in_port=vif.ofport)

        self.ib, self.tb, self.ofports, self.canary = ib, tb, ofports, None
        if restart:
            # agent.rpc_loop once the ports are seen: the canary table is there, and
            # the flows of the agent's earlier life (other cookies) go.
            step("check_canary_table")
            self.canary = ib.check_canary_table()
            step("cleanup_stale_flows")
            ib.cleanup_flows()
            tb.cleanup_flows()


def main():
    global CONFIG
    with open(sys.argv[1]) as f:
        CONFIG = json.load(f)
    common_config.register_common_config_options()
    common_config.init([])
    cfg.CONF.set_override("use_stderr", True)  # stdout is for the result
    for opt, value in (("ovsdb_connection", CONFIG["db"]),
                       ("of_listen_address", "127.0.0.1"),
                       ("of_listen_port", CONFIG["of_port"]),
                       ("of_connect_timeout", 30),
                       ("of_request_timeout", 30)):
        cfg.CONF.set_override(opt, value, "OVS")
    of_main.init_config()
    common_config.setup_logging()
    app_manager.AppManager.run_apps([__name__])

