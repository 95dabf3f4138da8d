-- Every pg_settings row. sourcefile and sourceline are NULL unless the role is a superuser
-- or has pg_read_all_settings; that is expected, not an error.
select name,
       setting,
       unit,
       vartype,
       context,
       source,
       sourcefile,
       sourceline,
       pending_restart,
       enumvals
from pg_settings
order by name
