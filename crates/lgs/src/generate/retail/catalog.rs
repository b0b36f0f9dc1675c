//! The generator's world: countries, products, prices, notes and special codes
//! in the real data's proportions, the product catalogue and the trading calendar.

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

pub(super) const COUNTRIES: [(&str, f64); 43] = [
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

pub(super) const ADJECTIVES: [&str; 24] = [
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
pub(super) const NOUNS: [&str; 24] = [
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
pub(super) const PRICES_PENCE: [i64; 21] = [
    29, 42, 55, 65, 85, 125, 145, 165, 195, 210, 255, 295, 375, 425, 495, 595, 795, 995, 1275,
    1495, 1695,
];
pub(super) const PACK_SIZES: [i32; 19] = [
    1, 2, 3, 4, 6, 6, 8, 10, 12, 12, 12, 12, 24, 24, 25, 36, 48, 72, 144,
];
/// Descriptions written on damages and write-offs instead of the product's name.
pub(super) const NOTES: [&str; 10] = [
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
pub(super) const SPECIAL: [(&str, &str); 14] = [
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
pub(super) const POST: usize = 0;
pub(super) const DOT: usize = 1;
pub(super) const MANUAL: usize = 2;
pub(super) const CARRIAGE: usize = 3;
pub(super) const DISCOUNT: usize = 4;
pub(super) const BAD_DEBT: usize = 13;

/// The product catalogue, fixed per seed; special codes follow the products.
pub(super) struct Catalog {
    pub(super) codes: Vec<String>,
    pub(super) descriptions: Vec<String>,
    pub(super) prices: Vec<i64>, // thousandths of a pound
    pub(super) products: usize,
}

impl Catalog {
    pub(super) fn new(seed: u64) -> Catalog {
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

    pub(super) fn special(&self, i: usize) -> u32 {
        (self.products + i) as u32
    }
}

/// Trading days and their share of the business.
pub(super) struct Calendar {
    pub(super) start: NaiveDate,
    /// Cumulative share of rows up to the end of each day.
    pub(super) cdf: Vec<f64>,
}

impl Calendar {
    pub(super) fn new() -> Calendar {
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
    pub(super) fn minute_at(&self, p: f64) -> u32 {
        let day = self.cdf.partition_point(|&c| c <= p).min(DAYS - 1);
        let lo = if day == 0 { 0.0 } else { self.cdf[day - 1] };
        let width = (self.cdf[day] - lo).max(f64::MIN_POSITIVE);
        let f = ((p - lo) / width).clamp(0.0, 0.9999);
        day as u32 * 1440 + OPEN_MINUTE + (f * TRADING_MINUTES) as u32
    }

    pub(super) fn date_text(&self, minute: u32, out: &mut String) {
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
    pub(super) fn micros(&self, minute: u32) -> i64 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        ((self.start - epoch).num_minutes() + i64::from(minute)) * 60_000_000
    }

    /// The Excel serial date-time (days since 1899-12-30).
    pub(super) fn excel(&self, minute: u32) -> f64 {
        let excel_epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date");
        (self.start - excel_epoch).num_days() as f64 + f64::from(minute) / 1440.0
    }
}
