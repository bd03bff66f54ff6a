//! Replays the fuzz corpus and every crash the fuzzer found (fuzz/regressions)
//! through the same entry point the fuzz target uses.

use std::path::Path;

fn replay(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let data = std::fs::read(e.path()).unwrap();
        stage_media::fuzz_parse(&data);
        n += 1;
    }
    n
}

#[test]
fn fuzz_corpus_and_regressions_replay_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let corpus = replay(&root.join("corpus/flv_tags"));
    let regressions = replay(&root.join("regressions"));
    assert!(corpus >= 9, "corpus missing: {corpus} inputs");
    eprintln!("replayed {corpus} corpus inputs and {regressions} regressions");
}
