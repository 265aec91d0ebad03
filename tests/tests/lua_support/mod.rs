//! Helpers shared by the Lua module tests: an `nginx.conf` template in which
//! `verifier:access()` guards one location in front of the echo upstream, and request
//! helpers.

#![allow(dead_code)]

use std::os::unix::fs::symlink;
use std::thread;
use std::time::{Duration, Instant};

use jwtguard_harness::{
    Case, EchoUpstream, Nginx, NginxBuilder, Ports, expired_token, log_lines, lua_binding_path,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Configuration that loads `policy.json` from the prefix in `init_by_lua_block`, starts the
/// verifier in `init_worker_by_lua_block`, and guards `/` with `verifier:access()`. The
/// guarded location forwards the `sub` claim as `X-Sub` to the echo upstream. `/open` is not
/// guarded.
///
/// Placeholders besides the harness's own: `%%LUA_CPATH%%` (directory of `jwtguard.so`),
/// `%%OPTIONS%%` (fields of the options table), `%%HTTP%%` (extra http-level lines) and
/// `%%LOCATIONS%%` (extra locations).
pub const ACCESS_TEMPLATE: &str = r#"
%%LOAD_MODULES%%
%%GLOBALS%%
worker_processes 1;
events {}
http {
    %%HTTP_GLOBALS%%
    lua_package_cpath "%%LUA_CPATH%%/?.so;;";
    %%HTTP%%

    init_by_lua_block {
        local jwtguard = require "jwtguard"
        verifier = assert(jwtguard.load("%%PREFIX%%/policy.json",
                                        { %%OPTIONS%% }))
    }

    init_worker_by_lua_block {
        assert(verifier:start())
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            access_by_lua_block {
                local claims = verifier:access()
                ngx.req.set_header("X-Sub", claims.sub)
            }
            proxy_pass http://%%UPSTREAM%%;
        }

        location /open {
            proxy_pass http://%%UPSTREAM%%;
        }

        %%LOCATIONS%%
    }
}
"#;

/// An nginx guarded by the Lua module, and the directory it loads the module from.
pub struct LuaNginx {
    /// The running nginx; dropped before the module directory.
    pub nginx: Nginx,
    _module_dir: TempDir,
}

impl LuaNginx {
    /// Returns the port nginx listens on.
    pub fn port(&self) -> u16 {
        self.nginx.port()
    }
}

/// Returns a builder for [`ACCESS_TEMPLATE`] with `policy` as `policy.json`, no options,
/// no extra lines, and the NDK and Lua modules loaded; pass it to [`start`].
pub fn guarded(policy: &str, upstream: &EchoUpstream) -> NginxBuilder {
    Nginx::builder(ACCESS_TEMPLATE)
        .lua_module()
        .upstream(upstream)
        .var("OPTIONS", "")
        .var("HTTP", "")
        .var("LOCATIONS", "")
        .file("policy.json", policy)
}

/// Starts `builder` with `%%LUA_CPATH%%` set to a temporary directory in which
/// `jwtguard.so` links to the built module (see [`lua_binding_path`]), so that the module
/// loads by that name whatever the built file is called.
///
/// # Panics
///
/// Panics when the built module is missing, with a hint to build it.
pub fn start(builder: NginxBuilder) -> LuaNginx {
    let binding = lua_binding_path();
    binding.require();
    let module_dir = tempfile::Builder::new()
        .prefix("jwtguard-lua-")
        .tempdir()
        .expect("create the Lua module directory");
    symlink(&binding.path, module_dir.path().join("jwtguard.so")).expect("link jwtguard.so");
    let cpath = module_dir.path().display().to_string();
    let nginx = builder.var("LUA_CPATH", &cpath).start();
    LuaNginx {
        nginx,
        _module_dir: module_dir,
    }
}

/// Waits up to `timeout` until the error log has at least `count` lines that contain
/// `needle`, and returns those lines. The Lua module writes its lines from a zero-delay
/// timer, which can run just after the response has been sent.
pub fn wait_for_lines(nginx: &Nginx, needle: &str, count: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let lines = log_lines(nginx, needle);
        if lines.len() >= count || Instant::now() >= deadline {
            return lines;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Returns the token after `Bearer` in the `Authorization` header of a conformance case's
/// request.
pub fn case_token(case_id: &str) -> String {
    let request = String::from_utf8(Case::find(case_id).request(Ports::default()))
        .expect("request.txt is UTF-8");
    request
        .lines()
        .find_map(|line| line.strip_prefix("Authorization: Bearer "))
        .map(|token| token.trim().to_string())
        .unwrap_or_else(|| panic!("case {case_id} has no Authorization: Bearer header"))
}

/// Returns the valid RS256 token of case 903 with the signature of the expired token: well
/// formed and signed with the same control key, but over another payload.
pub fn bad_signature_token() -> String {
    let valid = case_token("903");
    let (signing_input, _) = valid.rsplit_once('.').expect("token has a signature");
    let expired = expired_token();
    let (_, signature) = expired.rsplit_once('.').expect("token has a signature");
    format!("{signing_input}.{signature}")
}

/// Returns `policy` with the first policy entry's `tokenSuppliedIn` and `tokenName` set.
pub fn with_token_location(policy: &str, supplied_in: &str, name: &str) -> String {
    edit_action(policy, |action| {
        action["tokenSuppliedIn"] = json!(supplied_in);
        action["tokenName"] = json!(name);
    })
}

/// Returns `policy` with the first policy entry's `noMatch` return code set to `status`.
pub fn with_no_match_status(policy: &str, status: u16) -> String {
    edit_action(policy, |action| {
        action["errorReturnConditions"]["noMatch"] = json!({ "returnCode": status });
    })
}

fn edit_action(policy: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut document: Value = serde_json::from_str(policy).expect("policy is JSON");
    edit(&mut document["policies"]["oauth2-jwt-assertion"][0]["action"]);
    document.to_string()
}
