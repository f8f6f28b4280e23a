//! The kernel's verifier accepts the production XDP program with its tier (real kernel,
//! root: fails loudly without it), and with the tier off the program steers as before.

use xvs_ebpf::tier::{TierConfig, TierHarness, XDP_PASS};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test loads BPF programs: run it as root"
    );
}

#[test]
fn verifier_accepts_the_program_with_its_tier() {
    require_root();
    let mut h = TierHarness::load().expect("the verifier refused the XDP program");
    eprintln!(
        "verified in {:?} instructions (limit 1,000,000); {:?} bytes translated",
        h.verified_instructions, h.translated_bytes
    );
    // Tier off (the default): no socket on the queue, so the frame goes to the kernel.
    let frame = [0xffu8; 60];
    let r = h.run(&frame, 1, 0).expect("BPF_PROG_TEST_RUN");
    assert_eq!((r.verdict, r.frame.as_slice()), (XDP_PASS, &frame[..]));
    // Tier on, nothing in it: punted untouched, the same.
    h.maps
        .set_config(TierConfig {
            enabled: true,
            trace: false,
            n_masks: 0,
        })
        .unwrap();
    let r = h.run(&frame, 1, 0).expect("BPF_PROG_TEST_RUN");
    assert_eq!((r.verdict, r.frame.as_slice()), (XDP_PASS, &frame[..]));
}
