//! The one error type of the kernels. The binding layer maps each variant to a Python
//! exception (`Shape`/`Value` -> `ValueError`).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// An array does not have the size the other arguments imply.
    Shape { what: String, expected: String, got: String },
    /// An argument is outside its allowed range (an id >= vocab, a length > T, ...).
    Value(String),
    /// The caller's cancellation hook asked to stop (e.g. Ctrl-C).
    Interrupted,
}

impl KernelError {
    pub fn shape(what: impl Into<String>, expected: impl fmt::Debug, got: impl fmt::Debug) -> Self {
        KernelError::Shape {
            what: what.into(),
            expected: format!("{expected:?}"),
            got: format!("{got:?}"),
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Shape { what, expected, got } => {
                write!(f, "{what}: expected shape {expected}, got {got}")
            }
            KernelError::Value(msg) => f.write_str(msg),
            KernelError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for KernelError {}

pub type Result<T> = std::result::Result<T, KernelError>;

/// Checks that a slice holds exactly `dims.iter().product()` values.
pub fn check_len(what: &str, data: &[f32], dims: &[usize]) -> Result<()> {
    let want: usize = dims.iter().product();
    if data.len() != want {
        return Err(KernelError::Shape {
            what: what.to_string(),
            expected: format!("{dims:?} ({want} values)"),
            got: format!("{} values", data.len()),
        });
    }
    Ok(())
}

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
