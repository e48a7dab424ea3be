//! Pure protocol code: requests built and responses parsed with no I/O and `now` passed in.

pub mod challenge;
pub mod entra;
pub mod scrub;
