//! Certificate authority (in progress).
