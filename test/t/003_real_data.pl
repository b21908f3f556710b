# RFM on real data sets from ../shared/data (UCI Online Retail, CDNOW):
# monetary totals equal sum(numeric), order counts follow the refund rule,
# and scores equal the rule written in plain SQL.  Skips when the data are
# not there (a user's machine has no ../shared).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $data = $ENV{SEGKPI_DATA_DIR} // '';
if (!-r "$data/online_retail.csv.gz" || !-r "$data/CDNOW_master.txt")
{
    plan skip_all => "real data sets not found (SEGKPI_DATA_DIR='$data'); ../shared/data is absent";
}

my $node = PostgreSQL::Test::Cluster->new('real');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION segkpi;
    SET timezone = 'UTC';
    CREATE TABLE retail (invoice text, stock text, description text, quantity int,
                         invoice_date timestamp, unit_price numeric, customer_id float8, country text);
});
$node->safe_psql('postgres',
    "COPY retail FROM PROGRAM 'gzip -dc $data/online_retail.csv.gz' WITH (FORMAT csv, HEADER true)");
is($node->safe_psql('postgres', 'SELECT count(*) FROM retail'), '541909', 'online retail loaded');

# One row per invoice line; the customer id is a float in the file.
my $oracle = q{
    WITH orders AS (
        SELECT customer_id::bigint AS customer, invoice_date AT TIME ZONE 'UTC' AS ordered_at,
               quantity * unit_price AS amount, country
          FROM retail WHERE customer_id IS NOT NULL),
    st AS (SELECT customer, segkpi.rfm_agg(ordered_at, amount) AS s,
                  sum(amount) AS total, count(*) FILTER (WHERE amount > 0) AS orders
             FROM orders GROUP BY customer)
    SELECT count(*) AS customers,
           count(*) FILTER (WHERE (s).monetary <> total) AS sum_mismatch,
           count(*) FILTER (WHERE (s).orders <> orders) AS order_mismatch,
           count(*) FILTER (WHERE (s).monetary < 0) AS negative_totals
      FROM st
};
my $row = $node->safe_psql('postgres', $oracle);
my ($customers, $sum_bad, $ord_bad, $neg) = split /\|/, $row;
is($customers, '4372', '4,372 customers with an id');
is($sum_bad, '0', 'monetary equals sum(numeric) for every customer');
is($ord_bad, '0', 'orders count the lines with amount > 0');
cmp_ok($neg, '>', 0, 'some customers are net refunders (their totals are negative)');

my $scores = q{
    WITH orders AS (
        SELECT customer_id::bigint AS customer, invoice_date AT TIME ZONE 'UTC' AS ordered_at,
               quantity * unit_price AS amount, country
          FROM retail WHERE customer_id IS NOT NULL),
    st AS (SELECT country, customer, segkpi.rfm_agg(ordered_at, amount) AS s FROM orders GROUP BY country, customer),
    sc AS (SELECT country, customer, segkpi.rfm_score(s, '2011-12-10') OVER (PARTITION BY country) AS r,
                  1 + floor(5 * (rank() OVER (PARTITION BY country ORDER BY (s).last_order_at NULLS FIRST) - 1)::numeric
                            / count(*) OVER (PARTITION BY country)) AS r_sql,
                  1 + floor(5 * (rank() OVER (PARTITION BY country ORDER BY (s).orders) - 1)::numeric
                            / count(*) OVER (PARTITION BY country)) AS f_sql,
                  1 + floor(5 * (rank() OVER (PARTITION BY country ORDER BY (s).monetary) - 1)::numeric
                            / count(*) OVER (PARTITION BY country)) AS m_sql
             FROM st)
    SELECT count(*), count(*) FILTER (WHERE (r).r <> r_sql OR (r).f <> f_sql OR (r).m <> m_sql),
           count(DISTINCT country), count(*) FILTER (WHERE (r).segment IS NULL)
      FROM sc
};
($customers, my $mismatch, my $countries, my $unnamed) = split /\|/, $node->safe_psql('postgres', $scores);
cmp_ok($customers, '>=', 4372, 'every (country, customer) scored');
is($mismatch, '0', 'per-country scores equal the SQL rule');
is($unnamed, '0', 'every customer gets a default segment name');
cmp_ok($countries, '>', 30, 'many partitions');

# CDNOW master: 23,570 customers, whitespace separated, YYYYMMDD dates.
$node->safe_psql('postgres', q{
    CREATE TABLE cdnow_raw (line text);
});
$node->safe_psql('postgres', "COPY cdnow_raw FROM '$data/CDNOW_master.txt'");
$row = $node->safe_psql('postgres', q{
    WITH ev AS (
        SELECT f[1]::int AS customer, to_date(f[2], 'YYYYMMDD')::timestamptz AS ordered_at,
               f[4]::numeric AS amount
          FROM (SELECT regexp_split_to_array(btrim(rtrim(line, E'\r')), '\s+') f FROM cdnow_raw) s
         WHERE f[1] ~ '^\d+$'),
    st AS (SELECT customer, segkpi.rfm_agg(ordered_at, amount) s, sum(amount) total FROM ev GROUP BY customer),
    sc AS (SELECT customer, segkpi.rfm_score(s, '1998-07-01') OVER () r,
                  1 + floor(5 * (rank() OVER (ORDER BY (s).monetary) - 1)::numeric / count(*) OVER ()) m_sql,
                  total, s FROM st)
    SELECT count(*), count(*) FILTER (WHERE (r).m <> m_sql OR (s).monetary <> total) FROM sc
});
is($row, '23570|0', 'CDNOW: 23,570 customers, scores and totals as the SQL rule says');

$node->stop;
done_testing();
