//! The packet parser and flow key extractor (`FlowKey::extract`, as OVS's
//! `miniflow_extract`) on any bytes.
//!
//! Beyond "no panic": only a frame shorter than an Ethernet header is refused; the
//! in-place form (`extract_into`, the fast path's) and the slow path's `classify` on a
//! port that is no underlay give the same key; fields the datapath never extracts stay
//! zero; the key is made from the frame's bytes alone (the same bytes at the end of a
//! larger buffer, followed by other bytes, give the same key: nothing is read past the
//! slice); and packing the key for the cache keeps what it says it keeps.

#![no_main]

use std::mem::MaybeUninit;

use libfuzzer_sys::fuzz_target;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::tunnel::TunnelMap;
use xvs_dataplane::{classify, FlowKey};

fuzz_target!(|frame: &[u8]| {
    let key = FlowKey::extract(7, frame);
    assert_eq!(
        key.is_ok(),
        frame.len() >= 14,
        "only short frames are refused"
    );

    let mut slot = MaybeUninit::uninit();
    let into = FlowKey::extract_into(&mut slot, 7, frame).map(|k| *k);
    assert_eq!(key, into, "extract_into agrees with extract");

    // The same bytes inside a larger buffer, with something else after them.
    let mut padded = frame.to_vec();
    padded.extend(frame.iter().rev().map(|b| !b));
    padded.extend([0xff; 64]);
    assert_eq!(
        FlowKey::extract(7, &padded[..frame.len()]),
        key,
        "the key depends on the frame's bytes alone"
    );

    let Ok(k) = key else { return };
    assert_eq!(k.in_port, 7);
    assert_eq!(k.tun_id, 0, "only decapsulation sets tun_id");
    assert_eq!(
        (k.metadata, k.regs),
        (0, [0; 16]),
        "pipeline state is never extracted"
    );
    assert!(k.vlan_tci == 0 || k.vlan_tci & VLAN_PRESENT != 0);
    assert_eq!(k.packet_fields(), k);

    // What the slow path and the workers do with a frame from a port that is no
    // underlay: exactly the extracted key, the whole frame.
    let c = classify(7, frame, &TunnelMap::default()).expect("a whole Ethernet header");
    assert_eq!(c.key, k);
    assert_eq!(c.inner, 0..frame.len());

    // The cache's packing: the packed key and its extension hold every packet field, so
    // keys that differ pack differently.
    let w = k.pack_wide();
    assert_eq!(w.packed, k.pack());
    assert_eq!(w.packed.0[0], k.tun_id);
    assert_eq!(w.packed.0[1] as u32, k.in_port);
    if k.fits_packed() {
        assert_eq!(w.ext[1..], [0; 6]);
        assert_eq!(w.ext[0], 0);
    }
    assert_eq!(((w.ext[1] as u128) << 64) | w.ext[2] as u128, k.ipv6_src);
    assert_eq!(((w.ext[5] as u128) << 64) | w.ext[6] as u128, k.nd_target);
});
