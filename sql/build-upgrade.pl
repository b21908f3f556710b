#!/usr/bin/perl
# sql/build-upgrade.pl TEMPLATE SOURCE... > segkpi--A--B.sql
#
# Builds an upgrade script from its template (sql/src/upgrade/) and the
# current sources (sql/src/*.sql), so an upgrade script never holds a
# second hand-kept copy of a function or view: a line
#     --@ create function segkpi.check_writer
#     --@ replace view segkpi.kpi_trends
# is replaced by that object's statement in the sources (CREATE made
# CREATE OR REPLACE for "replace"), followed by the statements that belong
# to it there: its COMMENTs (on the object and its columns), its
# pg_extension_config_dump and, for "create", the triggers that call it.
# A line
#     --@ statement REGEX
# is replaced by the one statement of the sources (with the comments before
# it) whose text matches the Perl regular expression REGEX.  Every other
# line of the template is copied as it is.  An object that is
# missing, or defined more than once (an overloaded name), is an error.
# test/t/015_install_upgrade.pl then proves the result equals a fresh
# install.
use strict;
use warnings;

my ($template, @sources) = @ARGV;
die "usage: $0 TEMPLATE SOURCE...\n" unless defined $template && @sources;

# Split SQL text into statements, each with the comments before it.  Knows
# quotes, dollar quotes, comments and BEGIN ATOMIC ... END bodies.
sub statements
{
	my ($text) = @_;
	my @out;
	my ($start, $i, $atomic) = (0, 0, 0);
	my $n = length $text;
	while ($i < $n)
	{
		my $rest = substr($text, $i, 20);
		if ($rest =~ /^--/) { my $j = index($text, "\n", $i); $i = $j < 0 ? $n : $j + 1; next; }
		if ($rest =~ m{^/\*}) { $i = index($text, '*/', $i) + 2; next; }
		if ($rest =~ /^'/)
		{
			my $j = $i + 1;
			while (1)
			{
				$j = index($text, "'", $j);
				die "unterminated quote\n" if $j < 0;
				if (substr($text, $j + 1, 1) eq "'") { $j += 2; next; }
				last;
			}
			$i = $j + 1;
			next;
		}
		if ($rest =~ /^"/) { $i = index($text, '"', $i + 1) + 1; next; }
		if ($rest =~ /^(\$[A-Za-z_0-9]*\$)/)
		{
			my $tag = $1;
			my $j = index($text, $tag, $i + length $tag);
			die "unterminated $tag\n" if $j < 0;
			$i = $j + length $tag;
			next;
		}
		if ($rest =~ /^BEGIN\s+ATOMIC\b/) { $atomic = 1; }
		if ($atomic && $rest =~ /^END\s*;/ && ($i == 0 || substr($text, $i - 1, 1) !~ /\w/))
		{
			$atomic = 0;
			$i = index($text, ';', $i) + 1;
			push @out, substr($text, $start, $i - $start);
			$start = $i;
			next;
		}
		if (!$atomic && substr($text, $i, 1) eq ';')
		{
			push @out, substr($text, $start, $i + 1 - $start);
			$start = $i + 1;
		}
		$i++;
	}
	return @out;
}

# the statement without the comments and blank lines before it
sub body
{
	my ($s) = @_;
	$s =~ s{\A(?:\s|--[^\n]*\n|/\*.*?\*/)*}{}s;
	return $s;
}

my @stmts = map { my $f = $_; open my $fh, '<', $f or die "$f: $!\n"; local $/; statements(<$fh>) } @sources;

sub object
{
	my ($mode, $kind, $name) = @_;
	my $KIND = uc $kind;
	my $re = qr/^CREATE\s+\Q$KIND\E\s+\Q$name\E(?=[\s(])/;
	my @at = grep { body($stmts[$_]) =~ $re } 0 .. $#stmts;
	die "$template: no $kind $name in the sources\n" unless @at;
	die "$template: $kind $name is defined " . scalar(@at) . " times in the sources\n" if @at > 1;
	my $i = $at[0];
	my $b = body($stmts[$i]);
	(my $lead = substr($stmts[$i], 0, length($stmts[$i]) - length($b))) =~ s/\A\n+//;
	$b =~ s/^CREATE\s+\Q$KIND\E/CREATE OR REPLACE $KIND/ if $mode eq 'replace';
	my $out = $lead . $b . "\n";
	for my $j ($i + 1 .. $#stmts)
	{
		my $c = body($stmts[$j]);
		last unless $c =~ /^COMMENT ON \Q$KIND\E \Q$name\E[\s(]/
		  || $c =~ /^COMMENT ON COLUMN \Q$name\E\./
		  || $c =~ /^SELECT pg_catalog\.pg_extension_config_dump\('\Q$name\E'/
		  || ($mode eq 'create' && $c =~ /^CREATE TRIGGER .*EXECUTE FUNCTION \Q$name\E\(/s);
		$out .= $c . "\n";
	}
	return $out;
}

open my $tf, '<', $template or die "$template: $!\n";
print "-- built from $template by sql/build-upgrade.pl: edit that file and the sources.\n\n";
while (my $line = <$tf>)
{
	if ($line =~ /^--@\s+(create|replace)\s+(function|view|table|type|aggregate)\s+(\S+)\s*$/)
	{
		print object($1, $2, $3), "\n";
	}
	elsif ($line =~ /^--@\s+statement\s+(.+?)\s*$/)
	{
		my $re = $1;
		my @at = grep { body($stmts[$_]) =~ /$re/s } 0 .. $#stmts;
		die "$template: no statement of the sources matches /$re/\n" unless @at;
		die "$template: " . scalar(@at) . " statements of the sources match /$re/\n" if @at > 1;
		(my $s = $stmts[$at[0]]) =~ s/\A\n+//;
		print $s, "\n\n";
	}
	elsif ($line =~ /^--@/)
	{
		die "$template: cannot read directive: $line";
	}
	else
	{
		print $line;
	}
}
