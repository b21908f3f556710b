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
