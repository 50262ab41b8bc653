package ballast

import (
	"bufio"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
)

// MetricsHandler serves the Go runtime's gauges in Prometheus text format 0.0.4 (see the
// package documentation for the list).
func MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "only GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		out := bufio.NewWriter(w)
		writeMetrics(out, readSample())
		out.Flush()
	})
}

// sample is one reading of the runtime.
type sample struct {
	goroutines int
	mem        runtime.MemStats
	gogc       int
}

func readSample() sample {
	s := sample{goroutines: runtime.NumGoroutine(), gogc: GCPercent()}
	runtime.ReadMemStats(&s.mem)
	return s
}

// recentPauses are the stop-the-world pauses of the last (up to 256) collections, in
// nanoseconds, in no particular order.
func recentPauses(m *runtime.MemStats) []uint64 {
	n := int(m.NumGC)
	if n > len(m.PauseNs) {
		n = len(m.PauseNs)
	}
	pauses := make([]uint64, 0, n)
	// PauseNs is a ring: the most recent pause is at (NumGC+255)%256.
	for i := 0; i < n; i++ {
		pauses = append(pauses, m.PauseNs[(int(m.NumGC)-1-i+len(m.PauseNs))%len(m.PauseNs)])
	}
	return pauses
}

// quantile of sorted values by nearest rank (q=0 the smallest, q=1 the largest); 0 for none.
func quantile(sorted []uint64, q float64) uint64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

func seconds(ns uint64) string {
	return strconv.FormatFloat(float64(ns)/1e9, 'g', -1, 64)
}

func family(w *bufio.Writer, name, kind, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func writeMetrics(w *bufio.Writer, s sample) {
	gauge := func(name, help string, value string) {
		family(w, name, "gauge", help)
		w.WriteString(name + " " + value + "\n")
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }

	gauge("go_goroutines", "Number of goroutines that currently exist.", strconv.Itoa(s.goroutines))
	gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and still in use.", u(s.mem.HeapAlloc))
	gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", u(s.mem.HeapInuse))
	gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", u(s.mem.NextGC))

	pauses := recentPauses(&s.mem)
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	family(w, "go_gc_duration_seconds", "summary", "A summary of the pause duration of garbage collection cycles.")
	for _, q := range []struct {
		label string
		value float64
	}{{"0", 0}, {"0.25", 0.25}, {"0.5", 0.5}, {"0.75", 0.75}, {"1", 1}} {
		fmt.Fprintf(w, "go_gc_duration_seconds{quantile=%q} %s\n", q.label, seconds(quantile(pauses, q.value)))
	}
	w.WriteString("go_gc_duration_seconds_sum " + seconds(s.mem.PauseTotalNs) + "\n")
	w.WriteString("go_gc_duration_seconds_count " + u(uint64(s.mem.NumGC)) + "\n")

	family(w, "go_gc_cycles_total", "counter", "Number of completed garbage collection cycles.")
	w.WriteString("go_gc_cycles_total " + u(uint64(s.mem.NumGC)) + "\n")
	gauge("go_gogc", "The GOGC percent in force (-1: the collector is off).", strconv.Itoa(s.gogc))
	var longest uint64
	for _, p := range pauses {
		if p > longest {
			longest = p
		}
	}
	gauge("go_gc_pause_max_seconds", "The longest stop-the-world pause among the last 256 collections.", seconds(longest))
}
