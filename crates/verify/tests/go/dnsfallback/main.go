// dnsfallback: an HTTP service that depends on one DNS name, with an optional second DNS
// server to fall back on (the target of ballast's DNS-fault experiment).
//
//	LISTEN=127.0.0.1:8080 LOOKUP_NAME=db.shop.test DNS_PRIMARY=127.0.0.1:15353 \
//	  DNS_FALLBACK=127.0.0.1:15354 ./dnsfallback
//
// GET /lookup resolves LOOKUP_NAME (its IPv4 addresses) at DNS_PRIMARY and, when that
// fails for any reason and DNS_FALLBACK is set, once more at DNS_FALLBACK: 200 with the
// addresses, one a line, or 502 with why. GET /healthz: 200.
//
// DNS_PRIMARY=system resolves with the system's resolver instead (/etc/resolv.conf, as
// most programs do): the netns test points it at ballast's DNS server that way.
//
// Each server is asked exactly once per lookup, with DNS_TIMEOUT (a Go duration, default
// 300ms) for its answer, so the share of failed lookups is the share of failed queries.
// Standard library only (Go 1.19). It prints "listening on ADDR" once it listens (LISTEN
// may have port 0).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// timeout is how long one server has to answer one lookup (DNS_TIMEOUT).
var timeout = 300 * time.Millisecond

var errSecondTry = errors.New("no second try at the same server")

// rcodes names the response codes a DNS server may fail with.
var rcodes = map[int32]string{1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

// peek remembers the response code of the last UDP answer read through it. It stays a
// net.PacketConn (Go's resolver frames messages for TCP on any other conn).
type peek struct {
	*net.UDPConn
	rcode *int32
}

func (p peek) Read(b []byte) (int, error) {
	n, err := p.UDPConn.Read(b)
	if n >= 4 {
		atomic.StoreInt32(p.rcode, int32(b[3]&0x0f))
	}
	return n, err
}

// resolve asks server, and only server, for name's IPv4 addresses ("system": whatever
// /etc/resolv.conf names).
func resolve(ctx context.Context, server, name string) ([]net.IP, error) {
	if server == "system" {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return net.DefaultResolver.LookupIP(ctx, "ip4", strings.TrimSuffix(name, ".")+".")
	}
	var udpDials, tcpDials, rcode int32
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			// Go's resolver tries a failed exchange again (resolv.conf's attempts, 2 by
			// default), dialing anew each time: refusing a second UDP dial keeps it to one
			// query. One TCP dial stays allowed, for an answer truncated over UDP.
			dials := &udpDials
			if strings.HasPrefix(network, "tcp") {
				dials = &tcpDials
			}
			if atomic.AddInt32(dials, 1) > 1 {
				return nil, errSecondTry
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, server)
			if udp, ok := conn.(*net.UDPConn); ok && err == nil {
				return peek{udp, &rcode}, nil
			}
			return conn, err
		},
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The trailing dot: the name as given, never with resolv.conf's search domains.
	ips, err := r.LookupIP(ctx, "ip4", strings.TrimSuffix(name, ".")+".")
	if err == nil {
		return ips, nil
	}
	if name, ok := rcodes[atomic.LoadInt32(&rcode)]; ok {
		return nil, fmt.Errorf("%s answered %s", server, name)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: no answer in %v", server, timeout)
	}
	return nil, fmt.Errorf("%s: %v", server, err)
}

func main() {
	listen, name, primary := os.Getenv("LISTEN"), os.Getenv("LOOKUP_NAME"), os.Getenv("DNS_PRIMARY")
	fallback := os.Getenv("DNS_FALLBACK")
	if listen == "" || name == "" || primary == "" {
		fmt.Fprintln(os.Stderr, "dnsfallback: set LISTEN, LOOKUP_NAME and DNS_PRIMARY (DNS_FALLBACK is optional)")
		os.Exit(2)
	}
	if text := os.Getenv("DNS_TIMEOUT"); text != "" {
		d, err := time.ParseDuration(text)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "dnsfallback: DNS_TIMEOUT=%q: expected a positive duration like 300ms\n", text)
			os.Exit(2)
		}
		timeout = d
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/lookup", func(w http.ResponseWriter, r *http.Request) {
		ips, err := resolve(r.Context(), primary, name)
		if err != nil && fallback != "" {
			first := err
			if ips, err = resolve(r.Context(), fallback, name); err != nil {
				err = fmt.Errorf("%v; fallback: %v", first, err)
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for _, ip := range ips {
			fmt.Fprintln(w, ip)
		}
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatalf("dnsfallback: %v", err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
