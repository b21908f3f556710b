------------------------------------------------------------------------
-- Segmentation method "kmeans": one unit of the refresh
------------------------------------------------------------------------

-- A k-means segmentation reads a feature array per customer (built-in
-- features of the activity summary, or numeric bound customer
-- attributes), fits a model over all customers in the models stage
-- (keeping it in segkpi.segment_models, where cluster_profiles reads it)
-- and names each customer "Cluster n" by its nearest centroid; customers
-- with a NULL feature are "(no features)".  No lead segments.

-- The feature array of a k-means segmentation as an SQL expression over
-- the activity summary t, the acquisition time a.acquired_at and the bound
-- customers c (for attribute features); as_of is the parameter $1.  Sets
-- uses_customers when c is read.
CREATE FUNCTION segkpi.kmeans_feature_sql(seg segkpi.segmentations, bc segkpi.bindings,
                                          OUT feature_sql text, OUT uses_customers boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    feats text[] := ARRAY(SELECT jsonb_array_elements_text(
                              coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]')));
    exprs text[] := '{}';
    f text;
BEGIN
    uses_customers := false;
    IF cardinality(feats) = 0 THEN
        RAISE EXCEPTION 'k-means segmentation "%" has no features', seg.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH f IN ARRAY feats LOOP
        exprs := exprs || CASE f
            WHEN 'recency_days' THEN 'extract(epoch FROM $1 - coalesce(t.last_order_at, t.first_row_at))::float8 / 86400'
            WHEN 'tenure_days' THEN 'extract(epoch FROM $1 - a.acquired_at)::float8 / 86400'
            WHEN 'frequency' THEN 't.orders::float8'
            WHEN 'monetary' THEN 't.revenue::float8'
            -- engagement to date (the orders stage joins it as g when bound)
            WHEN 'engagement_events' THEN 'coalesce(g.events, 0)::float8'
            WHEN 'engagement_recency_days' THEN 'extract(epoch FROM $1 - g.last_at)::float8 / 86400'
            WHEN 'engagement_value' THEN 'coalesce(g.value, 0)::float8'
            ELSE NULL END;
        IF exprs[cardinality(exprs)] IS NULL THEN
            IF bc IS NULL OR NOT f::name = ANY (bc.attributes) THEN
                RAISE EXCEPTION 'k-means feature "%" is neither built in nor a bound customer attribute', f
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Built-in features: recency_days, tenure_days, frequency, monetary, engagement_events, engagement_recency_days, engagement_value.';
            END IF;
            PERFORM segkpi.binding_column_type(bc.relation, f::name, 'k-means feature',
                                               segkpi.binding_types('n'));
            exprs[cardinality(exprs)] := format('c.%I::float8', f);
            uses_customers := true;
        END IF;
    END LOOP;
    feature_sql := 'ARRAY[' || array_to_string(exprs, ', ') || ']';
END
$$;
COMMENT ON FUNCTION segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings) IS
    'feature array of a k-means segmentation as SQL over the refresh''s per-customer query';

-- The k a k-means segmentation with "k": {"min": .., "max": ..} keeps,
-- from the scores of one fit per k (segkpi.kmeans_choose_k):
--   1. the best k has the highest silhouette (on a seeded sample); fits
--      within 0.01 of it count as equal, and among them the lowest
--      Davies-Bouldin index wins, then the smaller k.  Without any
--      silhouette, the lowest Davies-Bouldin index; without either, the
--      smallest k;
--   2. the previous snapshot's k is kept unless the best k's silhouette
--      is more than margin (default 0.05) above its own: a refit at
--      another k renumbers every cluster, so the criterion has to prefer
--      it clearly.
CREATE FUNCTION segkpi.kmeans_pick_k(scores segkpi.kmeans_k_score[], previous_k integer, margin float8,
                                     OUT k integer, OUT best_k integer, OUT reason text)
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    top float8 := (SELECT max(s.silhouette) FROM unnest(scores) s);
    best segkpi.kmeans_k_score;
    prev segkpi.kmeans_k_score;
BEGIN
    IF top IS NOT NULL THEN
        SELECT s.* INTO best FROM unnest(scores) s WHERE s.silhouette >= top - 0.01
         ORDER BY s.davies_bouldin NULLS LAST, s.k LIMIT 1;
        reason := format('k = %s: highest silhouette %s', best.k, round(best.silhouette::numeric, 4));
        IF best.silhouette < top THEN
            reason := format('k = %s: silhouette %s within 0.01 of the highest (%s), lowest Davies-Bouldin index %s',
                             best.k, round(best.silhouette::numeric, 4), round(top::numeric, 4),
                             round(best.davies_bouldin::numeric, 4));
        END IF;
    ELSE
        SELECT s.* INTO best FROM unnest(scores) s ORDER BY s.davies_bouldin NULLS LAST, s.k LIMIT 1;
        reason := format('k = %s: no silhouette, %s', best.k,
                         CASE WHEN best.davies_bouldin IS NULL THEN 'no Davies-Bouldin index either: the smallest k'
                              ELSE 'lowest Davies-Bouldin index ' || round(best.davies_bouldin::numeric, 4) END);
    END IF;
    best_k := best.k;
    k := best.k;
    SELECT s.* INTO prev FROM unnest(scores) s WHERE s.k = previous_k;
    IF prev.k IS NOT NULL AND prev.k <> best.k
       AND (best.silhouette IS NULL OR prev.silhouette IS NOT NULL AND best.silhouette - prev.silhouette <= margin) THEN
        k := prev.k;
        reason := format('kept the previous k = %s (silhouette %s): the best, %s, is not more than %s above it',
                         prev.k, round(prev.silhouette::numeric, 4), reason, margin);
    END IF;
END
$$;
COMMENT ON FUNCTION segkpi.kmeans_pick_k(segkpi.kmeans_k_score[], integer, float8) IS
    'the k a k-means segmentation keeps: highest sampled silhouette (within 0.01: lowest Davies-Bouldin, then smaller k), the previous k unless the best beats it by more than margin; with the best k and the reason';

-- Keeps a k-means segmentation's fit in segment_models, its clusters
-- renumbered first so that "Cluster n" is the group that was "Cluster n"
-- in the segmentation's model of the previous snapshot (the one before by
-- as_of that has one): each new cluster is paired with an old one, one to
-- one, by the least total squared distance between their centroids in
-- the new model's transformed space (segkpi.kmeans_match, an exact
-- assignment).  Matching rather than a warm start from the old centroids:
-- the fit stays what the data and the seed alone give (k-means++ with
-- restarts, the lowest inertia wins), and only the numbers are carried
-- over.  A previous model with other features, another transform or
-- another k cannot be matched; match_note says which, and the clusters
-- keep the fit's own numbers.  The renumbered model replaces the fit in
-- segkpi_fits, so the segments the later stages assign follow it.
CREATE FUNCTION segkpi.kmeans_keep(seg segkpi.segmentations, i integer, run segkpi.refresh_run)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    feats text[] := ARRAY(SELECT jsonb_array_elements_text(
                              coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]')));
    model segkpi.kmeans_model;
    prev segkpi.segment_models;
    note text;
    drift float8[];
    labels integer[];
    tried segkpi.kmeans_k_score[];
    pick record;
    scores jsonb;
BEGIN
    SELECT m.* INTO prev
      FROM segkpi.segment_models m JOIN segkpi.snapshots s ON s.snapshot_id = m.snapshot_id
     WHERE m.segmentation = seg.name
       AND (s.as_of, s.snapshot_id) < (run.as_of, run.snapshot_id)
     ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1;
    IF jsonb_typeof(seg.params -> 'k') = 'object' THEN
        -- a range of k: one fit per k, the one segkpi.kmeans_pick_k takes is kept
        EXECUTE format('SELECT f.%I FROM segkpi_fits f', 'fit_' || i) INTO tried;
        pick := segkpi.kmeans_pick_k(tried, segkpi.kmeans_k(prev.model),
                                     coalesce((seg.params ->> 'k_margin')::float8, 0.05));
        model := (SELECT t.model FROM unnest(tried) t WHERE t.k = pick.k);
        scores := jsonb_build_object(
            'tried', (SELECT jsonb_agg(jsonb_build_object('k', t.k, 'silhouette', round(t.silhouette::numeric, 4),
                                                          'davies_bouldin', round(t.davies_bouldin::numeric, 4),
                                                          'inertia', round(t.inertia::numeric, 4),
                                                          'silhouette_n', t.silhouette_n) ORDER BY t.k)
                        FROM unnest(tried) t),
            'previous_k', segkpi.kmeans_k(prev.model), 'best_k', pick.best_k, 'k', pick.k, 'rule', pick.reason);
    ELSE
        EXECUTE format('SELECT f.%I FROM segkpi_fits f', 'fit_' || i) INTO model;
    END IF;
    IF model IS NULL THEN
        RETURN;
    END IF;
    note := CASE WHEN prev.model IS NULL THEN 'no earlier model'
                 WHEN prev.features IS DISTINCT FROM feats THEN 'features changed'
                 WHEN segkpi.kmeans_transform(prev.model) <> segkpi.kmeans_transform(model) THEN 'transform changed'
                 WHEN segkpi.kmeans_k(prev.model) <> segkpi.kmeans_k(model)
                     THEN format('k changed from %s to %s', segkpi.kmeans_k(prev.model), segkpi.kmeans_k(model))
                 ELSE 'matched' END;
    IF note = 'matched' THEN
        SELECT array_agg(p.reference_cluster ORDER BY p.cluster),
               array_agg(p.distance ORDER BY p.reference_cluster)
          INTO labels, drift
          FROM segkpi.kmeans_match(model, prev.model) p;
        model := segkpi.kmeans_relabel(model, labels);
        IF scores IS NULL THEN
            EXECUTE format('UPDATE segkpi_fits SET %I = $1', 'fit_' || i) USING model;
        END IF;
    END IF;
    INSERT INTO segkpi.segment_models (snapshot_id, segmentation, features, model, matched_to, match_note, drift, scores)
    VALUES (run.snapshot_id, seg.name, feats, model,
            CASE WHEN note = 'matched' THEN prev.snapshot_id END, note, drift, scores);
END
$$;
COMMENT ON FUNCTION segkpi.kmeans_keep(segkpi.segmentations, integer, segkpi.refresh_run) IS
    'keeps a k-means fit in segment_models with its clusters renumbered to match the previous snapshot''s model (part of method kmeans)';

CREATE FUNCTION segkpi.method_kmeans(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                     INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    k integer;
    k_min integer;
    k_max integer;
    seed bigint;
    transform segkpi.kmeans_transform;
    restarts integer;
    sample bigint;
    -- "k": {"min": .., "max": ..} lets the refresh choose k (kmeans_keep)
    choose boolean := jsonb_typeof(seg.params -> 'k') = 'object';
BEGIN
    CASE piece
    WHEN 'inputs' THEN
        IF run.bound_engagement IS NULL AND EXISTS (SELECT FROM jsonb_array_elements_text(seg.params -> 'features') f
                                                      WHERE f LIKE 'engagement\_%') THEN
            RAISE EXCEPTION 'k-means segmentation "%" reads engagement, which is not bound', seg.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call segkpi.bind_engagement(table, customer, at, kind) first.';
        END IF;
        sql := (segkpi.kmeans_feature_sql(seg, run.bound_customers)).feature_sql;
    WHEN 'fit' THEN
        IF run.customers = 0 THEN
            -- nothing to fit; assign still names the (absent) model
            sql := 'NULL::segkpi.kmeans_model';
        ELSE
            -- checked here, so that a bad parameter names its type
            seed := coalesce((seg.params ->> 'seed')::bigint, 0);
            transform := coalesce(seg.params ->> 'transform', 'log_zscore')::segkpi.kmeans_transform;
            restarts := coalesce((seg.params ->> 'restarts')::int, 3);
            IF choose THEN
                k_min := (seg.params -> 'k' ->> 'min')::int;
                k_max := (seg.params -> 'k' ->> 'max')::int;
                sample := coalesce((seg.params ->> 'silhouette_sample')::bigint, 10000);
                IF k_min IS NULL OR k_max IS NULL OR k_min < 2 OR k_max < k_min OR k_max > 20 OR sample < 100 THEN
                    RAISE EXCEPTION 'k-means segmentation "%": "k" must be a number or {"min": a, "max": b} with 2 <= a <= b <= 20', seg.name
                        USING ERRCODE = 'invalid_parameter_value',
                              DETAIL = format('It is %s; silhouette_sample (at least 100) is %s.', seg.params -> 'k', sample);
                END IF;
                vals := vals || ARRAY[k_min::text, k_max::text, seed::text, transform::text, restarts::text, sample::text];
                -- one fit per k with its sampled silhouette and Davies-Bouldin
                -- index; kmeans_keep picks one
                sql := format('segkpi.kmeans_choose_k(in_%1$s, $3[%2$s]::integer, $3[%3$s]::integer, $3[%4$s]::bigint,
                                                      (SELECT $3[%5$s]::segkpi.kmeans_transform), $3[%6$s]::integer,
                                                      300, 1e-4::float8, 0::bigint, $3[%7$s]::bigint)
                                   FILTER (WHERE array_position(in_%1$s, NULL) IS NULL)',
                              i, cardinality(vals) - 5, cardinality(vals) - 4, cardinality(vals) - 3,
                              cardinality(vals) - 2, cardinality(vals) - 1, cardinality(vals));
            ELSE
                k := coalesce((seg.params ->> 'k')::int, 4);
                vals := vals || ARRAY[k::text, seed::text, transform::text, restarts::text];
                -- (the transform in a subquery: the enum's input function is
                -- only STABLE, so a cast of the parameter would run per row)
                sql := format('segkpi.kmeans(in_%1$s, $3[%2$s]::integer, $3[%3$s]::bigint,
                                             (SELECT $3[%4$s]::segkpi.kmeans_transform), $3[%5$s]::integer)
                                   FILTER (WHERE array_position(in_%1$s, NULL) IS NULL)',
                              i, cardinality(vals) - 3, cardinality(vals) - 2, cardinality(vals) - 1, cardinality(vals));
            END IF;
        END IF;
    WHEN 'keep' THEN
        IF run.customers > 0 THEN
            PERFORM segkpi.kmeans_keep(seg, i, run);
        END IF;
    WHEN 'assign' THEN
        IF choose THEN
            -- the model kmeans_keep chose and kept (one lookup per statement)
            vals := vals || ARRAY[run.snapshot_id::text, seg.name];
            sql := format('CASE WHEN array_position(x.in_%1$s, NULL) IS NULL
                                THEN ''Cluster '' || segkpi.kmeans_assign(
                                         (SELECT m.model FROM segkpi.segment_models m
                                           WHERE m.snapshot_id = $3[%2$s]::bigint AND m.segmentation = $3[%3$s]),
                                         x.in_%1$s)
                                ELSE ''(no features)'' END', i, cardinality(vals) - 1, cardinality(vals));
        ELSE
            sql := format('CASE WHEN array_position(x.in_%1$s, NULL) IS NULL
                                THEN ''Cluster '' || segkpi.kmeans_assign(($4).fit_%1$s, x.in_%1$s)
                                ELSE ''(no features)'' END', i);
        END IF;
    WHEN 'segments' THEN
        -- the k clusters, members or not (a chosen k: the kept model's)
        k := CASE WHEN choose THEN (SELECT segkpi.kmeans_k(m.model) FROM segkpi.segment_models m
                                     WHERE m.snapshot_id = run.snapshot_id AND m.segmentation = seg.name)
                  ELSE coalesce((seg.params ->> 'k')::int, 4) END;
        vals := ARRAY(SELECT 'Cluster ' || n FROM generate_series(1, coalesce(k, 0)) n);
    ELSE
        NULL;  -- leads: no lead segments
    END CASE;
END
$$;
COMMENT ON FUNCTION segkpi.method_kmeans(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]) IS
    'the pieces of a k-means segmentation for the refresh stages (see segkpi.method_piece)';
