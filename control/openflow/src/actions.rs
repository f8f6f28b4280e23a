//! Actions and instructions, kept at the wire level.
//!
//! An action is a TLV {type, len, body}; type 0xffff (OFPAT_VENDOR /
//! OFPAT_EXPERIMENTER) is followed by a vendor id and, for Nicira (0x2320) and ONF
//! extensions, a 16-bit subtype. Lists are validated as OVS's `ofpact_pull_raw`
//! validates them before looking inside: 8-byte alignment, lengths within the list,
//! the (vendor, type) known to OVS 3.1 for the version, and the length within the
//! range OVS accepts for that action (table generated from OVS's `ofp-actions.c`).
//! Bodies are not interpreted: ports, fields and arguments are the caller's.
//!
//! OF1.1+ instructions (GOTO_TABLE, WRITE_METADATA, WRITE_ACTIONS, APPLY_ACTIONS,
//! CLEAR_ACTIONS, METER) are decoded into [`WireInstruction`]s in wire order, with
//! OVS's checks (`decode_openflow11_instructions`): lengths, unknown and duplicate
//! instructions; then the action lists inside, apply-actions first as OVS does.

use crate::bytes::{be16, be32, be64, Put};
use crate::errors::{OfError, NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::generated::actions::ACTIONS;
use crate::version::Version;

/// `OFPAT_VENDOR` / `OFPAT_EXPERIMENTER`.
pub const OFPAT_VENDOR: u16 = 0xffff;

/// One raw action OVS decodes in one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    /// Wire version.
    pub version: u8,
    /// 0 for standard actions, else the vendor/experimenter id.
    pub vendor: u32,
    /// `type` for standard actions, the subtype for vendor actions.
    pub action_type: u16,
    /// Shortest length OVS accepts.
    pub min_len: u32,
    /// Longest length OVS accepts.
    pub max_len: u32,
    /// OVS's name ("OFPAT_OUTPUT", "NXAST_RESUBMIT_TABLE", "OFPAT_SET_FIELD", ...).
    pub name: &'static str,
}

/// The action OVS knows as (vendor, type or subtype) in wire version `version`.
pub fn action_info(version: u8, vendor: u32, action_type: u16) -> Option<&'static ActionInfo> {
    ACTIONS
        .iter()
        .find(|a| a.version == version && a.vendor == vendor && a.action_type == action_type)
}

/// One action as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WireAction {
    /// `type` (0xffff for vendor actions).
    pub action_type: u16,
    /// Vendor id of a vendor action.
    pub vendor: Option<u32>,
    /// Subtype of a Nicira or ONF action.
    pub subtype: Option<u16>,
    /// The whole action, header included (`raw.len()` is its `len`).
    pub raw: Vec<u8>,
}

impl WireAction {
    /// The bytes after the header: after {type, len} (4 bytes) for standard
    /// actions, after {type, len, vendor, subtype} (10 bytes) for Nicira/ONF ones.
    pub fn body(&self) -> &[u8] {
        let skip = if self.subtype.is_some() { 10 } else { 4 };
        self.raw.get(skip..).unwrap_or(&[])
    }

    /// OVS's name for this action in `version`.
    pub fn name(&self, version: Version) -> Option<&'static str> {
        let (vendor, t) = match (self.vendor, self.subtype) {
            (Some(v), Some(s)) => (v, s),
            _ => (0, self.action_type),
        };
        action_info(version.wire(), vendor, t).map(|a| a.name)
    }

    /// Appends the action as received.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.raw);
    }
}

/// Why an action list is refused; [`ActionError::of_error`] is what OVS sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("action at offset {offset}: fewer bytes than an action header")]
    Truncated { offset: usize },
    #[error("action at offset {offset} has unknown vendor {vendor:#x}")]
    BadVendor { offset: usize, vendor: u32 },
    #[error("action at offset {offset} has unknown type {action_type}")]
    BadType { offset: usize, action_type: u16 },
    #[error("action at offset {offset} has unknown subtype {subtype} for vendor {vendor:#x}")]
    BadVendorType {
        offset: usize,
        vendor: u32,
        subtype: u16,
    },
    #[error("action {name} at offset {offset} has bad length {len}")]
    BadLen {
        offset: usize,
        len: usize,
        name: &'static str,
    },
}

impl ActionError {
    pub fn of_error(self) -> OfError {
        match self {
            ActionError::Truncated { .. } | ActionError::BadLen { .. } => OfError::OFPBAC_BAD_LEN,
            ActionError::BadVendor { .. } => OfError::OFPBAC_BAD_VENDOR,
            ActionError::BadType { .. } => OfError::OFPBAC_BAD_TYPE,
            ActionError::BadVendorType { .. } => OfError::OFPBAC_BAD_VENDOR_TYPE,
        }
    }
}

/// Decodes an action list of `version` (OVS's `ofpacts_decode`, framing only).
pub fn parse_actions(version: Version, b: &[u8]) -> Result<Vec<WireAction>, ActionError> {
    let mut out = Vec::new();
    let mut ofs = 0;
    while ofs < b.len() {
        let rest = &b[ofs..];
        if rest.len() < 8 {
            return Err(ActionError::Truncated { offset: ofs });
        }
        let action_type = be16(rest, 0);
        let (vendor, subtype, key) = if action_type == OFPAT_VENDOR {
            let vendor = be32(rest, 4);
            if vendor != NX_VENDOR_ID && vendor != ONF_VENDOR_ID {
                return Err(ActionError::BadVendor {
                    offset: ofs,
                    vendor,
                });
            }
            if rest.len() < 16 {
                return Err(ActionError::Truncated { offset: ofs });
            }
            let subtype = be16(rest, 8);
            (Some(vendor), Some(subtype), (vendor, subtype))
        } else {
            (None, None, (0, action_type))
        };
        let Some(info) = action_info(version.wire(), key.0, key.1) else {
            return Err(match vendor {
                Some(vendor) => ActionError::BadVendorType {
                    offset: ofs,
                    vendor,
                    subtype: key.1,
                },
                None => ActionError::BadType {
                    offset: ofs,
                    action_type,
                },
            });
        };
        let len = usize::from(be16(rest, 2));
        if len > rest.len()
            || len < info.min_len as usize
            || len > info.max_len as usize
            || len % 8 != 0
        {
            return Err(ActionError::BadLen {
                offset: ofs,
                len,
                name: info.name,
            });
        }
        out.push(WireAction {
            action_type,
            vendor,
            subtype,
            raw: rest[..len].to_vec(),
        });
        ofs += len;
    }
    Ok(out)
}

/// `OFPIT_*` instruction types.
pub mod ofpit {
    pub const GOTO_TABLE: u16 = 1;
    pub const WRITE_METADATA: u16 = 2;
    pub const WRITE_ACTIONS: u16 = 3;
    pub const APPLY_ACTIONS: u16 = 4;
    pub const CLEAR_ACTIONS: u16 = 5;
    pub const METER: u16 = 6;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// One OF1.1+ instruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WireInstruction {
    GotoTable { table_id: u8 },
    WriteMetadata { metadata: u64, mask: u64 },
    WriteActions(Vec<WireAction>),
    ApplyActions(Vec<WireAction>),
    ClearActions,
    Meter { meter_id: u32 },
}

impl WireInstruction {
    /// The `OFPIT_*` type.
    pub fn instruction_type(&self) -> u16 {
        match self {
            WireInstruction::GotoTable { .. } => ofpit::GOTO_TABLE,
            WireInstruction::WriteMetadata { .. } => ofpit::WRITE_METADATA,
            WireInstruction::WriteActions(_) => ofpit::WRITE_ACTIONS,
            WireInstruction::ApplyActions(_) => ofpit::APPLY_ACTIONS,
            WireInstruction::ClearActions => ofpit::CLEAR_ACTIONS,
            WireInstruction::Meter { .. } => ofpit::METER,
        }
    }

    /// Appends the instruction.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.put_u16(self.instruction_type());
        buf.put_u16(0);
        match self {
            WireInstruction::GotoTable { table_id } => {
                buf.put_u8(*table_id);
                buf.put_zeros(3);
            }
            WireInstruction::WriteMetadata { metadata, mask } => {
                buf.put_zeros(4);
                buf.put_u64(*metadata);
                buf.put_u64(*mask);
            }
            WireInstruction::WriteActions(actions) | WireInstruction::ApplyActions(actions) => {
                buf.put_zeros(4);
                for a in actions {
                    a.emit(buf);
                }
            }
            WireInstruction::ClearActions => buf.put_zeros(4),
            WireInstruction::Meter { meter_id } => buf.put_u32(*meter_id),
        }
        let len = (buf.len() - start) as u16;
        buf.set_u16(start + 2, len);
    }
}

/// Appends an instruction list.
pub fn emit_instructions(instructions: &[WireInstruction], buf: &mut Vec<u8>) {
    for i in instructions {
        i.emit(buf);
    }
}

/// Appends an action list.
pub fn emit_actions(actions: &[WireAction], buf: &mut Vec<u8>) {
    for a in actions {
        a.emit(buf);
    }
}

/// Why an instruction list is refused; [`InstructionError::of_error`] is what OVS
/// sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstructionError {
    #[error("instructions: bad length at offset {offset}")]
    BadLen { offset: usize },
    #[error("unknown instruction type {instruction_type}")]
    Unknown { instruction_type: u16 },
    #[error("experimenter instructions are not supported")]
    Experimenter,
    #[error("instruction type {instruction_type} given twice")]
    Duplicate { instruction_type: u16 },
    #[error(transparent)]
    Action(#[from] ActionError),
}

impl InstructionError {
    pub fn of_error(self) -> OfError {
        match self {
            InstructionError::BadLen { .. } => OfError::OFPBIC_BAD_LEN,
            InstructionError::Unknown { .. } => OfError::OFPBIC_UNKNOWN_INST,
            InstructionError::Experimenter => OfError::OFPBIC_BAD_EXPERIMENTER,
            InstructionError::Duplicate { .. } => OfError::OFPBIC_DUP_INST,
            InstructionError::Action(a) => a.of_error(),
        }
    }
}

/// Decodes an OF1.1+ instruction list (OVS's `ofpacts_pull_openflow_instructions`,
/// framing only): every instruction first, then the action lists inside
/// (apply-actions, then write-actions, as OVS).
pub fn parse_instructions(
    version: Version,
    b: &[u8],
) -> Result<Vec<WireInstruction>, InstructionError> {
    if !b.len().is_multiple_of(8) {
        return Err(InstructionError::BadLen { offset: 0 });
    }
    let mut raw: Vec<(u16, &[u8])> = Vec::new();
    let mut ofs = 0;
    while ofs < b.len() {
        let rest = &b[ofs..];
        let (t, len) = (be16(rest, 0), usize::from(be16(rest, 2)));
        if len % 8 != 0 || len < 8 || len > rest.len() {
            // OVS stops at the first malformed instruction, then reports the
            // bytes left over.
            return Err(InstructionError::BadLen { offset: ofs });
        }
        let fixed = match t {
            ofpit::EXPERIMENTER => return Err(InstructionError::Experimenter),
            ofpit::GOTO_TABLE | ofpit::CLEAR_ACTIONS | ofpit::METER => Some(8),
            ofpit::WRITE_METADATA => Some(24),
            ofpit::WRITE_ACTIONS | ofpit::APPLY_ACTIONS => None,
            _ => {
                return Err(InstructionError::Unknown {
                    instruction_type: t,
                })
            }
        };
        if fixed.is_some_and(|f| f != len) {
            return Err(InstructionError::BadLen { offset: ofs });
        }
        if raw.iter().any(|(u, _)| *u == t) {
            return Err(InstructionError::Duplicate {
                instruction_type: t,
            });
        }
        raw.push((t, &rest[..len]));
        ofs += len;
    }
    let decode = |t: u16| -> Result<Option<Vec<WireAction>>, ActionError> {
        raw.iter()
            .find(|(u, _)| *u == t)
            .map(|(_, i)| parse_actions(version, &i[8..]))
            .transpose()
    };
    let mut apply = decode(ofpit::APPLY_ACTIONS)?;
    let mut write = decode(ofpit::WRITE_ACTIONS)?;
    Ok(raw
        .iter()
        .map(|(t, i)| match *t {
            ofpit::GOTO_TABLE => WireInstruction::GotoTable { table_id: i[4] },
            ofpit::WRITE_METADATA => WireInstruction::WriteMetadata {
                metadata: be64(i, 8),
                mask: be64(i, 16),
            },
            ofpit::WRITE_ACTIONS => WireInstruction::WriteActions(write.take().unwrap_or_default()),
            ofpit::APPLY_ACTIONS => WireInstruction::ApplyActions(apply.take().unwrap_or_default()),
            ofpit::CLEAR_ACTIONS => WireInstruction::ClearActions,
            _ => WireInstruction::Meter {
                meter_id: be32(i, 4),
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::test_util::hex;

    #[test]
    fn ovs_ofctl_actions() {
        // add-flow 'table=10,...,actions=learn(...),output:1' (OF1.0, NX learn + output).
        let b = hex(concat!(
            "ffff00600000232000100000012c000100000000000012340000140000000000000c0000",
            "080200000000080200000030000004060000000002060000281000000000080200000840",
            "0001200800000001200800001020800000040000000000000000000800010000",
        ));
        let a = parse_actions(Version::Of10, &b).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].vendor, Some(NX_VENDOR_ID));
        assert_eq!(a[0].subtype, Some(16));
        assert_eq!(a[0].name(Version::Of10), Some("NXAST_LEARN"));
        assert_eq!(a[0].raw.len(), 0x60);
        assert_eq!(a[1].name(Version::Of10), Some("OFPAT_OUTPUT"));
        assert_eq!(a[1].body(), &hex("00010000")[..]);
        let mut out = Vec::new();
        emit_actions(&a, &mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn action_errors_as_ovs() {
        // Unknown type 99 (ofsend.py: OFPBAC_BAD_TYPE in 1.0 and 1.3).
        let e = parse_actions(Version::Of13, &hex("0063000800000000")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBAC_BAD_TYPE);
        // Length 4 (OFPBAC_BAD_LEN).
        let e = parse_actions(Version::Of13, &hex("0000000400000000")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBAC_BAD_LEN);
        // OF1.0 output has 8 bytes, OF1.3's 16.
        assert!(parse_actions(Version::Of10, &hex("0000000800010000")).is_ok());
        assert_eq!(
            parse_actions(Version::Of13, &hex("0000000800010000"))
                .unwrap_err()
                .of_error(),
            OfError::OFPBAC_BAD_LEN
        );
        // Unknown vendor, unknown Nicira subtype.
        let e = parse_actions(Version::Of13, &hex("ffff0010000012340001000000000000")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBAC_BAD_VENDOR);
        let e = parse_actions(Version::Of13, &hex("ffff00100000232003e7000000000000")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBAC_BAD_VENDOR_TYPE);
        // Past the end.
        let e = parse_actions(Version::Of13, &hex("00000018000000010000000000000000")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBAC_BAD_LEN);
    }

    #[test]
    fn of13_instructions() {
        // ovs-ofctl -O OpenFlow13 add-flow 'table=2,...,actions=pop_vlan,
        // set_field:0x64->tun_id,output:2,goto_table:5'.
        let b = hex(concat!(
            "000400300000000000120008000000000019001080004c08000000000000006400000010",
            "0000000200000000000000000001000805000000"
        ));
        let i = parse_instructions(Version::Of13, &b).unwrap();
        assert_eq!(i.len(), 2);
        let WireInstruction::ApplyActions(a) = &i[0] else {
            panic!("{i:?}")
        };
        let names: Vec<_> = a.iter().map(|a| a.name(Version::Of13).unwrap()).collect();
        assert_eq!(names, ["OFPAT_POP_VLAN", "OFPAT_SET_FIELD", "OFPAT_OUTPUT"]);
        assert_eq!(i[1], WireInstruction::GotoTable { table_id: 5 });
        let mut out = Vec::new();
        emit_instructions(&i, &mut out);
        assert_eq!(out, b);
        // write_metadata:0x5/0xff, clear_actions, write_actions(output:1), meter:1.
        let i = vec![
            WireInstruction::Meter { meter_id: 1 },
            WireInstruction::WriteMetadata {
                metadata: 5,
                mask: 0xff,
            },
            WireInstruction::ClearActions,
            WireInstruction::WriteActions(
                parse_actions(Version::Of13, &hex("00000010000000010000000000000000")).unwrap(),
            ),
        ];
        let mut out = Vec::new();
        emit_instructions(&i, &mut out);
        assert_eq!(parse_instructions(Version::Of13, &out).unwrap(), i);
    }

    #[test]
    fn instruction_errors_as_ovs() {
        // Unknown instruction 9 (OFPBIC_UNKNOWN_INST), length 12, past the end
        // (OFPBIC_BAD_LEN): ofsend.py captures.
        let e = parse_instructions(Version::Of13, &hex("0009000800000000")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBIC_UNKNOWN_INST);
        let e = parse_instructions(Version::Of13, &hex("0004000c000000000000000000000000"))
            .unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBIC_BAD_LEN);
        let e = parse_instructions(Version::Of13, &hex("0004001000000000")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBIC_BAD_LEN);
        let e = parse_instructions(Version::Of13, &hex("00050008000000000005000800000000"))
            .unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBIC_DUP_INST);
        let e = parse_instructions(Version::Of13, &hex("ffff000800002320")).unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBIC_BAD_EXPERIMENTER);
        let e = parse_instructions(Version::Of13, &hex("0001001000000000 0000000000000000"))
            .unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBIC_BAD_LEN);
        // An action error inside apply-actions.
        let e = parse_instructions(Version::Of13, &hex("00040010000000000063000800000000"))
            .unwrap_err();
        assert_eq!(e.of_error(), OfError::OFPBAC_BAD_TYPE);
        assert!(parse_instructions(Version::Of13, &[]).unwrap().is_empty());
    }
}
