//! A CSV text cut into chunks of whole records, so that several threads parse one
//! file side by side.
//!
//! A cut falls after a line feed that is outside quotes: with the text read from
//! the start of a record, that is where the number of quotes so far is even (a
//! record's quotes are balanced exactly where it ends, see
//! [`RecordReader`](super::csv::RecordReader)). Each chunk knows the line it starts
//! after, so line numbers stay those of the file.

use std::io::{BufRead, Read};

/// Whole records of a text, and the number of lines before them.
#[derive(Debug)]
pub struct Chunk {
    pub lines_before: u64,
    pub bytes: Vec<u8>,
}

/// Reads a text (positioned at the start of a record) chunk by chunk.
pub struct Chunker<R> {
    inner: R,
    /// Read past the last cut: the start of the next chunk.
    carry: Vec<u8>,
    lines: u64,
    size: usize,
    ended: bool,
}

impl<R: BufRead> Chunker<R> {
    /// Chunks of about `size` bytes (longer when one record is) of `inner`, which
    /// has `lines_before` lines before it.
    pub fn new(inner: R, lines_before: u64, size: usize) -> Self {
        Chunker {
            inner,
            carry: Vec::new(),
            lines: lines_before,
            size: size.max(1),
            ended: false,
        }
    }

    /// The next chunk; `None` at the end of the text.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<Chunk>> {
        let mut bytes = std::mem::take(&mut self.carry);
        let mut goal = self.size;
        loop {
            while !self.ended && bytes.len() < goal {
                let want = (goal - bytes.len()) as u64;
                if (&mut self.inner).take(want).read_to_end(&mut bytes)? == 0 {
                    self.ended = true;
                }
            }
            if self.ended {
                return Ok((!bytes.is_empty()).then(|| self.chunk(bytes)));
            }
            if let Some(cut) = last_record_end(&bytes) {
                self.carry = bytes[cut..].to_vec();
                bytes.truncate(cut);
                return Ok(Some(self.chunk(bytes)));
            }
            // One record longer than the chunk: read on.
            goal *= 2;
        }
    }

    fn chunk(&mut self, bytes: Vec<u8>) -> Chunk {
        let lines_before = self.lines;
        self.lines += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        Chunk {
            lines_before,
            bytes,
        }
    }
}

/// Just after the last line feed of `text` (which starts a record) that is outside
/// quotes; `None` when there is none.
fn last_record_end(text: &[u8]) -> Option<usize> {
    let quotes = memchr::memchr_iter(b'"', text).count();
    let mut after = 0;
    let mut end = text.len();
    while let Some(feed) = memchr::memrchr(b'\n', &text[..end]) {
        after += memchr::memchr_iter(b'"', &text[feed + 1..end]).count();
        if (quotes - after).is_multiple_of(2) {
            return Some(feed + 1);
        }
        end = feed;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::csv::{RawRecord, RecordReader};

    /// Every record with its line, read straight through.
    fn whole(text: &str) -> Vec<(u64, String)> {
        let mut reader = RecordReader::new(text.as_bytes());
        let mut rec = RawRecord::default();
        let mut out = Vec::new();
        while reader.read_record(&mut rec).unwrap() {
            out.push((rec.line, String::from_utf8(rec.bytes.clone()).unwrap()));
        }
        out
    }

    /// Every record with its line, read chunk by chunk.
    fn chunked(text: &str, size: usize) -> Vec<(u64, String)> {
        let mut chunker = Chunker::new(text.as_bytes(), 0, size);
        let mut out = Vec::new();
        while let Some(chunk) = chunker.next_chunk().unwrap() {
            let mut reader = RecordReader::after_lines(&chunk.bytes[..], chunk.lines_before);
            let mut rec = RawRecord::default();
            while reader.read_record(&mut rec).unwrap() {
                out.push((rec.line, String::from_utf8(rec.bytes.clone()).unwrap()));
            }
        }
        out
    }

    #[test]
    fn chunks_hold_whole_records_with_their_lines() {
        let text =
            "a,b\r\n1,\"two\nlines\"\n\n3,\"x,\"\"y\"\"\"\n4,z\n5,\"open\nstill\n\nopen\"\n6,w";
        let want = whole(text);
        assert_eq!(want.len(), 6);
        assert_eq!(want[4].0, 7, "the record after the blank line");
        for size in 1..=text.len() + 1 {
            assert_eq!(chunked(text, size), want, "chunks of {size} bytes");
        }
    }

    #[test]
    fn a_text_ending_inside_quotes_keeps_its_last_record_whole() {
        let text = "h\n1\n\"never\nclosed\n2\n";
        for size in 1..=text.len() {
            assert_eq!(chunked(text, size), whole(text), "chunks of {size} bytes");
        }
    }

    #[test]
    fn cuts_fall_only_outside_quotes() {
        assert_eq!(last_record_end(b"a\n\"b\nc"), Some(2));
        assert_eq!(last_record_end(b"a\n\"b\nc\"\nd"), Some(8));
        assert_eq!(last_record_end(b"\"a\nb"), None);
        assert_eq!(last_record_end(b"abc"), None);
    }
}
