-- The order system's tables: the operational (OLTP) source of sales lines.
-- MySQL 8 / MariaDB 10.6+ (InnoDB). Every DATETIME holds UTC. `sales-lakehouse oltp fill`
-- creates them when they are missing; `sales-lakehouse extract` copies them to the landing
-- zone incrementally on the (updated_at, key) cursor, which the *_cursor indexes serve.
-- The columns the extract relies on are the contracts schemas/oltp_orders.yaml and
-- schemas/oltp_order_lines.yaml; a column added here is carried along, not fatal.

CREATE TABLE IF NOT EXISTS orders (
  order_id     VARCHAR(40)  NOT NULL,
  store_id     VARCHAR(20)  NOT NULL,
  customer_id  VARCHAR(20)  NULL,
  order_ts     DATETIME(3)  NOT NULL,
  channel      VARCHAR(16)  NOT NULL,
  currency     CHAR(3)      NOT NULL,
  -- placed, or cancelled: a cancelled order keeps its rows (soft cancel) and leaves gold.
  status       VARCHAR(16)  NOT NULL DEFAULT 'placed',
  created_at   DATETIME(6)  NOT NULL,
  updated_at   DATETIME(6)  NOT NULL,
  PRIMARY KEY (order_id),
  KEY ix_orders_cursor (updated_at, order_id),
  CONSTRAINT ck_orders_status CHECK (status IN ('placed', 'cancelled')),
  CONSTRAINT ck_orders_channel CHECK (channel IN ('store', 'web', 'mobile', 'marketplace'))
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS order_lines (
  order_id         VARCHAR(40)    NOT NULL,
  line_number      INT            NOT NULL,
  product_id       VARCHAR(20)    NOT NULL,
  quantity         INT            NOT NULL,
  unit_price       DECIMAL(12, 2) NOT NULL,
  discount_amount  DECIMAL(12, 2) NOT NULL DEFAULT 0.00,
  promotion_id     VARCHAR(20)    NULL,
  -- A line removed from its order is kept with deleted = 1 (soft delete) and leaves gold.
  deleted          BOOLEAN        NOT NULL DEFAULT FALSE,
  created_at       DATETIME(6)    NOT NULL,
  updated_at       DATETIME(6)    NOT NULL,
  PRIMARY KEY (order_id, line_number),
  KEY ix_order_lines_cursor (updated_at, order_id, line_number),
  CONSTRAINT fk_order_lines_order FOREIGN KEY (order_id) REFERENCES orders (order_id),
  CONSTRAINT ck_order_lines_quantity CHECK (quantity > 0),
  CONSTRAINT ck_order_lines_line CHECK (line_number > 0)
) ENGINE = InnoDB;
