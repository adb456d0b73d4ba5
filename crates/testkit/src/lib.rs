//! Real servers on loopback (HTTP, TLS with a generated CA, hostile peers) for keepup's tests and demo.
