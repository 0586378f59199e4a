-- +goose Up

-- A Product record's variants are announced in its Product event (the body's
-- skus), not by an event each: the variants of a product are most of the
-- resource events, and each event is a JetStream message stored, delivered
-- and acknowledged. Element i holds the skus of event i, separated by
-- spaces ('' for none); rows written before have none.
ALTER TABLE event_outbox ADD COLUMN skus text[];

-- +goose Down
-- Rows still waiting announce their skus as events of their own again.
UPDATE event_outbox o SET
    resource_types = o.resource_types || x.types,
    events = o.events || x.events,
    type_ids = o.type_ids || x.type_ids,
    keys = o.keys || x.keys
FROM (SELECT b.id, array_agg('ProductVariant'::text ORDER BY e.n, s.m) AS types, array_agg(e.event ORDER BY e.n, s.m) AS events,
        array_agg('product-variant'::text ORDER BY e.n, s.m) AS type_ids, array_agg(s.sku ORDER BY e.n, s.m) AS keys
    FROM event_outbox b
    CROSS JOIN LATERAL unnest(b.events, b.skus) WITH ORDINALITY AS e(event, skus, n)
    CROSS JOIN LATERAL unnest(string_to_array(nullif(e.skus, ''), ' ')) WITH ORDINALITY AS s(sku, m)
    WHERE b.skus IS NOT NULL
    GROUP BY b.id) x
WHERE x.id = o.id;
ALTER TABLE event_outbox DROP COLUMN skus;
