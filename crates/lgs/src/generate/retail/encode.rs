//! Generated lines as bytes and batches: CSV, pg_dump text, Parquet and Excel.

use crate::error::Result;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::path::Path;
use std::sync::Arc;

use super::*;

pub(super) fn invoice_text(line: &Line, out: &mut Vec<u8>) {
    if line.prefix != 0 {
        out.push(line.prefix);
    }
    out.extend_from_slice(itoa::Buffer::new().format(line.invoice).as_bytes());
}

pub(super) fn description<'a>(world: &'a World, line: &Line) -> Option<&'a str> {
    match line.note {
        0 => Some(&world.catalog.descriptions[line.product as usize]),
        1 => None,
        n => Some(NOTES[(n - 2) as usize]),
    }
}

/// `1.25`, `2.1`, `0.001`, `-11062.06`, `0.0`: the shortest decimal, like the real file.
pub(super) fn price_text(thousandths: i64, out: &mut Vec<u8>) {
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
pub(super) fn encode_text(world: &World, lines: &[Line], copy: bool) -> Vec<u8> {
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

pub(super) fn parquet_schema() -> SchemaRef {
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

pub(super) fn encode_batch(world: &World, lines: &[Line]) -> RecordBatch {
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

pub(super) fn write_xlsx(
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

pub(super) fn dump_header() -> String {
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

pub(super) const DUMP_TRAILER: &str = "\\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};

    #[test]
    pub(super) fn prices_print_like_the_real_file() {
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
    pub(super) fn calendar_skips_saturdays_and_christmas() {
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
