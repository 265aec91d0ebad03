//! Loading a policy from a file: only regular files of bounded size.

use jwtguard::{MAX_POLICY_FILE_BYTES, Options, Verifier};

fn load_error(path: &str) -> String {
    match Verifier::from_file(path, Options::default()) {
        Ok(_) => panic!("{path} should not load"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn device_is_not_read() {
    let message = load_error("/dev/zero");
    assert!(message.contains("is not a regular file"), "{message}");
}

#[test]
fn directory_is_rejected() {
    let message = load_error("/tmp");
    assert!(message.contains("is not a regular file"), "{message}");
}

#[test]
fn oversized_file_is_rejected() {
    let path =
        std::env::temp_dir().join(format!("jwtguard-big-policy-{}.json", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_POLICY_FILE_BYTES + 1).unwrap();
    let message = load_error(path.to_str().unwrap());
    std::fs::remove_file(&path).unwrap();
    assert!(
        message.contains(&format!("is larger than {MAX_POLICY_FILE_BYTES} bytes")),
        "{message}"
    );
}

#[test]
fn missing_file_names_path() {
    let message = load_error("/nonexistent/policy.json");
    assert!(
        message.contains("cannot read /nonexistent/policy.json"),
        "{message}"
    );
}
