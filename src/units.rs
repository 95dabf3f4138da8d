//! Sizes and durations with PostgreSQL semantics.
