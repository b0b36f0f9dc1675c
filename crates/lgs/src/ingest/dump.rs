//! Plain `pg_dump` output read without a database: the `COPY ... FROM stdin;` blocks
//! (text format: tab-separated, `\N` for null, backslash escapes, `\.` to end) and the
//! `INSERT INTO ... VALUES (...)` statements of a dump made with `--inserts` or
//! `--column-inserts`. Everything else (SET, CREATE, ALTER, comments) is skipped,
//! except that `CREATE TABLE` gives the column order of INSERTs without a column list.
//!
//! The first table whose columns the dataset recognises is loaded; a dump without
//! such a table is an error, and so is a dump that ends inside a COPY block or an
//! INSERT statement (truncated).

use super::insert_values::{parse_tuple, split_tuples};
use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::csv::Fields;
use super::records::{Record, RecordSource};
use crate::error::{LgsError, Result};

type TupleValues = std::result::Result<Vec<Option<String>>, String>;

/// Decides whether a table's columns hold the data being ingested.
pub type Accept = Box<dyn Fn(&[String]) -> bool + Send>;

enum Mode {
    Scan,
    Copy,
}

pub struct DumpSource {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: u64,
    buf: Vec<u8>,
    accept: Accept,
    /// Columns of every CREATE TABLE seen, by table name.
    created: HashMap<String, Vec<String>>,
    /// The table being loaded and its columns, once found.
    chosen: Option<(String, Vec<String>)>,
    mode: Mode,
    /// Line where the current COPY block started.
    block_line: u64,
    /// Tuples of the last INSERT statement not yet handed out: (line, raw, fields).
    pending: VecDeque<(u64, String, TupleValues)>,
}

impl DumpSource {
    pub fn new(path: &Path, reader: Box<dyn BufRead + Send>, accept: Accept) -> Self {
        DumpSource {
            path: path.to_path_buf(),
            reader,
            line: 0,
            buf: Vec::new(),
            accept,
            created: HashMap::new(),
            chosen: None,
            mode: Mode::Scan,
            block_line: 0,
            pending: VecDeque::new(),
        }
    }

    fn bad(&self, line: u64, message: impl Into<String>) -> LgsError {
        LgsError::BadInput {
            source_name: self.path.display().to_string(),
            line: Some(line),
            message: message.into(),
        }
    }

    /// Reads one line into `self.buf` (without its terminator); false at the end.
    fn read_line(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| LgsError::Read {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        Ok(true)
    }

    /// Makes `table` with `columns` the table being loaded, or says why not: false
    /// when the dataset does not want it; an error when another table was chosen
    /// with other columns.
    fn choose(&mut self, table: &str, columns: Vec<String>, line: u64) -> Result<bool> {
        match &self.chosen {
            Some((t, c)) if t == table => {
                if *c != columns {
                    return Err(self.bad(
                        line,
                        format!(
                            "table {table} appears again with other columns ({}) than before ({})",
                            columns.join(", "),
                            c.join(", ")
                        ),
                    ));
                }
                Ok(true)
            }
            Some(_) => Ok(false),
            None if (self.accept)(&columns) => {
                self.chosen = Some((table.to_string(), columns));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Scans statements until the chosen table's data starts (a COPY block entered
    /// or INSERT tuples pending) or the dump ends (false).
    fn scan(&mut self) -> Result<bool> {
        loop {
            if !self.read_line()? {
                return Ok(false);
            }
            let start = self.line;
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            if let Some(rest) = text.strip_prefix("COPY ") {
                let (table, columns) = parse_copy_header(rest).ok_or_else(|| {
                    self.bad(start, format!("cannot read COPY statement: {text}"))
                })?;
                if self.choose(&table, columns, start)? {
                    self.mode = Mode::Copy;
                    self.block_line = start;
                    return Ok(true);
                }
                self.skip_copy_block(start)?;
            } else if let Some(rest) = text.strip_prefix("CREATE TABLE ") {
                let table = rest.trim_end_matches('(').trim().to_string();
                let mut columns = Vec::new();
                while self.read_line()? {
                    let def = String::from_utf8_lossy(&self.buf);
                    let def = def.trim();
                    if def.starts_with(')') {
                        break;
                    }
                    let upper = def.to_ascii_uppercase();
                    if upper.starts_with("CONSTRAINT ") || upper.starts_with("PRIMARY KEY") {
                        continue;
                    }
                    if let Some((name, _)) = split_identifier(def) {
                        columns.push(name);
                    }
                }
                self.created.insert(unqualified(&table), columns);
            } else if text.starts_with("INSERT INTO ") {
                let statement = self.read_statement(text.clone(), start)?;
                let rest = &statement["INSERT INTO ".len()..];
                let (table, after) = split_identifier(rest)
                    .ok_or_else(|| self.bad(start, "cannot read the INSERT's table name"))?;
                let after = after.trim_start();
                let (columns, values) = if after.starts_with('(') {
                    let close = after
                        .find(')')
                        .ok_or_else(|| self.bad(start, "cannot read the INSERT's column list"))?;
                    (parse_identifiers(&after[1..close]), &after[close + 1..])
                } else {
                    let Some(columns) = self.created.get(&unqualified(&table)).cloned() else {
                        return Err(self.bad(
                            start,
                            format!(
                                "INSERT INTO {table} without a column list, and no CREATE TABLE \
                                 {table} before it to give the column order"
                            ),
                        ));
                    };
                    (columns, after)
                };
                if !self.choose(&table, columns, start)? {
                    continue;
                }
                let values = values.trim_start();
                let Some(values) = values.strip_prefix("VALUES") else {
                    return Err(self.bad(start, "expected VALUES in INSERT statement"));
                };
                let tuples = split_tuples(values)
                    .map_err(|m| self.bad(start, format!("cannot read INSERT values: {m}")))?;
                // Lines of the tuples: count newlines before each one.
                let offset = statement.len() - values.len();
                for (pos, raw) in tuples {
                    let line = start + statement[..offset + pos].matches('\n').count() as u64;
                    let fields = parse_tuple(&raw);
                    self.pending.push_back((line, raw, fields));
                }
                if !self.pending.is_empty() {
                    return Ok(true);
                }
            }
        }
    }

    /// Reads lines until the statement that starts with `first` ends with `;`
    /// outside quotes.
    fn read_statement(&mut self, first: String, start: u64) -> Result<String> {
        let mut statement = first;
        while !statement_complete(&statement) {
            if !self.read_line()? {
                return Err(self.bad(
                    start,
                    "truncated dump: the INSERT statement starting here has no end",
                ));
            }
            statement.push('\n');
            statement.push_str(&String::from_utf8_lossy(&self.buf));
        }
        Ok(statement)
    }

    fn skip_copy_block(&mut self, start: u64) -> Result<()> {
        loop {
            if !self.read_line()? {
                return Err(self.bad(
                    start,
                    "truncated dump: the COPY block starting here has no \\. terminator",
                ));
            }
            if self.buf == b"\\." {
                return Ok(());
            }
        }
    }
}

impl RecordSource for DumpSource {
    fn header(&mut self) -> Result<(u64, Vec<String>)> {
        if !self.scan()? {
            return Err(LgsError::BadInput {
                source_name: self.path.display().to_string(),
                line: None,
                message: "no data to load: the dump has no COPY block or INSERT statement for \
                          a table with the expected columns"
                    .into(),
            });
        }
        let (_, columns) = self.chosen.as_ref().expect("chosen by scan");
        let line = match self.mode {
            Mode::Copy => self.block_line,
            Mode::Scan => self.pending.front().map(|p| p.0).unwrap_or(self.line),
        };
        Ok((line, columns.clone()))
    }

    fn next(&mut self, rec: &mut Record) -> Result<bool> {
        loop {
            if let Some((line, raw, fields)) = self.pending.pop_front() {
                rec.line = line;
                rec.raw.clear();
                rec.raw.extend_from_slice(raw.as_bytes());
                rec.fields.clear();
                rec.error = None;
                match fields {
                    Ok(fields) => {
                        for f in fields {
                            rec.fields.push(f.as_deref().unwrap_or(""));
                        }
                    }
                    Err(m) => rec.error = Some(format!("cannot read the INSERT values: {m}")),
                }
                return Ok(true);
            }
            match self.mode {
                Mode::Copy => {
                    if !self.read_line()? {
                        return Err(self.bad(
                            self.block_line,
                            format!(
                                "truncated dump: the COPY block starting here has no \\. \
                                 terminator (the file ends at line {})",
                                self.line
                            ),
                        ));
                    }
                    if self.buf == b"\\." {
                        self.mode = Mode::Scan;
                        continue;
                    }
                    rec.line = self.line;
                    rec.raw.clear();
                    rec.raw.extend_from_slice(&self.buf);
                    rec.error = decode_copy_line(&self.buf, &mut rec.fields).err();
                    return Ok(true);
                }
                Mode::Scan => {
                    if !self.scan()? {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

/// Splits one COPY text-format line into fields, undoing its escapes; `\N` (null)
/// becomes an empty field.
pub fn decode_copy_line(line: &[u8], fields: &mut Fields) -> std::result::Result<(), String> {
    fields.clear();
    let mut bytes = Vec::with_capacity(64);
    for raw in line.split(|&b| b == b'\t') {
        if raw == b"\\N" {
            fields.push("");
            continue;
        }
        bytes.clear();
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            i += 1;
            if b != b'\\' || i == raw.len() {
                bytes.push(b);
                continue;
            }
            let c = raw[i];
            i += 1;
            match c {
                b'b' => bytes.push(0x08),
                b'f' => bytes.push(0x0c),
                b'n' => bytes.push(b'\n'),
                b'r' => bytes.push(b'\r'),
                b't' => bytes.push(b'\t'),
                b'v' => bytes.push(0x0b),
                b'0'..=b'7' => {
                    let mut v = u32::from(c - b'0');
                    for _ in 0..2 {
                        match raw.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    bytes.push(v as u8);
                }
                b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                    let mut v = 0u32;
                    for _ in 0..2 {
                        match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                i += 1;
                            }
                            None => break,
                        }
                    }
                    bytes.push(v as u8);
                }
                other => bytes.push(other),
            }
        }
        match std::str::from_utf8(&bytes) {
            Ok(s) => fields.push(s),
            Err(e) => return Err(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1)),
        }
    }
    Ok(())
}

/// `public.retail (a, b, "C d") FROM stdin;` → (`public.retail`, [a, b, C d]).
fn parse_copy_header(rest: &str) -> Option<(String, Vec<String>)> {
    let (table, after) = split_identifier(rest)?;
    let after = after.trim_start();
    let after = after.strip_prefix('(')?;
    let close = after.find(") FROM stdin")?;
    Some((table, parse_identifiers(&after[..close])))
}

/// Reads a possibly qualified, possibly quoted identifier at the start of `s`;
/// returns it unquoted and the rest.
fn split_identifier(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    let mut end = s.len();
    let mut in_quotes = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if in_quotes => {
                if chars.peek().map(|p| p.1) == Some('"') {
                    chars.next();
                    out.push('"');
                } else {
                    in_quotes = false;
                }
            }
            '"' => in_quotes = true,
            c if in_quotes => out.push(c),
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '$' => out.push(c),
            _ => {
                end = i;
                break;
            }
        }
    }
    (!out.is_empty()).then(|| (out, &s[end..]))
}

/// `a, "B c", d` → [a, B c, d].
fn parse_identifiers(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    while let Some((name, after)) = split_identifier(rest) {
        out.push(name);
        rest = after.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn unqualified(table: &str) -> String {
    table.rsplit('.').next().unwrap_or(table).to_string()
}

/// True when `s` ends with `;` outside any string literal.
fn statement_complete(s: &str) -> bool {
    let mut in_string = false;
    let mut last = ' ';
    for c in s.chars() {
        if c == '\'' {
            in_string = !in_string;
        }
        if !c.is_whitespace() {
            last = c;
        }
    }
    !in_string && last == ';'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(line: &str) -> Vec<String> {
        let mut f = Fields::default();
        decode_copy_line(line.as_bytes(), &mut f).unwrap();
        (0..f.len()).map(|i| f.get(i).to_string()).collect()
    }

    #[test]
    fn copy_text_escapes() {
        assert_eq!(
            decode("a\\tb\t\\N\tx\\\\y\tl1\\nl2\t\\101\\x42\\x4\tend"),
            vec!["a\tb", "", "x\\y", "l1\nl2", "AB\u{4}", "end"]
        );
        assert_eq!(decode("\t"), vec!["", ""]);
        // Octal escapes may spell multi-byte UTF-8.
        assert_eq!(decode("caf\\303\\251"), vec!["café"]);
        let mut f = Fields::default();
        assert!(decode_copy_line(b"\\377", &mut f).is_err());
    }

    #[test]
    fn identifiers() {
        assert_eq!(
            parse_copy_header("public.retail (invoice_no, \"Customer ID\") FROM stdin;"),
            Some((
                "public.retail".into(),
                vec!["invoice_no".into(), "Customer ID".into()]
            ))
        );
        assert!(statement_complete("INSERT INTO t VALUES ('a;', 1);"));
        assert!(!statement_complete("INSERT INTO t VALUES ('a;"));
    }
}
