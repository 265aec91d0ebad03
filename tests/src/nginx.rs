//! Real nginx processes, one per test, each in its own temporary prefix directory.
//!
//! The configuration comes from a template with placeholders, listed on [`NginxBuilder`].
//! nginx runs in the foreground with a master process and logs at `info`
//! level to `error.log` in the prefix. When the [`Nginx`] value is dropped, nginx is stopped
//! and, unless the test is already failing, its error log must have no `[alert]`, `[crit]`
//! or `[emerg]` line.

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::echo::EchoUpstream;
use crate::nginx_config::{self, BUILT_IN, ConfigContext};
use crate::prereq::{self, CATLOG_VAR, LEAVE_VAR, Prerequisite};

/// Time nginx gets to start and accept connections, to finish a reload, or to run
/// `nginx -t`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Time nginx gets to exit after SIGQUIT before it is killed.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Times a start is tried when another process took the chosen port first.
const START_ATTEMPTS: usize = 3;
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const ALERT_LEVELS: [&str; 3] = ["[alert]", "[crit]", "[emerg]"];
/// Start of the notice the master logs for each worker it forks, followed by the pid.
const WORKER_START_LINE: &str = "start worker process ";

/// Configuration of an nginx instance that has not started yet.
///
/// The `nginx.conf` template may use these placeholders:
///
/// - `%%GLOBALS%%` (required): main-context lines `daemon off`, `master_process on`, `pid`
///   and `error_log … info` in the prefix, plus `user root` when the tests run as root,
///   because workers running as `nobody` could not enter the prefix (mode 0700).
/// - `%%HTTP_GLOBALS%%` (required): http-context lines that put `access_log` and the
///   client body, proxy, FastCGI, uwsgi and SCGI temp paths in the prefix.
/// - `%%LOAD_MODULES%%`: one `load_module` line per module added with [`Self::module`],
///   [`Self::jwtguard_module`] or [`Self::lua_module`], in the order added.
/// - `%%PORT%%`: a free port on 127.0.0.1, also returned by [`Nginx::port`].
/// - `%%PREFIX%%`: the prefix directory, without a trailing slash.
/// - `%%UPSTREAM%%`: `127.0.0.1:PORT` of the echo upstream set with [`Self::upstream`].
/// - `%%NAME%%`: the value set with [`Self::var`].
///
/// A placeholder without a value, or a template without the required ones, fails the test.
#[derive(Debug, Clone)]
pub struct NginxBuilder {
    template: String,
    modules: Vec<Prerequisite>,
    vars: Vec<(String, String)>,
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl NginxBuilder {
    /// Adds a dynamic module to `%%LOAD_MODULES%%`.
    pub fn module(mut self, module: Prerequisite) -> NginxBuilder {
        self.modules.push(module);
        self
    }

    /// Adds the built jwtguard module (see [`prereq::module_path`]) to `%%LOAD_MODULES%%`.
    pub fn jwtguard_module(self) -> NginxBuilder {
        self.module(prereq::module_path())
    }

    /// Adds the NDK and Lua modules (see [`prereq::lua_module_paths`]) to
    /// `%%LOAD_MODULES%%`.
    pub fn lua_module(self) -> NginxBuilder {
        let [ndk, lua] = prereq::lua_module_paths();
        self.module(ndk).module(lua)
    }

    /// Sets `%%UPSTREAM%%` to the address of `upstream`.
    pub fn upstream(self, upstream: &EchoUpstream) -> NginxBuilder {
        self.var("UPSTREAM", &upstream.address())
    }

    /// Sets the value of the `%%NAME%%` placeholder.
    ///
    /// # Panics
    ///
    /// Panics when `name` is not uppercase letters, digits and underscores, or is one of
    /// the names the harness fills in itself.
    pub fn var(mut self, name: &str, value: &str) -> NginxBuilder {
        assert!(
            nginx_config::is_placeholder_name(name),
            "invalid placeholder name {name:?}: use uppercase letters, digits and underscores"
        );
        assert!(
            !BUILT_IN.contains(&name),
            "the placeholder %%{name}%% is set by the harness and cannot be overridden"
        );
        self.vars.retain(|(existing, _)| existing != name);
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a file that is written into the prefix before nginx starts; `name` is a relative
    /// path such as `policy.json` or `lua/check.lua`.
    ///
    /// # Panics
    ///
    /// Panics when `name` is absolute or contains `..`.
    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> NginxBuilder {
        self.files.push((relative_path(name), contents.into()));
        self
    }

    /// Starts nginx and waits until it accepts connections on its port.
    ///
    /// # Panics
    ///
    /// Panics when a prerequisite is missing, the template is invalid, or nginx does not
    /// start within 10 s; the message contains the error log.
    pub fn start(self) -> Nginx {
        let binary = self.require_prerequisites();
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            match self.try_start(&binary) {
                Ok(nginx) => return nginx,
                Err(StartError::PortTaken(log)) => last_log = log,
                Err(StartError::Failed(message)) => panic!("{message}"),
            }
        }
        panic!("nginx found its port taken in {START_ATTEMPTS} attempts:\n{last_log}");
    }

    /// Runs `nginx -t` on the rendered configuration and returns whether the test passed
    /// and what nginx printed and logged.
    ///
    /// # Panics
    ///
    /// Panics when a prerequisite is missing or the template is invalid.
    pub fn check_config(self) -> (bool, String) {
        let binary = self.require_prerequisites();
        let prefix_dir = new_prefix_dir();
        let context = self.context(prefix_dir.path(), free_port());
        self.write_prefix(&context);
        let child = spawn_nginx(&binary, &context, &["-t"]);
        let status = wait_with_timeout(child, STARTUP_TIMEOUT);
        let output = format!(
            "{}{}",
            read_lossy(&context.prefix.join("stderr.log")),
            read_lossy(&context.error_log())
        );
        if prereq::env_flag(LEAVE_VAR) {
            keep_prefix_dir(prefix_dir);
        }
        match status {
            Some(status) => (status.success(), output),
            None => (false, format!("nginx -t timed out after 10 s\n{output}")),
        }
    }

    fn require_prerequisites(&self) -> PathBuf {
        let binary = prereq::nginx_binary();
        binary.require();
        for module in &self.modules {
            module.require();
        }
        binary.path
    }

    fn context(&self, prefix: &Path, port: u16) -> ConfigContext {
        ConfigContext {
            prefix: prefix.to_path_buf(),
            port,
            modules: self
                .modules
                .iter()
                .map(|module| module.path.clone())
                .collect(),
            vars: self.vars.clone(),
        }
    }

    fn write_prefix(&self, context: &ConfigContext) {
        for (name, contents) in &self.files {
            write_prefix_file(&context.prefix, name, contents);
        }
        write_config_file(&self.template, context);
    }

    fn try_start(&self, binary: &Path) -> Result<Nginx, StartError> {
        let prefix_dir = new_prefix_dir();
        let context = self.context(prefix_dir.path(), free_port());
        self.write_prefix(&context);
        let child = spawn_nginx(binary, &context, &[]);
        let mut nginx = Nginx {
            child,
            exit_status: None,
            context,
            prefix_dir: Some(prefix_dir),
            allow_alerts: false,
        };
        match nginx.wait_until_ready() {
            Ok(()) => Ok(nginx),
            Err(error) => {
                // The failure is reported by the caller, so the drop checks are skipped.
                nginx.allow_alerts = true;
                nginx.kill();
                Err(error)
            }
        }
    }
}

enum StartError {
    /// Another process bound the chosen port before nginx did.
    PortTaken(String),
    Failed(String),
}

/// A running nginx master process with its workers.
///
/// Dropping it sends SIGQUIT, kills the process group after 10 s, prints the error log when
/// the test is failing or `JWTGUARD_TEST_CATLOG=1`, and calls [`Nginx::assert_no_alerts`]
/// unless the test is failing or [`Nginx::allow_alerts`] was called. The prefix directory
/// is deleted unless `JWTGUARD_TEST_LEAVE=1`.
pub struct Nginx {
    child: Child,
    exit_status: Option<ExitStatus>,
    context: ConfigContext,
    prefix_dir: Option<TempDir>,
    allow_alerts: bool,
}

impl Nginx {
    /// Creates a builder for the given `nginx.conf` template.
    pub fn builder(template: &str) -> NginxBuilder {
        NginxBuilder {
            template: template.to_string(),
            modules: Vec::new(),
            vars: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Starts nginx from `template` with no modules, variables or extra files.
    pub fn start(template: &str) -> Nginx {
        Nginx::builder(template).start()
    }

    /// Runs `nginx -t` on `template` with no modules, variables or extra files.
    pub fn check_config(template: &str) -> (bool, String) {
        Nginx::builder(template).check_config()
    }

    /// Returns the port that `%%PORT%%` was replaced by.
    pub fn port(&self) -> u16 {
        self.context.port
    }

    /// Returns the prefix directory.
    pub fn prefix(&self) -> &Path {
        &self.context.prefix
    }

    /// Returns the whole error log so far.
    pub fn error_log(&self) -> String {
        read_lossy(&self.context.error_log())
    }

    /// Waits until the error log contains `needle` and returns false when it does not
    /// within `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.error_log().contains(needle))
    }

    /// Panics with the offending lines when the error log has an `[alert]`, `[crit]` or
    /// `[emerg]` line.
    pub fn assert_no_alerts(&self) {
        let log = self.error_log();
        let alerts: Vec<&str> = log
            .lines()
            .filter(|line| ALERT_LEVELS.iter().any(|level| line.contains(level)))
            .collect();
        assert!(
            alerts.is_empty(),
            "nginx error log has alert, crit or emerg lines:\n{}",
            alerts.join("\n")
        );
    }

    /// Turns off the no-alert check at drop, for a test that provokes such lines on purpose,
    /// for example a reload with an invalid configuration.
    pub fn allow_alerts(&mut self) {
        self.allow_alerts = true;
    }

    /// Renders `template` with this instance's port, prefix, modules and variables, and
    /// overwrites `nginx.conf`; call [`Nginx::reload`] to apply it.
    ///
    /// # Panics
    ///
    /// Panics when the template is invalid or the file cannot be written.
    pub fn write_config(&self, template: &str) {
        write_config_file(template, &self.context);
    }

    /// Writes a file into the prefix; `name` is a relative path.
    ///
    /// # Panics
    ///
    /// Panics when `name` is absolute or contains `..`, or the file cannot be written.
    pub fn write_file(&self, name: &str, contents: impl AsRef<[u8]>) {
        write_prefix_file(
            &self.context.prefix,
            &relative_path(name),
            contents.as_ref(),
        );
    }

    /// Sends SIGHUP to the master and waits until new workers have started and the old
    /// ones have begun their graceful shutdown, so that the next connection reaches a new
    /// worker.
    ///
    /// Returns the log written since the signal as the error when nginx rejects the new
    /// configuration (it keeps the old one) or does not finish within 10 s.
    pub fn reload(&self) -> Result<(), String> {
        let offset = self.error_log().len();
        let old_workers = running_workers(&self.error_log());
        self.signal(Signal::SIGHUP);

        let settled = poll_until(STARTUP_TIMEOUT, || {
            let log = self.log_since(offset);
            log.contains(WORKER_START_LINE) || log.contains("[emerg]")
        });
        let log = self.log_since(offset);
        if !settled || log.contains("[emerg]") {
            return Err(format!("nginx reload failed:\n{log}"));
        }

        let old_stopping = poll_until(STARTUP_TIMEOUT, || {
            workers_shutting_down(&self.log_since(offset), &old_workers)
        });
        if !old_stopping {
            let log = self.log_since(offset);
            return Err(format!("old nginx workers did not shut down:\n{log}"));
        }
        Ok(())
    }

    fn log_since(&self, offset: usize) -> String {
        let log = self.error_log();
        log.get(offset..).unwrap_or_default().to_string()
    }

    /// Sends SIGQUIT and waits until nginx exits.
    ///
    /// # Panics
    ///
    /// Panics when nginx does not exit within 10 s; it is killed first.
    pub fn quit(&mut self) -> ExitStatus {
        match self.stop() {
            Some(status) => status,
            None => panic!("nginx did not exit within 10 s of SIGQUIT and was killed"),
        }
    }

    /// Sends SIGQUIT, waits up to 10 s, then kills the process group. Returns the exit
    /// status, or `None` when nginx had to be killed.
    fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exit_status {
            return Some(status);
        }
        self.signal(Signal::SIGQUIT);
        if poll_until(QUIT_TIMEOUT, || self.has_exited()) {
            return self.exit_status;
        }
        self.kill();
        None
    }

    /// Kills the master and its workers, which share its process group.
    fn kill(&mut self) {
        let _ = signal::killpg(self.pid(), Signal::SIGKILL);
        if let Ok(status) = self.child.wait() {
            self.exit_status.get_or_insert(status);
        }
    }

    fn has_exited(&mut self) -> bool {
        if self.exit_status.is_none() {
            self.exit_status = self.child.try_wait().ok().flatten();
        }
        self.exit_status.is_some()
    }

    fn signal(&self, signal: Signal) {
        if self.exit_status.is_none() {
            let _ = signal::kill(self.pid(), signal);
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn wait_until_ready(&mut self) -> Result<(), StartError> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port()));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            let log = self.error_log();
            if log.contains("Address already in use") {
                return Err(StartError::PortTaken(log));
            }
            if self.has_exited() {
                return Err(StartError::Failed(
                    self.failure_report("nginx exited at startup"),
                ));
            }
            // The master logs this after it bound the port and forked the workers.
            if log.contains(WORKER_START_LINE)
                && TcpStream::connect_timeout(&address, POLL_INTERVAL).is_ok()
            {
                return Ok(());
            }
            thread::sleep(POLL_INTERVAL);
        }
        let message = "nginx did not accept connections within 10 s";
        Err(StartError::Failed(self.failure_report(message)))
    }

    fn failure_report(&self, message: &str) -> String {
        format!(
            "{message} (status {:?}, prefix {})\n--- nginx.conf\n{}\n--- error.log\n{}\
             --- stderr\n{}",
            self.exit_status,
            self.prefix().display(),
            read_lossy(&self.context.config_file()),
            self.error_log(),
            read_lossy(&self.prefix().join("stderr.log")),
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let stopped = self.stop().is_some();
        let failing = thread::panicking();
        if failing || prereq::env_flag(CATLOG_VAR) {
            eprintln!(
                "--- nginx error.log ({})\n{}",
                self.prefix().display(),
                self.error_log()
            );
        }
        if prereq::env_flag(LEAVE_VAR)
            && let Some(prefix_dir) = self.prefix_dir.take()
        {
            keep_prefix_dir(prefix_dir);
        }
        // The checks read the log before the prefix directory is deleted with the fields.
        if failing || self.allow_alerts {
            return;
        }
        self.assert_no_alerts();
        assert!(
            stopped,
            "nginx did not exit within 10 s of SIGQUIT and was killed"
        );
    }
}

/// Returns the worker pids that the log shows started and not yet exited.
fn running_workers(log: &str) -> Vec<String> {
    let started = log
        .lines()
        .filter_map(|line| pid_after(line, WORKER_START_LINE));
    let exited: Vec<String> = log
        .lines()
        .filter(|line| line.contains(" exited with code "))
        .filter_map(|line| pid_after(line, "worker process "))
        .collect();
    started.filter(|pid| !exited.contains(pid)).collect()
}

/// Returns true when the log shows each of `pids` has begun its graceful shutdown, after
/// which it no longer accepts connections.
fn workers_shutting_down(log: &str, pids: &[String]) -> bool {
    pids.iter().all(|pid| {
        let line = format!("{pid}#{pid}: gracefully shutting down");
        log.contains(&line)
    })
}

fn pid_after(line: &str, marker: &str) -> Option<String> {
    let (_, rest) = line.split_once(marker)?;
    let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!pid.is_empty()).then_some(pid)
}

fn spawn_nginx(binary: &Path, context: &ConfigContext, extra_args: &[&str]) -> Child {
    let stderr_file = File::create(context.prefix.join("stderr.log")).expect("create stderr.log");
    let stdout_file = stderr_file
        .try_clone()
        .expect("duplicate the stderr.log handle");
    let mut prefix_arg = context.prefix.clone().into_os_string();
    prefix_arg.push("/");
    Command::new(binary)
        .arg("-p")
        .arg(prefix_arg)
        .arg("-c")
        .arg(context.config_file())
        .arg("-e")
        .arg(context.error_log())
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(stdout_file)
        .stderr(stderr_file)
        // Its own process group lets a kill reach the workers too.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("failed to run {}: {error}", binary.display()))
}

fn write_config_file(template: &str, context: &ConfigContext) {
    let config = nginx_config::render(template, context).unwrap_or_else(|error| panic!("{error}"));
    fs::write(context.config_file(), config).expect("write nginx.conf");
}

fn write_prefix_file(prefix: &Path, name: &Path, contents: &[u8]) {
    let path = prefix.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create a directory in the nginx prefix");
    }
    fs::write(&path, contents)
        .unwrap_or_else(|error| panic!("failed to write {}: {error}", path.display()));
}

fn relative_path(name: &str) -> PathBuf {
    let path = PathBuf::from(name);
    let is_plain = path
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    assert!(
        is_plain && !name.is_empty(),
        "invalid prefix file name {name:?}: use a relative path without `..`"
    );
    path
}

fn new_prefix_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("jwtguard-nginx-")
        .tempdir()
        .expect("create the nginx prefix directory")
}

fn keep_prefix_dir(prefix_dir: TempDir) {
    eprintln!("kept nginx prefix {}", prefix_dir.keep().display());
}

/// Returns a port on 127.0.0.1 that was free a moment ago.
///
/// NOTE: another process can bind the port before nginx does; `NginxBuilder::start`
/// detects that from the error log and retries with a new port.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1");
    listener.local_addr().expect("local address").port()
}

fn wait_with_timeout(mut child: Child, timeout: Duration) -> Option<ExitStatus> {
    if poll_until(timeout, || matches!(child.try_wait(), Ok(Some(_)))) {
        return child.wait().ok();
    }
    let _ = signal::killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.wait();
    None
}

fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Nginx, running_workers};
    use crate::client::get;
    use crate::echo::{EchoUpstream, EchoedRequest};
    use crate::prereq::Prerequisite;

    const RETURN_TEMPLATE: &str = "
%%GLOBALS%%
events {}
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { return 200 \"%%GREETING%%\\n\"; }
    }
}
";

    #[test]
    fn nginx_serves_return_location() {
        let nginx = Nginx::builder(RETURN_TEMPLATE)
            .var("GREETING", "hello")
            .start();
        let response = get(nginx.port(), "/", &[]);
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "hello\n");
        assert_eq!(get(nginx.port(), "/again", &[]).status, 200);
        assert!(nginx.error_log().contains("start worker process"));
        assert!(nginx.prefix().join("nginx.conf").is_file());
        nginx.assert_no_alerts();
    }

    #[test]
    fn nginx_quit_exits_cleanly() {
        let mut nginx = Nginx::builder(RETURN_TEMPLATE)
            .var("GREETING", "bye")
            .start();
        let status = nginx.quit();
        assert!(status.success(), "exit status {status}");
        assert!(nginx.error_log().contains("signal 3 (SIGQUIT) received"));
    }

    #[test]
    fn nginx_reload_applies_new_config() {
        let nginx = Nginx::builder(RETURN_TEMPLATE)
            .var("GREETING", "first")
            .start();
        assert_eq!(get(nginx.port(), "/", &[]).text(), "first\n");

        let old_workers = running_workers(&nginx.error_log());
        assert_eq!(old_workers.len(), 1);

        let second = RETURN_TEMPLATE.replace("%%GREETING%%", "second");
        nginx.write_config(&second);
        nginx.reload().expect("reload with a valid config");
        assert_eq!(get(nginx.port(), "/", &[]).text(), "second\n");
        let log = nginx.error_log();
        assert!(log.contains("reconfiguring"), "{log}");
        let old_pid = &old_workers[0];
        let shutdown_line = format!("{old_pid}#{old_pid}: gracefully shutting down");
        assert!(log.contains(&shutdown_line), "{log}");
    }

    #[test]
    fn nginx_reload_rejects_broken_config() {
        let mut nginx = Nginx::builder(RETURN_TEMPLATE)
            .var("GREETING", "kept")
            .start();
        nginx.write_config(&RETURN_TEMPLATE.replace("return 200", "retur 200"));
        let error = nginx
            .reload()
            .expect_err("reload with an unknown directive");
        assert!(error.contains("unknown directive \"retur\""), "{error}");
        assert_eq!(get(nginx.port(), "/", &[]).text(), "kept\n");
        nginx.allow_alerts();
    }

    #[test]
    fn nginx_check_config_reports_errors() {
        let broken = RETURN_TEMPLATE.replace("return 200", "retur 200");
        let (ok, output) = Nginx::builder(&broken).var("GREETING", "x").check_config();
        assert!(!ok, "nginx -t must fail:\n{output}");
        assert!(output.contains("unknown directive \"retur\""), "{output}");
        assert!(output.contains("test failed"), "{output}");

        let (ok, output) = Nginx::builder(RETURN_TEMPLATE)
            .var("GREETING", "x")
            .check_config();
        assert!(ok, "nginx -t must pass:\n{output}");
        assert!(output.contains("test is successful"), "{output}");
    }

    #[test]
    fn nginx_forwards_headers_to_upstream() {
        let template = "
%%GLOBALS%%
events {}
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            proxy_set_header X-Forwarded-Sub user-1;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
}
";
        let upstream = EchoUpstream::start();
        let nginx = Nginx::builder(template).upstream(&upstream).start();
        let response = get(nginx.port(), "/api?x=1", &[("X-Client", "c")]);
        assert_eq!(response.status, 200);
        let echoed = EchoedRequest::from_body(&response.body).expect("echo body");
        assert_eq!(echoed.target, "/api?x=1");
        assert_eq!(echoed.header("x-forwarded-sub"), Some("user-1"));
        assert_eq!(echoed.header("x-client"), Some("c"));
        assert_eq!(upstream.request_count(), 1);
    }

    #[test]
    fn nginx_loads_lua_module() {
        let template = "
%%LOAD_MODULES%%
%%GLOBALS%%
events {}
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { content_by_lua_block { ngx.say(\"lua \", 1 + 1) } }
    }
}
";
        let nginx = Nginx::builder(template).lua_module().start();
        let response = get(nginx.port(), "/", &[]);
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "lua 2\n");
    }

    #[test]
    fn nginx_writes_prefix_files() {
        let template = "
%%GLOBALS%%
events {}
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%PREFIX%%/html;
    }
}
";
        let nginx = Nginx::builder(template)
            .file("html/index.html", "from file\n")
            .start();
        assert_eq!(get(nginx.port(), "/", &[]).text(), "from file\n");
        nginx.write_file("html/new.html", "written later\n");
        assert_eq!(
            get(nginx.port(), "/new.html", &[]).text(),
            "written later\n"
        );
    }

    #[test]
    #[should_panic(expected = "has no %%GLOBALS%% placeholder")]
    fn nginx_template_without_globals_fails() {
        Nginx::start("events {} %%HTTP_GLOBALS%%");
    }

    #[test]
    #[should_panic(expected = "cannot be overridden")]
    fn nginx_builder_rejects_built_in_var() {
        let _ = Nginx::builder(RETURN_TEMPLATE).var("PORT", "1");
    }

    #[test]
    #[should_panic(expected = "relative path without `..`")]
    fn nginx_builder_rejects_escaping_file() {
        let _ = Nginx::builder(RETURN_TEMPLATE).file("../outside", "x");
    }

    #[test]
    #[should_panic(expected = "jwtguard NGINX module not found at /nonexistent/module.so")]
    fn nginx_missing_module_fails() {
        let module = Prerequisite {
            path: PathBuf::from("/nonexistent/module.so"),
            description: "jwtguard NGINX module",
            hint: "build it with `make module`",
        };
        Nginx::builder(RETURN_TEMPLATE).module(module).start();
    }

    #[test]
    fn running_workers_skips_exited() {
        let log = "\
[notice] 10#10: start worker process 11
[notice] 10#10: start worker process 12
[notice] 10#10: worker process 11 exited with code 0
";
        assert_eq!(running_workers(log), vec!["12".to_string()]);
    }
}
