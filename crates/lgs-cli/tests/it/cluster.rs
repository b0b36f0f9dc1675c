//! The same analytics on a Ballista cluster: a scheduler and two executors started
//! as separate `lgs` processes on 127.0.0.1 (free ports chosen at run time), and the
//! full report on the real dataset run in cluster mode and locally, through the same
//! test cases. Processes are stopped when dropped, also when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Command as Process_, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::support::{Process, free_port, wait_for_port};

fn lgs_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("lgs")
}

fn lgs(warehouse: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lgs").unwrap();
    cmd.env_remove("LGS_WAREHOUSE")
        .env_remove("LGS_CLUSTER")
        .arg("--warehouse")
        .arg(warehouse);
    cmd
}

/// A scheduler and its executors, stopped on drop.
struct Cluster {
    url: String,
    executors: Vec<Process>,
    /// Each executor's work directory (shuffle files, one directory per job).
    work_dirs: Vec<PathBuf>,
    _scheduler: Process,
    _dir: tempfile::TempDir,
}

fn spawn(args: &[String]) -> Process {
    spawn_program(&lgs_bin().display().to_string(), args)
}

fn spawn_program(program: &str, args: &[String]) -> Process {
    let child = Process_::new(program)
        .args(args)
        .env_remove("LGS_WAREHOUSE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lgs");
    Process { child }
}

impl Cluster {
    /// The jobs an executor ran a task of (its work directory has one directory
    /// per job; `datafusion-*` is the engine's spill directory).
    fn jobs_run(&self, executor: usize) -> usize {
        std::fs::read_dir(&self.work_dirs[executor])
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| !e.file_name().to_string_lossy().starts_with("datafusion-"))
                    .count()
            })
            .unwrap_or(0)
    }

    fn start(executors: usize) -> Cluster {
        Cluster::start_with(executors, |args| (lgs_bin().display().to_string(), args))
    }

    /// Starts the executors through `wrap`, which turns an executor's `lgs`
    /// arguments into the program and arguments to run.
    fn start_with(
        executors: usize,
        wrap: impl Fn(Vec<String>) -> (String, Vec<String>),
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let scheduler = spawn(&[
            "scheduler".into(),
            "--bind".into(),
            format!("127.0.0.1:{port}"),
            "--executor-timeout".into(),
            "10".into(),
        ]);
        wait_for_port(port, "lgs scheduler");
        let mut started = Vec::new();
        let mut work_dirs = Vec::new();
        for i in 0..executors {
            let (flight, grpc) = (free_port(), free_port());
            let work = dir.path().join(format!("executor-{i}"));
            let (program, args) = wrap(vec![
                "executor".into(),
                "--scheduler".into(),
                format!("127.0.0.1:{port}"),
                "--bind".into(),
                format!("127.0.0.1:{flight}"),
                "--grpc-bind".into(),
                format!("127.0.0.1:{grpc}"),
                "--slots".into(),
                "2".into(),
                "--heartbeat".into(),
                "1".into(),
                "--work-dir".into(),
                work.display().to_string(),
            ]);
            started.push(spawn_program(&program, &args));
            wait_for_port(flight, "lgs executor");
            work_dirs.push(work);
        }
        Cluster {
            url: format!("df://127.0.0.1:{port}"),
            executors: started,
            work_dirs,
            _scheduler: scheduler,
            _dir: dir,
        }
    }
}

/// The real dataset in a warehouse, ingested once for every test of this binary.
fn warehouse() -> &'static Path {
    static WAREHOUSE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = WAREHOUSE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("warehouse");
        let data =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/online_retail_II.csv.zst");
        lgs(&wh).arg("ingest").arg(&data).assert().success();
        (dir, wh)
    });
    path
}

/// A private copy of the real-data warehouse (Delta tables hold relative paths),
/// for a test that looks at what a run leaves in it while others run.
fn private_warehouse(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() == "_lgs_scratch" {
                // Other tests' reports on the shared warehouse, in flight.
                continue;
            }
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let to = dir.join("warehouse");
    copy(warehouse(), &to);
    to
}

/// Where a case runs.
#[derive(Debug, Clone)]
enum Mode {
    Local,
    Cluster(String),
}

impl Mode {
    fn args(&self) -> Vec<String> {
        match self {
            Mode::Local => vec![],
            Mode::Cluster(url) => vec!["--cluster".into(), url.clone()],
        }
    }
}

/// The full report as JSON.
fn report_case(mode: &Mode) -> Value {
    let out = lgs(warehouse())
        .args(["report", "--as-of", "2012-01-01", "--format", "json"])
        .args(mode.args())
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// A SQL query as JSON rows.
fn sql_case(mode: &Mode, sql: &str) -> Value {
    let out = lgs(warehouse())
        .args(["sql", "--format", "json", sql])
        .args(mode.args())
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Equal, with floating-point numbers to 1e-9 relative (sums may add up in
/// another order on the cluster); integers, strings and shapes exactly.
fn assert_same(local: &Value, cluster: &Value, path: &str) {
    crate::support::assert_json_close(local, cluster, path, 1.0);
}

/// `lgs clv --calibration-end`, `lgs basket`, `lgs experiment`, `lgs customer`,
/// `lgs recommend` and `lgs trends`, locally and on the cluster: the same JSON.
fn analyses_with_options_are_the_same(modes: &[Mode]) {
    let ids = sql_case(
        &Mode::Local,
        "SELECT DISTINCT customer_id FROM retail WHERE customer_id IS NOT NULL \
         ORDER BY customer_id LIMIT 2000",
    );
    let mut assignments = String::from("customer_id,group\n");
    for (i, row) in ids.as_array().unwrap().iter().enumerate() {
        let group = if i % 2 == 0 { "control" } else { "offer" };
        assignments.push_str(&format!("{},{group}\n", row["customer_id"]));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("assignments.csv");
    std::fs::write(&file, assignments).unwrap();
    let file = file.display().to_string();
    let cases: [Vec<&str>; 8] = [
        vec!["clv", "--calibration-end", "2011-09-09"],
        vec!["basket", "--min-support", "0.02"],
        vec![
            "basket",
            "--country",
            "Germany",
            "--since",
            "2010-06-01",
            "--item",
            "description",
            "--min-support",
            "0.05",
        ],
        vec![
            "experiment",
            "--start",
            "2011-09-01",
            "--assignments",
            &file,
        ],
        vec!["customer", "14646"],
        vec!["recommend", "--item", "85123A"],
        vec!["recommend", "--customer", "14646", "--iterations", "5"],
        vec!["trends"],
    ];
    for case in cases {
        let runs: Vec<Value> = modes
            .iter()
            .map(|mode| {
                let out = lgs(warehouse())
                    .args(&case)
                    .args(["--format", "json"])
                    .args(mode.args())
                    .assert()
                    .success();
                serde_json::from_slice(&out.get_output().stdout).unwrap()
            })
            .collect();
        assert_same(&runs[0], &runs[1], &case.join(" "));
    }
}

const QUERIES: [&str; 3] = [
    "SELECT month, count(DISTINCT invoice_no) AS invoices, sum(amount) AS net \
     FROM retail GROUP BY month ORDER BY month",
    // Nested (array) functions, which the executors must know as well.
    "SELECT country, array_length(array_distinct(array_agg(month))) AS months, \
       cardinality(generate_series(1, count(DISTINCT customer_id))) AS customers \
     FROM retail GROUP BY country ORDER BY country",
    "SELECT r.country, count(*) AS lines, count(DISTINCT r.customer_id) AS customers \
     FROM invoices i JOIN retail r ON i.invoice_no = r.invoice_no WHERE i.amount > 0 \
     GROUP BY r.country ORDER BY lines DESC, r.country",
];

#[test]
fn the_same_report_and_queries_locally_and_on_a_cluster_of_two_executors() {
    let _turn = crate::support::group("cluster");
    let cluster = Cluster::start(2);
    let modes = [Mode::Local, Mode::Cluster(cluster.url.clone())];
    let reports: Vec<Value> = modes.iter().map(report_case).collect();
    // The published figures, in both modes.
    for (mode, report) in modes.iter().zip(&reports) {
        assert_eq!(report["invoice_amount"]["count"], 40_078, "{mode:?}");
        assert_eq!(report["monthly"].as_array().unwrap().len(), 25, "{mode:?}");
        let champions = report["rfm_segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == "Champions")
            .unwrap();
        assert_eq!(champions["customers"], 856, "{mode:?}");
    }
    assert_same(&reports[0], &reports[1], "report");
    analyses_with_options_are_the_same(&modes);
    // The executors wrote the report's intermediate results to a scratch directory
    // of the warehouse; nothing of it is left (in a warehouse of this test's own).
    let own = tempfile::tempdir().unwrap();
    let wh = private_warehouse(own.path());
    lgs(&wh)
        .args(["report", "--format", "json", "--cluster", &cluster.url])
        .assert()
        .success();
    let scratch = wh.join("_lgs_scratch");
    assert!(
        scratch.exists(),
        "the cluster report used no scratch directory"
    );
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let files = std::process::Command::new("find")
        .arg(&scratch)
        .output()
        .unwrap();
    assert!(
        left.is_empty(),
        "left in {}: {left:?}\n{}",
        scratch.display(),
        String::from_utf8_lossy(&files.stdout)
    );
    // The cluster did the work: both executors ran tasks of the report's jobs.
    for executor in 0..2 {
        assert!(
            cluster.jobs_run(executor) > 0,
            "executor {executor} ran no task"
        );
    }
    for sql in QUERIES {
        let results: Vec<Value> = modes.iter().map(|m| sql_case(m, sql)).collect();
        assert!(!results[0].as_array().unwrap().is_empty(), "{sql}");
        assert_same(&results[0], &results[1], sql);
    }
    role_cases_are_the_same(&modes);
    partitioned_cases_are_the_same(&modes);
}

/// A table partitioned by year (the WDI extract of the repository), scanned as one
/// set of files with the partition values from its log: the scan crosses the wire to
/// the scheduler and gives the same rows there, pruned by a filter on the year.
fn partitioned_cases_are_the_same(modes: &[Mode]) {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("warehouse");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/wdi/GDP_PCT_A.csv");
    lgs(&wh)
        .args(["ingest", "--dataset", "wdi"])
        .args(["--indicator", "NY.GDP.MKTP.KD.ZG"])
        .args(["--indicator-name", "GDP growth (annual %)"])
        .arg(&data)
        .assert()
        .success();
    let run = |mode: &Mode, sql: &str| -> Value {
        let out = lgs(&wh)
            .args(["sql", "--format", "json", sql])
            .args(mode.args())
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    for sql in [
        "SELECT year, count(*) AS n, sum(indicator_value) AS total FROM wdi \
         GROUP BY year ORDER BY year",
        "SELECT country_code, year, indicator_value FROM wdi \
         WHERE year = 2015 AND indicator_value IS NOT NULL ORDER BY country_code",
        "SELECT * FROM wdi WHERE year BETWEEN 1990 AND 1991 ORDER BY country_code, year",
    ] {
        let results: Vec<Value> = modes.iter().map(|m| run(m, sql)).collect();
        let rows = results[0].as_array().unwrap();
        assert!(!rows.is_empty(), "{sql}");
        assert_same(&results[0], &results[1], sql);
    }
    // A filter on the year gives those years only, on the cluster too.
    let years = run(
        &modes[1],
        "SELECT DISTINCT year FROM wdi WHERE year IN (1999, 2003) ORDER BY year",
    );
    assert_eq!(years, serde_json::json!([{"year": 1999}, {"year": 2003}]));
}

/// A role that sees France's lines with its customers masked.
const ROLE_POLICY: &str = r#"
pseudonym_key_file = "pseudonym.key"
[roles.fr]
read = ["retail", "invoices"]
[roles.fr.rules.retail]
filter = "country = 'France'"
mask = ["customer_id"]
"#;

/// A restricted role on the cluster: its filter and masks are computed by the
/// executors (the pseudonym function travels with its key), with the same rows
/// and report as locally.
fn role_cases_are_the_same(modes: &[Mode]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), ROLE_POLICY).unwrap();
    std::fs::write(dir.path().join("pseudonym.key"), [9u8; 32]).unwrap();
    let run = |mode: &Mode, args: &[&str]| -> Value {
        let out = lgs(warehouse())
            .arg("--policy")
            .arg(dir.path().join("policy.toml"))
            .args(["--role", "fr"])
            .args(args)
            .args(mode.args())
            .assert()
            .success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let sql = "SELECT customer_id, count(*) AS lines, sum(amount) AS amount FROM retail \
               GROUP BY customer_id ORDER BY lines DESC, customer_id LIMIT 20";
    let rows: Vec<Value> = modes
        .iter()
        .map(|m| run(m, &["sql", "--format", "json", sql]))
        .collect();
    assert_eq!(rows[0].as_array().unwrap().len(), 20);
    assert_same(&rows[0], &rows[1], "a role's query");
    for row in rows[1].as_array().unwrap() {
        if let Some(id) = row["customer_id"].as_i64() {
            assert!(id > 1_000_000, "a pseudonym, not an id: {row}");
        }
    }
    let countries = run(
        &modes[1],
        &[
            "sql",
            "--format",
            "json",
            "SELECT DISTINCT country FROM retail",
        ],
    );
    assert_eq!(countries, serde_json::json!([{"country": "France"}]));
    let reports: Vec<Value> = modes
        .iter()
        .map(|m| run(m, &["report", "--as-of", "2012-01-01", "--format", "json"]))
        .collect();
    assert_same(&reports[0], &reports[1], "a role's report");
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error_in_bounded_time() {
    let _turn = crate::support::group("cluster");
    let port = free_port();
    let started = Instant::now();
    let out = lgs(warehouse())
        .args(["report", "--cluster", &format!("df://127.0.0.1:{port}")])
        .timeout(Duration::from_secs(60))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("scheduler"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn an_executor_killed_mid_job_leaves_a_complete_result_or_a_clear_error() {
    let _turn = crate::support::group("cluster");
    let mut cluster = Cluster::start(2);
    let expected = report_case(&Mode::Local);
    let out_dir = tempfile::tempdir().unwrap();
    let results = out_dir.path().join("results");
    let mut report = Process_::new(lgs_bin())
        .env_remove("LGS_WAREHOUSE")
        .arg("--warehouse")
        .arg(warehouse())
        .args([
            "report",
            "--as-of",
            "2012-01-01",
            "--format",
            "json",
            "--cluster",
        ])
        .arg(&cluster.url)
        .arg("--out")
        .arg(&results)
        // Files, not pipes: a pipe that nobody reads until the end would block a
        // report that writes much (retry warnings on stderr) and look like a hang.
        .stdout(std::fs::File::create(out_dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(out_dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    // Kill the first executor as soon as it has run a task of the report's jobs,
    // while the report is still running.
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.jobs_run(0) == 0 {
        assert!(Instant::now() < deadline, "executor 0 got no task");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        report.try_wait().unwrap().is_none(),
        "the report finished before the kill: the test would not test anything"
    );
    let mut victim = cluster.executors.remove(0);
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    // Bounded: the job finishes on the other executor or fails.
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = report.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = report.kill();
            panic!("the report neither finished nor failed after an executor was killed");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read(out_dir.path().join("stdout")).unwrap();
    let stderr = std::fs::read(out_dir.path().join("stderr")).unwrap();
    eprintln!("after the kill the report {status}");
    if status.success() {
        let got: Value = serde_json::from_slice(&stdout).unwrap();
        assert_same(&expected, &got, "report after an executor was killed");
        assert!(results.join("monthly.csv").exists());
    } else {
        let err = String::from_utf8_lossy(&stderr);
        assert!(err.contains("error: "), "{err}");
        assert!(stdout.is_empty(), "a partial result was printed");
        assert!(!results.exists(), "a partial result was written");
    }
}

#[test]
fn an_executor_that_cannot_see_the_warehouse_is_a_clear_error_not_empty_results() {
    let _turn = crate::support::group("cluster");
    // The executor runs in a mount namespace of its own where an empty directory
    // hides the warehouse (the scheduler, like the client, still sees it): a
    // machine without the shared path. Needs root and `unshare`.
    let probe = Process_::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: `unshare --mount` is not available (needs root and util-linux)");
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let hidden = warehouse().to_path_buf();
    let cluster = Cluster::start_with(1, |args| {
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let script = format!(
            "mount --bind '{}' '{}' && exec '{}' {}",
            empty.path().display(),
            hidden.display(),
            lgs_bin().display(),
            quoted.join(" ")
        );
        (
            "unshare".into(),
            vec![
                "--mount".into(),
                "--propagation".into(),
                "private".into(),
                "sh".into(),
                "-c".into(),
                script,
            ],
        )
    });
    let out = lgs(warehouse())
        .args(["report", "--format", "json", "--cluster", &cluster.url])
        .timeout(Duration::from_secs(120))
        .assert()
        .failure();
    assert!(out.get_output().stdout.is_empty(), "a result was printed");
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("cannot read the warehouse") && err.contains("same path"),
        "{err}"
    );
    assert!(
        err.contains("not found"),
        "the engine's error is kept: {err}"
    );
}

/// An encrypted warehouse on a cluster: executors started with the key file
/// decrypt the tasks' scans (and encrypt their scratch results), with the same
/// report as locally; executors without it fail with a clear error.
#[test]
fn an_encrypted_warehouse_reads_the_same_on_a_cluster_whose_executors_hold_the_key() {
    let _turn = crate::support::group("cluster");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("warehouse.key");
    let line = lgs(dir.path()).args(["key", "new"]).assert().success();
    std::fs::write(&keys, &line.get_output().stdout).unwrap();
    let wh = dir.path().join("wh");
    let keyed = || {
        let mut cmd = lgs(&wh);
        cmd.arg("--key-file").arg(&keys);
        cmd
    };
    keyed()
        .arg("ingest")
        .arg(crate::cli::handmade())
        .assert()
        .success();
    let with_key = {
        let keys = keys.display().to_string();
        Cluster::start_with(2, move |mut args| {
            args.extend(["--key-file".to_string(), keys.clone()]);
            (lgs_bin().display().to_string(), args)
        })
    };
    let report = |cluster: Option<&str>| -> Value {
        let mut cmd = keyed();
        cmd.args(["report", "--as-of", "2012-01-01", "--format", "json"]);
        if let Some(url) = cluster {
            cmd.args(["--cluster", url]);
        }
        serde_json::from_slice(&cmd.assert().success().get_output().stdout).unwrap()
    };
    let local = report(None);
    assert!(local["invoice_amount"]["count"].as_u64().unwrap() > 0);
    assert_same(&local, &report(Some(&with_key.url)), "an encrypted report");
    assert!(with_key.jobs_run(0) + with_key.jobs_run(1) > 0);
    drop(with_key);

    let without = Cluster::start(1);
    let out = keyed()
        .args([
            "sql",
            "SELECT sum(quantity) FROM retail",
            "--cluster",
            &without.url,
        ])
        .timeout(Duration::from_secs(120))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("has no key") && err.contains("--key-file"),
        "{err}"
    );
}
