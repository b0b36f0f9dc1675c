//! The report as readable terminal tables: every section's text tables in order.

use async_trait::async_trait;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::Sink;
use crate::analytics::{Report, TextTable};
use crate::error::Result;

/// Readable tables on standard output.
pub struct Terminal;

#[async_trait]
impl Sink for Terminal {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        super::print(&to_tables(report))?;
        Ok(None)
    }
}

/// The report as readable terminal tables.
pub fn to_tables(report: &Report) -> String {
    let tables: Vec<String> = report
        .sections
        .iter()
        .flat_map(|s| &s.text)
        .map(render)
        .collect();
    let mut out = tables.join("\n\n");
    out.push('\n');
    out
}

/// A heading line, then the table.
fn render(t: &TextTable) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(t.header.iter().map(Cell::new));
    for row in &t.rows {
        table.add_row(row.iter().enumerate().map(|(i, v)| {
            let cell = Cell::new(v);
            if i < t.left {
                cell
            } else {
                cell.set_alignment(CellAlignment::Right)
            }
        }));
    }
    if t.note.is_empty() {
        format!("{}\n{table}", t.heading)
    } else {
        format!("{}\n{table}\n{}", t.heading, t.note)
    }
}
