//! The warehouse schemas and the input header shapes they are loaded from.
//!
//! `unit_price` and the derived line `amount` are **decimals** (scale 4), not floats:
//! every sum in the marketing analytics (sales per month, invoice amounts, RFM monetary)
//! must be right to the cent, and decimal sums are exact whatever the row order or the
//! number of partitions. Results are converted to `f64` only when they are reported.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Name of the table holding the transactions.
pub const RETAIL_TABLE: &str = "retail";
/// Name of the table holding the rows that could not be parsed.
pub const REJECTED_TABLE: &str = "retail_rejected";

/// Decimal scale of `unit_price` and `amount` (4 places: the real data has up to 3).
pub const PRICE_SCALE: i8 = 4;
/// Decimal precision of `unit_price`.
pub const PRICE_PRECISION: u8 = 14;
/// Decimal precision of `amount` (= quantity × unit_price).
pub const AMOUNT_PRECISION: u8 = 24;

/// Schema of the `retail` table: the eight source columns, typed, then the derived
/// columns the analytics use (`month`, `amount`, `is_cancellation`).
pub fn retail_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
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
            Field::new(
                "unit_price",
                DataType::Decimal128(PRICE_PRECISION, PRICE_SCALE),
                false,
            ),
            Field::new("customer_id", DataType::Int64, true),
            Field::new("country", DataType::Utf8, true),
            Field::new("month", DataType::Utf8, false),
            Field::new(
                "amount",
                DataType::Decimal128(AMOUNT_PRECISION, PRICE_SCALE),
                false,
            ),
            Field::new("is_cancellation", DataType::Boolean, false),
        ]))
    });
    SCHEMA.clone()
}

/// Columns of the `retail` table whose files are written without min/max
/// statistics. Their values are spread over every file and row group (each holds
/// nearly every stock code, description and country, and a wide run of invoices
/// and amounts), so their ranges never prune a read, while computing them cost 9 %
/// of an ingest's instructions (two comparisons of every value). The columns a
/// read does prune on keep theirs: the date, the month, the customer (what
/// `lgs forget` looks for), the quantity, the price, the cancellation flag.
pub const RETAIL_COLUMNS_WITHOUT_STATISTICS: [&str; 5] = [
    "invoice_no",
    "stock_code",
    "description",
    "country",
    "amount",
];

/// The columns of a table with `schema` to write without statistics: those of
/// [`RETAIL_COLUMNS_WITHOUT_STATISTICS`] when it is the `retail` schema, else none.
pub fn columns_without_statistics(schema: &Schema) -> &'static [&'static str] {
    if schema.fields() == retail_schema().fields() {
        &RETAIL_COLUMNS_WITHOUT_STATISTICS
    } else {
        &[]
    }
}

/// Name of the World Development Indicators table.
pub const WDI_TABLE: &str = "wdi";

/// Schema of the `wdi` table (the long schema of the original Hive work, with
/// missing values as nulls, not zeros). Partitioned by `year`.
pub fn wdi_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("year", DataType::Int32, false),
            Field::new("country_name", DataType::Utf8, true),
            Field::new("country_code", DataType::Utf8, false),
            Field::new("indicator_name", DataType::Utf8, true),
            Field::new("indicator_code", DataType::Utf8, false),
            Field::new("indicator_value", DataType::Float64, true),
        ]))
    });
    SCHEMA.clone()
}

/// Schema of the `retail_rejected` quarantine table.
pub fn rejected_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("source_file", DataType::Utf8, false),
            Field::new("line", DataType::Int64, false),
            Field::new("raw", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new("ingest_id", DataType::Utf8, false),
        ]))
    });
    SCHEMA.clone()
}

/// The eight logical input columns, in warehouse order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputColumn {
    InvoiceNo,
    StockCode,
    Description,
    Quantity,
    InvoiceDate,
    UnitPrice,
    CustomerId,
    Country,
}

impl InputColumn {
    /// All columns in warehouse order.
    pub const ALL: [InputColumn; 8] = [
        InputColumn::InvoiceNo,
        InputColumn::StockCode,
        InputColumn::Description,
        InputColumn::Quantity,
        InputColumn::InvoiceDate,
        InputColumn::UnitPrice,
        InputColumn::CustomerId,
        InputColumn::Country,
    ];

    /// The warehouse column name.
    pub fn name(self) -> &'static str {
        match self {
            InputColumn::InvoiceNo => "invoice_no",
            InputColumn::StockCode => "stock_code",
            InputColumn::Description => "description",
            InputColumn::Quantity => "quantity",
            InputColumn::InvoiceDate => "invoice_date",
            InputColumn::UnitPrice => "unit_price",
            InputColumn::CustomerId => "customer_id",
            InputColumn::Country => "country",
        }
    }
}

/// A known header shape: its name and its column names in [`InputColumn::ALL`] order.
pub struct HeaderShape {
    pub name: &'static str,
    pub columns: [&'static str; 8],
}

/// The three header shapes real users have.
pub const HEADER_SHAPES: [HeaderShape; 3] = [
    HeaderShape {
        name: "warehouse",
        columns: [
            "invoice_no",
            "stock_code",
            "description",
            "quantity",
            "invoice_date",
            "unit_price",
            "customer_id",
            "country",
        ],
    },
    HeaderShape {
        name: "UCI Online Retail II",
        columns: [
            "Invoice",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "Price",
            "Customer ID",
            "Country",
        ],
    },
    HeaderShape {
        name: "UCI Online Retail",
        columns: [
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    },
];

/// A column name reduced to lower-case letters and digits (no BOM, spaces or `_`).
pub(crate) fn normalise(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Maps a header to the position of each [`InputColumn`] in the input fields.
///
/// Column names are matched ignoring case, spaces, underscores and a byte-order mark,
/// in any order, against one of [`HEADER_SHAPES`]. Returns `None` when the header
/// matches no shape.
pub fn match_header(fields: &[&str]) -> Option<(&'static str, [usize; 8])> {
    let found: Vec<String> = fields.iter().map(|f| normalise(f)).collect();
    'shape: for shape in &HEADER_SHAPES {
        if found.len() != shape.columns.len() {
            continue;
        }
        let mut positions = [0usize; 8];
        for (slot, wanted) in positions.iter_mut().zip(shape.columns) {
            match found.iter().position(|f| *f == normalise(wanted)) {
                Some(p) => *slot = p,
                None => continue 'shape,
            }
        }
        return Some((shape.name, positions));
    }
    None
}

/// The known header shapes, written out for error messages.
pub fn expected_headers() -> Vec<String> {
    HEADER_SHAPES
        .iter()
        .map(|s| format!("{} ({})", s.columns.join(","), s.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_three_shapes_and_reorders() {
        let (name, pos) = match_header(&[
            "Invoice",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "Price",
            "Customer ID",
            "Country",
        ])
        .unwrap();
        assert_eq!(name, "UCI Online Retail II");
        assert_eq!(pos, [0, 1, 2, 3, 4, 5, 6, 7]);

        let (name, pos) = match_header(&[
            "country",
            "invoice_no",
            "stock_code",
            "description",
            "quantity",
            "invoice_date",
            "unit_price",
            "customer_id",
        ])
        .unwrap();
        assert_eq!(name, "warehouse");
        assert_eq!(pos, [1, 2, 3, 4, 5, 6, 7, 0]);

        assert!(match_header(&["a", "b"]).is_none());
        assert!(
            match_header(&[
                "InvoiceNo",
                "StockCode",
                "Description",
                "Quantity",
                "InvoiceDate",
                "UnitPrice",
                "CustomerID",
                "Nation"
            ])
            .is_none()
        );
    }
}
