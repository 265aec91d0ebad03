//! The verifier: a loaded policy with its keys prepared.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::{CacheStats, TokenCache};
use crate::error::{Error, ErrorKind, Result};
use crate::extract::{Found, find_token};
use crate::jwk::{KeySet, parse_key_list};
use crate::options::Options;
use crate::policy::{KeySpec, Policy, TokenLocation};
use crate::remote::{KeyStats, Lookup, RemoteKeys};
use crate::verify::{self, Checks, Decision, Denial, Outcome, Pending, Reason};

/// Largest policy file [`Verifier::from_file`] reads: 16 MiB, far above any
/// real policy, so a device or a runaway file cannot exhaust memory.
pub const MAX_POLICY_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A policy loaded into an immutable, thread-safe verifier.
///
/// Cloning is cheap and shares the keys. Inline keys are prepared at load;
/// remote keys are fetched by a thread that [`Verifier::start`] spawns.
///
/// # Process model
///
/// Loading opens no socket and starts no thread, so a host may load in a
/// parent process and fork. Each process that verifies tokens with a remote
/// key set calls [`Verifier::start`] once, after any fork, and
/// [`Verifier::stop`] before it exits. Threads do not survive `fork`, so a
/// child that inherits a started verifier must call `start` again.
#[derive(Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
}

struct Shared {
    token: TokenLocation,
    not_supplied_status: u16,
    no_match_status: u16,
    checks: Checks,
    options: Options,
    keys: Keys,
    cache: Option<TokenCache>,
    missing_challenge: Arc<str>,
    invalid_challenge: Arc<str>,
}

enum Keys {
    Inline(KeySet),
    Remote(Arc<RemoteKeys>),
}

/// A freshly loaded verifier and the warnings its policy raised.
pub struct Loaded {
    /// The verifier.
    pub verifier: Verifier,
    /// Problems that did not stop the load, each naming its JSON path:
    /// skipped keys, unknown fields, short secrets, plain-http URLs.
    pub warnings: Vec<String>,
}

impl Verifier {
    /// Loads a policy document (JSON bytes, UTF-8).
    ///
    /// # Examples
    ///
    /// ```
    /// use jwtguard::{Decision, Options, Verifier};
    ///
    /// let policy = br#"{"action": {"jwksKeys": [
    ///     {"kty": "oct", "kid": "0001", "k": "c2VjcmV0X2tleV9ub3RfZm9yX3Byb2R1Y3Rpb24"}]}}"#;
    /// let loaded = Verifier::from_json(policy, Options::default()).unwrap();
    /// let decision = loaded.verifier.verify(None);
    /// match decision {
    ///     Decision::Deny(denial) => assert_eq!(denial.status, 401),
    ///     _ => panic!("a request without a token must be denied"),
    /// }
    /// ```
    pub fn from_json(policy: &[u8], options: Options) -> Result<Loaded> {
        validate_options(&options)?;
        let mut warnings = Vec::new();
        let policy = Policy::parse(policy, &mut warnings)?;
        let keys = match policy.keys {
            KeySpec::Inline { keys, path } => {
                let set = parse_key_list(&keys, &path, options.max_keys, &mut warnings)
                    .map_err(|message| Error::policy(path.clone(), message))?;
                if set.keys.is_empty() {
                    warnings.push(format!(
                        "{path}: no usable key among {}, so every token will be denied; fix \
                         the keys named in the warnings above",
                        keys.len()
                    ));
                }
                Keys::Inline(set)
            }
            KeySpec::Remote {
                uri,
                cache_duration,
            } => Keys::Remote(Arc::new(RemoteKeys::new(
                uri,
                cache_duration,
                options.fetch.clone(),
                options.max_keys,
                options.log.clone(),
                options.on_keys_change.clone(),
            )?)),
        };
        let realm = options
            .realm
            .as_ref()
            .map(|realm| format!(" realm=\"{realm}\","));
        let realm = realm.as_deref().unwrap_or("");
        let shared = Shared {
            token: policy.token,
            not_supplied_status: policy.not_supplied_status,
            no_match_status: policy.no_match_status,
            checks: Checks {
                max_token_len: options.max_token_len,
                max_json_depth: options.max_json_depth,
                max_key_attempts: options.max_key_attempts,
                leeway: options.leeway.as_secs_f64(),
            },
            missing_challenge: format!("Bearer{}", realm.trim_end_matches(',')).into(),
            invalid_challenge: format!("Bearer{realm} error=\"invalid_token\"").into(),
            cache: TokenCache::new(options.token_cache_entries),
            options,
            keys,
        };
        Ok(Loaded {
            verifier: Verifier {
                shared: Arc::new(shared),
            },
            warnings,
        })
    }

    /// Loads a policy document from a regular file of at most
    /// [`MAX_POLICY_FILE_BYTES`].
    pub fn from_file(path: impl AsRef<Path>, options: Options) -> Result<Loaded> {
        let path = path.as_ref();
        let io_error = |source| {
            Error::new(ErrorKind::Io {
                path: path.to_owned(),
                source,
            })
        };
        let file = std::fs::File::open(path).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            let message = format!("{} is not a regular file", path.display());
            return Err(Error::policy("$", message));
        }
        let mut bytes = Vec::new();
        file.take(MAX_POLICY_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error)?;
        if bytes.len() as u64 > MAX_POLICY_FILE_BYTES {
            let message = format!(
                "{} is larger than {MAX_POLICY_FILE_BYTES} bytes",
                path.display()
            );
            return Err(Error::policy("$", message));
        }
        Verifier::from_json(&bytes, options)
    }

    /// Returns where the policy looks for the token.
    pub fn token_location(&self) -> &TokenLocation {
        &self.shared.token
    }

    /// Tells whether the keys come from `jwksURI`.
    pub fn has_remote_keys(&self) -> bool {
        matches!(self.shared.keys, Keys::Remote(_))
    }

    /// Decides a request. `source` is the value of the policy's header, or
    /// the raw query string without `?`, as [`Verifier::token_location`]
    /// says; `None` when the header is absent or the query string empty.
    /// Never blocks: with remote keys not yet loaded it returns
    /// [`Decision::Pending`].
    pub fn verify(&self, source: Option<&[u8]>) -> Decision {
        self.verify_again(source, None)
    }

    /// Decides a request again after [`Decision::Pending`], passing the
    /// pending value back (or `None` on a first attempt).
    pub fn verify_again(&self, source: Option<&[u8]>, pending: Option<Pending>) -> Decision {
        match find_token(&self.shared.token, source) {
            Found::Token(token) => self.verify_token_again(&token, pending),
            found @ (Found::Missing(message) | Found::Invalid(message)) => {
                self.deny(found.reason(), message.to_owned())
            }
        }
    }

    /// Decides a bare token, already taken out of the request.
    pub fn verify_token(&self, token: &[u8]) -> Decision {
        self.verify_token_again(token, None)
    }

    /// [`Verifier::verify_token`] after [`Decision::Pending`].
    pub fn verify_token_again(&self, token: &[u8], pending: Option<Pending>) -> Decision {
        if token.is_empty() {
            return self.deny(Reason::Missing, "token is empty".into());
        }
        let waited = pending.map_or(0, |pending| pending.generation);
        let now = self.now();
        match &self.shared.keys {
            Keys::Inline(keys) => self.decide(self.check_token(token, keys, 0, now)),
            Keys::Remote(remote) => match remote.lookup(waited) {
                Lookup::Ready(snapshot) => {
                    match self.check_token(token, &snapshot.keys, snapshot.generation, now) {
                        Outcome::UnknownKid(rejection) => match remote.refresh_for_kid(waited) {
                            Some(generation) => Decision::Pending(Pending { generation }),
                            None => self.decide(Outcome::Reject(rejection)),
                        },
                        outcome => self.decide(outcome),
                    }
                }
                Lookup::Pending(generation) => Decision::Pending(Pending { generation }),
                Lookup::Unavailable(message) => {
                    self.deny(Reason::KeysUnavailable, message.to_owned())
                }
            },
        }
    }

    /// Starts fetching remote keys in this process; see the process model
    /// above. Does nothing for inline keys or when already started here.
    pub fn start(&self) -> Result<()> {
        match &self.shared.keys {
            Keys::Remote(remote) => remote.start(),
            Keys::Inline(_) => Ok(()),
        }
    }

    /// Stops the fetch thread within about a second. Verifications after
    /// `stop` are denied with [`Reason::KeysUnavailable`].
    pub fn stop(&self) {
        if let Keys::Remote(remote) = &self.shared.keys {
            remote.stop();
        }
    }

    /// Returns the readiness generation: it changes each time a key set
    /// fetch ends, so a host can poll it cheaply. Always 1 for inline keys.
    pub fn keys_generation(&self) -> u64 {
        match &self.shared.keys {
            Keys::Remote(remote) => remote.generation(),
            Keys::Inline(_) => 1,
        }
    }

    /// Blocks until the generation moves past `pending`, at most `timeout`.
    /// Returns whether it moved. For hosts that may block, never for an
    /// event loop.
    pub fn wait_for_keys(&self, pending: Pending, timeout: Duration) -> bool {
        match &self.shared.keys {
            Keys::Remote(remote) => remote.wait_for_change(pending.generation, timeout),
            Keys::Inline(_) => true,
        }
    }

    /// Denies a request that stopped waiting for remote keys after
    /// [`Decision::Pending`], for hosts that bound the wait. Always returns
    /// [`Decision::Deny`] with [`Reason::KeysUnavailable`] and the policy's
    /// noMatch status.
    pub fn deny_unavailable(&self, message: impl Into<String>) -> Decision {
        self.deny(Reason::KeysUnavailable, message.into())
    }

    /// Returns the verified-token cache's counters; all zero when it is off.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared
            .cache
            .as_ref()
            .map(TokenCache::stats)
            .unwrap_or_default()
    }

    /// Returns the remote key set's counters, or `None` for inline keys.
    pub fn key_stats(&self) -> Option<KeyStats> {
        match &self.shared.keys {
            Keys::Remote(remote) => Some(remote.stats()),
            Keys::Inline(_) => None,
        }
    }

    fn now(&self) -> f64 {
        match &self.shared.options.clock {
            Some(clock) => clock(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64()),
        }
    }

    /// Checks a token, through the verified-token cache when it is on.
    fn check_token(&self, token: &[u8], keys: &KeySet, generation: u64, now: f64) -> Outcome {
        let Some(cache) = &self.shared.cache else {
            return verify::verify_token(token, keys, &self.shared.checks, now);
        };
        if let Some(verified) = cache.get(token, generation) {
            return match verified.check_time(now, self.shared.checks.leeway) {
                Ok(()) => Outcome::Allow(verified),
                Err(rejection) => {
                    cache.remove(token);
                    Outcome::Reject(rejection)
                }
            };
        }
        let outcome = verify::verify_token(token, keys, &self.shared.checks, now);
        if let Outcome::Allow(verified) = &outcome {
            cache.insert(token, generation, Arc::clone(verified));
        }
        outcome
    }

    fn decide(&self, outcome: Outcome) -> Decision {
        match outcome {
            Outcome::Allow(verified) => Decision::Allow(verified),
            Outcome::Reject((reason, message)) | Outcome::UnknownKid((reason, message)) => {
                self.deny(reason, message)
            }
        }
    }

    fn deny(&self, reason: Reason, message: String) -> Decision {
        let shared = &self.shared;
        // A key set outage is no fault of the token, so its challenge
        // carries no invalid_token error that would make a client drop it.
        let (status, challenge) = match reason {
            Reason::Missing => (shared.not_supplied_status, &shared.missing_challenge),
            Reason::KeysUnavailable => (shared.no_match_status, &shared.missing_challenge),
            _ => (shared.no_match_status, &shared.invalid_challenge),
        };
        Decision::Deny(Denial {
            status,
            reason,
            message,
            www_authenticate: Arc::clone(challenge),
        })
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("token", &self.shared.token)
            .field("remote_keys", &self.has_remote_keys())
            .finish_non_exhaustive()
    }
}

fn validate_options(options: &Options) -> Result<()> {
    let invalid = |message: String| Err(Error::new(ErrorKind::InvalidOption(message)));
    if options.max_token_len == 0 {
        return invalid("max_token_len is 0; use a size in bytes such as 16384".into());
    }
    if options.max_json_depth < 2 {
        return invalid(format!(
            "max_json_depth is {}; use at least 2",
            options.max_json_depth
        ));
    }
    if options.max_keys == 0 || options.max_key_attempts == 0 {
        return invalid("max_keys and max_key_attempts must be at least 1".into());
    }
    if options.fetch.timeout.is_zero() || options.fetch.connect_timeout.is_zero() {
        return invalid("fetch timeouts must be greater than 0".into());
    }
    if options.fetch.backoff_initial.is_zero()
        || options.fetch.backoff_max < options.fetch.backoff_initial
    {
        return invalid("backoff_initial must be greater than 0 and at most backoff_max".into());
    }
    if let Some(realm) = &options.realm
        && realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return invalid(format!(
            "realm {realm:?} contains a quote, backslash or control character"
        ));
    }
    Ok(())
}
