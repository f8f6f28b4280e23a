//! Worker threads fed from memory: the real worker core and control thread, with
//! channels of frame batches standing in for AF_XDP rings.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use xvs_dataplane::worker::{Upcall, Worker, WorkerStats};
use xvs_dataplane::{FrameBuf, PortNo};
use xvs_pipeline::control_thread::{Clock, ControlConfig, ControlThread};
use xvs_pipeline::revalidator::{Revalidator, WorkerHandle};
use xvs_pipeline::Switch;

pub type Batch = Vec<(PortNo, Vec<u8>)>;
/// Called for every frame a worker sends: (worker, port, bytes).
pub type TxHook = Arc<dyn Fn(usize, PortNo, &[u8]) + Send + Sync>;

pub struct Harness {
    pub control: Option<ControlThread>,
    pub inputs: Vec<Sender<Batch>>,
    pub stats: Vec<Arc<WorkerStats>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Harness {
    pub fn start(
        sw: Switch,
        n_workers: usize,
        capacity: usize,
        upcall_queue: usize,
        tx: TxHook,
    ) -> Self {
        let clock = Clock::new();
        let (up_tx, up_rx) = bounded::<Upcall>(upcall_queue);
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        let mut inputs = Vec::new();
        let mut stats = Vec::new();
        let mut threads = Vec::new();
        for id in 0..n_workers {
            let (cmd_tx, cmd_rx) = bounded(1 << 16);
            let worker = Worker::new(id, capacity, cmd_rx, up_tx.clone());
            handles.push(WorkerHandle {
                cmds: cmd_tx,
                stats: worker.stats().clone(),
            });
            stats.push(worker.stats().clone());
            let (in_tx, in_rx) = bounded::<Batch>(64);
            inputs.push(in_tx);
            let (stop, tx) = (stop.clone(), tx.clone());
            threads.push(std::thread::spawn(move || {
                worker_loop(worker, in_rx, stop, clock, tx)
            }));
        }
        let fp = Revalidator::new(handles, capacity);
        let config = ControlConfig::default();
        let control = ControlThread::spawn(sw, fp, up_rx, clock, config);
        Harness {
            control: Some(control),
            inputs,
            stats,
            stop,
            threads,
        }
    }

    pub fn control(&self) -> &ControlThread {
        self.control.as_ref().unwrap()
    }

    /// Stops the workers, then the control thread; returns its state.
    pub fn stop(mut self) -> (Switch, Revalidator) {
        self.stop.store(true, Ordering::Relaxed);
        self.inputs.clear();
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        self.control.take().unwrap().stop()
    }
}

fn worker_loop(
    mut worker: Worker,
    input: Receiver<Batch>,
    stop: Arc<AtomicBool>,
    clock: Clock,
    hook: TxHook,
) {
    let id = worker.id;
    let mut tx = |p: PortNo, b: &[u8]| hook(id, p, b);
    // One reused buffer with headroom, like a UMEM frame.
    let mut buf = vec![0u8; 4096];
    const HEAD: usize = 256;
    let mut idle = 0u32;
    while !stop.load(Ordering::Relaxed) {
        worker.poll_commands(&mut tx);
        match input.try_recv() {
            Ok(batch) => {
                idle = 0;
                let now = clock.now_ms();
                for (port, bytes) in batch {
                    let len = bytes.len().min(buf.len() - HEAD);
                    buf[HEAD..HEAD + len].copy_from_slice(&bytes[..len]);
                    let mut f = FrameBuf::from_parts(&mut buf[..], HEAD, len).unwrap();
                    worker.process(port, &mut f, now, &mut tx);
                }
            }
            Err(TryRecvError::Empty) => {
                idle += 1;
                if idle > 100 {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                } else {
                    std::hint::spin_loop();
                }
            }
            Err(TryRecvError::Disconnected) => {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }
}
