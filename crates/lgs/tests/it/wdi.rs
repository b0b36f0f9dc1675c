//! World Development Indicators: the three file shapes, missing values, Namibia, the
//! partitioned table and the original queries (checked against a computation from the
//! CSV itself).

use std::collections::BTreeMap;

use lgs::LgsError;
use lgs::ingest::{Dataset, IngestOptions};

use crate::common::{Scratch, repo_data};

fn wdi(indicator: Option<(&str, &str)>) -> IngestOptions {
    IngestOptions {
        dataset: Dataset::Wdi {
            indicator: indicator.map(|i| i.0.to_string()),
            indicator_name: indicator.map(|i| i.1.to_string()),
        },
        ..IngestOptions::default()
    }
}

const GDP_GROWTH: (&str, &str) = ("NY.GDP.MKTP.KD.ZG", "GDP growth (annual %)");

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/wdi")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

async fn loaded() -> Scratch {
    let s = Scratch::new();
    let wide = repo_data("wdi/fertility_wide.csv");
    let api = repo_data("wdi/GDP_PCT_A.csv");
    s.ingest_with(&[&wide], &wdi(None)).await.unwrap();
    s.ingest_with(&[&api], &wdi(Some(GDP_GROWTH)))
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn wide_and_api_files_load_with_missing_values_as_nulls() {
    let s = loaded().await;
    // 219 wide rows × 54 year columns, plus 16,104 API rows.
    assert_eq!(s.rows("SELECT count(*) FROM wdi").await, vec!["27930"]);
    assert_eq!(
        s.rows("SELECT count(*) FROM wdi WHERE indicator_code = 'SP.DYN.TFRT.IN'")
            .await,
        vec!["11826"]
    );
    // Quoted commas survive; empty cells are nulls, not zeros.
    let name = s
        .rows("SELECT DISTINCT indicator_name FROM wdi WHERE indicator_code = 'SP.DYN.TFRT.IN'")
        .await;
    assert_eq!(name, vec!["Fertility rate, total (births per woman)"]);
    let zeros = s
        .rows("SELECT count(*) FROM wdi WHERE indicator_value = 0 AND indicator_code = 'SP.DYN.TFRT.IN'")
        .await;
    assert_eq!(zeros, vec!["0"]);
    // Namibia's code is `NA`; `NA` values are nulls.
    let namibia = s
        .rows("SELECT country_name, count(*), count(indicator_value) FROM wdi WHERE country_code = 'NA' GROUP BY 1")
        .await;
    assert_eq!(namibia, vec!["Namibia|61|39"]);
    let info = s.warehouse.tables().await.unwrap();
    let names: Vec<&str> = info.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ingest_log", "wdi"]);
}

#[tokio::test]
async fn the_original_queries() {
    let s = loaded().await;
    let canada = s.rows(&example("canada_gdp_growth_2015.sql")).await;
    assert_eq!(canada, vec!["0.659176864"]);

    // The year filter reads one partition only.
    let query = example("canada_gdp_growth_2015.sql");
    let plan = s
        .rows(&format!(
            "EXPLAIN {}",
            query.trim_end().trim_end_matches(';')
        ))
        .await
        .join("\n");
    assert_eq!(plan.matches("DataSourceExec").count(), 1, "{plan}");
    assert!(plan.contains("year=2015"), "{plan}");

    let by_country = s.rows(&example("gdp_growth_by_country.sql")).await;
    assert_eq!(by_country.len(), 16_104);
    assert!(
        by_country[0].starts_with("Afghanistan|AF|1960|"),
        "{}",
        by_country[0]
    );

    // Independent: the maximum per country straight from the CSV.
    let text = std::fs::read_to_string(repo_data("wdi/GDP_PCT_A.csv")).unwrap();
    let mut best: BTreeMap<String, (f64, Vec<i32>)> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (code, value, year) = (f[0], f[f.len() - 2], f[f.len() - 1]);
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        let year: i32 = year.parse().unwrap();
        let e = best.entry(code.to_string()).or_insert((f64::MIN, vec![]));
        if v > e.0 {
            *e = (v, vec![year]);
        } else if v == e.0 {
            e.1.push(year);
        }
    }
    let expected: usize = best.values().map(|(_, years)| years.len()).sum();
    let rows = s.rows(&example("highest_gdp_growth_year.sql")).await;
    assert_eq!(rows.len(), expected);
    for row in &rows {
        let cells: Vec<&str> = row.split('|').collect();
        let (max, years) = &best[cells[1]];
        assert!(years.contains(&cells[2].parse().unwrap()), "{row}");
        assert_eq!(cells[3].parse::<f64>().unwrap(), *max, "{row}");
    }
}

#[tokio::test]
async fn bad_wdi_input_is_a_clear_error() {
    let s = Scratch::new();
    let no_years = s.file(
        "w.csv",
        "Country Name,Country Code,Indicator Name,Indicator Code,1960,nineteen61\nA,AA,X,X.1,1,2\n",
    );
    let err = s.ingest_with(&[&no_years], &wdi(None)).await.unwrap_err();
    assert!(matches!(err, LgsError::BadHeader { .. }));
    assert!(
        err.to_string()
            .contains("w.csv:1: column 6 (\"nineteen61\") of a wide WDI file is not a year"),
        "{err}"
    );

    let api = repo_data("wdi/GDP_US_A.csv");
    let err = s.ingest_with(&[&api], &wdi(None)).await.unwrap_err();
    assert!(
        err.to_string().contains("does not name its indicator"),
        "{err}"
    );

    // One --indicator for several single-indicator files would mislabel them.
    let other = repo_data("wdi/GDP_PCT_CAP_A.csv");
    let err = s
        .ingest_with(&[&api, &other], &wdi(Some(GDP_GROWTH)))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("ingest single-indicator files one at a time"),
        "{err}"
    );

    // A bad value quarantines its record with the year it was for.
    let bad = s.file(
        "bad.csv",
        "Country Name,Country Code,Indicator Name,Indicator Code,1960,1961\nA,AA,X,X.1,1,oops\nB,BB,X,X.1,,2\n",
    );
    let report = s.ingest_with(&[&bad], &wdi(None)).await.unwrap();
    assert_eq!(
        (report.rows_read, report.rows_loaded, report.rows_rejected),
        (2, 1, 1)
    );
    assert_eq!(
        s.rows("SELECT line, reason FROM wdi_rejected").await,
        vec!["2|bad indicator value \"oops\" for 1961"]
    );
    assert_eq!(
        s.rows("SELECT year, country_code, indicator_value FROM wdi ORDER BY year")
            .await,
        vec!["1960|BB|", "1961|BB|2.0"]
    );
}
