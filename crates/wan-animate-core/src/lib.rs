//! wan-animate-core: under construction.
