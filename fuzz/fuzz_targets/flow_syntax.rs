//! The ovs-ofctl flow syntax (`parse_flow`, in every mode) and the Switch's paths that
//! take flow text (`add-flow`, `mod-flows`, `del-flows`, `dump-flows` with a match,
//! `trace`), on any text.
//!
//! Beyond "no panic": whatever parses prints (with port numbers and with names) to text
//! that parses to the same flow in the same mode; `add-flow` takes exactly the text
//! `parse_flow` takes; every flow `dump-flows` prints parses back to the flow stored.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xvs_pipeline::ofp::format::format_flow;
use xvs_pipeline::ofp::{parse_flow, ParseMode};
use xvs_pipeline::{PortConfig, PortKind, Switch};

const MODES: [ParseMode; 4] = [
    ParseMode::Add,
    ParseMode::Modify,
    ParseMode::Delete,
    ParseMode::Dump,
];

/// The bridge of the OVS vectors (control/pipeline/tests/ovs_vectors/): patch-int 1,
/// gre-1 2, vxlan-1 3, tap5 5, int-br-eth1 6.
fn switch() -> Switch {
    let mut sw = Switch::new();
    sw.add_bridge("br-tun").unwrap();
    for (name, no) in [
        ("patch-int", 1),
        ("gre-1", 2),
        ("vxlan-1", 3),
        ("tap5", 5),
        ("int-br-eth1", 6),
    ] {
        sw.add_port("br-tun", PortConfig::new(name, PortKind::Netdev).ofport(no))
            .unwrap();
    }
    sw
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let mut sw = switch();
    let br = sw.bridge("br-tun").unwrap();

    for mode in MODES {
        let Ok(fm) = parse_flow(text, mode, br) else {
            continue;
        };
        for names in [false, true] {
            let printed = format_flow(&fm, br, names);
            let again = parse_flow(&printed, mode, br);
            assert_eq!(
                again.as_ref(),
                Ok(&fm),
                "{text:?} in {mode} printed as {printed:?}"
            );
        }
    }

    // The Switch's paths. add-flow skips what add-flows would (blank lines, comments).
    let t = text.trim();
    let parsed = parse_flow(t, ParseMode::Add, br);
    let added = sw.add_flow("br-tun", text, 1000);
    if !(t.is_empty() || t.starts_with('#')) {
        assert_eq!(
            added.is_ok(),
            parsed.is_ok(),
            "add-flow and parse_flow agree on {text:?}: {added:?} / {parsed:?}"
        );
    }
    let _ = sw.mod_flows("br-tun", text, false, 2000);
    let _ = sw.mod_flows("br-tun", text, true, 2000);
    let _ = sw.dump_flows("br-tun", Some(text), true, 3000);
    let _ = sw.trace("br-tun", text, 3000);

    // What is stored prints back as itself (a dump line is add-flow text).
    let br = sw.bridge("br-tun").unwrap();
    for names in [false, true] {
        let dump = sw.dump_flows("br-tun", None, names, 3000).unwrap();
        let rules = sw.dump_rules("br-tun", None).unwrap();
        assert_eq!(dump.lines().count(), rules.len());
        for (line, rule) in dump.lines().zip(rules) {
            let fm = parse_flow(line, ParseMode::Add, br)
                .unwrap_or_else(|e| panic!("dumped {line:?} does not parse: {e}"));
            assert_eq!(
                (
                    fm.table,
                    fm.priority,
                    fm.cookie,
                    &fm.matcher,
                    fm.actions.as_ref()
                ),
                (
                    Some(rule.table),
                    rule.priority,
                    rule.cookie,
                    &rule.matcher,
                    Some(&rule.actions)
                ),
                "{line:?}"
            );
        }
    }
    let _ = sw.del_flows("br-tun", Some(text), false);
    let _ = sw.del_flows("br-tun", Some(text), true);
});
