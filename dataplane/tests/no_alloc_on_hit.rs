//! A cache hit allocates nothing: parse, lookup, counters and actions (a VLAN rewrite, a
//! tag push, an encapsulation, outputs) run with a counting allocator watching.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use crossbeam_channel::bounded;
use xvs_dataplane::actions::TunnelKind;
use xvs_dataplane::cache::CachedFlow;
use xvs_dataplane::flow_key::VLAN_PRESENT;
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::worker::{Worker, WorkerCmd};
use xvs_dataplane::{DpAction, FlowKey, FrameBuf, MacAddr, Tpid, TunnelHeader};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

#[test]
fn a_hit_does_not_allocate() {
    let (cmd_tx, cmd_rx) = bounded(16);
    let (up_tx, _up_rx) = bounded(16);
    let mut w = Worker::new(0, 1024, cmd_rx, up_tx);

    let mut frame = vec![0u8; 64];
    frame[..6].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 2]);
    frame[6..12].copy_from_slice(&[0xfa, 0x16, 0x3e, 0, 0, 1]);
    frame[12..16].copy_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    frame[16..18].copy_from_slice(&[0x88, 0xb5]);
    let key = FlowKey::extract(1, &frame).unwrap();
    let mask = FlowKey {
        in_port: !0,
        tun_id: !0,
        vlan_tci: !0,
        dl_dst: MacAddr::BROADCAST,
        ..Default::default()
    };
    let header = TunnelHeader {
        kind: TunnelKind::Gre {
            key: Some(0x3e7),
            csum: false,
        },
        eth_src: MacAddr([2, 0, 0, 0, 0, 1]),
        eth_dst: MacAddr([2, 0, 0, 0, 0, 2]),
        ip_src: "192.168.1.254".parse().unwrap(),
        ip_dst: "192.168.1.253".parse().unwrap(),
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        mtu: u16::MAX,
    };
    let actions = [
        DpAction::SetVlan(VLAN_PRESENT | 1),
        DpAction::TunnelOutput { port: 9, header },
        DpAction::PopVlan,
        DpAction::Output(2),
        DpAction::PushVlan {
            tpid: Tpid::Is(ethertype::VLAN),
            tci: VLAN_PRESENT | 7,
        },
        DpAction::Output(3),
    ];
    cmd_tx
        .send(WorkerCmd::Install(Arc::new(CachedFlow::new(
            1, &key, mask, &actions, 0,
        ))))
        .unwrap();
    w.poll_commands(&mut |_, _| {});

    let mut buf = vec![0u8; 2048];
    let mut sent = 0usize;
    let before = allocs();
    for i in 0..10_000u64 {
        buf[256..320].copy_from_slice(&frame);
        let mut f = FrameBuf::from_parts(&mut buf[..], 256, 64).unwrap();
        w.process(1, &mut f, i, &mut |_p, b: &[u8]| sent += b.len());
    }
    let during = allocs() - before;
    // (The counter is per thread: the test harness allocating elsewhere does not count.)
    assert_eq!(w.stats().snapshot().hits, 10_000);
    // GRE copy (outer 42 + tagged 64), untagged 60, re-tagged 64.
    assert_eq!(sent, 10_000 * ((42 + 64) + 60 + 64));
    assert_eq!(during, 0, "allocations on the hit path");
}
