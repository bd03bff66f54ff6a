//! Limits on what a publisher may make us buffer, checked before rml_rtmp's
//! session sees the bytes.
//!
//! rml_rtmp's server session applies a peer's Set Chunk Size silently and
//! raises no event for it, so this guard runs a second rml_rtmp chunk
//! deserializer over the same bytes (a copy, cheap next to the media) and
//! refuses chunk sizes and messages over `ingestd.max_message_size`.

use rml_rtmp::chunk_io::ChunkDeserializer;

/// Tracks the peer's chunk stream alongside the session.
pub struct ChunkGuard {
    de: ChunkDeserializer,
    max: u64,
}

impl ChunkGuard {
    /// A guard allowing chunk sizes and messages up to `max` bytes.
    pub fn new(max: u64) -> ChunkGuard {
        ChunkGuard {
            de: ChunkDeserializer::new(),
            max,
        }
    }

    /// Checks the next bytes from the peer; `Err` says why the connection must close.
    pub fn check(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut input = bytes;
        loop {
            let msg = self
                .de
                .get_next_message(input)
                .map_err(|e| format!("malformed RTMP chunk: {e:?}"))?;
            input = &[];
            let Some(msg) = msg else { return Ok(()) };
            if msg.data.len() as u64 > self.max {
                return Err(format!(
                    "RTMP message of {} bytes over the limit ({} bytes, ingestd.max_message_size)",
                    msg.data.len(),
                    self.max
                ));
            }
            if msg.type_id == 1 {
                let d = &msg.data;
                if d.len() < 4 {
                    return Err("malformed Set Chunk Size message".into());
                }
                let size = u32::from_be_bytes([d[0] & 0x7f, d[1], d[2], d[3]]) as u64;
                if size > self.max || size == 0 {
                    return Err(format!(
                        "chunk size {size} over the limit ({} bytes, ingestd.max_message_size)",
                        self.max
                    ));
                }
                self.de
                    .set_max_chunk_size(size as usize)
                    .map_err(|e| format!("bad chunk size: {e:?}"))?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversized_chunk_size_and_accepts_normal_one() {
        let mut g = ChunkGuard::new(1 << 20);
        // Set Chunk Size 4096 on chunk stream 2, type 1, stream 0.
        assert!(
            g.check(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0])
                .is_ok()
        );
        let e = g
            .check(&[
                0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
            ])
            .unwrap_err();
        assert!(e.contains("chunk size"), "{e}");
    }
}
