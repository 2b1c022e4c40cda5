-- davit schema, version 8: all-day events get instance lists too (InstanceList version 2,
-- src/ical/index.rs). Events stored without one (an empty list: all-day or floating times, or
-- too many instances) are marked unlisted, so the background back-fill after start inspects
-- them again; those that still cannot be listed get their empty list back.
UPDATE objects SET instances = NULL WHERE comp_type = 'VEVENT' AND length(instances) = 0;
