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
