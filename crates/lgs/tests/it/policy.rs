//! Roles and policies: what a restricted role sees, checked against hand-computed
//! answers on the hand-made data, and the ways around the policy a user might try.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use lgs::policy::{Access, Policy};
use sha2::Sha256;

use crate::common::{Scratch, test_data};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-test-key";

/// handmade.csv has 8 lines: customers 101 (4 lines), 102, 103, 104 and a guest;
/// outside the United Kingdom: 104 in France (C10004, -1 x 5.00) and 103 in
/// Germany (10006, 4 x 2.50).
const POLICY: &str = r#"
[roles.admin]
admin = true

[roles.analyst]
read = ["retail", "invoices"]
[roles.analyst.rules.retail]
mask = ["customer_id"]

[roles.agency]
read = ["retail", "invoices"]
[roles.agency.rules.retail]
filter = "country <> 'United Kingdom'"
mask = ["customer_id"]
deny = ["description"]

[roles.europe]
read = ["retail"]
[roles.europe.rules.retail]
filter = "country <> 'United Kingdom'"
"#;

fn access(role: &str) -> Access {
    Policy::parse(Path::new("policy.toml"), POLICY, Some(KEY.to_vec()))
        .unwrap()
        .access(role)
        .unwrap()
}

/// The pseudonym of a customer id, computed here from the definition: the first
/// 63 bits of HMAC-SHA-256 of its decimal text.
fn pseudonym(id: i64) -> i64 {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY).unwrap();
    mac.update(id.to_string().as_bytes());
    let digest = mac.finalize().into_bytes();
    (u64::from_be_bytes(digest[..8].try_into().unwrap()) >> 1) as i64
}

async fn handmade() -> Scratch {
    let s = Scratch::new();
    s.ingest(&[&test_data("handmade.csv")]).await.unwrap();
    s
}

/// `s` as `role` sees it.
fn as_role(mut s: Scratch, role: &str) -> Scratch {
    s.warehouse = s.warehouse.clone().with_access(access(role));
    s
}

async fn error_of(s: &Scratch, sql: &str) -> String {
    let ctx = s.context().await;
    let result = match ctx.sql(sql).await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    result.expect_err(sql).to_string()
}

#[tokio::test]
async fn a_role_sees_its_rows_with_customers_as_pseudonyms_and_no_denied_column() {
    let s = as_role(handmade().await, "agency");
    let mut rows = s
        .rows("SELECT invoice_no, customer_id, country, amount FROM retail ORDER BY invoice_no")
        .await;
    rows.sort();
    let mut expected = vec![
        format!("10006|{}|Germany|10.0000", pseudonym(103)),
        format!("C10004|{}|France|-5.0000", pseudonym(104)),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    let err = error_of(&s, "SELECT description FROM retail").await;
    assert!(err.contains("description"), "{err}");
    // The view over retail sees what the role sees.
    assert_eq!(
        s.rows("SELECT count(*), sum(amount) FROM invoices").await,
        vec!["2|5.0000"]
    );
}

#[tokio::test]
async fn analyses_by_customer_still_work_on_pseudonyms() {
    let admin = handmade().await;
    let by_id = admin
        .rows("SELECT customer_id, count(*) FROM retail GROUP BY 1 ORDER BY 2 DESC, 1")
        .await;
    let s = as_role(handmade().await, "analyst");
    let by_pseudonym = s
        .rows("SELECT customer_id, count(*) FROM retail GROUP BY 1")
        .await;
    let expected: Vec<String> = by_id
        .iter()
        .map(|row| {
            let (id, n) = row.split_once('|').unwrap();
            match id {
                "" => format!("|{n}"),
                id => format!("{}|{n}", pseudonym(id.parse().unwrap())),
            }
        })
        .collect();
    let mut got = by_pseudonym.clone();
    got.sort();
    let mut want = expected;
    want.sort();
    assert_eq!(
        got, want,
        "every customer keeps its lines, under its pseudonym"
    );
    assert_eq!(
        s.rows("SELECT count(DISTINCT customer_id) FROM retail")
            .await,
        vec!["4"]
    );
}

#[tokio::test]
async fn filtering_grouping_joining_and_subqueries_see_only_masked_rows() {
    let s = as_role(handmade().await, "agency");
    let none: Vec<String> = vec![];
    // A filter on the real id finds nothing: the column holds pseudonyms.
    assert_eq!(
        s.rows("SELECT * FROM retail WHERE customer_id = 104").await,
        none
    );
    assert_eq!(
        s.rows(&format!(
            "SELECT count(*) FROM retail WHERE customer_id = {}",
            pseudonym(104)
        ))
        .await,
        vec!["1"]
    );
    // Rows outside the filter are not there, however they are asked for.
    for sql in [
        "SELECT * FROM retail WHERE country = 'United Kingdom'",
        "SELECT * FROM (SELECT * FROM retail) t WHERE t.country = 'United Kingdom'",
        "SELECT * FROM invoices WHERE country = 'United Kingdom'",
        "SELECT * FROM retail WHERE invoice_no IN (SELECT invoice_no FROM retail WHERE quantity > 1 AND country = 'United Kingdom')",
    ] {
        assert_eq!(s.rows(sql).await, none, "{sql}");
    }
    let grouped = s
        .rows("SELECT customer_id FROM retail GROUP BY customer_id ORDER BY 1")
        .await;
    let mut want = vec![pseudonym(103).to_string(), pseudonym(104).to_string()];
    want.sort_by_key(|v| v.parse::<i64>().unwrap());
    assert_eq!(grouped, want);
    let joined = s
        .rows("SELECT a.customer_id FROM retail a JOIN retail b ON a.customer_id = b.customer_id ORDER BY 1")
        .await;
    assert_eq!(joined, want);
    // A view a user defines is planned under the policy too.
    let ctx = s.context().await;
    ctx.sql("CREATE VIEW mine AS SELECT * FROM retail")
        .await
        .unwrap();
    let n = ctx
        .sql("SELECT count(*) FROM mine")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        n[0].column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap()
            .value(0),
        2
    );
    // Time travel reads the same view of the older state.
    let sql = lgs::asof::rewrite("SELECT count(*) FROM retail VERSION AS OF 0")
        .unwrap()
        .unwrap();
    lgs::asof::register_pinned(&ctx, &["retail@v0".to_string()])
        .await
        .unwrap();
    let n = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let n = n[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>();
    assert_eq!(n.unwrap().value(0), 2);
}

/// `count(DISTINCT customer_id)` under a mask counts the raw ids, without
/// computing a pseudonym (`policy::unmask`): the same numbers as the masked
/// plan, by hand from handmade.csv, and no pseudonym in the plan; wherever the
/// masked values themselves are read, they are still pseudonyms.
#[tokio::test]
async fn distinct_customers_are_counted_without_computing_pseudonyms() {
    let s = as_role(handmade().await, "analyst");
    // By hand: 101 (4 lines) and 102 in the United Kingdom with a guest's line,
    // 103 in Germany, 104 in France.
    for (sql, want) in [
        (
            "SELECT country, count(DISTINCT customer_id) AS n FROM retail GROUP BY country ORDER BY country",
            vec!["France|1", "Germany|1", "United Kingdom|2"],
        ),
        (
            "SELECT count(DISTINCT customer_id), count(*) FROM retail",
            vec!["4|8"],
        ),
        (
            "SELECT count(DISTINCT c) FROM (SELECT customer_id AS c, country FROM retail) t WHERE t.country <> 'United Kingdom'",
            vec!["2"],
        ),
        (
            "SELECT count(DISTINCT customer_id), count(DISTINCT country) FROM retail",
            vec!["4|3"],
        ),
    ] {
        assert_eq!(s.rows(sql).await, want, "{sql}");
        let plan = s.rows(&format!("EXPLAIN {sql}")).await.join("\n");
        assert!(!plan.contains("lgs_pseudonym"), "{sql}: {plan}");
    }
    // A filter on the masked column compares pseudonyms, as before.
    let of_104 = format!(
        "SELECT count(DISTINCT customer_id) FROM retail WHERE customer_id = {}",
        pseudonym(104)
    );
    assert_eq!(s.rows(&of_104).await, vec!["1"]);
    let raw_104 = "SELECT count(DISTINCT customer_id) FROM retail WHERE customer_id = 104";
    assert_eq!(s.rows(raw_104).await, vec!["0"]);
    // The customers themselves are still pseudonyms beside their count.
    let mut by_customer = s
        .rows("SELECT customer_id, count(DISTINCT customer_id) FROM retail WHERE customer_id IS NOT NULL GROUP BY customer_id")
        .await;
    by_customer.sort();
    let mut want: Vec<String> = [101, 102, 103, 104]
        .iter()
        .map(|id| format!("{}|1", pseudonym(*id)))
        .collect();
    want.sort();
    assert_eq!(by_customer, want);
    // The raw value's column is not there for a query to name.
    let err = error_of(&s, "SELECT __lgs_unmasked_0 FROM retail").await;
    assert!(err.contains("__lgs_unmasked_0"), "{err}");
    // With the agency's filter: its two customers.
    let agency = as_role(handmade().await, "agency");
    assert_eq!(
        agency
            .rows("SELECT count(DISTINCT customer_id) FROM retail")
            .await,
        vec!["2"]
    );
}

#[tokio::test]
async fn the_catalog_and_explain_show_only_what_the_role_sees() {
    let s = as_role(handmade().await, "agency");
    let columns = s
        .rows("SELECT column_name FROM information_schema.columns WHERE table_name = 'retail' ORDER BY 1")
        .await;
    assert!(!columns.is_empty());
    assert!(!columns.iter().any(|c| c == "description"), "{columns:?}");
    let tables = s
        .rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        .await;
    assert_eq!(
        tables,
        vec!["invoices", "retail"],
        "no quarantine table, nothing else"
    );
    let plan = s
        .rows("EXPLAIN SELECT customer_id FROM retail WHERE customer_id = 104")
        .await
        .join("\n");
    assert!(plan.contains("lgs_pseudonym"), "{plan}");
    assert!(
        plan.contains("United Kingdom"),
        "the role's filter is in the plan: {plan}"
    );
    // The quarantine is not there for a role that may not read it.
    let err = error_of(&s, "SELECT * FROM retail_rejected").await;
    assert!(err.contains("retail_rejected"), "{err}");
}

#[tokio::test]
async fn reading_the_files_directly_is_refused() {
    let s = as_role(handmade().await, "agency");
    let dir = s.dir.path().join("warehouse").join("retail");
    let ctx = s.context().await;
    let err = ctx
        .sql(&format!(
            "CREATE EXTERNAL TABLE raw STORED AS PARQUET LOCATION '{}/'",
            dir.display()
        ))
        .await
        .expect_err("CREATE EXTERNAL TABLE must be refused")
        .to_string();
    assert!(err.contains("may not read files directly"), "{err}");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension() == Some("parquet".as_ref()))
        .unwrap();
    let err = error_of(&s, &format!("SELECT * FROM '{}'", file.display())).await;
    assert!(
        err.contains("not found") || err.contains("not exist"),
        "{err}"
    );
    // Should anything register a listing of the warehouse's files (a bug), the
    // guard still refuses the plan.
    ctx.register_parquet("sneaky", dir.display().to_string(), Default::default())
        .await
        .unwrap();
    let result = match ctx.sql("SELECT customer_id FROM sneaky").await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let err = result
        .expect_err("the guard must refuse a raw listing")
        .to_string();
    assert!(
        err.contains("role agency may not read the files of"),
        "{err}"
    );
}

#[tokio::test]
async fn tables_and_their_schemas_are_those_the_role_may_read() {
    let s = as_role(handmade().await, "agency");
    let names: Vec<String> = s
        .warehouse
        .tables()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["retail"]);
    let schema = s.warehouse.schema("retail").await.unwrap();
    assert!(schema.field_with_name("description").is_err());
    assert!(schema.field_with_name("customer_id").is_ok());
    let err = s
        .warehouse
        .history("retail_rejected")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("may not read"), "{err}");
    let err = s
        .warehouse
        .access()
        .require_admin("loading data")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("role agency") && err.contains("admin"),
        "{err}"
    );
}

#[test]
fn policy_files_are_checked_with_clear_errors() {
    let parse = |text: &str, key: Option<&[u8]>| {
        Policy::parse(Path::new("p.toml"), text, key.map(<[u8]>::to_vec))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let err = parse("[roles.a]\nread = [\"retail\"]\nwrite = true\n", None);
    assert!(
        err.starts_with("policy p.toml:") && err.contains("line 3") && err.contains("write"),
        "{err}"
    );
    let err = parse(
        "[roles.a]\n[roles.a.rules.retail]\nmask = [\"customer_id\"]\n",
        Some(KEY),
    );
    assert!(err.contains("not in its read list"), "{err}");
    let err = parse(
        "[roles.a]\nread = [\"retail\"]\n[roles.a.rules.retail]\nmask = [\"customer_id\"]\n",
        None,
    );
    assert!(err.contains("no pseudonym key"), "{err}");
    let err = parse(
        "[roles.a]\nread = [\"retail\"]\n[roles.a.rules.retail]\nmask = [\"customer_id\"]\n",
        Some(b"short"),
    );
    assert!(err.contains("at least 32"), "{err}");
    let err = parse("[roles.a]\nadmin = true\nread = [\"retail\"]\n", None);
    assert!(err.contains("admin"), "{err}");
    let policy = Policy::parse(Path::new("p.toml"), POLICY, Some(KEY.to_vec())).unwrap();
    let err = policy.access("agnecy").unwrap_err().to_string();
    assert!(err.contains("agency, analyst"), "{err}");
    assert_eq!(policy.access("admin").unwrap(), Access::Admin);
}

#[tokio::test]
async fn a_rule_naming_a_missing_column_or_a_bad_filter_fails_the_session() {
    let s = handmade().await;
    let bad = |rule: &str| {
        let text = format!("[roles.r]\nread = [\"retail\"]\n[roles.r.rules.retail]\n{rule}\n");
        Policy::parse(Path::new("p.toml"), &text, Some(KEY.to_vec()))
            .unwrap()
            .access("r")
            .unwrap()
    };
    let w = s
        .warehouse
        .clone()
        .with_access(bad("mask = [\"customer\"]"));
    let err = lgs::session::context(&w)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("\"customer\"") && err.contains("customer_id"),
        "{err}"
    );
    let w = s
        .warehouse
        .clone()
        .with_access(bad("filter = \"country = \""));
    let err = lgs::session::context(&w)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("filter"), "{err}");
}
