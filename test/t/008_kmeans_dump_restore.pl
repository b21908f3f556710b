# Fitted k-means models are ordinary values: pg_dump/restore (custom and
# plain formats) and binary COPY keep them byte for byte, and a restored
# model assigns every row as before.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('kmdump');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
    CREATE EXTENSION segkpi;
    CREATE TABLE customers AS
    SELECT i AS id, ARRAY[1 + i % 17 * 3.5, 1 + (i * 7919) % 101, exp((i % 13) / 3.0)]::float8[] AS f
      FROM generate_series(1, 5000) i;
    CREATE TABLE models (name text PRIMARY KEY, m segkpi.kmeans_model);
    INSERT INTO models
    SELECT t::text, segkpi.kmeans(f, 4, 7, t, 3) FROM customers,
           unnest(enum_range(NULL::segkpi.kmeans_transform)) t GROUP BY t;
    CREATE TABLE choices AS SELECT segkpi.kmeans_choose_k(f, 2, 5, 7, 'log_zscore') AS scores FROM customers;
});

my $fingerprint = q{
    SELECT string_agg(name || '=' || md5(m::text) || ':' ||
                      (SELECT string_agg(segkpi.kmeans_assign(m, f)::text, '' ORDER BY id) FROM customers),
                      ';' ORDER BY name)
           || '|' || (SELECT md5(scores::text) FROM choices)
      FROM models
};
my $before = $node->safe_psql('src', $fingerprint);
like($before, qr/log_zscore=.*none=.*zscore=/, 'three stored models, one per transform');

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/km.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ], 'pg_restore');
is($node->safe_psql('dst', $fingerprint), $before, 'models, choose_k scores and assignments identical after restore');

my $sql = $PostgreSQL::Test::Utils::tmp_check . '/km.sql';
$node->command_ok([ 'pg_dump', '-f', $sql, '-d', $node->connstr('src') ], 'plain pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst2');
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-f', $sql, '-d', $node->connstr('dst2') ],
    'plain dump restores');
is($node->safe_psql('dst2', $fingerprint), $before, 'identical after a plain-format restore');

# binary COPY goes through send/receive (the validated text)
my $bin = $PostgreSQL::Test::Utils::tmp_check . '/models.bin';
$node->safe_psql('src', "COPY models TO '$bin' WITH (FORMAT binary)");
$node->safe_psql('src', "CREATE TABLE models2 (LIKE models); COPY models2 FROM '$bin' WITH (FORMAT binary)");
is($node->safe_psql('src', 'SELECT count(*) FROM models a JOIN models2 b USING (name) WHERE a.m::text = b.m::text'),
    '3', 'binary COPY round-trips every model');

# a damaged value in a dump file is refused on restore with 22P02
my $txt = $node->safe_psql('src', q{SELECT m::text FROM models WHERE name = 'zscore'});
(my $bad = $txt) =~ s/ cluster=[^ ]*$//;
my ($ret, $out, $err) = $node->psql('src', "SELECT '$bad'::segkpi.kmeans_model");
like($err, qr/invalid input syntax for type segkpi\.kmeans_model/, 'a model missing a cluster is rejected');

$node->stop;
done_testing();
