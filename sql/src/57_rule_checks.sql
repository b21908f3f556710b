------------------------------------------------------------------------
-- Rule segmentations: rules checked when written
------------------------------------------------------------------------

-- A rule's conditions are checked as the row is written, so a typo fails
-- there, naming the rule, instead of silently matching nobody:
--   - each condition is a non-empty list of scalar values, or an object
--     with "min" and/or "max" (numbers, or times as strings; two numbers
--     in order) and nothing else;
--   - once customers are bound, each attribute is a bound attribute
--     (42703), and a range is only allowed on a number or a time (42804):
--     a range on text would compare as text ('1000' < '50');
--   - a name of behaviour (segkpi.rule_behaviour: frequency, monetary,
--     recency_days, tenure_days, aov, r, f, m, engagement_events,
--     engagement_recency_days, engagement_value) that no bound attribute
--     has takes numbers only, in a list or as bounds (22023).
-- Refresh checks the rules against the bindings again, since a binding can
-- change after the rules were written.
CREATE FUNCTION segkpi.check_rule(segmentation text, rule_order integer, conditions jsonb)
    RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    bc segkpi.bindings;
    attr text;
    cond jsonb;
    what text := format('rule %s of segmentation "%s"', rule_order, segmentation);
    t regtype;
BEGIN
    SELECT * INTO bc FROM segkpi.bindings b WHERE b.source = 'customers';
    FOR attr, cond IN SELECT * FROM jsonb_each(conditions) LOOP
        IF jsonb_typeof(cond) = 'array' THEN
            IF jsonb_array_length(cond) = 0 THEN
                RAISE EXCEPTION '%: the list of values for "%" is empty', what, attr
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'An empty list matches nobody; leave the attribute out to match everybody.';
            END IF;
            IF EXISTS (SELECT FROM jsonb_array_elements(cond) v WHERE jsonb_typeof(v) IN ('array', 'object')) THEN
                RAISE EXCEPTION '%: the list for "%" may hold only strings, numbers, booleans and null', what, attr
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        ELSIF jsonb_typeof(cond) = 'object' THEN
            IF NOT (cond ? 'min' OR cond ? 'max')
               OR EXISTS (SELECT FROM jsonb_object_keys(cond) k WHERE k NOT IN ('min', 'max')) THEN
                RAISE EXCEPTION '%: the range for "%" must be {"min": .., "max": ..} (either may be left out)', what, attr
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF (cond ? 'min' AND jsonb_typeof(cond -> 'min') NOT IN ('number', 'string'))
               OR (cond ? 'max' AND jsonb_typeof(cond -> 'max') NOT IN ('number', 'string')) THEN
                RAISE EXCEPTION '%: the bounds of "%" must be numbers (or times, as strings)', what, attr
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF jsonb_typeof(cond -> 'min') = 'number' AND jsonb_typeof(cond -> 'max') = 'number'
               AND (cond ->> 'min')::numeric > (cond ->> 'max')::numeric THEN
                RAISE EXCEPTION '%: the range for "%" has min % above max %', what, attr, cond -> 'min', cond -> 'max'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        ELSE
            RAISE EXCEPTION '%: the condition on "%" must be a list of values or {"min": .., "max": ..}', what, attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- purchase behaviour (unless a bound attribute has its name): numbers only
        IF segkpi.rule_behaviour(attr) IS NOT NULL AND NOT attr::name = ANY (coalesce(bc.attributes, '{}')) THEN
            IF EXISTS (SELECT FROM jsonb_array_elements(CASE WHEN jsonb_typeof(cond) = 'array' THEN cond
                                                             ELSE jsonb_build_array(cond -> 'min', cond -> 'max') END) v
                        WHERE jsonb_typeof(v) NOT IN ('number', 'null')) THEN
                RAISE EXCEPTION '%: "%" is behaviour, a number: its values and bounds must be numbers', what, attr
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            CONTINUE;
        END IF;
        CONTINUE WHEN bc IS NULL;
        IF NOT attr::name = ANY (bc.attributes) THEN
            RAISE EXCEPTION '%: "%" is not a bound customer attribute', what, attr
                USING ERRCODE = 'undefined_column',
                      HINT = format('Bound attributes: %s; behaviour: frequency, monetary, recency_days, tenure_days, aov, r, f, m, engagement_events, engagement_recency_days, engagement_value.',
                                    coalesce(nullif(array_to_string(bc.attributes, ', '), ''), 'none'));
        END IF;
        IF jsonb_typeof(cond) = 'object' THEN
            SELECT a.atttypid::regtype INTO t FROM pg_attribute a
             WHERE a.attrelid = bc.relation AND a.attname = attr AND a.attnum > 0 AND NOT a.attisdropped;
            IF t IS NOT NULL AND NOT t::text = ANY (segkpi.binding_types('n') || segkpi.binding_types('t')) THEN
                RAISE EXCEPTION '%: "%" has type %, so it cannot take a range', what, attr, t
                    USING ERRCODE = 'datatype_mismatch',
                          HINT = 'Ranges compare numbers and times; list the values of a text attribute instead.';
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.check_rule(text, integer, jsonb) IS
    'raises an error naming the rule when its conditions are malformed or name an attribute the bindings lack';

CREATE FUNCTION segkpi.segment_rules_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM segkpi.check_rule(NEW.segmentation, NEW.rule_order, NEW.conditions);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION segkpi.segment_rules_check() IS 'checks each rule of segkpi.segment_rules as it is written';
CREATE TRIGGER segment_rules_check BEFORE INSERT OR UPDATE ON segkpi.segment_rules
    FOR EACH ROW EXECUTE FUNCTION segkpi.segment_rules_check();
