package floodgate

import (
	"fmt"
	"net/url"
)

// openRedis opens a Redis store. Until package redisstore lands, Redis
// URIs are refused with a clear message.
func openRedis(u *url.URL) (*Limiter, error) {
	return nil, fmt.Errorf("%w: %s:// storage is not available in this build yet; use memory://", ErrURI, u.Scheme)
}
