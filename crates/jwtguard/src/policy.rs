//! The OAuth2 JWT Assertion policy in the JSON format of the NGINX API
//! Connectivity Manager.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::duration::parse_nginx_time;
use crate::error::{Error, Result};
use crate::fetch::redact_uri;
use crate::json;

/// The policy type jwtguard enforces.
const POLICY_TYPE: &str = "oauth2-jwt-assertion";

/// Default of `cacheKeysDuration`.
pub const DEFAULT_CACHE_KEYS_DURATION: Duration = Duration::from_secs(12 * 3600);
/// Default of `errorReturnConditions.notSupplied.returnCode`.
pub const DEFAULT_NOT_SUPPLIED_STATUS: u16 = 401;
/// Default of `errorReturnConditions.noMatch.returnCode`.
pub const DEFAULT_NO_MATCH_STATUS: u16 = 403;

const ACTION_FIELDS: [&str; 6] = [
    "jwksURI",
    "cacheKeysDuration",
    "jwksKeys",
    "tokenName",
    "tokenSuppliedIn",
    "errorReturnConditions",
];

/// Part of a request that carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A request header; `Authorization` uses the Bearer scheme.
    Header,
    /// A query string parameter, percent-decoded.
    Query,
}

/// The token's place in a request: `tokenSuppliedIn` and `tokenName`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenLocation {
    /// `tokenSuppliedIn`. Defaults to [`TokenSource::Header`].
    pub source: TokenSource,
    /// `tokenName`. Defaults to `Authorization`.
    pub name: String,
}

/// Source of the verification keys.
#[derive(Clone, Debug)]
pub(crate) enum KeySpec {
    /// `jwksKeys`: the key list and its JSON path.
    Inline { keys: Vec<Value>, path: String },
    /// `jwksURI` and `cacheKeysDuration`.
    Remote {
        uri: String,
        cache_duration: Duration,
    },
}

/// A parsed policy, before its keys are prepared.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) keys: KeySpec,
    pub(crate) token: TokenLocation,
    pub(crate) not_supplied_status: u16,
    pub(crate) no_match_status: u16,
}

impl Policy {
    /// Parses a policy document. Accepted shapes: any object with a
    /// `policies` object (such as a whole API proxy body), found at the top
    /// or inside nested objects, and a bare `{"action": {...}}` entry.
    pub(crate) fn parse(bytes: &[u8], warnings: &mut Vec<String>) -> Result<Policy> {
        let document = json::parse_strict(bytes, json::DOCUMENT_MAX_DEPTH)
            .map_err(|detail| Error::policy("$", format!("not valid JSON: {detail}")))?;
        let (action, path) = find_action(&document, warnings)?;
        parse_action(action, &path, warnings)
    }
}

/// Finds the single policy entry's `action` object and returns it with its
/// JSON path.
fn find_action<'a>(
    document: &'a Value,
    warnings: &mut Vec<String>,
) -> Result<(&'a Map<String, Value>, String)> {
    let Value::Object(top) = document else {
        return Err(Error::policy(
            "$",
            "the policy document must be a JSON object",
        ));
    };
    if top.contains_key("action") && !top.contains_key("policies") {
        let action = object_at(top, "action", "action")?;
        return Ok((action, "action".into()));
    }
    let mut found = find_policies(top, "");
    if found.len() > 1 {
        let paths: Vec<&str> = found.iter().map(|(_, path)| path.as_str()).collect();
        return Err(Error::policy(
            "$",
            format!(
                "has {} \"policies\" objects ({}); keep one",
                found.len(),
                paths.join(", ")
            ),
        ));
    }
    let Some((policies, policies_path)) = found.pop() else {
        return Err(Error::policy(
            "$",
            "no \"policies\" object and no \"action\" object found; paste an API proxy body, \
             a \"policies\" object holder or one policy entry",
        ));
    };
    for name in policies.keys().filter(|name| *name != POLICY_TYPE) {
        warnings.push(format!(
            "{policies_path}.{name}: policy type skipped; jwtguard enforces {POLICY_TYPE} only"
        ));
    }
    let list_path = format!("{policies_path}.{POLICY_TYPE}");
    let entries = match policies.get(POLICY_TYPE) {
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            return Err(Error::policy(
                list_path,
                "must be an array of policy entries",
            ));
        }
        None => {
            return Err(Error::policy(
                list_path,
                "is missing; add one entry with an \"action\" object",
            ));
        }
    };
    match entries.len() {
        0 => Err(Error::policy(
            list_path,
            "is empty; add one entry with an \"action\" object",
        )),
        1 => {
            let entry_path = format!("{list_path}[0]");
            let Value::Object(entry) = &entries[0] else {
                return Err(Error::policy(entry_path, "must be a JSON object"));
            };
            warn_unknown(entry, &["action", "systemMetadata"], &entry_path, warnings);
            let action_path = format!("{entry_path}.action");
            Ok((object_at(entry, "action", &action_path)?, action_path))
        }
        count => Err(Error::policy(
            list_path,
            format!(
                "has {count} entries, but a verifier enforces one policy; keep one entry, or load each policy in its own location"
            ),
        )),
    }
}

/// Searches nested objects, breadth first, for the `policies` objects.
fn find_policies<'a>(
    object: &'a Map<String, Value>,
    path: &str,
) -> Vec<(&'a Map<String, Value>, String)> {
    let mut found = Vec::new();
    let mut queue = vec![(object, path.to_owned())];
    let mut index = 0;
    while let Some((current, current_path)) = queue.get(index).cloned() {
        index += 1;
        if let Some(Value::Object(policies)) = current.get("policies") {
            found.push((policies, join_path(&current_path, "policies")));
            continue;
        }
        for (name, value) in current {
            if let Value::Object(child) = value {
                queue.push((child, join_path(&current_path, name)));
            }
        }
    }
    found
}

fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn object_at<'a>(
    parent: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a Map<String, Value>> {
    match parent.get(name) {
        Some(Value::Object(object)) => Ok(object),
        Some(_) => Err(Error::policy(path, "must be a JSON object")),
        None => Err(Error::policy(path, "is missing")),
    }
}

fn parse_action(
    action: &Map<String, Value>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Policy> {
    warn_unknown(action, &ACTION_FIELDS, path, warnings);
    let field = |name: &str| format!("{path}.{name}");
    let keys = parse_key_spec(action, path, warnings)?;
    let source = match optional_string(action, "tokenSuppliedIn", &field("tokenSuppliedIn"))? {
        None | Some("HEADER") => TokenSource::Header,
        Some("QUERY") => TokenSource::Query,
        Some(other) => {
            return Err(Error::policy(
                field("tokenSuppliedIn"),
                format!("{other:?} is not supported; use \"HEADER\" or \"QUERY\""),
            ));
        }
    };
    let name = match optional_string(action, "tokenName", &field("tokenName"))? {
        None => "Authorization".to_owned(),
        Some(name) => check_token_name(name, source, &field("tokenName"))?.to_owned(),
    };
    let (not_supplied_status, no_match_status) =
        parse_error_returns(action, &field("errorReturnConditions"), warnings)?;
    Ok(Policy {
        keys,
        token: TokenLocation { source, name },
        not_supplied_status,
        no_match_status,
    })
}

fn parse_key_spec(
    action: &Map<String, Value>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<KeySpec> {
    let uri_path = format!("{path}.jwksURI");
    let keys_path = format!("{path}.jwksKeys");
    let duration_path = format!("{path}.cacheKeysDuration");
    let uri = optional_string(action, "jwksURI", &uri_path)?;
    let duration = action.get("cacheKeysDuration");
    match (uri, action.get("jwksKeys")) {
        (Some(_), Some(_)) => Err(Error::policy(
            path,
            "has both \"jwksURI\" and \"jwksKeys\"; keep one key source",
        )),
        (None, None) => Err(Error::policy(
            path,
            format!(
                "has no key source; add \"jwksURI\" (a JWK Set URL) or \"jwksKeys\" (inline \
                 keys){}",
                near_miss_hint(action, &["jwksURI", "jwksKeys"])
            ),
        )),
        (Some(uri), None) => {
            check_uri(uri, &uri_path, warnings)?;
            let cache_duration = match duration {
                None => DEFAULT_CACHE_KEYS_DURATION,
                Some(value) => parse_cache_duration(value, &duration_path, warnings)?,
            };
            Ok(KeySpec::Remote {
                uri: uri.to_owned(),
                cache_duration,
            })
        }
        (None, Some(keys)) => {
            if duration.is_some() {
                warnings.push(format!(
                    "{duration_path}: ignored, because the keys are inline in \"jwksKeys\""
                ));
            }
            let (keys, path) = match keys {
                Value::Array(keys) => (keys.clone(), keys_path),
                Value::Object(set) => match set.get("keys") {
                    Some(Value::Array(keys)) => (keys.clone(), format!("{keys_path}.keys")),
                    _ => {
                        return Err(Error::policy(
                            keys_path,
                            "a JWK Set object needs a \"keys\" array",
                        ));
                    }
                },
                _ => {
                    return Err(Error::policy(
                        keys_path,
                        "must be an array of JWKs or a JWK Set object",
                    ));
                }
            };
            Ok(KeySpec::Inline { keys, path })
        }
    }
}

/// Reads `cacheKeysDuration`: NGINX time text, or a whole number of
/// seconds. Warns about durations that make workers refetch often.
fn parse_cache_duration(value: &Value, path: &str, warnings: &mut Vec<String>) -> Result<Duration> {
    let duration = match value {
        Value::String(text) => {
            parse_nginx_time(text).map_err(|message| Error::policy(path, message))?
        }
        Value::Number(number) => match number.as_u64() {
            Some(seconds) => Duration::from_secs(seconds),
            None => {
                let message = format!(
                    "{number} is not a whole number of seconds; use a time such as \"12h\""
                );
                return Err(Error::policy(path, message));
            }
        },
        other => {
            let message = format!("{other} is not a time; use a string such as \"12h\"");
            return Err(Error::policy(path, message));
        }
    };
    if duration.is_zero() {
        warnings.push(format!(
            "{path}: 0 disables caching, so every request waits for a key set fetch"
        ));
    } else if duration < Duration::from_secs(60) {
        warnings.push(format!(
            "{path}: {duration:?} makes every worker refetch the key set that often (at most \
             once a second); use minutes or hours unless the key server expects this load"
        ));
    }
    Ok(duration)
}

/// Returns ` (found "X": did you mean "Y"?)` for an unknown member that
/// nearly matches one of `wanted`, or an empty string.
fn near_miss_hint(object: &Map<String, Value>, wanted: &[&str]) -> String {
    object
        .keys()
        .filter(|name| !wanted.contains(&name.as_str()))
        .find_map(|name| {
            let lower = name.to_lowercase();
            wanted
                .iter()
                .find(|candidate| strsim::levenshtein(&lower, &candidate.to_lowercase()) <= 2)
                .map(|candidate| format!(" (found \"{name}\": did you mean \"{candidate}\"?)"))
        })
        .unwrap_or_default()
}

/// Checks `jwksURI`. Messages show the URL without credentials or query.
fn check_uri(uri: &str, path: &str, warnings: &mut Vec<String>) -> Result<()> {
    // The value may hold credentials, so an unparsable one is not echoed.
    let parsed: ureq::http::Uri = uri
        .parse()
        .map_err(|err| Error::policy(path, format!("is not a valid URL ({err})")))?;
    let redacted = redact_uri(uri);
    let scheme = parsed.scheme_str().map(str::to_ascii_lowercase);
    match scheme.as_deref() {
        Some("https") => {}
        Some("http") => warnings.push(format!(
            "{path}: \"{redacted}\" uses plain http, so the keys can be altered in transit; use https"
        )),
        _ => {
            return Err(Error::policy(
                path,
                format!("\"{redacted}\" must be an http or https URL"),
            ));
        }
    }
    if parsed.host().is_none_or(str::is_empty) {
        return Err(Error::policy(path, format!("\"{redacted}\" has no host")));
    }
    let authority = parsed
        .authority()
        .map_or("", |authority| authority.as_str());
    let port_text = authority
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.contains(']'));
    if port_text.is_some_and(|port| !port.is_empty() && port.parse::<u16>().is_err()) {
        return Err(Error::policy(
            path,
            format!("\"{redacted}\" has a port outside 1-65535"),
        ));
    }
    Ok(())
}

/// Checks `tokenName`: any non-empty text for a query parameter, an HTTP
/// field name (RFC 9110 token characters) for a header.
fn check_token_name<'a>(name: &'a str, source: TokenSource, path: &str) -> Result<&'a str> {
    if name.is_empty() {
        return Err(Error::policy(
            path,
            "is empty; name the header or query parameter that carries the token",
        ));
    }
    let is_tchar = |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
    if source == TokenSource::Header && !name.bytes().all(is_tchar) {
        return Err(Error::policy(
            path,
            format!("{name:?} is not a valid HTTP header name"),
        ));
    }
    Ok(name)
}

fn parse_error_returns(
    action: &Map<String, Value>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<(u16, u16)> {
    let Some(conditions) = action.get("errorReturnConditions") else {
        return Ok((DEFAULT_NOT_SUPPLIED_STATUS, DEFAULT_NO_MATCH_STATUS));
    };
    let Value::Object(conditions) = conditions else {
        return Err(Error::policy(path, "must be a JSON object"));
    };
    warn_unknown(conditions, &["notSupplied", "noMatch"], path, warnings);
    let not_supplied = return_code(
        conditions,
        "notSupplied",
        path,
        DEFAULT_NOT_SUPPLIED_STATUS,
        warnings,
    )?;
    let no_match = return_code(
        conditions,
        "noMatch",
        path,
        DEFAULT_NO_MATCH_STATUS,
        warnings,
    )?;
    Ok((not_supplied, no_match))
}

fn return_code(
    conditions: &Map<String, Value>,
    name: &str,
    parent: &str,
    default: u16,
    warnings: &mut Vec<String>,
) -> Result<u16> {
    let path = format!("{parent}.{name}");
    let Some(condition) = conditions.get(name) else {
        return Ok(default);
    };
    let Value::Object(condition) = condition else {
        return Err(Error::policy(path, "must be a JSON object"));
    };
    warn_unknown(condition, &["returnCode"], &path, warnings);
    let code_path = format!("{path}.returnCode");
    match condition.get("returnCode") {
        None => Ok(default),
        Some(Value::Number(number)) if !number.is_u64() && !number.is_i64() => Err(Error::policy(
            code_path,
            format!("{number} is not an integer; use a status from 400 to 599"),
        )),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(code @ 400..=599) => Ok(code as u16),
            _ => Err(Error::policy(
                code_path,
                format!("{number} is outside 400-599"),
            )),
        },
        Some(other) => Err(Error::policy(
            code_path,
            format!("{other} is not an integer; use a status from 400 to 599"),
        )),
    }
}

fn optional_string<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(Error::policy(path, format!("{other} is not a string"))),
    }
}

/// Warns about members not in `known`, suggesting the closest known name.
fn warn_unknown(
    object: &Map<String, Value>,
    known: &[&str],
    path: &str,
    warnings: &mut Vec<String>,
) {
    for name in object.keys().filter(|name| !known.contains(&name.as_str())) {
        let suggestion = known
            .iter()
            .map(|candidate| {
                (
                    strsim::levenshtein(&name.to_lowercase(), &candidate.to_lowercase()),
                    candidate,
                )
            })
            .filter(|(distance, _)| *distance <= 2)
            .min_by_key(|(distance, _)| *distance);
        match suggestion {
            Some((_, candidate)) => warnings.push(format!(
                "{path}.{name}: unknown field ignored; did you mean \"{candidate}\"?"
            )),
            None => warnings.push(format!("{path}.{name}: unknown field ignored")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEYS: &str = r#"[{"kty": "oct", "k": "AAAA"}]"#;
    const ENTRY_PATH: &str = "policies.oauth2-jwt-assertion[0].action";

    fn parse(document: &Value) -> (Result<Policy>, Vec<String>) {
        let mut warnings = Vec::new();
        let result = Policy::parse(document.to_string().as_bytes(), &mut warnings);
        (result, warnings)
    }

    fn wrap(action: Value) -> Value {
        json!({"policies": {"oauth2-jwt-assertion": [{"action": action}]}})
    }

    fn error_of(document: Value) -> String {
        match parse(&document).0 {
            Ok(_) => panic!("{document} should be rejected"),
            Err(err) => err.to_string(),
        }
    }

    fn keys() -> Value {
        serde_json::from_str(KEYS).unwrap()
    }

    #[test]
    fn defaults_apply() {
        let (policy, warnings) = parse(&wrap(json!({"jwksURI": "https://idp.example/jwks"})));
        let policy = policy.unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            policy.token,
            TokenLocation {
                source: TokenSource::Header,
                name: "Authorization".into()
            }
        );
        assert_eq!(policy.not_supplied_status, 401);
        assert_eq!(policy.no_match_status, 403);
        match policy.keys {
            KeySpec::Remote {
                uri,
                cache_duration,
            } => {
                assert_eq!(uri, "https://idp.example/jwks");
                assert_eq!(cache_duration, DEFAULT_CACHE_KEYS_DURATION);
            }
            KeySpec::Inline { .. } => panic!("expected remote keys"),
        }
    }

    #[test]
    fn every_field_is_read() {
        let action = json!({
            "jwksURI": "https://idp.example/jwks",
            "cacheKeysDuration": "1h 30m",
            "tokenName": "access_token",
            "tokenSuppliedIn": "QUERY",
            "errorReturnConditions": {
                "notSupplied": {"returnCode": 400},
                "noMatch": {"returnCode": 599}
            }
        });
        let policy = parse(&wrap(action)).0.unwrap();
        assert_eq!(policy.token.source, TokenSource::Query);
        assert_eq!(policy.token.name, "access_token");
        assert_eq!(policy.not_supplied_status, 400);
        assert_eq!(policy.no_match_status, 599);
        let KeySpec::Remote { cache_duration, .. } = policy.keys else {
            panic!("remote")
        };
        assert_eq!(cache_duration, Duration::from_secs(5400));
    }

    #[test]
    fn accepted_document_shapes() {
        let action = json!({"jwksKeys": keys()});
        let shapes = [
            json!({"action": action}),
            wrap(action.clone()),
            json!({"name": "orders", "proxyConfig": {"policies": {"oauth2-jwt-assertion": [{"action": action}]}}}),
        ];
        for shape in shapes {
            assert!(parse(&shape).0.is_ok(), "{shape}");
        }
        let set = json!({"action": {"jwksKeys": {"keys": keys()}}});
        let KeySpec::Inline { path, .. } = parse(&set).0.unwrap().keys else {
            panic!("inline")
        };
        assert_eq!(path, "action.jwksKeys.keys");
    }

    #[test]
    fn other_policy_types_are_skipped_with_warning() {
        let document = json!({"policies": {
            "rate-limit": [{"action": {}}],
            "oauth2-jwt-assertion": [{"action": {"jwksKeys": keys()}}]
        }});
        let (policy, warnings) = parse(&document);
        assert!(policy.is_ok());
        assert_eq!(
            warnings,
            [
                "policies.rate-limit: policy type skipped; jwtguard enforces oauth2-jwt-assertion only"
            ]
        );
    }

    #[test]
    fn near_miss_fields_are_suggested() {
        let action = json!({"jwksKeys": keys(), "jwksUri": "x", "tokenname": "a", "colour": 1});
        let (policy, warnings) = parse(&wrap(action));
        assert!(policy.is_ok());
        assert!(
            warnings.contains(&format!(
                "{ENTRY_PATH}.jwksUri: unknown field ignored; did you mean \"jwksURI\"?"
            )),
            "{warnings:?}"
        );
        assert!(
            warnings.contains(&format!(
                "{ENTRY_PATH}.tokenname: unknown field ignored; did you mean \"tokenName\"?"
            )),
            "{warnings:?}"
        );
        assert!(
            warnings.contains(&format!("{ENTRY_PATH}.colour: unknown field ignored")),
            "{warnings:?}"
        );
    }

    #[test]
    fn warnings_for_plain_http_and_ignored_duration() {
        let (_, warnings) = parse(&wrap(json!({"jwksURI": "http://127.0.0.1:1/jwks"})));
        assert!(warnings[0].contains("uses plain http"), "{warnings:?}");
        let (_, warnings) = parse(&wrap(
            json!({"jwksKeys": keys(), "cacheKeysDuration": "1h"}),
        ));
        assert_eq!(
            warnings,
            [format!(
                "{ENTRY_PATH}.cacheKeysDuration: ignored, because the keys are inline in \"jwksKeys\""
            )]
        );
    }

    #[test]
    fn error_messages_name_path_and_value() {
        let rows = [
            (wrap(json!({"jwksKeys": keys(), "errorReturnConditions": {"noMatch": {"returnCode": 700}}})),
             format!("{ENTRY_PATH}.errorReturnConditions.noMatch.returnCode: 700 is outside 400-599")),
            (wrap(json!({"jwksKeys": keys(), "errorReturnConditions": {"notSupplied": {"returnCode": "401"}}})),
             format!("{ENTRY_PATH}.errorReturnConditions.notSupplied.returnCode: \"401\" is not an integer; use a status from 400 to 599")),
            (wrap(json!({"jwksKeys": keys(), "errorReturnConditions": {"noMatch": {"returnCode": 403.5}}})),
             format!("{ENTRY_PATH}.errorReturnConditions.noMatch.returnCode: 403.5 is not an integer; use a status from 400 to 599")),
            (wrap(json!({"jwksKeys": keys(), "tokenSuppliedIn": "header"})),
             format!("{ENTRY_PATH}.tokenSuppliedIn: \"header\" is not supported; use \"HEADER\" or \"QUERY\"")),
            (wrap(json!({"jwksKeys": keys(), "tokenName": ""})),
             format!("{ENTRY_PATH}.tokenName: is empty; name the header or query parameter that carries the token")),
            (wrap(json!({"jwksKeys": keys(), "tokenName": "X Token"})),
             format!("{ENTRY_PATH}.tokenName: \"X Token\" is not a valid HTTP header name")),
            (wrap(json!({"jwksKeys": keys(), "tokenName": 5})),
             format!("{ENTRY_PATH}.tokenName: 5 is not a string")),
            (wrap(json!({"jwksURI": "ftp://idp/jwks"})),
             format!("{ENTRY_PATH}.jwksURI: \"ftp://idp/jwks\" must be an http or https URL")),
            (wrap(json!({"jwksURI": "not a url"})),
             format!("{ENTRY_PATH}.jwksURI: is not a valid URL (invalid uri character)")),
            (wrap(json!({"jwksURI": "https://idp/jwks", "cacheKeysDuration": "12x"})),
             format!("{ENTRY_PATH}.cacheKeysDuration: \"12x\": unknown unit \"x\"; use ms s m h d w M y")),
            (wrap(json!({"jwksURI": "https://idp/jwks", "jwksKeys": keys()})),
             format!("{ENTRY_PATH}: has both \"jwksURI\" and \"jwksKeys\"; keep one key source")),
            (wrap(json!({})),
             format!("{ENTRY_PATH}: has no key source; add \"jwksURI\" (a JWK Set URL) or \"jwksKeys\" (inline keys)")),
            (wrap(json!({"jwksKeys": 3})),
             format!("{ENTRY_PATH}.jwksKeys: must be an array of JWKs or a JWK Set object")),
            (json!({"policies": {"oauth2-jwt-assertion": []}}),
             "policies.oauth2-jwt-assertion: is empty; add one entry with an \"action\" object".into()),
            (json!({"policies": {"oauth2-jwt-assertion": [{"action": {}}, {"action": {}}]}}),
             "policies.oauth2-jwt-assertion: has 2 entries, but a verifier enforces one policy; keep one entry, or load each policy in its own location".into()),
            (json!({"policies": {"oauth2-jwt-assertion": [{}]}}),
             "policies.oauth2-jwt-assertion[0].action: is missing".into()),
            (json!({"policies": {}}),
             "policies.oauth2-jwt-assertion: is missing; add one entry with an \"action\" object".into()),
            (json!([]), "$: the policy document must be a JSON object".into()),
            (wrap(json!({"jwksURI": "ftp://admin:pw@idp/jwks?key=s3cret"})),
             format!("{ENTRY_PATH}.jwksURI: \"ftp://idp/jwks?…\" must be an http or https URL")),
            (wrap(json!({"jwksUri": "https://idp/jwks"})),
             format!("{ENTRY_PATH}: has no key source; add \"jwksURI\" (a JWK Set URL) or \"jwksKeys\" (inline keys) (found \"jwksUri\": did you mean \"jwksURI\"?)")),
            (wrap(json!({"jwksURI": "https://idp/jwks", "cacheKeysDuration": 1.5})),
             format!("{ENTRY_PATH}.cacheKeysDuration: 1.5 is not a whole number of seconds")),
            (wrap(json!({"jwksURI": "https://idp/jwks", "cacheKeysDuration": true})),
             format!("{ENTRY_PATH}.cacheKeysDuration: true is not a time")),
            (wrap(json!({"jwksURI": "https://idp/jwks", "cacheKeysDuration": "12 hours"})),
             format!("{ENTRY_PATH}.cacheKeysDuration: \"12 hours\": write the unit right after its number")),
            (wrap(json!({"jwksURI": "https://idp:99999/jwks"})),
             format!("{ENTRY_PATH}.jwksURI: \"https://idp/jwks\" has a port outside 1-65535")),
            (json!({"a": {"policies": {}}, "b": {"policies": {}}}),
             "$: has 2 \"policies\" objects (a.policies, b.policies); keep one".into()),
            (wrap(json!({"jwksKeys": keys(), "errorReturnConditions": {"noMatch": {"returnCode": 4e2}}})),
             format!("{ENTRY_PATH}.errorReturnConditions.noMatch.returnCode: 400.0 is not an integer")),
        ];
        for (document, expected) in rows {
            let message = error_of(document);
            assert!(
                message.starts_with(&expected),
                "got {message:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn cache_duration_forms_and_warnings() {
        let cases = [
            (json!("12h"), Duration::from_secs(43_200), None),
            (json!(90), Duration::from_secs(90), None),
            (json!(0), Duration::ZERO, Some("0 disables caching")),
            (json!("0"), Duration::ZERO, Some("0 disables caching")),
            (
                json!("30s"),
                Duration::from_secs(30),
                Some("30s makes every worker refetch"),
            ),
        ];
        for (value, expected, warning) in cases {
            let (policy, warnings) = parse(&wrap(
                json!({"jwksURI": "https://idp/jwks", "cacheKeysDuration": value}),
            ));
            let KeySpec::Remote { cache_duration, .. } = policy.unwrap().keys else {
                panic!("remote")
            };
            assert_eq!(cache_duration, expected, "{value}");
            match warning {
                Some(text) => assert!(
                    warnings.len() == 1
                        && warnings[0]
                            .starts_with(&format!("{ENTRY_PATH}.cacheKeysDuration: {text}")),
                    "{value}: {warnings:?}"
                ),
                None => assert!(warnings.is_empty(), "{value}: {warnings:?}"),
            }
        }
    }

    #[test]
    fn invalid_json_is_rejected() {
        let mut warnings = Vec::new();
        let err = Policy::parse(b"{\"action\": ", &mut warnings)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("$: not valid JSON"), "{err}");
        let err = Policy::parse(br#"{"action": {}, "action": {}}"#, &mut warnings)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("duplicate member name \"action\""), "{err}");
    }
}
