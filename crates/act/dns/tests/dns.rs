//! ballast-dns against real clients on loopback: hickory-resolver (a stub resolver, UDP
//! and TCP), raw sockets for what a resolver never sends, and a Go program using Go's own
//! resolver.

mod dns {
    pub mod common;

    mod actions;
    mod config;
    mod forward;
    mod fuzz;
    mod go;
    mod patterns;
    mod share;
    mod tcp;
}
