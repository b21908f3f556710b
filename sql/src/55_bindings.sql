------------------------------------------------------------------------
-- KPI pipeline: binding functions
------------------------------------------------------------------------

-- The type of column col of rel, checked against a role; errors say what
-- is wrong and which argument it came from.
CREATE FUNCTION segkpi.binding_column_type(rel regclass, col name, role text, allowed text[])
    RETURNS regtype
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    t regtype;
BEGIN
    IF col IS NULL THEN
        RAISE EXCEPTION 'column for % must not be null', role USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT a.atttypid::regtype INTO t
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', col, rel
            USING ERRCODE = 'undefined_column',
                  DETAIL = format('It was given as the %s column.', role);
    END IF;
    IF allowed IS NOT NULL AND NOT (t::text = ANY (allowed)) THEN
        RAISE EXCEPTION 'column "%" of relation % has type %, which cannot be the % column', col, rel, t, role
            USING ERRCODE = 'datatype_mismatch',
                  HINT = format('Allowed types: %s.', array_to_string(allowed, ', '));
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION segkpi.binding_column_type(regclass, name, text, text[]) IS
    'type of a column to bind, or an error naming the column, its role and the allowed types';

-- The column roles of a source: role -> [required, type class], where the
-- class is t (time), n (number), s (text) or null (customer key: any type).
CREATE FUNCTION segkpi.binding_spec(source text)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
RETURN CASE source
    WHEN 'orders' THEN '{"customer": [true, null], "ordered_at": [true, "t"], "amount": [true, "n"], "cost": [false, "n"], "channel": [false, "s"]}'::jsonb
    WHEN 'customers' THEN '{"customer": [true, null], "acquired_at": [false, "t"], "channel": [false, "s"]}'::jsonb
    WHEN 'marketing_spend' THEN '{"spent_on": [true, "t"], "amount": [true, "n"], "channel": [false, "s"], "target_segment": [false, "s"]}'::jsonb
    WHEN 'leads' THEN '{"created_at": [true, "t"], "converted_at": [true, "t"], "customer": [false, null], "channel": [false, "s"]}'::jsonb
    WHEN 'feedback' THEN '{"customer": [true, null], "answered_at": [true, "t"], "score": [true, "n"]}'::jsonb
    WHEN 'engagement' THEN '{"customer": [true, null], "at": [true, "t"], "kind": [true, "s"], "value": [false, "n"]}'::jsonb
END;
COMMENT ON FUNCTION segkpi.binding_spec(text) IS
    'column roles of a source: role -> [required, type class (t time, n number, s text, null any)]';

CREATE FUNCTION segkpi.binding_types(class text)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
RETURN CASE class
    WHEN 't' THEN ARRAY['timestamp with time zone', 'timestamp without time zone', 'date']
    WHEN 'n' THEN ARRAY['numeric', 'integer', 'bigint', 'smallint', 'double precision', 'real']
    WHEN 's' THEN ARRAY['text', 'character varying', 'character', 'name']
END;
COMMENT ON FUNCTION segkpi.binding_types(text) IS 'column types accepted for a type class of segkpi.binding_spec';

CREATE FUNCTION segkpi.bind(source text, relation regclass, columns jsonb, attributes name[] DEFAULT '{}')
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    spec    jsonb;
    role    text;
    req     boolean;
    key_t   regtype;
    t       regtype;
    a       name;
BEGIN
    spec := segkpi.binding_spec(source);
    IF spec IS NULL THEN
        RAISE EXCEPTION 'unknown source "%"', source USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Sources are orders, customers, marketing_spend, leads, feedback and engagement.';
    END IF;
    FOR role IN SELECT jsonb_object_keys(columns) LOOP
        IF NOT spec ? role THEN
            RAISE EXCEPTION 'source % has no column role "%"', source, role USING ERRCODE = 'invalid_parameter_value',
                HINT = format('Roles of %s: %s.', source, (SELECT string_agg(k, ', ') FROM jsonb_object_keys(spec) k));
        END IF;
    END LOOP;
    IF source = 'orders' THEN
        key_t := NULL;
    ELSE
        SELECT (b.columns ->> '_key_type')::regtype INTO key_t FROM segkpi.bindings b WHERE b.source = 'orders';
    END IF;
    FOR role, req IN SELECT k, (spec -> k ->> 0)::boolean FROM jsonb_object_keys(spec) k LOOP
        IF columns ->> role IS NULL THEN
            IF req THEN
                RAISE EXCEPTION 'source % needs a column for "%"', source, role USING ERRCODE = 'invalid_parameter_value';
            END IF;
            CONTINUE;
        END IF;
        t := segkpi.binding_column_type(relation, (columns ->> role)::name, role,
                 segkpi.binding_types(spec -> role ->> 1));
        IF role = 'customer' THEN
            IF source = 'orders' THEN
                key_t := t;
            ELSIF key_t IS NULL THEN
                RAISE EXCEPTION 'bind orders before %', source USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = 'The orders binding fixes the type of the customer key.';
            ELSIF t <> key_t THEN
                RAISE EXCEPTION 'customer column "%" of % has type %, but the orders customer key is %',
                    columns ->> role, relation, t, key_t USING ERRCODE = 'datatype_mismatch';
            END IF;
        END IF;
    END LOOP;
    FOREACH a IN ARRAY coalesce(attributes, '{}') LOOP
        IF source NOT IN ('customers', 'leads') THEN
            RAISE EXCEPTION 'only customers and leads have attribute columns' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM segkpi.binding_column_type(relation, a, 'attribute', NULL);
    END LOOP;
    IF source = 'orders' THEN
        columns := columns || jsonb_build_object('_key_type', key_t::text);
        PERFORM segkpi.ensure_customer_tables(key_t);
    END IF;
    INSERT INTO segkpi.bindings AS b (source, relation, columns, attributes)
    VALUES (source, relation, columns, coalesce(attributes, '{}'))
    ON CONFLICT ON CONSTRAINT bindings_pkey DO UPDATE
        SET relation = excluded.relation, columns = excluded.columns,
            attributes = excluded.attributes, bound_at = pg_catalog.now();
END
$$;
COMMENT ON FUNCTION segkpi.bind(text, regclass, jsonb, name[]) IS
    'binds a warehouse table to a source after checking that every column exists with a usable type';

CREATE FUNCTION segkpi.bind_orders(relation regclass, customer name, ordered_at name, amount name,
                                   cost name DEFAULT NULL, channel name DEFAULT NULL)
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('orders', relation, jsonb_strip_nulls(jsonb_build_object(
        'customer', customer, 'ordered_at', ordered_at, 'amount', amount, 'cost', cost, 'channel', channel)));
END;
COMMENT ON FUNCTION segkpi.bind_orders(regclass, name, name, name, name, name) IS
    'binds the orders table: customer key, order time, amount (refunds <= 0), optional cost and channel';

CREATE FUNCTION segkpi.bind_customers(relation regclass, customer name, acquired_at name DEFAULT NULL,
                                      channel name DEFAULT NULL, attributes name[] DEFAULT '{}')
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('customers', relation, jsonb_strip_nulls(jsonb_build_object(
        'customer', customer, 'acquired_at', acquired_at, 'channel', channel)), attributes);
END;
COMMENT ON FUNCTION segkpi.bind_customers(regclass, name, name, name, name[]) IS
    'binds the customers table: key (same type as the orders key), optional acquisition time and channel, attribute columns';

CREATE FUNCTION segkpi.bind_marketing_spend(relation regclass, spent_on name, amount name,
                                            channel name DEFAULT NULL, target_segment name DEFAULT NULL)
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('marketing_spend', relation, jsonb_strip_nulls(jsonb_build_object(
        'spent_on', spent_on, 'amount', amount, 'channel', channel, 'target_segment', target_segment)));
END;
COMMENT ON FUNCTION segkpi.bind_marketing_spend(regclass, name, name, name, name) IS
    'binds acquisition spend: date, amount, optional channel and target segment tags';

CREATE FUNCTION segkpi.bind_leads(relation regclass, created_at name, converted_at name,
                                  customer name DEFAULT NULL, channel name DEFAULT NULL,
                                  attributes name[] DEFAULT '{}')
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('leads', relation, jsonb_strip_nulls(jsonb_build_object(
        'created_at', created_at, 'converted_at', converted_at, 'customer', customer, 'channel', channel)), attributes);
END;
COMMENT ON FUNCTION segkpi.bind_leads(regclass, name, name, name, name, name[]) IS
    'binds leads: creation and conversion times, optional customer, channel and attribute columns';

CREATE FUNCTION segkpi.bind_feedback(relation regclass, customer name, answered_at name, score name)
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('feedback', relation, jsonb_build_object(
        'customer', customer, 'answered_at', answered_at, 'score', score));
END;
COMMENT ON FUNCTION segkpi.bind_feedback(regclass, name, name, name) IS
    'binds satisfaction feedback: customer, answer time, score';

CREATE FUNCTION segkpi.bind_engagement(relation regclass, customer name, at name, kind name, value name DEFAULT NULL)
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('engagement', relation, jsonb_strip_nulls(jsonb_build_object(
        'customer', customer, 'at', at, 'kind', kind, 'value', value)));
END;
COMMENT ON FUNCTION segkpi.bind_engagement(regclass, name, name, name, name) IS
    'binds engagement events (visits, e-mail opens, clicks, campaign responses): customer, time, kind, optional value';

-- Customer-level tables carry the warehouse's key type, so they are made
