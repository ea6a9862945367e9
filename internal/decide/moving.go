package decide

import (
	"github.com/floodgate-go/floodgate/limit"
)

// Log is one key's moving-window state at one instant, summarized for a
// decision: the time At at which the key is judged (the reading, or the
// newest entry's time when that is later, so that a clock moved back
// grants no fresh burst), the units counting at At before the request
// (entries at t with t + P > At), and the newest entry's time. For a
// denial it also carries Free, the time of the oldest entry whose expiry
// lets the cost fit. Times are nanoseconds.
type Log struct {
	At   uint64 // the time the key is judged at, ≥ the reading
	Sum  uint64 // units counting at At, before the request
	Last uint64 // the newest entry's time; meaningful when Sum > 0
	// Free is, for a denial of a cost that fits the count, the time of
	// the oldest entry whose expiry frees enough units; HasFree reports
	// whether it is known.
	Free    uint64
	HasFree bool
}

// Fits reports whether cost n fits under count cnt: whether Sum + n ≤
// cnt. A cost above cnt never fits.
func (lg Log) Fits(n, cnt uint64) bool { return n <= cnt && lg.Sum+n <= cnt }

// Decide returns the Decision for cost n under l read at now (≤ lg.At);
// allowed reports whether n was (or, for a peek, would be) counted at
// lg.At. The waits count from now, so they include lg.At − now when the
// clock stepped back, and saturate at limit.Never. With allowed false it
// describes the log without n, and RetryAfter is the least wait after
// which n fits, 0 when it fits now. Fits is monotone in time: the judged
// time max(reading, newest entry) only grows, and an entry that stopped
// counting never counts again.
func (lg Log) Decide(allowed bool, n, now uint64, l limit.Limit) limit.Decision {
	cnt, p := uint64(l.Count()), uint64(l.Period())
	sum, last := lg.Sum, lg.Last
	if allowed {
		sum, last = sum+n, lg.At
	}
	d := limit.Decision{Allowed: allowed, Limit: l, Remaining: int64(cnt - min(sum, cnt))}
	if sum > 0 {
		d.ResetAfter = Until(last+p, now)
	}
	if !allowed {
		switch {
		case lg.Fits(n, cnt):
			// Allowed now: a limit that allows within a call that another
			// limit denies.
		case n > cnt || !lg.HasFree:
			d.RetryAfter = limit.Never
		default:
			d.RetryAfter = Until(lg.Free+p, now)
		}
	}
	return d
}
