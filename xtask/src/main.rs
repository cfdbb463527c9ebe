//! xtask: under construction.
fn main() {}
