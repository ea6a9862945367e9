package main

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/floodgate-go/floodgate/httplimit"
	fgprom "github.com/floodgate-go/floodgate/prometheus"
)

// The limits file (-limits-file) changes limits without a restart: the
// demo reads it at start-up and again on each SIGHUP, and applies it with
// httplimit's Middleware.Reload. One entry a line, NAME=LIMITS, where
// NAME is a route's ServeMux pattern (as -route takes it) or the name of
// a limit flag without its dash; blank lines and lines starting with #
// are ignored:
//
//	# floodgate-demo limits
//	auth-limit=10/minute
//	account-limit=50/hour
//	GET /api/v1/groups=100/minute;2000/hour
//
// An entry replaces the flag's (or -route's) value; a line removed from
// the file gives the route back its flag's value at the next reload. A
// file that cannot be read or holds a bad line, limit or route stops
// start-up; on SIGHUP it is logged at Error, naming the problem, and the
// limits in force stay. Counts carry over for every limit that is
// unchanged; a limit whose count changes starts a fresh count.

// fileLimits are the names of limit flags a limits file may set.
var fileLimits = map[string]func(*config) *string{
	"auth-limit":    func(c *config) *string { return &c.authLimit },
	"account-limit": func(c *config) *string { return &c.accountLimit },
	"me-limit":      func(c *config) *string { return &c.meLimit },
	"read-limit":    func(c *config) *string { return &c.readLimit },
	"write-limit":   func(c *config) *string { return &c.writeLimit },
}

// withLimitsFile returns c with the entries of its limits file applied,
// or c itself when there is none.
func withLimitsFile(c config) (config, error) {
	if c.limitsFile == "" {
		return c, nil
	}
	b, err := os.ReadFile(c.limitsFile)
	if err != nil {
		return c, fmt.Errorf("-limits-file: %w", err)
	}
	c.fileRoutes = map[string]string{}
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		j := strings.LastIndexByte(line, '=')
		if j < 0 {
			return c, fmt.Errorf("-limits-file %s, line %d: %q: want NAME=LIMITS, such as 'auth-limit=5/minute' or 'GET /api/v1/groups=100/minute'", c.limitsFile, i+1, line)
		}
		name, limits := strings.TrimSpace(line[:j]), strings.TrimSpace(line[j+1:])
		if seen[name] {
			return c, fmt.Errorf("-limits-file %s, line %d: %q is set twice", c.limitsFile, i+1, name)
		}
		seen[name] = true
		switch field := fileLimits[name]; {
		case field != nil:
			*field(&c) = limits
		case strings.Contains(name, "/"):
			c.fileRoutes[name] = limits
		default:
			return c, fmt.Errorf("-limits-file %s, line %d: %q is neither a route pattern nor one of %s",
				c.limitsFile, i+1, name, strings.Join(slices.Sorted(maps.Keys(fileLimits)), ", "))
		}
	}
	return c, nil
}

// reloadOnHangup reloads m's limits from base's limits file, applied to
// base, on each SIGHUP, until the returned function is called. Without a
// limits file it does nothing, and SIGHUP keeps its default action.
func reloadOnHangup(m *httplimit.Middleware, base config, metrics *fgprom.Collector, log *slog.Logger) (stop func()) {
	if base.limitsFile == "" {
		return func() {}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-hup:
				reloadLimits(m, base, metrics, log)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(quit)
		<-done
	}
}

// reloadLimits applies base's limits file to m and logs the outcome.
func reloadLimits(m *httplimit.Middleware, base config, metrics *fgprom.Collector, log *slog.Logger) {
	c, err := withLimitsFile(base)
	if err == nil {
		var opts []httplimit.Option
		if opts, err = limiterOptions(c, metrics, log); err == nil {
			err = m.Reload(opts...)
		}
	}
	if err != nil {
		log.Error("floodgate-demo: limits not reloaded; the limits in force stay", "file", base.limitsFile, "error", err)
		return
	}
	log.Info("floodgate-demo: limits reloaded", "file", base.limitsFile, "limits", describeLimits(c))
}

// describeLimits lists c's limits for the reload's log line.
func describeLimits(c config) string {
	parts := []string{}
	for _, name := range slices.Sorted(maps.Keys(fileLimits)) {
		parts = append(parts, name+"="+*fileLimits[name](&c))
	}
	for _, p := range slices.Sorted(maps.Keys(c.fileRoutes)) {
		parts = append(parts, p+"="+c.fileRoutes[p])
	}
	return strings.Join(parts, "; ")
}
