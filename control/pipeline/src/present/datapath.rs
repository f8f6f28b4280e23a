//! The datapath: its actions as `ovs-dpctl dump-flows` prints them, and `dp-show`
//! (per worker and in total, as `ovs-dpctl show` and `dpif-netdev/pmd-stats-show`).

use std::fmt::Write as _;

use serde_json::{json, Value};
use xvs_dataplane::actions::TunnelKind;
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::worker::{cycle_counter_hz, WorkerStatsSnapshot};
use xvs_dataplane::xdp_tier::TierStats;
use xvs_dataplane::{DpAction, PortNo, Tpid, TunnelHeader};

use crate::revalidator::RevalidatorStats;
use crate::switch::Switch;
use crate::topology::Topology;

/// Datapath actions with port names, comma-separated; `drop` for none.
pub fn format_dp_actions(topo: &Topology, actions: &[DpAction]) -> String {
    if actions.is_empty() {
        return "drop".to_string();
    }
    let acts: Vec<String> = actions.iter().map(|a| format_dp_action(topo, a)).collect();
    acts.join(",")
}

/// One datapath action, its ports shown as `number(name)`.
pub fn format_dp_action(topo: &Topology, a: &DpAction) -> String {
    let port = |p: &PortNo| match topo.dp_port_name(*p) {
        Some(n) => format!("{p}({n})"),
        None => p.to_string(),
    };
    match a {
        DpAction::Output(p) => port(p),
        DpAction::TunnelOutput { port: p, header } => {
            format!("tnl_push({},out_port({}))", header_text(header), port(p))
        }
        other => dp_action_text(other),
    }
}

/// One datapath action in the style of `ovs-dpctl dump-flows`, ports as numbers.
pub fn dp_action_text(a: &DpAction) -> String {
    use DpAction::*;
    let vlan = |tci: &u16| format!("vid={},pcp={}", tci & 0x0fff, tci >> 13);
    match a {
        Output(p) => p.to_string(),
        // As OVS: the TPID only when it is not 802.1Q's.
        PushVlan { tpid, tci } => match tpid {
            Tpid::Is(ethertype::VLAN) => format!("push_vlan({})", vlan(tci)),
            Tpid::Is(t) => format!("push_vlan(tpid={t:#06x},{})", vlan(tci)),
            Tpid::Received => format!("push_vlan(tpid=received,{})", vlan(tci)),
        },
        PopVlan => "pop_vlan".into(),
        SetVlan(t) => format!("set(vlan({}))", vlan(t)),
        SetEthSrc(m) => format!("set(eth(src={m}))"),
        SetEthDst(m) => format!("set(eth(dst={m}))"),
        SetArpOp(o) => format!("set(arp(op={o}))"),
        SetArpSha(m) => format!("set(arp(sha={m}))"),
        SetArpTha(m) => format!("set(arp(tha={m}))"),
        SetArpSpa(a) => format!("set(arp(sip={a}))"),
        SetArpTpa(a) => format!("set(arp(tip={a}))"),
        SetIpv4Src(a) => format!("set(ipv4(src={a}))"),
        SetIpv4Dst(a) => format!("set(ipv4(dst={a}))"),
        // OVS's format_odp_key_attr: tos and tclass as C's "%#x" (0 is "0"), the
        // rest in decimal, addresses as inet_ntop writes them.
        SetIpv4Tos(t) => format!("set(ipv4(tos={}))", c_hex(*t)),
        SetIpv4Ttl(t) => format!("set(ipv4(ttl={t}))"),
        SetIpv6Src(a) => format!("set(ipv6(src={a}))"),
        SetIpv6Dst(a) => format!("set(ipv6(dst={a}))"),
        SetIpv6Tclass(t) => format!("set(ipv6(tclass={}))", c_hex(*t)),
        SetIpv6HopLimit(h) => format!("set(ipv6(hlimit={h}))"),
        SetTcpSrc(p) => format!("set(tcp(src={p}))"),
        SetTcpDst(p) => format!("set(tcp(dst={p}))"),
        SetUdpSrc(p) => format!("set(udp(src={p}))"),
        SetUdpDst(p) => format!("set(udp(dst={p}))"),
        SetIcmpType(t) => format!("set(icmp(type={t}))"),
        SetIcmpCode(c) => format!("set(icmp(code={c}))"),
        SetIcmpv6Type(t) => format!("set(icmpv6(type={t}))"),
        SetIcmpv6Code(c) => format!("set(icmpv6(code={c}))"),
        SetNdTarget(a) => format!("set(nd(target={a}))"),
        SetNdSll(m) => format!("set(nd(sll={m}))"),
        SetNdTll(m) => format!("set(nd(tll={m}))"),
        TunnelOutput { port, header } => {
            format!("tnl_push({},out_port({port}))", header_text(header))
        }
    }
}

/// C's `printf("%#x")`: no prefix for zero.
fn c_hex(v: u8) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn header_text(h: &TunnelHeader) -> String {
    let (proto, encap) = match h.kind {
        TunnelKind::Gre { key, csum } => {
            let mut flags = 0u16;
            if csum {
                flags |= 0x8000;
            }
            if key.is_some() {
                flags |= 0x2000;
            }
            let key = key.map(|k| format!(",key={k:#x}")).unwrap_or_default();
            (47, format!("gre((flags={flags:#x},proto=0x6558){key})"))
        }
        TunnelKind::Vxlan { vni, src_port } => (
            17,
            format!("udp(src={src_port},dst=4789,csum=0x0),vxlan(flags=0x8000000,vni={vni:#x})"),
        ),
    };
    format!(
        "header(eth(dst={},src={},dl_type=0x0800),ipv4(src={},dst={},proto={},tos={:#x},ttl={},frag={}),{})",
        h.eth_dst,
        h.eth_src,
        h.ip_src,
        h.ip_dst,
        proto,
        h.tos,
        h.ttl,
        if h.dont_fragment { "0x4000" } else { "0" },
        encap
    )
}

/// `dp-show` as text: per worker and in total, then the upcall handler's figures.
pub fn dp_show_text(workers: &[WorkerStatsSnapshot], upcalls: &RevalidatorStats) -> String {
    let mut total = WorkerStatsSnapshot::default();
    let mut s = String::new();
    for st in workers {
        total += *st;
    }
    let line = |s: &mut String, name: &str, st: &WorkerStatsSnapshot| {
        let _ = write!(
            s,
            "  {name}: lookups: hit:{} missed:{} lost:{}  flows: {}  malformed:{} bad-tunnel:{} unknown-tunnel:{} too-big:{}",
            st.hits, st.misses, st.lost, st.entries, st.malformed, st.bad_tunnel, st.unknown_tunnel, st.too_big
        );
        // The worker loop's cycles, as pmd-stats-show's processing/idle cycles.
        let idle_pct = if st.busy_cycles + st.idle_cycles == 0 {
            0.0
        } else {
            100.0 - st.busy_percent()
        };
        let per_packet = st
            .cycles_per_packet()
            .map_or("n/a".to_string(), |c| format!("{c:.1}"));
        let _ = writeln!(
            s,
            "  busy cycles: {} ({:.1}%)  idle cycles: {} ({idle_pct:.1}%)  avg busy cycles/packet: {per_packet} (packets {})",
            st.busy_cycles,
            st.busy_percent(),
            st.idle_cycles,
            st.polled_packets
        );
    };
    let _ = writeln!(s, "xvs@datapath:");
    // The datapath's hits include the XDP tier's, which no worker sees.
    let mut all = total;
    all.hits += upcalls.tier_hits;
    line(&mut s, "total", &all);
    for (i, st) in workers.iter().enumerate() {
        line(&mut s, &format!("worker {i}"), st);
    }
    if total.busy_cycles + total.idle_cycles > 0 {
        // Counted cycles mean a datapath started, which measured the rate already.
        let hz = cycle_counter_hz();
        let ns = total
            .cycles_per_packet()
            .map_or("n/a".to_string(), |c| format!("{:.1}", c * 1e9 / hz as f64));
        let _ = writeln!(
            s,
            "  cycles: {:.3} GHz  avg busy ns/packet: {ns}",
            hz as f64 / 1e9
        );
    }
    let f = upcalls;
    let _ = writeln!(
        s,
        "  upcalls: handled:{} installed:{} duplicate:{} uncacheable:{} invalidated:{} evicted:{} expired:{} barrier-timeouts:{}",
        f.upcalls, f.installed, f.duplicates, f.uncacheable, f.invalidated, f.evicted, f.expired, f.barrier_timeouts
    );
    if f.flow_restore_wait || f.flow_restore_wait_drops > 0 {
        let _ = writeln!(
            s,
            "  flow-restore-wait: {} dropped:{}",
            if f.flow_restore_wait {
                "waiting (upcalls are dropped)"
            } else {
                "over"
            },
            f.flow_restore_wait_drops
        );
    }
    s
}

/// The XDP tier's line of `dp-show`, when the datapath runs one.
pub fn tier_text(t: &TierStats) -> String {
    format!(
        "  xdp-tier: entries:{} masks:{} output-ports:{} packets:{} installed:{} removed:{} refused:{} last-refusal:{} grace-periods:{}\n",
        t.entries,
        t.masks,
        t.tx_ports,
        t.packets,
        t.installed,
        t.removed,
        t.refused,
        if t.last_refusal.is_empty() { "none" } else { t.last_refusal },
        t.grace_periods
    )
}

/// [`tier_text`] as JSON.
pub fn tier_json(t: &TierStats) -> Value {
    json!({"entries": t.entries, "masks": t.masks, "output_ports": t.tx_ports,
        "packets": t.packets, "installed": t.installed, "removed": t.removed,
        "refused": t.refused, "last_refusal": t.last_refusal, "grace_periods": t.grace_periods})
}

/// The rest of `dp-show`: what the pipeline dropped and why (packets, counted whether
/// their translation was cached or not), and what the flow-table limits refused or
/// evicted.
pub fn pipeline_counters_text(sw: &Switch) -> String {
    let d = &sw.drops;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  pipeline drops: no-flow:{} flow-action:{} bridge-not-found:{} controller:{} invalid-ttl:{} recursion-too-deep:{} too-many-resubmits:{} too-many-actions:{} too-many-learned:{}",
        d.no_flow,
        d.flow_action,
        d.bridge_not_found,
        d.controller,
        d.invalid_ttl,
        d.recursion_too_deep,
        d.too_many_resubmits,
        d.too_many_actions,
        d.too_many_learned
    );
    let l = sw.flow_limit_stats();
    let _ = writeln!(
        s,
        "  flow limits: refused:{} evicted:{} learn-refused:{} learn-evicted:{}",
        l.refused, l.evicted, l.learn_refused, l.learn_evicted
    );
    s
}

/// [`pipeline_counters_text`] as JSON.
pub fn pipeline_counters_json(sw: &Switch) -> Value {
    let d = &sw.drops;
    let l = sw.flow_limit_stats();
    json!({"drops": {"no_flow": d.no_flow, "flow_action": d.flow_action,
        "bridge_not_found": d.bridge_not_found, "controller": d.controller, "invalid_ttl": d.invalid_ttl,
        "recursion_too_deep": d.recursion_too_deep, "too_many_resubmits": d.too_many_resubmits,
        "too_many_actions": d.too_many_actions, "too_many_learned": d.too_many_learned},
        "flow_limits": {"refused": l.refused, "evicted": l.evicted,
        "learn_refused": l.learn_refused, "learn_evicted": l.learn_evicted}})
}

/// `dp-show --json`.
pub fn dp_show_json(workers: &[WorkerStatsSnapshot], upcalls: &RevalidatorStats) -> Value {
    let per: Vec<Value> = workers
        .iter()
        .map(|s| {
            json!({"hits": s.hits, "misses": s.misses, "lost": s.lost, "flows": s.entries,
                   "malformed": s.malformed, "bad_tunnel": s.bad_tunnel, "unknown_tunnel": s.unknown_tunnel,
                   "too_big": s.too_big, "busy_cycles": s.busy_cycles, "idle_cycles": s.idle_cycles,
                   "packets": s.polled_packets, "cycles_per_packet": s.cycles_per_packet()})
        })
        .collect();
    let f = upcalls;
    let counted = workers.iter().any(|s| s.busy_cycles + s.idle_cycles > 0);
    // The cycles' rate, measured when the datapath started (null without one).
    let hz = counted.then(cycle_counter_hz);
    json!({"workers": per, "upcalls": {"handled": f.upcalls, "installed": f.installed,
        "invalidated": f.invalidated, "evicted": f.evicted, "expired": f.expired,
        "flow_restore_wait": f.flow_restore_wait, "flow_restore_wait_drops": f.flow_restore_wait_drops},
        "cycles_per_second": hz})
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use xvs_dataplane::MacAddr;

    /// The L3/L4 set actions as OVS's format_odp_key_attr spells a masked set of one
    /// field.
    #[test]
    fn set_actions_in_ovs_spelling() {
        use DpAction::*;
        let a6: Ipv6Addr = "2001:db8::99".parse().unwrap();
        let mac = MacAddr([2, 0, 0, 0, 0, 7]);
        for (a, want) in [
            (SetIpv4Tos(0), "set(ipv4(tos=0))"),
            (SetIpv4Tos(0xb8), "set(ipv4(tos=0xb8))"),
            (SetIpv4Ttl(63), "set(ipv4(ttl=63))"),
            (SetIpv6Src(a6), "set(ipv6(src=2001:db8::99))"),
            (SetIpv6Dst(Ipv6Addr::LOCALHOST), "set(ipv6(dst=::1))"),
            (SetIpv6Tclass(0x20), "set(ipv6(tclass=0x20))"),
            (SetIpv6HopLimit(255), "set(ipv6(hlimit=255))"),
            (SetTcpSrc(80), "set(tcp(src=80))"),
            (SetTcpDst(8080), "set(tcp(dst=8080))"),
            (SetUdpSrc(5353), "set(udp(src=5353))"),
            (SetUdpDst(53), "set(udp(dst=53))"),
            (SetIcmpType(8), "set(icmp(type=8))"),
            (SetIcmpCode(0), "set(icmp(code=0))"),
            (SetIcmpv6Type(136), "set(icmpv6(type=136))"),
            (SetIcmpv6Code(1), "set(icmpv6(code=1))"),
            (SetNdTarget(a6), "set(nd(target=2001:db8::99))"),
            (SetNdSll(mac), "set(nd(sll=02:00:00:00:00:07))"),
            (SetNdTll(mac), "set(nd(tll=02:00:00:00:00:07))"),
        ] {
            assert_eq!(dp_action_text(&a), want);
        }
    }
}
