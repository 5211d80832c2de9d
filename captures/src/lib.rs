//! `captures`: the wutap capture file format.
