//! LGS transactions at any scale, shaped like the real data (see
//! `../shared/data/README.md`): the same two years (2009-12-01 to 2011-12-09, denser
//! as the row count grows), no Saturday trading and a Christmas break, the November
//! peak, invoices of a skewed number of lines from skewed customers buying skewed
//! products, and the quirks in similar proportions: cancellations (`C…`) of earlier
//! invoices' lines, bad-debt adjustments (`A…`, stock code `B`), anonymous invoices
//! (no customer), damages and write-offs (negative quantity, price 0, a note for
//! description), zero prices, exact duplicate lines, non-product codes (POST, DOT, M,
//! C2, D, S, BANK CHARGES, AMAZONFEE, ...), descriptions with stray spaces, and rare
//! extreme quantities and prices.
//!
//! The output is deterministic per seed whatever the thread count: rows are made in
//! chunks, each from its own seeded generator, on worker threads, and written in
//! order. Memory is bounded by a few chunks.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{LgsError, Result};
use crate::schema::HEADER_SHAPES;

/// The file format written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetailFormat {
    /// CSV with the warehouse column names (like the bundled dataset).
    Csv,
    /// Plain `pg_dump` output: CREATE TABLE and one COPY block.
    Sql,
    /// Parquet (zstd), typed like a Spark export.
    Parquet,
    /// An Excel workbook with the UCI column names, a sheet per 1,000,000 rows.
    Xlsx,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct RetailSpec {
    pub rows: u64,
    pub seed: u64,
    pub format: RetailFormat,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

/// Rows per chunk: the unit of parallel work and of determinism.
const CHUNK_ROWS: u64 = 1 << 18;
/// Rows per Excel sheet (the format allows 1,048,576 rows with the header).
pub const XLSX_SHEET_ROWS: u64 = 1_000_000;
const FIRST_INVOICE: u64 = 489_434;
const FIRST_CUSTOMER: u32 = 12_346;
const START: (i32, u32, u32) = (2009, 12, 1);
const DAYS: usize = 739; // to 2011-12-09
/// Trading hours: 07:30 to 20:00.
const OPEN_MINUTE: u32 = 7 * 60 + 30;
const TRADING_MINUTES: f64 = 12.5 * 60.0;

pub const CSV_HEADER: &str =
    "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country";
/// The UCI workbook's column names.
const UCI_HEADER: [&str; 8] = HEADER_SHAPES[1].columns;

mod catalog;
mod encode;

use catalog::*;
use encode::*;

/// One generated line.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// 0, `b'C'` or `b'A'`.
    prefix: u8,
    invoice: u64,
    product: u32,
    /// 0: the product's description; 1: none; 2..: a note.
    note: u8,
    quantity: i32,
    minute: u32,
    /// Thousandths of a pound.
    price: i64,
    /// 0: no customer.
    customer: u32,
    country: u16,
}

struct World {
    catalog: Catalog,
    calendar: Calendar,
    /// Cumulative country shares.
    countries: Vec<f64>,
    customers: u32,
    total: u64,
}

impl World {
    fn country_of(&self, customer: u32) -> u16 {
        // A customer's country is fixed: derived from its id, not from the chunk.
        let mut rng = ChaCha8Rng::seed_from_u64(u64::from(customer) * 0x9E37_79B9);
        let u: f64 = rng.random();
        self.countries
            .partition_point(|&c| c <= u)
            .min(COUNTRIES.len() - 1) as u16
    }
}

/// Makes the lines of rows `[start, end)`.
fn chunk(world: &World, seed: u64, index: u64, start: u64, end: u64) -> Vec<Line> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    let mut lines: Vec<Line> = Vec::with_capacity((end - start) as usize);
    let want = (end - start) as usize;
    let mut invoice = FIRST_INVOICE + start;
    // Recent invoices with a customer, for cancellations: (first line, line count).
    let mut recent: Vec<(usize, usize)> = Vec::with_capacity(64);
    let catalog = &world.catalog;
    while lines.len() < want {
        let p = (start + lines.len() as u64) as f64 / world.total as f64;
        let minute = world.calendar.minute_at(p);
        invoice += 1;
        let base = Line {
            prefix: 0,
            invoice,
            product: 0,
            note: 0,
            quantity: 1,
            minute,
            price: 0,
            customer: 0,
            country: 0,
        };
        let u: f64 = rng.random();
        if u < 0.064 {
            // Damages and write-offs: one line, negative, free, no customer.
            let note = if rng.random_bool(0.6) {
                1
            } else {
                2 + rng.random_range(0..NOTES.len() as u8)
            };
            let quantity = if rng.random_bool(0.01) {
                -rng.random_range(500..3000)
            } else {
                -rng.random_range(1..100)
            };
            lines.push(Line {
                product: pick_product(&mut rng, catalog),
                note,
                quantity,
                ..base
            });
        } else if u < 0.219 && !recent.is_empty() {
            // A cancellation of lines of a recent invoice, by its customer.
            cancel_recent(&mut rng, &mut lines, &recent, catalog, invoice, minute);
        } else if u < 0.21911 {
            // A bad-debt adjustment.
            lines.push(Line {
                prefix: b'A',
                product: catalog.special(BAD_DEBT),
                price: -rng.random_range(1_000_000..12_000_000),
                ..base
            });
        } else if u < 0.21913 {
            // An extreme order and its immediate cancellation.
            let customer = FIRST_CUSTOMER + rng.random_range(0..world.customers);
            let line = Line {
                product: pick_product(&mut rng, catalog),
                quantity: rng.random_range(10_000..80_996),
                price: 1_000 + rng.random_range(0..1_000),
                customer,
                country: world.country_of(customer),
                ..base
            };
            lines.push(line);
            invoice += 1;
            lines.push(Line {
                prefix: b'C',
                invoice,
                quantity: -line.quantity,
                ..line
            });
        } else {
            let first = lines.len();
            let customer = sale(world, &mut rng, &mut lines, base, p);
            if customer != 0 {
                if recent.len() == 64 {
                    recent.remove(0);
                }
                recent.push((first, lines.len() - first));
            }
        }
    }
    lines.truncate(want);
    lines
}

/// A product, the low ids (the best sellers) most often.
fn pick_product(rng: &mut ChaCha8Rng, catalog: &Catalog) -> u32 {
    let u: f64 = rng.random();
    (u * u * u * catalog.products as f64) as u32
}

/// A cancellation of lines of a recent invoice (`recent`: first line, line count),
/// by its customer, as invoice `invoice`.
fn cancel_recent(
    rng: &mut ChaCha8Rng,
    lines: &mut Vec<Line>,
    recent: &[(usize, usize)],
    catalog: &Catalog,
    invoice: u64,
    minute: u32,
) {
    let (first, count) = recent[rng.random_range(0..recent.len())];
    let n = (1 + (rng.random::<f64>().powi(2) * 4.0) as usize).min(count);
    let from = first + rng.random_range(0..=count - n);
    for i in 0..n {
        let original = lines[from + i];
        lines.push(Line {
            prefix: b'C',
            quantity: -original.quantity.abs().max(1),
            ..Line {
                invoice,
                minute,
                ..original
            }
        });
    }
    if rng.random_bool(0.02) {
        let original = lines[from];
        lines.push(Line {
            prefix: b'C',
            invoice,
            minute,
            product: catalog.special(DISCOUNT),
            note: 0,
            quantity: -1,
            price: rng.random_range(5_000..50_000),
            ..original
        });
    }
}

/// An order at position `p` (0..1) of the data: a customer's (or an anonymous
/// one's) lines, with postage and the odd special line. Returns the customer (0:
/// anonymous).
fn sale(world: &World, rng: &mut ChaCha8Rng, lines: &mut Vec<Line>, base: Line, p: f64) -> u32 {
    let catalog = &world.catalog;
    let anonymous = rng.random_bool(0.096);
    let (customer, country) = if anonymous {
        let country = if rng.random_bool(0.97) {
            0
        } else {
            rng.random_range(1..COUNTRIES.len() as u16)
        };
        (0, country)
    } else {
        // Skewed customers, joining over time (low ids are the early, loyal
        // ones), so months have new and returning customers.
        let active = f64::from(world.customers) * (0.35 + 0.65 * p);
        let u: f64 = rng.random();
        let c = FIRST_CUSTOMER + (u.powf(2.5) * active) as u32;
        (c, world.country_of(c))
    };
    let mean = if anonymous { 55.0 } else { 21.0 };
    let n = 1 + (-(1.0 - rng.random::<f64>()).ln() * mean).min(1000.0) as usize;
    let head = Line {
        customer,
        country,
        ..base
    };
    for _ in 0..n {
        let product = pick_product(rng, catalog);
        let mut line = Line {
            product,
            quantity: if anonymous {
                rng.random_range(1..4)
            } else {
                PACK_SIZES[rng.random_range(0..PACK_SIZES.len())]
            },
            price: catalog.prices[product as usize],
            ..head
        };
        if rng.random_bool(0.0026) {
            line.price = 0;
            if rng.random_bool(0.5) {
                line.note = 1;
            }
        }
        lines.push(line);
        if rng.random_bool(0.033) {
            lines.push(line);
        }
    }
    let special = |i: usize, quantity: i32, price: i64| Line {
        product: catalog.special(i),
        quantity,
        price,
        ..head
    };
    if !anonymous && country != 0 && rng.random_bool(0.6) {
        lines.push(special(POST, rng.random_range(1..4), 18_000));
    }
    if anonymous && rng.random_bool(0.4) {
        lines.push(special(DOT, 1, rng.random_range(10_000..400_000)));
    }
    let r: f64 = rng.random();
    if r < 0.003 {
        let price = if rng.random_bool(0.01) {
            38_970_000
        } else {
            rng.random_range(100..1_000_000)
        };
        lines.push(special(MANUAL, 1, price));
    } else if r < 0.006 {
        lines.push(special(CARRIAGE, 1, 50_000));
    } else if r < 0.0075 {
        let i = rng.random_range(5..BAD_DEBT);
        lines.push(special(i, 1, rng.random_range(1..200_000)));
    }
    customer
}

impl World {
    fn new(spec: &RetailSpec) -> World {
        let mut acc = 0.0;
        let total_weight: f64 = COUNTRIES.iter().map(|c| c.1).sum();
        let countries = COUNTRIES
            .iter()
            .map(|c| {
                acc += c.1 / total_weight;
                acc
            })
            .collect();
        World {
            catalog: Catalog::new(spec.seed),
            calendar: Calendar::new(),
            countries,
            customers: (spec.rows / 180).max(50) as u32,
            total: spec.rows.max(1),
        }
    }
}

/// What a worker hands the writer for one chunk.
enum Encoded {
    Bytes(Vec<u8>),
    Batch(RecordBatch),
    Lines(Vec<Line>),
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// Writes `spec.rows` rows to `out`, calling `progress` with the rows written so far.
pub fn write_retail(spec: &RetailSpec, out: &Path, progress: &dyn Fn(u64)) -> Result<Generated> {
    let started = std::time::Instant::now();
    let write_err = |e: &dyn std::fmt::Display| LgsError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    };
    let world = Arc::new(World::new(spec));
    let chunks = spec.rows.div_ceil(CHUNK_ROWS);
    let threads = match spec.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
    .max(1) as u64;
    let format = spec.format;
    let seed = spec.seed;
    let rows = spec.rows;

    std::thread::scope(|scope| {
        let mut receivers: Vec<Receiver<Encoded>> = Vec::new();
        for t in 0..threads {
            let (tx, rx) = sync_channel::<Encoded>(1);
            receivers.push(rx);
            let world = world.clone();
            scope.spawn(move || {
                let mut k = t;
                while k < chunks {
                    let start = k * CHUNK_ROWS;
                    let end = (start + CHUNK_ROWS).min(rows);
                    let lines = chunk(&world, seed, k, start, end);
                    let encoded = match format {
                        RetailFormat::Csv => Encoded::Bytes(encode_text(&world, &lines, false)),
                        RetailFormat::Sql => Encoded::Bytes(encode_text(&world, &lines, true)),
                        RetailFormat::Parquet => Encoded::Batch(encode_batch(&world, &lines)),
                        RetailFormat::Xlsx => Encoded::Lines(lines),
                    };
                    if tx.send(encoded).is_err() {
                        return; // The writer failed.
                    }
                    k += threads;
                }
            });
        }
        let mut next = |k: u64| {
            receivers[(k % threads) as usize]
                .recv()
                .map_err(|_| LgsError::Generator("a worker thread stopped".into()))
        };
        let file = File::create(out).map_err(|e| write_err(&e))?;
        match format {
            RetailFormat::Csv | RetailFormat::Sql => {
                let mut w = BufWriter::with_capacity(8 << 20, file);
                let sql = format == RetailFormat::Sql;
                if sql {
                    w.write_all(dump_header().as_bytes())
                } else {
                    writeln!(w, "{CSV_HEADER}")
                }
                .map_err(|e| write_err(&e))?;
                for k in 0..chunks {
                    if let Encoded::Bytes(b) = next(k)? {
                        w.write_all(&b).map_err(|e| write_err(&e))?;
                    }
                    progress(((k + 1) * CHUNK_ROWS).min(rows));
                }
                if sql {
                    w.write_all(DUMP_TRAILER.as_bytes())
                        .map_err(|e| write_err(&e))?;
                }
                w.flush().map_err(|e| write_err(&e))?;
            }
            RetailFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
                    .build();
                let mut w = ArrowWriter::try_new(file, parquet_schema(), Some(props))
                    .map_err(|e| write_err(&e))?;
                for k in 0..chunks {
                    if let Encoded::Batch(b) = next(k)? {
                        w.write(&b).map_err(|e| write_err(&e))?;
                    }
                    progress(((k + 1) * CHUNK_ROWS).min(rows));
                }
                w.close().map_err(|e| write_err(&e))?;
            }
            RetailFormat::Xlsx => {
                drop(file);
                write_xlsx(&world, out, chunks, rows, &mut next, progress)
                    .map_err(|e| write_err(&e))?;
            }
        }
        Ok::<_, LgsError>(())
    })?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(Generated {
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
