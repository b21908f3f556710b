------------------------------------------------------------------------
-- Segmentation method "rules": one unit of the refresh
------------------------------------------------------------------------

-- A rule segmentation names a customer (or a lead) by the first of its
-- ordered rules (segkpi.segment_rules) whose conditions all hold on the
-- bound attributes, else "Other".  The rules become one CASE expression
-- whose values (listed values, bounds, segment names) are parameters
-- ($3[n]); only the quoted names of bound attributes are written into it.
-- Leads carry attributes too, so a rule segmentation also names leads,
-- and conversion rates are defined for it.

-- SQL condition of one rule over the columns of alias, bound attributes
-- only; its values are appended to vals and read as $3[n].
CREATE FUNCTION segkpi.rule_predicate(conditions jsonb, alias text, b segkpi.bindings,
                                      INOUT vals text[], OUT sql text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    attr text;
    cond jsonb;
    v text;
    refs text[];
    parts text[] := '{}';
    typ regtype;
BEGIN
    FOR attr, cond IN SELECT * FROM jsonb_each(conditions) LOOP
        -- leads need not carry every attribute of the customers: a rule on
        -- one they lack matches no lead (method_rules says so once)
        IF b.source = 'leads' AND NOT attr::name = ANY (b.attributes) THEN
            parts := parts || 'false'::text;
            CONTINUE;
        END IF;
        IF NOT attr::name = ANY (b.attributes) THEN
            RAISE EXCEPTION 'rule condition on "%", which is not a bound attribute', attr
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Bound attributes: %s.', coalesce(array_to_string(b.attributes, ', '), 'none'));
        END IF;
        IF jsonb_typeof(cond) = 'array' THEN
            -- listed values compare as text; a JSON null in the list matches nothing
            refs := '{}';
            FOR v IN SELECT e FROM jsonb_array_elements_text(cond) e WHERE e IS NOT NULL LOOP
                vals := vals || v;
                refs := refs || format('$3[%s]', cardinality(vals));
            END LOOP;
            parts := parts || format('%I.%I::text IN (%s)', alias, attr,
                                     CASE WHEN cardinality(refs) = 0 THEN 'NULL' ELSE array_to_string(refs, ', ') END);
        ELSIF jsonb_typeof(cond) = 'object' AND (cond ? 'min' OR cond ? 'max') THEN
            -- A bound is read by the input function of the attribute's type,
            -- as a literal compared with the attribute would be; in a
            -- subquery, because some input functions (dates, enums) are only
            -- STABLE: the planner would otherwise convert the bound once per row.
            typ := segkpi.binding_column_type(b.relation, attr::name, 'rule attribute', NULL);
            IF cond ? 'min' THEN
                vals := vals || (cond ->> 'min');
                parts := parts || format('%I.%I >= (SELECT $3[%s]::%s)', alias, attr, cardinality(vals), typ);
            END IF;
            IF cond ? 'max' THEN
                vals := vals || (cond ->> 'max');
                parts := parts || format('%I.%I <= (SELECT $3[%s]::%s)', alias, attr, cardinality(vals), typ);
            END IF;
        ELSE
            RAISE EXCEPTION 'rule condition on "%" must be a list of values or {"min": .., "max": ..}', attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    sql := CASE WHEN cardinality(parts) = 0 THEN 'true' ELSE array_to_string(parts, ' AND ') END;
END
$$;
COMMENT ON FUNCTION segkpi.rule_predicate(jsonb, text, segkpi.bindings, text[]) IS
    'SQL condition of a rule over bound attributes (quoted names; its values appended to vals, read as $3[n])';

-- CASE expression naming the segment of a row of alias under a rule
-- segmentation, and the attributes its rules read.
CREATE FUNCTION segkpi.rule_case(segmentation text, alias text, b segkpi.bindings,
                                 INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    r record;
    cond text;
BEGIN
    sql := 'CASE';
    FOR r IN SELECT * FROM segkpi.segment_rules sr WHERE sr.segmentation = rule_case.segmentation ORDER BY rule_order LOOP
        SELECT p.vals, p.sql INTO vals, cond FROM segkpi.rule_predicate(r.conditions, alias, b, vals) p;
        vals := vals || r.segment;
        sql := sql || format(' WHEN %s THEN $3[%s]', cond, cardinality(vals));
    END LOOP;
    -- no rules: everybody is Other ("CASE ELSE ... END" is not SQL)
    sql := CASE WHEN sql = 'CASE' THEN '''Other''' ELSE sql || ' ELSE ''Other'' END' END;
    reads := ARRAY(SELECT DISTINCT k::name FROM segkpi.segment_rules sr, jsonb_object_keys(sr.conditions) k
                    WHERE sr.segmentation = rule_case.segmentation ORDER BY 1);
END
$$;
COMMENT ON FUNCTION segkpi.rule_case(text, text, segkpi.bindings, text[]) IS
    'CASE expression of a rule segmentation (first matching rule, else Other) and the attributes it reads';

CREATE FUNCTION segkpi.method_rules(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                    INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
BEGIN
    CASE piece
    WHEN 'inputs' THEN
        IF run.bound_customers IS NULL THEN
            RAISE EXCEPTION 'rule segmentation "%" needs bound customers', seg.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call segkpi.bind_customers(..., attributes => ...) first.';
        END IF;
        -- The rules are read here for the customers and again for the
        -- leads: edits wait until this refresh commits, so both see the
        -- same rules.
        LOCK TABLE segkpi.segment_rules IN SHARE MODE;
        SELECT c.vals, c.sql, c.reads INTO vals, sql, reads
          FROM segkpi.rule_case(seg.name, 'c', run.bound_customers, vals) c;
    WHEN 'assign' THEN
        sql := format('x.in_%s', i);
    WHEN 'leads' THEN
        IF run.bound_leads IS NOT NULL THEN
            SELECT c.vals, c.sql, c.reads INTO vals, sql, reads
              FROM segkpi.rule_case(seg.name, 'l', run.bound_leads, vals) c;
            -- a rule needing an attribute that leads lack matches no lead
            IF EXISTS (SELECT FROM unnest(reads) a WHERE NOT a = ANY ((run.bound_leads).attributes)) THEN
                RAISE NOTICE 'rule segmentation "%": leads have no attribute %, so the rules on it match no lead',
                             seg.name, (SELECT string_agg(format('"%s"', a), ', ' ORDER BY a) FROM unnest(reads) a
                                         WHERE NOT a = ANY ((run.bound_leads).attributes));
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
