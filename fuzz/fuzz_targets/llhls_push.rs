//! The LL-HLS packager fed arbitrary timestamps, keyframes, gaps, clock
//! resets, replays and discontinuities: no input may panic, and its
//! playlists stay ones a player can follow (see `stage_media::llhls::fuzz_push`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stage_media::llhls::fuzz_push(data);
});
