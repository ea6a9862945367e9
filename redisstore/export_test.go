package redisstore

// The options that URI parameters set, exported to this package's
// external tests only, which need them with a store of their own
// (WithEvaler, WithClient) or to set what a URI spells differently.
var (
	WithStrategy    = withStrategy
	WithPrefix      = withPrefix
	WithTimeout     = withTimeout
	WithDialTimeout = withDialTimeout
	WithPoolSize    = withPoolSize
	WithLogger      = withLogger
)
