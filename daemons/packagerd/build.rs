//! Copies hls.js from the workspace's node_modules (installed by `npm ci`)
//! into the build, or a stand-in that tells the viewer how to fix it.
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let src = Path::new(&manifest).join("../../node_modules/hls.js/dist/hls.min.js");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("hls.min.js");
    println!("cargo:rerun-if-changed={}", src.display());
    let body = std::fs::read(&src).unwrap_or_else(|_| {
        println!("cargo:warning=hls.js not found at {}; run `npm ci` in the repository root", src.display());
        b"window.STAGE_HLS_MISSING = 'hls.js was not installed at build time: run `npm ci` in the repository root and rebuild';".to_vec()
    });
    if let Err(e) = std::fs::write(&out, body) {
        panic!("cannot write {}: {e}", out.display());
    }
}
