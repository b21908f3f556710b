-- rfm_segment and the rules table: default names, custom rulesets, guard.
SELECT r, f, segkpi.rfm_segment(r, f, 3) AS segment
  FROM generate_series(5, 1, -1) r, generate_series(1, 5) f
 ORDER BY r DESC, f;

-- every one of the 125 cells is named by the default ruleset
SELECT count(*) FILTER (WHERE segkpi.rfm_segment(r, f, m) IS NULL) AS unnamed,
       count(DISTINCT segkpi.rfm_segment(r, f, m)) AS segments
  FROM generate_series(1, 5) r, generate_series(1, 5) f, generate_series(1, 5) m;

-- The default ruleset is read-only; a copy is editable.
SELECT sqlerr($$UPDATE segkpi.rfm_rules SET segment = 'Stars' WHERE ruleset = 'default' AND rule_order = 10$$);
SELECT sqlerr($$DELETE FROM segkpi.rfm_rules WHERE ruleset = 'default'$$);
SELECT sqlerr($$INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment) VALUES ('default', 1, 'All')$$);
SELECT sqlerr($$TRUNCATE segkpi.rfm_rules$$);
SELECT segkpi.rfm_ruleset_copy('default', 'mine');
UPDATE segkpi.rfm_rules SET segment = 'Stars' WHERE ruleset = 'mine' AND segment = 'Champions';
-- an earlier rule wins: big spenders among the lost get their own name
INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment, r_min, r_max, m_min, m_max)
VALUES ('mine', 5, 'Lost Whales', 1, 1, 5, 5);
SELECT segkpi.rfm_segment(5, 5, 5, 'mine') AS five, segkpi.rfm_segment(1, 1, 5, 'mine') AS whale,
       segkpi.rfm_segment(1, 1, 4, 'mine') AS lost, segkpi.rfm_segment(5, 5, 5) AS default_five;

-- A ruleset need not cover every cell: uncovered cells give NULL.
INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment, r_min, r_max) VALUES ('partial', 1, 'Recent', 4, 5);
SELECT segkpi.rfm_segment(5, 1, 1, 'partial') AS recent, segkpi.rfm_segment(1, 1, 1, 'partial') IS NULL AS uncovered;

-- rfm_score uses the ruleset given, with scores rescaled to five bins.
SET timezone = 'UTC';
SELECT c, (s).r, (s).f, (s).segment
  FROM (SELECT c, segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', 10, 'mine') OVER () s
          FROM (SELECT i AS c, timestamptz '2024-01-01' + i * interval '1 day' AS t, i AS a
                  FROM generate_series(1, 10) i) v
         GROUP BY c) x ORDER BY c;

-- bad input
SELECT sqlerr($$SELECT segkpi.rfm_segment(0, 1, 1)$$);
SELECT sqlerr($$SELECT segkpi.rfm_segment(1, 6, 1)$$);
SELECT sqlerr($$SELECT segkpi.rfm_segment(1, 1, 1, 'nope')$$);
SELECT segkpi.rfm_segment(NULL, 1, 1) IS NULL AS strict_null;
SELECT sqlerr($$INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment, r_min, r_max) VALUES ('mine', 99, 'Bad', 4, 2)$$);
SELECT sqlerr($$INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment) VALUES ('mine', 98, '')$$);
DELETE FROM segkpi.rfm_rules WHERE ruleset IN ('mine', 'partial');

-- The compact ruleset: four segments on R and F, every cell named once.
SELECT r, string_agg(segkpi.rfm_segment(r, f, 3, 'compact'), ' | ' ORDER BY f) AS "F = 1 .. 5"
  FROM generate_series(1, 5) r, generate_series(1, 5) f GROUP BY r ORDER BY r DESC;
SELECT count(*) AS cells_named_twice
  FROM generate_series(1, 5) r, generate_series(1, 5) f,
       LATERAL (SELECT count(*) AS n FROM segkpi.rfm_rules x
                 WHERE x.ruleset = 'compact' AND r BETWEEN x.r_min AND x.r_max AND f BETWEEN x.f_min AND x.f_max) m
 WHERE m.n <> 1;
-- like "default", it is the extension's: read-only
SELECT sqlerr($$UPDATE segkpi.rfm_rules SET segment = 'Top' WHERE ruleset = 'compact' AND rule_order = 10$$);
SELECT sqlerr($$INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment) VALUES ('compact', 99, 'Other')$$);
