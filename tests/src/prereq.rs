//! Paths of the programs and modules the tests need, and the environment variables that
//! override them.

use std::env;
use std::path::{Path, PathBuf};

/// Environment variable that selects the nginx binary.
pub const NGINX_BINARY_VAR: &str = "JWTGUARD_TEST_NGINX_BINARY";
/// Environment variable that selects the built jwtguard NGINX module.
pub const MODULE_VAR: &str = "JWTGUARD_TEST_MODULE";
/// Environment variable that selects the built jwtguard Lua module.
pub const LUA_BINDING_VAR: &str = "JWTGUARD_TEST_LUA_BINDING";
/// Environment variable that selects the directory of the system's dynamic nginx modules.
pub const NGINX_MODULES_DIR_VAR: &str = "JWTGUARD_TEST_NGINX_MODULES_DIR";
/// Environment variable that keeps each test's nginx prefix directory when set to `1`.
pub const LEAVE_VAR: &str = "JWTGUARD_TEST_LEAVE";
/// Environment variable that prints every test's nginx error log when set to `1`.
pub const CATLOG_VAR: &str = "JWTGUARD_TEST_CATLOG";

const DEFAULT_NGINX_BINARY: &str = "/usr/sbin/nginx";
const DEFAULT_NGINX_MODULES_DIR: &str = "/usr/lib/nginx/modules";

/// A file the tests cannot run without, with the hint printed when it is missing.
#[derive(Debug, Clone)]
pub struct Prerequisite {
    /// Path of the file.
    pub path: PathBuf,
    /// Kind of file, for the failure message.
    pub description: &'static str,
    /// How to get the file, for the failure message.
    pub hint: &'static str,
}

impl Prerequisite {
    /// Panics with a message that names the file and how to get it, unless it exists.
    ///
    /// A missing prerequisite fails the test instead of skipping it, so that a test run
    /// without nginx or without the module never reports success.
    pub fn require(&self) {
        assert!(
            self.path.is_file(),
            "{} not found at {}: {}",
            self.description,
            self.path.display(),
            self.hint
        );
    }
}

/// Returns the root of the Cargo workspace that contains this crate.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("the harness crate sits one level below the workspace root")
        .to_path_buf()
}

/// Returns the nginx binary: `$JWTGUARD_TEST_NGINX_BINARY`, by default `/usr/sbin/nginx`.
pub fn nginx_binary() -> Prerequisite {
    Prerequisite {
        path: env_path(NGINX_BINARY_VAR).unwrap_or_else(|| DEFAULT_NGINX_BINARY.into()),
        description: "nginx binary",
        hint: "install it with `apt-get install nginx` or set JWTGUARD_TEST_NGINX_BINARY",
    }
}

/// Returns the built jwtguard NGINX module: `$JWTGUARD_TEST_MODULE`, by default
/// `<workspace>/target/nginx/ngx_http_jwtguard_module.so`.
pub fn module_path() -> Prerequisite {
    let default = workspace_root().join("target/nginx/ngx_http_jwtguard_module.so");
    Prerequisite {
        path: env_path(MODULE_VAR).unwrap_or(default),
        description: "jwtguard NGINX module",
        hint: "build it with `make module` or set JWTGUARD_TEST_MODULE to the .so file",
    }
}

/// Returns the built jwtguard Lua module: `$JWTGUARD_TEST_LUA_BINDING`, by default
/// `<workspace>/target/lua/jwtguard.so`.
pub fn lua_binding_path() -> Prerequisite {
    let default = workspace_root().join("target/lua/jwtguard.so");
    Prerequisite {
        path: env_path(LUA_BINDING_VAR).unwrap_or(default),
        description: "jwtguard Lua module",
        hint: "build it with `make lua` or set JWTGUARD_TEST_LUA_BINDING to the .so file",
    }
}

/// Returns the modules that `lua-nginx-module` needs, in load order: the NDK module, then
/// the Lua module. Both are looked up in `$JWTGUARD_TEST_NGINX_MODULES_DIR`, by default
/// `/usr/lib/nginx/modules`.
pub fn lua_module_paths() -> [Prerequisite; 2] {
    let dir = env_path(NGINX_MODULES_DIR_VAR).unwrap_or_else(|| DEFAULT_NGINX_MODULES_DIR.into());
    let hint = "install it with `apt-get install libnginx-mod-http-lua` \
                or set JWTGUARD_TEST_NGINX_MODULES_DIR";
    [
        Prerequisite {
            path: dir.join("ndk_http_module.so"),
            description: "nginx development kit module",
            hint,
        },
        Prerequisite {
            path: dir.join("ngx_http_lua_module.so"),
            description: "nginx Lua module",
            hint,
        },
    ]
}

/// Returns true when the environment variable is set to `1`.
pub fn env_flag(name: &str) -> bool {
    env::var(name).is_ok_and(|value| value == "1")
}

fn env_path(name: &str) -> Option<PathBuf> {
    env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}
