//! charrnn-core: the numerical heart of charrnn, in plain Rust (no Python).
//!
//! * [`layer`]: LSTM / vanilla RNN / GRU layers over a whole batch, forward and backward
//!   through time, on the packed layout of [`layout`] (padding is never computed);
//! * [`model`]: embedding -> stacked layers -> linear -> log-softmax cross-entropy;
//! * [`sampler`]: batched generation with temperature, top-k, prefix and a seeded RNG;
//! * [`cell`]: the cells' gate arithmetic and PyTorch-compatible weight layout;
//! * [`gemm`]: the one place matrix multiplies go through.
//!
//! Every entry point validates its inputs and returns [`KernelError`] rather than panicking.

pub mod cancel;
pub mod cell;
pub mod error;
pub mod gemm;
pub mod layer;
pub mod layout;
pub mod model;
pub mod optim;
pub mod packed_gemm;
pub mod parallel;
pub mod sampler;
pub mod simd;

pub use cell::CellKind;
pub use cancel::{Cancel, Hook};
pub use error::{KernelError, Result};
pub use layout::SeqLayout;
