# clv() on its slowest inputs (issue 20, item 3): a horizon far longer
# than alpha + T makes every step sum hypergeometric series of millions of
# terms.  Such a call obeys statement_timeout, pg_cancel_backend and
# pg_terminate_backend, and without any of them ends by itself with 54000
# once it has summed SK_BTYD_CLV_MAX_TERMS terms (about 10 s of one core;
# before the fix these calls ran for many minutes and ignored every signal).
#
# Nothing here is timed: each call would run far longer than the cancel
# needs to arrive, and the test asserts which error ended it.  The 120 s
# limits are only a safety net so that a call that ignores the cancel
# fails the test instead of hanging it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('clvcancel');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION segkpi');

my $bg = q{'bgnbd/1 r=1 alpha=0.001 a=0.5 b=1 ll=0 n=1 iter=0 converged=1'};
my $gg = q{'gammagamma/1 p=1 q=2 gamma=1 ll=0 n=1 iter=0 converged=1'};
my %slow = (
    # the issue's repro: a repeat customer, 20,000 steps
    'repeat customer' => "SELECT segkpi.clv($bg, $gg, 1, 0.0005, 0.001, 1, 200, 0, 0.01)",
    # a customer just acquired (T = 0) takes the E[X(t)] path
    'new customer' => "SELECT segkpi.clv($bg, $gg, 0, 0, 0, 1, 200, 0, 0.01)",
    # the most steps allowed, each as slow
    'most steps' => "SELECT segkpi.clv($bg, $gg, 1, 0.0005, 0.001, 1, 100000, 0, 1)",
);

foreach my $case (sort keys %slow)
{
    my $sql = $slow{$case};
    my $timed_out = 0;
    my ($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '1s'; $sql",
        timeout => 120, timed_out => \$timed_out);
    ok(!$timed_out, "$case: the call ends under statement_timeout");
    # (the timeout, or, on a fast or a slow machine alike, the clean error
    # of a series that cannot converge or of the work limit: never a hang)
    like($err, qr/canceling statement due to statement timeout|did not converge|series terms/,
         "$case: with the timeout error (or a clean error first)");
}

# pg_cancel_backend and pg_terminate_backend from another session, once the
# call is running
sub start_call
{
    my ($name, $sql) = @_;
    my %h = (out => '', err => '');
    $h{run} = IPC::Run::start(
        [ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', "SET application_name = '$name'; $sql" ],
        '>', \$h{out}, '2>', \$h{err}, IPC::Run::timeout(120));
    ok($node->poll_query_until('postgres',
            qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = '$name' AND state = 'active'}),
        "$name: the call is running");
    return \%h;
}

sub finish_call
{
    my ($h) = @_;
    my $ok = eval { $h->{run}->finish; 1 };
    if (!$ok)
    {
        $h->{run}->kill_kill;
        return 0;
    }
    return 1;
}

foreach my $signal ('pg_cancel_backend', 'pg_terminate_backend')
{
    my $h = start_call("clv_$signal", $slow{'repeat customer'});
    is($node->safe_psql('postgres',
            qq{SELECT $signal(pid) FROM pg_stat_activity WHERE application_name = 'clv_$signal'}),
        't', "$signal sent");
    ok(finish_call($h), "$signal: the call ends");
    like($h->{err},
        $signal eq 'pg_cancel_backend'
        ? qr/canceling statement due to user request/
        : qr/terminating connection due to administrator command/,
        "$signal: with its error");
}

# With nothing to stop it, the call ends by itself: 54000, naming the limit.
my $timed_out = 0;
my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$slow{'repeat customer'}",
    timeout => 120, timed_out => \$timed_out);
ok(!$timed_out, 'without statement_timeout the call ends by itself');
like($err, qr/ERROR:  54000: clv: the prediction needs more than 1000000000 series terms/,
    'with program_limit_exceeded');
like($err, qr/HINT:  Use a larger step or a shorter horizon/, 'and a hint');

# an ordinary CLV is far inside the limit
is($node->safe_psql('postgres',
        "SELECT round(segkpi.clv('bgnbd/1 r=0.243 alpha=4.414 a=0.793 b=2.426 ll=0 n=1 iter=0 converged=1', $gg, 2, 30.43, 38.86, 20, 52, 0.01, 1)::numeric, 6) > 0"),
    't', 'an ordinary clv still answers');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server still answers');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no backend crashed');

$node->stop('immediate');
done_testing();
