#!/usr/bin/env bash
# The second demo (scripts/demo.sh --neutron): the unmodified Neutron Open vSwitch agent
# (neutron-openvswitch-agent 29 from PyPI) on two nodes whose switch is xvsd. Each node is
# a network namespace with its own ovsdb-server, xvsd and agent; the agent creates
# br-int and br-tun through OVSDB, connects them to its os-ken controller and installs
# its tables over OpenFlow 1.3, exactly as on Open vSwitch. No neutron-server exists
# here: a small fake server in the agent's process (the tests' neutron_agent_node.py)
# answers the agent's RPC with real Port and Network objects, so ports bind; this script
# plays nova (plugging VM taps with ovs-vsctl, as os-vif does) and the l2pop driver.
# Two networks, VXLAN (VNI 1001) and GRE (key 2002), a VM of each on each node; the VMs
# ping across the tunnels. Everything is removed on exit, even on failure.
#
#   node n0 (netns $P-n0)                              node n1 (netns $P-n1)
#   vx0 10.9.1.1  gr0 10.9.2.1                         vx1 10.9.1.2  gr1 10.9.2.2
#     |             |                                    |             |
#   br-int (agent's tables, local VLANs) -- br-tun == VXLAN / GRE == br-tun -- br-int
#   ul 192.168.1.254 ---- br0 (netns $P-wire) ---- ul 192.168.1.253
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "demo-neutron.sh needs root (network namespaces, XDP, AF_XDP)" >&2
    exit 1
fi
source scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
echo "== the Neutron agent from PyPI (target/pyvenv; the first time about a minute)"
source scripts/pyvenv.sh
echo "== building xvs (release)"
cargo build --quiet --locked --release -p xvs-daemon --bin xvsd --bin xvsctl
BIN=$PWD/target/release
VENV=$PWD/target/pyvenv
NODE_PY=$PWD/control/daemon/tests/python/neutron_agent_node.py
start=$(date +%s)

P=xn$$
WIRE=$P-wire
DIR=$(mktemp -d /tmp/xvs-demo-neutron.XXXXXX)
PIDS=() GROUPS_=()
NAMESPACES=($WIRE $P-n0 $P-n1 $P-vx0 $P-gr0 $P-vx1 $P-gr1)

cleanup() {
    set +e
    # The agents with their privsep helpers and OVSDB monitors: whole process groups.
    for g in "${GROUPS_[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    pkill -f -- "--socket $DIR/" 2>/dev/null
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
vsctl() { local n=$1; shift; ovs-vsctl --db="unix:$DIR/n$n/db.sock" --timeout=10 "$@"; }
ofctl() { local n=$1; shift; OVS_RUNDIR=$DIR/n$n ovs-ofctl "$@"; }

echo "== topology: namespaces ${NAMESPACES[*]}"
for ns in "${NAMESPACES[@]}"; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
done
link() { # NS_A IF_A NS_B IF_B
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
    for side in "$1 $2" "$3 $4"; do
        set -- $side
        in_ns "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
        in_ns "$1" ip link set "$2" up
    done
}
in_ns $WIRE ip link add br0 type bridge
in_ns $WIRE ip link set br0 up
for n in 0 1; do
    link $P-n$n ul $WIRE w$n
    in_ns $WIRE ip link set w$n master br0
    in_ns $P-n$n ip addr add 192.168.1.$((254 - n))/24 dev ul
done

# Networks: name, type, segmentation id, subnet; ports: one VM per network per node.
NETS=("vx vxlan 1001 10.9.1" "gr gre 2002 10.9.2")
net_id() { echo "0000000$1-0000-4000-8000-00000000000$1"; }   # 1: vx, 2: gr
port_id() { echo "$1$2aaaaaa-1111-4222-8333-444455556666"; }   # NET NODE
mac() { printf 'fa:16:3e:0%d:00:0%d' "$1" "$(($2 + 1))"; }

echo "== per node: ovsdb-server (Debian's), xvsd, and the unmodified neutron-openvswitch-agent"
for n in 0 1; do
    d=$DIR/n$n
    mkdir -p "$d/state"
    ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" \
        --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
        --unixctl="$d/db.ctl" --log-file="$d/db.log" --no-chdir 2>/dev/null &
    PIDS+=($!)
    for _ in $(seq 100); do [ -S "$d/db.sock" ] && break; sleep 0.1; done
    vsctl $n --no-wait init
    OVS_RUNDIR=$d ip netns exec $P-n$n "$BIN/xvsd" --socket "$d/xvsd.sock" --workers 1 \
        --log warn "unix:$d/db.sock" 2>"$d/xvsd.log" &
    PIDS+=($!)
    cat >"$d/neutron.conf" <<EOF
[DEFAULT]
transport_url = fake:/
host = node$n
state_path = $d/state
rpc_response_timeout = 5
[AGENT]
root_helper = env
root_helper_daemon =
tunnel_types = gre,vxlan
l2_population = True
arp_responder = True
polling_interval = 2
report_interval = 0
[OVS]
ovsdb_connection = unix:$d/db.sock
local_ip = 192.168.1.$((254 - n))
of_listen_address = 127.0.0.1
of_listen_port = 6633
[SECURITYGROUP]
firewall_driver = noop
EOF
    mkfifo "$d/server.in"
    # Our end of the fake server's command pipe stays open for the whole demo.
    eval "exec $((10 + n))<>\"$d/server.in\""
    PATH=$VENV/bin:$PATH OVS_RUNDIR=$d setsid ip netns exec $P-n$n "$VENV/bin/python" \
        "$NODE_PY" "$d/neutron.conf" node$n <"$d/server.in" >"$d/events" 2>"$d/agent.log" &
    GROUPS_+=($!)
done

wait_event() { # NODE PATTERN SECONDS
    for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$DIR/n$1/events" && return 0; sleep 0.1; done
    echo "node $1: no '$2' from the agent in $3 s; its log:" >&2
    tail -20 "$DIR/n$1/agent.log" >&2
    exit 1
}
tell() { local n=$1; shift; echo "$*" >&$((10 + n)); }

for n in 0 1; do wait_event $n '"tunnel_sync"' 120; done
echo "== both agents made br-int and br-tun through OVSDB and programmed them over OpenFlow 1.3 ($(( $(date +%s) - start )) s)"
echo "\$ ovs-vsctl show (node 0: written by the agent, ofports and datapath ids by xvsd)"
vsctl 0 show

echo "== nova plugs the VMs (ovs-vsctl add-port br-int tap... external_ids:iface-id=...); the agent binds them"
for n in 0 1; do
    for i in 1 2; do
        set -- ${NETS[$((i - 1))]}
        name=$1 kind=$2 seg=$3 subnet=$4
        port=$(port_id $i $n) tap=tap$(port_id $i $n | cut -c1-11) vm=$P-$name$n
        tell $n "{\"cmd\": \"network\", \"id\": \"$(net_id $i)\", \"type\": \"$kind\", \"segmentation_id\": $seg}"
        tell $n "{\"cmd\": \"port\", \"id\": \"$port\", \"network\": \"$(net_id $i)\", \"mac\": \"$(mac $i $n)\", \"ip\": \"$subnet.$((n + 1))\"}"
        link $P-n$n "$tap" $vm eth0
        in_ns $vm ip link set eth0 address "$(mac $i $n)"
        in_ns $vm ip addr add "$subnet.$((n + 1))/24" dev eth0
        vsctl $n -- --may-exist add-port br-int "$tap" -- set Interface "$tap" \
            external_ids:iface-id="$port" external_ids:attached-mac="$(mac $i $n)" \
            external_ids:iface-status=active external_ids:vm-uuid="vm-$name$n"
    done
done
for n in 0 1; do
    for i in 1 2; do wait_event $n "$(port_id $i $n)" 60; done
done
echo "== every port bound and reported up ($(( $(date +%s) - start )) s); l2pop tells each agent where the other node's VMs are"
for n in 0 1; do
    r=$((1 - n))
    for i in 1 2; do
        set -- ${NETS[$((i - 1))]}
        tell $n "{\"cmd\": \"fdb_add\", \"network\": \"$(net_id $i)\", \"remote_ip\": \"192.168.1.$((254 - r))\", \"ports\": [[\"$(mac $i $r)\", \"$4.$((r + 1))\"]]}"
    done
done

for i in 1 2; do
    set -- ${NETS[$((i - 1))]}
    echo
    echo "\$ ip netns exec $P-${1}0 ping -c 3 $4.2     # $2 network, node 0 -> node 1"
    ok=false
    for _ in $(seq 30); do
        in_ns $P-${1}0 ping -c 1 -W 1 "$4.2" >/dev/null 2>&1 && { ok=true; break; }
    done
    $ok || { echo "the $2 VMs never reached each other" >&2; exit 1; }
    in_ns $P-${1}0 ping -c 3 -i 0.3 -W 2 "$4.2"
done

echo
echo "== node 0: ovs-ofctl -O OpenFlow13 dump-flows br-tun (the agent's tables as it installed them)"
ofctl 0 -O OpenFlow13 dump-flows br-tun
echo "== node 0: ovs-ofctl dump-ports br-tun"
ofctl 0 dump-ports br-tun
echo "== node 0: xvsctl dp-show"
"$BIN/xvsctl" --socket "$DIR/n0/xvsd.sock" dp-show

echo
echo "What this showed: the unmodified neutron-openvswitch-agent configured xvsd as it"
echo "configures ovs-vswitchd (OVSDB for bridges, ports, tunnels and VLAN tags; OpenFlow"
echo "1.3 from its os-ken controller for the tables). The VMs' frames crossed br-int"
echo "(the agent's ARP/MAC spoofing checks, NORMAL with the local VLAN), br-tun (table 20:"
echo "l2pop unicast flows to the other node, table 21: the ARP responder) and the VXLAN"
echo "and GRE tunnels over the underlay. The n_packets counters above are those pings."
echo "Took $(( $(date +%s) - start )) s after the build."
