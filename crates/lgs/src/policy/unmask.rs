//! Counting distinct customers without computing their pseudonyms.
//!
//! A keyed pseudonym is one-to-one on the values it masks (63 bits of HMAC for an
//! integer: a collision among a million ids has a probability of about 5e-8; the
//! whole digest for text), and it is null exactly where the value is null. So
//! `count(DISTINCT c)`, where `c` is a masked column of a role's view, is
//! `count(DISTINCT x)` of the raw value `x` the view masks, and the pseudonyms
//! need not be computed for it: at ten million lines they were the whole cost of
//! masking on the dashboard's customers per country.
//!
//! [`Unmask`] runs after the guard ([`super::guard`]). For each such count it
//! passes the raw value up from the view's projection, through the aliases,
//! filters and projections between (the only nodes it looks through), as a column
//! named `__lgs_unmasked_N` that only that count reads; a projection above the
//! aggregate gives the count its original name. Nothing else in the plan changes,
//! and the count is the only thing computed from the raw value: the answer is the
//! number the masked plan would give.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result as DfResult};
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams};
use datafusion::logical_expr::{Aggregate, Expr, Filter, LogicalPlan, Projection, SubqueryAlias};
use datafusion::optimizer::AnalyzerRule;

/// The prefix of the columns that carry a raw value to its count.
const HIDDEN: &str = "__lgs_unmasked_";

/// The analyser rule: `count(DISTINCT masked)` counts the raw values.
#[derive(Debug, Default)]
pub struct Unmask {
    next: AtomicUsize,
}

impl AnalyzerRule for Unmask {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        let rewritten = plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            other => Ok(Transformed::no(other)),
        })?;
        Ok(rewritten.data)
    }

    fn name(&self) -> &str {
        "lgs_count_distinct_unmasked"
    }
}

/// The column `count(DISTINCT column)` counts, for a plain count of one column.
fn distinct_count_of(expr: &Expr) -> Option<&Column> {
    let Expr::AggregateFunction(AggregateFunction {
        func,
        params:
            AggregateFunctionParams {
                args,
                distinct: true,
                filter: None,
                order_by,
                ..
            },
    }) = expr
    else {
        return None;
    };
    match args.as_slice() {
        [Expr::Column(column)] if func.name() == "count" && order_by.is_empty() => Some(column),
        _ => None,
    }
}

/// `expr` without its aliases.
fn unaliased(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => unaliased(&alias.expr),
        other => other,
    }
}

/// The raw column a pseudonym is computed of, when `expr` is one.
fn pseudonym_of(expr: &Expr) -> Option<&Column> {
    match unaliased(expr) {
        Expr::ScalarFunction(f) if f.func.name() == super::pseudonym::NAME => {
            match f.args.as_slice() {
                [Expr::Column(raw)] => Some(raw),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Unmask {
    fn aggregate(&self, aggregate: Aggregate) -> DfResult<Transformed<LogicalPlan>> {
        let mut input = aggregate.input.as_ref().clone();
        let mut aggr_expr = aggregate.aggr_expr.clone();
        let mut changed = vec![false; aggr_expr.len()];
        for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
            let Some(column) = distinct_count_of(expr) else {
                continue;
            };
            let hidden = format!("{HIDDEN}{}", self.next.fetch_add(1, Ordering::Relaxed));
            if let Some((plan, raw)) = carried(&input, column, &hidden)? {
                input = plan;
                let Expr::AggregateFunction(mut count) = expr.clone() else {
                    unreachable!("distinct_count_of matched an aggregate function")
                };
                count.params.args = vec![Expr::Column(raw)];
                aggr_expr[i] = Expr::AggregateFunction(count);
                changed[i] = true;
            }
        }
        if !changed.contains(&true) {
            return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
        }
        let groups = aggregate.group_expr.len();
        let rewritten =
            Aggregate::try_new(Arc::new(input), aggregate.group_expr.clone(), aggr_expr)?;
        // The same columns under the same names as before.
        let original = aggregate.schema.as_ref();
        let now = rewritten.schema.clone();
        let columns = (0..original.fields().len())
            .map(|i| {
                let current = Expr::Column(Column::from(now.qualified_field(i)));
                let renamed = i >= groups && changed[i - groups];
                if renamed {
                    let (qualifier, field) = original.qualified_field(i);
                    current.alias_qualified(qualifier.cloned(), field.name())
                } else {
                    current
                }
            })
            .collect();
        let plan = Projection::try_new(columns, Arc::new(LogicalPlan::Aggregate(rewritten)))?;
        Ok(Transformed::yes(LogicalPlan::Projection(plan)))
    }
}

/// `plan` with the raw value under `column` (a pseudonym computed in a projection
/// below, seen through aliases, filters and projections) also passed up, as the
/// column named `hidden` (returned with `plan`'s qualifier for it); `None` when
/// `column` is not such a pseudonym.
fn carried(
    plan: &LogicalPlan,
    column: &Column,
    hidden: &str,
) -> DfResult<Option<(LogicalPlan, Column)>> {
    match plan {
        LogicalPlan::Projection(projection) => {
            let Some(i) = projection.schema.maybe_index_of_column(column) else {
                return Ok(None);
            };
            let expr = &projection.expr[i];
            let (input, raw) = if let Some(raw) = pseudonym_of(expr) {
                (projection.input.as_ref().clone(), raw.clone())
            } else if let Expr::Column(below) = unaliased(expr) {
                match carried(&projection.input, below, hidden)? {
                    Some(found) => found,
                    None => return Ok(None),
                }
            } else {
                return Ok(None);
            };
            let mut expr = projection.expr.clone();
            expr.push(Expr::Column(raw).alias(hidden));
            let projection = Projection::try_new(expr, Arc::new(input))?;
            Ok(Some((
                LogicalPlan::Projection(projection),
                Column::new_unqualified(hidden),
            )))
        }
        LogicalPlan::SubqueryAlias(alias) => {
            let Some(i) = alias.schema.maybe_index_of_column(column) else {
                return Ok(None);
            };
            let below = Column::from(alias.input.schema().qualified_field(i));
            let Some((input, _)) = carried(&alias.input, &below, hidden)? else {
                return Ok(None);
            };
            let alias = SubqueryAlias::try_new(Arc::new(input), alias.alias.clone())?;
            let raw = Column::new(Some(alias.alias.clone()), hidden);
            Ok(Some((LogicalPlan::SubqueryAlias(alias), raw)))
        }
        LogicalPlan::Filter(filter) => {
            let Some((input, raw)) = carried(&filter.input, column, hidden)? else {
                return Ok(None);
            };
            let filter = Filter::try_new(filter.predicate.clone(), Arc::new(input))?;
            Ok(Some((LogicalPlan::Filter(filter), raw)))
        }
        _ => Ok(None),
    }
}
