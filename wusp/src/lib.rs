//! `wusp`: the sans-I/O model of MS-WUSP.
pub mod fragment;
pub mod xpress;
