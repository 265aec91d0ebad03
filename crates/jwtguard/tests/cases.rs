//! Conformance cases run against the core: the policy, the raw request and
//! the expected status of each case, and the remote-key scenarios against a
//! real key server on 127.0.0.1.

mod common;

use jwtguard::{Options, Verifier};
use jwtguard_harness::{Case, KeyServer, Ports, prepare_servers, run_scenario};

fn run_case(case: &Case) {
    let key_server = KeyServer::start();
    let attacker = case
        .scenario
        .as_ref()
        .and_then(|scenario| scenario.attacker_server.as_ref())
        .map(|_| KeyServer::start());
    let ports = Ports {
        port: key_server.port(),
        attacker_port: attacker.as_ref().map_or(0, KeyServer::port),
    };
    prepare_servers(case, &key_server, attacker.as_ref());
    let loaded = Verifier::from_json(case.policy(ports).as_bytes(), Options::default())
        .unwrap_or_else(|err| panic!("case {}: policy does not load: {err}", case.id));
    let verifier = loaded.verifier;
    verifier.start().expect("fetcher starts");
    run_scenario(case, &key_server, attacker.as_ref(), |request| {
        let source = common::request_source(&verifier, request);
        common::status_of(&common::decide_blocking(&verifier, source.as_deref()))
    });
    verifier.stop();
}

#[test]
fn local_cases_match_expected_status() {
    let cases: Vec<Case> = Case::load_all()
        .into_iter()
        .filter(|case| case.scenario.is_none())
        .collect();
    assert!(cases.len() >= 50, "only {} local cases found", cases.len());
    for case in &cases {
        run_case(case);
    }
}

#[test]
fn remote_cases_match_expected_status() {
    let cases: Vec<Case> = Case::load_all()
        .into_iter()
        .filter(|case| case.scenario.is_some())
        .collect();
    assert!(cases.len() >= 5, "only {} remote cases found", cases.len());
    std::thread::scope(|scope| {
        for case in &cases {
            scope.spawn(move || run_case(case));
        }
    });
}
