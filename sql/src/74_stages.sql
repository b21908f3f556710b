------------------------------------------------------------------------
-- KPI pipeline: the stages of refresh
------------------------------------------------------------------------

-- One function per stage, called in order by segkpi.refresh.  Each carries
-- the planner settings its statements need as SET clauses (undone when it
-- returns), writes its working tables (segkpi.work_tables) and passes
-- values as parameters: $1 as_of, $2 the period grain, $3 vals and, once
-- the models are fitted, $4 the row of segkpi_fits (see
-- segkpi.method_piece).  Only names of bound tables and columns (quoted,
-- or as regclass) and SQL built by the methods' pieces go into the text.

-- Stage "orders": one activity per customer (its orders by period), the one
-- pass over the orders, and the customers with their totals, acquisition
-- and what every segmentation reads of them (the methods' inputs).
-- segkpi.activities groups the orders in memory and gives the activities
-- activity_agg gives grouped by customer, in about a third of the time;
-- its rows go straight into the customers' table (written once: through a
-- table of their own, a million activities cost ~4 s more).  When the
-- customers do not fit work_mem x hash_mem_multiplier it runs that GROUP
-- BY itself, and the settings below steer its plan: a hash aggregate
-- reads the table once in order, where an index walk (which the planner
-- may prefer when the groups look too many for work_mem) reads it at
-- random; in a parallel plan the leader only gathers and combines,
-- instead of adding a third partial state for most customers.  The
-- summary is called in the select list (OFFSET 0 keeps it to one call per
-- row): as a LATERAL function scan it cost three times as much.  A nested
-- loop would look each customer up in the customers' index: the planner
-- guesses a thousand activities.  DateStyle: rule segments compare bound
-- attributes as text and read their bounds by the attributes' input
-- functions, in the style segkpi has always used (ISO: what a date
-- attribute's text looks like must not depend on the session).
CREATE FUNCTION segkpi.stage_orders(run segkpi.refresh_run, inputs text, vals text[])
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET enable_indexscan = off
    SET enable_sort = off
    SET parallel_leader_participation = off
    SET enable_nestloop = off
    SET DateStyle = 'ISO, MDY'
AS $$
DECLARE
    bo segkpi.bindings := run.bound_orders;
    bc segkpi.bindings := run.bound_customers;
    be segkpi.bindings := run.bound_engagement;
    ncust bigint;
BEGIN
    EXECUTE segkpi.work_table('segkpi_cust') || format($q$
        SELECT t.customer_id, t.first_row_at, t.first_order_at, t.last_order_at, t.orders, t.refunds,
               t.revenue AS monetary, t.cost, a.acquired_at,
               date_trunc($2, a.acquired_at)::date AS acq_period, %2$s AS channel, %7$s, t.act %4$s
          FROM (SELECT r.customer_id, r.act, (r.s).first_row_at, (r.s).first_order_at, (r.s).last_order_at,
                       (r.s).orders, (r.s).refunds, (r.s).revenue, (r.s).cost
                  FROM (SELECT k.customer_id, k.act, segkpi.activity_summary(k.act) AS s
                          FROM (SELECT (x).customer AS customer_id, (x).activity AS act
                                  FROM (SELECT segkpi.activities(NULL::%5$s, $4, $5, $6, $7, $8, $2, $1) AS x) y
                                 WHERE (x).activity IS NOT NULL) k
                        OFFSET 0) r) t
          %3$s %6$s
         CROSS JOIN LATERAL (SELECT coalesce(%1$s, t.first_order_at, t.first_row_at) AS acquired_at) a$q$,
        CASE WHEN bc.columns ? 'acquired_at' THEN format('c.%I::timestamptz', bc.columns ->> 'acquired_at')
             ELSE 'NULL::timestamptz' END,
        CASE WHEN bc.columns ? 'channel' THEN format('c.%I::text', bc.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bc IS NULL THEN ''
             ELSE format('LEFT JOIN %s c ON c.%I = t.customer_id', bc.relation, bc.columns ->> 'customer') END,
        inputs,
        (SELECT a.atttypid::regtype FROM pg_attribute a
          WHERE a.attrelid = bo.relation AND a.attname = bo.columns ->> 'customer'),
        -- engagement to date per customer (k-means features and rules read it)
        CASE WHEN be IS NULL THEN ''
             ELSE format('LEFT JOIN (SELECT e.%1$I AS customer_id, count(*) AS events, max(e.%2$I::timestamptz) AS last_at,
                                            %3$s AS value
                                       FROM %4$s e WHERE e.%2$I::timestamptz < $1 GROUP BY 1) g
                                 ON g.customer_id = t.customer_id',
                         be.columns ->> 'customer', be.columns ->> 'at',
                         CASE WHEN be.columns ? 'value' THEN format('sum(e.%I::numeric)', be.columns ->> 'value')
                              ELSE 'NULL::numeric' END,
                         be.relation) END,
        CASE WHEN be IS NULL THEN 'NULL::bigint AS eng_events, NULL::timestamptz AS eng_last_at, NULL::numeric AS eng_value'
             ELSE format('coalesce(g.events, 0) AS eng_events, g.last_at AS eng_last_at, %s AS eng_value',
                         CASE WHEN be.columns ? 'value' THEN 'coalesce(g.value, 0)' ELSE 'NULL::numeric' END) END)
      USING run.as_of, run.grain, vals, bo.relation, (bo.columns ->> 'customer')::name,
            (bo.columns ->> 'ordered_at')::name, (bo.columns ->> 'amount')::name, (bo.columns ->> 'cost')::name;
    GET DIAGNOSTICS ncust = ROW_COUNT;
    -- NaN or infinite amounts and times were rejected by activities (22000, 22008)
    RETURN ncust;
END
$$;
COMMENT ON FUNCTION segkpi.stage_orders(segkpi.refresh_run, text, text[]) IS
    'refresh stage "orders": every customer''s activity, summary, acquisition and method inputs into segkpi_cust; returns the customers';

-- Stage "customers": statistics of the customers (without them the
-- planner guesses thousands of (segment, acquisition period, channel)
-- groups and sorts a million rows), then the snapshot's row.
CREATE FUNCTION segkpi.stage_customers(run segkpi.refresh_run, segs segkpi.segmentations[])
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    sid bigint;
BEGIN
    IF run.comparison IS NULL THEN
        ANALYZE segkpi_cust (customer_id, acq_period, channel);
    ELSE
        ANALYZE segkpi_cust (customer_id, acq_period, channel, held_out);
    END IF;
    INSERT INTO segkpi.snapshots (as_of, timezone, period_grain, customers, segmentations, comparison)
    VALUES (run.as_of, current_setting('TimeZone'), run.grain, run.customers,
            ARRAY(SELECT (s).name FROM unnest(segs) s), run.comparison)
    RETURNING snapshot_id INTO sid;
    RETURN sid;
END
$$;
COMMENT ON FUNCTION segkpi.stage_customers(segkpi.refresh_run, segkpi.segmentations[]) IS
    'refresh stage "customers": statistics of segkpi_cust and the snapshot row; returns the snapshot id';

-- Stage "models": one pass over the customers for the 5-bin RFM cut points
-- (the scores customer_features keeps) and every method's fit, into the
-- one row of segkpi_fits; the methods keep what they need of their fits
-- and give the expression of each segmentation's segment.
CREATE FUNCTION segkpi.stage_models(run segkpi.refresh_run, segs segkpi.segmentations[],
                                    INOUT vals text[], OUT assign text[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    fits text := 'segkpi.rfm_cuts(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                  $1) AS cuts';
    p record;
    i integer;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        SELECT * INTO p FROM segkpi.method_piece('fit', segs[i], i, run, vals);
        vals := p.vals;
        IF p.sql IS NOT NULL THEN
            fits := fits || format(', %s AS fit_%s', p.sql, i);
        END IF;
    END LOOP;
    EXECUTE segkpi.work_table('segkpi_fits') || 'SELECT ' || fits || ' FROM segkpi_cust'
      USING run.as_of, run.grain, vals;
    assign := '{}';
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        PERFORM segkpi.method_piece('keep', segs[i], i, run, vals);
        SELECT * INTO p FROM segkpi.method_piece('assign', segs[i], i, run, vals);
        vals := p.vals;
        assign := assign || p.sql;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.stage_models(segkpi.refresh_run, segkpi.segmentations[], text[]) IS
    'refresh stage "models": RFM cut points and every method''s fit in one pass into segkpi_fits; returns the segment expressions';

-- Stage "segments": features, scores and the segment of every
-- segmentation in one row per customer; customer_features gets them in
-- key order, so its primary key grows at its right edge.  (The activities
-- stay in segkpi_cust: the cohorts read them there and work the segments
-- out once more, which costs less than writing them a second time.)
CREATE FUNCTION segkpi.stage_segments(run segkpi.refresh_run, assign text[], vals text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    q record := segkpi.segments_sql(assign);
    predicted boolean := to_regclass('pg_temp.segkpi_pred') IS NOT NULL;
BEGIN
    EXECUTE segkpi.work_table('segkpi_feat') || format($q$
        SELECT x.customer_id, x.first_row_at, x.acquired_at, x.first_order_at, x.last_order_at, x.orders,
               x.refunds, x.monetary, x.cost, (x.s).recency_days, (x.s).r, (x.s).f, (x.s).m,
               %2$s, %1$s::text[] AS segments
          FROM %3$s
          %4$s$q$,
        q.segments,
        CASE WHEN predicted THEN 'p.p_alive, p.clv AS clv_predicted'
             ELSE 'NULL::float8 AS p_alive, NULL::float8 AS clv_predicted' END,
        q.customer_rows,
        CASE WHEN predicted THEN 'LEFT JOIN segkpi_pred p ON p.customer_id = x.customer_id' ELSE '' END)
      USING run.as_of, run.grain, vals, (SELECT f FROM segkpi_fits f);
    ANALYZE segkpi_feat (customer_id);
    INSERT INTO segkpi.customer_features
        (snapshot_id, customer_id, acquired_at, first_order_at, last_order_at, orders, refunds, monetary, cost,
         recency_days, r, f, m, p_alive, clv_predicted, segments)
    SELECT run.snapshot_id, f.customer_id, f.acquired_at, f.first_order_at, f.last_order_at, f.orders, f.refunds,
           f.monetary, f.cost, f.recency_days, f.r, f.f, f.m, f.p_alive, f.clv_predicted, f.segments
      FROM segkpi_feat f
     ORDER BY f.customer_id;
END
$$;
COMMENT ON FUNCTION segkpi.stage_segments(segkpi.refresh_run, text[], text[]) IS
    'refresh stage "segments": every customer''s features, scores and segments into segkpi_feat and customer_features';

-- Stage "sources": the sources other than orders, once for every
-- segmentation.  DateStyle as in stage "orders" (leads are named by the
-- same rules).
CREATE FUNCTION segkpi.stage_sources(run segkpi.refresh_run, leads text[], lead_reads name[], vals text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET DateStyle = 'ISO, MDY'
AS $$
DECLARE
    bs segkpi.bindings := run.bound_spend;
    bf segkpi.bindings := run.bound_feedback;
    bl segkpi.bindings := run.bound_leads;
    be segkpi.bindings := run.bound_engagement;
    n integer := cardinality(leads);  -- one per segmentation
    g record;
    i integer;
    lead_attrs name[];
    lead_keys text := '';
    lead_nkeys integer := 0;
    lead_src text;
    lead_period text;
    lead_n text;
    lead_conv text;
BEGIN
    EXECUTE segkpi.work_table('segkpi_spend') || format($q$
        SELECT date_trunc($2, s.%1$I::timestamptz)::date AS period, %2$s AS channel, %3$s AS target,
               s.%4$I::numeric AS amount
          FROM %5$s s WHERE s.%1$I::timestamptz < $1 AND s.%4$I IS NOT NULL$q$,
        coalesce(bs.columns ->> 'spent_on', 'day'),
        CASE WHEN bs.columns ? 'channel' THEN format('s.%I::text', bs.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bs.columns ? 'target_segment' THEN format('s.%I::text', bs.columns ->> 'target_segment')
             ELSE 'NULL::text' END,
        coalesce(bs.columns ->> 'amount', 'amount'),
        CASE WHEN bs IS NULL THEN '(SELECT NULL::date AS day, NULL::numeric AS amount WHERE false)'
             ELSE bs.relation::text END)
      USING run.as_of, run.grain;

    -- feedback per segment and period, each answer joined to its customer
    -- (summing per customer first cost a second pass and a table), then
    -- summed per distinct segments and period: a few thousand groups,
    -- which the grouping sets read instead of every answer (the planner
    -- cannot tell how few segments there are, and sorted the answers)
    g := segkpi.grouping_sql(n, 'a.period', true);
    EXECUTE segkpi.work_table('segkpi_fbs') || format($q$
        SELECT %1$s AS segmentation, %2$s AS segment, a.period,
               segkpi.kpi_csat(sum(a.score), sum(a.n)) AS csat, sum(a.n)::bigint AS n
          FROM (SELECT a.segments, f.period, sum(f.score) AS score, count(*) AS n
                  FROM %4$s f JOIN segkpi_feat a USING (customer_id)
                 GROUP BY 1, 2) a
         GROUP BY GROUPING SETS (%3$s)$q$,
        g.segmentation, g.segment, g.sets,
        CASE WHEN bf IS NULL
             THEN '(SELECT k.customer_id, NULL::date AS period, NULL::numeric AS score
                      FROM segkpi_feat k WHERE false)'
             ELSE format('(SELECT f.%1$I AS customer_id, date_trunc($2, f.%2$I::timestamptz)::date AS period,
                                  f.%3$I::numeric AS score
                             FROM %4$s f WHERE f.%2$I::timestamptz < $1 AND f.%3$I IS NOT NULL)',
                         bf.columns ->> 'customer', bf.columns ->> 'answered_at', bf.columns ->> 'score',
                         bf.relation) END)
      USING run.as_of, run.grain, vals;

    -- engagement per segment, period and kind: events per customer, period
    -- and kind, the same per customer and period over all kinds (kind
    -- NULL), each joined to the customer's segments and summed per
    -- distinct segments first (as feedback).  Events of people who are no
    -- customers of the snapshot (no order row before as_of) do not count.
    IF be IS NULL THEN
        EXECUTE segkpi.work_table('segkpi_engs') || 'SELECT NULL::text AS segmentation, NULL::text AS segment,
            NULL::date AS period, NULL::text AS kind, NULL::bigint AS engaged, NULL::bigint AS events WHERE false';
    ELSE
        g := segkpi.grouping_sql(n, 'a.period, a.kind', true);
        EXECUTE segkpi.work_table('segkpi_engs') || format($q$
            WITH cpk AS MATERIALIZED (
                SELECT e.%4$I AS customer_id, date_trunc($2, e.%5$I::timestamptz)::date AS period,
                       e.%6$I::text AS kind, count(*) AS events
                  FROM %7$s e WHERE e.%5$I::timestamptz < $1 AND e.%6$I IS NOT NULL
                 GROUP BY 1, 2, 3)
            SELECT %1$s AS segmentation, %2$s AS segment, a.period, a.kind,
                   sum(a.engaged)::bigint AS engaged, sum(a.events)::bigint AS events
              FROM (SELECT f.segments, e.period, e.kind, count(*) AS engaged, sum(e.events) AS events
                      FROM (SELECT customer_id, period, kind, events FROM cpk
                            UNION ALL
                            SELECT customer_id, period, NULL, sum(events) FROM cpk GROUP BY 1, 2) e
                      JOIN segkpi_feat f USING (customer_id)
                     GROUP BY 1, 2, 3) a
             GROUP BY GROUPING SETS (%3$s)$q$,
            g.segmentation, g.segment, g.sets,
            be.columns ->> 'customer', be.columns ->> 'at', be.columns ->> 'kind', be.relation)
          USING run.as_of, run.grain, vals;
    END IF;

    -- without predictions, no scan ($4 is false)
    g := segkpi.grouping_sql(n, '', true);
    EXECUTE segkpi.work_table('segkpi_preds') || format($q$
        SELECT %1$s AS segmentation, %2$s AS segment, avg(a.clv_predicted) AS clv, avg(a.p_alive) AS p_alive
          FROM segkpi_feat a WHERE a.p_alive IS NOT NULL AND $4
         GROUP BY GROUPING SETS (%3$s)$q$,
        g.segmentation, g.segment, g.sets)
      USING run.as_of, run.grain, vals, run.predict_clv;

    -- Leads are named by the segmentations that name them (their methods'
    -- lead pieces), from their own attributes; counted per distinct
    -- attribute values first when those can be grouped.
    EXECUTE segkpi.work_table('segkpi_leads') || 'SELECT NULL::text AS segmentation, NULL::text AS segment,
        NULL::date AS period, NULL::bigint AS n, NULL::bigint AS converted WHERE false';
    IF NOT EXISTS (SELECT FROM unnest(leads) l WHERE l IS NOT NULL) THEN
        RETURN;
    END IF;
    lead_attrs := ARRAY(SELECT DISTINCT a FROM unnest(lead_reads) a ORDER BY 1);
    -- Values equal under the type's equality may differ as text (1.0 and
    -- 1.00), and list conditions compare text: such attributes are
    -- grouped by their text too, so every lead of a group meets the same
    -- conditions.
    FOR i IN 1 .. cardinality(lead_attrs) LOOP
        lead_keys := lead_keys || format(', l.%I', lead_attrs[i]);
        lead_nkeys := lead_nkeys + 1;
        IF segkpi.binding_column_type(bl.relation, lead_attrs[i], 'lead attribute', NULL)
           NOT IN ('text'::regtype, 'character varying'::regtype, 'character'::regtype) THEN
            lead_keys := lead_keys || format(', l.%I::text AS _sk_text_%s', lead_attrs[i], i);
            lead_nkeys := lead_nkeys + 1;
        END IF;
    END LOOP;
    -- (names like the generated columns would collide: lead by lead then)
    IF segkpi.groupable_columns(bl.relation, lead_attrs)
       AND NOT EXISTS (SELECT FROM unnest(lead_attrs) a WHERE a LIKE '\_sk\_%') THEN
        PERFORM segkpi.stage_lead_groups(run, lead_keys, lead_nkeys);
        lead_src := 'segkpi_lead_groups l';
        lead_period := 'l._sk_period';
        lead_n := 'l._sk_n';
        lead_conv := 'l._sk_converted';
    ELSE
        lead_src := format('%s l WHERE l.%I::timestamptz < $1', bl.relation, bl.columns ->> 'created_at');
        lead_period := format('date_trunc($2, l.%I::timestamptz)::date', bl.columns ->> 'created_at');
        lead_n := '1';
        lead_conv := format('(l.%1$I IS NOT NULL AND l.%1$I::timestamptz < $1)::int', bl.columns ->> 'converted_at');
    END IF;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN leads[i] IS NULL;
        EXECUTE format($q$
            INSERT INTO segkpi_leads
            SELECT $3[%1$s], coalesce(segment, '(all)'), period, sum(n), sum(converted)
              FROM (SELECT %3$s AS period, %2$s AS segment, %4$s AS n, %5$s AS converted FROM %6$s) x
             GROUP BY GROUPING SETS ((segment, period), (period))$q$,
            i, leads[i], lead_period, lead_n, lead_conv, lead_src)
          USING run.as_of, run.grain, vals;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.stage_sources(segkpi.refresh_run, text[], name[], text[]) IS
    'refresh stage "sources": spend, feedback, predictions and leads per segmentation and segment';

-- Leads counted per period and distinct attribute values (keys), for stage
-- "sources".  The planner cannot know how few groups there are (it
-- guesses one per five leads), so it judges partial aggregates in workers
-- not worth their tuples; they halve this statement on millions of leads.
-- (Tables under min_parallel_table_scan_size get no parallel scan anyway.)
CREATE FUNCTION segkpi.stage_lead_groups(run segkpi.refresh_run, keys text, nkeys integer)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET parallel_setup_cost = 0
    SET parallel_tuple_cost = 0
AS $$
DECLARE
    bl segkpi.bindings := run.bound_leads;
BEGIN
    EXECUTE segkpi.work_table('segkpi_lead_groups') || format($q$
        SELECT date_trunc($2, l.%1$I::timestamptz)::date AS _sk_period %4$s, count(*) AS _sk_n,
               count(*) FILTER (WHERE l.%2$I IS NOT NULL AND l.%2$I::timestamptz < $1) AS _sk_converted
          FROM %3$s l WHERE l.%1$I::timestamptz < $1
         GROUP BY %5$s$q$,
        bl.columns ->> 'created_at', bl.columns ->> 'converted_at', bl.relation, keys,
        array_to_string(ARRAY(SELECT g FROM generate_series(1, nkeys + 1) g), ', '))
      USING run.as_of, run.grain;
END
$$;
COMMENT ON FUNCTION segkpi.stage_lead_groups(segkpi.refresh_run, text, integer) IS
    'part of refresh stage "sources": leads counted per period and distinct attribute values into segkpi_lead_groups';

-- Stage "kpis": cohorts (segment, acquisition period, channel) with their
-- activity roll-ups, for every segmentation in one pass over segkpi_cust
-- (the segments worked out as in stage "segments"); then the KPIs of each
-- segmentation.
CREATE FUNCTION segkpi.stage_kpis(run segkpi.refresh_run, segs segkpi.segmentations[], assign text[],
                                  with_leads boolean[], vals text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    n integer := coalesce(cardinality(segs), 0);
    -- with a comparison group, its members are a cohort key too
    cmp boolean := run.comparison IS NOT NULL;
    -- not over all customers: compute_kpis sums a segmentation's groups for "(all)"
    g record := segkpi.grouping_sql(n, 'a.acq_period, a.channel' || CASE WHEN cmp THEN ', a.held_out' ELSE '' END, n = 0);
    q record := segkpi.segments_sql(assign);
    i integer;
    defined record;
    empty text;
BEGIN
    EXECUTE segkpi.work_table('segkpi_cohorts') || format($q$
        SELECT %1$s AS segmentation, %2$s AS segment, a.acq_period, a.channel, %6$s AS held_out, count(*) AS n,
               segkpi.activity_rollup(a.act, $5) AS r
          FROM (SELECT %4$s::text[] AS segments, x.acq_period, x.channel, x.held_out, x.act FROM %5$s OFFSET 0) a
         GROUP BY GROUPING SETS (%3$s)$q$,
        g.segmentation, g.segment, g.sets, q.segments, q.customer_rows,
        CASE WHEN cmp THEN 'a.held_out' ELSE 'false' END)
      USING run.as_of, run.grain, vals, (SELECT f FROM segkpi_fits f), run.period_months;
    DROP TABLE segkpi_cust;
    FOR i IN 1 .. n LOOP
        defined := segkpi.method_piece('segments', segs[i], i, run, '{}');
        PERFORM segkpi.compute_kpis(run.snapshot_id, (segs[i]).name, with_leads[i], run.grain,
                                    make_interval(months => run.period_months), run.as_of,
                                    run.bound_feedback IS NOT NULL, run.bound_spend IS NOT NULL, defined.vals,
                                    run.bound_engagement IS NOT NULL);
        CONTINUE WHEN defined.sql IS NULL;
        SELECT string_agg(format('"%s"', k.segment), ', ' ORDER BY k.segment) INTO empty
          FROM (SELECT k.segment FROM segkpi.segment_kpis k
                 WHERE k.snapshot_id = run.snapshot_id AND k.segmentation = (segs[i]).name
                   AND k.segment NOT IN ('(all)', 'Other')
                 GROUP BY k.segment HAVING max(k.customers) = 0) k;
        IF empty IS NOT NULL THEN
            RAISE NOTICE 'segmentation "%": no customer in %', (segs[i]).name, empty;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.stage_kpis(segkpi.refresh_run, segkpi.segmentations[], text[], boolean[], text[]) IS
    'refresh stage "kpis": cohort roll-ups of every segmentation into segkpi_cohorts, then compute_kpis for each';
