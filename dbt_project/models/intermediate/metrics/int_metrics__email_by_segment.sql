-- The observations of int_metrics__email summed per attribute set and plan, then rolled up to each
-- segment (segment_name, segment_value; the channel is a segment too): at 1M customers the
-- combinations of seven segments are nearly as many as the customers, so the mart reads the
-- rolled-up parts (by_segment='rolled_up') instead of a row per combination (benchmarks/results.md).
{{ observations_by_segment(ref('int_metrics__email'), dimensions=['channel'], rolled_up=true) }}
