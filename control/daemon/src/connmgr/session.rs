//! One OpenFlow connection, sans I/O (OVS's ofconn and the handlers of ofproto.c):
//! bytes in, replies out, and requests to the bridge through [`SwitchAccess`].
//!
//! * Messages are handled strictly in order; every reply carries its request's xid,
//!   and an error for a request goes out before anything answering a later one (in
//!   particular before the next barrier's reply).
//! * Consecutive FLOW_MODs are applied together, as one change of the switch (at
//!   most [`MAX_BATCH`]), each with its own outcome; whatever comes next (a barrier,
//!   a dump, ...) is handled once the batch is in effect: [`SwitchAccess::flow_mods`]
//!   returns once the datapath no longer uses what the batch replaced, so a barrier
//!   reply means what OpenFlow says.
//! * Output is bounded: [`Session::run`] stops taking requests while more than
//!   [`OUTPUT_LIMIT`] bytes wait to be written, and [`Session::wants_input`] says
//!   when the I/O layer may read more: a peer that does not read its replies stops
//!   being served, and holds at most one reply (a dump) beyond the limit.
//! * Per connection, as OVS keeps it: the negotiated version, NXT_FLOW_MOD_TABLE_ID,
//!   the flow and packet-in formats, the controller id, `miss_send_len` (0 on service
//!   connections such as the management socket, 128 on controllers), the role (in
//!   the bridge's shared state, see [`SwitchAccess::role_request`]) and the bundles.
//!
//! What a wire match or action means is the [`FlowModel`]'s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::OnceLock;

use xvs_openflow::bundle::{BundleCtrl, BundleCtrlType};
use xvs_openflow::config::{encode_role_reply, RoleRequest, SwitchConfig};
use xvs_openflow::features::FeaturesReply;
use xvs_openflow::framing::{ofpt, Header};
use xvs_openflow::nicira::{FlowFormat, PacketInFormat};
use xvs_openflow::port::{PortDesc, PortStats};
use xvs_openflow::request::{encode_barrier_reply, encode_echo_reply};
use xvs_openflow::stats::{
    encode_flow_stats_reply, encode_port_desc_reply, encode_port_stats_reply,
    encode_table_stats_reply, AggregateStats, DescStats, FlowStatsRequest, TableStats,
};
use xvs_openflow::table_features::{encode_table_features_reply, TableFeatures};
use xvs_openflow::{
    decode_request, encode_hello, DecodeContext, Hello, MessageStream, OfError, Request, Version,
    VersionBitmap,
};
use xvs_pipeline::ofp::FlowMod;
use xvs_pipeline::ofproto::flow_mods::{FlowModCommand, FlowTableMod};
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::Time;

use super::model::FlowModel;

pub use xvs_openflow::config::Role;

/// Replies waiting to be written beyond which no more requests are taken.
pub const OUTPUT_LIMIT: usize = 1 << 20;
/// Received bytes not yet handled beyond which the I/O layer stops reading.
pub const INPUT_LIMIT: usize = 256 << 10;
/// Consecutive FLOW_MODs applied as one change of the switch, at most.
pub const MAX_BATCH: usize = 256;
/// Messages held in open bundles, per connection, at most (more: OFPBFC_MSG_TOO_MANY).
pub const MAX_BUNDLED: usize = 100_000;
/// Tables an OpenFlow peer sees (OVS: 254, table 254 being hidden).
pub const N_VISIBLE_TABLES: u8 = 254;
/// `miss_send_len` of controller connections (OVS's OFP_DEFAULT_MISS_SEND_LEN).
pub const DEFAULT_MISS_SEND_LEN: u16 = 128;

/// Whether a connection is a controller's (OVS's OFCONN_PRIMARY: an active
/// `Controller` target) or a service's (the management socket, passive targets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnKind {
    Primary,
    Service,
}

/// What a session needs of its bridge. The daemon's implementation goes through the
/// control thread; tests use a bare switch.
pub trait SwitchAccess {
    /// The datapath id FEATURES_REPLY carries (the one written to `Bridge.datapath_id`).
    fn datapath_id(&mut self) -> u64;
    fn desc(&mut self) -> DescStats;
    /// Every port, the bridge's own (LOCAL) included, OpenFlow 1.0 numbering.
    fn ports(&mut self) -> Vec<PortDesc>;
    /// Counters of port `port_no` (OFPP_NONE: every port; an unknown port: none).
    fn port_stats(&mut self, port_no: u16) -> Vec<PortStats>;
    /// The number of flows in each table.
    fn flow_counts(&mut self) -> Vec<u32>;
    /// The tables with a `Flow_Table` row: (table, its name, its flow_limit).
    fn table_settings(&mut self) -> Vec<(u8, Option<String>, Option<usize>)> {
        Vec::new()
    }
    /// Applies the commands in order, each on its own; returns once they are in
    /// effect in the datapath.
    fn flow_mods(&mut self, mods: Vec<FlowTableMod>) -> Vec<Result<usize, OfError>>;
    /// Every command or none (a bundle's commit); on a refusal, the index of the
    /// refused command and why.
    fn commit(&mut self, mods: Vec<FlowTableMod>) -> Result<(), (usize, OfError)>;
    /// The flows `filter` selects (dump order) and the control clock's now.
    fn flows(&mut self, filter: FlowMod) -> (Vec<Rule>, Time);
    /// A role request of this connection (`Role::NoChange`: just ask), with OVS's
    /// generation-id check (OFPRRFC_STALE); returns the connection's role and the
    /// bridge's generation id afterwards.
    fn role_request(
        &mut self,
        role: Role,
        generation_id: Option<u64>,
    ) -> Result<(Role, Option<u64>), OfError>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Our HELLO is sent; waiting for the peer's.
    Hello,
    Open(Version),
    /// Closing once the output is written (why, for the log).
    Closing(&'static str),
}

struct Bundle {
    flags: u16,
    closed: bool,
    /// The BUNDLE_ADD messages (for errors at commit) and their commands.
    entries: Vec<(Vec<u8>, FlowTableMod)>,
}

/// A FLOW_MOD waiting to be applied with the ones that follow it.
struct PendingMod {
    msg: Vec<u8>,
    op: Result<FlowTableMod, OfError>,
}

/// The flow table commands a connection applied, by kind (OVS's `ofconn` `n_add`,
/// `n_delete`, `n_modify`), for the log: see [`super::conn`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowModCounts {
    pub adds: u64,
    pub deletes: u64,
    pub modifications: u64,
}

impl FlowModCounts {
    pub fn total(&self) -> u64 {
        self.adds + self.deletes + self.modifications
    }

    fn count(&mut self, m: &FlowTableMod) {
        match m.command {
            FlowModCommand::Add => self.adds += 1,
            FlowModCommand::Delete { .. } => self.deletes += 1,
            FlowModCommand::Modify { .. } => self.modifications += 1,
        }
    }
}

/// Counters of what a session did, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub messages: u64,
    pub errors_sent: u64,
    pub flow_mods: u64,
    pub batches: u64,
}

pub struct Session {
    kind: ConnKind,
    allowed: VersionBitmap,
    phase: Phase,
    input: MessageStream,
    output: VecDeque<Vec<u8>>,
    /// Bytes of `output[0]` already written.
    written: usize,
    output_bytes: usize,
    ctx: DecodeContext,
    flow_format: FlowFormat,
    packet_in_format: PacketInFormat,
    controller_id: u16,
    config: SwitchConfig,
    bundles: BTreeMap<u32, Bundle>,
    bundled: usize,
    pending: Vec<PendingMod>,
    next_xid: u32,
    /// A message that shows the peer accepted us (OVS's `is_admitted_msg`) came.
    admitted: bool,
    /// Messages received (activity, for inactivity probes).
    received: u64,
    pub stats: SessionStats,
    /// Flow table commands applied and not yet reported ([`Session::take_flow_mod_counts`]).
    flow_mod_counts: FlowModCounts,
}

impl Session {
    /// A new connection: our HELLO, announcing `allowed`, is queued at once.
    pub fn new(kind: ConnKind, allowed: VersionBitmap) -> Session {
        let mut s = Session {
            kind,
            allowed,
            phase: Phase::Hello,
            input: MessageStream::new(),
            output: VecDeque::new(),
            written: 0,
            output_bytes: 0,
            ctx: DecodeContext::new(Version::Of10),
            flow_format: FlowFormat::OpenFlow10,
            packet_in_format: PacketInFormat::Standard,
            controller_id: 0,
            config: SwitchConfig {
                flags: 0,
                miss_send_len: match kind {
                    ConnKind::Primary => DEFAULT_MISS_SEND_LEN,
                    ConnKind::Service => 0,
                },
            },
            bundles: BTreeMap::new(),
            bundled: 0,
            pending: Vec::new(),
            next_xid: 1,
            admitted: false,
            received: 0,
            stats: SessionStats::default(),
            flow_mod_counts: FlowModCounts::default(),
        };
        let xid = s.xid();
        s.send(encode_hello(allowed, xid));
        s
    }

    /// The flow table commands applied since the last call (failed ones are not
    /// counted), for the log.
    pub fn take_flow_mod_counts(&mut self) -> FlowModCounts {
        std::mem::take(&mut self.flow_mod_counts)
    }

    fn xid(&mut self) -> u32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1);
        x
    }

    /// The negotiated version, once the HELLOs are exchanged.
    pub fn version(&self) -> Option<Version> {
        match self.phase {
            Phase::Open(v) => Some(v),
            _ => None,
        }
    }

    /// Why the connection is to be closed (once the output is written), if it is.
    pub fn closing(&self) -> Option<&'static str> {
        match self.phase {
            Phase::Closing(why) => Some(why),
            _ => None,
        }
    }

    pub fn kind(&self) -> ConnKind {
        self.kind
    }

    /// Whether the peer sent something showing it accepted the switch.
    pub fn admitted(&self) -> bool {
        self.admitted
    }

    /// Messages received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes received from the peer.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.input.feed(bytes);
    }

    /// Whether the I/O layer may read more: little output waiting, little input
    /// unhandled, and not closing.
    pub fn wants_input(&self) -> bool {
        !matches!(self.phase, Phase::Closing(_))
            && self.output_bytes < OUTPUT_LIMIT
            && self.input.pending() < INPUT_LIMIT
    }

    /// What is waiting to be written (the front of it).
    pub fn output(&self) -> Option<&[u8]> {
        self.output.front().map(|m| &m[self.written..])
    }

    pub fn output_bytes(&self) -> usize {
        self.output_bytes
    }

    /// `n` bytes of [`Session::output`] were written.
    pub fn consume(&mut self, mut n: usize) {
        self.output_bytes -= n;
        while n > 0 {
            let front = self.output.front().expect("consumed what was output").len();
            let left = front - self.written;
            if n >= left {
                n -= left;
                self.written = 0;
                self.output.pop_front();
            } else {
                self.written += n;
                n = 0;
            }
        }
    }

    /// Takes every byte waiting to be written (for tests and simple callers).
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.output_bytes);
        while let Some(front) = self.output() {
            out.extend_from_slice(front);
            let n = front.len();
            self.consume(n);
        }
        out
    }

    fn send(&mut self, msg: Vec<u8>) {
        self.output_bytes += msg.len();
        self.output.push_back(msg);
    }

    fn send_all(&mut self, msgs: Vec<Vec<u8>>) {
        for m in msgs {
            self.send(m);
        }
    }

    fn send_error(&mut self, error: OfError, request: &[u8]) {
        self.stats.errors_sent += 1;
        tracing::debug!(error = error.name(), "OpenFlow error reply");
        self.send(xvs_openflow::encode_error_reply(error, request));
    }

    /// Queues an inactivity probe (an ECHO_REQUEST), once the connection is open.
    pub fn send_echo_request(&mut self) {
        if let Phase::Open(v) = self.phase {
            let xid = self.xid();
            let mut b = vec![v.wire(), ofpt::ECHO_REQUEST, 0, 8];
            b.extend_from_slice(&xid.to_be_bytes());
            self.send(b);
        }
    }

    /// Handles every complete message received, in order, while the output is below
    /// [`OUTPUT_LIMIT`]; pending flow mods are applied before returning.
    pub fn run(&mut self, sw: &mut dyn SwitchAccess, model: &dyn FlowModel) {
        while self.output_bytes < OUTPUT_LIMIT && !matches!(self.phase, Phase::Closing(_)) {
            let msg = match self.input.next_message() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "bad OpenFlow framing: closing");
                    self.phase = Phase::Closing("bad OpenFlow framing");
                    break;
                }
            };
            self.received += 1;
            self.stats.messages += 1;
            match self.phase {
                Phase::Hello => self.hello(&msg),
                Phase::Open(v) => self.handle(v, msg, sw, model),
                Phase::Closing(_) => {}
            }
        }
        self.flush_batch(sw);
    }

    fn hello(&mut self, msg: &[u8]) {
        let is_hello = Header::parse(msg).is_some_and(|h| h.msg_type == ofpt::HELLO);
        if !is_hello {
            // OVS's vconn: anything but a HELLO first is a protocol error.
            self.phase = Phase::Closing("received a message before HELLO");
            return;
        }
        let hello = match Hello::parse(msg) {
            Ok(h) => h,
            Err(_) => {
                self.phase = Phase::Closing("malformed HELLO");
                return;
            }
        };
        match hello.negotiate(self.allowed) {
            Ok(v) => {
                self.phase = Phase::Open(v);
                self.ctx = DecodeContext::new(v);
            }
            Err(failed) => {
                self.send(failed.error_message());
                self.phase = Phase::Closing("version negotiation failed");
            }
        }
    }

    fn handle(
        &mut self,
        v: Version,
        msg: Vec<u8>,
        sw: &mut dyn SwitchAccess,
        model: &dyn FlowModel,
    ) {
        let m = match decode_request(&msg, &self.ctx) {
            Ok(m) => m,
            Err(e) => {
                self.flush_batch(sw);
                self.send_error(e.of_error(), &msg);
                return;
            }
        };
        let xid = m.header.xid;
        if !matches!(
            m.request,
            Request::EchoRequest { .. }
                | Request::EchoReply { .. }
                | Request::FeaturesRequest
                | Request::GetConfigRequest
                | Request::SetConfig(_)
                | Request::TableFeatures
        ) {
            self.admitted = true;
        }
        if let Request::FlowMod(fm) = &m.request {
            let op = self.check_primary(sw).and_then(|_| model.flow_mod(fm, v));
            self.pending.push(PendingMod { msg, op });
            self.stats.flow_mods += 1;
            if self.pending.len() >= MAX_BATCH {
                self.flush_batch(sw);
            }
            return;
        }
        self.flush_batch(sw);
        if let Err(e) = self.request(v, xid, &msg, m.request, sw, model) {
            self.send_error(e, &msg);
        }
    }

    /// OVS's `reject_secondary_controller`: a controller in the secondary (slave)
    /// role may not change the switch.
    fn check_primary(&self, sw: &mut dyn SwitchAccess) -> Result<(), OfError> {
        if self.kind == ConnKind::Primary {
            if let Ok((Role::Secondary, _)) = sw.role_request(Role::NoChange, None) {
                return Err(OfError::OFPBRC_IS_SECONDARY);
            }
        }
        Ok(())
    }

    fn flush_batch(&mut self, sw: &mut dyn SwitchAccess) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let ops: Vec<FlowTableMod> = pending
            .iter()
            .filter_map(|p| p.op.as_ref().ok().cloned())
            .collect();
        let mut results = if ops.is_empty() {
            Vec::new()
        } else {
            self.stats.batches += 1;
            sw.flow_mods(ops)
        }
        .into_iter();
        for p in pending {
            let outcome = match p.op {
                Err(e) => Err(e),
                Ok(m) => {
                    let r = results.next().unwrap_or(Err(OfError::OFPBRC_EPERM));
                    if r.is_ok() {
                        self.flow_mod_counts.count(&m);
                    }
                    r
                }
            };
            if let Err(e) = outcome {
                self.send_error(e, &p.msg);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        v: Version,
        xid: u32,
        msg: &[u8],
        req: Request,
        sw: &mut dyn SwitchAccess,
        model: &dyn FlowModel,
    ) -> Result<(), OfError> {
        match req {
            Request::EchoRequest { data } => {
                let h = Header::parse(msg).expect("decoded");
                self.send(encode_echo_reply(&h, &data));
            }
            Request::EchoReply { .. } | Request::FlowAge => {}
            Request::FeaturesRequest => {
                let ports = if v == Version::Of10 {
                    sw.ports()
                } else {
                    Vec::new()
                };
                let f = FeaturesReply::ovs(sw.datapath_id(), ports);
                self.send(f.encode(v, xid));
            }
            Request::GetConfigRequest => {
                let reply = self.config.encode_get_config_reply(v, xid);
                self.send(reply);
            }
            Request::SetConfig(c) => self.set_config(c, sw),
            Request::BarrierRequest => self.send(encode_barrier_reply(v, xid)),
            Request::FlowMod(_) => unreachable!("batched"),
            Request::RoleRequest(r) => self.role(v, xid, r, sw)?,
            Request::DescStats => {
                let d = sw.desc();
                self.send(d.encode_reply(v, xid));
            }
            Request::FlowStats(r) => {
                let filter = model.flow_filter(&r, v)?;
                let (rules, now) = sw.flows(filter);
                let entries: Vec<_> = rules
                    .iter()
                    .map(|rule| model.flow_stats(rule, now, v, r.form))
                    .collect();
                self.send_all(encode_flow_stats_reply(v, xid, r.form, &entries));
            }
            Request::AggregateStats(r) => self.aggregate(v, xid, r, sw, model)?,
            Request::TableStats => {
                let counts = sw.flow_counts();
                let settings = sw.table_settings();
                let tables: Vec<TableStats> = (0..N_VISIBLE_TABLES)
                    .map(|t| {
                        let n = counts.get(usize::from(t)).copied().unwrap_or(0);
                        let mut st = TableStats::ovs(t, n, 0, 0);
                        // As OVS's query_tables: the row's name, and its flow_limit when
                        // under the table's own maximum.
                        if let Some((_, name, limit)) = settings.iter().find(|s| s.0 == t) {
                            st.name = name.clone().unwrap_or_default();
                            if let Some(l) = limit {
                                st.max_entries =
                                    st.max_entries.min(u32::try_from(*l).unwrap_or(u32::MAX));
                            }
                        }
                        st
                    })
                    .collect();
                self.send_all(encode_table_stats_reply(v, xid, &tables));
            }
            Request::PortStats { port_no } => {
                let ports = sw.port_stats(port_no);
                self.send_all(encode_port_stats_reply(v, xid, &ports));
            }
            Request::PortDesc => {
                let ports = sw.ports();
                self.send_all(encode_port_desc_reply(v, xid, &ports));
            }
            Request::TableFeatures => {
                let settings = sw.table_settings();
                if settings.is_empty() {
                    self.send_all(encode_table_features_reply(v, xid, table_features()));
                } else {
                    // The tables with a Flow_Table row carry its name and flow_limit.
                    let mut tables = table_features().to_vec();
                    for (t, name, limit) in settings {
                        if let Some(f) = tables.iter_mut().find(|f| f.table_id == t) {
                            f.name = name.unwrap_or_default();
                            if let Some(l) = limit {
                                f.max_entries =
                                    f.max_entries.min(u32::try_from(l).unwrap_or(u32::MAX));
                            }
                        }
                    }
                    self.send_all(encode_table_features_reply(v, xid, &tables));
                }
            }
            Request::SetFlowFormat(f) => self.flow_format = f,
            Request::FlowModTableId(on) => self.ctx.flow_mod_table_id = on,
            Request::SetPacketInFormat(f) => self.packet_in_format = f,
            Request::SetControllerId(id) => self.controller_id = id,
            Request::BundleControl(c) => self.bundle_control(v, xid, c, sw)?,
            Request::BundleAdd {
                bundle_id,
                flags,
                message,
                ..
            } => {
                self.check_primary(sw)?;
                let Request::FlowMod(fm) = *message else {
                    return Err(OfError::OFPBFC_MSG_UNSUP);
                };
                let op = model.flow_mod(&fm, v)?;
                self.bundle_add(bundle_id, flags, msg.to_vec(), op)?;
            }
        }
        Ok(())
    }

    /// OVS's `handle_set_config`: `miss_send_len` is the connection's; fragment
    /// handling is the switch's, and xvs only has "normal" (anything else is logged
    /// and ignored, as OVS ignores a mode its datapath cannot do).
    fn set_config(&mut self, c: SwitchConfig, sw: &mut dyn SwitchAccess) {
        use xvs_openflow::config::ofpc_config;
        let secondary = self.kind == ConnKind::Primary
            && matches!(
                sw.role_request(Role::NoChange, None),
                Ok((Role::Secondary, _))
            );
        if !secondary && c.flags & ofpc_config::FRAG_MASK != ofpc_config::FRAG_NORMAL {
            tracing::warn!(
                frags = c.flags & ofpc_config::FRAG_MASK,
                "unsupported fragment handling mode: xvs keeps \"normal\""
            );
        }
        self.config = SwitchConfig {
            flags: c.flags & !ofpc_config::FRAG_MASK,
            miss_send_len: c.miss_send_len,
        };
    }

    fn role(
        &mut self,
        v: Version,
        xid: u32,
        r: RoleRequest,
        sw: &mut dyn SwitchAccess,
    ) -> Result<(), OfError> {
        let (role, generation) = sw.role_request(r.role, r.generation_id)?;
        self.send(encode_role_reply(&r, v, xid, role, generation));
        Ok(())
    }

    fn aggregate(
        &mut self,
        v: Version,
        xid: u32,
        r: FlowStatsRequest,
        sw: &mut dyn SwitchAccess,
        model: &dyn FlowModel,
    ) -> Result<(), OfError> {
        let filter = model.flow_filter(&r, v)?;
        let (rules, _) = sw.flows(filter);
        let a = AggregateStats {
            packet_count: rules.iter().map(|r| r.n_packets).sum(),
            byte_count: rules.iter().map(|r| r.n_bytes).sum(),
            flow_count: u32::try_from(rules.len()).unwrap_or(u32::MAX),
        };
        self.send(a.encode_reply(v, xid, r.form));
        Ok(())
    }

    /// OVS's `handle_bundle_control` and bundles.c.
    fn bundle_control(
        &mut self,
        v: Version,
        xid: u32,
        c: BundleCtrl,
        sw: &mut dyn SwitchAccess,
    ) -> Result<(), OfError> {
        self.check_primary(sw)?;
        let id = c.bundle_id;
        match c.ctrl_type {
            BundleCtrlType::OpenRequest => {
                if self.remove_bundle(id).is_some() {
                    return Err(OfError::OFPBFC_BAD_ID);
                }
                self.bundles.insert(
                    id,
                    Bundle {
                        flags: c.flags,
                        closed: false,
                        entries: Vec::new(),
                    },
                );
            }
            BundleCtrlType::CloseRequest => {
                let b = self.bundles.get_mut(&id).ok_or(OfError::OFPBFC_BAD_ID)?;
                if b.closed {
                    self.remove_bundle(id);
                    return Err(OfError::OFPBFC_BUNDLE_CLOSED);
                }
                if b.flags != c.flags {
                    self.remove_bundle(id);
                    return Err(OfError::OFPBFC_BAD_FLAGS);
                }
                b.closed = true;
            }
            BundleCtrlType::CommitRequest => {
                // The bundle goes, whatever the outcome.
                let b = self.remove_bundle(id).ok_or(OfError::OFPBFC_BAD_ID)?;
                if b.flags != c.flags {
                    return Err(OfError::OFPBFC_BAD_FLAGS);
                }
                let (msgs, ops): (Vec<_>, Vec<_>) = b.entries.into_iter().unzip();
                let mut counts = FlowModCounts::default();
                ops.iter().for_each(|m| counts.count(m));
                if let Err((i, e)) = sw.commit(ops) {
                    // The error for the bundled message that failed, then the
                    // commit's own (OVS's do_bundle_commit).
                    self.send_error(e, &msgs[i]);
                    return Err(OfError::OFPBFC_MSG_FAILED);
                }
                let c = &mut self.flow_mod_counts;
                c.adds += counts.adds;
                c.deletes += counts.deletes;
                c.modifications += counts.modifications;
            }
            BundleCtrlType::DiscardRequest => {
                self.remove_bundle(id).ok_or(OfError::OFPBFC_BAD_ID)?;
            }
            _ => return Err(OfError::OFPBFC_BAD_TYPE),
        }
        self.send(c.encode_reply(v, xid));
        Ok(())
    }

    fn remove_bundle(&mut self, id: u32) -> Option<Bundle> {
        let b = self.bundles.remove(&id)?;
        self.bundled -= b.entries.len();
        Some(b)
    }

    /// OVS's `ofp_bundle_add_message`: a bundle not yet open is opened.
    fn bundle_add(
        &mut self,
        id: u32,
        flags: u16,
        msg: Vec<u8>,
        op: FlowTableMod,
    ) -> Result<(), OfError> {
        if self.bundled >= MAX_BUNDLED {
            return Err(OfError::OFPBFC_MSG_TOO_MANY);
        }
        let b = self.bundles.entry(id).or_insert(Bundle {
            flags,
            closed: false,
            entries: Vec::new(),
        });
        if b.closed {
            self.remove_bundle(id);
            return Err(OfError::OFPBFC_BUNDLE_CLOSED);
        }
        if b.flags != flags {
            self.remove_bundle(id);
            return Err(OfError::OFPBFC_BAD_FLAGS);
        }
        b.entries.push((msg, op));
        self.bundled += 1;
        Ok(())
    }
}

/// OVS 3.1's TABLE_FEATURES for the 254 visible tables (built once).
fn table_features() -> &'static [TableFeatures] {
    static TABLES: OnceLock<Vec<TableFeatures>> = OnceLock::new();
    TABLES.get_or_init(|| {
        (0..N_VISIBLE_TABLES)
            .map(|t| TableFeatures::ovs(t, N_VISIBLE_TABLES))
            .collect()
    })
}
