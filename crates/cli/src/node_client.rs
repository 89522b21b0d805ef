//! Asking the node agent (`signet serve node`) over its Unix socket: one
//! JSON line each way ([`node::protocol`]). Shared by the containerd
//! verifier and `signet runtime scan`.

use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use node::protocol::{MAX_LINE, Request, Response};

/// Asks whether `name@digest` may run; bounded by `timeout` per read and write.
#[allow(dead_code)] // the containerd verifier sends whole requests
pub fn ask(socket: &Path, name: &str, digest: &str, timeout: Duration) -> Result<Response, String> {
    ask_request(
        socket,
        &Request {
            name: name.to_owned(),
            digest: digest.to_owned(),
            media_type: None,
        },
        timeout,
    )
}

/// Sends `request` and reads the answer.
pub fn ask_request(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, String> {
    let unavailable = |e: std::io::Error| format!("node agent at {} unavailable: {e}", socket.display());
    let mut stream = UnixStream::connect(socket).map_err(unavailable)?;
    stream.set_read_timeout(Some(timeout)).map_err(unavailable)?;
    stream.set_write_timeout(Some(timeout)).map_err(unavailable)?;
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream.write_all(&line).map_err(unavailable)?;
    let mut answer = Vec::new();
    BufReader::new(stream)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut answer)
        .map_err(|e| format!("node agent at {} did not answer in time: {e}", socket.display()))?;
    serde_json::from_slice(&answer).map_err(|e| format!("node agent answered something unreadable: {e}"))
}
