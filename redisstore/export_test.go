package redisstore

// Options that URI parameters set, exported to this package's external
// tests only: with WithEvaler there is no URI to carry them, and a
// logger has no URI form at all.
var (
	WithPrefix  = withPrefix
	WithTimeout = withTimeout
	WithLogger  = withLogger
)
