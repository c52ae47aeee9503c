//! Writing a request: the head in wire order straight into the buffer that is sent, then
//! the body.

/// A request being encoded, in wire order: [`H1Pool::request`](super::H1Pool::request) writes the request line
/// and `host`, [`header`](Self::header) adds lines, [`finish`](Self::finish) ends the head
/// and appends the body.
#[derive(Debug)]
pub struct RequestBytes {
    pub(super) bytes: Vec<u8>,
    pub(super) method: reqwest::Method,
}

impl RequestBytes {
    /// The request-target as written in the request line (path and query).
    pub fn target(&self) -> &[u8] {
        let start = self.method.as_str().len() + 1;
        let rest = self.bytes.get(start..).unwrap_or_default();
        &rest[..rest.iter().position(|&b| b == b' ').unwrap_or(rest.len())]
    }

    /// Adds a header line; a value that is not visible ASCII (or tab), which would break
    /// the head, is skipped, as an invalid `HeaderValue` is. `name` must be a valid name
    /// (the plan checks them).
    pub fn header(&mut self, name: &str, value: &[u8]) {
        if value.iter().all(|&b| (32..127).contains(&b) || b == b'\t') {
            self.header_with(name, |out| out.extend_from_slice(value));
        }
    }

    /// Adds a header line whose value `write` appends (it must write a valid value).
    pub fn header_with(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) {
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(b": ");
        write(&mut self.bytes);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// Ends the head (with `content-length` when there is a body or the method expects
    /// one) and appends the body.
    pub fn finish(mut self, body: Option<&[u8]>) -> Outgoing {
        let needs_length = body.is_some()
            || matches!(
                self.method,
                reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
            );
        if needs_length {
            let len = body.map_or(0, <[u8]>::len);
            self.header_with("content-length", |out| {
                out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
            });
        }
        self.bytes.extend_from_slice(b"\r\n");
        if let Some(body) = body {
            self.bytes.extend_from_slice(body);
        }
        Outgoing {
            head: self.method == reqwest::Method::HEAD,
            bytes: self.bytes,
        }
    }
}

/// An encoded request.
#[derive(Debug)]
pub struct Outgoing {
    pub(super) bytes: Vec<u8>,
    /// A HEAD request: the response has no body whatever its headers say.
    pub(super) head: bool,
}
