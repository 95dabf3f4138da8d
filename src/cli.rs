//! Command-line interface (clap derive). No logic lives here.
