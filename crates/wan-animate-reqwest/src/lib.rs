//! wan-animate-reqwest: under construction.
