//! A port's VLAN settings and the rules NORMAL applies with them, as OVS's
//! (`vswitchd/bridge.c` port_configure, `ofproto-dpif.c` bundle_set and
//! `ofproto-dpif-xlate.c` input_vid_is_valid / xvlan_input_translate /
//! xvlan_output_translate / xvlan_put), for one VLAN header (OVS's default vlan-limit).
//!
//! A TCI here is the flow key's: [`VLAN_PRESENT`] stands for "a tag is there" (OVS's
//! non-zero TPID), then PCP and VID.

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PRESENT, VLAN_VID_MASK};

/// `Port.vlan_mode` (dot1q-tunnel is not implemented).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VlanMode {
    /// One VLAN, `tag`; frames leave untagged; a tagged frame arriving is dropped.
    Access,
    /// The VLANs in `trunks` (all if empty), tagged as they are.
    #[default]
    Trunk,
    /// A trunk whose untagged frames belong to `tag`, which leaves tagged.
    NativeTagged,
    /// A trunk whose untagged frames belong to `tag`, which leaves untagged.
    NativeUntagged,
}

impl VlanMode {
    pub fn name(self) -> &'static str {
        match self {
            VlanMode::Access => "access",
            VlanMode::Trunk => "trunk",
            VlanMode::NativeTagged => "native-tagged",
            VlanMode::NativeUntagged => "native-untagged",
        }
    }
}

/// `Port.other_config:priority-tags`: whether a frame that leaves without a VLAN keeps
/// its priority in a VID 0 tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PriorityTags {
    #[default]
    Never,
    /// When the priority is not 0 (`true` or `if-nonzero`).
    IfNonzero,
    /// Also for priority 0, on ports that leave frames tagged.
    Always,
}

/// A port's VLAN configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortVlan {
    pub mode: VlanMode,
    /// The access or native VLAN (none: 0).
    pub tag: Option<u16>,
    /// The VLANs a trunk carries (empty: all).
    pub trunks: Vec<u16>,
    pub priority_tags: PriorityTags,
}

impl PortVlan {
    /// An access port in `vlan`.
    pub fn access(vlan: u16) -> Self {
        PortVlan {
            mode: VlanMode::Access,
            tag: Some(vlan),
            ..PortVlan::default()
        }
    }

    /// The port's own VLAN (OVS's bundle `vlan`): none for a trunk, else the tag or 0.
    pub fn native(&self) -> Option<u16> {
        match self.mode {
            VlanMode::Trunk => None,
            _ => Some(self.tag.unwrap_or(0)),
        }
    }

    fn in_trunks(&self, vid: u16) -> bool {
        self.trunks.is_empty() || self.trunks.contains(&vid)
    }

    /// Whether the port carries `vid` tagged (OVS's xbundle_trunks_vlan, with bundle_set's
    /// rule for native modes: the native VLAN is always trunked, VLAN 0 never).
    pub fn trunks_vlan(&self, vid: u16) -> bool {
        match (self.mode, self.native()) {
            (VlanMode::Access, _) => false,
            (VlanMode::NativeTagged | VlanMode::NativeUntagged, Some(n)) if n != 0 => {
                vid == n || (vid != 0 && self.in_trunks(vid))
            }
            _ => self.in_trunks(vid),
        }
    }

    /// Whether NORMAL may send frames of `vid` here (xbundle_includes_vlan).
    pub fn includes_vlan(&self, vid: u16) -> bool {
        match self.mode {
            VlanMode::Access => Some(vid) == self.native(),
            _ => self.trunks_vlan(vid),
        }
    }

    /// The VLAN a frame with `tci` belongs to inside the bridge, as a TCI (`Ok`), or the
    /// VID that this port may not receive (`Err`).
    pub fn input(&self, tci: u16) -> Result<u16, u16> {
        let vid = if tci & VLAN_PRESENT != 0 {
            tci & VLAN_VID_MASK
        } else {
            0
        };
        let own = |native: u16| VLAN_PRESENT | (tci & VLAN_PCP_MASK) | native;
        match (self.mode, self.native()) {
            (VlanMode::Access, Some(native)) if vid == 0 => Ok(own(native)),
            (VlanMode::Access, _) => Err(vid),
            (VlanMode::NativeTagged | VlanMode::NativeUntagged, Some(native)) if vid == 0 => {
                Ok(own(native))
            }
            _ if self.trunks_vlan(vid) => Ok(tci),
            _ => Err(vid),
        }
    }

    /// The TCI a frame in the bridge's VLAN `xvlan` (from [`PortVlan::input`]) leaves this
    /// port with; `flow_tci` is the frame's TCI before NORMAL (its priority is what
    /// priority tags carry). 0 is untagged.
    pub fn output(&self, xvlan: u16, flow_tci: u16) -> u16 {
        let mut out = match self.mode {
            VlanMode::Access => 0,
            VlanMode::Trunk | VlanMode::NativeTagged => xvlan,
            VlanMode::NativeUntagged if Some(xvlan & VLAN_VID_MASK) == self.native() => 0,
            VlanMode::NativeUntagged => xvlan,
        };
        if self.priority_tags != PriorityTags::Never {
            let pcp = if flow_tci & VLAN_PRESENT != 0 {
                flow_tci & VLAN_PCP_MASK
            } else {
                0
            };
            out = (out & !VLAN_PCP_MASK) | pcp;
        }
        let tagged = out & VLAN_PRESENT != 0;
        if out & !VLAN_PRESENT != 0 || (self.priority_tags == PriorityTags::Always && tagged) {
            out | VLAN_PRESENT
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u16 = VLAN_PRESENT;

    fn port(mode: VlanMode, tag: Option<u16>, trunks: &[u16]) -> PortVlan {
        PortVlan {
            mode,
            tag,
            trunks: trunks.to_vec(),
            priority_tags: PriorityTags::Never,
        }
    }

    #[test]
    fn access_takes_untagged_and_priority_tagged_frames_only() {
        let p = PortVlan::access(5);
        assert_eq!(p.input(0), Ok(P | 5));
        assert_eq!(p.input(P | 0x6000), Ok(P | 0x6000 | 5));
        assert_eq!(p.input(P | 7), Err(7));
        assert!(p.includes_vlan(5) && !p.includes_vlan(6) && !p.trunks_vlan(5));
        // Leaves untagged, priority and all.
        assert_eq!(p.output(P | 0x6000 | 5, P | 0x6000), 0);
    }

    #[test]
    fn access_without_tag_is_vlan_0() {
        let p = port(VlanMode::Access, None, &[]);
        assert_eq!(p.input(0), Ok(P));
        assert!(p.includes_vlan(0) && !p.includes_vlan(1));
    }

    #[test]
    fn trunk_keeps_tags_and_a_priority_tag() {
        let all = port(VlanMode::Trunk, None, &[]);
        assert_eq!(all.input(0), Ok(0));
        assert_eq!(all.input(P | 9), Ok(P | 9));
        assert_eq!(all.output(P | 0x2000 | 9, 0), P | 0x2000 | 9);
        assert_eq!(all.output(0, 0), 0);
        // A VID 0 tag with a priority survives a trunk (OVS's xvlan_put: the TCI is not 0).
        assert_eq!(all.output(P | 0x6000, P | 0x6000), P | 0x6000);
        assert_eq!(all.output(P, P), 0);
        let some = port(VlanMode::Trunk, None, &[9, 10]);
        assert_eq!(some.input(0), Err(0));
        assert_eq!(some.input(P | 11), Err(11));
        assert!(some.includes_vlan(10) && !some.includes_vlan(0));
    }

    #[test]
    fn native_vlan_is_always_trunked_and_vlan_0_never() {
        let p = port(VlanMode::NativeUntagged, Some(5), &[0, 9]);
        assert!(p.trunks_vlan(5) && p.trunks_vlan(9) && !p.trunks_vlan(0) && !p.trunks_vlan(10));
        assert_eq!(p.input(0), Ok(P | 5));
        assert_eq!(p.input(P | 0x4000), Ok(P | 0x4000 | 5));
        assert_eq!(p.input(P | 9), Ok(P | 9));
        assert_eq!(p.input(P | 10), Err(10));
        // The native VLAN leaves untagged, the others tagged.
        assert_eq!(p.output(P | 5, 0), 0);
        assert_eq!(p.output(P | 9, P | 9), P | 9);
        let t = port(VlanMode::NativeTagged, Some(5), &[]);
        assert!(t.trunks_vlan(4000) && !t.trunks_vlan(0));
        assert_eq!(t.output(P | 5, 0), P | 5);
        // Without a tag, the native VLAN is 0 and the trunks are as given.
        let z = port(VlanMode::NativeUntagged, None, &[]);
        assert!(z.trunks_vlan(0));
        assert_eq!(z.input(0), Ok(P));
        assert_eq!(z.output(P, 0), 0);
    }

    #[test]
    fn priority_tags() {
        let mut p = PortVlan::access(5);
        p.priority_tags = PriorityTags::IfNonzero;
        assert_eq!(p.output(P | 0x6000 | 5, P | 0x6000), P | 0x6000);
        assert_eq!(p.output(P | 5, 0), 0);
        // An access port's output has no tag to keep, so `always` adds none for priority 0.
        p.priority_tags = PriorityTags::Always;
        assert_eq!(p.output(P | 5, 0), 0);
        let mut t = port(VlanMode::Trunk, None, &[]);
        t.priority_tags = PriorityTags::Always;
        assert_eq!(t.output(P, 0), P);
        assert_eq!(t.output(0, 0), 0);
        // The priority that leaves is the frame's, not the bridge VLAN's.
        t.priority_tags = PriorityTags::IfNonzero;
        assert_eq!(t.output(P | 0x2000 | 7, P | 0x4000 | 7), P | 0x4000 | 7);
    }
}
