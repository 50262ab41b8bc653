// A Go service with one planted cause of instability, for ballast's profile tests
// (standard library and net/http/pprof only, Go 1.19). It drives itself: no load needed.
//
//	./planted cpu            (or PLANT=cpu ./planted; LISTEN=ADDR, default 127.0.0.1:0)
//
// The cause (first argument, else PLANT) chooses the cause; every mode also runs the same light background work
// (main.background: a little JSON every few milliseconds), so a profile is never empty
// and the planted cause must stand out from ordinary work:
//
//	cpu    main.hotLoop spins on arithmetic (about one core)
//	alloc  main.allocHeavy allocates short-lived objects that escape to the heap
//	leak   main.leakGoroutines starts 200 goroutines a second that wait forever in
//	       main.leakedWait
//	mutex  eight goroutines in main.contended hold one sync.Mutex while they sleep
//	chan   four goroutines in main.chanConsumer wait on a channel main.slowProducer feeds
//	grow   main.growHeap keeps 256 KiB more every 50 ms (a heap that grows 5 MiB/s)
//	none   only the background work
//
// It prints "listening on 127.0.0.1:PORT" once the server is up; /debug/pprof/* is Go's.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"
	"time"
)

var sink interface{}

type order struct {
	ID    int      `json:"id"`
	Items []string `json:"items"`
	Total float64  `json:"total"`
}

//go:noinline
func background() {
	o := order{ID: 1, Items: []string{"a", "b", "c"}, Total: 9.5}
	for {
		b, _ := json.Marshal(o)
		sink = b
		time.Sleep(2 * time.Millisecond)
	}
}

//go:noinline
func hotLoop() {
	x := uint64(1)
	for {
		for i := 0; i < 1_000_000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		sink = x
	}
}

type node struct {
	next    *node
	payload [64]byte
}

//go:noinline
func allocHeavy() {
	for {
		var head *node
		for i := 0; i < 10_000; i++ {
			head = &node{next: head}
		}
		sink = head
	}
}

//go:noinline
func leakedWait(never chan struct{}) {
	<-never
}

//go:noinline
func leakGoroutines() {
	never := make(chan struct{})
	for {
		for i := 0; i < 10; i++ {
			go leakedWait(never)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

//go:noinline
func contended(mu *sync.Mutex) {
	for {
		mu.Lock()
		time.Sleep(time.Millisecond)
		mu.Unlock()
	}
}

var kept [][]byte

//go:noinline
func growHeap() {
	for {
		block := make([]byte, 256<<10)
		for i := range block {
			block[i] = byte(i)
		}
		kept = append(kept, block)
		time.Sleep(50 * time.Millisecond)
	}
}

//go:noinline
func chanConsumer(work chan int) {
	for v := range work {
		sink = v
	}
}

//go:noinline
func slowProducer(work chan int) {
	for i := 0; ; i++ {
		time.Sleep(5 * time.Millisecond)
		work <- i
	}
}

func main() {
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	plant := os.Getenv("PLANT")
	if len(os.Args) > 1 {
		plant = os.Args[1]
	}
	switch plant {
	case "cpu":
		go hotLoop()
	case "alloc":
		go allocHeavy()
	case "leak":
		go leakGoroutines()
	case "mutex":
		mu := &sync.Mutex{}
		for i := 0; i < 8; i++ {
			go contended(mu)
		}
	case "chan":
		work := make(chan int)
		for i := 0; i < 4; i++ {
			go chanConsumer(work)
		}
		go slowProducer(work)
	case "grow":
		go growHeap()
	case "none", "":
	default:
		fmt.Fprintf(os.Stderr, "PLANT must be cpu, alloc, leak, mutex, chan, grow or none, not %q\n", plant)
		os.Exit(2)
	}
	go background()
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
