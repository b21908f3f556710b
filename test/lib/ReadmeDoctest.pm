# test/lib/ReadmeDoctest.pm - runs the SQL examples of a Markdown file.
#
# Used by test/t/016_readme.pl (the doc test) and, by hand, to see what the
# examples print:
#
#   perl -Itest/lib -MReadmeDoctest -e ReadmeDoctest::main README.md
#
# (with PGHOST, PGPORT, PGUSER = a superuser and PGDATABASE set; see
# test/t/016_readme.pl for the database the README expects).
#
# The rules, which the README follows:
#   - every ```sql fenced block is an example, run in file order, all in ONE
#     psql session (psql -X -q, ON_ERROR_STOP, \pset footer off), so later
#     examples see what earlier ones made, as for a reader who pastes them
#     into one psql;
#   - a plain ``` block that follows a ```sql block (only blank lines
#     between) is what that block prints on standard output: psql's aligned
#     format, compared line by line after trailing spaces and leading and
#     trailing blank lines are trimmed; notices and warnings (standard
#     error) are not compared;
#   - a ```sql block without such a block must only run without error;
#   - HTML comments on the lines just above a ```sql block steer it:
#       <!-- doctest: skip (why) -->      not run; the test says why
#       <!-- doctest: superuser -->       run as the connecting superuser
#                                          instead of the session's role
#       <!-- doctest: needs pg_cron -->    run only when pg_cron is loaded
#                                          (skipped, saying so, otherwise)
#     Several may share one comment: <!-- doctest: superuser, needs pg_cron -->.
package ReadmeDoctest;

use strict;
use warnings;

# parse($text) -> list of blocks:
#   { n, line, section, sql, expected (undef when none), skip (reason or
#     undef), superuser (0/1), needs ([...]) }
sub parse
{
	my ($text) = @_;
	my @lines = split /\n/, $text, -1;
	my @blocks;
	my $section = '(top)';
	my @pending;    # directives seen since the last non-blank, non-comment line
	my $i = 0;
	while ($i < @lines)
	{
		my $l = $lines[$i];
		if ($l =~ /^```(\S*)\s*$/)
		{
			my $info = $1;
			my $start = $i + 1;
			my @body;
			$i++;
			while ($i < @lines && $lines[$i] !~ /^```\s*$/)
			{
				push @body, $lines[$i];
				$i++;
			}
			die "unclosed code fence at line $start\n" if $i >= @lines;
			$i++;    # past the closing fence
			if ($info eq 'sql')
			{
				my %b = (n => scalar(@blocks) + 1, line => $start, section => $section,
					sql => join("\n", @body) . "\n", expected => undef,
					skip => undef, superuser => 0, needs => []);
				for my $d (@pending)
				{
					for my $w (split /\s*,\s*(?![^()]*\))/, $d)
					{
						if ($w =~ /^skip\s*(?:\((.*)\))?$/) { $b{skip} = $1 // 'marked skip' }
						elsif ($w eq 'superuser') { $b{superuser} = 1 }
						elsif ($w =~ /^needs\s+(\S+)$/) { push @{ $b{needs} }, $1 }
						else { die "line $start: unknown doctest directive \"$w\"\n" }
					}
				}
				# an output block: the next fence, after blank lines only, with no info string
				my $j = $i;
				$j++ while $j < @lines && $lines[$j] =~ /^\s*$/;
				if ($j < @lines && $lines[$j] =~ /^```\s*$/)
				{
					my @out;
					$j++;
					while ($j < @lines && $lines[$j] !~ /^```\s*$/)
					{
						push @out, $lines[$j];
						$j++;
					}
					die "unclosed output fence after line $start\n" if $j >= @lines;
					$b{expected} = join("\n", @out);
					$b{out_lines} = [ $j - @out, $j ];    # content [from, to) as 0-based indexes
					$i = $j + 1;
				}
				push @blocks, \%b;
			}
			@pending = ();
			next;
		}
		if ($l =~ /^<!--\s*doctest:\s*(.*?)\s*-->\s*$/)
		{
			push @pending, $1;
		}
		elsif ($l =~ /^#+\s+(.*)$/)
		{
			$section = $1;
			@pending = ();
		}
		elsif ($l !~ /^\s*$/)
		{
			@pending = ();
		}
		$i++;
	}
	return @blocks;
}

# normalise($text): trailing spaces off every line, blank lines off both ends
sub normalise
{
	my ($t) = @_;
	$t //= '';
	my @l = map { s/\s+$//r } split /\n/, $t, -1;
	shift @l while @l && $l[0] eq '';
	pop @l while @l && $l[-1] eq '';
	return join("\n", @l);
}

# script(\@blocks, role => R, have => {pg_cron => 1}) -> psql script text.
# Blocks that are skipped get no SQL; markers on both streams delimit each
# block's output (<<<doctest N>>> before, <<<doctest-end N>>> after).
sub script
{
	my ($blocks, %o) = @_;
	my $role = $o{role};
	my $have = $o{have} // {};
	my $s = "\\set ON_ERROR_STOP 1\n\\pset footer off\n";
	$s .= "SET SESSION AUTHORIZATION $role;\n" if $role;
	for my $b (@$blocks)
	{
		next if skip_reason($b, $have);
		my $n = $b->{n};
		$s .= "\\echo <<<doctest $n>>>\n\\warn <<<doctest $n>>>\n";
		$s .= "RESET SESSION AUTHORIZATION;\n" if $b->{superuser} && $role;
		$s .= $b->{sql};
		$s .= "\n\\echo <<<doctest-end $n>>>\n\\warn <<<doctest-end $n>>>\n";
		$s .= "RESET ROLE;\nSET SESSION AUTHORIZATION $role;\n" if $b->{superuser} && $role;
	}
	return $s;
}

# Why a block does not run here, or undef when it runs.
sub skip_reason
{
	my ($b, $have) = @_;
	return $b->{skip} if defined $b->{skip};
	for my $need (@{ $b->{needs} })
	{
		return "needs $need, which this server does not have" unless $have->{$need};
	}
	return undef;
}

# split_streams($stdout, $stderr) -> { n => { out, err, done } }
sub split_streams
{
	my ($stdout, $stderr) = @_;
	my %r;
	for my $stream ([ 'out', $stdout ], [ 'err', $stderr ])
	{
		my ($key, $text) = @$stream;
		my $cur;
		for my $l (split /\n/, $text // '', -1)
		{
			if ($l =~ /^<<<doctest (\d+)>>>$/) { $cur = $1; $r{$cur}{$key} //= ''; next }
			if ($l =~ /^<<<doctest-end (\d+)>>>$/)
			{
				$r{$1}{done} = 1 if $key eq 'out';
				$cur = undef;
				next;
			}
			$r{$cur}{$key} .= "$l\n" if defined $cur;
		}
	}
	return \%r;
}

# By hand: print every block's output, and whether it matches.
sub main
{
	my ($file, $role) = @_;
	$file //= 'README.md';
	open my $fh, '<', $file or die "$file: $!\n";
	my @blocks = parse(do { local $/; <$fh> });
	my $have = {};
	my $preload = `psql -X -At -c 'SHOW shared_preload_libraries'`;
	$have->{pg_cron} = 1 if $preload =~ /pg_cron/;
	my $sql = script(\@blocks, role => $role // 'shop_owner', have => $have);
	my $tmp = "/tmp/readme-doctest.$$";
	open my $sf, '>', "$tmp.sql" or die;
	print $sf $sql;
	close $sf;
	system("psql -X -q -f $tmp.sql >$tmp.out 2>$tmp.err");
	my $res = split_streams(map { local $/; open my $f, '<', $_ or die; <$f> } "$tmp.out", "$tmp.err");
	unlink "$tmp.sql", "$tmp.out", "$tmp.err";
	# DOCTEST_BLESS=1: write what the blocks printed into their output blocks
	if ($ENV{DOCTEST_BLESS})
	{
		open my $in, '<', $file or die;
		my @l = split /\n/, do { local $/; <$in> }, -1;
		for my $b (reverse grep { $_->{out_lines} } @blocks)
		{
			my $r = $res->{ $b->{n} };
			next unless $r && $r->{done};
			my ($from, $to) = @{ $b->{out_lines} };
			splice @l, $from, $to - $from, split /\n/, normalise($r->{out});
		}
		open my $o, '>', $file or die;
		print $o join("\n", @l);
		close $o;
	}
	for my $b (@blocks)
	{
		my $r = $res->{ $b->{n} };
		my $why = skip_reason($b, $have);
		my $state = defined $why ? "SKIP ($why)"
		  : !$r                  ? 'NOT RUN'
		  : !$r->{done}          ? 'FAILED'
		  : !defined $b->{expected} ? 'ran'
		  : normalise($r->{out}) eq normalise($b->{expected}) ? 'output matches'
		  :                          'OUTPUT DIFFERS';
		print "=== block $b->{n} (line $b->{line}, $b->{section}): $state\n";
		print $r->{out} // '' if $r && $state ne 'output matches';
		print map { "  stderr: $_\n" } split /\n/, $r->{err} if $r && $r->{err};
	}
}

1;
