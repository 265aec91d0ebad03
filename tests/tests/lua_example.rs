//! Runs `bindings/example/nginx.conf` as `bindings/README.md` prints it: the config and
//! policy copied into a prefix with `jwtguard.so`, nginx started with `-p` and `-c`, and the
//! README's `curl` requests sent. The only change is a free port in place of 8080 (and the
//! NGINX modules directory, when `JWTGUARD_TEST_NGINX_MODULES_DIR` moves it).

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use jwtguard_harness::{get, lua_binding_path, lua_module_paths, nginx_binary, workspace_root};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MODULES_DIR: &str = "/usr/lib/nginx/modules/";

/// nginx started from the example, stopped with SIGQUIT when dropped.
struct ExampleNginx {
    child: Child,
}

impl Drop for ExampleNginx {
    fn drop(&mut self) {
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Returns the token of the README's second `curl` command.
fn readme_token(readme: &str) -> String {
    let start = readme
        .find("Authorization: Bearer ")
        .expect("README has a curl command with a token")
        + "Authorization: Bearer ".len();
    readme[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port on 127.0.0.1")
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, stderr_path: &Path) {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "example nginx exited at startup ({status}):\n{}",
                fs::read_to_string(stderr_path).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "example nginx did not listen on {port} within 10 s:\n{}",
        fs::read_to_string(stderr_path).unwrap_or_default()
    );
}

#[test]
fn lua_example_runs_as_printed() {
    let binary = nginx_binary();
    binary.require();
    let binding = lua_binding_path();
    binding.require();
    let [ndk, lua] = lua_module_paths();
    ndk.require();
    lua.require();

    let example = workspace_root().join("bindings/example");
    let readme = fs::read_to_string(workspace_root().join("bindings/README.md"))
        .expect("read bindings/README.md");
    let prefix = tempfile::Builder::new()
        .prefix("jwtguard-example-")
        .tempdir()
        .expect("temporary prefix");

    let port = free_port();
    let modules_dir = format!("{}/", lua.path.parent().expect("module dir").display());
    let config = fs::read_to_string(example.join("nginx.conf"))
        .expect("read the example nginx.conf")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace(DEFAULT_MODULES_DIR, &modules_dir);
    fs::write(prefix.path().join("nginx.conf"), config).expect("write nginx.conf");
    fs::copy(
        example.join("policy.json"),
        prefix.path().join("policy.json"),
    )
    .expect("copy policy.json");
    symlink(&binding.path, prefix.path().join("jwtguard.so")).expect("link jwtguard.so");

    let stderr_path = prefix.path().join("stderr.log");
    let stderr = File::create(&stderr_path).expect("create stderr.log");
    let mut prefix_arg = prefix.path().as_os_str().to_owned();
    prefix_arg.push("/");
    let mut child = Command::new(&binary.path)
        .arg("-p")
        .arg(&prefix_arg)
        .arg("-c")
        .arg("nginx.conf")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .expect("start nginx");
    wait_for_port(port, &mut child, &stderr_path);
    let nginx = ExampleNginx { child };

    let token = readme_token(&readme);
    let bearer = format!("Bearer {token}");
    for attempt in 1..=2 {
        let health = get(port, "/health", &[]);
        assert_eq!(health.status, 200, "/health status of attempt {attempt}");

        let denied = get(port, "/api/orders", &[]);
        assert_eq!(
            denied.status, 401,
            "status without token, attempt {attempt}"
        );
        assert_eq!(
            denied.header("WWW-Authenticate"),
            Some("Bearer"),
            "challenge, attempt {attempt}"
        );

        let allowed = get(port, "/api/orders", &[("Authorization", &bearer)]);
        assert_eq!(allowed.status, 200, "status with token, attempt {attempt}");
        assert_eq!(
            allowed.text(),
            "hello alice, scope: orders:read\n",
            "body, attempt {attempt}"
        );
    }
    drop(nginx);

    let log = fs::read_to_string(&stderr_path).unwrap_or_default();
    for level in ["[alert]", "[crit]", "[emerg]"] {
        assert!(!log.contains(level), "nginx logged {level}:\n{log}");
    }
    assert!(
        log.contains("request denied with status 401: missing"),
        "denial not logged:\n{log}"
    );
}
