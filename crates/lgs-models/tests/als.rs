//! Implicit ALS checked against its definition computed by brute force over every
//! (user, item) pair, and the ranking metrics against hand-computed values.

use lgs_models::als::{
    AlsModel, AlsOptions, Interaction, Observed, cholesky_solve, fit_implicit, fit_observed, top,
};
use lgs_models::ranking::{mean, rank};

fn pair(user: u32, item: u32, count: f64) -> Interaction {
    Interaction { user, item, count }
}

#[test]
fn cholesky_solves_a_known_system() {
    // A = [[4, 2, 2], [2, 5, 3], [2, 3, 6]], x = [1, -2, 3] → b = A·x.
    let a0 = [4.0, 2.0, 2.0, 2.0, 5.0, 3.0, 2.0, 3.0, 6.0];
    let x = [1.0, -2.0, 3.0];
    let mut b: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|j| a0[i * 3 + j] * x[j]).sum())
        .collect();
    assert_eq!(b, vec![6.0, 1.0, 14.0]);
    let mut a = a0.to_vec();
    cholesky_solve(&mut a, &mut b, 3);
    for (got, want) in b.iter().zip(x) {
        assert!((got - want).abs() < 1e-12, "{b:?}");
    }
}

/// Two groups of users, each buying only its own group's items (counts vary).
fn blocks() -> (usize, usize, Vec<Interaction>) {
    let mut observed = Vec::new();
    for u in 0..12u32 {
        let group = u % 2;
        for i in 0..6u32 {
            // Every user of a group skips one of its items: the one to recommend.
            if i % 2 == group && i / 2 != u / 2 % 3 {
                observed.push(pair(u, i, 1.0 + ((u + i) % 3) as f64));
            }
        }
    }
    (12, 6, observed)
}

/// The objective over every pair, from its definition.
fn brute_loss(model: &lgs_models::als::AlsModel, observed: &[Interaction], o: &AlsOptions) -> f64 {
    let (users, items) = (model.users.len() / o.factors, model.items.len() / o.factors);
    let mut total = 0.0;
    for u in 0..users {
        let s = model.scores(u);
        for (i, si) in s.iter().enumerate() {
            let seen = observed
                .iter()
                .find(|p| p.user as usize == u && p.item as usize == i);
            let (p, c) = match seen {
                Some(p) => (1.0, 1.0 + o.alpha * p.count),
                None => (0.0, 1.0),
            };
            total += c * (p - si) * (p - si);
        }
    }
    let norm: f64 = model.users.iter().chain(&model.items).map(|v| v * v).sum();
    let _ = items;
    total + o.regularization * norm
}

#[test]
fn the_loss_is_the_definitions_and_never_rises() {
    let (users, items, observed) = blocks();
    let options = AlsOptions {
        factors: 3,
        iterations: 8,
        regularization: 0.05,
        alpha: 5.0,
        seed: 7,
        cg_steps: 0,
    };
    // Exact solves, and conjugate-gradient steps.
    for cg_steps in [0, 1, 3] {
        let options = AlsOptions {
            cg_steps,
            ..options
        };
        let model = fit_implicit(users, items, &observed, &options).unwrap();
        let brute = brute_loss(&model, &observed, &options);
        let last = *model.losses.last().unwrap();
        assert!(
            (brute - last).abs() < 1e-9 * brute.max(1.0),
            "{cg_steps} steps: {brute} vs {last}"
        );
        for w in model.losses.windows(2) {
            assert!(
                w[1] <= w[0] * (1.0 + 1e-12),
                "{cg_steps} steps: the loss rose: {:?}",
                model.losses
            );
        }
    }
}

/// Conjugate gradient solves a k × k system in k steps (up to rounding), so with
/// as many steps as factors it gives the exact fit's factors; with 3 steps it
/// ends near the exact fit's loss.
#[test]
fn conjugate_gradient_steps_reach_the_exact_solves() {
    let (users, items, observed) = blocks();
    let exact = AlsOptions {
        factors: 4,
        iterations: 4,
        cg_steps: 0,
        ..AlsOptions::default()
    };
    let solved = fit_implicit(users, items, &observed, &exact).unwrap();
    let stepped = fit_implicit(
        users,
        items,
        &observed,
        &AlsOptions {
            cg_steps: 4,
            ..exact
        },
    )
    .unwrap();
    let factors = |m: &AlsModel| {
        m.users
            .iter()
            .chain(&m.items)
            .copied()
            .collect::<Vec<f64>>()
    };
    let (a, b) = (factors(&solved), factors(&stepped));
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert!((a - b).abs() < 1e-8, "{a} vs {b}");
    }
    let long = AlsOptions {
        iterations: 15,
        ..exact
    };
    let solved = fit_implicit(users, items, &observed, &long).unwrap();
    let three = AlsOptions {
        cg_steps: 3,
        ..long
    };
    let stepped = fit_implicit(users, items, &observed, &three).unwrap();
    let (a, b) = (solved.losses[14], stepped.losses[14]);
    assert!(b <= a * 1.01, "exact {a}, 3 steps {b}");
}

#[test]
fn the_last_half_step_solves_each_items_normal_equations() {
    let (users, items, observed) = blocks();
    let options = AlsOptions {
        factors: 4,
        iterations: 3,
        cg_steps: 0,
        ..AlsOptions::default()
    };
    let model = fit_implicit(users, items, &observed, &options).unwrap();
    let k = options.factors;
    // ∂/∂y_i = 2 Σ_u c_ui (x_u·y_i − p_ui) x_u + 2 λ y_i must be zero.
    for i in 0..items {
        let yi = &model.items[i * k..(i + 1) * k];
        let mut grad: Vec<f64> = yi.iter().map(|v| options.regularization * v).collect();
        for u in 0..users {
            let xu = &model.users[u * k..(u + 1) * k];
            let s: f64 = xu.iter().zip(yi).map(|(a, b)| a * b).sum();
            let seen = observed
                .iter()
                .find(|p| p.user as usize == u && p.item as usize == i);
            let (p, c) = seen.map_or((0.0, 1.0), |p| (1.0, 1.0 + options.alpha * p.count));
            for (g, x) in grad.iter_mut().zip(xu) {
                *g += c * (s - p) * x;
            }
        }
        let size: f64 = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        assert!(size < 1e-9, "item {i}: gradient {grad:?}");
    }
}

#[test]
fn recommends_the_missing_item_of_the_users_own_group() {
    let (users, items, observed) = blocks();
    let model = fit_implicit(users, items, &observed, &AlsOptions::default()).unwrap();
    for u in 0..users as u32 {
        let bought: Vec<u32> = observed
            .iter()
            .filter(|p| p.user == u)
            .map(|p| p.item)
            .collect();
        let best = model.recommend(u as usize, 1, &bought);
        let group = u % 2;
        let missing = 2 * (u / 2 % 3) + group;
        assert_eq!(best[0].0, missing, "user {u}: {best:?}");
    }
}

#[test]
fn bad_pairs_and_options_are_errors() {
    let observed = [pair(0, 5, 1.0)];
    let e = fit_implicit(1, 3, &observed, &AlsOptions::default()).unwrap_err();
    assert!(e.to_string().contains("outside 1 users × 3 items"), "{e}");
    let zero = [pair(0, 0, 0.0)];
    assert!(fit_implicit(1, 3, &zero, &AlsOptions::default()).is_err());
    let none = AlsOptions {
        factors: 0,
        ..AlsOptions::default()
    };
    assert!(fit_implicit(1, 3, &[pair(0, 0, 1.0)], &none).is_err());
    assert!(fit_implicit(1, 3, &[], &AlsOptions::default()).is_err());
    let twice = [pair(0, 1, 1.0), pair(0, 2, 1.0), pair(0, 1, 2.0)];
    let e = fit_implicit(1, 3, &twice, &AlsOptions::default()).unwrap_err();
    assert!(e.to_string().contains("pair (0, 1) is given twice"), "{e}");
}

#[test]
fn observed_pairs_are_held_by_user_whatever_their_order() {
    let (users, items, mut pairs) = blocks();
    pairs.reverse();
    let observed = Observed::new(users, items, pairs.clone()).unwrap();
    assert_eq!(
        (observed.users(), observed.items(), observed.len()),
        (12, 6, pairs.len())
    );
    for u in 0..users {
        let mut want: Vec<u32> = pairs
            .iter()
            .filter(|p| p.user as usize == u)
            .map(|p| p.item)
            .collect();
        want.sort();
        assert_eq!(observed.items_of(u), want.as_slice(), "user {u}");
    }
    let per = observed.users_per_item();
    for (i, n) in per.iter().enumerate() {
        assert_eq!(
            *n as usize,
            pairs.iter().filter(|p| p.item as usize == i).count()
        );
    }
    // The same pairs given by rows.
    let mut offsets = vec![0];
    let (mut index, mut counts) = (Vec::new(), Vec::new());
    for u in 0..users {
        index.extend_from_slice(observed.items_of(u));
        counts.extend_from_slice(observed.counts_of(u));
        offsets.push(index.len());
    }
    let rows = Observed::by_rows(items, offsets.clone(), index.clone(), counts.clone()).unwrap();
    assert_eq!(rows, observed);
    // Rows out of order, a repeated pair, offsets that do not add up, an item
    // outside the matrix: each an error saying so.
    let mut swapped = index.clone();
    swapped.swap(0, 1);
    let e = Observed::by_rows(items, offsets.clone(), swapped, counts.clone()).unwrap_err();
    assert!(
        e.to_string().contains("user 0's items are not in order"),
        "{e}"
    );
    let mut repeated = index.clone();
    repeated[1] = repeated[0];
    let e = Observed::by_rows(items, offsets.clone(), repeated, counts.clone()).unwrap_err();
    assert!(e.to_string().contains("is given twice"), "{e}");
    let short = offsets[..offsets.len() - 1].to_vec();
    let e = Observed::by_rows(items, short, index.clone(), counts.clone()).unwrap_err();
    assert!(e.to_string().contains("offsets do not match"), "{e}");
    let e = Observed::by_rows(2, offsets, index, counts).unwrap_err();
    assert!(e.to_string().contains("outside 12 users × 2 items"), "{e}");
    // The order the pairs come in changes nothing in the fit.
    let o = AlsOptions::default();
    let (_, _, sorted) = blocks();
    assert_eq!(
        fit_observed(&observed, &o).unwrap(),
        fit_implicit(users, items, &sorted, &o).unwrap()
    );
}

#[test]
fn top_keeps_the_best_first_ties_by_id() {
    let mut scored = vec![(4, 0.5), (1, 0.9), (3, 0.5), (2, 0.1), (0, 0.9)];
    top(&mut scored, 3);
    assert_eq!(scored, vec![(0, 0.9), (1, 0.9), (3, 0.5)]);
}

#[test]
fn ranking_metrics_match_a_hand_computation() {
    // Relevant {2, 5, 9}; the list hits at ranks 1 and 3 of 4.
    let r = rank(&[5, 7, 2, 8], &[2, 5, 9], 4).unwrap();
    assert_eq!(r.precision, 0.5);
    assert_eq!(r.recall, 2.0 / 3.0);
    // (1/1 + 2/3) / min(3, 4)
    assert!((r.average_precision - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-15);
    assert_eq!(r.hit, 1.0);
    // Only the first n count: at n = 2, one hit.
    let r2 = rank(&[5, 7, 2, 8], &[2, 5, 9], 2).unwrap();
    assert_eq!((r2.precision, r2.average_precision), (0.5, 0.5));
    let miss = rank(&[1, 3], &[2], 2).unwrap();
    assert_eq!((miss.hit, miss.recall), (0.0, 0.0));
    assert!(rank(&[1], &[], 10).is_none());
    let m = mean(&[r, miss]);
    assert_eq!(m.hit, 0.5);
    assert_eq!(m.precision, 0.25);
}
