//! The dashboard under load on loopback: hundreds of requests in flight from
//! visitors, beside slow clients (a header sent a byte at a time, a CSV download
//! read slowly) and clients that hang up in the middle of a CSV download. Every
//! visitor's request is answered, and the server's memory stays bounded. The
//! figures (requests, p50/p99, peak memory) are printed (`--nocapture`) and kept in
//! RELIABILITY.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;

use crate::support::group;

/// Visitors (threads), each with this many requests in a row.
const VISITORS: usize = 200;
const REQUESTS_EACH: usize = 6;
const SLOW_HEADERS: usize = 20;
const SLOW_DOWNLOADS: usize = 20;
const HANG_UPS: usize = 40;

/// One request on a connection of its own; the status, and the body's length.
pub(crate) fn request(
    port: u16,
    method: &str,
    target: &str,
    body: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let status = std::str::from_utf8(response.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    Ok((status, response[at..].to_vec()))
}

/// Starts a query job and returns its id.
fn start_query(port: u16, sql: &str) -> u64 {
    let body = serde_json::json!({ "sql": sql }).to_string();
    let (status, body) = request(port, "POST", "/api/queries", &body).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["id"].as_u64().unwrap()
}

/// The server's resident memory now and at its peak, in MiB (Linux).
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn warehouse(dir: &Path) -> std::path::PathBuf {
    let csv = dir.join("g.csv");
    let wh = dir.join("wh");
    Command::cargo_bin("lgs")
        .unwrap()
        .args([
            "--quiet", "generate", "retail", "--rows", "200000", "--seed", "5",
        ])
        .arg("--out")
        .arg(&csv)
        .assert()
        .success();
    Command::cargo_bin("lgs")
        .unwrap()
        .env_remove("LGS_WAREHOUSE")
        .arg("--warehouse")
        .arg(&wh)
        .args(["--quiet", "ingest"])
        .arg(&csv)
        .assert()
        .success();
    wh
}

/// What the visitors saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

fn visitor(port: u16, chart: &str, i: usize, seen: &Mutex<Seen>) {
    for r in 0..REQUESTS_EACH {
        let started = Instant::now();
        let outcome = match (i + r) % 6 {
            0 => request(port, "GET", "/", ""),
            1 => request(port, "GET", "/api/charts", ""),
            2 => request(port, "GET", &format!("/api/charts/{chart}"), ""),
            3 => request(port, "GET", "/sql", ""),
            4 => request(
                port,
                "POST",
                "/api/queries",
                r#"{"sql": "SELECT country, count(*) AS n FROM retail GROUP BY country"}"#,
            ),
            _ => request(port, "GET", &format!("/api/charts/{chart}.svg"), ""),
        };
        let elapsed = started.elapsed();
        let mut seen = seen.lock().unwrap();
        match outcome {
            Ok((200, _)) => seen.latencies.push(elapsed),
            Ok((status, body)) => seen.errors.push(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )),
            Err(e) => seen.errors.push(e.to_string()),
        }
    }
}

/// Sends a request's header one byte every 50 ms until `stop`, then reads the answer.
fn slow_header(port: u16, stop: &AtomicBool) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = b"GET /api/charts HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Slow: ";
    for b in request {
        if stream.write_all(&[*b]).is_err() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    while !stop.load(Ordering::Relaxed) {
        if stream.write_all(b"a").is_err() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut response = Vec::new();
    let _ = stream.write_all(b"\r\n\r\n");
    let _ = stream.read_to_end(&mut response);
    response.starts_with(b"HTTP/1.1 200")
}

/// Downloads a CSV result, reading `limit` bytes `chunk` at a time with `pause`
/// between reads, then hangs up; says on `started` when the first bytes came.
fn download(
    port: u16,
    id: u64,
    (limit, chunk, pause): (usize, usize, Duration),
    started: std::sync::mpsc::Sender<()>,
) -> usize {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = write!(
        stream,
        "GET /api/queries/{id}/csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut buf = vec![0u8; chunk];
    let mut read = 0;
    let mut started = Some(started);
    while read < limit {
        let n = stream.read(&mut buf).unwrap_or(0);
        if let Some(tx) = started.take() {
            let _ = tx.send(());
        }
        if n == 0 {
            break;
        }
        read += n;
        std::thread::sleep(pause);
    }
    read
}

#[test]
fn the_dashboard_answers_hundreds_of_requests_in_flight_with_bounded_memory() {
    let _turn = group("load");
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let (server, _, port) = crate::browser::start_dashboard(&wh);
    let pid = server.child.id();
    let (status, body) = request(port, "GET", "/api/charts", "").unwrap();
    assert_eq!(status, 200);
    let charts: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let chart = charts["charts"][0]["id"].as_str().unwrap().to_string();
    // The whole table as CSV (some 20 MB), for the downloads.
    let all = start_query(port, "SELECT * FROM retail");
    let (rss_before, _) = memory(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..SLOW_HEADERS {
        let stop = stop.clone();
        slow.push(std::thread::spawn(move || slow_header(port, &stop)));
    }
    let mut downloads = Vec::new();
    let (tx, downloading) = std::sync::mpsc::channel();
    for i in 0..SLOW_DOWNLOADS + HANG_UPS {
        // 2 MB at 160 KB/s, or the first 64 KB at full speed; then hang up.
        let pace = if i < SLOW_DOWNLOADS {
            (2 << 20, 16 << 10, Duration::from_millis(100))
        } else {
            (64 << 10, 64 << 10, Duration::ZERO)
        };
        let tx = tx.clone();
        downloads.push(std::thread::spawn(move || download(port, all, pace, tx)));
    }
    // Every download has begun before the visitors' queries push the job out of
    // the server's last 50.
    drop(tx);
    for _ in 0..SLOW_DOWNLOADS + HANG_UPS {
        downloading.recv_timeout(Duration::from_secs(300)).unwrap();
    }
    let mut visitors = Vec::new();
    for i in 0..VISITORS {
        let (seen, chart) = (seen.clone(), chart.clone());
        visitors.push(std::thread::spawn(move || visitor(port, &chart, i, &seen)));
    }
    for v in visitors {
        v.join().unwrap();
    }
    let visitors_done = started.elapsed();
    let downloaded: usize = downloads.into_iter().map(|d| d.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    let slow_answered = slow
        .into_iter()
        .map(|s| s.join().unwrap())
        .filter(|ok| *ok)
        .count();
    let (rss_after, peak) = memory(pid);

    let seen = seen.lock().unwrap();
    let mut latencies = seen.latencies.clone();
    latencies.sort();
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    eprintln!(
        "load: {} visitor requests ({VISITORS} in flight) in {:.1} s: {} answered, {} errors; \
         p50 {} ms, p99 {} ms, max {} ms; {SLOW_HEADERS} slow headers ({slow_answered} answered), \
         {SLOW_DOWNLOADS} slow CSV downloads and {HANG_UPS} hang-ups mid-CSV ({} MB read); \
         server memory {rss_before} MiB before, {rss_after} MiB after, peak {peak} MiB",
        VISITORS * REQUESTS_EACH,
        visitors_done.as_secs_f64(),
        latencies.len(),
        seen.errors.len(),
        quantile(0.5).as_millis(),
        quantile(0.99).as_millis(),
        latencies.last().unwrap().as_millis(),
        downloaded >> 20,
    );
    assert!(
        seen.errors.is_empty(),
        "{:?}",
        &seen.errors[..seen.errors.len().min(5)]
    );
    assert_eq!(latencies.len(), VISITORS * REQUESTS_EACH);
    // 60 downloads of a 20 MB result in flight: buffering them would take over a
    // gigabyte; streaming takes a few batches each.
    assert!(
        peak < rss_before + 600,
        "peak {peak} MiB from {rss_before} MiB"
    );
    // Still answering, and the hung-up downloads stopped their queries.
    let (status, _) = request(port, "GET", "/api/charts", "").unwrap();
    assert_eq!(status, 200);
}
