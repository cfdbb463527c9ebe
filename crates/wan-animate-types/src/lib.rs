//! wan-animate-types: under construction.
