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

fn server() -> String {
    std::env::var("LGS_TEST_NATS").unwrap_or_else(|_| "127.0.0.1:4222".into())
}

/// A JetStream stream of its own for one test (subjects `NAME.>`), removed when
/// dropped.
struct TestStream {
    name: String,
    runtime: tokio::runtime::Runtime,
    context: jetstream::Context,
}

impl TestStream {
    fn new(test: &str) -> TestStream {
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

    fn url(&self) -> String {
        format!("nats://{}/{}", server(), self.name)
    }

    /// Publishes each payload (stored before this returns).
    fn publish(&self, payloads: &[&str]) {
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

/// `lgs sql --format json` rows.
fn rows(warehouse: &Path, sql: &str) -> Vec<Value> {
    let out = lgs(warehouse)
        .args(["sql", "--format", "json", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// `lgs stream --from URL ... --exit-when-idle 1s --output json`, run to its end.
fn stream_until_idle(warehouse: &Path, url: &str, extra: &[&str]) -> Value {
    let out = lgs(warehouse)
        .args(["stream", "--from", url, "--trigger", "200ms"])
        .args(["--exit-when-idle", "1s", "--output", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lgs stream failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

const GOOD: [&str; 3] = [
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

fn spawn_stream(wh: &Path, url: &str) -> Child {
    Process::new(assert_cmd::cargo::cargo_bin("lgs"))
        .env_remove("LGS_WAREHOUSE")
        .arg("--warehouse")
        .arg(wh)
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
/// and the quarantine each bad line once.
#[test]
fn killed_again_and_again_while_a_producer_publishes() {
    let stream = TestStream::new("kill");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.csv");
    lgs(dir.path())
        .args([
            "--quiet", "generate", "retail", "--rows", "20000", "--seed", "5", "--out",
        ])
        .arg(&file)
        .assert()
        .success();
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
    for _ in 0..10 {
        let mut child = spawn_stream(&wh, &stream.url());
        std::thread::sleep(Duration::from_millis(200 + rng.below(900)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(producer.wait().unwrap().success());
    let last = stream_until_idle(&wh, &stream.url(), &["--max-batch", "700"]);
    assert_eq!(last["position"], 20_020, "{last}");

    let content = "SELECT concat_ws(' ', count(*), sum(quantity), sum(unit_price * quantity), \
                   count(DISTINCT invoice_no), count(DISTINCT customer_id), \
                   count(DISTINCT concat(invoice_no, stock_code, quantity, invoice_date))) AS c \
                   FROM retail";
    assert_eq!(rows(&wh, content), rows(&reference, content));
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
