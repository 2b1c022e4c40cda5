-- davit schema, version 6: time-range candidates without scanning every earlier object.
--
-- objects_by_time finds the objects starting before a range ends, but must then step over
-- every one of them that ended long before the range: for a month late in a calendar, most
-- of the calendar (~20 % of a calendar-query). Objects whose occurrence span is at most 31
-- days start at most 31 days before the range, so a bounded range of objects_by_time finds
-- them; the others (recurring series, open ends: a minority) are in this partial index.
-- The literal must stay equal to LONG_SPAN in store/sqlite/tree_read.rs (SQLite uses a
-- partial index only for queries that repeat its condition).
CREATE INDEX objects_long_spans ON objects(collection_id, comp_type, first_start, last_end)
    WHERE last_end IS NULL OR last_end - first_start > 2678400;
