//! Helpers for the tests that build and run C programs against the library.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Libraries that the Rust static library needs, as `rustc --print
/// native-static-libs` lists them on Linux.
pub const NATIVE_STATIC_LIBS: [&str; 7] = [
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn workspace_root() -> PathBuf {
    crate_dir().join("../..").canonicalize().unwrap()
}

pub fn include_dir() -> PathBuf {
    workspace_root().join("include")
}

/// Returns the Cargo target directory that contains this test binary, which
/// runs from `<target>/<profile>/deps/`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Builds the release `libjwtguard.a` and `libjwtguard.so` once per test
/// binary, because `cargo test` builds neither, and returns their folder.
pub fn release_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = target_dir();
        let mut command = Command::new(cargo);
        command
            .args(["build", "--release", "-p", "jwtguard-ffi", "--target-dir"])
            .arg(&target)
            .current_dir(workspace_root());
        run(&mut command);
        target.join("release")
    })
}

/// Returns the path of a program on PATH, or fails the test with a message
/// that names the Debian package to install.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not on PATH; install the Debian package `{package}` (make deps)")
        })
}

/// Runs a command and returns its output, failing the test with the
/// command line and both streams when it exits with a non-zero status.
pub fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Returns the HS256 control case: its policy file and the token from its
/// request's `Authorization: Bearer` header.
pub fn control_case() -> (PathBuf, String) {
    let case = workspace_root().join("tests/cases/900-control-hs256");
    let request = std::fs::read_to_string(case.join("request.txt")).unwrap();
    let token = request
        .lines()
        .find_map(|line| line.strip_prefix("Authorization: Bearer "))
        .expect("request.txt has an Authorization: Bearer header")
        .trim()
        .to_owned();
    (case.join("policy.json"), token)
}

/// The `k` of the control policy's `hs256-main` key.
pub const CONTROL_HS256_KEY: &str = "YVCEQqx0EVF2YEIf7xy7dXGmp9EZ26e4yAzYorH_qDw";
