//! charrnn-core: the numerical heart of charrnn, in plain Rust (no Python).
//!
//! * [`layer`]: LSTM / vanilla RNN / GRU layers over a whole batch, forward and backward
//!   through time, on the packed layout of [`layout`] (padding is never computed);
//! * [`model`]: embedding -> stacked layers -> linear -> log-softmax cross-entropy;
//! * [`sampler`]: batched generation with temperature, top-k, prefix and a seeded RNG;
//! * [`ngram`]: an n-gram model's next-symbol distribution, and its mixture with the network;
//! * [`constraint`]: regular expressions and length ranges the sampler follows while drawing;
//! * [`cell`]: the cells' gate arithmetic and PyTorch-compatible weight layout;
//! * [`gemm`], [`packed_gemm`]: the one place matrix multiplies go through;
//! * [`loss`]: log-softmax cross-entropy; [`ops`]: element-wise operations on buffers;
//! * [`simd`]: vector `exp`/`sigmoid`/`tanh` and the CPU-feature dispatch;
//! * [`rng`]: the one seeded, named random generator;
//! * [`parallel`]: the worker threads; [`split`]: a batch cut into one group per thread;
//! * [`cancel`]: polling a caller's "stop?" hook as work adds up (Ctrl-C);
//! * [`memory`]: the memory budget checked before large allocations; [`optim`]: fused Adam.
//!
//! Every entry point validates its inputs and returns [`KernelError`] rather than panicking.
//! Every `unsafe fn` says what its caller must guarantee (`# Safety`), and its body marks
//! each unsafe operation explicitly (`unsafe_op_in_unsafe_fn`).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod cancel;
pub mod cell;
pub mod constraint;
pub mod dropout;
pub mod error;
pub mod gemm;
pub mod layer;
pub mod layout;
pub mod loss;
pub mod memory;
pub mod model;
pub mod ngram;
pub mod ops;
pub mod optim;
pub mod packed_gemm;
pub mod parallel;
pub mod rng;
pub mod sampler;
pub mod simd;
pub mod split;

pub use cell::CellKind;
pub use cancel::{Cancel, Hook};
pub use error::{KernelError, Result};
pub use layout::SeqLayout;
