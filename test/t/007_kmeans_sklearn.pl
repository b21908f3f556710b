# segkpi.kmeans against scikit-learn's KMeans on the same standardised
# features: from the same initial centroids, both run to strict
# convergence (tol = 0) end at the same centroids (to 1e-9); with
# k-means++ and 10 restarts segkpi's inertia is within 0.1 % of
# scikit-learn's n_init=10 (or better).  Skips when /usr/bin/python3
# cannot import sklearn.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $py = '/usr/bin/python3';
if (system("$py -c 'import sklearn, numpy' >/dev/null 2>&1") != 0)
{
    plan skip_all => "scikit-learn is not installed ($py cannot import sklearn; Debian package python3-sklearn)";
}

my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $csv = "$dir/kmeans_points.csv";
my $script = "$dir/kmeans_sklearn.py";

# Data: six Gaussian blobs in 3-D with unequal spreads (some overlap),
# standardised with the population sd (what segkpi's zscore does too).
# Every number is written with repr(), which round-trips exactly.
open my $fh, '>', $script or die $!;
print $fh <<'PY';
import sys
import numpy as np
from sklearn.cluster import KMeans

mode, path = sys.argv[1], sys.argv[2]
if mode == "data":
    rng = np.random.default_rng(20240601)
    centres = np.array([[0, 0, 0], [4, 1, 0], [1, 5, 2], [6, 6, 6], [-3, 4, 5], [2, -4, 3]], float)
    spread = np.array([1.0, 0.7, 1.3, 0.9, 1.1, 0.8])
    parts = [c + s * rng.standard_normal((3500, 3)) for c, s in zip(centres, spread)]
    X = np.vstack(parts)
    X = X[rng.permutation(len(X))]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    with open(path, "w") as f:
        for i, r in enumerate(X):
            f.write("%d,%s,%s,%s\n" % (i, repr(float(r[0])), repr(float(r[1])), repr(float(r[2]))))
    sys.exit(0)

X = np.loadtxt(path, delimiter=",")[:, 1:]
k = int(sys.argv[3])
if mode == "init":
    km = KMeans(n_clusters=k, init=X[:k], n_init=1, tol=0.0, max_iter=10000, algorithm="lloyd").fit(X)
    for c in km.cluster_centers_:
        print(" ".join(repr(float(v)) for v in c))
    print("iterations %d" % km.n_iter_)
else:
    km = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=0, algorithm="lloyd").fit(X)
    print(repr(float(km.inertia_)))
PY
close $fh;

system($py, $script, 'data', $csv) == 0 or die "python3 failed to write the data";

my $node = PostgreSQL::Test::Cluster->new('sklearn');
$node->init;
$node->start;
$node->safe_psql('postgres', qq{
    CREATE EXTENSION segkpi;
    CREATE TABLE raw (id int, x1 float8, x2 float8, x3 float8);
    COPY raw FROM '$csv' WITH (FORMAT csv);
    CREATE TABLE pts AS SELECT id, ARRAY[x1, x2, x3] AS f FROM raw;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM pts'), '21000', '21,000 standardised points loaded');

# Same initial centroids (the first k rows), strict convergence.
for my $k (3, 6)
{
    my @sk = split /\n/, `$py $script init $csv $k`;
    my ($sk_iter) = (pop(@sk) =~ /iterations (\d+)/);
    my $ours = $node->safe_psql('postgres', qq{
        SELECT string_agg(array_to_string(c.centroid, ' '), E'\\n' ORDER BY c.cluster)
          FROM segkpi.kmeans_centroids((
              SELECT segkpi.kmeans(f, (SELECT array_agg(f ORDER BY id) FROM pts WHERE id < $k),
                                   'none', 10000, 0)
                FROM pts)) c});
    my @us = split /\n/, $ours;
    is(scalar @us, $k, "k=$k: $k centroids");
    my $maxdiff = 0;
    for my $j (0 .. $k - 1)
    {
        my @a = split / /, $us[$j];
        my @b = split / /, $sk[$j];
        for my $f (0 .. 2)
        {
            my $d = abs($a[$f] - $b[$f]);
            $maxdiff = $d if $d > $maxdiff;
        }
    }
    cmp_ok($maxdiff, '<', 1e-9, "k=$k, same init, tol=0: centroids equal scikit-learn's to 1e-9 (max difference $maxdiff)");
    my $iter = $node->safe_psql('postgres', qq{
        SELECT segkpi.kmeans_iterations(segkpi.kmeans(f, (SELECT array_agg(f ORDER BY id) FROM pts WHERE id < $k),
                                                      'none', 10000, 0)) FROM pts});
    note("k=$k: segkpi $iter iterations, scikit-learn $sk_iter");
}

# k-means++ with restarts against n_init=10.
for my $k (4, 6)
{
    my $sk = `$py $script plusplus $csv $k`;
    chomp $sk;
    my $ours = $node->safe_psql('postgres', qq{
        SELECT segkpi.kmeans_inertia(segkpi.kmeans(f, $k, 1, 'none', 10)) FROM pts});
    my $rel = ($ours - $sk) / $sk;
    cmp_ok($rel, '<=', 0.001,
        sprintf("k=$k, k-means++, 10 restarts: inertia %.6f vs scikit-learn %.6f (%+.4f %%)", $ours, $sk, 100 * $rel));
}

$node->stop;
done_testing();
