package httplimit

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/floodgate-go/floodgate/internal/decide"
	"github.com/floodgate-go/floodgate/limit"
)

// check is one scope of limits: the counters it names and the header and
// body strings precomputed for each of its limits.
type check struct {
	scope  string // the storage key after its client, such as "r:POST /login"
	name   string // policy name in the IETF headers
	limits []limit.Limit
	pols   []policy
}

// policy holds the constant strings of one limit's responses.
type policy struct {
	l          limit.Limit
	count      string // X-RateLimit-Limit
	ietfPolicy string // RateLimit-Policy
	ietfPrefix string // RateLimit, up to the r= value
	body       []byte // default 429 body
	neverBody  []byte // default 429 body when the cost exceeds the limit
}

// route is one route's checks.
type route struct {
	own        *check // nil: no static limits
	shared     []*check
	cost       func(*http.Request) int64
	dynamic    func(*http.Request) []limit.Limit
	key        Key
	ownKey     bool // key replaces the Middleware's
	perPattern bool // default route and Limit: the pattern is part of the key
	also       []alsoCheck
	countWhen  func(status int) bool
	shadow     bool
	denied     func(http.ResponseWriter, *http.Request, limit.Decision) // nil: the Middleware's
}

// alsoCheck is a route's limits counted under a key of their own.
type alsoCheck struct {
	ch  *check
	key Key
}

// newCheck parses limits for a scope; it returns nil for an empty string.
func newCheck(scope, name, limits string) (*check, error) {
	if strings.TrimSpace(limits) == "" {
		return nil, nil
	}
	ls, err := limit.ParseMany(limits)
	if err != nil {
		return nil, configError("%s: %w", name, err)
	}
	c := &check{scope: scope, name: name, limits: ls}
	for _, l := range ls {
		c.pols = append(c.pols, c.newPolicy(l))
	}
	return c, nil
}

func (c *check) newPolicy(l limit.Limit) policy {
	name := c.name
	if len(c.limits) > 1 {
		name += " " + l.String()
	}
	q := quoteSF(name)
	count := strconv.FormatInt(l.Count(), 10)
	return policy{
		l:          l,
		count:      count,
		ietfPolicy: q + ";q=" + count + ";w=" + strconv.FormatInt(decide.CeilSeconds(l.Period()), 10),
		ietfPrefix: q + ";r=",
		body:       []byte(`{"error":"rate limit exceeded: ` + l.Human() + "\"}\n"),
		neverBody:  []byte(`{"error":"request cost exceeds the limit, so no retry can succeed: ` + l.Human() + "\"}\n"),
	}
}

// policy returns the precomputed strings for l, computing them for limits
// chosen at request time.
func (c *check) policy(l limit.Limit, dynamic bool) *policy {
	if !dynamic {
		for i := range c.pols {
			if c.pols[i].l == l {
				return &c.pols[i]
			}
		}
	}
	d := &check{name: c.name, limits: c.limits}
	p := d.newPolicy(l)
	return &p
}

// quoteSF writes s as a structured-field string, dropping bytes that one
// cannot hold.
func quoteSF(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= ' ' && c <= '~':
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// newRoute builds a route from its spec; scope prefixes its counters.
// Shared budgets are looked up in each of tables, and a new one is added
// to the first.
func newRoute(s *routeSpec, scope string, perPattern bool, tables ...map[string]*check) (*route, error) {
	for _, o := range s.opts {
		o.applyRoute(s)
	}
	name := s.pattern
	rt := &route{cost: s.cost, dynamic: s.dynamic, key: s.key, ownKey: s.keySet, perPattern: perPattern,
		countWhen: s.countWhen, shadow: s.shadow, denied: s.denied}
	var err error
	if rt.own, err = newCheck(scope, name, s.limits); err != nil {
		return nil, err
	}
	if rt.own == nil && s.dynamic != nil {
		rt.own = &check{scope: scope, name: name}
	}
	for _, sh := range s.shared {
		c, err := sharedCheck(name, sh, tables)
		if err != nil {
			return nil, err
		}
		rt.shared = append(rt.shared, c)
	}
	seen := map[string]bool{}
	for _, a := range s.also {
		if a.name == "" || seen[a.name] {
			return nil, configError("%s: AlsoBy needs a name of its own, got %q", name, a.name)
		}
		seen[a.name] = true
		ac, err := newCheck(scope+"|"+a.name+":", name+" by "+a.name, a.limits)
		if err != nil {
			return nil, err
		}
		if ac == nil {
			return nil, configError("%s: AlsoBy(%q) has no limits", name, a.name)
		}
		rt.also = append(rt.also, alsoCheck{ch: ac, key: a.key})
	}
	if rt.own == nil && len(rt.shared) == 0 && len(rt.also) == 0 {
		return nil, configError("%s: no limits", name)
	}
	return rt, nil
}

// sharedCheck returns the budget of Shared(sh.name, sh.limits), made on
// its first declaration, in tables; a later one must give the same
// limits. It records the budget in tables[0], the declarer's: a
// configuration's, or the Middleware's for Limit, which Reload checks.
// The caller holds Middleware.mu.
func sharedCheck(route string, sh sharedSpec, tables []map[string]*check) (*check, error) {
	if sh.name == "" {
		return nil, configError("%s: Shared with an empty name", route)
	}
	c, err := newCheck("s:"+sh.name, sh.name, sh.limits)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, configError("%s: Shared(%q) has no limits", route, sh.name)
	}
	for _, t := range tables {
		if prev := t[sh.name]; prev != nil {
			if !slices.Equal(prev.limits, c.limits) {
				return nil, configError("%s: Shared(%q, %q): the budget was declared with other limits (%s)",
					route, sh.name, sh.limits, prev.limits)
			}
			c = prev
			break
		}
	}
	tables[0][sh.name] = c // the declarer's table holds each budget it declared
	return c, nil
}
