//! OpenFlow versions: the ones this codec speaks, and the 32-bit version bitmaps of
//! OFPT_HELLO (bit N set = wire version N supported).

use std::fmt;

/// An OpenFlow version this codec decodes and encodes. The discriminant is the
/// `ofp_header.version` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Version {
    /// OpenFlow 1.0 (0x01), with Nicira extensions: ovs-ofctl's default.
    Of10 = 0x01,
    /// OpenFlow 1.3 (0x04): os-ken (the Neutron agent), `ovs-ofctl -O OpenFlow13`.
    Of13 = 0x04,
    /// OpenFlow 1.4 (0x05): `ovs-ofctl --bundle`.
    Of14 = 0x05,
}

impl Version {
    /// Every version this codec speaks, lowest first.
    pub const ALL: [Version; 3] = [Version::Of10, Version::Of13, Version::Of14];

    /// The version with this `ofp_header.version` byte, if the codec speaks it.
    pub fn from_wire(v: u8) -> Option<Version> {
        match v {
            0x01 => Some(Version::Of10),
            0x04 => Some(Version::Of13),
            0x05 => Some(Version::Of14),
            _ => None,
        }
    }

    /// The `ofp_header.version` byte.
    pub fn wire(self) -> u8 {
        self as u8
    }

    /// OVSDB's `Bridge.protocols` spelling ("OpenFlow10", ...).
    pub fn ovsdb_name(self) -> &'static str {
        match self {
            Version::Of10 => "OpenFlow10",
            Version::Of13 => "OpenFlow13",
            Version::Of14 => "OpenFlow14",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::Of10 => "OpenFlow 1.0",
            Version::Of13 => "OpenFlow 1.3",
            Version::Of14 => "OpenFlow 1.4",
        })
    }
}

/// A set of wire versions 1..=31, as the first 32-bit word of an
/// OFPHET_VERSIONBITMAP element: bit N set means version N. Bit 0 (there is no
/// version 0) is never set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VersionBitmap(u32);

impl VersionBitmap {
    /// The empty set.
    pub const EMPTY: VersionBitmap = VersionBitmap(0);

    /// The set with these bits (bit 0 is cleared: it names no version).
    pub fn from_bits(bits: u32) -> VersionBitmap {
        VersionBitmap(bits & !1)
    }

    /// The set of these versions.
    pub fn from_versions(versions: &[Version]) -> VersionBitmap {
        VersionBitmap(versions.iter().fold(0, |acc, v| acc | 1 << v.wire()))
    }

    /// Every version up to and including wire version `v` (what a HELLO without a
    /// bitmap announces; OVS's `version_bitmap_from_version`).
    pub fn up_to(v: u8) -> VersionBitmap {
        let bits = if v < 32 {
            (1u32 << v).wrapping_sub(1) << 1
        } else {
            !0u32 << 1
        };
        VersionBitmap(bits)
    }

    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// True if wire version `v` is in the set.
    pub fn contains(self, v: u8) -> bool {
        v < 32 && self.0 & (1 << v) != 0
    }

    /// True if the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The versions in both sets.
    pub fn intersection(self, other: VersionBitmap) -> VersionBitmap {
        VersionBitmap(self.0 & other.0)
    }

    /// The highest wire version in the set, if any.
    pub fn highest(self) -> Option<u8> {
        (self.0 != 0).then(|| 31 - self.0.leading_zeros() as u8)
    }

    /// The wire versions in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (1..32u8).filter(move |v| self.contains(*v))
    }

    /// True if the set is exactly "1 up to its highest version", which a HELLO
    /// without a bitmap expresses (OVS's `should_send_version_bitmap` is the
    /// negation).
    pub fn is_contiguous_from_one(self) -> bool {
        let x = (self.0 >> 1).wrapping_add(1);
        x & x.wrapping_sub(1) == 0
    }

    /// OVS's `version_bitmap_to_string` (used in the HELLO_FAILED text):
    /// "no versions", "version 0x04", "version 0x04 and earlier",
    /// "versions 0x01, 0x04, 0x05".
    pub fn describe(self) -> String {
        match self.highest() {
            None => "no versions".to_string(),
            Some(h) if self.0.count_ones() == 1 => format!("version 0x{h:02x}"),
            Some(h) if self.is_contiguous_from_one() => format!("version 0x{h:02x} and earlier"),
            Some(_) => {
                let list: Vec<String> = self.iter().map(|v| format!("0x{v:02x}")).collect();
                format!("versions {}", list.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps() {
        let ours = VersionBitmap::from_versions(&Version::ALL);
        assert_eq!(ours.bits(), 0x32);
        assert_eq!(ours.highest(), Some(5));
        assert_eq!(ours.iter().collect::<Vec<_>>(), vec![1, 4, 5]);
        assert_eq!(VersionBitmap::up_to(1).bits(), 0x2);
        assert_eq!(VersionBitmap::up_to(4).bits(), 0x1e);
        assert_eq!(VersionBitmap::up_to(31).bits(), 0xffff_fffe);
        assert_eq!(VersionBitmap::up_to(200).bits(), 0xffff_fffe);
        assert!(VersionBitmap::up_to(4).is_contiguous_from_one());
        assert!(!ours.is_contiguous_from_one());
        assert_eq!(VersionBitmap::from_bits(0x33).bits(), 0x32);
        assert_eq!(VersionBitmap::EMPTY.highest(), None);
    }

    #[test]
    fn descriptions_are_ovs_text() {
        assert_eq!(
            VersionBitmap::from_bits(0x32).describe(),
            "versions 0x01, 0x04, 0x05"
        );
        assert_eq!(VersionBitmap::from_bits(0x04).describe(), "version 0x02");
        assert_eq!(
            VersionBitmap::from_bits(0x1e).describe(),
            "version 0x04 and earlier"
        );
        assert_eq!(VersionBitmap::EMPTY.describe(), "no versions");
    }
}
