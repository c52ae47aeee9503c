//! The collector (placeholder while dependencies build).
