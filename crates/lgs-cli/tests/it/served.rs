//! The served surfaces under users: the dashboard's pages and API, and the
//! PostgreSQL protocol, each user seeing what its role may; every served query in
//! the audit trail.

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use crate::cli::lgs;
use crate::governance::{as_role, setup};

/// A running `lgs serve` with users alice (agency), bob (uk) and root (admin),
/// each with the token `NAME-token` (also its PostgreSQL password).
struct Served {
    _server: crate::support::Process,
    /// The dashboard's port, and the PostgreSQL port with `--pg-port 0`.
    port: u16,
    pg_port: Option<u16>,
}

fn serve(dir: &Path, wh: &Path, postgres: bool) -> Served {
    use std::io::BufRead;
    let users = dir.join("users.toml");
    let mut text = String::new();
    for (name, role) in [("alice", "agency"), ("bob", "uk"), ("root", "admin")] {
        let token = format!("{name}-token");
        text.push_str(&format!(
            "[users.{name}]\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n{}\n",
            lgs::serve::auth::token_hash(&token),
            lgs::serve::auth::pg_scram_line(&token)
        ));
    }
    std::fs::write(&users, text).unwrap();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("lgs"));
    command
        .env_remove("LGS_WAREHOUSE")
        .env_remove("LGS_ROLE")
        .env_remove("LGS_PSEUDONYM_KEY")
        .arg("--warehouse")
        .arg(wh)
        .arg("--policy")
        .arg(dir.join("policy.toml"))
        .args(["serve", "--port", "0", "--no-live", "--users"])
        .arg(&users);
    if postgres {
        command.args(["--pg-port", "0"]);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = crate::support::Process { child };
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut port_of = |_| crate::support::served_port(&lines.next().unwrap().unwrap());
    let port = port_of(());
    let pg_port = postgres.then(|| port_of(()));
    Served {
        _server,
        port,
        pg_port,
    }
}

/// The JSON `lgs audit --format json` prints with `args`.
fn audit(wh: &Path, args: &[&str]) -> Value {
    let out = lgs(wh)
        .args(["audit", "--format", "json"])
        .args(args)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// A user of the served warehouse: its bearer header.
fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("Authorization".to_string(), format!("Bearer {token}"))]
}

#[test]
fn served_users_see_what_their_role_may_and_nothing_without_a_token() {
    use crate::browser::run_query_as;
    use crate::support::{http, http_full};

    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    let served = serve(dir.path(), &wh, false);
    let port = served.port;
    // Nothing without a token: the API says 401, pages send to the login page.
    assert_eq!(http(port, "GET", "/api/charts", &[], b"").0, 401);
    let (status, head, _) = http_full(port, "GET", "/sql", &[], b"");
    assert_eq!(status, 303);
    assert!(head.contains("location: /login"), "{head}");
    // Each user sees its role's rows; masked ids match nothing.
    let count = |token: &str| {
        run_query_as(port, "SELECT count(*) AS n FROM retail", &bearer(token))["page"][0][0].clone()
    };
    assert_eq!(count("alice-token"), "2");
    assert_eq!(count("bob-token"), "6");
    assert_eq!(count("root-token"), "8");
    let masked = run_query_as(
        port,
        "SELECT * FROM retail WHERE customer_id = 104",
        &bearer("alice-token"),
    );
    assert_eq!(masked["rows"], 0, "{masked}");
    // The report page of a role denied a column (description) is the report of
    // what it sees.
    let (status, page) = http(port, "GET", "/", &bearer("alice-token"), b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&page));
    // A user sees only its own query jobs.
    let path = format!("/api/queries/{}", masked["id"]);
    assert_eq!(http(port, "GET", &path, &bearer("bob-token"), b"").0, 404);
    assert_eq!(http(port, "GET", &path, &bearer("alice-token"), b"").0, 200);
    // The live push (every line's figures) is for admins.
    assert_eq!(
        http(port, "GET", "/api/live", &bearer("alice-token"), b"").0,
        403
    );
    // A token exchanged once for a session cookie.
    let json = [("Content-Type".to_string(), "application/json".to_string())];
    let (status, head, _) = http_full(port, "POST", "/login", &json, br#"{"token": "bob-token"}"#);
    assert_eq!(status, 200);
    assert!(
        head.contains("httponly") && head.contains("samesite=strict"),
        "{head}"
    );
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let with_cookie = vec![("Cookie".to_string(), cookie)];
    assert_eq!(http(port, "GET", "/api/charts", &with_cookie, b"").0, 200);
    let forged = vec![(
        "Cookie".to_string(),
        "lgs_session=626f62.9999999999.00".to_string(),
    )];
    assert_eq!(http(port, "GET", "/api/charts", &forged, b"").0, 401);
    // Wrong tokens: refused, then the address is refused for a while.
    for _ in 0..5 {
        assert_eq!(
            http(port, "GET", "/api/charts", &bearer("guess"), b"").0,
            401
        );
    }
    assert_eq!(
        http(port, "GET", "/api/charts", &bearer("root-token"), b"").0,
        429
    );
}

#[test]
fn served_queries_are_in_an_audit_trail_only_an_admin_reads() {
    use crate::browser::run_query_as;
    use crate::support::http;

    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    let served = serve(dir.path(), &wh, false);
    let port = served.port;
    let counted = run_query_as(
        port,
        "SELECT count(*) AS n FROM retail",
        &bearer("alice-token"),
    );
    assert_eq!(counted["page"][0][0], "2");
    let failed = run_query_as(port, "SELECT nope FROM retail", &bearer("alice-token"));
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(http(port, "GET", "/", &bearer("bob-token"), b"").0, 200);
    // A role cannot reach the trail through SQL.
    let hidden = run_query_as(
        port,
        "SELECT * FROM \"_lgs_audit/queries\"",
        &bearer("alice-token"),
    );
    assert_eq!(hidden["state"], "failed", "{hidden}");
    // Records are committed every 2 s.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let records = audit(&wh, &[]);
    let records = records.as_array().unwrap();
    let find = |user: &str, statement: &str| {
        records
            .iter()
            .find(|r| r["user"] == user && r["statement"] == statement)
            .unwrap_or_else(|| panic!("no record of {user}: {statement} in {records:#?}"))
    };
    let ok = find("alice", "SELECT count(*) AS n FROM retail");
    assert_eq!(
        (
            &ok["role"],
            &ok["surface"],
            &ok["tables"],
            &ok["rows"],
            &ok["outcome"]
        ),
        (
            &Value::from("agency"),
            &Value::from("sql page"),
            &Value::from("retail"),
            &Value::from(1),
            &Value::from("ok")
        )
    );
    let bad = find("alice", "SELECT nope FROM retail");
    assert!(
        bad["outcome"].as_str().unwrap().starts_with("failed: "),
        "{bad}"
    );
    let page = find("bob", "GET /");
    assert_eq!(
        (&page["role"], &page["surface"], &page["outcome"]),
        (
            &Value::from("uk"),
            &Value::from("dashboard"),
            &Value::from("ok")
        )
    );
    // Filters, and only an admin reads it.
    let out = lgs(&wh)
        .args([
            "audit", "--format", "json", "--user", "bob", "--since", "1h",
        ])
        .assert()
        .success();
    let bobs: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(!bobs.as_array().unwrap().is_empty());
    assert!(bobs.as_array().unwrap().iter().all(|r| r["user"] == "bob"));
    as_role(&wh, dir.path(), "agency")
        .arg("audit")
        .assert()
        .failure()
        .stderr(predicate::str::contains("audit trail"));
    drop(served);
}

/// `psql -c SQL` as `user` with `password`: its output, or its error.
fn psql(port: u16, user: &str, password: &str, sql: &str) -> Result<String, String> {
    let out = std::process::Command::new("psql")
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            user,
            "-d",
            "lgs",
        ])
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        false => Err(String::from_utf8_lossy(&out.stderr).to_string()),
    }
}

#[test]
fn the_postgres_protocol_serves_the_same_users_roles_and_audit_trail() {
    if std::process::Command::new("psql")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: psql (PostgreSQL's client) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    let served = serve(dir.path(), &wh, true);
    let port = served.pg_port.unwrap();
    let count = "SELECT count(*) FROM retail";
    assert_eq!(psql(port, "alice", "alice-token", count), Ok("2".into()));
    assert_eq!(psql(port, "root", "root-token", count), Ok("8".into()));
    // psql's own catalog queries (`\\d`) list the relations the role sees (its
    // tables are views).
    let listed = psql(port, "alice", "alice-token", "\\d").unwrap();
    assert!(listed.contains("retail"), "{listed}");
    assert!(!listed.contains("retail_rejected"), "{listed}");
    // `\\dt`: the tables themselves, for a role that reads them unfiltered.
    let tables = psql(port, "root", "root-token", "\\dt").unwrap();
    assert!(tables.contains("public|retail|table|"), "{tables}");
    // `\\d retail`: the columns with PostgreSQL's types, those the role may see.
    let described = psql(port, "root", "root-token", "\\d retail").unwrap();
    assert!(described.contains("amount|numeric"), "{described}");
    assert!(described.contains("description|text"), "{described}");
    let described = psql(port, "alice", "alice-token", "\\d retail").unwrap();
    assert!(described.contains("amount|numeric"), "{described}");
    assert!(!described.contains("description"), "{described}");
    let countries = "SELECT DISTINCT country FROM retail ORDER BY 1";
    assert_eq!(
        psql(port, "alice", "alice-token", countries),
        Ok("France\nGermany".into())
    );
    // Masked ids match nothing; a denied column does not exist.
    let by_id = "SELECT count(*) FROM retail WHERE customer_id = 104";
    assert_eq!(psql(port, "alice", "alice-token", by_id), Ok("0".into()));
    let denied = psql(
        port,
        "alice",
        "alice-token",
        "SELECT description FROM retail",
    );
    assert!(denied.is_err(), "{denied:?}");
    // The token is the password; a wrong one is refused.
    let wrong = psql(port, "alice", "root-token", count).unwrap_err();
    assert!(
        wrong.contains("password") || wrong.contains("authentication"),
        "{wrong}"
    );
    assert!(psql(port, "mallory", "x", count).is_err());
    // Read-only, whoever asks.
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "COPY (SELECT 1) TO '/tmp/lgs-pg-copy.csv'",
        "INSERT INTO retail SELECT * FROM retail",
    ] {
        let refused = psql(port, "root", "root-token", sql).unwrap_err();
        assert!(refused.contains("read-only"), "{sql}: {refused}");
    }
    // Every statement in the audit trail.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let records = audit(&wh, &["--user", "alice"]);
    let counted = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["statement"] == count)
        .unwrap_or_else(|| panic!("{records:#}"));
    assert_eq!(
        (&counted["surface"], &counted["role"], &counted["outcome"]),
        (
            &Value::from("postgres"),
            &Value::from("agency"),
            &Value::from("ok")
        )
    );
    // Five failed logins from an address within a minute (the wrong password
    // and the unknown user above, three more here) refuse it, even with the
    // right password, for the rest of the minute.
    for _ in 0..3 {
        assert!(psql(port, "alice", "wrong", count).is_err());
    }
    let refused = psql(port, "alice", "alice-token", count).unwrap_err();
    assert!(refused.contains("too many failed logins"), "{refused}");
    drop(served);
}

/// A forget while the dashboard serves (with its live state): the next requests see
/// the warehouse without the customer, and the pages still answer.
#[test]
fn a_customer_forgotten_while_the_dashboard_serves_is_gone_from_it() {
    use crate::browser::{run_query_as, start_dashboard_with};
    use crate::support::http;

    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    let (_server, _, port) = start_dashboard_with(&wh, &["--live-interval", "100ms"]);
    let of_101 = "SELECT count(*) AS n FROM retail WHERE customer_id = 101";
    assert_eq!(run_query_as(port, of_101, &[])["page"][0][0], "4");
    assert_eq!(http(port, "GET", "/", &[], b"").0, 200);
    lgs(&wh)
        .env("LGS_PSEUDONYM_KEY", "a pseudonym key of 32 bytes or more")
        .args([
            "forget",
            "--customer",
            "101",
            "--reason",
            "erasure",
            "--now",
        ])
        .assert()
        .success();
    assert_eq!(run_query_as(port, of_101, &[])["page"][0][0], "0");
    let all = run_query_as(port, "SELECT count(*) AS n FROM retail", &[]);
    assert_eq!(all["page"][0][0], "4", "{all}");
    assert_eq!(http(port, "GET", "/", &[], b"").0, 200);
    let page = http(port, "GET", "/customer?id=101", &[], b"");
    assert_eq!(page.0, 404, "{}", String::from_utf8_lossy(&page.1));
}

/// Sends `bytes` to the PostgreSQL port as one connection, closes its writing
/// half, and returns all the server answered until it closed.
fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let _ = client.write_all(bytes);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer);
    answer
}

/// A PostgreSQL wire message: its type byte, its length, its body.
fn pg_message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Found by fuzzing (`fuzz/` target `pg_wire`): a Parse message whose count of
/// parameter types runs past its end makes pgwire's decoder panic. The server
/// closes that client's connection with one warning line, no panic and no
/// backtrace on stderr, and goes on serving the next client.
/// `lgs serve --pg-port 0` over the governance warehouse in `dir`: the server,
/// its PostgreSQL port and the file its stderr goes to.
fn serve_pg(dir: &Path) -> (crate::support::Process, u16, std::path::PathBuf) {
    let wh = setup(dir);
    let log = dir.join("stderr.txt");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lgs"))
        .env_remove("LGS_WAREHOUSE")
        .env_remove("LGS_ROLE")
        .env_remove("LGS_POLICY")
        .arg("--warehouse")
        .arg(&wh)
        .args(["serve", "--port", "0", "--no-live", "--pg-port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = crate::support::Process { child };
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let port = crate::support::served_port(&lines.nth(1).unwrap().unwrap());
    (server, port, log)
}

/// A fuzz input kept as a regression test.
fn fuzz_input(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../lgs/tests/data/fuzz/");
    std::fs::read(format!("{dir}{name}")).unwrap()
}

/// A connection's startup message as user `postgres`, followed by `messages`
/// and a Terminate.
fn pg_session(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut startup = 196608i32.to_be_bytes().to_vec();
    startup.extend_from_slice(b"user\0postgres\0database\0lgs\0\0");
    let mut out = (startup.len() as i32 + 4).to_be_bytes().to_vec();
    out.extend_from_slice(&startup);
    for message in messages {
        out.extend_from_slice(message);
    }
    out.extend(pg_message(b'X', b""));
    out
}

/// The messages of type `tag` in a server's answer (after the first byte of
/// the startup exchange, every message is a type byte and a length).
fn pg_answers(answer: &[u8], tag: u8) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut at = 0;
    while at + 5 <= answer.len() {
        let len = i32::from_be_bytes(answer[at + 1..at + 5].try_into().unwrap()) as usize;
        if answer[at] == tag {
            found.push(answer[at + 5..(at + 1 + len).min(answer.len())].to_vec());
        }
        at += 1 + len;
    }
    found
}

/// Found by fuzzing (`fuzz/` target `pg_wire`): a Parse message whose count of
/// parameter types runs past its end makes pgwire's decoder panic. The server
/// closes that client's connection with one warning line, no panic and no
/// backtrace on stderr, and goes on serving the next client.
#[test]
fn pg_wire_parse_count_past_end() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, log) = serve_pg(dir.path());
    exchange(port, &fuzz_input("pg_wire_parse_count_past_end.bin"));
    // The next client: a startup, one query, the end.
    let good = pg_session(&[pg_message(b'Q', b"SELECT count(*) AS n FROM retail\0")]);
    let answer = exchange(port, &good);
    // A DataRow of one column, the text "8"; then the command's tag.
    let row = pg_message(b'D', &[0, 1, 0, 0, 0, 1, b'8']);
    let found = |needle: &[u8]| answer.windows(needle.len()).any(|w| w == needle);
    assert!(found(&row), "{}", String::from_utf8_lossy(&answer));
    assert!(found(b"SELECT 1\0"), "{}", String::from_utf8_lossy(&answer));
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("closed a PostgreSQL connection") && stderr.contains("malformed"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Found by fuzzing (`fuzz/` target `pg_wire`): an Execute message asking for
/// 822 million rows made pgwire reserve 32.9 GB before reading one, and the
/// allocation failure aborted the whole server. Row counts are now taken one
/// batch at a time: the server stays up, an Execute with any row limit gets
/// its rows (all of them when the limit is above the result, with
/// `PortalSuspended` when below), and so does `FETCH` with a huge count.
#[test]
fn pg_wire_execute_row_limit_huge() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, log) = serve_pg(dir.path());
    exchange(port, &fuzz_input("pg_wire_execute_row_limit_huge.bin"));
    // An unnamed statement with no parameters, bound and executed with a row
    // limit: an Execute's body is the portal's name and the limit.
    let parse = pg_message(b'P', b"\0SELECT invoice_no FROM retail\0\0\0");
    let bind = pg_message(b'B', &[0, 0, 0, 0, 0, 0, 0, 0]);
    let execute = |limit: i32| {
        let mut body = vec![0];
        body.extend_from_slice(&limit.to_be_bytes());
        pg_message(b'E', &body)
    };
    let sync = pg_message(b'S', b"");
    for (limit, rows, tag) in [
        (i32::MAX, 8, Some("SELECT 8")),
        (0x3100_0001, 8, Some("SELECT 8")),
        (-1, 8, Some("SELECT 8")),
        (3, 3, None),
    ] {
        let answer = exchange(
            port,
            &pg_session(&[parse.clone(), bind.clone(), execute(limit), sync.clone()]),
        );
        let shown = String::from_utf8_lossy(&answer);
        assert_eq!(
            pg_answers(&answer, b'D').len(),
            rows,
            "limit {limit}: {shown}"
        );
        let complete = pg_answers(&answer, b'C');
        match tag {
            Some(tag) => assert_eq!(complete, vec![format!("{tag}\0").into_bytes()], "{shown}"),
            None => {
                assert!(complete.is_empty(), "{shown}");
                assert_eq!(pg_answers(&answer, b's').len(), 1, "{shown}");
            }
        }
    }
    // FETCH with a count far above any result, and one of 2 after it.
    let statements = [
        "BEGIN",
        "DECLARE c CURSOR FOR SELECT invoice_no FROM retail",
        "FETCH 1000000000000 FROM c",
        "FETCH 2 FROM c",
        "COMMIT",
    ];
    let queries: Vec<_> = statements
        .iter()
        .map(|sql| pg_message(b'Q', format!("{sql}\0").as_bytes()))
        .collect();
    let answer = exchange(port, &pg_session(&queries));
    let shown = String::from_utf8_lossy(&answer);
    assert_eq!(pg_answers(&answer, b'D').len(), 8, "{shown}");
    assert!(pg_answers(&answer, b'E').is_empty(), "{shown}");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}
