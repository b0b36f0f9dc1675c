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
