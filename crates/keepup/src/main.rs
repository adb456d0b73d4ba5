//! keepup binary.
fn main() {}
