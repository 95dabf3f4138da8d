//! Connection parameters the way libpq reads them (being written): connection strings in both
//! spellings, the password file, and password redaction for messages.

mod parse;
mod pgpass;
mod redact;

pub use parse::{is_connection_string, parse_connection_string};
pub use pgpass::{Key as PassFileKey, Lookup as PassFileLookup, lookup as passfile_lookup};
pub use redact::redact;
