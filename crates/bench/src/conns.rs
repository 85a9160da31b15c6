//! The HTTP client of the `--http` section: hyper's HTTP/1.1 connection API over keep-alive
//! TCP connections (no delay), as load generators such as `oha` drive a server. It does the
//! least a client can (no URL parsing, no proxy or redirect handling, no per-host pool lookup),
//! so that on a machine whose cores the client shares with the server, most of the CPU goes to
//! the server being measured. The server and the floor are measured with the same client.

use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// Keep-alive connections to one server, each used by one request at a time: a request takes
/// an idle connection (or opens one) and gives it back when its answer has been read.
pub struct Conns {
    addr: SocketAddr,
    host: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// A request's answer: its status and body.
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The whole body.
    pub body: Bytes,
}

impl Conns {
    /// Connections to the server at `addr`, opened when first needed.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect to {}: {e}", self.addr))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", self.addr))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends `method path` (with a JSON `body` when given) and reads the whole answer.
    ///
    /// # Errors
    /// The connection or the exchange failed (the connection is then dropped).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, String> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut sender = match idle {
            // A kept connection the server has just closed may still look open: a new one
            // is opened when it turns out not to be ready.
            Some(mut sender) if !sender.is_closed() => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect().await?,
            },
            _ => self.connect().await?,
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        Ok(Answer { status, body })
    }
}
