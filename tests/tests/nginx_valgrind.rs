//! nginx with the jwtguard module under valgrind's memcheck, in one process
//! (`master_process off`), over a short scenario with inline and remote keys: valgrind
//! must report no memory error and no definite leak.
//!
//! The harness's `Nginx` runs a master with workers, so this test starts nginx itself.

mod common;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use jwtguard_harness::{
    EchoUpstream, KeyServer, QUERY_PARAMETER, Route, TokenIn, control_jwks, expired_token,
    inline_policy, module_path, nginx_binary, remote_policy, request, send_raw, valid_token,
};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

const VALGRIND: &str = "/usr/bin/valgrind";
/// Exit status valgrind uses when it found an error or a definite leak.
const VALGRIND_ERROR_EXIT: i32 = 99;
/// Startup and shutdown under valgrind take seconds, not milliseconds.
const VALGRIND_TIMEOUT: Duration = Duration::from_secs(120);
/// nginx's own leak in single-process mode: `ngx_single_process_cycle()` drops the
/// environment array that `ngx_set_environment()` returns (8 bytes, nginx 1.22.1).
const NGINX_SUPPRESSIONS: &str = "
{
   nginx-single-process-environment
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   fun:ngx_set_environment
   fun:ngx_single_process_cycle
}
";

#[test]
fn valgrind_reports_no_errors_or_leaks() {
    assert!(
        Path::new(VALGRIND).is_file(),
        "valgrind not found at {VALGRIND}: install it with `apt-get install valgrind`"
    );
    let binary = nginx_binary();
    binary.require();
    let module = module_path();
    module.require();

    let key_server = KeyServer::start();
    key_server.set_route("/jwks.json", Route::json(control_jwks()));
    let upstream = EchoUpstream::start();
    let prefix = tempfile::Builder::new()
        .prefix("jwtguard-valgrind-")
        .tempdir()
        .expect("create the nginx prefix");
    let dir = prefix.path();
    let port = free_port();
    fs::write(dir.join("header.json"), inline_policy(TokenIn::Header)).expect("write policy");
    fs::write(dir.join("query.json"), inline_policy(TokenIn::Query)).expect("write policy");
    let remote = remote_policy(&key_server.url("/jwks.json"), "12h");
    fs::write(dir.join("remote.json"), remote).expect("write policy");
    fs::write(
        dir.join("nginx.conf"),
        config(dir, port, &module.path, &upstream),
    )
    .expect("write nginx.conf");
    fs::write(dir.join("nginx.supp"), NGINX_SUPPRESSIONS).expect("write suppressions");

    let mut child = Command::new(VALGRIND)
        .arg("--leak-check=full")
        .arg("--errors-for-leak-kinds=definite")
        .arg(format!("--error-exitcode={VALGRIND_ERROR_EXIT}"))
        .arg(format!(
            "--suppressions={}",
            dir.join("nginx.supp").display()
        ))
        .arg(format!("--log-file={}", dir.join("valgrind.log").display()))
        .arg(&binary.path)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx under valgrind");

    let ready = wait_until(VALGRIND_TIMEOUT, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    if !ready {
        let _ = child.kill();
        panic!(
            "nginx under valgrind did not start:\n{}",
            read(dir, "error.log")
        );
    }

    send_scenario(port);

    signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGQUIT).expect("send SIGQUIT");
    let status = wait_for_exit(&mut child, port, VALGRIND_TIMEOUT);
    let report = read(dir, "valgrind.log");
    let error_log = read(dir, "error.log");

    let status = status.unwrap_or_else(|| panic!("nginx did not exit:\n{report}"));
    assert_ne!(
        status.code(),
        Some(VALGRIND_ERROR_EXIT),
        "valgrind found errors or definite leaks:\n{report}"
    );
    assert!(
        status.success(),
        "nginx exited with {status}:\n{report}\n{error_log}"
    );
    assert!(report.contains("ERROR SUMMARY: 0 errors"), "{report}");
    for level in ["[alert]", "[crit]", "[emerg]"] {
        assert!(
            !error_log.contains(level),
            "{level} in error.log:\n{error_log}"
        );
    }
}

/// Sends each request twice: allowed, missing and rejected tokens in a header and in the
/// query string, and an allowed token against the remote key set, whose first request
/// waits for the fetch.
fn send_scenario(port: u16) {
    let token = valid_token();
    let bearer = format!("Bearer {token}");
    let expired = format!("Bearer {}", expired_token());
    let cases = [
        (request("/header", Some(&bearer)), 200),
        (request("/header", None), 401),
        (request("/header", Some(&expired)), 403),
        (
            request(&format!("/query?{QUERY_PARAMETER}={token}"), None),
            200,
        ),
        (request("/query?page=1", None), 401),
        (request("/remote", Some(&bearer)), 200),
    ];
    for (request, expected) in &cases {
        for attempt in 1..=2 {
            let response = send_raw(port, request);
            let line = String::from_utf8_lossy(&request[..request.len().min(24)]).into_owned();
            assert_eq!(response.status, *expected, "{line}, request {attempt}");
        }
    }
}

fn config(dir: &Path, port: u16, module: &Path, upstream: &EchoUpstream) -> String {
    let prefix = dir.display();
    let user = if nix::unistd::geteuid().is_root() {
        "user root;"
    } else {
        ""
    };
    format!(
        "
load_module {module};
daemon off;
master_process off;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{}}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    server {{
        listen 127.0.0.1:{port};
        location /header {{
            jwtguard_policy header.json;
            proxy_set_header X-Sub $jwt_claim_sub;
            proxy_pass http://{upstream};
        }}
        location /query {{
            jwtguard_policy query.json;
            proxy_set_header X-Payload $jwt_payload;
            proxy_pass http://{upstream};
        }}
        location /remote {{
            jwtguard_policy remote.json;
            proxy_set_header X-Kid $jwt_header_kid;
            proxy_pass http://{upstream};
        }}
    }}
}}
",
        module = module.display(),
        upstream = upstream.address(),
    )
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Waits for nginx to exit after SIGQUIT, connecting to `port` every 2 s meanwhile.
///
/// In single-process mode nginx checks its signal flags only after `epoll_wait()`
/// returns, so a signal handled just before the call goes unnoticed until the next event.
/// Valgrind runs one thread at a time, which makes that window wide once the key set
/// fetch thread exists; the connection is the next event.
fn wait_for_exit(child: &mut Child, port: u16, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    let mut next_wake = Instant::now() + Duration::from_secs(2);
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        if status.is_none() && Instant::now() >= next_wake {
            let _ = TcpStream::connect(("127.0.0.1", port));
            next_wake = Instant::now() + Duration::from_secs(2);
        }
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

fn read(dir: &Path, name: &str) -> String {
    fs::read(dir.join(name))
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
