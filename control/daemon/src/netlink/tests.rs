//! The rtnetlink exchange's pure parts, tested without a kernel (and one query of it).

use super::*;

const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

#[test]
fn kernel_states_map_one_to_one() {
    let pairs = [
        (NudState::Incomplete, NeighbourState::Incomplete),
        (NudState::Reachable, NeighbourState::Reachable),
        (NudState::Stale, NeighbourState::Stale),
        (NudState::Delay, NeighbourState::Delay),
        (NudState::Probe, NeighbourState::Probe),
        (NudState::Failed, NeighbourState::Failed),
        (NudState::Noarp, NeighbourState::NoArp),
        (NudState::Permanent, NeighbourState::Permanent),
        (NudState::None, NeighbourState::None),
    ];
    for (k, ours) in pairs {
        assert_eq!(NeighbourState::from(k), ours);
    }
    // Combined or unknown bits never look usable.
    assert_eq!(
        NeighbourState::from(NudState::from(0x06)),
        NeighbourState::None
    );
    assert_eq!(
        NeighbourState::from(NudState::from(0x100)),
        NeighbourState::None
    );
}

#[test]
fn usable_mac_only_for_states_the_kernel_sends_to() {
    use NeighbourState::*;
    for s in [Reachable, Stale, Delay, Probe, Permanent, NoArp] {
        let n = Neighbour {
            mac: Some(M),
            state: s,
        };
        assert_eq!(n.usable_mac(), Some(M), "{s:?}");
        let n = Neighbour {
            mac: Option::None,
            state: s,
        };
        assert_eq!(n.usable_mac(), Option::None, "{s:?} without an address");
        let n = Neighbour {
            mac: Some(MacAddr::ZERO),
            state: s,
        };
        assert_eq!(n.usable_mac(), Option::None, "{s:?} with a zero address");
    }
    for s in [Incomplete, Failed, None] {
        // A failed entry keeps its old address, which must not be used.
        let n = Neighbour {
            mac: Some(M),
            state: s,
        };
        assert_eq!(n.usable_mac(), Option::None, "{s:?}");
    }
}

#[test]
fn next_hop_is_gateway_or_destination() {
    let dst = Ipv4Addr::new(10, 9, 1, 1);
    let gw = Ipv4Addr::new(192, 168, 1, 253);
    let direct = Route {
        oif: 2,
        gateway: None,
        prefsrc: None,
    };
    let via = Route {
        oif: 2,
        gateway: Some(gw),
        prefsrc: None,
    };
    assert_eq!(direct.next_hop(dst), dst);
    assert_eq!(via.next_hop(dst), gw);
}

#[test]
fn address_entry_matches_local_before_peer() {
    let ip = Ipv4Addr::new(192, 168, 1, 254);
    let peer = Ipv4Addr::new(192, 168, 1, 1);
    let mut a = AddressMessage::default();
    a.attributes.push(AddressAttribute::Address(ip.into()));
    assert!(address_is(&a, ip));
    // Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
    let mut p2p = AddressMessage::default();
    p2p.attributes.push(AddressAttribute::Address(peer.into()));
    p2p.attributes.push(AddressAttribute::Local(ip.into()));
    assert!(address_is(&p2p, ip));
    assert!(!address_is(&p2p, peer));
}

#[test]
fn link_decoding_needs_name_and_mtu() {
    let mut l = LinkMessage::default();
    l.header.index = 7;
    l.header.flags = LinkFlags::Up | LinkFlags::Running;
    l.attributes.push(LinkAttribute::IfName("eth7".into()));
    l.attributes.push(LinkAttribute::Mtu(1400));
    l.attributes.push(LinkAttribute::Address(M.0.to_vec()));
    let link = link_from(l.clone()).unwrap();
    assert_eq!(
        link,
        Link {
            index: 7,
            name: "eth7".into(),
            mac: M,
            mtu: 1400,
            up: true
        }
    );
    // A 4-byte (GRE) link-layer address is no Ethernet address.
    let mut gre = l.clone();
    gre.attributes
        .retain(|a| !matches!(a, LinkAttribute::Address(_)));
    gre.attributes
        .push(LinkAttribute::Address(vec![10, 0, 0, 1]));
    gre.header.flags = LinkFlags::Up;
    let g = link_from(gre).unwrap();
    assert_eq!((g.mac, g.up), (MacAddr::ZERO, false));
    let mut nameless = l;
    nameless
        .attributes
        .retain(|a| !matches!(a, LinkAttribute::IfName(_)));
    assert!(matches!(
        link_from(nameless),
        Err(NetlinkError::Malformed { .. })
    ));
}

// The tests below ask the kernel of the namespace they run in about loopback only,
// which needs no privilege and exists everywhere.

#[test]
fn replies_larger_than_the_buffer_are_read_whole() {
    let mut nl = Rtnl::open().unwrap();
    nl.buf = vec![0; 16];
    let lo = nl.link_by_name("lo").unwrap().expect("lo");
    assert_eq!((lo.index, lo.name.as_str()), (1, "lo"));
    assert_eq!(nl.link_by_index(1).unwrap(), Some(lo.clone()));
    // A dump through the tiny buffer too.
    assert_eq!(nl.link_with_address(Ipv4Addr::LOCALHOST).unwrap(), Some(lo));
}

#[test]
fn stale_replies_are_skipped() {
    let mut nl = Rtnl::open().unwrap();
    // Replies to requests nobody waits for any more: a dump and a single get.
    let mut dump = AddressMessage::default();
    dump.header.family = AddressFamily::Inet;
    nl.send(RouteNetlinkMessage::GetAddress(dump), NLM_F_DUMP)
        .unwrap();
    let mut neigh = NeighbourMessage::default();
    neigh.header.family = AddressFamily::Inet;
    neigh.header.ifindex = 1;
    neigh
        .attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            Ipv4Addr::new(127, 0, 0, 9),
        )));
    nl.send(RouteNetlinkMessage::GetNeighbour(neigh), 0)
        .unwrap();
    let lo = nl.link_by_index(1).unwrap().expect("lo");
    assert_eq!(lo.name, "lo");
    assert!(nl.link_with_address(Ipv4Addr::LOCALHOST).unwrap().is_some());
}

#[test]
fn missing_things_are_none_not_errors() {
    let mut nl = Rtnl::open().unwrap();
    assert_eq!(nl.link_by_index(0).unwrap(), None);
    assert_eq!(nl.link_by_index(u32::MAX - 7).unwrap(), None);
    assert_eq!(nl.link_by_name("no-such-xvs-if").unwrap(), None);
    assert_eq!(nl.link_by_name("far-too-long-for-a-netdev").unwrap(), None);
    assert_eq!(nl.link_by_name("").unwrap(), None);
    // Loopback is local, not a unicast route out of a device.
    assert_eq!(nl.route_to(Ipv4Addr::LOCALHOST).unwrap(), None);
    assert_eq!(
        nl.neighbour(u32::MAX - 7, Ipv4Addr::LOCALHOST).unwrap(),
        None
    );
}

#[test]
fn kernel_error_names_the_errno() {
    let e = NetlinkError::Kernel {
        request: "RTM_GETROUTE",
        errno: libc::ENETUNREACH,
    };
    assert_eq!(e.errno(), Some(libc::ENETUNREACH));
    let text = e.to_string();
    assert!(
        text.contains("RTM_GETROUTE") && text.contains("errno 101"),
        "{text}"
    );
}

#[test]
fn setting_the_address_of_no_device_is_the_kernels_enodev() {
    let mut nl = Rtnl::open().unwrap();
    let e = nl
        .set_link_address(0x7fff_fff0, MacAddr([2, 0, 0, 0, 0, 9]))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    // The socket is still in step after the refusal.
    assert!(nl.link_by_name("lo").unwrap().is_some());
}
