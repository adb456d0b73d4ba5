//! The bundled demo shop that keepup demo starts on loopback and monitors, with injected faults.
