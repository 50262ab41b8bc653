package ballast

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// scrape returns each sample line's value by its name with labels, e.g.
// `go_gc_duration_seconds{quantile="1"}`.
func scrape(t *testing.T, h http.Handler) (map[string]float64, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	values := map[string]float64{}
	lines := bufio.NewScanner(strings.NewReader(rec.Body.String()))
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		values[line[:i]] = v
	}
	return values, rec.Body.String()
}

func TestMetricsFollowTheRuntime(t *testing.T) {
	old := SetGCPercent(150)
	defer SetGCPercent(old)
	runtime.GC()
	runtime.GC()
	values, text := scrape(t, MetricsHandler())
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	for _, name := range []string{
		"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_next_gc_bytes",
		"go_memstats_heap_alloc_bytes", "go_gc_duration_seconds_sum", "go_gc_duration_seconds_count",
		"go_gc_cycles_total", "go_gogc", "go_gc_pause_max_seconds",
		`go_gc_duration_seconds{quantile="0"}`, `go_gc_duration_seconds{quantile="0.25"}`,
		`go_gc_duration_seconds{quantile="0.5"}`, `go_gc_duration_seconds{quantile="0.75"}`,
		`go_gc_duration_seconds{quantile="1"}`,
	} {
		if _, ok := values[name]; !ok {
			t.Errorf("%s missing from:\n%s", name, text)
		}
	}
	if values["go_gogc"] != 150 {
		t.Errorf("go_gogc = %v, want 150", values["go_gogc"])
	}
	// Two forced collections happened before the scrape; the reading after it has at least as many.
	if c := values["go_gc_cycles_total"]; c < 2 || c > float64(m.NumGC) {
		t.Errorf("go_gc_cycles_total = %v, runtime says %d", c, m.NumGC)
	}
	if values["go_gc_cycles_total"] != values["go_gc_duration_seconds_count"] {
		t.Errorf("cycles and pause count differ")
	}
	if values["go_memstats_heap_inuse_bytes"] <= 0 || values["go_goroutines"] < 1 {
		t.Errorf("implausible runtime values: %v", values)
	}
	q := func(l string) float64 { return values[`go_gc_duration_seconds{quantile="`+l+`"}`] }
	if !(q("0") <= q("0.25") && q("0.25") <= q("0.5") && q("0.5") <= q("0.75") && q("0.75") <= q("1")) {
		t.Errorf("quantiles out of order: %v %v %v %v %v", q("0"), q("0.25"), q("0.5"), q("0.75"), q("1"))
	}
	if q("1") != values["go_gc_pause_max_seconds"] || q("1") <= 0 {
		t.Errorf("max pause %v, quantile 1 %v", values["go_gc_pause_max_seconds"], q("1"))
	}
	if !strings.Contains(text, "# TYPE go_gc_duration_seconds summary\n") ||
		!strings.Contains(text, "# TYPE go_gc_cycles_total counter\n") {
		t.Errorf("types missing:\n%s", text)
	}
}

func TestRecentPausesReadTheRingFromTheNewest(t *testing.T) {
	var m runtime.MemStats
	m.NumGC = 300
	for i := range m.PauseNs {
		m.PauseNs[i] = uint64(i)
	}
	p := recentPauses(&m)
	if len(p) != 256 || p[0] != 299%256 {
		t.Fatalf("got %d pauses, newest %d", len(p), p[0])
	}
	m.NumGC = 3
	if p := recentPauses(&m); len(p) != 3 || p[0] != 2 || p[2] != 0 {
		t.Fatalf("got %v", p)
	}
	if quantile([]uint64{1, 2, 3, 4, 5}, 0.5) != 3 || quantile(nil, 1) != 0 {
		t.Fatal("quantile")
	}
}

func TestParseGOGC(t *testing.T) {
	for in, want := range map[string]int{"": 100, "off": -1, "5": 5, "400": 400, "-3": -1, "x": 100} {
		if got := parseGOGC(in); got != want {
			t.Errorf("parseGOGC(%q) = %d, want %d", in, got, want)
		}
	}
}

func request(t *testing.T, h http.Handler, method, auth, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, "/admin/gc", strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, strings.TrimSpace(string(b))
}

func TestAdminSetsGOGC(t *testing.T) {
	old := SetGCPercent(100)
	defer SetGCPercent(old)
	h := AdminHandler("s3cret")
	code, body := request(t, h, "POST", "Bearer s3cret", `{"percent": 400}`)
	if code != 200 || body != `{"percent":400,"previous":100}` {
		t.Fatalf("%d %s", code, body)
	}
	// The runtime really holds 400: setting it again returns it.
	if got := debug.SetGCPercent(400); got != 400 {
		t.Fatalf("runtime GOGC %d", got)
	}
	code, body = request(t, h, "GET", "bearer s3cret", "")
	if code != 200 || body != `{"percent":400}` {
		t.Fatalf("%d %s", code, body)
	}
	code, body = request(t, h, "POST", "Bearer s3cret", `{"percent": -1}`)
	if code != 200 || body != `{"percent":-1,"previous":400}` {
		t.Fatalf("%d %s", code, body)
	}
}

func TestAdminRefusesWithoutTheRightToken(t *testing.T) {
	old := SetGCPercent(100)
	defer SetGCPercent(old)
	h := AdminHandler("s3cret")
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Basic s3cret", 401}, {"Bearer wrong", 403}, {"Bearer s3cre", 403}, {"Bearer s3cret2", 403}} {
		if code, body := request(t, h, "POST", c.auth, `{"percent": 5}`); code != c.code {
			t.Errorf("%q: %d %s, want %d", c.auth, code, body, c.code)
		}
	}
	if code, _ := request(t, AdminHandler(""), "GET", "Bearer ", ""); code != 403 {
		t.Errorf("empty token: %d, want 403", code)
	}
	if code, _ := request(t, AdminHandler(""), "GET", "Bearer x", ""); code != 403 {
		t.Errorf("empty token: %d, want 403", code)
	}
	if GCPercent() != 100 {
		t.Errorf("a refused request changed GOGC to %d", GCPercent())
	}
}

func TestAdminBadBodiesNameTheField(t *testing.T) {
	h := AdminHandler("t")
	for body, want := range map[string]string{
		`{"percent": "400"}`:        "percent: expected a whole number",
		`{"percent": 2.5}`:          "percent: expected a whole number",
		`{"percent": -2}`:           "percent: expected a whole number",
		`{"percent": 400, "gc": 1}`: "unknown field `gc`, expected `percent`",
		`{}`:                        "percent: missing",
		`[400]`:                     "body: expected a JSON object",
		`{"percent": 99999999999}`:  "percent: expected a whole number",
	} {
		code, got := request(t, h, "POST", "Bearer t", body)
		if code != 400 || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, code, got, want)
		}
	}
	if code, _ := request(t, h, "DELETE", "Bearer t", ""); code != 405 {
		t.Errorf("DELETE: %d", code)
	}
}
