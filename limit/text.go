package limit

import "fmt"

// MarshalText implements [encoding.TextMarshaler]. It returns the
// canonical form that [Limit.String] prints, such as "5/minute", which
// [Limit.UnmarshalText] and [Parse] turn back into l. The zero Limit
// marshals as empty text.
//
// It fails with an error wrapping [ErrInvalid] when the grammar cannot
// express l: when l has a burst other than its count (see
// [Limit.WithBurst]), or a period that is not a whole number of seconds
// (see [New]). Such a limit is never written without the part that the
// grammar lacks.
func (l Limit) MarshalText() ([]byte, error) {
	switch {
	case !l.Valid():
		return []byte{}, nil
	case !l.wholeSeconds():
		return nil, fmt.Errorf("%w: %s has a period of %s, not a whole number of seconds", ErrInvalid, l, l.period)
	case l.burst != 0:
		return nil, fmt.Errorf("%w: %s has a burst of %d, which the grammar cannot express", ErrInvalid, l, l.burst)
	}
	return []byte(l.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler]. It parses exactly
// one limit with [Parse], so it accepts every form of the grammar ("5 per
// minute", "1/2 seconds"), and empty text, which sets the zero Limit that
// [Limit.MarshalText] writes as empty: check [Limit.Valid] where a limit
// is required. On error it leaves *l unchanged and returns Parse's error,
// which wraps ErrInvalid.
func (l *Limit) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*l = Limit{}
		return nil
	}
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
