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
    /// True when the record has no quote: its fields are then exactly the text
    /// between the commas at `commas`.
    pub quote_free: bool,
    /// Where the record's commas are, when it is `quote_free`.
    pub commas: Vec<usize>,
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
            rec.commas.clear();
            // The common case: a whole line without quotes in the buffer, found
            // and split in one pass over its bytes.
            let buffered = self.inner.fill_buf()?;
            if buffered.is_empty() {
                return Ok(false);
            }
            let line = scan_line(buffered, &mut rec.commas);
            if let Some(end) = line.end
                && !line.quoted
            {
                rec.bytes.extend_from_slice(&buffered[..end]);
                self.inner.consume(end + 1);
                self.line += 1;
                rec.line = self.line;
                rec.quotes_balanced = true;
                rec.quote_free = true;
                trim_line_end(&mut rec.bytes);
                if rec.bytes.is_empty() {
                    continue;
                }
                return Ok(true);
            }
            // A line that runs past the buffer or has quotes: read it line by line
            // until its quotes balance.
            rec.commas.clear();
            rec.quote_free = false;
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

/// What [`scan_line`] found in the first line of a text.
#[derive(Debug, PartialEq)]
struct ScannedLine {
    /// Where its line feed is; `None` when the text has none.
    end: Option<usize>,
    /// Whether it has a quote.
    quoted: bool,
}

/// Scans the first line of `text` sixteen bytes at a time (SSE2, which every
/// x86-64 processor has): where it ends, whether it holds a quote, and (appended
/// to `commas`) where its commas are. One pass instead of a search for the line
/// feed, a count of the quotes and a search for each comma, whose calls cost more
/// than the scanning on lines this short.
#[cfg(target_arch = "x86_64")]
fn scan_line(text: &[u8], commas: &mut Vec<usize>) -> ScannedLine {
    // SAFETY: SSE2 is part of the x86-64 baseline: every processor this code is
    // built for has it (and the build enables it), so the call cannot fault.
    unsafe { scan_line_sse2(text, commas) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn scan_line_sse2(text: &[u8], commas: &mut Vec<usize>) -> ScannedLine {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8};
    let [feed, quote, comma] = [b'\n', b'"', b','].map(|b| _mm_set1_epi8(b as i8));
    let mut quoted = false;
    let mut blocks = text.chunks_exact(16);
    let mut at = 0;
    for block in blocks.by_ref() {
        let half = |h: &[u8]| i64::from_le_bytes(h.try_into().expect("eight bytes"));
        let v = _mm_set_epi64x(half(&block[8..]), half(&block[..8]));
        let matching = |b| _mm_movemask_epi8(_mm_cmpeq_epi8(v, b)) as u32;
        let feeds = matching(feed);
        // Only the bytes before the first line feed belong to the line.
        let in_line = if feeds == 0 {
            u32::MAX
        } else {
            (feeds & feeds.wrapping_neg()) - 1
        };
        quoted |= matching(quote) & in_line != 0;
        let mut found = matching(comma) & in_line;
        while found != 0 {
            commas.push(at + found.trailing_zeros() as usize);
            found &= found - 1;
        }
        if feeds != 0 {
            let end = Some(at + feeds.trailing_zeros() as usize);
            return ScannedLine { end, quoted };
        }
        at += 16;
    }
    let rest = scan_bytes(blocks.remainder(), at, commas);
    ScannedLine {
        end: rest.end,
        quoted: quoted || rest.quoted,
    }
}

/// [`scan_line`] elsewhere: byte by byte.
#[cfg(not(target_arch = "x86_64"))]
fn scan_line(text: &[u8], commas: &mut Vec<usize>) -> ScannedLine {
    scan_bytes(text, 0, commas)
}

/// [`scan_line`] of `text`, which starts at `at` of the line, byte by byte.
fn scan_bytes(text: &[u8], at: usize, commas: &mut Vec<usize>) -> ScannedLine {
    let mut quoted = false;
    for (i, &byte) in text.iter().enumerate() {
        match byte {
            b'\n' => {
                let end = Some(at + i);
                return ScannedLine { end, quoted };
            }
            b'"' => quoted = true,
            b',' => commas.push(at + i),
            _ => {}
        }
    }
    ScannedLine { end: None, quoted }
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

    /// Splits a record without quotes whose commas are at `commas` (as
    /// [`RecordReader::read_record`] found them) into fields: the line copied once,
    /// the fields between its commas.
    pub fn split_quote_free(&mut self, line: &str, commas: &[usize]) {
        self.between(line, commas.iter().copied());
    }

    fn between(&mut self, line: &str, commas: impl Iterator<Item = usize>) {
        self.buf.clear();
        self.spans.clear();
        self.buf.push_str(line);
        let mut start = 0;
        for pos in commas {
            self.spans.push((start, pos));
            start = pos + 1;
        }
        self.spans.push((start, line.len()));
    }

    /// Splits a record (already checked to be UTF-8) into fields.
    pub fn split(&mut self, line: &str) {
        if memchr::memchr(b'"', line.as_bytes()).is_none() {
            return self.between(line, memchr::memchr_iter(b',', line.as_bytes()));
        }
        self.buf.clear();
        self.spans.clear();
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

    /// The one-pass scan agrees with a byte-by-byte reading of the first line, for
    /// lines of every length up to two and a half sixteen-byte blocks, with each
    /// special byte at every place in them among fillers of both halves of the byte
    /// range, and on random lines.
    #[test]
    fn scan_line_finds_the_line_feed_the_quotes_and_the_commas() {
        fn expected(text: &[u8]) -> (Option<usize>, bool, Vec<usize>) {
            let end = text.iter().position(|&b| b == b'\n');
            let line = &text[..end.unwrap_or(text.len())];
            let quoted = line.contains(&b'"');
            let commas = (0..line.len()).filter(|&i| line[i] == b',').collect();
            (end, quoted, commas)
        }
        let mut texts: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n".to_vec(),
            b"a,b\nc,d".to_vec(),
            b"489434,22041,\"RECORD FRAME 7\"\" SINGLE\",48\r\nnext,\"".to_vec(),
            "é,ü,\u{2c},\u{a0}\n".as_bytes().to_vec(),
        ];
        // Each special byte among fillers of ten kinds, at every offset of a block.
        let specials = [b'\n', b'"', b','];
        for len in 0..40 {
            for at in 0..len {
                for &special in &specials {
                    for filler in [0u8, 1, b'+', b'-', b'!', b'#', 0x7f, 0x80, 0xac, 0xff] {
                        let mut text = vec![filler; len];
                        text[at] = special;
                        texts.push(text);
                    }
                }
            }
        }
        let mut state = 7u64;
        for _ in 0..2000 {
            let text: Vec<u8> = (0..40)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    [b'a', b',', b'"', b'\n', 0x80, b'+', 0xff, b'\r'][(state >> 61) as usize]
                })
                .collect();
            texts.push(text);
        }
        for text in texts {
            let mut commas = vec![];
            let got = scan_line(&text, &mut commas);
            assert_eq!((got.end, got.quoted, commas), expected(&text), "{text:?}");
            let mut commas = vec![];
            let bytewise = scan_bytes(&text, 0, &mut commas);
            assert_eq!((bytewise.end, bytewise.quoted, commas), expected(&text));
        }
    }

    #[test]
    fn records_split_as_lines_read_one_by_one_would() {
        // Long enough for lines past a small buffer's end.
        let mut text = String::from("h1,h2\n");
        for i in 0..300 {
            text.push_str(&format!(
                "{i},\"a,{i}\"\"\",x\r\n\n{i},plain,{}\n\"multi\nline\",{i}\n",
                "y".repeat(i % 37)
            ));
        }
        let mut small = RecordReader::new(std::io::BufReader::with_capacity(16, text.as_bytes()));
        let mut whole = RecordReader::new(text.as_bytes());
        let (mut a, mut b) = (RawRecord::default(), RawRecord::default());
        let mut n = 0;
        loop {
            let more = small.read_record(&mut a).unwrap();
            assert_eq!(more, whole.read_record(&mut b).unwrap());
            if !more {
                break;
            }
            assert_eq!(
                (a.line, &a.bytes, a.quotes_balanced),
                (b.line, &b.bytes, b.quotes_balanced)
            );
            let line = std::str::from_utf8(&a.bytes).unwrap();
            let mut split = Fields::default();
            split.split(line);
            for rec in [&a, &b] {
                if rec.quote_free {
                    let mut f = Fields::default();
                    f.split_quote_free(line, &rec.commas);
                    let got: Vec<&str> = (0..f.len()).map(|i| f.get(i)).collect();
                    let want: Vec<&str> = (0..split.len()).map(|i| split.get(i)).collect();
                    assert_eq!(got, want);
                }
            }
            n += 1;
        }
        assert_eq!(n, 1 + 300 * 3);
        assert!(b.line > 1000);
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
