//! Command-line resolution: flags, environment and files become one set of values.
