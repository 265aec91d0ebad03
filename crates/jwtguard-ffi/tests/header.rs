//! Checks that the committed include/jwtguard.h is what cbindgen generates
//! from this crate. `make header` regenerates it by running this test with
//! JWTGUARD_UPDATE_HEADER=1.

use std::path::{Path, PathBuf};

fn header_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/jwtguard.h")
}

/// Returns the version macros, taken from this crate's Cargo.toml version.
fn version_macros() -> String {
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
    let number = major * 10000 + minor * 100 + patch;
    format!(
        "#define JWTGUARD_VERSION_MAJOR {major}\n\
         #define JWTGUARD_VERSION_MINOR {minor}\n\
         #define JWTGUARD_VERSION_PATCH {patch}\n\
         /* MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons. */\n\
         #define JWTGUARD_VERSION_NUMBER {number}"
    )
}

fn generate() -> String {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let mut config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn header_is_up_to_date() {
    let generated = generate();
    let path = header_path();
    if std::env::var_os("JWTGUARD_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("include/jwtguard.h is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    let line = committed
        .lines()
        .zip(generated.lines())
        .position(|(old, new)| old != new)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
    panic!(
        "include/jwtguard.h differs from cbindgen's output for crates/jwtguard-ffi from line {}; \
         run `make header` and commit the result",
        line + 1
    );
}

#[test]
fn version_number_formula() {
    let macros = version_macros();
    let expected = format!(
        "#define JWTGUARD_VERSION_NUMBER {}",
        env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap() * 10000
            + env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap() * 100
            + env!("CARGO_PKG_VERSION_PATCH").parse::<u32>().unwrap()
    );
    assert!(macros.contains(&expected), "{macros}");
}
