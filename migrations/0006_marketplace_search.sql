-- Marketplace (products, licences, files, cart, orders, reviews) and
-- full-text search over tracks and users.

CREATE TYPE product_type AS ENUM ('beat', 'sample_pack', 'preset', 'loop', 'midi', 'template', 'other');
CREATE TYPE product_status AS ENUM ('draft', 'active', 'inactive');
CREATE TYPE license_type AS ENUM ('basic', 'premium', 'exclusive');
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'failed', 'refunded');

CREATE TABLE products (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seller_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- A product may be a track sold with licences; the track going away leaves the product and its files.
  track_id uuid REFERENCES tracks (id) ON DELETE SET NULL,
  title varchar(255) NOT NULL,
  type product_type NOT NULL,
  description text,
  tags text[] NOT NULL DEFAULT '{}',
  genre varchar(100),
  bpm smallint,
  musical_key varchar(10),
  status product_status NOT NULL DEFAULT 'active',
  sale_count integer NOT NULL DEFAULT 0,
  review_count integer NOT NULL DEFAULT 0,
  average_rating numeric(3, 2) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CONSTRAINT chk_products_title_not_blank CHECK (length(btrim(title)) > 0),
  CONSTRAINT chk_products_description_length CHECK (char_length(description) <= 5000),
  CONSTRAINT chk_products_bpm_range CHECK (bpm BETWEEN 1 AND 999),
  CONSTRAINT chk_products_counts_non_negative CHECK (sale_count >= 0 AND review_count >= 0),
  CONSTRAINT chk_products_rating_range CHECK (average_rating BETWEEN 0 AND 5)
);
CREATE INDEX idx_products_seller_id_created_at ON products (seller_id, created_at DESC);
CREATE INDEX idx_products_track_id ON products (track_id);
CREATE INDEX idx_products_listed_created_at ON products (created_at DESC, id DESC) WHERE deleted_at IS NULL AND status = 'active';
CREATE TRIGGER trg_products_updated_at BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE product_licenses (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  type license_type NOT NULL,
  price_cents integer NOT NULL,
  currency char(3) NOT NULL,
  terms text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_product_licenses_product_type UNIQUE (product_id, type),
  CONSTRAINT chk_product_licenses_price_non_negative CHECK (price_cents >= 0),
  CONSTRAINT chk_product_licenses_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
  CONSTRAINT chk_product_licenses_terms_length CHECK (char_length(terms) <= 10000)
);
CREATE INDEX idx_product_licenses_product_id ON product_licenses (product_id);
CREATE TRIGGER trg_product_licenses_updated_at BEFORE UPDATE ON product_licenses FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Files sold with a product, kept in Storage under products/<product id>/.
CREATE TABLE product_files (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  filename varchar(255) NOT NULL,
  content_type varchar(255) NOT NULL,
  size_bytes bigint NOT NULL,
  storage_backend varchar(16) NOT NULL,
  storage_key varchar(512) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_product_files_storage_key UNIQUE (storage_key),
  CONSTRAINT chk_product_files_size_non_negative CHECK (size_bytes >= 0),
  CONSTRAINT chk_product_files_filename_not_blank CHECK (length(btrim(filename)) > 0),
  CONSTRAINT chk_product_files_storage_backend CHECK (storage_backend IN ('local', 's3'))
);
CREATE INDEX idx_product_files_product_id ON product_files (product_id, created_at);
CREATE TRIGGER trg_product_files_updated_at BEFORE UPDATE ON product_files FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One licence per product in a user's cart; choosing another licence replaces it.
CREATE TABLE cart_items (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  license_id uuid NOT NULL REFERENCES product_licenses (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_cart_items_user_product UNIQUE (user_id, product_id)
);
CREATE INDEX idx_cart_items_product_id ON cart_items (product_id);
CREATE INDEX idx_cart_items_license_id ON cart_items (license_id);
CREATE TRIGGER trg_cart_items_updated_at BEFORE UPDATE ON cart_items FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Money records outlive accounts and products: their references RESTRICT.
CREATE TABLE orders (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  buyer_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  status order_status NOT NULL DEFAULT 'pending',
  total_cents bigint NOT NULL,
  currency char(3) NOT NULL,
  -- The client's Idempotency-Key and a digest of what it asked for: a retry
  -- finds its order, the same key with another body is refused.
  idempotency_key varchar(255) NOT NULL,
  request_digest char(64) NOT NULL,
  payment_provider varchar(50),
  payment_reference varchar(255),
  paid_at timestamptz,
  failed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_orders_buyer_idempotency_key UNIQUE (buyer_id, idempotency_key),
  CONSTRAINT chk_orders_total_non_negative CHECK (total_cents >= 0),
  CONSTRAINT chk_orders_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
  CONSTRAINT chk_orders_paid_has_time CHECK (status <> 'paid' OR paid_at IS NOT NULL)
);
CREATE INDEX idx_orders_buyer_id_created_at ON orders (buyer_id, created_at DESC, id DESC);
CREATE INDEX idx_orders_status ON orders (status) WHERE status = 'pending';
CREATE TRIGGER trg_orders_updated_at BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- What was bought, as it was when bought: later edits of the product or its prices change nothing here.
CREATE TABLE order_items (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
  license_id uuid NOT NULL REFERENCES product_licenses (id) ON DELETE RESTRICT,
  seller_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  product_title varchar(255) NOT NULL,
  product_type product_type NOT NULL,
  license_type license_type NOT NULL,
  price_cents integer NOT NULL,
  currency char(3) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_order_items_order_product UNIQUE (order_id, product_id),
  CONSTRAINT chk_order_items_price_non_negative CHECK (price_cents >= 0),
  CONSTRAINT chk_order_items_currency_iso CHECK (currency ~ '^[A-Z]{3}$')
);
CREATE INDEX idx_order_items_order_id ON order_items (order_id);
CREATE INDEX idx_order_items_product_id ON order_items (product_id);
CREATE INDEX idx_order_items_license_id ON order_items (license_id);
CREATE INDEX idx_order_items_seller_id ON order_items (seller_id);
CREATE TRIGGER trg_order_items_updated_at BEFORE UPDATE ON order_items FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The order holding an exclusive licence. One column, so the database itself
-- cannot record two holders; a failed payment clears it again.
ALTER TABLE product_licenses ADD COLUMN exclusive_order_id uuid REFERENCES orders (id) ON DELETE SET NULL;
ALTER TABLE product_licenses ADD CONSTRAINT chk_product_licenses_exclusive_holder CHECK (type = 'exclusive' OR exclusive_order_id IS NULL);
CREATE INDEX idx_product_licenses_exclusive_order_id ON product_licenses (exclusive_order_id);

-- Paid orders count as sales of their products.
CREATE OR REPLACE FUNCTION orders_maintain_sale_count() RETURNS trigger AS $$
BEGIN
  IF (OLD.status = 'paid') <> (NEW.status = 'paid') THEN
    UPDATE products p SET sale_count = sale_count + CASE WHEN NEW.status = 'paid' THEN 1 ELSE -1 END
      FROM order_items i WHERE i.order_id = NEW.id AND p.id = i.product_id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_orders_sale_count AFTER UPDATE OF status ON orders
  FOR EACH ROW EXECUTE FUNCTION orders_maintain_sale_count();

CREATE TABLE product_reviews (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  rating smallint NOT NULL,
  comment text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT uq_product_reviews_product_user UNIQUE (product_id, user_id),
  CONSTRAINT chk_product_reviews_rating CHECK (rating BETWEEN 1 AND 5),
  CONSTRAINT chk_product_reviews_comment_length CHECK (char_length(comment) <= 2000)
);
CREATE INDEX idx_product_reviews_product_id_created_at ON product_reviews (product_id, created_at DESC, id DESC);
CREATE INDEX idx_product_reviews_user_id ON product_reviews (user_id);
CREATE TRIGGER trg_product_reviews_updated_at BEFORE UPDATE ON product_reviews FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Recounted from the reviews rather than adjusted: the average stays exact
-- whatever order inserts, edits and deletes arrive in.
CREATE OR REPLACE FUNCTION product_reviews_maintain_rating() RETURNS trigger AS $$
DECLARE
  target uuid := COALESCE(NEW.product_id, OLD.product_id);
BEGIN
  UPDATE products p
     SET review_count = s.n, average_rating = s.average
    FROM (SELECT count(*)::int AS n, COALESCE(round(avg(rating), 2), 0) AS average
            FROM product_reviews WHERE product_id = target) s
   WHERE p.id = target;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_product_reviews_rating AFTER INSERT OR DELETE OR UPDATE OF rating ON product_reviews
  FOR EACH ROW EXECUTE FUNCTION product_reviews_maintain_rating();

-- Search. The 'simple' configuration (no stemming, no stop words) keeps
-- prefix matching predictable for titles and names in any language; ASCII
-- punctuation becomes a space on both the indexed and the query side, so
-- "lo-fi" and "dj_shadow" are found by each of their parts.
CREATE OR REPLACE FUNCTION search_words(value text) RETURNS text AS $$
  SELECT regexp_replace(COALESCE(value, ''), '[[:punct:]]+', ' ', 'g')
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

-- Weights: title A > artist B > tags C > description D (ts_rank's defaults
-- rank them in that order). Declared immutable for the generated column:
-- array_to_string is only stable in general, but over text[] its result
-- depends on nothing but its arguments.
CREATE OR REPLACE FUNCTION track_search_vector(title text, artist text, tags text[], description text) RETURNS tsvector AS $$
  SELECT setweight(to_tsvector('simple', search_words(title)), 'A') ||
         setweight(to_tsvector('simple', search_words(artist)), 'B') ||
         setweight(to_tsvector('simple', search_words(array_to_string(tags, ' '))), 'C') ||
         setweight(to_tsvector('simple', search_words(description)), 'D')
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

ALTER TABLE tracks ADD COLUMN search_vector tsvector
  GENERATED ALWAYS AS (track_search_vector(title, artist, tags, description)) STORED;
CREATE INDEX idx_tracks_search_vector_gin ON tracks USING gin (search_vector) WHERE deleted_at IS NULL;

ALTER TABLE users ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('simple', search_words(username)), 'A') ||
  setweight(to_tsvector('simple', search_words(display_name)), 'B')
) STORED;
CREATE INDEX idx_users_search_vector_gin ON users USING gin (search_vector) WHERE deleted_at IS NULL;
