//! The packet-rate harness's own traffic: a generator and a sink, built on the dataplane's
//! AF_XDP building blocks (`xvs_dataplane::afxdp`: rings, UMEM, sockets) and the harness's
//! XDP programs (`xvs_ebpf::bench`).
//!
//! - [`frames`]: the offered traffic ([`FlowSet`]: size, flows, encapsulation, a stamp in
//!   every frame) and what must arrive after the switch ([`Expectation`], [`Checker`]).
//! - [`generator`]: a pinned thread sending a [`FlowSet`], either flat out from XDP
//!   ([`Engine::XdpLoop`]: frames made in the kernel by seeds circulating on a veth pair,
//!   several Mpps from one core) or flat out or at a given rate through an AF_XDP socket
//!   in copy mode ([`Engine::AfXdp`], about 0.66 Mpps here).
//! - [`sink`]: a thread receiving on every rx queue of an interface, checking every frame
//!   against the [`Checker`], counting per second: in XDP ([`CheckIn::Xdp`]: the frames
//!   exactly as expected are counted in the kernel, the others reach the thread's
//!   `Checker` through AF_XDP) or all in the thread ([`CheckIn::Userspace`]).
//!
//! Both take a network namespace by name (`/run/netns/NAME`): their thread enters it
//! (setns affects only the calling thread), so the caller stays where it is.

pub mod frames;
pub mod generator;
pub mod sink;

pub use frames::{
    BadReason, Checker, Encap, Endpoints, Expectation, FlowSet, FrameError, GreTunnel, Stamp,
    TunnelKeys, Verdict, VlanEdit,
};
pub use generator::{Engine, GenConfig, GenError, GenStats, Generator};
pub use sink::{CheckIn, Queues, Sink, SinkConfig, SinkError, SinkSnapshot, SinkStats};

use std::ffi::CString;
use std::io;

/// Preparing a traffic thread: its namespace and its core.
#[derive(Debug, thiserror::Error)]
pub enum ThreadSetupError {
    #[error("network namespace {name:?}: {err}")]
    Netns { name: String, err: io::Error },
    #[error("cannot pin the thread to core {0}")]
    Pin(usize),
}

/// Moves the calling thread into network namespace `netns` (when given) and pins it to
/// `core` (when given). Done first thing in a traffic thread: sockets and the XDP program
/// then belong to that namespace, and the rate is measured on a known core.
pub(crate) fn enter_thread(
    netns: Option<&str>,
    core: Option<usize>,
) -> Result<(), ThreadSetupError> {
    if let Some(name) = netns {
        let err = |err| ThreadSetupError::Netns {
            name: name.into(),
            err,
        };
        let path = CString::new(format!("/run/netns/{name}"))
            .map_err(|_| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
        // SAFETY: path is NUL-terminated; the result is checked.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(err(io::Error::last_os_error()));
        }
        // SAFETY: fd is a namespace file we just opened.
        let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
        let e = io::Error::last_os_error();
        // SAFETY: ours to close, used by nothing else.
        unsafe { libc::close(fd) };
        if r != 0 {
            return Err(err(e));
        }
    }
    if let Some(c) = core {
        // A rate measured on whichever core the scheduler picks is not a measurement:
        // refuse rather than run unpinned.
        if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
            return Err(ThreadSetupError::Pin(c));
        }
    }
    Ok(())
}
