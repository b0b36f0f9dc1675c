//! Feeding a warehouse as things happen: files dropped into a watched directory,
//! a file replayed on the data's own clock, generated lines published to a stream
//! (against the NATS JetStream server on this machine, as `stream.rs`), and a table
//! that stays fast after many small commits.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::cli::lgs;
use crate::stream::{TestStream, generated, json_of, lgs_process, rows, stream_until_idle};

/// `lgs ingest --watch DIR`: files dropped while it runs are loaded once each; a file
/// still being written is left until it is complete; the same content under another
/// name is skipped; the table equals one ingest of the files.
#[test]
fn watching_a_directory_loads_each_drop_once() {
    let dir = tempfile::tempdir().unwrap();
    let made = |name: &str, rows: u64, seed: u64| {
        let path = dir.path().join(name);
        generated(&path, rows, seed);
        path
    };
    let (a, b, c) = (
        made("a.csv", 500, 1),
        made("b.csv", 700, 2),
        made("c.csv", 3000, 3),
    );
    let drops = dir.path().join("drops");
    std::fs::create_dir(&drops).unwrap();
    let wh = dir.path().join("wh");
    let watcher = lgs_process(&wh)
        .args(["--quiet", "ingest", "--watch"])
        .arg(&drops)
        .args([
            "--interval",
            "300ms",
            "--exit-when-idle",
            "3s",
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::copy(&a, drops.join("a.csv")).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    std::fs::copy(&b, drops.join("b.csv")).unwrap();
    std::fs::copy(&a, drops.join("a-again.csv")).unwrap();
    // c.csv written slowly, in pieces, across several listings.
    let text = std::fs::read(&c).unwrap();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(drops.join("c.csv")).unwrap();
        for piece in text.chunks(text.len() / 12 + 1) {
            f.write_all(piece).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(120));
        }
    }
    let out = watcher.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rounds: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let loaded: u64 = rounds
        .iter()
        .map(|r| r["rows_loaded"].as_u64().unwrap())
        .sum();
    assert_eq!(loaded, 4200, "{rounds:#?}");
    let skipped: Vec<&Value> = rounds
        .iter()
        .flat_map(|r| r["files"].as_array().unwrap())
        .filter(|f| !f["skipped"].is_null())
        .collect();
    assert_eq!(skipped.len(), 1, "{rounds:#?}");
    assert!(
        skipped[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("a-again.csv")
    );

    let reference = dir.path().join("reference");
    lgs(&reference)
        .arg("ingest")
        .args([&a, &b, &c])
        .assert()
        .success();
    let content = "SELECT concat_ws(' ', count(*), sum(quantity), sum(unit_price * quantity)) AS c FROM retail";
    assert_eq!(rows(&wh, content), rows(&reference, content));
}

/// `lgs replay --speedup 3600` keeps the data's clock an hour a second: three lines
/// dated an hour apart take two seconds, whatever the broker's speed.
#[test]
fn replay_keeps_the_data_s_clock_sped_up() {
    let stream = TestStream::new("speedup");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hours.csv");
    std::fs::write(
        &file,
        "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n\
         1,A,MUG,1,2011-12-09 08:00:00,1.00,1,France\n\
         2,A,MUG,1,2011-12-09 09:00:00,1.00,1,France\n\
         3,A,MUG,1,2011-12-09 10:00:00,1.00,1,France\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let report = json_of(
        dir.path(),
        &[
            "replay",
            file.to_str().unwrap(),
            "--to",
            &stream.url(),
            "--speedup",
            "3600",
            "--output",
            "json",
        ],
    );
    let took = started.elapsed();
    assert_eq!(report["messages"], 3, "{report}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

/// `lgs generate retail --to URL` publishes what `--out` would write: streamed into a
/// table, the same content as an ingest of the file.
#[test]
fn generated_lines_published_to_a_stream() {
    let stream = TestStream::new("generate");
    let dir = tempfile::tempdir().unwrap();
    let published = lgs(dir.path())
        .args([
            "--quiet", "generate", "retail", "--rows", "2000", "--seed", "9",
        ])
        .args(["--to", &stream.url()])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&published.get_output().stdout).to_string();
    assert!(text.contains("published 2,000 messages"), "{text}");
    let file = dir.path().join("same.csv");
    generated(&file, 2000, 9);
    let reference = dir.path().join("reference");
    lgs(&reference).arg("ingest").arg(&file).assert().success();
    let wh = dir.path().join("wh");
    let report = stream_until_idle(&wh, &stream.url(), &[]);
    assert_eq!(report["rows_read"], 2000, "{report}");
    let content = "SELECT concat_ws(' ', count(*), sum(quantity), sum(unit_price * quantity), \
                   count(DISTINCT invoice_no), min(invoice_date), max(invoice_date)) AS c \
                   FROM retail";
    assert_eq!(rows(&wh, content), rows(&reference, content));
    // --to is for retail lines, and not with --out.
    lgs(dir.path())
        .args(["generate", "wdi", "--to", &stream.url()])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--out"));
}

/// The data files of a table's current version.
fn parquet_files(table: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(table)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            name.ends_with(".parquet").then_some(name)
        })
        .collect();
    files.sort();
    files
}

/// 130 small commits: a checkpoint is written at version 99 and the position is
/// read back through it; `optimize` compacts the files into one without changing
/// a row or the position; `vacuum --retain 0s` deletes the compacted files and a
/// file a killed run left, and the table still reads whole.
#[test]
fn many_small_commits_checkpoint_optimize_and_vacuum() {
    let stream = TestStream::new("compact");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines.csv");
    generated(&file, 260, 9);
    let wh = dir.path().join("wh");
    lgs(&wh)
        .args(["--quiet", "replay"])
        .arg(&file)
        .args(["--to", &stream.url()])
        .assert()
        .success();
    let report = stream_until_idle(&wh, &stream.url(), &["--max-batch", "2"]);
    assert_eq!(
        (report["batches"].as_u64(), report["position"].as_u64()),
        (Some(130), Some(260))
    );
    let table = wh.join("retail");
    // The 100th commit (version 99) writes a checkpoint.
    assert!(
        table
            .join("_delta_log/00000000000000000099.checkpoint.parquet")
            .exists()
    );
    assert!(table.join("_delta_log/_last_checkpoint").exists());
    let content = "SELECT concat_ws(' ', count(*), sum(quantity), sum(unit_price * quantity)) AS c FROM retail";
    let before = rows(&wh, content);
    assert_eq!(parquet_files(&table).len(), 130);

    let done = json_of(&wh, &["optimize", "retail", "--format", "json"]);
    assert_eq!(
        (done["files_removed"].as_u64(), done["files_added"].as_u64()),
        (Some(130), Some(1))
    );
    assert_eq!(rows(&wh, content), before);
    // The position survives the compaction: nothing is loaded again.
    let again = stream_until_idle(&wh, &stream.url(), &[]);
    assert_eq!(
        (again["started_after"].as_u64(), again["rows_read"].as_u64()),
        (Some(260), Some(0))
    );

    std::fs::write(
        table.join("part-00000-left-by-a-killed-run.parquet"),
        b"PAR1",
    )
    .unwrap();
    let done = json_of(
        &wh,
        &["vacuum", "retail", "--retain", "0s", "--format", "json"],
    );
    assert_eq!(
        done["files_deleted"].as_array().unwrap().len(),
        131,
        "{done}"
    );
    assert_eq!(parquet_files(&table).len(), 1);
    assert_eq!(rows(&wh, content), before);
    lgs(&wh).arg("check").assert().success();
}
