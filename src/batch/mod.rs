//! Batching: the LogBatcher Durable Object, its policy, poison isolation and dead letters.
pub mod dead_letter;
pub mod fault_injection;
pub mod log_batcher;
pub mod part;
pub mod poison;
pub mod policy;
pub mod replay;
pub mod settle;
pub mod status;
