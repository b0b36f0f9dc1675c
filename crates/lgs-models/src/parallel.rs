//! Work on scoped threads, one per core, the results in a fixed order: fixed-size
//! chunks of one computation ([`chunked`]) or independent jobs ([`each`]). A
//! model's sums combined in that order are the same on any number of cores.

use std::ops::Range;

/// Runs `f` over the chunks of `0..n` (`chunk` indices each) on scoped threads,
/// one per core, returning the results in chunk order.
pub(crate) fn chunked<T: Send>(
    n: usize,
    chunk: usize,
    f: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    let ranges: Vec<Range<usize>> = (0..n)
        .step_by(chunk.max(1))
        .map(|s| s..(s + chunk).min(n))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(ranges.len())
        .max(1);
    if threads == 1 {
        return ranges.into_iter().map(&f).collect();
    }
    let mut out: Vec<Option<T>> = (0..ranges.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let f = &f;
        let ranges = &ranges;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..ranges.len())
                        .step_by(threads)
                        .map(|i| (i, f(ranges[i].clone())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, v) in h.join().expect("a model worker panicked") {
                out[i] = Some(v);
            }
        }
    });
    out.into_iter()
        .map(|v| v.expect("every chunk ran"))
        .collect()
}

/// Runs `f(0), f(1), ..., f(count - 1)` on scoped threads, one per core, each
/// thread taking the next index when it is free; returns the results in index
/// order. For jobs of unequal length (a fit's runs), where fixed shares would
/// leave a core idle.
pub(crate) fn each<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(count)
        .max(1);
    if threads == 1 {
        return (0..count).map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<T>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let (f, next) = (&f, &next);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= count {
                            return done;
                        }
                        done.push((i, f(i)));
                    }
                })
            })
            .collect();
        for h in handles {
            for (i, v) in h.join().expect("a model worker panicked") {
                out[i] = Some(v);
            }
        }
    });
    out.into_iter().map(|v| v.expect("every job ran")).collect()
}
