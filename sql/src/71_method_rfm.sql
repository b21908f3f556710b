------------------------------------------------------------------------
-- Segmentation method "rfm": one unit of the refresh
------------------------------------------------------------------------

-- An RFM segmentation scores every customer against cut points of the
-- whole customer base and names the score triple by a ruleset
-- (segkpi.rfm_rules).  The 5-bin scores are the ones customer_features
-- keeps, computed for every refresh (x.s in the segments stage), so a
-- 5-bin segmentation only names them; any other number of bins fits cut
-- points of its own in the models stage.  It reads nothing per customer
-- beyond the activity summary and has no lead segments.
--
-- The pieces and the parameters they may use are described at
-- segkpi.method_piece, the dispatch.
CREATE FUNCTION segkpi.method_rfm(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                  INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    bins integer := coalesce((seg.params ->> 'bins')::int, 5);
    ruleset text := coalesce(seg.params ->> 'ruleset', 'default');
BEGIN
    CASE piece
    WHEN 'inputs' THEN
        -- The segments stage and the cohorts each name the scores, reading
        -- the ruleset's rules in two statements: edits of a custom ruleset
        -- wait until this refresh commits, so both read the same rules
        -- ("default" cannot change).
        IF ruleset <> 'default' THEN
            LOCK TABLE segkpi.rfm_rules IN SHARE MODE;
        END IF;
    WHEN 'fit' THEN
        IF bins <> 5 THEN
            vals := vals || bins::text;
            sql := format('segkpi.rfm_cuts(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                           $1, $3[%s]::integer)', cardinality(vals));
        END IF;
    WHEN 'assign' THEN
        IF bins <> 5 THEN
            vals := vals || ruleset;
            sql := format('coalesce((segkpi.rfm_apply(ROW(x.first_order_at, x.last_order_at, x.orders, x.refunds,
                                                          x.monetary)::segkpi.rfm_stats,
                                                      ($4).fit_%s, $3[%s])).segment, ''(unnamed)'')',
                          i, cardinality(vals));
        ELSIF ruleset = 'default' THEN
            sql := 'coalesce((x.s).segment, ''(unnamed)'')';
        ELSE
            vals := vals || ruleset;
            sql := format('coalesce(segkpi.rfm_segment((x.s).r, (x.s).f, (x.s).m, $3[%s]), ''(unnamed)'')',
                          cardinality(vals));
        END IF;
    WHEN 'segments' THEN
        -- every segment the ruleset names, members or not
        vals := ARRAY(SELECT DISTINCT r.segment FROM segkpi.rfm_rules r WHERE r.ruleset = coalesce(seg.params ->> 'ruleset', 'default') ORDER BY 1);
    ELSE
        NULL;  -- keep, leads: nothing to keep, no lead segments
    END CASE;
END
$$;
COMMENT ON FUNCTION segkpi.method_rfm(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]) IS
    'the pieces of an RFM segmentation for the refresh stages (see segkpi.method_piece)';
