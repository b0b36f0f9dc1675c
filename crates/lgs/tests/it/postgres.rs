//! Against the real PostgreSQL server whose URL is in `LGS_TEST_POSTGRES_URL` (`.ci/run`
//! sets it): a live table read in parallel partitions loads the rows of its CSV
//! export; the report goes back into PostgreSQL as typed tables with primary keys,
//! replaced atomically; an unreachable server or a refused login is a clear error
//! that commits nothing.

use lgs::analytics::{ReportOptions, run_report};
use lgs::ingest::{IngestOptions, Postgres};
use tokio_postgres::NoTls;

use crate::common::{Parts, Scratch, test_data};
use crate::sources::{CONTENT, pg_data};

/// The server's URL, or `None` (with a message saying the test is skipped).
fn server_url(test: &str) -> Option<String> {
    match std::env::var("LGS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED {test}: LGS_TEST_POSTGRES_URL is not set (`.ci/run` sets it to the \
                 local server, e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

/// A schema of its own for one test, dropped when the test ends (pass or fail).
struct TestSchema {
    url: String,
    name: String,
    client: tokio_postgres::Client,
}

impl TestSchema {
    async fn new(url: &str) -> TestSchema {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
        tokio::spawn(connection);
        let name = format!("lgs_it_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        TestSchema {
            url: url.to_string(),
            name,
            client,
        }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // A thread of its own: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((client, connection)) = tokio_postgres::connect(&url, NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Loads the fixture's CSV export into `<schema>.retail`, plus one row without a date.
async fn retail_table(schema: &TestSchema) {
    let table = format!("{}.retail", schema.name);
    schema
        .client
        .batch_execute(&format!(
            "CREATE TABLE {table} (invoice_no varchar(10), stock_code varchar(20), \
             description text, quantity integer, invoice_date timestamp, \
             unit_price numeric(10,3), customer_id integer, country varchar(30))"
        ))
        .await
        .unwrap();
    let csv = std::fs::read(pg_data("retail.csv")).unwrap();
    let sink = schema
        .client
        .copy_in::<_, bytes::Bytes>(&format!(
            "COPY {table} FROM STDIN (FORMAT csv, HEADER true)"
        ))
        .await
        .unwrap();
    use futures::SinkExt;
    let mut sink = Box::pin(sink);
    sink.send(bytes::Bytes::from(csv)).await.unwrap();
    sink.as_mut().finish().await.unwrap();
    schema
        .client
        .batch_execute(&format!(
            "INSERT INTO {table} VALUES ('599003', '22423', 'NO DATE', 1, NULL, 12.75, 12347, 'Iceland')"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_live_table_read_in_partitions_loads_the_rows_of_its_export() {
    let Some(url) = server_url("a_live_table_read_in_partitions_loads_the_rows_of_its_export")
    else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    retail_table(&schema).await;

    let csv = Scratch::new();
    csv.ingest(&[&pg_data("retail.csv")]).await.unwrap();
    let expected = csv.rows(CONTENT).await;

    let s = Scratch::new();
    let options = IngestOptions::default().with(Postgres {
        table: Some(format!("{}.retail", schema.name)),
        partitions: 4,
        ..Default::default()
    });
    let report = s.ingest_url(&url, &options).await.unwrap();
    assert_eq!(report.files.len(), 4, "four partitions: {:?}", report.files);
    assert!(
        report.files.iter().all(|f| f.rows_read > 100),
        "the date ranges split the rows: {:?}",
        report.files
    );
    // Nothing lost: the row without a date is quarantined, not dropped.
    assert_eq!(report.rows_read, expected.len() as u64 + 1);
    assert_eq!(report.rows_rejected, 1);
    assert_eq!(s.rows(CONTENT).await, expected);
    let rejected = s.rows("SELECT reason, raw FROM retail_rejected").await;
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].starts_with("missing invoice_date|599003,22423,NO DATE"),
        "{rejected:?}"
    );

    // A query instead of a table, into another table.
    let options = IngestOptions {
        table: Some("eire".into()),
        ..Default::default()
    }
    .with(Postgres {
        query: Some(format!(
            "SELECT * FROM {}.retail WHERE country = 'EIRE'",
            schema.name
        )),
        ..Default::default()
    });
    let report = s.ingest_url(&url, &options).await.unwrap();
    let eire = csv
        .rows("SELECT count(*) FROM retail WHERE country = 'EIRE'")
        .await;
    assert_eq!(vec![report.rows_loaded.to_string()], eire);
}

#[tokio::test]
async fn an_unreachable_or_refusing_server_is_a_clear_error_and_commits_nothing() {
    let Some(url) = server_url("an_unreachable_or_refusing_server_is_a_clear_error") else {
        return;
    };
    let s = Scratch::new();
    let scratch = &s;
    let ingest = |url: String| async move {
        scratch
            .ingest_url(&url, &IngestOptions::default())
            .await
            .unwrap_err()
            .to_string()
    };
    // Nothing listens on port 1.
    let err = ingest("postgres://postgres@127.0.0.1:1/test".into()).await;
    assert!(
        err.contains("127.0.0.1:1") && err.contains("cannot connect") && err.contains("refused"),
        "{err}"
    );
    // A role the server does not know.
    let wrong_user = url.replacen("postgres://postgres@", "postgres://no_such_user@", 1);
    let err = ingest(wrong_user).await;
    assert!(err.contains("no_such_user"), "{err}");
    // A table that does not exist.
    let err = ingest(url.clone()).await;
    assert!(err.contains("cannot read the table retail"), "{err}");
    assert!(s.warehouse.tables().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_report_goes_back_to_postgres_as_typed_tables_replaced_atomically() {
    let Some(url) = server_url("the_report_goes_back_to_postgres") else {
        return;
    };
    let schema = TestSchema::new(&url).await;
    let s = Scratch::new();
    s.ingest(&[&test_data("handmade.csv")]).await.unwrap();
    let report = run_report(&s.context().await, &ReportOptions::default())
        .await
        .unwrap();
    let target = format!("{url}?schema={}", schema.name);
    for _ in 0..2 {
        let written = lgs::output::postgres::to_postgres(&report, &target)
            .await
            .unwrap();
        // Every result table: two of invoices, monthly, two of RFM, cohorts, three
        // of CLV, four of k-means.
        assert_eq!(written.len(), 13);
    }
    let client = &schema.client;
    let count = |table: &str| {
        let sql = format!("SELECT count(*) FROM {}.{table}", schema.name);
        async move { client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    // Re-running replaced the tables: no duplicates.
    assert_eq!(count("monthly").await as usize, report.monthly().len());
    assert_eq!(
        count("rfm_customers").await as usize,
        report.rfm().rfm_customers.len()
    );
    assert_eq!(
        count("rfm_segments").await as usize,
        report.rfm().rfm_segments.len()
    );
    assert_eq!(count("invoice_amount_stats").await, 2);
    let clv = report.part::<lgs::analytics::clv::Clv>().unwrap();
    assert_eq!(
        count("clv_customers").await as usize,
        clv.clv_customers.len()
    );
    // Typed columns and primary keys.
    let types: Vec<(String, String)> = client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'rfm_customers' ORDER BY ordinal_position",
            &[&schema.name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(types[0], ("customer_id".into(), "bigint".into()));
    assert!(types.contains(&("monetary".into(), "double precision".into())));
    assert!(types.contains(&("segment".into(), "text".into())));
    let keys: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.table_constraints \
             WHERE table_schema = $1 AND constraint_type = 'PRIMARY KEY'",
            &[&schema.name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 13);
    // The cohorts (a plug-in: no output names it) arrive with their key, a row per
    // (cohort, month offset).
    let key_columns: Vec<String> = client
        .query(
            "SELECT kcu.column_name::text FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema \
             WHERE tc.table_schema = $1 AND tc.table_name = 'cohorts' \
               AND tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position",
            &[&schema.name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(key_columns, ["cohort", "month_offset"]);
    let cells: usize = report.cohorts().iter().map(|c| c.active.len()).sum();
    assert_eq!(count("cohorts").await as usize, cells);
    // The numbers are the report's.
    let revenue: f64 = client
        .query_one(
            &format!("SELECT sum(monetary) FROM {}.rfm_customers", schema.name),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let expected: f64 = report.rfm().rfm_customers.iter().map(|c| c.monetary).sum();
    assert!((revenue - expected).abs() < 1e-9 * expected.abs().max(1.0));
}
