-- pg_relation_size (main fork: what a sequential scan reads) of the relations an EXPLAIN
-- plan scanned, named by schema ($1) and relation ($2) as the plan prints them. A relation
-- the plan names but this role cannot see in pg_class is simply absent.
select n.nspname, c.relname, pg_relation_size(c.oid) as size_bytes
from unnest($1::text[], $2::text[]) as w(schema_name, rel_name)
join pg_namespace n on n.nspname = w.schema_name
join pg_class c on c.relnamespace = n.oid and c.relname = w.rel_name
