-- Extension 1.4 (PostgreSQL 16) on: the cheap summary, no per-buffer rows and no buffer
-- manager locks. @extschema@ is the extension's schema as quote_ident() returned it.
select buffers_used::int8 as used,
       buffers_dirty::int8 as dirty,
       buffers_pinned::int8 as pinned
from @extschema@.pg_buffercache_summary()
