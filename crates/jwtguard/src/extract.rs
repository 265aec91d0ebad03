//! Token extraction from a request, at the policy's token location.

use std::borrow::Cow;

use percent_encoding::percent_decode;

use crate::policy::{TokenLocation, TokenSource};
use crate::verify::Reason;

/// Result of a token search.
pub(crate) enum Found<'a> {
    Token(Cow<'a, [u8]>),
    Missing(&'static str),
    Invalid(&'static str),
}

/// Extracts the token from `source`: the value of the policy's header, or
/// the raw query string (without `?`), as the location selects. `None` means
/// the header is absent or the request has no query string.
pub(crate) fn find_token<'a>(location: &TokenLocation, source: Option<&'a [u8]>) -> Found<'a> {
    let Some(source) = source else {
        return Found::Missing(match location.source {
            TokenSource::Header => "token header is absent",
            TokenSource::Query => "request has no query string",
        });
    };
    match location.source {
        TokenSource::Header if location.name.eq_ignore_ascii_case("authorization") => {
            from_authorization(source)
        }
        TokenSource::Header => from_custom_header(source),
        TokenSource::Query => from_query(source, location.name.as_bytes()),
    }
}

/// `Authorization: Bearer <token>`, with the scheme matched without regard
/// to case (RFC 6750 section 2.1, RFC 9110 section 11.1).
fn from_authorization(value: &[u8]) -> Found<'_> {
    let value = value.trim_ascii();
    match strip_bearer(value) {
        Some([]) => Found::Missing("Bearer scheme without a token"),
        Some(token) => Found::Token(Cow::Borrowed(token)),
        None if value.is_empty() => Found::Missing("Authorization header is empty"),
        None => Found::Missing("Authorization header does not use the Bearer scheme"),
    }
}

/// Reads a custom header, whose value is the token itself; a leading
/// Bearer scheme is also accepted.
fn from_custom_header(value: &[u8]) -> Found<'_> {
    let value = value.trim_ascii();
    let token = strip_bearer(value).unwrap_or(value);
    if token.is_empty() {
        return Found::Missing("token header is empty");
    }
    Found::Token(Cow::Borrowed(token))
}

/// Returns what follows `Bearer` and at least one space or tab, or `None`
/// when the value does not start with that scheme. A bare `Bearer` gives
/// an empty token.
fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    if value.len() < SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    match rest.first() {
        None => Some(rest),
        Some(b' ' | b'\t') => {
            let skip = rest
                .iter()
                .take_while(|&&byte| byte == b' ' || byte == b'\t')
                .count();
            Some(&rest[skip..])
        }
        Some(_) => None,
    }
}

/// Finds the parameter `name` in a raw query string. It must appear once;
/// its value is percent-decoded (`+` stays `+`, since tokens never hold
/// spaces).
fn from_query<'a>(query: &'a [u8], name: &[u8]) -> Found<'a> {
    let mut found = None;
    for pair in query.split(|&byte| byte == b'&') {
        let (key, value) = match pair.iter().position(|&byte| byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        if Cow::from(percent_decode(key)) != name {
            continue;
        }
        if found.is_some() {
            return Found::Invalid("token query parameter is given more than once");
        }
        found = Some(value);
    }
    match found {
        None => Found::Missing("token query parameter is absent"),
        Some([]) => Found::Missing("token query parameter is empty"),
        Some(value) => Found::Token(percent_decode(value).into()),
    }
}

impl Found<'_> {
    /// Returns the reason to deny a search that found no usable token.
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Found::Invalid(_) => Reason::Malformed,
            _ => Reason::Missing,
        }
    }
}
