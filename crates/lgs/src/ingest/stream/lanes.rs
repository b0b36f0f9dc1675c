//! Several streams into one table side by side (the partitions of a Kafka topic),
//! their commits taking turns.

use super::kafka::KafkaPartition;
use super::{Broker, Freshness, StreamOptions, StreamProgress, StreamReport, lane, retrying};
use crate::error::Result;
use crate::warehouse::Warehouse;

/// Runs one stream per broker (each partition of a Kafka topic) into one table,
/// side by side, their commits taking turns; the report (shown as `shown`) sums
/// theirs and lists each as a lane. The first error stops them all (every batch
/// committed before it stands).
pub async fn stream_all(
    warehouse: &Warehouse,
    shown: String,
    brokers: Vec<Box<dyn Broker>>,
    options: &StreamOptions,
    stop: tokio::sync::watch::Receiver<bool>,
    progress: &dyn StreamProgress,
) -> Result<StreamReport> {
    let turns = tokio::sync::Mutex::new(());
    let lanes = brokers.into_iter().map(|mut broker| {
        let (stop, turns) = (stop.clone(), &turns);
        async move {
            lane(
                warehouse,
                broker.as_mut(),
                options,
                stop,
                progress,
                Some(turns),
            )
            .await
        }
    });
    let lanes = futures::future::try_join_all(lanes).await?;
    let mut report = StreamReport {
        broker: shown,
        ..StreamReport::default()
    };
    let mut freshness = Vec::new();
    for (mut lane, millis) in lanes {
        report.table = lane.table.clone();
        report.started_after += lane.started_after;
        report.position += lane.position;
        report.batches += lane.batches;
        report.rows_read += lane.rows_read;
        report.rows_loaded += lane.rows_loaded;
        report.rows_rejected += lane.rows_rejected;
        report.rows_forgotten += lane.rows_forgotten;
        report.seconds = report.seconds.max(lane.seconds);
        if report.stopped.is_empty() || lane.stopped == "stopped" {
            report.stopped = lane.stopped.clone();
        }
        lane.freshness_ms = Freshness::of(millis.clone());
        freshness.extend(millis);
        report.lanes.push(lane);
    }
    report.freshness_ms = Freshness::of(freshness);
    Ok(report)
}

/// Every partition of the Kafka topic at `url` (`kafka://HOST[:PORT]/TOPIC`), each
/// a broker for [`stream_all`]; an unreachable broker is retried as a running
/// stream retries it.
pub async fn kafka_partitions(
    url: &str,
    options: &StreamOptions,
    progress: &dyn StreamProgress,
) -> Result<Vec<Box<dyn Broker>>> {
    let partitions = retrying(options, progress, async || KafkaPartition::all(url).await).await?;
    Ok(partitions
        .into_iter()
        .map(|p| Box::new(p) as Box<dyn Broker>)
        .collect())
}

/// Runs `work` in its turn among the lanes sharing `turns` (at once without).
pub(super) async fn in_turn<T>(
    turns: Option<&tokio::sync::Mutex<()>>,
    work: impl Future<Output = T>,
) -> T {
    let _turn = match turns {
        Some(turns) => Some(turns.lock().await),
        None => None,
    };
    work.await
}
