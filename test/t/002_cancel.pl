# Long RFM work obeys statement_timeout and cancel, and an error in the
# middle of scoring leaves the server healthy.
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
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
