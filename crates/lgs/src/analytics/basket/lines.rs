//! The baskets of a scope and their items, from one aggregation of the lines by
//! invoice: each basket's stock codes, quantities (and, with items by description,
//! trimmed descriptions) as lists, which are read here into item ids.
//!
//! One hash aggregation on the invoice replaces the three it took before (the
//! distinct invoices, the (invoice, item) sums and the baskets' item lists), and
//! the codes are checked against [`is_product`] once per distinct code instead of
//! a regular expression per line.

use datafusion::arrow::array::{
    Array, AsArray, GenericListArray, GenericStringArray, Int32Array, Int64Array, RecordBatch,
    StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use datafusion::common::HashMap;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::TryStreamExt;

use super::ItemKey;
use crate::analytics::engine::staged;
use crate::error::{LgsError, QueryContext, Result};
use crate::schema::RETAIL_TABLE;

/// Whether a stock code is a product's: five ASCII digits and optional ASCII
/// letters, as the SQL test [`super::scope::PRODUCT`] (a test checks they agree).
pub(crate) fn is_product(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() >= 5
        && b[..5].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_alphabetic)
}

/// The baskets in scope and the items in each (an item is in a basket when its
/// lines there sum to at least one unit).
#[derive(Debug, Default)]
pub(crate) struct Baskets {
    /// Baskets in scope, those without any item included.
    pub count: u64,
    /// Each item by id.
    pub names: Vec<String>,
    /// Each item's number of baskets (by id).
    pub counts: Vec<u64>,
    /// The items (sorted ids) of the baskets that have any, one after another:
    /// basket `b` holds `items[ends[b - 1]..ends[b]]`.
    items: Vec<u32>,
    ends: Vec<usize>,
    /// With [`customer_baskets`], the customer of each basket that has items.
    pub customers: Vec<i64>,
    /// The memory pool's account of what the baskets hold (released with them):
    /// the aggregation that emits them spills sooner as they grow.
    held: Option<MemoryReservation>,
}

impl Baskets {
    /// The baskets with at least one item, each as its items' ids.
    pub fn each(&self) -> impl Iterator<Item = &[u32]> {
        (0..self.ends.len()).map(|b| self.basket(b))
    }

    /// The bytes the baskets hold, roughly (the names' text as their lengths).
    fn heap_bytes(&self) -> usize {
        self.items.capacity() * size_of::<u32>()
            + (self.ends.capacity() + self.counts.capacity()) * size_of::<u64>()
            + self.customers.capacity() * size_of::<i64>()
            + self
                .names
                .iter()
                .map(|n| n.len() + size_of::<String>())
                .sum::<usize>()
    }

    /// The items of the `b`-th basket that has any.
    pub fn basket(&self, b: usize) -> &[u32] {
        let start = if b == 0 { 0 } else { self.ends[b - 1] };
        &self.items[start..self.ends[b]]
    }
}

/// What is read from the batches: the item ids met so far and the basket being
/// summed.
#[derive(Default)]
struct Reader {
    out: Baskets,
    /// Each item's id by name.
    ids: HashMap<String, u32>,
    /// Each stock code met: whether it is a product's (with items by description).
    products: HashMap<String, bool>,
    /// The current basket's (item, quantity) lines.
    lines: Vec<(u32, i64)>,
}

impl Reader {
    /// The id of an item, or None when it is not one (a stock code that is not a
    /// product's, with items by code).
    fn item(&mut self, name: &str, by_code: bool) -> Option<u32> {
        if let Some(&id) = self.ids.get(name) {
            return (id != u32::MAX).then_some(id);
        }
        // Non-products are remembered too (as u32::MAX), so each is checked once.
        let id = if by_code && !is_product(name) {
            u32::MAX
        } else {
            self.out.names.push(name.to_string());
            self.out.counts.push(0);
            self.out.names.len() as u32 - 1
        };
        self.ids.insert(name.to_string(), id);
        (id != u32::MAX).then_some(id)
    }

    fn product(&mut self, code: &str) -> bool {
        if let Some(&p) = self.products.get(code) {
            return p;
        }
        let p = is_product(code);
        self.products.insert(code.to_string(), p);
        p
    }

    /// Ends a basket (of `customer`, when the baskets are by customer): its items
    /// are those whose lines sum to at least one unit.
    fn close(&mut self, customer: Option<i64>) {
        self.out.count += 1;
        self.lines.sort_unstable();
        let before = self.out.items.len();
        let mut i = 0;
        while i < self.lines.len() {
            let item = self.lines[i].0;
            let mut units = 0i64;
            while i < self.lines.len() && self.lines[i].0 == item {
                units += self.lines[i].1;
                i += 1;
            }
            if units >= 1 {
                self.out.items.push(item);
                self.out.counts[item as usize] += 1;
            }
        }
        if self.out.items.len() > before {
            self.out.ends.push(self.out.items.len());
            self.out.customers.extend(customer);
        }
        self.lines.clear();
    }

    /// Reads one batch of (codes, quantities[, descriptions]) lists, and with
    /// `by_customer` each basket's customer in the last column.
    fn batch(
        &mut self,
        batch: &RecordBatch,
        key: ItemKey,
        by_customer: bool,
    ) -> std::result::Result<(), String> {
        let list = |i: usize| {
            batch.column(i).as_list_opt::<i32>().ok_or_else(|| {
                format!(
                    "array_agg gave {} for column {i}",
                    batch.column(i).data_type()
                )
            })
        };
        let (codes, quantities) = (list(0)?, list(1)?);
        // The lists of one group hold its lines in the same order; a line's code
        // and quantity are read at the same index, so the layouts must agree.
        if codes.value_offsets() != quantities.value_offsets() {
            return Err("the codes' and quantities' lists differ in length".into());
        }
        let units = quantities
            .values()
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| format!("quantities as {}", quantities.values().data_type()))?;
        let customers = match by_customer {
            true => {
                let column = batch.column(batch.num_columns() - 1);
                let ids = column
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| format!("customers as {}", column.data_type()))?;
                if ids.null_count() > 0 {
                    return Err("a basket without a customer".into());
                }
                Some(ids)
            }
            false => None,
        };
        match key {
            ItemKey::StockCode => with_strings(codes.values(), |names| {
                self.read(codes, units, customers, |r, i| {
                    names
                        .is_valid(i)
                        .then(|| r.item(names.value(i), true))
                        .flatten()
                })
            })?,
            ItemKey::Description => {
                let descriptions = list(2)?;
                if descriptions.value_offsets() != codes.value_offsets() {
                    return Err("the codes' and descriptions' lists differ in length".into());
                }
                with_strings(codes.values(), |codes_text| {
                    with_strings(descriptions.values(), |names| {
                        self.read(codes, units, customers, |r, i| {
                            if !codes_text.is_valid(i) || !r.product(codes_text.value(i)) {
                                return None;
                            }
                            let name = names.is_valid(i).then(|| names.value(i))?;
                            if name.is_empty() {
                                None
                            } else {
                                r.item(name, false)
                            }
                        })
                    })
                })??
            }
        }
        Ok(())
    }

    /// Walks each basket's lines: `item` gives a line's item (by its index in the
    /// lists' values), or None when the line is not an item's.
    fn read(
        &mut self,
        lists: &GenericListArray<i32>,
        units: &Int32Array,
        customers: Option<&Int64Array>,
        mut item: impl FnMut(&mut Self, usize) -> Option<u32>,
    ) {
        let offsets = lists.value_offsets();
        for (row, w) in offsets.windows(2).enumerate() {
            for i in w[0] as usize..w[1] as usize {
                if let Some(id) = item(self, i)
                    && units.is_valid(i)
                {
                    self.lines.push((id, units.value(i) as i64));
                }
            }
            self.close(customers.map(|c| c.value(row)));
        }
    }
}

/// Calls `f` with the string values of a list, whether Utf8, LargeUtf8 or views.
fn with_strings<T>(
    values: &dyn Array,
    f: impl FnOnce(&dyn StringValues) -> T,
) -> std::result::Result<T, String> {
    match values.data_type() {
        DataType::Utf8 => Ok(f(values.as_string::<i32>())),
        DataType::LargeUtf8 => Ok(f(values.as_string::<i64>())),
        DataType::Utf8View => Ok(f(values.as_string_view())),
        other => Err(format!("strings as {other}")),
    }
}

/// Strings by index, whatever the array's layout.
trait StringValues {
    fn is_valid(&self, i: usize) -> bool;
    fn value(&self, i: usize) -> &str;
}

macro_rules! string_values {
    ($($t:ty),*) => {$(
        impl StringValues for $t {
            fn is_valid(&self, i: usize) -> bool {
                Array::is_valid(self, i)
            }
            fn value(&self, i: usize) -> &str {
                <$t>::value(self, i)
            }
        }
    )*};
}

string_values!(
    GenericStringArray<i32>,
    GenericStringArray<i64>,
    StringViewArray
);

/// The baskets of the scope (`scope` and `params`, from [`super::Scope::sql`]) and
/// their items by `key`.
pub(crate) async fn baskets(
    ctx: &SessionContext,
    key: ItemKey,
    scope: &str,
    params: Vec<ScalarValue>,
) -> Result<Baskets> {
    let described = match key {
        ItemKey::StockCode => "",
        ItemKey::Description => ", array_agg(trim(description)) AS descriptions",
    };
    let sql = format!(
        "SELECT array_agg(stock_code) AS codes, array_agg(quantity) AS quantities{described} \
         FROM {RETAIL_TABLE} WHERE {scope} GROUP BY invoice_no"
    );
    read(ctx, &sql, params, key, false, "products: baskets' lines").await
}

/// The baskets of the scope's customers (lines without one left out), a basket
/// being a customer's lines of one invoice, items by stock code, with each
/// basket's customer in [`Baskets::customers`].
pub(crate) async fn customer_baskets(
    ctx: &SessionContext,
    scope: &str,
    params: Vec<ScalarValue>,
) -> Result<Baskets> {
    let sql = format!(
        "SELECT array_agg(stock_code) AS codes, array_agg(quantity) AS quantities, customer_id \
         FROM {RETAIL_TABLE} WHERE {scope} AND customer_id IS NOT NULL \
         GROUP BY invoice_no, customer_id"
    );
    let key = ItemKey::StockCode;
    read(ctx, &sql, params, key, true, "products: customers' baskets").await
}

async fn read(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<ScalarValue>,
    key: ItemKey,
    by_customer: bool,
    context: &'static str,
) -> Result<Baskets> {
    if crate::analytics::shared::bounded(ctx) {
        // The baskets grow beside the aggregation that emits them.
        crate::memory::return_large_frees();
    }
    staged(context, async {
        let df = ctx.sql(sql).await.context(context)?;
        let df = df.with_param_values(params).context(context)?;
        let mut stream = df.execute_stream().await.context(context)?;
        let mut reader = Reader::default();
        let held = MemoryConsumer::new(context).register(&ctx.runtime_env().memory_pool);
        while let Some(batch) = stream.try_next().await.context(context)? {
            reader
                .batch(&batch, key, by_customer)
                .map_err(|why| LgsError::query(context, DataFusionError::Internal(why)))?;
            held.resize(reader.out.heap_bytes());
        }
        reader.out.held = Some(held);
        Ok(reader.out)
    })
    .await
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{BooleanArray, StringArray};

    use super::*;
    use crate::analytics::basket::scope::PRODUCT;

    /// The Rust test and the SQL one agree on codes near the edge of the pattern.
    #[tokio::test]
    async fn is_product_agrees_with_the_sql_test() {
        let codes = [
            "85123A",
            "22423",
            "85099bc",
            "POST",
            "C2",
            "M",
            "BANK CHARGES",
            "DCGS0003",
            "1234",
            "12345 ",
            " 12345",
            "123456",
            "12345A1",
            "",
            "gift_0001_10",
            "15056BL",
            "12345é",
            "١٢٣٤٥",
            "12345\n",
            "AMAZONFEE",
            "84406G",
            "TEST001",
            "47566b",
        ];
        let ctx = SessionContext::new();
        let batch = RecordBatch::try_from_iter([(
            "stock_code",
            std::sync::Arc::new(StringArray::from(codes.to_vec())) as _,
        )])
        .unwrap();
        ctx.register_batch("codes", batch).unwrap();
        let sql = format!("SELECT stock_code, {PRODUCT} AS product FROM codes");
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let mut checked = 0;
        for b in &batches {
            let names = b.column(0).as_string::<i32>();
            let sql_says = b.column(1).as_any().downcast_ref::<BooleanArray>().unwrap();
            for i in 0..b.num_rows() {
                let code = names.value(i);
                assert_eq!(is_product(code), sql_says.value(i), "{code:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, codes.len());
        let products: Vec<&str> = codes.into_iter().filter(|c| is_product(c)).collect();
        assert_eq!(
            products,
            ["85123A", "22423", "85099bc", "15056BL", "84406G", "47566b"]
        );
    }
}
