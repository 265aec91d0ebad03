//! Raw HTTP/1.1 client for sending requests exactly as written, such as the conformance
//! cases' `request.txt` files.
//!
//! Connection handling: unless the request head already has a `Connection` header, the
//! client inserts `Connection: close` as the last header line, so the server closes the
//! connection after its response. The client still reads the body by its framing
//! (`Content-Length` or chunked) and only falls back to reading until the connection closes
//! when the response has neither.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::tls;

/// Time limit for a whole exchange (connect, send, receive) in [`send_raw`] and [`get`].
///
/// It is larger than the slowest response a conformance case allows (15 s, when a JWKS
/// endpoint hangs), so that such a case fails on its own check and not on this limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields in received order, with the received spelling.
    pub headers: Vec<(String, String)>,
    /// Body, with chunked transfer coding removed.
    pub body: Vec<u8>,
}

impl Response {
    /// Returns the value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns the body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` to 127.0.0.1:`port` and returns the response.
///
/// # Panics
///
/// Panics when the connection fails, the response is malformed or no complete response
/// arrives within [`DEFAULT_TIMEOUT`].
pub fn send_raw(port: u16, request: &[u8]) -> Response {
    try_send_raw(port, request, DEFAULT_TIMEOUT)
        .unwrap_or_else(|error| panic!("request to 127.0.0.1:{port} failed: {error}"))
}

/// Sends a GET request for `path` with the given extra headers to 127.0.0.1:`port`.
///
/// # Panics
///
/// Panics as [`send_raw`] does.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    send_raw(port, request.as_bytes())
}

/// Sends `request` to 127.0.0.1:`port` and returns the response, or an error when the
/// exchange fails or takes longer than `timeout`. A timeout has kind
/// [`io::ErrorKind::TimedOut`].
pub fn try_send_raw(port: u16, request: &[u8], timeout: Duration) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let stream = connect(port, timeout)?;
    let socket = stream.try_clone()?;
    exchange(stream, &socket, request, deadline)
}

/// Sends `request` over TLS to 127.0.0.1:`port`, trusting only the CA certificates in
/// `ca_pem`, and returns the response. Errors are as in [`try_send_raw`]; a certificate
/// that the CA did not sign gives an error of kind [`io::ErrorKind::InvalidData`].
///
/// # Panics
///
/// Panics when `ca_pem` contains no valid certificate.
pub fn try_send_raw_tls(
    port: u16,
    request: &[u8],
    ca_pem: &str,
    timeout: Duration,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let config: Arc<ClientConfig> = tls::tls_client_config(ca_pem);
    let server_name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let connection = ClientConnection::new(config, server_name).map_err(io::Error::other)?;
    let stream = connect(port, timeout)?;
    let socket = stream.try_clone()?;
    exchange(
        StreamOwned::new(connection, stream),
        &socket,
        request,
        deadline,
    )
}

fn connect(port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Writes the request and reads until the response is complete. `socket` is a handle to
/// the same TCP socket as `stream`, used to shorten the read timeout as the deadline nears.
fn exchange<S: Read + Write>(
    mut stream: S,
    socket: &TcpStream,
    request: &[u8],
    deadline: Instant,
) -> io::Result<Response> {
    let request = with_connection_close(request);
    stream.write_all(&request)?;
    stream.flush()?;
    let is_head = request.starts_with(b"HEAD ");
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timed_out());
        }
        socket.set_read_timeout(Some(remaining))?;
        let read = match stream.read(&mut chunk) {
            Ok(read) => read,
            Err(error) if is_timeout(&error) => return Err(timed_out()),
            // A server that closes without TLS close_notify still ends the response.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(error) => return Err(error),
        };
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(response) = parse_response(&buffer, read == 0, is_head)? {
            return Ok(response);
        }
    }
}

/// Inserts `Connection: close` before the blank line that ends the request head, unless
/// the head has a `Connection` header or no blank line.
fn with_connection_close(request: &[u8]) -> Vec<u8> {
    let Some(head_end) = find(request, b"\r\n\r\n") else {
        return request.to_vec();
    };
    let head = String::from_utf8_lossy(&request[..head_end]);
    let has_connection = head
        .split("\r\n")
        .skip(1)
        .any(|line| line.to_ascii_lowercase().starts_with("connection:"));
    if has_connection {
        return request.to_vec();
    }
    let insert_at = head_end + 2;
    let mut output = request[..insert_at].to_vec();
    output.extend_from_slice(b"Connection: close\r\n");
    output.extend_from_slice(&request[insert_at..]);
    output
}

/// Parses a response from `buffer`; returns `None` while more bytes are needed. `eof`
/// is true when the connection has closed.
fn parse_response(buffer: &[u8], eof: bool, is_head: bool) -> io::Result<Option<Response>> {
    let mut start = 0;
    loop {
        let Some((status, headers, head_len)) = parse_head(&buffer[start..])? else {
            return incomplete(eof, "the connection closed before the response head ended");
        };
        // Interim 1xx responses precede the final one.
        if (100..200).contains(&status) && status != 101 {
            start += head_len;
            continue;
        }
        let rest = &buffer[start + head_len..];
        let Some(body) = parse_body(rest, &headers, status, eof, is_head)? else {
            return incomplete(eof, "the connection closed before the response body ended");
        };
        return Ok(Some(Response {
            status,
            headers,
            body,
        }));
    }
}

type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(buffer: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(invalid_data(format!("invalid response head: {error}"))),
    };
    let headers = parsed
        .headers
        .iter()
        .map(|header| {
            let value = String::from_utf8_lossy(header.value).into_owned();
            (header.name.to_string(), value)
        })
        .collect();
    Ok(Some((parsed.code.unwrap_or_default(), headers, head_len)))
}

fn parse_body(
    rest: &[u8],
    headers: &[(String, String)],
    status: u16,
    eof: bool,
    is_head: bool,
) -> io::Result<Option<Vec<u8>>> {
    if is_head || status == 204 || status == 304 {
        return Ok(Some(Vec::new()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some_and(|coding| coding.ends_with("chunked")) {
        return decode_chunked(rest);
    }
    if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid_data(format!("invalid Content-Length {length:?}")))?;
        return Ok((rest.len() >= length).then(|| rest[..length].to_vec()));
    }
    Ok(eof.then(|| rest.to_vec()))
}

/// Decodes a chunked body; returns `None` while the last chunk has not arrived.
fn decode_chunked(mut rest: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let (line_len, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(parsed)) => parsed,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(invalid_data("invalid chunk size line".to_string())),
        };
        rest = &rest[line_len..];
        if size == 0 {
            // The body ends with an empty line, after optional trailer fields.
            let ended = rest.starts_with(b"\r\n") || find(rest, b"\r\n\r\n").is_some();
            return Ok(ended.then_some(body));
        }
        let size = usize::try_from(size).map_err(|_| invalid_data("chunk too large".into()))?;
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn incomplete<T>(eof: bool, message: &str) -> io::Result<Option<T>> {
    if eof {
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, message))
    } else {
        Ok(None)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no complete response before the deadline",
    )
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::{parse_response, with_connection_close};

    fn parse_complete(bytes: &[u8]) -> super::Response {
        parse_response(bytes, false, false)
            .expect("valid response")
            .expect("complete response")
    }

    #[test]
    fn connection_close_inserted_before_blank_line() {
        let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let expected = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        assert_eq!(with_connection_close(request), expected.to_vec());
    }

    #[test]
    fn connection_close_keeps_body_after_head() {
        let request = b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
        let output = with_connection_close(request);
        assert!(output.ends_with(b"Connection: close\r\n\r\nbody"));
    }

    #[test]
    fn connection_header_left_as_given() {
        let request = b"GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n";
        assert_eq!(with_connection_close(request), request.to_vec());
        let incomplete = b"GET / HTTP/1.1\r\nHost: a\r\n";
        assert_eq!(with_connection_close(incomplete), incomplete.to_vec());
    }

    #[test]
    fn response_with_content_length() {
        let bytes = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\nX-A: b\r\n\r\nnope!";
        let response = parse_complete(bytes);
        assert_eq!(response.status, 403);
        assert_eq!(response.body, b"nope!");
        assert_eq!(response.header("x-a"), Some("b"));

        let partial = &bytes[..bytes.len() - 1];
        assert!(
            parse_response(partial, false, false)
                .expect("valid")
                .is_none()
        );
        let error = parse_response(partial, true, false).expect_err("truncated body");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn response_with_chunked_body() {
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                      3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_complete(bytes).body, b"abcde");

        let trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                         1\r\nx\r\n0\r\nX-Trailer: y\r\n\r\n";
        assert_eq!(parse_complete(trailers).body, b"x");

        let unfinished = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
        assert!(
            parse_response(unfinished, false, false)
                .expect("valid")
                .is_none()
        );
    }

    #[test]
    fn response_without_length_ends_at_close() {
        let bytes = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert!(
            parse_response(bytes, false, false)
                .expect("valid")
                .is_none()
        );
        let response = parse_response(bytes, true, false)
            .expect("valid")
            .expect("done");
        assert_eq!(response.body, b"until close");
    }

    #[test]
    fn response_interim_and_bodiless() {
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let response = parse_complete(bytes);
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());

        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let response = parse_response(head, false, true)
            .expect("valid")
            .expect("done");
        assert!(response.body.is_empty());
    }

    #[test]
    fn response_malformed_head() {
        let error = parse_response(b"NOT HTTP\r\n\r\n", false, false).expect_err("invalid");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
