# pg_dump/restore keeps a user's RFM rulesets and stored states, and the
# extension's own default ruleset comes back once (not duplicated).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
    CREATE EXTENSION segkpi;
    SELECT segkpi.rfm_ruleset_copy('default', 'mine');
    UPDATE segkpi.rfm_rules SET segment = 'Stars' WHERE ruleset = 'mine' AND segment = 'Champions';
    CREATE TABLE states (id int, s segkpi.rfm_state, st segkpi.rfm_stats);
    INSERT INTO states VALUES
        (1, '1:3:1:100:200:150.25', ROW('2024-01-01', '2024-02-01', 3, 1, 150.25)),
        (2, '1:1:0:5:5:123456789012345678901234567890123456789012.5', NULL);
});

# the pipeline: bindings, configuration and two snapshots of history
$node->safe_psql('src', q{
    SET timezone = 'UTC';
    CREATE TABLE orders (cust uuid, at timestamptz, total numeric);
    INSERT INTO orders SELECT md5((i % 40)::text)::uuid, timestamptz '2024-01-01' + i * interval '9 hours', i % 17 + 1
      FROM generate_series(1, 800) i;
    CREATE TABLE accounts (id uuid, tier text);
    INSERT INTO accounts SELECT DISTINCT cust, CASE WHEN cust::text < '8' THEN 'gold' ELSE 'basic' END FROM orders;
    SELECT segkpi.bind_orders('orders', 'cust', 'at', 'total');
    SELECT segkpi.bind_customers('accounts', 'id', attributes => '{tier}');
    INSERT INTO segkpi.segmentations (name, method) VALUES ('rfm', 'rfm'), ('tier', 'rules');
    INSERT INTO segkpi.segment_rules VALUES ('tier', 1, 'Gold', '{"tier": ["gold"]}');
    UPDATE segkpi.settings SET min_segment_size = 1, launch_date = '2024-03-01';
    SELECT segkpi.refresh('2024-03-01');
    SELECT segkpi.refresh('2024-05-01');
});

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ], 'pg_restore');

is($node->safe_psql('dst', q{SELECT count(*) FROM segkpi.rfm_rules WHERE ruleset = 'default'}),
    '11', 'default ruleset restored once');
is($node->safe_psql('dst', q{SELECT segkpi.rfm_segment(5, 5, 5, 'mine')}),
    'Stars', 'edited user ruleset survives the dump');
is($node->safe_psql('dst', q{SELECT string_agg(s::text || '|' || coalesce(st::text, ''), ';' ORDER BY id) FROM states}),
    $node->safe_psql('src', q{SELECT string_agg(s::text || '|' || coalesce(st::text, ''), ';' ORDER BY id) FROM states}),
    'stored states and stats are identical after restore');

my $kpis = q{SELECT md5(string_agg(k::text, ',' ORDER BY segmentation, segment, period_start)) FROM segkpi.kpi_trends k};
is($node->safe_psql('dst', $kpis), $node->safe_psql('src', $kpis), 'KPI history identical after restore');
my $segs = q{SELECT md5(string_agg(s::text, ',' ORDER BY snapshot_id, segmentation, customer_id)) FROM segkpi.customer_segments s};
is($node->safe_psql('dst', $segs), $node->safe_psql('src', $segs), 'customer segments identical after restore');
is($node->safe_psql('dst', q{SELECT min_segment_size || ' ' || launch_date FROM segkpi.settings}),
    '1 2024-03-01', 'settings restored over the default row');
is($node->safe_psql('dst', q{SELECT segkpi.refresh('2024-06-01')}), '3',
    'the restored pipeline refreshes, and snapshot ids continue');
is($node->safe_psql('dst', q{SELECT count(*) FROM segkpi.segment_migration WHERE segmentation = 'tier'}), '2',
    'migration between restored and new snapshots');

# plain-format dump restores through psql as well
my $sql = $PostgreSQL::Test::Utils::tmp_check . '/src.sql';
$node->command_ok([ 'pg_dump', '-f', $sql, '-d', $node->connstr('src') ], 'plain pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst2');
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-f', $sql, '-d', $node->connstr('dst2') ],
    'plain dump restores');
is($node->safe_psql('dst2', q{SELECT string_agg(ruleset || ' ' || n, ', ' ORDER BY ruleset)
                                 FROM (SELECT ruleset, count(*) AS n FROM segkpi.rfm_rules GROUP BY 1) r}),
   'compact 4, default 11, mine 11', "the extension's rulesets and the user's, each once");
is($node->safe_psql('dst2', $kpis), $node->safe_psql('src', $kpis), 'plain dump: KPI history identical');

$node->stop;
done_testing();
