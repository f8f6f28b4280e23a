//! The daemon's rtnetlink queries against a real kernel: two namespaces joined by a veth
//! pair stand for this node and a remote one, plus a route via the remote as gateway.
//! Needs root (namespaces, veths); fails loudly without it.

use std::fs;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use xvs_daemon::netlink::{resolve_by_udp, Link, NeighbourState, Route, Rtnl};
use xvs_dataplane::testnet::{in_netns, mac_of, require_root, unique_name, veth_pair, Netns};
use xvs_dataplane::MacAddr;

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 253);
const NOBODY: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 200);
const FAR: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 1);

/// Polls the neighbour entry of `ip` until it has a usable MAC (or `limit` passes).
fn wait_for_mac(nl: &mut Rtnl, ifindex: u32, ip: Ipv4Addr, limit: Duration) -> Option<MacAddr> {
    let deadline = Instant::now() + limit;
    loop {
        let n = nl.neighbour(ifindex, ip).expect("RTM_GETNEIGH");
        if let Some(mac) = n.and_then(|n| n.usable_mac()) {
            return Some(mac);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Net {
    va: String,
    vb: String,
    // Dropped in this order: the pair, then the namespaces.
    _pair: xvs_dataplane::testnet::VethPair,
    a: Netns,
    b: Netns,
}

fn two_nodes() -> Net {
    require_root();
    let a = Netns::new("nla");
    let b = Netns::new("nlb");
    let va = unique_name("va");
    let vb = unique_name("vb");
    let pair = veth_pair(&va, &vb, Some(&a), Some(&b));
    // A non-default MTU, to see it is read rather than assumed.
    a.ip(&["link", "set", "dev", &va, "mtu", "1400"]);
    b.ip(&["link", "set", "dev", &vb, "mtu", "1400"]);
    a.ip(&["addr", "add", "192.168.1.254/24", "dev", &va]);
    b.ip(&["addr", "add", "192.168.1.253/24", "dev", &vb]);
    a.ip(&["route", "add", "10.9.0.0/16", "via", "192.168.1.253"]);
    // Routes the kernel refuses to send on, each with its own errno.
    a.ip(&["route", "add", "blackhole", "10.66.0.0/16"]);
    a.ip(&["route", "add", "unreachable", "10.77.0.0/16"]);
    a.ip(&["route", "add", "prohibit", "10.88.0.0/16"]);
    Net {
        va,
        vb,
        _pair: pair,
        a,
        b,
    }
}

#[test]
fn links_routes_and_neighbours_of_an_underlay() {
    let net = two_nodes();
    let mac_a = MacAddr(mac_of(Some(&net.a), &net.va));
    let mac_b = MacAddr(mac_of(Some(&net.b), &net.vb));
    let va = net.va.clone();

    let link: Link = in_netns(&net.a, || {
        let mut nl = Rtnl::open().expect("rtnetlink socket");

        let link = nl
            .link_with_address(LOCAL)
            .unwrap()
            .expect("the veth holds 192.168.1.254");
        assert_eq!(link.name, va);
        assert_eq!(link.mac, mac_a);
        assert_eq!(link.mtu, 1400);
        assert!(link.up, "{link:?}");
        assert_eq!(nl.link_by_name(&va).unwrap().as_ref(), Some(&link));
        assert_eq!(nl.link_by_index(link.index).unwrap().as_ref(), Some(&link));
        assert_eq!(nl.link_with_address(NOBODY).unwrap(), None);
        // The peer's address is on-link but not ours.
        assert_eq!(nl.link_with_address(PEER).unwrap(), None);

        assert_eq!(
            nl.route_to(PEER).unwrap(),
            Some(Route {
                oif: link.index,
                gateway: None,
                prefsrc: Some(LOCAL),
            })
        );
        let far = nl.route_to(FAR).unwrap().expect("route via the gateway");
        assert_eq!((far.oif, far.gateway), (link.index, Some(PEER)));
        assert_eq!(far.next_hop(FAR), PEER);
        // No default route in the namespace; then blackhole, unreachable, prohibit.
        for dst in [
            [172, 31, 1, 1],
            [10, 66, 1, 1],
            [10, 77, 1, 1],
            [10, 88, 1, 1],
        ] {
            let dst = Ipv4Addr::from(dst);
            assert_eq!(nl.route_to(dst).unwrap(), None, "{dst}");
        }
        // Our own address is local, not sent out of the veth.
        assert_eq!(nl.route_to(LOCAL).unwrap(), None);

        assert_eq!(nl.neighbour(link.index, PEER).unwrap(), None);
        nl.request_resolution(link.index, PEER).unwrap();
        assert_eq!(
            wait_for_mac(&mut nl, link.index, PEER, Duration::from_secs(1)),
            Some(mac_b),
            "the kernel resolved the peer after request_resolution"
        );
        // Asking again for a resolved entry changes nothing.
        nl.request_resolution(link.index, PEER).unwrap();
        assert_eq!(
            nl.neighbour(link.index, PEER)
                .unwrap()
                .and_then(|n| n.usable_mac()),
            Some(mac_b)
        );

        // Nobody answers for this one: the entry exists but has no usable MAC.
        nl.request_resolution(link.index, NOBODY).unwrap();
        let n = nl.neighbour(link.index, NOBODY).unwrap().expect("an entry");
        assert!(
            matches!(n.state, NeighbourState::Incomplete | NeighbourState::Failed),
            "{n:?}"
        );
        assert_eq!(n.usable_mac(), None);
        link
    });

    // The peer changes its MAC; once the kernel re-learns it, the new one is reported.
    let moved = MacAddr([0x02, 0x58, 0x56, 0x00, 0x00, 0x53]);
    net.b
        .ip(&["link", "set", "dev", &net.vb, "address", &moved.to_string()]);
    net.a
        .ip(&["neigh", "del", &PEER.to_string(), "dev", &net.va]);
    in_netns(&net.a, || {
        let mut nl = Rtnl::open().unwrap();
        assert_eq!(nl.neighbour(link.index, PEER).unwrap(), None);
        nl.request_resolution(link.index, PEER).unwrap();
        assert_eq!(
            wait_for_mac(&mut nl, link.index, PEER, Duration::from_secs(1)),
            Some(moved)
        );
    });

    // The fallback alone: a datagram out of the device makes the kernel resolve too.
    let moved2 = MacAddr([0x02, 0x58, 0x56, 0x00, 0x00, 0x54]);
    net.b.ip(&[
        "link",
        "set",
        "dev",
        &net.vb,
        "address",
        &moved2.to_string(),
    ]);
    net.a
        .ip(&["neigh", "del", &PEER.to_string(), "dev", &net.va]);
    in_netns(&net.a, || {
        let mut nl = Rtnl::open().unwrap();
        assert_eq!(nl.neighbour(link.index, PEER).unwrap(), None);
        resolve_by_udp(&link.name, PEER).unwrap();
        assert_eq!(
            wait_for_mac(&mut nl, link.index, PEER, Duration::from_secs(1)),
            Some(moved2)
        );
    });
}

/// An address dump spread over many datagrams (NLM_F_MULTI until NLMSG_DONE): 1200
/// extra addresses on the veth, the one sought added last.
#[test]
fn address_dump_over_many_datagrams() {
    let net = two_nodes();
    let batch = std::env::temp_dir().join(format!("{}.ip-batch", net.va));
    let mut lines = String::new();
    for i in 0..1200u32 {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 1)) + i);
        lines.push_str(&format!("addr add {ip}/32 dev {}\n", net.va));
    }
    fs::write(&batch, lines).unwrap();
    let r = std::panic::catch_unwind(|| net.a.ip(&["-batch", batch.to_str().unwrap()]));
    let _ = fs::remove_file(&batch);
    r.unwrap();
    let last = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 1)) + 1199);

    in_netns(&net.a, || {
        let mut nl = Rtnl::open().unwrap();
        let v = nl.link_with_address(last).unwrap().expect("the veth");
        assert_eq!(v.name, net.va);
        let b = nl.link_with_address(LOCAL).unwrap().expect("the veth");
        assert_eq!(b, v);
        assert_eq!(
            nl.link_with_address(Ipv4Addr::new(10, 201, 0, 1)).unwrap(),
            None
        );
    });
}
