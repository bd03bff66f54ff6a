//! FLV tag bodies, AVC decoder configuration, AAC AudioSpecificConfig, NALU
//! splitting and media link frames: no input may panic or hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    stage_media::fuzz_parse(data);
});
