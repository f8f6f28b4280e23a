//! Port mirrors (the OVSDB `Mirror` table), as OVS's `vswitchd/bridge.c`
//! mirror_configure and `ofproto/ofproto-dpif-mirror.c` keep them: what a mirror asks for
//! ([`MirrorConfig`], by port names) and what it is once resolved against the bridge's
//! ports ([`Mirror`], by OpenFlow numbers), which translation reads.

use crate::ofp::OfPort;

/// The most mirrors a bridge has (OVS's MAX_MIRRORS): a translation keeps the mirrors it
/// already sent to in one 32-bit mask.
pub const MAX_MIRRORS: usize = 32;

/// Where a mirror sends its copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MirrorOutput {
    /// `output_port`: a port of the bridge, by name.
    Port(String),
    /// `output_vlan`: every port of that VLAN (RSPAN), except mirror output ports.
    Vlan(u16),
}

/// A mirror as the database asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorConfig {
    pub name: String,
    /// `select_all`: every port of the bridge, both directions.
    pub select_all: bool,
    /// `select_src_port`: packets received on these ports.
    pub select_src: Vec<String>,
    /// `select_dst_port`: packets sent to these ports.
    pub select_dst: Vec<String>,
    /// `select_vlan`: only packets of these VLANs (empty: any).
    pub select_vlan: Vec<u16>,
    /// `None`: neither `output_port` nor `output_vlan` (the mirror is refused).
    pub output: Option<MirrorOutput>,
}

/// Why a mirror is not configured (OVS logs it and ignores the mirror).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    #[error("bridge {bridge}: mirror {mirror} outputs to port not on bridge")]
    OutputNotOnBridge { bridge: String, mirror: String },
    #[error("bridge {bridge}: mirror {mirror} does not specify output; ignoring")]
    NoOutput { bridge: String, mirror: String },
    #[error("bridge {bridge}: mirror {mirror}: VLAN {vlan} is not valid (0 to 4095)")]
    BadVlan {
        bridge: String,
        mirror: String,
        vlan: u16,
    },
    #[error("maximum of {MAX_MIRRORS} port mirrors reached, cannot create {mirror}")]
    TooMany { mirror: String },
}

/// Where a resolved mirror sends its copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorOut {
    Port(OfPort),
    Vlan(u16),
}

/// A mirror resolved against its bridge's ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub name: String,
    /// Ingress selection: packets received here are copied.
    pub src: Vec<OfPort>,
    /// Egress selection: packets sent here are copied.
    pub dst: Vec<OfPort>,
    /// Only these VLANs (the bridge's VLAN of the packet, as NORMAL sees it); empty: any.
    pub vlans: Vec<u16>,
    pub out: MirrorOut,
    /// This mirror's bit and those of every mirror with the same output: once one of them
    /// sent a packet, none sends it again (OVS's dup_mirrors).
    pub dup_mask: u32,
}

/// What resolving a bridge's mirrors gave: the mirrors, and the warnings OVS logs for
/// the ports it skips (a selected port that is not on the bridge).
#[derive(Debug, Default)]
pub struct Resolved {
    pub mirrors: Vec<Mirror>,
    pub errors: Vec<MirrorError>,
    pub warnings: Vec<String>,
}

/// Resolves `configs` against a bridge's ports (`lookup`: a port name to its OpenFlow
/// number; `all`: every port), as OVS's mirror_configure: a mirror whose output port is
/// not on the bridge, or with no output, is refused; selected ports that are not on the
/// bridge are skipped with a warning; `select_all` selects every port, both ways.
pub fn resolve(
    bridge: &str,
    configs: &[MirrorConfig],
    lookup: impl Fn(&str) -> Option<OfPort>,
    all: &[OfPort],
) -> Resolved {
    let mut r = Resolved::default();
    for c in configs {
        let out = match &c.output {
            Some(MirrorOutput::Port(p)) => match lookup(p) {
                Some(of) => MirrorOut::Port(of),
                None => {
                    r.errors.push(MirrorError::OutputNotOnBridge {
                        bridge: bridge.to_string(),
                        mirror: c.name.clone(),
                    });
                    continue;
                }
            },
            Some(MirrorOutput::Vlan(v)) => MirrorOut::Vlan(*v),
            None => {
                r.errors.push(MirrorError::NoOutput {
                    bridge: bridge.to_string(),
                    mirror: c.name.clone(),
                });
                continue;
            }
        };
        if let Some(&vlan) = c.select_vlan.iter().find(|&&v| v > 4095) {
            r.errors.push(MirrorError::BadVlan {
                bridge: bridge.to_string(),
                mirror: c.name.clone(),
                vlan,
            });
            continue;
        }
        if r.mirrors.len() == MAX_MIRRORS {
            r.errors.push(MirrorError::TooMany {
                mirror: c.name.clone(),
            });
            continue;
        }
        let mut collect = |names: &[String]| -> Vec<OfPort> {
            let mut v: Vec<OfPort> = names
                .iter()
                .filter_map(|n| {
                    let of = lookup(n);
                    if of.is_none() {
                        r.warnings.push(format!(
                            "bridge {bridge}: mirror {} cannot match on nonexistent port {n}",
                            c.name
                        ));
                    }
                    of
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (src, dst) = if c.select_all {
            (all.to_vec(), all.to_vec())
        } else {
            (collect(&c.select_src), collect(&c.select_dst))
        };
        let mut vlans = c.select_vlan.clone();
        vlans.sort_unstable();
        vlans.dedup();
        r.mirrors.push(Mirror {
            name: c.name.clone(),
            src,
            dst,
            vlans,
            out,
            dup_mask: 0,
        });
    }
    // OVS's mirror_update_dups.
    let outs: Vec<MirrorOut> = r.mirrors.iter().map(|m| m.out).collect();
    for m in &mut r.mirrors {
        m.dup_mask = outs
            .iter()
            .enumerate()
            .filter(|(_, o)| **o == m.out)
            .fold(0, |mask, (i, _)| mask | (1 << i));
    }
    r
}

/// The mirrors of a bridge, with per-port masks for translation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeMirrors {
    /// As the database asked (re-resolved when the bridge's ports change).
    pub configs: Vec<MirrorConfig>,
    pub mirrors: Vec<Mirror>,
}

impl BridgeMirrors {
    pub fn is_empty(&self) -> bool {
        self.mirrors.is_empty()
    }

    fn mask(&self, f: impl Fn(&Mirror) -> bool) -> u32 {
        self.mirrors
            .iter()
            .enumerate()
            .filter(|(_, m)| f(m))
            .fold(0, |mask, (i, _)| mask | (1 << i))
    }

    /// The mirrors that copy packets received on `port`.
    pub fn src_mask(&self, port: OfPort) -> u32 {
        self.mask(|m| m.src.binary_search(&port).is_ok())
    }

    /// The mirrors that copy packets sent to `port`.
    pub fn dst_mask(&self, port: OfPort) -> u32 {
        self.mask(|m| m.dst.binary_search(&port).is_ok())
    }

    /// Whether `port` is a mirror's output port (reserved for mirroring: NORMAL sends
    /// nothing there, and what comes in there is dropped).
    pub fn is_output(&self, port: OfPort) -> bool {
        self.mirrors.iter().any(|m| m.out == MirrorOut::Port(port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str, src: &[&str], dst: &[&str], out: Option<MirrorOutput>) -> MirrorConfig {
        MirrorConfig {
            name: name.into(),
            select_all: false,
            select_src: src.iter().map(|s| s.to_string()).collect(),
            select_dst: dst.iter().map(|s| s.to_string()).collect(),
            select_vlan: vec![],
            output: out,
        }
    }

    fn lookup(n: &str) -> Option<OfPort> {
        match n {
            "p1" => Some(1),
            "p2" => Some(2),
            "mi" => Some(3),
            _ => None,
        }
    }

    #[test]
    fn output_not_on_bridge_and_no_output_are_refused_others_kept() {
        let out = |p: &str| Some(MirrorOutput::Port(p.into()));
        let r = resolve(
            "br0",
            &[
                cfg("a", &["p1"], &["p1"], out("nope")),
                cfg("b", &["p1"], &[], None),
                cfg("c", &["p1", "gone"], &["p2"], out("mi")),
            ],
            lookup,
            &[1, 2, 3],
        );
        assert_eq!(
            r.errors,
            vec![
                MirrorError::OutputNotOnBridge {
                    bridge: "br0".into(),
                    mirror: "a".into()
                },
                MirrorError::NoOutput {
                    bridge: "br0".into(),
                    mirror: "b".into()
                },
            ]
        );
        assert_eq!(
            r.errors[0].to_string(),
            "bridge br0: mirror a outputs to port not on bridge"
        );
        assert_eq!(r.mirrors.len(), 1);
        assert_eq!(r.mirrors[0].src, vec![1]);
        assert_eq!(r.mirrors[0].dst, vec![2]);
        assert_eq!(r.mirrors[0].out, MirrorOut::Port(3));
        assert_eq!(
            r.warnings,
            vec!["bridge br0: mirror c cannot match on nonexistent port gone".to_string()]
        );
    }

    #[test]
    fn mirrors_to_the_same_output_are_duplicates() {
        let out = |p: &str| Some(MirrorOutput::Port(p.into()));
        let mut all = cfg("all", &[], &[], out("mi"));
        all.select_all = true;
        let r = resolve(
            "br0",
            &[
                cfg("a", &["p1"], &[], out("mi")),
                cfg("b", &["p2"], &[], Some(MirrorOutput::Vlan(9))),
                all,
            ],
            lookup,
            &[1, 2, 3],
        );
        assert_eq!(
            r.mirrors.iter().map(|m| m.dup_mask).collect::<Vec<_>>(),
            vec![0b101, 0b010, 0b101]
        );
        let bm = BridgeMirrors {
            configs: vec![],
            mirrors: r.mirrors,
        };
        assert_eq!(bm.src_mask(1), 0b101);
        assert_eq!(bm.src_mask(2), 0b110);
        assert_eq!(bm.dst_mask(1), 0b100);
        assert!(bm.is_output(3) && !bm.is_output(1));
    }
}
