//! The OpenFlow side of xvs: fields, matches, actions and `learn` specs, and their text
//! form in ovs-ofctl syntax ([`parse`] and [`format`]).

pub mod field;
pub mod format;
pub mod parse;

pub use field::{Field, FieldSlice, Prerequisite};
pub use parse::{parse_flow, FlowParseError, ParseMode};

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

    /// Sets `bits` of `field` to `v` (both right-aligned); keeps `value` inside `mask`.
    pub fn set_masked(&mut self, field: Field, v: u64, bits: u64) {
        let old_v = field.get(&self.value);
        let old_m = field.get(&self.mask);
        field.set(&mut self.mask, old_m | bits);
        field.set(&mut self.value, (old_v & !bits) | (v & bits));
    }

    pub fn set_exact(&mut self, field: Field, v: u64) {
        self.set_masked(field, v, u64::MAX);
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
    Immediate(u64),
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

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// `output:P`, or a reserved port by name: `IN_PORT`, `NORMAL`, `FLOOD`, `ALL`,
    /// `LOCAL`, `CONTROLLER`.
    Output(OfPort),
    /// `output:FIELD[a..b]`: to the port number held in the field.
    OutputField(FieldSlice),
    /// `mod_vlan_vid:N`: sets the VID, pushing a tag (PCP 0) if there is none.
    ModVlanVid(u16),
    /// `mod_vlan_pcp:N`: sets the PCP, pushing a tag (VID 0) if there is none.
    ModVlanPcp(u8),
    /// `strip_vlan` (printed as such) or `pop_vlan`.
    StripVlan,
    /// `push_vlan:0x8100` or `push_vlan:0x88a8`: a tag (VID 0, PCP 0) with that TPID.
    PushVlan(u16),
    /// `set_tunnel:ID` (`wide` false) or `set_tunnel64:ID`.
    SetTunnel {
        id: u64,
        wide: bool,
    },
    /// `resubmit(P,T)`; `None` port means the packet's in_port, `None` table the current
    /// table (`resubmit:P` is `port: Some(P), table: None`).
    Resubmit {
        port: Option<OfPort>,
        table: Option<u8>,
    },
    ModDlSrc(MacAddr),
    ModDlDst(MacAddr),
    /// `load:V->FIELD[a..b]`.
    Load {
        value: u64,
        dst: FieldSlice,
    },
    /// `move:SRC[a..b]->DST[c..d]` (same number of bits).
    Move {
        src: FieldSlice,
        dst: FieldSlice,
    },
    Learn(Box<LearnSpec>),
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
    pub matcher: Match,
    /// `None` when the text had no `actions=` (del-flows, dump-flows).
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
