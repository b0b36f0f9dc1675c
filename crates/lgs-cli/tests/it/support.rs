//! What the tests that run other programs share: free ports, processes that are
//! stopped when dropped (also when a test fails), a minimal HTTP/1.1 client, and a
//! comparison of JSON results with a tolerance for floating point.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Tests of one group (the browser, the cluster, object storage, memory limits)
/// run beside each other but not beside another group's, as when each group was
/// a test binary of its own: on a 2-core machine the servers, clusters and
/// browsers they start would otherwise starve each other past their time-outs.
/// Tests that start nothing need no group.
pub struct Group;

static GROUP: Mutex<(Option<&str>, usize)> = Mutex::new((None, 0));
static GROUP_FREE: Condvar = Condvar::new();

/// Waits until no other group runs, then holds `name`'s turn until dropped.
pub fn group(name: &'static str) -> Group {
    let mut held = GROUP.lock().unwrap_or_else(|e| e.into_inner());
    while held.0.is_some_and(|g| g != name) {
        held = GROUP_FREE.wait(held).unwrap_or_else(|e| e.into_inner());
    }
    *held = (Some(name), held.1 + 1);
    Group
}

impl Drop for Group {
    fn drop(&mut self) {
        let mut held = GROUP.lock().unwrap_or_else(|e| e.into_inner());
        held.1 -= 1;
        if held.1 == 0 {
            held.0 = None;
            GROUP_FREE.notify_all();
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process, killed and reaped when dropped.
pub struct Process {
    pub child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program` quietly in `dir` and waits until it listens on `port`.
pub fn spawn_listening(program: &str, args: &[String], dir: &Path, port: u16) -> Process {
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let process = Process { child };
    wait_for_port(port, program);
    process
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the server on `port` answers an HTTP request with any status.
/// Some servers listen before they can answer: Azurite, on a cold machine, reset
/// the first connection after its port opened.
pub fn wait_for_http(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answered = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
            let mut start = [0u8; 5];
            stream.read_exact(&mut start)?;
            Ok(&start == b"HTTP/")
        });
        if matches!(answered, Ok(true)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} on port {port} did not answer HTTP within 60 s: {answered:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 request to 127.0.0.1; returns the status and the body.
///
/// The body is read by its `Content-Length` or its chunks, not to the end of the
/// connection: some servers (chromedriver) keep it open despite `Connection: close`.
/// A server that stops answering fails the test after two minutes instead of hanging.
pub fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let (status, _, body) = http_full(port, method, target, headers, body);
    (status, body)
}

/// [`http`], with the response's head (lower-cased) too.
pub fn http_full(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();

    let mut response = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut read_more = |response: &mut Vec<u8>| -> bool {
        let n = stream
            .read(&mut chunk)
            .unwrap_or_else(|e| panic!("{method} {target} on port {port}: {e}"));
        response.extend_from_slice(&chunk[..n]);
        n > 0
    };
    let split = loop {
        if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        assert!(
            read_more(&mut response),
            "no HTTP header in {}",
            String::from_utf8_lossy(&response)
        );
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head}"));
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .map(|v| v.trim().parse::<usize>().unwrap())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    let start = split + 4;
    loop {
        let done = match length {
            Some(n) => response.len() - start >= n,
            None if chunked => response[start..].ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done || !read_more(&mut response) {
            break;
        }
    }
    let body = response[start..].to_vec();
    if chunked {
        (status, head, dechunk(&body))
    } else {
        (status, head, body)
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// Asserts that two JSON documents are equal (same keys in the same order, same
/// lengths), numbers with a fraction to within `1e-9 × max(|a|, |b|, floor)`: a
/// relative bound, or an absolute one of `1e-9 × floor` near zero (`floor` 0: none).
/// `path` names where a difference is, in the message.
pub fn assert_json_close(a: &serde_json::Value, b: &serde_json::Value, path: &str, floor: f64) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            let tolerance = 1e-9 * x.abs().max(y.abs()).max(floor);
            assert!((x - y).abs() <= tolerance, "{path}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                assert_json_close(v, w, &format!("{path}[{i}]"), floor);
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{path}: keys");
            for (k, v) in x {
                assert_json_close(v, &y[k], &format!("{path}.{k}"), floor);
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// A tmux server of the test's own with one session running `command` in a
/// 160x50 terminal; killed when dropped, also when the test fails.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    pub fn start(dir: &Path, command: &str) -> Tmux {
        if std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_err()
        {
            panic!("this test needs tmux (.ci/run installs it: apt-get install tmux)");
        }
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "160",
            "-y",
            "50",
            command,
        ]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend(keys);
        self.run(&args);
    }

    /// The screen once it shows `text` (fails after 10 s).
    pub fn wait_for(&self, text: &str) -> String {
        for _ in 0..100 {
            let screen = self.run(&["capture-pane", "-p", "-t", "t"]);
            if screen.contains(text) {
                return screen;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let screen = self.run(&["capture-pane", "-p", "-t", "t"]);
        panic!("{text:?} never appeared:\n{screen}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The port of a `serving http://HOST:PORT/` (or `postgres://`) line.
pub fn served_port(line: &str) -> u16 {
    let port = line.trim().trim_end_matches('/').rsplit(':').next();
    port.and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}
