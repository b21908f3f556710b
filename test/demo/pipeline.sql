-- test/demo/pipeline.sql - binds the demo warehouse (test/demo/generate.sql)
-- to segkpi and configures three segmentations: RFM, k-means on log
-- recency/frequency/monetary (4 clusters), and the firmographic plan of the
-- sources (company size x industry, 15 rule segments).  Used
-- by `make demo`, the refresh benchmark and the kpi_demo regression suite.
SELECT segkpi.bind_orders('demo.orders', 'customer_id', 'ordered_at', 'amount', cost => 'cost', channel => 'channel');
SELECT segkpi.bind_customers('demo.customers', 'customer_id', acquired_at => 'acquired_at', channel => 'channel',
                             attributes => '{size_band,industry,region,employees}');
SELECT segkpi.bind_marketing_spend('demo.marketing_spend', 'spend_month', 'amount', channel => 'channel',
                                   target_segment => 'target_segment');
SELECT segkpi.bind_leads('demo.leads', 'created_at', 'converted_at', customer => 'customer_id', channel => 'channel',
                         attributes => '{size_band,industry,region}');
SELECT segkpi.bind_feedback('demo.feedback', 'customer_id', 'answered_at', 'score');
INSERT INTO segkpi.segmentations (name, method, params) VALUES
    ('rfm', 'rfm', '{"bins": 5}'),
    ('clusters', 'kmeans', '{"features": ["recency_days", "frequency", "monetary"], "k": 4, "seed": 1,
                             "transform": "log_zscore"}'),
    ('firmographic', 'rules', '{}');
INSERT INTO segkpi.segment_rules (segmentation, rule_order, segment, conditions)
SELECT 'firmographic', row_number() OVER (ORDER BY sb, ind), sb || ' ' || ind,
       jsonb_build_object('size_band', jsonb_build_array(sb), 'industry', jsonb_build_array(ind))
  FROM unnest('{Enterprise,Mid-size,Small}'::text[]) sb,
       unnest('{Finance,Healthcare,Manufacturing,Retail,Technology}'::text[]) ind;
