//! The only code that talks to Redis (or Valkey): turns a redis-cli style URL plus flags into
//! a connection ([`connect`]), and reads INFO, CONFIG, ACL and DBSIZE into plain
//! [`RedisFacts`](crate::facts::redis::RedisFacts) ([`collect`]). Everything it learns is judged
//! elsewhere (`diag::redis`); nothing here decides what is good or bad.
//!
//! A Redis cache is a second source beside PostgreSQL, not a second program: errors map to the
//! same exit codes (a URL or flag problem is a usage error, an unreachable or refusing server a
//! server error), and passwords are handled like PostgreSQL's: taken from the URL, a file or
//! `REDISCLI_AUTH`, and never printed — the display form of a target has none, and every error
//! text passes through `conninfo::redact`.
//!
//! CONFIG and ACL are optional by design: managed services rename or block them (ElastiCache
//! blocks CONFIG, Memorystore all of ACL), and versions before 7.0 lack `ACL DRYRUN`. A server
//! that answers such a command with an error yields an unavailable answer, which the analysis
//! reports as unknown; only a broken connection (I/O error, timeout) fails the run.

mod connect;
mod read;

pub use connect::{ConnectOptions, PASSWORD_ENV, Target, connect};
pub use read::{CONFIG_PARAMETERS, DANGEROUS_COMMANDS, collect, sample};
