// A Go service for the runtime and memory experiments of ballast verify (standard
// library only, Go 1.19): it listens on LISTEN and serves
//
//	GET /healthz  200, not counted
//	GET /work     allocates WORK_KIB KiB of short-lived garbage (default 256) and answers
//	GET /leak     keeps LEAK_KIB KiB (default 1024) for good: a leak, until the kernel's
//	              OOM killer ends it under a memory limit
//	GET /metrics  Prometheus text: heap in use, GC cycles, the longest GC pause since the
//	              last scrape, GOGC and GOMEMLIMIT as the runtime took them, and leaked bytes
//
// Build: go build -o runtime ./main.go && LISTEN=127.0.0.1:18090 ./runtime
package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

var (
	mu        sync.Mutex
	leaked    [][]byte
	sink      []byte
	lastNumGC uint32
	requests  uint64
	startedAt = time.Now()
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func touch(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
}

func main() {
	listen := os.Getenv("LISTEN")
	if listen == "" {
		listen = "127.0.0.1:18090"
	}
	workKiB := envInt("WORK_KIB", 256)
	leakKiB := envInt("LEAK_KIB", 1024)
	// SetGCPercent returns the setting in force (GOGC, or 100), and is then set back.
	gogc := debug.SetGCPercent(100)
	debug.SetGCPercent(gogc)
	// A negative limit changes nothing and returns the one in force (GOMEMLIMIT, or none).
	memlimit := debug.SetMemoryLimit(-1)

	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, workKiB<<10)
		touch(b)
		mu.Lock()
		sink = b
		requests++
		mu.Unlock()
		fmt.Fprintln(w, "done")
	})
	http.HandleFunc("/leak", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, leakKiB<<10)
		touch(b)
		mu.Lock()
		leaked = append(leaked, b)
		requests++
		n := len(leaked)
		mu.Unlock()
		fmt.Fprintf(w, "leaked %d KiB\n", n*leakKiB)
	})
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		// The longest pause among the cycles since the last scrape (PauseNs is a ring
		// of the last 256).
		var longest uint64
		for n := lastNumGC; n < m.NumGC && m.NumGC-n <= 256; n++ {
			if p := m.PauseNs[n%256]; p > longest {
				longest = p
			}
		}
		lastNumGC = m.NumGC
		leakedBytes := len(leaked) * (leakKiB << 10)
		count := requests
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", m.HeapInuse)
		fmt.Fprintf(w, "# TYPE go_gc_cycles_total counter\ngo_gc_cycles_total %d\n", m.NumGC)
		fmt.Fprintf(w, "# TYPE go_gc_pause_max_seconds gauge\ngo_gc_pause_max_seconds %g\n", float64(longest)/1e9)
		fmt.Fprintf(w, "# TYPE go_gogc gauge\ngo_gogc %d\n", gogc)
		fmt.Fprintf(w, "# TYPE go_memory_limit_bytes gauge\ngo_memory_limit_bytes %d\n", memlimit)
		fmt.Fprintf(w, "# TYPE app_leaked_bytes gauge\napp_leaked_bytes %d\n", leakedBytes)
		fmt.Fprintf(w, "# TYPE app_requests_total counter\napp_requests_total %d\n", count)
		fmt.Fprintf(w, "# TYPE process_uptime_seconds gauge\nprocess_uptime_seconds %g\n", time.Since(startedAt).Seconds())
	})
	srv := &http.Server{Addr: listen, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
