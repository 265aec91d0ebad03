//! The verified-token cache: a bounded map from whole token bytes to the
//! allow decision they produced.
//!
//! Only allow decisions are stored. An entry is used only while the key set
//! that verified it is still current, and `exp` and `nbf` are checked again
//! on every hit. Lookups hash the token to find a slot and then compare the
//! full bytes, so a hash collision can never return another token's
//! decision.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::verify::Verified;

/// Independent locks, so threads sharing a verifier rarely contend.
const SHARDS: usize = 16;

struct Entry {
    token: Box<[u8]>,
    /// Generation of the key set that verified the token; 0 for inline keys.
    keys_generation: u64,
    verified: Arc<Verified>,
}

/// Hit, miss and eviction counters of a verified-token cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that returned a stored decision.
    pub hits: u64,
    /// Lookups that found no usable entry.
    pub misses: u64,
    /// Entries replaced by another token or dropped as unusable.
    pub evictions: u64,
    /// Entry capacity; 0 when the cache is off.
    pub capacity: usize,
}

/// A direct-mapped table: a slot holds at most one entry.
type Table = Box<[Option<Entry>]>;

pub(crate) struct TokenCache {
    shards: Box<[Mutex<Table>]>,
    slots_per_shard: usize,
    hasher: foldhash::fast::RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl TokenCache {
    /// Creates a cache of about `capacity` entries, rounded up to a multiple
    /// of the shard count. Returns `None` for 0, which turns caching off.
    pub(crate) fn new(capacity: usize) -> Option<TokenCache> {
        if capacity == 0 {
            return None;
        }
        let slots_per_shard = capacity.div_ceil(SHARDS);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new((0..slots_per_shard).map(|_| None).collect()))
            .collect();
        Some(TokenCache {
            shards,
            slots_per_shard,
            hasher: foldhash::fast::RandomState::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    fn slot(&self, token: &[u8]) -> (usize, usize) {
        let hash = self.hasher.hash_one(token) as usize;
        (hash % SHARDS, (hash / SHARDS) % self.slots_per_shard)
    }

    /// Returns the stored decision for `token` if it was verified with the
    /// key set of `keys_generation`. Time claims are the caller's to check.
    pub(crate) fn get(&self, token: &[u8], keys_generation: u64) -> Option<Arc<Verified>> {
        let (shard, slot) = self.slot(token);
        let mut table = self.shards[shard].lock();
        let found = match &table[slot] {
            Some(entry) if *entry.token == *token => {
                if entry.keys_generation == keys_generation {
                    Some(Arc::clone(&entry.verified))
                } else {
                    table[slot] = None;
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
            _ => None,
        };
        drop(table);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores an allow decision, replacing whatever held the slot.
    pub(crate) fn insert(&self, token: &[u8], keys_generation: u64, verified: Arc<Verified>) {
        let (shard, slot) = self.slot(token);
        let entry = Entry {
            token: token.into(),
            keys_generation,
            verified,
        };
        let replaced = self.shards[shard].lock()[slot].replace(entry);
        if replaced.is_some() {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops the entry of a token whose stored decision no longer holds.
    pub(crate) fn remove(&self, token: &[u8]) {
        let (shard, slot) = self.slot(token);
        let mut table = self.shards[shard].lock();
        if table[slot]
            .as_ref()
            .is_some_and(|entry| *entry.token == *token)
        {
            table[slot] = None;
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            capacity: self.slots_per_shard * SHARDS,
        }
    }
}
