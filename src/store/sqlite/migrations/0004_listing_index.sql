-- davit schema, version 4: listing a collection without reading its objects' bodies.
--
-- Object rows carry their body inline, so reading the metadata of every member in segment
-- order (PROPFIND Depth 1, the sync of a whole collection) through the UNIQUE (collection_id,
-- segment) index fetched every row, body pages included: ~60 % of a 10,000-member listing.
-- This index covers OBJECT_COLUMNS (store/sqlite/rows.rs), so such listings stay in the index.
CREATE INDEX objects_listing ON objects(
    collection_id, segment, id, uid, etag, content_type, size, created_at, modified_at
);
