//! wan-animate-sim: under construction.
