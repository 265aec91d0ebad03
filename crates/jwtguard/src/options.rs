//! Verifier options: limits, leeway, fetch settings and host hooks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Receives the core's log records: a level and a message. Messages never
/// contain tokens or key material.
pub type LogSink = Arc<dyn Fn(log::Level, &str) + Send + Sync>;

/// Returns the current time in seconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Default of [`Options::max_token_len`]: 16 KiB, twice NGINX's default
/// 8 KiB header buffer.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;
/// Default of [`Options::max_json_depth`].
pub const DEFAULT_MAX_JSON_DEPTH: usize = 32;
/// Default of [`Options::max_keys`].
pub const DEFAULT_MAX_KEYS: usize = 100;
/// Default of [`Options::token_cache_entries`].
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 1024;
/// Default of [`Options::max_key_attempts`].
pub const DEFAULT_MAX_KEY_ATTEMPTS: usize = 8;

/// Settings of a verifier. Every field has a safe default.
#[derive(Clone)]
pub struct Options {
    /// Allowed clock skew for `exp` and `nbf`. Defaults to 0.
    pub leeway: Duration,
    /// Maximum token length, in bytes. Defaults to 16 KiB.
    pub max_token_len: usize,
    /// Deepest JSON nesting accepted in a token's header and payload.
    /// Defaults to 32.
    pub max_json_depth: usize,
    /// Most keys a key set may hold; a larger set is rejected whole.
    /// Defaults to 100.
    pub max_keys: usize,
    /// Most signature checks for one token, when several keys suit it (a
    /// token without `kid`, or keys without `kid`). Defaults to 8.
    pub max_key_attempts: usize,
    /// `realm` in `WWW-Authenticate`. Defaults to none.
    pub realm: Option<String>,
    /// Entries of the verified-token cache; 0 turns it off. An entry keeps
    /// a copy of the token and its decoded header and payload, about 1 KiB
    /// for a typical 400-byte token. Defaults to 1024.
    pub token_cache_entries: usize,
    /// Remote key set settings.
    pub fetch: FetchOptions,
    /// Sink for log records. Defaults to the `log` crate's facade.
    pub log: Option<LogSink>,
    /// Called from the fetch thread after each fetch ends, so an event-loop
    /// host can retry pending requests. It must not block. Defaults to none.
    pub on_keys_change: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The clock for `exp` and `nbf`. Defaults to the system clock.
    pub clock: Option<Clock>,
}

/// Settings for fetching `jwksURI`.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// TCP and TLS connect timeout. Defaults to 5 s.
    pub connect_timeout: Duration,
    /// Timeout of a whole fetch, redirects included. Defaults to 10 s.
    pub timeout: Duration,
    /// Largest response body accepted. Defaults to 1 MiB.
    pub max_body_bytes: u64,
    /// Most redirects followed; https never redirects to http. Defaults to 3.
    pub max_redirects: u32,
    /// PEM file of extra trusted CAs, added to the system's trust store.
    /// Defaults to none.
    pub ca_file: Option<PathBuf>,
    /// Minimum time between two refreshes triggered by an unknown `kid`.
    /// Defaults to 30 s.
    pub kid_refresh_interval: Duration,
    /// First retry delay after a failed fetch. Defaults to 1 s.
    pub backoff_initial: Duration,
    /// Maximum retry delay. Defaults to 2 min.
    pub backoff_max: Duration,
    /// Minimum time between two scheduled refreshes, however short
    /// `cacheKeysDuration` is, so a tiny duration cannot flood the key
    /// server. Defaults to 1 s.
    pub min_refresh_interval: Duration,
    /// How long expired keys stay in use while fetches fail, after which
    /// requests are denied. Defaults to 24 h.
    pub max_stale: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            max_redirects: 3,
            ca_file: None,
            kid_refresh_interval: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(120),
            min_refresh_interval: Duration::from_secs(1),
            max_stale: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            leeway: Duration::ZERO,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_keys: DEFAULT_MAX_KEYS,
            max_key_attempts: DEFAULT_MAX_KEY_ATTEMPTS,
            realm: None,
            token_cache_entries: DEFAULT_TOKEN_CACHE_ENTRIES,
            fetch: FetchOptions::default(),
            log: None,
            on_keys_change: None,
            clock: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("leeway", &self.leeway)
            .field("max_token_len", &self.max_token_len)
            .field("max_json_depth", &self.max_json_depth)
            .field("max_keys", &self.max_keys)
            .field("max_key_attempts", &self.max_key_attempts)
            .field("realm", &self.realm)
            .field("token_cache_entries", &self.token_cache_entries)
            .field("fetch", &self.fetch)
            .finish_non_exhaustive()
    }
}
