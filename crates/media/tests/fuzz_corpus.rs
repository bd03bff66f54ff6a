//! Replays the fuzz corpus and every crash the fuzzer found (fuzz/regressions)
//! through the same entry point the fuzz target uses.

use std::path::Path;

fn replay(dir: &Path, target: &dyn Fn(&[u8])) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        if !e.path().is_file() {
            continue; // another target's regressions
        }
        let data = std::fs::read(e.path()).unwrap();
        target(&data);
        n += 1;
    }
    n
}

#[test]
fn fuzz_corpus_and_regressions_replay_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let corpus = replay(&root.join("corpus/flv_tags"), &stage_media::fuzz_parse);
    let regressions = replay(&root.join("regressions"), &stage_media::fuzz_parse);
    assert!(corpus >= 9, "corpus missing: {corpus} inputs");
    eprintln!("replayed {corpus} corpus inputs and {regressions} regressions");
}

/// The packager's corpus (hand-made seeds of the shapes streams take, and
/// what the fuzzer grew from them) and its crashes (`regressions/llhls_push`).
#[test]
fn llhls_push_corpus_and_regressions_replay_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let segments = std::cell::Cell::new(0);
    let push = |data: &[u8]| segments.set(segments.get() + stage_media::llhls::fuzz_push(data));
    let corpus = replay(&root.join("corpus/llhls_push"), &push);
    let regressions = replay(&root.join("regressions/llhls_push"), &push);
    assert!(corpus >= 10, "corpus missing: {corpus} inputs");
    // The seeds are streams: they make segments, so the playlist checks run.
    assert!(
        segments.get() >= 20,
        "{} segments from the corpus",
        segments.get()
    );
    eprintln!("replayed {corpus} corpus inputs and {regressions} regressions");
}
