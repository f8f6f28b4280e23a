//! The peers xvs is measured against, each a [`SwitchUnderTest`](super::SwitchUnderTest)
//! forwarding the topology's `sw_in` -> `sw_out` inside the switch namespace:
//!
//! - [`LinuxBridge`] (`linux-bridge`): the kernel bridge, L2 only. Its work runs in
//!   softirq; by default RPS steers it to the switch core (see the type).
//!
//! Each `stop()` leaves nothing behind (processes, XDP programs, bridges, RPS masks).

pub mod linux_bridge;

pub use linux_bridge::LinuxBridge;

use super::HarnessError;

/// An error of peer `switch`.
fn peer_err(switch: &str, detail: impl Into<String>) -> HarnessError {
    HarnessError::Switch {
        switch: switch.into(),
        detail: detail.into(),
    }
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
