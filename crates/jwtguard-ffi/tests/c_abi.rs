//! Builds tests/c/abi_test.c against libjwtguard.a and runs it under
//! valgrind, with a key set served on 127.0.0.1 for the remote key checks.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// Maximum number of connections the key server accepts before it stops.
const MAX_CONNECTIONS: usize = 50;
/// Maximum time the key server runs.
const SERVER_LIFETIME: Duration = Duration::from_secs(300);

/// An HTTP server on 127.0.0.1 that responds to every request with a JWK Set
/// holding the control case's HS256 key and one unusable key, whose
/// warning reaches the log callback.
struct KeyServer {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KeyServer {
    fn start() -> KeyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || serve(&listener, &stop_flag));
        KeyServer {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool) {
    let started = Instant::now();
    let mut served = 0;
    while !stop.load(Ordering::Acquire) && served < MAX_CONNECTIONS {
        if started.elapsed() > SERVER_LIFETIME {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                served += 1;
                answer(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn answer(mut stream: TcpStream) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let body = format!(
        r#"{{"keys": [{{"kty": "oct", "kid": "hs256-main", "alg": "HS256", "k": "{CONTROL_HS256_KEY}"}}, {{"kty": "unknown", "kid": "skipped"}}]}}"#
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn build_abi_test() -> std::path::PathBuf {
    let cc = require_tool("cc", "build-essential");
    let lib_dir = release_lib_dir();
    let out = target_dir().join("c-tests");
    std::fs::create_dir_all(&out).unwrap();
    let exe = out.join("abi_test");
    let mut command = Command::new(cc);
    command
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-O0",
        ])
        .arg("-I")
        .arg(include_dir())
        .arg(crate_dir().join("tests/c/abi_test.c"))
        .arg(lib_dir.join("libjwtguard.a"))
        .args(NATIVE_STATIC_LIBS)
        .arg("-o")
        .arg(&exe);
    run(&mut command);
    exe
}

#[test]
fn abi_test_under_valgrind() {
    let valgrind = require_tool("valgrind", "valgrind");
    let exe = build_abi_test();
    let (policy, token) = control_case();
    let server = KeyServer::start();
    let output = Command::new(valgrind)
        .args([
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
        ])
        .arg(&exe)
        .arg(&policy)
        .arg(&token)
        .arg(env!("CARGO_PKG_VERSION"))
        .arg(&server.url)
        .output()
        .expect("valgrind runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "abi_test under valgrind exited with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(stdout.contains(" passed, 0 failed"), "stdout:\n{stdout}");
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("definitely lost: 0 bytes")
            || stderr.contains("All heap blocks were freed"),
        "stderr:\n{stderr}"
    );
}
