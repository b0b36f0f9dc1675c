//! Keyed pseudonyms: a masked column's values replaced by HMAC-SHA-256 of their
//! text under a secret key. The same value always gets the same pseudonym (so counts,
//! joins and groupings by customer still work), nobody without the key can compute
//! one from an id (so the ids cannot be enumerated, as a plain hash could), and no
//! pseudonym can be turned back into its id.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The function's name in plans (and in the cluster codec).
pub const NAME: &str = "lgs_pseudonym";

/// Distinct values outside the dense range remembered per key before that part of
/// the memo starts over.
const MEMO_LIMIT: usize = 1 << 20;

/// Values from 0 up to this one are remembered in a table indexed by the value
/// (customer numbers are five or six digits): at most 8 MiB per key, grown to the
/// largest value seen.
const DENSE_LIMIT: usize = 1 << 20;

/// A dense slot not computed yet (pseudonyms of integers are never negative).
const NOT_YET: i64 = -1;

/// Slots of the small direct-mapped cache each call keeps in front of the memo's
/// hash map (for values outside the dense range).
const LOCAL_SLOTS: usize = 1 << 10;

type Memo = RwLock<Memoised>;

/// The pseudonyms of integers computed so far under one key.
#[derive(Default)]
struct Memoised {
    /// `dense[v]` is the pseudonym of `v`, or [`NOT_YET`]: one indexed load per row
    /// where a hash map costs a hash and a probe into a table larger than the cache.
    dense: Vec<i64>,
    /// The values outside the dense range.
    sparse: HashMap<i64, i64, BuildHasherDefault<IdHasher>>,
}

impl std::fmt::Debug for Memoised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memoised")
            .field("dense_slots", &self.dense.len())
            .field("sparse", &self.sparse.len())
            .finish()
    }
}

impl Memoised {
    fn insert(&mut self, value: i64, pseudonym: i64) {
        match usize::try_from(value) {
            Ok(i) if i < DENSE_LIMIT => {
                if i >= self.dense.len() {
                    let len = (i + 1).next_power_of_two().clamp(1024, DENSE_LIMIT);
                    self.dense.resize(len, NOT_YET);
                }
                self.dense[i] = pseudonym;
            }
            _ => {
                if self.sparse.len() >= MEMO_LIMIT {
                    self.sparse.clear();
                }
                self.sparse.insert(value, pseudonym);
            }
        }
    }
}

/// Each key (by value) with its memo.
type Memos = Mutex<Vec<(Arc<[u8]>, Arc<Memo>)>>;

/// The memo of a key, shared by every session of the process: a server opens one
/// session per query, and each would otherwise compute every customer's HMAC anew.
fn memo_of(key: &Arc<[u8]>) -> Arc<Memo> {
    static MEMOS: OnceLock<Memos> = OnceLock::new();
    let mut memos = MEMOS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some((_, memo)) = memos.iter().find(|(k, _)| k[..] == key[..]) {
        return memo.clone();
    }
    let memo = Arc::new(Memo::default());
    memos.push((key.clone(), memo.clone()));
    memo
}

/// `lgs_pseudonym(value)`: an integer value becomes a positive `Int64` (63 bits of
/// the HMAC, far above any real id), anything else a 32-digit hexadecimal text
/// (128 bits). Nulls stay null: a guest line is still a guest line.
#[derive(Debug)]
pub struct Pseudonym {
    key: Arc<[u8]>,
    signature: Signature,
    /// Pseudonyms already computed under this key (customers repeat on every line
    /// they buy), shared by the process's sessions.
    memo: Arc<Memo>,
}

/// A hasher for integer keys: one multiplication (Fibonacci hashing), where the
/// default SipHash costs more than the rest of a memo lookup.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Pseudonym {
    pub fn new(key: Arc<[u8]>) -> Self {
        Pseudonym {
            memo: memo_of(&key),
            key,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    /// The function as an expression-ready UDF.
    pub fn udf(key: Arc<[u8]>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Pseudonym::new(key))
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    fn digest(mac: &Hmac<Sha256>, text: &[u8]) -> [u8; 32] {
        let mut mac = mac.clone();
        mac.update(text);
        mac.finalize().into_bytes().into()
    }

    /// The pseudonym of an integer: the first 63 bits of the HMAC of its decimal text.
    pub fn of_int(&self, value: i64) -> i64 {
        let digest = Self::digest(&self.mac(), itoa::Buffer::new().format(value).as_bytes());
        Self::int_of(&digest)
    }

    fn int_of(digest: &[u8; 32]) -> i64 {
        let head: [u8; 8] = digest[..8].try_into().expect("8 bytes");
        (u64::from_be_bytes(head) >> 1) as i64
    }

    /// The pseudonym of a text: the first 128 bits of its HMAC in hexadecimal.
    pub fn of_text(&self, value: &str) -> String {
        Self::hex_of(&Self::digest(&self.mac(), value.as_bytes()))
    }

    fn hex_of(digest: &[u8; 32]) -> String {
        crate::format::hex(&digest[..16])
    }

    /// The pseudonyms of integer values (nulls stay null). One pass reads each
    /// value's pseudonym from the key's dense memo under a read lock (one indexed
    /// load per row, written straight into the output; without nulls, no null
    /// check either). The rest, values outside the dense range or not seen yet,
    /// are looked up in a small cache of this call and the memo's hash map; only
    /// values never seen are hashed, outside any lock, and added in one write.
    pub fn ints(&self, values: &Int64Array) -> Int64Array {
        let nulls = values.nulls().filter(|n| n.null_count() > 0);
        let mut rest: Vec<usize> = Vec::new();
        let mut missing: Vec<usize> = Vec::new();
        let mut out: Vec<i64> = {
            let memo = self.memo.read().unwrap_or_else(PoisonError::into_inner);
            let dense = memo.dense.as_slice();
            // A negative value wraps to beyond any dense table.
            let mut lookup = |i: usize, v: i64| match dense.get(v as usize) {
                Some(&to) if to != NOT_YET => to,
                _ => {
                    rest.push(i);
                    0
                }
            };
            let rows = values.values().iter().enumerate();
            let mut out: Vec<i64> = match nulls {
                None => rows.map(|(i, &v)| lookup(i, v)).collect(),
                Some(n) => rows
                    .map(|(i, &v)| if n.is_null(i) { 0 } else { lookup(i, v) })
                    .collect(),
            };
            if !rest.is_empty() {
                Self::from_sparse(&memo, values.values(), &rest, &mut out, &mut missing);
            }
            out
        };
        if !missing.is_empty() {
            let mac = self.mac();
            let mut buffer = itoa::Buffer::new();
            let mut new: HashMap<i64, i64, BuildHasherDefault<IdHasher>> = HashMap::default();
            for &i in &missing {
                let v = values.value(i);
                out[i] = *new.entry(v).or_insert_with(|| {
                    Self::int_of(&Self::digest(&mac, buffer.format(v).as_bytes()))
                });
            }
            let mut memo = self.memo.write().unwrap_or_else(PoisonError::into_inner);
            for (v, to) in new {
                memo.insert(v, to);
            }
        }
        Int64Array::new(out.into(), values.nulls().cloned())
    }

    /// The rows `rest` (not in the dense memo) from a small direct-mapped cache of
    /// this call and the memo's hash map; the rows found in neither go to `missing`.
    fn from_sparse(
        memo: &Memoised,
        values: &[i64],
        rest: &[usize],
        out: &mut [i64],
        missing: &mut Vec<usize>,
    ) {
        let slot = |v: i64| ((v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
        // Made at the first value outside the dense range (`rest` is mostly
        // values of the dense range not seen yet).
        let mut local: Vec<Option<(i64, i64)>> = Vec::new();
        for &i in rest {
            let v = values[i];
            if memo.dense.get(v as usize).is_some() {
                // In the dense range, not seen yet.
                missing.push(i);
                continue;
            }
            if local.is_empty() {
                local = vec![None; LOCAL_SLOTS];
            }
            let s = slot(v);
            match local[s] {
                Some((from, to)) if from == v => out[i] = to,
                _ => match memo.sparse.get(&v) {
                    Some(&to) => {
                        local[s] = Some((v, to));
                        out[i] = to;
                    }
                    None => missing.push(i),
                },
            }
        }
    }

    fn texts(&self, values: &ArrayRef) -> DfResult<ArrayRef> {
        let mac = self.mac();
        let text = datafusion::arrow::compute::cast(values, &DataType::Utf8)?;
        let out: StringArray = text
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(|v| Self::hex_of(&Self::digest(&mac, v.as_bytes()))))
            .collect();
        Ok(Arc::new(out))
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

impl PartialEq for Pseudonym {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Pseudonym {}

impl Hash for Pseudonym {
    fn hash<H: Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl ScalarUDFImpl for Pseudonym {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        match args {
            [t] if is_integer(t) => Ok(DataType::Int64),
            [_] => Ok(DataType::Utf8),
            _ => exec_err!("{NAME} takes one argument"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("{NAME} takes one argument");
        };
        let array = value.to_array(args.number_rows)?;
        let out: ArrayRef = if is_integer(array.data_type()) {
            let ints = datafusion::arrow::compute::cast(&array, &DataType::Int64)?;
            Arc::new(self.ints(ints.as_primitive::<Int64Type>()))
        } else {
            self.texts(&array)?
        };
        Ok(match value {
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
            }
            ColumnarValue::Array(_) => ColumnarValue::Array(out),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: HMAC-SHA-256 with key "Jefe".
    #[test]
    fn the_digest_is_hmac_sha256() {
        let p = Pseudonym::new(Arc::from(&b"Jefe"[..]));
        let digest = Pseudonym::digest(&p.mac(), b"what do ya want for nothing?");
        assert_eq!(
            Pseudonym::hex_of(&digest),
            "5bdcc146bf60754e6a042426089575c7"
        );
        assert_eq!(
            p.of_text("what do ya want for nothing?"),
            Pseudonym::hex_of(&digest)
        );
        // 0x5bdcc146bf60754e >> 1
        assert_eq!(
            Pseudonym::int_of(&digest),
            0x5bdc_c146_bf60_754e_u64 as i64 >> 1
        );
    }

    #[test]
    fn integers_keep_their_type_nulls_and_identity() {
        let p = Pseudonym::new(Arc::from(&b"a key of thirty-two bytes at least!"[..]));
        let other = Pseudonym::new(Arc::from(&b"another key of thirty-two bytes!!!"[..]));
        let ids = Int64Array::from(vec![
            Some(12346),
            Some(12346),
            None,
            Some(12347),
            Some(12346),
        ]);
        let out = p.ints(&ids);
        assert_eq!(out.value(0), out.value(1));
        assert_eq!(out.value(0), out.value(4));
        assert!(out.is_null(2));
        assert_ne!(out.value(0), out.value(3));
        assert_eq!(out.value(0), p.of_int(12346));
        assert_ne!(p.of_int(12346), other.of_int(12346), "the key matters");
        assert!(out.value(0) > 0 && out.value(0) != 12346);
    }

    /// Many values (more than the call's cache has slots, so slots collide), seen
    /// again by a second function with the same key: every one is its own HMAC.
    #[test]
    fn memoised_values_are_each_their_own_pseudonym() {
        let key: Arc<[u8]> = Arc::from(&b"the memo test key, thirty-two bytes"[..]);
        // Ids in the dense range, beyond it, and negative ones.
        let values: Int64Array = (0..6000i64)
            .map(|i| {
                let id = 10_000 + (i * 7919) % 2500;
                let id = match i % 3 {
                    0 => id,
                    1 => id + DENSE_LIMIT as i64 - 11_000,
                    _ => -id,
                };
                (i % 7 != 3).then_some(id)
            })
            .collect();
        // The same values without nulls (the loop without null checks), under a
        // key of their own so that they are computed, not found.
        let whole: Int64Array = values.iter().flatten().collect();
        let whole_key: Arc<[u8]> = Arc::from(&b"the memo test key without nulls!!!"[..]);
        let whole_first = Pseudonym::new(whole_key.clone()).ints(&whole);
        let whole_again = Pseudonym::new(whole_key.clone()).ints(&whole);
        let whole_fresh = Pseudonym::new(whole_key);
        let first = Pseudonym::new(key.clone()).ints(&values);
        let again = Pseudonym::new(key.clone()).ints(&values);
        let fresh = Pseudonym::new(key.clone());
        for i in 0..values.len() {
            assert_eq!(first.is_null(i), values.is_null(i), "row {i}");
            if values.is_valid(i) {
                assert_eq!(first.value(i), fresh.of_int(values.value(i)), "row {i}");
                assert_eq!(again.value(i), first.value(i), "row {i}");
            }
        }
        assert_eq!(whole_first.null_count(), 0);
        for (i, v) in whole.values().iter().enumerate() {
            assert_eq!(whole_first.value(i), whole_fresh.of_int(*v), "row {i}");
            assert_eq!(whole_again.value(i), whole_first.value(i), "row {i}");
        }
    }
}
