//! Connection parameters the way libpq reads them (stub; being written).
