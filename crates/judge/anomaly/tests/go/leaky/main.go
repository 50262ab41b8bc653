// The same service as ../steady, with a slow leak: every 3 s on average a request handler
// blocks forever on a channel nobody writes to, holding 1 MiB. Goroutines and the heap
// left after each collection grow; everything else is the steady service's behaviour.
//
//	go build -o leaky ./main.go && ./leaky -addr 127.0.0.1:9102 -seed 7
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
	// ten are alive at any time.
	go func() {
		for {
			time.Sleep(time.Duration(workers.ExpFloat64() * float64(200*time.Millisecond)))
			life := time.Duration(workers.ExpFloat64() * float64(2*time.Second))
			go func() {
				work := make([]byte, 32<<10)
				work[0] = 1
				time.Sleep(life)
				_ = work
			}()
		}
	}()

	// The sawtooth: 64 KiB every 50 ms into a buffer that is let go every 10 s.
	go func() {
		var buffer [][]byte
		started := time.Now()
		for {
			time.Sleep(50 * time.Millisecond)
			buffer = append(buffer, make([]byte, 64<<10))
			if time.Since(started) > 10*time.Second {
				buffer = nil
				started = time.Now()
			}
		}
	}()

	// The leak.
	leaks := rand.New(rand.NewSource(*seed + 1))
	go func() {
		for {
			time.Sleep(time.Duration(leaks.Int63n(int64(6 * time.Second))))
			go func() {
				held := make([]byte, 1<<20)
				held[0] = 1
				<-make(chan struct{})
				runtime.KeepAlive(held)
			}()
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
