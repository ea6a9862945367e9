package floodgate

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/floodgate-go/floodgate/engine"
	"github.com/floodgate-go/floodgate/limit"
)

// memoryBackend adapts an engine.Engine; it never fails.
type memoryBackend struct{ e *engine.Engine }

func (m memoryBackend) allow(_ context.Context, key string, n int64, ls []limit.Limit) (limit.Decision, error) {
	return m.e.AllowN(key, n, ls...), nil
}

func (m memoryBackend) peek(_ context.Context, key string, ls []limit.Limit) (limit.Decision, error) {
	return m.e.Peek(key, ls...), nil
}

func (m memoryBackend) reset(_ context.Context, key string, ls []limit.Limit) error {
	m.e.Reset(key, ls...)
	return nil
}

func (m memoryBackend) close() error { return m.e.Close() }

// memoryOptions reads the query options of a memory:// URI.
func memoryOptions(q url.Values) ([]engine.Option, error) {
	var opts []engine.Option
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "strategy":
			s, ok := limit.ParseStrategy(v)
			if !ok {
				return nil, fmt.Errorf("%w: unknown strategy %q", ErrURI, v)
			}
			opts = append(opts, engine.WithStrategy(s))
		case "max-keys":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: max-keys=%q is not a non-negative integer", ErrURI, v)
			}
			opts = append(opts, engine.WithMaxKeys(n))
		default:
			return nil, fmt.Errorf("%w: unknown memory:// option %q", ErrURI, k)
		}
	}
	return opts, nil
}
