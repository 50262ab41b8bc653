// Package ballast is ballast's integration for Go services, standard library only (Go 1.19):
// the runtime gauges ballast's Go rules read, and an admin endpoint through which an operator
// (or `ballast heal`) changes the garbage collector's target at run time.
//
//	mux := http.NewServeMux()
//	mux.Handle("/metrics", ballast.MetricsHandler())
//	mux.Handle("/admin/", ballast.AdminHandler(os.Getenv("BALLAST_ADMIN_TOKEN")))
//
// MetricsHandler answers Prometheus text format 0.0.4: go_goroutines,
// go_memstats_heap_inuse_bytes, go_memstats_next_gc_bytes, go_memstats_heap_alloc_bytes,
// go_gc_duration_seconds (a summary with quantiles 0, 0.25, 0.5, 0.75 and 1 over the last
// 256 stop-the-world pauses, and _sum/_count over all of them), go_gc_cycles_total, go_gogc
// (the GOGC percent in force, -1 when off) and go_gc_pause_max_seconds (the longest of the
// last 256 pauses).
//
// AdminHandler serves GET /admin/gc ({"percent": P}) and POST /admin/gc {"percent": N}, which
// calls debug.SetGCPercent(N) and answers {"previous": P, "percent": N}. Every request needs
// "Authorization: Bearer <token>" (compared in constant time); with an empty token every
// request is refused.
//
// Go 1.19 cannot read GOGC without setting it (runtime/metrics has /gc/gogc:percent only from
// Go 1.21), so go_gogc is GOGC as the process started with it, followed through every change
// made by AdminHandler or SetGCPercent. A program that calls debug.SetGCPercent itself should
// call ballast.SetGCPercent instead.
package ballast
