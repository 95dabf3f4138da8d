-- Whether this role may call pg_control_system() (for system_identifier.sql).
select has_function_privilege('pg_control_system()', 'EXECUTE') as may_read_control
