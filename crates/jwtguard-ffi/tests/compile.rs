//! Compiles include/jwtguard.h as strict C11 and as C++17, and runs the
//! C++ program against libjwtguard.a.

mod common;

use std::process::Command;

use common::*;

const WARNINGS: [&str; 4] = ["-Wall", "-Wextra", "-Werror", "-pedantic"];

#[test]
fn header_compiles_as_c11() {
    let cc = require_tool("cc", "build-essential");
    let out = std::env::temp_dir().join(format!("jwtguard-header-c11-{}.o", std::process::id()));
    run(Command::new(cc)
        .arg("-std=c11")
        .args(WARNINGS)
        .arg("-I")
        .arg(include_dir())
        .arg("-c")
        .arg(crate_dir().join("tests/c/header_c11.c"))
        .arg("-o")
        .arg(&out));
    let _ = std::fs::remove_file(out);
}

#[test]
fn header_compiles_as_cxx17() {
    let cxx = require_tool("g++", "g++");
    let out = target_dir().join("c-tests");
    std::fs::create_dir_all(&out).unwrap();
    let exe = out.join("cxx_test");
    run(Command::new(cxx)
        .arg("-std=c++17")
        .args(WARNINGS)
        .arg("-I")
        .arg(include_dir())
        .arg(crate_dir().join("tests/c/cxx_test.cpp"))
        .arg(release_lib_dir().join("libjwtguard.a"))
        .args(NATIVE_STATIC_LIBS)
        .arg("-o")
        .arg(&exe));
    let output = run(&mut Command::new(&exe));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.trim(),
        format!("jwtguard/{}", env!("CARGO_PKG_VERSION"))
    );
}

/// Compiles every C block of the repository README and of this crate's
/// README, so the printed examples stay valid.
#[test]
fn readme_c_examples_compile() {
    let cc = require_tool("cc", "build-essential");
    for readme in [
        crate_dir().join("../../README.md"),
        crate_dir().join("README.md"),
    ] {
        let text = std::fs::read_to_string(&readme).unwrap();
        let blocks: Vec<&str> = text
            .split("```c\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .collect();
        assert!(!blocks.is_empty(), "{} has no C example", readme.display());
        for (index, block) in blocks.iter().enumerate() {
            let name = format!("jwtguard-readme-{}-{index}", std::process::id());
            let source = std::env::temp_dir().join(format!("{name}.c"));
            let object = std::env::temp_dir().join(format!("{name}.o"));
            std::fs::write(&source, block).unwrap();
            run(Command::new(&cc)
                .arg("-std=c11")
                .args(WARNINGS)
                .arg("-I")
                .arg(include_dir())
                .arg("-c")
                .arg(&source)
                .arg("-o")
                .arg(&object));
            let _ = std::fs::remove_file(source);
            let _ = std::fs::remove_file(object);
        }
    }
}
