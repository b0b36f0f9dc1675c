//! `lgs stream` and `lgs replay` against the NATS JetStream server on this machine
//! (127.0.0.1:4222, or LGS_TEST_NATS): every message published ends up in the table
//! or in its quarantine exactly once, also when the stream is killed (`kill -9`)
//! again and again while a producer publishes.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use serde_json::Value;

use crate::cli::lgs;

pub(crate) fn server() -> String {
    std::env::var("LGS_TEST_NATS").unwrap_or_else(|_| "127.0.0.1:4222".into())
}

/// A JetStream stream of its own for one test (subjects `NAME.>`), removed when
/// dropped.
pub(crate) struct TestStream {
    name: String,
    runtime: tokio::runtime::Runtime,
    context: jetstream::Context,
}

impl TestStream {
    pub(crate) fn new(test: &str) -> TestStream {
        let name = format!("lgs_test_{test}_{}", std::process::id());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let context = runtime.block_on(async {
            let client = async_nats::connect(server())
                .await
                .expect("the NATS server at 127.0.0.1:4222 (or LGS_TEST_NATS)");
            let context = jetstream::new(client);
            let _ = context.delete_stream(&name).await;
            context
                .create_stream(jetstream::stream::Config {
                    name: name.clone(),
                    subjects: vec![format!("{name}.>")],
                    ..Default::default()
                })
                .await
                .unwrap();
            context
        });
        TestStream {
            name,
            runtime,
            context,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://{}/{}", server(), self.name)
    }

    /// Publishes each payload (stored before this returns).
    pub(crate) fn publish(&self, payloads: &[&str]) {
        self.runtime.block_on(async {
            for p in payloads {
                let subject = format!("{}.lines", self.name);
                let ack = self
                    .context
                    .publish(subject, p.to_string().into())
                    .await
                    .unwrap();
                ack.await.unwrap();
            }
        });
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let _ = self
            .runtime
            .block_on(self.context.delete_stream(&self.name));
    }
}

/// A table's content in one line: counts, sums and distinct lines, to compare a
/// streamed table with an ingest of the same lines.
pub(crate) const CONTENT: &str = "SELECT concat_ws(' ', count(*), sum(quantity), \
    sum(unit_price * quantity), count(DISTINCT invoice_no), count(DISTINCT customer_id), \
    count(DISTINCT concat(invoice_no, stock_code, quantity, invoice_date))) AS c FROM retail";

/// `lgs sql --format json` rows.
pub(crate) fn rows(warehouse: &Path, sql: &str) -> Vec<Value> {
    match json_of(warehouse, &["sql", "--format", "json", sql]) {
        Value::Array(rows) => rows,
        other => panic!("{sql}: {other}"),
    }
}

/// `lgs stream --from URL ... --exit-when-idle 1s --output json`, run to its end.
pub(crate) fn stream_until_idle(warehouse: &Path, url: &str, extra: &[&str]) -> Value {
    let mut args = vec!["stream", "--from", url, "--trigger", "200ms"];
    args.extend(["--exit-when-idle", "1s", "--output", "json"]);
    args.extend(extra);
    json_of(warehouse, &args)
}

pub(crate) const GOOD: [&str; 3] = [
    r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"WHITE HANGING HEART","Quantity":6,"InvoiceDate":"12/1/2010 8:26","UnitPrice":2.55,"CustomerID":17850,"Country":"United Kingdom"}"#,
    r#"{"invoice_no":"C536379","stock_code":"D","description":"Discount","quantity":"-1","invoice_date":"2010-12-01 09:41:00","unit_price":"27.50","customer_id":"14527","country":"United Kingdom"}"#,
    r#"{"Invoice":"536370","StockCode":"22728","Description":"ALARM CLOCK","Quantity":24,"InvoiceDate":"12/1/2010 8:45","Price":"3.75","Customer ID":12583,"Country":"France"}"#,
];

/// Good messages of the three header shapes are loaded with their exact values; a
/// message that is not JSON and one whose quantity does not parse are quarantined
/// with the stream and their sequence; a second run loads nothing again; new
/// messages are loaded by the next run.
#[test]
fn each_message_is_loaded_or_quarantined_once() {
    let stream = TestStream::new("once");
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    stream.publish(&GOOD[..2]);
    stream.publish(&["not json at all"]);
    stream.publish(&[&GOOD[0].replace("\"Quantity\":6", "\"Quantity\":\"six\"")]);
    stream.publish(&GOOD[2..]);

    let first = stream_until_idle(&wh, &stream.url(), &[]);
    assert_eq!(first["rows_read"], 5, "{first}");
    assert_eq!(first["rows_loaded"], 3);
    assert_eq!(first["rows_rejected"], 2);
    assert_eq!(first["position"], 5);
    assert_eq!(first["stopped"], "idle");
    let loaded = rows(
        &wh,
        "SELECT invoice_no, stock_code, quantity, CAST(unit_price AS VARCHAR) AS price, \
         customer_id, country FROM retail ORDER BY invoice_no",
    );
    assert_eq!(
        serde_json::to_string(&loaded).unwrap(),
        r#"[{"invoice_no":"536365","stock_code":"85123A","quantity":6,"price":"2.5500","customer_id":17850,"country":"United Kingdom"},{"invoice_no":"536370","stock_code":"22728","quantity":24,"price":"3.7500","customer_id":12583,"country":"France"},{"invoice_no":"C536379","stock_code":"D","quantity":-1,"price":"27.5000","customer_id":14527,"country":"United Kingdom"}]"#
    );
    let rejected = rows(
        &wh,
        "SELECT source_file, line, raw, reason FROM retail_rejected ORDER BY line",
    );
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0]["source_file"], stream.url());
    assert_eq!(rejected[0]["line"], 3);
    assert_eq!(rejected[0]["raw"], "not json at all");
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a JSON object")
    );
    assert_eq!(rejected[1]["line"], 4);
    assert!(
        rejected[1]["reason"].as_str().unwrap().contains("quantity"),
        "{rejected:?}"
    );

    let again = stream_until_idle(&wh, &stream.url(), &[]);
    assert_eq!(again["rows_read"], 0, "{again}");
    assert_eq!(again["started_after"], 5);

    stream.publish(&[&GOOD[0].replace("536365", "536400")]);
    let next = stream_until_idle(&wh, &stream.url(), &[]);
    assert_eq!(
        (next["rows_read"].as_u64(), next["position"].as_u64()),
        (Some(1), Some(6))
    );
    assert_eq!(rows(&wh, "SELECT count(*) AS n FROM retail")[0]["n"], 4);
    assert_eq!(
        rows(&wh, "SELECT count(*) AS n FROM retail_rejected")[0]["n"],
        2
    );
}

/// CSV messages under a declared header; a header that is no shape is refused
/// before anything is read.
#[test]
fn csv_messages_under_a_declared_header() {
    let stream = TestStream::new("csv");
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    stream.publish(&[
        "536365,85123A,\"HEART, WHITE\",6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
        "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850",
    ]);
    let header =
        "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country";
    let report = stream_until_idle(&wh, &stream.url(), &["--format", "csv", "--header", header]);
    assert_eq!(
        (
            report["rows_loaded"].as_u64(),
            report["rows_rejected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        rows(&wh, "SELECT description FROM retail")[0]["description"],
        "HEART, WHITE"
    );
    let reason = &rows(&wh, "SELECT reason FROM retail_rejected")[0]["reason"];
    assert!(
        reason.as_str().unwrap().contains("expected 8 fields"),
        "{reason}"
    );

    lgs(&wh)
        .args([
            "stream",
            "--from",
            &stream.url(),
            "--format",
            "csv",
            "--header",
            "a,b",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains("not one of the header shapes"));
}

/// An unreachable broker is retried with backoff, saying so, then fails naming it;
/// a stream that does not exist fails at once.
#[test]
fn an_unreachable_broker_or_a_missing_stream_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    lgs(&dir.path().join("wh"))
        .args([
            "stream",
            "--from",
            "nats://127.0.0.1:1/S",
            "--retry-for",
            "2s",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "nats://127.0.0.1:1/S: cannot connect",
        ))
        .stderr(predicates::str::contains("retrying in 0.5 s"));
    assert!(started.elapsed() < Duration::from_secs(20));
    lgs(&dir.path().join("wh"))
        .args([
            "stream",
            "--from",
            &format!("nats://{}/lgs_no_such_stream", server()),
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains("no such stream"));
}

/// Writes a generated CSV of `rows` lines (deterministic per seed) to `path`.
pub(crate) fn generated(path: &Path, rows: u64, seed: u64) {
    lgs(path.parent().unwrap())
        .args(["--quiet", "generate", "retail", "--rows"])
        .arg(rows.to_string())
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(path)
        .assert()
        .success();
}

/// `lgs --warehouse WH` as a process to start (and kill).
pub(crate) fn lgs_process(wh: &Path) -> Process {
    let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("lgs"));
    cmd.env_remove("LGS_WAREHOUSE").arg("--warehouse").arg(wh);
    cmd
}

/// A small xorshift for kill times (repeatable).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

pub(crate) fn spawn_stream(wh: &Path, url: &str) -> Child {
    lgs_process(wh)
        .args([
            "--quiet",
            "stream",
            "--from",
            url,
            "--trigger",
            "100ms",
            "--max-batch",
            "700",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A producer publishes 20,000 lines (20 of them bad) while the stream is killed
/// with SIGKILL at random moments and started again, ten times; a last run catches
/// up. The table then holds exactly what an ingest of the file holds (by content),
/// and the quarantine each bad line once; the live state the runs kept (killed
/// among them too) gives the report of every line.
#[test]
fn killed_again_and_again_while_a_producer_publishes() {
    let stream = TestStream::new("kill");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.csv");
    generated(&file, 20_000, 5);
    let mut text = std::fs::read_to_string(&file).unwrap();
    for i in 0..20 {
        text.push_str(&format!(
            "X{i},A,bad line,lots,12/1/2010 8:26,1.0,17850,United Kingdom\n"
        ));
    }
    // Bad lines among the good ones, not only at the end.
    let mut lines: Vec<&str> = text.lines().collect();
    let bad: Vec<&str> = lines.split_off(lines.len() - 20);
    for (i, b) in bad.into_iter().enumerate() {
        lines.insert(1 + (i + 1) * 900, b);
    }
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let reference = dir.path().join("reference");
    lgs(&reference).arg("ingest").arg(&file).assert().success();

    let wh = dir.path().join("wh");
    let mut producer = Process::new(assert_cmd::cargo::cargo_bin("lgs"))
        .args(["--quiet", "replay"])
        .arg(&file)
        .args(["--to", &stream.url(), "--rate", "5000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut live = false;
    for _ in 0..10 {
        let mut child = spawn_stream(&wh, &stream.url());
        std::thread::sleep(Duration::from_millis(200 + rng.below(900)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Once there is a table, the live state too: the next runs bring it along
        // and are killed in the middle of that as well.
        if !live && wh.join("retail/_delta_log").is_dir() {
            lgs(&wh).arg("live").assert().success();
            live = true;
        }
    }
    assert!(live, "no commit in ten runs");
    assert!(producer.wait().unwrap().success());
    let last = stream_until_idle(&wh, &stream.url(), &["--max-batch", "700"]);
    assert_eq!(last["position"], 20_020, "{last}");
    // The last run brought the live state up to date (also when a killed run had
    // committed the last batch without it), and the report over it is the report
    // over every line.
    let state = json_of(&wh, &["live", "--format", "json"]);
    assert_eq!(state["change"], "current", "{state}");
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "--format", "json"];
        args.extend(extra);
        json_of(&wh, &args)
    };
    assert_eq!(report(&[]), report(&["--recompute"]));

    assert_eq!(rows(&wh, CONTENT), rows(&reference, CONTENT));
    let rejected = rows(
        &wh,
        "SELECT count(*) AS n, count(DISTINCT line) AS lines FROM retail_rejected",
    );
    assert_eq!(rejected[0]["n"], 20, "{rejected:?}");
    assert_eq!(rejected[0]["lines"], 20);
}

/// A run that dies between committing a batch's quarantine and its rows is followed
/// by a run that loads the rows and does not quarantine them again.
#[test]
fn a_run_killed_between_its_two_commits() {
    let stream = TestStream::new("between");
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    stream.publish(&[GOOD[0], "bad", GOOD[1]]);
    let died = lgs(&wh)
        .env("LGS_TEST_STREAM_ABORT_AFTER_QUARANTINE", "1")
        .args(["stream", "--from", &stream.url(), "--exit-when-idle", "1s"])
        .output()
        .unwrap();
    assert!(!died.status.success());
    assert_eq!(
        rows(&wh, "SELECT count(*) AS n FROM retail_rejected")[0]["n"],
        1
    );
    stream.publish(&["worse", GOOD[2]]);
    let report = stream_until_idle(&wh, &stream.url(), &[]);
    assert_eq!(report["rows_read"], 5, "{report}");
    assert_eq!(rows(&wh, "SELECT count(*) AS n FROM retail")[0]["n"], 3);
    let lines = rows(&wh, "SELECT line FROM retail_rejected ORDER BY line");
    assert_eq!(
        serde_json::to_string(&lines).unwrap(),
        r#"[{"line":2},{"line":4}]"#
    );
}

/// What `lgs ARGS` prints as JSON (it must succeed).
pub(crate) fn json_of(wh: &Path, args: &[&str]) -> Value {
    let out = lgs(wh).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lgs {args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// A NATS server of the test's own (JetStream, storing in `dir`), to take away.
fn start_nats(port: u16, dir: &Path) -> Child {
    let binary = std::env::var("LGS_TEST_NATS_SERVER").unwrap_or_else(|_| {
        [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("nats-server")
        .to_string()
    });
    let child = Process::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (Debian's nats-server package, or LGS_TEST_NATS_SERVER)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The broker goes away mid-stream and comes back: the stream goes on where the
/// table is, every message loaded once. Gone for good, it stops the stream with an
/// error naming it once --retry-for is over, the batches before it committed.
#[test]
fn the_broker_goes_away_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = 14222 + (std::process::id() % 1000) as u16;
    let mut server = start_nats(port, &dir.path().join("js"));
    let url = format!("nats://127.0.0.1:{port}/AWAY");
    let file = dir.path().join("lines.csv");
    generated(&file, 3000, 4);
    let replay = |limit: &str| {
        lgs(dir.path())
            .args(["--quiet", "replay"])
            .arg(&file)
            .args(["--to", &url, "--limit", limit])
            .assert()
            .success();
    };
    replay("1000");
    let wh = dir.path().join("wh");
    let consumer = lgs_process(&wh)
        .args([
            "stream",
            "--from",
            &url,
            "--trigger",
            "200ms",
            "--exit-when-idle",
            "4s",
        ])
        .args(["--retry-for", "30s", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill().unwrap();
    server.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut server = start_nats(port, &dir.path().join("js"));
    // The whole file: the first 1,000 lines again, then 2,000 new ones.
    replay("3000");
    let out = consumer.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["rows_read"].as_u64(), report["position"].as_u64()),
        (Some(4000), Some(4000))
    );
    assert_eq!(rows(&wh, "SELECT count(*) AS n FROM retail")[0]["n"], 4000);

    // Gone for good.
    let consumer = lgs_process(&wh)
        .args([
            "stream",
            "--from",
            &url,
            "--trigger",
            "200ms",
            "--retry-for",
            "3s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let gone = Instant::now();
    server.kill().unwrap();
    server.wait().unwrap();
    let out = consumer.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        gone.elapsed() < Duration::from_secs(30),
        "{:?}",
        gone.elapsed()
    );
    assert!(stderr.contains("error: the stream stopped"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("retrying in"), "{stderr}");
    assert_eq!(rows(&wh, "SELECT count(*) AS n FROM retail")[0]["n"], 4000);
}
