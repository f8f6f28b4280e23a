//! `xdp-redirect`: the in-kernel XDP redirect ceiling (L2 scenarios only).
//!
//! [`xvs_ebpf::bench::RedirectProgram`] (`ebpf/xdp/xvs_redirect.bpf.c`) is attached to
//! `sw_in` in native mode through a bpf_link and redirects every frame, untouched and
//! unparsed, to `sw_out` through a one-entry devmap. `sw_out`'s peer `sink0` has NAPI
//! (GRO is on in the topology, and the sink attaches XDP), which a redirect into a veth
//! needs.
//!
//! **Where it runs.** Not on the switch core: the program runs in `sw_in`'s NAPI, which
//! the generator's transmit schedules on the generator's core, and the frames it
//! redirects are received by `sink0`'s NAPI, scheduled there too. So this peer measures
//! in-kernel forwarding sharing the generator's core, and is usually bounded by the
//! generator (the OVS peer recipe measured 3.7 Mpps, all the generator sent). RPS does
//! not apply to XDP. The number of flows changes nothing here: there is no lookup.

use xvs_ebpf::bench::RedirectProgram;
use xvs_ebpf::XdpMode;

use super::super::dut::{SwitchStats, SwitchUnderTest};
use super::super::{HarnessError, Scenario, Topology};
use super::{in_netns, peer_err};
use crate::traffic::FlowSet;

const NAME: &str = "xdp-redirect";

#[derive(Default)]
pub struct XdpRedirect {
    /// The attachment; dropping it detaches the program (the bpf_link's fd closes).
    prog: Option<RedirectProgram>,
}

impl XdpRedirect {
    pub fn new() -> XdpRedirect {
        XdpRedirect::default()
    }
}

impl SwitchUnderTest for XdpRedirect {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, scenario: &Scenario) -> bool {
        matches!(scenario, Scenario::L2 { .. })
    }

    fn start(
        &mut self,
        topo: &Topology,
        scenario: &Scenario,
        _flows: &FlowSet,
        _core: usize,
    ) -> Result<(), HarnessError> {
        if !self.supports(scenario) {
            return Err(peer_err(
                NAME,
                format!("{} is not an L2 scenario", scenario.name()),
            ));
        }
        // Interface indexes and the attachment belong to the switch namespace.
        let prog = in_netns(NAME, &topo.switch_ns, || {
            let to = xvs_ebpf::ifindex(&topo.sw_out)
                .ok_or_else(|| peer_err(NAME, format!("no interface {}", topo.sw_out)))?;
            RedirectProgram::attach(&topo.sw_in, to, XdpMode::Native)
                .map_err(|e| peer_err(NAME, e.to_string()))
        })?;
        self.prog = Some(prog);
        Ok(())
    }

    fn stats(&mut self) -> SwitchStats {
        SwitchStats {
            upcalls: None,
            cycles_per_packet: None,
            raw: self
                .prog
                .as_ref()
                .map(|p| format!("{p:?}\n"))
                .unwrap_or_default(),
        }
    }

    fn stop(&mut self) {
        drop(self.prog.take());
    }
}
