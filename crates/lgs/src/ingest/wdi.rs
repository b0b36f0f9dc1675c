//! World Development Indicators files, in the three shapes they come in:
//!
//! * the World Bank bulk download, wide: `Country Name,Country Code,Indicator Name,
//!   Indicator Code,1960,...` — unpivoted, one row per year column; an empty cell is
//!   a missing value (null), never a zero;
//! * the long schema of the original Hive table: `year, countryName, countryCode,
//!   indicatorName, indicatorCode, indicatorValue`;
//! * the API export of one indicator, `ISO,COUNTRY,VALUE,YEAR`, where `NA` in VALUE is
//!   a missing value but `NA` in ISO is Namibia; the indicator comes from the caller.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, RecordBatch, StringBuilder,
};

use super::csv::Fields;
use super::format::RowFormat;
use crate::schema::{normalise, wdi_schema};

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Unknown,
    /// Year of each column from the fifth on (`None`: an empty trailing column).
    Wide(Vec<Option<i32>>),
    /// Positions of year, country name, country code, indicator name, code, value.
    Long([usize; 6]),
    /// Positions of ISO, COUNTRY, VALUE, YEAR.
    Api([usize; 4]),
}

pub(crate) struct WdiFormat {
    shape: Shape,
    indicator: Option<String>,
    indicator_name: Option<String>,
    year: Int32Builder,
    country_name: StringBuilder,
    country_code: StringBuilder,
    indicator_name_col: StringBuilder,
    indicator_code: StringBuilder,
    value: Float64Builder,
    rows: usize,
}

fn parse_year(s: &str) -> Result<i32, String> {
    let t = s.trim();
    match t.parse::<i32>() {
        Ok(y) if (1800..=2200).contains(&y) && t.len() == 4 => Ok(y),
        _ => Err(format!("bad year {s:?}")),
    }
}

/// A value: empty or `NA` is missing; anything else must be a number.
fn parse_value(s: &str) -> Result<Option<f64>, String> {
    let t = s.trim();
    if t.is_empty() || t == "NA" || t == ".." {
        return Ok(None);
    }
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or_else(|| format!("bad indicator value {s:?}"))
}

impl WdiFormat {
    pub(crate) fn new(indicator: Option<String>, indicator_name: Option<String>) -> Self {
        WdiFormat {
            shape: Shape::Unknown,
            indicator,
            indicator_name,
            year: Int32Builder::new(),
            country_name: StringBuilder::new(),
            country_code: StringBuilder::new(),
            indicator_name_col: StringBuilder::new(),
            indicator_code: StringBuilder::new(),
            value: Float64Builder::new(),
            rows: 0,
        }
    }

    fn append(
        &mut self,
        year: i32,
        country_name: &str,
        country_code: &str,
        indicator_name: &str,
        indicator_code: &str,
        value: Option<f64>,
    ) {
        let text = |b: &mut StringBuilder, s: &str| {
            let t = s.trim();
            if t.is_empty() {
                b.append_null()
            } else {
                b.append_value(t)
            }
        };
        self.year.append_value(year);
        text(&mut self.country_name, country_name);
        self.country_code.append_value(country_code.trim());
        text(&mut self.indicator_name_col, indicator_name);
        self.indicator_code.append_value(indicator_code.trim());
        self.value.append_option(value);
        self.rows += 1;
    }
}

const WIDE_PREFIX: [&str; 4] = [
    "countryname",
    "countrycode",
    "indicatorname",
    "indicatorcode",
];
const LONG: [&str; 6] = [
    "year",
    "countryname",
    "countrycode",
    "indicatorname",
    "indicatorcode",
    "indicatorvalue",
];
const API: [&str; 4] = ["iso", "country", "value", "year"];

fn positions<const N: usize>(names: &[String], wanted: [&str; N]) -> Option<[usize; N]> {
    let mut out = [0; N];
    for (slot, w) in out.iter_mut().zip(wanted) {
        *slot = names.iter().position(|n| n == w)?;
    }
    Some(out)
}

impl RowFormat for WdiFormat {
    fn header(&mut self, names: &[&str]) -> Result<(), String> {
        let normalised: Vec<String> = names.iter().map(|n| normalise(n)).collect();
        if normalised.len() > 4 && normalised[..4] == WIDE_PREFIX {
            let mut years = Vec::new();
            for (i, name) in names[4..].iter().enumerate() {
                let last = i + 5 == names.len();
                if name.trim().is_empty() && last {
                    years.push(None);
                    continue;
                }
                years.push(Some(parse_year(name).map_err(|_| {
                    format!(
                        "column {} ({name:?}) of a wide WDI file is not a year",
                        i + 5
                    )
                })?));
            }
            self.shape = Shape::Wide(years);
        } else if let Some(p) = positions(&normalised, LONG) {
            self.shape = Shape::Long(p);
        } else if let Some(p) = positions(&normalised, API) {
            if self.indicator.is_none() {
                return Err(
                    "this file (ISO,COUNTRY,VALUE,YEAR) does not name its indicator: \
                     pass --indicator CODE (and --indicator-name NAME)"
                        .into(),
                );
            }
            self.shape = Shape::Api(p);
        } else {
            return Err(format!(
                "unknown WDI header {:?}; expected the wide World Bank layout \
                 (Country Name,Country Code,Indicator Name,Indicator Code,1960,...), \
                 the long layout (year,countryName,countryCode,indicatorName,indicatorCode,indicatorValue) \
                 or ISO,COUNTRY,VALUE,YEAR",
                names.join(",")
            ));
        }
        Ok(())
    }

    fn push(&mut self, fields: &Fields) -> Result<(), String> {
        match self.shape.clone() {
            Shape::Unknown => Err("no header".into()),
            Shape::Wide(years) => {
                // Parse every value first: a bad cell rejects the whole record.
                let mut values = Vec::with_capacity(years.len());
                for (i, year) in years.iter().enumerate() {
                    if let Some(year) = year {
                        let cell = fields.get(i + 4);
                        let v = parse_value(cell).map_err(|e| format!("{e} for {year}"))?;
                        values.push((*year, v));
                    }
                }
                if fields.get(1).trim().is_empty() || fields.get(3).trim().is_empty() {
                    return Err("missing country or indicator code".into());
                }
                for (year, v) in values {
                    self.append(
                        year,
                        fields.get(0),
                        fields.get(1),
                        fields.get(2),
                        fields.get(3),
                        v,
                    );
                }
                Ok(())
            }
            Shape::Long([y, cn, cc, inn, ic, v]) => {
                let year = parse_year(fields.get(y))?;
                let value = parse_value(fields.get(v))?;
                if fields.get(cc).trim().is_empty() || fields.get(ic).trim().is_empty() {
                    return Err("missing country or indicator code".into());
                }
                let (cn, cc, inn, ic) = (
                    fields.get(cn),
                    fields.get(cc),
                    fields.get(inn),
                    fields.get(ic),
                );
                self.append(year, cn, cc, inn, ic, value);
                Ok(())
            }
            Shape::Api([iso, country, v, y]) => {
                let year = parse_year(fields.get(y))?;
                // `NA` here is a missing value; `NA` in ISO is Namibia's code.
                let value = parse_value(fields.get(v))?;
                let code = fields.get(iso);
                if code.trim().is_empty() {
                    return Err("missing country code".into());
                }
                let indicator = self.indicator.clone().unwrap_or_default();
                let name = self.indicator_name.clone().unwrap_or_default();
                self.append(year, fields.get(country), code, &name, &indicator, value);
                Ok(())
            }
        }
    }

    fn buffered(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.year.finish()),
            Arc::new(self.country_name.finish()),
            Arc::new(self.country_code.finish()),
            Arc::new(self.indicator_name_col.finish()),
            Arc::new(self.indicator_code.finish()),
            Arc::new(self.value.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(wdi_schema(), columns).expect("builders match the wdi schema")
    }
}
