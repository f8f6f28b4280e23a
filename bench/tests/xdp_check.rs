//! The sink's XDP check (`xvs_ebpf::bench::SinkProgram`, run on frames by BPF_PROG_RUN
//! in the real kernel, root) against the userspace `Checker` it stands in for: for every
//! kind of expectation, the expected frames of several flows and every one-bit change of
//! them, truncations, extensions and wrong flow ids, the program takes a frame (XDP_DROP,
//! counted as ok) exactly when the Checker says `Ok`, and hands every other frame on.

use std::net::Ipv4Addr;

use xvs_bench::traffic::{
    Checker, Encap, Expectation, FlowSet, GreTunnel, TunnelKeys, Verdict, VlanEdit,
};
use xvs_dataplane::testnet::require_root;
use xvs_ebpf::bench::{SinkProgram, XDP_DROP};

fn tunnel(key_base: u32) -> GreTunnel {
    GreTunnel {
        src_mac: [0x52, 0x54, 0, 0, 1, 0xfd],
        dst_mac: [0x52, 0x54, 0, 0, 1, 0xfe],
        src_ip: Ipv4Addr::new(192, 168, 1, 254),
        dst_ip: Ipv4Addr::new(192, 168, 1, 253),
        key_base,
    }
}

/// Every case the harness's scenarios use, and a few more.
fn cases() -> Vec<(&'static str, FlowSet, Expectation)> {
    let gre = FlowSet::new(106, 50, Encap::Gre(tunnel(0x3e7))).unwrap();
    vec![
        (
            "untagged, same",
            FlowSet::new(64, 1000, Encap::Untagged).unwrap(),
            Expectation::Same,
        ),
        (
            "untagged 1500 B, same",
            FlowSet::new(1500, 3, Encap::Untagged).unwrap(),
            Expectation::Same,
        ),
        (
            "untagged 67 B (last word overlaps), same",
            FlowSet::new(67, 5, Encap::Untagged).unwrap(),
            Expectation::Same,
        ),
        (
            "VLAN 100, untagged",
            FlowSet::new(64, 10, Encap::Vlan(100)).unwrap(),
            Expectation::Untagged,
        ),
        (
            "untagged, tagged 7",
            FlowSet::new(64, 10, Encap::Untagged).unwrap(),
            Expectation::Tagged(7),
        ),
        (
            "GRE, decapsulated untagged",
            gre.clone(),
            Expectation::GreDecap {
                vlan: VlanEdit::Strip,
            },
        ),
        ("GRE, same", gre, Expectation::Same),
        (
            "untagged, GRE encap with one key, tag 1",
            FlowSet::new(64, 100, Encap::Untagged).unwrap(),
            Expectation::GreEncap {
                tunnel: tunnel(0x3e7),
                keys: TunnelKeys::Fixed,
                vlan: VlanEdit::Set(1),
            },
        ),
        (
            "untagged, GRE encap with a key per flow",
            FlowSet::new(64, 100, Encap::Untagged).unwrap(),
            Expectation::GreEncap {
                tunnel: tunnel(0x10),
                keys: TunnelKeys::PerFlow,
                vlan: VlanEdit::Keep,
            },
        ),
    ]
}

/// RFC 1071 over a 20-byte IPv4 header whose checksum field is zero.
fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Frames to judge: the expected frames of three flows, each with every single bit
/// flipped (every 8th bit for long frames), cut short, lengthened, with an out-of-range
/// flow id, and with another flow's stamp; for an encapsulation, a TTL the switch chose
/// (checksum fixed: still as expected) and a TTL with a stale checksum (not).
fn frames(checker: &mut Checker, flows: u32, stamp_at: Option<usize>, outer: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (flow, seq) in [(0, 0), (1, 77), (flows - 1, u64::MAX)] {
        let Some(good) = checker.expected_frame(flow, seq).map(<[u8]>::to_vec) else {
            continue;
        };
        let step = if good.len() > 200 { 8 } else { 1 };
        for bit in (0..good.len() * 8).step_by(step) {
            let mut f = good.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            out.push(f);
        }
        out.push(good[..good.len() - 1].to_vec());
        let mut longer = good.clone();
        longer.push(0);
        out.push(longer);
        if let Some(at) = stamp_at {
            let mut f = good.clone();
            f[at + 4..at + 8].copy_from_slice(&flows.to_be_bytes());
            out.push(f);
            let mut f = good.clone();
            f[at + 4..at + 8].copy_from_slice(&((flow + 1) % flows).to_be_bytes());
            out.push(f);
        }
        if outer {
            let mut f = good.clone();
            f[14 + 8] = 17;
            out.push(f.clone());
            f[14 + 10..14 + 12].fill(0);
            let c = ipv4_checksum(&f[14..34]);
            f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
            out.push(f);
        }
        out.push(good);
    }
    out
}

#[test]
fn the_xdp_check_takes_exactly_what_the_checker_takes() {
    require_root();
    for (label, flows, exp) in cases() {
        let mut checker = flows.expect(exp).unwrap();
        let want = checker.sink_expectation();
        let prog = SinkProgram::load(&want).unwrap_or_else(|e| panic!("{label}: {e}"));
        let outer = matches!(exp, Expectation::GreEncap { .. });
        let frames = frames(
            &mut checker,
            flows.flows(),
            Some(want.stamp_at as usize),
            outer,
        );
        let (mut ok, mut refused) = (0u64, 0u64);
        for f in &frames {
            let user = matches!(checker.check(f), Verdict::Ok(_));
            let kernel = prog.check(f).unwrap() == XDP_DROP;
            assert_eq!(
                kernel, user,
                "{label}: the XDP check says {kernel}, the Checker {user}, for {f:02x?}"
            );
            if user {
                ok += 1;
            } else {
                refused += 1;
            }
        }
        // Both kinds were judged, and the program counted what it took.
        assert!(
            ok >= 3 && refused > 100,
            "{label}: {ok} ok, {refused} refused"
        );
        let c = prog.counters().unwrap();
        assert_eq!((c.ok, c.to_user), (ok, refused), "{label}");
        println!("{label}: {ok} taken, {refused} handed on, in agreement");
    }
}

#[test]
fn the_xdp_check_records_the_flows_it_saw() {
    require_root();
    let flows = FlowSet::new(64, 300_000, Encap::Untagged).unwrap();
    let mut checker = flows.expect(Expectation::Same).unwrap();
    let prog = SinkProgram::load(&checker.sink_expectation()).unwrap();
    let seen_flows = [0u32, 63, 64, 8191, 8192, 299_999];
    for &flow in &seen_flows {
        let f = checker.expected_frame(flow, 5).unwrap().to_vec();
        assert_eq!(prog.check(&f).unwrap(), XDP_DROP);
    }
    let bits = prog.seen_flows().unwrap();
    let seen: Vec<u32> = (0..flows.flows())
        .filter(|&f| bits[(f / 64) as usize] & (1 << (f % 64)) != 0)
        .collect();
    assert_eq!(seen, seen_flows);
}

#[test]
fn a_bad_expectation_is_refused_with_its_reason() {
    require_root();
    let flows = FlowSet::new(64, 10, Encap::Untagged).unwrap();
    let mut want = flows.expect(Expectation::Same).unwrap().sink_expectation();
    want.stamp_at = 60;
    let err = SinkProgram::load(&want).expect_err("a stamp beyond the frame");
    assert!(err.to_string().contains("the stamp at 60..76"), "{err}");
    let mut want = flows.expect(Expectation::Same).unwrap().sink_expectation();
    want.mask.pop();
    let err = SinkProgram::load(&want).expect_err("a short mask");
    assert!(err.to_string().contains("mask of 63 bytes"), "{err}");
}
