//! Collection of statistics from a live server (stub; being written).
