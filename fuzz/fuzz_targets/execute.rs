//! The datapath action executor (`execute`) on any frame, with any action list and any
//! headroom.
//!
//! Beyond "no panic", for the whole list: every output is emitted or counted as too big;
//! the only errors are a push without headroom and a tunnel packet over 64 KiB; the
//! frame never grows past its buffer. And action by action, on a fresh copy: `Output`
//! sends the frame as it is; a tunnel output, decapsulated, gives back the frame, the
//! addresses and the key, and leaves the frame as it was; a pushed tag popped again
//! gives back the frame; rewrites keep the frame's length, and keep a right IPv4 header
//! checksum and UDP checksum right.

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use xvs_dataplane::wire::{Ipv4Packet, UdpPacket};
use xvs_dataplane::{
    decap_tunnel, execute, DpAction, ExecError, FlowKey, FrameBuf, MacAddr, Tpid, TunnelHeader,
    TunnelKind, TunnelType, WireError,
};

fn mac(u: &mut Unstructured) -> Result<MacAddr> {
    Ok(MacAddr(u.arbitrary()?))
}

fn ip(u: &mut Unstructured) -> Result<Ipv4Addr> {
    Ok(Ipv4Addr::from(u.arbitrary::<u32>()?))
}

fn ip6(u: &mut Unstructured) -> Result<Ipv6Addr> {
    Ok(Ipv6Addr::from(u.arbitrary::<u128>()?))
}

fn tunnel_header(u: &mut Unstructured) -> Result<TunnelHeader> {
    let kind = if u.arbitrary()? {
        TunnelKind::Gre {
            key: u.arbitrary()?,
            csum: u.arbitrary()?,
        }
    } else {
        TunnelKind::Vxlan {
            vni: u.arbitrary()?,
            src_port: u.arbitrary()?,
        }
    };
    Ok(TunnelHeader {
        kind,
        eth_src: mac(u)?,
        eth_dst: mac(u)?,
        ip_src: ip(u)?,
        ip_dst: ip(u)?,
        ttl: u.arbitrary()?,
        tos: u.arbitrary()?,
        dont_fragment: u.arbitrary()?,
        mtu: *u.choose(&[u16::MAX, 1500, 9000, 60, 0])?,
    })
}

fn action(u: &mut Unstructured) -> Result<DpAction> {
    Ok(match u.int_in_range(0u8..=30)? {
        0 => DpAction::Output(u.arbitrary()?),
        1 => DpAction::PushVlan {
            tpid: match u.int_in_range(0u8..=3)? {
                0 => Tpid::Received,
                1 => Tpid::Is(0x8100),
                2 => Tpid::Is(0x88a8),
                _ => Tpid::Is(u.arbitrary()?),
            },
            tci: u.arbitrary()?,
        },
        2 => DpAction::PopVlan,
        3 => DpAction::SetVlan(u.arbitrary()?),
        4 => DpAction::SetEthSrc(mac(u)?),
        5 => DpAction::SetEthDst(mac(u)?),
        6 => DpAction::SetArpOp(u.arbitrary()?),
        7 => DpAction::SetArpSha(mac(u)?),
        8 => DpAction::SetArpTha(mac(u)?),
        9 => DpAction::SetArpSpa(ip(u)?),
        10 => DpAction::SetArpTpa(ip(u)?),
        11 => DpAction::SetIpv4Src(ip(u)?),
        12 => DpAction::SetIpv4Dst(ip(u)?),
        13 => DpAction::SetIpv4Tos(u.arbitrary()?),
        14 => DpAction::SetIpv4Ttl(u.arbitrary()?),
        15 => DpAction::SetIpv6Src(ip6(u)?),
        16 => DpAction::SetIpv6Dst(ip6(u)?),
        17 => DpAction::SetIpv6Tclass(u.arbitrary()?),
        18 => DpAction::SetIpv6HopLimit(u.arbitrary()?),
        19 => DpAction::SetTcpSrc(u.arbitrary()?),
        20 => DpAction::SetTcpDst(u.arbitrary()?),
        21 => DpAction::SetUdpSrc(u.arbitrary()?),
        22 => DpAction::SetUdpDst(u.arbitrary()?),
        23 => DpAction::SetIcmpType(u.arbitrary()?),
        24 => DpAction::SetIcmpCode(u.arbitrary()?),
        25 => DpAction::SetIcmpv6Type(u.arbitrary()?),
        26 => DpAction::SetIcmpv6Code(u.arbitrary()?),
        27 => DpAction::SetNdTarget(ip6(u)?),
        28 => DpAction::SetNdSll(mac(u)?),
        29 => DpAction::SetNdTll(mac(u)?),
        _ => DpAction::TunnelOutput {
            port: u.arbitrary()?,
            header: tunnel_header(u)?,
        },
    })
}

/// The input: a headroom, up to 8 actions (each led by a byte saying whether another
/// follows), then the frame (the rest).
fn input(data: &[u8]) -> Result<(usize, Vec<DpAction>, &[u8])> {
    let mut u = Unstructured::new(data);
    let headroom = *u.choose(&[0usize, 4, 16, 64, 256])?;
    let mut actions = Vec::new();
    while actions.len() < 8 && u.arbitrary::<bool>()? {
        actions.push(action(&mut u)?);
    }
    let n = u.len();
    let frame = &data[data.len() - n..];
    Ok((headroom, actions, frame))
}

/// Where the IPv4 header is, when the frame is IPv4 (untagged or behind one tag), as
/// the executor finds it.
fn ipv4_offset(frame: &[u8]) -> Option<usize> {
    let k = FlowKey::extract(0, frame).ok()?;
    if k.dl_type != 0x0800 {
        return None;
    }
    Some(if k.vlan_tci != 0 { 18 } else { 14 })
}

/// (IPv4 header checksum right, UDP checksum right) of an IPv4 frame.
fn checksums(frame: &[u8]) -> Option<(bool, Option<bool>)> {
    let ip = Ipv4Packet::new_checked(frame.get(ipv4_offset(frame)?..)?).ok()?;
    let udp = (ip.protocol() == 17 && ip.frag_offset() == 0 && !ip.more_frags())
        .then(|| UdpPacket::new_checked(ip.payload()).ok())
        .flatten()
        .map(|u| u.verify_checksum_ipv4(ip.src_addr(), ip.dst_addr()));
    Some((ip.verify_checksum(), udp))
}

fn one_action(a: &DpAction, frame: &[u8], headroom: usize) {
    let mut f = FrameBuf::with_headroom(frame, headroom);
    let mut out = Vec::new();
    let r = execute(std::slice::from_ref(a), &mut f, |p, b| {
        out.push((p, b.to_vec()))
    });
    match *a {
        DpAction::Output(p) => {
            assert_eq!(r, Ok(Default::default()));
            assert_eq!(out, vec![(p, frame.to_vec())]);
        }
        DpAction::TunnelOutput { port, header } => {
            assert_eq!(
                f.data(),
                frame,
                "a tunnel output leaves the frame as it was"
            );
            let Some((p, packet)) = out.first() else {
                return;
            };
            assert_eq!(*p, port);
            if frame.len() < 14 {
                // No inner Ethernet header: decap refuses it, rightly.
                return;
            }
            let d = decap_tunnel(packet).expect("our own tunnel packet decapsulates");
            let (kind, key) = match header.kind {
                TunnelKind::Gre { key, .. } => (TunnelType::Gre, key),
                TunnelKind::Vxlan { vni, .. } => (TunnelType::Vxlan, Some(vni & 0xff_ffff)),
            };
            assert_eq!(
                (d.kind, d.outer_src, d.outer_dst, d.key),
                (kind, header.ip_src, header.ip_dst, key)
            );
            assert_eq!(&packet[d.inner_range()], frame);
        }
        DpAction::PushVlan { .. } => {
            if r.is_err() || frame.len() < 14 {
                return;
            }
            let tagged = f.data().to_vec();
            assert_eq!(tagged.len(), frame.len() + 4);
            let tpid = u16::from_be_bytes([tagged[12], tagged[13]]);
            if tpid == 0x8100 || tpid == 0x88a8 {
                execute(&[DpAction::PopVlan], &mut f, |_, _| {}).unwrap();
                assert_eq!(f.data(), frame, "push then pop gives the frame back");
            }
        }
        DpAction::PopVlan => {
            r.unwrap();
            assert!(f.data().len() == frame.len() || f.data().len() + 4 == frame.len());
        }
        _ => {
            r.unwrap();
            assert_eq!(f.data().len(), frame.len(), "{a:?} keeps the length");
            assert!(out.is_empty());
            if let (Some((ip_ok, udp_ok)), Some((ip_after, udp_after))) =
                (checksums(frame), checksums(f.data()))
            {
                if ip_ok {
                    assert!(ip_after, "{a:?} keeps the IPv4 header checksum right");
                }
                if udp_ok == Some(true)
                    && matches!(
                        a,
                        DpAction::SetIpv4Src(_)
                            | DpAction::SetIpv4Dst(_)
                            | DpAction::SetUdpSrc(_)
                            | DpAction::SetUdpDst(_)
                    )
                {
                    assert_eq!(udp_after, Some(true), "{a:?} keeps the UDP checksum right");
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok((headroom, actions, frame)) = input(data) else {
        return;
    };

    let mut f = FrameBuf::with_headroom(frame, headroom);
    let mut outputs = 0usize;
    let r = execute(&actions, &mut f, |_, out| {
        outputs += 1;
        let _ = FlowKey::extract(5, out);
        let _ = decap_tunnel(out);
    });
    match r {
        Ok(done) => {
            let expected = actions
                .iter()
                .filter(|a| matches!(a, DpAction::Output(_) | DpAction::TunnelOutput { .. }))
                .count();
            assert_eq!(outputs + done.too_big as usize, expected);
        }
        Err(ExecError::NoHeadroom { .. })
        | Err(ExecError::Wire(WireError::PacketTooLarge { .. })) => {}
        Err(e) => panic!("unexpected execute error {e:?}"),
    }
    assert!(f.len() + f.headroom() <= frame.len() + headroom);

    for a in &actions {
        one_action(a, frame, headroom);
    }
});
