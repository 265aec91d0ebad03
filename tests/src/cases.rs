//! Loader and runner for the conformance cases in `tests/cases/`.
//!
//! Each case is a folder `NNN-slug/` with `policy.json`, `request.txt` (a raw HTTP/1.1
//! request), `expected.txt` (the status code) and, for cases that need a key server,
//! `scenario.json` with the steps to run. The texts use the placeholders `PORT` and
//! `ATTACKER_PORT` for the ports of the key servers; [`Ports`] supplies their values.
//!
//! [`run_scenario`] takes the request sender as a closure, so that the NGINX module tests
//! and the Lua module tests share one implementation of every case.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::key_server::{KeyServer, Route};

/// Steps of a case that needs a key server, read from `scenario.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Steps, run in order.
    pub steps: Vec<Step>,
    /// Maximum number of requests the key server may receive over the whole scenario.
    #[serde(default)]
    pub max_jwks_fetches: Option<usize>,
    /// Second server that the engine must not contact more than allowed.
    #[serde(default)]
    pub attacker_server: Option<AttackerServer>,
}

/// One step of a [`Scenario`]: change the served route, wait, then send a request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Route to set on the key server; it stays until a later step changes it.
    #[serde(default)]
    pub serve: Option<Serve>,
    /// Seconds to sleep before the request.
    #[serde(default)]
    pub wait_s: Option<f64>,
    /// Name of the request file in the case folder.
    #[serde(default)]
    pub request: Option<String>,
    /// Expected status code of the request.
    #[serde(default)]
    pub expect: Option<u16>,
    /// Maximum seconds the request may take.
    #[serde(default)]
    pub max_response_s: Option<f64>,
}

/// Route that a [`Step`] sets on the key server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// Request path, such as `/jwks.json`.
    pub path: String,
    /// Status code of the response.
    pub status: u16,
    /// `Content-Type` of the response.
    pub content_type: String,
    /// Name of the body file in the case folder; it is served verbatim.
    pub body_file: String,
    /// Seconds the server waits before it sends the response.
    #[serde(default)]
    pub delay_s: f64,
}

/// Server that a malicious token points at, described in a [`Scenario`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackerServer {
    /// Address as written in the case, such as `127.0.0.1:ATTACKER_PORT`; informational.
    pub listen: String,
    /// Request path of the attacker's key set.
    pub path: String,
    /// Name of the body file in the case folder, served as `application/json`.
    pub body_file: String,
    /// Maximum number of requests the server may receive.
    pub max_fetches: usize,
}

/// Values for the `PORT` and `ATTACKER_PORT` placeholders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    /// Port of the key server.
    pub port: u16,
    /// Port of the attacker server.
    pub attacker_port: u16,
}

/// One conformance case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Folder name, such as `083-jwks-uri-key-rotation`.
    pub id: String,
    /// Path of the case folder.
    pub dir: PathBuf,
    /// Expected status code of the (last) request.
    pub expected_status: u16,
    /// Steps from `scenario.json`, when the case has one.
    pub scenario: Option<Scenario>,
    policy_template: String,
}

impl Case {
    /// Returns the folder the cases are read from: `tests/cases/` of this crate.
    pub fn cases_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
    }

    /// Loads every case from [`Case::cases_dir`], sorted by id.
    ///
    /// # Panics
    ///
    /// Panics when the folder is missing or has no case, or when any case is invalid; the
    /// message lists every invalid case.
    pub fn load_all() -> Vec<Case> {
        let dir = Case::cases_dir();
        let cases = Case::load_dir(&dir).unwrap_or_else(|error| panic!("{error}"));
        assert!(
            !cases.is_empty(),
            "no conformance cases found in {}",
            dir.display()
        );
        cases
    }

    /// Loads the case whose id is `id` or starts with `id-`, such as `083`.
    ///
    /// # Panics
    ///
    /// Panics as [`Case::load_all`] does, or when no case matches.
    pub fn find(id: &str) -> Case {
        let prefix = format!("{id}-");
        Case::load_all()
            .into_iter()
            .find(|case| case.id == id || case.id.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no conformance case with id {id:?}"))
    }

    /// Loads every subfolder of `dir` as a case, sorted by id.
    pub fn load_dir(dir: &Path) -> Result<Vec<Case>, String> {
        let entries = fs::read_dir(dir)
            .map_err(|error| format!("failed to read cases folder {}: {error}", dir.display()))?;
        let mut case_dirs: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_dir())
            .collect();
        case_dirs.sort();
        let (cases, errors): (Vec<_>, Vec<_>) = case_dirs
            .iter()
            .map(|path| Case::load(path))
            .partition(Result::is_ok);
        if !errors.is_empty() {
            let errors: Vec<String> = errors.into_iter().filter_map(Result::err).collect();
            return Err(format!("invalid conformance cases:\n{}", errors.join("\n")));
        }
        Ok(cases.into_iter().filter_map(Result::ok).collect())
    }

    /// Loads one case folder and checks that its scenario is consistent and that every
    /// file it names exists.
    pub fn load(dir: &Path) -> Result<Case, String> {
        let id = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fail = |message: String| format!("case {id}: {message}");
        let expected = read_text(&dir.join("expected.txt")).map_err(fail)?;
        let expected_status = expected.trim().parse().map_err(|_| {
            fail(format!(
                "invalid status {:?} in expected.txt",
                expected.trim()
            ))
        })?;
        let case = Case {
            id: id.clone(),
            dir: dir.to_path_buf(),
            expected_status,
            scenario: read_scenario(dir).map_err(fail)?,
            policy_template: read_text(&dir.join("policy.json")).map_err(fail)?,
        };
        case.validate().map_err(fail)?;
        Ok(case)
    }

    /// Returns `policy.json` with the placeholders replaced.
    pub fn policy(&self, ports: Ports) -> String {
        let policy = substitute_ports(self.policy_template.as_bytes(), ports);
        String::from_utf8(policy).expect("policy.json was read as UTF-8")
    }

    /// Returns `request.txt` with the placeholders replaced.
    pub fn request(&self, ports: Ports) -> Vec<u8> {
        self.request_file("request.txt", ports)
    }

    /// Returns a request file of the case folder with the placeholders replaced.
    ///
    /// # Panics
    ///
    /// Panics when the file cannot be read.
    pub fn request_file(&self, name: &str, ports: Ports) -> Vec<u8> {
        substitute_ports(&self.read_file(name), ports)
    }

    /// Returns a file of the case folder as stored.
    ///
    /// # Panics
    ///
    /// Panics when the file cannot be read.
    pub fn read_file(&self, name: &str) -> Vec<u8> {
        let path = self.dir.join(name);
        fs::read(&path).unwrap_or_else(|error| {
            panic!(
                "case {}: failed to read {}: {error}",
                self.id,
                path.display()
            )
        })
    }

    fn validate(&self) -> Result<(), String> {
        let mut files = vec!["request.txt".to_string()];
        if let Some(scenario) = &self.scenario {
            validate_steps(scenario, self.expected_status)?;
            files.extend(scenario_files(scenario));
        }
        match files.iter().find(|name| !self.dir.join(name).is_file()) {
            Some(missing) => Err(format!("missing file {missing}")),
            None => Ok(()),
        }
    }
}

/// Runs a case against a request sender, with `key_server` serving the key set routes and
/// `attacker_server` the attacker's route.
///
/// `send` sends one raw request to the host under test (the NGINX module or the Lua module)
/// and returns the status code. Without a scenario, the case's request is sent twice and
/// both responses must have the expected status, which shows state kept between requests.
/// With a scenario, the steps run once, in order, and afterwards the request counts of
/// both servers are checked against the scenario's limits. Counts include requests made
/// before the call, such as key set fetches while nginx started.
///
/// # Panics
///
/// Panics on the first failed check, with the case id and step in the message, and when
/// the scenario has an attacker server but `attacker_server` is `None`.
pub fn run_scenario(
    case: &Case,
    key_server: &KeyServer,
    attacker_server: Option<&KeyServer>,
    send: impl Fn(&[u8]) -> u16,
) {
    let ports = Ports {
        port: key_server.port(),
        attacker_port: attacker_server.map_or(0, KeyServer::port),
    };
    let Some(scenario) = &case.scenario else {
        let request = case.request(ports);
        for attempt in 1..=2 {
            let status = send(&request);
            assert_eq!(
                status, case.expected_status,
                "case {}: status of request {attempt} of 2",
                case.id
            );
        }
        return;
    };
    prepare_servers(case, key_server, attacker_server);
    for (index, step) in scenario.steps.iter().enumerate() {
        run_step(case, index + 1, step, key_server, ports, &send);
    }
    check_fetch_limits(case, scenario, key_server, attacker_server);
}

/// Sets the attacker server's route and the key server route of the first step that
/// serves one. Call it before the host starts when the host may fetch keys at startup;
/// [`run_scenario`] calls it again, which leaves the request counts unchanged.
///
/// # Panics
///
/// Panics when the scenario has an attacker server but `attacker_server` is `None`.
pub fn prepare_servers(case: &Case, key_server: &KeyServer, attacker_server: Option<&KeyServer>) {
    let Some(scenario) = &case.scenario else {
        return;
    };
    if let Some(attacker) = &scenario.attacker_server {
        let server = attacker_server
            .unwrap_or_else(|| panic!("case {}: the scenario needs an attacker server", case.id));
        server.set_route(
            &attacker.path,
            Route::json(case.read_file(&attacker.body_file)),
        );
    }
    if let Some(serve) = scenario.steps.iter().find_map(|step| step.serve.as_ref()) {
        key_server.set_route(&serve.path, serve_route(case, serve));
    }
}

fn run_step(
    case: &Case,
    number: usize,
    step: &Step,
    key_server: &KeyServer,
    ports: Ports,
    send: &impl Fn(&[u8]) -> u16,
) {
    if let Some(serve) = &step.serve {
        key_server.set_route(&serve.path, serve_route(case, serve));
    }
    if let Some(wait) = step.wait_s {
        thread::sleep(Duration::from_secs_f64(wait));
    }
    let (Some(request_file), Some(expect)) = (&step.request, step.expect) else {
        return;
    };
    let request = case.request_file(request_file, ports);
    let started = Instant::now();
    let status = send(&request);
    let elapsed = started.elapsed();
    assert_eq!(
        status, expect,
        "case {}, step {number} ({request_file}): status",
        case.id
    );
    if let Some(max_response_s) = step.max_response_s {
        assert!(
            elapsed.as_secs_f64() <= max_response_s,
            "case {}, step {number} ({request_file}): response took {:.1} s, \
             limit {max_response_s} s",
            case.id,
            elapsed.as_secs_f64()
        );
    }
}

fn check_fetch_limits(
    case: &Case,
    scenario: &Scenario,
    key_server: &KeyServer,
    attacker_server: Option<&KeyServer>,
) {
    if let Some(max_fetches) = scenario.max_jwks_fetches {
        let fetches = key_server.total_requests();
        assert!(
            fetches <= max_fetches,
            "case {}: key server received {fetches} requests, limit {max_fetches}",
            case.id
        );
    }
    if let (Some(attacker), Some(server)) = (&scenario.attacker_server, attacker_server) {
        let fetches = server.total_requests();
        assert!(
            fetches <= attacker.max_fetches,
            "case {}: attacker server received {fetches} requests, limit {}",
            case.id,
            attacker.max_fetches
        );
    }
}

fn serve_route(case: &Case, serve: &Serve) -> Route {
    let body = case.read_file(&serve.body_file);
    Route::new(serve.status, &serve.content_type, body)
        .with_delay(Duration::from_secs_f64(serve.delay_s))
}

/// Replaces each `PORT` and `ATTACKER_PORT` that is not next to a base64url character. A base64url token can contain the letters `PORT` by chance; the
/// rule leaves those alone.
pub fn substitute_ports(text: &[u8], ports: Ports) -> Vec<u8> {
    let replacements = [
        (b"ATTACKER_PORT".as_slice(), ports.attacker_port.to_string()),
        (b"PORT".as_slice(), ports.port.to_string()),
    ];
    let mut output = Vec::with_capacity(text.len());
    let mut index = 0;
    'scan: while index < text.len() {
        let before_ok = index == 0 || !is_base64url(text[index - 1]);
        for (name, value) in &replacements {
            let end = index + name.len();
            let after_ok = end >= text.len() || !is_base64url(text[end]);
            if before_ok && text[index..].starts_with(name) && after_ok {
                output.extend_from_slice(value.as_bytes());
                index = end;
                continue 'scan;
            }
        }
        output.push(text[index]);
        index += 1;
    }
    output
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

fn read_scenario(dir: &Path) -> Result<Option<Scenario>, String> {
    let path = dir.join("scenario.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(&path)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| format!("invalid scenario.json: {error}"))
}

fn validate_steps(scenario: &Scenario, expected_status: u16) -> Result<(), String> {
    for (index, step) in scenario.steps.iter().enumerate() {
        if step.request.is_some() != step.expect.is_some() {
            let number = index + 1;
            return Err(format!(
                "step {number} needs both `request` and `expect`, or neither"
            ));
        }
    }
    let last_expect = scenario.steps.iter().rev().find_map(|step| step.expect);
    match last_expect {
        Some(status) if status == expected_status => Ok(()),
        Some(status) => Err(format!(
            "the last step expects {status} but expected.txt says {expected_status}"
        )),
        None => Err("scenario.json has no step with a request".to_string()),
    }
}

fn scenario_files(scenario: &Scenario) -> Vec<String> {
    let steps = scenario.steps.iter();
    let requests = steps.clone().filter_map(|step| step.request.clone());
    let bodies = steps.filter_map(|step| step.serve.as_ref().map(|serve| serve.body_file.clone()));
    let attacker = scenario
        .attacker_server
        .iter()
        .map(|attacker| attacker.body_file.clone());
    requests.chain(bodies).chain(attacker).collect()
}

fn read_text(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|error| format!("failed to read {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::{Case, Ports, prepare_servers, run_scenario, substitute_ports};
    use crate::client::send_raw;
    use crate::key_server::KeyServer;

    const PORTS: Ports = Ports {
        port: 8080,
        attacker_port: 9090,
    };

    const SCENARIO: &str = r#"{
        "steps": [
            {"serve": {"path": "/jwks.json", "status": 200, "content_type": "application/json",
                       "body_file": "one.json", "delay_s": 0},
             "request": "request.txt", "expect": 200},
            {"serve": {"path": "/jwks.json", "status": 503, "content_type": "text/plain",
                       "body_file": "two.txt", "delay_s": 0},
             "wait_s": 0.01, "request": "request.txt", "expect": 503, "max_response_s": 5}
        ],
        "max_jwks_fetches": MAX
    }"#;

    /// Writes a case whose request is a GET for the key server's `/jwks.json`, so that a
    /// sender that forwards the request reports the status the key server served.
    fn write_case(dir: &Path, max_fetches: usize) {
        let request = "GET /jwks.json HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n\r\n";
        let policy = r#"{"jwksURI": "http://127.0.0.1:PORT/jwks.json"}"#;
        let scenario = SCENARIO.replace("MAX", &max_fetches.to_string());
        for (name, contents) in [
            ("policy.json", policy),
            ("request.txt", request),
            ("expected.txt", "503\n"),
            ("scenario.json", scenario.as_str()),
            ("one.json", r#"{"keys":[]}"#),
            ("two.txt", "unavailable"),
        ] {
            fs::write(dir.join(name), contents).expect("write case file");
        }
    }

    fn temp_case(max_fetches: usize) -> (tempfile::TempDir, Case) {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("999-fixture");
        fs::create_dir(&dir).expect("case dir");
        write_case(&dir, max_fetches);
        let case = Case::load(&dir).expect("valid fixture case");
        (root, case)
    }

    #[test]
    fn substitute_ports_replaces_standalone_names() {
        let text = b"http://127.0.0.1:PORT/a http://127.0.0.1:ATTACKER_PORT/b";
        let output = substitute_ports(text, PORTS);
        assert_eq!(
            output,
            b"http://127.0.0.1:8080/a http://127.0.0.1:9090/b".to_vec()
        );
    }

    #[test]
    fn substitute_ports_skips_base64url_text() {
        let text = b"eyJPORTx.aPORT.PORT_a.-PORT PORT";
        let output = substitute_ports(text, PORTS);
        assert_eq!(output, b"eyJPORTx.aPORT.PORT_a.-PORT 8080".to_vec());
    }

    #[test]
    fn load_all_reads_conformance_cases() {
        let cases = Case::load_all();
        assert!(!cases.is_empty());
        let ids: Vec<&str> = cases.iter().map(|case| case.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "case ids must be unique and sorted");
        for case in &cases {
            let policy = case.policy(PORTS);
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&policy);
            assert!(parsed.is_ok(), "case {}: policy.json is not JSON", case.id);
            assert!(
                !policy.contains(":PORT/"),
                "case {}: placeholder left",
                case.id
            );
            let request = case.request(PORTS);
            assert!(
                request.ends_with(b"\r\n\r\n"),
                "case {}: request end",
                case.id
            );
            assert!(
                matches!(case.expected_status, 200 | 401 | 403),
                "case {}",
                case.id
            );
        }
    }

    #[test]
    fn find_returns_remote_key_set_case() {
        let case = Case::find("086");
        assert!(case.id.starts_with("086-"), "{}", case.id);
        let scenario = case.scenario.expect("case 086 has a scenario");
        assert_eq!(scenario.max_jwks_fetches, Some(3));
        assert_eq!(scenario.steps.len(), 21);
    }

    #[test]
    fn load_reads_fixture_case() {
        let (_root, case) = temp_case(2);
        assert_eq!(case.id, "999-fixture");
        assert_eq!(case.expected_status, 503);
        assert_eq!(
            case.policy(PORTS),
            r#"{"jwksURI": "http://127.0.0.1:8080/jwks.json"}"#
        );
        let scenario = case.scenario.as_ref().expect("scenario");
        assert_eq!(scenario.steps.len(), 2);
        assert_eq!(scenario.max_jwks_fetches, Some(2));
        assert_eq!(scenario.steps[1].wait_s, Some(0.01));
    }

    #[test]
    fn load_rejects_inconsistent_case() {
        let (root, _case) = temp_case(2);
        let dir = root.path().join("999-fixture");
        fs::write(dir.join("expected.txt"), "200\n").expect("write");
        let error = Case::load(&dir).expect_err("expected.txt differs from the last step");
        assert!(error.contains("the last step expects 503"), "{error}");

        fs::write(dir.join("expected.txt"), "503\n").expect("write");
        fs::remove_file(dir.join("two.txt")).expect("remove");
        let error = Case::load(&dir).expect_err("body file missing");
        assert!(error.contains("missing file two.txt"), "{error}");
    }

    #[test]
    fn run_scenario_sets_routes_and_checks_statuses() {
        let (_root, case) = temp_case(2);
        let key_server = KeyServer::start();
        prepare_servers(&case, &key_server, None);
        assert_eq!(key_server.total_requests(), 0);

        let port = key_server.port();
        run_scenario(&case, &key_server, None, |request| {
            send_raw(port, request).status
        });
        assert_eq!(key_server.request_count("/jwks.json"), 2);
    }

    #[test]
    #[should_panic(expected = "key server received 2 requests, limit 1")]
    fn run_scenario_enforces_fetch_limit() {
        let (_root, case) = temp_case(1);
        let key_server = KeyServer::start();
        let port = key_server.port();
        run_scenario(&case, &key_server, None, |request| {
            send_raw(port, request).status
        });
    }

    #[test]
    #[should_panic(expected = "step 1 (request.txt): status")]
    fn run_scenario_reports_wrong_status() {
        let (_root, case) = temp_case(2);
        let key_server = KeyServer::start();
        run_scenario(&case, &key_server, None, |_| 403);
    }
}
