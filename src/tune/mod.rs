//! The recommendation engine.

pub mod input;
pub use input::{Os, Profile, Storage};
