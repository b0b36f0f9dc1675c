//! The dashboard's own pages: the SQL notebook and a message page.

use std::fmt::Write;

use crate::charts::svg::{esc, grouped};
use crate::html::STYLE;
use crate::warehouse::TableInfo;

pub(super) fn head(title: &str, extra_style: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><link rel="icon" href="data:,"><style>{STYLE}{extra_style}</style></head><body>"#,
        esc(title)
    )
}

const NAV: &str =
    r#"<nav><a href="/">Report</a><a href="/sql">SQL</a><a href="/customer">Customer</a></nav>"#;

/// The pages' navigation links.
pub(super) fn nav_html() -> &'static str {
    NAV
}

/// A page that says why something cannot be shown.
pub fn message_page(title: &str, message: &str) -> String {
    let mut out = head(title, "");
    let _ = write!(
        out,
        r#"<header><h1>{}</h1>{NAV}</header><main><section><pre class="error">{}</pre></section></main></body></html>"#,
        esc(title),
        esc(message)
    );
    out
}

const SQL_STYLE: &str = r#"
.layout { display:grid; grid-template-columns: 220px 1fr; gap:18px; }
.tables { font-size:13px; }
.tables li { margin:4px 0; cursor:pointer; color:var(--accent); }
textarea { width:100%; min-height:130px; font-family:"DejaVu Sans Mono", monospace; font-size:14px; padding:8px; border:1px solid #ccc; border-radius:4px; }
button { font-size:14px; padding:6px 14px; margin:6px 8px 0 0; border:1px solid #1f3b57; background:#1f3b57; color:white; border-radius:4px; cursor:pointer; }
button:disabled { background:#aaa; border-color:#aaa; cursor:default; }
button.secondary { background:white; color:#1f3b57; }
#status { margin:10px 0; font-size:14px; }
pre.error { background:#fdecea; border:1px solid #f5c2c0; color:#8a1f11; padding:10px; white-space:pre-wrap; }
#result { overflow-x:auto; }
.pager { font-size:13px; margin-top:8px; }
.pager button { font-size:12px; padding:3px 10px; }
.hidden { display:none; }
"#;

const SQL_SCRIPT: &str = r#"
const $ = (s) => document.querySelector(s);
let current = null, offset = 0, timer = null;
const limit = 100;
const fmt = (n) => n.toLocaleString('en-GB');
function secs(ms) { return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s'; }
function clearResult() {
  $('#error').classList.add('hidden');
  $('#result').innerHTML = '';
  $('#chart').innerHTML = '';
  $('#pager').classList.add('hidden');
  $('#download').classList.add('hidden');
}
async function run() {
  if (timer) { clearTimeout(timer); timer = null; }
  clearResult();
  $('#status').textContent = 'Starting…';
  $('#status').dataset.state = 'starting';
  const r = await fetch('/api/queries', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({sql: $('#sql').value})});
  const j = await r.json();
  current = j.id; offset = 0;
  $('#run').disabled = true; $('#cancel').disabled = false;
  poll();
}
async function poll() {
  const id = current;
  const r = await fetch('/api/queries/' + id + '?offset=' + offset + '&limit=' + limit);
  const j = await r.json();
  if (id !== current) return;
  show(j);
  if (j.state === 'running') { timer = setTimeout(poll, 150); }
  else { $('#run').disabled = false; $('#cancel').disabled = true; }
}
function show(j) {
  const status = $('#status');
  status.dataset.state = j.state;
  if (j.state === 'running') {
    status.textContent = 'Running… ' + secs(j.elapsed_ms) + ', ' + fmt(j.rows) + ' rows so far';
    return;
  }
  if (j.state === 'cancelled') { status.textContent = 'Cancelled after ' + secs(j.elapsed_ms) + '.'; return; }
  if (j.state === 'failed') {
    status.textContent = 'Failed after ' + secs(j.elapsed_ms) + '.';
    const e = $('#error'); e.textContent = j.error; e.classList.remove('hidden');
    return;
  }
  status.textContent = fmt(j.rows) + ' row' + (j.rows === 1 ? '' : 's') + ' in ' + secs(j.elapsed_ms) +
    (j.truncated ? ' (the first ' + fmt(j.offset + j.page.length) + '+ are kept for paging; the CSV has all)' : '');
  table(j);
  $('#chart').innerHTML = j.chart_svg || '';
  const dl = $('#download'); dl.href = '/api/queries/' + j.id + '/csv'; dl.classList.remove('hidden');
}
function table(j) {
  const t = document.createElement('table');
  t.id = 'result-table';
  const head = t.createTHead().insertRow();
  for (const c of j.columns) { const th = document.createElement('th'); th.textContent = c; head.appendChild(th); }
  const body = t.createTBody();
  for (const row of j.page) {
    const tr = body.insertRow();
    for (const cell of row) { tr.insertCell().textContent = cell; }
  }
  const box = $('#result'); box.innerHTML = ''; box.appendChild(t);
  const kept = j.truncated ? Infinity : j.rows;
  $('#range').textContent = j.page.length ? ('Rows ' + fmt(j.offset + 1) + '–' + fmt(j.offset + j.page.length) + ' of ' + fmt(j.rows)) : 'No rows';
  $('#prev').disabled = j.offset === 0;
  $('#next').disabled = j.offset + j.page.length >= kept || j.page.length < limit;
  $('#pager').classList.toggle('hidden', j.rows <= limit);
}
function page(delta) { offset = Math.max(0, offset + delta * limit); poll(); }
async function cancel() {
  if (current === null) return;
  await fetch('/api/queries/' + current + '/cancel', {method: 'POST'});
}
$('#run').addEventListener('click', run);
$('#cancel').addEventListener('click', cancel);
$('#prev').addEventListener('click', () => page(-1));
$('#next').addEventListener('click', () => page(1));
$('#sql').addEventListener('keydown', (e) => { if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); run(); } });
for (const li of document.querySelectorAll('.tables li')) {
  li.addEventListener('click', () => { $('#sql').value = 'SELECT * FROM ' + li.dataset.table + ' LIMIT 100'; run(); });
}
"#;

const EXAMPLE: &str =
    "SELECT month, sum(amount) AS sales\nFROM retail\nGROUP BY month\nORDER BY month";

/// The SQL notebook page.
pub fn sql_page(warehouse: &str, tables: &[TableInfo]) -> String {
    let mut out = head("lgs — SQL", SQL_STYLE);
    let _ = write!(
        out,
        r#"<header><h1>SQL over the warehouse</h1><p>{} · read-only queries · Ctrl+Enter runs</p>{NAV}</header><main><div class="layout"><aside><section><h2>Tables</h2><ul class="tables">"#,
        esc(warehouse)
    );
    for t in tables {
        let _ = write!(
            out,
            r#"<li data-table="{name}" title="{rows} rows">{name}</li>"#,
            name = esc(&t.name),
            rows = grouped(t.rows as f64, 0)
        );
    }
    out.push_str(r#"<li data-table="invoices" title="one row per invoice (view)">invoices</li>"#);
    let _ = write!(
        out,
        r#"</ul></section></aside><div><section><textarea id="sql" spellcheck="false">{}</textarea><div><button id="run">Run</button><button id="cancel" class="secondary" disabled>Cancel</button><a id="download" class="hidden" download>Download CSV</a></div><div id="status" aria-live="polite"></div><pre id="error" class="error hidden"></pre></section><section><div id="chart"></div><div id="result"></div><div id="pager" class="pager hidden"><button id="prev">Previous</button><button id="next">Next</button><span id="range"></span></div></section></div></div></main><script>{SQL_SCRIPT}</script></body></html>"#,
        esc(EXAMPLE)
    );
    out
}
