//! How much memory a call may plan to use, checked before it allocates: an allocation the
//! system cannot back kills the process instead of failing.

use crate::error::{KernelError, Result};

/// How many bytes a single call may plan to allocate: three quarters of the machine's
/// memory (Linux `/proc/meminfo`), or 8 GiB where that cannot be read. Checked up front,
/// because an allocation the system cannot back kills the process instead of failing.
pub fn memory_budget() -> u64 {
    use std::sync::OnceLock;
    static BUDGET: OnceLock<u64> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map(|kb| kb * 1024 / 4 * 3)
            .unwrap_or(8 << 30)
    })
}

/// `Err` when a call would need more than `memory_budget()` bytes.
pub fn check_memory(what: &str, bytes: u128) -> Result<()> {
    let budget = memory_budget();
    if bytes > u128::from(budget) {
        return Err(KernelError::Value(format!(
            "{what} would need about {:.1} GiB of memory, more than this machine allows ({:.1} GiB): use smaller sizes",
            bytes as f64 / (1u64 << 30) as f64,
            budget as f64 / (1u64 << 30) as f64
        )));
    }
    Ok(())
}
