// Package limit is Floodgate's shared vocabulary: the [Limit] value type,
// its constructors, the parser and formatter for strings such as
// "5/minute" or "10/second;1000/day", the [Strategy] names, and the
// [Decision] that every backend returns.
//
// # Grammar
//
// One limit is a count, a separator and a period, with optional spaces
// anywhere between the parts and around the whole:
//
//	limit  = count ( "/" | "per" ) [ multiplier ] unit
//	count  = digits      1 ≤ count ≤ MaxCount
//	multiplier = digits  ≥ 1, and multiplier×unit ≤ MaxPeriod
//	unit   = ( "second" | "minute" | "hour" | "day" | "month" | "year" ) [ "s" ]
//
// Words are case-insensitive. A month is 30 days and a year is 360 days,
// as in the Python limits library. Several limits are joined by ";", ","
// or "|": "10/second;1000/day", "100/day, 500/7days". Empty items,
// fractions, signs, unknown units ("1/sec", "1/week") and trailing text
// ("1/second 2/minute") are rejected with an error that quotes the
// offending part and wraps [ErrInvalid].
//
// [Limit.String] prints the canonical form, which parses back to an equal
// Limit: "5/minute", "1/2 seconds", "500/7 days".
//
// # Periods
//
// A period is a whole number of milliseconds from one millisecond to
// [MaxPeriod]. The grammar, that of the Python limits library, only
// reaches whole seconds; shorter or fractional periods, such as the
// 500 ms that other Go limiters' store interfaces pass, come from
// New(10, 500*time.Millisecond). Such a limit prints as "10/500ms",
// which does not parse, and has no text encoding.
//
// # Text encoding
//
// [Limit] is an [encoding.TextMarshaler] and [encoding.TextUnmarshaler],
// so limits come from JSON, YAML, environment values and flags
// ([flag.TextVar]). MarshalText writes the canonical String;
// UnmarshalText accepts one limit in any form of the grammar, such as
// "5 per minute". The zero Limit, an unset field, is empty text both
// ways, so that a configuration holding one still encodes and flag.TextVar
// accepts it as a default; check [Limit.Valid] where a limit is required.
// A limit that the grammar cannot express (one with a burst, or a period
// that is not a whole number of seconds) does not marshal: MarshalText
// fails with an error wrapping [ErrInvalid] instead of dropping a part.
//
// # Concurrency
//
// Every type here is an immutable value, safe to copy and to share
// between goroutines.
package limit
