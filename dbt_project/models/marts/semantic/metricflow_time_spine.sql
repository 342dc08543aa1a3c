-- The day time spine MetricFlow needs (dbt semantic layer): one row per day, 2015 .. 2040.
-- Also a plain calendar for BI tools. Portable: dbt's own date_spine macro.
select cast(date_day as date) as date_day
from ({{ dbt.date_spine('day', "cast('2015-01-01' as date)", "cast('2041-01-01' as date)") }}) as spine
