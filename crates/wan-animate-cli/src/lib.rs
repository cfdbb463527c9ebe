//! wan-animate-cli: under construction.
