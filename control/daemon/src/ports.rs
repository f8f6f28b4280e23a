//! `add-port` options, as ovs-vsctl users write them, and the datapath backend that
//! opens the netdevs behind ports.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use xvs_dataplane::PortNo;

pub use xvs_pipeline::present::show::{PortCounters, PortStatus};
use xvs_pipeline::topology::{
    valid_name, PortConfig, PortKind, PriorityTags, TunnelConfig, TunnelKey, VlanMode,
};

/// Opens and closes the netdevs of ports: AF_XDP in the daemon, something else in tests.
pub trait PortBackend: Send + 'static {
    /// Starts moving the packets of netdev `ifname` as datapath port `port`.
    fn attach(&mut self, port: PortNo, ifname: &str) -> Result<PortStatus, String>;
    /// Starts taking the tunnel packets for the local addresses given with
    /// [`PortBackend::add_underlay_ip`] from netdev `ifname`; the kernel keeps the rest.
    fn attach_underlay(&mut self, port: PortNo, ifname: &str) -> Result<PortStatus, String>;
    /// Starts sending what datapath port `port` is sent through the kernel (where the
    /// kernel's packet taps, tcpdump among them, see it), receiving nothing: for a
    /// mirror's output port. Without a datapath, as `attach`.
    fn attach_send_only(&mut self, port: PortNo, ifname: &str) -> Result<PortStatus, String> {
        self.attach(port, ifname)
    }
    fn add_underlay_ip(&mut self, port: PortNo, ip: Ipv4Addr) -> Result<(), String>;
    fn remove_underlay_ip(&mut self, port: PortNo, ip: Ipv4Addr);
    /// Stops; the netdev is left as it was found.
    fn detach(&mut self, port: PortNo);
    /// The netdev of index `ifindex` has a carrier now, or has lost it (a link
    /// notification); a port attached to it stops or resumes sending.
    fn carrier(&mut self, _ifindex: u32, _up: bool) {}
    fn counters(&self, port: PortNo) -> PortCounters;
    /// Every datapath port's counters, read once (a read asks every worker).
    fn all_counters(&self) -> BTreeMap<PortNo, PortCounters> {
        BTreeMap::new()
    }
    /// Whether packets really move (false for [`NoDatapath`]): tunnels then need no
    /// underlay, and nothing is asked of the kernel for them.
    fn moves_packets(&self) -> bool {
        true
    }
}

/// A backend with no datapath: ports exist in the pipeline only. For tests of the
/// control side, and for running the daemon without AF_XDP.
#[derive(Default)]
pub struct NoDatapath;

impl PortBackend for NoDatapath {
    fn attach(&mut self, _port: PortNo, _ifname: &str) -> Result<PortStatus, String> {
        Ok(PortStatus {
            xdp_mode: "none".into(),
            ..PortStatus::default()
        })
    }
    fn attach_underlay(&mut self, port: PortNo, ifname: &str) -> Result<PortStatus, String> {
        self.attach(port, ifname)
    }
    fn add_underlay_ip(&mut self, _port: PortNo, _ip: Ipv4Addr) -> Result<(), String> {
        Ok(())
    }
    fn remove_underlay_ip(&mut self, _port: PortNo, _ip: Ipv4Addr) {}
    fn detach(&mut self, _port: PortNo) {}
    fn counters(&self, _port: PortNo) -> PortCounters {
        PortCounters::default()
    }
    fn moves_packets(&self) -> bool {
        false
    }
}

fn num<T: std::str::FromStr>(key: &str, v: &str, what: &str) -> Result<T, String> {
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|n| n.to_string().parse().ok()),
        None => v.parse().ok(),
    };
    parsed.ok_or_else(|| format!("{key}={v}: {what}"))
}

fn ip(key: &str, v: &str) -> Result<Ipv4Addr, String> {
    v.parse()
        .map_err(|_| format!("{key}={v}: not an IPv4 address"))
}

/// Turns `add-port` options into a port configuration, or says which option is wrong.
pub fn port_config(name: &str, options: &BTreeMap<String, String>) -> Result<PortConfig, String> {
    let get = |k: &str| options.get(k).map(String::as_str);
    let kind_name = get("type").unwrap_or("system");
    const ALLOWED: [&str; 12] = [
        "type",
        "tag",
        "trunks",
        "vlan_mode",
        "priority_tags",
        "ofport",
        "peer",
        "remote_ip",
        "local_ip",
        "key",
        "csum",
        "underlay",
    ];
    if let Some(bad) = options.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(format!(
            "unknown option \"{bad}\" (known: {})",
            ALLOWED.join(", ")
        ));
    }
    let only_for = |keys: &[&str], kind: &str| -> Result<(), String> {
        match keys.iter().find(|k| options.contains_key(**k)) {
            Some(k) => Err(format!("option \"{k}\" only applies to type={kind}")),
            None => Ok(()),
        }
    };
    const TUNNEL_OPTIONS: [&str; 5] = ["remote_ip", "local_ip", "key", "csum", "underlay"];
    let kind = match kind_name {
        "system" | "afxdp" | "" => {
            only_for(&["peer"], "patch")?;
            only_for(&TUNNEL_OPTIONS, "gre or type=vxlan")?;
            PortKind::Netdev
        }
        "internal" => {
            only_for(&["peer"], "patch")?;
            only_for(&TUNNEL_OPTIONS, "gre or type=vxlan")?;
            PortKind::Internal
        }
        "patch" => {
            only_for(&TUNNEL_OPTIONS, "gre or type=vxlan")?;
            let peer = get("peer").ok_or("type=patch needs peer=PORT")?;
            PortKind::Patch {
                peer: peer.to_string(),
            }
        }
        "gre" | "vxlan" => {
            only_for(&["peer"], "patch")?;
            let remote_ip = ip(
                "remote_ip",
                get("remote_ip").ok_or_else(|| format!("type={kind_name} needs remote_ip=A"))?,
            )?;
            let local_ip = get("local_ip").map(|v| ip("local_ip", v)).transpose()?;
            let key = match get("key") {
                None => TunnelKey::None,
                Some("flow") => TunnelKey::Flow,
                Some(v) => TunnelKey::Fixed(num(
                    "key",
                    v,
                    "a tunnel key is \"flow\" or a 32-bit number",
                )?),
            };
            let csum = match get("csum") {
                None | Some("false") => false,
                Some("true") => true,
                Some(v) => return Err(format!("csum={v}: true or false")),
            };
            if let Some(u) = get("underlay") {
                if !valid_name(u) {
                    return Err(format!("underlay={u}: not a netdev name"));
                }
            }
            let config = TunnelConfig {
                remote_ip,
                local_ip,
                key,
                csum,
            };
            if kind_name == "gre" {
                PortKind::Gre(config)
            } else {
                if let TunnelKey::Fixed(k) = key {
                    if k > 0xff_ffff {
                        return Err(format!("key={k}: a VXLAN VNI is 24 bits (0..16777215)"));
                    }
                }
                if csum {
                    return Err("csum=true: xvs sends VXLAN without UDP checksums (RFC 7348 allows it over IPv4)".into());
                }
                PortKind::Vxlan(config)
            }
        }
        other => {
            return Err(format!(
                "type={other}: unknown port type (system, internal, patch, gre, vxlan)"
            ))
        }
    };
    let mut cfg = PortConfig::new(name, kind);
    let vlan = &mut cfg.vlan;
    if let Some(t) = get("tag") {
        vlan.tag = Some(num("tag", t, "a VLAN id is 0..4095")?);
    }
    if let Some(t) = get("trunks") {
        vlan.trunks = t
            .split(',')
            .map(|v| num("trunks", v.trim(), "a comma-separated list of VLAN ids"))
            .collect::<Result<_, _>>()?;
    }
    // OVS's default: access with a tag (its trunks ignored), else trunk.
    vlan.mode = match get("vlan_mode") {
        None if vlan.tag.is_some() => VlanMode::Access,
        None | Some("trunk") => VlanMode::Trunk,
        Some("access") => VlanMode::Access,
        Some("native-tagged") => VlanMode::NativeTagged,
        Some("native-untagged") => VlanMode::NativeUntagged,
        Some(other) => {
            return Err(format!(
                "vlan_mode={other}: one of access, trunk, native-tagged, native-untagged"
            ))
        }
    };
    match vlan.mode {
        VlanMode::Access => vlan.trunks.clear(),
        VlanMode::Trunk => vlan.tag = None,
        _ => {}
    }
    vlan.priority_tags = match get("priority_tags") {
        None | Some("never" | "false") => PriorityTags::Never,
        Some("if-nonzero" | "true") => PriorityTags::IfNonzero,
        Some("always") => PriorityTags::Always,
        Some(other) => {
            return Err(format!(
                "priority_tags={other}: one of never, if-nonzero, always"
            ))
        }
    };
    if let Some(n) = get("ofport") {
        cfg.ofport = Some(num("ofport", n, "an OpenFlow port number")?);
    }
    Ok(cfg)
}

/// The name of the datapath's end of internal port `name`'s veth pair (at most 15
/// characters, derived from the port name so a restart finds it again).
pub fn internal_peer(name: &str) -> String {
    format!("xvi{:08x}", fnv1a(name) as u32)
}

/// FNV-1a of a name: stable across runs and builds, for names and ids derived from
/// names (internal ports' datapath ends, bridges' datapath ids).
pub(crate) fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn run_ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("running ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether a netdev of that name exists in this network namespace.
pub(crate) fn link_exists(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string; if_nametoindex only reads it.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

/// Creates internal port `name`: a veth pair whose end `name` is the host's interface
/// (addresses, routes), and whose other end the datapath attaches to. A pair left by an
/// earlier run is reused, so the host's configuration of its end survives a restart.
/// Returns the datapath's end.
pub fn create_internal(name: &str, up: bool) -> Result<String, String> {
    let peer = internal_peer(name);
    match (link_exists(name), link_exists(&peer)) {
        (true, true) => {}
        (true, false) => {
            return Err(format!(
                "a netdev named \"{name}\" exists and is not an xvs internal port"
            ))
        }
        (false, true) => {
            run_ip(&["link", "del", &peer])?;
            run_ip(&["link", "add", name, "type", "veth", "peer", "name", &peer])?;
        }
        (false, false) => run_ip(&["link", "add", name, "type", "veth", "peer", "name", &peer])?,
    }
    run_ip(&["link", "set", &peer, "up"])?;
    if up {
        run_ip(&["link", "set", name, "up"])?;
    }
    Ok(peer)
}

/// Removes internal port `name`'s veth pair (both ends go together).
pub fn delete_internal(name: &str) {
    if link_exists(name) {
        if let Err(e) = run_ip(&["link", "del", name]) {
            tracing::warn!(port = name, error = %e, "removing an internal port's netdev");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options() {
        let c = port_config(
            "gre-1",
            &opts(&[
                ("type", "gre"),
                ("remote_ip", "192.168.1.253"),
                ("key", "flow"),
            ]),
        )
        .unwrap();
        assert!(matches!(
            c.kind,
            PortKind::Gre(TunnelConfig {
                key: TunnelKey::Flow,
                ..
            })
        ));
        let c = port_config(
            "vxlan-1",
            &opts(&[
                ("type", "vxlan"),
                ("remote_ip", "192.168.1.253"),
                ("local_ip", "192.168.1.254"),
                ("key", "0x3e7"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.kind,
            PortKind::Vxlan(TunnelConfig {
                remote_ip: "192.168.1.253".parse().unwrap(),
                local_ip: Some("192.168.1.254".parse().unwrap()),
                key: TunnelKey::Fixed(0x3e7),
                csum: false,
            })
        );
        let c = port_config("tap1", &opts(&[("tag", "1"), ("ofport", "5")])).unwrap();
        assert_eq!(
            (c.vlan.tag, c.vlan.mode, c.ofport, c.kind),
            (Some(1), VlanMode::Access, Some(5), PortKind::Netdev)
        );
        // OVS's rules: a trunk has no tag, an access port no trunks.
        let c = port_config("t", &opts(&[("tag", "1"), ("vlan_mode", "trunk")])).unwrap();
        assert_eq!((c.vlan.tag, c.vlan.mode), (None, VlanMode::Trunk));
        let c = port_config("t", &opts(&[("tag", "1"), ("trunks", "2,3")])).unwrap();
        assert!(c.vlan.trunks.is_empty());
        let c = port_config(
            "t",
            &opts(&[
                ("tag", "1"),
                ("trunks", "2,3"),
                ("vlan_mode", "native-untagged"),
                ("priority_tags", "always"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (
                c.vlan.tag,
                &c.vlan.trunks[..],
                c.vlan.mode,
                c.vlan.priority_tags
            ),
            (
                Some(1),
                &[2, 3][..],
                VlanMode::NativeUntagged,
                PriorityTags::Always
            )
        );
        let c = port_config("p", &opts(&[("type", "patch"), ("peer", "q")])).unwrap();
        assert_eq!(c.kind, PortKind::Patch { peer: "q".into() });
        for (bad, culprit) in [
            (opts(&[("colour", "red")]), "colour"),
            (opts(&[("type", "gre")]), "remote_ip"),
            (opts(&[("type", "patch")]), "peer"),
            (opts(&[("tag", "x")]), "tag=x"),
            (
                opts(&[("vlan_mode", "dot1q-tunnel")]),
                "vlan_mode=dot1q-tunnel",
            ),
            (
                opts(&[("priority_tags", "sometimes")]),
                "priority_tags=sometimes",
            ),
            (opts(&[("type", "vxlan2")]), "vxlan2"),
            (opts(&[("peer", "q")]), "peer"),
            (opts(&[("type", "gre"), ("remote_ip", "1.2.3")]), "1.2.3"),
            (
                opts(&[
                    ("type", "gre"),
                    ("remote_ip", "1.2.3.4"),
                    ("key", "99999999999"),
                ]),
                "key",
            ),
            (
                opts(&[
                    ("type", "vxlan"),
                    ("remote_ip", "1.2.3.4"),
                    ("key", "16777216"),
                ]),
                "24 bits",
            ),
            (
                opts(&[
                    ("type", "vxlan"),
                    ("remote_ip", "1.2.3.4"),
                    ("csum", "true"),
                ]),
                "csum",
            ),
            (opts(&[("type", "vxlan")]), "remote_ip"),
            (opts(&[("underlay", "eth1")]), "underlay"),
            (
                opts(&[
                    ("type", "gre"),
                    ("remote_ip", "1.2.3.4"),
                    ("underlay", "a/b"),
                ]),
                "a/b",
            ),
        ] {
            let e = port_config("p", &bad).unwrap_err();
            assert!(e.contains(culprit), "{e} should name {culprit}");
        }
    }
}
