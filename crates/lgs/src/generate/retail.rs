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

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
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

const COUNTRIES: [(&str, f64); 43] = [
    ("United Kingdom", 0.905),
    ("EIRE", 0.017),
    ("Germany", 0.016),
    ("France", 0.013),
    ("Netherlands", 0.005),
    ("Spain", 0.0036),
    ("Switzerland", 0.0030),
    ("Belgium", 0.0029),
    ("Portugal", 0.0025),
    ("Australia", 0.0018),
    ("Channel Islands", 0.0015),
    ("Italy", 0.0015),
    ("Norway", 0.0014),
    ("Sweden", 0.0013),
    ("Cyprus", 0.0011),
    ("Finland", 0.0010),
    ("Austria", 0.0009),
    ("Denmark", 0.0008),
    ("Greece", 0.0006),
    ("Japan", 0.0005),
    ("Poland", 0.0005),
    ("USA", 0.0005),
    ("Unspecified", 0.0007),
    ("United Arab Emirates", 0.0004),
    ("Singapore", 0.0003),
    ("Israel", 0.0003),
    ("Malta", 0.0003),
    ("Canada", 0.0002),
    ("Iceland", 0.0002),
    ("Lithuania", 0.0002),
    ("RSA", 0.0002),
    ("Brazil", 0.0001),
    ("Bahrain", 0.0001),
    ("Thailand", 0.0001),
    ("Hong Kong", 0.0003),
    ("Korea", 0.0001),
    ("Lebanon", 0.0001),
    ("European Community", 0.0001),
    ("West Indies", 0.0001),
    ("Nigeria", 0.0001),
    ("Czech Republic", 0.0001),
    ("Saudi Arabia", 0.0001),
    ("Bermuda", 0.0001),
];

const ADJECTIVES: [&str; 24] = [
    "WHITE",
    "PINK",
    "RED",
    "BLUE",
    "VINTAGE",
    "REGENCY",
    "JUMBO",
    "SET OF 3",
    "HANGING",
    "HEART",
    "RETRO",
    "FELTCRAFT",
    "GLASS",
    "WOODEN",
    "CERAMIC",
    "PAPER",
    "CHRISTMAS",
    "PARTY",
    "LUNCH",
    "SMALL",
    "LARGE",
    "SPOTTY",
    "FLORAL",
    "ANTIQUE",
];
const NOUNS: [&str; 24] = [
    "T-LIGHT HOLDER",
    "CAKE STAND",
    "LUNCH BAG",
    "JAM JAR",
    "BUNTING",
    "DOORMAT",
    "TEACUP AND SAUCER",
    "PHOTO FRAME",
    "CANDLE",
    "STORAGE TIN",
    "WATER BOTTLE",
    "ALARM CLOCK",
    "CUSHION COVER",
    "NAPKINS",
    "CHALKBOARD",
    "PLANT POT",
    "BAKING SET",
    "GIFT WRAP",
    "BIRD ORNAMENT",
    "MUG",
    "TISSUES",
    "LANTERN",
    "COAT RACK",
    "DOLL",
];
const PRICES_PENCE: [i64; 21] = [
    29, 42, 55, 65, 85, 125, 145, 165, 195, 210, 255, 295, 375, 425, 495, 595, 795, 995, 1275,
    1495, 1695,
];
const PACK_SIZES: [i32; 19] = [
    1, 2, 3, 4, 6, 6, 8, 10, 12, 12, 12, 12, 24, 24, 25, 36, 48, 72, 144,
];
/// Descriptions written on damages and write-offs instead of the product's name.
const NOTES: [&str; 10] = [
    "?",
    "damaged",
    "check",
    "lost",
    "wet damaged",
    "missing",
    "sold as set on dotcom",
    "smashed",
    "found",
    "thrown away",
];
/// Non-product codes: (stock code, description).
const SPECIAL: [(&str, &str); 14] = [
    ("POST", "POSTAGE"),
    ("DOT", "DOTCOM POSTAGE"),
    ("M", "Manual"),
    ("C2", "CARRIAGE"),
    ("D", "Discount"),
    ("S", "SAMPLES"),
    ("BANK CHARGES", "Bank Charges"),
    ("AMAZONFEE", "AMAZON FEE"),
    ("ADJUST", "Adjustment by john on 26/01/2010 17"),
    ("gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00"),
    ("TEST001", "This is a test product."),
    ("PADS", "PADS TO MATCH ALL CUSHIONS"),
    ("CRUK", "CRUK Commission"),
    ("B", "Adjust bad debt"),
];
const POST: usize = 0;
const DOT: usize = 1;
const MANUAL: usize = 2;
const CARRIAGE: usize = 3;
const DISCOUNT: usize = 4;
const BAD_DEBT: usize = 13;

/// The product catalogue, fixed per seed; special codes follow the products.
struct Catalog {
    codes: Vec<String>,
    descriptions: Vec<String>,
    prices: Vec<i64>, // thousandths of a pound
    products: usize,
}

impl Catalog {
    fn new(seed: u64) -> Catalog {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_CA7A);
        let products = 5_000;
        let mut codes = Vec::with_capacity(products + SPECIAL.len());
        let mut descriptions = Vec::with_capacity(products + SPECIAL.len());
        let mut prices = Vec::with_capacity(products + SPECIAL.len());
        for k in 0..products {
            let mut code = format!("{}", 20_000 + k * 13 % 80_000);
            if rng.random_bool(0.25) {
                code.push(char::from(b'A' + rng.random_range(0..26u8)));
            }
            let mut description = format!(
                "{} {}",
                ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                NOUNS[rng.random_range(0..NOUNS.len())]
            );
            if rng.random_bool(0.1) {
                if rng.random_bool(0.5) {
                    description.push(' ');
                } else {
                    description.insert(0, ' ');
                }
            }
            codes.push(code);
            descriptions.push(description);
            prices.push(PRICES_PENCE[rng.random_range(0..PRICES_PENCE.len())] * 10);
        }
        for (code, description) in SPECIAL {
            codes.push(code.to_string());
            descriptions.push(description.to_string());
            prices.push(0);
        }
        Catalog {
            codes,
            descriptions,
            prices,
            products,
        }
    }

    fn special(&self, i: usize) -> u32 {
        (self.products + i) as u32
    }
}

/// Trading days and their share of the business.
struct Calendar {
    start: NaiveDate,
    /// Cumulative share of rows up to the end of each day.
    cdf: Vec<f64>,
}

impl Calendar {
    fn new() -> Calendar {
        let start = NaiveDate::from_ymd_opt(START.0, START.1, START.2).expect("valid date");
        let mut weights = Vec::with_capacity(DAYS);
        for d in 0..DAYS {
            let date = start + chrono::Duration::days(d as i64);
            let (m, day) = (date.month(), date.day());
            let closed = date.weekday() == chrono::Weekday::Sat
                || (m == 12 && day >= 23)
                || (m == 1 && day <= 3);
            let season = match m {
                11 => 1.65,
                10 => 1.3,
                9 => 1.25,
                12 => 1.15,
                1 | 2 => 0.7,
                4 => 0.85,
                _ => 0.95,
            };
            let weekday = if date.weekday() == chrono::Weekday::Sun {
                0.55
            } else {
                1.0
            };
            weights.push(if closed { 0.0 } else { season * weekday });
        }
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Calendar { start, cdf }
    }

    /// Minutes since the start of the first day, for a position `p` in [0, 1) of
    /// the whole period's business.
    fn minute_at(&self, p: f64) -> u32 {
        let day = self.cdf.partition_point(|&c| c <= p).min(DAYS - 1);
        let lo = if day == 0 { 0.0 } else { self.cdf[day - 1] };
        let width = (self.cdf[day] - lo).max(f64::MIN_POSITIVE);
        let f = ((p - lo) / width).clamp(0.0, 0.9999);
        day as u32 * 1440 + OPEN_MINUTE + (f * TRADING_MINUTES) as u32
    }

    fn date_text(&self, minute: u32, out: &mut String) {
        let date = self.start + chrono::Duration::days(i64::from(minute / 1440));
        let m = minute % 1440;
        use std::fmt::Write;
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:00",
            date.year(),
            date.month(),
            date.day(),
            m / 60,
            m % 60
        );
    }

    /// Microseconds since the Unix epoch.
    fn micros(&self, minute: u32) -> i64 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        ((self.start - epoch).num_minutes() + i64::from(minute)) * 60_000_000
    }

    /// The Excel serial date-time (days since 1899-12-30).
    fn excel(&self, minute: u32) -> f64 {
        let excel_epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date");
        (self.start - excel_epoch).num_days() as f64 + f64::from(minute) / 1440.0
    }
}

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
    let pick_product = |rng: &mut ChaCha8Rng| -> u32 {
        let u: f64 = rng.random();
        (u * u * u * catalog.products as f64) as u32
    };
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
                product: pick_product(&mut rng),
                note,
                quantity,
                ..base
            });
        } else if u < 0.219 && !recent.is_empty() {
            // A cancellation of lines of a recent invoice, by its customer.
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
                product: pick_product(&mut rng),
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
            let first = lines.len();
            let head = Line {
                customer,
                country,
                ..base
            };
            for _ in 0..n {
                let product = pick_product(&mut rng);
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

fn invoice_text(line: &Line, out: &mut Vec<u8>) {
    if line.prefix != 0 {
        out.push(line.prefix);
    }
    out.extend_from_slice(itoa::Buffer::new().format(line.invoice).as_bytes());
}

fn description<'a>(world: &'a World, line: &Line) -> Option<&'a str> {
    match line.note {
        0 => Some(&world.catalog.descriptions[line.product as usize]),
        1 => None,
        n => Some(NOTES[(n - 2) as usize]),
    }
}

/// `1.25`, `2.1`, `0.001`, `-11062.06`, `0.0`: the shortest decimal, like the real file.
fn price_text(thousandths: i64, out: &mut Vec<u8>) {
    if thousandths < 0 {
        out.push(b'-');
    }
    let v = thousandths.unsigned_abs();
    out.extend_from_slice(itoa::Buffer::new().format(v / 1000).as_bytes());
    out.push(b'.');
    let frac = v % 1000;
    let digits = [frac / 100, frac / 10 % 10, frac % 10];
    let keep = if digits[2] != 0 {
        3
    } else if digits[1] != 0 {
        2
    } else {
        1
    };
    out.extend(digits[..keep].iter().map(|d| b'0' + *d as u8));
}

/// Lines as CSV rows, or (`copy`) as rows of a COPY text block.
fn encode_text(world: &World, lines: &[Line], copy: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len() * 96);
    let sep = if copy { b'\t' } else { b',' };
    let mut date = String::new();
    let mut date_minute = u32::MAX;
    let text = |out: &mut Vec<u8>, s: Option<&str>| match s {
        None if copy => out.extend_from_slice(b"\\N"),
        None => {}
        Some(s) if copy => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b => out.push(b),
                }
            }
        }
        Some(s) if s.contains([',', '"', '\n']) => {
            out.push(b'"');
            out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        }
        Some(s) => out.extend_from_slice(s.as_bytes()),
    };
    for line in lines {
        invoice_text(line, &mut out);
        out.push(sep);
        text(&mut out, Some(&world.catalog.codes[line.product as usize]));
        out.push(sep);
        text(&mut out, description(world, line));
        out.push(sep);
        out.extend_from_slice(itoa::Buffer::new().format(line.quantity).as_bytes());
        out.push(sep);
        if line.minute != date_minute {
            date.clear();
            world.calendar.date_text(line.minute, &mut date);
            date_minute = line.minute;
        }
        out.extend_from_slice(date.as_bytes());
        out.push(sep);
        price_text(line.price, &mut out);
        out.push(sep);
        if line.customer != 0 {
            out.extend_from_slice(itoa::Buffer::new().format(line.customer).as_bytes());
        } else if copy {
            out.extend_from_slice(b"\\N");
        }
        out.push(sep);
        text(&mut out, Some(COUNTRIES[line.country as usize].0));
        out.push(b'\n');
    }
    out
}

fn parquet_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("invoice_no", DataType::Utf8, false),
        Field::new("stock_code", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("quantity", DataType::Int32, false),
        Field::new(
            "invoice_date",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("unit_price", DataType::Float64, false),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("country", DataType::Utf8, false),
    ]))
}

fn encode_batch(world: &World, lines: &[Line]) -> RecordBatch {
    let n = lines.len();
    let mut invoice = StringBuilder::with_capacity(n, n * 7);
    let mut code = StringBuilder::with_capacity(n, n * 6);
    let mut desc = StringBuilder::with_capacity(n, n * 24);
    let mut quantity = Int32Builder::with_capacity(n);
    let mut date = TimestampMicrosecondBuilder::with_capacity(n);
    let mut price = Float64Builder::with_capacity(n);
    let mut customer = Int64Builder::with_capacity(n);
    let mut country = StringBuilder::with_capacity(n, n * 14);
    let mut buf = Vec::new();
    for line in lines {
        buf.clear();
        invoice_text(line, &mut buf);
        invoice.append_value(std::str::from_utf8(&buf).expect("ascii"));
        code.append_value(&world.catalog.codes[line.product as usize]);
        desc.append_option(description(world, line));
        quantity.append_value(line.quantity);
        date.append_value(world.calendar.micros(line.minute));
        price.append_value(line.price as f64 / 1000.0);
        customer.append_option((line.customer != 0).then_some(i64::from(line.customer)));
        country.append_value(COUNTRIES[line.country as usize].0);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(invoice.finish()),
        Arc::new(code.finish()),
        Arc::new(desc.finish()),
        Arc::new(quantity.finish()),
        Arc::new(date.finish()),
        Arc::new(price.finish()),
        Arc::new(customer.finish()),
        Arc::new(country.finish()),
    ];
    RecordBatch::try_new(parquet_schema(), columns).expect("builders match the schema")
}

fn write_xlsx(
    world: &World,
    out: &Path,
    chunks: u64,
    rows: u64,
    next: &mut dyn FnMut(u64) -> Result<Encoded>,
    progress: &dyn Fn(u64),
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut workbook = Workbook::new();
    let date_format = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let mut sheet_index: Option<usize> = None;
    let mut row_in_sheet = 0u32;
    let mut written = 0u64;
    let mut buf = Vec::new();
    for k in 0..chunks {
        let Encoded::Lines(lines) = next(k)? else {
            continue;
        };
        for line in &lines {
            if sheet_index.is_none() || u64::from(row_in_sheet) > XLSX_SHEET_ROWS {
                let index = sheet_index.map_or(0, |i| i + 1);
                let sheet = workbook.add_worksheet_with_constant_memory()?;
                sheet.set_name(format!("Sheet{}", index + 1))?;
                for (c, h) in UCI_HEADER.iter().enumerate() {
                    sheet.write_string(0, c as u16, *h)?;
                }
                sheet_index = Some(index);
                row_in_sheet = 1;
            }
            let sheet = workbook.worksheet_from_index(sheet_index.expect("set above"))?;
            let r = row_in_sheet;
            if line.prefix == 0 {
                sheet.write_number(r, 0, line.invoice as f64)?;
            } else {
                buf.clear();
                invoice_text(line, &mut buf);
                sheet.write_string(r, 0, std::str::from_utf8(&buf)?)?;
            }
            let code = &world.catalog.codes[line.product as usize];
            match code.parse::<u32>() {
                Ok(n) => sheet.write_number(r, 1, n)?,
                Err(_) => sheet.write_string(r, 1, code)?,
            };
            if let Some(d) = description(world, line) {
                sheet.write_string(r, 2, d)?;
            }
            sheet.write_number(r, 3, line.quantity)?;
            sheet.write_number_with_format(
                r,
                4,
                world.calendar.excel(line.minute),
                &date_format,
            )?;
            sheet.write_number(r, 5, line.price as f64 / 1000.0)?;
            if line.customer != 0 {
                sheet.write_number(r, 6, line.customer)?;
            }
            sheet.write_string(r, 7, COUNTRIES[line.country as usize].0)?;
            row_in_sheet += 1;
            written += 1;
        }
        progress(written.min(rows));
    }
    if sheet_index.is_none() {
        let sheet = workbook.add_worksheet();
        for (c, h) in UCI_HEADER.iter().enumerate() {
            sheet.write_string(0, c as u16, *h)?;
        }
    }
    workbook.save(out)?;
    Ok(())
}

fn dump_header() -> String {
    "--\n-- PostgreSQL database dump\n--\n\n\
     SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n\
     SET standard_conforming_strings = on;\n\n\
     CREATE TABLE public.retail (\n    invoice_no character varying(10),\n    \
     stock_code character varying(20),\n    description character varying(60),\n    \
     quantity integer,\n    invoice_date timestamp without time zone,\n    \
     unit_price numeric(10,3),\n    customer_id integer,\n    \
     country character varying(30)\n);\n\n\
     ALTER TABLE public.retail OWNER TO postgres;\n\n\
     --\n-- Data for Name: retail; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n\n\
     COPY public.retail (invoice_no, stock_code, description, quantity, invoice_date, \
     unit_price, customer_id, country) FROM stdin;\n"
        .to_string()
}

const DUMP_TRAILER: &str = "\\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_print_like_the_real_file() {
        let show = |v| {
            let mut out = Vec::new();
            price_text(v, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(show(1250), "1.25");
        assert_eq!(show(2100), "2.1");
        assert_eq!(show(1), "0.001");
        assert_eq!(show(0), "0.0");
        assert_eq!(show(-11_062_060), "-11062.06");
    }

    #[test]
    fn calendar_skips_saturdays_and_christmas() {
        let cal = Calendar::new();
        for i in 0..10_000 {
            let minute = cal.minute_at(i as f64 / 10_000.0);
            let date = cal.start + chrono::Duration::days(i64::from(minute / 1440));
            assert_ne!(date.weekday(), chrono::Weekday::Sat, "{date}");
            assert!(!(date.month() == 12 && date.day() >= 23), "{date}");
            assert!(date <= NaiveDate::from_ymd_opt(2011, 12, 9).unwrap());
        }
        // Monotone: later rows never go back in time.
        let minutes: Vec<u32> = (0..1000)
            .map(|i| cal.minute_at(i as f64 / 1000.0))
            .collect();
        assert!(minutes.windows(2).all(|w| w[0] <= w[1]));
    }
}
