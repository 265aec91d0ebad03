//! Programmable HTTP and HTTPS server that replaces a JWKS endpoint in tests.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::server::{Handler, HttpServer, Reply, Request};
use crate::tls::TestCa;

/// What a [`KeyServer`] sends for one path.
#[derive(Debug, Clone)]
pub struct Route {
    reply: Reply,
}

impl Route {
    /// Creates a route that sends `body` with the given status and content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route {
            reply: Reply::Send {
                status,
                content_type: content_type.to_string(),
                body: body.into(),
                delay: Duration::ZERO,
            },
        }
    }

    /// Creates a route that sends `body` with status 200 and `application/json`.
    pub fn json(body: impl Into<Vec<u8>>) -> Route {
        Route::new(200, "application/json", body)
    }

    /// Creates a route that reads the request and never responds; the connection stays open
    /// until the server is dropped.
    pub fn hang() -> Route {
        Route { reply: Reply::Hang }
    }

    /// Returns this route with a delay before the response is sent. A server that is
    /// dropped during the delay closes the connection without a response. A hanging route
    /// ignores the delay.
    pub fn with_delay(mut self, delay: Duration) -> Route {
        if let Reply::Send { delay: current, .. } = &mut self.reply {
            *current = delay;
        }
        self
    }
}

/// Routes and request counts, keyed by request path without the query string.
#[derive(Default)]
struct RouteTable {
    routes: HashMap<String, Route>,
    counts: HashMap<String, usize>,
}

/// HTTP or HTTPS server on 127.0.0.1 with routes that a test can change while it runs.
///
/// A path without a route gets 404. The server counts every request by path, including
/// requests to unknown paths, to hanging routes and ones still waiting out a delay.
/// Dropping the server closes its connections and joins its threads.
pub struct KeyServer {
    server: HttpServer,
    table: Arc<Mutex<RouteTable>>,
    ca: Option<TestCa>,
}

impl KeyServer {
    /// Starts a plain HTTP key server on a free port.
    ///
    /// # Panics
    ///
    /// Panics when no port on 127.0.0.1 can be bound.
    pub fn start() -> KeyServer {
        KeyServer::start_with(None)
    }

    /// Starts an HTTPS key server on a free port, with a freshly generated test CA and a
    /// leaf certificate for 127.0.0.1 and localhost.
    ///
    /// # Panics
    ///
    /// Panics when no port on 127.0.0.1 can be bound or the certificates cannot be made.
    pub fn start_tls() -> KeyServer {
        KeyServer::start_with(Some(TestCa::generate()))
    }

    fn start_with(ca: Option<TestCa>) -> KeyServer {
        let table = Arc::new(Mutex::new(RouteTable::default()));
        let handler = route_handler(Arc::clone(&table));
        let tls = ca.as_ref().map(TestCa::server_config);
        let server = HttpServer::start(handler, tls).expect("start the key server on 127.0.0.1");
        KeyServer { server, table, ca }
    }

    /// Returns the port the server listens on.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Returns the URL of `path` on this server, with the `http` or `https` scheme.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port())
    }

    /// Sets the route for `path`, replacing any previous one. Request counts are kept.
    pub fn set_route(&self, path: &str, route: Route) {
        self.lock().routes.insert(path.to_string(), route);
    }

    /// Removes the route for `path`, so that it gets 404 again.
    pub fn remove_route(&self, path: &str) {
        self.lock().routes.remove(path);
    }

    /// Returns the number of requests received for `path`.
    pub fn request_count(&self, path: &str) -> usize {
        self.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// Returns the number of requests received for all paths.
    pub fn total_requests(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// Sets all request counts to zero.
    pub fn reset_counts(&self) {
        self.lock().counts.clear();
    }

    /// Returns the test CA certificate in PEM form, or `None` for a plain HTTP server.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::ca_pem)
    }

    /// Returns the path of a PEM file with the test CA certificate, or `None` for a plain
    /// HTTP server. The file is deleted when the server is dropped.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(TestCa::ca_file)
    }

    fn lock(&self) -> MutexGuard<'_, RouteTable> {
        lock_table(&self.table)
    }
}

fn route_handler(table: Arc<Mutex<RouteTable>>) -> Handler {
    Arc::new(move |request: &Request| {
        let mut table = lock_table(&table);
        let path = request.path().to_string();
        *table.counts.entry(path.clone()).or_insert(0) += 1;
        match table.routes.get(&path) {
            Some(route) => route.reply.clone(),
            None => Route::new(404, "text/plain", "not found\n").reply,
        }
    })
}

fn lock_table(table: &Mutex<RouteTable>) -> MutexGuard<'_, RouteTable> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::{KeyServer, Route};
    use crate::client::{get, try_send_raw, try_send_raw_tls};
    use crate::tls::TestCa;

    const JWKS: &str = r#"{"keys":[]}"#;

    fn get_request(path: &str) -> Vec<u8> {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
    }

    #[test]
    fn key_server_serves_and_counts() {
        let server = KeyServer::start();
        server.set_route("/jwks.json", Route::json(JWKS));

        let first = get(server.port(), "/jwks.json", &[]);
        assert_eq!(first.status, 200);
        assert_eq!(first.text(), JWKS);
        assert_eq!(first.header("content-type"), Some("application/json"));
        assert_eq!(server.request_count("/jwks.json"), 1);

        let second = get(server.port(), "/jwks.json?refresh=1", &[]);
        assert_eq!(second.status, 200);
        assert_eq!(server.request_count("/jwks.json"), 2);

        let missing = get(server.port(), "/other", &[]);
        assert_eq!(missing.status, 404);
        assert_eq!(server.request_count("/other"), 1);
        assert_eq!(server.total_requests(), 3);

        server.reset_counts();
        assert_eq!(server.total_requests(), 0);
    }

    #[test]
    fn key_server_route_change_at_runtime() {
        let server = KeyServer::start();
        server.set_route("/jwks.json", Route::json("before"));
        assert_eq!(get(server.port(), "/jwks.json", &[]).text(), "before");

        server.set_route("/jwks.json", Route::new(500, "text/html", "<p>down</p>"));
        let changed = get(server.port(), "/jwks.json", &[]);
        assert_eq!(changed.status, 500);
        assert_eq!(changed.text(), "<p>down</p>");
        assert_eq!(changed.header("content-type"), Some("text/html"));

        server.remove_route("/jwks.json");
        assert_eq!(get(server.port(), "/jwks.json", &[]).status, 404);
        assert_eq!(server.request_count("/jwks.json"), 3);
    }

    #[test]
    fn key_server_delays_response() {
        let server = KeyServer::start();
        let delay = Duration::from_millis(300);
        server.set_route("/slow", Route::json(JWKS).with_delay(delay));

        let started = Instant::now();
        let response = get(server.port(), "/slow", &[]);
        assert_eq!(response.status, 200);
        assert!(
            started.elapsed() >= delay,
            "answered after {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn key_server_hang_times_out_client() {
        let server = KeyServer::start();
        server.set_route("/jwks.json", Route::hang());

        let timeout = Duration::from_millis(300);
        let result = try_send_raw(server.port(), &get_request("/jwks.json"), timeout);
        let error = result.expect_err("a hanging route must not answer");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(server.request_count("/jwks.json"), 1);
    }

    #[test]
    fn key_server_drop_ends_hang_and_delay() {
        let server = KeyServer::start();
        server.set_route("/hang", Route::hang());
        server.set_route(
            "/slow",
            Route::json(JWKS).with_delay(Duration::from_secs(120)),
        );
        let port = server.port();
        let clients: Vec<_> = ["/hang", "/slow"]
            .into_iter()
            .map(|path| {
                let request = get_request(path);
                thread::spawn(move || try_send_raw(port, &request, Duration::from_secs(60)))
            })
            .collect();
        while server.total_requests() < 2 {
            thread::sleep(Duration::from_millis(10));
        }

        let started = Instant::now();
        drop(server);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "drop took {:?}",
            started.elapsed()
        );
        for client in clients {
            let result = client.join().expect("client thread");
            assert!(
                result.is_err(),
                "a stopped server must not answer: {result:?}"
            );
        }
    }

    #[test]
    fn key_server_https_with_test_ca() {
        let server = KeyServer::start_tls();
        server.set_route("/jwks.json", Route::json(JWKS));
        let ca_pem = server.ca_pem().expect("an HTTPS server has a CA");
        let ca_file = server.ca_file().expect("an HTTPS server has a CA file");
        assert_eq!(
            std::fs::read_to_string(ca_file).expect("read CA file"),
            ca_pem
        );
        assert!(server.url("/jwks.json").starts_with("https://127.0.0.1:"));

        let request = get_request("/jwks.json");
        let timeout = Duration::from_secs(10);
        let response = try_send_raw_tls(server.port(), &request, ca_pem, timeout)
            .expect("HTTPS request with the test CA");
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), JWKS);
        assert_eq!(server.request_count("/jwks.json"), 1);
    }

    #[test]
    fn key_server_https_rejects_other_ca() {
        let server = KeyServer::start_tls();
        server.set_route("/jwks.json", Route::json(JWKS));
        let other_ca = TestCa::generate();

        let request = get_request("/jwks.json");
        let timeout = Duration::from_secs(10);
        let result = try_send_raw_tls(server.port(), &request, other_ca.ca_pem(), timeout);
        let error = result.expect_err("a certificate from another CA must fail");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        assert_eq!(server.request_count("/jwks.json"), 0);
    }

    #[test]
    fn key_server_plain_has_no_ca() {
        let server = KeyServer::start();
        assert!(server.ca_pem().is_none());
        assert!(server.ca_file().is_none());
        assert!(server.url("/a").starts_with("http://127.0.0.1:"));
    }
}
