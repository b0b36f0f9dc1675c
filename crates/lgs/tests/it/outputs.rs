//! The report's outputs written through the library: `--save` as warehouse tables.

use datafusion::arrow::array::{AsArray, RecordBatch};
use lgs::analytics::{ReportOptions, run_report};
use lgs::output::delta::save_results;

use crate::common::{Scratch, test_data};

/// `--save` replaces each result table in one commit of the common write path,
/// with lgs's facts, also when the table's schema changed since the last save (a
/// column added, as `partial` was to `monthly`).
#[tokio::test]
async fn saved_tables_take_a_new_schema_in_one_commit_with_facts() {
    let s = Scratch::new();
    s.ingest(&[&test_data("handmade.csv")]).await.unwrap();
    let report = run_report(&s.context().await, &ReportOptions::default())
        .await
        .unwrap();
    // An earlier save, whose monthly table lacked its last column.
    let mut older = report.clone();
    for table in older.sections.iter_mut().flat_map(|s| &mut s.tables) {
        if table.name == "monthly" {
            let kept: Vec<usize> = (0..table.batch.num_columns() - 1).collect();
            table.batch = table.batch.project(&kept).unwrap();
        }
    }
    save_results(&older, &s.warehouse).await.unwrap();
    let saved = save_results(&report, &s.warehouse).await.unwrap();
    assert!(saved.contains(&"report_monthly".to_string()), "{saved:?}");

    let ctx = s.context().await;
    let rows: Vec<RecordBatch> = ctx
        .sql("SELECT month, partial FROM report_monthly ORDER BY month")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let partial: Vec<Option<bool>> = rows
        .iter()
        .flat_map(|b| b.column(1).as_boolean().iter().collect::<Vec<_>>())
        .collect();
    // January 2010 starts on the 5th; March ends on the 31st.
    assert_eq!(partial, [Some(true), Some(false), Some(false)]);

    let history = s.warehouse.history("report_monthly").await.unwrap();
    assert_eq!(history.len(), 2, "one commit per save");
    let last = &history[1];
    assert_eq!(last.rows_added, Some(3));
    assert!(last.lgs.as_ref().unwrap().overwrote());
    // Every result table was saved, the cohorts among them.
    assert!(saved.contains(&"report_cohorts".to_string()), "{saved:?}");
}
