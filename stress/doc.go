// Package stress holds no code: its tests are the harness of
// docs/redis.md's bounds under load, bursts, outages and failovers. Each
// test starts real redis-server processes on loopback (a latency proxy,
// SIGSTOP and kill -9 where a row needs them), opens several store
// instances on them with floodgate.Open, and counts what an attacker
// gets: the requests allowed per window, per instance and in all, and
// the innocent requests denied. Only the limiter's clock is fake: every
// store judges at one clock.Manual (Redis through internal/seam), so no
// window turns during a row, while Redis's latency, its death and its
// restart are real. The tests bound counts, never durations.
//
// go test -short skips the Sentinel failover, the longest row.
package stress
