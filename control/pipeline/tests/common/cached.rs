//! One worker and the fast-path manager in one thread, driven step by step: the cache
//! path made deterministic.
#![allow(dead_code)]

use crossbeam_channel::{bounded, Receiver};
use xvs_dataplane::worker::{Upcall, Worker};
use xvs_dataplane::{FrameBuf, PortNo, DEFAULT_HEADROOM};
use xvs_pipeline::revalidator::{Revalidator, WorkerHandle};
use xvs_pipeline::Switch;

pub struct Cached {
    pub sw: Switch,
    pub worker: Worker,
    pub upcalls: Receiver<Upcall>,
    pub fp: Revalidator,
}

impl Cached {
    pub fn new(mut sw: Switch, capacity: usize) -> Self {
        sw.track_changes(true);
        let (cmd_tx, cmd_rx) = bounded(1 << 16);
        let (up_tx, up_rx) = bounded(1 << 10);
        let worker = Worker::new(0, capacity, cmd_rx, up_tx);
        let mut fp = Revalidator::new(
            vec![WorkerHandle {
                cmds: cmd_tx,
                stats: worker.stats().clone(),
            }],
            capacity,
        );
        fp.push_tunnels(&sw);
        let mut c = Cached {
            sw,
            worker,
            upcalls: up_rx,
            fp,
        };
        c.worker.poll_commands(&mut |_, _| {});
        c
    }

    pub fn send(&mut self, port: PortNo, frame: &[u8], now: u64) -> Vec<(PortNo, Vec<u8>)> {
        let mut out = Vec::new();
        let mut f = FrameBuf::with_headroom(frame, DEFAULT_HEADROOM);
        self.worker.process(port, &mut f, now, &mut |p, b: &[u8]| {
            out.push((p, b.to_vec()))
        });
        while let Ok(up) = self.upcalls.try_recv() {
            self.fp.handle_upcall(&mut self.sw, up, now);
        }
        self.worker
            .poll_commands(&mut |p, b: &[u8]| out.push((p, b.to_vec())));
        out
    }

    /// What the control thread does between packets: credit, expire, invalidate.
    pub fn housekeeping(&mut self, now: u64) {
        self.fp.tick(&mut self.sw, now);
        self.worker
            .poll_commands(&mut |_, _| panic!("no packets on housekeeping"));
    }
}
