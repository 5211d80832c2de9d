//! Parsed fragments by a digest of their wire text: a server delivers the same revision's
//! fragment to many clients, and each is parsed once while it stays in a bounded table.

use std::collections::HashMap;

/// Entries per generation: at most twice this many are kept.
const GENERATION: usize = 4096;

/// A bounded table of parsed values (cheap to clone: `Rc`s) by the 128-bit digest of their source text. Two
/// generations approximate least-recently-used: a hit in the old generation moves to the
/// new one, and when the new one is full the old one is dropped.
pub(super) struct Parsed<V> {
    new: HashMap<u128, V>,
    old: HashMap<u128, V>,
    cap: usize,
}

impl<V: Clone> Default for Parsed<V> {
    fn default() -> Parsed<V> {
        Parsed::with_capacity(GENERATION)
    }
}

impl<V: Clone> Parsed<V> {
    /// A table keeping at most `cap` entries per generation.
    pub(super) fn with_capacity(cap: usize) -> Parsed<V> {
        Parsed {
            new: HashMap::new(),
            old: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// The value for `key`, made by `make` when it is not in the table.
    pub(super) fn get_or_make(&mut self, key: u128, make: impl FnOnce() -> V) -> V {
        if let Some(v) = self.new.get(&key) {
            return v.clone();
        }
        let v = self.old.remove(&key).unwrap_or_else(make);
        if self.new.len() >= self.cap {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(key, v.clone());
        v
    }

    /// Entries held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_once_and_stays_bounded() {
        let mut t: Parsed<u32> = Parsed::with_capacity(2);
        let mut made = 0;
        for _ in 0..3 {
            let v = t.get_or_make(1, || {
                made += 1;
                7
            });
            assert_eq!(v, 7);
        }
        assert_eq!(made, 1, "a hit does not make the value again");
        for k in 2..100 {
            t.get_or_make(k, || 0);
            assert!(t.len() <= 4, "{} entries with capacity 2", t.len());
        }
        // 1 was dropped long ago: made again.
        t.get_or_make(1, || {
            made += 1;
            7
        });
        assert_eq!(made, 2);
        // A hit in the old generation survives the next turnover.
        t.get_or_make(200, || 0);
        t.get_or_make(201, || 0);
        t.get_or_make(1, || unreachable!("1 is in the old generation"));
    }
}
