package redisstore_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-go/floodgate/internal/storetest"
	"github.com/floodgate-go/floodgate/limit"
	"github.com/floodgate-go/floodgate/redisstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run the store against each Redis topology its
// URIs name, for real: a unix socket, TLS (one-way and mutual), a master
// with a replica behind Sentinel through a failover, and a cluster that
// loses a master.

// openURI opens a store on uri and closes it when t ends.
func openURI(t *testing.T, uri string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(uri, opts...)
	require.NoError(t, err, "Open(%q)", uri)
	t.Cleanup(func() { s.Close() })
	return s
}

// requireFiveThenDenied checks that s allows key exactly 5 requests of
// 5/minute and denies the 6th, every decision made by Redis.
func requireFiveThenDenied(t *testing.T, s *redisstore.Store, key string) {
	t.Helper()
	ctx := context.Background()
	l := limit.MustParse("5/minute")
	for i := 1; i <= 5; i++ {
		d, err := s.AllowN(ctx, key, 1, l)
		require.NoError(t, err, "AllowN(%q, 1, 5/minute) #%d returned an error, want a decision by Redis", key, i)
		assert.True(t, d.Allowed, "AllowN(%q, 1, 5/minute) #%d = %+v, want allowed", key, i, d)
		assert.EqualValues(t, 5-i, d.Remaining, "AllowN(%q, 1, 5/minute) #%d: Remaining", key, i)
	}
	d, err := s.AllowN(ctx, key, 1, l)
	require.NoError(t, err, "AllowN(%q, 1, 5/minute) #6 returned an error, want a decision by Redis", key)
	assert.False(t, d.Allowed, "AllowN(%q, 1, 5/minute) #6 = %+v, want denied", key, d)
	assert.Positive(t, d.RetryAfter, "AllowN(%q, 1, 5/minute) #6: RetryAfter", key)
}

// TestTopologyUnix runs decisions over a unix socket to a redis-server
// that listens on no TCP port.
func TestTopologyUnix(t *testing.T) {
	r := storetest.StartUnix(t)
	uri := "redis+unix://" + r.Sock + "?prefix=unix:&timeout=2s&failure=closed"
	s := openURI(t, uri)
	requireFiveThenDenied(t, s, "user 1")
	assert.Equal(t, "1", r.CLI(t, "EXISTS", "unix:{user 1}:s:5/60"),
		"EXISTS of the counter in the server behind %s", r.Sock)

	t.Run("db", func(t *testing.T) {
		s := openURI(t, "redis+unix://"+r.Sock+"?db=3&prefix=unixdb:&timeout=2s&failure=closed")
		requireFiveThenDenied(t, s, "user 1")
		assert.Equal(t, "1", r.CLI(t, "-n", "3", "EXISTS", "unixdb:{user 1}:s:5/60"),
			"EXISTS in db 3 of the key written through ?db=3")
		assert.Equal(t, "0", r.CLI(t, "-n", "0", "EXISTS", "unixdb:{user 1}:s:5/60"),
			"EXISTS in db 0 of the key written through ?db=3")
	})
}

// TestTopologyTLS runs decisions over TLS with certificates made by the
// test: the right CA works, a wrong CA or a missing client certificate is
// refused with an error that says why.
func TestTopologyTLS(t *testing.T) {
	certs := storetest.NewCerts(t)
	wrong := storetest.NewCerts(t) // another CA, which did not sign the server's certificate
	oneWay := storetest.StartTLS(t, certs, false)
	mutual := storetest.StartTLS(t, certs, true)
	base := func(r *storetest.Redis, prefix string) string {
		return "rediss://" + r.Addr() + "?prefix=" + prefix + ":&timeout=2s&failure=closed"
	}

	t.Run("right CA", func(t *testing.T) {
		s := openURI(t, base(oneWay, "ok"), redisstore.WithTLSConfig(certs.ClientConfig(false)))
		requireFiveThenDenied(t, s, "user 1")
		assert.Equal(t, "1", oneWay.CLI(t, "EXISTS", "ok:{user 1}:s:5/60"), "EXISTS of the key written over TLS")
	})

	t.Run("right CA without ServerName", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: certs.Pool, MinVersion: tls.VersionTLS12} // ServerName comes from the address
		s := openURI(t, base(oneWay, "nosni"), redisstore.WithTLSConfig(cfg))
		requireFiveThenDenied(t, s, "user 1")
	})

	t.Run("wrong CA", func(t *testing.T) {
		s, errs := openRecording(t, base(oneWay, "bad"), redisstore.WithTLSConfig(wrong.ClientConfig(false)))
		requireRefused(t, s, errs, "x509", "certificate")
	})

	t.Run("system roots", func(t *testing.T) {
		// The default rediss:// config trusts the system roots, which did
		// not sign the test CA.
		s, errs := openRecording(t, base(oneWay, "sys"))
		requireRefused(t, s, errs, "x509", "certificate")
	})

	t.Run("ssl_cert_reqs", func(t *testing.T) {
		s := openURI(t, base(oneWay, "none")+"&ssl_cert_reqs=none")
		requireFiveThenDenied(t, s, "user 1")
		for _, v := range []string{"required", "optional"} {
			t.Run(v, func(t *testing.T) {
				s, errs := openRecording(t, base(oneWay, v)+"&ssl_cert_reqs="+v)
				requireRefused(t, s, errs, "x509", "certificate")
			})
		}
		for _, uri := range []string{
			base(oneWay, "x") + "&ssl_cert_reqs=sometimes",
			"redis://" + oneWay.Addr() + "?ssl_cert_reqs=none",
		} {
			_, err := redisstore.Open(uri)
			assert.ErrorIs(t, err, redisstore.ErrURI, "Open(%q)", uri)
			assert.ErrorContains(t, err, "ssl_cert_reqs", "Open(%q)", uri)
		}
	})

	t.Run("mutual", func(t *testing.T) {
		t.Run("client certificate", func(t *testing.T) {
			s := openURI(t, base(mutual, "mtls"), redisstore.WithTLSConfig(certs.ClientConfig(true)))
			requireFiveThenDenied(t, s, "user 1")
		})
		// With TLS 1.2 the server refuses a client certificate inside
		// the handshake, so the client reads the server's alert. With
		// TLS 1.3 the client's handshake ends before the server checks
		// its certificate: the alert ("certificate required") and the
		// server's reset to the client's first write race, so the error
		// names one or the other.
		tls13 := []string{"certificate", "connection reset", "broken pipe", "EOF"}
		t.Run("no client certificate", func(t *testing.T) {
			t.Run("TLS 1.2", func(t *testing.T) {
				cfg := certs.ClientConfig(false)
				cfg.MaxVersion = tls.VersionTLS12
				s, errs := openRecording(t, base(mutual, "nocert12"), redisstore.WithTLSConfig(cfg))
				requireRefused(t, s, errs, "remote error: tls: handshake failure")
			})
			t.Run("TLS 1.3", func(t *testing.T) {
				s, errs := openRecording(t, base(mutual, "nocert13"), redisstore.WithTLSConfig(certs.ClientConfig(false)))
				requireRefused(t, s, errs, tls13...)
			})
		})
		t.Run("client certificate of another CA", func(t *testing.T) {
			t.Run("TLS 1.2", func(t *testing.T) {
				cfg := certs.ClientConfig(false)
				cfg.Certificates = []tls.Certificate{wrong.Client}
				cfg.MaxVersion = tls.VersionTLS12
				s, errs := openRecording(t, base(mutual, "othercert12"), redisstore.WithTLSConfig(cfg))
				requireRefused(t, s, errs, "remote error: tls: unknown certificate authority")
			})
			t.Run("TLS 1.3", func(t *testing.T) {
				cfg := certs.ClientConfig(false)
				cfg.Certificates = []tls.Certificate{wrong.Client}
				s, errs := openRecording(t, base(mutual, "othercert13"), redisstore.WithTLSConfig(cfg))
				requireRefused(t, s, errs, tls13...)
			})
		})
	})
}

// errLog records the errors a store hands to its error handler.
type errLog chan error

func openRecording(t *testing.T, uri string, opts ...redisstore.Option) (*redisstore.Store, errLog) {
	t.Helper()
	errs := make(errLog, 64)
	opts = append(opts, redisstore.WithErrorHandler(func(err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	return openURI(t, uri, opts...), errs
}

// requireRefused checks that a decision on s fails with ErrUnavailable,
// denies (the stores are fail-closed), and that the error names why,
// containing one of words: on the decision's error itself, or else on the
// connection error handed to the error handler.
func requireRefused(t *testing.T, s *redisstore.Store, errs errLog, words ...string) {
	t.Helper()
	d, err := s.AllowN(context.Background(), "user 1", 1, limit.MustParse("5/minute"))
	require.Error(t, err, "AllowN over a refused TLS connection returned %+v and no error, want an error", d)
	assert.ErrorIs(t, err, redisstore.ErrUnavailable, "AllowN over a refused TLS connection")
	assert.False(t, d.Allowed, "AllowN over a refused TLS connection = %+v, want the fail-closed denial", d)
	mentions := func(e error) bool {
		for _, w := range words {
			if strings.Contains(e.Error(), w) {
				return true
			}
		}
		return false
	}
	assert.True(t, mentions(err), "AllowN over a refused TLS connection returned %q, want an error mentioning one of %q", err, words)
	var handled []string
	for done := false; !done; {
		select {
		case e := <-errs:
			handled = append(handled, e.Error())
			done = mentions(e)
		case <-time.After(5 * time.Second):
			done = true
		}
	}
	require.NotEmpty(t, handled, "the error handler got no error within 5s of a refused TLS connection")
	assert.True(t, mentions(errors.New(handled[len(handled)-1])),
		"the error handler got %q, want an error mentioning one of %q", handled, words)
}

// itoa is strconv.Itoa, short.
func itoa(i int) string { return strconv.Itoa(i) }
