-- Buffers per relation: the per-buffer scan. Relations of the connected database (and shared
-- catalogs) resolve by joining their file to pg_class in one hash join; pg_filenode_relation
-- (which also finds mapped catalogs, whose pg_class.relfilenode is 0) is asked only for the
-- files the join left unmatched: called for every file it was one catalog index scan each,
-- most of the query's time with 20,000 tables. Other databases' buffers are summed in one row
-- (other = true), and buffers of this database whose file no longer maps to a relation
-- (dropped, rewritten) in another (relid null).
-- $1: how many relations to keep, most buffers first. Sizes only for the rows kept.
with b as (
    select reldatabase, reltablespace, relfilenode,
           count(*)::int8 as buffers,
           count(*) filter (where isdirty)::int8 as dirty
    from @extschema@.pg_buffercache
    where relfilenode is not null
    group by reldatabase, reltablespace, relfilenode
), here as (
    select oid, dattablespace from pg_database where datname = current_database()
), files as (
    -- pg_class names the database's default tablespace 0; pg_buffercache names it.
    select c.oid as relid,
           case when c.reltablespace = 0 then (select dattablespace from here)
                else c.reltablespace end as spc,
           c.relfilenode
    from pg_class c
    where c.relfilenode <> 0
), r as (
    select case when b.reldatabase = 0 or b.reldatabase = (select oid from here)
                then coalesce(f.relid,
                              pg_filenode_relation(b.reltablespace, b.relfilenode)::oid)
           end as relid,
           (b.reldatabase <> 0 and b.reldatabase <> (select oid from here)) as other,
           b.buffers, b.dirty
    from b
    left join files f
      on f.relfilenode = b.relfilenode and f.spc = b.reltablespace
     and (b.reldatabase = 0 or b.reldatabase = (select oid from here))
), g as (
    select relid, other, sum(buffers)::int8 as buffers, sum(dirty)::int8 as dirty
    from r
    group by relid, other
), ranked as (
    select g.*,
           row_number() over (partition by relid is null order by buffers desc, relid) as rank,
           count(*) over (partition by relid is null)::int8 as relations_total
    from g
)
select k.relid, k.other, k.buffers, k.dirty, k.relations_total,
       n.nspname as schema, c.relname as name, c.relkind::text as kind,
       (pg_relation_size(c.oid, 'main') + pg_relation_size(c.oid, 'fsm')
        + pg_relation_size(c.oid, 'vm') + pg_relation_size(c.oid, 'init'))::int8 as size_bytes
from ranked k
left join pg_class c on c.oid = k.relid
left join pg_namespace n on n.oid = c.relnamespace
where k.relid is null or k.rank <= $1
order by k.relid is null, k.buffers desc
