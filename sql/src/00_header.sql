-- segkpi - install script of the current version.
--
-- Built by the Makefile from the files of sql/src, in name order; edit
-- those, never the built segkpi--<version>.sql.  Each file holds one
-- concern and the one current definition of each of its objects; an
-- upgrade script sql/segkpi--A--B.sql holds only what changed between two
-- versions, and test/t/015_install_upgrade.pl proves that installing this
-- script and updating from every older version give the same catalog.
--
-- CREATE EXTENSION runs this script as the bootstrap superuser (segkpi is
-- trusted), so it keeps three rules:
--   - every function and operator it calls, and every one its views use,
--     is schema-qualified (pg_catalog or segkpi), so that nothing another
--     role created can be picked instead;
--   - objects are created once (no CREATE OR REPLACE): a clash is an error;
--   - it never reads or writes an object that is not the extension's own:
--     customer-level tables are made and changed only by functions running
--     as the caller.

\echo Use "CREATE EXTENSION segkpi" to load this file. \quit

-- Names this script leaves unqualified (functions, operators, types)
-- resolve in pg_catalog only: never in schema segkpi, where another role
-- might have put a better match, nor in pg_temp, which is searched last
-- for relations and types and never for functions and operators.  The
-- extension's own objects are always written segkpi.<name>.
SET LOCAL search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------
-- Install guard: the schema is the installer's, and empty
------------------------------------------------------------------------

-- CREATE EXTENSION creates schema segkpi as the installing role, or uses
-- one that exists.  An existing schema owned by another role, or holding
-- functions, operators or types, could hand this script (which runs as
-- superuser) an object of someone else's: refuse it.  The only objects
-- accepted are the customer-level tables an earlier installation left
-- behind (DROP EXTENSION keeps them: they are not members); nothing here
-- touches them, and segkpi.ensure_customer_tables adopts them later,
-- running as their owner.
DO $guard$
DECLARE
    installer oid;
    schema_owner oid;
    found text;
BEGIN
    SELECT e.extowner INTO installer
      FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'segkpi';
    SELECT n.nspowner INTO schema_owner
      FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'segkpi';
    IF schema_owner OPERATOR(pg_catalog.<>) installer
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) schema_owner) THEN
        RAISE EXCEPTION 'schema "segkpi" belongs to role %, not to the role installing segkpi',
                        schema_owner::pg_catalog.regrole
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its owner could place objects in it that this script, running as superuser, would use.',
                  HINT = 'Drop or rename that schema, or have its owner install segkpi.';
    END IF;
    SELECT pg_catalog.string_agg(o.what, ', ' ORDER BY o.what) INTO found
      FROM (SELECT pg_catalog.format('%s %s', k.kind, k.name) AS what
              FROM (SELECT 'relation' AS kind, c.relname::text AS name, c.oid AS rel, c.relkind, i.indrelid
                      FROM pg_catalog.pg_class c
                      LEFT JOIN pg_catalog.pg_index i ON i.indexrelid OPERATOR(pg_catalog.=) c.oid
                     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'type', t.typname::text, t.typrelid, NULL, NULL
                      FROM pg_catalog.pg_type t
                     WHERE t.typnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                       AND t.typelem OPERATOR(pg_catalog.=) 0
                    UNION ALL
                    SELECT 'array type', t.typname::text, e.typrelid, NULL, NULL
                      FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type e ON e.oid OPERATOR(pg_catalog.=) t.typelem
                     WHERE t.typnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'function', p.oid::pg_catalog.regprocedure::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_proc p
                     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'operator', o.oid::pg_catalog.regoperator::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_operator o
                     WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'collation', c.collname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_collation c
                     WHERE c.collnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'conversion', c.conname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_conversion c
                     WHERE c.connamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'operator family', f.opfname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_opfamily f
                     WHERE f.opfnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'text search configuration', c.cfgname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_ts_config c
                     WHERE c.cfgnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'statistics object', s.stxname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_statistic_ext s
                     WHERE s.stxnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace) k
             -- a leftover table, its indexes, its row type and the array of it
             WHERE NOT (COALESCE(k.indrelid, k.rel) OPERATOR(pg_catalog.=) ANY (ARRAY(
                            SELECT c.oid FROM pg_catalog.pg_class c
                             WHERE c.relnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                               AND c.relkind OPERATOR(pg_catalog.=) 'r'
                               AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['customer_features', 'customer_segments']::name[])))
                        AND COALESCE(k.relkind, 'r') OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'i']::"char"[]))) o;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'schema "segkpi" already holds objects that are not segkpi''s: %', found
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'Only the customer-level tables of an earlier segkpi installation may be there.',
                  HINT = 'Move those objects to another schema or drop them, then install segkpi.';
    END IF;
END
$guard$;
