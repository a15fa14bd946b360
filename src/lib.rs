#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod raw;
mod secret;

#[cfg(feature = "contract")]
pub mod contract;

pub use secret::Secret;
