/*
 * segkpi 0.5 -> 0.6 - upgrade script.
 *
 * From 0.6 on, the install script is built from the files of sql/src and an
 * upgrade script holds only what changed.
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.6'" to load this file. \quit
