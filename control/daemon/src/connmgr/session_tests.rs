//! The session against a bare switch: handshake, order and xids, errors before the
//! barrier, batching, bundles, roles, throttling.

use xvs_openflow::bundle::{encode_bundle_ctrl, BundleCtrlType};
use xvs_openflow::errors::ErrorMsg;
use xvs_openflow::framing::ofpt;
use xvs_openflow::port::{PortDesc, PortStats};
use xvs_openflow::stats::DescStats;
use xvs_openflow::{encode_hello, OfError, Version, VersionBitmap};
use xvs_pipeline::ofp::FlowMod;
use xvs_pipeline::ofproto::flow_mods::FlowTableMod;
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::{PortConfig, PortKind, Switch, Time};

use super::bridge::BridgeShared;
use super::model::OvsModel;
use super::session::*;

struct TestSwitch {
    sw: Switch,
    shared: BridgeShared,
    conn: u64,
    /// Commits refuse a command with this priority (a refusal at commit time).
    refuse_priority: Option<u16>,
    flow_mod_calls: usize,
}

impl TestSwitch {
    fn new() -> TestSwitch {
        let mut sw = Switch::new();
        sw.add_bridge_with("br0", false).unwrap();
        for p in ["p1", "p2"] {
            sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
                .unwrap();
        }
        TestSwitch {
            sw,
            shared: BridgeShared::new("br0", 0x1234, VersionBitmap::EMPTY),
            conn: 1,
            refuse_priority: None,
            flow_mod_calls: 0,
        }
    }

    fn dump(&self) -> String {
        self.sw.dump_flows("br0", None, false, 0).unwrap()
    }
}

impl SwitchAccess for TestSwitch {
    fn datapath_id(&mut self) -> u64 {
        self.shared.datapath_id()
    }
    fn desc(&mut self) -> DescStats {
        DescStats::ovs_defaults("3.1.0")
    }
    fn ports(&mut self) -> Vec<PortDesc> {
        self.sw
            .bridge("br0")
            .unwrap()
            .ports
            .values()
            .map(|p| PortDesc {
                port_no: p.ofport as u16,
                hw_addr: [2, 0, 0, 0, 0, p.ofport as u8],
                name: p.name().to_string(),
                config: 0,
                state: 0,
                curr: 0,
                advertised: 0,
                supported: 0,
                peer: 0,
                curr_speed: 0,
                max_speed: 0,
            })
            .collect()
    }
    fn port_stats(&mut self, port_no: u16) -> Vec<PortStats> {
        vec![PortStats::unknown(port_no)]
    }
    fn flow_counts(&mut self) -> Vec<u32> {
        let t = self.sw.tables("br0").unwrap();
        t.tables.iter().map(|t| t.len() as u32).collect()
    }
    fn flow_mods(&mut self, mods: Vec<FlowTableMod>) -> Vec<Result<usize, OfError>> {
        self.flow_mod_calls += 1;
        mods.into_iter()
            .map(|m| {
                self.sw
                    .flow_mod("br0", m, 0)
                    .unwrap()
                    .map_err(|_| OfError::OFPBRC_BAD_TABLE_ID)
            })
            .collect()
    }
    fn commit(&mut self, mods: Vec<FlowTableMod>) -> Result<(), (usize, OfError)> {
        if let Some(i) = mods
            .iter()
            .position(|m| Some(m.flow.priority) == self.refuse_priority)
        {
            return Err((i, OfError::OFPFMFC_OVERLAP));
        }
        self.sw
            .flow_mods_atomic("br0", mods, 0)
            .unwrap()
            .map(|_| ())
            .map_err(|(i, _)| (i, OfError::OFPBRC_BAD_TABLE_ID))
    }
    fn flows(&mut self, filter: FlowMod) -> (Vec<Rule>, Time) {
        let t = self.sw.tables("br0").unwrap();
        (t.dump_rules(&filter).into_iter().cloned().collect(), 0)
    }
    fn role_request(
        &mut self,
        role: Role,
        generation_id: Option<u64>,
    ) -> Result<(Role, Option<u64>), OfError> {
        self.shared.role_request(self.conn, role, generation_id)
    }
}

fn all() -> VersionBitmap {
    VersionBitmap::from_versions(&Version::ALL)
}

fn msg(version: u8, msg_type: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![version, msg_type, 0, 0];
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// The messages in `bytes`: (version, type, xid, whole message).
fn split(mut bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 8 {
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let xid = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        out.push((bytes[0], bytes[1], xid, bytes[..len].to_vec()));
        bytes = &bytes[len..];
    }
    assert!(bytes.is_empty(), "a partial message was output");
    out
}

/// An open session of `version` (our HELLO taken away).
fn open(version: Version, kind: ConnKind, sw: &mut TestSwitch) -> Session {
    let mut s = Session::new(kind, all());
    let hello = split(&s.take_output());
    assert_eq!(hello.len(), 1);
    assert_eq!((hello[0].0, hello[0].1), (0x05, ofpt::HELLO));
    s.receive(&encode_hello(VersionBitmap::from_versions(&[version]), 1));
    s.run(sw, &OvsModel);
    assert_eq!(s.version(), Some(version));
    s
}

/// An OF1.0 OFPT_FLOW_MOD: `in_port` exact (or any), output to `out` (or drop).
fn of10_flow_mod(
    xid: u32,
    command: u16,
    priority: u16,
    in_port: Option<u16>,
    out: Option<u16>,
) -> Vec<u8> {
    let mut b = Vec::new();
    let wildcards: u32 = if in_port.is_some() {
        0x3fffff & !1
    } else {
        0x3fffff
    };
    b.extend_from_slice(&wildcards.to_be_bytes());
    b.extend_from_slice(&in_port.unwrap_or(0).to_be_bytes());
    b.extend_from_slice(&[0; 34]);
    b.extend_from_slice(&0u64.to_be_bytes()); // cookie
    b.extend_from_slice(&command.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]); // idle, hard
    b.extend_from_slice(&priority.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes()); // buffer id
    b.extend_from_slice(&0xffffu16.to_be_bytes()); // out_port
    b.extend_from_slice(&0u16.to_be_bytes()); // flags
    if let Some(p) = out {
        b.extend_from_slice(&[0, 0, 0, 8]);
        b.extend_from_slice(&p.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
    }
    msg(1, ofpt::FLOW_MOD, xid, &b)
}

fn error_of(m: &[u8]) -> Option<OfError> {
    ErrorMsg::parse(m).ok().and_then(|e| e.error)
}

#[test]
fn handshake_features_and_port_desc_in_1_3() {
    let mut sw = TestSwitch::new();
    let mut s = open(Version::Of13, ConnKind::Primary, &mut sw);
    s.receive(&msg(4, ofpt::FEATURES_REQUEST, 7, &[]));
    s.run(&mut sw, &OvsModel);
    assert!(!s.admitted(), "nothing beyond the handshake yet");
    s.receive(&msg(
        4,
        ofpt::OF11_STATS_REQUEST,
        8,
        &[0, 13, 0, 0, 0, 0, 0, 0],
    ));
    s.receive(&msg(4, ofpt::ECHO_REQUEST, 9, b"ping"));
    s.run(&mut sw, &OvsModel);
    let out = split(&s.take_output());
    assert_eq!(out.len(), 3);
    assert_eq!((out[0].1, out[0].2), (ofpt::FEATURES_REPLY, 7));
    assert_eq!(
        &out[0].3[8..16],
        &0x1234u64.to_be_bytes(),
        "the datapath id"
    );
    assert_eq!((out[1].1, out[1].2), (ofpt::OF11_STATS_REPLY, 8));
    assert_eq!(out[1].3.len(), 16 + 2 * 64, "two ofp11_ports");
    assert_eq!(
        (out[2].1, out[2].2, &out[2].3[8..]),
        (ofpt::ECHO_REPLY, 9, &b"ping"[..])
    );
    assert!(s.admitted(), "a PORT_DESC request admits, as in OVS");
}

#[test]
fn version_negotiation_failure_and_messages_before_hello_close() {
    let mut sw = TestSwitch::new();
    let mut s = Session::new(
        ConnKind::Service,
        VersionBitmap::from_versions(&[Version::Of13]),
    );
    s.take_output();
    s.receive(&encode_hello(
        VersionBitmap::from_versions(&[Version::Of10]),
        1,
    ));
    s.run(&mut sw, &OvsModel);
    let out = split(&s.take_output());
    assert_eq!(error_of(&out[0].3), Some(OfError::OFPHFC_INCOMPATIBLE));
    assert_eq!(s.closing(), Some("version negotiation failed"));

    let mut s = Session::new(ConnKind::Service, all());
    s.receive(&msg(1, ofpt::FEATURES_REQUEST, 3, &[]));
    s.run(&mut sw, &OvsModel);
    assert!(s.closing().is_some());
    assert!(!s.wants_input());
}

#[test]
fn errors_go_before_the_barrier_reply_and_the_connection_stays_up() {
    let mut sw = TestSwitch::new();
    let mut s = open(Version::Of10, ConnKind::Service, &mut sw);
    // A good flow mod, a short (malformed) one, one with an action OpenFlow 1.0
    // does not have, an unknown message type, a barrier.
    s.receive(&of10_flow_mod(1, 0, 10, Some(1), Some(2)));
    let mut short = of10_flow_mod(2, 0, 10, None, None);
    short.truncate(40);
    short[2..4].copy_from_slice(&40u16.to_be_bytes());
    s.receive(&short);
    let mut bad = of10_flow_mod(3, 0, 11, None, Some(2));
    let n = bad.len();
    bad[n - 8..n - 6].copy_from_slice(&13u16.to_be_bytes()); // no such OpenFlow 1.0 action
    s.receive(&bad);
    s.receive(&msg(1, 99, 4, &[]));
    s.receive(&msg(1, ofpt::OF10_BARRIER_REQUEST, 5, &[]));
    s.run(&mut sw, &OvsModel);
    let out = split(&s.take_output());
    let kinds: Vec<(u8, u32, Option<OfError>)> =
        out.iter().map(|m| (m.1, m.2, error_of(&m.3))).collect();
    assert_eq!(
        kinds,
        [
            (ofpt::ERROR, 2, Some(OfError::OFPBRC_BAD_LEN)),
            (ofpt::ERROR, 3, Some(OfError::OFPBAC_BAD_TYPE)),
            (ofpt::ERROR, 4, Some(OfError::OFPBRC_BAD_TYPE)),
            (ofpt::OF10_BARRIER_REPLY, 5, None),
        ]
    );
    // The error carries the request.
    assert!(out[1].3.ends_with(&bad));
    assert!(
        sw.dump().contains("priority=10,in_port=1 actions=output:2"),
        "{}",
        sw.dump()
    );
    assert_eq!(s.closing(), None);
    s.receive(&msg(1, ofpt::ECHO_REQUEST, 6, &[]));
    s.run(&mut sw, &OvsModel);
    assert_eq!(split(&s.take_output())[0].1, ofpt::ECHO_REPLY);
}

#[test]
fn consecutive_flow_mods_are_one_change_up_to_the_batch_size() {
    let mut sw = TestSwitch::new();
    let mut s = open(Version::Of10, ConnKind::Service, &mut sw);
    let n = MAX_BATCH + 10;
    for i in 0..n {
        s.receive(&of10_flow_mod(i as u32, 0, i as u16, Some(1), None));
    }
    s.receive(&msg(1, ofpt::OF10_BARRIER_REQUEST, 9999, &[]));
    s.run(&mut sw, &OvsModel);
    assert_eq!(sw.flow_mod_calls, 2, "{} flow mods: two changes", n);
    assert_eq!(sw.flow_counts()[0] as usize, n);
    let out = split(&s.take_output());
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].1, out[0].2), (ofpt::OF10_BARRIER_REPLY, 9999));
    // Stats: the table's count, and the flows back.
    s.receive(&msg(1, ofpt::OF10_STATS_REQUEST, 10, &[0, 3, 0, 0]));
    s.run(&mut sw, &OvsModel);
    let out = split(&s.take_output());
    assert_eq!(out.len(), 1, "254 OF1.0 tables fit in one reply");
    assert_eq!(out[0].3.len(), 12 + 254 * 64);
    assert_eq!(&out[0].3[12 + 44..12 + 48], &(n as u32).to_be_bytes());
}

/// A BUNDLE_ADD_MESSAGE (the bundled message gets the same xid, as OVS wants).
fn bundle_add(xid: u32, id: u32, inner: &[u8]) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(&[0, 0, 0, 1]); // pad, flags ATOMIC
    let mut inner = inner.to_vec();
    inner[4..8].copy_from_slice(&xid.to_be_bytes());
    b.extend_from_slice(&inner);
    msg(5, ofpt::OF14_BUNDLE_ADD_MESSAGE, xid, &b)
}

fn of14_flow_mod(xid: u32, priority: u16, in_port: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[0; 16]); // cookie, mask
    b.extend_from_slice(&[0, 0]); // table 0, ADD
    b.extend_from_slice(&[0, 0, 0, 0]); // timeouts
    b.extend_from_slice(&priority.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes()); // out_port ANY
    b.extend_from_slice(&u32::MAX.to_be_bytes()); // out_group ANY
    b.extend_from_slice(&[0, 0, 0, 0]); // flags, importance
    b.extend_from_slice(&[0, 1, 0, 12, 0x80, 0, 0, 4]); // OXM match, in_port
    b.extend_from_slice(&in_port.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    msg(5, ofpt::FLOW_MOD, xid, &b)
}

#[test]
fn a_bundle_is_committed_whole_or_not_at_all() {
    let mut sw = TestSwitch::new();
    let mut s = open(Version::Of14, ConnKind::Service, &mut sw);
    let ctrl = |xid, t| encode_bundle_ctrl(Version::Of14, xid, false, 7, t, 1);
    s.receive(&ctrl(1, BundleCtrlType::OpenRequest));
    s.receive(&bundle_add(2, 7, &of14_flow_mod(100, 5, 1)));
    let bad = bundle_add(3, 7, &of14_flow_mod(101, 13, 2));
    s.receive(&bad);
    s.receive(&ctrl(4, BundleCtrlType::CommitRequest));
    sw.refuse_priority = Some(13);
    s.run(&mut sw, &OvsModel);
    let out = split(&s.take_output());
    let kinds: Vec<(u8, u32, Option<OfError>)> =
        out.iter().map(|m| (m.1, m.2, error_of(&m.3))).collect();
    assert_eq!(
        kinds,
        [
            (ofpt::OF14_BUNDLE_CONTROL, 1, None),
            (ofpt::ERROR, 3, Some(OfError::OFPFMFC_OVERLAP)),
            (ofpt::ERROR, 4, Some(OfError::OFPBFC_MSG_FAILED)),
        ]
    );
    assert_eq!(sw.dump(), "", "nothing of a failed bundle");
    // Again without the refusal: both in, one commit reply; then the bundle is gone.
    sw.refuse_priority = None;
    s.receive(&ctrl(5, BundleCtrlType::OpenRequest));
    s.receive(&bundle_add(6, 7, &of14_flow_mod(100, 5, 1)));
    s.receive(&bundle_add(7, 7, &of14_flow_mod(101, 13, 2)));
    s.receive(&ctrl(8, BundleCtrlType::CommitRequest));
    s.receive(&ctrl(9, BundleCtrlType::CommitRequest));
    s.run(&mut sw, &OvsModel);
    let out = split(&s.take_output());
    let kinds: Vec<(u8, u32, Option<OfError>)> =
        out.iter().map(|m| (m.1, m.2, error_of(&m.3))).collect();
    assert_eq!(
        kinds,
        [
            (ofpt::OF14_BUNDLE_CONTROL, 5, None),
            (ofpt::OF14_BUNDLE_CONTROL, 8, None),
            (ofpt::ERROR, 9, Some(OfError::OFPBFC_BAD_ID)),
        ]
    );
    assert_eq!(sw.flow_counts()[0], 2);
}

#[test]
fn a_secondary_controller_may_not_change_flows() {
    let mut sw = TestSwitch::new();
    let mut s = open(Version::Of13, ConnKind::Primary, &mut sw);
    sw.shared.role_request(2, Role::Primary, Some(1)).unwrap();
    sw.shared.role_request(1, Role::Secondary, Some(1)).unwrap();
    let mut fm = of14_flow_mod(1, 5, 1);
    fm[0] = 4;
    s.receive(&fm);
    s.run(&mut sw, &OvsModel);
    let out = split(&s.take_output());
    assert_eq!(error_of(&out[0].3), Some(OfError::OFPBRC_IS_SECONDARY));
    assert_eq!(sw.dump(), "");
}

#[test]
fn a_peer_that_does_not_read_is_throttled() {
    let mut sw = TestSwitch::new();
    let mut s = open(Version::Of13, ConnKind::Service, &mut sw);
    let data = vec![0u8; 60_000];
    let n = 40;
    for i in 0..n {
        s.receive(&msg(4, ofpt::ECHO_REQUEST, i, &data));
    }
    s.run(&mut sw, &OvsModel);
    let waiting = s.output_bytes();
    assert!(
        (OUTPUT_LIMIT..OUTPUT_LIMIT + 65_536).contains(&waiting),
        "{waiting}"
    );
    assert!(!s.wants_input(), "no reading while the output is full");
    s.run(&mut sw, &OvsModel);
    assert_eq!(s.output_bytes(), waiting, "and no serving");
    // The peer reads: the rest is served, a limit's worth at a time.
    let mut replies = split(&s.take_output()).len();
    for _ in 0..3 {
        s.run(&mut sw, &OvsModel);
        replies += split(&s.take_output()).len();
    }
    assert_eq!(replies, n as usize);
    assert!(s.wants_input());
}
