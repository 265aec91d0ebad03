//! Threaded HTTP/1.1 server on 127.0.0.1, shared by the key servers and the echo upstream.
//!
//! Each connection gets its own thread and carries one request. The server parses the
//! request head with `httparse`, reads and discards a `Content-Length` body and calls the
//! handler for a [`Reply`]. It writes the reply with `Connection: close` and closes the
//! connection.
//! The same code serves plain TCP and rustls streams, so delays and hangs behave alike on
//! HTTP and HTTPS.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;
const MAX_HEADERS: usize = 100;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Request head as the server received it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Returns the request target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Waits `delay`, then sends a response.
    Send {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Keeps the connection open without a response until the server stops.
    Hang,
}

pub(crate) type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Stop flag and the open connections, shared by the accept thread, the connection threads
/// and the owner.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    stopped: Condvar,
}

#[derive(Default)]
struct State {
    stopping: bool,
    next_id: u64,
    connections: Vec<(u64, TcpStream)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a connection so that `stop` can shut it down, or shuts it down at once
    /// when the server is already stopping.
    fn track(&self, stream: &TcpStream) -> Option<u64> {
        let mut state = self.lock();
        if state.stopping {
            let _ = stream.shutdown(Shutdown::Both);
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        if let Ok(clone) = stream.try_clone() {
            state.connections.push((id, clone));
        }
        Some(id)
    }

    fn untrack(&self, id: u64) {
        self.lock()
            .connections
            .retain(|(open_id, _)| *open_id != id);
    }

    fn stop(&self) {
        let mut state = self.lock();
        state.stopping = true;
        for (_, stream) in state.connections.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.stopped.notify_all();
    }

    fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    /// Blocks for `timeout`, or forever when it is `None`, and returns early with true when
    /// the server stops.
    fn wait_for_stop(&self, timeout: Option<Duration>) -> bool {
        let state = self.lock();
        match timeout {
            None => {
                let _state = self
                    .stopped
                    .wait_while(state, |state| !state.stopping)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                true
            }
            Some(timeout) => {
                let (state, _) = self
                    .stopped
                    .wait_timeout_while(state, timeout, |state| !state.stopping)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                state.stopping
            }
        }
    }
}

/// Running server. Dropping it stops the accept loop, closes every open connection, ends
/// pending delays and hangs, and joins all of its threads.
pub(crate) struct HttpServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds a free port on 127.0.0.1 and starts serving; `tls` selects HTTPS.
    pub fn start(handler: Handler, tls: Option<Arc<ServerConfig>>) -> io::Result<HttpServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("http-server-{}", address.port()))
            .spawn(move || accept_loop(listener, accept_shared, handler, tls))?;
        Ok(HttpServer {
            address,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop();
        // A connection to the listener wakes the accept loop so that it checks the stop flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(accept_thread) = self.accept_thread.take() {
            let _ = accept_thread.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    handler: Handler,
    tls: Option<Arc<ServerConfig>>,
) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.is_stopping() {
            break;
        }
        let Ok(stream) = stream else { continue };
        let Some(id) = shared.track(&stream) else {
            continue;
        };
        let shared = Arc::clone(&shared);
        let handler = Arc::clone(&handler);
        let tls = tls.clone();
        let worker = thread::spawn(move || {
            serve_connection(stream, &shared, &handler, tls);
            shared.untrack(id);
        });
        workers.retain(|worker| !worker.is_finished());
        workers.push(worker);
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn serve_connection(
    stream: TcpStream,
    shared: &Shared,
    handler: &Handler,
    tls: Option<Arc<ServerConfig>>,
) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    match tls {
        None => {
            serve_stream(stream, shared, handler);
        }
        Some(config) => {
            let Ok(connection) = ServerConnection::new(config) else {
                return;
            };
            let mut tls_stream = StreamOwned::new(connection, stream);
            if serve_stream(&mut tls_stream, shared, handler) {
                tls_stream.conn.send_close_notify();
                let _ = tls_stream.flush();
            }
        }
    }
}

/// Serves one request and returns true when a response was written.
fn serve_stream<S: Read + Write>(mut stream: S, shared: &Shared, handler: &Handler) -> bool {
    let request = match read_request(&mut stream) {
        Ok(request) => request,
        Err(error) => {
            // A client that closes without a request, such as a readiness probe, is normal.
            if error.kind() != io::ErrorKind::UnexpectedEof {
                eprintln!("test HTTP server: failed to read a request: {error}");
            }
            return false;
        }
    };
    match handler(&request) {
        Reply::Hang => {
            shared.wait_for_stop(None);
            false
        }
        Reply::Send {
            status,
            content_type,
            body,
            delay,
        } => {
            if !delay.is_zero() && shared.wait_for_stop(Some(delay)) {
                return false;
            }
            write_response(&mut stream, status, &content_type, &body).is_ok()
        }
    }
}

fn read_request<S: Read>(stream: &mut S) -> io::Result<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((request, head_len, body_len)) = parse_request_head(&buffer)? {
            let received = buffer.len() - head_len;
            discard_body(stream, body_len.saturating_sub(received))?;
            return Ok(request);
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Err(invalid_data("request head too large"));
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// Parses a complete request head and returns it with its length and the body length
/// announced by `Content-Length`.
fn parse_request_head(buffer: &[u8]) -> io::Result<Option<(Request, usize, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(invalid_data(&error.to_string())),
    };
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|header| {
            let value = String::from_utf8_lossy(header.value).into_owned();
            (header.name.to_string(), value)
        })
        .collect();
    let body_len = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let request = Request {
        method: parsed.method.unwrap_or_default().to_string(),
        target: parsed.path.unwrap_or_default().to_string(),
        version: format!("HTTP/1.{}", parsed.version.unwrap_or(1)),
        headers,
    };
    Ok(Some((request, head_len, body_len)))
}

fn discard_body<S: Read>(stream: &mut S, len: usize) -> io::Result<()> {
    if len > MAX_BODY_BYTES {
        return Err(invalid_data("request body too large"));
    }
    io::copy(&mut stream.take(len as u64), &mut io::sink())?;
    Ok(())
}

fn write_response<S: Write>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        reason_phrase(status),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn invalid_data(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}
