-- test/lib/catalog.sql - one line per fact about the installed segkpi, for
-- comparing two installations (a fresh CREATE EXTENSION against one
-- updated from an older version: test/t/015_install_upgrade.pl).
--
-- Covers every member of the extension and what hangs off it: function
-- definitions (body, volatility, strictness, parallel safety, SET
-- clauses), aggregates, types with their attributes and enum labels,
-- tables with columns, defaults, constraints, indexes, triggers and
-- policies, view definitions and options, sequences, comments (objects
-- and columns), privileges, and the extension's configuration tables.
-- Nothing depends on OIDs, so two databases compare line by line.
WITH ext AS (
    SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'segkpi'
),
members AS (
    SELECT d.classid, d.objid, pg_catalog.pg_describe_object(d.classid, d.objid, 0) AS what
      FROM pg_catalog.pg_depend d, ext
     WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid = ext.oid AND d.deptype = 'e'
),
facts AS (
    SELECT 'member' AS kind, m.what AS object, '' AS detail FROM members m
    UNION ALL
    SELECT 'comment', m.what, pg_catalog.obj_description(m.objid, c.relname)
      FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.classid
     WHERE pg_catalog.obj_description(m.objid, c.relname) IS NOT NULL
    UNION ALL
    SELECT 'function', m.what, pg_catalog.pg_get_functiondef(p.oid)
      FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.prokind IN ('f', 'p', 'w')
    UNION ALL
    SELECT 'function acl', m.what, p.proacl::text
      FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    UNION ALL
    SELECT 'function cost', m.what, pg_catalog.concat_ws(' ', p.procost, p.prorows, p.proparallel, p.prosupport, p.prosecdef, p.proleakproof)
      FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    UNION ALL
    SELECT 'function args', m.what,
           pg_catalog.concat_ws(' -> ', pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid))
      FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    UNION ALL
    SELECT 'aggregate', m.what,
           pg_catalog.concat_ws(' ', a.aggkind, a.aggnumdirectargs, a.aggtransfn, a.aggfinalfn, a.aggcombinefn,
                     a.aggserialfn, a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn,
                     a.aggfinalextra, a.aggfinalmodify, a.aggsortop, a.aggtranstype::pg_catalog.regtype,
                     a.aggtransspace, a.agginitval, a.aggminitval)
      FROM members m JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    UNION ALL
    SELECT 'type', m.what,
           pg_catalog.concat_ws(' ', t.typtype, t.typlen, t.typbyval, t.typalign, t.typstorage, t.typcategory,
                     t.typinput, t.typoutput, t.typreceive, t.typsend, t.typanalyze,
                     t.typnotnull, t.typbasetype::pg_catalog.regtype, t.typdefault, t.typacl)
      FROM members m JOIN pg_catalog.pg_type t ON t.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
    UNION ALL
    SELECT 'enum label', m.what, pg_catalog.concat_ws(' ', e.enumlabel, e.enumsortorder)
      FROM members m JOIN pg_catalog.pg_enum e ON e.enumtypid = m.objid
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
    UNION ALL
    SELECT 'relation', m.what,
           pg_catalog.concat_ws(' ', c.relkind, c.relpersistence, c.reloptions::text, c.relacl::text,
                     c.relrowsecurity, c.relforcerowsecurity, c.relreplident)
      FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL
    SELECT 'column', m.what || ' . ' || a.attname,
           pg_catalog.concat_ws(' ', a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                     a.attidentity, a.attgenerated, a.attcollation::pg_catalog.regcollation::text, a.attacl::text,
                     pg_catalog.pg_get_expr(ad.adbin, ad.adrelid),
                     pg_catalog.col_description(c.oid, a.attnum))
      FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.objid
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL
    SELECT 'constraint', m.what || ' . ' || k.conname, pg_catalog.pg_get_constraintdef(k.oid)
      FROM members m JOIN pg_catalog.pg_constraint k ON k.conrelid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL
    SELECT 'index', m.what, pg_catalog.pg_get_indexdef(i.indexrelid)
      FROM members m JOIN pg_catalog.pg_index i ON i.indrelid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL
    SELECT 'trigger', m.what || ' . ' || g.tgname, pg_catalog.concat_ws(' ', pg_catalog.pg_get_triggerdef(g.oid), g.tgenabled)
      FROM members m JOIN pg_catalog.pg_trigger g ON g.tgrelid = m.objid AND NOT g.tgisinternal
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL
    SELECT 'policy', m.what || ' . ' || p.polname,
           pg_catalog.concat_ws(' ', p.polcmd, p.polpermissive, p.polroles::text,
                     pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
      FROM members m JOIN pg_catalog.pg_policy p ON p.polrelid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL
    SELECT 'view', m.what, pg_catalog.pg_get_viewdef(c.oid)
      FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence', m.what,
           pg_catalog.concat_ws(' ', s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
                     s.seqcache, s.seqcycle)
      FROM members m JOIN pg_catalog.pg_sequence s ON s.seqrelid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION ALL
    SELECT 'config table', c.oid::pg_catalog.regclass::text, coalesce(ext.extcondition[u.i], '')
      FROM ext CROSS JOIN LATERAL pg_catalog.generate_subscripts(ext.extconfig, 1) AS u(i)
      JOIN pg_catalog.pg_class c ON c.oid = ext.extconfig[u.i]
    UNION ALL
    SELECT 'schema', n.nspname, pg_catalog.concat_ws(' ', n.nspacl::text, pg_catalog.obj_description(n.oid, 'pg_namespace'))
      FROM pg_catalog.pg_namespace n WHERE n.nspname = 'segkpi'
)
SELECT kind || ' | ' || object || ' | ' || pg_catalog.replace(coalesce(detail, '<null>'), E'\n', E'\n    ')
  FROM facts
 ORDER BY kind, object, detail;
