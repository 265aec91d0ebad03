//! Every conformance case in `tests/cases/` through real nginx with the jwtguard module.
//!
//! Each case gets its own nginx, one worker, with the case's policy guarding the location
//! the case's request reaches. Cases without a key server send their request twice; the
//! remote-key cases run their `scenario.json` steps with the harness's key servers.

mod common;

use jwtguard_harness::{
    Case, KeyServer, Nginx, Ports, inline_case_failures, prepare_servers, run_scenario, send_raw,
};

use common::guarded;

const REMOTE_CASES: [&str; 5] = ["036", "080", "082", "083", "086"];

/// Starts nginx guarding `/` with the case's policy, its `PORT` placeholders replaced.
fn start_for_case(case: &Case, ports: Ports, upstream: &jwtguard_harness::EchoUpstream) -> Nginx {
    guarded(&case.policy(ports), upstream).start()
}

#[test]
fn inline_cases_give_expected_status() {
    let upstream = jwtguard_harness::EchoUpstream::start();
    let mut failures = Vec::new();
    let cases: Vec<Case> = Case::load_all()
        .into_iter()
        .filter(|case| case.scenario.is_none())
        .collect();
    assert!(cases.len() >= 50, "only {} inline cases found", cases.len());

    for case in &cases {
        let nginx = start_for_case(case, Ports::default(), &upstream);
        failures.extend(inline_case_failures(case, nginx.port()));
    }
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}

#[test]
fn remote_cases_are_the_known_five() {
    let mut remote: Vec<String> = Case::load_all()
        .into_iter()
        .filter(|case| case.scenario.is_some())
        .map(|case| case.id[..3].to_string())
        .collect();
    remote.sort();
    assert_eq!(remote, REMOTE_CASES, "add a test for each new remote case");
}

/// Runs a remote-key case: key server (and attacker server) first, then nginx, then the
/// scenario's steps.
fn run_remote_case(id: &str) {
    let case = Case::find(id);
    let key_server = KeyServer::start();
    let attacker = KeyServer::start();
    let ports = Ports {
        port: key_server.port(),
        attacker_port: attacker.port(),
    };
    prepare_servers(&case, &key_server, Some(&attacker));
    let upstream = jwtguard_harness::EchoUpstream::start();
    let nginx = start_for_case(&case, ports, &upstream);

    run_scenario(&case, &key_server, Some(&attacker), |request| {
        send_raw(nginx.port(), request).status
    });
}

#[test]
fn case_036_jku_header_not_fetched() {
    run_remote_case("036");
}

#[test]
fn case_080_jwks_500_fails_closed() {
    run_remote_case("080");
}

#[test]
fn case_082_jwks_hang_fails_closed() {
    run_remote_case("082");
}

#[test]
fn case_083_key_rotation_refetches() {
    run_remote_case("083");
}

#[test]
fn case_086_unknown_kid_flood_limited() {
    run_remote_case("086");
}
