-- Fails the build (error) when seeds/engagement_score_bands.csv does not cover every score
-- exactly once: the first band must be open below, the last open above, and each band must
-- start where the previous one ends with exactly one of the two including the boundary
-- (both = overlap, neither = gap; a lower bound above the upper bound is an overlap too).
{{ config(severity='error') }}

with bands as (
    select
        band, band_rank, lower_bound, lower_inclusive, upper_bound, upper_inclusive,
        lag(upper_bound) over (order by band_rank) as previous_upper,
        lag(upper_inclusive) over (order by band_rank) as previous_upper_inclusive,
        row_number() over (order by band_rank) as position,
        count(*) over () as band_count
    from {{ ref('engagement_score_bands') }}
),

problems as (
    select band, 'first band must have no lower bound' as problem from bands
    where position = 1 and lower_bound is not null
    union all
    select band, 'last band must have no upper bound' from bands
    where position = band_count and upper_bound is not null
    union all
    select band, 'a band other than the first needs a lower bound, and other than the last an upper bound' from bands
    where (position > 1 and lower_bound is null) or (position < band_count and upper_bound is null)
    union all
    select band, 'gap or overlap: lower bound differs from the upper bound of the previous band' from bands
    where position > 1 and lower_bound <> previous_upper
    union all
    select band, 'overlap: the boundary is included in both bands' from bands
    where position > 1 and lower_bound = previous_upper and lower_inclusive and previous_upper_inclusive
    union all
    select band, 'gap: the boundary is included in neither band' from bands
    where position > 1 and lower_bound = previous_upper
        and not coalesce(lower_inclusive, false) and not coalesce(previous_upper_inclusive, false)
    union all
    select band, 'lower bound above upper bound' from bands
    where lower_bound > upper_bound
)

select * from problems
