//! Diagnosis: ratios, settings diff, findings (stub; being written).
