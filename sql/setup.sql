-- setup: install segkpi the way a DBA would, as a database owner who is
-- not a superuser (segkpi is a trusted extension), and check the catalog.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_segkpi_owner;
RESET client_min_messages;
CREATE ROLE regress_segkpi_owner LOGIN;
DO $$ BEGIN
    EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_segkpi_owner', current_database());
END $$;
SET ROLE regress_segkpi_owner;
SELECT rolsuper FROM pg_roles WHERE rolname = current_user;
-- The first release, then every upgrade script in turn (as hll's suite
-- does), so everything after this tests an upgraded install.  A fresh
-- CREATE EXTENSION takes the same path: there is no install script past 0.1.
SELECT version, trusted, relocatable FROM pg_available_extension_versions
 WHERE name = 'segkpi' ORDER BY version;
SELECT source, target, path FROM pg_extension_update_paths('segkpi')
 WHERE path IS NOT NULL ORDER BY source, target;
CREATE EXTENSION segkpi VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'segkpi';
ALTER EXTENSION segkpi UPDATE;
RESET ROLE;
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'segkpi';

-- Every object of the extension carries a COMMENT.
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'segkpi')
   AND d.deptype = 'e'
   AND d.classid <> 'pg_type'::regclass  -- array and row types are commented via their base
   AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
   AND NOT (d.classid = 'pg_trigger'::regclass)
 ORDER BY 1;

-- ... and every column of its tables and composite types.
SELECT c.relname, a.attname
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'segkpi'::regnamespace AND a.attnum > 0
   AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'c', 'm')
   AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY 1, 2;

-- Every C function is marked PARALLEL SAFE except rfm_scores and
-- activities, which read a whole relation themselves and so run once, in
-- the leader (RESTRICTED).
SELECT p.oid::regprocedure FROM pg_proc p
 WHERE p.pronamespace = 'segkpi'::regnamespace AND p.prolang = 13 /* C */ AND p.proparallel <> 's'
 ORDER BY 1;

-- Error helper for the other suites: runs a statement and returns its
-- SQLSTATE and message instead of failing, so outputs show both.
CREATE FUNCTION public.sqlerr(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Plan helper for the parallel suites: the shape of a statement's plan,
-- one line per node, indented by depth: node type (aggregates named by
-- strategy, as in text EXPLAIN), partial/finalize mode, parallel
-- awareness, relation and planned workers; init plans and subplans say
-- so.  Built from EXPLAIN's JSON, because the text form changes between
-- majors in what these tests do not care about (how parameters are
-- written, window definitions) while the shape is what they check.
CREATE FUNCTION public.plan_shape(stmt text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (COSTS OFF, FORMAT JSON) ' || stmt INTO plan;
    RETURN QUERY
    WITH RECURSIVE node(n, depth, path) AS (
        SELECT plan -> 0 -> 'Plan', 0, ARRAY[0]
        UNION ALL
        SELECT c.value, node.depth + 1, node.path || c.ord::int
          FROM node, json_array_elements(node.n -> 'Plans') WITH ORDINALITY AS c(value, ord)
    )
    SELECT repeat('  ', depth)
           || CASE WHEN n ->> 'Parent Relationship' IN ('InitPlan', 'SubPlan')
                   THEN (n ->> 'Parent Relationship') || ': ' ELSE '' END
           || CASE WHEN n ->> 'Partial Mode' IN ('Partial', 'Finalize')
                   THEN (n ->> 'Partial Mode') || ' ' ELSE '' END
           || CASE WHEN (n ->> 'Parallel Aware')::boolean THEN 'Parallel ' ELSE '' END
           || CASE WHEN n ->> 'Node Type' <> 'Aggregate' THEN n ->> 'Node Type'
                   WHEN n ->> 'Strategy' = 'Hashed' THEN 'HashAggregate'
                   WHEN n ->> 'Strategy' = 'Sorted' THEN 'GroupAggregate'
                   WHEN n ->> 'Strategy' = 'Mixed' THEN 'MixedAggregate'
                   ELSE 'Aggregate' END
           || coalesce(' on ' || (n ->> 'Relation Name'), '')
           || coalesce(' (' || (n ->> 'Workers Planned') || ' workers planned)', '')
      FROM node ORDER BY path;
END
$$;
