//! Core of the Azure Identity crates (in progress).
