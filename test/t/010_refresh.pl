# segkpi.refresh under concurrency and cancellation, and scheduled by
# pg_cron (when postgresql-15-cron is installed).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{SEGKPI_ROOT} // '.';
my $have_cron = -e `pg_config --pkglibdir` =~ s/\s+$//r . '/pg_cron.so';

my $node = PostgreSQL::Test::Cluster->new('refresh');
$node->init;
if ($have_cron)
{
    $node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
}
$node->start;

# a small warehouse: 2,000 customers from the demo generator
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'scale=2000', '-v', 'seed=3',
                    '-d', $node->connstr('postgres'), '-f', "$root/test/demo/generate.sql" ],
                  'demo data generated');
$node->safe_psql('postgres', q{
    CREATE EXTENSION segkpi;
    SELECT segkpi.bind_orders('demo.orders', 'customer_id', 'ordered_at', 'amount', cost => 'cost');
    INSERT INTO segkpi.segmentations (name, method) VALUES ('rfm', 'rfm');
});
is($node->safe_psql('postgres', q{SELECT segkpi.refresh('2025-01-01')}), '1', 'first snapshot');

# A second refresh waits for one in progress, and says so.  The one in
# progress is a real refresh held in flight: the feedback it reads is a
# view over a "gate" table that another session keeps locked, so it stops
# in its sources stage, after its snapshot row and customer rows were
# written (no timing involved).
$node->safe_psql('postgres', q{
    CREATE TABLE gate ();
    CREATE TABLE gated_answers (customer_id bigint, answered_at timestamptz, score numeric);
    CREATE VIEW gated_feedback AS
        SELECT a.* FROM gated_answers a WHERE (SELECT count(*) FROM gate) >= 0;
    SELECT segkpi.bind_feedback('gated_feedback', 'customer_id', 'answered_at', 'score');
});
my $gate = $node->background_psql('postgres');
$gate->query_safe('BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;');
my $inflight = $node->background_psql('postgres', on_error_stop => 0);
my $inflight_pid = $inflight->query_safe('SELECT pg_backend_pid()');
$inflight->query_until(qr/sent/, "\\echo sent\nSELECT 'sid=' || segkpi.refresh('2025-01-01');\n");
ok($node->poll_query_until('postgres', qq{
    SELECT EXISTS (SELECT FROM pg_locks
                    WHERE pid = $inflight_pid AND NOT granted AND relation = 'gate'::regclass)}),
   'a refresh is in progress (held at the gate)');

my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
    SET lock_timeout = '1s';
    SELECT segkpi.refresh('2025-01-01');
});
like($stderr, qr/another segkpi.refresh is running; waiting for it to finish/, 'the waiting refresh says why');
like($stderr, qr/lock timeout/, 'and waits (here until lock_timeout)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM segkpi.snapshots'), '1', 'no half snapshot from the waiting refresh');

$gate->query_safe('COMMIT');
$gate->quit;
my ($inflight_out) = $inflight->query("\\echo finished");
like($inflight_out, qr/sid=2\b/, 'the refresh in progress finishes once let go')
  or diag($inflight->{stderr});
$inflight->quit;
$node->safe_psql('postgres', q{
    DELETE FROM segkpi.bindings WHERE source = 'feedback';
    DROP VIEW gated_feedback;
    DROP TABLE gated_answers, gate;
});
is($node->safe_psql('postgres', q{SELECT segkpi.refresh('2025-01-01')}), '3',
   'refresh runs once the one in progress committed (the waiting one took no id)');

# A refresh cancelled half-way (statement_timeout) leaves nothing behind.
# The feedback it reads sleeps a second, so the timeout strikes in the
# sources stage, after the snapshot's row and its customer rows were
# written (a timing-free way to be half-way: the whole refresh of these
# 2,000 customers takes about 50 ms).
$node->safe_psql('postgres', q{
    CREATE TABLE slow_answers (customer_id bigint, answered_at timestamptz, score numeric);
    CREATE VIEW slow_feedback AS SELECT a.* FROM slow_answers a WHERE (SELECT pg_sleep(1)) IS NOT NULL;
    SELECT segkpi.bind_feedback('slow_feedback', 'customer_id', 'answered_at', 'score');
});
($ret, $stdout, $stderr) = $node->psql('postgres', q{
    SET statement_timeout = '500ms';
    SELECT segkpi.refresh('2025-01-01');
});
like($stderr, qr/canceling statement due to statement timeout/, 'a slow refresh is cancelled');
is($node->safe_psql('postgres', q{
    SELECT count(*) || '/' || (SELECT count(DISTINCT snapshot_id) FROM segkpi.customer_segments)
      FROM segkpi.snapshots}), '3/3', 'the cancelled refresh left no snapshot and no customer rows');
$node->safe_psql('postgres', q{
    DELETE FROM segkpi.bindings WHERE source = 'feedback';
    DROP VIEW slow_feedback;
    DROP TABLE slow_answers;
});

# The segments stage and the cohorts both read a custom RFM ruleset's
# rules: an edit of them waits for a refresh in progress, so the two read
# the same rules, and the next refresh names its customers and its KPI
# groups alike.
$node->safe_psql('postgres', q{
    SELECT segkpi.rfm_ruleset_copy('default', 'mine');
    INSERT INTO segkpi.segmentations (name, method, params) VALUES ('rfm_mine', 'rfm', '{"ruleset": "mine"}');
});
my $refresher = $node->background_psql('postgres');
$refresher->query_safe(q{BEGIN; SELECT segkpi.refresh('2025-01-01');});
my $rename = q{UPDATE segkpi.rfm_rules SET segment = 'Renamed' WHERE ruleset = 'mine' AND segment = 'Lost'};
($ret, $stdout, $stderr) = $node->psql('postgres', "SET lock_timeout = '200ms'; $rename;");
like($stderr, qr/lock timeout/, 'an edit of a custom RFM ruleset waits for a refresh in progress');
$refresher->query_safe('COMMIT');
$refresher->quit;
is(scalar $node->psql('postgres', $rename), 0, 'and goes through once the refresh committed');
$node->safe_psql('postgres', q{SELECT segkpi.refresh('2025-01-01')});
my ($members, $kpi_members) = split /\|/, $node->safe_psql('postgres', q{
    WITH s AS (SELECT max(snapshot_id) AS id FROM segkpi.snapshots)
    SELECT (SELECT count(*) FROM segkpi.customer_segments c, s
             WHERE c.snapshot_id = s.id AND c.segmentation = 'rfm_mine' AND c.segment = 'Renamed'),
           (SELECT k.customers FROM segkpi.segment_kpis k, s
             WHERE k.snapshot_id = s.id AND k.segmentation = 'rfm_mine' AND k.segment = 'Renamed'
             ORDER BY k.period_start DESC LIMIT 1)});
cmp_ok($members, '>', 0, 'the next refresh names customers by the edited rules');
is($kpi_members, $members, 'and its KPI groups alike');
$node->safe_psql('postgres', q{DELETE FROM segkpi.segmentations WHERE name = 'rfm_mine'});

SKIP:
{
    skip 'pg_cron (Debian package postgresql-15-cron) is not installed', 2 unless $have_cron;
    $node->safe_psql('postgres', q{
        CREATE EXTENSION pg_cron;
        SELECT cron.schedule('segkpi-refresh', '* * * * *', $$SELECT segkpi.refresh('2025-01-01')$$);
    });
    # pg_cron 1.4 runs at minute boundaries: wait for the first run
    my $done = $node->poll_query_until('postgres', q{
        SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded'
    }, 't');
    ok($done, 'pg_cron ran segkpi.refresh()');
    cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM segkpi.snapshots'), '>=', 3,
           'the scheduled refresh added a snapshot');
}

$node->stop;
done_testing();
