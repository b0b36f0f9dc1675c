//! The errors of model fitting and prediction.

/// Why a model could not be fitted or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// There is nothing (or not enough) to fit.
    #[error("{0}")]
    NoData(String),

    /// An input row is not a valid customer summary.
    #[error("customer summary {index}: {message}")]
    BadHistory { index: usize, message: String },

    /// The optimiser failed outright (not a mere lack of convergence, which a fit
    /// reports in its `Convergence`).
    #[error("the optimiser failed: {0}")]
    Optimiser(String),

    /// The hypergeometric series could not be evaluated.
    #[error("2F1({a}, {b}; {c}; {z}): {reason}")]
    Hypergeometric {
        a: f64,
        b: f64,
        c: f64,
        z: f64,
        reason: String,
    },

    /// Frequent itemset mining found more itemsets than its limit.
    #[error("more than {limit} frequent itemsets (each in at least {min_count} transactions)")]
    TooManyItemsets { limit: usize, min_count: u64 },

    /// The association rules of the frequent itemsets are more than the limit.
    #[error("more than {limit} association rules")]
    TooManyRules { limit: usize },
}
