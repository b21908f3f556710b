# Install = upgrade: a fresh CREATE EXTENSION of the current version (the
# script built from sql/src) and an installation of each older version
# updated with ALTER EXTENSION ... UPDATE must leave the same catalog,
# object by object (test/lib/catalog.sql lists every fact compared:
# function definitions, types, tables with columns and constraints,
# views, comments, grants, extension membership, configuration tables).
# A change made in sql/src and forgotten in the upgrade script (or the
# other way round) fails here.  Both installs run as a database owner who
# is not a superuser, as a DBA would install a trusted extension.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{SEGKPI_ROOT} // '.';
my $catalog_sql = slurp_file("$root/test/lib/catalog.sql");

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE ROLE dbo LOGIN');

my $current = $node->safe_psql('postgres',
    q{SELECT default_version FROM pg_available_extensions WHERE name = 'segkpi'});
my @older = split /\n/, $node->safe_psql('postgres', qq{
    SELECT version FROM pg_available_extension_versions
     WHERE name = 'segkpi' AND version <> '$current' ORDER BY string_to_array(version, '.')::int[]});
ok(scalar(@older) >= 5, "older versions available: @older (current $current)");

# catalog DB [VERSION]: install as dbo (then update when VERSION is given)
sub catalog
{
    my ($db, $version) = @_;
    $node->safe_psql('postgres', "CREATE DATABASE $db OWNER dbo");
    my $install = defined $version
      ? "CREATE EXTENSION segkpi VERSION '$version'; ALTER EXTENSION segkpi UPDATE;"
      : 'CREATE EXTENSION segkpi;';
    $node->safe_psql($db, "SET ROLE dbo; $install RESET ROLE;");
    is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'segkpi'}),
        $current, "$db is at $current");
    return $node->safe_psql($db, $catalog_sql);
}

my $fresh = catalog('fresh');
my $n = () = $fresh =~ /\n/g;
ok($n > 2000, "the fresh catalog lists $n facts");

for my $v (@older)
{
    (my $db = "from_$v") =~ s/\./_/g;
    my $updated = catalog($db, $v);
    if ($updated eq $fresh)
    {
        pass("updated from $v = installed fresh");
        next;
    }
    # show the facts that differ, not two 3,000-line texts
    my %in_fresh = map { $_ => 1 } split /\n/, $fresh;
    my %in_updated = map { $_ => 1 } split /\n/, $updated;
    my @only_fresh = grep { !$in_updated{$_} } split /\n/, $fresh;
    my @only_updated = grep { !$in_fresh{$_} } split /\n/, $updated;
    fail("updated from $v = installed fresh");
    diag("only in the fresh install:\n  " . join("\n  ", @only_fresh[0 .. ($#only_fresh < 30 ? $#only_fresh : 30)]))
      if @only_fresh;
    diag("only after updating from $v:\n  " . join("\n  ", @only_updated[0 .. ($#only_updated < 30 ? $#only_updated : 30)]))
      if @only_updated;
}

done_testing();
