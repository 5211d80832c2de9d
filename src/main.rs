//! wutap: capture, analyze and replay MS-WUSP traffic.
fn main() {}
