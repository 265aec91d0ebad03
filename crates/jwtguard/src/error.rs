//! Errors from loading a policy or a key set.
//!
//! Token rejections are not errors: they are [`crate::Decision::Deny`]
//! values with a [`crate::Reason`].

use std::fmt;
use std::path::PathBuf;

/// The error type for loading policies, options and key sets.
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// The kind of an [`Error`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A policy field is missing, has the wrong type or an invalid value.
    Policy {
        /// JSON path of the field, such as
        /// `policies.oauth2-jwt-assertion[0].action.tokenName`.
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A key set has no usable key, or is not a JWK Set at all.
    InvalidJwks(String),
    /// A verifier option is out of range.
    InvalidOption(String),
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Fetching a key set from its `jwksURI` failed.
    Fetch(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error(Box::new(kind))
    }

    pub(crate) fn policy(path: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Policy {
            path: path.into(),
            message: message.into(),
        })
    }

    /// Returns the kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error and returns its kind.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            ErrorKind::Policy { path, message } => write!(f, "{path}: {message}"),
            ErrorKind::InvalidJwks(message) => write!(f, "invalid key set: {message}"),
            ErrorKind::InvalidOption(message) => write!(f, "invalid option: {message}"),
            ErrorKind::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ErrorKind::Fetch(message) => write!(f, "key set fetch failed: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.kind() {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A `Result` alias with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
