//! Cross-crate end-to-end test suites live in `tests/tests/`; this library is empty.
