//! Checks that libjwtguard.so exports exactly the functions that
//! include/jwtguard.h declares, and nothing else.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

/// Returns the names of the functions the header declares: each
/// `jwtguard_...` identifier directly followed by `(`.
fn declared_functions() -> BTreeSet<String> {
    let header = std::fs::read_to_string(include_dir().join("jwtguard.h")).unwrap();
    let mut names = BTreeSet::new();
    let mut rest = header.as_str();
    while let Some(start) = rest.find("jwtguard_") {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(candidate.len());
        if candidate[end..].starts_with('(') {
            names.insert(candidate[..end].to_owned());
        }
        rest = &candidate[end..];
    }
    names
}

fn exported_symbols() -> BTreeSet<String> {
    let nm = require_tool("nm", "binutils");
    let library = release_lib_dir().join("libjwtguard.so");
    let output = run(Command::new(nm)
        .args(["-D", "--defined-only"])
        .arg(&library));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .map(str::to_owned)
        .collect()
}

#[test]
fn shared_library_exports_header_functions() {
    let declared = declared_functions();
    let exported = exported_symbols();
    assert!(
        declared.len() > 40,
        "too few functions parsed from the header: {declared:?}"
    );
    let missing: Vec<_> = declared.difference(&exported).collect();
    let extra: Vec<_> = exported.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "declared in jwtguard.h but not exported: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "exported but not declared in jwtguard.h: {extra:?}"
    );
}
