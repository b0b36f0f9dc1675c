//! `lgs stream --from kafka://` and `lgs replay --to kafka://` against a real
//! Kafka-protocol broker started by these tests: tansu (a Kafka-compatible broker
//! written in Rust, from crates.io), which `.ci/run` installs and names in
//! `LGS_TEST_TANSU`; when it is unset, each test says so and skips. Each test has a
//! broker of its own. Topics are made and messages published with rskafka directly,
//! not through lgs, except where a test replays a file as its producer.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use crate::cli::lgs;
use crate::objectstore::{Emulator, start_listening};
use crate::stream::{CONTENT, GOOD, generated, lgs_process, rows, stream_until_idle};
use crate::support::free_port;

/// A tansu broker of the test's own (in memory), stopped when dropped.
struct Broker {
    emulator: Emulator,
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Broker {
    fn start() -> Option<Broker> {
        let emulator = start_listening("LGS_TEST_TANSU", |port, _| {
            let url = format!("tcp://127.0.0.1:{port}");
            [
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ]
            .map(String::from)
            .to_vec()
        })?;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = runtime.block_on(async {
            ClientBuilder::new(vec![format!("127.0.0.1:{}", emulator.port)])
                .build()
                .await
                .expect("tansu answers")
        });
        Some(Broker {
            emulator,
            runtime,
            client,
        })
    }

    fn url(&self, topic: &str) -> String {
        format!("kafka://127.0.0.1:{}/{topic}", self.emulator.port)
    }

    fn create(&self, topic: &str, partitions: i32) {
        self.runtime.block_on(async {
            let controller = self.client.controller_client().unwrap();
            controller
                .create_topic(topic, partitions, 1, 5_000)
                .await
                .unwrap();
        });
    }

    /// Publishes `payloads` to one partition (stored before this returns); their
    /// offsets.
    fn publish(&self, topic: &str, partition: i32, payloads: &[&str]) -> Vec<i64> {
        self.runtime.block_on(async {
            let client = self
                .client
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await
                .unwrap();
            let records = payloads
                .iter()
                .map(|p| Record {
                    key: None,
                    value: Some(p.as_bytes().to_vec()),
                    headers: BTreeMap::new(),
                    timestamp: chrono::Utc::now(),
                })
                .collect();
            client
                .produce(records, Compression::NoCompression)
                .await
                .unwrap()
        })
    }
}

/// Messages on three partitions: good ones loaded with their exact values, bad ones
/// quarantined with their partition and position (offset + 1); each partition's
/// position recorded on its own; a second run loads nothing; a new message on one
/// partition is loaded by the next run, and only it.
#[test]
fn every_partition_loaded_or_quarantined_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create("sales", 3);
    assert_eq!(
        broker.publish("sales", 0, &[GOOD[0], "not json at all"]),
        [0, 1]
    );
    broker.publish("sales", 1, &[GOOD[1]]);
    let bad = GOOD[2].replace("\"Quantity\":24", "\"Quantity\":\"lots\"");
    broker.publish("sales", 2, &[&bad, GOOD[2]]);
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let url = broker.url("sales");

    let first = stream_until_idle(&wh, &url, &[]);
    assert_eq!(first["rows_read"], 5, "{first}");
    assert_eq!(first["rows_loaded"], 3);
    assert_eq!(first["rows_rejected"], 2);
    assert_eq!(first["stopped"], "idle");
    let held: Vec<(String, u64)> = first["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["broker"].as_str().unwrap().into(),
                l["position"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        held,
        [
            (format!("{url}#0"), 2),
            (format!("{url}#1"), 1),
            (format!("{url}#2"), 2)
        ]
    );
    let loaded = rows(
        &wh,
        "SELECT invoice_no, quantity, CAST(unit_price AS VARCHAR) AS price, customer_id \
         FROM retail ORDER BY invoice_no",
    );
    assert_eq!(
        serde_json::to_string(&loaded).unwrap(),
        r#"[{"invoice_no":"536365","quantity":6,"price":"2.5500","customer_id":17850},{"invoice_no":"536370","quantity":24,"price":"3.7500","customer_id":12583},{"invoice_no":"C536379","quantity":-1,"price":"27.5000","customer_id":14527}]"#
    );
    let rejected = rows(
        &wh,
        "SELECT source_file, line, raw FROM retail_rejected ORDER BY source_file",
    );
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0]["source_file"], format!("{url}#0"));
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(rejected[0]["raw"], "not json at all");
    assert_eq!(rejected[1]["source_file"], format!("{url}#2"));
    assert_eq!(rejected[1]["line"], 1);

    let again = stream_until_idle(&wh, &url, &[]);
    assert_eq!(again["rows_read"], 0, "{again}");
    assert_eq!(again["started_after"], 5);

    // Batches of one message: positions inside the broker's batches of two (which
    // tansu does not answer from unless asked from the batch's start).
    let single = dir.path().join("single");
    let ones = stream_until_idle(&single, &url, &["--max-batch", "1"]);
    assert_eq!(
        (ones["rows_read"].as_u64(), ones["batches"].as_u64()),
        (Some(5), Some(5)),
        "{ones}"
    );
    assert_eq!(rows(&single, "SELECT count(*) AS n FROM retail")[0]["n"], 3);

    broker.publish("sales", 1, &[&GOOD[0].replace("536365", "536400")]);
    let next = stream_until_idle(&wh, &url, &[]);
    assert_eq!(next["rows_read"], 1, "{next}");
    assert_eq!(next["lanes"][1]["position"], 2);
    assert_eq!(rows(&wh, "SELECT count(*) AS n FROM retail")[0]["n"], 4);
}

/// `lgs replay --to kafka://` makes the topic with --partitions and spreads the
/// lines over them while the stream is killed (SIGKILL) at random moments and
/// started again; a last run catches up. The table then holds exactly what an
/// ingest of the file holds (by content), and the quarantine each bad line once.
#[test]
fn killed_again_and_again_while_a_producer_publishes_to_kafka() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.csv");
    generated(&file, 12_000, 7);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for i in 0..12 {
        let bad = format!("X{i},A,bad line,lots,12/1/2010 8:26,1.0,17850,United Kingdom");
        lines.insert(1 + (i + 1) * 900, bad);
    }
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let reference = dir.path().join("reference");
    lgs(&reference).arg("ingest").arg(&file).assert().success();

    let url = broker.url("drops");
    let wh = dir.path().join("wh");
    let mut producer = Process::new(assert_cmd::cargo::cargo_bin("lgs"))
        .args(["--quiet", "replay"])
        .arg(&file)
        .args(["--to", &url, "--partitions", "3", "--rate", "4000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut committed = false;
    let started = Instant::now();
    for _ in 0..8 {
        let mut child = lgs_process(&wh)
            .args(["--quiet", "stream", "--from", &url, "--trigger", "100ms"])
            .args(["--max-batch", "500", "--retry-for", "5s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 900));
        child.kill().unwrap();
        child.wait().unwrap();
        committed |= wh.join("retail/_delta_log").is_dir();
    }
    assert!(committed, "no commit in eight runs");
    assert!(producer.wait().unwrap().success());
    let last = stream_until_idle(&wh, &url, &["--max-batch", "500"]);
    assert_eq!(last["lanes"].as_array().map(Vec::len), Some(3), "{last}");
    assert_eq!(last["position"], 12_012, "{last}");
    assert_eq!(rows(&wh, CONTENT), rows(&reference, CONTENT));
    let rejected = rows(
        &wh,
        "SELECT count(*) AS n, count(DISTINCT concat(source_file, line)) AS lines \
         FROM retail_rejected",
    );
    assert_eq!(rejected[0]["n"], 12, "{rejected:?}");
    assert_eq!(rejected[0]["lines"], 12);
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// An unreachable broker is retried with backoff for --retry-for, then a clear
/// error naming it; a topic that does not exist says how to make one.
#[test]
fn an_unreachable_kafka_broker_or_a_missing_topic_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let closed = free_port();
    let started = Instant::now();
    lgs(&wh)
        .args(["stream", "--from", &format!("kafka://127.0.0.1:{closed}/t")])
        .args(["--retry-for", "2s"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "kafka://127.0.0.1:{closed}/t: cannot connect"
        )))
        .stderr(predicates::str::contains("retrying in 0.5 s"));
    assert!(started.elapsed() < Duration::from_secs(30));
    let Some(broker) = Broker::start() else {
        return;
    };
    lgs(&wh)
        .args(["stream", "--from", &broker.url("nothing_here")])
        .assert()
        .failure()
        .stderr(predicates::str::contains("no such topic"));
    assert!(!Path::new(&wh.join("retail")).exists());
}

/// The broker goes away while a stream runs: the stream retries with backoff for
/// --retry-for, then stops with an error naming the broker, every batch before
/// committed once (tansu keeps its topics in memory, so it cannot come back with
/// them; NATS's test covers a broker that comes back).
#[test]
fn the_kafka_broker_goes_away() {
    let Some(mut broker) = Broker::start() else {
        return;
    };
    broker.create("away", 2);
    let lines: Vec<String> = (0..400)
        .map(|i| GOOD[0].replace("536365", &(600_000 + i).to_string()))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    broker.publish("away", 0, &lines[..200]);
    broker.publish("away", 1, &lines[200..]);
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let consumer = lgs_process(&wh)
        .args([
            "stream",
            "--from",
            &broker.url("away"),
            "--trigger",
            "200ms",
        ])
        .args(["--retry-for", "3s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while rows_or_none(&wh) < 400 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
    }
    broker.emulator.process.child.kill().unwrap();
    broker.emulator.process.child.wait().unwrap();
    let out = consumer.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("retrying in 0.5 s"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}#", broker.url("away"))),
        "{stderr}"
    );
    assert!(
        stderr.contains("every batch before this one is committed"),
        "{stderr}"
    );
    let content = rows(
        &wh,
        "SELECT count(*) AS n, count(DISTINCT invoice_no) AS invoices FROM retail",
    );
    assert_eq!(
        (content[0]["n"].as_u64(), content[0]["invoices"].as_u64()),
        (Some(400), Some(400))
    );
}

/// Rows in the warehouse's retail table (0 before it exists).
fn rows_or_none(wh: &Path) -> u64 {
    if !wh.join("retail/_delta_log").is_dir() {
        return 0;
    }
    rows(wh, "SELECT count(*) AS n FROM retail")[0]["n"]
        .as_u64()
        .unwrap_or(0)
}

/// `lgs generate retail --to kafka://... --partitions 2` publishes what `--out`
/// writes: streamed, the table equals an ingest of the same seed's file.
#[test]
fn generated_lines_published_to_a_kafka_topic() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.csv");
    generated(&file, 2_000, 9);
    let reference = dir.path().join("reference");
    lgs(&reference).arg("ingest").arg(&file).assert().success();
    let url = broker.url("generated");
    lgs(dir.path())
        .args([
            "--quiet", "generate", "retail", "--rows", "2000", "--seed", "9",
        ])
        .args(["--to", &url, "--partitions", "2"])
        .assert()
        .success()
        .stdout(predicates::str::contains("partition 1 offsets"));
    let wh = dir.path().join("wh");
    let report = stream_until_idle(&wh, &url, &[]);
    assert_eq!(
        report["lanes"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert_eq!(report["rows_read"], 2_000, "{report}");
    assert_eq!(rows(&wh, CONTENT), rows(&reference, CONTENT));
}
