//! The workers' cache entries as `ovs-appctl dpctl/dump-flows` prints a datapath's
//! flows: the masked key in OVS's datapath-flow syntax (`in_port(2),eth(...),
//! eth_type(0x0800),ipv4(...)`), then the entry's own counters and its actions.
//!
//! As OVS's `odp_flow_format` without `-m`: a field the mask wildcards is left out, a
//! field partly masked is `value/mask`, an attribute with nothing left is left out.
//! Differences, from what xvs's key holds: no `recirc_id`, `packet_type`, `skb_*`,
//! `ct_*` or `frag` (xvs has none of them), `tunnel()` holds only `tun_id`, and a
//! VLAN's TPID is always shown as 0x8100 (the key does not keep it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::{DpAction, FlowKey, MacAddr, PortNo};

use super::datapath::dp_action_text;
use crate::ofproto::table::Time;

const IPV6: u16 = 0x86dd;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;

/// One cache entry, as read from the worker that owns it.
#[derive(Clone, Debug)]
pub struct DpFlow {
    /// The key, masked.
    pub key: FlowKey,
    pub mask: FlowKey,
    pub actions: Vec<DpAction>,
    pub packets: u64,
    pub bytes: u64,
    /// When it last forwarded a packet (the control thread's clock), if it ever did.
    pub used: Option<Time>,
}

/// Ports shown by number, or by name (`--names`) where a name is known.
pub struct DpPortNames<'a> {
    pub names: Option<&'a BTreeMap<PortNo, String>>,
}

impl DpPortNames<'_> {
    fn port(&self, p: PortNo) -> String {
        match self.names.and_then(|n| n.get(&p)) {
            Some(n) => n.clone(),
            None => p.to_string(),
        }
    }
}

/// A list of `name=value[/mask]`, fields the mask wildcards left out.
struct Attr {
    name: &'static str,
    fields: Vec<String>,
}

impl Attr {
    fn new(name: &'static str) -> Self {
        Attr {
            name,
            fields: Vec::new(),
        }
    }

    /// A field shown with `show`, and with `/mask` unless the mask is all ones.
    fn field<T: PartialEq + Copy>(
        &mut self,
        name: &str,
        value: T,
        mask: T,
        zero: T,
        ones: T,
        show: impl Fn(T) -> String,
    ) {
        if mask == zero {
            return;
        }
        if mask == ones {
            self.fields.push(format!("{name}={}", show(value)));
        } else {
            self.fields
                .push(format!("{name}={}/{}", show(value), show(mask)));
        }
    }

    fn u8d(&mut self, name: &str, v: u8, m: u8) {
        self.field(name, v, m, 0, u8::MAX, |x| x.to_string());
    }

    fn u8x(&mut self, name: &str, v: u8, m: u8) {
        self.field(name, v, m, 0, u8::MAX, |x| {
            if x == 0 {
                "0".into()
            } else {
                format!("{x:#x}")
            }
        });
    }

    fn u16d(&mut self, name: &str, v: u16, m: u16) {
        // OVS prints a partly masked port as decimal/hex mask.
        if m == 0 {
            return;
        }
        if m == u16::MAX {
            self.fields.push(format!("{name}={v}"));
        } else {
            self.fields.push(format!("{name}={v}/{m:#x}"));
        }
    }

    fn ipv4(&mut self, name: &str, v: u32, m: u32) {
        self.field(name, v, m, 0, u32::MAX, |x| Ipv4Addr::from(x).to_string());
    }

    fn ipv6(&mut self, name: &str, v: u128, m: u128) {
        self.field(name, v, m, 0, u128::MAX, |x| Ipv6Addr::from(x).to_string());
    }

    fn mac(&mut self, name: &str, v: MacAddr, m: MacAddr) {
        self.field(name, v, m, MacAddr([0; 6]), MacAddr::BROADCAST, |x| {
            x.to_string()
        });
    }

    fn push_to(self, out: &mut Vec<String>) {
        if !self.fields.is_empty() {
            out.push(format!("{}({})", self.name, self.fields.join(",")));
        }
    }
}

/// A masked key in OVS's datapath-flow syntax.
pub fn format_odp_key(key: &FlowKey, mask: &FlowKey, ports: &DpPortNames<'_>) -> String {
    let (k, m) = (key, mask);
    let mut out: Vec<String> = Vec::new();
    if m.tun_id != 0 && k.tun_id != 0 {
        let v = if m.tun_id == u64::MAX {
            format!("tun_id={:#x}", k.tun_id)
        } else {
            format!("tun_id={:#x}/{:#x}", k.tun_id, m.tun_id)
        };
        out.push(format!("tunnel({v})"));
    }
    if m.in_port != 0 {
        out.push(format!("in_port({})", ports.port(k.in_port)));
    }
    let mut eth = Attr::new("eth");
    eth.mac("src", k.dl_src, m.dl_src);
    eth.mac("dst", k.dl_dst, m.dl_dst);
    eth.push_to(&mut out);
    // A tagged packet: the tag, then what it holds inside `encap()`.
    let tagged = m.vlan_tci & VLAN_PRESENT != 0 && k.vlan_tci & VLAN_PRESENT != 0;
    let mut inner: Vec<String> = Vec::new();
    let body = if tagged {
        out.push(format!("eth_type({:#06x})", ethertype::VLAN));
        let mut vlan = Attr::new("vlan");
        let (vid_v, vid_m) = (k.vlan_tci & 0x0fff, m.vlan_tci & 0x0fff);
        let (pcp_v, pcp_m) = (k.vlan_tci >> 13, m.vlan_tci >> 13);
        vlan.field("vid", vid_v, vid_m, 0, 0x0fff, |x| x.to_string());
        vlan.field("pcp", pcp_v, pcp_m, 0, 0x7, |x| x.to_string());
        if vlan.fields.is_empty() {
            vlan.fields.push("cfi=1".into());
        }
        vlan.push_to(&mut out);
        &mut inner
    } else {
        &mut out
    };
    if m.dl_type != 0 {
        body.push(if m.dl_type == u16::MAX {
            format!("eth_type({:#06x})", k.dl_type)
        } else {
            format!("eth_type({:#06x}/{:#06x})", k.dl_type, m.dl_type)
        });
    }
    let typed = m.dl_type == u16::MAX;
    match k.dl_type {
        ethertype::IPV4 if typed => {
            let mut ip = Attr::new("ipv4");
            ip.ipv4("src", k.nw_src, m.nw_src);
            ip.ipv4("dst", k.nw_dst, m.nw_dst);
            ip.u8d("proto", k.nw_proto, m.nw_proto);
            ip.u8x("tos", k.nw_tos, m.nw_tos);
            ip.u8d("ttl", k.nw_ttl, m.nw_ttl);
            ip.push_to(body);
            l4(k, m, false, body);
        }
        IPV6 if typed => {
            let mut ip = Attr::new("ipv6");
            ip.ipv6("src", k.ipv6_src, m.ipv6_src);
            ip.ipv6("dst", k.ipv6_dst, m.ipv6_dst);
            ip.u8d("proto", k.nw_proto, m.nw_proto);
            ip.u8x("tclass", k.nw_tos, m.nw_tos);
            ip.u8d("hlimit", k.nw_ttl, m.nw_ttl);
            ip.push_to(body);
            l4(k, m, true, body);
        }
        ethertype::ARP | ethertype::RARP if typed => {
            let mut arp = Attr::new("arp");
            arp.ipv4("sip", k.nw_src, m.nw_src);
            arp.ipv4("tip", k.nw_dst, m.nw_dst);
            arp.u8d("op", k.nw_proto, m.nw_proto);
            arp.mac("sha", k.arp_sha, m.arp_sha);
            arp.mac("tha", k.arp_tha, m.arp_tha);
            arp.push_to(body);
        }
        _ => {}
    }
    if tagged && !inner.is_empty() {
        out.push(format!("encap({})", inner.join(",")));
    }
    out.join(",")
}

/// The transport header's attribute, when the protocol is known exactly.
fn l4(k: &FlowKey, m: &FlowKey, ipv6: bool, out: &mut Vec<String>) {
    if m.nw_proto != u8::MAX {
        return;
    }
    let name = match (k.nw_proto, ipv6) {
        (IPPROTO_TCP, _) => "tcp",
        (IPPROTO_UDP, _) => "udp",
        (IPPROTO_ICMP, false) => "icmp",
        (IPPROTO_ICMPV6, true) => "icmpv6",
        _ => return,
    };
    let mut a = Attr::new(name);
    if matches!(name, "icmp" | "icmpv6") {
        a.u8d("type", k.tp_src as u8, m.tp_src as u8);
        a.u8d("code", k.tp_dst as u8, m.tp_dst as u8);
    } else {
        a.u16d("src", k.tp_src, m.tp_src);
        a.u16d("dst", k.tp_dst, m.tp_dst);
    }
    a.push_to(out);
    if name == "icmpv6" && m.nd_target != 0 {
        let mut nd = Attr::new("nd");
        nd.ipv6("target", k.nd_target, m.nd_target);
        nd.push_to(out);
    }
}

/// One line of `dpctl/dump-flows`: key, counters, actions.
pub fn format_dp_flow(f: &DpFlow, now: Time, ports: &DpPortNames<'_>) -> String {
    let mut s = format_odp_key(&f.key, &f.mask, ports);
    let _ = write!(s, ", packets:{}, bytes:{}, used:", f.packets, f.bytes);
    match f.used {
        Some(t) => {
            let ms = now.saturating_sub(t);
            let _ = write!(s, "{}.{:03}s", ms / 1000, ms % 1000);
        }
        None => s.push_str("never"),
    }
    s.push_str(", actions:");
    if f.actions.is_empty() {
        s.push_str("drop");
    } else {
        let acts: Vec<String> = f
            .actions
            .iter()
            .map(|a| match (a, ports.names) {
                (DpAction::Output(p), Some(_)) => ports.port(*p),
                _ => dp_action_text(a),
            })
            .collect();
        s.push_str(&acts.join(","));
    }
    s
}

/// `dpctl/dump-flows`: per worker, a `flow-dump from ...:` line (as OVS's per-thread
/// dump) and its entries.
pub fn dump_flows_text(
    workers: &[(String, Vec<DpFlow>)],
    now: Time,
    ports: &DpPortNames<'_>,
) -> String {
    let mut s = String::new();
    for (title, flows) in workers {
        let _ = writeln!(s, "flow-dump from {title}:");
        for f in flows {
            s.push_str(&format_dp_flow(f, now, ports));
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(b: u8) -> MacAddr {
        MacAddr([0, 0, 0, 0, 0, b])
    }

    #[test]
    fn keys_as_ovs_writes_datapath_flows() {
        let none = DpPortNames { names: None };
        // An L2 entry, untagged, IPv4 consulted only by its type.
        let key = FlowKey {
            in_port: 2,
            dl_src: mac(1),
            dl_dst: mac(2),
            dl_type: ethertype::IPV4,
            nw_src: 0x0a00_0001,
            ..FlowKey::default()
        };
        let mask = FlowKey {
            in_port: u32::MAX,
            tun_id: u64::MAX,
            vlan_tci: u16::MAX,
            dl_src: MacAddr::BROADCAST,
            dl_dst: MacAddr::BROADCAST,
            dl_type: u16::MAX,
            ..FlowKey::default()
        };
        assert_eq!(
            format_odp_key(&key.masked(&mask), &mask, &none),
            "in_port(2),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800)"
        );
        // Tagged, from a tunnel, with IPv4 and TCP fields, one address masked.
        let key = FlowKey {
            tun_id: 0x3e7,
            vlan_tci: VLAN_PRESENT | 5,
            nw_proto: IPPROTO_TCP,
            nw_dst: 0x0a00_0200,
            tp_dst: 80,
            ..key
        };
        let mask = FlowKey {
            dl_src: MacAddr([0; 6]),
            nw_dst: 0xffff_ff00,
            nw_proto: u8::MAX,
            tp_dst: u16::MAX,
            ..mask
        };
        assert_eq!(
            format_odp_key(&key.masked(&mask), &mask, &none),
            "tunnel(tun_id=0x3e7),in_port(2),eth(dst=00:00:00:00:00:02),eth_type(0x8100),vlan(vid=5,pcp=0),encap(eth_type(0x0800),ipv4(dst=10.0.2.0/255.255.255.0,proto=6),tcp(dst=80))"
        );
        let f = DpFlow {
            key,
            mask,
            actions: vec![DpAction::PopVlan, DpAction::Output(3)],
            packets: 2,
            bytes: 120,
            used: Some(1_000),
        };
        let names: BTreeMap<PortNo, String> = [(2, "p1".to_string()), (3, "p2".to_string())]
            .into_iter()
            .collect();
        let named = DpPortNames {
            names: Some(&names),
        };
        let line = format_dp_flow(&f, 2_250, &named);
        assert!(
            line.starts_with("tunnel(tun_id=0x3e7),in_port(p1),"),
            "{line}"
        );
        assert!(
            line.ends_with(", packets:2, bytes:120, used:1.250s, actions:pop_vlan,p2"),
            "{line}"
        );
        let never = DpFlow {
            used: None,
            actions: Vec::new(),
            ..f
        };
        assert!(format_dp_flow(&never, 0, &none).ends_with(", used:never, actions:drop"));
    }
}
