//! Port numbers, port descriptions and port statistics.
//!
//! **Numbering.** This crate's API uses OpenFlow 1.0 port numbers everywhere
//! (16 bits: 1..0xfeff physical, OFPP_IN_PORT 0xfff8 ... OFPP_LOCAL 0xfffe,
//! OFPP_NONE 0xffff), as OVS does internally and as xvs's pipeline does. OpenFlow
//! 1.1+ messages carry 32-bit numbers (OFPP_LOCAL 0xfffffffe, OFPP_ANY 0xffffffff):
//! decoders convert them with [`port_from_ofp11`] and encoders with
//! [`port_to_ofp11`], OVS's `ofputil_port_from_ofp11` / `ofputil_port_to_ofp11`
//! (0..0xfeff unchanged, 0xffffff00.. = 0xff00.. + 0xffff0000; the numbers in
//! between do not exist: OFPBAC_BAD_OUT_PORT).
//!
//! **Descriptions** ([`PortDesc`]) follow OVS's `ofputil_phy_port`: `config` and
//! `state` in OVS's bits (OF1.0's OFPPC_*/OFPPS_* plus OF1.1's OFPPS11_BLOCKED and
//! OFPPS11_LIVE), masked per version on encoding; features in OF1.1+'s OFPPF_*
//! layout (converted for OF1.0 as `netdev_port_features_to_ofp10`).

use crate::bytes::{view, Put};
use crate::errors::OfError;

/// OpenFlow 1.0 reserved port numbers (the numbering of this crate's API).
pub mod ofpp {
    /// Highest physical port + 1.
    pub const MAX: u16 = 0xff00;
    pub const IN_PORT: u16 = 0xfff8;
    pub const TABLE: u16 = 0xfff9;
    pub const NORMAL: u16 = 0xfffa;
    pub const FLOOD: u16 = 0xfffb;
    pub const ALL: u16 = 0xfffc;
    pub const CONTROLLER: u16 = 0xfffd;
    pub const LOCAL: u16 = 0xfffe;
    /// OFPP_NONE, also OF1.1+'s OFPP_ANY once converted.
    pub const NONE: u16 = 0xffff;
}

/// OpenFlow 1.1+ reserved port numbers as on the wire.
pub mod ofpp11 {
    pub const MAX: u32 = 0xffff_ff00;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    pub const ANY: u32 = 0xffff_ffff;
}

/// `OFPP11_OFFSET`: OFPP11_MAX - OFPP_MAX.
const OFPP11_OFFSET: u32 = 0xffff_0000;

/// A 32-bit OF1.1+ port number that has no OF1.0 equivalent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("port {0} is outside the supported range 0 through 65279 or 0xffffff00 through 0xffffffff")]
pub struct PortRangeError(pub u32);

impl PortRangeError {
    pub fn of_error(self) -> OfError {
        OfError::OFPBAC_BAD_OUT_PORT
    }
}

/// OVS's `ofputil_port_from_ofp11`: an OF1.1+ port number in OF1.0 numbering.
pub fn port_from_ofp11(port: u32) -> Result<u16, PortRangeError> {
    if port < u32::from(ofpp::MAX) {
        Ok(port as u16)
    } else if port >= ofpp11::MAX {
        Ok((port - OFPP11_OFFSET) as u16)
    } else {
        Err(PortRangeError(port))
    }
}

/// OVS's `ofputil_port_to_ofp11`: an OF1.0 port number in OF1.1+ numbering.
pub fn port_to_ofp11(port: u16) -> u32 {
    if port < ofpp::MAX {
        u32::from(port)
    } else {
        u32::from(port) + OFPP11_OFFSET
    }
}

/// `OFPPC_*` port config bits (OVS keeps OF1.0's; OF1.1+ has a subset).
pub mod ofppc {
    pub const PORT_DOWN: u32 = 1 << 0;
    pub const NO_STP: u32 = 1 << 1;
    pub const NO_RECV: u32 = 1 << 2;
    pub const NO_RECV_STP: u32 = 1 << 3;
    pub const NO_FLOOD: u32 = 1 << 4;
    pub const NO_FWD: u32 = 1 << 5;
    pub const NO_PACKET_IN: u32 = 1 << 6;
    /// Bits OF1.0 has.
    pub const OF10_ALL: u32 = 0x7f;
    /// Bits OF1.1+ has.
    pub const OF11_ALL: u32 = PORT_DOWN | NO_RECV | NO_FWD | NO_PACKET_IN;
}

/// `OFPPS_*` port state bits (union of OF1.0's and OF1.1+'s, as OVS).
pub mod ofpps {
    pub const LINK_DOWN: u32 = 1 << 0;
    /// OF1.1+ only.
    pub const BLOCKED: u32 = 1 << 1;
    /// OF1.1+ only: live for fast failover (OVS sets it for ports that are up).
    pub const LIVE: u32 = 1 << 2;
    /// OF1.0 only: STP state bits.
    pub const STP_MASK: u32 = 3 << 8;
    pub const OF10_ALL: u32 = LINK_DOWN | STP_MASK;
    pub const OF11_ALL: u32 = LINK_DOWN | BLOCKED | LIVE;
}

/// `OFPPF_*` port feature bits in OF1.1+'s layout (this crate's).
pub mod ofppf {
    pub const F_10MB_HD: u32 = 1 << 0;
    pub const F_10MB_FD: u32 = 1 << 1;
    pub const F_100MB_HD: u32 = 1 << 2;
    pub const F_100MB_FD: u32 = 1 << 3;
    pub const F_1GB_HD: u32 = 1 << 4;
    pub const F_1GB_FD: u32 = 1 << 5;
    pub const F_10GB_FD: u32 = 1 << 6;
    pub const F_40GB_FD: u32 = 1 << 7;
    pub const F_100GB_FD: u32 = 1 << 8;
    pub const F_1TB_FD: u32 = 1 << 9;
    pub const OTHER: u32 = 1 << 10;
    pub const COPPER: u32 = 1 << 11;
    pub const FIBER: u32 = 1 << 12;
    pub const AUTONEG: u32 = 1 << 13;
    pub const PAUSE: u32 = 1 << 14;
    pub const PAUSE_ASYM: u32 = 1 << 15;
}

/// OF1.1 feature bits in OF1.0's layout (`netdev_port_features_to_ofp10`).
pub fn features_to_ofp10(f: u32) -> u32 {
    (f & 0x7f) | ((f & 0xf800) >> 4)
}

/// OF1.0 feature bits in OF1.1's layout (`netdev_port_features_from_ofp10`).
pub fn features_from_ofp10(f: u32) -> u32 {
    (f & 0x7f) | ((f & 0xf80) << 4)
}

/// A port as OFPT_FEATURES_REPLY (OF1.0), OFPMP_PORT_DESC and OFPT_PORT_STATUS
/// describe it (OVS's `ofputil_phy_port`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PortDesc {
    /// OF1.0 numbering (OFPP_LOCAL = 0xfffe for the bridge's own port).
    pub port_no: u16,
    pub hw_addr: [u8; 6],
    /// Cut to 15 bytes on the wire.
    pub name: String,
    /// `OFPPC_*` ([`ofppc`]).
    pub config: u32,
    /// `OFPPS_*` ([`ofpps`]).
    pub state: u32,
    /// OF1.1 `OFPPF_*` bits ([`ofppf`]).
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    /// Current and maximum bitrate in kbps (OF1.1+ only).
    pub curr_speed: u32,
    pub max_speed: u32,
}

/// `sizeof(struct ofp10_phy_port)`.
pub const OFP10_PHY_PORT_LEN: usize = 48;
/// `sizeof(struct ofp11_port)`.
pub const OFP11_PORT_LEN: usize = 64;
/// `sizeof(struct ofp14_port)` + its Ethernet property.
pub const OFP14_PORT_LEN: usize = 72;

impl PortDesc {
    /// Appends an `ofp10_phy_port`.
    pub fn emit_of10(&self, buf: &mut Vec<u8>) {
        buf.put_u16(self.port_no);
        buf.extend_from_slice(&self.hw_addr);
        buf.put_c_string(&self.name, 16);
        buf.put_u32(self.config & ofppc::OF10_ALL);
        buf.put_u32(self.state & ofpps::OF10_ALL);
        for f in [self.curr, self.advertised, self.supported, self.peer] {
            buf.put_u32(features_to_ofp10(f));
        }
    }

    /// Appends an `ofp11_port` (OpenFlow 1.1 to 1.3).
    pub fn emit_of11(&self, buf: &mut Vec<u8>) {
        buf.put_u32(port_to_ofp11(self.port_no));
        buf.put_zeros(4);
        buf.extend_from_slice(&self.hw_addr);
        buf.put_zeros(2);
        buf.put_c_string(&self.name, 16);
        buf.put_u32(self.config & ofppc::OF11_ALL);
        buf.put_u32(self.state & ofpps::OF11_ALL);
        for f in [self.curr, self.advertised, self.supported, self.peer] {
            buf.put_u32(f & 0xffff);
        }
        buf.put_u32(self.curr_speed);
        buf.put_u32(self.max_speed);
    }

    /// Appends an `ofp14_port` with its OFPPDPT14_ETHERNET property (OpenFlow 1.4+).
    pub fn emit_of14(&self, buf: &mut Vec<u8>) {
        buf.put_u32(port_to_ofp11(self.port_no));
        buf.put_u16(OFP14_PORT_LEN as u16);
        buf.put_zeros(2);
        buf.extend_from_slice(&self.hw_addr);
        buf.put_zeros(2);
        buf.put_c_string(&self.name, 16);
        buf.put_u32(self.config & ofppc::OF11_ALL);
        buf.put_u32(self.state & ofpps::OF11_ALL);
        buf.put_u16(0); // OFPPDPT14_ETHERNET
        buf.put_u16(32);
        buf.put_zeros(4);
        for f in [self.curr, self.advertised, self.supported, self.peer] {
            buf.put_u32(f & 0xffff);
        }
        buf.put_u32(self.curr_speed);
        buf.put_u32(self.max_speed);
    }
}

view! {
    /// A checked view of `struct ofp10_phy_port` (used to read captures back).
    pub struct Of10PhyPortView(OFP10_PHY_PORT_LEN) {
        port_no: u16 @ 0,
        hw_addr: mac @ 2,
        name: name16 @ 8,
        config: u32 @ 24,
        state: u32 @ 28,
        curr: u32 @ 32,
        advertised: u32 @ 36,
        supported: u32 @ 40,
        peer: u32 @ 44,
    }
}

view! {
    /// A checked view of `struct ofp11_port`.
    pub struct Of11PortView(OFP11_PORT_LEN) {
        port_no: u32 @ 0,
        hw_addr: mac @ 8,
        name: name16 @ 16,
        config: u32 @ 32,
        state: u32 @ 36,
        curr: u32 @ 40,
        advertised: u32 @ 44,
        supported: u32 @ 48,
        peer: u32 @ 52,
        curr_speed: u32 @ 56,
        max_speed: u32 @ 60,
    }
}

/// Statistics of one port (OVS's `ofputil_port_stats`). Counters a port does not
/// keep are `u64::MAX`, which OVS sends as is (ovs-ofctl prints "?").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortStats {
    /// OF1.0 numbering.
    pub port_no: u16,
    /// How long the port has existed (OF1.3+).
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
    /// OF1.4+: the 21 counters of OVS's Intel RFC 2819 experimenter property, in
    /// `struct intel_port_stats_rfc2819` order (rx_1_to_64_packets ...
    /// rx_jabber_errors). OVS always sends the property.
    pub rfc2819: [u64; 21],
    /// OF1.4+: OVS's "custom statistics" experimenter property (netdev-specific
    /// counters), sent only when not empty.
    pub custom: Vec<(String, u64)>,
}

impl PortStats {
    /// Every counter unknown (`u64::MAX`), durations 0.
    pub fn unknown(port_no: u16) -> PortStats {
        PortStats {
            port_no,
            duration_sec: 0,
            duration_nsec: 0,
            rx_packets: u64::MAX,
            tx_packets: u64::MAX,
            rx_bytes: u64::MAX,
            tx_bytes: u64::MAX,
            rx_dropped: u64::MAX,
            tx_dropped: u64::MAX,
            rx_errors: u64::MAX,
            tx_errors: u64::MAX,
            rx_frame_err: u64::MAX,
            rx_over_err: u64::MAX,
            rx_crc_err: u64::MAX,
            collisions: u64::MAX,
            rfc2819: [u64::MAX; 21],
            custom: Vec::new(),
        }
    }

    fn counters(&self) -> [u64; 12] {
        [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ]
    }

    /// Appends an `ofp10_port_stats` (104 bytes).
    pub fn emit_of10(&self, buf: &mut Vec<u8>) {
        buf.put_u16(self.port_no);
        buf.put_zeros(6);
        for c in self.counters() {
            buf.put_u64(c);
        }
    }

    /// Appends an `ofp13_port_stats` (112 bytes).
    pub fn emit_of13(&self, buf: &mut Vec<u8>) {
        buf.put_u32(port_to_ofp11(self.port_no));
        buf.put_zeros(4);
        for c in self.counters() {
            buf.put_u64(c);
        }
        buf.put_u32(self.duration_sec);
        buf.put_u32(self.duration_nsec);
    }

    /// Appends an `ofp14_port_stats` with OVS's properties: Ethernet, Intel RFC
    /// 2819, and custom statistics when there are any.
    pub fn emit_of14(&self, buf: &mut Vec<u8>) {
        const INTEL_VENDOR_ID: u32 = 0x0000_aa01;
        let start = buf.len();
        let c = self.counters();
        buf.put_u16(0);
        buf.put_zeros(2);
        buf.put_u32(port_to_ofp11(self.port_no));
        buf.put_u32(self.duration_sec);
        buf.put_u32(self.duration_nsec);
        for v in &c[..8] {
            buf.put_u64(*v);
        }
        // OFPPSPT14_ETHERNET.
        buf.put_u16(0);
        buf.put_u16(40);
        buf.put_zeros(4);
        for v in &c[8..] {
            buf.put_u64(*v);
        }
        // Intel RFC 2819 counters (OFPPSPT14_EXPERIMENTER, exp_type 1).
        buf.put_u16(0xffff);
        buf.put_u16(184);
        buf.put_u32(INTEL_VENDOR_ID);
        buf.put_u32(1);
        buf.put_zeros(4);
        for v in self.rfc2819 {
            buf.put_u64(v);
        }
        if !self.custom.is_empty() {
            let prop = buf.len();
            buf.put_u16(0xffff);
            buf.put_u16(0);
            buf.put_u32(INTEL_VENDOR_ID);
            buf.put_u32(2);
            buf.put_zeros(2);
            buf.put_u16(self.custom.len() as u16);
            for (name, value) in &self.custom {
                let name = &name.as_bytes()[..name.len().min(255)];
                buf.put_u8(name.len() as u8);
                buf.extend_from_slice(name);
                buf.put_u64(*value);
            }
            let len = (buf.len() - prop) as u16;
            buf.set_u16(prop + 2, len);
            buf.pad_to_8(prop);
        }
        let len = (buf.len() - start) as u16;
        buf.set_u16(start, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::{hex, to_hex};

    #[test]
    fn numbering() {
        assert_eq!(port_to_ofp11(ofpp::LOCAL), ofpp11::LOCAL);
        assert_eq!(port_to_ofp11(ofpp::NONE), ofpp11::ANY);
        assert_eq!(port_to_ofp11(ofpp::NORMAL), ofpp11::NORMAL);
        assert_eq!(port_to_ofp11(7), 7);
        assert_eq!(port_to_ofp11(0xfeff), 0xfeff);
        assert_eq!(port_from_ofp11(ofpp11::IN_PORT), Ok(ofpp::IN_PORT));
        assert_eq!(port_from_ofp11(ofpp11::ANY), Ok(ofpp::NONE));
        assert_eq!(port_from_ofp11(0xfeff), Ok(0xfeff));
        assert_eq!(port_from_ofp11(0xff00), Err(PortRangeError(0xff00)));
        assert_eq!(
            port_from_ofp11(0xfffffeff).unwrap_err().of_error(),
            OfError::OFPBAC_BAD_OUT_PORT
        );
        for p in (0..=0xfeffu16).chain(0xff00..=0xffff) {
            assert_eq!(port_from_ofp11(port_to_ofp11(p)), Ok(p));
        }
    }

    /// The bridge's LOCAL port of the capture switch (its MAC is random per run).
    fn local() -> PortDesc {
        PortDesc {
            port_no: ofpp::LOCAL,
            hw_addr: [0xe6, 0x60, 0xa7, 0xbd, 0x64, 0x49],
            name: "br0".into(),
            config: ofppc::PORT_DOWN,
            state: ofpps::LINK_DOWN,
            curr: ofppf::F_10GB_FD | ofppf::COPPER,
            curr_speed: 10_000_000,
            ..Default::default()
        }
    }

    fn p1() -> PortDesc {
        PortDesc {
            port_no: 1,
            hw_addr: [0xaa, 0x55, 0xaa, 0x55, 0x00, 0x01],
            name: "p1".into(),
            state: ofpps::LIVE,
            ..Default::default()
        }
    }

    #[test]
    fn descriptions_as_ovs() {
        // ovs-ofctl show br0 (OF1.0 FEATURES_REPLY ports), -O OpenFlow13
        // dump-ports-desc (ofp11_port), -O OpenFlow14 dump-ports-desc (ofp14_port).
        let mut b = Vec::new();
        p1().emit_of10(&mut b);
        local().emit_of10(&mut b);
        assert_eq!(
            to_hex(&b),
            concat!(
                "0001aa55aa55000170310000000000000000000000000000000000000000000000000000000000000000000000000000",
                "fffee660a7bd6449627230000000000000000000000000000000000100000001000000c0000000000000000000000000",
            )
        );
    }

    #[test]
    fn of11_and_of14_descriptions() {
        let mut b = Vec::new();
        p1().emit_of11(&mut b);
        local().emit_of11(&mut b);
        assert_eq!(
            to_hex(&b),
            concat!(
                "00000001 00000000 aa55aa550001 0000 70310000000000000000000000000000",
                " 00000000 00000004 00000000 00000000 00000000 00000000 00000000 00000000",
                " fffffffe 00000000 e660a7bd6449 0000 62723000000000000000000000000000",
                " 00000001 00000001 00000840 00000000 00000000 00000000 00989680 00000000"
            )
            .replace(' ', "")
        );
        let mut b = Vec::new();
        p1().emit_of14(&mut b);
        assert_eq!(
            to_hex(&b),
            concat!(
                "00000001 0048 0000 aa55aa550001 0000 70310000000000000000000000000000",
                " 00000000 00000004 0000 0020 00000000",
                " 00000000 00000000 00000000 00000000 00000000 00000000"
            )
            .replace(' ', "")
        );
        assert_eq!(b.len(), OFP14_PORT_LEN);
        let v = Of11PortView::new_checked(&hex("0000000100000000aa55aa55000100007031")).is_none();
        assert!(v);
    }

    #[test]
    fn feature_bits() {
        assert_eq!(features_to_ofp10(ofppf::F_10GB_FD | ofppf::COPPER), 0xc0);
        assert_eq!(features_from_ofp10(0xc0), 0x840);
    }
}
