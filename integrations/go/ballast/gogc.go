package ballast

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

var gogc struct {
	sync.Mutex
	percent int
}

func init() {
	gogc.percent = parseGOGC(os.Getenv("GOGC"))
}

// parseGOGC reads GOGC as the runtime does: "off" is -1, a number is itself, anything else
// (or nothing) is the default, 100.
func parseGOGC(value string) int {
	value = strings.TrimSpace(value)
	if value == "off" {
		return -1
	}
	if n, err := strconv.Atoi(value); err == nil {
		if n < 0 {
			return -1
		}
		return n
	}
	return 100
}

// GCPercent is the GOGC percent in force (-1: the collector is off), as far as this package
// knows: GOGC at start and every change since through SetGCPercent or AdminHandler.
func GCPercent() int {
	gogc.Lock()
	defer gogc.Unlock()
	return gogc.percent
}

// SetGCPercent calls debug.SetGCPercent(percent), remembers it for go_gogc and returns the
// previous setting (the runtime's, not this package's record of it).
func SetGCPercent(percent int) int {
	gogc.Lock()
	defer gogc.Unlock()
	previous := debug.SetGCPercent(percent)
	if percent < 0 {
		percent = -1
	}
	gogc.percent = percent
	return previous
}
