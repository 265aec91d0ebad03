//! The HTTP side of remote key sets: the client, one fetch, and URLs made
//! safe to log.

use std::fs;
use std::sync::Arc;

use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::error::{Error, ErrorKind, Result};
use crate::jwk::{KeySet, parse_jwks_document};
use crate::options::FetchOptions;

/// Returns `uri` without its userinfo and with its query replaced by `?…`,
/// so logs never carry credentials placed in the URL.
pub(crate) fn redact_uri(uri: &str) -> String {
    let Ok(parsed) = uri.parse::<Uri>() else {
        return "(invalid URL)".into();
    };
    let scheme = parsed.scheme_str().unwrap_or("http");
    let host = parsed.host().unwrap_or("");
    let port = parsed
        .port_u16()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let query = if parsed.query().is_some() { "?…" } else { "" };
    format!("{scheme}://{host}{port}{}{query}", parsed.path())
}

/// Tells whether `uri` uses https, whatever the case of its scheme.
fn is_https(uri: &str) -> bool {
    uri.parse::<Uri>()
        .ok()
        .and_then(|parsed| {
            parsed
                .scheme_str()
                .map(|scheme| scheme.eq_ignore_ascii_case("https"))
        })
        .unwrap_or(false)
}

/// Fetches and parses a key set. Returns the keys and the warnings for
/// skipped keys, or the cause of the failure.
pub(crate) fn fetch(
    agent: &ureq::Agent,
    uri: &str,
    options: &FetchOptions,
    max_keys: usize,
) -> std::result::Result<(KeySet, Vec<String>), String> {
    let mut response = agent
        .get(uri)
        .header("Accept", "application/jwk-set+json, application/json")
        .call()
        .map_err(|err| describe(&err))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(options.max_body_bytes)
        .read_to_vec()
        .map_err(|err| describe(&err))?;
    let mut warnings = Vec::new();
    let keys =
        parse_jwks_document(&body, max_keys, &mut warnings).map_err(|err| err.to_string())?;
    Ok((keys, warnings))
}

/// Describes a client error without echoing the URL, which may hold
/// credentials.
fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::BodyExceedsLimit(limit) => {
            format!("response body is larger than {limit} bytes")
        }
        ureq::Error::RequireHttpsOnly(_) => "redirected from https to plain http".into(),
        ureq::Error::TooManyRedirects => "too many redirects".into(),
        ureq::Error::BadUri(_) => "invalid URL".into(),
        ureq::Error::Timeout(timeout) => format!("timed out ({timeout})"),
        other => other.to_string(),
    }
}

/// Builds the HTTP client: verified TLS against the system's trust store
/// and the optional CA bundle, bounded timeouts and redirects, and no
/// redirect from https to http.
pub(crate) fn build_agent(uri: &str, options: &FetchOptions) -> Result<ureq::Agent> {
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if let Some(path) = &options.ca_file {
        let pem = fs::read(path).map_err(|source| {
            Error::new(ErrorKind::Io {
                path: path.clone(),
                source,
            })
        })?;
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(PemItem::Certificate(cert)) = item {
                roots.push(cert);
            }
        }
        if roots.len() == before {
            return Err(Error::new(ErrorKind::InvalidOption(format!(
                "CA file {} contains no PEM certificate; use a PEM bundle of CA certificates",
                path.display()
            ))));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::new_with_certs(&roots))
        .unversioned_rustls_crypto_provider(provider)
        .build();
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(options.connect_timeout))
        .timeout_global(Some(options.timeout))
        .max_redirects(options.max_redirects)
        .https_only(is_https(uri))
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(concat!("jwtguard/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build();
    Ok(config.new_agent())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials_and_query() {
        let cases = [
            (
                "https://user:pass@idp.example:8443/jwks?api_key=s3cret",
                "https://idp.example:8443/jwks?…",
            ),
            ("http://127.0.0.1/keys", "http://127.0.0.1/keys"),
            ("HTTPS://idp.example/jwks", "https://idp.example/jwks"),
        ];
        for (uri, expected) in cases {
            assert_eq!(redact_uri(uri), expected);
        }
    }

    #[test]
    fn https_is_detected_in_any_case() {
        for uri in ["https://a/b", "HTTPS://a/b", "Https://a/b"] {
            assert!(is_https(uri), "{uri}");
        }
        assert!(!is_https("http://a/b"));
    }
}
