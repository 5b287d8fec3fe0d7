package journal_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/kjournal/kjournal/journal"
)

func TestFormatExpireAfter(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "1 day"},
		{48 * time.Hour, "2 days"},
		{36 * time.Hour, "36 hours"},
		{time.Hour, "1 hour"},
		{2 * time.Minute, "2 minutes"},
		{90 * time.Second, "90 seconds"},
		{time.Second, "1 second"},
		{500 * time.Millisecond, "500 milliseconds"},
		{1500 * time.Millisecond, "1500 milliseconds"},
		{time.Millisecond, "1 millisecond"},
		{time.Microsecond, "1 microsecond"},
		{1001 * time.Microsecond, "1001 microseconds"},
		{time.Nanosecond, "1 nanosecond"},
		{7, "7 nanoseconds"},
		{-24 * time.Hour, "-1 days"}, // Scala: singular only for exactly 1
		{0, "0 days"},
		{math.MaxInt64, "9223372036854775807 nanoseconds"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			if got := journal.FormatExpireAfter(c.d); got != c.want {
				t.Errorf("FormatExpireAfter(%v) = %q, want %q", c.d, got, c.want)
			}
			back, err := journal.ParseExpireAfter(c.want)
			if err != nil || back != c.d {
				t.Errorf("ParseExpireAfter(%q) = %v, %v", c.want, back, err)
			}
		})
	}
}

func TestParseExpireAfter(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"1 day", 24 * time.Hour},
		{"1d", 24 * time.Hour},
		{"3 days", 72 * time.Hour},
		{"2h", 2 * time.Hour},
		{"2 hr", 2 * time.Hour},
		{"2hrs", 2 * time.Hour},
		{"2 hours", 2 * time.Hour},
		{"5m", 5 * time.Minute},
		{"5 min", 5 * time.Minute},
		{"5 mins", 5 * time.Minute},
		{"5 minute", 5 * time.Minute},
		{"10s", 10 * time.Second},
		{"10 sec", 10 * time.Second},
		{"10 secs", 10 * time.Second},
		{"10 seconds", 10 * time.Second},
		{"500ms", 500 * time.Millisecond},
		{"500 milli", 500 * time.Millisecond},
		{"500 millis", 500 * time.Millisecond},
		{"500 milliseconds", 500 * time.Millisecond},
		{"7µs", 7 * time.Microsecond},
		{"7 micros", 7 * time.Microsecond},
		{"7 microseconds", 7 * time.Microsecond},
		{"9ns", 9},
		{"9 nanos", 9},
		{"9 nanosecond", 9},
		{" 1 . 5 s ", 1500 * time.Millisecond}, // whitespace anywhere is dropped
		{"1.5h", 90 * time.Minute},
		{"+2 s", 2 * time.Second},
		{"-2 s", -2 * time.Second},
		{"1e3 ms", time.Second},
		{"0.5ns", 1}, // rounded half up, as Math.round
		{"106751 days", 106751 * 24 * time.Hour},
		{"9223372036854775807 nanoseconds", math.MaxInt64},
		{"9223372036854775807ns", math.MaxInt64},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := journal.ParseExpireAfter(c.in)
			if err != nil || got != c.want {
				t.Errorf("ParseExpireAfter(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
}

func TestParseExpireAfter_Invalid(t *testing.T) {
	for _, in := range []string{
		"", "1", "day", "1 fortnight", "1 Day", "1 DAYS", "Inf", "+Inf", "-Inf", "MinusInf", "Undefined",
		"1_000 ms", "1,5 s", "x s", "107000 days", "1e30 ns", "-9223372036854775808 ns", "NaN s",
	} {
		t.Run(in, func(t *testing.T) {
			if d, err := journal.ParseExpireAfter(in); !errors.Is(err, journal.ErrInvalidDuration) {
				t.Errorf("ParseExpireAfter(%q) = %v, %v; want ErrInvalidDuration", in, d, err)
			}
		})
	}
}
