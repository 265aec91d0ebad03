//! jwtguard: an embedded policy engine that guards APIs with JSON Web Tokens.
//!
//! A policy in the JSON format of the NGINX API Connectivity Manager's
//! OAuth2 JWT Assertion policy loads into a [`Verifier`]. For each request
//! the verifier finds the token (header or query parameter), checks its
//! signature with the key its `kid` and `alg` select, then its `exp` and
//! `nbf`, and returns a [`Decision`]: allow, deny with an HTTP status, or
//! pending while remote keys load. A host that gets anything else denies.
//!
//! The crate never prints. Background work (remote key fetching) reports
//! through [`Options::log`] or, by default, the `log` facade.

#![deny(missing_docs)]

mod alg;
mod b64;
mod cache;
mod duration;
mod error;
mod extract;
mod fetch;
mod fork;
mod json;
mod jwk;
mod options;
mod policy;
mod remote;
mod token;
mod verifier;
mod verify;

pub use alg::Algorithm;
pub use cache::CacheStats;
pub use duration::parse_nginx_time;
pub use error::{Error, ErrorKind, Result};
pub use jwk::{MAX_RSA_BITS, MIN_RSA_BITS};
pub use options::{
    Clock, DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_KEY_ATTEMPTS, DEFAULT_MAX_KEYS,
    DEFAULT_MAX_TOKEN_LEN, DEFAULT_TOKEN_CACHE_ENTRIES, FetchOptions, LogSink, Options,
};
pub use policy::{
    DEFAULT_CACHE_KEYS_DURATION, DEFAULT_NO_MATCH_STATUS, DEFAULT_NOT_SUPPLIED_STATUS,
    TokenLocation, TokenSource,
};
pub use remote::KeyStats;
pub use verifier::{Loaded, MAX_POLICY_FILE_BYTES, Verifier};
pub use verify::{Decision, Denial, Pending, Reason, Verified, value_text};

/// Runs the Rust examples of the repository's README as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
