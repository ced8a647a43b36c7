//! The worker threads: the calling thread plus a rayon pool of helpers, `set_num_threads`
//! threads in all (0 = one per core). With one thread nothing is split and every result is
//! bit-for-bit reproducible.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

static REQUESTED: AtomicUsize = AtomicUsize::new(0);
/// The helper pool and its size, made on first use and remade when the count changes.
type Pool = Mutex<Option<(usize, Arc<rayon::ThreadPool>)>>;
static POOL: OnceLock<Pool> = OnceLock::new();

/// Sets the number of worker threads; 0 restores the default (one per available core).
pub fn set_num_threads(n: usize) {
    REQUESTED.store(n, Ordering::SeqCst);
}

/// The number of cores, read once (`available_parallelism` reads cgroup files: far too
/// slow to ask on every call).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

thread_local! {
    /// Set while a thread runs an item of `for_each`: work nested in it stays on that thread.
    static NESTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The number of worker threads in use (1 inside an item of `for_each`).
pub fn num_threads() -> usize {
    if NESTED.with(|n| n.get()) {
        return 1;
    }
    match REQUESTED.load(Ordering::Relaxed) {
        0 => cores(),
        n => n,
    }
}

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    let cell = POOL.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((n, p)) = guard.as_ref() {
        if *n == threads {
            return p.clone();
        }
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("charrnn-worker-{i}"))
            .build()
            .expect("cannot start worker threads"),
    );
    *guard = Some((threads, p.clone()));
    p
}

/// Runs `f` with every parallel region inside it kept on the calling thread.
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    let outer = NESTED.with(|n| n.replace(true));
    let out = f();
    NESTED.with(|n| n.set(outer));
    out
}

/// Runs `f` on every item, in parallel when there are several threads and items.
///
/// The calling thread takes items too, beside a pool of `threads - 1` helpers, rather than
/// handing everything to a pool of `threads` and waiting: so no more threads than asked
/// for compete for the cores. (Idle rayon workers spin before they sleep; with a pool as
/// large as the machine they took the cores from the caller's serial work between calls:
/// ~20% of a two-thread names step was scheduler time.)
pub fn for_each<T: Send, F: Fn(T) + Sync + Send>(items: Vec<T>, f: F) {
    let threads = num_threads();
    if threads <= 1 || items.len() <= 1 || rayon::current_thread_index().is_some() {
        items.into_iter().for_each(f);
        return;
    }
    let helpers = (threads - 1).min(items.len() - 1);
    let queue = Mutex::new(items.into_iter());
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).next();
    let work = || {
        serial(|| {
            while let Some(item) = next() {
                f(item);
            }
        })
    };
    pool(threads - 1).in_place_scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| work());
        }
        work();
    });
}

/// [`for_each`] for fallible items: every item runs (or, once one has failed, is
/// skipped), and the first error is returned. Items that poll a shared `Cancel` stop at
/// their next check once one of them has been interrupted.
pub fn try_for_each<T: Send, F: Fn(T) -> crate::error::Result<()> + Sync + Send>(items: Vec<T>, f: F) -> crate::error::Result<()> {
    let failed: Mutex<Option<crate::error::KernelError>> = Mutex::new(None);
    for_each(items, |item| {
        if failed.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            return;
        }
        if let Err(e) = f(item) {
            failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
        }
    });
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Splits ranks `0..lengths.len()` (sorted by decreasing length) into at most `parts`
/// contiguous ranges of about equal total length.
pub fn balanced_ranges(lengths: &[usize], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = lengths.iter().sum();
    let parts = parts.max(1).min(lengths.len().max(1));
    if parts == 1 || total == 0 {
        return std::iter::once(0..lengths.len()).collect();
    }
    let mut out = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0, 0);
    for (i, &len) in lengths.iter().enumerate() {
        // Cut before rank i when that lands closer to the next group's share than after it.
        let target = total * (out.len() + 1) / parts;
        if i > start && out.len() + 1 < parts && 2 * acc + len >= 2 * target {
            out.push(start..i);
            start = i;
        }
        acc += len;
    }
    out.push(start..lengths.len());
    out.retain(|r| !r.is_empty());
    out
}

/// A raw view of a mutable slice shared by threads that write disjoint parts of it.
#[derive(Clone, Copy)]
pub struct SharedMut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: users only hand out disjoint ranges to different threads (see `range`).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    pub fn new(s: &mut [f32]) -> Self {
        SharedMut { ptr: s.as_mut_ptr(), len: s.len() }
    }

    /// # Safety
    /// No two threads may hold overlapping ranges at the same time, and the slice this was
    /// made from must outlive the use.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, start: usize, end: usize) -> &mut [f32] {
        unsafe {
            assert!(start <= end && end <= self.len, "SharedMut range out of bounds");
            std::slice::from_raw_parts_mut(self.ptr.add(start), end - start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn balanced_ranges_cover_every_rank_once_with_similar_work() {
        let lengths = [9, 8, 8, 5, 3, 3, 2, 1];
        let r = balanced_ranges(&lengths, 2);
        assert_eq!(r.first().unwrap().start, 0);
        assert_eq!(r.last().unwrap().end, 8);
        assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        let work: Vec<usize> = r.iter().map(|r| lengths[r.clone()].iter().sum()).collect();
        assert!(work.iter().max().unwrap() - work.iter().min().unwrap() <= 9, "{work:?}");
        assert_eq!(balanced_ranges(&lengths, 1), vec![0..8]);
        assert_eq!(balanced_ranges(&[4], 2), vec![0..1]);
    }
}
