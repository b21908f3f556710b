# Long RFM work obeys statement_timeout and cancel, and an error in the
# middle of scoring or of a scan leaves the server healthy.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->append_conf('postgresql.conf', "max_parallel_workers_per_gather = 0\n");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION segkpi;
    CREATE TABLE st AS
    SELECT i AS customer,
           ROW(timestamptz '2020-01-01' + (i % 1000) * interval '1 hour',
               timestamptz '2021-01-01' + (i * 7919 % 100000) * interval '1 minute',
               1 + i % 50, 0, (i % 9973)::numeric)::segkpi.rfm_stats AS s
      FROM generate_series(1::bigint, 1500000) i;
});

my ($ret, $out, $err) = $node->psql('postgres', q{
    SET statement_timeout = '300ms';
    SELECT sum((r).r) FROM (SELECT segkpi.rfm_score(s, '2025-01-01') OVER () AS r FROM st) x;
});
isnt($ret, 0, 'scoring 1.5 million customers stops at statement_timeout');
like($err, qr/canceling statement due to statement timeout/, 'with the timeout error');

is($node->safe_psql('postgres', q{SELECT count((r).r) FROM (SELECT segkpi.rfm_score(s, '2025-01-01') OVER () AS r FROM st LIMIT 5) x}),
    '5', 'the server still answers');

# an error raised while a partition is being read (orders after as_of)
# is a clean ERROR, not a crash
($ret, $out, $err) = $node->psql('postgres', q{
    SELECT sum((r).r) FROM (SELECT segkpi.rfm_score(s, '2021-02-01') OVER () AS r FROM st) x;
});
like($err, qr/has an order after as_of/, 'late bad row gives an ERROR');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server alive after the error');
# The in-memory passes over a relation (rfm_scores, activities) stop at
# statement_timeout in the middle of the scan, and a bad row found late is
# a clean error; the next call starts afresh.
$node->safe_psql('postgres', q{
    CREATE TABLE orders AS
    SELECT i % 300000 AS customer, timestamptz '2022-01-01' + (i % 900) * interval '1 day' AS ordered_at,
           (i % 997)::numeric AS amount
      FROM generate_series(1::bigint, 3000000) i;
});
foreach my $call (
    q{SELECT count(*) FROM segkpi.rfm_scores(NULL::bigint, 'orders', 'customer', 'ordered_at', 'amount', '2025-01-01')},
    q{SELECT count(*) FROM (SELECT segkpi.activities(NULL::bigint, 'orders', 'customer', 'ordered_at', 'amount') AS r) s})
{
    ($ret, $out, $err) = $node->psql('postgres', "SET work_mem = '256MB'; SET statement_timeout = '200ms'; $call");
    like($err, qr/canceling statement due to statement timeout/, "in-memory pass stops at statement_timeout: $call");
    is($node->safe_psql('postgres', "SET work_mem = '256MB'; $call"), '300000', 'and runs whole afterwards');
}
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (7, '2023-01-01', 'NaN')});
($ret, $out, $err) = $node->psql('postgres', q{SET work_mem = '256MB';
    SELECT count(*) FROM segkpi.rfm_scores(NULL::bigint, 'orders', 'customer', 'ordered_at', 'amount', '2025-01-01')});
like($err, qr/rfm_scores: amount must be finite/, 'a NaN met at the end of the scan is an ERROR');
($ret, $out, $err) = $node->psql('postgres', q{SET work_mem = '256MB';
    SELECT count(*) FROM segkpi.activities(NULL::bigint, 'orders', 'customer', 'ordered_at', 'amount')});
like($err, qr/activities: amount must be finite/, 'for activities too');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server alive after the errors');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
