//! The OpenFlow side of xvs: one canonical model of fields, matches, actions,
//! instructions and `learn` specs, as OVS keeps them (meta-flow and ofpacts), whatever
//! the OpenFlow version a flow came in with; their text form in ovs-ofctl syntax
//! ([`parse`] and [`format`]), the checks OVS makes on them ([`check`]), and what a flow
//! becomes through each wire version ([`version`]).

pub mod check;
pub mod field;
pub mod format;
pub mod parse;
pub mod version;

pub use check::OfpErr;
pub use field::{Field, FieldSlice, Prerequisite};
pub use parse::{parse_flow, FlowParseError, ParseMode};
pub use version::OfVersion;

use xvs_dataplane::{FlowKey, MacAddr};

/// OpenFlow port numbers (OpenFlow 1.0 numbering, as ovs-ofctl prints them).
pub type OfPort = u32;
/// Largest number a real port can have; above it are the reserved ports.
pub const OFPP_MAX: OfPort = 0xff00;
pub const OFPP_IN_PORT: OfPort = 0xfff8;
pub const OFPP_TABLE: OfPort = 0xfff9;
pub const OFPP_NORMAL: OfPort = 0xfffa;
pub const OFPP_FLOOD: OfPort = 0xfffb;
pub const OFPP_ALL: OfPort = 0xfffc;
pub const OFPP_CONTROLLER: OfPort = 0xfffd;
pub const OFPP_LOCAL: OfPort = 0xfffe;
pub const OFPP_NONE: OfPort = 0xffff;

/// OpenFlow 1.1+ numbers the reserved ports from 0xffffff00 (OVS's `OFPP11_OFFSET`).
const OFPP11_OFFSET: u32 = 0xffff_0000;

/// An OpenFlow 1.0 port number as OpenFlow 1.1+ numbers it (OVS's
/// `ofputil_port_to_ofp11()`): the same below `OFPP_MAX`, reserved ports 0xfffffff8...
pub fn port_to_ofp11(p: OfPort) -> u32 {
    if p < OFPP_MAX {
        p
    } else {
        p.wrapping_add(OFPP11_OFFSET)
    }
}

/// The OpenFlow 1.0 number of an OpenFlow 1.1+ port (OVS's `ofputil_port_from_ofp11()`);
/// `None` for numbers in neither range.
pub fn port_from_ofp11(p: u32) -> Option<OfPort> {
    if p < OFPP_MAX {
        Some(p)
    } else if p >= OFPP_MAX.wrapping_add(OFPP11_OFFSET) {
        Some(p - OFPP11_OFFSET)
    } else {
        None
    }
}

pub const DEFAULT_PRIORITY: u16 = 32768;
pub const N_TABLES: u8 = 255;

/// A match: the bits of `value` selected by `mask` must equal the packet's. `value` has
/// no bits outside `mask`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Match {
    pub value: FlowKey,
    pub mask: FlowKey,
}

impl Match {
    pub fn catch_all() -> Self {
        Match::default()
    }

    pub fn matches(&self, key: &FlowKey) -> bool {
        key.masked(&self.mask) == self.value
    }

    /// Matches `field` equal to `v` under mask `m`, replacing what was matched of it
    /// before (OVS's `mf_set()`; see [`Field::set_in_match`]).
    pub fn set_field(&mut self, field: Field, v: u128, m: u128) {
        field.set_in_match(&mut self.value, &mut self.mask, v, m);
    }

    /// Sets `bits` of `field` to `v` (both right-aligned), keeping what is matched of the
    /// field's other bits (OVS's `mf_write_subfield_value()`).
    pub fn set_masked(&mut self, field: Field, v: u128, bits: u128) {
        let old_v = field.get(&self.value);
        let old_m = field.get_raw(&self.mask);
        self.set_field(field, (old_v & !bits) | (v & bits), old_m | bits);
    }

    pub fn set_exact(&mut self, field: Field, v: u128) {
        self.set_field(field, v, u128::MAX);
    }

    /// Whether every packet this match accepts is also accepted by `other` (used by the
    /// non-strict forms of mod-flows, del-flows and dump-flows).
    pub fn is_within(&self, other: &Match) -> bool {
        other.mask.is_subset_of(&self.mask) && self.value.masked(&other.mask) == other.value
    }
}

/// A `learn(...)` action: installs (or refreshes) a flow built from the packet.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct LearnSpec {
    pub table: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub cookie: u64,
    pub items: Vec<LearnItem>,
}

impl Default for LearnSpec {
    fn default() -> Self {
        LearnSpec {
            table: 1,
            priority: DEFAULT_PRIORITY,
            idle_timeout: 0,
            hard_timeout: 0,
            cookie: 0,
            items: Vec::new(),
        }
    }
}

/// Where a learned value comes from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LearnSrc {
    /// This packet's bits (same width as the destination).
    Field(FieldSlice),
    Immediate(u128),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LearnItem {
    /// `dst=src` (or `dst` alone, meaning `dst=dst` of this packet): the new flow matches
    /// `dst` equal to the value.
    Match { dst: FieldSlice, src: LearnSrc },
    /// `load:src->dst`: the new flow's actions load the value into `dst`.
    Load { src: LearnSrc, dst: FieldSlice },
    /// `output:FIELD`: the new flow outputs to the port number in this packet's field.
    Output { src: FieldSlice },
}

/// One action or instruction, as OVS's `struct ofpact`: where OVS keeps how an action was
/// spelled (`ofpact.raw`: `strip_vlan` or `pop_vlan`, `set_field` or `load`), so does
/// this type, because dumps print what was given. Instructions (`write_metadata`,
/// `goto_table`) end the list, in that order, as OpenFlow 1.1+ requires.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// `output:P`, or a reserved port by name: `IN_PORT`, `NORMAL`, `FLOOD`, `ALL`,
    /// `LOCAL`, `TABLE`.
    Output(OfPort),
    /// `output:FIELD[a..b]`: to the port number held in the field.
    OutputField(FieldSlice),
    /// `CONTROLLER:max_len` (also `controller`, `output:CONTROLLER`): xvs has no
    /// controller channel for packets, so these are dropped and counted.
    Controller {
        max_len: u16,
    },
    /// `mod_vlan_vid:N`: sets the VID, pushing a tag (PCP 0) if there is none.
    ModVlanVid(u16),
    /// `set_vlan_vid:N`: sets the VID of a tag the packet has; nothing without one.
    SetVlanVid(u16),
    /// `mod_vlan_pcp:N`: sets the PCP, pushing a tag (VID 0) if there is none.
    ModVlanPcp(u8),
    /// `set_vlan_pcp:N`: sets the PCP of a tag the packet has.
    SetVlanPcp(u8),
    /// `strip_vlan` (OpenFlow 1.0's name).
    StripVlan,
    /// `pop_vlan` (OpenFlow 1.1+'s name): the same action as `strip_vlan`.
    PopVlan,
    /// `push_vlan:0x8100` or `push_vlan:0x88a8`: a tag (VID 0, PCP 0) with that TPID.
    PushVlan(u16),
    /// `set_tunnel:ID` (`wide` false) or `set_tunnel64:ID`.
    SetTunnel {
        id: u64,
        wide: bool,
    },
    /// `resubmit(P,T)`; `None` port means the packet's in_port, `None` table the current
    /// table (`resubmit:P` is `port: Some(P), table: None`). Returns: the actions after
    /// it run once the resubmitted lookup is done.
    Resubmit {
        port: Option<OfPort>,
        table: Option<u8>,
    },
    ModDlSrc(MacAddr),
    ModDlDst(MacAddr),
    /// `mod_nw_src:A.B.C.D` (IPv4 packets only).
    ModNwSrc(u32),
    /// `mod_nw_dst:A.B.C.D` (IPv4 packets only).
    ModNwDst(u32),
    /// `mod_nw_tos:N`: the DSCP bits in place (a multiple of 4).
    ModNwTos(u8),
    /// `mod_tp_src:N`: the TCP, UDP or SCTP source port.
    ModTpSrc(u16),
    /// `mod_tp_dst:N`.
    ModTpDst(u16),
    /// `set_field:V[/M]->FIELD`: `value` is already masked.
    SetField {
        field: Field,
        value: u128,
        mask: u128,
    },
    /// `load:V->FIELD[a..b]` (OVS's NXAST_REG_LOAD form of set_field).
    Load {
        value: u128,
        dst: FieldSlice,
    },
    /// `move:SRC[a..b]->DST[c..d]` (same number of bits).
    Move {
        src: FieldSlice,
        dst: FieldSlice,
    },
    /// `dec_ttl`, or `dec_ttl(id,...)` with the controller ids (non-empty).
    DecTtl(Vec<u16>),
    /// `note:hex.bytes`: does nothing.
    Note(Vec<u8>),
    Learn(Box<LearnSpec>),
    /// Instruction `write_metadata:V[/M]`: `metadata = (metadata & !M) | (V & M)`.
    WriteMetadata {
        value: u64,
        mask: u64,
    },
    /// Instruction `goto_table:N`: translation goes on in table N (greater than the
    /// rule's); it is the last thing the rule does.
    GotoTable(u8),
}

impl Action {
    /// The field, value and mask a `set_field` or `load` writes (OVS keeps both as one
    /// ofpact).
    pub fn set_field_parts(&self) -> Option<(Field, u128, u128)> {
        match *self {
            Action::SetField { field, value, mask } => Some((field, value, mask)),
            Action::Load { value, dst } => Some((dst.field, value << dst.ofs, dst.field_mask())),
            _ => None,
        }
    }

    /// Whether this is an OpenFlow 1.1+ instruction rather than an action.
    pub fn is_instruction(&self) -> bool {
        matches!(self, Action::WriteMetadata { .. } | Action::GotoTable(_))
    }
}

/// A flow's flags (OVS's `enum ofputil_flow_mod_flags`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct FlowFlags(pub u16);

impl FlowFlags {
    pub const SEND_FLOW_REM: u16 = 1 << 0;
    pub const CHECK_OVERLAP: u16 = 1 << 1;
    /// Set on every flow an OpenFlow 1.0 flow_mod adds, as in OVS.
    pub const RESET_COUNTS: u16 = 1 << 2;
    pub const NO_PKT_COUNTS: u16 = 1 << 3;
    pub const NO_BYT_COUNTS: u16 = 1 << 4;

    /// The flags in the order and spelling of flow text.
    pub const NAMES: [(u16, &'static str); 5] = [
        (Self::SEND_FLOW_REM, "send_flow_rem"),
        (Self::CHECK_OVERLAP, "check_overlap"),
        (Self::RESET_COUNTS, "reset_counts"),
        (Self::NO_PKT_COUNTS, "no_packet_counts"),
        (Self::NO_BYT_COUNTS, "no_byte_counts"),
    ];

    pub fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }
}

/// One line of ovs-ofctl flow text, parsed. What applies depends on the command
/// ([`ParseMode`]): `add-flow` needs actions, `del-flows` has none, and so on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FlowMod {
    /// `table=N`; `None` when not given (add: table 0; mod/del/dump: every table).
    pub table: Option<u8>,
    /// `priority=N`, 32768 when not given (strict del/mod compare it, as OVS does).
    pub priority: u16,
    pub cookie: u64,
    /// `cookie=V/M` in mod/del/dump; 0 means any cookie.
    pub cookie_mask: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// `send_flow_rem`, `check_overlap`, `reset_counts`, ... (kept and printed).
    pub flags: FlowFlags,
    pub matcher: Match,
    /// `None` when the text had no `actions=` (del-flows, dump-flows). Instructions
    /// (`write_metadata`, `goto_table`) are in the list, last.
    pub actions: Option<Vec<Action>>,
    /// `out_port=P` in del/dump: only flows that output to P.
    pub out_port: Option<OfPort>,
}

impl Default for FlowMod {
    fn default() -> Self {
        FlowMod {
            table: None,
            priority: DEFAULT_PRIORITY,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: FlowFlags::default(),
            matcher: Match::default(),
            actions: None,
            out_port: None,
        }
    }
}

/// Port names of a bridge, so flows can say `in_port=patch-int` and dumps can print
/// names (`--names`).
pub trait PortNames {
    fn port_no(&self, name: &str) -> Option<OfPort>;
    fn port_name(&self, no: OfPort) -> Option<&str>;
}

/// No named ports: only numbers are accepted.
pub struct NoPortNames;

impl PortNames for NoPortNames {
    fn port_no(&self, _: &str) -> Option<OfPort> {
        None
    }
    fn port_name(&self, _: OfPort) -> Option<&str> {
        None
    }
}
