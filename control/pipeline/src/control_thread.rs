//! The control thread: owns the switch and the fast-path manager, handles the workers'
//! upcalls, applies changes with a barrier, and does the periodic housekeeping.
//!
//! Everything that touches flow tables goes through here, one thing at a time, which is
//! what makes invalidation simple: an upcall translated before a change was sent to its
//! worker before that change's removals and barrier, and commands are applied in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use xvs_dataplane::worker::Upcall;

use crate::ofproto::table::Time;
use crate::revalidator::Revalidator;
use crate::switch::{Switch, SwitchError};

/// Milliseconds since the daemon started: the one clock of the control thread and the
/// workers (cache entries' `used` times are on it).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> Time {
        self.start.elapsed().as_millis() as Time
    }
}

/// What a change returns most of the time.
pub type Reply = Result<String, SwitchError>;
/// Sends a change's result to its caller; run only after the barrier.
type Answer = Box<dyn FnOnce() + Send>;
type ChangeFn = Box<dyn FnOnce(&mut Switch, Time) -> Answer + Send>;
type ReadFn = Box<dyn FnOnce(&Switch, &Revalidator, Time) + Send>;
type RevalidatorFn = Box<dyn FnOnce(&mut Revalidator) + Send>;

enum Request {
    Change(ChangeFn),
    Read(ReadFn),
    Revalidator(RevalidatorFn),
}

#[derive(Clone, Copy, Debug)]
pub struct ControlConfig {
    /// How often counters go back to the rules and timeouts are checked. Each time walks
    /// every cache entry (a cache miss each with a full cache: about 20 ms for 200,000),
    /// so not too often: OVS's revalidators dump the datapath every 500 ms. Counters are
    /// also brought up to date before every change and every read.
    pub tick: Duration,
    /// How long a change waits for the workers' acknowledgement before it is answered
    /// anyway (a worker that stopped polling would otherwise hang every agent).
    pub barrier_timeout: Duration,
    /// Upcalls handled in a row before requests get a turn.
    pub upcall_batch: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            tick: Duration::from_millis(500),
            barrier_timeout: Duration::from_secs(2),
            upcall_batch: 256,
        }
    }
}

/// The handle other threads (the socket server, tests) use.
pub struct ControlThread {
    requests: Sender<Request>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(Switch, Revalidator)>>,
}

impl ControlThread {
    pub fn spawn(
        mut sw: Switch,
        mut reval: Revalidator,
        upcalls: Receiver<Upcall>,
        clock: Clock,
        config: ControlConfig,
    ) -> Self {
        let (req_tx, req_rx) = bounded::<Request>(64);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        sw.track_changes(true);
        reval.push_tunnels(&sw);
        let handle = std::thread::Builder::new()
            .name("xvs-control".into())
            .spawn(move || {
                run(
                    &mut sw, &mut reval, &upcalls, &req_rx, &stop2, clock, config,
                );
                (sw, reval)
            })
            .expect("spawn the control thread");
        ControlThread {
            requests: req_tx,
            stop,
            handle: Some(handle),
        }
    }

    /// Runs `f` on the switch; returns once every worker has applied what the change
    /// invalidated, so that no packet is forwarded by what it replaced.
    pub fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Switch, Time) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = bounded(1);
        let job: ChangeFn = Box::new(move |sw, now| {
            let r = f(sw, now);
            Box::new(move || {
                let _ = tx.send(r);
            })
        });
        self.requests
            .send(Request::Change(job))
            .expect("control thread is running");
        rx.recv().expect("control thread answers")
    }

    /// Runs `f` on the switch after crediting the caches' counters to the rules.
    pub fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Switch, &Revalidator, Time) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = bounded(1);
        let job: ReadFn = Box::new(move |sw, reval, now| {
            let _ = tx.send(f(sw, reval, now));
        });
        self.requests
            .send(Request::Read(job))
            .expect("control thread is running");
        rx.recv().expect("control thread answers")
    }

    /// Runs `f` on the revalidator (its settings, such as the wait for flows to be
    /// restored); the switch and the caches are not touched.
    pub fn revalidator<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Revalidator) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = bounded(1);
        let job: RevalidatorFn = Box::new(move |reval| {
            let _ = tx.send(f(reval));
        });
        self.requests
            .send(Request::Revalidator(job))
            .expect("control thread is running");
        rx.recv().expect("control thread answers")
    }

    /// Stops the thread and hands back its state.
    pub fn stop(mut self) -> (Switch, Revalidator) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("stopped once")
            .join()
            .expect("control thread did not panic")
    }
}

impl Drop for ControlThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(
    sw: &mut Switch,
    reval: &mut Revalidator,
    upcalls: &Receiver<Upcall>,
    requests: &Receiver<Request>,
    stop: &AtomicBool,
    clock: Clock,
    config: ControlConfig,
) {
    let mut next_tick = clock.now_ms() + config.tick.as_millis() as Time;
    // Wake up at least this often to notice `stop`.
    let wake = config.tick.min(Duration::from_millis(50));
    while !stop.load(Ordering::Relaxed) {
        select! {
            recv(upcalls) -> up => {
                if let Ok(up) = up {
                    reval.handle_upcall(sw, up, clock.now_ms());
                    for _ in 1..config.upcall_batch {
                        match upcalls.try_recv() {
                            Ok(up) => reval.handle_upcall(sw, up, clock.now_ms()),
                            Err(_) => break,
                        }
                    }
                }
            }
            recv(requests) -> req => {
                match req {
                                        Ok(Request::Change(f)) => {
                        let now = clock.now_ms();
                        // Credit what the caches forwarded under the old rules first.
                        reval.sync_stats(sw, now);
                        let answer = f(sw, now);
                        let generation = reval.commit(sw);
                        if !wait_for_barrier(reval, generation, config.barrier_timeout) {
                            reval.stats.barrier_timeouts += 1;
                        }
                                                answer();
                    }
                    Ok(Request::Read(f)) => {
                        let now = clock.now_ms();
                        reval.sync_stats(sw, now);
                        f(sw, reval, now);
                    }
                    Ok(Request::Revalidator(f)) => f(reval),
                    Err(_) => return,
                }
            }
            default(wake) => {}
        }
        let now = clock.now_ms();
        if now >= next_tick {
            let started = Instant::now();
            reval.tick(sw, now);
            reval.stats.dump_duration_ms = started.elapsed().as_millis() as u64;
            next_tick = now + config.tick.as_millis() as Time;
        }
    }
}

fn wait_for_barrier(reval: &Revalidator, generation: u64, timeout: Duration) -> bool {
    let start = Instant::now();
    while !reval.barrier_reached(generation) {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    true
}
