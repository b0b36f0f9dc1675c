//! Turning parsed rows into Arrow record batches for the two warehouse tables.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};

use super::csv::Fields;
use super::parse::{
    ParsedDate, parse_customer_id, parse_price, parse_quantity, parse_timestamp, trim,
};
use crate::schema::{
    AMOUNT_PRECISION, InputColumn, PRICE_PRECISION, PRICE_SCALE, rejected_schema, retail_schema,
};

/// The `retail` table's columns being built, in schema order.
struct Columns {
    invoice_no: StringBuilder,
    stock_code: StringBuilder,
    description: StringBuilder,
    quantity: Int32Builder,
    invoice_date: TimestampMicrosecondBuilder,
    unit_price: Decimal128Builder,
    customer_id: Int64Builder,
    country: StringBuilder,
    month: StringBuilder,
    amount: Decimal128Builder,
    is_cancellation: BooleanBuilder,
}

impl Columns {
    /// Columns with room for `rows` rows and `text[i]` bytes in the i-th text
    /// column (invoice, stock code, description, country, month).
    fn with_capacity(rows: usize, text: [usize; 5]) -> Self {
        Columns {
            invoice_no: StringBuilder::with_capacity(rows, text[0]),
            stock_code: StringBuilder::with_capacity(rows, text[1]),
            description: StringBuilder::with_capacity(rows, text[2]),
            quantity: Int32Builder::with_capacity(rows),
            invoice_date: TimestampMicrosecondBuilder::with_capacity(rows),
            unit_price: decimal_builder(PRICE_PRECISION, rows),
            customer_id: Int64Builder::with_capacity(rows),
            country: StringBuilder::with_capacity(rows, text[3]),
            month: StringBuilder::with_capacity(rows, text[4]),
            amount: decimal_builder(AMOUNT_PRECISION, rows),
            is_cancellation: BooleanBuilder::with_capacity(rows),
        }
    }

    /// Empty columns with room for `rows` rows and as much text as these hold.
    fn of_size(&self, rows: usize) -> Self {
        let text = |b: &StringBuilder| b.values_slice().len();
        Self::with_capacity(
            rows,
            [
                text(&self.invoice_no),
                text(&self.stock_code),
                text(&self.description),
                text(&self.country),
                text(&self.month),
            ],
        )
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.invoice_no.finish()),
            Arc::new(self.stock_code.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.invoice_date.finish()),
            Arc::new(self.unit_price.finish()),
            Arc::new(self.customer_id.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.month.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.is_cancellation.finish()),
        ]
    }
}

/// Accumulates valid rows of the `retail` table.
pub struct RetailBuilder {
    columns: Columns,
    rows: usize,
    /// Dates repeat for every line of an invoice: remember the last one parsed.
    last_date: (String, Option<ParsedDate>),
    month_text: String,
    /// The (year, month) `month_text` holds.
    month_of_text: Option<(i32, u32)>,
}

impl Default for RetailBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RetailBuilder {
    pub fn new() -> Self {
        RetailBuilder {
            columns: Columns::with_capacity(0, [0; 5]),
            rows: 0,
            last_date: (String::new(), None),
            month_text: String::new(),
            month_of_text: None,
        }
    }

    /// Rows accumulated since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn parse_date(&mut self, s: &str) -> Result<ParsedDate, String> {
        if let (last, Some(d)) = &self.last_date
            && last == s
        {
            return Ok(*d);
        }
        let d = parse_timestamp(s)?;
        self.last_date.0.clear();
        self.last_date.0.push_str(s);
        self.last_date.1 = Some(d);
        Ok(d)
    }

    /// Parses one record's fields (`positions` maps each [`InputColumn`] to a field
    /// index) and appends it, or returns why it cannot be loaded. Nothing is appended
    /// when an error is returned.
    pub fn push(&mut self, fields: &Fields, positions: &[usize; 8]) -> Result<(), String> {
        let get = |c: InputColumn| fields.get(positions[c as usize]);
        let invoice_no = trim(get(InputColumn::InvoiceNo));
        if invoice_no.is_empty() {
            return Err("missing invoice_no".into());
        }
        let date_text = trim(get(InputColumn::InvoiceDate));
        if date_text.is_empty() {
            return Err("missing invoice_date".into());
        }
        let quantity = parse_quantity(get(InputColumn::Quantity))?;
        let date = self.parse_date(date_text)?;
        let price = parse_price(get(InputColumn::UnitPrice))?;
        let customer = parse_customer_id(get(InputColumn::CustomerId))?;
        let amount = price * i128::from(quantity);

        let c = &mut self.columns;
        c.invoice_no.append_value(invoice_no);
        c.stock_code.append_value(trim(get(InputColumn::StockCode)));
        append_text(&mut c.description, get(InputColumn::Description));
        c.quantity.append_value(quantity);
        c.invoice_date.append_value(date.micros);
        c.unit_price.append_value(price);
        c.customer_id.append_option(customer);
        append_text(&mut c.country, get(InputColumn::Country));
        // Lines come in date order, so the month's text is nearly always the last
        // line's: written again only when the month changes.
        if self.month_of_text != Some((date.year, date.month)) {
            self.month_text.clear();
            use std::fmt::Write;
            let _ = write!(self.month_text, "{:04}-{:02}", date.year, date.month);
            self.month_of_text = Some((date.year, date.month));
        }
        c.month.append_value(&self.month_text);
        c.amount.append_value(amount);
        c.is_cancellation.append_value(invoice_no.starts_with('C'));
        self.rows += 1;
        Ok(())
    }

    /// Takes the buffered rows as a batch of the `retail` schema. The next rows go
    /// to buffers of this batch's size instead of growing them again (copies that
    /// were 3 % of an ingest's profile).
    pub fn finish(&mut self) -> RecordBatch {
        let next = self.columns.of_size(self.rows);
        let full = std::mem::replace(&mut self.columns, next);
        self.rows = 0;
        RecordBatch::try_new(retail_schema(), full.finish())
            .expect("builders match the retail schema")
    }
}

fn decimal_builder(precision: u8, rows: usize) -> Decimal128Builder {
    Decimal128Builder::with_capacity(rows)
        .with_precision_and_scale(precision, PRICE_SCALE)
        .expect("valid decimal type")
}

/// Appends trimmed text, or null when it is empty.
fn append_text(b: &mut StringBuilder, s: &str) {
    let t = trim(s);
    if t.is_empty() {
        b.append_null();
    } else {
        b.append_value(t);
    }
}

/// Accumulates rows of the `retail_rejected` quarantine table.
pub struct RejectedBuilder {
    source_file: StringBuilder,
    line: Int64Builder,
    raw: StringBuilder,
    reason: StringBuilder,
    ingest_id: StringBuilder,
    rows: usize,
}

impl Default for RejectedBuilder {
    fn default() -> Self {
        RejectedBuilder {
            source_file: StringBuilder::new(),
            line: Int64Builder::new(),
            raw: StringBuilder::new(),
            reason: StringBuilder::new(),
            ingest_id: StringBuilder::new(),
            rows: 0,
        }
    }
}

impl RejectedBuilder {
    /// Rows accumulated since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Records one rejected row. Invalid UTF-8 in `raw` is kept as U+FFFD.
    pub fn push(
        &mut self,
        source_file: &str,
        line: u64,
        raw: &[u8],
        reason: &str,
        ingest_id: &str,
    ) {
        self.source_file.append_value(source_file);
        self.line.append_value(line as i64);
        self.raw.append_value(String::from_utf8_lossy(raw));
        self.reason.append_value(reason);
        self.ingest_id.append_value(ingest_id);
        self.rows += 1;
    }

    /// Takes the buffered rows as a batch of the `retail_rejected` schema.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source_file.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.ingest_id.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(rejected_schema(), columns)
            .expect("builders match the rejected schema")
    }
}
