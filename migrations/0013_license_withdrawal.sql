-- A seller may stop offering a licence type. One that was never ordered is
-- deleted; one that order items name cannot be (they RESTRICT), so it is
-- marked withdrawn: out of the product, the cart and checkout, still there for
-- the orders. Listing the type again brings the same row back, so an
-- exclusive licence that sold once stays sold.
ALTER TABLE product_licenses ADD COLUMN withdrawn_at timestamptz;
