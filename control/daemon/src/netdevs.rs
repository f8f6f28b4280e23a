//! Ports following their netdevs. A port of the default type names a netdev; the
//! kernel's link notifications ([`crate::links`]) say when one of that name appears,
//! changes or goes, and the datapath follows at once:
//!
//! - gone (deleted, renamed, moved to another namespace): its AF_XDP sockets are dead,
//!   so the datapath detaches the port; the port stays in the pipeline with its OpenFlow
//!   number and its flows, and its status says `could not open network device NAME (No
//!   such device)` (`show`; `Interface.ofport` -1 and that `error` under OVSDB, as
//!   ovs-vswitchd writes).
//! - present (created, or created again): the port is attached again, under the same
//!   numbers, and its error clears.
//!
//! Internal ports' netdevs are xvsd's own veth pairs: one that went (`ip link del
//! br-int`) is made again by the bridge layer's next pass, as OVS re-creates an internal
//! device, and attached under the same numbers ([`Daemon::ensure_internal`]).
//!
//! The configuration does not change (the port is still in the database and the
//! pipeline). A port whose netdev never existed is not in the pipeline
//! (ovs-vswitchd gives it no number either); the bridge layer adds it on the pass that
//! every link event wakes ([`Daemon::take_netdev_wake`]), which also writes back the
//! new `ofport`/`error` and the netdevs' `link_state`, `mac_in_use`, `ifindex` and `mtu`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use xvs_dataplane::{MacAddr, PortNo};
use xvs_pipeline::present::show::SEND_ONLY;
use xvs_pipeline::topology::PortKind;

use crate::links::{Link, LinkEvent};
use crate::netlink::Rtnl;
use crate::ports::{create_internal, internal_peer, link_exists};
use crate::Daemon;

/// The daemon's view of the kernel's netdevs, and the wake-up of the OVSDB client.
#[derive(Debug, Default)]
pub struct Netdevs {
    /// The latest state of every netdev in xvsd's namespace, by name.
    links: Mutex<BTreeMap<String, Link>>,
    /// A link event happened since the OVSDB client last looked.
    wake: AtomicBool,
}

/// What OVS says of a netdev that cannot be opened (netdev-linux: ENODEV).
pub fn no_such_device(name: &str) -> String {
    format!("could not open network device {name} (No such device)")
}

impl Daemon {
    /// One event from the link watcher: the table of netdevs updated, the ports named
    /// after the netdev attached or detached, and the OVSDB client woken.
    pub fn link_event(&self, ev: LinkEvent) {
        match ev {
            LinkEvent::Present(link) => {
                let (name, index, carrier) = (link.name.clone(), link.index, link.lower_up);
                self.netdevs
                    .links
                    .lock()
                    .expect("links lock")
                    .insert(name.clone(), link);
                self.netdev_appeared(&name, index);
                self.backend
                    .lock()
                    .expect("backend lock")
                    .carrier(index, carrier);
            }
            LinkEvent::Gone(link) => {
                {
                    let mut links = self.netdevs.links.lock().expect("links lock");
                    if links.get(&link.name).is_some_and(|l| l.index == link.index) {
                        links.remove(&link.name);
                    }
                }
                self.netdev_gone(&link.name, link.index);
            }
        }
        self.netdevs.wake.store(true, Ordering::Release);
        // Tunnel underlays follow their netdevs at the next tick rather than the next
        // second.
        let mut cfg = self.config.lock().expect("config lock");
        if cfg.next_sync.is_some() {
            cfg.next_sync = Some(Instant::now());
        }
    }

    /// Whether a link event happened since the last call (the OVSDB client then runs a
    /// pass at once, rather than at the next second).
    pub fn take_netdev_wake(&self) -> bool {
        self.netdevs.wake.swap(false, Ordering::AcqRel)
    }

    /// Whether netdev port `name` is a mirror's output port (attached send-only).
    fn is_mirror_output(&self, name: &str) -> bool {
        let n = name.to_string();
        self.control.read(move |sw, _, _| {
            sw.topology()
                .port_by_name(&n)
                .is_some_and(|(b, of)| b.mirrors.is_output(of))
        })
    }

    /// Attaches the netdev ports that became mirror outputs send-only (their copies are
    /// for the kernel's packet taps: tcpdump, as `ovs-tcpdump` runs it), and those that
    /// stopped being one as any port, detaching each first. Returns the ports that
    /// changed.
    pub fn sync_mirror_outputs(&self) -> Vec<String> {
        let wanted: Vec<(String, PortNo, bool)> = self.control.read(|sw, _, _| {
            sw.topology()
                .bridges()
                .flat_map(|b| {
                    b.ports.values().filter_map(|p| {
                        let dp = p.dp_port?;
                        (p.config.kind == PortKind::Netdev)
                            .then(|| (p.name().to_string(), dp, b.mirrors.is_output(p.ofport)))
                    })
                })
                .collect()
        });
        let mut cfg = self.config.lock().expect("config lock");
        let mut backend = self.backend.lock().expect("backend lock");
        let mut changed = Vec::new();
        if !backend.moves_packets() {
            return changed;
        }
        for (name, dp, send_only) in wanted {
            let Some(Ok(status)) = cfg.status.get(&name) else {
                continue;
            };
            if (status.xdp_mode == SEND_ONLY) == send_only {
                continue;
            }
            backend.detach(dp);
            let attached = if send_only {
                backend.attach_send_only(dp, &name)
            } else {
                backend.attach(dp, &name)
            };
            match &attached {
                Ok(_) => tracing::info!(
                    port = %name,
                    send_only,
                    "port attached again: {}",
                    if send_only {
                        "a mirror's output, sent through the kernel"
                    } else {
                        "no longer a mirror's output"
                    }
                ),
                Err(e) => {
                    tracing::warn!(port = %name, error = %e, "attaching a mirror's output port")
                }
            }
            cfg.status.insert(name.clone(), attached);
            changed.push(name);
        }
        changed
    }

    /// The datapath port of netdev port `name` (a port of the default type: internal
    /// ports are xvsd's own veth pairs, patch and tunnel ports have no netdev).
    fn netdev_dp_port(&self, name: &str) -> Option<PortNo> {
        let n = name.to_string();
        self.control.read(move |sw, _, _| {
            let (b, of) = sw.topology().port_by_name(&n)?;
            let p = b.port(of)?;
            match p.config.kind {
                PortKind::Netdev => p.dp_port,
                _ => None,
            }
        })
    }

    /// A netdev named `name` (kernel index `ifindex`) exists now: a port of that name
    /// that is detached, or attached to an earlier netdev of that name, is attached to
    /// it. Returns whether it was.
    pub fn netdev_appeared(&self, name: &str, ifindex: u32) -> bool {
        let mut cfg = self.config.lock().expect("config lock");
        let attached = match cfg.status.get(name) {
            None => return false,
            Some(Ok(s)) if s.ifindex == ifindex => return false,
            Some(s) => s.is_ok(),
        };
        let Some(dp) = self.netdev_dp_port(name) else {
            return false;
        };
        let mut backend = self.backend.lock().expect("backend lock");
        if !backend.moves_packets() {
            return false;
        }
        if attached {
            // Its sockets belong to a netdev that went unnoticed.
            backend.detach(dp);
        }
        let start = Instant::now();
        let attached = if self.is_mirror_output(name) {
            backend.attach_send_only(dp, name)
        } else {
            backend.attach(dp, name)
        };
        match attached {
            Ok(status) => {
                tracing::info!(
                    port = name,
                    ifindex,
                    took_us = start.elapsed().as_micros() as u64,
                    "netdev appeared: port attached"
                );
                cfg.status.insert(name.to_string(), Ok(status));
                true
            }
            Err(e) => {
                tracing::warn!(port = name, error = %e, "netdev appeared but the port could not be attached");
                cfg.status.insert(name.to_string(), Err(e));
                false
            }
        }
    }

    /// The netdev named `name` (index `ifindex`) is gone: the port of that name, if it
    /// was attached to it, is detached and keeps its numbers, with the error OVS gives.
    /// Returns whether a port was affected.
    pub fn netdev_gone(&self, name: &str, ifindex: u32) -> bool {
        let mut cfg = self.config.lock().expect("config lock");
        let attached = match cfg.status.get(name) {
            None => return false,
            // Another netdev of that name is attached already (an old event).
            Some(Ok(s)) if s.ifindex != ifindex => return false,
            Some(s) => s.is_ok(),
        };
        let Some(dp) = self.netdev_dp_port(name) else {
            return false;
        };
        let mut backend = self.backend.lock().expect("backend lock");
        if !backend.moves_packets() {
            return false;
        }
        if attached {
            backend.detach(dp);
            tracing::warn!(
                port = name,
                ifindex,
                "netdev gone: port detached (kept, with its number, until a netdev of that name appears)"
            );
        }
        cfg.status
            .insert(name.to_string(), Err(no_such_device(name)));
        true
    }

    /// How port `name`'s netdev is doing: None when it is no netdev port the daemon
    /// attached or tried to; the error when it is detached; else the kernel's latest
    /// word on the netdev, when there is one.
    pub fn netdev_status(&self, name: &str) -> Option<Result<Option<Link>, String>> {
        let status = {
            let cfg = self.config.lock().expect("config lock");
            cfg.status.get(name).cloned()?
        };
        Some(match status {
            Err(e) => Err(e),
            Ok(_) => Ok(self
                .netdevs
                .links
                .lock()
                .expect("links lock")
                .get(name)
                .cloned()),
        })
    }

    /// Internal port `name` made whole: when its veth pair went (`ip link del`) or could
    /// not be made last time, it is created again and the port attached to it under the
    /// same datapath port (the OpenFlow number never changed: the port stayed in the
    /// pipeline). OVS re-creates an internal device at its next reconfiguration; the
    /// bridge layer calls this on every pass (each database change, each second, each
    /// link event). Ok(true) when it was re-created; the error, which is also the port's
    /// status (`Interface.error`), when it could not be. Nothing without a datapath.
    pub fn ensure_internal(&self, name: &str) -> Result<bool, String> {
        if !self.moves_packets() {
            return Ok(false);
        }
        let mut cfg = self.config.lock().expect("config lock");
        let before = cfg.status.get(name).cloned();
        let attached = matches!(before, Some(Ok(_)));
        if attached && link_exists(name) && link_exists(&internal_peer(name)) {
            return Ok(false);
        }
        let n = name.to_string();
        let port = self.control.read(move |sw, _, _| {
            let (b, of) = sw.topology().port_by_name(&n)?;
            let p = b.port(of)?;
            if p.config.kind != PortKind::Internal {
                return None;
            }
            Some((b.name.clone(), p.dp_port?))
        });
        let Some((bridge, dp)) = port else {
            return Ok(false);
        };
        let mut backend = self.backend.lock().expect("backend lock");
        if attached {
            // Its sockets belong to the veth that went.
            backend.detach(dp);
        }
        // The bridge's own interface starts down again, as when it was first made.
        let made = create_internal(name, name != bridge).and_then(|peer| backend.attach(dp, &peer));
        match made {
            Ok(status) => {
                tracing::info!(port = name, bridge = %bridge, "internal port's netdev was gone: created again and attached");
                cfg.status.insert(name.to_string(), Ok(status));
                Ok(true)
            }
            Err(e) => {
                if before.as_ref().and_then(|b| b.as_ref().err()) != Some(&e) {
                    tracing::warn!(port = name, error = %e, "internal port's netdev is gone and could not be created again");
                }
                cfg.status.insert(name.to_string(), Err(e.clone()));
                Err(e)
            }
        }
    }

    /// Gives netdev `name` Ethernet address `mac`, unless it has it already (a bridge's
    /// `other_config:hwaddr` on its own interface). Ok(true) when it was changed.
    pub fn set_netdev_mac(&self, name: &str, mac: MacAddr) -> Result<bool, String> {
        let mut cfg = self.config.lock().expect("config lock");
        if cfg.rtnl.is_none() {
            cfg.rtnl = Some(Rtnl::open().map_err(|e| e.to_string())?);
        }
        let net = cfg.rtnl.as_mut().expect("opened above");
        let link = net
            .link_by_name(name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| no_such_device(name))?;
        if link.mac == mac {
            return Ok(false);
        }
        net.set_link_address(link.index, mac)
            .map_err(|e| e.to_string())?;
        // The write-back reads the table: it has the address at once (the kernel's
        // notification says the same a moment later).
        if let Some(l) = self.netdevs.links.lock().expect("links lock").get_mut(name) {
            if l.index == link.index {
                l.mac = Some(mac);
            }
        }
        Ok(true)
    }
}
