//! The harness's peers against the real kernel (root): `measure()` for l2-1 on each of
//! linux-bridge, xdp-redirect and l2fwd, in a short window. Frames must arrive and none
//! may arrive wrong; rates are printed, never asserted (a shared 2-core machine). The
//! tests run one at a time: they would compete for the same two cores.

use std::sync::Mutex;
use std::time::Duration;

use xvs_bench::harness::peers::{L2Fwd, LinuxBridge, XdpRedirect};
use xvs_bench::harness::{measure, Cores, Measurement, RunConfig, Scenario, SwitchUnderTest, Xvs};
use xvs_dataplane::testnet::require_root;

static SERIAL: Mutex<()> = Mutex::new(());

fn config() -> RunConfig {
    let two = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    RunConfig {
        runs: 1,
        warmup: Duration::from_millis(500),
        window: Duration::from_secs(1),
        cores: Cores {
            generator: 0,
            switch: usize::from(two),
            sink: None,
        },
        ..RunConfig::default()
    }
}

fn check(switch: &mut dyn SwitchUnderTest) {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let scenario = Scenario::L2 { flows: 1 };
    assert!(switch.supports(&scenario));
    assert!(!switch.supports(&Scenario::GreEncap { flows: 1 }));
    measured(switch, &scenario);
}

/// Measures `scenario` on `switch` briefly; frames must arrive, none wrong, and the
/// topology must be gone afterwards.
fn measured(switch: &mut dyn SwitchUnderTest, scenario: &Scenario) -> Measurement {
    let prefix = format!("xh{}", std::process::id() % 100_000);
    let m = measure(&prefix, scenario, switch, &config())
        .unwrap_or_else(|e| panic!("{} on {}: {e}", scenario.name(), switch.name()));
    println!(
        "{} on {}: {:.3} Mpps (offered {:.3}), bad {}, cycles/packet {:?}\n{}",
        m.scenario,
        m.switch,
        m.median_pps() / 1e6,
        m.offered_pps / 1e6,
        m.bad,
        m.cycles_per_packet,
        m.switch_report
    );
    assert!(
        m.median_pps() > 0.0,
        "no frame arrived through {}",
        m.switch
    );
    assert_eq!(m.bad, 0, "frames arrived wrong through {}", m.switch);
    // Nothing left behind: the topology's namespaces are gone.
    let netns = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(netns, 0, "namespaces of {prefix} left behind");
    m
}

#[test]
fn linux_bridge_forwards_l2() {
    check(&mut LinuxBridge::new());
}

#[test]
fn xdp_redirect_forwards_l2() {
    check(&mut XdpRedirect::new());
}

#[test]
fn l2fwd_forwards_l2() {
    check(&mut L2Fwd::new());
}

/// xvs itself through the harness: every kind of scenario, with the daemon and xvsctl
/// that `scripts/test.sh` builds (target/debug; a debug build forwards slowly, which is
/// fine: the test checks what arrives, not how fast).
#[test]
fn xvs_forwards_every_scenario() {
    require_root();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug");
    let mut xvs = Xvs::new(bin);
    for scenario in [
        Scenario::L2 { flows: 1 },
        Scenario::L2 { flows: 1000 },
        Scenario::GreEncap { flows: 1 },
        Scenario::GreDecap { flows: 10 },
        Scenario::Miss { flows: 1000 },
    ] {
        assert!(xvs.supports(&scenario));
        let m = measured(&mut xvs, &scenario);
        assert!(
            m.cycles_per_packet.is_some_and(|c| c > 0.0),
            "{}: no cycles per packet from dp-show:\n{}",
            m.scenario,
            m.switch_report
        );
        // Every scenario's first packets are misses the slow path handled.
        assert!(
            m.switch_report.contains("upcalls: handled:"),
            "{}: {}",
            m.scenario,
            m.switch_report
        );
    }
}
