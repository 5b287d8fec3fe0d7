package cassandra

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kjournal/kjournal/journal"
)

const (
	// DefaultSegmentSize is the number of seqNrs per journal-table partition for new journals
	// (SegmentSize.default). Each journal keeps the size it was created with in metajournal.
	DefaultSegmentSize = 10000
	// MinSegmentSize is the smallest valid segment size (SegmentSize.min).
	MinSegmentSize = 2

	// Segments is the number of metajournal segments rows are written to (Segments.default).
	Segments = 10000
	// LegacySegments is the number of metajournal segments of rows written by old versions of the
	// original (Segments.old); readers and the replicator look there when a row is not in its
	// Segments-based segment.
	LegacySegments = 100
)

// JournalSegment returns the journal-table segment of seqNr: (seqNr-1)/segmentSize. segmentSize
// must be at least MinSegmentSize.
func JournalSegment(seqNr journal.SeqNr, segmentSize int) int64 {
	return (int64(seqNr) - int64(journal.MinSeqNr)) / int64(segmentSize)
}

// MetaJournalSegment returns the metajournal segment of a journal id for a number of segments:
// abs(int64(javaStringHashCode(javaLowerCase(id))) % segments), exactly as the original's
// SegmentNr.metaJournal computes it on a JVM whose default locale is not Turkish, Azeri or
// Lithuanian.
func MetaJournalSegment(id string, segments int) int64 {
	h := int64(javaStringHashCode(javaLowerCase(id))) % int64(segments)
	if h < 0 {
		h = -h
	}
	return h
}

// javaStringHashCode is java.lang.String.hashCode of s: h = 31*h + c over the UTF-16 code units
// of s, with int32 wrap-around. Invalid UTF-8 bytes count as U+FFFD, as Kafka's
// StringDeserializer would decode them (one replacement per byte; Java may merge a malformed
// multi-byte sequence into one U+FFFD).
func javaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// javaLowerCase is java.lang.String.toLowerCase() for a default locale other than tr, az and lt
// (the locale-independent rules): every code point maps through its simple lowercase mapping,
// except U+0130 (İ), which becomes "i\u0307", and U+03A3 (Σ), which becomes final sigma ς when it
// ends a word (Unicode's Final_Sigma condition evaluated over java.text.BreakIterator's words).
//
// Go's unicode tables (Unicode 15) are newer than Java 17's (Unicode 13): code points that gained
// a lowercase mapping in Unicode 14 or 15 lower-case here and not on a Java 17 JVM. strings.ToLower
// is used only for the common all-ASCII id, where Java and Go agree byte for byte.
func javaLowerCase(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range rs {
		switch r {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(rs, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is Java's ConditionalSpecialCasing.isFinalCased: inside the BreakIterator word that
// contains rs[i], a cased letter precedes it and none follows it.
func finalSigma(rs []rune, i int) bool {
	start, end := javaWord(rs, i)
	if start == i {
		return false
	}
	before := false
	for j := i - 1; j >= start; j-- {
		if javaIsCased(rs[j]) {
			before = true
			break
		}
	}
	if !before {
		return false
	}
	for j := i + 1; j < end; j++ {
		if javaIsCased(rs[j]) {
			return false
		}
	}
	return true
}

// javaWord returns the bounds [start, end) of the java.text.BreakIterator word-instance segment
// that contains rs[i], for a letter at i. It transcribes the JDK's word rules far enough to place
// the boundaries around letters: a segment is a chain of letter runs and digit runs ({word}
// (number word)* {number {post_num}}, or pre_num number ...), letters may be joined by one
// mid-word character (dashes, connector punctuation, U+2027, '"', '\”, '.'), digits by one
// mid-number character ('"', '\”, ',', '.', U+066B), and ignorable characters (Mn, Me, Cf) attach
// to the character before them. The vectors in testdata/cassandra/java-segments.json pin it to a
// real Java 17.
func javaWord(rs []rune, i int) (start, end int) {
	p := 0
	for p < len(rs) {
		q := javaWordEnd(rs, p)
		if i < q {
			return p, q
		}
		p = q
	}
	return i, i + 1
}

type wordClass uint8

const (
	wcOther wordClass = iota
	wcLetter
	wcDigit
)

func javaWordClass(r rune) wordClass {
	switch {
	case r >= 0x3005 && r <= 0x3005, r >= 0x4E00 && r <= 0x9FA5, r >= 0xF900 && r <= 0xFA2D, // kanji
		r >= 0x3099 && r <= 0x309C, r >= 0x30A1 && r <= 0x30FE, // katakana
		r >= 0x3041 && r <= 0x309E, r == 0x30FC: // hiragana
		return wcOther
	case unicode.IsLetter(r), unicode.Is(unicode.Mc, r):
		return wcLetter
	case unicode.IsNumber(r):
		return wcDigit
	}
	return wcOther
}

func javaIgnorable(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf)
}

func javaMidWord(r rune) bool {
	return r == '"' || r == '\'' || r == '.' || r == 0x00AD || r == 0x2027 || unicode.In(r, unicode.Pd, unicode.Pc)
}

func javaMidNum(r rune) bool {
	return r == '"' || r == '\'' || r == ',' || r == '.' || r == 0x066B
}

func javaPostNum(r rune) bool {
	return r == '%' || r == '&' || r == 0x00A2 || r == 0x066A || r == 0x2030 || r == 0x2031
}

func javaPreNum(r rune) bool {
	return r == '#' || r == '.' || (r != 0x00A2 && unicode.Is(unicode.Sc, r))
}

// javaWordEnd returns the end of the segment starting at p.
func javaWordEnd(rs []rune, p int) int {
	n := len(rs)
	skipIgnorable := func(p int) int {
		for p < n && javaIgnorable(rs[p]) {
			p++
		}
		return p
	}
	class := func(p int) wordClass {
		if p >= n {
			return wcOther
		}
		return javaWordClass(rs[p])
	}
	// run consumes a run of class c, with ignorables attached, joined by single mid characters.
	run := func(p int, c wordClass) int {
		for {
			for class(p) == c {
				p = skipIgnorable(p + 1)
			}
			if p+1 < n && class(p+1) == c &&
				((c == wcLetter && javaMidWord(rs[p])) || (c == wcDigit && javaMidNum(rs[p]))) {
				p++
				continue
			}
			if c == wcLetter && p < n && (rs[p] == 0x0964 || rs[p] == 0x0965) { // danda
				p = skipIgnorable(p + 1)
			}
			return p
		}
	}
	chain := func(p int) int {
		last := wcOther
		for {
			c := class(p)
			if c == wcOther || c == last {
				break
			}
			p, last = run(p, c), c
		}
		if last == wcDigit && p < n && javaPostNum(rs[p]) {
			p = skipIgnorable(p + 1)
		}
		return p
	}
	switch {
	case class(p) != wcOther:
		return chain(p)
	case javaPreNum(rs[p]) && class(p+1) == wcDigit:
		return chain(p + 1)
	}
	return skipIgnorable(p + 1)
}

// javaIsCased is ConditionalSpecialCasing.isCased: Lu, Ll, Lt, plus the Other_Lowercase and
// Other_Uppercase ranges Java lists.
func javaIsCased(r rune) bool {
	if unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt) {
		return true
	}
	switch {
	case r >= 0x02B0 && r <= 0x02B8, r >= 0x02C0 && r <= 0x02C1, r >= 0x02E0 && r <= 0x02E4,
		r == 0x0345, r == 0x037A, r >= 0x1D2C && r <= 0x1D61, r >= 0x2160 && r <= 0x217F,
		r >= 0x24B6 && r <= 0x24E9:
		return true
	}
	return false
}
