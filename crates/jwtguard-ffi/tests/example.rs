//! Installs the library with `make install` into a temporary PREFIX, builds
//! examples/verify.c through pkg-config, and runs it on the HS256 control
//! case.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn install(prefix: &Path) {
    let make = require_tool("make", "make");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(make)
        .arg("-C")
        .arg(workspace_root())
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("TARGET_DIR={}", target_dir().display()))
        .arg(format!("CARGO={cargo}")));
}

fn pkg_config_flags(prefix: &Path) -> Vec<String> {
    let pkg_config = require_tool("pkg-config", "pkg-config");
    let output = run(Command::new(pkg_config)
        .args(["--cflags", "--libs", "jwtguard"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn run_example(exe: &Path, prefix: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .output()
        .unwrap()
}

#[test]
fn verify_example_through_pkg_config() {
    let cc = require_tool("cc", "build-essential");
    let prefix = tempfile::tempdir().unwrap();
    install(prefix.path());
    for file in [
        "lib/libjwtguard.a",
        "lib/libjwtguard.so",
        "include/jwtguard.h",
    ] {
        assert!(
            prefix.path().join(file).is_file(),
            "make install did not install {file}"
        );
    }
    let pc = std::fs::read_to_string(prefix.path().join("lib/pkgconfig/jwtguard.pc")).unwrap();
    assert!(
        pc.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{pc}"
    );

    let exe = prefix.path().join("verify");
    run(Command::new(cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
        .arg(crate_dir().join("examples/verify.c"))
        .arg("-o")
        .arg(&exe)
        .args(pkg_config_flags(prefix.path())));

    let (policy, token) = control_case();
    let policy = policy.to_str().unwrap();

    let allowed = run_example(&exe, prefix.path(), &[policy, &token]);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    assert_eq!(String::from_utf8_lossy(&allowed.stdout), "allow\n");

    let tampered = format!("{token}x");
    let denied = run_example(&exe, prefix.path(), &[policy, &tampered]);
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    let stdout = String::from_utf8_lossy(&denied.stdout);
    assert!(stdout.starts_with("deny 403 bad_signature: "), "{stdout}");

    let missing = run_example(&exe, prefix.path(), &["/nonexistent/policy.json", &token]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("/nonexistent/policy.json"), "{stderr}");

    let usage = run_example(&exe, prefix.path(), &[policy]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}
