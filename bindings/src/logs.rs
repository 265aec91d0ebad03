//! A bounded queue between the core's fetch thread and the Lua state.
//!
//! The core calls its log sink from the fetch thread, which must never touch
//! the Lua state. The sink only queues the record, and Lua code drains the
//! queue on its own thread and writes the records with `ngx.log`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use jwtguard::LogSink;
use parking_lot::Mutex;

/// Maximum records kept until Lua drains them. When the queue is full, the
/// older records stay and newer ones are counted as dropped.
pub(crate) const MAX_QUEUED_RECORDS: usize = 64;

/// Log records waiting for the Lua side.
#[derive(Default)]
pub(crate) struct LogQueue {
    records: Mutex<VecDeque<(log::Level, String)>>,
    /// Queued plus dropped records, readable without the lock so that the
    /// request path can skip the drain when it is 0.
    pending: AtomicUsize,
    dropped: AtomicU64,
}

impl LogQueue {
    /// Creates a queue and the sink that feeds it.
    pub(crate) fn new_with_sink() -> (Arc<LogQueue>, LogSink) {
        let queue = Arc::new(LogQueue::default());
        let feed = Arc::clone(&queue);
        let sink: LogSink = Arc::new(move |level, message| feed.push(level, message));
        (queue, sink)
    }

    fn push(&self, level: log::Level, message: &str) {
        let mut records = self.records.lock();
        if records.len() >= MAX_QUEUED_RECORDS {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            records.push_back((level, message.to_owned()));
        }
        self.pending.fetch_add(1, Ordering::Release);
    }

    /// Returns the number of queued and dropped records not yet drained.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes every queued record and the number dropped since the last drain.
    pub(crate) fn drain(&self) -> (Vec<(log::Level, String)>, u64) {
        let mut records = self.records.lock();
        let drained: Vec<_> = records.drain(..).collect();
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        self.pending.store(0, Ordering::Release);
        (drained, dropped)
    }
}

/// Returns the level name used in Lua, as in `ngx.log` level constants
/// without the `ngx.` prefix, in lowercase.
pub(crate) fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "err",
        log::Level::Warn => "warn",
        log::Level::Info => "info",
        log::Level::Debug | log::Level::Trace => "debug",
    }
}
