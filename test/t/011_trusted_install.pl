# segkpi is a trusted extension: a database owner without SUPERUSER may
# install and update it, and PostgreSQL then runs the scripts as the
# bootstrap superuser.  Nothing a non-superuser can own or create may get to
# run code inside those scripts.  Every case below is an attack by a role
# without SUPERUSER; the assertion that matters in each is that the
# attacker's rolsuper is still false afterwards, and that none of the
# attacker's code ran as a superuser (a sequence counts such calls: nextval
# is not rolled back, so even a call whose transaction later failed is
# seen).
#
#   a  the owner's triggers on segkpi.customer_features (its own table) fire
#      when DROP EXTENSION ... CASCADE + CREATE EXTENSION replays the scripts
#   b  the same through ALTER EXTENSION segkpi UPDATE from each old version
#   c  a role with only CREATE on the database pre-creates schema segkpi
#      (a customer_features table with triggers, or functions and operators
#      that beat pg_catalog's in overload resolution); the owner's install
#      must refuse
#   d  the owner plants such functions in its own schema segkpi; a
#      superuser's ALTER EXTENSION UPDATE must not call them
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('trusted');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
    CREATE ROLE dbo LOGIN;        -- owns the databases, no SUPERUSER
    CREATE ROLE intruder LOGIN;   -- only CREATE on the databases
});

# A database owned by dbo, with a "trap" schema anyone may use: the log of
# calls of attack code (transactional) and the counter of such calls made
# as a superuser (not transactional).
sub make_db
{
    my ($db) = @_;
    $node->safe_psql('postgres', "CREATE DATABASE $db OWNER dbo");
    $node->safe_psql($db, qq{
        GRANT CREATE ON DATABASE $db TO intruder;
        CREATE SCHEMA trap;
        GRANT USAGE, CREATE ON SCHEMA trap TO PUBLIC;
        CREATE TABLE trap.log (what text, run_as name, superuser boolean);
        GRANT SELECT, INSERT ON trap.log TO PUBLIC;
        CREATE SEQUENCE trap.su_calls;
        GRANT USAGE, SELECT ON SEQUENCE trap.su_calls TO PUBLIC;
    });
}

# The attacker's payload, created by the attacker: when it runs as a
# superuser it makes its own owner (the attacker) superuser.  It logs every
# call, says so in a NOTICE and bumps trap.su_calls when run as superuser.
my $payload = q{
CREATE FUNCTION trap.pwn(what text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    su boolean;
    me regrole;
BEGIN
    SELECT rolsuper INTO su FROM pg_roles WHERE rolname = current_user;
    SELECT proowner::regrole INTO me FROM pg_proc WHERE oid = 'trap.pwn(text)'::regprocedure;
    INSERT INTO trap.log VALUES (what, current_user, su);
    IF su THEN
        PERFORM nextval('trap.su_calls');
        -- (a WARNING: CREATE EXTENSION hides NOTICEs of its scripts)
        RAISE WARNING 'TRAP: % ran as superuser %', what, current_user;
        EXECUTE format('ALTER ROLE %s SUPERUSER', me);
    END IF;
END
$$;
CREATE FUNCTION trap.trig() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM trap.pwn(format('trigger %s (%s) on %s', TG_NAME, TG_OP, TG_TABLE_NAME));
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
};

# Functions and operators in schema segkpi that would capture unqualified
# calls in the scripts: each is a better match than pg_catalog's for the
# argument types the scripts pass (format(text, VARIADIC "any") loses to
# any exact signature; text || anynonarray loses to text || integer).
# Each does what the original does, so an install that calls them goes on.
# (No more operators than these: a bigint * numeric next to pg_catalog's
# numeric * numeric makes integer * numeric ambiguous and the install
# fails before anything is captured.)
my $planted = q{
CREATE FUNCTION segkpi.format(text, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.format(text, text)'); RETURN format($1, $2); END $$;
CREATE FUNCTION segkpi.format(text, text, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.format(text, text, text)'); RETURN format($1, $2, $3); END $$;
CREATE FUNCTION segkpi.format(text, text, name, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.format(text, text, name, text)'); RETURN format($1, $2, $3, $4); END $$;
CREATE FUNCTION segkpi.format(text, text, text, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.format(text, text, text, text)'); RETURN format($1, $2, $3, $4); END $$;
CREATE FUNCTION segkpi.format(text, text, regrole) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.format(text, text, regrole)'); RETURN format($1, $2, $3); END $$;
CREATE FUNCTION segkpi.format(text, regclass, name) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.format(text, regclass, name)'); RETURN format($1, $2, $3); END $$;
CREATE FUNCTION segkpi.col_description(regclass, smallint) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.col_description(regclass, smallint)'); RETURN col_description($1, $2); END $$;
CREATE FUNCTION segkpi.to_regclass(text) RETURNS regclass LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.to_regclass(text)'); RETURN to_regclass($1); END $$;
CREATE FUNCTION segkpi.aclexplode(aclitem[])
    RETURNS TABLE (grantor oid, grantee oid, privilege_type text, is_grantable boolean)
    LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.aclexplode(aclitem[])'); RETURN QUERY SELECT * FROM aclexplode($1); END $$;
CREATE FUNCTION segkpi.cat_ti(text, integer) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.||(text, integer)'); RETURN $1 || $2::text; END $$;
CREATE OPERATOR segkpi.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = segkpi.cat_ti);
CREATE FUNCTION segkpi.mul_nb(numeric, bigint) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM trap.pwn('segkpi.*(numeric, bigint)'); RETURN $1 * $2::numeric; END $$;
CREATE OPERATOR segkpi.* (LEFTARG = numeric, RIGHTARG = bigint, FUNCTION = segkpi.mul_nb);
};

# Triggers (statement level BEFORE DELETE / UPDATE / TRUNCATE, row level
# BEFORE DELETE OR UPDATE) and a rule on every table in schema segkpi that
# the current role owns.
my $arm_tables = q{
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c
              WHERE c.relnamespace = 'segkpi'::regnamespace AND c.relkind = 'r'
                AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) LOOP
        EXECUTE format('CREATE TRIGGER trap_del BEFORE DELETE ON %s FOR EACH STATEMENT EXECUTE FUNCTION trap.trig()', t);
        EXECUTE format('CREATE TRIGGER trap_upd BEFORE UPDATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION trap.trig()', t);
        EXECUTE format('CREATE TRIGGER trap_trunc BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION trap.trig()', t);
        EXECUTE format('CREATE TRIGGER trap_row BEFORE DELETE OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION trap.trig()', t);
        EXECUTE format('CREATE RULE trap_rule AS ON DELETE TO %s DO ALSO SELECT trap.pwn(''rule on %s'')', t, t);
    END LOOP;
END
$$;
};

# 0.1's bind_orders creates the customer tables with foreign keys to
# segkpi.snapshots, which a non-superuser owner may not reference; such an
# owner makes them itself in its schema, in the same shape without the keys
# (bind_orders then keeps them)
my $tables_01 = q{
CREATE TABLE segkpi.customer_features (
    snapshot_id    bigint NOT NULL,
    customer_id    bigint NOT NULL,
    acquired_at    timestamptz,
    first_order_at timestamptz,
    last_order_at  timestamptz,
    orders         bigint NOT NULL,
    refunds        bigint NOT NULL,
    monetary       numeric NOT NULL,
    cost           numeric NOT NULL,
    recency_days   float8,
    r integer, f integer, m integer,
    p_alive        float8,
    clv_predicted  float8,
    PRIMARY KEY (snapshot_id, customer_id));
CREATE TABLE segkpi.customer_segments (
    snapshot_id  bigint NOT NULL,
    segmentation text NOT NULL,
    customer_id  bigint NOT NULL,
    segment      text NOT NULL,
    PRIMARY KEY (snapshot_id, segmentation, customer_id));
};

# a few hundred orders of 40 customers, bound and refreshed once
my $pipeline = q{
CREATE TABLE public.orders (cust bigint, at timestamptz, total numeric);
INSERT INTO public.orders
SELECT i % 40, timestamptz '2024-01-01 00:00+00' + i * interval '9 hours', i % 17 + 1
  FROM generate_series(1, 800) i;
SELECT segkpi.bind_orders('public.orders', 'cust', 'at', 'total');
INSERT INTO segkpi.segmentations (name, method) VALUES ('rfm', 'rfm');
SELECT segkpi.refresh('2024-06-01');
};

sub as_role
{
    my ($role, $db, $sql) = @_;
    my ($ret, $out, $err) = $node->psql($db, $sql, extra_params => [ '-U', $role ]);
    return ($ret, $out, $err);
}

sub safe_as
{
    my ($role, $db, $sql) = @_;
    return $node->safe_psql($db, $sql, extra_params => [ '-U', $role ]);
}

sub rolsuper
{
    my ($role) = @_;
    return $node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = '$role'");
}

sub su_calls
{
    my ($db) = @_;
    return $node->safe_psql($db, 'SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM trap.su_calls');
}

# what of the attack ran (for the test log when an assertion fails)
sub calls
{
    my ($db, $where) = @_;
    $where //= 'superuser';
    return $node->safe_psql($db, qq{
        SELECT coalesce(string_agg(w, '; '), 'nothing')
          FROM (SELECT format('%s as %s (%s times)', what, run_as, count(*)) AS w
                  FROM trap.log WHERE $where GROUP BY what, run_as) x});
}

# the attacker must still be an ordinary role; put it back when not, so
# the next case starts clean
sub check_not_superuser
{
    my ($role, $db, $label) = @_;
    is(rolsuper($role), 'f', "$label: $role is not superuser");
    is(su_calls($db), '0', "$label: no code of $role ran as a superuser")
      or diag('ran as superuser: ' . calls($db));
    $node->safe_psql('postgres', "ALTER ROLE $role NOSUPERUSER");
    $node->safe_psql($db, "SELECT setval('trap.su_calls', 1, false)");
}

sub outcome
{
    my ($label, $ret, $err) = @_;
    note("$label: " . ($ret == 0 ? 'succeeded' : "failed: $err"));
}

########################################################################
# a. DROP EXTENSION segkpi CASCADE + CREATE EXTENSION segkpi, with the
#    owner's triggers (or rule) on its customer_features
########################################################################
my @kinds = (
    [ 'delete',   'CREATE TRIGGER trap BEFORE DELETE ON segkpi.customer_features FOR EACH STATEMENT EXECUTE FUNCTION trap.trig()' ],
    [ 'update',   'CREATE TRIGGER trap BEFORE UPDATE ON segkpi.customer_features FOR EACH STATEMENT EXECUTE FUNCTION trap.trig()' ],
    [ 'truncate', 'CREATE TRIGGER trap BEFORE TRUNCATE ON segkpi.customer_features FOR EACH STATEMENT EXECUTE FUNCTION trap.trig()' ],
    [ 'row',      'CREATE TRIGGER trap BEFORE DELETE OR UPDATE ON segkpi.customer_features FOR EACH ROW EXECUTE FUNCTION trap.trig()' ],
    [ 'rule',     q{CREATE RULE trap AS ON DELETE TO segkpi.customer_features DO ALSO SELECT trap.pwn('rule')} ],
);
for my $k (@kinds)
{
    my ($kind, $ddl) = @$k;
    my $db = "a_$kind";
    make_db($db);
    safe_as('dbo', $db, "$payload; CREATE EXTENSION segkpi; $pipeline; $ddl;");
    my ($ret, $out, $err) = as_role('dbo', $db, 'DROP EXTENSION segkpi CASCADE; CREATE EXTENSION segkpi;');
    outcome("a/$kind: reinstall", $ret, $err);
    unlike($err, qr/TRAP:/, "a/$kind: no attack code ran during the reinstall");
    check_not_superuser('dbo', $db, "a/$kind: reinstall over the owner's $kind trap");

    # the new installation works for its owner, whatever rows the old one
    # left in customer_features (the snapshot ids start over)
    is($ret, 0, "a/$kind: the reinstall succeeds") or diag($err);
    ($ret, $out, $err) = as_role('dbo', $db, q{
        SELECT segkpi.bind_orders('public.orders', 'cust', 'at', 'total');
        INSERT INTO segkpi.segmentations (name, method) VALUES ('rfm', 'rfm') ON CONFLICT DO NOTHING;
        SELECT 'sid=' || segkpi.refresh('2024-07-01');
    });
    is($ret, 0, "a/$kind: bind and refresh succeed after the reinstall") or diag($err);
    my ($sid) = $out =~ /sid=(\d+)/;
    if (defined $sid)
    {
        is(safe_as('dbo', $db, "SELECT count(*) FROM segkpi.customer_features WHERE snapshot_id = $sid"),
            '40', "a/$kind: the new snapshot has its 40 customers");
    }
    check_not_superuser('dbo', $db, "a/$kind: after the new install's refresh");
}

########################################################################
# b. ALTER EXTENSION segkpi UPDATE from each older version, with the
#    owner's triggers and a rule on every table it owns in the schema
########################################################################
for my $v ('0.1', '0.2', '0.3', '0.4')
{
    (my $db = "b_$v") =~ s/\./_/;
    make_db($db);
    safe_as('dbo', $db, "$payload; CREATE EXTENSION segkpi VERSION '$v'; " . ($v eq '0.1' ? $tables_01 : '')
        . "$pipeline; $arm_tables;");
    my $before = safe_as('dbo', $db, 'SELECT max(snapshot_id) FROM segkpi.snapshots');
    my ($ret, $out, $err) = as_role('dbo', $db, 'ALTER EXTENSION segkpi UPDATE;');
    outcome("b/$v: update", $ret, $err);
    unlike($err, qr/TRAP:/, "b/$v: no attack code ran during the update");
    check_not_superuser('dbo', $db, "b/$v: ALTER EXTENSION UPDATE over the owner's triggers");
    is($ret, 0, "b/$v: the update succeeds") or diag($err);
    is(safe_as('dbo', $db, q{SELECT extversion FROM pg_extension WHERE extname = 'segkpi'}),
        safe_as('dbo', $db, q{SELECT default_version FROM pg_available_extensions WHERE name = 'segkpi'}),
        "b/$v: at the default version");

    ($ret, $out, $err) = as_role('dbo', $db, q{
        SELECT segkpi.bind_orders('public.orders', 'cust', 'at', 'total');
        SELECT 'sid=' || segkpi.refresh('2024-07-01');
    });
    is($ret, 0, "b/$v: bind and refresh succeed after the update") or diag($err);
    my ($sid) = $out =~ /sid=(\d+)/;
    cmp_ok($sid // 0, '>', $before, "b/$v: the refresh after the update takes a new snapshot id");
    check_not_superuser('dbo', $db, "b/$v: after the updated refresh");
}

########################################################################
# c. a role with only CREATE on the database pre-creates schema segkpi
########################################################################

# planted objects of the intruder referenced by anything else (a view
# bound to its operator would run it for every reader)
sub planted_users
{
    my ($db, $owner) = @_;
    return $node->safe_psql($db, qq{
        SELECT count(*) FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid AND r.rulename = '_RETURN'
         WHERE d.classid = 'pg_rewrite'::regclass
           AND ((d.refclassid = 'pg_proc'::regclass
                 AND d.refobjid IN (SELECT oid FROM pg_proc WHERE proowner = '$owner'::regrole))
             OR (d.refclassid = 'pg_operator'::regclass
                 AND d.refobjid IN (SELECT oid FROM pg_operator WHERE oprowner = '$owner'::regrole)))});
}

# the 0.3 shape of customer_features (see ensure_customer_tables in
# segkpi--0.2--0.3.sql), with a row of a snapshot that does not exist
my $fake_features = q{
CREATE TABLE segkpi.customer_features (
    snapshot_id    bigint NOT NULL,
    customer_id    bigint NOT NULL,
    acquired_at    timestamptz,
    first_order_at timestamptz,
    last_order_at  timestamptz,
    orders         bigint NOT NULL,
    refunds        bigint NOT NULL,
    monetary       numeric NOT NULL,
    cost           numeric NOT NULL,
    recency_days   float8,
    r integer, f integer, m integer,
    p_alive        float8,
    clv_predicted  float8,
    segments       text[],
    PRIMARY KEY (snapshot_id, customer_id));
INSERT INTO segkpi.customer_features (snapshot_id, customer_id, orders, refunds, monetary, cost)
VALUES (1, 1, 1, 0, 10, 0);
GRANT ALL ON segkpi.customer_features TO PUBLIC;
};

my %traps = (
    'table' => "$fake_features; $arm_tables",
    'functions' => $planted,
    'both' => "$fake_features; $arm_tables; $planted",
);
for my $trap (sort keys %traps)
{
    for my $path ('create', 'update')
    {
        my $db = "c_${trap}_$path";
        $db =~ s/ /_/g;
        my $label = "c/$trap/$path";
        make_db($db);
        safe_as('intruder', $db, "$payload; CREATE SCHEMA segkpi; $traps{$trap};");

        my ($ret, $out, $err);
        if ($path eq 'create')
        {
            ($ret, $out, $err) = as_role('dbo', $db, 'CREATE EXTENSION segkpi;');
        }
        else
        {
            ($ret, $out, $err) = as_role('dbo', $db, q{CREATE EXTENSION segkpi VERSION '0.1';});
            if ($ret == 0)
            {
                my ($ret2, $out2, $err2) = as_role('dbo', $db, 'ALTER EXTENSION segkpi UPDATE;');
                ($ret, $err) = ($ret2, "$err$err2");
            }
        }
        outcome("$label: install by the owner", $ret, $err);
        unlike($err, qr/TRAP:/, "$label: no attack code ran during the install");
        check_not_superuser('intruder', $db, "$label: install into the intruder's schema");
        is($node->safe_psql($db, 'SELECT count(*) FROM trap.log'), '0',
            "$label: none of the intruder's functions, operators, triggers or rules was called")
          or diag('called: ' . calls($db, 'true'));
        is(planted_users($db, 'intruder'), '0', "$label: no view uses the intruder's functions or operators");
        isnt($ret, 0, "$label: the install refuses a schema segkpi of another role");
        like($err, qr/schema "?segkpi"?/, "$label: and names the schema");
    }
}

########################################################################
# d. the owner plants functions and operators in its own schema segkpi;
#    a superuser updates the extension
########################################################################
for my $v ('0.1', '0.3')
{
    (my $db = "d_$v") =~ s/\./_/;
    my $label = "d/$v";
    make_db($db);
    safe_as('dbo', $db, "$payload; CREATE EXTENSION segkpi VERSION '$v'; " . ($v eq '0.1' ? $tables_01 : '')
        . $pipeline);
    is(safe_as('dbo', $db, q{SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'segkpi'}), 'dbo',
        "$label: the installing owner owns schema segkpi (so it can plant there)");
    safe_as('dbo', $db, $planted);
    $node->safe_psql($db, 'TRUNCATE trap.log');

    my ($ret, $out, $err) = $node->psql($db, 'ALTER EXTENSION segkpi UPDATE;');
    outcome("$label: update by a superuser", $ret, $err);
    unlike($err, qr/TRAP:/, "$label: no planted code ran during the update");
    check_not_superuser('dbo', $db, "$label: superuser's update over the owner's planted functions");
    is($node->safe_psql($db, 'SELECT count(*) FROM trap.log'), '0',
        "$label: none of the planted functions or operators was called")
      or diag('called: ' . calls($db, 'true'));
    is(planted_users($db, 'dbo'), '0', "$label: no view uses the planted functions or operators");
}

$node->stop;
done_testing();
