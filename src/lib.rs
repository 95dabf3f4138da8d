//! pgcache-tune: PostgreSQL cache tuning for the people who run it behind busy APIs.
//!
//! Data flows one way: inputs → facts → analysis → rendering. [`cli`] parses flags and
//! [`app`] resolves them into values; [`host`] reads the machine (the only code that touches
//! `/proc` and `/sys`); [`tune`] is a pure function from facts to recommendations; [`render`]
//! turns values into text. [`units`] owns every size and duration conversion, with
//! PostgreSQL's semantics. [`exit`] names the process exit codes.

pub mod app;
pub mod cli;
pub mod collect;
pub mod conninfo;
pub mod diag;
pub mod exit;
pub mod facts;
pub mod fleet;
pub mod gate;
pub mod host;
pub mod redis;
pub mod render;
pub mod sqllex;
pub mod statement;
pub mod tune;
pub mod units;
