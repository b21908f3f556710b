# segkpi's BG/NBD and Gamma-Gamma against an independent computation with
# numpy/scipy (test/t/btyd_ref.py, written from the papers' formulas): the
# fits agree on parameters and log-likelihood, and P(alive), expected
# purchases, expected spend and CLV agree per customer.  Skips when
# /usr/bin/python3 cannot import scipy (Debian package python3-scipy).
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $py = '/usr/bin/python3';
if (system("$py -c 'import numpy, scipy' >/dev/null 2>&1") != 0)
{
    plan skip_all => "$py cannot import numpy and scipy (install python3-scipy)";
}
my $ref = dirname(__FILE__) . '/btyd_ref.py';

my $node = PostgreSQL::Test::Cluster->new('btyd_scipy');
$node->init;
$node->start;
# A deterministic population (the generator of sql/btyd_fit.sql), 5000
# customers, with a daily-grained T.
$node->safe_psql('postgres', q{
    CREATE EXTENSION segkpi;
    CREATE TABLE pop AS
    WITH u AS (SELECT i, ((i * 7919) % 10007 + 0.5) / 10007 AS u1, ((i * 104729) % 9973 + 0.5) / 9973 AS u2,
                      ((i * 15485863) % 9967 + 0.5) / 9967 AS u3, ((i * 32452843) % 9949 + 0.5) / 9949 AS u4,
                      ((i * 49979687) % 9941 + 0.5) / 9941 AS u5
                 FROM generate_series(1::bigint, 5000) i),
    p AS (SELECT i, -ln(u1) / 3 AS lam, 1 - power(1 - u2, 1 / 2.0) AS drop,
                 floor(100 + 200 * u4) AS tdays, u3, u5 FROM u),
    s AS (SELECT i, tdays, floor(ln(u3) / ln(1 - drop)) AS g,
                 floor(lam * tdays / 7 * (0.5 + u5)) AS n, u5 FROM p)
    SELECT i AS id, least(g, n)::int AS x,
           (CASE WHEN least(g, n) = 0 THEN 0
                 ELSE floor(tdays * least(g, n) / (n + 1) * (0.6 + 0.4 * u5)) END / 7)::float8 AS t_x,
           (tdays / 7)::float8 AS t,
           (CASE WHEN least(g, n) = 0 THEN 0
                 ELSE round(5 + 60 * u5 * (0.3 + (i % 11) / 11.0), 2) END)::float8 AS zbar
      FROM s;
    CREATE TABLE fit AS SELECT segkpi.bgnbd_fit(x, t_x, t) bg, segkpi.gamma_gamma_fit(x, zbar) gg FROM pop;
});

my $dir = PostgreSQL::Test::Utils::tempdir;
my $rows = $node->safe_psql('postgres',
    q{SELECT x || ' ' || t_x || ' ' || t || ' ' || zbar FROM pop ORDER BY id});
open(my $fh, '>', "$dir/pop.txt") or die;
print $fh "$rows\n";
close($fh);
my @sp = split /\n/, `$py $ref fit $dir/pop.txt`;
is(scalar(@sp), 2, 'scipy fitted both models') or BAIL_OUT('scipy reference failed');
my @bg_py = split ' ', $sp[0];
my @gg_py = split ' ', $sp[1];
my @bg = split /\|/, $node->safe_psql('postgres', 'SELECT r, alpha, a, b, loglik FROM fit, segkpi.bgnbd_params(bg)');
my @gg = split /\|/, $node->safe_psql('postgres', 'SELECT p, q, gamma, loglik FROM fit, segkpi.gamma_gamma_params(gg)');
note("BG/NBD segkpi: @bg");
note("BG/NBD scipy:  @bg_py");
note("Gamma-Gamma segkpi: @gg");
note("Gamma-Gamma scipy:  @gg_py");
my @names = ('r', 'alpha', 'a', 'b');
for my $i (0 .. 3)
{
    cmp_ok(abs($bg[$i] / $bg_py[$i] - 1), '<', 1e-3, "BG/NBD $names[$i]: segkpi $bg[$i], scipy $bg_py[$i]");
}
cmp_ok($bg[4] - $bg_py[4], '>', -1e-4, "BG/NBD log-likelihood at least scipy's ($bg[4] vs $bg_py[4])");
cmp_ok(abs($bg[4] - $bg_py[4]), '<', 1e-3, 'BG/NBD log-likelihoods agree');
@names = ('p', 'q', 'gamma');
for my $i (0 .. 2)
{
    cmp_ok(abs($gg[$i] / $gg_py[$i] - 1), '<', 1e-3, "Gamma-Gamma $names[$i]: segkpi $gg[$i], scipy $gg_py[$i]");
}
cmp_ok(abs($gg[3] - $gg_py[3]), '<', 1e-3, "Gamma-Gamma log-likelihoods agree ($gg[3] vs $gg_py[3])");

# Predictions for every 10th customer plus customers just acquired (T = 0),
# with the SQL model's own parameters given to scipy.
my $params = $node->safe_psql('postgres', q{
    SELECT concat_ws(' ', b.r, b.alpha, b.a, b.b, g.p, g.q, g.gamma)
      FROM fit, segkpi.bgnbd_params(bg) b, segkpi.gamma_gamma_params(gg) g});
my $cases = q{
    SELECT id, x, t_x, t, zbar, h.tt AS th, h.horizon, h.rate, h.step
      FROM (SELECT id, x, t_x, t, zbar FROM pop WHERE id % 10 = 0
            UNION ALL SELECT 0, 0, 0, 0, 0) c,
           (VALUES (39::float8, 52::float8, 0.01::float8, 1::float8), (10, 26, 0.03, 4.33), (0.5, 1.5, 0, 1)) h(tt, horizon, rate, step)
};
$rows = $node->safe_psql('postgres',
    "SELECT concat_ws(' ', x, t_x, t, zbar, th, horizon, rate, step) FROM ($cases) c ORDER BY id, th");
open($fh, '>', "$dir/pred.txt") or die;
print $fh "$params\n$rows\n";
close($fh);
my @py = split /\n/, `$py $ref predict $dir/pred.txt`;
my @sql = split /\n/, $node->safe_psql('postgres', qq{
    SELECT concat_ws(' ', segkpi.bgnbd_p_alive(bg, x, t_x, t), segkpi.bgnbd_expected(bg, th, x, t_x, t),
                     segkpi.gamma_gamma_mean(gg, x, zbar), segkpi.clv(bg, gg, x, t_x, t, zbar, horizon, rate, step))
      FROM ($cases) c, fit ORDER BY id, th});
is(scalar(@py), scalar(@sql), scalar(@sql) . ' prediction rows from both');
my @worst = (0, 0, 0, 0);
for my $i (0 .. $#sql)
{
    my @s = split ' ', $sql[$i];
    my @p = split ' ', $py[$i];
    for my $k (0 .. 3)
    {
        my $err = abs($s[$k] - $p[$k]) / (abs($p[$k]) + 1e-12);
        $worst[$k] = $err if $err > $worst[$k];
    }
}
@names = ('P(alive)', 'expected purchases', 'expected spend', 'CLV');
for my $k (0 .. 3)
{
    cmp_ok($worst[$k], '<', 1e-8, "$names[$k]: largest relative difference from scipy $worst[$k]");
}

$node->stop;
done_testing();
