#!/usr/bin/env bash
# The main job: the seed's two-node Folsom topology in network namespaces, one xvsd per
# node following its own ovsdb-server (configured with the real ovs-vsctl, as on an
# OpenStack node), a ping from the network node's DHCP-like port to a VM on the compute node across
# a GRE tunnel, a capture of a GRE packet on the underlay, and the counters that show
# where the packets went. Everything it creates is removed on exit, even on failure.
#
#   network node (netns $P-net)                     compute node (netns $P-cmp)
#   dhcp (netns $P-dhcp) 10.0.0.2                   vm (netns $P-vm) 10.0.0.3
#     fa:16:3e:dc:c5:23                               fa:16:3e:7a:7a:07
#        |                                               |
#   tap-dhcp  br-int tag 1                          tap-vm  br-int tag 7
#   patch-tun <-> patch-int br-tun gre-1 ====== GRE key 0x3e7 ====== gre-1 br-tun ...
#   ul-net 192.168.1.254                                     ul-cmp 192.168.1.253
#        \___ w-net --[ br0 in netns $P-wire ]-- w-cmp ___/   (the underlay switch)
#
# The capture is taken on the wire (w-cmp): on the nodes' own underlay netdevs the XDP
# program hands tunnel packets to xvs before any packet tap sees them.
#
# With --neutron it runs the second demo instead: the unmodified Neutron OVS agent on
# two xvs nodes (scripts/demo-neutron.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --neutron ]; then
    exec scripts/demo-neutron.sh
fi

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh needs root (network namespaces, XDP, AF_XDP)" >&2
    exit 1
fi
source scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

echo "== building xvs (release)"
cargo build --quiet --locked --release -p xvs-daemon --bin xvsd --bin xvsctl
BIN=$PWD/target/release
start=$(date +%s)

P=xd$$
NET=$P-net CMP=$P-cmp DHCP=$P-dhcp VM=$P-vm WIRE=$P-wire
DIR=$(mktemp -d /tmp/xvs-demo.XXXXXX)
PIDS=()

cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    # Nothing of ours may outlive the demo.
    pkill -f -- "--socket $DIR/" 2>/dev/null
    for ns in $NET $CMP $DHCP $VM $WIRE; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl() { local node=$1; shift; "$BIN/xvsctl" --socket "$DIR/$node.sock" "$@"; }
vsctl() { local node=$1; shift; ovs-vsctl --db="unix:$DIR/$node-db.sock" --timeout=10 "$@"; }

echo "== topology: namespaces $NET $CMP $DHCP $VM $WIRE"
for ns in $NET $CMP $DHCP $VM $WIRE; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
done
# veth ends are created in their namespaces; the kernel's IPv6 chatter is turned off
# so that the capture and the counters show only the demo's packets.
link() { # link NS_A IF_A NS_B IF_B
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
    for side in "$1 $2" "$3 $4"; do
        set -- $side
        in_ns "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
        in_ns "$1" ip link set "$2" up
    done
}
in_ns $WIRE ip link add br0 type bridge
in_ns $WIRE ip link set br0 up
link $NET ul-net $WIRE w-net
link $CMP ul-cmp $WIRE w-cmp
in_ns $WIRE ip link set w-net master br0
in_ns $WIRE ip link set w-cmp master br0
in_ns $NET ip addr add 192.168.1.254/24 dev ul-net
in_ns $CMP ip addr add 192.168.1.253/24 dev ul-cmp
link $NET tap-dhcp $DHCP eth0
link $CMP tap-vm $VM eth0
in_ns $DHCP ip link set eth0 address fa:16:3e:dc:c5:23
in_ns $DHCP ip addr add 10.0.0.2/24 dev eth0
in_ns $VM ip link set eth0 address fa:16:3e:7a:7a:07
in_ns $VM ip addr add 10.0.0.3/24 dev eth0
# XDP_REDIRECT into a veth needs NAPI on its peer: GRO on the far ends.
for ns_if in "$DHCP eth0" "$VM eth0"; do
    set -- $ns_if
    in_ns "$1" ethtool -K "$2" gro on >/dev/null
done

echo "== starting one ovsdb-server (Debian's, OVS's schema) and one xvsd per node"
for node in net cmp; do
    ovsdb-tool create "$DIR/$node.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$DIR/$node.db" --remote="punix:$DIR/$node-db.sock" \
        --unixctl="$DIR/$node-db.ctl" --log-file="$DIR/$node-db.log" --no-chdir \
        2>/dev/null &
    PIDS+=($!)
    for _ in $(seq 100); do [ -S "$DIR/$node-db.sock" ] && break; sleep 0.1; done
    vsctl $node --no-wait init
done
for node in net cmp; do
    ns=$P-$node
    # Not through in_ns: a backgrounded shell function is a subshell, and $! would be
    # that subshell, not xvsd (ip netns exec execs the daemon in its own place).
    ip netns exec "$ns" "$BIN/xvsd" --socket "$DIR/$node.sock" --workers 1 --log warn \
        "unix:$DIR/$node-db.sock" 2>"$DIR/$node.log" &
    PIDS+=($!)
done
for node in net cmp; do
    for _ in $(seq 100); do [ -S "$DIR/$node.sock" ] && break; sleep 0.1; done
    ctl $node show >/dev/null
done

# The Folsom guide's br-tun table: VLAN -> tunnel id out, tunnel id -> VLAN in.
brtun_flows() { # VLAN MAC
    cat <<EOF
priority=4,in_port=patch-int,dl_vlan=$1 actions=set_tunnel:0x3e7,output:gre-1
priority=3,tun_id=0x3e7,dl_dst=$2 actions=mod_vlan_vid:$1,output:patch-int
priority=3,tun_id=0x3e7,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:$1,output:patch-int
priority=1 actions=drop
EOF
}
configure() { # NODE TAP VLAN LOCAL REMOTE MAC
    local node=$1 tap=$2 vlan=$3 local_ip=$4 remote_ip=$5 mac=$6
    # Bridges and ports as the OVS agent makes them, through the database (each
    # ovs-vsctl waits until xvsd has applied it).
    echo "\$ ovs-vsctl add-br br-int -- add-br br-tun -- add-port br-int $tap tag=$vlan ... ($node)"
    vsctl $node add-br br-int -- add-br br-tun
    vsctl $node add-port br-int "$tap" tag="$vlan"
    vsctl $node add-port br-int patch-tun -- set Interface patch-tun type=patch options:peer=patch-int
    vsctl $node add-port br-tun patch-int -- set Interface patch-int type=patch \
        options:peer=patch-tun ofport_request=1
    vsctl $node add-port br-tun gre-1 -- set Interface gre-1 type=gre \
        options:remote_ip="$remote_ip" options:local_ip="$local_ip" options:key=flow ofport_request=2
    brtun_flows "$vlan" "$mac" >"$DIR/$node.flows"
    ctl $node replace-flows br-tun "$DIR/$node.flows"
}
echo "== configuring both nodes with ovs-vsctl, flows through xvsctl (network node: tag 1, compute node: tag 7, tunnel id 0x3e7)"
configure net tap-dhcp 1 192.168.1.254 192.168.1.253 fa:16:3e:dc:c5:23
configure cmp tap-vm 7 192.168.1.253 192.168.1.254 fa:16:3e:7a:7a:07

echo "== waiting for each node to resolve its next hop on the underlay (kernel neighbour table)"
for node in net cmp; do
    for _ in $(seq 50); do
        ctl $node show | grep -q "next hop .* at [0-9a-f][0-9a-f]:" && break
        sleep 0.1
    done
done

echo "== capturing GRE on the wire toward the compute node while the network node pings the VM"
in_ns $WIRE tcpdump -l -n -e -v -c 1 -i w-cmp 'ip proto 47' >"$DIR/capture" 2>"$DIR/tcpdump.err" &
TCPDUMP=$!
PIDS+=($TCPDUMP)
sleep 1
echo
echo "\$ ip netns exec $DHCP ping -c 3 10.0.0.3"
in_ns $DHCP ping -c 3 -i 0.3 -W 2 10.0.0.3
# tcpdump stops after one packet; if none came, it is stopped here.
( sleep 3; kill $TCPDUMP 2>/dev/null ) &
wait $TCPDUMP || true
echo
echo "== one GRE packet on the underlay (tcpdump on the wire, w-cmp): outer IPv4, key, protocol TEB, inner frame"
cat "$DIR/capture"
grep -q "key=0x3e7" "$DIR/capture" || { echo "no GRE packet with key 0x3e7 was captured" >&2; exit 1; }

echo
echo "== compute node: ovs-vsctl show (what xvsd wrote back: ofports, no errors)"
vsctl cmp show
echo "== compute node: xvsctl show"
ctl cmp show
echo "== compute node: xvsctl dump-flows br-tun"
ctl cmp dump-flows br-tun
echo "== network node: xvsctl dump-flows br-tun"
ctl net dump-flows br-tun
echo "== network node: xvsctl dp-show"
ctl net dp-show

echo
echo "What this showed: the DHCP port (VLAN 1 on the network node) pinged the VM (VLAN 7"
echo "on the compute node). br-int tagged the frames, br-tun's priority=4 flow set tunnel"
echo "id 0x3e7 and sent them out gre-1: xvs encapsulated them in GRE (key 0x3e7, protocol"
echo "0x6558 TEB) toward 192.168.1.253, next-hop MAC found in the kernel's neighbour table."
echo "The compute node's priority=3 flow turned tunnel id 0x3e7 into VLAN 7 and br-int"
echo "delivered the frame untagged to the VM; the replies took the way back. The n_packets"
echo "counters above are those packets; dp-show counts flow-cache hits and upcalls."
echo "Took $(( $(date +%s) - start )) s after the build."
