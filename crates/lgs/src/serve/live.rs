//! The dashboard's live updates: a task that looks at `retail`'s version every
//! [`ServeOptions::live_interval`](super::ServeOptions), and when it changed brings
//! the live state up to date ([`crate::live::refresh`]) and computes what open pages
//! show ([`crate::live::summary`]); `GET /api/live` streams it to them as
//! server-sent events (`event: live`, the JSON of [`Live`](crate::live::summary::Live)),
//! the current one first. The report page's live panel and monthly charts move
//! without a reload.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use deltalake::DeltaTable;

use super::Shared;
use crate::analytics::ReportOptions;
use crate::error::Result;
use crate::live::{attach, refresh, summary};
use crate::schema::RETAIL_TABLE;
use crate::session::{Engine, context_on};
use crate::warehouse::Warehouse;

/// Looks at `retail` every `interval` and publishes a new push when its version
/// changed; runs until the server stops (the caller aborts it).
pub(super) async fn watch(state: Shared, interval: Duration) {
    let mut seen: Option<u64> = None;
    let mut failing = false;
    let mut retail: Option<DeltaTable> = None;
    loop {
        match latest_version(&state.warehouse, &mut retail).await {
            Ok(Some(version)) if seen != Some(version) => match push(&state).await {
                Ok(version) => {
                    seen = Some(version);
                    failing = false;
                    // Listed from this version on at the next looks.
                    retail = None;
                }
                Err(e) => {
                    // Said once per run of failures, not at every look.
                    if !failing {
                        eprintln!("lgs serve: live update failed: {e}");
                    }
                    failing = true;
                }
            },
            _ => {}
        }
        tokio::time::sleep(interval).await;
    }
}

/// `retail`'s latest version, from a listing of its log after the version of
/// `retail`, opened when it is not yet (or again when the listing fails, as after
/// the table was made anew): a look that does not read the table's snapshot, which
/// after thousands of commits takes most of a second.
async fn latest_version(
    warehouse: &Warehouse,
    retail: &mut Option<DeltaTable>,
) -> Result<Option<u64>> {
    if let Some(table) = retail
        && let Ok(version) = table.get_latest_version().await
    {
        return Ok(Some(version));
    }
    *retail = warehouse.open(RETAIL_TABLE).await?;
    Ok(retail.as_ref().and_then(|t| t.version()))
}

/// Brings the live state up to date and publishes what the pages show; returns the
/// `retail` version it shows.
async fn push(state: &Shared) -> Result<u64> {
    // A warehouse this process may not write is still read live: the session below
    // reads what the state does not cover beside it.
    if let Err(e) = refresh(&state.warehouse).await {
        eprintln!("lgs serve: the live state was not brought up to date: {e}");
    }
    let (ctx, tables) = context_on(&state.warehouse, &Engine::default()).await?;
    let version = tables
        .iter()
        .find(|t| t.name == RETAIL_TABLE)
        .map_or(0, |t| t.version);
    attach(&state.warehouse, &ctx, version).await?;
    let options = ReportOptions {
        as_of: state.options.as_of,
    };
    let live = summary::live(&ctx, version, &options).await?;
    let json = serde_json::to_string(&live).expect("the live push serialises");
    state.live.send_replace(Some(Arc::new(json)));
    Ok(version)
}

/// `GET /api/live`: the current push, then each new one, as server-sent events.
pub(super) async fn events(
    State(state): State<Shared>,
    Extension(caller): Extension<super::Caller>,
) -> Response {
    if !caller.audience.admin {
        // The push holds every line's figures.
        return (StatusCode::FORBIDDEN, "the live push is for admins only").into_response();
    }
    let receiver = state.live.subscribe();
    let stream = futures::stream::unfold((receiver, true), |(mut receiver, first)| async move {
        let mut wait = !first;
        loop {
            if wait {
                receiver.changed().await.ok()?;
            }
            wait = true;
            let payload = receiver.borrow_and_update().clone();
            if let Some(json) = payload {
                let event = Event::default().event("live").data(json.as_str());
                return Some((Ok::<Event, Infallible>(event), (receiver, false)));
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The report page's live panel: tiles for the latest day and minute, the orders
/// per minute, and the script that applies each push (also to the monthly charts
/// further down the page).
pub(super) const PANEL: &str = r#"<section id="live"><h2>Live <span class="note" id="live-status">connecting…</span></h2><div class="tiles">
<div class="tile"><div class="v" id="live-day-sales">–</div><div class="k">net sales on <span id="live-day">the latest day</span></div></div>
<div class="tile"><div class="v" id="live-day-orders">–</div><div class="k">orders placed that day</div></div>
<div class="tile"><div class="v" id="live-minute-orders">–</div><div class="k">orders in the last minute (<span id="live-minute">–</span>)</div></div>
<div class="tile"><div class="v" id="live-latest">–</div><div class="k">last invoice</div></div>
</div><section class="chart-section" id="orders-per-minute"><figure></figure></section></section>
<script>
(function () {
  const gbp = new Intl.NumberFormat('en-GB', {maximumFractionDigits: 0});
  const money = new Intl.NumberFormat('en-GB', {minimumFractionDigits: 2, maximumFractionDigits: 2});
  const set = (id, text) => { const e = document.getElementById(id); if (e) e.textContent = text; };
  const events = new EventSource('/api/live');
  events.addEventListener('live', (message) => {
    const live = JSON.parse(message.data);
    const now = live.now;
    set('live-day', now.day || 'the latest day');
    set('live-day-sales', '£' + money.format(now.day_sales));
    set('live-day-orders', gbp.format(now.day_orders));
    const last = now.minutes[now.minutes.length - 1];
    set('live-minute-orders', last ? gbp.format(last.orders) : '0');
    set('live-minute', last ? last.minute : '–');
    set('live-latest', now.latest || '–');
    for (const chart of live.charts) {
      const section = document.getElementById(chart.id);
      const figure = section && section.querySelector('figure');
      if (figure) figure.innerHTML = chart.svg;
    }
    set('live-status', 'retail version ' + live.version + ', updated ' + new Date().toLocaleTimeString());
    document.body.dataset.liveVersion = live.version;
  });
  events.onerror = () => set('live-status', 'reconnecting…');
})();
</script>"#;
