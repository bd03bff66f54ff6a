//! Message ids, made by chatd so a message is fanned out before it is
//! stored: 11 hex digits of Unix milliseconds, 6 of this node's random id and
//! 4 of a counter. They sort by time (paging by id is paging by time) and do
//! not collide across nodes (1 in 16 million per pair of nodes, and then only
//! within the same millisecond and counter value).

use std::sync::atomic::{AtomicU64, Ordering};

pub struct Ids {
    node: u32,
    seq: AtomicU64,
}

impl Ids {
    pub fn new(node: u32) -> Ids {
        Ids {
            node: node & 0xff_ffff,
            seq: AtomicU64::new(0),
        }
    }

    pub fn next(&self, now_ms: i64) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) & 0xffff;
        format!("{:011x}{:06x}{:04x}", now_ms.max(0), self.node, seq)
    }
}

/// Whether `id` has the shape of a message id (so it is safe to log and look up).
pub fn valid(id: &str) -> bool {
    id.len() == 21
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ() {
        let ids = Ids::new(0xabcdef);
        let a = ids.next(1_700_000_000_000);
        let b = ids.next(1_700_000_000_000);
        let c = ids.next(1_700_000_000_001);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(valid(&a) && valid(&c));
        assert!(!valid("x") && !valid(&"G".repeat(21)));
    }
}
