-- pg_relation_size of the indexes in $1 only. An index dropped since its counters were
-- read has a NULL size; the caller skips it.
select relid, pg_relation_size(relid) as size_bytes
from unnest($1::oid[]) as relid
