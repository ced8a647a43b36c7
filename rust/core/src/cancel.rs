//! Cancellation of long calls (Ctrl-C) by counting work.
//!
//! The caller supplies a hook, "should I stop?" ([`Hook`]). The kernels do not ask it at
//! every step, and not only between layers: each loop counts the work it has done
//! (multiply-adds, or their equivalent) on a [`Meter`], which asks the hook once
//! [`POLL_WORK`] units have accumulated since the last question. Work that cannot be cut
//! finer is cut into blocks of at most [`MAX_BLOCK`] units (rows of a matrix product, rows
//! of a time step), so the time between two questions is bounded whatever the sizes:
//! tens of milliseconds on a slow core, and a question costs tens of nanoseconds.
//!
//! Once the hook has said stop, every later check says stop too (on every thread): one
//! interrupted group of a parallel split stops the others at their next check.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{KernelError, Result};

/// Work (multiply-adds) between two questions to the hook.
pub const POLL_WORK: u64 = 1 << 24;

/// The most work done in one piece where a kernel can cut it (matrix products, a time
/// step over many rows), so that a meter is updated at least this often.
pub const MAX_BLOCK: usize = 1 << 27;

/// A caller's "should I stop?" check, made sticky: once it has said stop, it says stop to
/// every later caller without being asked again.
pub struct Hook<'a> {
    ask: &'a (dyn Fn() -> bool + Sync),
    stopped: AtomicBool,
}

impl<'a> Hook<'a> {
    pub fn new(ask: &'a (dyn Fn() -> bool + Sync)) -> Self {
        Hook { ask, stopped: AtomicBool::new(false) }
    }

    /// The handle the kernels take.
    pub fn cancel(&self) -> Cancel<'_> {
        Cancel(Some(self))
    }

    fn should_stop(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return true;
        }
        let stop = (self.ask)();
        if stop {
            self.stopped.store(true, Ordering::Relaxed);
        }
        stop
    }
}

/// What the kernels are given: a [`Hook`] or nothing (never cancels). Cheap to copy.
#[derive(Clone, Copy, Default)]
pub struct Cancel<'a>(Option<&'a Hook<'a>>);

impl<'a> Cancel<'a> {
    /// Never cancels.
    pub const NEVER: Cancel<'static> = Cancel(None);

    /// `Err(Interrupted)` when the hook says stop (asked now: a phase boundary).
    #[inline]
    pub fn check(&self) -> Result<()> {
        match self.0 {
            Some(h) if h.should_stop() => Err(KernelError::Interrupted),
            _ => Ok(()),
        }
    }

    /// A work counter for one thread's loop.
    pub fn meter(&self) -> Meter<'a> {
        Meter { cancel: *self, work: 0 }
    }
}

impl fmt::Debug for Cancel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Cancel(hook)" } else { "Cancel(never)" })
    }
}

/// Counts the work of one thread and asks the hook every [`POLL_WORK`] units.
#[derive(Debug)]
pub struct Meter<'a> {
    cancel: Cancel<'a>,
    work: u64,
}

impl Meter<'_> {
    /// Records `work` units done; asks the hook when enough has accumulated.
    #[inline]
    pub fn add(&mut self, work: usize) -> Result<()> {
        self.work += work as u64;
        if self.work < POLL_WORK {
            return Ok(());
        }
        self.work = 0;
        self.cancel.check()
    }
}

/// The work a value written to fresh memory counts for: the first write to a page costs a
/// page fault, which in a virtual machine was measured at ~6 ms per MB (a gigabyte of
/// fresh buffer is seconds), far more than a multiply-add.
pub const FRESH_WRITE_WORK: usize = 16;

/// Values written per meter update in the loops that fill fresh buffers.
pub const FILL_CHUNK: usize = 1 << 16;


/// `0..n` in consecutive blocks of at most `max(1, MAX_BLOCK / work_per_item)` items: one
/// block when the whole is small enough.
pub fn blocks(n: usize, work_per_item: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let size = (MAX_BLOCK / work_per_item.max(1)).max(1);
    (0..n).step_by(size).map(move |s| s..(s + size).min(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_meter_asks_once_per_poll_work_and_a_stop_is_sticky() {
        let calls = AtomicUsize::new(0);
        let ask = || calls.fetch_add(1, Ordering::SeqCst) >= 2;
        let hook = Hook::new(&ask);
        let mut m = hook.cancel().meter();
        for _ in 0..(2 * POLL_WORK / 1000) {
            m.add(1000).unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "asked once after POLL_WORK units");
        assert!(m.add(POLL_WORK as usize).is_ok());
        assert_eq!(m.add(POLL_WORK as usize), Err(KernelError::Interrupted));
        assert_eq!(hook.cancel().check(), Err(KernelError::Interrupted));
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a stop is not asked again");
        assert!(Cancel::NEVER.meter().add(usize::MAX / 2).is_ok());
    }

    #[test]
    fn blocks_cover_the_range_within_the_work_bound() {
        let b: Vec<_> = blocks(10, MAX_BLOCK / 3).collect();
        assert_eq!(b, vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(blocks(5, 1).collect::<Vec<_>>(), vec![0..5]);
        assert_eq!(blocks(2, usize::MAX).collect::<Vec<_>>(), vec![0..1, 1..2]);
        assert_eq!(blocks(0, 7).count(), 0);
    }
}
