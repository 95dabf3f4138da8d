-- pg_table_size (heap, TOAST, free-space and visibility maps) of the tables in $1 only.
-- A table dropped since its counters were read has a NULL size; the caller skips it.
select relid, pg_table_size(relid) as size_bytes
from unnest($1::oid[]) as relid
