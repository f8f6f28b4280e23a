//! The seam between an OpenFlow session and the flow model: wire matches, actions and
//! instructions (as `xvs-openflow` decodes them) to and from the pipeline's flows.
//!
//! The session does everything around flows (ordering, batching, barriers, errors,
//! bundles, statistics replies and their splitting); what a match or an action *means*
//! is a [`FlowModel`]'s. The full mapping (every NXM/OXM field, every action and
//! instruction, per version, as OVS's `ofputil_decode_flow_mod` and
//! `ofputil_append_flow_stats_reply` do) is `xvs_openflow::model`, written elsewhere;
//! it plugs in here by implementing [`FlowModel`]. Until it lands, [`super::minimal`]
//! maps the handful of fields and the output action the tests need.

use xvs_openflow::flow_mod::FlowMod as WireFlowMod;
use xvs_openflow::stats::{FlowStatsEntry, FlowStatsForm, FlowStatsRequest};
use xvs_openflow::{OfError, Version};
use xvs_pipeline::ofp::FlowMod;
use xvs_pipeline::ofproto::flow_mods::FlowTableMod;
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::Time;

/// Wire flows to pipeline flows and back, for one OpenFlow version at a time. Called
/// on the connection's thread (never on the control thread), so it may take its time.
pub trait FlowModel: Send + Sync {
    /// A decoded FLOW_MOD (any form: OF1.0, NXT_FLOW_MOD, OF1.1+) as the pipeline's
    /// command, or the error OVS sends for it (match prerequisites, unknown fields,
    /// bad actions or instructions, table ids, ...). Port numbers in `fm` are
    /// OpenFlow 1.0's already, as in the pipeline. `fm.table_id` 255 means: table 0
    /// for adds, every table for modifies and deletes.
    fn flow_mod(&self, fm: &WireFlowMod, version: Version) -> Result<FlowTableMod, OfError>;

    /// The selection of a FLOW or AGGREGATE stats request: table (`None`: all),
    /// cookie and mask, `out_port`, and a match the selected flows are within.
    fn flow_filter(&self, req: &FlowStatsRequest, version: Version) -> Result<FlowMod, OfError>;

    /// One flow of a FLOW stats reply of `form` (the request's) in `version`: its own
    /// match and actions or instructions encoded as the form wants, and the rest of
    /// the entry (see [`base_entry`]). `now` is the control thread's clock, which the
    /// rule's times are on.
    fn flow_stats(
        &self,
        rule: &Rule,
        now: Time,
        version: Version,
        form: FlowStatsForm,
    ) -> FlowStatsEntry;
}

/// OVS's mapping of wire flows, [`xvs_openflow::model`].
pub struct OvsModel;

impl FlowModel for OvsModel {
    fn flow_mod(&self, fm: &WireFlowMod, version: Version) -> Result<FlowTableMod, OfError> {
        xvs_openflow::model::flow_mod(fm, version)
    }

    fn flow_filter(&self, req: &FlowStatsRequest, version: Version) -> Result<FlowMod, OfError> {
        xvs_openflow::model::flow_filter(req, version)
    }

    fn flow_stats(
        &self,
        rule: &Rule,
        now: Time,
        version: Version,
        form: FlowStatsForm,
    ) -> FlowStatsEntry {
        xvs_openflow::model::flow_stats(rule, now, version, form)
    }
}
