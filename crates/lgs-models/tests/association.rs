//! FP-growth and the association rules, on baskets whose answer was counted by
//! hand, and against a brute-force count of every candidate itemset.

use std::collections::BTreeMap;

use lgs_models::ModelError;
use lgs_models::association::{Itemset, Mining, RuleFilter, frequent_itemsets, rules};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MILK: u32 = 0;
const ONION: u32 = 1;
const NUTMEG: u32 = 2;
const BEANS: u32 = 3;
const EGGS: u32 = 4;
const YOGURT: u32 = 5;
const DILL: u32 = 6;
const APPLE: u32 = 7;
const UNICORN: u32 = 8;
const CORN: u32 = 9;
const ICE_CREAM: u32 = 10;

/// mlxtend's documentation example: five baskets (one with onion twice).
fn baskets() -> Vec<Vec<u32>> {
    vec![
        vec![MILK, ONION, NUTMEG, BEANS, EGGS, YOGURT],
        vec![DILL, ONION, NUTMEG, BEANS, EGGS, YOGURT],
        vec![MILK, APPLE, BEANS, EGGS],
        vec![MILK, UNICORN, CORN, BEANS, YOGURT],
        vec![CORN, ONION, ONION, BEANS, ICE_CREAM, EGGS],
    ]
}

fn mining(min_count: u64) -> Mining {
    Mining {
        min_count,
        max_len: None,
        max_itemsets: 1_000_000,
    }
}

fn set(items: &[u32], count: u64) -> Itemset {
    let mut items = items.to_vec();
    items.sort_unstable();
    Itemset { items, count }
}

#[test]
fn itemsets_of_the_hand_counted_baskets() {
    // min_support 0.6 of 5 baskets: in at least 3. Counted by hand: beans 5, eggs 4,
    // milk, onion, yogurt 3; eggs+beans 4, milk+beans, onion+beans, yogurt+beans,
    // onion+eggs 3 (eggs+milk, eggs+yogurt, milk+yogurt, onion+yogurt 2; milk+onion
    // 1); onion+eggs+beans 3 (eggs+beans+milk 2).
    assert_eq!(Mining::min_count(0.6, 5), 3);
    // 0.07 × 100 is 7.000000000000001 in floating point, and 7 / 100 >= 0.07.
    assert_eq!(Mining::min_count(0.07, 100), 7);
    assert_eq!(Mining::min_count(0.071, 100), 8);
    assert_eq!(Mining::min_count(1e-9, 100), 1);
    let found = frequent_itemsets(&baskets(), &mining(3)).unwrap();
    let want = vec![
        set(&[MILK], 3),
        set(&[ONION], 3),
        set(&[BEANS], 5),
        set(&[EGGS], 4),
        set(&[YOGURT], 3),
        set(&[MILK, BEANS], 3),
        set(&[ONION, BEANS], 3),
        set(&[ONION, EGGS], 3),
        set(&[BEANS, EGGS], 4),
        set(&[BEANS, YOGURT], 3),
        set(&[ONION, BEANS, EGGS], 3),
    ];
    assert_eq!(found, want);
    // The longest at 2 items: the same without the triple.
    let pairs = frequent_itemsets(
        &baskets(),
        &Mining {
            max_len: Some(2),
            ..mining(3)
        },
    )
    .unwrap();
    assert_eq!(pairs, want[..10].to_vec());
}

#[test]
fn rules_of_the_hand_counted_baskets() {
    let found = frequent_itemsets(&baskets(), &mining(3)).unwrap();
    let all = rules(
        &found,
        5,
        &RuleFilter {
            min_confidence: 0.0,
            min_lift: 0.0,
            max_rules: 100,
        },
    )
    .unwrap();
    // 5 pairs give 2 rules each, the triple 6.
    assert_eq!(all.len(), 16);
    let find = |a: &[u32], c: &[u32]| {
        all.iter()
            .find(|r| r.antecedents == a && r.consequents == c)
            .unwrap_or_else(|| panic!("{a:?} -> {c:?}"))
    };
    // onion -> eggs: 3 of onion's 3 baskets hold eggs (in 4 of 5).
    let r = find(&[ONION], &[EGGS]);
    assert_eq!((r.antecedent_support, r.consequent_support), (0.6, 0.8));
    assert_eq!((r.support, r.confidence), (0.6, 1.0));
    assert!((r.lift - 1.25).abs() < 1e-12);
    assert!((r.leverage - 0.12).abs() < 1e-12);
    assert!(r.conviction.is_infinite());
    // eggs -> onion: 3 of eggs' 4; conviction (1 - 0.6) / (1 - 0.75) = 1.6.
    let r = find(&[EGGS], &[ONION]);
    assert!((r.confidence - 0.75).abs() < 1e-12);
    assert!((r.lift - 1.25).abs() < 1e-12);
    assert!((r.conviction - 1.6).abs() < 1e-12);
    // beans -> eggs: beans are in every basket: lift 1, leverage 0, conviction 1.
    let r = find(&[BEANS], &[EGGS]);
    assert!((r.confidence - 0.8).abs() < 1e-12 && (r.lift - 1.0).abs() < 1e-12);
    assert!(r.leverage.abs() < 1e-12 && (r.conviction - 1.0).abs() < 1e-12);
    // onion -> beans + eggs (antecedent 0.6, consequent 0.8).
    let r = find(&[ONION], &[BEANS, EGGS]);
    assert_eq!((r.support, r.confidence), (0.6, 1.0));
    assert!((r.lift - 1.25).abs() < 1e-12);
    // Confidence >= 0.9 and lift >= 1.1: of the rules of confidence 1, those into
    // beans have lift 1 (beans are in every basket); three are left.
    let strong = rules(
        &found,
        5,
        &RuleFilter {
            min_confidence: 0.9,
            min_lift: 1.1,
            max_rules: 100,
        },
    )
    .unwrap();
    let mut names: Vec<(Vec<u32>, Vec<u32>)> = strong
        .iter()
        .map(|r| (r.antecedents.clone(), r.consequents.clone()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            (vec![ONION], vec![BEANS, EGGS]),
            (vec![ONION], vec![EGGS]),
            (vec![ONION, BEANS], vec![EGGS]),
        ]
    );
}

/// Every itemset of up to `max_len` items from the frequent single items, counted
/// by scanning the transactions: the definition, with no tree.
fn brute_force(transactions: &[Vec<u32>], min_count: u64, max_len: usize) -> Vec<Itemset> {
    let sets: Vec<Vec<u32>> = transactions
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.sort_unstable();
            t.dedup();
            t
        })
        .collect();
    let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
    for t in &sets {
        for &i in t {
            *counts.entry(i).or_default() += 1;
        }
    }
    let items: Vec<u32> = counts
        .iter()
        .filter(|&(_, &c)| c >= min_count)
        .map(|(&i, _)| i)
        .collect();
    let mut out = Vec::new();
    let mut level: Vec<Vec<u32>> = items.iter().map(|&i| vec![i]).collect();
    for _ in 0..max_len {
        let mut next = Vec::new();
        for cand in level {
            let count = sets
                .iter()
                .filter(|t| cand.iter().all(|i| t.binary_search(i).is_ok()))
                .count() as u64;
            if count >= min_count {
                for &i in items.iter().filter(|&&i| i > *cand.last().unwrap()) {
                    let mut longer = cand.clone();
                    longer.push(i);
                    next.push(longer);
                }
                out.push(Itemset { items: cand, count });
            }
        }
        level = next;
    }
    out.sort_unstable_by(|a, b| {
        a.items
            .len()
            .cmp(&b.items.len())
            .then(a.items.cmp(&b.items))
    });
    out
}

#[test]
fn fp_growth_finds_what_counting_every_candidate_finds() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for round in 0..20 {
        // Skewed item popularity, so that long itemsets are frequent.
        let items = rng.random_range(5..30u32);
        let transactions: Vec<Vec<u32>> = (0..rng.random_range(1..400))
            .map(|_| {
                (0..rng.random_range(0..12))
                    .map(|_| {
                        let u: f64 = rng.random();
                        (u * u * f64::from(items)) as u32
                    })
                    .collect()
            })
            .collect();
        let min_count = rng.random_range(1..20u64);
        let max_len = rng.random_range(1..6usize);
        let found = frequent_itemsets(
            &transactions,
            &Mining {
                max_len: Some(max_len),
                ..mining(min_count)
            },
        )
        .unwrap();
        assert_eq!(
            found,
            brute_force(&transactions, min_count, max_len),
            "round {round}: {} transactions, min count {min_count}, max len {max_len}",
            transactions.len()
        );
    }
}

#[test]
fn too_many_itemsets_is_an_error_not_an_exhausted_memory() {
    // 20 items in every basket: 2^20 - 1 itemsets at any support.
    let transactions = vec![(0..20).collect::<Vec<u32>>(); 3];
    let err = frequent_itemsets(
        &transactions,
        &Mining {
            max_itemsets: 10_000,
            ..mining(1)
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::TooManyItemsets {
                limit: 10_000,
                min_count: 1
            }
        ),
        "{err}"
    );
    // 16 rules of the hand-counted baskets: a limit of 15 is an error.
    let found = frequent_itemsets(&baskets(), &mining(3)).unwrap();
    let filter = RuleFilter {
        min_confidence: 0.0,
        min_lift: 0.0,
        max_rules: 15,
    };
    assert!(matches!(
        rules(&found, 5, &filter),
        Err(ModelError::TooManyRules { limit: 15 })
    ));
    // No transaction, or none frequent: nothing, no error.
    assert!(frequent_itemsets(&[], &mining(1)).unwrap().is_empty());
    assert!(
        frequent_itemsets(&baskets(), &mining(6))
            .unwrap()
            .is_empty()
    );
}
