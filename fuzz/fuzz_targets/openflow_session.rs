//! One OpenFlow connection of the connection manager (`connmgr::session::Session`, sans
//! I/O: handshake, messages in order, batched FLOW_MODs, barriers, bundles, roles,
//! statistics) over a bare switch, on any byte stream from the peer, received in
//! pieces.
//!
//! Beyond "no panic": what the session writes is whole OpenFlow messages, back to
//! back; its first is its HELLO; every other carries the xid of a message the peer sent
//! (a reply or an error answers a request), but HELLO_FAILED, whose xid is 0 as OVS's;
//! it never holds more than its output limit plus one reply.

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use xvs_daemon::connmgr::bridge::BridgeShared;
use xvs_daemon::connmgr::model::OvsModel;
use xvs_daemon::connmgr::session::{ConnKind, Role, Session, SwitchAccess, OUTPUT_LIMIT};
use xvs_openflow::framing::{Header, MessageStream};
use xvs_openflow::port::{PortDesc, PortStats};
use xvs_openflow::stats::DescStats;
use xvs_openflow::{OfError, Version, VersionBitmap};
use xvs_pipeline::ofp::FlowMod;
use xvs_pipeline::ofproto::flow_mods::FlowTableMod;
use xvs_pipeline::ofproto::table::Rule;
use xvs_pipeline::{PortConfig, PortKind, Switch, Time};

/// The bridge the session works on: a bare switch, as the session's own tests have it.
struct Bridge {
    sw: Switch,
    shared: BridgeShared,
}

impl SwitchAccess for Bridge {
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
        self.shared.role_request(1, role, generation_id)
    }
}

fn bridge() -> Bridge {
    let mut sw = Switch::new();
    sw.add_bridge_with("br0", false).unwrap();
    for p in ["p1", "p2", "p3"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    Bridge {
        sw,
        shared: BridgeShared::new("br0", 0x1234, VersionBitmap::EMPTY),
    }
}

/// The messages of `bytes`, which must be whole ones back to back.
fn messages(bytes: &[u8]) -> Vec<(Header, &[u8])> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let h = Header::parse(rest).expect("a whole header");
        let n = usize::from(h.length);
        assert!(
            n >= 8 && n <= rest.len(),
            "message of {n} bytes in {}",
            rest.len()
        );
        out.push((h, &rest[..n]));
        rest = &rest[n..];
    }
    out
}

/// OFPT_ERROR of type OFPET_HELLO_FAILED: sent with xid 0, as OVS's vconn sends it
/// (`ofperr_encode_hello`), whatever the peer's HELLO had.
fn is_hello_failed(h: &Header, msg: &[u8]) -> bool {
    h.msg_type == 1 && h.xid == 0 && msg.get(8..10) == Some(&[0, 0][..])
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let kind = if sel & 1 == 0 {
        ConnKind::Service
    } else {
        ConnKind::Primary
    };
    let chunk = usize::from(sel >> 1).max(1) * 7;
    // What the peer sent, as framing sees it.
    let mut xids = BTreeSet::new();
    let mut stream = MessageStream::new();
    stream.feed(input);
    while let Ok(Some(m)) = stream.next_message() {
        xids.insert(Header::parse(&m).unwrap().xid);
    }

    let mut br = bridge();
    let mut s = Session::new(kind, VersionBitmap::from_versions(&Version::ALL));
    let mut out = s.take_output();
    let hello = messages(&out);
    assert_eq!(hello.len(), 1);
    assert_eq!(hello[0].0.msg_type, 0, "HELLO first");
    for piece in input.chunks(chunk) {
        s.receive(piece);
        s.run(&mut br, &OvsModel);
        // One reply may go beyond the limit, none after it.
        assert!(
            s.output_bytes() <= OUTPUT_LIMIT + (1 << 20),
            "{}",
            s.output_bytes()
        );
        out.extend(s.take_output());
        if s.closing().is_some() {
            break;
        }
    }
    s.run(&mut br, &OvsModel);
    out.extend(s.take_output());
    for (h, msg) in &messages(&out)[1..] {
        assert!(
            xids.contains(&h.xid) || is_hello_failed(h, msg),
            "a message of type {} with xid {:#x}, which the peer never sent",
            h.msg_type,
            h.xid
        );
    }
});
