//! Rendering: pure functions from values to text.

pub mod probe;
