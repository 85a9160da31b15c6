//! The conformance suite over every store this build has.

mod memory {
    mlstore_core::conformance_tests!(mlstore_core::MemoryStore::new());
}
