//! PostgreSQL expressions over the catalog that drivers send and DataFusion does
//! not plan as written, rewritten with the same answers. Set-returning functions
//! and composite values (drivers' key and index reflection) become DataFusion's
//! `unnest` of a list and `get_field` of a struct:
//!
//! - `generate_subscripts(a, d)` (SQLAlchemy): `unnest(generate_series(1,
//!   array_length(a, d)))`, which beside an `unnest(a)` in the same select list
//!   pairs each element with its subscript, as PostgreSQL does.
//! - `information_schema._pg_expandarray(a)` (pgjdbc's primary keys and index
//!   columns): rows of `(x, n)`, each element with its position, as
//!   `unnest(_pg_expandarray(a))` over a function that builds that list.
//! - `(row).field`, a field of a composite value: `get_field(row, 'field')`.
//!
//! And the `regproc` columns of `pg_type` (`typreceive`, `typinput`, …), which
//! datafusion-postgres's catalog holds as the function's name (as PostgreSQL
//! displays them), compared with a function's oid (Npgsql's type loading joins
//! `pg_proc.oid = pg_type.typreceive`): compared with the function's name
//! instead, the same rows (each of these functions' names is unique in
//! `pg_proc`; `-`, no function, matches none).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    Value, VisitorMut,
};

use super::pg_sql::call;

/// Rewrites the expressions the module names.
#[derive(Default)]
pub struct SetReturning {
    pub changed: bool,
}

impl VisitorMut for SetReturning {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(rewritten) = subscripts(expr)
            .or_else(|| expanded(expr))
            .or_else(|| field(expr))
            .or_else(|| by_name(expr))
        {
            *expr = rewritten;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// The arguments of a call to one of `names` (lowercase), if `expr` is one.
fn arguments<'a>(expr: &'a Expr, names: &[&str]) -> Option<Vec<&'a Expr>> {
    let Expr::Function(f) = expr else {
        return None;
    };
    if !names.contains(&f.name.to_string().to_ascii_lowercase().as_str()) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

fn subscripts(expr: &Expr) -> Option<Expr> {
    let names = ["generate_subscripts", "pg_catalog.generate_subscripts"];
    let [array, dimension] = arguments(expr, &names)?[..] else {
        return None;
    };
    let length = call("array_length", vec![array.clone(), dimension.clone()]);
    let one = Expr::value(Value::Number("1".into(), false));
    let series = call("generate_series", vec![one, length]);
    Some(call("unnest", vec![series]))
}

fn expanded(expr: &Expr) -> Option<Expr> {
    let names = ["_pg_expandarray", "information_schema._pg_expandarray"];
    let [array] = arguments(expr, &names)?[..] else {
        return None;
    };
    Some(call("unnest", vec![call(EXPANDED, vec![array.clone()])]))
}

fn field(expr: &Expr) -> Option<Expr> {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return None;
    };
    let (Expr::Nested(row), [AccessExpr::Dot(Expr::Identifier(name))]) =
        (root.as_ref(), access_chain.as_slice())
    else {
        return None;
    };
    let name = Expr::value(Value::SingleQuotedString(name.value.to_ascii_lowercase()));
    Some(call("get_field", vec![(**row).clone(), name]))
}

/// `pg_type`'s columns of type `regproc`.
const REGPROC: &[&str] = &[
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
];

fn by_name(expr: &Expr) -> Option<Expr> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = expr
    else {
        return None;
    };
    let last = |e: &Expr| match e {
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.to_ascii_lowercase()),
        Expr::Identifier(p) => Some(p.value.to_ascii_lowercase()),
        _ => None,
    };
    let is_regproc = |e: &Expr| last(e).is_some_and(|n| REGPROC.contains(&n.as_str()));
    let proname = |e: &Expr| match e {
        Expr::CompoundIdentifier(parts) if last(e).as_deref() == Some("oid") => {
            let mut parts = parts.clone();
            *parts.last_mut()? = Ident::new("proname");
            Some(Expr::CompoundIdentifier(parts))
        }
        _ => None,
    };
    let (oid, regproc) = match (is_regproc(left), is_regproc(right)) {
        (false, true) => (left, right),
        (true, false) => (right, left),
        _ => return None,
    };
    Some(Expr::BinaryOp {
        left: Box::new(proname(oid)?),
        op: BinaryOperator::Eq,
        right: regproc.clone(),
    })
}

/// The function behind `_pg_expandarray`: a list of `{x, n}`.
const EXPANDED: &str = "lgs_pg_expandarray";

#[derive(Debug, PartialEq, Eq, Hash)]
struct Expanded {
    signature: Signature,
}

fn pairs(element: &DataType) -> DataType {
    let fields = Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ]);
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(fields),
        true,
    )))
}

impl ScalarUDFImpl for Expanded {
    fn name(&self) -> &str {
        EXPANDED
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::List(element)] => Ok(pairs(element.data_type())),
            _ => Err(DataFusionError::Plan(
                "_pg_expandarray takes an array".into(),
            )),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<Arc<Field>> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Arc::new(Field::new(
            EXPANDED,
            self.return_type(&types)?,
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let list = arrays[0].as_list::<i32>();
        let DataType::List(element) = list.data_type() else {
            return Err(DataFusionError::Plan(
                "_pg_expandarray takes an array".into(),
            ));
        };
        // Each element's position in its own list, from 1.
        let positions: Int32Array = list
            .offsets()
            .windows(2)
            .flat_map(|w| 1..=(w[1] - w[0]))
            .collect();
        let values = list.values().slice(
            list.offsets()[0] as usize,
            (list.offsets()[list.len()] - list.offsets()[0]) as usize,
        );
        let DataType::List(pair) = pairs(element.data_type()) else {
            unreachable!("pairs is a list")
        };
        let DataType::Struct(fields) = pair.data_type() else {
            unreachable!("pairs holds structs")
        };
        let rows = StructArray::try_new(
            fields.clone(),
            vec![values, Arc::new(positions) as ArrayRef],
            None,
        )?;
        let first = list.offsets()[0];
        let offsets = OffsetBuffer::new(list.offsets().iter().map(|o| o - first).collect());
        let out = ListArray::try_new(pair, offsets, Arc::new(rows), list.nulls().cloned())?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Registers the function behind `_pg_expandarray`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(Expanded {
        signature: Signature::any(1, Volatility::Immutable),
    }));
}
