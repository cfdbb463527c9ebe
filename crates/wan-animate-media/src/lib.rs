//! wan-animate-media: under construction.
