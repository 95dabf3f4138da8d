//! Diagnosis: ratios, settings diff, findings (being written). So far: the relation patterns
//! of `--schema`/`--exclude` and the number formats findings and reports share.

pub mod pattern;
pub mod text;

pub use pattern::Pattern;
