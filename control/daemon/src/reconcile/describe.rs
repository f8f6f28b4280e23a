//! What a configuration change changed, in words for the log: every change the bridge
//! layer makes is logged at info with these (bridge options, flow table limits, a
//! port's type, options and VLANs, before and after). Pure.

use std::collections::BTreeMap;

use xvs_pipeline::ofproto::limits::{OverflowPolicy, TableConfig};
use xvs_pipeline::topology::{PortConfig, PortKind, PortVlan, PriorityTags, TunnelKey, VlanMode};
use xvs_pipeline::BridgeOptions;

/// `fail_mode` as the database spells it.
pub(super) fn fail_mode(secure: bool) -> &'static str {
    if secure {
        "secure"
    } else {
        "standalone"
    }
}

/// The bridge options that differ, `key old -> new` in OVS's `other_config` names;
/// empty when none does.
pub(super) fn bridge_options(old: &BridgeOptions, new: &BridgeOptions) -> String {
    let mut out = Vec::new();
    if old.mac_table_size != new.mac_table_size {
        out.push(format!(
            "mac-table-size {} -> {}",
            old.mac_table_size, new.mac_table_size
        ));
    }
    if old.mac_aging_ms != new.mac_aging_ms {
        out.push(format!(
            "mac-aging-time {} -> {}",
            secs(old.mac_aging_ms),
            secs(new.mac_aging_ms)
        ));
    }
    if old.forward_bpdu != new.forward_bpdu {
        out.push(format!(
            "forward-bpdu {} -> {}",
            old.forward_bpdu, new.forward_bpdu
        ));
    }
    out.join(", ")
}

fn secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{}", ms as f64 / 1000.0)
    }
}

/// One `Flow_Table` row's settings.
fn table(t: &TableConfig) -> String {
    let mut out = Vec::new();
    if let Some(n) = &t.name {
        out.push(format!("name={n}"));
    }
    out.push(match t.flow_limit {
        Some(l) => format!("flow_limit={l}"),
        None => "flow_limit=none".into(),
    });
    out.push(
        match t.overflow_policy {
            OverflowPolicy::Refuse => "overflow_policy=refuse",
            OverflowPolicy::Evict => "overflow_policy=evict",
        }
        .into(),
    );
    if !t.groups.is_empty() {
        let g: Vec<String> = t.groups.iter().map(|g| g.to_string()).collect();
        out.push(format!("groups={}", g.join(",")));
    }
    out.join(" ")
}

/// The tables whose settings changed: `table N: old -> new`, `table N: new` for one
/// that had none, `table N: removed (no limit)`.
pub(super) fn flow_tables(
    old: &BTreeMap<u8, TableConfig>,
    new: &BTreeMap<u8, TableConfig>,
) -> String {
    let mut out = Vec::new();
    for (n, t) in new {
        match old.get(n) {
            Some(o) if o == t => {}
            Some(o) => out.push(format!("table {n}: {} -> {}", table(o), table(t))),
            None => out.push(format!("table {n}: {}", table(t))),
        }
    }
    for n in old.keys().filter(|n| !new.contains_key(n)) {
        out.push(format!("table {n}: removed (no limit)"));
    }
    out.join("; ")
}

/// A port's options in xvsctl's spelling, `key=value` by key.
pub(super) fn options(options: &BTreeMap<String, String>) -> String {
    options
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a port does with VLANs: `access tag=1`, `trunk (all VLANs)`, `trunk
/// trunks=10,20`, `native-untagged tag=5 trunks=...`, with `priority-tags` when set.
pub(super) fn vlan(v: &PortVlan) -> String {
    let mut out = v.mode.name().to_string();
    if let Some(t) = v.tag {
        out.push_str(&format!(" tag={t}"));
    }
    if v.mode != VlanMode::Access {
        if v.trunks.is_empty() {
            out.push_str(" (all VLANs)");
        } else {
            let t: Vec<String> = v.trunks.iter().map(|t| t.to_string()).collect();
            out.push_str(&format!(" trunks={}", t.join(",")));
        }
    }
    match v.priority_tags {
        PriorityTags::Never => {}
        PriorityTags::IfNonzero => out.push_str(" priority-tags=if-nonzero"),
        PriorityTags::Always => out.push_str(" priority-tags=always"),
    }
    out
}

/// A port's type and what it is attached to.
pub(super) fn kind(k: &PortKind) -> String {
    match k {
        PortKind::Netdev | PortKind::Internal => k.type_name().to_string(),
        PortKind::Patch { peer } => format!("patch peer={peer}"),
        PortKind::Gre(t) | PortKind::Vxlan(t) => {
            let mut out = format!("{} remote_ip={}", k.type_name(), t.remote_ip);
            if let Some(l) = t.local_ip {
                out.push_str(&format!(" local_ip={l}"));
            }
            match t.key {
                TunnelKey::Flow => out.push_str(" key=flow"),
                TunnelKey::Fixed(k) => out.push_str(&format!(" key={k}")),
                TunnelKey::None => {}
            }
            if t.csum {
                out.push_str(" csum=true");
            }
            out
        }
    }
}

/// What differs between a port as it is and as it will be: `type: old -> new`,
/// `vlan: old -> new`, `ofport: old -> new`.
pub(super) fn port_change(
    old: &PortConfig,
    new: &PortConfig,
    ofport: u32,
    requested: Option<i64>,
) -> String {
    let mut out = Vec::new();
    if old.kind != new.kind {
        out.push(format!("type: {} -> {}", kind(&old.kind), kind(&new.kind)));
    }
    if old.vlan != new.vlan {
        out.push(format!("vlan: {} -> {}", vlan(&old.vlan), vlan(&new.vlan)));
    }
    if let Some(r) = requested.filter(|&r| r != i64::from(ofport)) {
        out.push(format!("ofport: {ofport} -> {r} (ofport_request)"));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_options_say_what_changed() {
        let old = BridgeOptions::default();
        assert_eq!(bridge_options(&old, &old), "");
        let new = BridgeOptions {
            mac_table_size: 100,
            mac_aging_ms: 30_000,
            forward_bpdu: true,
        };
        assert_eq!(
            bridge_options(&old, &new),
            "mac-table-size 8192 -> 100, mac-aging-time 300 -> 30, forward-bpdu false -> true"
        );
    }

    #[test]
    fn flow_tables_say_what_changed() {
        let limit = |n| TableConfig {
            flow_limit: Some(n),
            ..TableConfig::default()
        };
        let old = BTreeMap::from([(0, limit(10)), (3, limit(5))]);
        let new = BTreeMap::from([(0, limit(20)), (1, TableConfig::default())]);
        assert_eq!(
            flow_tables(&old, &new),
            "table 0: flow_limit=10 overflow_policy=refuse -> flow_limit=20 overflow_policy=refuse; \
             table 1: flow_limit=none overflow_policy=refuse; table 3: removed (no limit)"
        );
        assert_eq!(flow_tables(&new, &new), "");
    }

    #[test]
    fn ports_say_what_changed() {
        let a = PortConfig::new("tap1", PortKind::Netdev).tag(1);
        let b = PortConfig::new("tap1", PortKind::Netdev).tag(2);
        assert_eq!(
            port_change(&a, &b, 3, None),
            "vlan: access tag=1 -> access tag=2"
        );
        assert_eq!(port_change(&a, &a, 3, Some(3)), "");
        assert_eq!(
            port_change(&a, &a, 3, Some(7)),
            "ofport: 3 -> 7 (ofport_request)"
        );
        let c = PortConfig::new("tap1", PortKind::Patch { peer: "p2".into() });
        assert_eq!(
            port_change(&a, &c, 3, None),
            "type: system -> patch peer=p2, vlan: access tag=1 -> trunk (all VLANs)"
        );
        let opts = BTreeMap::from([
            ("tag".to_string(), "1".to_string()),
            ("type".to_string(), "internal".to_string()),
        ]);
        assert_eq!(options(&opts), "tag=1 type=internal");
    }
}
