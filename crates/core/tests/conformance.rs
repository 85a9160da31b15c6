//! The conformance suite on the reference store and on the layers core ships: a layer passes
//! the same checks as the store it wraps.

mod memory {
    mlstore_core::conformance_tests!(mlstore_core::MemoryStore::new());
}

mod metered_memory {
    mlstore_core::conformance_tests!(mlstore_core::layers::MeteredStore::new(
        mlstore_core::MemoryStore::new()
    ));
}

mod boxed_memory {
    mlstore_core::conformance_tests!(
        Box::new(mlstore_core::MemoryStore::new()) as Box<dyn mlstore_core::Store>
    );
}
