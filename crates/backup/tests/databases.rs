//! Database dumps and restores against real PostgreSQL and MariaDB servers
//! (testkit), filled with generated shop data.

use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::ShopSize;

#[test]
fn postgres_starts_and_loads_shop_data() {
    let pg = Postgres::start().expect("start postgres");
    let counts = pg.load_shop("shop", &ShopSize::tiny(), 1).expect("load");
    assert_eq!(counts.orders, 300);
    assert_eq!(pg.shop_counts("shop").expect("counts"), counts);
    assert_eq!(pg.psql("SELECT 1 + 1").expect("psql").trim(), "2");
}

#[test]
fn mariadb_starts_and_loads_shop_data() {
    let db = keepup_testkit::mariadb::MariaDb::start().expect("start mariadb");
    let counts = db.load_shop("shop", &ShopSize::tiny(), 1).expect("load");
    assert_eq!(counts.orders, 300);
    assert_eq!(db.shop_counts("shop").expect("counts"), counts);
    assert_eq!(db.sql("SELECT 1 + 1;").expect("sql").trim(), "2");
}
