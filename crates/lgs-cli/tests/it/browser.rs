//! The HTML report and the dashboard in real headless Chromium, driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs and
//! names in `LGS_TEST_CHROMEDRIVER`; without it the test says so and skips).
//!
//! On the real dataset: every chart renders with the number of bars, points, cells
//! and markers the report's numbers call for; the pages log no console errors; a SQL
//! query round-trips (table, paging, chart, CSV, an error, a cancel). Screenshots are
//! kept in `$LGS_TEST_ARTIFACTS` (default `target/test-artifacts`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::{Process, http};
use crate::webdriver::{Browser, artifacts};

fn lgs(warehouse: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lgs").unwrap();
    cmd.env_remove("LGS_WAREHOUSE")
        .arg("--warehouse")
        .arg(warehouse);
    cmd
}

/// What each chart must show, from the report's own numbers.
fn expected_marks(report: &Value) -> Vec<(&'static str, &'static str, u64)> {
    let monthly = report["monthly"].as_array().unwrap();
    let months = monthly.len() as u64;
    let non_null = |key: &str| monthly.iter().filter(|m| !m[key].is_null()).count() as u64;
    let bins = report["invoice_amount_histogram"].as_array().unwrap().len() as u64;
    let trimmed_bins = report["invoice_amount_trimmed_histogram"]
        .as_array()
        .unwrap()
        .len() as u64;
    vec![
        ("monthly-sales", "bar", months),
        ("monthly-sales", "point", non_null("sales_growth_pct")),
        ("monthly-orders", "bar", 2 * months),
        ("monthly-orders", "point", non_null("cancellation_rate")),
        ("monthly-customers", "bar", 2 * months),
        ("invoice-amounts", "bar", bins),
        ("invoice-amounts", "marker", 5),
        ("invoice-amounts-trimmed", "bar", trimmed_bins),
        ("invoice-amounts-trimmed", "marker", 5),
        (
            "rfm-segments",
            "bar",
            report["rfm_segments"].as_array().unwrap().len() as u64,
        ),
        ("rfm-grid", "cell", 25),
        // One bar and one point (silhouette) per k tried.
        (
            "kmeans-k",
            "bar",
            report["kmeans"]["by_k"].as_array().unwrap().len() as u64,
        ),
        (
            "kmeans-k",
            "point",
            report["kmeans"]["by_k"].as_array().unwrap().len() as u64,
        ),
        // One bar per tenth of P(alive), and the line of their lifetime value.
        (
            "clv-p-alive",
            "bar",
            report["clv"]["p_alive_bands"].as_array().unwrap().len() as u64,
        ),
        (
            "clv-p-alive",
            "point",
            report["clv"]["p_alive_bands"].as_array().unwrap().len() as u64,
        ),
        // One cell per (cohort, month offset).
        (
            "cohort-retention",
            "cell",
            report["cohorts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["active"].as_array().unwrap().len() as u64)
                .sum(),
        ),
    ]
}

const COUNT_MARKS: &str = r#"
const out = {};
for (const svg of document.querySelectorAll('svg.chart')) {
  if (svg.closest('#live')) continue;
  const box = svg.getBoundingClientRect();
  out[svg.dataset.chart] = {
    width: box.width,
    bar: svg.querySelectorAll('.bar').length,
    point: svg.querySelectorAll('.point').length,
    cell: svg.querySelectorAll('.cell').length,
    marker: svg.querySelectorAll('.marker').length,
    tableRows: svg.closest('section').querySelectorAll('details table tbody tr').length,
  };
}
return out;
"#;

fn check_charts(browser: &Browser, report: &Value, page: &str) {
    let marks = browser.eval(COUNT_MARKS);
    assert_eq!(
        marks.as_object().unwrap().len(),
        10,
        "{page}: charts found: {marks}"
    );
    for (chart, class, expected) in expected_marks(report) {
        let got = &marks[chart];
        assert_eq!(
            got[class],
            json!(expected),
            "{page}: {chart} .{class}: {got}"
        );
        assert!(
            got["width"].as_f64().unwrap() > 600.0,
            "{page}: {chart} not laid out: {got}"
        );
        assert!(
            got["tableRows"].as_u64().unwrap() > 0,
            "{page}: {chart} has no table"
        );
    }
}

#[test]
fn report_and_dashboard_render_in_chromium() {
    let _turn = crate::support::group("browser");
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("warehouse");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/online_retail_II.csv.zst");
    lgs(&wh).arg("ingest").arg(&data).assert().success();

    let (report, html) = report_files(dir.path(), &wh);
    browser.goto(&format!("file://{}", html.display()));
    check_charts(&browser, &report, "report.html");
    // The numbers beneath the monthly sales chart are the report's.
    let first_sales = browser.eval(
        "return document.querySelector('#monthly-sales tbody tr td:nth-child(2)').textContent",
    );
    let expected = report["monthly"][0]["sales"].as_f64().unwrap();
    let shown: f64 = first_sales
        .as_str()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!((shown - expected).abs() < 0.006, "{shown} vs {expected}");
    browser.screenshot("report.png");
    assert_eq!(browser.console_errors(), Vec::<String>::new());

    // The dashboard: the same charts, live.
    let (server, base, port) = start_dashboard(&wh);
    browser.goto(&format!("{base}/"));
    check_charts(&browser, &report, "dashboard");
    browser.screenshot("dashboard.png");
    let (status, body) = http(port, "GET", "/api/charts/monthly-orders", &[], b"");
    assert_eq!(status, 200);
    let chart: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        chart["rows"].as_array().unwrap().len(),
        report["monthly"].as_array().unwrap().len()
    );

    sql_page(&browser, &base, port, &report);
    // The API refuses to change the warehouse, and says why.
    for (sql, says) in [
        ("CREATE TABLE x AS SELECT 1", "DDL"),
        ("INSERT INTO retail SELECT * FROM retail", "DML"),
        ("SELECT 1; SELECT 2", "one statement"),
    ] {
        let view = run_query(port, sql);
        assert_eq!(view["state"], "failed", "{sql}: {view}");
        let error = view["error"].as_str().unwrap();
        assert!(error.contains(says), "{sql}: {error}");
    }
    let after = run_query(port, "SELECT count(*) AS n FROM retail");
    assert_eq!(after["page"][0][0], "1067370", "{after}");
    drop(server);
}

/// `lgs report --format json --html --png`: the JSON report, and the HTML page
/// (checked self-contained) with its PNGs (checked and kept as artifacts).
fn report_files(dir: &Path, wh: &Path) -> (Value, std::path::PathBuf) {
    let html = dir.join("report.html");
    let pngs = dir.join("png");
    let out = lgs(wh)
        .args([
            "report",
            "--as-of",
            "2012-01-01",
            "--format",
            "json",
            "--html",
        ])
        .arg(&html)
        .arg("--png")
        .arg(&pngs)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let size = std::fs::metadata(&html).unwrap().len();
    assert!(size < 2 * 1024 * 1024, "report.html is {size} bytes");
    let text = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no script, and no address to fetch (the SVG namespace is a
    // name, not a fetch).
    let fetchable = text.replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
    for needle in ["<script", "http:", "https:", "//", "@import", "url("] {
        assert!(
            !fetchable.contains(needle),
            "report.html must be self-contained and script-free; it has {needle}"
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(&pngs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "{names:?}");
    for name in &names {
        let bytes = std::fs::read(pngs.join(name)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (1920, 880), "{name}");
        std::fs::copy(pngs.join(name), artifacts().join(format!("chart-{name}"))).unwrap();
    }

    (report, html)
}

/// `lgs serve` on a free port: the process, its address and its port.
pub(crate) fn start_dashboard(wh: &Path) -> (Process, String, u16) {
    start_dashboard_with(wh, &["--as-of", "2012-01-01"])
}

/// `lgs serve` on a free port with `args`.
pub(crate) fn start_dashboard_with(wh: &Path, args: &[&str]) -> (Process, String, u16) {
    let mut serve = std::process::Command::new(assert_cmd::cargo::cargo_bin("lgs"))
        .env_remove("LGS_WAREHOUSE")
        .arg("--warehouse")
        .arg(wh)
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let server = Process { child: serve };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("serving ")
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();

    (server, base, port)
}

/// The SQL page: a time series with its chart and CSV download, paging, an error
/// with a hint, a long query cancelled and the server still answering.
fn sql_page(browser: &Browser, base: &str, port: u16, report: &Value) {
    let expected = report["monthly"][0]["sales"].as_f64().unwrap();
    browser.goto(&format!("{base}/sql"));
    browser.type_into(
        "#sql",
        "SELECT month, sum(amount) AS sales FROM retail GROUP BY month ORDER BY month",
    );
    browser.click("#run");
    browser.wait(
        "return document.querySelector('#status').dataset.state === 'done'",
        "the query",
    );
    let result = browser.eval(
        "return {rows: document.querySelectorAll('#result-table tbody tr').length, \
                 first: document.querySelector('#result-table tbody tr td:nth-child(2)').textContent, \
                 points: document.querySelectorAll('#chart .point').length}",
    );
    let months = report["monthly"].as_array().unwrap().len() as u64;
    assert_eq!(result["rows"], json!(months), "{result}");
    assert_eq!(result["points"], json!(months), "{result}");
    let first: f64 = result["first"].as_str().unwrap().parse().unwrap();
    assert!((first - expected).abs() < 0.006, "{first} vs {expected}");
    let id = browser.eval("return current");
    let (status, csv) = http(port, "GET", &format!("/api/queries/{id}/csv"), &[], b"");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count() as u64, months + 1, "{csv}");
    assert!(csv.starts_with("month,sales\n"), "{csv}");
    browser.screenshot("sql.png");

    // Paging through a larger result.
    browser.type_into(
        "#sql",
        "SELECT invoice_no, amount FROM invoices ORDER BY invoice_no",
    );
    browser.click("#run");
    browser.wait(
        "return document.querySelector('#status').dataset.state === 'done'",
        "the query",
    );
    let range = browser.eval("return document.querySelector('#range').textContent");
    assert!(
        range.as_str().unwrap().starts_with("Rows 1–100 of "),
        "{range}"
    );
    browser.click("#next");
    browser.wait(
        "return document.querySelector('#range').textContent.startsWith('Rows 101–200')",
        "the next page",
    );

    // An error shows the engine's message.
    browser.type_into("#sql", "SELECT custmer_id FROM retail");
    browser.click("#run");
    browser.wait(
        "return document.querySelector('#status').dataset.state === 'failed'",
        "the error",
    );
    let error = browser.eval("return document.querySelector('#error').textContent");
    assert!(error.as_str().unwrap().contains("custmer_id"), "{error}");
    assert!(
        error.as_str().unwrap().contains("customer_id"),
        "a hint: {error}"
    );

    // A long query shows progress and is cancelled.
    browser.type_into("#sql", "SELECT count(*) FROM retail a CROSS JOIN (SELECT quantity FROM retail LIMIT 5000) b WHERE a.quantity + b.quantity = -7");
    browser.click("#run");
    browser.wait(
        "return document.querySelector('#status').textContent.startsWith('Running')",
        "progress",
    );
    std::thread::sleep(Duration::from_millis(500));
    browser.click("#cancel");
    browser.wait(
        "return document.querySelector('#status').dataset.state === 'cancelled'",
        "the cancel",
    );
    // The server is still there and answers the next query.
    browser.type_into("#sql", "SELECT count(*) AS n FROM ingest_log");
    browser.click("#run");
    browser.wait(
        "return document.querySelector('#status').dataset.state === 'done'",
        "the query after the cancel",
    );
    browser.screenshot("sql-after-cancel.png");
    assert_eq!(browser.console_errors(), Vec::<String>::new());
}

/// Runs `sql` through the dashboard's API and returns the finished job's first page.
fn run_query(port: u16, sql: &str) -> Value {
    run_query_as(port, sql, &[])
}

/// [`run_query`] with these headers (a user's bearer token).
pub(crate) fn run_query_as(port: u16, sql: &str, auth: &[(String, String)]) -> Value {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    headers.extend_from_slice(auth);
    let body = serde_json::to_vec(&json!({ "sql": sql })).unwrap();
    let (status, reply) = http(port, "POST", "/api/queries", &headers, &body);
    assert_eq!(status, 200);
    let id = serde_json::from_slice::<Value>(&reply).unwrap()["id"].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, reply) = http(port, "GET", &format!("/api/queries/{id}"), auth, b"");
        assert_eq!(status, 200);
        let view: Value = serde_json::from_slice(&reply).unwrap();
        if view["state"] != "running" {
            return view;
        }
        assert!(Instant::now() < deadline, "{sql} still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_refuses_a_public_address_without_users() {
    let _turn = crate::support::group("browser");
    let dir = tempfile::tempdir().unwrap();
    let out = lgs(&dir.path().join("wh"))
        .args(["serve", "--bind", "0.0.0.0", "--port", "0"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("--users") && err.contains("0.0.0.0"), "{err}");
}

#[test]
fn serve_on_a_public_address_with_users_needs_a_token() {
    let _turn = crate::support::group("browser");
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[roles.admin]\nadmin = true\n").unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[users.ops]\nrole = \"admin\"\ntoken_sha256 = \"{}\"\n",
            lgs::serve::auth::token_hash("ops-token")
        ),
    )
    .unwrap();
    let auth = [("Authorization".to_string(), "Bearer ops-token".to_string())];
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lgs"))
        .env_remove("LGS_WAREHOUSE")
        .env_remove("LGS_ROLE")
        .arg("--warehouse")
        .arg(&wh)
        .arg("--policy")
        .arg(&policy)
        .args(["serve", "--bind", "0.0.0.0", "--port", "0", "--users"])
        .arg(&users)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Process { child };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.starts_with("serving http://0.0.0.0:"), "{line}");
    // It answers (here over loopback), also with no table to report on yet.
    let port = crate::support::served_port(&line);
    let (status, _) = http(port, "GET", "/api/charts", &[], b"");
    assert_eq!(status, 401, "no token");
    let (status, body) = http(port, "GET", "/", &auth, b"");
    assert_eq!(status, 503);
    assert!(
        String::from_utf8_lossy(&body).contains("lgs ingest"),
        "a hint"
    );
    // Tables loaded while it runs are seen by the next request (a new session for
    // the new versions), and again after a second load.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data");
    lgs(&wh)
        .arg("ingest")
        .arg(data.join("handmade.csv"))
        .assert()
        .success();
    let (status, _) = http(port, "GET", "/", &auth, b"");
    assert_eq!(status, 200);
    let count =
        || run_query_as(port, "SELECT count(*) AS n FROM retail", &auth)["page"][0][0].clone();
    assert_eq!(count(), "8");
    lgs(&wh)
        .args(["ingest", "--force"])
        .arg(data.join("handmade.csv"))
        .assert()
        .success();
    assert_eq!(count(), "16");
    // A script of several statements is refused by the query and by its CSV
    // download alike (the download used to run the last statement).
    let view = run_query_as(port, "SELECT 1 AS a; SELECT count(*) FROM retail", &auth);
    assert!(
        view["error"].as_str().unwrap().contains("one statement"),
        "{view}"
    );
    let (status, body) = http(
        port,
        "GET",
        &format!("/api/queries/{}/csv", view["id"]),
        &auth,
        b"",
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("one statement"));
    drop(server);
    drop(stderr);
}
