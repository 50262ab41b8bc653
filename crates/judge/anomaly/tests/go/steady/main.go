// A service that does not leak: short-lived workers come and go (the goroutine count
// wanders around a level), and a buffer fills and is dropped every 10 s (the heap is a GC
// sawtooth). It serves its own goroutine count and heap in Prometheus text on /metrics.
//
//	go build -o steady ./main.go && ./steady -addr 127.0.0.1:9101 -seed 7
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net/http"
	"runtime"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	// One generator per goroutine: rand.Rand is not safe to share.
	workers := rand.New(rand.NewSource(*seed))

	// Workers: about five a second, each living an exponential 2 s on average, so about
	// ten are alive at any time. Arrivals and ends are instants on the wall clock, caught
	// up when the scheduler is late: with relative sleeps a busy machine would stretch every
	// gap and every life and move the level with the machine's load (a load that eases
	// during a test looked like growth).
	go func() {
		next := time.Now()
		for {
			next = next.Add(time.Duration(workers.ExpFloat64() * float64(200*time.Millisecond)))
			time.Sleep(time.Until(next))
			end := next.Add(time.Duration(workers.ExpFloat64() * float64(2*time.Second)))
			go func() {
				work := make([]byte, 32<<10)
				work[0] = 1
				time.Sleep(time.Until(end))
				_ = work
			}()
		}
	}()

	// The sawtooth: a buffer that holds 64 KiB for every 50 ms since its cycle began and
	// is let go every 10 s, by the wall clock (as the workers are).
	go func() {
		const step, cycle = 50 * time.Millisecond, 10 * time.Second
		var buffer [][]byte
		began := time.Now()
		for {
			time.Sleep(step)
			for time.Since(began) >= cycle {
				buffer = nil
				began = began.Add(cycle)
			}
			for due := int(time.Since(began) / step); len(buffer) < due; {
				buffer = append(buffer, make([]byte, 64<<10))
			}
		}
	}()

	http.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
		fmt.Fprintf(w, "# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n", m.HeapAlloc)
		fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", m.HeapInuse)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
