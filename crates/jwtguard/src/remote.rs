//! Remote key sets: fetching, caching and refreshing `jwksURI`.
//!
//! Loading starts no thread and opens no socket. [`RemoteKeys::start`] spawns
//! one fetch thread per process. A verification does not wait for a fetch:
//! it gets [`Lookup::Pending`] and retries once the generation moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::{Error, ErrorKind, Result};
use crate::fetch::{build_agent, fetch, redact_uri};
use crate::fork;
use crate::jwk::KeySet;
use crate::options::{FetchOptions, LogSink};

/// A fetched key set and its lifetimes.
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    pub(crate) generation: u64,
    fetched_at: Instant,
    /// After this the keys are stale: still used, but a refresh is overdue.
    expires_at: Instant,
    /// After this stale keys are dropped and requests fail closed.
    drop_at: Instant,
}

/// The keys a verification may use now, or why there are none.
pub(crate) enum Lookup {
    Ready(Arc<Snapshot>),
    Pending(u64),
    Unavailable(&'static str),
}

/// Counters of a remote key set, readable while it runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyStats {
    /// Fetches that ended, successful or not.
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
    /// Keys in the current set, 0 when there is none.
    pub keys: usize,
    /// Wall-clock time of the last successful fetch, in seconds since the
    /// epoch; `None` before the first.
    pub last_success_unix: Option<u64>,
    /// Age of the current key set; `None` when there is none.
    pub cache_age: Option<Duration>,
    /// Readiness generation: 1 before the first fetch ends, then one more
    /// after each fetch.
    pub generation: u64,
}

/// Log records made while the state lock is held, written after it is
/// released so a slow log sink never holds up verifications or a fork.
type Records = Vec<(log::Level, String)>;

#[derive(Default)]
struct State {
    thread: Option<JoinHandle<()>>,
    /// Changes on every start and stop; a fetch thread whose epoch is old
    /// exits without touching the key set.
    epoch: u64,
    /// A verification asked for a fetch now.
    requested: bool,
    in_flight: bool,
    next_fetch_at: Option<Instant>,
    last_kid_refresh: Option<Instant>,
    /// Earliest next fetch after a failure, for on-demand fetching.
    retry_at: Option<Instant>,
    failures_in_row: u32,
    last_error: Option<String>,
    last_warnings: Vec<String>,
}

pub(crate) struct RemoteKeys {
    uri: String,
    /// `uri` without credentials or query, for logs.
    shown_uri: String,
    cache_duration: Duration,
    options: FetchOptions,
    max_keys: usize,
    agent: ureq::Agent,
    log: Option<LogSink>,
    on_change: Option<Arc<dyn Fn() + Send + Sync>>,
    /// [`fork::generation`] + 1 of the process whose thread runs, 0 when
    /// stopped. In a forked child the value differs, so the child must start.
    running_in: AtomicU64,
    generation: AtomicU64,
    current: RwLock<Option<Arc<Snapshot>>>,
    state: Mutex<State>,
    changed: Condvar,
    /// Held while the fetch thread runs host callbacks, so `stop` can wait
    /// for one in progress and none starts after it.
    in_callbacks: Mutex<()>,
    fetches: AtomicU64,
    failures: AtomicU64,
    last_success_unix: AtomicU64,
}

/// Returns `now + duration`, saturating far in the future instead of
/// overflowing.
fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

impl RemoteKeys {
    pub(crate) fn new(
        uri: String,
        cache_duration: Duration,
        options: FetchOptions,
        max_keys: usize,
        log: Option<LogSink>,
        on_change: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Result<RemoteKeys> {
        fork::register();
        let agent = build_agent(&uri, &options)?;
        Ok(RemoteKeys {
            shown_uri: redact_uri(&uri),
            uri,
            cache_duration,
            options,
            max_keys,
            agent,
            log,
            on_change,
            running_in: AtomicU64::new(0),
            generation: AtomicU64::new(1),
            current: RwLock::new(None),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            in_callbacks: Mutex::new(()),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_success_unix: AtomicU64::new(0),
        })
    }

    fn is_running(&self) -> bool {
        self.running_in.load(Ordering::Acquire) == fork::generation() + 1
    }

    /// Starts the fetch thread. Idempotent within one process; in a forked
    /// child it starts afresh, keeping the inherited keys.
    pub(crate) fn start(self: &Arc<Self>) -> Result<()> {
        let running_in = self.running_in.load(Ordering::Acquire);
        let this_process = fork::generation() + 1;
        if running_in == this_process {
            return Ok(());
        }
        let inherited = running_in != 0;
        if inherited && self.in_callbacks.is_locked() {
            // SAFETY: as in `lock_state_after_fork`, a lock held at the fork
            // belongs to a parent thread that does not exist in this child.
            unsafe { self.in_callbacks.force_unlock() };
        }
        let mut state = self.lock_state_after_fork(inherited);
        if inherited {
            // The parent's thread and handle do not exist in this process.
            std::mem::forget(state.thread.take());
        }
        state.epoch += 1;
        state.requested = false;
        state.in_flight = false;
        state.next_fetch_at = Some(Instant::now());
        let keys = Arc::clone(self);
        let epoch = state.epoch;
        let thread = std::thread::Builder::new()
            .name("jwtguard-jwks".into())
            .spawn(move || keys.run(epoch))
            .map_err(|err| {
                Error::new(ErrorKind::Fetch(format!(
                    "cannot start the fetch thread: {err}"
                )))
            })?;
        state.thread = Some(thread);
        self.running_in.store(this_process, Ordering::Release);
        Ok(())
    }

    /// Locks the state. In a child forked while the parent's fetch thread
    /// held the lock, no thread of this process will ever release it.
    fn lock_state_after_fork(&self, inherited: bool) -> parking_lot::MutexGuard<'_, State> {
        if let Some(state) = self.state.try_lock_for(Duration::from_millis(100)) {
            return state;
        }
        if inherited {
            // SAFETY: the verifier was started in a parent process, and the
            // fork copied the lock as held by a parent thread that does not
            // exist here. `start` runs before this process uses the verifier
            // from any other thread (the documented contract), so nothing
            // here holds the lock and unlocking it is sound.
            unsafe { self.state.force_unlock() };
        }
        self.state.lock()
    }

    /// Stops the fetch thread. An idle thread is joined, which takes
    /// milliseconds. A thread in the middle of a fetch is left to end by
    /// itself when the fetch does, and touches no shared state and calls no
    /// host callback after `stop` returns. Callbacks must not call `stop`.
    // NOTE: ureq offers no way to cancel a blocking fetch, so such a thread
    // can outlive `stop` by up to the fetch timeout (10 s by default).
    pub(crate) fn stop(&self) {
        let (thread, fetching) = {
            let mut state = self.state.lock();
            state.epoch += 1;
            let fetching = state.in_flight;
            state.in_flight = false;
            self.running_in.store(0, Ordering::Release);
            self.changed.notify_all();
            (state.thread.take(), fetching)
        };
        // Wait for a callback in progress; the epoch stops any later one.
        drop(self.in_callbacks.lock());
        let Some(thread) = thread else { return };
        if fetching {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Blocks until the generation differs from `generation`, or `timeout`.
    pub(crate) fn wait_for_change(&self, generation: u64, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state.lock();
        while self.generation() == generation {
            match deadline {
                Some(deadline) => {
                    if self.changed.wait_until(&mut state, deadline).timed_out() {
                        return self.generation() != generation;
                    }
                }
                None => self.changed.wait(&mut state),
            }
        }
        true
    }

    /// Finds the keys a verification may use. `waited` is the generation a
    /// retried verification waited on, 0 on a first attempt.
    pub(crate) fn lookup(&self, waited: u64) -> Lookup {
        if !self.is_running() {
            return Lookup::Unavailable(
                "the key fetcher is not running in this process; start it in each worker",
            );
        }
        let generation = self.generation();
        let snapshot = self.current.read().clone();
        if self.cache_duration.is_zero() {
            return self.lookup_uncached(snapshot, generation, waited);
        }
        let now = Instant::now();
        match snapshot {
            Some(snapshot) if now < snapshot.drop_at => Lookup::Ready(snapshot),
            _ if generation == 1 => Lookup::Pending(generation),
            Some(_) => Lookup::Unavailable("the cached keys are older than the maximum staleness"),
            None => Lookup::Unavailable("no key set: the last fetch failed, see the logged cause"),
        }
    }

    /// With `cacheKeysDuration` 0 a verification needs keys fetched after it
    /// began; concurrent verifications share one fetch.
    fn lookup_uncached(
        &self,
        snapshot: Option<Arc<Snapshot>>,
        generation: u64,
        waited: u64,
    ) -> Lookup {
        let baseline = if waited == 0 { generation } else { waited };
        if let Some(snapshot) = snapshot.filter(|snapshot| snapshot.generation > baseline) {
            return Lookup::Ready(snapshot);
        }
        if waited != 0 && generation > waited {
            return Lookup::Unavailable("no key set: the last fetch failed, see the logged cause");
        }
        let mut state = self.state.lock();
        if state.retry_at.is_some_and(|at| Instant::now() < at) && !state.in_flight {
            return Lookup::Unavailable("no key set: the last fetch failed, retrying later");
        }
        if !state.in_flight {
            state.requested = true;
            self.changed.notify_all();
        }
        Lookup::Pending(generation)
    }

    /// Asks for an early refresh because a token named an unknown `kid`.
    /// Returns the generation to wait on, or `None` when the refresh is
    /// rate-limited or was already waited for.
    pub(crate) fn refresh_for_kid(&self, waited: u64) -> Option<u64> {
        if self.cache_duration.is_zero() {
            return None;
        }
        let generation = self.generation();
        if waited != 0 && generation > waited {
            return None;
        }
        let mut state = self.state.lock();
        if state.in_flight || state.requested {
            return Some(generation);
        }
        let now = Instant::now();
        let interval = self.options.kid_refresh_interval;
        if state
            .last_kid_refresh
            .is_some_and(|last| now.duration_since(last) < interval)
        {
            return None;
        }
        state.last_kid_refresh = Some(now);
        state.requested = true;
        self.changed.notify_all();
        Some(generation)
    }

    pub(crate) fn stats(&self) -> KeyStats {
        let current = self.current.read().clone();
        let last_success = self.last_success_unix.load(Ordering::Relaxed);
        KeyStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            keys: current
                .as_ref()
                .map_or(0, |snapshot| snapshot.keys.keys.len()),
            last_success_unix: (last_success > 0).then_some(last_success),
            cache_age: current
                .as_ref()
                .map(|snapshot| snapshot.fetched_at.elapsed()),
            generation: self.generation(),
        }
    }

    fn run(self: Arc<Self>, epoch: u64) {
        while self.wait_for_work(epoch) {
            let result = fetch(&self.agent, &self.uri, &self.options, self.max_keys);
            let mut state = self.state.lock();
            if state.epoch != epoch {
                return;
            }
            state.in_flight = false;
            let records = match result {
                Ok((keys, warnings)) => self.store(&mut state, keys, warnings),
                Err(cause) => self.record_failure(&mut state, cause),
            };
            drop(state);
            let callbacks = self.in_callbacks.lock();
            if self.state.lock().epoch != epoch {
                return;
            }
            // Log before waking waiters, so a host that reads the outcome
            // also finds its log lines.
            for (level, message) in records {
                self.emit(level, &message);
            }
            let state = self.state.lock();
            if state.epoch != epoch {
                return;
            }
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.fetches.fetch_add(1, Ordering::Relaxed);
            self.changed.notify_all();
            drop(state);
            if let Some(on_change) = &self.on_change {
                on_change();
            }
            drop(callbacks);
        }
    }

    /// Sleeps until a fetch is due or requested. Returns `false` once this
    /// thread's epoch has ended.
    fn wait_for_work(&self, epoch: u64) -> bool {
        let mut state = self.state.lock();
        loop {
            if state.epoch != epoch {
                return false;
            }
            let due = state.next_fetch_at.is_some_and(|at| Instant::now() >= at);
            if state.requested || due {
                state.requested = false;
                state.next_fetch_at = None;
                state.in_flight = true;
                return true;
            }
            match state.next_fetch_at {
                Some(at) => {
                    self.changed.wait_until(&mut state, at);
                }
                None => self.changed.wait(&mut state),
            }
        }
    }

    fn store(&self, state: &mut State, keys: KeySet, warnings: Vec<String>) -> Records {
        let now = Instant::now();
        let generation = self.generation() + 1;
        let expires_at = later(now, self.cache_duration);
        let drop_at = later(expires_at, self.options.max_stale);
        let count = keys.keys.len();
        let snapshot = Snapshot {
            keys,
            generation,
            fetched_at: now,
            expires_at,
            drop_at,
        };
        *self.current.write() = Some(Arc::new(snapshot));
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        self.last_success_unix.store(unix, Ordering::Relaxed);
        let mut records = Records::new();
        if state.failures_in_row > 0 {
            records.push((
                log::Level::Info,
                format!(
                    "key set fetch from {} succeeded after {} failed attempts; {count} keys",
                    self.shown_uri, state.failures_in_row
                ),
            ));
        }
        // A key set refetched unchanged would repeat its warnings each time.
        if warnings != state.last_warnings {
            for warning in &warnings {
                records.push((
                    log::Level::Warn,
                    format!("key set from {}: {warning}", self.shown_uri),
                ));
            }
            state.last_warnings = warnings;
        }
        state.failures_in_row = 0;
        state.last_error = None;
        state.retry_at = None;
        if !self.cache_duration.is_zero() {
            let wait = refresh_lead(self.cache_duration).max(self.options.min_refresh_interval);
            state.next_fetch_at = Some(later(now, wait));
        }
        records
    }

    fn record_failure(&self, state: &mut State, cause: String) -> Records {
        self.failures.fetch_add(1, Ordering::Relaxed);
        state.failures_in_row += 1;
        let delay = backoff(state.failures_in_row, &self.options);
        let now = Instant::now();
        let retry_at = later(now, delay);
        state.retry_at = Some(retry_at);
        if !self.cache_duration.is_zero() {
            // Retry at the expiry of the cached keys if it comes before the
            // backoff ends; keys already expired wait for the backoff.
            let expires_at = self
                .current
                .read()
                .as_ref()
                .map(|snapshot| snapshot.expires_at);
            state.next_fetch_at = Some(match expires_at {
                Some(at) if at > now => at.min(retry_at),
                _ => retry_at,
            });
        }
        let repeated = state.last_error.as_deref() == Some(cause.as_str());
        let count = state.failures_in_row;
        let mut records = Records::new();
        if !repeated || count.is_power_of_two() {
            let keys = self
                .current
                .read()
                .as_ref()
                .map_or(0, |snapshot| snapshot.keys.keys.len());
            records.push((log::Level::Error, format!(
                "key set fetch from {} failed: {cause} (attempt {count} in a row); {keys} cached keys \
                 kept, next attempt in {:.1}s",
                self.shown_uri,
                delay.as_secs_f64()
            )));
        }
        state.last_error = Some(cause);
        records
    }

    fn emit(&self, level: log::Level, message: &str) {
        match &self.log {
            Some(sink) => sink(level, message),
            None => log::log!(target: "jwtguard", level, "{message}"),
        }
    }
}

/// Time from a fetch to its refresh: a tenth of the cache duration, at most
/// a minute, before the keys expire.
fn refresh_lead(cache_duration: Duration) -> Duration {
    cache_duration - (cache_duration / 10).min(Duration::from_secs(60))
}

/// Exponential backoff with jitter: the delay doubles from
/// `backoff_initial` up to `backoff_max`, then a random amount of up to
/// half of it is taken off.
fn backoff(failures: u32, options: &FetchOptions) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let base = options
        .backoff_initial
        .saturating_mul(1 << exponent)
        .min(options.backoff_max);
    let mut random = [0u8; 2];
    let fraction = match aws_lc_rs::rand::fill(&mut random) {
        Ok(()) => f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    };
    base.mul_f64(1.0 - fraction / 2.0)
}
