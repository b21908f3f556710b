------------------------------------------------------------------------
-- Segmentation method "rules": one unit of the refresh
------------------------------------------------------------------------

-- A rule segmentation names a customer (or a lead) by the first of its
-- ordered rules (segkpi.segment_rules) whose conditions all hold, else
-- "Other".  A condition reads a bound attribute, or a customer's purchase
-- behaviour as of the snapshot's as_of (segkpi.rule_behaviour).  The rules
-- become one CASE expression whose values (listed values, bounds, segment
-- names) are parameters ($3[n]); only the quoted names of bound attributes
-- are written into it.  Leads carry attributes too, so a rule segmentation
-- also names leads, and conversion rates are defined for it; leads have
-- no purchase behaviour, so a rule naming it matches no lead.

-- Behaviour a rule may name beside the bound attributes: the features the
-- snapshot computes for every customer as of its as_of (purchases, and
-- engagement events when bound: their number, the days since the last
-- and the sum of their values), so a rule reads nothing after as_of.  The SQL expression of each over a row x
-- of the refresh's customers (segkpi_cust with its 5-bin RFM scores x.s,
-- as the assign piece sees it); NULL for any other name.  A bound
-- attribute of the same name takes precedence.
CREATE FUNCTION segkpi.rule_behaviour(feature text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
RETURN CASE feature
    WHEN 'frequency' THEN 'x.orders'
    WHEN 'monetary' THEN 'x.monetary'
    WHEN 'recency_days' THEN '(x.s).recency_days'
    WHEN 'tenure_days' THEN '(extract(epoch FROM $1 - x.acquired_at)::float8 / 86400)'
    WHEN 'aov' THEN 'segkpi.kpi_aov(x.monetary, x.orders)'
    WHEN 'r' THEN '(x.s).r'
    WHEN 'f' THEN '(x.s).f'
    WHEN 'm' THEN '(x.s).m'
    WHEN 'engagement_events' THEN 'x.eng_events'
    WHEN 'engagement_recency_days' THEN '(extract(epoch FROM $1 - x.eng_last_at)::float8 / 86400)'
    WHEN 'engagement_value' THEN 'x.eng_value'
END;
COMMENT ON FUNCTION segkpi.rule_behaviour(text) IS
    'SQL of a behaviour feature rules may name (frequency, monetary, recency_days, tenure_days, aov, r, f, m; engagement_events, engagement_recency_days, engagement_value) over a refresh customer row x; NULL for other names';

-- SQL condition of one rule: sql over the bound attributes of alias, and
-- behaviour over the purchase behaviour of a customer row x (NULL when
-- the rule names none); its values are appended to vals, read as $3[n].
CREATE FUNCTION segkpi.rule_predicate(conditions jsonb, alias text, b segkpi.bindings,
                                      INOUT vals text[], OUT sql text, OUT behaviour text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    attr text;
    cond jsonb;
    v text;
    refs text[];
    parts text[] := '{}';
    bparts text[] := '{}';
    typ regtype;
    expr text;
BEGIN
    FOR attr, cond IN SELECT * FROM jsonb_each(conditions) LOOP
        -- leads need not carry every attribute of the customers, and have no
        -- behaviour: a rule on either matches no lead (method_rules says so once)
        IF b.source = 'leads' AND NOT attr::name = ANY (b.attributes) THEN
            parts := parts || 'false'::text;
            CONTINUE;
        END IF;
        expr := CASE WHEN NOT attr::name = ANY (b.attributes) THEN segkpi.rule_behaviour(attr) END;
        IF expr IS NULL AND NOT attr::name = ANY (b.attributes) THEN
            RAISE EXCEPTION 'rule condition on "%", which is not a bound attribute', attr
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Bound attributes: %s.', coalesce(array_to_string(b.attributes, ', '), 'none'));
        END IF;
        IF jsonb_typeof(cond) = 'array' THEN
            -- listed values compare as text (behaviour: as numbers); a JSON
            -- null in the list matches nothing
            refs := '{}';
            FOR v IN SELECT e FROM jsonb_array_elements_text(cond) e WHERE e IS NOT NULL LOOP
                vals := vals || v;
                refs := refs || format(CASE WHEN expr IS NULL THEN '$3[%s]' ELSE '$3[%s]::numeric' END, cardinality(vals));
            END LOOP;
            refs := CASE WHEN cardinality(refs) = 0 THEN '{NULL}' ELSE refs END;
            IF expr IS NULL THEN
                parts := parts || format('%I.%I::text IN (%s)', alias, attr, array_to_string(refs, ', '));
            ELSE
                bparts := bparts || format('%s IN (%s)', expr, array_to_string(refs, ', '));
            END IF;
        ELSIF jsonb_typeof(cond) = 'object' AND (cond ? 'min' OR cond ? 'max') THEN
            -- A bound of an attribute is read by the input function of its
            -- type, as a literal compared with the attribute would be; in a
            -- subquery, because some input functions (dates, enums) are only
            -- STABLE: the planner would otherwise convert the bound once per
            -- row.  Behaviour is a number.
            IF expr IS NULL THEN
                typ := segkpi.binding_column_type(b.relation, attr::name, 'rule attribute', NULL);
                expr := format('%I.%I', alias, attr);
            END IF;
            IF cond ? 'min' THEN
                vals := vals || (cond ->> 'min');
                refs := ARRAY[format('%s >= (SELECT $3[%s]::%s)', expr, cardinality(vals), coalesce(typ::text, 'numeric'))];
            ELSE
                refs := '{}';
            END IF;
            IF cond ? 'max' THEN
                vals := vals || (cond ->> 'max');
                refs := refs || format('%s <= (SELECT $3[%s]::%s)', expr, cardinality(vals), coalesce(typ::text, 'numeric'));
            END IF;
            IF typ IS NULL THEN
                bparts := bparts || refs;
            ELSE
                parts := parts || refs;
            END IF;
            typ := NULL;
        ELSE
            RAISE EXCEPTION 'rule condition on "%" must be a list of values or {"min": .., "max": ..}', attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    sql := CASE WHEN cardinality(parts) = 0 THEN 'true' ELSE array_to_string(parts, ' AND ') END;
    behaviour := CASE WHEN cardinality(bparts) > 0 THEN array_to_string(bparts, ' AND ') END;
END
$$;
COMMENT ON FUNCTION segkpi.rule_predicate(jsonb, text, segkpi.bindings, text[]) IS
    'SQL condition of a rule: over bound attributes (quoted names) and over purchase behaviour; its values appended to vals, read as $3[n]';

-- The segment of a row of alias under a rule segmentation, the attributes
-- its rules read (reads) and the purchase behaviour they name (behaviour).
-- Rules on bound attributes alone make one CASE over alias (sql; flags
-- NULL).  When a rule names behaviour, which the refresh knows only once
-- the RFM scores exist, and flags_col is given, the work is split: flags
-- is the array of each rule's attribute condition over alias (the orders
-- stage stores it per customer as flags_col), and sql the CASE over
-- flags_col and the behaviour of a customer row x, in rule order.
CREATE FUNCTION segkpi.rule_case(segmentation text, alias text, b segkpi.bindings,
                                 INOUT vals text[], flags_col text DEFAULT NULL,
                                 OUT sql text, OUT reads name[], OUT behaviour name[], OUT flags text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    r record;
    p record;
    conds text[] := '{}';
    behs text[] := '{}';
    segs integer[] := '{}';
    n integer;
BEGIN
    FOR r IN SELECT * FROM segkpi.segment_rules sr WHERE sr.segmentation = rule_case.segmentation ORDER BY rule_order LOOP
        SELECT q.vals, q.sql, q.behaviour INTO p FROM segkpi.rule_predicate(r.conditions, alias, b, vals) q;
        vals := p.vals || r.segment;
        conds := conds || p.sql;
        behs := behs || p.behaviour;
        segs := segs || cardinality(vals);
    END LOOP;
    reads := ARRAY(SELECT DISTINCT k::name FROM segkpi.segment_rules sr, jsonb_object_keys(sr.conditions) k
                    WHERE sr.segmentation = rule_case.segmentation
                      AND (k::name = ANY (b.attributes) OR segkpi.rule_behaviour(k) IS NULL) ORDER BY 1);
    behaviour := ARRAY(SELECT DISTINCT k::name FROM segkpi.segment_rules sr, jsonb_object_keys(sr.conditions) k
                        WHERE sr.segmentation = rule_case.segmentation
                          AND NOT k::name = ANY (b.attributes) AND segkpi.rule_behaviour(k) IS NOT NULL
                        ORDER BY 1);
    sql := 'CASE';
    IF flags_col IS NULL OR NOT EXISTS (SELECT FROM unnest(behs) x WHERE x IS NOT NULL) THEN
        FOR n IN 1 .. cardinality(conds) LOOP
            sql := sql || format(' WHEN %s THEN $3[%s]', conds[n], segs[n]);
        END LOOP;
    ELSE
        flags := 'ARRAY[' || array_to_string(conds, ', ') || ']::boolean[]';
        FOR n IN 1 .. cardinality(conds) LOOP
            sql := sql || format(' WHEN %s[%s]%s THEN $3[%s]', flags_col, n,
                                 coalesce(' AND ' || behs[n], ''), segs[n]);
        END LOOP;
    END IF;
    -- no rules: everybody is Other ("CASE ELSE ... END" is not SQL)
    sql := CASE WHEN sql = 'CASE' THEN '''Other''' ELSE sql || ' ELSE ''Other'' END' END;
END
$$;
COMMENT ON FUNCTION segkpi.rule_case(text, text, segkpi.bindings, text[], text) IS
    'CASE expression of a rule segmentation (first matching rule, else Other), the attributes and behaviour it reads; split into per-rule attribute flags and a CASE over them when rules name behaviour';

CREATE FUNCTION segkpi.method_rules(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                    INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    -- rules on purchase behaviour alone need no bound customers
    bc segkpi.bindings := coalesce(run.bound_customers, ROW('customers', NULL, '{}', '{}', NULL)::segkpi.bindings);
    c record;
BEGIN
    CASE piece
    WHEN 'inputs' THEN
        IF run.bound_customers IS NULL
           AND EXISTS (SELECT FROM segkpi.segment_rules r, jsonb_object_keys(r.conditions) k
                        WHERE r.segmentation = seg.name AND segkpi.rule_behaviour(k) IS NULL) THEN
            RAISE EXCEPTION 'rule segmentation "%" needs bound customers', seg.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call segkpi.bind_customers(..., attributes => ...) first.';
        END IF;
        -- The rules are read here for the customers and again for the
        -- leads: edits wait until this refresh commits, so both see the
        -- same rules.
        IF run.bound_engagement IS NULL
           AND EXISTS (SELECT FROM segkpi.segment_rules r, jsonb_object_keys(r.conditions) k
                        WHERE r.segmentation = seg.name AND k LIKE 'engagement\_%'
                          AND NOT k::name = ANY (bc.attributes)) THEN
            RAISE EXCEPTION 'rule segmentation "%" reads engagement, which is not bound', seg.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call segkpi.bind_engagement(table, customer, at, kind) first.';
        END IF;
        LOCK TABLE segkpi.segment_rules IN SHARE MODE;
        -- the CASE, or the rules' attribute conditions, per customer in the
        -- orders stage, where the bound customers are joined
        SELECT * INTO c FROM segkpi.rule_case(seg.name, 'c', bc, vals, format('x.in_%s', i));
        vals := c.vals;
        sql := coalesce(c.flags, c.sql);
        reads := c.reads;
    WHEN 'assign' THEN
        -- with behaviour, the CASE over those conditions once the RFM
        -- scores exist
        SELECT * INTO c FROM segkpi.rule_case(seg.name, 'c', bc, vals, format('x.in_%s', i));
        IF c.flags IS NULL THEN
            sql := format('x.in_%s', i);
        ELSE
            vals := c.vals;
            sql := c.sql;
        END IF;
    WHEN 'leads' THEN
        IF run.bound_leads IS NOT NULL THEN
            SELECT * INTO c FROM segkpi.rule_case(seg.name, 'l', run.bound_leads, vals);
            vals := c.vals;
            sql := c.sql;
            reads := c.reads;
            -- a rule needing an attribute that leads lack matches no lead
            IF EXISTS (SELECT FROM unnest(reads) a WHERE NOT a = ANY ((run.bound_leads).attributes)) THEN
                RAISE NOTICE 'rule segmentation "%": leads have no attribute %, so the rules on it match no lead',
                             seg.name, (SELECT string_agg(format('"%s"', a), ', ' ORDER BY a) FROM unnest(reads) a
                                         WHERE NOT a = ANY ((run.bound_leads).attributes));
            END IF;
            -- nor behaviour
            IF cardinality(c.behaviour) > 0 THEN
                RAISE NOTICE 'rule segmentation "%": leads have no behaviour (%), so the rules on it match no lead',
                             seg.name, (SELECT string_agg(format('"%s"', a), ', ' ORDER BY a) FROM unnest(c.behaviour) a);
            END IF;
            reads := ARRAY(SELECT a FROM unnest(reads) a WHERE a = ANY ((run.bound_leads).attributes));
        END IF;
    WHEN 'segments' THEN
        -- every rule's segment and Other, members or not
        vals := ARRAY(SELECT DISTINCT r.segment FROM segkpi.segment_rules r
                       WHERE r.segmentation = seg.name UNION SELECT 'Other' ORDER BY 1);
        -- a rule that matched nobody is worth a NOTICE (likely a typo)
        sql := 'notice';
    ELSE
        NULL;  -- fit, keep: the rules are the model
    END CASE;
END
$$;
COMMENT ON FUNCTION segkpi.method_rules(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]) IS
    'the pieces of a rule segmentation for the refresh stages (see segkpi.method_piece)';
