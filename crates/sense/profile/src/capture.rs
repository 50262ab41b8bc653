//! Captures of a service's `/debug/pprof/*` endpoints (in progress).
