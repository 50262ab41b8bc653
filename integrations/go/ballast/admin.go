package ballast

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
)

// MaxGCPercent is the largest percent POST /admin/gc accepts (GOGC=1000000 is "never",
// in practice; -1 turns the collector off explicitly).
const MaxGCPercent = 1000000

// maxBody bounds what a request body may be: the valid one is a few bytes.
const maxBody = 16 << 10

// AdminHandler serves GET and POST /admin/gc (see the package documentation) behind a bearer
// token. An empty token refuses every request: the endpoint changes how the process runs.
func AdminHandler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r, token) {
			return
		}
		if strings.TrimSuffix(r.URL.Path, "/") != "/admin/gc" {
			refuse(w, http.StatusNotFound, fmt.Sprintf("no admin endpoint %q (only /admin/gc)", r.URL.Path))
			return
		}
		switch r.Method {
		case http.MethodGet:
			answer(w, http.StatusOK, map[string]int{"percent": GCPercent()})
		case http.MethodPost:
			percent, err := gcBody(r.Body)
			if err != nil {
				refuse(w, http.StatusBadRequest, err.Error())
				return
			}
			previous := SetGCPercent(percent)
			log.Printf("ballast admin: GOGC %d -> %d (from %s)", previous, percent, r.RemoteAddr)
			answer(w, http.StatusOK, map[string]int{"previous": previous, "percent": GCPercent()})
		default:
			w.Header().Set("Allow", "GET, POST")
			refuse(w, http.StatusMethodNotAllowed, "/admin/gc takes GET or POST")
		}
	})
}

// authorized answers 401 (no bearer token) or 403 (a wrong one, or none configured) and
// returns false, or returns true.
func authorized(w http.ResponseWriter, r *http.Request, token string) bool {
	header := r.Header.Get("Authorization")
	if len(header) < 7 || !strings.EqualFold(header[:7], "bearer ") {
		w.Header().Set("WWW-Authenticate", "Bearer")
		refuse(w, http.StatusUnauthorized, "missing bearer token (Authorization: Bearer <token>)")
		return false
	}
	if token == "" {
		refuse(w, http.StatusForbidden, "the admin endpoint has no token configured: every request is refused")
		return false
	}
	given := strings.TrimSpace(header[7:])
	// Constant time in where the first difference is, so the token cannot be found byte by
	// byte from response times.
	if subtle.ConstantTimeCompare([]byte(given), []byte(token)) != 1 {
		refuse(w, http.StatusForbidden, "wrong bearer token")
		return false
	}
	return true
}

// gcBody reads {"percent": N}: N a whole number from -1 to MaxGCPercent, no other field.
func gcBody(body io.Reader) (int, error) {
	raw, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		return 0, fmt.Errorf("body: %v", err)
	}
	if len(raw) > maxBody {
		return 0, fmt.Errorf("body: expected at most %d bytes", maxBody)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return 0, fmt.Errorf(`body: expected a JSON object like {"percent": 400}, got %q`, shorten(raw))
	}
	for name := range fields {
		if name != "percent" {
			return 0, fmt.Errorf("unknown field `%s`, expected `percent`", name)
		}
	}
	value, ok := fields["percent"]
	if !ok {
		return 0, fmt.Errorf("percent: missing; expected a whole number from -1 (off) to %d", MaxGCPercent)
	}
	var percent int
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&percent); err != nil || percent < -1 || percent > MaxGCPercent {
		return 0, fmt.Errorf("percent: expected a whole number from -1 (off) to %d, got %s", MaxGCPercent, shorten(value))
	}
	return percent, nil
}

func shorten(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

func answer(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func refuse(w http.ResponseWriter, status int, message string) {
	answer(w, status, map[string]string{"error": message})
}
