-- davit schema, version 4: calendar-query answered from the index where it can be.
--
-- instances: for a VEVENT object whose times are neither floating nor DATE values, its
-- instances (start, end) over a window they are complete for, encoded by ical::index
-- (InstanceList). A time-range query inside that window is decided from it without parsing
-- the body. NULL: never computed (objects stored before this version; they keep the exact
-- path, and the server back-fills them); an empty blob: computed, not listable.
ALTER TABLE objects ADD COLUMN instances BLOB;

-- The prefilter tests first_start and last_end; with both in the index, an object that ends
-- before the range is skipped without reading its row (which carries the whole body).
DROP INDEX objects_by_time;
CREATE INDEX objects_by_time ON objects(collection_id, comp_type, first_start, last_end);
