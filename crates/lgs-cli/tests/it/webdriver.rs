//! A minimal WebDriver client: a headless Chromium session over Debian's
//! chromedriver (`LGS_TEST_CHROMEDRIVER`, `LGS_TEST_CHROMIUM`), ended on drop, and
//! where the screenshots go (`$LGS_TEST_ARTIFACTS`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Process, free_port, http, wait_for_port};

pub fn artifacts() -> PathBuf {
    let dir = std::env::var_os("LGS_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join("test-artifacts")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Chromium session over chromedriver, ended (and the driver stopped) on drop.
pub struct Browser {
    port: u16,
    session: String,
    _driver: Process,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Option<Browser> {
        let Ok(driver) = std::env::var("LGS_TEST_CHROMEDRIVER") else {
            eprintln!(
                "skipping: set LGS_TEST_CHROMEDRIVER to chromedriver (.ci/run installs Debian's \
                 chromium and chromium-driver and sets it) to run the browser tests"
            );
            return None;
        };
        let chromium = std::env::var("LGS_TEST_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
        let port = free_port();
        let child = std::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver}: {e}"));
        let process = Process { child };
        wait_for_port(port, &driver);
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let (status, body) = request(port, "POST", "/session", &capabilities);
        assert_eq!(status, 200, "new session: {body}");
        let session = body["value"]["sessionId"].as_str().unwrap().to_string();
        Some(Browser {
            port,
            session,
            _driver: process,
            _profile: profile,
        })
    }

    pub fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, reply) = request(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            &body,
        );
        assert_eq!(status, 200, "{method} {path}: {reply}");
        reply["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    pub fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Waits until `script` returns true.
    pub fn wait(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.eval(script) != json!(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn element(&self, css: &str) -> String {
        let found = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/click"), json!({}));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        );
    }

    /// Console messages of level SEVERE (errors) since the last call.
    pub fn console_errors(&self) -> Vec<String> {
        let logs = self.cmd("POST", "/se/log", json!({"type": "browser"}));
        logs.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// A screenshot of the whole page, kept as a test artifact.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let height = self
            .eval("return document.documentElement.scrollHeight")
            .as_u64()
            .unwrap()
            .min(12_000);
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": 1280, "height": height.max(600)}),
        );
        let png = self.cmd("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
        let path = artifacts().join(name);
        std::fs::write(&path, bytes).unwrap();
        eprintln!("screenshot: {}", path.display());
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": 1280, "height": 900}),
        );
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            &Value::Null,
        );
    }
}

fn request(port: u16, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        vec![]
    } else {
        serde_json::to_vec(body).unwrap()
    };
    let headers = [(
        "Content-Type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    let (status, reply) = http(port, method, path, &headers, &body);
    (
        status,
        serde_json::from_slice(&reply).unwrap_or(Value::Null),
    )
}
