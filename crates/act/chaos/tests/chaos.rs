//! The chaos proxy end to end: real sockets on loopback, the real Redis and PostgreSQL of
//! this machine (scripts/test.sh starts them), an HTTP server, and the HTTP API.

mod chaos {
    pub mod api;
    pub mod http;
    pub mod postgres;
    pub mod redis;
    pub mod support;
    pub mod tcp;
    pub mod toxiproxy;
}
