//! Forgotten customers stay forgotten: an ingest drops the rows of every customer
//! in the warehouse's forget list (`lgs forget`), and counts them (rows read =
//! loaded + quarantined + forgotten). A line that cannot be parsed but names a
//! forgotten customer in one of its fields is dropped too, not quarantined.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Int64Type};

use crate::error::{LgsError, Result};
use crate::policy::pseudonym::Pseudonym;
use crate::warehouse::Warehouse;

/// The forget list, with the key to recognise its customers.
#[derive(Debug)]
pub(super) struct Filter {
    pseudonym: Pseudonym,
    forgotten: HashSet<i64>,
}

impl Filter {
    /// The filter of `warehouse`'s forget list (`None`: nobody was forgotten).
    pub async fn load(warehouse: &Warehouse, key: Option<&Arc<[u8]>>) -> Result<Option<Filter>> {
        let list = warehouse.forget_list().await?;
        if list.pseudonyms.is_empty() {
            return Ok(None);
        }
        let key = key.ok_or_else(|| LgsError::InvalidArgument {
            what: "pseudonym key",
            message: format!(
                "customers were forgotten in this warehouse ({} in its forget list) and every \
                 ingest drops their rows, which needs the key they were forgotten with: set \
                 LGS_PSEUDONYM_KEY or give --policy with its pseudonym_key_file",
                list.pseudonyms.len()
            ),
        })?;
        list.check_key(key)?;
        Ok(Some(Filter {
            pseudonym: Pseudonym::new(key.clone()),
            forgotten: list.pseudonyms.into_iter().collect(),
        }))
    }

    /// `batch` without the rows of forgotten customers, and how many it dropped.
    pub fn rows(&self, batch: RecordBatch) -> Result<(RecordBatch, u64)> {
        let Ok(at) = batch.schema().index_of("customer_id") else {
            return Ok((batch, 0));
        };
        let ids = cast(batch.column(at), &DataType::Int64)
            .map_err(|e| LgsError::Worker(format!("reading customer ids: {e}")))?;
        let pseudonyms = self.pseudonym.ints(ids.as_primitive::<Int64Type>());
        let keep: BooleanArray = pseudonyms
            .iter()
            .map(|p| Some(!p.is_some_and(|p| self.forgotten.contains(&p))))
            .collect();
        let dropped = keep.len() - keep.true_count();
        if dropped == 0 {
            return Ok((batch, 0));
        }
        let kept = filter_record_batch(&batch, &keep)
            .map_err(|e| LgsError::Worker(format!("dropping forgotten rows: {e}")))?;
        Ok((kept, dropped as u64))
    }

    /// Whether a raw line (a CSV line, a JSON message) names a forgotten customer
    /// in one of its fields.
    pub fn names_forgotten(&self, raw: &[u8]) -> bool {
        String::from_utf8_lossy(raw)
            .split([',', ';', '|', '\t', ':', '{', '}', '[', ']'])
            .any(|field| {
                let field = field.trim().trim_matches('"').trim();
                let whole = match field.split_once('.') {
                    Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int,
                    _ => field,
                };
                whole.len() <= 18
                    && whole
                        .parse::<i64>()
                        .is_ok_and(|id| self.forgotten.contains(&self.pseudonym.of_int(id)))
            })
    }
}
