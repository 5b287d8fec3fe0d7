package journal

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ExpireAfter travels as the string Scala's FiniteDuration.toString
// produces ("1 day", "2 minutes", "500 milliseconds"); readers also accept a
// number of milliseconds.

var durationUnits = [...]struct {
	d    time.Duration
	name string
}{
	{24 * time.Hour, "day"},
	{time.Hour, "hour"},
	{time.Minute, "minute"},
	{time.Second, "second"},
	{time.Millisecond, "millisecond"},
	{time.Microsecond, "microsecond"},
	{time.Nanosecond, "nanosecond"},
}

// scalaDurationLabels maps every unit spelling Scala's Duration parser
// accepts (scala.concurrent.duration.Duration.timeUnit) to its unit.
var scalaDurationLabels = func() map[string]time.Duration {
	labels := []struct {
		d     time.Duration
		names string // first name has no plural form
	}{
		{24 * time.Hour, "d day"},
		{time.Hour, "h hr hour"},
		{time.Minute, "m min minute"},
		{time.Second, "s sec second"},
		{time.Millisecond, "ms milli millisecond"},
		{time.Microsecond, "µs micro microsecond"},
		{time.Nanosecond, "ns nano nanosecond"},
	}
	m := make(map[string]time.Duration)
	for _, l := range labels {
		for i, n := range strings.Fields(l.names) {
			m[n] = l.d
			if i > 0 {
				m[n+"s"] = l.d
			}
		}
	}
	return m
}()

// FormatExpireAfter formats d as Scala's FiniteDuration.toString does for
// the same duration in its coarsest exact unit (what Scala builds when it
// parses a duration, and what "1.day" prints): "1 day", "36 hours",
// "1500 milliseconds". The unit is singular only when the length is 1.
func FormatExpireAfter(d time.Duration) string {
	if d == 0 {
		return "0 days" // Duration.Zero
	}
	for _, u := range durationUnits {
		if d%u.d == 0 {
			n := int64(d / u.d)
			s := strconv.FormatInt(n, 10) + " " + u.name
			if n != 1 {
				s += "s"
			}
			return s
		}
	}
	panic("unreachable")
}

// ParseExpireAfter parses a finite duration the way Scala's
// Duration.apply(String) does: whitespace anywhere is ignored, the value is
// a decimal (or Java hexadecimal floating point) number followed by one of
// the unit labels d, day(s), h, hr(s), hour(s), m, min(s), minute(s), s,
// sec(s), second(s), ms, milli(s), millisecond(s), µs, micro(s),
// microsecond(s), ns, nano(s), nanosecond(s). Fractions are rounded to the
// nearest nanosecond. Infinite and out-of-range durations are errors that
// wrap ErrInvalidDuration.
func ParseExpireAfter(s string) (time.Duration, error) {
	fail := func(reason string) (time.Duration, error) {
		return 0, &DecodeError{Err: ErrInvalidDuration, Offset: -1, Reason: strconv.Quote(s) + ": " + reason}
	}
	s1 := strings.Map(func(r rune) rune {
		if isJavaWhitespace(r) {
			return -1
		}
		return r
	}, s)
	unitStart := len(s1)
	for unitStart > 0 {
		r, size := utf8.DecodeLastRuneInString(s1[:unitStart])
		if !unicode.IsLetter(r) {
			break
		}
		unitStart -= size
	}
	unit, ok := scalaDurationLabels[s1[unitStart:]]
	if !ok {
		return fail("unknown or missing time unit")
	}
	valueStr := s1[:unitStart]
	if strings.ContainsRune(valueStr, '_') {
		return fail("invalid number") // Go accepts digit separators, Java does not
	}
	v, err := strconv.ParseFloat(valueStr, 64)
	if err != nil && !isRangeErr(err) {
		return fail("invalid number")
	}
	const maxPreciseDouble = 1 << 53
	if v >= -maxPreciseDouble && v <= maxPreciseDouble {
		nanos := float64(unit) * v
		if math.IsNaN(nanos) || nanos > math.MaxInt64 || nanos < math.MinInt64 {
			return fail("out of range")
		}
		r := math.Floor(nanos + 0.5) // Java Math.round
		var n int64
		switch {
		case r >= math.MaxInt64: // 2^63 as a float64
			n = math.MaxInt64
		case r <= math.MinInt64:
			n = math.MinInt64
		default:
			n = int64(r)
		}
		if n == math.MinInt64 { // FiniteDuration's range is ±(2^63-1) ns
			return fail("out of range")
		}
		return time.Duration(n), nil
	}
	n, err := strconv.ParseInt(valueStr, 10, 64)
	if err != nil {
		return fail("out of range")
	}
	limit := int64(math.MaxInt64 / unit)
	if n > limit || n < -limit {
		return fail("out of range")
	}
	return time.Duration(n) * unit, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// isJavaWhitespace is java.lang.Character.isWhitespace.
func isJavaWhitespace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f:
		return true
	case 0xa0, 0x2007, 0x202f:
		return false
	}
	return unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

// durationFromMillis is the number form of expireAfter (play-json Long
// millis; FiniteDuration rejects values beyond ±(2^63-1) ns).
func durationFromMillis(ms int64) (time.Duration, bool) {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	if ms > limit || ms < -limit {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}
