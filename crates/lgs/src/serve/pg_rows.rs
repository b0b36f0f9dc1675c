//! How many rows a client may ask for at once: the row count of an Execute
//! message and of `FETCH n`.
//!
//! pgwire 0.41 reserves room for the whole count before it reads a row
//! (`Portal::fetch` calls `Vec::with_capacity(max_rows)`), so a count of a few
//! hundred million (one Execute message of nine bytes) asked for tens of
//! gigabytes and aborted the server: an allocation failure cannot be caught. The
//! counts are therefore taken in batches of at most [`PORTAL_BATCH_ROWS`]:
//!
//! - **Execute.** A row limit above the batch becomes the batch: the client gets
//!   at most that many rows and `PortalSuspended`, and sends Execute again for
//!   more, as every client that sets a row limit does. A negative limit means no
//!   limit, as in PostgreSQL (pgwire read it as an enormous one).
//! - **`FETCH n`.** `FETCH` has no suspension, so a count above the batch is
//!   fetched from the cursor batch by batch until it has `n` rows or the cursor
//!   ends, and answered at once, as PostgreSQL does.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{FetchDirection, Statement, Value};
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire;
use futures::StreamExt;
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::error::PgWireResult;

/// The most rows one Execute or one step of a `FETCH` reads into memory.
pub(super) const PORTAL_BATCH_ROWS: usize = 65_536;

/// The row limit an Execute message is run with: at most one batch; zero (no
/// limit) for zero or a negative count.
pub(super) fn execute_row_limit(max_rows: i32) -> i32 {
    if max_rows <= 0 {
        0
    } else {
        max_rows.min(PORTAL_BATCH_ROWS as i32)
    }
}

/// The count of a `FETCH [FORWARD] n` above one batch, which [`BatchedFetch`]
/// answers; `None` for every other statement (left to the cursor hook).
fn large_fetch(statement: &Statement) -> Option<(&str, usize)> {
    let Statement::Fetch {
        name, direction, ..
    } = statement
    else {
        return None;
    };
    let count = match direction {
        FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => limit,
        _ => return None,
    };
    let Value::Number(count, _) = &count.value else {
        return None;
    };
    let count: usize = count.parse().ok()?;
    (count > PORTAL_BATCH_ROWS).then_some((name.value.as_str(), count))
}

/// Answers `FETCH n` for a count above one batch (placed before
/// `CursorStatementHook`, which answers every other cursor statement).
#[derive(Debug)]
pub(super) struct BatchedFetch;

impl BatchedFetch {
    async fn fetch(
        &self,
        statement: &Statement,
        client: &dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let (name, count) = large_fetch(statement)?;
        // A missing cursor or one over an empty query: the cursor hook's errors.
        let portal = client.portal_store().get_portal(name)?.value()?.clone();
        Some(fetch_batched(portal.as_ref(), count).await)
    }
}

async fn fetch_batched<S: Clone>(
    portal: &pgwire::api::portal::Portal<S>,
    count: usize,
) -> PgWireResult<Response> {
    let mut rows = Vec::new();
    let schema = loop {
        let step = PORTAL_BATCH_ROWS.min(count - rows.len());
        let fetched = portal.fetch(step).await?;
        let mut response = fetched.response;
        let data = response.data_rows();
        while let Some(row) = data.next().await {
            rows.push(row?);
        }
        if !fetched.suspended || rows.len() >= count {
            break response.row_schema();
        }
    };
    let rows = futures::stream::iter(rows.into_iter().map(Ok));
    Ok(Response::Query(QueryResponse::new(schema, rows)))
}

#[async_trait]
impl QueryHook for BatchedFetch {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.fetch(statement, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn pgwire::api::ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        None
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.fetch(statement, client).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::pg_sql::parse;

    #[test]
    fn an_execute_reads_at_most_one_batch() {
        assert_eq!(execute_row_limit(0), 0);
        assert_eq!(execute_row_limit(-1), 0);
        assert_eq!(execute_row_limit(i32::MIN), 0);
        assert_eq!(execute_row_limit(50), 50);
        assert_eq!(execute_row_limit(65_536), 65_536);
        // The fuzz input's count (0x31000001), which asked for 32.9 GB.
        assert_eq!(execute_row_limit(0x3100_0001), 65_536);
        assert_eq!(execute_row_limit(i32::MAX), 65_536);
    }

    #[test]
    fn only_a_fetch_above_one_batch_is_batched() {
        let large = parse("FETCH 1000000000000 FROM c");
        assert_eq!(large_fetch(&large), Some(("c", 1_000_000_000_000)));
        let forward = parse("FETCH FORWARD 70000 FROM c");
        assert_eq!(large_fetch(&forward), Some(("c", 70_000)));
        for small in [
            "FETCH 65536 FROM c",
            "FETCH 10 FROM c",
            "FETCH ALL FROM c",
            "FETCH NEXT FROM c",
            "FETCH FORWARD ALL FROM c",
            "SELECT 1",
        ] {
            assert_eq!(large_fetch(&parse(small)), None, "{small}");
        }
    }
}
