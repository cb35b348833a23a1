-- A product's review count and average are recounted from its reviews by
-- each review's trigger (migration 0006). Two reviews committing together
-- each counted without the other: the second's update waited for the
-- first's row lock, then wrote the count its own statement had taken before
-- (16 buyers reviewing at once left the count at 15 in one run of three).
-- The product row is now locked first, as the update would lock it (not
-- FOR UPDATE: each review's foreign key check holds a key-share lock on the
-- product, and two of them waiting to upgrade would deadlock); the recount,
-- a statement of its own, then sees every review committed before it got
-- the lock.
CREATE OR REPLACE FUNCTION product_reviews_maintain_rating() RETURNS trigger AS $$
DECLARE
  target uuid := COALESCE(NEW.product_id, OLD.product_id);
BEGIN
  PERFORM 1 FROM products WHERE id = target FOR NO KEY UPDATE;
  UPDATE products p
     SET review_count = s.n, average_rating = s.average
    FROM (SELECT count(*)::int AS n, COALESCE(round(avg(rating), 2), 0) AS average
            FROM product_reviews WHERE product_id = target) s
   WHERE p.id = target;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
