//! The revalidator and the XDP tier, with a model of the tier (no kernel): which entries
//! go in, that an entry removed by a change leaves the tier and the grace period is
//! waited for before that change's barrier, that the kernel's counts reach the rules
//! and the entry's idle time, and that a spent or reloaded handle loses nothing.

mod common;

use std::sync::{Arc, Mutex};

use common::cached::Cached;
use common::*;
use xvs_dataplane::cache::CachedFlow;
use xvs_dataplane::tunnel::TunnelMap;
use xvs_dataplane::xdp_tier::{TierBackend, TierCount, TierHandle, TierRefusal, TierStats};
use xvs_pipeline::{PortConfig, PortKind, Switch};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Install(u64),
    Remove(u64),
    /// A grace period waited for, with the barrier generation sent so far.
    Quiesce,
}

#[derive(Default)]
struct Model {
    log: Vec<Event>,
    /// serial -> (packets, bytes) the "kernel" forwarded by the entry.
    live: Vec<(u64, (u64, u64))>,
    /// Serials the tier took out by itself, with their final counts.
    spent: Vec<(u64, (u64, u64))>,
    next: u64,
    refuse: bool,
    /// The program was reloaded: every handle is gone.
    reloaded: bool,
}

#[derive(Clone, Default)]
struct ModelTier(Arc<Mutex<Model>>);

impl TierBackend for ModelTier {
    fn install(&mut self, _flow: &CachedFlow) -> Result<TierHandle, TierRefusal> {
        let mut m = self.0.lock().unwrap();
        if m.refuse {
            return Err(TierRefusal::Full);
        }
        m.next += 1;
        let serial = m.next;
        m.live.push((serial, (0, 0)));
        m.log.push(Event::Install(serial));
        Ok(TierHandle {
            slot: serial as u32,
            load: 1,
            serial,
        })
    }
    fn remove(&mut self, h: TierHandle) {
        let mut m = self.0.lock().unwrap();
        m.live.retain(|(s, _)| *s != h.serial);
        m.log.push(Event::Remove(h.serial));
    }
    fn quiesce(&mut self) {
        let mut m = self.0.lock().unwrap();
        if matches!(m.log.last(), Some(Event::Remove(_))) {
            m.log.push(Event::Quiesce);
        }
    }
    fn counters(&mut self, h: TierHandle) -> Option<TierCount> {
        let mut m = self.0.lock().unwrap();
        if m.reloaded {
            return None;
        }
        if let Some(i) = m.spent.iter().position(|(s, _)| *s == h.serial) {
            let (_, (packets, bytes)) = m.spent.remove(i);
            return Some(TierCount {
                packets,
                bytes,
                live: false,
            });
        }
        let (_, (packets, bytes)) = *m.live.iter().find(|(s, _)| *s == h.serial)?;
        Some(TierCount {
            packets,
            bytes,
            live: true,
        })
    }
    fn set_tunnels(&mut self, _map: &TunnelMap) {}
    fn tick(&mut self) {}
    fn stats(&self) -> TierStats {
        TierStats::default()
    }
}

impl ModelTier {
    /// The kernel forwarded `n` more 60-byte frames by live entry `serial`.
    fn forward(&self, serial: u64, n: u64) {
        let mut m = self.0.lock().unwrap();
        let e = m.live.iter_mut().find(|(s, _)| *s == serial).unwrap();
        e.1 .0 += n;
        e.1 .1 += 60 * n;
    }
    fn log(&self) -> Vec<Event> {
        self.0.lock().unwrap().log.clone()
    }
}

fn bridge() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br0").unwrap();
    for p in ["p1", "p2", "p3"] {
        sw.add_port("br0", PortConfig::new(p, PortKind::Netdev))
            .unwrap();
    }
    sw.add_flow("br0", "priority=5,in_port=p1 actions=output:p2", 0)
        .unwrap();
    sw
}

fn frame() -> Vec<u8> {
    let mut f = eth("fa:16:3e:00:00:01", "fa:16:3e:aa:aa:aa", None, 0x88b5);
    f.extend_from_slice(&[0u8; 46]);
    f
}

fn with_tier(promote: u64) -> (Cached, ModelTier) {
    let mut c = Cached::new(bridge(), 100);
    let tier = ModelTier::default();
    c.fp.set_tier(Box::new(tier.clone()));
    c.fp.tier_promote_packets = promote;
    (c, tier)
}

fn n_packets(c: &Cached, now: u64) -> String {
    let dump =
        c.sw.dump_flows("br0", Some("in_port=1"), false, now)
            .unwrap();
    dump.split("n_packets=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn only_an_entry_hot_since_the_last_tick_goes_into_the_tier() {
    let (mut c, tier) = with_tier(3);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    c.send(p1, &frame(), 1000);
    c.send(p1, &frame(), 1100);
    c.housekeeping(1500);
    assert_eq!(tier.log(), vec![], "two packets: not hot");
    for t in 0..3 {
        c.send(p1, &frame(), 1600 + t);
    }
    c.housekeeping(2000);
    assert_eq!(
        tier.log(),
        vec![Event::Install(1)],
        "three since the last tick"
    );
    // Already in: not offered again.
    for t in 0..5 {
        c.send(p1, &frame(), 2100 + t);
    }
    c.housekeeping(2500);
    assert_eq!(tier.log(), vec![Event::Install(1)]);
}

#[test]
fn a_change_takes_the_entry_out_of_the_tier_and_waits_before_its_barrier() {
    let (mut c, tier) = with_tier(1);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    c.send(p1, &frame(), 1000);
    c.send(p1, &frame(), 1001);
    c.housekeeping(1500);
    assert_eq!(tier.log(), vec![Event::Install(1)]);
    tier.forward(1, 1000);
    // Before a change the control thread credits the caches: the kernel's packets too.
    c.fp.sync_stats(&mut c.sw, 1550);
    assert_eq!(n_packets(&c, 1560), "1002");
    // A rule that takes the entry's packets: the entry goes from both tiers, and the
    // grace period is waited for before the barrier generation is sent.
    let generation = c.fp.generation();
    c.sw.add_flow("br0", "priority=10,in_port=p1 actions=output:p3", 1600)
        .unwrap();
    c.fp.commit(&mut c.sw);
    assert_eq!(
        tier.log(),
        vec![Event::Install(1), Event::Remove(1), Event::Quiesce]
    );
    assert_eq!(c.fp.generation(), generation + 1);
    // A commit with nothing removed waits for nothing.
    c.fp.commit(&mut c.sw);
    assert_eq!(tier.log().len(), 3);
}

#[test]
fn kernel_counts_keep_an_entry_alive_and_survive_a_spent_handle() {
    let (mut c, tier) = with_tier(1);
    let p1 = c.sw.dp_port_named("p1").unwrap();
    c.send(p1, &frame(), 1000);
    c.send(p1, &frame(), 1001);
    c.housekeeping(1500);
    // Only the kernel forwards from now on; the entry stays (max idle is 10 s).
    for (i, now) in [5_000u64, 10_000, 15_000, 20_000].into_iter().enumerate() {
        tier.forward(1, 10);
        c.housekeeping(now);
        assert_eq!(c.fp.n_entries(), 1, "used by the kernel at {now} ({i})");
    }
    assert_eq!(n_packets(&c, 20_100), "42");
    // The tier takes the entry out by itself with 5 more packets: they count, and the
    // entry is offered again when hot, its totals going on from there.
    {
        let mut m = tier.0.lock().unwrap();
        let (_, counts) = m.live.remove(0);
        m.spent.push((1, (counts.0 + 5, counts.1 + 300)));
    }
    c.housekeeping(20_500);
    assert_eq!(n_packets(&c, 20_600), "47");
    c.send(p1, &frame(), 20_700);
    c.housekeeping(21_000);
    assert_eq!(tier.log().last(), Some(&Event::Install(2)));
    tier.forward(2, 3);
    c.housekeeping(21_500);
    assert_eq!(n_packets(&c, 21_600), "51");
    // A reload loses the handle, not the counts already read.
    tier.0.lock().unwrap().reloaded = true;
    c.housekeeping(22_000);
    assert_eq!(n_packets(&c, 22_100), "51");
}

#[test]
fn a_refused_entry_stays_in_userspace_and_counts_there() {
    let (mut c, tier) = with_tier(1);
    tier.0.lock().unwrap().refuse = true;
    let p1 = c.sw.dp_port_named("p1").unwrap();
    for t in 0..4 {
        c.send(p1, &frame(), 1000 + t);
    }
    c.housekeeping(1500);
    assert_eq!(tier.log(), vec![]);
    assert_eq!(n_packets(&c, 1600), "4");
}
