package floodgate

// ErrNeverAllowed is Wait's error for a request no wait can admit,
// exported to this package's external tests only.
var ErrNeverAllowed = errNeverAllowed
