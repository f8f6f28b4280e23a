//! OVS's `ofpacts_check_consistency()` for a decoded flow: the pipeline's
//! `check_actions()` (instruction order, prerequisites of what actions read and
//! write, goto_table's table), plus what depends on the connection's version.
//!
//! OVS accepts from an OpenFlow 1.0 connection actions that only make sense on some
//! packets (`strip_vlan` without a tag in the match, `mod_nw_src` on a non-IPv4
//! flow: they do nothing to other packets) and refuses them from OpenFlow 1.1+
//! with OFPBAC_MATCH_INCONSISTENT (`inconsistent_match()` in lib/ofp-actions.c).
//! A third VLAN tag is OFPBAC_BAD_TAG in every version (OVS keeps two).

use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::wire::ethertype;
use xvs_pipeline::ofp::check::{check_actions, OfpErr};
use xvs_pipeline::ofp::field::Field;
use xvs_pipeline::ofp::{Action, Match};

use crate::errors::OfError;
use crate::version::Version;

/// The wire error of one of the pipeline's OVS error names.
pub fn of_error(e: OfpErr) -> OfError {
    OfError::from_name(e.name()).unwrap_or(OfError::OFPBAC_BAD_ARGUMENT)
}

/// Checks `actions` of a flow with match `m` in `table` (`None`: every table, or
/// not said) received over `version`.
pub fn check(
    actions: &[Action],
    m: &Match,
    table: Option<u8>,
    version: Version,
) -> Result<(), OfError> {
    check_actions(actions, m, table).map_err(|e| of_error(e.code))?;
    let v = &m.value;
    let ip = matches!(v.dl_type, ethertype::IPV4 | ethertype::IPV6);
    let l4 = ip && matches!(v.nw_proto, 6 | 17 | 132);
    // The tags a packet has at each action, outermost first (OVS's flow->vlans).
    let mut tags = [v.vlan_tci & VLAN_PRESENT != 0, false];
    let mut inconsistent = false;
    for a in actions {
        match a {
            Action::SetVlanVid(_) | Action::SetVlanPcp(_) => {
                inconsistent |= !tags[0];
                tags[0] = true;
            }
            Action::ModVlanVid(_) | Action::ModVlanPcp(_) => tags[0] = true,
            Action::StripVlan | Action::PopVlan => {
                inconsistent |= !tags[0];
                tags = [tags[1], false];
            }
            Action::PushVlan(_) => {
                if tags[1] {
                    return Err(OfError::OFPBAC_BAD_TAG);
                }
                tags = [true, tags[0]];
            }
            Action::SetField {
                field: Field::VlanTci,
                value,
                ..
            } => tags[0] = *value as u16 & VLAN_PRESENT != 0,
            Action::ModNwSrc(_) | Action::ModNwDst(_) => {
                inconsistent |= v.dl_type != ethertype::IPV4;
            }
            Action::ModNwTos(_) | Action::DecTtl(_) => inconsistent |= !ip,
            Action::ModTpSrc(_) | Action::ModTpDst(_) => inconsistent |= !l4,
            _ => {}
        }
    }
    if inconsistent && version != Version::Of10 {
        return Err(OfError::OFPBAC_MATCH_INCONSISTENT);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_in_of10_strict_in_of13() {
        let m = Match::default();
        let a = [Action::StripVlan, Action::Output(1)];
        assert_eq!(check(&a, &m, None, Version::Of10), Ok(()));
        assert_eq!(
            check(&a, &m, None, Version::Of13),
            Err(OfError::OFPBAC_MATCH_INCONSISTENT)
        );
        // mod_vlan_vid pushes a tag: pop_vlan after it is fine.
        let a = [Action::ModVlanVid(5), Action::PopVlan];
        assert_eq!(check(&a, &m, None, Version::Of13), Ok(()));
        let a = vec![Action::PushVlan(0x8100); 3];
        assert_eq!(
            check(&a, &m, None, Version::Of10),
            Err(OfError::OFPBAC_BAD_TAG)
        );
        // The pipeline's checks come first, with OVS's codes.
        let a = [Action::GotoTable(1)];
        assert_eq!(
            check(&a, &m, Some(3), Version::Of13),
            Err(OfError::OFPBIC_BAD_TABLE_ID)
        );
    }
}
