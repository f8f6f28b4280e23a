"""The unmodified neutron-openvswitch-agent (neutron 29 from PyPI) on one node, with a
small fake neutron-server in the same process: the agent's RPC runs over
oslo.messaging's in-process `fake:/` transport, and the only hook is a wrapper around
neutron_lib.rpc.init that starts the fake server's RPC endpoints once the agent has made
its transport. Not one line of the agent is changed.

Usage: [XVS_TUNNELS=IP,...] python neutron_agent_node.py AGENT.conf HOST
  (run where the switch reaches the agent's of_listen_address, the node's namespace)

The fake server answers what the agent asks: has_alive_neutron_server, report_state,
tunnel_sync (the tunnel endpoints it was told), update_device_list (and reports it),
get_network_details, and bulk_pull of real versioned objects (Port with its binding
and binding levels down to the segment, Network with its segments), so ports bind as
they do under a real neutron-server. It sends what a server sends: l2pop
add_fdb_entries/remove_fdb_entries casts, tunnel_update, and Port deletions pushed to
the agent's resource cache.

Commands on stdin, one JSON object a line (what the test, playing nova and the other
nodes' servers, tells this node's server):
  {"cmd": "network", "id": UUID, "type": "vxlan"|"gre"|"vlan", "segmentation_id": N,
   "physical_network": NAME|null}
  {"cmd": "port", "id": UUID, "network": UUID, "mac": MAC, "ip": IP}
      a port bound to this host (the agent finds it when its iface-id appears)
  {"cmd": "port_delete", "id": UUID}
  {"cmd": "port_update", "id": UUID}        the port changed (a new revision)
  {"cmd": "tunnels", "ips": [IP, ...]}       what tunnel_sync answers from now on
  {"cmd": "tunnel_update", "ip": IP, "type": "vxlan"|"gre"}
  {"cmd": "fdb_add"|"fdb_remove", "network": UUID, "remote_ip": IP,
   "ports": [[MAC, IP], ...], "flood": true}
      l2pop entries for the other nodes' ports (with the flooding entry if "flood")
Each command is answered on stdout by {"ok": CMD}. Events the agent causes are printed
as they happen: {"event": "devices", "up": [...], "down": [...]} (update_device_list),
{"event": "tunnel_sync", "ip": IP, "type": T}, {"event": "server_started"}.
"""
import json
import os
import sys
import threading
import traceback

# neutron.cmd.agents selects oslo.service's threading backend: it must come first.
from neutron.cmd.agents.ovs_neutron_agent import main  # noqa: E402

import netaddr  # noqa: E402
import oslo_messaging  # noqa: E402
from neutron_lib import context as n_context  # noqa: E402
from neutron_lib import rpc as n_rpc  # noqa: E402

from neutron import objects  # noqa: E402
from neutron.api.rpc.handlers import resources_rpc  # noqa: E402
from neutron.objects import network as net_obj  # noqa: E402
from neutron.objects import ports as port_obj  # noqa: E402
from neutron.plugins.ml2.drivers.l2pop import rpc as l2pop_rpc  # noqa: E402

HOST = sys.argv[2] if len(sys.argv) > 2 else "node"
FLOODING_ENTRY = ["00:00:00:00:00:00", "0.0.0.0"]
PROJECT = "0123456789abcdef0123456789abcdef"
SUBNET = "5ca1ab1e-0000-4000-8000-000000000000"

_lock = threading.Lock()
_out = threading.Lock()
# The agent logs to stdout: events keep the real stdout, everything else goes to stderr.
_events = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


def emit(obj):
    with _out:
        _events.write(json.dumps(obj) + "\n")
        _events.flush()


class Model:
    """What the fake server knows: networks, and the ports bound to this host."""

    def __init__(self):
        self.networks = {}
        self.ports = {}
        # What tunnel_sync answers before any "tunnels" command: XVS_TUNNELS (comma-
        # separated addresses), so that an agent asking early gets them too.
        self.tunnels = [ip for ip in os.environ.get("XVS_TUNNELS", "").split(",") if ip]

    def segment(self, net_id):
        n = self.networks[net_id]
        return net_obj.NetworkSegment(
            None, id=n["segment_id"], network_id=net_id,
            network_type=n["type"], segmentation_id=n["segmentation_id"],
            physical_network=n.get("physical_network"), segment_index=0,
            is_dynamic=False, name=None)

    def network(self, net_id):
        return net_obj.Network(
            None, id=net_id, project_id=PROJECT, name="net-" + net_id[:8],
            admin_state_up=True, status="ACTIVE", mtu=1450,
            segments=[self.segment(net_id)], shared=False, qos_policy_id=None,
            dns_domain=None, vlan_transparent=None, availability_zone_hints=[],
            revision_number=1, description="", created_at=None, updated_at=None)

    def port(self, port_id):
        p = self.ports[port_id]
        seg = self.segment(p["network"])
        binding = port_obj.PortBinding(
            None, port_id=port_id, host=HOST, vif_type="ovs", vnic_type="normal",
            status="ACTIVE", profile={}, vif_details={"port_filter": True})
        level = port_obj.PortBindingLevel(
            None, port_id=port_id, host=HOST, level=0, driver="openvswitch",
            segment_id=seg.id, segment=seg)
        ip = port_obj.IPAllocation(
            None, port_id=port_id, subnet_id=SUBNET, network_id=p["network"],
            ip_address=netaddr.IPAddress(p["ip"]))
        return port_obj.Port(
            None, id=port_id, project_id=PROJECT, name="", network_id=p["network"],
            mac_address=netaddr.EUI(p["mac"]), admin_state_up=True,
            status=p.get("status", "DOWN"), device_id="vm-" + port_id[:8],
            device_owner="compute:nova", fixed_ips=[ip], allowed_address_pairs=[],
            bindings=[binding], binding_levels=[level], security_group_ids=set(),
            qos_policy_id=None, qos_network_policy_id=None, dns=None, security=None,
            dhcp_options=[], distributed_bindings=[], hints=None,
            data_plane_status=None, revision_number=p.get("revision", 1),
            created_at=None, updated_at=None, description="")


MODEL = Model()


class FakeServer:
    """The server side of every call the agent makes (topics q-plugin and
    q-reports-plugin, resources' pull and bulk_pull included)."""

    target = oslo_messaging.Target(version="1.99")

    def has_alive_neutron_server(self, context, **kwargs):
        return True

    def report_state(self, context, **kwargs):
        return "alive"

    def tunnel_sync(self, context, tunnel_ip, tunnel_type=None, host=None):
        emit({"event": "tunnel_sync", "ip": tunnel_ip, "type": tunnel_type})
        with _lock:
            ips = list(MODEL.tunnels)
        return {"tunnels": [{"ip_address": ip, "host": "host-" + ip}
                            for ip in ips + [tunnel_ip]]}

    def update_device_list(self, context, devices_up, devices_down, agent_id, host,
                           refresh_tunnels=False, **kwargs):
        with _lock:
            for d in devices_up:
                if d in MODEL.ports:
                    MODEL.ports[d]["status"] = "ACTIVE"
        emit({"event": "devices", "up": devices_up, "down": devices_down})
        return {"devices_up": devices_up, "devices_down": devices_down,
                "failed_devices_up": [], "failed_devices_down": []}

    def get_network_details(self, context, network, agent_id, host=None):
        with _lock:
            n = MODEL.networks[network]
        return {"id": network, "provider:network_type": n["type"],
                "provider:segmentation_id": n["segmentation_id"],
                "provider:physical_network": n.get("physical_network")}

    def get_ports_by_vnic_type_and_host(self, context, vnic_type, host):
        return []

    # ResourcesPullRpcCallback's side (the agent's resource cache), from the model.
    def pull(self, context, resource_type, version, resource_id):
        found = self.bulk_pull(context, resource_type, version,
                               {"id": [resource_id]})
        return found[0] if found else None

    def bulk_pull(self, context, resource_type, version, filter_kwargs=None):
        ids = (filter_kwargs or {}).get("id")
        with _lock:
            if resource_type == "Port":
                objs = [MODEL.port(i) for i in MODEL.ports
                        if ids is None or i in ids]
            elif resource_type == "Network":
                objs = [MODEL.network(i) for i in MODEL.networks
                        if ids is None or i in ids]
            else:
                objs = []
        return [o.obj_to_primitive(target_version=version) for o in objs]


def command(line, l2pop, push):
    c = json.loads(line)
    ctx = n_context.get_admin_context_without_session()
    kind = c["cmd"]
    if kind == "network":
        with _lock:
            MODEL.networks[c["id"]] = {
                "type": c["type"], "segmentation_id": c["segmentation_id"],
                "physical_network": c.get("physical_network"),
                "segment_id": c.get("segment_id", c["id"][:-4] + "5e90")}
    elif kind == "port":
        with _lock:
            MODEL.ports[c["id"]] = {"network": c["network"], "mac": c["mac"],
                                    "ip": c["ip"]}
    elif kind in ("port_delete", "port_update"):
        with _lock:
            if kind == "port_update":
                MODEL.ports[c["id"]]["revision"] = MODEL.ports[c["id"]].get(
                    "revision", 1) + 1
            port = MODEL.port(c["id"])
            if kind == "port_delete":
                del MODEL.ports[c["id"]]
        version = port_obj.Port.VERSION
        cctxt = push.prepare(
            fanout=True, version="1.1",
            topic=resources_rpc.resource_type_versioned_topic("Port", version))
        cctxt.cast(ctx, "push", resource_list=[port.obj_to_primitive()],
                   event_type="deleted" if kind == "port_delete" else "updated")
    elif kind == "tunnels":
        with _lock:
            MODEL.tunnels = list(c["ips"])
    elif kind == "tunnel_update":
        client = n_rpc.get_client(oslo_messaging.Target(topic="q-agent-notifier",
                                                        version="1.0"))
        client.prepare(topic="q-agent-notifier-tunnel-update", fanout=True).cast(
            ctx, "tunnel_update", tunnel_ip=c["ip"], tunnel_type=c["type"])
    elif kind in ("fdb_add", "fdb_remove"):
        with _lock:
            n = MODEL.networks[c["network"]]
        entries = ([FLOODING_ENTRY] if c.get("flood", True) else []) + [
            list(p) for p in c["ports"]]
        fdb = {c["network"]: {"segment_id": n["segmentation_id"],
                              "network_type": n["type"],
                              "ports": {c["remote_ip"]: entries}}}
        if kind == "fdb_add":
            l2pop.add_fdb_entries(ctx, fdb)
        else:
            l2pop.remove_fdb_entries(ctx, fdb)
    else:
        raise ValueError("unknown command %r" % kind)
    emit({"ok": kind})


def read_commands():
    l2pop = l2pop_rpc.L2populationAgentNotifyAPI()
    push = n_rpc.get_client(oslo_messaging.Target(namespace=None))
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command(line, l2pop, push)
        except Exception as e:  # the test sees the error and fails
            emit({"error": repr(e), "line": line, "traceback": traceback.format_exc()})
    emit({"event": "stdin_closed"})


_orig_init = n_rpc.init


def _init(conf, *args, **kwargs):
    _orig_init(conf, *args, **kwargs)
    objects.register_objects()
    for topic, endpoints in (("q-reports-plugin", [FakeServer()]),
                             ("q-plugin", [FakeServer()])):
        oslo_messaging.get_rpc_server(
            n_rpc.TRANSPORT, oslo_messaging.Target(topic=topic, server="fake-server"),
            endpoints, executor="threading").start()
    threading.Thread(target=read_commands, daemon=True).start()
    emit({"event": "server_started"})


n_rpc.init = _init

if __name__ == "__main__":
    sys.argv = ["neutron-openvswitch-agent", "--config-file", sys.argv[1]]
    sys.exit(main())
