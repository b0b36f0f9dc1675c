//! Giving memory that was freed back to the system.
//!
//! glibc's allocator keeps what a large query freed in its arenas for later
//! allocations, so a process that moves from a query to a long computation over
//! its result (the recommender's fit after its baskets) keeps the query's peak
//! as its resident size. At 100M lines that was 2.8 GB held through a two-minute
//! fit whose data are under 1 GB (BENCHMARKS.md, issue 26).

/// Returns the free memory of the allocator's arenas to the system, where the
/// allocator is glibc's (elsewhere: nothing to do). Call it after dropping a large
/// result, before a long step that needs far less.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own arenas to
    // the system; it touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// From now on, the allocator maps each block of 1 MiB or more on its own and
/// unmaps it when it is freed, where the allocator is glibc's (elsewhere: nothing
/// to do). glibc's default raises that threshold up to 32 MiB as large blocks are
/// freed, so a query's batches come from arenas that keep what they free, spread
/// over each thread's arena. Reading 100M lines' baskets under `--memory-limit
/// 2GB` peaked at 2.42 GB of resident memory with the default and at 1.73 GB with
/// this (the live heap was within the limit both times: heaptrack). It costs
/// about 10 % on short queries (more pages mapped afresh), so it is only for the
/// analyses that hold large data beside a query under a memory limit.
pub fn return_large_frees() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes how the allocator serves later requests.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
