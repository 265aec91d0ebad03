//! Request scenarios shared by the NGINX module tests and the Lua module tests.
//!
//! The policy contains the inline keys of the control cases (`900-control-hs256`), in a header
//! variant and a query variant, and each scenario is one request with the status and
//! `WWW-Authenticate` value it must get: no token, each kind of invalid token, and valid
//! tokens. The tokens come from the conformance cases, so they stay valid until 2100.

use serde_json::{Value, json};

use crate::cases::{Case, Ports};

/// Where the policy of a scenario looks for the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIn {
    /// `Authorization: Bearer <token>`.
    Header,
    /// The query parameter [`QUERY_PARAMETER`].
    Query,
}

/// Query parameter that the query variant of the policy reads.
pub const QUERY_PARAMETER: &str = "access_token";
/// `WWW-Authenticate` value of a request denied for a missing token.
pub const MISSING_CHALLENGE: &str = "Bearer";
/// `WWW-Authenticate` value of a request denied for an invalid token.
pub const INVALID_CHALLENGE: &str = "Bearer error=\"invalid_token\"";
/// `sub` claim of every valid token in the scenarios.
pub const VALID_SUBJECT: &str = "user-123";

/// One request and the response it must get.
#[derive(Debug, Clone)]
pub struct RequestScenario {
    /// Short name for failure messages, such as `header expired`.
    pub name: &'static str,
    /// Policy variant the request is meant for.
    pub token_in: TokenIn,
    /// Request target: path and query string.
    pub target: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Expected status code.
    pub status: u16,
    /// Expected `WWW-Authenticate` value, or `None` for an allowed request, which has none.
    pub challenge: Option<&'static str>,
}

impl RequestScenario {
    /// Returns the raw HTTP/1.1 GET request for 127.0.0.1.
    pub fn request(&self) -> Vec<u8> {
        let mut request = format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", self.target);
        for (name, value) in &self.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.into_bytes()
    }

    /// Returns true when the request must be allowed.
    pub fn allowed(&self) -> bool {
        self.challenge.is_none()
    }
}

/// Returns the policy with the control cases' inline keys, looking for the token where
/// `token_in` selects.
pub fn inline_policy(token_in: TokenIn) -> String {
    let mut action = json!({ "jwksKeys": control_keys() });
    set_token_location(&mut action, token_in);
    policy_document(action)
}

/// Returns a policy that fetches the control keys from `jwks_uri` and caches them for
/// `cache_keys_duration` (an nginx time such as `12h`), with the token in the header.
pub fn remote_policy(jwks_uri: &str, cache_keys_duration: &str) -> String {
    let mut action = json!({
        "jwksURI": jwks_uri,
        "cacheKeysDuration": cache_keys_duration,
    });
    set_token_location(&mut action, TokenIn::Header);
    policy_document(action)
}

/// Returns the control keys as a JWK Set document, for a key server.
pub fn control_jwks() -> String {
    json!({ "keys": control_keys() }).to_string()
}

/// Returns a valid HS256 token signed with a control key.
pub fn valid_token() -> String {
    bearer_token("900")
}

/// Returns an RS256 token signed with a control key whose `exp` has passed.
pub fn expired_token() -> String {
    bearer_token("066")
}

/// Returns every scenario, header variant first.
pub fn request_scenarios() -> Vec<RequestScenario> {
    let mut scenarios = header_scenarios();
    scenarios.extend(query_scenarios());
    scenarios
}

fn header_scenarios() -> Vec<RequestScenario> {
    let valid_rs256 = bearer_token("903");
    let (rs256_signed, _) = valid_rs256.rsplit_once('.').expect("token has a signature");
    // The expired token is RS256 with the same key, so its signature is well formed but
    // belongs to another payload.
    let expired = expired_token();
    let (_, expired_signature) = expired.rsplit_once('.').expect("token has a signature");
    let bad_signature = format!("{rs256_signed}.{expired_signature}");

    let denied = [
        ("header no token", None, 401, MISSING_CHALLENGE),
        (
            "header basic scheme",
            Some("Basic dXNlcjpwYXNzd29yZA==".to_string()),
            401,
            MISSING_CHALLENGE,
        ),
        (
            "header bearer without token",
            Some("Bearer ".to_string()),
            401,
            MISSING_CHALLENGE,
        ),
        (
            "header malformed token",
            Some("Bearer abc".to_string()),
            403,
            INVALID_CHALLENGE,
        ),
        (
            "header alg none",
            Some(bearer("005")),
            403,
            INVALID_CHALLENGE,
        ),
        (
            "header bad signature",
            Some(format!("Bearer {bad_signature}")),
            403,
            INVALID_CHALLENGE,
        ),
        (
            "header expired",
            Some(bearer("066")),
            403,
            INVALID_CHALLENGE,
        ),
        (
            "header not yet valid",
            Some(bearer("064")),
            403,
            INVALID_CHALLENGE,
        ),
        (
            "header unknown kid",
            Some(bearer("034")),
            403,
            INVALID_CHALLENGE,
        ),
    ];
    let mut scenarios: Vec<RequestScenario> = denied
        .into_iter()
        .map(|(name, authorization, status, challenge)| RequestScenario {
            name,
            token_in: TokenIn::Header,
            target: "/api/orders".to_string(),
            headers: authorization
                .map(|value| vec![("Authorization".to_string(), value)])
                .unwrap_or_default(),
            status,
            challenge: Some(challenge),
        })
        .collect();

    let allowed = [
        ("header valid hs256", bearer("900")),
        ("header valid rs256", format!("Bearer {valid_rs256}")),
        ("header valid es256", bearer("909")),
        (
            "header lowercase scheme",
            format!("bearer {}", bearer_token("070")),
        ),
    ];
    scenarios.extend(
        allowed
            .into_iter()
            .map(|(name, authorization)| RequestScenario {
                name,
                token_in: TokenIn::Header,
                target: "/api/orders".to_string(),
                headers: vec![("Authorization".to_string(), authorization)],
                status: 200,
                challenge: None,
            }),
    );
    scenarios
}

fn query_scenarios() -> Vec<RequestScenario> {
    let valid = query_token("914");
    let expired = expired_token();
    let percent_encoded = query_token("077");
    let cases = [
        ("query no query string", "/api/orders".to_string(), 401),
        ("query no parameter", "/api/orders?page=2".to_string(), 401),
        (
            "query empty parameter",
            format!("/api/orders?{QUERY_PARAMETER}="),
            401,
        ),
        (
            "query repeated parameter",
            format!("/api/orders?{QUERY_PARAMETER}={valid}&{QUERY_PARAMETER}={valid}"),
            403,
        ),
        (
            "query expired",
            format!("/api/orders?{QUERY_PARAMETER}={expired}"),
            403,
        ),
        (
            "query valid",
            format!("/api/orders?{QUERY_PARAMETER}={valid}"),
            200,
        ),
        (
            "query percent-encoded",
            format!("/api/orders?page=2&{QUERY_PARAMETER}={percent_encoded}"),
            200,
        ),
    ];
    let mut scenarios: Vec<RequestScenario> = cases
        .into_iter()
        .map(|(name, target, status)| RequestScenario {
            name,
            token_in: TokenIn::Query,
            target,
            headers: Vec::new(),
            status,
            challenge: match status {
                200 => None,
                401 => Some(MISSING_CHALLENGE),
                _ => Some(INVALID_CHALLENGE),
            },
        })
        .collect();
    scenarios.push(RequestScenario {
        name: "query ignores header token",
        token_in: TokenIn::Query,
        target: "/api/orders".to_string(),
        headers: vec![("Authorization".to_string(), bearer("900"))],
        status: 401,
        challenge: Some(MISSING_CHALLENGE),
    });
    scenarios
}

fn policy_document(action: Value) -> String {
    json!({ "policies": { "oauth2-jwt-assertion": [ { "action": action } ] } }).to_string()
}

fn set_token_location(action: &mut Value, token_in: TokenIn) {
    let (name, supplied_in) = match token_in {
        TokenIn::Header => ("Authorization", "HEADER"),
        TokenIn::Query => (QUERY_PARAMETER, "QUERY"),
    };
    action["tokenName"] = json!(name);
    action["tokenSuppliedIn"] = json!(supplied_in);
    action["errorReturnConditions"] = json!({
        "notSupplied": { "returnCode": 401 },
        "noMatch": { "returnCode": 403 },
    });
}

/// Returns the `jwksKeys` array of the control cases' policy.
fn control_keys() -> Value {
    let policy: Value = serde_json::from_str(&Case::find("900").policy(Ports::default()))
        .expect("policy of case 900 is JSON");
    policy["policies"]["oauth2-jwt-assertion"][0]["action"]["jwksKeys"].clone()
}

/// Returns the `Authorization` value of a case's request.
fn bearer(case_id: &str) -> String {
    format!("Bearer {}", bearer_token(case_id))
}

/// Returns the token after the Bearer scheme in a case's `Authorization` header.
fn bearer_token(case_id: &str) -> String {
    let request = Case::find(case_id).request(Ports::default());
    let request = String::from_utf8(request).expect("request.txt is UTF-8");
    request
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix("Authorization:")?.trim();
            let (_scheme, token) = value.split_once(' ')?;
            Some(token.trim().to_string())
        })
        .unwrap_or_else(|| panic!("case {case_id} has no Authorization header"))
}

/// Returns the raw value of the token query parameter in a case's request line.
fn query_token(case_id: &str) -> String {
    let request = Case::find(case_id).request(Ports::default());
    let request = String::from_utf8(request).expect("request.txt is UTF-8");
    let line = request.lines().next().unwrap_or_default();
    let prefix = format!("{QUERY_PARAMETER}=");
    line.split(['?', '&', ' '])
        .find_map(|part| part.strip_prefix(&prefix))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("case {case_id} has no {QUERY_PARAMETER} parameter"))
}

#[cfg(test)]
mod tests {
    use super::{
        INVALID_CHALLENGE, TokenIn, control_jwks, inline_policy, remote_policy, request_scenarios,
    };

    #[test]
    fn scenarios_cover_each_outcome() {
        let scenarios = request_scenarios();
        for status in [200, 401, 403] {
            for token_in in [TokenIn::Header, TokenIn::Query] {
                assert!(
                    scenarios
                        .iter()
                        .any(|s| s.status == status && s.token_in == token_in),
                    "no {token_in:?} scenario with status {status}"
                );
            }
        }
        let mut names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            scenarios.len(),
            "scenario names must be unique"
        );
    }

    #[test]
    fn scenario_request_is_raw_http() {
        let scenario = request_scenarios()
            .into_iter()
            .find(|s| s.name == "header expired")
            .expect("scenario exists");
        let request = String::from_utf8(scenario.request()).expect("UTF-8");
        assert!(
            request.starts_with("GET /api/orders HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\nAuthorization: Bearer eyJ"),
            "{request}"
        );
        assert!(request.ends_with("\r\n\r\n"), "{request}");
        assert_eq!(scenario.challenge, Some(INVALID_CHALLENGE));
    }

    #[test]
    fn policies_are_json() {
        for policy in [
            inline_policy(TokenIn::Header),
            inline_policy(TokenIn::Query),
            remote_policy("http://127.0.0.1:1/jwks.json", "12h"),
            control_jwks(),
        ] {
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&policy);
            assert!(parsed.is_ok(), "{policy}");
        }
        assert!(inline_policy(TokenIn::Query).contains("\"QUERY\""));
        assert!(control_jwks().contains("\"hs256-main\""));
    }
}
