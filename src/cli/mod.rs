//! The apitoken CLI (being written).
