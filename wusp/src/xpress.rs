//! Xpress codec.
