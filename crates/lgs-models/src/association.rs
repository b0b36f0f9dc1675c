//! Frequent itemsets by FP-growth (Han, Pei & Yin 2000) and association rules with
//! the definitions of `mlxtend.frequent_patterns`.
//!
//! A transaction is a set of item ids (`u32`). An itemset is frequent when at least
//! `min_count` transactions contain it, its support (count / n) at least
//! `min_support` ([`Mining::min_count`]), so the itemsets and their supports are
//! the ones of `mlxtend`'s `apriori` and `fpgrowth` with the same `min_support`.
//!
//! FP-growth: the transactions, each reduced to its frequent items in order of
//! decreasing frequency, are inserted into a prefix tree (the FP-tree) whose nodes
//! count the transactions through them; the itemsets ending in an item are mined
//! from the tree of that item's prefix paths (its conditional tree), recursively.
//! Exact: every frequent itemset is found once, with its count.

use std::collections::HashMap;

use crate::error::ModelError;

/// What to mine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mining {
    /// The least number of transactions an itemset is in.
    pub min_count: u64,
    /// The longest itemset (None: any length).
    pub max_len: Option<usize>,
    /// More itemsets than this is an error (the limit that keeps a too low support
    /// from exhausting memory).
    pub max_itemsets: usize,
}

impl Mining {
    /// `min_count` for a minimum support (a fraction of `transactions`): the least
    /// count whose support (count / transactions, in floating point, as mlxtend
    /// compares it) is at least `min_support`; at least 1. That is
    /// `ceil(min_support × transactions)` except where the product's rounding
    /// error crosses an integer (0.07 × 100 = 7.000000000000001).
    pub fn min_count(min_support: f64, transactions: u64) -> u64 {
        let n = transactions as f64;
        let mut c = ((min_support * n).ceil() as u64).max(1);
        while c > 1 && (c - 1) as f64 / n >= min_support {
            c -= 1;
        }
        while (c as f64 / n) < min_support && c <= transactions {
            c += 1;
        }
        c
    }
}

/// A frequent itemset: its items in increasing id order, and the transactions that
/// hold them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Itemset {
    pub items: Vec<u32>,
    pub count: u64,
}

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    item: u32,
    count: u64,
    parent: u32,
    /// The next node of the same item (the header's chain).
    next_same: u32,
}

/// An FP-tree over items numbered by rank (0 = most frequent).
#[derive(Debug)]
struct Tree {
    nodes: Vec<Node>,
    /// Per rank: the first node of its chain and its total count.
    heads: Vec<(u32, u64)>,
}

impl Tree {
    fn new(ranks: usize) -> Tree {
        let root = Node {
            item: NONE,
            count: 0,
            parent: NONE,
            next_same: NONE,
        };
        Tree {
            nodes: vec![root],
            heads: vec![(NONE, 0); ranks],
        }
    }

    /// The tree of `paths` (each ranks in increasing order, with its count), over
    /// items ranked `0..ranks`. The paths are sorted first, so that a path shares
    /// with the one before it the only prefix it can share with any earlier path,
    /// and its other items are new nodes: no search among a node's children.
    fn build(ranks: usize, paths: &mut [(Vec<u32>, u64)]) -> Tree {
        paths.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut tree = Tree::new(ranks);
        // The nodes of the last path inserted, by depth.
        let mut last: Vec<u32> = Vec::new();
        let mut previous: &[u32] = &[];
        for (path, count) in paths.iter() {
            let shared = path
                .iter()
                .zip(previous)
                .take_while(|(a, b)| a == b)
                .count();
            last.truncate(shared);
            for (depth, &item) in path.iter().enumerate() {
                let node = if depth < shared {
                    last[depth]
                } else {
                    let parent = if depth == 0 { 0 } else { last[depth - 1] };
                    let node = tree.nodes.len() as u32;
                    let (head, _) = tree.heads[item as usize];
                    tree.nodes.push(Node {
                        item,
                        count: 0,
                        parent,
                        next_same: head,
                    });
                    tree.heads[item as usize].0 = node;
                    last.push(node);
                    node
                };
                tree.nodes[node as usize].count += count;
                tree.heads[item as usize].1 += count;
            }
            previous = path;
        }
        tree
    }

    /// The prefix paths of `item` (ranks in increasing order) with their counts.
    fn prefix_paths(&self, item: u32) -> Vec<(Vec<u32>, u64)> {
        let mut out = Vec::new();
        let mut node = self.heads[item as usize].0;
        while node != NONE {
            let n = &self.nodes[node as usize];
            let mut path = Vec::new();
            let mut up = n.parent;
            while up != 0 {
                path.push(self.nodes[up as usize].item);
                up = self.nodes[up as usize].parent;
            }
            if !path.is_empty() {
                path.reverse();
                out.push((path, n.count));
            }
            node = n.next_same;
        }
        out
    }
}

/// Every frequent itemset of `transactions` (each a set of item ids; duplicates in
/// one are counted once), sorted by length, then items.
pub fn frequent_itemsets(
    transactions: &[Vec<u32>],
    mining: &Mining,
) -> Result<Vec<Itemset>, ModelError> {
    let mut counts: HashMap<u32, u64> = HashMap::new();
    let mut seen = Vec::new();
    for t in transactions {
        seen.clear();
        seen.extend_from_slice(t);
        seen.sort_unstable();
        seen.dedup();
        for &item in &seen {
            *counts.entry(item).or_default() += 1;
        }
    }
    // Ranks: the frequent items by decreasing count (then id, for a stable tree).
    let mut frequent: Vec<(u32, u64)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= mining.min_count)
        .collect();
    frequent.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let rank: HashMap<u32, u32> = frequent
        .iter()
        .enumerate()
        .map(|(r, &(item, _))| (item, r as u32))
        .collect();
    let mut paths: Vec<(Vec<u32>, u64)> = transactions
        .iter()
        .filter_map(|t| {
            let mut path: Vec<u32> = t.iter().filter_map(|i| rank.get(i).copied()).collect();
            path.sort_unstable();
            path.dedup();
            (!path.is_empty()).then_some((path, 1))
        })
        .collect();
    let tree = Tree::build(frequent.len(), &mut paths);
    drop(paths);
    let mut miner = Miner {
        mining,
        found: Vec::new(),
        suffix: Vec::new(),
    };
    miner.mine(&tree)?;
    let mut out: Vec<Itemset> = miner
        .found
        .into_iter()
        .map(|(ranks, count)| {
            let mut items: Vec<u32> = ranks.iter().map(|&r| frequent[r as usize].0).collect();
            items.sort_unstable();
            Itemset { items, count }
        })
        .collect();
    out.sort_unstable_by(|a, b| {
        a.items
            .len()
            .cmp(&b.items.len())
            .then(a.items.cmp(&b.items))
    });
    Ok(out)
}

struct Miner<'a> {
    mining: &'a Mining,
    found: Vec<(Vec<u32>, u64)>,
    /// The items (ranks) of the conditional tree being mined.
    suffix: Vec<u32>,
}

impl Miner<'_> {
    fn mine(&mut self, tree: &Tree) -> Result<(), ModelError> {
        for item in (0..tree.heads.len() as u32).rev() {
            let count = tree.heads[item as usize].1;
            if count < self.mining.min_count {
                continue;
            }
            self.suffix.push(item);
            if self.found.len() == self.mining.max_itemsets {
                return Err(ModelError::TooManyItemsets {
                    limit: self.mining.max_itemsets,
                    min_count: self.mining.min_count,
                });
            }
            self.found.push((self.suffix.clone(), count));
            if self.mining.max_len.is_none_or(|m| self.suffix.len() < m) {
                let paths = tree.prefix_paths(item);
                let mut within = vec![0u64; item as usize];
                for (path, c) in &paths {
                    for &i in path {
                        within[i as usize] += c;
                    }
                }
                if within.iter().any(|&c| c >= self.mining.min_count) {
                    let mut kept: Vec<(Vec<u32>, u64)> = paths
                        .into_iter()
                        .filter_map(|(mut path, c)| {
                            path.retain(|&i| within[i as usize] >= self.mining.min_count);
                            (!path.is_empty()).then_some((path, c))
                        })
                        .collect();
                    let conditional = Tree::build(item as usize, &mut kept);
                    self.mine(&conditional)?;
                }
            }
            self.suffix.pop();
        }
        Ok(())
    }
}

/// A rule antecedents → consequents with mlxtend's `association_rules` metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub antecedents: Vec<u32>,
    pub consequents: Vec<u32>,
    pub antecedent_support: f64,
    pub consequent_support: f64,
    pub support: f64,
    /// support / antecedent support.
    pub confidence: f64,
    /// confidence / consequent support.
    pub lift: f64,
    /// support − antecedent support × consequent support.
    pub leverage: f64,
    /// (1 − consequent support) / (1 − confidence); infinite when confidence is 1.
    pub conviction: f64,
}

/// Thresholds a rule must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleFilter {
    pub min_confidence: f64,
    pub min_lift: f64,
    /// More rules than this is an error (long itemsets have many).
    pub max_rules: usize,
}

/// Every rule A → C of two disjoint non-empty itemsets whose union is one of
/// `itemsets` (which must hold every subset of each itemset, as frequent itemsets
/// do), with supports as fractions of `transactions`, that passes `filter`; in the
/// order of the itemsets, then of the antecedents' bit patterns.
pub fn rules(
    itemsets: &[Itemset],
    transactions: u64,
    filter: &RuleFilter,
) -> Result<Vec<Rule>, ModelError> {
    let n = transactions as f64;
    let support: HashMap<&[u32], f64> = itemsets
        .iter()
        .map(|s| (s.items.as_slice(), s.count as f64 / n))
        .collect();
    let mut out = Vec::new();
    let (mut a, mut c) = (Vec::new(), Vec::new());
    // An itemset of 32 items or more would come with its 2^32 frequent subsets:
    // the mining stops at its itemset limit (or memory) long before.
    for set in itemsets.iter().filter(|s| (2..32).contains(&s.items.len())) {
        let len = set.items.len();
        let s_ac = set.count as f64 / n;
        for mask in 1..(1u32 << len) - 1 {
            a.clear();
            c.clear();
            for (bit, &item) in set.items.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    &mut a
                } else {
                    &mut c
                }
                .push(item);
            }
            let (Some(&s_a), Some(&s_c)) = (support.get(a.as_slice()), support.get(c.as_slice()))
            else {
                continue;
            };
            let confidence = s_ac / s_a;
            let lift = confidence / s_c;
            if confidence < filter.min_confidence || lift < filter.min_lift {
                continue;
            }
            if out.len() == filter.max_rules {
                return Err(ModelError::TooManyRules {
                    limit: filter.max_rules,
                });
            }
            out.push(Rule {
                antecedents: a.clone(),
                consequents: c.clone(),
                antecedent_support: s_a,
                consequent_support: s_c,
                support: s_ac,
                confidence,
                lift,
                leverage: s_ac - s_a * s_c,
                conviction: if confidence >= 1.0 {
                    f64::INFINITY
                } else {
                    (1.0 - s_c) / (1.0 - confidence)
                },
            });
        }
    }
    Ok(out)
}
