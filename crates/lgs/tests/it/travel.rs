//! Time travel and restore: reading a table at an earlier state, and making that
//! state current again.

use lgs::warehouse::Pin;

use crate::common::{Scratch, test_data};

async fn count_at(s: &Scratch, pin: Pin) -> lgs::Result<String> {
    let warehouse = s.warehouse.clone().pinned("retail", pin);
    let ctx = lgs::session::context(&warehouse).await?;
    let batches = ctx
        .sql("SELECT count(*) FROM retail")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    Ok(datafusion::arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap())
}

#[tokio::test]
async fn an_earlier_version_is_read_and_restored_and_its_content_is_known() {
    let s = Scratch::new();
    let (handmade, split) = (test_data("handmade.csv"), test_data("split_invoice.csv"));
    let first = s.ingest(&[&handmade]).await.unwrap().rows_loaded;
    let second = s.ingest(&[&split]).await.unwrap().rows_loaded;
    let all = (first + second).to_string();
    assert_eq!(
        s.rows("SELECT count(*) FROM retail").await,
        std::slice::from_ref(&all)
    );

    // Time travel: version 0 holds the first file only; a moment after the last
    // commit is the latest version; a version that does not exist is an error
    // that says which is the latest.
    assert_eq!(
        count_at(&s, Pin::Version(0)).await.unwrap(),
        first.to_string()
    );
    assert_eq!(count_at(&s, Pin::Version(1)).await.unwrap(), all);
    let later = Pin::Timestamp(chrono::Utc::now() + chrono::Duration::hours(1));
    assert_eq!(count_at(&s, later).await.unwrap(), all);
    let err = count_at(&s, Pin::Version(7)).await.unwrap_err().to_string();
    assert!(
        err.contains("no version 7") && err.contains("latest is 1"),
        "{err}"
    );
    let missing = s.warehouse.clone().pinned("nosuch", Pin::Version(0));
    let err = lgs::session::context(&missing)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("nosuch"), "{err}");

    // Restore version 0: a new commit (2) with version 0's rows; the latest read
    // sees them, the history keeps every version.
    let version = s
        .warehouse
        .restore("retail", Pin::Version(0))
        .await
        .unwrap();
    assert_eq!(version, 2);
    assert_eq!(
        s.rows("SELECT count(*) FROM retail").await,
        [first.to_string()]
    );
    assert_eq!(count_at(&s, Pin::Version(1)).await.unwrap(), all);
    let history = s.warehouse.history("retail").await.unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].lgs.as_ref().unwrap().restored, Some(0));

    // The restored state's content is known: the first file is skipped, the
    // second (no longer in the table) loads again.
    let again = s.ingest(&[&handmade, &split]).await.unwrap();
    assert_eq!(again.rows_loaded, second);
    let skipped: Vec<_> = again.files.iter().filter(|f| f.skipped.is_some()).collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].path.ends_with("handmade.csv"), "{skipped:?}");
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, [all]);
}
