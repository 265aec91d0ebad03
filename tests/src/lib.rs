//! Test harness for jwtguard: real nginx processes, key servers, an echo upstream, a raw
//! HTTP client and the conformance cases.
//!
//! Integration tests in `tests/tests/` use it in the style of nginx-tests. Each test writes
//! its own `nginx.conf` from a template and starts the real nginx binary in a temporary
//! prefix on 127.0.0.1, then sends raw requests. When nginx stops, the harness checks that
//! the error log has no `[alert]`, `[crit]` or `[emerg]` line. [`NginxBuilder`] lists the
//! template placeholders.
//!
//! ```
//! use jwtguard_harness::{Nginx, get};
//!
//! let nginx = Nginx::start(
//!     "%%GLOBALS%%
//!      events {}
//!      http {
//!          %%HTTP_GLOBALS%%
//!          server {
//!              listen 127.0.0.1:%%PORT%%;
//!              location / { return 200 \"ok\\n\"; }
//!          }
//!      }",
//! );
//! assert_eq!(get(nginx.port(), "/", &[]).status, 200);
//! ```
//!
//! # Environment variables
//!
//! - `JWTGUARD_TEST_NGINX_BINARY`: the nginx binary; defaults to `/usr/sbin/nginx`.
//! - `JWTGUARD_TEST_MODULE`: the built jwtguard module; defaults to
//!   `<workspace>/target/nginx/ngx_http_jwtguard_module.so`.
//! - `JWTGUARD_TEST_LUA_BINDING`: the built jwtguard Lua module; defaults to
//!   `<workspace>/target/lua/jwtguard.so`.
//! - `JWTGUARD_TEST_NGINX_MODULES_DIR`: the directory with `ndk_http_module.so` and
//!   `ngx_http_lua_module.so`; defaults to `/usr/lib/nginx/modules`.
//! - `JWTGUARD_TEST_LEAVE=1`: keeps each nginx prefix directory and prints its path.
//! - `JWTGUARD_TEST_CATLOG=1`: prints every nginx error log, not only those of failing
//!   tests.
//!
//! A missing nginx binary or module fails the test with a message that names the file and
//! how to get it, so no test passes without running.

mod cases;
mod client;
mod echo;
mod key_server;
mod nginx;
mod nginx_config;
mod prereq;
mod requests;
mod scenarios;
mod server;
mod tls;

pub use cases::{
    AttackerServer, Case, Ports, Scenario, Serve, Step, prepare_servers, run_scenario,
    substitute_ports,
};
pub use client::{DEFAULT_TIMEOUT, Response, get, send_raw, try_send_raw, try_send_raw_tls};
pub use echo::{EchoUpstream, EchoedRequest};
pub use key_server::{KeyServer, Route};
pub use nginx::{Nginx, NginxBuilder};
pub use prereq::{
    CATLOG_VAR, LEAVE_VAR, LUA_BINDING_VAR, MODULE_VAR, NGINX_BINARY_VAR, NGINX_MODULES_DIR_VAR,
    Prerequisite, env_flag, lua_binding_path, lua_module_paths, module_path, nginx_binary,
    workspace_root,
};
pub use requests::{
    check_request_scenarios, forwarded_subject, inline_case_failures, log_lines, request,
    timed_send,
};
pub use scenarios::{
    INVALID_CHALLENGE, MISSING_CHALLENGE, QUERY_PARAMETER, RequestScenario, TokenIn, VALID_SUBJECT,
    control_jwks, expired_token, inline_policy, remote_policy, request_scenarios, valid_token,
};
pub use tls::{TestCa, tls_client_config};
