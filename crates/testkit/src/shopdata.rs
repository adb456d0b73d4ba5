//! Generated shop data for the database tests and benchmarks: customers,
//! products, orders and order items, of a requested size, deterministic
//! from a seed, as SQL for PostgreSQL (`COPY ... FROM STDIN`, loaded with
//! `psql`) or MariaDB/MySQL (multi-row `INSERT`, loaded with `mariadb`).
//!
//! The SQL is written to a [`Write`] as it is generated (nothing is held in
//! memory but the product prices), so a launcher streams it into the
//! client's stdin: hundreds of megabytes load at the speed of the server.
//! The values exercise what dumps and restores get wrong: non-ASCII text,
//! quotes, backslashes, NULLs, a view and a trigger.

use crate::random::Rng;
use std::io::{self, Write};

/// The SQL dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL, loaded with `psql` (uses `COPY ... FROM STDIN`).
    Postgres,
    /// MariaDB or MySQL, loaded with the `mariadb`/`mysql` client.
    MariaDb,
}

/// How much data to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopSize {
    /// Rows in `customers`.
    pub customers: u64,
    /// Rows in `products`.
    pub products: u64,
    /// Rows in `orders`; each has 1 to `max_items_per_order` rows in
    /// `order_items`.
    pub orders: u64,
    /// At least 1.
    pub max_items_per_order: u32,
}

/// Bytes of a plain-text dump per order, with its share of customers and
/// products (measured: `pg_dump` writes about 137, `mysqldump` 157).
const DUMP_BYTES_PER_ORDER: u64 = 145;

impl ShopSize {
    /// A few hundred rows: for tests that only need some data (a plain
    /// dump of about 40 KB).
    pub fn tiny() -> Self {
        Self::orders(300)
    }

    /// A few thousand rows (a plain dump of about 400 KB, several times a
    /// pipe's capacity): large enough that a dump is still at work when a
    /// test interrupts it after its first bytes.
    pub fn small() -> Self {
        Self::orders(3_000)
    }

    /// `orders` orders with a customer for every 4 and a product for every
    /// 50 (at least 10).
    pub fn orders(orders: u64) -> Self {
        Self {
            customers: (orders / 4).max(1),
            products: (orders / 50).max(10),
            orders,
            max_items_per_order: 5,
        }
    }

    /// About `bytes` of plain-text dump (for benchmarks: `500 << 20`).
    pub fn approx_dump_bytes(bytes: u64) -> Self {
        Self::orders((bytes / DUMP_BYTES_PER_ORDER).max(1))
    }
}

/// Rows per table, as generated (and as a restore must find them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShopCounts {
    /// Rows in `customers`.
    pub customers: u64,
    /// Rows in `products`.
    pub products: u64,
    /// Rows in `orders`.
    pub orders: u64,
    /// Rows in `order_items`.
    pub order_items: u64,
}

impl ShopCounts {
    /// One row of four counts, in this order, in both dialects.
    pub const QUERY: &'static str = "SELECT (SELECT count(*) FROM customers), \
         (SELECT count(*) FROM products), (SELECT count(*) FROM orders), \
         (SELECT count(*) FROM order_items)";

    /// Parses the output of [`Self::QUERY`] from `psql -At` (`|`
    /// separated) or `mariadb -N -B` (tab separated).
    pub fn parse(output: &str) -> io::Result<Self> {
        let numbers: Vec<u64> = output
            .trim()
            .split(['|', '\t'])
            .map(|n| n.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| io::Error::other(format!("bad row counts {output:?}: {e}")))?;
        match numbers[..] {
            [customers, products, orders, order_items] => Ok(Self {
                customers,
                products,
                orders,
                order_items,
            }),
            _ => Err(io::Error::other(format!("bad row counts {output:?}"))),
        }
    }

    /// The tables and their counts.
    pub fn tables(&self) -> [(&'static str, u64); 4] {
        [
            ("customers", self.customers),
            ("products", self.products),
            ("orders", self.orders),
            ("order_items", self.order_items),
        ]
    }
}

const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Élodie", "Felix", "Grace", "Hugo", "Ingrid", "Jonas", "Kai",
    "Lena", "Marta", "Noah", "Olivia", "Pál", "Quentin", "Rosa", "Søren", "Tomás", "Una", "Vera",
    "Wei", "Xenia", "Yusuf", "Zoë",
];
const LAST: &[&str] = &[
    "Andersen",
    "Bauer",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "García",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lefèvre",
    "Müller",
    "Nowak",
    "O'Brien",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Újvári",
    "Vargas",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zieliński",
];
const CITIES: &[(&str, &str)] = &[
    ("Berlin", "DE"),
    ("München", "DE"),
    ("Paris", "FR"),
    ("Lyon", "FR"),
    ("Kraków", "PL"),
    ("São Paulo", "BR"),
    ("Zürich", "CH"),
    ("Dublin", "IE"),
    ("Reykjavík", "IS"),
    ("Tokyo", "JP"),
    ("Málaga", "ES"),
    ("Göteborg", "SE"),
];
const ADJECTIVES: &[&str] = &[
    "classic",
    "organic",
    "handmade",
    "compact",
    "deluxe",
    "rugged",
    "vintage",
    "smart",
    "quiet",
    "recycled",
    "bright",
    "heavy-duty",
];
const NOUNS: &[&str] = &[
    "teapot",
    "backpack",
    "lamp",
    "notebook",
    "chair",
    "kettle",
    "scarf",
    "bicycle bell",
    "mug",
    "headphones",
    "umbrella",
    "candle",
];
const WORDS: &[&str] = &[
    "ships",
    "within",
    "two",
    "days",
    "made",
    "from",
    "sustainably",
    "sourced",
    "materials",
    "with",
    "a",
    "lifetime",
    "warranty",
    "the",
    "customer's",
    "favourite",
    "for",
    "every",
    "season",
    "café-tested",
    "naïve",
    "über",
    "sturdy",
    "\"premium\"",
    "50%",
    "off",
    "C:\\shop\\catalog",
];
const STATUSES: &[&str] = &[
    "pending",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
];

/// Dates the generated rows fall on: 2023-01-01 and the 1095 days after.
fn dates() -> Vec<String> {
    let start =
        time::Date::from_calendar_date(2023, time::Month::January, 1).unwrap_or(time::Date::MIN);
    (0..1096)
        .filter_map(|d| start.checked_add(time::Duration::days(d)))
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()))
        .collect()
}

/// Writes a timestamp between 2023 and 2025.
fn timestamp(rng: &mut Rng, dates: &[String]) -> String {
    let date = &dates[rng.below(dates.len() as u64) as usize];
    let secs = rng.below(86_400);
    format!(
        "{date} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A text value escaped for the dialect: a `COPY` text field or a quoted
/// SQL string literal.
fn text(w: &mut dyn Write, dialect: Dialect, s: &str) -> io::Result<()> {
    match dialect {
        Dialect::Postgres => {
            for part in s.split_inclusive(['\\', '\t', '\n']) {
                match part.chars().last() {
                    Some('\\') => write!(w, "{}\\\\", &part[..part.len() - 1])?,
                    Some('\t') => write!(w, "{}\\t", &part[..part.len() - 1])?,
                    Some('\n') => write!(w, "{}\\n", &part[..part.len() - 1])?,
                    _ => w.write_all(part.as_bytes())?,
                }
            }
            Ok(())
        }
        Dialect::MariaDb => {
            w.write_all(b"'")?;
            for part in s.split_inclusive(['\\', '\'']) {
                match part.chars().last() {
                    Some('\\') => write!(w, "{}\\\\", &part[..part.len() - 1])?,
                    Some('\'') => write!(w, "{}\\'", &part[..part.len() - 1])?,
                    _ => w.write_all(part.as_bytes())?,
                }
            }
            w.write_all(b"'")
        }
    }
}

/// Writes rows of one table: `COPY` for PostgreSQL, `INSERT`s of up to
/// 1000 rows for MariaDB (each its own transaction: one huge transaction
/// loads slower).
struct TableWriter<'a> {
    w: &'a mut dyn Write,
    dialect: Dialect,
    table: &'static str,
    rows_in_statement: u32,
    rows: u64,
}

impl<'a> TableWriter<'a> {
    fn new(
        w: &'a mut dyn Write,
        dialect: Dialect,
        table: &'static str,
        columns: &str,
    ) -> io::Result<Self> {
        if dialect == Dialect::Postgres {
            writeln!(w, "COPY {table} ({columns}) FROM STDIN;")?;
        }
        Ok(Self {
            w,
            dialect,
            table,
            rows_in_statement: 0,
            rows: 0,
        })
    }

    /// Starts a row (its fields follow).
    fn row(&mut self) -> io::Result<()> {
        self.rows += 1;
        if self.dialect == Dialect::MariaDb {
            if self.rows_in_statement == 0 {
                write!(self.w, "INSERT INTO {} VALUES (", self.table)?;
            } else {
                self.w.write_all(b",(")?;
            }
            self.rows_in_statement += 1;
        }
        Ok(())
    }

    fn sep(&mut self) -> io::Result<()> {
        self.w.write_all(match self.dialect {
            Dialect::Postgres => b"\t",
            Dialect::MariaDb => b",",
        })
    }

    fn int(&mut self, first: bool, v: u64) -> io::Result<()> {
        if !first {
            self.sep()?;
        }
        write!(self.w, "{v}")
    }

    fn text(&mut self, first: bool, v: &str) -> io::Result<()> {
        if !first {
            self.sep()?;
        }
        text(self.w, self.dialect, v)
    }

    fn null(&mut self) -> io::Result<()> {
        self.sep()?;
        self.w.write_all(match self.dialect {
            Dialect::Postgres => b"\\N",
            Dialect::MariaDb => b"NULL",
        })
    }

    fn end_row(&mut self) -> io::Result<()> {
        match self.dialect {
            Dialect::Postgres => self.w.write_all(b"\n"),
            Dialect::MariaDb => {
                self.w.write_all(b")")?;
                if self.rows_in_statement >= 1000 {
                    self.rows_in_statement = 0;
                    self.w.write_all(b";\n")?;
                }
                Ok(())
            }
        }
    }

    /// Ends the table; returns its row count.
    fn finish(self) -> io::Result<u64> {
        match self.dialect {
            Dialect::Postgres => self.w.write_all(b"\\.\n")?,
            Dialect::MariaDb if self.rows_in_statement > 0 => self.w.write_all(b";\n")?,
            Dialect::MariaDb => {}
        }
        Ok(self.rows)
    }
}

const POSTGRES_SCHEMA: &str = "\
SET client_encoding = 'UTF8';
BEGIN;
CREATE TABLE customers (id bigint NOT NULL, email text NOT NULL, name text NOT NULL, \
city text NOT NULL, country char(2) NOT NULL, phone text, created_at timestamp NOT NULL);
CREATE TABLE products (id bigint NOT NULL, sku text NOT NULL, name text NOT NULL, \
description text NOT NULL, price_cents integer NOT NULL, stock integer NOT NULL);
CREATE TABLE orders (id bigint NOT NULL, customer_id bigint NOT NULL, status text NOT NULL, \
created_at timestamp NOT NULL, total_cents bigint NOT NULL);
CREATE TABLE order_items (order_id bigint NOT NULL, line_no integer NOT NULL, \
product_id bigint NOT NULL, quantity integer NOT NULL, unit_price_cents integer NOT NULL);
";

const POSTGRES_CONSTRAINTS: &str = "\
ALTER TABLE customers ADD PRIMARY KEY (id);
ALTER TABLE customers ADD UNIQUE (email);
ALTER TABLE products ADD PRIMARY KEY (id);
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE order_items ADD PRIMARY KEY (order_id, line_no);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE order_items ADD FOREIGN KEY (product_id) REFERENCES products (id);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE VIEW customer_order_counts AS SELECT c.id, c.email, count(o.id) AS orders \
FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.email;
CREATE FUNCTION products_stock_not_negative() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.stock := greatest(NEW.stock, 0);
  RETURN NEW;
END $$;
CREATE TRIGGER products_stock_check BEFORE UPDATE ON products \
FOR EACH ROW EXECUTE FUNCTION products_stock_not_negative();
COMMIT;
ANALYZE;
";

const MARIADB_SCHEMA: &str = "\
SET NAMES utf8mb4;
SET unique_checks = 0, foreign_key_checks = 0;
CREATE TABLE customers (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, \
name VARCHAR(255) NOT NULL, city VARCHAR(255) NOT NULL, country CHAR(2) NOT NULL, \
phone VARCHAR(64) NULL, created_at DATETIME NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE products (id BIGINT NOT NULL PRIMARY KEY, sku VARCHAR(64) NOT NULL, \
name VARCHAR(255) NOT NULL, description TEXT NOT NULL, price_cents INT NOT NULL, \
stock INT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, customer_id BIGINT NOT NULL, \
status VARCHAR(32) NOT NULL, created_at DATETIME NOT NULL, total_cents BIGINT NOT NULL, \
KEY orders_customer_id_idx (customer_id), \
FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE order_items (order_id BIGINT NOT NULL, line_no INT NOT NULL, \
product_id BIGINT NOT NULL, quantity INT NOT NULL, unit_price_cents INT NOT NULL, \
PRIMARY KEY (order_id, line_no), FOREIGN KEY (order_id) REFERENCES orders (id), \
FOREIGN KEY (product_id) REFERENCES products (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
";

const MARIADB_END: &str = "\
CREATE VIEW customer_order_counts AS SELECT c.id, c.email, count(o.id) AS orders \
FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.email;
CREATE TRIGGER products_stock_check BEFORE UPDATE ON products \
FOR EACH ROW SET NEW.stock = GREATEST(NEW.stock, 0);
SET unique_checks = 1, foreign_key_checks = 1;
";

/// The items of one order: (product index, quantity), from a generator of
/// its own so that the orders and the items passes agree.
fn order_items(seed: u64, order: u64, size: &ShopSize) -> impl Iterator<Item = (u64, u64)> {
    let mut rng = Rng::new(seed ^ order.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let n = 1 + rng.below(u64::from(size.max_items_per_order.max(1)));
    (0..n).map(move |_| (rng.below(size.products), 1 + rng.below(4)))
}

/// Writes the whole shop (schema, data, constraints, a view and a trigger)
/// as SQL for `dialect` into an empty database, and returns the row
/// counts. Same `size` and `seed`, same bytes.
pub fn write_sql(
    w: &mut dyn Write,
    dialect: Dialect,
    size: &ShopSize,
    seed: u64,
) -> io::Result<ShopCounts> {
    let size = ShopSize {
        customers: size.customers.max(1),
        products: size.products.max(1),
        ..*size
    };
    let dates = dates();
    let mut rng = Rng::new(seed);
    w.write_all(
        match dialect {
            Dialect::Postgres => POSTGRES_SCHEMA,
            Dialect::MariaDb => MARIADB_SCHEMA,
        }
        .as_bytes(),
    )?;

    let mut t = TableWriter::new(
        w,
        dialect,
        "customers",
        "id, email, name, city, country, phone, created_at",
    )?;
    for id in 1..=size.customers {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let (city, country) = CITIES[rng.below(CITIES.len() as u64) as usize];
        t.row()?;
        t.int(true, id)?;
        // The id keeps e-mails unique.
        let email = format!(
            "{}.{}.{id}@example.test",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', "")
        );
        t.text(false, &email)?;
        t.text(false, &format!("{first} {last}"))?;
        t.text(false, city)?;
        t.text(false, country)?;
        if rng.below(3) == 0 {
            t.null()?;
        } else {
            t.text(false, &format!("+49 30 {:07}", rng.below(10_000_000)))?;
        }
        t.text(false, &timestamp(&mut rng, &dates))?;
        t.end_row()?;
    }
    let customers = t.finish()?;

    let mut prices = Vec::with_capacity(size.products as usize);
    let mut t = TableWriter::new(
        w,
        dialect,
        "products",
        "id, sku, name, description, price_cents, stock",
    )?;
    for id in 1..=size.products {
        let name = format!("{} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS));
        let mut description = String::new();
        for i in 0..(12 + rng.below(30)) {
            if i > 0 {
                description.push(' ');
            }
            description.push_str(rng.pick(WORDS));
        }
        let price = 99 + rng.below(50_000);
        prices.push(price);
        t.row()?;
        t.int(true, id)?;
        t.text(false, &format!("SKU-{id:08}"))?;
        t.text(false, &name)?;
        t.text(false, &description)?;
        t.int(false, price)?;
        t.int(false, rng.below(1000))?;
        t.end_row()?;
    }
    let products = t.finish()?;

    let mut t = TableWriter::new(
        w,
        dialect,
        "orders",
        "id, customer_id, status, created_at, total_cents",
    )?;
    for id in 1..=size.orders {
        let total: u64 = order_items(seed, id, &size)
            .map(|(p, q)| prices[p as usize] * q)
            .sum();
        t.row()?;
        t.int(true, id)?;
        t.int(false, 1 + rng.below(size.customers))?;
        t.text(false, rng.pick(STATUSES))?;
        t.text(false, &timestamp(&mut rng, &dates))?;
        t.int(false, total)?;
        t.end_row()?;
    }
    let orders = t.finish()?;

    let mut t = TableWriter::new(
        w,
        dialect,
        "order_items",
        "order_id, line_no, product_id, quantity, unit_price_cents",
    )?;
    for id in 1..=size.orders {
        for (line, (p, q)) in order_items(seed, id, &size).enumerate() {
            t.row()?;
            t.int(true, id)?;
            t.int(false, line as u64 + 1)?;
            t.int(false, p + 1)?;
            t.int(false, q)?;
            t.int(false, prices[p as usize])?;
            t.end_row()?;
        }
    }
    let order_items = t.finish()?;

    w.write_all(
        match dialect {
            Dialect::Postgres => POSTGRES_CONSTRAINTS,
            Dialect::MariaDb => MARIADB_END,
        }
        .as_bytes(),
    )?;
    Ok(ShopCounts {
        customers,
        products,
        orders,
        order_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_counted() {
        for dialect in [Dialect::Postgres, Dialect::MariaDb] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            let size = ShopSize::orders(100);
            let ca = write_sql(&mut a, dialect, &size, 7).unwrap();
            let cb = write_sql(&mut b, dialect, &size, 7).unwrap();
            assert_eq!(a, b);
            assert_eq!(ca, cb);
            assert_eq!(ca.customers, 25);
            assert_eq!(ca.products, 10);
            assert_eq!(ca.orders, 100);
            assert!((100..=500).contains(&ca.order_items));
            let mut c = Vec::new();
            write_sql(&mut c, dialect, &size, 8).unwrap();
            assert_ne!(a, c);
        }
    }

    #[test]
    fn escapes() {
        let mut out = Vec::new();
        text(&mut out, Dialect::Postgres, "a\\b\tc\nd'é").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\\b\\tc\\nd'é");
        let mut out = Vec::new();
        text(&mut out, Dialect::MariaDb, "O'Brien C:\\x").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "'O\\'Brien C:\\\\x'");
    }

    #[test]
    fn parse_counts() {
        let c = ShopCounts::parse("1|2|3|4\n").unwrap();
        assert_eq!(c.order_items, 4);
        assert_eq!(ShopCounts::parse("1\t2\t3\t4").unwrap(), c);
        assert!(ShopCounts::parse("1|2").is_err());
    }
}
