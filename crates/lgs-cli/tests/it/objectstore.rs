//! Object storage as a source and as the warehouse location, against real local
//! emulators started by these tests: moto's S3 server (from PyPI) and Azurite (from
//! npm). `.ci/run` installs both and names them in `LGS_TEST_MOTO_SERVER` and
//! `LGS_TEST_AZURITE_BLOB`; when a variable is unset, its test says so and skips.
//!
//! Buckets, containers and input objects are made with plain HTTP requests (signed
//! with the emulator's well-known key for Azurite), not through lgs, so the tests do
//! not check lgs with itself.

use std::path::{Path, PathBuf};

use crate::support::{Process, free_port, http, spawn_listening, wait_for_http};

use assert_cmd::Command;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The account and key every Azurite instance has (published by Microsoft).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// An emulator process (stopped when dropped) and its port.
pub(crate) struct Emulator {
    pub(crate) process: Process,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

/// The emulator named by environment variable `var`, started with `args(port, dir)`
/// in a directory of its own, once it listens on its port (`None`, said on stderr,
/// when the variable is unset).
pub(crate) fn start_listening(
    var: &str,
    args: impl Fn(u16, &Path) -> Vec<String>,
) -> Option<Emulator> {
    let Ok(program) = std::env::var(var) else {
        eprintln!(
            "skipping: set {var} to the emulator's executable (.ci/run does) to run this test"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let process = spawn_listening(&program, &args(port, dir.path()), dir.path(), port);
    Some(Emulator {
        process,
        port,
        _dir: dir,
    })
}

fn start(var: &str, args: impl Fn(u16, &Path) -> Vec<String>) -> Option<Emulator> {
    let emulator = start_listening(var, args)?;
    // Listening is not yet answering (Azurite once reset the first request).
    wait_for_http(emulator.port, var);
    Some(emulator)
}

pub(crate) fn start_moto() -> Option<Emulator> {
    start("LGS_TEST_MOTO_SERVER", |port, _| {
        vec![
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ]
    })
}

fn start_azurite() -> Option<Emulator> {
    start("LGS_TEST_AZURITE_BLOB", |port, dir| {
        vec![
            "--blobHost".into(),
            "127.0.0.1".into(),
            "--blobPort".into(),
            port.to_string(),
            "--location".into(),
            dir.display().to_string(),
            "--silent".into(),
            "--skipApiVersionCheck".into(),
            "--disableTelemetry".into(),
        ]
    })
}

/// An S3 request to moto (which accepts unsigned requests).
pub(crate) fn s3(port: u16, method: &str, path: &str, body: &[u8]) {
    let headers = [(
        "Content-Type".to_string(),
        "application/octet-stream".to_string(),
    )];
    let (status, _) = http(port, method, path, &headers, body);
    assert!(status < 300, "{method} {path}: HTTP {status}");
}

/// A request to Azurite signed with Shared Key (the well-known account key).
fn azure(
    port: u16,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    extra: &[(&str, &str)],
    body: &[u8],
) {
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let mut ms_headers: Vec<(String, String)> = vec![
        ("x-ms-date".into(), date),
        ("x-ms-version".into(), "2021-08-06".into()),
    ];
    ms_headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ms_headers.sort();
    let length = if body.is_empty() {
        String::new()
    } else {
        body.len().to_string()
    };
    let content_type = "application/octet-stream";
    let mut to_sign = format!("{method}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\n");
    for (k, v) in &ms_headers {
        to_sign.push_str(&format!("{k}:{v}\n"));
    }
    to_sign.push_str(&format!("/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}{path}"));
    let mut sorted_query = query.to_vec();
    sorted_query.sort();
    for (k, v) in &sorted_query {
        to_sign.push_str(&format!("\n{k}:{v}"));
    }
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &BASE64.decode(AZURITE_KEY).unwrap(),
    );
    let signature = BASE64.encode(ring::hmac::sign(&key, to_sign.as_bytes()).as_ref());
    let mut headers = ms_headers;
    headers.push(("Content-Type".into(), content_type.into()));
    headers.push((
        "Authorization".into(),
        format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
    ));
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let target = if query.is_empty() {
        format!("/{AZURITE_ACCOUNT}{path}")
    } else {
        format!("/{AZURITE_ACCOUNT}{path}?{}", query.join("&"))
    };
    let (status, _) = http(port, method, &target, &headers, body);
    assert!(status < 300, "{method} {target}: HTTP {status}");
}

fn azure_put_blob(port: u16, path: &str, body: &[u8]) {
    azure(
        port,
        "PUT",
        path,
        &[],
        &[("x-ms-blob-type", "BlockBlob")],
        body,
    );
}

/// `lgs` with a warehouse and the environment of one emulator, and nothing else.
fn lgs(warehouse: &str, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::cargo_bin("lgs").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("AZURE_") || k == "LGS_WAREHOUSE" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["--warehouse", warehouse]);
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

fn failure(cmd: &mut Command) -> String {
    let out = cmd.assert().failure();
    String::from_utf8(out.get_output().stderr.clone()).unwrap()
}

fn report(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_str(&stdout(cmd.args([
        "report",
        "--format",
        "json",
        "--as-of",
        "2012-01-01",
    ])))
    .unwrap()
}

/// A missing object and a missing bucket: clear errors, nothing committed.
fn missing_objects_are_clear_errors(remote: &str, env: &[(&str, String)]) {
    let err = failure(lgs(remote, env).args(["ingest", "s3://lgs/drops/day9.csv"]));
    assert!(
        err.contains("s3://lgs/drops/day9.csv") && err.contains("does not exist"),
        "{err}"
    );
    let err = failure(
        lgs("s3://no-such-bucket/warehouse", env)
            .arg("ingest")
            .arg(data("lgs/tests/data/handmade.csv")),
    );
    assert!(
        err.contains("s3://no-such-bucket/warehouse") && err.contains("does not exist"),
        "{err}"
    );
}

/// The live state is up to date after an ingest, and the report over it is the
/// report over every line.
fn live_state_followed(remote: &str, env: &[(&str, String)]) {
    let live = stdout(lgs(remote, env).arg("live"));
    assert!(live.contains("already up to date"), "{live}");
    let recompute = stdout(lgs(remote, env).args([
        "report",
        "--format",
        "json",
        "--as-of",
        "2012-01-01",
        "--recompute",
    ]));
    let recompute: serde_json::Value = serde_json::from_str(&recompute).unwrap();
    assert_eq!(report(&mut lgs(remote, env)), recompute);
}

fn tables(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_str(&stdout(cmd.args(["tables", "--format", "json"]))).unwrap()
}

fn rows_of(tables: &serde_json::Value, name: &str) -> u64 {
    tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {tables}"))["rows"]
        .as_u64()
        .unwrap()
}

/// The environment of `lgs` against moto on `port`.
fn moto_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]
}

#[test]
fn s3_daily_drops_into_an_s3_warehouse_match_a_local_run() {
    let _turn = crate::support::group("objectstore");
    let Some(moto) = start_moto() else { return };
    let port = moto.port;
    let env = moto_env(port);
    let dir = tempfile::tempdir().unwrap();
    // Inputs of three kinds: CSV, a pg_dump and a Parquet file (read from a staged
    // copy), plus a marker file that is not data.
    let parquet = dir.path().join("gen.parquet");
    Command::cargo_bin("lgs")
        .unwrap()
        .args([
            "--quiet", "generate", "retail", "--rows", "3000", "--seed", "7", "--out",
        ])
        .arg(&parquet)
        .assert()
        .success();
    let inputs = [
        ("drops/day1.csv", data("lgs/tests/data/handmade.csv")),
        ("drops/day2.sql", data("lgs/tests/data/pg/retail.sql")),
        ("drops/day3.parquet", parquet.clone()),
    ];
    s3(port, "PUT", "/lgs", b"");
    for (key, path) in &inputs {
        s3(
            port,
            "PUT",
            &format!("/lgs/{key}"),
            &std::fs::read(path).unwrap(),
        );
    }
    s3(port, "PUT", "/lgs/drops/_SUCCESS", b"");

    let remote = "s3://lgs/warehouse";
    let out = stdout(lgs(remote, &env).args(["ingest", "s3://lgs/drops/"]));
    assert!(
        out.contains("s3://lgs/drops/day3.parquet: 3,000 rows read"),
        "{out}"
    );
    assert!(out.contains("retail is at version 0"), "{out}");

    let local = dir.path().join("local");
    let local = local.to_str().unwrap();
    lgs(local, &[])
        .arg("ingest")
        .args(inputs.iter().map(|(_, p)| p))
        .assert()
        .success();
    let remote_tables = tables(&mut lgs(remote, &env));
    assert_eq!(
        rows_of(&remote_tables, "retail"),
        rows_of(&tables(&mut lgs(local, &[])), "retail")
    );
    assert_eq!(report(&mut lgs(remote, &env)), report(&mut lgs(local, &[])));

    // The live state on object storage, built once; the next ingest brings it along.
    let built = stdout(lgs(remote, &env).arg("live"));
    assert!(built.contains("rebuilt from every line"), "{built}");

    // The next day: only the new object is read.
    let csv = std::fs::read_to_string(data("lgs/tests/data/pg/retail.csv")).unwrap();
    let day4: String = csv.lines().take(51).map(|l| format!("{l}\n")).collect();
    s3(port, "PUT", "/lgs/drops/day4.csv", day4.as_bytes());
    let out = stdout(lgs(remote, &env).args(["ingest", "s3://lgs/drops/"]));
    assert!(
        out.contains("s3://lgs/drops/day4.csv: 50 rows read"),
        "{out}"
    );
    assert_eq!(out.matches("already ingested").count(), 3, "{out}");
    let after = tables(&mut lgs(remote, &env));
    assert_eq!(
        rows_of(&after, "retail"),
        rows_of(&remote_tables, "retail") + 50
    );
    live_state_followed(remote, &env);

    // A glob over objects.
    let out = stdout(lgs(remote, &env).args(["ingest", "--force", "s3://lgs/drops/day[14].csv"]));
    assert!(out.contains("58 rows read"), "{out}");

    missing_objects_are_clear_errors(remote, &env);
    let history = stdout(lgs(remote, &env).args(["history", "retail", "--format", "json"]));
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 3, "{history}");
}

#[test]
fn azure_real_data_into_an_azure_warehouse_matches_a_local_run() {
    let _turn = crate::support::group("objectstore");
    let Some(azurite) = start_azurite() else {
        return;
    };
    let port = azurite.port;
    let env = [
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
        (
            "AZURITE_BLOB_STORAGE_URL",
            format!("http://127.0.0.1:{port}"),
        ),
    ];
    let real = data("../data/online_retail_II.csv.zst");
    azure(port, "PUT", "/lgs", &[("restype", "container")], &[], b"");
    azure_put_blob(
        port,
        "/lgs/raw/2011/online_retail_II.csv.zst",
        &std::fs::read(&real).unwrap(),
    );

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let local = local.to_str().unwrap();
    let local_out = stdout(lgs(local, &[]).arg("ingest").arg(&real));
    let accounting = local_out.lines().last().unwrap().split(';').next().unwrap();
    assert!(accounting.contains("rows read"), "{local_out}");

    let remote = "az://lgs/warehouse";
    let out = stdout(lgs(remote, &env).args(["ingest", "az://lgs/raw/"]));
    assert!(out.contains(accounting), "{out}\nlocal: {local_out}");
    assert_eq!(report(&mut lgs(remote, &env)), report(&mut lgs(local, &[])));
    let query = "SELECT count(*) AS n, sum(amount) AS amount FROM invoices";
    let sql = |warehouse, env: &[(&str, String)]| {
        stdout(lgs(warehouse, env).args(["sql", "--format", "csv", query]))
    };
    assert_eq!(sql(remote, &env), sql(local, &[]));

    // Wrong credentials: refused with a message that says so; nothing changes.
    let wrong = [
        env[0].clone(),
        env[1].clone(),
        ("AZURE_STORAGE_ACCOUNT_KEY", BASE64.encode([7u8; 64])),
    ];
    let err = failure(lgs(remote, &wrong).args(["ingest", "az://lgs/raw/"]));
    assert!(
        err.contains("az://lgs") && err.contains("not permitted"),
        "{err}"
    );
    let err = failure(lgs(remote, &env).args(["ingest", "az://lgs/raw/missing/"]));
    assert!(err.contains("does not exist"), "{err}");
    let history = stdout(lgs(remote, &env).args(["history", "retail", "--format", "json"]));
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
}

/// Every object of an S3 bucket whose bytes contain `needle`.
fn s3_objects_holding(port: u16, bucket: &str, needle: &[u8]) -> Vec<String> {
    let (status, listing) = http(port, "GET", &format!("/{bucket}?list-type=2"), &[], b"");
    assert_eq!(status, 200);
    let listing = String::from_utf8(listing).unwrap();
    assert!(!listing.contains("<IsTruncated>true"), "one page of keys");
    let keys: Vec<&str> = listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .collect();
    assert!(keys.len() > 5, "{listing}");
    keys.into_iter()
        .filter(|key| {
            // moto answers an anonymous GET of an account's object with 403; it
            // does not check signatures, only that there is one.
            let signed = [(
                "Authorization".to_string(),
                "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=00"
                    .to_string(),
            )];
            let (status, body) = http(port, "GET", &format!("/{bucket}/{key}"), &signed, b"");
            assert_eq!(status, 200, "{key}");
            body.windows(needle.len()).any(|w| w == needle)
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn s3_an_encrypted_warehouse_forgets_a_customer_and_holds_nothing_in_clear() {
    let _turn = crate::support::group("objectstore");
    let Some(moto) = start_moto() else { return };
    let port = moto.port;
    let mut env = moto_env(port);
    env.push((
        "LGS_PSEUDONYM_KEY",
        "a pseudonym key of 32 bytes or more".to_string(),
    ));
    s3(port, "PUT", "/enc", b"");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("warehouse.key");
    std::fs::write(&keys, stdout(lgs("unused", &[]).args(["key", "new"]))).unwrap();
    let remote = "s3://enc/warehouse";
    let keyed = || {
        let mut cmd = lgs(remote, &env);
        cmd.arg("--key-file").arg(&keys);
        cmd
    };
    stdout(
        keyed()
            .arg("ingest")
            .arg(data("lgs/tests/data/handmade.csv")),
    );
    let count = |sql: &str| stdout(keyed().args(["sql", "--format", "csv", sql]));
    assert_eq!(
        count("SELECT count(*) AS n FROM retail WHERE customer_id = 104"),
        "n\n1\n"
    );
    // Customer 104 (the one French line) forgotten at once, on object storage.
    let forgot = stdout(keyed().args([
        "forget",
        "--customer",
        "104",
        "--reason",
        "erasure request",
        "--now",
    ]));
    assert!(forgot.contains("1 row"), "{forgot}");
    assert_eq!(
        count("SELECT count(*) AS n FROM retail WHERE customer_id = 104"),
        "n\n0\n"
    );
    assert_eq!(count("SELECT count(*) AS n FROM retail"), "n\n7\n");
    // The search reads every object: the log's counts, and encrypted Parquet files
    // (which end with "PARE")...
    assert!(!s3_objects_holding(port, "enc", b"numRecords").is_empty());
    assert!(!s3_objects_holding(port, "enc", b"PARE").is_empty());
    // ...and finds no country in clear in any object of the bucket, log included.
    for needle in ["United Kingdom", "France", "Germany"] {
        assert_eq!(
            s3_objects_holding(port, "enc", needle.as_bytes()),
            Vec::<String>::new(),
            "{needle}"
        );
    }
    let err = failure(lgs(remote, &env).args(["sql", "SELECT count(*) FROM retail"]));
    assert!(err.contains("no key was given"), "{err}");
}
