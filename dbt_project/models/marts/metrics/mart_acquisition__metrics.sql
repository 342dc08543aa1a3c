{{ metric_mart('acquisition', ref('int_metrics__acquisition'), segment_overrides=['acquisition_channel'], dimensions=[]) }}
