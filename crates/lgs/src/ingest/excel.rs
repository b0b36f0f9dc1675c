//! Excel workbooks (`.xlsx`) as record sources, one per sheet: the UCI publishes this
//! dataset as `online_retail_II.xlsx` with two sheets. The first used row of a sheet is
//! its header. Cells are rendered as text the way a CSV export would hold them: Excel
//! dates as `YYYY-MM-DD HH:MM:SS[.mmm]`, whole numbers without a decimal point, other
//! numbers in their shortest exact form, so they go through the same validation.
//!
//! Sheets are streamed (calamine's cell reader on a thread of its own), so memory does
//! not grow with the sheet.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{DataRef, Reader, Xlsx, open_workbook};

use super::records::{Record, RecordSource};
use crate::error::{LgsError, Result};

type Workbook = Xlsx<BufReader<File>>;

/// One row of a sheet: its 1-based row number, its cells as text and the reason it
/// cannot be loaded (an Excel error cell), if any.
type SheetRow = (u64, Vec<String>, Option<String>);

/// A row, an error that ends the sheet, or its end.
enum Row {
    Cells(SheetRow),
    Failed(String),
    End,
}

fn open(path: &Path, shown: &str) -> Result<Workbook> {
    open_workbook(path).map_err(|e| LgsError::BadInput {
        source_name: shown.to_string(),
        line: None,
        message: format!("not a readable .xlsx workbook: {e}"),
    })
}

/// The sheets to read: all of them, or those named in `wanted` (each must exist).
/// `shown` names the workbook in messages (its URL when `path` is a staged copy).
pub fn open_sheets(
    path: &Path,
    shown: &str,
    wanted: Option<&[String]>,
) -> Result<Vec<(String, Box<dyn RecordSource>)>> {
    let workbook = open(path, shown)?;
    let names = workbook.sheet_names();
    let chosen: Vec<String> = match wanted {
        None => names.clone(),
        Some(wanted) => {
            for w in wanted {
                if !names.contains(w) {
                    return Err(LgsError::BadInput {
                        source_name: shown.to_string(),
                        line: None,
                        message: format!(
                            "no sheet named {w:?}; the workbook has: {}",
                            names
                                .iter()
                                .map(|n| format!("{n:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
            wanted.to_vec()
        }
    };
    Ok(chosen
        .into_iter()
        .map(|sheet| {
            let name = format!("{shown} [{sheet}]");
            let source = SheetSource {
                path: path.to_path_buf(),
                name: name.clone(),
                sheet,
                rows: None,
            };
            (name, Box::new(source) as Box<dyn RecordSource>)
        })
        .collect())
}

struct SheetSource {
    path: PathBuf,
    name: String,
    sheet: String,
    rows: Option<Receiver<Row>>,
}

impl SheetSource {
    fn receive(&mut self) -> Result<Option<SheetRow>> {
        let rows = self.rows.as_ref().expect("started by header()");
        let failed = |message| LgsError::BadInput {
            source_name: self.name.clone(),
            line: None,
            message,
        };
        match rows.recv() {
            // The reader ends every sheet it reads to the end with `End`: without it
            // the sheet was cut short (the reader failed), never a shorter sheet.
            Err(_) => Err(failed(
                "the sheet reader stopped before the end of the sheet".into(),
            )),
            Ok(Row::End) => Ok(None),
            Ok(Row::Cells(row)) => Ok(Some(row)),
            Ok(Row::Failed(message)) => Err(failed(message)),
        }
    }
}

impl RecordSource for SheetSource {
    fn header(&mut self) -> Result<(u64, Vec<String>)> {
        let (tx, rx) = sync_channel(4096);
        let workbook = open(&self.path, &self.name)?;
        let sheet = self.sheet.clone();
        std::thread::Builder::new()
            .name("lgs-xlsx".into())
            .spawn(move || stream_sheet(workbook, &sheet, tx))
            .map_err(|e| LgsError::Worker(format!("cannot start the sheet reader: {e}")))?;
        self.rows = Some(rx);
        match self.receive()? {
            Some((line, cells, _)) => Ok((line, cells)),
            None => Err(LgsError::BadInput {
                source_name: self.name.clone(),
                line: None,
                message: "the sheet is empty (no header row)".into(),
            }),
        }
    }

    fn next(&mut self, rec: &mut Record) -> Result<bool> {
        let Some((line, cells, error)) = self.receive()? else {
            return Ok(false);
        };
        rec.line = line;
        rec.fields.clear();
        for c in &cells {
            rec.fields.push(c);
        }
        rec.error = error;
        rec.raw_from_fields();
        Ok(true)
    }
}

/// Excel's grid: a cell beyond it is corrupt data (and would make lgs allocate a
/// row as wide as the bogus column).
const MAX_ROWS: u32 = 1 << 20;
const MAX_COLUMNS: u32 = 1 << 14;

/// Reads a sheet's cells in order and sends them row by row. A panic of the reader
/// (calamine overflows on a cell reference of absurd size: found by fuzzing, see
/// `xlsx_cell_reference_overflow` in the tests) ends the sheet with an error.
fn stream_sheet(workbook: Workbook, sheet: &str, tx: SyncSender<Row>) {
    let failed = tx.clone();
    let read = crate::error::catch_panic(|| read_cells(workbook, sheet, tx));
    if let Err(why) = read {
        let _ = failed.send(Row::Failed(format!(
            "corrupt sheet data: the reader failed ({why})"
        )));
    }
}

fn read_cells(mut workbook: Workbook, sheet: &str, tx: SyncSender<Row>) {
    let mut reader = match workbook.worksheet_cells_reader(sheet) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Row::Failed(format!("cannot read the sheet: {e}")));
            return;
        }
    };
    let mut current: Option<u32> = None;
    let mut cells: Vec<String> = Vec::new();
    let mut error: Option<String> = None;
    loop {
        let cell = match reader.next_cell() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Row::Failed(format!("corrupt sheet data: {e}")));
                return;
            }
        };
        let position = cell.as_ref().map(|c| c.get_position());
        if let Some(row) = current
            && position.map(|p| p.0) != current
        {
            let done = std::mem::take(&mut cells);
            if tx
                .send(Row::Cells((u64::from(row) + 1, done, error.take())))
                .is_err()
            {
                return; // The ingest stopped reading.
            }
        }
        let Some(cell) = cell else {
            let _ = tx.send(Row::End);
            return;
        };
        let (row, col) = cell.get_position();
        if row >= MAX_ROWS || col >= MAX_COLUMNS {
            let _ = tx.send(Row::Failed(format!(
                "corrupt sheet data: a cell at row {}, column {} is outside Excel's grid",
                u64::from(row) + 1,
                u64::from(col) + 1
            )));
            return;
        }
        current = Some(row);
        let col = col as usize;
        if cells.len() <= col {
            cells.resize(col + 1, String::new());
        }
        match cell_text(cell.get_value()) {
            Ok(text) => cells[col] = text,
            Err(message) => {
                error.get_or_insert(format!("column {}: {message}", col + 1));
            }
        }
    }
}

/// A cell as the text a CSV export would hold.
fn cell_text(value: &DataRef<'_>) -> std::result::Result<String, String> {
    Ok(match value {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            if ms == 0 {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03}")
            }
        }
        DataRef::DateTime(dt) => number_text(dt.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => return Err(format!("the cell holds the Excel error {e}")),
    })
}

/// Whole numbers without a decimal point; others in their shortest exact form.
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_like_csv() {
        assert_eq!(number_text(13085.0), "13085");
        assert_eq!(number_text(2.95), "2.95");
        assert_eq!(number_text(-11062.06), "-11062.06");
        assert_eq!(number_text(0.001), "0.001");
    }
}
