//! Every conformance case in `tests/cases/` through real nginx with lua-nginx-module and the
//! jwtguard Lua module, guarded by `verifier:access()` in `access_by_lua_block`.
//!
//! Each case gets its own nginx with one worker. Cases without a key server send their
//! request twice. The remote-key cases run their `scenario.json` steps with the harness's
//! key servers, and the verifier starts fetching from them in `init_worker_by_lua_block`.

mod lua_support;

use jwtguard_harness::{
    Case, EchoUpstream, KeyServer, Ports, inline_case_failures, prepare_servers, run_scenario,
    send_raw,
};

use lua_support::{guarded, start};

#[test]
fn lua_inline_cases_give_expected_status() {
    let upstream = EchoUpstream::start();
    let cases: Vec<Case> = Case::load_all()
        .into_iter()
        .filter(|case| case.scenario.is_none())
        .collect();
    assert!(cases.len() >= 50, "only {} inline cases found", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let nginx = start(guarded(&case.policy(Ports::default()), &upstream));
        failures.extend(inline_case_failures(case, nginx.port()));
    }
    assert!(
        failures.is_empty(),
        "failed cases:\n{}",
        failures.join("\n")
    );
}

/// Runs a remote-key case: key server and attacker server first, then nginx, then the
/// scenario's steps.
fn run_remote_case(id: &str) {
    let case = Case::find(id);
    assert!(case.scenario.is_some(), "case {id} has no scenario.json");
    let key_server = KeyServer::start();
    let attacker = KeyServer::start();
    let ports = Ports {
        port: key_server.port(),
        attacker_port: attacker.port(),
    };
    prepare_servers(&case, &key_server, Some(&attacker));
    let upstream = EchoUpstream::start();
    let nginx = start(guarded(&case.policy(ports), &upstream));

    run_scenario(&case, &key_server, Some(&attacker), |request| {
        send_raw(nginx.port(), request).status
    });
}

#[test]
fn lua_remote_cases_are_covered() {
    let mut remote: Vec<String> = Case::load_all()
        .into_iter()
        .filter(|case| case.scenario.is_some())
        .map(|case| case.id[..3].to_string())
        .collect();
    remote.sort();
    assert_eq!(
        remote,
        ["036", "080", "082", "083", "086"],
        "add a test below for each new remote case"
    );
}

#[test]
fn lua_case_036_jku_header_not_fetched() {
    run_remote_case("036");
}

#[test]
fn lua_case_080_jwks_500_fails_closed() {
    run_remote_case("080");
}

#[test]
fn lua_case_082_jwks_hang_fails_closed() {
    run_remote_case("082");
}

#[test]
fn lua_case_083_key_rotation_refetches() {
    run_remote_case("083");
}

#[test]
fn lua_case_086_unknown_kid_flood_limited() {
    run_remote_case("086");
}
