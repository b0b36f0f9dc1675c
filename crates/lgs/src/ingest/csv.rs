//! A streaming CSV record reader that keeps what a quarantine needs: the line number
//! where each record starts and its raw bytes.
//!
//! Records follow RFC 4180: fields separated by `,`, optionally quoted with `"`, a quote
//! inside a quoted field doubled, and quoted fields may span lines. Memory is bounded
//! by the longest record, whatever the file size.

use std::io::BufRead;

/// One record as it stood in the file.
#[derive(Debug, Default)]
pub struct RawRecord {
    /// 1-based line number of the record's first line.
    pub line: u64,
    /// The record's bytes without its line terminator.
    pub bytes: Vec<u8>,
    /// False when the file ended inside a quoted field.
    pub quotes_balanced: bool,
}

/// Reads records one at a time from a buffered reader.
pub struct RecordReader<R> {
    inner: R,
    line: u64,
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(inner: R) -> Self {
        Self::after_lines(inner, 0)
    }

    /// A reader of a text that comes after `lines` lines of its file (a chunk of it):
    /// the records' line numbers count them.
    pub fn after_lines(inner: R, lines: u64) -> Self {
        RecordReader { inner, line: lines }
    }

    /// The text not read yet, and the lines read so far.
    pub fn into_parts(self) -> (R, u64) {
        (self.inner, self.line)
    }

    /// Reads the next non-blank record into `rec`. Returns `Ok(false)` at end of input.
    pub fn read_record(&mut self, rec: &mut RawRecord) -> std::io::Result<bool> {
        loop {
            rec.bytes.clear();
            let n = self.inner.read_until(b'\n', &mut rec.bytes)?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            rec.line = self.line;
            let mut quotes = memchr::memchr_iter(b'"', &rec.bytes).count();
            while !quotes.is_multiple_of(2) {
                let start = rec.bytes.len();
                let n = self.inner.read_until(b'\n', &mut rec.bytes)?;
                if n == 0 {
                    break;
                }
                self.line += 1;
                quotes += memchr::memchr_iter(b'"', &rec.bytes[start..]).count();
            }
            rec.quotes_balanced = quotes.is_multiple_of(2);
            trim_line_end(&mut rec.bytes);
            if !rec.bytes.is_empty() {
                return Ok(true);
            }
        }
    }
}

fn trim_line_end(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
}

/// The fields of one record, unquoted: their text in one buffer, each field a span
/// of it.
#[derive(Debug, Default)]
pub struct Fields {
    buf: String,
    /// Each field's start and end in `buf`.
    spans: Vec<(usize, usize)>,
}

impl Fields {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the record had no field (never the case for a non-blank record).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`-th field.
    pub fn get(&self, i: usize) -> &str {
        let (start, end) = self.spans[i];
        &self.buf[start..end]
    }

    /// Removes every field.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }

    /// Appends one field.
    pub fn push(&mut self, field: &str) {
        self.push_with(|buf| buf.push_str(field));
    }

    /// Appends one field written by `write` into the field buffer (no allocation).
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.buf.len();
        write(&mut self.buf);
        self.spans.push((start, self.buf.len()));
    }

    /// Splits a record (already checked to be UTF-8) into fields.
    pub fn split(&mut self, line: &str) {
        self.buf.clear();
        self.spans.clear();
        if memchr::memchr(b'"', line.as_bytes()).is_none() {
            // Fast path, no quoting at all: the line copied once, the fields
            // between its commas.
            self.buf.push_str(line);
            let mut start = 0;
            for pos in memchr::memchr_iter(b',', line.as_bytes()) {
                self.spans.push((start, pos));
                start = pos + 1;
            }
            self.spans.push((start, line.len()));
            return;
        }
        let mut in_quotes = false;
        let mut start = 0;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if in_quotes => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        self.buf.push('"');
                    } else {
                        in_quotes = false;
                    }
                }
                '"' => in_quotes = true,
                ',' if !in_quotes => {
                    self.spans.push((start, self.buf.len()));
                    start = self.buf.len();
                }
                c => self.buf.push(c),
            }
        }
        self.spans.push((start, self.buf.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str) -> Vec<(u64, String, bool)> {
        let mut r = RecordReader::new(input.as_bytes());
        let mut rec = RawRecord::default();
        let mut out = vec![];
        while r.read_record(&mut rec).unwrap() {
            out.push((
                rec.line,
                String::from_utf8(rec.bytes.clone()).unwrap(),
                rec.quotes_balanced,
            ));
        }
        out
    }

    fn fields(line: &str) -> Vec<String> {
        let mut f = Fields::default();
        f.split(line);
        (0..f.len()).map(|i| f.get(i).to_string()).collect()
    }

    #[test]
    fn records_keep_line_numbers_across_quoted_newlines_and_blank_lines() {
        let got = records("h1,h2\r\na,\"multi\nline\"\n\nb,c\n\"open,x");
        assert_eq!(
            got,
            vec![
                (1, "h1,h2".into(), true),
                (2, "a,\"multi\nline\"".into(), true),
                (5, "b,c".into(), true),
                (6, "\"open,x".into(), false),
            ]
        );
    }

    #[test]
    fn fields_unquote() {
        assert_eq!(fields("a,b,,c"), vec!["a", "b", "", "c"]);
        assert_eq!(
            fields("1,\"RECORD FRAME 7\"\" SINGLE\",x"),
            vec!["1", "RECORD FRAME 7\" SINGLE", "x"]
        );
        assert_eq!(fields("\"a,b\",c"), vec!["a,b", "c"]);
        assert_eq!(fields(""), vec![""]);
        assert_eq!(fields("é,ü"), vec!["é", "ü"]);
        assert_eq!(fields(",a,"), vec!["", "a", ""]);
        assert_eq!(fields("\"\",\"x\"\"\","), vec!["", "x\"", ""]);
    }
}
