//! Customer models of lgs, fitted by maximum likelihood on aggregated inputs.
//!
//! The warehouse's query engine reduces the transactions to one summary per
//! customer (or per distinct summary, with a weight); this crate fits the models
//! on those and predicts per customer:
//! - [`bgnbd`]: BG/NBD (Fader, Hardie & Lee 2005): who is still a customer and how
//!   often they will buy;
//! - [`gamma_gamma`]: Gamma-Gamma (Fader & Hardie 2013): what a purchase is worth;
//! - [`clv`]: the two together, discounted: lifetime value;
//! - [`experiment`]: the tests of a campaign experiment and its sample size;
//! - [`kmeans`]: k-means with k-means++ seeding, and the silhouette;
//! - [`association`]: frequent itemsets (FP-growth) and association rules;
//! - [`als`]: implicit-feedback matrix factorisation (recommendations), and
//!   [`ranking`]: the top-N metrics that evaluate them.
//!
//! Fits report how they ended ([`fit::Convergence`]): a parameter running to a
//! bound or a flat likelihood is a warning with the numbers, never a silent result.

pub mod als;
pub mod association;
pub mod bgnbd;
pub mod clv;
pub mod error;
pub mod experiment;
pub mod fit;
pub mod gamma_gamma;
pub mod kmeans;
mod parallel;
pub mod ranking;
pub mod special;

pub use bgnbd::{BgNbd, BgNbdFit, History};
pub use clv::{Horizon, lifetime_value};
pub use error::ModelError;
pub use gamma_gamma::{GammaGamma, GammaGammaFit, Spend};
