//! Translation is bounded (issue 15): a resubmit bomb, a 13-table binary tree, a flood of
//! outputs and of `learn`s each stop at their bound within milliseconds, with memory
//! flat; the packet is dropped and counted under the bound's name, cached or not,
//! `trace` names the bound, nothing is learned, and the rest of the switch forwards as
//! before.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::cached::Cached;
use common::*;
use xvs_pipeline::present::datapath::pipeline_counters_text;
use xvs_pipeline::revalidator::MAX_FAILED_LOOKUPS_CACHED;
use xvs_pipeline::xlate::{XlateError, MAX_ACTIONS, MAX_LEARNED, MAX_RESUBMITS};
use xvs_pipeline::{PortConfig, PortKind, Switch};

const A: &str = "fa:16:3e:00:00:0a";
const B: &str = "fa:16:3e:00:00:0b";

/// How long one bounded translation may take here. A debug build on a busy 2-core
/// machine; release builds take a few milliseconds (the tree's 4,096 lookups).
const PROMPT: Duration = Duration::from_secs(3);

/// br0 with netdev ports p1 (OpenFlow 1) and p2 (2), no NORMAL flow, and `flows`; p2's
/// packets always go to p1, past whatever else is there.
fn bridge(flows: &[String]) -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge_with("br0", false).unwrap();
    for p in ["p1", "p2"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    sw.add_flow("br0", "priority=65535,in_port=p2,actions=output:p1", 0)
        .unwrap();
    for f in flows {
        sw.add_flow("br0", f, 0)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    sw
}

fn frame() -> Vec<u8> {
    ping(B, A, None, "10.0.0.1", "10.0.0.2")
}

/// table=0..11 each resubmit twice to the next; table 12 outputs: 4,096 copies of each
/// packet, 8,190 resubmits.
fn binary_tree() -> Vec<String> {
    let mut flows: Vec<String> = (0..12)
        .map(|t| format!("table={t},actions=resubmit(,{n}),resubmit(,{n})", n = t + 1))
        .collect();
    flows.push("table=12,actions=output:p2".into());
    flows
}

/// Counts the bytes the current thread has allocated and not freed, and the most it
/// held, so that a test measures its own memory while others run beside it.
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add_live(n: i64) {
    // `try_with`: a thread being torn down has no counters left; it is not measured.
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + n);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add_live(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add_live(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add_live(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// (bytes this thread holds now, the most it held since the last call).
fn memory() -> (i64, i64) {
    let live = LIVE.with(Cell::get);
    (live, PEAK.with(|p| p.replace(live)))
}

/// Sends the frame twice through a worker's cache (a miss, then a hit on the cached
/// drop) and once through the slow path; each returns promptly with nothing sent, and
/// all three are counted under `bound`. p2's packets still reach p1.
fn dropped_and_counted(sw: Switch, bound: XlateError) -> Switch {
    let p1 = sw.dp_port_named("p1").unwrap();
    let p2 = sw.dp_port_named("p2").unwrap();
    let mut c = Cached::new(sw, 64);
    let start = Instant::now();
    assert_eq!(c.send(p1, &frame(), 1000), vec![], "the miss is dropped");
    let took = start.elapsed();
    assert!(took < PROMPT, "the miss took {took:?}");
    assert_eq!(c.sw.drops.failed(bound), 1, "{:?}", c.sw.drops);
    assert_eq!(c.fp.stats.installed, 1, "the drop is cached");
    assert_eq!(c.send(p1, &frame(), 1001), vec![], "the hit drops it too");
    assert_eq!(c.worker.stats().snapshot().hits, 1);
    // The cache's packets are counted when its counters come back.
    c.housekeeping(1002);
    assert_eq!(c.sw.drops.failed(bound), 2, "{:?}", c.sw.drops);
    let start = Instant::now();
    assert_eq!(send(&mut c.sw, "p1", &frame(), 1003), vec![]);
    assert!(
        start.elapsed() < PROMPT,
        "the slow path took {:?}",
        start.elapsed()
    );
    assert_eq!(c.sw.drops.failed(bound), 3);
    // Only this bound was counted, and dp-show names it.
    for other in [
        XlateError::RecursionTooDeep,
        XlateError::TooManyResubmits,
        XlateError::TooManyActions,
        XlateError::TooManyLearned,
    ] {
        if other != bound {
            assert_eq!(c.sw.drops.failed(other), 0, "{other:?}");
        }
    }
    let shown = pipeline_counters_text(&c.sw);
    assert!(
        shown.contains(&format!("{}:3", bound.counter_name())),
        "{shown}"
    );
    // The rest of the switch is unaffected.
    let out = c.send(p2, &frame(), 1004);
    assert_eq!(out.len(), 1, "p2 -> p1 still forwards");
    assert_eq!(out[0].0, p1);
    c.sw
}

/// The trace of the packet from p1: it names the bound, where it was hit and at the end.
fn trace(sw: &Switch) -> String {
    let start = Instant::now();
    let t = sw
        .trace("br0", &format!("in_port=p1,dl_src={B},dl_dst={A}"), 0)
        .unwrap();
    assert!(start.elapsed() < PROMPT, "trace took {:?}", start.elapsed());
    t
}

#[test]
fn a_resubmit_bomb_stops_at_the_depth_bound() {
    let sw = bridge(&["actions=resubmit(,0),resubmit(,0)".into()]);
    let tr = sw.translate(
        &xvs_dataplane::FlowKey::extract(sw.dp_port_named("p1").unwrap(), &frame()).unwrap(),
        0,
    );
    assert_eq!(tr.error, Some(XlateError::RecursionTooDeep));
    assert!(tr.actions.is_empty());
    // It stopped at the first branch 64 deep: the same lookup and rule at every level,
    // kept once.
    assert_eq!((tr.lookups.len(), tr.rules.len()), (1, 1));
    let sw = dropped_and_counted(sw, XlateError::RecursionTooDeep);
    let t = trace(&sw);
    assert!(
        t.contains("     >>>> over max translation depth 64 <<<<"),
        "{t}"
    );
    assert!(
        t.ends_with(
            "Datapath actions: drop\nTranslation failed (Recursion too deep), packet is dropped.\n"
        ),
        "{t}"
    );
    assert_eq!(t.matches("resubmit(,0)").count(), 64, "{t}");
}

#[test]
fn a_binary_tree_of_13_tables_stops_at_the_resubmit_bound() {
    let sw = bridge(&binary_tree());
    let key = xvs_dataplane::FlowKey::extract(sw.dp_port_named("p1").unwrap(), &frame()).unwrap();
    let tr = sw.translate(&key, 0);
    assert_eq!(tr.error, Some(XlateError::TooManyResubmits));
    assert_eq!(MAX_RESUBMITS, 4096);
    assert!(tr.actions.is_empty());
    // What the cached drop keeps: each rule and each lookup once (the tree's 8,190
    // lookups are the same 13).
    assert_eq!(tr.rules.len(), 13);
    assert_eq!(tr.lookups.len(), 13);
    drop(tr);
    // Memory stays flat: a hundred more of them hold nothing back, and none holds more
    // than a few MiB while it runs (its lookups and rules, about 1 KiB per resubmit).
    let (before, _) = memory();
    let start = Instant::now();
    for i in 0..100 {
        let tr = sw.translate(&key, i);
        assert_eq!(tr.error, Some(XlateError::TooManyResubmits));
    }
    let per = start.elapsed() / 100;
    assert!(per < PROMPT, "{per:?} per translation");
    let (after, peak) = memory();
    assert_eq!(after, before, "100 translations left memory behind");
    let peak = peak - before;
    assert!(peak < 16 << 20, "a translation held {peak} bytes");
    eprintln!("13-table tree: {per:?} per translation, at most {peak} bytes held");
    let sw = dropped_and_counted(sw, XlateError::TooManyResubmits);
    let t = trace(&sw);
    assert!(
        t.contains("     >>>> over 4096 resubmit actions <<<<"),
        "{t:.2000}"
    );
    assert!(
        t.ends_with("Translation failed (Too many resubmits), packet is dropped.\n"),
        "{}",
        &t[t.len().saturating_sub(500)..]
    );
}

/// 100 resubmits to a rule of 100 outputs: 10,000 outputs, over MAX_ACTIONS, with
/// few resubmits.
#[test]
fn too_many_actions_stop_the_translation() {
    let outputs = vec!["output:p2"; 100].join(",");
    let resubmits = vec!["resubmit(,1)"; 100].join(",");
    const { assert!(100 * 100 > MAX_ACTIONS) };
    let sw = bridge(&[
        format!("table=0,actions={resubmits}"),
        format!("table=1,actions={outputs}"),
    ]);
    let sw = dropped_and_counted(sw, XlateError::TooManyActions);
    let t = trace(&sw);
    assert!(
        t.contains(&format!(
            ">>>> translation yielded over {MAX_ACTIONS} datapath actions <<<<"
        )),
        "{t:.2000}"
    );
    assert!(t.ends_with("Translation failed (Too many datapath actions), packet is dropped.\n"));
}

/// `learn` inside a bomb learns nothing; a translation asking for more than MAX_LEARNED
/// flows stops there and learns nothing either.
#[test]
fn learn_inside_a_bounded_translation_learns_nothing() {
    let learn =
        "learn(table=5,hard_timeout=60,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[])";
    let sw = bridge(&[format!("actions={learn},resubmit(,0),resubmit(,0)")]);
    let sw = dropped_and_counted(sw, XlateError::RecursionTooDeep);
    assert_eq!(
        sw.tables("br0").unwrap().tables[5].len(),
        0,
        "nothing learned"
    );

    let resubmits = vec!["resubmit(,1)"; 40].join(",");
    let learns = vec![learn; 40].join(",");
    const { assert!(40 * 40 > MAX_LEARNED) };
    let sw = bridge(&[
        format!("table=0,actions={resubmits}"),
        format!("table=1,actions={learns}"),
    ]);
    let sw = dropped_and_counted(sw, XlateError::TooManyLearned);
    assert_eq!(
        sw.tables("br0").unwrap().tables[5].len(),
        0,
        "nothing learned"
    );
    let t = trace(&sw);
    assert!(
        t.contains(&format!(
            ">>>> translation yielded over {MAX_LEARNED} learned flows <<<<"
        )),
        "{t:.3000}"
    );

    // Below the bounds, learn works as before.
    let mut sw = bridge(&[format!("actions={learn},output:p2")]);
    assert_eq!(send(&mut sw, "p1", &frame(), 0).len(), 1);
    assert_eq!(sw.tables("br0").unwrap().tables[5].len(), 1);
}

/// Two bridges whose patch ports flood into each other: a loop through patch ports is
/// the depth bound too, and drops the whole packet.
#[test]
fn a_patch_loop_is_the_depth_bound() {
    let mut sw = Switch::new();
    for (br, p, peer) in [("br0", "pa", "pb"), ("br1", "pb", "pa")] {
        sw.add_bridge_with(br, false).unwrap();
        sw.add_port(
            br,
            PortConfig::new(
                p,
                PortKind::Patch {
                    peer: peer.to_string(),
                },
            ),
        )
        .unwrap();
        sw.add_flow(br, "actions=IN_PORT", 0).unwrap();
    }
    sw.add_port("br0", PortConfig::new("p1", PortKind::Netdev))
        .unwrap();
    sw.add_flow("br0", "priority=40000,in_port=p1,actions=output:pa", 0)
        .unwrap();
    let start = Instant::now();
    assert_eq!(send(&mut sw, "p1", &frame(), 0), vec![]);
    assert!(start.elapsed() < PROMPT);
    assert_eq!(sw.drops.recursion_too_deep, 1);
}

/// A tree whose right branches set a register bit at every level: its lookups are all
/// different, too many to keep with a cache entry. Not cached (counted uncacheable),
/// each packet is translated again, within the bounds, and counted every time.
#[test]
fn a_tree_of_distinct_lookups_is_not_cached() {
    let mut flows: Vec<String> = (0..12)
        .map(|t| {
            format!(
                "table={t},actions=resubmit(,{n}),load:1->NXM_NX_REG0[{t}],resubmit(,{n})",
                n = t + 1
            )
        })
        .collect();
    flows.push("table=12,actions=output:p2".into());
    let sw = bridge(&flows);
    let p1 = sw.dp_port_named("p1").unwrap();
    let key = xvs_dataplane::FlowKey::extract(p1, &frame()).unwrap();
    let tr = sw.translate(&key, 0);
    assert_eq!(tr.error, Some(XlateError::TooManyResubmits));
    assert!(
        tr.lookups.len() > MAX_FAILED_LOOKUPS_CACHED,
        "{}",
        tr.lookups.len()
    );
    let mut c = Cached::new(sw, 64);
    for i in 0..3 {
        let start = Instant::now();
        assert_eq!(c.send(p1, &frame(), 1000 + i), vec![]);
        assert!(start.elapsed() < PROMPT);
    }
    assert_eq!(
        (
            c.fp.stats.installed,
            c.fp.stats.uncacheable,
            c.fp.stats.upcalls
        ),
        (0, 3, 3)
    );
    assert_eq!(c.sw.drops.too_many_resubmits, 3);
}

/// A chain of 100 `goto_table`s is no loop (it only goes forward): it stays under the
/// depth bound and forwards; each link counts as a resubmit.
#[test]
fn a_long_goto_table_chain_is_no_loop() {
    let mut flows: Vec<String> = (0..100)
        .map(|t| format!("table={t},actions=goto_table:{}", t + 1))
        .collect();
    flows.push("table=100,actions=output:p2".into());
    let mut sw = bridge(&flows);
    let out = send(&mut sw, "p1", &frame(), 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "p2");
    assert_eq!(sw.drops.recursion_too_deep, 0);
}
