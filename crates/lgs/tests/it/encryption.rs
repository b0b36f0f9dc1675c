//! Encryption at rest, tried as an attacker with the files and no key would: the
//! real dataset ingested into an encrypted warehouse leaves no customer id,
//! description or country in clear in any file (log included); reads without the
//! key, or with the wrong one, fail naming the table; keys rotate.

use std::path::Path;
use std::sync::Arc;

use lgs::Warehouse;
use lgs::crypt::Keyring;
use lgs::warehouse::ForgetRequest;

use crate::common::{HEADER, Scratch, repo_data, walk};

fn keyring(lines: &[&str]) -> Keyring {
    Keyring::parse(&lines.join("\n"), "test keys").unwrap()
}

fn key_line(id: &str, byte: u8) -> String {
    format!("{id} {}", format!("{byte:02x}").repeat(32))
}

/// The files under `dir` whose bytes contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for path in walk(dir) {
        let bytes = std::fs::read(&path).unwrap();
        if memchr::memmem::find(&bytes, needle).is_some() {
            found.push(path.display().to_string());
        }
    }
    found
}

/// What an attacker would look for: customer ids (as Parquet stores an integer,
/// and as a log's statistics would write it), descriptions and countries.
fn needles() -> Vec<(String, Vec<u8>)> {
    let mut needles = Vec::new();
    for id in [12346_i64, 18287] {
        needles.push((format!("customer {id} (Int64)"), id.to_le_bytes().to_vec()));
        needles.push((
            format!("customer {id} (text)"),
            format!(":{id}").into_bytes(),
        ));
    }
    for text in [
        "WHITE HANGING HEART T-LIGHT HOLDER",
        "United Kingdom",
        "Netherlands",
    ] {
        needles.push((text.to_string(), text.as_bytes().to_vec()));
    }
    needles
}

/// Every needle found, with where.
fn clear_text(dir: &Path) -> Vec<String> {
    needles()
        .into_iter()
        .flat_map(|(what, needle)| {
            holding(dir, &needle)
                .into_iter()
                .map(move |f| format!("{what} in {f}"))
        })
        .collect()
}

async fn scalar(warehouse: &Warehouse, sql: &str) -> lgs::Result<String> {
    let ctx = lgs::session::context(warehouse).await?;
    let batches = ctx.sql(sql).await.unwrap().collect().await;
    let batches = batches.map_err(|e| lgs::LgsError::Query {
        context: "test".into(),
        source: Box::new(e),
    })?;
    Ok(datafusion::arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap())
}

/// Why a session over `warehouse` cannot be opened.
async fn refusal(warehouse: &Warehouse) -> String {
    match lgs::session::context(warehouse).await {
        Ok(_) => panic!("a session opened"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn the_real_dataset_encrypted_leaves_nothing_in_clear() {
    // The search finds every needle in a plain warehouse (it would find a leak).
    let plain = Scratch::new();
    let day = plain.file(
        "day.csv",
        format!(
            "{HEADER}\n\
             536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,12346,United Kingdom\n\
             536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,18287,Netherlands\n"
        ),
    );
    plain.ingest(&[&day]).await.unwrap();
    for (what, needle) in needles() {
        let found = holding(&plain.dir.path().join("warehouse"), &needle);
        assert!(
            !found.is_empty(),
            "{what} is not found in a plain warehouse"
        );
    }

    let mut s = Scratch::new();
    let keys = keyring(&[&Keyring::new_key_line()]);
    s.warehouse = s.warehouse.with_keyring(Some(keys.clone()));
    let report = s
        .ingest(&[&repo_data("online_retail_II.csv.zst")])
        .await
        .unwrap();
    assert_eq!(report.rows_loaded, 1_067_370);
    lgs::live::refresh(&s.warehouse).await.unwrap();
    // Reads decrypt: the dataset's published counts (data/README.md).
    for (sql, expected) in [
        ("SELECT count(*) FROM retail", "1067370"),
        (
            "SELECT count(*) FROM retail WHERE customer_id IS NULL",
            "243007",
        ),
        (
            "SELECT count(*) FROM retail WHERE invoice_no LIKE 'C%'",
            "19494",
        ),
    ] {
        assert_eq!(scalar(&s.warehouse, sql).await.unwrap(), expected, "{sql}");
    }
    let wh = s.dir.path().join("warehouse");
    assert_eq!(clear_text(&wh), Vec::<String>::new());
    // The log records counts only.
    for file in walk(&wh.join("retail/_delta_log")) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!text.contains("minValues"), "{}", file.display());
    }
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(checks.iter().all(|c| c.ok()), "{checks:?}");

    // Without the key, or with the wrong one: an error naming the table.
    let without = Warehouse::new(&wh);
    let e = refusal(&without).await;
    assert!(
        e.starts_with("table ") && e.contains("no key was given"),
        "{e}"
    );
    let e = without.repair("retail").await.unwrap_err().to_string();
    assert!(e.contains("no key was given"), "{e}");
    let other = Warehouse::new(&wh).with_keyring(Some(keyring(&[&key_line("other", 7)])));
    let e = refusal(&other).await;
    assert!(
        e.starts_with("table ") && e.contains("not among the keys"),
        "{e}"
    );
    let id = keys.current_id().to_string();
    let forged = Warehouse::new(&wh).with_keyring(Some(keyring(&[&key_line(&id, 7)])));
    let e = refusal(&forged).await;
    assert!(e.contains("cannot be decrypted"), "{e}");
    // Nothing was dropped by the failed repair.
    assert_eq!(
        scalar(&s.warehouse, "SELECT count(*) FROM retail")
            .await
            .unwrap(),
        "1067370"
    );
}

#[tokio::test]
async fn keys_rotate_and_plain_tables_get_encrypted() {
    let mut s = Scratch::new();
    let (a, b) = (key_line("a", 1), key_line("b", 2));
    let line = |invoice: u32, customer: u32| {
        format!("{invoice},P1,MUG,2,2010-01-05 10:00:00,5.00,{customer},France")
    };
    let day1 = s.file("d1.csv", format!("{HEADER}\n{}\n", line(1, 12001)));
    let day2 = s.file("d2.csv", format!("{HEADER}\n{}\n", line(2, 12002)));
    let day3 = s.file("d3.csv", format!("{HEADER}\n{}\n", line(3, 12003)));
    // A plain table...
    s.ingest(&[&day1]).await.unwrap();
    // ...gets a key: new files under a, then b.
    let wh = s.dir.path().join("warehouse");
    s.warehouse = Warehouse::new(&wh).with_keyring(Some(keyring(&[&a])));
    s.ingest(&[&day2]).await.unwrap();
    s.warehouse = Warehouse::new(&wh).with_keyring(Some(keyring(&[&a, &b])));
    s.ingest(&[&day3]).await.unwrap();
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, vec!["3"]);
    // Key b alone cannot read a's file: the query says which key is missing.
    let only_b = Warehouse::new(&wh).with_keyring(Some(keyring(&[&b])));
    let e = scalar(&only_b, "SELECT count(*) FROM retail")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("key a, which is not among the keys"), "{e}");
    // Rekeyed, every file is under b, and a can go.
    let done = s.warehouse.optimize("retail", true).await.unwrap();
    assert_eq!((done.files_removed, done.files_added), (3, 1));
    assert_eq!(
        scalar(&only_b, "SELECT sum(customer_id) FROM retail")
            .await
            .unwrap(),
        "36006"
    );
    let e = refusal(&Warehouse::new(&wh)).await;
    assert!(e.contains("no key was given"), "{e}");
    // Forgetting works on encrypted tables, and leaves them encrypted.
    let forget = ForgetRequest {
        customers: vec![12002],
        reason: "erasure request".into(),
        now: true,
        key: Arc::from(&b"a pseudonym key of thirty-two bytes or more"[..]),
    };
    let done = only_b.forget(&forget).await.unwrap();
    assert_eq!(done.rows, 1);
    assert_eq!(
        scalar(&only_b, "SELECT sum(customer_id) FROM retail")
            .await
            .unwrap(),
        "24004"
    );
    assert_eq!(holding(&wh, b"France"), Vec::<String>::new());
}
