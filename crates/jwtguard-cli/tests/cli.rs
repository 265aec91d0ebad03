//! The command-line tool on conformance case material.

use std::process::{Command, Output};

use jwtguard_harness::{Case, Ports};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jwtguard"))
        .args(args)
        .output()
        .expect("jwtguard runs")
}

fn case_files(id: &str) -> (String, String) {
    let case = Case::find(id);
    let request = String::from_utf8(case.request(Ports {
        port: 0,
        attacker_port: 0,
    }))
    .unwrap();
    let header = request
        .lines()
        .find_map(|line| line.strip_prefix("Authorization: "))
        .expect("case has an Authorization header")
        .to_owned();
    (case.dir.join("policy.json").display().to_string(), header)
}

#[test]
fn check_accepts_valid_policy() {
    let (policy, _) = case_files("900");
    let output = run(&["check", &policy]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("valid; token in header \"Authorization\"")
    );
}

#[test]
fn check_rejects_bad_policy() {
    let dir = std::env::temp_dir().join(format!("jwtguard-cli-{}.json", std::process::id()));
    std::fs::write(
        &dir,
        r#"{"action": {"jwksKeys": [], "tokenSuppliedIn": "BODY"}}"#,
    )
    .unwrap();
    let output = run(&["check", dir.to_str().unwrap()]);
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("action.tokenSuppliedIn: \"BODY\" is not supported"),
        "{stderr}"
    );
}

#[test]
fn verify_allows_and_prints_claims() {
    let (policy, header) = case_files("900");
    let output = run(&["verify", "--source", &policy, &header]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decision: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["decision"], "allow");
    assert_eq!(decision["alg"], "HS256");
    assert_eq!(decision["claims"]["sub"], "user-123");
}

#[test]
fn verify_denies_expired_token() {
    let (policy, header) = case_files("066");
    let token = header.strip_prefix("Bearer ").unwrap();
    let output = run(&["verify", &policy, token]);
    assert_eq!(output.status.code(), Some(1));
    let decision: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["reason"], "expired");
    assert_eq!(decision["status"], 403);
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains(token),
        "output leaks the token"
    );
}

#[test]
fn verify_suggests_source_for_header_value() {
    let (policy, header) = case_files("900");
    let output = run(&["verify", &policy, &header]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("add --source"));
}

#[test]
fn verify_reports_bad_leeway() {
    let (policy, header) = case_files("900");
    let output = run(&["verify", "--leeway", "5x", &policy, &header]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--leeway"));
}
