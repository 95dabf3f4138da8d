//! Rendering: pure functions from values to text (conf snippets, SQL, JSON, tables).
//! Nothing here reads files, the clock or the environment.

pub mod explain;
pub mod fleet;
pub mod layout;
pub mod metrics;
pub mod probe;
pub mod recommend;
pub mod redis;
pub mod redis_conf;
pub mod report;
pub mod sanitize;
pub mod svg;
pub mod verdict;
pub mod watch;
