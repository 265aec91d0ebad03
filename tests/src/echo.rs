//! Upstream server that echoes the request it received, for checking what nginx forwards.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::server::{Handler, HttpServer, Reply, Request};

/// Request as the echo upstream received it; this is also the JSON body of its response.
///
/// The body has the form
/// `{"method":"GET","target":"/a?b","version":"HTTP/1.0","headers":[["Host","x"],...]}`.
/// Headers keep their received order, spelling and repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoedRequest {
    /// Request method.
    pub method: String,
    /// Request target, with the query string.
    pub target: String,
    /// HTTP version of the request line, such as `HTTP/1.0`.
    pub version: String,
    /// Header fields as name and value pairs.
    pub headers: Vec<(String, String)>,
}

impl EchoedRequest {
    /// Parses the JSON body of an echo upstream response.
    pub fn from_body(body: &[u8]) -> serde_json::Result<EchoedRequest> {
        serde_json::from_slice(body)
    }

    /// Returns the value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// Returns the values of all headers named `name`, compared case-insensitively.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

impl From<&Request> for EchoedRequest {
    fn from(request: &Request) -> EchoedRequest {
        EchoedRequest {
            method: request.method.clone(),
            target: request.target.clone(),
            version: request.version.clone(),
            headers: request.headers.clone(),
        }
    }
}

/// HTTP server on 127.0.0.1 that responds to every request with 200 and an [`EchoedRequest`]
/// JSON body, and keeps a copy of every request it received.
pub struct EchoUpstream {
    server: HttpServer,
    received: Arc<Mutex<Vec<EchoedRequest>>>,
}

impl EchoUpstream {
    /// Starts the echo upstream on a free port.
    ///
    /// # Panics
    ///
    /// Panics when no port on 127.0.0.1 can be bound.
    pub fn start() -> EchoUpstream {
        let received = Arc::new(Mutex::new(Vec::new()));
        let handler = echo_handler(Arc::clone(&received));
        let server = HttpServer::start(handler, None).expect("start the echo upstream");
        EchoUpstream { server, received }
    }

    /// Returns the port the server listens on.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Returns `127.0.0.1:PORT`, the form `proxy_pass http://…` and `upstream` blocks take.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// Returns copies of all requests received so far, oldest first.
    pub fn requests(&self) -> Vec<EchoedRequest> {
        lock_received(&self.received).clone()
    }

    /// Returns the number of requests received so far.
    pub fn request_count(&self) -> usize {
        lock_received(&self.received).len()
    }
}

fn echo_handler(received: Arc<Mutex<Vec<EchoedRequest>>>) -> Handler {
    Arc::new(move |request: &Request| {
        let echoed = EchoedRequest::from(request);
        let body = serde_json::to_vec(&echoed).expect("serialize the echoed request");
        lock_received(&received).push(echoed);
        Reply::Send {
            status: 200,
            content_type: "application/json".to_string(),
            body,
            delay: Duration::ZERO,
        }
    })
}

fn lock_received(received: &Mutex<Vec<EchoedRequest>>) -> MutexGuard<'_, Vec<EchoedRequest>> {
    received
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::{EchoUpstream, EchoedRequest};
    use crate::client::{get, send_raw};

    #[test]
    fn echo_upstream_echoes_headers() {
        let upstream = EchoUpstream::start();
        let headers = [("X-Claim", "a"), ("x-claim", "b"), ("X-Other", "c d")];
        let response = get(upstream.port(), "/path?q=1", &headers);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));

        let echoed = EchoedRequest::from_body(&response.body).expect("JSON body");
        assert_eq!(echoed.method, "GET");
        assert_eq!(echoed.target, "/path?q=1");
        assert_eq!(echoed.version, "HTTP/1.1");
        assert_eq!(echoed.header_values("X-CLAIM"), vec!["a", "b"]);
        assert_eq!(echoed.header("x-other"), Some("c d"));
        assert_eq!(echoed.header("missing"), None);
        assert_eq!(upstream.requests(), vec![echoed]);
    }

    #[test]
    fn echo_upstream_reads_request_body() {
        let upstream = EchoUpstream::start();
        let request = b"POST /form HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello";
        let response = send_raw(upstream.port(), request);
        assert_eq!(response.status, 200);
        let echoed = EchoedRequest::from_body(&response.body).expect("JSON body");
        assert_eq!(echoed.method, "POST");
        assert_eq!(echoed.version, "HTTP/1.0");
        assert_eq!(upstream.request_count(), 1);
    }
}
