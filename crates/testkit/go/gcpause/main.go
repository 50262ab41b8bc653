// A Go service whose garbage collector is its problem, for ballast's heal tests (standard
// library and ballast's Go integration only, Go 1.19). It holds a live heap of pointer-rich
// objects and churns garbage at a steady rate, so at a small GOGC the collector runs many
// times a second, each cycle marking the whole live heap (GC CPU and pause time high), and
// at a large GOGC rarely.
//
//	GOGC=5 BALLAST_ADMIN_TOKEN=… ./gcpause -listen 127.0.0.1:0 -live-mib 200 -churn-mib 64
//
// It builds the live heap first, then prints "listening on 127.0.0.1:PORT" and serves
// /metrics (ballast.MetricsHandler) and /admin/gc (ballast.AdminHandler, with the token from
// the environment variable -token-env names; an empty one refuses every request).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ballast-rs/ballast/integrations/go/ballast"
)

// node is 64 bytes with three pointers, so marking follows pointers, not just bytes.
type node struct {
	next, left, right *node
	payload           [5]uint64
}

const nodeSize = 64

var (
	live []*node
	sink *node
)

// buildLive keeps mib MiB of nodes reachable, chained in lists of 1024 with cross links.
func buildLive(mib int) {
	count := mib << 20 / nodeSize
	var head *node
	for i := 0; i < count; i++ {
		n := &node{next: head}
		n.payload[0] = uint64(i)
		if head != nil {
			n.left = head.next
		}
		head = n
		if i%1024 == 1023 {
			live = append(live, head)
			head = nil
		}
	}
	if head != nil {
		live = append(live, head)
	}
}

// churn allocates mibPerSecond MiB of short-lived nodes a second, in 100 steps a second.
func churn(mibPerSecond int) {
	perStep := mibPerSecond << 20 / nodeSize / 100
	tick := time.NewTicker(10 * time.Millisecond)
	for range tick.C {
		var head *node
		for i := 0; i < perStep; i++ {
			head = &node{next: head}
			// Replace a link of the live heap now and then, so the live heap is written to
			// (a write barrier's worth of work), as a real cache would be.
			if i%4096 == 0 && len(live) > 0 {
				l := live[i%len(live)]
				l.right = head
			}
		}
		sink = head
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve /metrics and /admin/gc on")
	tokenEnv := flag.String("token-env", "BALLAST_ADMIN_TOKEN", "environment variable holding the admin bearer token")
	liveMiB := flag.Int("live-mib", 200, "MiB of pointer-rich objects kept live")
	churnMiB := flag.Int("churn-mib", 64, "MiB of garbage allocated per second")
	flag.Parse()
	if *liveMiB < 0 || *churnMiB < 1 {
		fmt.Fprintln(os.Stderr, "-live-mib must be ≥ 0 and -churn-mib ≥ 1")
		os.Exit(2)
	}
	buildLive(*liveMiB)
	go churn(*churnMiB)

	mux := http.NewServeMux()
	mux.Handle("/metrics", ballast.MetricsHandler())
	mux.Handle("/admin/", ballast.AdminHandler(os.Getenv(*tokenEnv)))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
