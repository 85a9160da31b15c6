//! mlstore facade (placeholder while the backends land).
pub use mlstore_core::*;
