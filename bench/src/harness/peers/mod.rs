//! The peers xvs is measured against, each a [`SwitchUnderTest`](super::SwitchUnderTest)
//! forwarding the topology's `sw_in` -> `sw_out` inside the switch namespace:
//!
//! - [`LinuxBridge`] (`linux-bridge`): the kernel bridge, L2 only. Its work runs in
//!   softirq; by default RPS steers it to the switch core (see the type).
//! - [`XdpRedirect`] (`xdp-redirect`): an XDP program on `sw_in` redirecting every frame
//!   to `sw_out` through a devmap: the in-kernel ceiling, L2 only. It runs in `sw_in`'s
//!   NAPI, i.e. on the generator's core, not the switch core.
//! - [`L2Fwd`] (`l2fwd`): the bare AF_XDP forwarder (one shared UMEM, rx on `sw_in`, the
//!   same frame sent on `sw_out`), the I/O limit of a userspace AF_XDP switch, L2 only.
//! - [`OvsAfxdp`] (`ovs-afxdp`): Open vSwitch 3.1, userspace datapath, AF_XDP ports, the
//!   same bridges and flows as xvs, every scenario; needs `openvswitch-switch` installed.
//!
//! Each `stop()` leaves nothing behind (processes, XDP programs, bridges, RPS masks).

pub mod l2fwd;
pub mod linux_bridge;
pub mod ovs_afxdp;
pub mod xdp_redirect;

pub use l2fwd::L2Fwd;
pub use linux_bridge::LinuxBridge;
pub use ovs_afxdp::OvsAfxdp;
pub use xdp_redirect::XdpRedirect;

use super::HarnessError;
use crate::traffic::enter_thread;

/// An error of peer `switch`.
fn peer_err(switch: &str, detail: impl Into<String>) -> HarnessError {
    HarnessError::Switch {
        switch: switch.into(),
        detail: detail.into(),
    }
}

/// Runs `f` on a short-lived thread inside network namespace `netns` (setns affects only
/// that thread, so the caller stays where it is) and returns its result.
fn in_netns<T: Send>(
    switch: &str,
    netns: &str,
    f: impl FnOnce() -> Result<T, HarnessError> + Send,
) -> Result<T, HarnessError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_thread(Some(netns), None).map_err(|e| peer_err(switch, e.to_string()))?;
            f()
        })
        .join()
        .map_err(|_| peer_err(switch, format!("a thread in {netns} panicked")))?
    })
}

/// The kernel's hex CPU mask with only `core` set (`rps_cpus` format).
fn cpu_mask(core: usize) -> String {
    // Groups of 32 bits, most significant first, comma-separated.
    let mut words = vec![0u32; core / 32 + 1];
    words[core / 32] |= 1 << (core % 32);
    words
        .iter()
        .rev()
        .map(|w| format!("{w:08x}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::cpu_mask;

    #[test]
    fn cpu_masks() {
        assert_eq!(cpu_mask(0), "00000001");
        assert_eq!(cpu_mask(1), "00000002");
        assert_eq!(cpu_mask(33), "00000002,00000000");
    }
}
