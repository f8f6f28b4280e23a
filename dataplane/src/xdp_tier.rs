//! The XDP tier's entries: which flow-cache entries the XDP program can carry out in the
//! kernel, and their bytes in its maps (`ebpf/xdp/xvs_tier.h`; the design is in
//! `ebpf/README.md`). Pure: no map, no syscall; `xvs_ebpf::tier` writes the bytes.
//!
//! An entry is expressible when its mask consults only the L2 fields the program parses
//! exactly as [`FlowKey::extract`] does (`tun_id`, `in_port`, `vlan_tci`, `dl_type`,
//! `dl_src`, `dl_dst`) and its actions fit the canonical program
//! `[PopVlan] [SetVlan] [PushVlan]` (in that order, each at most once, with `SetEthSrc`
//! and `SetEthDst` anywhere among them) followed by nothing (a drop) or by one
//! `Output` or one `TunnelOutput` (GRE without checksum, or VXLAN) as the last action,
//! to a port that has an output slot in the tier's devmap.

use crate::actions::{DpAction, Tpid, TunnelHeader, TunnelKind};
use crate::cache::CachedFlow;
use crate::flow_key::{FlowKey, PortNo};
use crate::mac::MacAddr;
use crate::tunnel::{tunnel_header_len, write_tunnel_header, TunnelKeyMatch, TunnelMap};
use crate::TunnelType;

use xvs_ebpf::tier::{ActionsBytes, FlowKeyBytes, KeyBytes, TunnelKeyBytes, ACTIONS_LEN};

/// Room for an outer header in an entry (XVS_TIER_ENCAP_MAX).
pub const ENCAP_MAX: usize = 56;
const ETH_HLEN: usize = 14;

/// Why a cache entry stays in userspace only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotExpressible {
    #[error("the mask consults fields the XDP tier does not parse (beyond L2)")]
    MaskBeyondL2,
    #[error("action {0:?} is not one the XDP tier does")]
    Action(DpAction),
    #[error("the actions are not in the tier's order (pop, set vlan, push, then one output)")]
    Order,
    #[error("more than one output (a flood or a mirror)")]
    SeveralOutputs,
    #[error("datapath port {0} has no output slot in the tier")]
    PortNotInTier(PortNo),
    #[error("GRE with a checksum (it covers the inner frame)")]
    GreChecksum,
    #[error("a push of TPID 0")]
    ZeroTpid,
}

/// The L2 fields of a [`FlowKey`] the tier keys on (`struct tier_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TierKey {
    pub tun_id: u64,
    pub in_port: u32,
    pub vlan_tci: u16,
    pub dl_type: u16,
    pub dl_src: MacAddr,
    pub dl_dst: MacAddr,
}

impl TierKey {
    /// The tier's fields of a key (or a mask).
    pub fn of(k: &FlowKey) -> TierKey {
        TierKey {
            tun_id: k.tun_id,
            in_port: k.in_port,
            vlan_tci: k.vlan_tci,
            dl_type: k.dl_type,
            dl_src: k.dl_src,
            dl_dst: k.dl_dst,
        }
    }

    /// Whether a mask consults nothing but the tier's fields (`metadata` and `regs`
    /// are pipeline state, never in a packet's key).
    pub fn covers(mask: &FlowKey) -> bool {
        FlowKey {
            tun_id: 0,
            in_port: 0,
            vlan_tci: 0,
            dl_type: 0,
            dl_src: MacAddr::ZERO,
            dl_dst: MacAddr::ZERO,
            ..mask.packet_fields()
        }
        .is_zero()
    }

    pub fn masked(&self, m: &TierKey) -> TierKey {
        let and = |a: MacAddr, b: MacAddr| MacAddr(std::array::from_fn(|i| a.0[i] & b.0[i]));
        TierKey {
            tun_id: self.tun_id & m.tun_id,
            in_port: self.in_port & m.in_port,
            vlan_tci: self.vlan_tci & m.vlan_tci,
            dl_type: self.dl_type & m.dl_type,
            dl_src: and(self.dl_src, m.dl_src),
            dl_dst: and(self.dl_dst, m.dl_dst),
        }
    }

    pub fn to_bytes(&self) -> KeyBytes {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&self.tun_id.to_ne_bytes());
        b[8..12].copy_from_slice(&self.in_port.to_ne_bytes());
        b[12..14].copy_from_slice(&self.vlan_tci.to_ne_bytes());
        b[14..16].copy_from_slice(&self.dl_type.to_ne_bytes());
        b[16..22].copy_from_slice(&self.dl_src.0);
        b[22..28].copy_from_slice(&self.dl_dst.0);
        b
    }

    pub fn from_bytes(b: &KeyBytes) -> TierKey {
        TierKey {
            tun_id: u64::from_ne_bytes(b[0..8].try_into().unwrap()),
            in_port: u32::from_ne_bytes(b[8..12].try_into().unwrap()),
            vlan_tci: u16::from_ne_bytes(b[12..14].try_into().unwrap()),
            dl_type: u16::from_ne_bytes(b[14..16].try_into().unwrap()),
            dl_src: MacAddr(b[16..22].try_into().unwrap()),
            dl_dst: MacAddr(b[22..28].try_into().unwrap()),
        }
    }
}

/// The flow map's key (`struct tier_flow_key`): the mask's slot and the masked key.
pub fn flow_key_bytes(mask_id: u32, masked: &TierKey) -> FlowKeyBytes {
    let mut b = [0u8; 40];
    b[0..4].copy_from_slice(&mask_id.to_ne_bytes());
    b[8..40].copy_from_slice(&masked.to_bytes());
    b
}

const KEY_ANY: u8 = 0;
const KEY_EXACTLY: u8 = 1;
const KEY_NONE: u8 = 2;

/// `struct tier_tunnel_key`: addresses as on the wire (local 0: any of ours).
fn tunnel_key_bytes(
    kind: TunnelType,
    remote: std::net::Ipv4Addr,
    local: Option<std::net::Ipv4Addr>,
    mode: u8,
    key: u32,
) -> TunnelKeyBytes {
    let mut b = [0u8; 16];
    b[0] = match kind {
        TunnelType::Gre => 0,
        TunnelType::Vxlan => 1,
    };
    b[1] = mode;
    b[4..8].copy_from_slice(&remote.octets());
    b[8..12].copy_from_slice(&local.map_or([0; 4], |l| l.octets()));
    b[12..16].copy_from_slice(&key.to_ne_bytes());
    b
}

/// The `tier_tunnels` entries for a tunnel map, such that the program's probes (the
/// packet's local address before "any of ours"; within each, the exact key (or "no
/// key") before "any key") find the port [`TunnelMap::lookup_type`] finds: within a
/// local-address group userspace takes the first port in the map's order that
/// accepts the key, so a port is left out where an earlier one of its group already
/// answers (an earlier "any key" port shadows every later port of the group).
pub fn tunnel_entries(map: &TunnelMap) -> Vec<(TunnelKeyBytes, PortNo)> {
    let mut out: Vec<(TunnelKeyBytes, PortNo)> = Vec::new();
    let mut any_seen = Vec::new();
    for t in &map.tunnels {
        let group = (t.kind, t.remote, t.local);
        if any_seen.contains(&group) {
            continue;
        }
        let (mode, key) = match t.key {
            TunnelKeyMatch::Any => {
                any_seen.push(group);
                (KEY_ANY, 0)
            }
            TunnelKeyMatch::Exactly(k) => (KEY_EXACTLY, k),
            TunnelKeyMatch::NoKey => (KEY_NONE, 0),
        };
        let k = tunnel_key_bytes(t.kind, t.remote, t.local, mode, key);
        if !out.iter().any(|(o, _)| *o == k) {
            out.push((k, t.port));
        }
    }
    out
}

/// What ends the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    Drop,
    Output {
        port: PortNo,
        tx_slot: u32,
    },
    /// A prebuilt outer header (`len` bytes of `template`; the IPv4 total length and
    /// checksum, and VXLAN's UDP length, are filled in per frame).
    Encap {
        port: PortNo,
        tx_slot: u32,
        len: u16,
        mtu: u16,
        /// One's-complement sum of the template's IPv4 header words, with its total
        /// length and checksum zero.
        ip_sum: u32,
        template: [u8; ENCAP_MAX],
    },
}

/// The canonical action program (`struct tier_actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierActions {
    pub pop_vlan: bool,
    pub set_vlan: Option<u16>,
    /// (TPID, 0 for [`Tpid::Received`]; TCI).
    pub push_vlan: Option<(u16, u16)>,
    pub set_eth_src: Option<MacAddr>,
    pub set_eth_dst: Option<MacAddr>,
    pub terminal: Terminal,
    /// The cache entry's id (for the trace and, in stage 2, its counters' owner).
    pub entry_id: u64,
    /// The slot of its per-CPU counters.
    pub counter_slot: u32,
}

/// A cache entry as the tier holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpEntry {
    pub mask: TierKey,
    /// Already masked.
    pub key: TierKey,
    pub actions: TierActions,
}

impl XdpEntry {
    /// The tier's form of a cache entry, or why it has none. `tx_slot` gives a port's
    /// output slot in the tier's devmap (None: not reachable from XDP).
    pub fn from_cache_entry(
        key: &FlowKey,
        mask: &FlowKey,
        actions: &[DpAction],
        entry_id: u64,
        counter_slot: u32,
        tx_slot: impl Fn(PortNo) -> Option<u32>,
    ) -> Result<XdpEntry, NotExpressible> {
        if !TierKey::covers(mask) {
            return Err(NotExpressible::MaskBeyondL2);
        }
        let mask = TierKey::of(mask);
        let mut a = TierActions {
            pop_vlan: false,
            set_vlan: None,
            push_vlan: None,
            set_eth_src: None,
            set_eth_dst: None,
            terminal: Terminal::Drop,
            entry_id,
            counter_slot,
        };
        // The stage reached: 0 nothing, 1 popped, 2 set, 3 pushed, 4 output.
        let mut stage = 0;
        for action in actions {
            if stage == 4 {
                return Err(match action {
                    DpAction::Output(_) | DpAction::TunnelOutput { .. } => {
                        NotExpressible::SeveralOutputs
                    }
                    _ => NotExpressible::Order,
                });
            }
            match *action {
                DpAction::SetEthSrc(m) => a.set_eth_src = Some(m),
                DpAction::SetEthDst(m) => a.set_eth_dst = Some(m),
                DpAction::PopVlan if stage < 1 => {
                    a.pop_vlan = true;
                    stage = 1;
                }
                DpAction::SetVlan(tci) if stage < 2 => {
                    a.set_vlan = Some(tci);
                    stage = 2;
                }
                DpAction::PushVlan { tpid, tci } if stage < 3 => {
                    let tpid = match tpid {
                        Tpid::Is(0) => return Err(NotExpressible::ZeroTpid),
                        Tpid::Is(t) => t,
                        Tpid::Received => 0,
                    };
                    a.push_vlan = Some((tpid, tci));
                    stage = 3;
                }
                DpAction::PopVlan | DpAction::SetVlan(_) | DpAction::PushVlan { .. } => {
                    return Err(NotExpressible::Order)
                }
                DpAction::Output(port) => {
                    let tx_slot = tx_slot(port).ok_or(NotExpressible::PortNotInTier(port))?;
                    a.terminal = Terminal::Output { port, tx_slot };
                    stage = 4;
                }
                DpAction::TunnelOutput { port, header } => {
                    let tx_slot = tx_slot(port).ok_or(NotExpressible::PortNotInTier(port))?;
                    a.terminal = encap(port, tx_slot, &header)?;
                    stage = 4;
                }
                other => return Err(NotExpressible::Action(other)),
            }
        }
        Ok(XdpEntry {
            mask,
            key: TierKey::of(key).masked(&mask),
            actions: a,
        })
    }
}

fn encap(port: PortNo, tx_slot: u32, header: &TunnelHeader) -> Result<Terminal, NotExpressible> {
    if let TunnelKind::Gre { csum: true, .. } = header.kind {
        return Err(NotExpressible::GreChecksum);
    }
    let len = tunnel_header_len(header);
    debug_assert!(len <= ENCAP_MAX);
    let mut template = [0u8; ENCAP_MAX];
    // An empty inner frame: the lengths and the checksum are the program's to fill.
    write_tunnel_header(header, 0, &mut template[..len])
        .expect("an outer header fits its own length");
    let ip = &template[ETH_HLEN..ETH_HLEN + 20];
    let ip_sum = (0..10)
        .filter(|&w| w != 1 && w != 5) // total length, checksum
        .map(|w| u32::from(u16::from_be_bytes([ip[2 * w], ip[2 * w + 1]])))
        .sum();
    Ok(Terminal::Encap {
        port,
        tx_slot,
        len: len as u16,
        mtu: header.mtu,
        ip_sum,
        template,
    })
}

const TERMINAL_DROP: u8 = 0;
const TERMINAL_OUTPUT: u8 = 1;
const TERMINAL_ENCAP: u8 = 2;

impl TierActions {
    /// `struct tier_actions`, as the program reads it.
    pub fn to_bytes(&self) -> ActionsBytes {
        let mut b = [0u8; ACTIONS_LEN];
        let (terminal, tx_slot, out_port) = match self.terminal {
            Terminal::Drop => (TERMINAL_DROP, 0, 0),
            Terminal::Output { port, tx_slot } => (TERMINAL_OUTPUT, tx_slot, port),
            Terminal::Encap { port, tx_slot, .. } => (TERMINAL_ENCAP, tx_slot, port),
        };
        b[0] = terminal;
        b[1] = u8::from(self.pop_vlan);
        b[2] = u8::from(self.set_vlan.is_some());
        b[3] = u8::from(self.push_vlan.is_some());
        b[4..6].copy_from_slice(&self.set_vlan.unwrap_or(0).to_ne_bytes());
        let (tpid, tci) = self.push_vlan.unwrap_or((0, 0));
        b[6..8].copy_from_slice(&tci.to_ne_bytes());
        b[8..10].copy_from_slice(&tpid.to_ne_bytes());
        b[10] = u8::from(self.set_eth_src.is_some());
        b[11] = u8::from(self.set_eth_dst.is_some());
        b[12..18].copy_from_slice(&self.set_eth_src.unwrap_or(MacAddr::ZERO).0);
        b[18..24].copy_from_slice(&self.set_eth_dst.unwrap_or(MacAddr::ZERO).0);
        b[24..28].copy_from_slice(&tx_slot.to_ne_bytes());
        b[28..32].copy_from_slice(&out_port.to_ne_bytes());
        b[32..36].copy_from_slice(&self.counter_slot.to_ne_bytes());
        if let Terminal::Encap {
            len,
            mtu,
            ip_sum,
            template,
            ..
        } = self.terminal
        {
            b[36..38].copy_from_slice(&len.to_ne_bytes());
            b[38..40].copy_from_slice(&mtu.to_ne_bytes());
            b[40..44].copy_from_slice(&ip_sum.to_ne_bytes());
            b[56..56 + ENCAP_MAX].copy_from_slice(&template);
        }
        b[48..56].copy_from_slice(&self.entry_id.to_ne_bytes());
        b
    }

    /// The inverse of [`TierActions::to_bytes`] (None for an unknown terminal).
    pub fn from_bytes(b: &ActionsBytes) -> Option<TierActions> {
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
        let mac_at = |i: usize| MacAddr(b[i..i + 6].try_into().unwrap());
        let (tx_slot, port) = (u32_at(24), u32_at(28));
        let terminal = match b[0] {
            TERMINAL_DROP => Terminal::Drop,
            TERMINAL_OUTPUT => Terminal::Output { port, tx_slot },
            TERMINAL_ENCAP => Terminal::Encap {
                port,
                tx_slot,
                len: u16_at(36),
                mtu: u16_at(38),
                ip_sum: u32_at(40),
                template: b[56..56 + ENCAP_MAX].try_into().unwrap(),
            },
            _ => return None,
        };
        Some(TierActions {
            pop_vlan: b[1] != 0,
            set_vlan: (b[2] != 0).then(|| u16_at(4)),
            push_vlan: (b[3] != 0).then(|| (u16_at(8), u16_at(6))),
            set_eth_src: (b[10] != 0).then(|| mac_at(12)),
            set_eth_dst: (b[11] != 0).then(|| mac_at(18)),
            terminal,
            entry_id: u64::from_ne_bytes(b[48..56].try_into().unwrap()),
            counter_slot: u32_at(32),
        })
    }
}

/// An entry in the tier: its counter slot, in one load of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TierHandle {
    pub slot: u32,
    /// The program's load the entry went into (a reload empties the tier).
    pub load: u64,
    /// Tells this entry from a later one in the same slot.
    pub serial: u64,
}

/// An entry's counters in the kernel since it was installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierCount {
    pub packets: u64,
    pub bytes: u64,
    /// False: the tier took the entry out by itself (a port's carrier changed, so the
    /// outputs it left out or made are no longer what a worker does); these are its
    /// final counts and the handle is spent (the entry may be offered again).
    pub live: bool,
}

/// Why a cache entry did not go into the tier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierRefusal {
    #[error(transparent)]
    NotExpressible(#[from] NotExpressible),
    #[error("the mask does not match the input port exactly")]
    InPortWildcarded,
    #[error("every mask slot of the tier is in use")]
    MasksFull,
    #[error("the tier holds as many entries as it can")]
    Full,
    #[error("no XDP program runs the tier")]
    NotLoaded,
    #[error("a BPF map refused the entry: {0}")]
    Map(String),
}

impl TierRefusal {
    /// A short name of the reason (dp-show's `last-refusal`).
    pub fn kind(&self) -> &'static str {
        match self {
            TierRefusal::NotExpressible(e) => match e {
                NotExpressible::MaskBeyondL2 => "mask-beyond-l2",
                NotExpressible::Action(_) => "action",
                NotExpressible::Order => "action-order",
                NotExpressible::SeveralOutputs => "several-outputs",
                NotExpressible::PortNotInTier(_) => "output-not-in-tier",
                NotExpressible::GreChecksum => "gre-checksum",
                NotExpressible::ZeroTpid => "zero-tpid",
            },
            TierRefusal::InPortWildcarded => "in-port-wildcarded",
            TierRefusal::MasksFull => "masks-full",
            TierRefusal::Full => "full",
            TierRefusal::NotLoaded => "not-loaded",
            TierRefusal::Map(_) => "map-error",
        }
    }
}

/// The tier's figures (dp-show, coverage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Entries in the tier now (derived when asked, as are `masks` and `tx_ports`).
    pub entries: u64,
    /// Masks in use now.
    pub masks: u64,
    /// Ports the tier outputs to now (their netdev takes XDP redirects).
    pub tx_ports: u64,
    pub installed: u64,
    pub removed: u64,
    /// Attempts that did not put an entry in (a hot entry not expressible is tried
    /// again at every tick it stays hot).
    pub refused: u64,
    /// Why the latest refusal was ([`TierRefusal::kind`]; "" before any).
    pub last_refusal: &'static str,
    /// Waits for the kernel's RCU grace period after removals (before a barrier).
    pub grace_periods: u64,
    /// Frames forwarded (or dropped by an entry) in the kernel, as last read.
    pub packets: u64,
}

/// The XDP tier as the revalidator drives it: the datapath's maps behind it (a model in
/// tests). Entries are cache entries the tier also carries out; the cache stays the
/// authority.
pub trait TierBackend: Send {
    /// Puts a cache entry into the tier, or says why not.
    fn install(&mut self, flow: &CachedFlow) -> Result<TierHandle, TierRefusal>;
    /// Takes an entry out. A program that looked it up before may still be forwarding
    /// a frame by it until [`TierBackend::quiesce`] returns.
    fn remove(&mut self, h: TierHandle);
    /// Returns once no frame is forwarded by an entry removed before the call (an RCU
    /// grace period when any was removed since the last call; nothing otherwise).
    fn quiesce(&mut self);
    /// What the entry forwarded in the kernel since it was installed; None when it is
    /// gone with its counts (the program was reloaded).
    fn counters(&mut self, h: TierHandle) -> Option<TierCount>;
    /// A pass over every entry's counters begins: the backend may read them all at
    /// once, and answer [`TierBackend::counters`] from that until
    /// [`TierBackend::end_pass`].
    fn begin_pass(&mut self) {}
    fn end_pass(&mut self) {}
    /// The tunnel ports, after a topology change.
    fn set_tunnels(&mut self, map: &TunnelMap);
    /// Now and then: the ports' output slots checked again.
    fn tick(&mut self);
    fn stats(&self) -> TierStats;
}

/// The masks in the tier, in slots 0..N (at most `xvs_ebpf::tier::MAX_MASKS`): a new
/// mask takes the next slot; a full table leaves the entry in userspace.
#[derive(Debug, Clone, Default)]
pub struct TierMasks {
    masks: Vec<TierKey>,
}

impl TierMasks {
    /// The slot of `mask`, given one if there is room.
    pub fn slot(&mut self, mask: &TierKey) -> Option<u32> {
        if let Some(i) = self.masks.iter().position(|m| m == mask) {
            return Some(i as u32);
        }
        if self.masks.len() >= xvs_ebpf::tier::MAX_MASKS as usize {
            return None;
        }
        self.masks.push(*mask);
        Some(self.masks.len() as u32 - 1)
    }

    pub fn len(&self) -> usize {
        self.masks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    pub fn get(&self, slot: u32) -> Option<&TierKey> {
        self.masks.get(slot as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::TunnelHeader;
    use crate::flow_key::VLAN_PRESENT;
    use std::net::Ipv4Addr;

    fn mac(b: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, b])
    }

    fn l2_mask() -> FlowKey {
        FlowKey {
            in_port: u32::MAX,
            vlan_tci: 0x1fff,
            dl_dst: MacAddr::BROADCAST,
            ..FlowKey::default()
        }
    }

    fn gre(key: Option<u32>, csum: bool) -> DpAction {
        DpAction::TunnelOutput {
            port: 9,
            header: TunnelHeader {
                kind: TunnelKind::Gre { key, csum },
                eth_src: mac(1),
                eth_dst: mac(2),
                ip_src: Ipv4Addr::new(192, 168, 1, 254),
                ip_dst: Ipv4Addr::new(192, 168, 1, 253),
                ttl: 64,
                tos: 0,
                dont_fragment: true,
                mtu: 1500,
            },
        }
    }

    fn entry(mask: &FlowKey, actions: &[DpAction]) -> Result<XdpEntry, NotExpressible> {
        let key = FlowKey {
            in_port: 3,
            vlan_tci: VLAN_PRESENT | 1,
            dl_dst: mac(7),
            dl_src: mac(8),
            nw_dst: 0x0a00_0001,
            ..FlowKey::default()
        };
        XdpEntry::from_cache_entry(&key, mask, actions, 42, 5, |p| (p < 10).then_some(p + 100))
    }

    #[test]
    fn folsom_shapes_are_expressible() {
        let e = entry(&l2_mask(), &[DpAction::PopVlan, gre(Some(0x3e7), false)]).unwrap();
        assert!(e.actions.pop_vlan);
        assert!(matches!(
            e.actions.terminal,
            Terminal::Encap {
                len: 42,
                tx_slot: 109,
                ..
            }
        ));
        assert_eq!(e.key.dl_src, MacAddr::ZERO, "masked");
        let e = entry(
            &l2_mask(),
            &[
                DpAction::SetEthDst(mac(9)),
                DpAction::PushVlan {
                    tpid: Tpid::Received,
                    tci: 5,
                },
                DpAction::Output(4),
            ],
        )
        .unwrap();
        assert_eq!(e.actions.push_vlan, Some((0, 5)));
        assert_eq!(
            entry(&l2_mask(), &[]).unwrap().actions.terminal,
            Terminal::Drop
        );
    }

    #[test]
    fn what_stays_in_userspace() {
        let l3 = FlowKey {
            nw_dst: u32::MAX,
            ..l2_mask()
        };
        assert_eq!(
            entry(&l3, &[DpAction::Output(1)]),
            Err(NotExpressible::MaskBeyondL2)
        );
        // Pipeline state in a mask is no packet field.
        let meta = FlowKey {
            metadata: 1,
            regs: [1; 16],
            ..l2_mask()
        };
        assert!(entry(&meta, &[DpAction::Output(1)]).is_ok());
        let cases: [(&[DpAction], NotExpressible); 6] = [
            (
                &[DpAction::Output(1), DpAction::Output(2)],
                NotExpressible::SeveralOutputs,
            ),
            (&[DpAction::Output(11)], NotExpressible::PortNotInTier(11)),
            (&[gre(None, true)], NotExpressible::GreChecksum),
            (
                &[
                    DpAction::PushVlan {
                        tpid: Tpid::Is(0x8100),
                        tci: 1,
                    },
                    DpAction::PopVlan,
                    DpAction::Output(1),
                ],
                NotExpressible::Order,
            ),
            (
                &[DpAction::SetIpv4Ttl(3), DpAction::Output(1)],
                NotExpressible::Action(DpAction::SetIpv4Ttl(3)),
            ),
            (
                &[DpAction::Output(1), DpAction::SetEthDst(mac(1))],
                NotExpressible::Order,
            ),
        ];
        for (actions, why) in cases {
            assert_eq!(entry(&l2_mask(), actions), Err(why), "{actions:?}");
        }
    }

    #[test]
    fn bytes_round_trip() {
        for actions in [
            vec![DpAction::PopVlan, gre(Some(7), false)],
            vec![
                DpAction::SetVlan(0x2005),
                DpAction::PushVlan {
                    tpid: Tpid::Is(0x88a8),
                    tci: 0xe00f,
                },
                DpAction::SetEthSrc(mac(3)),
                DpAction::SetEthDst(mac(4)),
                DpAction::Output(2),
            ],
            vec![DpAction::PopVlan],
        ] {
            let e = entry(&l2_mask(), &actions).unwrap();
            assert_eq!(
                TierActions::from_bytes(&e.actions.to_bytes()),
                Some(e.actions)
            );
            assert_eq!(TierKey::from_bytes(&e.key.to_bytes()), e.key);
            assert_eq!(TierKey::from_bytes(&e.mask.to_bytes()), e.mask);
        }
        let k = flow_key_bytes(3, &TierKey::of(&l2_mask()));
        assert_eq!(u32::from_ne_bytes(k[0..4].try_into().unwrap()), 3);
        assert_eq!(&k[4..8], &[0; 4]);
    }

    #[test]
    fn encap_template_sum_gives_userspace_checksum() {
        let e = entry(&l2_mask(), &[gre(Some(1), false)]).unwrap();
        let Terminal::Encap {
            template, ip_sum, ..
        } = e.actions.terminal
        else {
            panic!()
        };
        // With an inner frame of 60 bytes, userspace writes this checksum.
        let DpAction::TunnelOutput { header, .. } = gre(Some(1), false) else {
            panic!()
        };
        let mut full = vec![0u8; 42 + 60];
        write_tunnel_header(&header, 60, &mut full).unwrap();
        let tot = u32::from(u16::from_be_bytes([full[16], full[17]]));
        let mut s = ip_sum + tot;
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        assert_eq!(!(s as u16), u16::from_be_bytes([full[24], full[25]]));
        assert_eq!(&template[..14], &full[..14]);
    }

    #[test]
    fn tunnel_entries_answer_as_the_map_does() {
        use crate::tunnel::TunnelPort;
        let remote = Ipv4Addr::new(192, 0, 2, 2);
        let local = Some(Ipv4Addr::new(192, 0, 2, 1));
        let port = |port, key, local| TunnelPort {
            kind: TunnelType::Gre,
            remote,
            local,
            key,
            port,
        };
        let map = TunnelMap {
            underlays: vec![1],
            tunnels: vec![
                port(10, TunnelKeyMatch::Exactly(5), local),
                port(11, TunnelKeyMatch::Any, local),
                port(12, TunnelKeyMatch::Exactly(6), local), // shadowed by 11
                port(13, TunnelKeyMatch::Exactly(5), local), // shadowed by 10
                port(14, TunnelKeyMatch::NoKey, None),
            ],
        };
        let e = tunnel_entries(&map);
        let ports: Vec<PortNo> = e.iter().map(|(_, p)| *p).collect();
        assert_eq!(ports, vec![10, 11, 14]);
        assert_eq!(e[0].0[1], KEY_EXACTLY);
        assert_eq!(&e[0].0[8..12], &[192, 0, 2, 1]);
        assert_eq!(&e[2].0[8..12], &[0; 4]);
    }

    #[test]
    fn masks_take_slots_up_to_the_limit() {
        let mut m = TierMasks::default();
        for i in 0..16u32 {
            let k = TierKey {
                in_port: i,
                ..TierKey::default()
            };
            assert_eq!(m.slot(&k), Some(i));
            assert_eq!(m.slot(&k), Some(i));
        }
        assert_eq!(
            m.slot(&TierKey {
                in_port: 99,
                ..TierKey::default()
            }),
            None
        );
    }
}
