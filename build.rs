//! Builds the clock shim (`shim/clock.c`) into a shared object with the system C compiler, for
//! the binary to carry. Without a compiler the build goes on with an empty file, and clock
//! faults report that the shim is missing and how to get it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=shim/clock.c");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let so = out.join("libferrocheck_clock.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let built = Command::new(&cc)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&so)
        .arg("shim/clock.c")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !built {
        println!(
            "cargo:warning=could not build the clock shim with `{cc}` (apt-get install gcc); \
             clock faults will be unavailable"
        );
        std::fs::write(&so, b"").expect("writing the empty clock shim placeholder");
    }
    println!("cargo:rustc-env=FERROCHECK_CLOCK_SHIM={}", so.display());
}
