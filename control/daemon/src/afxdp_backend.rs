//! Ports backed by the AF_XDP datapath.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use xvs_dataplane::afxdp::{AfXdpDatapath, PortMode, XdpMode};
use xvs_dataplane::PortNo;

use crate::ports::{PortBackend, PortCounters, PortStatus};

pub struct AfXdpBackend {
    dp: Option<AfXdpDatapath>,
}

impl AfXdpBackend {
    pub fn new(dp: AfXdpDatapath) -> Self {
        AfXdpBackend { dp: Some(dp) }
    }

    fn dp(&self) -> &AfXdpDatapath {
        self.dp
            .as_ref()
            .expect("datapath runs until the backend is dropped")
    }
}

impl AfXdpBackend {
    fn attach_in(
        &mut self,
        port: PortNo,
        ifname: &str,
        mode: PortMode,
    ) -> Result<PortStatus, String> {
        let info = self
            .dp()
            .add_port(port, ifname, mode)
            .map_err(|e| e.to_string())?;
        if !info.workers_without_tx.is_empty() {
            tracing::warn!(
                port = ifname,
                queues = info.queues,
                workers = ?info.workers_without_tx,
                "these workers own no queue of the port and cannot send to it: give it as many queues as there are workers"
            );
        }
        tracing::info!(port = ifname, xdp = ?info.xdp_mode, zero_copy = info.zero_copy, queues = info.queues, "port attached");
        Ok(PortStatus {
            ifindex: info.ifindex,
            xdp_mode: match info.xdp_mode {
                Some(XdpMode::Native) => "native",
                Some(XdpMode::Generic) => "generic",
                Some(XdpMode::Auto) => "auto",
                None => xvs_pipeline::present::show::SEND_ONLY,
            }
            .to_string(),
            zero_copy: info.zero_copy,
            queues: info.queues,
            mtu: info.mtu,
        })
    }
}

impl PortBackend for AfXdpBackend {
    fn attach(&mut self, port: PortNo, ifname: &str) -> Result<PortStatus, String> {
        self.attach_in(port, ifname, PortMode::All)
    }

    fn attach_underlay(&mut self, port: PortNo, ifname: &str) -> Result<PortStatus, String> {
        self.attach_in(port, ifname, PortMode::Underlay)
    }

    fn attach_send_only(&mut self, port: PortNo, ifname: &str) -> Result<PortStatus, String> {
        self.attach_in(port, ifname, PortMode::SendOnly)
    }

    fn add_underlay_ip(&mut self, port: PortNo, ip: Ipv4Addr) -> Result<(), String> {
        self.dp()
            .add_underlay_ip(port, ip)
            .map_err(|e| e.to_string())
    }

    fn remove_underlay_ip(&mut self, port: PortNo, ip: Ipv4Addr) {
        if let Err(e) = self.dp().remove_underlay_ip(port, ip) {
            tracing::warn!(port, %ip, error = %e, "removing a local tunnel address");
        }
    }

    fn carrier(&mut self, ifindex: u32, up: bool) {
        self.dp().set_carrier(ifindex, up);
    }

    fn detach(&mut self, port: PortNo) {
        if let Err(e) = self.dp().remove_port(port) {
            tracing::warn!(port, error = %e, "detaching a port");
        }
    }

    fn counters(&self, port: PortNo) -> PortCounters {
        self.all_counters().remove(&port).unwrap_or_default()
    }

    fn all_counters(&self) -> BTreeMap<PortNo, PortCounters> {
        let Ok(all) = self.dp().port_stats() else {
            return BTreeMap::new();
        };
        all.into_iter()
            .map(|(port, s)| {
                let c = PortCounters {
                    rx_packets: s.rx_packets,
                    rx_bytes: s.rx_bytes,
                    rx_dropped: s.rx_bad_desc
                        + s.kernel_rx_ring_full
                        + s.kernel_rx_fill_empty
                        + s.kernel_rx_dropped,
                    tx_packets: s.tx_packets,
                    tx_bytes: s.tx_bytes,
                    tx_dropped: s.tx_ring_full
                        + s.tx_no_socket
                        + s.tx_no_frame
                        + s.tx_too_big
                        + s.tx_link_down,
                    rx_errors: s.kernel_rx_invalid_descs,
                    tx_errors: s.kernel_tx_invalid_descs + s.tx_kick_errors,
                };
                (port, c)
            })
            .collect()
    }
}

impl Drop for AfXdpBackend {
    fn drop(&mut self) {
        // Detaches every XDP program and joins the workers.
        if let Some(dp) = self.dp.take() {
            dp.stop();
        }
    }
}
