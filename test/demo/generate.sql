/*
 * test/demo/generate.sql -- deterministic demo / benchmark data for segkpi
 *
 * Usage (psql script; both variables are optional):
 *
 *   psql -v ON_ERROR_STOP=1 -v scale=<customers> -v seed=<int> \
 *        -f test/demo/generate.sql
 *
 *   scale  number of customers            (default 20000)
 *   seed   any integer, selects the data  (default 42)
 *
 * What it makes: schema "demo", dropped and re-created, with
 *
 *   demo.customers        one row per customer, firmographics + planted group
 *   demo.orders           ~10 per customer, 2022-01-01 .. 2024-12-31, with refunds
 *   demo.marketing_spend  monthly spend per channel, ~20% tagged with a segment
 *   demo.leads            ~3 per customer; converted ones point to a customer
 *   demo.feedback         1..5 scores from ~30% of customers
 *
 * It does not use the segkpi extension; it only needs PostgreSQL 11+
 * (hashint8extended).  Demos use as_of = 2025-01-01 00:00 UTC.
 *
 * Invariants (other scripts and tests rely on them):
 *
 *  - Deterministic: the same scale and seed give byte-identical table
 *    contents on every machine, PostgreSQL version and client TimeZone.
 *    Hence no random()/setseed (its algorithm changed in PG15).  Every random
 *    number is hashint8extended(<row key>, <stream seed>) mapped to [0,1),
 *    with one stream per attribute, so adding an attribute never shifts the
 *    others.  No float function whose last bit depends on the C library
 *    (exp, ln, pow, trig) touches the data: floats only go through + - * /,
 *    which IEEE 754 rounds identically everywhere; the few transcendental
 *    values needed (normal quantiles, log-normal factors) are computed once
 *    in numeric, which PostgreSQL implements itself.  Timestamps are built
 *    as Unix epoch seconds (to_timestamp(float8) is UTC by definition), and
 *    calendar logic works on dates, so the session TimeZone never matters.
 *  - All order, refund, spend and feedback times lie in
 *    [2022-01-01, 2025-01-01) UTC.  Leads may be created up to ~4 months
 *    before 2022 (the pipeline that produced the first customers).
 *  - A customer's first order is at acquired_at for most customers and
 *    1-10 days after it for ~12%; never before.
 *  - A refund is an orders row with amount < 0 and cost <= 0, dated 1-29
 *    days after the purchase it refunds, same customer and channel.  The
 *    purchase itself is not changed.  One-off buyers are never refunded, so
 *    every one_off customer has exactly one orders row.
 *  - planted_group is what the generator intended; segmentations should
 *    recover it:
 *      loyal_big  ~8%   frequent, last order in the last 15 days, big baskets
 *      one_off    ~30%  exactly one order, any time before October 2024
 *      lapsed     ~17%  first order before mid-2023, nothing (not even a
 *                       refund) in 2024
 *      new        ~10%  acquired from October 2024 on, 1-3 orders
 *      regular    rest  steady buyers, mostly still active
 *
 * Cost: one transaction; default scale runs in ~3 s, scale=1000000 (~10
 * million orders) in ~2.5 minutes on 2 cores.  Scratch data lives in temp
 * tables (no WAL), dropped at commit.
 */

\set ON_ERROR_STOP 1

\if :{?scale}
\else
  \set scale 20000
\endif
\if :{?seed}
\else
  \set seed 42
\endif

-- Refuse nonsense early: the variables are pasted into SQL text below.
SELECT CASE WHEN :'scale' ~ '^[0-9]{1,9}$' AND :'seed' ~ '^-?[0-9]{1,18}$'
            THEN :'scale'::text::int BETWEEN 1 AND 100000000
            ELSE false END AS demo_args_ok \gset
\if :demo_args_ok
\else
  DO $$ BEGIN RAISE EXCEPTION 'generate.sql: scale must be an integer in 1..100000000, seed an integer'; END $$;
\endif

\echo generating demo data: scale = :scale customers, seed = :seed

BEGIN;

-- Scratch temp tables hold ~30 MB per 100k customers.  temp_buffers can only
-- change before the session first touches a temp table, so a second run in
-- the same session (\i) keeps the current value instead of failing.
DO $$
BEGIN
  PERFORM set_config('temp_buffers', '512MB', true);
EXCEPTION WHEN OTHERS THEN
  NULL;
END
$$;
SET LOCAL work_mem = '256MB';
SET LOCAL maintenance_work_mem = '512MB';
-- JIT compiles these wide expressions for ~0.5 s per statement and then
-- wins nothing back (measured): off.
SET LOCAL jit = off;
-- Nothing below depends on it, but it makes to_char/debug output agree.
SET LOCAL timezone = 'UTC';
SET LOCAL client_min_messages = warning;

DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
COMMENT ON SCHEMA demo IS
  'segkpi demo data made by test/demo/generate.sql (seeded, deterministic)';

/* ------------------------------------------------------------------------
 * Helpers (session-local, in pg_temp, so nothing is left behind)
 * ------------------------------------------------------------------------
 *
 * u(key, stream, seed): uniform in [0,1) with 52 random bits.  The hash
 * seed is itself a hash of (stream, seed), so streams of different seeds
 * never coincide.  A plain SQL expression: the planner inlines it and
 * folds the inner hash to a constant.
 */
CREATE OR REPLACE FUNCTION pg_temp.u(k bigint, stream int, seed bigint)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((hashint8extended(k, hashint8extended(stream, seed)) >> 12)
          & 4503599627370495)::double precision / 4503599627370496.0
$$;

/* q12(key, stream, seed): 12 random bits (0..4095), the index into normq. */
CREATE OR REPLACE FUNCTION pg_temp.q12(k bigint, stream int, seed bigint)
RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((hashint8extended(k, hashint8extended(stream, seed)) >> 52) & 4095)::int
$$;

/*
 * normq: 4096 equiprobable quantiles of the standard normal, and the
 * log-normal factors built from them.  A normal draw is then a join on 12
 * random bits.  Quantile by Tukey's lambda approximation
 * z = (p^0.14 - (1-p)^0.14) / 0.1975 (good to ~0.01 in the body), in
 * numeric so the result does not depend on the platform's libm.
 */
CREATE TEMP TABLE normq ON COMMIT DROP AS
SELECT q, z::double precision AS z,
       round(exp(0.45 * z), 8) AS f_customer,  -- spend level of a customer
       round(exp(0.55 * z), 8) AS f_order      -- one basket around that level
-- rounded well below numeric's precision, so a last-digit change in a future
-- power()/exp() cannot reach the data
FROM (SELECT q, round((power(p, 0.14) - power(1 - p, 0.14)) / 0.1975, 6) AS z
      FROM (SELECT q, (q + 0.5) / 4096.0 AS p
            FROM generate_series(0, 4095) AS q) s) s;

/*
 * Calendar of the 1096 days 2022-01-01 .. 2024-12-31 (day index d = 0..1095)
 * with integer weights, so that day sampling is exact integer arithmetic:
 *   w_ord  order intensity: month (Q4 peak, summer dip) x weekday (B2B:
 *          weekends quiet)
 *   w_acq  acquisition intensity: w_ord x (300 + d)^2, growth of ~9x over
 *          3 years; the group windows below flatten it to roughly
 *          19% / 39% / 42% of customers acquired in 2022 / 2023 / 2024
 *   c_*    cumulative weight of the days before d
 */
CREATE TEMP TABLE cal ON COMMIT DROP AS
SELECT d, w_ord, w_acq,
       (sum(w_ord) OVER (ORDER BY d))::bigint - w_ord AS c_ord,   -- sum() is numeric: back to
       (sum(w_acq) OVER (ORDER BY d))::bigint - w_acq AS c_acq    -- bigint for integer division
FROM (SELECT d, w::bigint AS w_ord, w::bigint * (300 + d) * (300 + d) AS w_acq
      FROM (SELECT d,
                   (ARRAY[ 90,  88,  98, 100, 100,  92,      -- Jan..Jun
                           82,  80, 100, 112, 128, 135])     -- Jul..Dec
                     [extract(month FROM date '2022-01-01' + d)::int]
                 * (ARRAY[110, 115, 115, 110, 100,  60,  45]) -- Mon..Sun
                     [extract(isodow FROM date '2022-01-01' + d)::int] AS w
            FROM generate_series(0, 1095) AS d) s) s;
CREATE UNIQUE INDEX ON cal (d);

SELECT sum(w_ord)::bigint AS w_ord_total, sum(w_acq)::bigint AS w_acq_total FROM cal \gset

/*
 * Inverse CDFs of the two calendars on 65536 buckets: bucket b covers
 * cumulative positions [b*W/65536, (b+1)*W/65536) and maps to the day
 * holding its first position.  To draw a day from [lo, hi] with the
 * calendar's weights: x = c(lo) + floor(u * (c(hi+1) - c(lo))), day =
 * inv(x * 65536 / W), clamped to [lo, hi] (a bucket can straddle a day
 * boundary).  An equi-join on b is far cheaper than a range join per row.
 */
CREATE TEMP TABLE inv_ord ON COMMIT DROP AS
SELECT b, d
FROM cal, generate_series((c_ord * 65536 + :w_ord_total - 1) / :w_ord_total,
                          ((c_ord + w_ord) * 65536 + :w_ord_total - 1) / :w_ord_total - 1) AS b;
CREATE TEMP TABLE inv_acq ON COMMIT DROP AS
SELECT b, d
FROM cal, generate_series((c_acq * 65536 + :w_acq_total - 1) / :w_acq_total,
                          ((c_acq + w_acq) * 65536 + :w_acq_total - 1) / :w_acq_total - 1) AS b;
CREATE UNIQUE INDEX ON inv_ord (b);
CREATE UNIQUE INDEX ON inv_acq (b);

/*
 * Planted groups.  share_* is the slice of the group draw; first orders are
 * drawn from [f_lo, f_hi] with acquisition weights.  Day 1004 = 2024-10-01,
 * day 730 = 2024-01-01, day 540 = 2023-06-25.
 */
CREATE TEMP TABLE grp (grp text, share_lo float8, share_hi float8, f_lo int, f_hi int)
  ON COMMIT DROP;
INSERT INTO grp VALUES
  ('loyal_big', 0.00, 0.08,    0,  820),   -- long tenure, so many orders
  ('one_off',   0.08, 0.38,    0, 1000),   -- not in the "new" window
  ('lapsed',    0.38, 0.55,    0,  540),   -- active early only
  ('new',       0.55, 0.65, 1015, 1095),   -- acquired_at >= 2024-10-01
  ('regular',   0.65, 1.00,    0,  990);
ANALYZE normq, cal, inv_ord, inv_acq, grp;

/* ------------------------------------------------------------------------
 * Customers: the plan
 * ------------------------------------------------------------------------
 * plan holds everything decided per customer, including what later tables
 * need (order window, number of orders, spend level).  Streams 1..29.
 * Day numbers: F = first order day, L = last order day.
 */
CREATE TEMP TABLE plan ON COMMIT DROP AS
WITH r AS (            -- one uniform per attribute; OFFSET 0 keeps each computed once
  SELECT id,
         pg_temp.u(id,  1, :seed) AS u_grp,
         pg_temp.u(id,  2, :seed) AS u_size,
         pg_temp.u(id,  3, :seed) AS u_emp,
         pg_temp.u(id,  4, :seed) AS u_ind,
         pg_temp.u(id,  5, :seed) AS u_region,
         pg_temp.u(id,  6, :seed) AS u_country,
         pg_temp.u(id,  7, :seed) AS u_rpe,
         pg_temp.u(id,  8, :seed) AS u_name1,
         pg_temp.u(id,  9, :seed) AS u_name2,
         pg_temp.u(id, 10, :seed) AS u_legal,
         pg_temp.u(id, 11, :seed) AS u_channel,
         pg_temp.u(id, 12, :seed) AS u_first,
         pg_temp.u(id, 13, :seed) AS u_last,
         pg_temp.u(id, 14, :seed) AS u_count,
         pg_temp.u(id, 15, :seed) AS u_tod_kind,
         pg_temp.u(id, 16, :seed) AS u_tod,
         pg_temp.u(id, 17, :seed) AS u_lag_kind,
         pg_temp.u(id, 18, :seed) AS u_lag,
         pg_temp.q12(id, 19, :seed) AS q_spend,
         pg_temp.u(id, 20, :seed) AS u_margin,
         pg_temp.u(id, 21, :seed) AS u_has_lead
  FROM generate_series(1, :scale::bigint) AS id
  OFFSET 0
), a AS (              -- group, firmographics, channel, first order day
  SELECT r.*, g.grp,
         greatest(g.f_lo, ia.d) AS f_day,  -- a bucket may start on day f_lo - 1
         CASE  -- big spenders skew to larger companies, one-off buyers to small ones
           WHEN g.grp = 'loyal_big' THEN CASE WHEN u_size < 0.25 THEN 'Small' WHEN u_size < 0.70 THEN 'Mid-size' ELSE 'Enterprise' END
           WHEN g.grp = 'one_off'   THEN CASE WHEN u_size < 0.65 THEN 'Small' WHEN u_size < 0.93 THEN 'Mid-size' ELSE 'Enterprise' END
           ELSE                          CASE WHEN u_size < 0.55 THEN 'Small' WHEN u_size < 0.88 THEN 'Mid-size' ELSE 'Enterprise' END
         END AS size_band,
         CASE WHEN u_ind < 0.18 THEN 'Healthcare' WHEN u_ind < 0.42 THEN 'Retail'
              WHEN u_ind < 0.68 THEN 'Technology' WHEN u_ind < 0.85 THEN 'Manufacturing'
              ELSE 'Finance' END AS industry,
         CASE WHEN u_region < 0.42 THEN 'North America' WHEN u_region < 0.72 THEN 'Europe'
              WHEN u_region < 0.90 THEN 'Asia-Pacific' ELSE 'Latin America' END AS region
  FROM r
  JOIN grp g ON r.u_grp >= g.share_lo AND r.u_grp < g.share_hi
  JOIN cal clo ON clo.d = g.f_lo
  JOIN cal chi ON chi.d = g.f_hi
  JOIN inv_acq ia
    ON ia.b = (clo.c_acq + floor(r.u_first * (chi.c_acq + chi.w_acq - clo.c_acq))::bigint)
              * 65536 / :w_acq_total
), b AS (              -- last order day, derived attributes
  SELECT a.*,
         CASE grp
           WHEN 'loyal_big' THEN 1081 + floor(u_last * 15)::int               -- last 15 days
           WHEN 'one_off'   THEN f_day
           WHEN 'lapsed'    THEN f_day + 30 + floor(u_last * (670 - f_day))::int  -- <= day 699, so refunds stay in 2023
           WHEN 'new'       THEN CASE WHEN u_count < 0.40 OR f_day = 1095 THEN f_day      -- 1 order
                                      ELSE f_day + 1 + floor(u_last * (1095 - f_day))::int END
           ELSE greatest(1095 - floor(240 * u_last * u_last)::int,            -- mostly recent
                         least(1095, f_day + 30))
         END AS l_day,
         CASE size_band  -- skewed towards the small end of each band
           WHEN 'Small'    THEN 1    + floor(49    * u_emp * u_emp * u_emp)::int
           WHEN 'Mid-size' THEN 50   + floor(950   * u_emp * u_emp)::int
           ELSE                 1000 + floor(49000 * u_emp * u_emp * u_emp * u_emp)::int
         END AS employees,
         CASE region
           WHEN 'North America' THEN (ARRAY['United States','United States','United States','United States','Canada'])[1 + floor(u_country * 5)::int]
           WHEN 'Europe'        THEN (ARRAY['Germany','Germany','United Kingdom','United Kingdom','France','Netherlands','Spain','Sweden','Poland','Italy'])[1 + floor(u_country * 10)::int]
           WHEN 'Asia-Pacific'  THEN (ARRAY['Australia','Australia','Japan','Japan','Singapore','India','South Korea','New Zealand'])[1 + floor(u_country * 8)::int]
           ELSE                      (ARRAY['Brazil','Brazil','Mexico','Mexico','Argentina','Chile','Colombia'])[1 + floor(u_country * 7)::int]
         END AS country,
         CASE  -- acquisition channel: small firms click ads, big ones meet at events
           WHEN size_band = 'Small' THEN CASE
             WHEN u_channel < 0.30 THEN 'Paid Search' WHEN u_channel < 0.55 THEN 'Social'
             WHEN u_channel < 0.65 THEN 'Email'       WHEN u_channel < 0.75 THEN 'Referral'
             WHEN u_channel < 0.78 THEN 'Events'      ELSE 'Organic' END
           WHEN size_band = 'Mid-size' THEN CASE
             WHEN u_channel < 0.22 THEN 'Paid Search' WHEN u_channel < 0.34 THEN 'Social'
             WHEN u_channel < 0.49 THEN 'Email'       WHEN u_channel < 0.67 THEN 'Referral'
             WHEN u_channel < 0.80 THEN 'Events'      ELSE 'Organic' END
           ELSE CASE
             WHEN u_channel < 0.10 THEN 'Paid Search' WHEN u_channel < 0.15 THEN 'Social'
             WHEN u_channel < 0.25 THEN 'Email'       WHEN u_channel < 0.50 THEN 'Referral'
             WHEN u_channel < 0.85 THEN 'Events'      ELSE 'Organic' END
         END AS channel,
         -- first order: 85% in office hours 08:00-18:00 UTC, the rest any time
         1640995200 + 86400 * f_day::bigint
           + CASE WHEN u_tod_kind < 0.85 THEN 28800 + floor(u_tod * 36000)::bigint
                  ELSE floor(u_tod * 86400)::bigint END AS first_secs
  FROM a
)
SELECT b.id AS customer_id, grp, size_band, employees, industry, region, country, channel,
       -- name: <word> <industry word> <legal form of the country>; not unique
       (ARRAY['Acme','Apex','Blue','Bright','Cedar','Clear','Crest','Delta','Eagle','Evergreen',
              'First','Golden','Granite','Harbor','Horizon','Iron','Keystone','Lake','Liberty','Maple',
              'Meridian','North','Nova','Oak','Orion','Pacific','Peak','Pine','Pioneer','Prime',
              'Quantum','Red','River','Silver','Stone','Summit','Sun','True','Union','Vertex',
              'West','Zenith'])[1 + floor(u_name1 * 42)::int]
       || ' ' ||
       (CASE industry
          WHEN 'Healthcare'    THEN ARRAY['Health','Care','Medical','Clinics','Bio','Pharma']
          WHEN 'Retail'        THEN ARRAY['Stores','Goods','Market','Outfitters','Trading','Supply']
          WHEN 'Technology'    THEN ARRAY['Systems','Labs','Software','Data','Networks','Digital']
          WHEN 'Manufacturing' THEN ARRAY['Industries','Works','Manufacturing','Components','Fabrication','Machinery']
          ELSE                      ARRAY['Capital','Financial','Partners','Advisors','Bank','Investments']
        END)[1 + floor(u_name2 * 6)::int]
       || ' ' ||
       (CASE country
          WHEN 'United States'  THEN ARRAY['Inc.','LLC','Corp.']
          WHEN 'Canada'         THEN ARRAY['Inc.','Ltd.']
          WHEN 'Germany'        THEN ARRAY['GmbH','AG']
          WHEN 'United Kingdom' THEN ARRAY['Ltd','PLC']
          WHEN 'France'         THEN ARRAY['SAS','S.A.']
          WHEN 'Netherlands'    THEN ARRAY['B.V.','N.V.']
          WHEN 'Spain'          THEN ARRAY['S.L.','S.A.']
          WHEN 'Sweden'         THEN ARRAY['AB','AB']
          WHEN 'Poland'         THEN ARRAY['Sp. z o.o.','S.A.']
          WHEN 'Italy'          THEN ARRAY['S.r.l.','S.p.A.']
          WHEN 'Australia'      THEN ARRAY['Pty Ltd','Pty Ltd']
          WHEN 'Japan'          THEN ARRAY['K.K.','G.K.']
          WHEN 'Singapore'      THEN ARRAY['Pte. Ltd.','Pte. Ltd.']
          WHEN 'India'          THEN ARRAY['Pvt. Ltd.','Ltd.']
          WHEN 'South Korea'    THEN ARRAY['Co., Ltd.','Co., Ltd.']
          WHEN 'New Zealand'    THEN ARRAY['Limited','Limited']
          WHEN 'Brazil'         THEN ARRAY['Ltda.','S.A.']
          WHEN 'Mexico'         THEN ARRAY['S.A. de C.V.','S.A. de C.V.']
          WHEN 'Argentina'      THEN ARRAY['S.A.','S.R.L.']
          WHEN 'Chile'          THEN ARRAY['SpA','S.A.']
          ELSE                       ARRAY['S.A.S.','S.A.']
        END)[1 + floor(u_legal * 2)::int]          -- two entries each (a form may repeat)
       AS company,
       -- revenue = employees x revenue per employee (industry level x 0.5..1.5)
       round((employees::float8 * CASE industry WHEN 'Healthcare' THEN 140000 WHEN 'Retail' THEN 180000
                                        WHEN 'Technology' THEN 220000 WHEN 'Manufacturing' THEN 160000
                                        ELSE 300000 END
                         * (0.5 + u_rpe))::numeric, -3)::numeric(16,2) AS annual_revenue,
       f_day, l_day,
       CASE
         WHEN grp = 'one_off' OR l_day = f_day THEN 1
         WHEN grp = 'new'     THEN CASE WHEN u_count < 0.75 THEN 2 ELSE 3 END  -- 40% / 35% / 25%
         WHEN grp = 'lapsed'  THEN 2 + floor(u_count * 7)::int                 -- 2..8
         -- orders per month of tenure: loyal 2.2..4.2, regular 0.55..1.55
         WHEN grp = 'loyal_big' THEN least(1000, greatest(6, floor((2.2 + 2.0 * u_count) * (l_day - f_day) / 30.4375 + 0.5)::int))
         ELSE                        least(1000, greatest(2, floor((0.55 + 1.0 * u_count) * (l_day - f_day) / 30.4375 + 0.5)::int))
       END AS n_orders,
       first_secs,
       -- acquired_at: the first order for most; 1-10 days earlier for ~12%
       -- (signed up, then bought), never before 2022-01-01
       greatest(1640995200,
                first_secs - CASE WHEN u_lag_kind < 0.12
                                  THEN floor(86400 + u_lag * 9 * 86400)::bigint ELSE 0 END) AS acquired_secs,
       -- typical basket: size band median x customer level (log-normal), big spenders x2.2
       round((CASE size_band WHEN 'Small' THEN 180 WHEN 'Mid-size' THEN 950 ELSE 4800 END)
             * nq.f_customer * CASE grp WHEN 'loyal_big' THEN 2.2 ELSE 1 END, 4) AS base_amount,
       -- this customer's cost / amount in basis points, 5700..7099; integer so
       -- that the per-order arithmetic stays in cheap exact numeric
       5700 + floor(1400 * u_margin)::int AS cost_bp,
       -- most customers come from a lead; organic and referral ones less often
       u_has_lead < CASE channel WHEN 'Organic' THEN 0.70 WHEN 'Referral' THEN 0.85 ELSE 0.97 END AS has_lead,
       -- cumulative order weights bounding days F+1 .. L, for the orders in between
       w1.c_ord AS ord_c_lo, w2.c_ord + w2.w_ord AS ord_c_hi
FROM b
JOIN normq nq ON nq.q = b.q_spend
JOIN cal w1 ON w1.d = least(b.f_day + 1, 1095)
JOIN cal w2 ON w2.d = b.l_day;

ANALYZE plan;

/* ------------------------------------------------------------------------
 * demo.customers
 * ------------------------------------------------------------------------ */
CREATE TABLE demo.customers (
  customer_id    bigint NOT NULL,
  company        text,
  size_band      text,            -- 'Small' 1-49, 'Mid-size' 50-999, 'Enterprise' 1000+ employees
  employees      int,
  industry       text,
  region         text,
  country        text,
  annual_revenue numeric(16,2),
  channel        text,            -- acquisition channel
  acquired_at    timestamptz,
  planted_group  text             -- ground truth for checking segmentations
);

INSERT INTO demo.customers
SELECT customer_id, company, size_band, employees, industry, region, country,
       annual_revenue, channel, to_timestamp(acquired_secs), grp
FROM plan
ORDER BY customer_id;

/* ------------------------------------------------------------------------
 * demo.orders
 * ------------------------------------------------------------------------
 * Per customer n_orders purchases: the first at first_secs, the last on
 * day L, the ones between drawn from days F+1..L with the order calendar's
 * weights (so seasonality and weekdays show).  Each purchase may bring a
 * refund row.  order_id follows time, as in a real order table, and rows
 * are stored in that order.  Streams 30..49, keyed by customer*1024 + k.
 */
CREATE TABLE demo.orders (
  order_id    bigint NOT NULL,
  customer_id bigint NOT NULL,
  ordered_at  timestamptz NOT NULL,
  amount      numeric(12,2) NOT NULL,  -- < 0 for a refund
  cost        numeric(12,2) NOT NULL,  -- <= 0 for a refund
  channel     text
);

INSERT INTO demo.orders
WITH r AS (
  SELECT p.customer_id, s.k, p.n_orders, p.grp, p.channel AS first_channel,
         p.f_day, p.l_day, p.first_secs, p.base_amount, p.cost_bp,
         p.ord_c_lo, p.ord_c_hi,
         pg_temp.u  (p.customer_id * 1024 + s.k, 30, :seed) AS u_day,
         pg_temp.u  (p.customer_id * 1024 + s.k, 31, :seed) AS u_tod_kind,
         pg_temp.u  (p.customer_id * 1024 + s.k, 32, :seed) AS u_tod,
         pg_temp.q12(p.customer_id * 1024 + s.k, 33, :seed) AS q_amount,
         pg_temp.u  (p.customer_id * 1024 + s.k, 34, :seed) AS u_cost,
         pg_temp.u  (p.customer_id * 1024 + s.k, 35, :seed) AS u_channel,
         pg_temp.u  (p.customer_id * 1024 + s.k, 36, :seed) AS u_refund,
         pg_temp.u  (p.customer_id * 1024 + s.k, 37, :seed) AS u_refund_days,
         pg_temp.u  (p.customer_id * 1024 + s.k, 38, :seed) AS u_refund_tod,
         pg_temp.u  (p.customer_id * 1024 + s.k, 39, :seed) AS u_refund_kind,
         pg_temp.u  (p.customer_id * 1024 + s.k, 40, :seed) AS u_refund_part
  FROM plan p
  CROSS JOIN LATERAL generate_series(1, p.n_orders) AS s(k)
  OFFSET 0
), purchase AS (
  SELECT r.customer_id, r.k, r.grp, r.u_refund, r.u_refund_days, r.u_refund_tod,
         r.u_refund_kind, r.u_refund_part,
         CASE WHEN r.k = 1 THEN r.first_secs
              ELSE 1640995200
                   + 86400 * CASE WHEN r.k = r.n_orders THEN r.l_day
                                  ELSE greatest(r.f_day + 1, least(r.l_day, io.d)) END::bigint
                   + CASE WHEN r.u_tod_kind < 0.85 THEN 28800 + floor(r.u_tod * 36000)::bigint
                          ELSE floor(r.u_tod * 86400)::bigint END
         END AS secs,
         greatest(1.00, round(r.base_amount * nq.f_order, 2)) AS amount,
         -- cost / amount: the customer's ratio -2..+2 points
         r.cost_bp - 200 + floor(r.u_cost * 400)::int AS cost_bp,
         CASE  -- repeat orders mostly come back through email and organic visits
           WHEN r.k = 1 THEN r.first_channel
           WHEN r.u_channel < 0.35 THEN 'Email'
           WHEN r.u_channel < 0.62 THEN 'Organic'
           WHEN r.u_channel < 0.80 THEN r.first_channel
           WHEN r.u_channel < 0.90 THEN 'Paid Search'
           WHEN r.u_channel < 0.96 THEN 'Social'
           ELSE 'Referral'
         END AS channel
  FROM r
  JOIN inv_ord io
    ON io.b = (r.ord_c_lo + floor(r.u_day * (r.ord_c_hi - r.ord_c_lo))::bigint)
              * 65536 / :w_ord_total
  JOIN normq nq ON nq.q = r.q_amount
), refund AS (
  SELECT pu.*, round(pu.amount * (pu.cost_bp * 0.0001), 2) AS cost,
         -- 1..29 days later, any time of day
         pu.secs + 86400 * (1 + floor(pu.u_refund_days * 28)::bigint)
                 + floor(pu.u_refund_tod * 86400)::bigint AS refund_secs
  FROM purchase pu
), row_out AS (
  SELECT rf.customer_id, rf.k, part,
         CASE part WHEN 0 THEN rf.secs ELSE rf.refund_secs END AS secs,
         CASE WHEN part = 0 THEN rf.amount
              WHEN rf.u_refund_kind < 0.55 THEN -rf.amount            -- full refund, goods back
              ELSE -round(rf.amount * ((10 + floor(rf.u_refund_part * 40)::int) * 0.01), 2)  -- partial credit, 10-49%
         END AS amount,
         CASE WHEN part = 0 THEN rf.cost
              WHEN rf.u_refund_kind < 0.55 THEN -rf.cost
              ELSE 0
         END AS cost,
         rf.channel
  FROM refund rf
  -- part 0 is the purchase, part 1 its refund (if any).  One-off buyers
  -- keep their single row; no refund may fall after 2024.
  CROSS JOIN LATERAL generate_series(0, CASE WHEN rf.grp <> 'one_off'
                                                  AND rf.u_refund < 0.026
                                                  AND rf.refund_secs < 1735689600
                                             THEN 1 ELSE 0 END) AS part
)
-- ROWS framing lets WindowAgg forget rows already numbered (the default
-- RANGE frame keeps peers around); ~30% faster here.
SELECT row_number() OVER (ORDER BY secs, customer_id, k, part ROWS UNBOUNDED PRECEDING),
       customer_id, to_timestamp(secs), amount, cost, channel
FROM row_out;

/* ------------------------------------------------------------------------
 * demo.leads
 * ------------------------------------------------------------------------
 * Converted leads: one per customer with has_lead, created 3-120 days
 * before acquired_at, converted at acquired_at.  Their attributes are the
 * customer's, except that ~2% miss one and ~3% self-reported a neighbouring
 * size band.  Unconverted leads are added per (channel, size band) so that
 * the conversion rate of the cell is about rate(channel) x factor(size).
 * lead_id follows created_at.  Streams 50..69.
 */
CREATE TABLE demo.leads (
  lead_id      bigint NOT NULL,
  created_at   timestamptz NOT NULL,
  converted_at timestamptz,
  customer_id  bigint,
  channel      text NOT NULL,
  size_band    text,
  industry     text,
  region       text
);

CREATE TEMP TABLE lead_cell ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY channel, size_band) AS cell_no, channel, size_band,
       converted,
       floor(converted * (1 - rate) / rate + 0.5)::bigint AS unconverted
FROM (SELECT channel, size_band, count(*) AS converted,
             least(0.9, CASE channel WHEN 'Referral' THEN 0.55 WHEN 'Events' THEN 0.40
                                     WHEN 'Email' THEN 0.35 WHEN 'Organic' THEN 0.40
                                     WHEN 'Paid Search' THEN 0.25 ELSE 0.18 END   -- Social
                        * CASE size_band WHEN 'Small' THEN 0.9 WHEN 'Mid-size' THEN 1.1
                                         ELSE 1.3 END) AS rate
      FROM plan WHERE has_lead
      GROUP BY channel, size_band) s;

INSERT INTO demo.leads
WITH conv AS (
  SELECT 0 AS kind, customer_id AS lkey, customer_id, channel,
         acquired_secs - 3 * 86400
           - floor(pg_temp.u(customer_id, 50, :seed) * 117 * 86400)::bigint AS created_secs,
         acquired_secs AS converted_secs,
         CASE WHEN u_size < 0.02 THEN NULL
              WHEN u_size < 0.05 THEN CASE size_band WHEN 'Small' THEN 'Mid-size'
                                                     WHEN 'Enterprise' THEN 'Mid-size'
                                                     WHEN 'Mid-size' THEN CASE WHEN u_size < 0.035 THEN 'Small' ELSE 'Enterprise' END END
              ELSE size_band END AS size_band,
         CASE WHEN pg_temp.u(customer_id, 52, :seed) < 0.02 THEN NULL ELSE industry END AS industry,
         CASE WHEN pg_temp.u(customer_id, 53, :seed) < 0.015 THEN NULL ELSE region END AS region
  FROM (SELECT p.*, pg_temp.u(p.customer_id, 51, :seed) AS u_size FROM plan p WHERE p.has_lead OFFSET 0) p
), open_r AS (
  SELECT (c.cell_no << 32) + i AS lkey, c.channel, c.size_band,
         pg_temp.u((c.cell_no << 32) + i, 55, :seed) AS u_day,
         pg_temp.u((c.cell_no << 32) + i, 56, :seed) AS u_tod_kind,
         pg_temp.u((c.cell_no << 32) + i, 57, :seed) AS u_tod,
         pg_temp.u((c.cell_no << 32) + i, 58, :seed) AS u_ind,
         pg_temp.u((c.cell_no << 32) + i, 59, :seed) AS u_region,
         pg_temp.u((c.cell_no << 32) + i, 60, :seed) AS u_null
  FROM lead_cell c, generate_series(1, c.unconverted) AS i
  OFFSET 0
), open AS (   -- never converted; created any time, more in later years
  SELECT 1 AS kind, lkey, NULL::bigint AS customer_id, channel,
         1640995200 + 86400 * ia.d::bigint
           + CASE WHEN u_tod_kind < 0.85 THEN 28800 + floor(u_tod * 36000)::bigint
                  ELSE floor(u_tod * 86400)::bigint END AS created_secs,
         NULL::bigint AS converted_secs,
         CASE WHEN u_null < 0.03 THEN NULL ELSE size_band END AS size_band,
         CASE WHEN u_ind < 0.02 THEN NULL
              WHEN u_ind < 0.196 THEN 'Healthcare' WHEN u_ind < 0.431 THEN 'Retail'
              WHEN u_ind < 0.686 THEN 'Technology' WHEN u_ind < 0.853 THEN 'Manufacturing'
              ELSE 'Finance' END AS industry,
         CASE WHEN u_region < 0.015 THEN NULL
              WHEN u_region < 0.429 THEN 'North America' WHEN u_region < 0.724 THEN 'Europe'
              WHEN u_region < 0.901 THEN 'Asia-Pacific' ELSE 'Latin America' END AS region
  FROM open_r
  JOIN inv_acq ia ON ia.b = floor(u_day * :w_acq_total)::bigint * 65536 / :w_acq_total
), all_leads AS (
  SELECT kind, lkey, customer_id, channel, created_secs, converted_secs, size_band, industry, region FROM conv
  UNION ALL
  SELECT kind, lkey, customer_id, channel, created_secs, converted_secs, size_band, industry, region FROM open
)
SELECT row_number() OVER (ORDER BY created_secs, kind, lkey ROWS UNBOUNDED PRECEDING),
       to_timestamp(created_secs), to_timestamp(converted_secs), customer_id,
       channel, size_band, industry, region
FROM all_leads;

/* ------------------------------------------------------------------------
 * demo.marketing_spend
 * ------------------------------------------------------------------------
 * One untagged row per month and channel: a fixed part (proportional to
 * scale) plus a cost per customer acquired that month through the channel,
 * so CAC comes out plausible (Events dear, Organic cheap).  For ~25% of
 * (month, channel) pairs an extra row is a campaign aimed at one
 * '<size_band> <industry>' segment, i.e. ~20% of all rows are tagged.
 * Streams 70..79, keyed by month*16 + channel number.
 */
CREATE TABLE demo.marketing_spend (
  spend_month    date NOT NULL,          -- first day of the month
  channel        text NOT NULL,
  target_segment text,                   -- '<size_band> <industry>' or NULL
  amount         numeric(12,2) NOT NULL
);

INSERT INTO demo.marketing_spend
WITH ch (channel_no, channel, cac, fixed) AS (
  VALUES (1, 'Paid Search',  450, 4000), (2, 'Social',  320, 3000),
         (3, 'Email',        120, 1500), (4, 'Referral', 200, 1000),
         (5, 'Events',      2400, 8000), (6, 'Organic',   60, 2500)
), acquired AS (
  SELECT make_date(extract(year FROM dt)::int, extract(month FROM dt)::int, 1) AS spend_month,
         channel, count(*) AS n
  FROM (SELECT date '2022-01-01' + ((acquired_secs - 1640995200) / 86400)::int AS dt, channel
        FROM plan) s
  GROUP BY 1, 2
), base AS (
  SELECT m.spend_month, ch.channel, m.i * 16 + ch.channel_no AS skey,
         ( coalesce(a.n, 0) * ch.cac * (0.85 + 0.3 * pg_temp.u(m.i * 16 + ch.channel_no, 70, :seed))
         + ch.fixed * (:scale / 20000.0) * (0.9 + 0.2 * pg_temp.u(m.i * 16 + ch.channel_no, 71, :seed))
         )::numeric AS amount
  FROM (SELECT i, make_date(2022 + i / 12, i % 12 + 1, 1) AS spend_month
        FROM generate_series(0, 35) AS i) m
  CROSS JOIN ch
  LEFT JOIN acquired a ON a.spend_month = m.spend_month AND a.channel = ch.channel
)
SELECT spend_month, channel, NULL, round(amount, 2) FROM base
UNION ALL
SELECT spend_month, channel,
       CASE WHEN pg_temp.u(skey, 73, :seed) < 0.5 THEN 'Small'
            WHEN pg_temp.u(skey, 73, :seed) < 0.85 THEN 'Mid-size' ELSE 'Enterprise' END
       || ' ' ||
       (ARRAY['Healthcare','Retail','Technology','Manufacturing','Finance'])
         [1 + floor(pg_temp.u(skey, 74, :seed) * 5)::int],
       round(amount * (0.10 + 0.25 * pg_temp.u(skey, 75, :seed))::numeric, 2)
FROM base
WHERE pg_temp.u(skey, 72, :seed) < 0.25
ORDER BY 1, 2, 3 NULLS FIRST;

/* ------------------------------------------------------------------------
 * demo.feedback
 * ------------------------------------------------------------------------
 * ~30% of customers answer 1-3 surveys (loyal ones more often), between
 * their first order and 30 days after their last.  Score = group mean +
 * a customer effect + an answer effect, rounded and clipped to 1..5, so
 * loyal customers score high and lapsed ones low.  Streams 80..89.
 */
CREATE TABLE demo.feedback (
  customer_id bigint NOT NULL,
  answered_at timestamptz NOT NULL,
  score       int NOT NULL CHECK (score BETWEEN 1 AND 5)
);

INSERT INTO demo.feedback
WITH who AS (
  SELECT p.customer_id, p.grp, p.first_secs,
         least(1735689599, 1640995200 + 86400 * (p.l_day + 31)::bigint) AS last_secs,
         1 + (u_n >= 0.5)::int + (u_n >= 0.8)::int AS answers,
         CASE p.grp WHEN 'loyal_big' THEN 4.4 WHEN 'regular' THEN 3.8 WHEN 'new' THEN 3.7
                    WHEN 'one_off' THEN 3.2 ELSE 2.8 END AS mean_score,
         nq.z AS z_customer
  FROM (SELECT p.*, pg_temp.u(p.customer_id, 80, :seed) AS u_answers,
               pg_temp.u(p.customer_id, 81, :seed) AS u_n,
               pg_temp.q12(p.customer_id, 82, :seed) AS q_customer
        FROM plan p OFFSET 0) p
  JOIN normq nq ON nq.q = p.q_customer
  WHERE p.u_answers < CASE p.grp WHEN 'loyal_big' THEN 0.50 WHEN 'regular' THEN 0.35
                                 WHEN 'lapsed' THEN 0.25 WHEN 'new' THEN 0.30 ELSE 0.22 END
), answer AS (
  SELECT w.*, j,
         pg_temp.u(w.customer_id * 4 + j, 83, :seed) AS u_when,
         pg_temp.q12(w.customer_id * 4 + j, 84, :seed) AS q_answer
  FROM who w, generate_series(1, w.answers) AS j
  OFFSET 0
)
SELECT a.customer_id,
       to_timestamp(a.first_secs + floor(a.u_when * (a.last_secs - a.first_secs))::bigint),
       greatest(1, least(5, floor(a.mean_score + 0.6 * a.z_customer + 0.6 * nq.z + 0.5)::int))
FROM answer a
JOIN normq nq ON nq.q = a.q_answer
ORDER BY 2, 1, a.j;

/* ------------------------------------------------------------------------
 * Keys, indexes, comments, statistics
 * ------------------------------------------------------------------------
 * Built after loading (faster than maintaining them row by row).  No
 * foreign keys: tests erase customers and load bad rows on purpose.
 */
ALTER TABLE demo.customers ADD PRIMARY KEY (customer_id);
ALTER TABLE demo.orders    ADD PRIMARY KEY (order_id);
ALTER TABLE demo.leads     ADD PRIMARY KEY (lead_id);
CREATE INDEX orders_customer_id_idx   ON demo.orders (customer_id);
CREATE INDEX leads_customer_id_idx    ON demo.leads (customer_id);
CREATE INDEX feedback_customer_id_idx ON demo.feedback (customer_id);

COMMENT ON TABLE demo.customers IS
  'Demo customers (test/demo/generate.sql). planted_group is the behaviour the generator planted: loyal_big, one_off, lapsed, new, regular.';
COMMENT ON COLUMN demo.customers.size_band IS 'Small (1-49 employees), Mid-size (50-999), Enterprise (1000+)';
COMMENT ON COLUMN demo.customers.channel IS 'acquisition channel';
COMMENT ON COLUMN demo.customers.acquired_at IS 'first order time for most customers, 1-10 days earlier for ~12%';
COMMENT ON COLUMN demo.customers.planted_group IS 'ground truth for checking segmentations; not a real-world attribute';
COMMENT ON TABLE demo.orders IS
  'Demo orders 2022-01-01 .. 2024-12-31 UTC; order_id follows ordered_at. Refunds are rows with amount < 0 and cost <= 0, 1-29 days after the purchase.';
COMMENT ON COLUMN demo.orders.channel IS 'channel the order came through (first order: the acquisition channel)';
COMMENT ON TABLE demo.marketing_spend IS
  'Demo monthly marketing spend per channel; about 20% of rows target one segment.';
COMMENT ON COLUMN demo.marketing_spend.target_segment IS '''<size_band> <industry>'' the campaign aimed at, or NULL';
COMMENT ON TABLE demo.leads IS
  'Demo leads. Converted ones carry customer_id and converted_at = the customer''s acquired_at; a few have NULL attributes or a size band differing from the customer''s.';
COMMENT ON TABLE demo.feedback IS
  'Demo satisfaction survey answers, score 1..5, from about 30% of customers.';

ANALYZE demo.customers, demo.orders, demo.marketing_spend, demo.leads, demo.feedback;

COMMIT;
