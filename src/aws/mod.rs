//! The real S3 Control client: setup, paging, caching, pacing, backoff, errors, and the durable
//! memory of baselines.

pub mod call;
pub mod client;
pub mod memory;
pub mod observe;
pub mod pace;
pub mod shared;

pub use call::{CallContext, CallError, FailureKind, Permits};
pub use client::{ClientOverrides, SetupError};
pub use memory::MemoryStore;
pub use pace::AdaptivePace;
pub use shared::SharedClients;
