//! Builds the dry-run driver (src/cuda/dry_run/null_cuda.c) into the four shared libraries the
//! engine loads in place of CUDA's for `--dry-run`, each with the SONAME of the library it stands
//! for; src/cuda/dry_run embeds them. Where no C compiler can build them (or off Linux), the
//! crate is built without dry runs (`cfg(no_dry_run)`), which then say so when asked for.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = "src/cuda/dry_run/null_cuda.c";
const LIBRARIES: [&str; 4] = ["libcuda", "libnvrtc", "libcublas", "libcublasLt"];

fn main() {
    println!("cargo::rerun-if-changed={SOURCE}");
    println!("cargo::rerun-if-env-changed=CC");
    println!("cargo::rustc-check-cfg=cfg(no_dry_run)");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let built = linux && LIBRARIES.iter().all(|stem| build(stem, &out).map_err(|e| warn(stem, &e)).is_ok());
    if !built {
        println!("cargo::rustc-cfg=no_dry_run");
    }
}

/// Compiles the driver into `<out>/<stem>-dry-run.so` with the SONAME `<stem>.so`.
fn build(stem: &str, out: &Path) -> Result<(), String> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let library = out.join(format!("{stem}-dry-run.so"));
    let output = Command::new(&compiler)
        .args(["-std=c11", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-Wno-unused-parameter"])
        .arg(format!("-Wl,-soname,{stem}.so"))
        .arg("-o")
        .arg(&library)
        .arg(SOURCE)
        .output()
        .map_err(|e| format!("running {compiler}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{compiler} failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(())
}

fn warn(stem: &str, error: &str) {
    println!("cargo::warning=the dry-run driver ({stem}) was not built, so --dry-run is unavailable: {error}");
}
