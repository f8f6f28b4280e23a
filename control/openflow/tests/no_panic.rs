//! The decoders take bytes from the network: whatever arrives, they return a value
//! or an error, never panic; nor does the flow model map what they decoded
//! (`model::flow_mod`, `model::flow_filter`), nor write a flow it took back
//! (`model::flow_stats`, every form and version). Every captured request is truncated, extended and
//! mutated at random (a fixed-seed xorshift, so failures reproduce) and decoded in
//! every version and flow_mod_table_id state.

use xvs_openflow::actions::{parse_actions, parse_instructions};
use xvs_openflow::errors::ErrorMsg;
use xvs_openflow::framing::MessageStream;
use xvs_openflow::hello::Hello;
use xvs_openflow::model;
use xvs_openflow::oxm::{parse_oxm_match, parse_tlvs};
use xvs_openflow::request::{decode_request, DecodeContext, Request};
use xvs_openflow::stats::FlowStatsForm;
use xvs_openflow::table_features::TableFeatures;
use xvs_openflow::version::Version;
use xvs_pipeline::ofproto::table::Rule;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn captured() -> Vec<Vec<u8>> {
    let files = [
        include_str!("vectors/ovs-ofctl-requests.txt"),
        include_str!("vectors/ovs-error-replies.txt"),
        include_str!("vectors/ovs-model-flows.txt"),
    ];
    files
        .iter()
        .flat_map(|f| f.lines())
        .filter_map(|l| {
            ["c2s ", "c2s: ", "flow_mod: ", "add: "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
                .filter(|h| h.starts_with('0'))
        })
        .map(hex)
        .collect()
}

/// Sets `ofp_header.length` to the message's length (as framing guarantees).
fn fix_len(m: &mut Vec<u8>) {
    m.truncate(65535);
    if m.len() >= 4 {
        let l = m.len() as u16;
        m[2..4].copy_from_slice(&l.to_be_bytes());
    }
}

fn decode_everywhere(m: &[u8]) {
    for v in Version::ALL {
        for tid in [false, true] {
            let ctx = DecodeContext {
                version: v,
                flow_mod_table_id: tid,
            };
            match decode_request(m, &ctx) {
                Err(e) => {
                    let reply = e.encode_reply(m);
                    assert!(reply.len() <= 65535);
                }
                Ok(msg) => model_everywhere(&msg.request, v),
            }
            let _ = parse_actions(v, m);
            let _ = parse_instructions(v, m);
        }
    }
    let _ = Hello::parse(m);
    let _ = ErrorMsg::parse(m);
    let _ = TableFeatures::parse(m);
    let _ = parse_tlvs(m, true);
    let _ = parse_oxm_match(m);
}

/// The flow model's side of a decoded request: a flow mod mapped onto the model
/// (and, when taken, its flow written back in every form and version), a stats
/// request's selection.
fn model_everywhere(r: &Request, v: Version) {
    match r {
        Request::FlowMod(fm) => {
            if let Ok(m) = model::flow_mod(fm, v) {
                let f = &m.flow;
                let rule = Rule {
                    id: 1,
                    table: f.table.unwrap_or(0),
                    priority: f.priority,
                    matcher: f.matcher,
                    actions: f.actions.clone().unwrap_or_default(),
                    cookie: f.cookie,
                    idle_timeout: f.idle_timeout,
                    hard_timeout: f.hard_timeout,
                    flags: f.flags,
                    created: 5,
                    modified: 3,
                    last_used: 9,
                    n_packets: 1,
                    n_bytes: 60,
                };
                for w in Version::ALL {
                    for form in [FlowStatsForm::Of10, FlowStatsForm::Nx, FlowStatsForm::Of11] {
                        let e = model::flow_stats(&rule, 1, w, form);
                        assert!(e.encode(w, form).len() <= 65535 + 8);
                    }
                }
            }
        }
        Request::FlowStats(req) | Request::AggregateStats(req) => {
            let _ = model::flow_filter(req, v);
        }
        Request::BundleAdd { message, .. } => model_everywhere(message, v),
        _ => {}
    }
}

#[test]
fn mutated_requests_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for msg in captured() {
        // Every truncation, with the header saying so.
        for n in 0..=msg.len() {
            let mut m = msg[..n].to_vec();
            fix_len(&mut m);
            decode_everywhere(&m);
        }
        // Random byte changes, inserted and removed bytes.
        for _ in 0..40 {
            let mut m = msg.clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(3) {
                    0 if !m.is_empty() => {
                        let i = rng.below(m.len());
                        m[i] = rng.next() as u8;
                    }
                    1 => {
                        let i = rng.below(m.len() + 1);
                        m.insert(i, rng.next() as u8);
                    }
                    _ if !m.is_empty() => {
                        let i = rng.below(m.len());
                        m.remove(i);
                    }
                    _ => {}
                }
            }
            // Keep the version and type most of the time, so that the body
            // decoders are reached.
            if m.len() >= 2 && rng.below(4) != 0 {
                m[..2].copy_from_slice(&msg[..2]);
            }
            fix_len(&mut m);
            decode_everywhere(&m);
        }
    }
}

#[test]
fn random_streams_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let n = rng.below(300);
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let mut s = MessageStream::new();
        for chunk in bytes.chunks(1 + rng.below(20)) {
            s.feed(chunk);
            while let Ok(Some(m)) = s.next_message() {
                decode_everywhere(&m);
            }
        }
        let mut m = bytes;
        fix_len(&mut m);
        decode_everywhere(&m);
    }
}

/// Flow mods that decode, with their bodies changed a byte or a few at a time and
/// their lengths kept: most still frame, so the flow model's decoders (fields,
/// actions, learn specs, instructions, checks) see every kind of bad content.
#[test]
fn mutated_flow_mod_bodies_never_panic() {
    let mut rng = Rng(0x0bad_cafe_f00d_d00d);
    let (mut mapped, mut refused) = (0, 0);
    for msg in captured() {
        let v = match Version::from_wire(msg[0]) {
            Some(v) => v,
            None => continue,
        };
        let ctx = DecodeContext {
            version: v,
            flow_mod_table_id: true,
        };
        if !matches!(
            decode_request(&msg, &ctx).map(|m| m.request),
            Ok(Request::FlowMod(_))
        ) {
            continue;
        }
        for _ in 0..150 {
            let mut m = msg.clone();
            for _ in 0..1 + rng.below(3) {
                let i = 16 + rng.below(m.len() - 16);
                m[i] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => m[i] ^ (1 << rng.below(8)),
                    _ => rng.next() as u8,
                };
            }
            if let Ok(msg) = decode_request(&m, &ctx) {
                if let Request::FlowMod(fm) = &msg.request {
                    match model::flow_mod(fm, v) {
                        Ok(_) => mapped += 1,
                        Err(_) => refused += 1,
                    }
                }
                model_everywhere(&msg.request, v);
            }
        }
    }
    // The mutants reach the model, both ways.
    assert!(
        mapped > 5000 && refused > 5000,
        "{mapped} mapped, {refused} refused"
    );
}
