//! Live analytics as a user sees them: `lgs serve` pushes the latest day, orders per
//! minute and the monthly metrics to open pages when lines arrive (server-sent
//! events, and the page moving without a reload in Chromium), `lgs live` keeps the
//! state the report reads, and the report over it equals `--recompute`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::browser::start_dashboard_with;
use crate::webdriver::Browser;

const HEADER: &str =
    "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country";

fn lgs(warehouse: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lgs").unwrap();
    cmd.env_remove("LGS_WAREHOUSE")
        .arg("--warehouse")
        .arg(warehouse);
    cmd
}

/// Two drops whose figures were worked out by hand. After the first, 9 December
/// 2011 has 13.50 of sales in 2 orders (10:00 and 10:30); the second adds an order
/// of 12.00 and a cancellation of 5.00 at 10:31: 20.50 in 3 orders, the last
/// minute 1 order worth 7.00 net.
fn drops(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let first = dir.join("first.csv");
    std::fs::write(
        &first,
        format!(
            "{HEADER}\n\
             2001,P1,MUG,2,2011-12-09 10:00:00,5.00,301,United Kingdom\n\
             2002,P2,CUP,1,2011-12-09 10:30:00,3.50,302,France\n\
             2003,P1,MUG,1,2011-11-20 09:00:00,5.00,301,United Kingdom\n"
        ),
    )
    .unwrap();
    let second = dir.join("second.csv");
    std::fs::write(
        &second,
        format!(
            "{HEADER}\n\
             2004,P3,BOWL,3,2011-12-09 10:31:00,4.00,303,Germany\n\
             C2005,P1,MUG,-1,2011-12-09 10:31:00,5.00,301,United Kingdom\n"
        ),
    )
    .unwrap();
    (first, second)
}

/// A reader of `GET /api/live`'s events.
struct Events(BufReader<TcpStream>);

impl Events {
    fn open(port: u16) -> Events {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        Events(BufReader::new(stream))
    }

    /// The next `live` event's data.
    fn next(&mut self) -> Value {
        let mut event = String::new();
        loop {
            let mut line = String::new();
            let read = self.0.read_line(&mut line).expect("an event within 30 s");
            assert!(read > 0, "the server closed the event stream");
            let line = line.trim_end();
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ")
                && event == "live"
            {
                return serde_json::from_str(data).unwrap();
            }
        }
    }
}

fn month<'a>(live: &'a Value, month: &str) -> &'a Value {
    live["monthly"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["month"] == month)
        .unwrap()
}

#[test]
fn serve_pushes_each_new_commit_to_open_pages() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("warehouse");
    let (first, second) = drops(dir.path());
    lgs(&wh).arg("ingest").arg(&first).assert().success();
    let (_server, _base, port) = start_dashboard_with(&wh, &["--live-interval", "100ms"]);

    let mut events = Events::open(port);
    let live = events.next();
    assert_eq!(live["version"], 0);
    assert_eq!(live["now"]["day"], "2011-12-09");
    assert_eq!(live["now"]["day_sales"], 13.5);
    assert_eq!(live["now"]["day_orders"], 2);
    assert_eq!(live["now"]["minutes"].as_array().unwrap().len(), 2);
    assert_eq!(month(&live, "2011-11")["sales"], 5.0);
    assert_eq!(month(&live, "2011-12")["sales"], 13.5);

    // The next commit reaches the open page by itself, soon.
    lgs(&wh).arg("ingest").arg(&second).assert().success();
    let committed = Instant::now();
    let live = events.next();
    let waited = committed.elapsed();
    assert!(waited < Duration::from_secs(5), "pushed after {waited:?}");
    assert_eq!(live["version"], 1);
    assert_eq!(live["now"]["day_sales"], 20.5);
    assert_eq!(live["now"]["day_orders"], 3);
    let last = live["now"]["minutes"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (&last["minute"], &last["orders"], &last["sales"]),
        (&"10:31".into(), &1.into(), &7.0.into())
    );
    let december = month(&live, "2011-12");
    assert_eq!(
        (
            &december["sales"],
            &december["placed_orders"],
            &december["cancelled_orders"]
        ),
        (&20.5.into(), &3.into(), &1.into())
    );
    let chart = live["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "monthly-sales")
        .unwrap();
    assert!(
        chart["svg"]
            .as_str()
            .unwrap()
            .contains("Sales (GBP): 20.50")
    );

    // The server kept the live state; the report reads it and equals the
    // recomputation from every line.
    assert!(wh.join("_lgs_live/retail/_delta_log").is_dir());
    let report = |extra: &[&str]| {
        let out = lgs(&wh)
            .args(["report", "--format", "json"])
            .args(extra)
            .assert()
            .success();
        serde_json::from_slice::<Value>(&out.get_output().stdout).unwrap()
    };
    assert_eq!(report(&[]), report(&["--recompute"]));
}

#[test]
fn lgs_live_keeps_the_state_and_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("warehouse");
    let (first, second) = drops(dir.path());
    lgs(&wh)
        .arg("live")
        .assert()
        .failure()
        .stderr(predicates::str::contains("lgs ingest"));
    lgs(&wh).arg("ingest").arg(&first).assert().success();
    let json = |cmd: &mut Command| -> Value {
        let out = cmd.args(["live", "--format", "json"]).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let built = json(&mut lgs(&wh));
    assert_eq!(built["change"], "rebuilt", "{built}");
    assert_eq!(built["rows_written"], 3);
    let current = json(&mut lgs(&wh));
    assert_eq!(current["change"], "current", "{current}");
    // An ingest brings the state along; the state is not a table of the warehouse.
    lgs(&wh).arg("ingest").arg(&second).assert().success();
    let text = lgs(&wh).arg("live").assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(
        text.contains("live state of retail version 1: already up to date"),
        "{text}"
    );
    let tables = lgs(&wh)
        .args(["tables", "--format", "json"])
        .assert()
        .success();
    let tables: Value = serde_json::from_slice(&tables.get_output().stdout).unwrap();
    let names: Vec<&str> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ingest_log", "retail"]);
}

#[test]
fn the_report_page_moves_without_a_reload() {
    let _turn = crate::support::group("browser");
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("warehouse");
    let (first, second) = drops(dir.path());
    lgs(&wh).arg("ingest").arg(&first).assert().success();
    let (_server, base, _port) = start_dashboard_with(&wh, &["--live-interval", "100ms"]);
    browser.goto(&format!("{base}/"));
    browser.wait(
        "return document.body.dataset.liveVersion === '0'",
        "the first push",
    );
    let text = |id: &str| {
        let text = browser.eval(&format!(
            "return document.getElementById('{id}').textContent"
        ));
        text.as_str().unwrap().to_string()
    };
    assert_eq!(text("live-day-sales"), "£13.50");
    assert_eq!(text("live-day-orders"), "2");
    browser.eval("window.stayed = 42; return true");

    lgs(&wh).arg("ingest").arg(&second).assert().success();
    browser.wait(
        "return document.body.dataset.liveVersion === '1'",
        "the push of the second drop",
    );
    assert_eq!(text("live-day-sales"), "£20.50");
    assert_eq!(text("live-day-orders"), "3");
    assert_eq!(text("live-minute"), "10:31");
    assert_eq!(text("live-minute-orders"), "1");
    // The monthly chart further down moved too, and the page was not reloaded.
    let monthly = browser.eval("return document.querySelector('#monthly-sales figure').innerHTML");
    assert!(
        monthly.as_str().unwrap().contains("Sales (GBP): 20.50"),
        "{monthly}"
    );
    let bars = browser.eval("return document.querySelectorAll('#orders-per-minute .bar').length");
    assert_eq!(bars, 3);
    assert_eq!(browser.eval("return window.stayed"), 42);
    browser.screenshot("live.png");
    assert_eq!(browser.console_errors(), Vec::<String>::new());
}
