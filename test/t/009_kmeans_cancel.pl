# A k-means fit over a large table obeys statement_timeout and
# pg_cancel_backend, in the scan and in the fit, and the server stays
# healthy (no crash, memory returned).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('kmcancel');
$node->init;
$node->append_conf('postgresql.conf', "max_parallel_workers_per_gather = 0\nmaintenance_work_mem = '512MB'\n");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION segkpi;
    CREATE TABLE big AS
    SELECT i, ARRAY[(hashint8extended(i, 1) % 100000) / 1000.0,
                    (hashint8extended(i, 2) % 100000) / 1000.0,
                    (hashint8extended(i, 3) % 100000) / 1000.0]::float8[] AS f
      FROM generate_series(1::bigint, 1000000) i;
});

# the fit itself is long: many clusters, restarts, no tolerance
my $long_fit = q{SELECT segkpi.kmeans_inertia(segkpi.kmeans(f, 300, 1, 'none', 50, 1000000, 0)) FROM big};

my ($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '1500ms'; $long_fit");
isnt($ret, 0, 'a long fit stops at statement_timeout');
like($err, qr/canceling statement due to statement timeout/, 'with the timeout error');

# choose_k, stopped early too
($ret, $out, $err) = $node->psql('postgres',
    "SET statement_timeout = '1500ms'; SELECT segkpi.kmeans_choose_k(f, 2, 400, 1) FROM big");
like($err, qr/canceling statement due to statement timeout/, 'kmeans_choose_k stops at statement_timeout');

# pg_cancel_backend from another session
my ($stdout, $stderr) = ('', '');
my $h = IPC::Run::start(
    [ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', "SET application_name = 'kmfit'; $long_fit" ],
    '>', \$stdout, '2>', \$stderr);
ok($node->poll_query_until('postgres',
        q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'kmfit' AND state = 'active'}),
    'the fit is running');
sleep 1;
is($node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'kmfit'}),
    't', 'cancel sent');
$h->finish;
like($stderr, qr/canceling statement due to user request/, 'the fit stops on cancel');

is($node->safe_psql('postgres', q{SELECT segkpi.kmeans_k(segkpi.kmeans(f, 3)) FROM big WHERE i <= 1000}),
    '3', 'the server still fits');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
