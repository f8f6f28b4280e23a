"""The Neutron agent's own OVSDB library (ovsdbapp, from PyPI) against xvsd: create a
bridge and a port the way the agent does, and read back what the switch wrote.

Usage: python ovsdbapp_port.py unix:/path/db.sock BRIDGE PORT
Prints one JSON object: the port's ofport, the bridge's datapath_id, cur_cfg/next_cfg.
"""
import json
import sys

from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.open_vswitch import impl_idl

remote, bridge, port = sys.argv[1:4]
idl = connection.OvsdbIdl.from_server(remote, "Open_vSwitch")
api = impl_idl.OvsdbIdl(connection.Connection(idl=idl, timeout=10))

# As the agent: every write transaction bumps next_cfg and waits for cur_cfg.
with api.transaction(check_error=True) as txn:
    txn.add(api.add_br(bridge, datapath_type="system"))
    txn.add(api.db_set("Bridge", bridge, ("fail_mode", "secure")))
with api.transaction(check_error=True) as txn:
    txn.add(api.add_port(bridge, port))
    txn.add(api.db_set("Interface", port, ("type", "internal")))
    txn.add(api.db_set("Port", port, ("tag", 5)))

ofport = api.db_get("Interface", port, "ofport").execute(check_error=True)
dpid = api.db_get("Bridge", bridge, "datapath_id").execute(check_error=True)
cfg = api.db_list("Open_vSwitch", columns=["cur_cfg", "next_cfg"]).execute(check_error=True)[0]
print(json.dumps({"ofport": ofport, "datapath_id": dpid, "cur_cfg": cfg["cur_cfg"],
                  "next_cfg": cfg["next_cfg"]}))
