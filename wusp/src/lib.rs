//! `wusp`: the sans-I/O model of MS-WUSP.
pub mod xpress;
