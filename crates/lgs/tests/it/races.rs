//! Writers racing inside one process, released together at the commit: the
//! narrowest windows of the claims that make each content load once.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use lgs::LgsError;
use lgs::Warehouse;
use lgs::facts::{CommitFacts, SourceFacts};
use lgs::write::TableWriter;

/// Six writers of the same content commit at once to a table that does not exist
/// yet: exactly one creates it, the others lose the race. delta-rs turns a create
/// that finds version 0 taken into a commit after it without checking it for
/// conflicts; lgs's create must not, or the content is loaded twice (seen with six
/// `lgs ingest` processes on S3).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_racing_to_create_a_table_load_the_content_once() {
    for round in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path().join("wh"));
        let writers = 6;
        let barrier = Arc::new(tokio::sync::Barrier::new(writers));
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let warehouse = warehouse.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let schema =
                        Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
                    let mut writer =
                        TableWriter::new(&warehouse, "t", schema.clone(), vec![]).decided_at(None);
                    let batch = RecordBatch::try_new(
                        schema,
                        vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
                    )
                    .unwrap();
                    writer.write(batch).await.unwrap();
                    let facts = CommitFacts {
                        sources: vec![SourceFacts {
                            path: "same.csv".into(),
                            fingerprint: "0123456789abcdef".into(),
                            rows_loaded: 3,
                            ..SourceFacts::default()
                        }],
                        rows_written: 3,
                        ..CommitFacts::default()
                    };
                    barrier.wait().await;
                    writer.commit(&facts, false).await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => won += 1,
                Err(LgsError::ConcurrentWrite { .. }) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(
            won, 1,
            "round {round}: {won} writers committed the same content"
        );
        let table = warehouse.open("t").await.unwrap().unwrap();
        assert_eq!(table.version(), Some(0), "round {round}");
    }
}
