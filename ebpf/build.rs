//! Compiles the XDP programs with the system clang into $OUT_DIR/<name>.bpf.o, which
//! src/lib.rs and src/bench.rs embed with include_bytes!: always xdp/xvs_xdp.bpf.c, the
//! steering program the daemon loads; with the `bench` feature (CARGO_FEATURE_BENCH) also
//! the packet-rate harness's xdp/xvs_redirect.bpf.c (the in-kernel redirect baseline),
//! xdp/xvs_bench_gen.bpf.c (the traffic generator) and xdp/xvs_bench_sink.bpf.c (the
//! sink's check), which a build without the feature neither compiles nor embeds.
//!
//! Needs clang (BPF target) and libbpf-dev (bpf/bpf_helpers.h, bpf/bpf_endian.h);
//! scripts/install-deps.sh installs both on Debian 12. `CLANG=/path/to/clang`
//! overrides the compiler.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    const PRODUCTION: [&str; 1] = ["xvs_xdp"];
    const BENCH: [&str; 3] = ["xvs_redirect", "xvs_bench_gen", "xvs_bench_sink"];
    let bench = env::var_os("CARGO_FEATURE_BENCH").is_some();
    let programs: Vec<&str> = PRODUCTION
        .into_iter()
        .chain(BENCH.into_iter().filter(|_| bench))
        .collect();
    for &name in &programs {
        let src = manifest.join("xdp").join(format!("{name}.bpf.c"));
        println!("cargo:rerun-if-changed={}", src.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("xdp").join("xvs_tier.h").display()
    );
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CLANG");

    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    match Command::new(&clang).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => fail(&format!(
            "`{clang} --version` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => fail(&format!(
            "cannot run `{clang}` ({e}): the XDP program is compiled with clang; \
             install it (Debian: `apt-get install clang libbpf-dev`, or run \
             scripts/install-deps.sh) or point CLANG at a clang binary"
        )),
    }
    if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        fail(
            "/usr/include/bpf/bpf_helpers.h is missing: install libbpf-dev \
             (Debian: `apt-get install libbpf-dev`, or run scripts/install-deps.sh)",
        );
    }

    // <linux/bpf.h> includes <asm/types.h>, which Debian keeps in the multiarch
    // directory that clang does not search with -target bpf.
    let multiarch = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            match env::var("CARGO_CFG_TARGET_ARCH").unwrap().as_str() {
                "x86_64" => "x86_64-linux-gnu",
                "aarch64" => "aarch64-linux-gnu",
                other => fail(&format!("unknown multiarch for {other}: install gcc")),
            }
            .to_string()
        });

    for &name in &programs {
        let src = manifest.join("xdp").join(format!("{name}.bpf.c"));
        let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join(format!("{name}.bpf.o"));
        let output = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            .arg(format!("-I/usr/include/{multiarch}"))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap_or_else(|e| fail(&format!("running {clang}: {e}")));
        if !output.status.success() {
            fail(&format!(
                "clang failed to compile {}:\n{}",
                src.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
}

fn fail(msg: &str) -> ! {
    // A panic in a build script shows the message with the crate's name.
    panic!("xvs-ebpf build: {msg}");
}
