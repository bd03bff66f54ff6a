//! The page's own ES modules pass their unit tests (`node --test web/`:
//! web/*.test.mjs), so `cargo nextest` runs them with everything else.

#[test]
fn the_page_modules_pass_their_node_unit_tests() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("node")
        .args(["--test", "web/"])
        .current_dir(&root)
        .output()
        .expect("node (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node --test web/ failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("# pass"), "no tests ran:\n{text}");
    assert!(text.contains("# fail 0"), "{text}");
}
