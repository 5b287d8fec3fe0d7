package journal

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the small JSON toolkit the codecs share. Writing is done
// by hand so that the bytes match what the original writes (jsoniter-scala,
// compact, fields in case-class order, None fields omitted). Reading follows
// play-json's rules where they differ from encoding/json (a Long accepts
// 1.0 and 1e2; null means an absent optional field).

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as jsoniter-scala
// does: `"` and `\`, the short escapes \b \t \n \f \r, every other control
// character and DEL as \u00xx (lower-case hex); everything else, including
// non-ASCII, is written as is. s must be valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

var (
	errInvalidJSON = errors.New("invalid JSON")
	errInvalidUTF8 = errors.New("invalid UTF-8")
)

// appendJSONValue appends raw, which must hold exactly one JSON value, in
// compact form: insignificant whitespace removed, strings re-escaped as
// appendJSONString does, object keys kept in their order, numbers kept as
// written. This is what the original produces when it parses a JSON value
// and writes it back (apart from the spelling of unusual numbers such as
// 1e2, which it normalises).
func appendJSONValue(dst, raw []byte) ([]byte, error) {
	if !utf8.Valid(raw) {
		return dst, errInvalidUTF8
	}
	if !json.Valid(raw) {
		return dst, errInvalidJSON
	}
	// raw is valid JSON: outside strings only whitespace needs dropping;
	// strings are copied unless they hold an escape or DEL, in which case
	// they are decoded and written again.
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			end, plain := i+1, true
			for raw[end] != '"' {
				if raw[end] == '\\' {
					plain = false
					end++
				} else if raw[end] == 0x7f {
					plain = false
				}
				end++
			}
			end++ // past the closing quote
			if plain {
				dst = append(dst, raw[i:end]...)
			} else {
				var s string
				if err := json.Unmarshal(raw[i:end], &s); err != nil {
					return dst, errInvalidJSON
				}
				dst = appendJSONString(dst, s)
			}
			i = end
		default:
			j := i + 1
			for j < len(raw) && !isJSONSpecial(raw[j]) {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
		}
	}
	return dst, nil
}

// isJSONSpecial reports whether c ends a run that can be copied verbatim.
func isJSONSpecial(c byte) bool {
	return c == '"' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// compactJSON returns raw in the form appendJSONValue writes.
func compactJSON(raw []byte) ([]byte, error) {
	return appendJSONValue(make([]byte, 0, len(raw)), raw)
}

// jsonKind returns the first significant byte of a JSON value: '{', '[',
// '"', 'n' (null), 't', 'f', or a number's first character.
func jsonKind(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// isNullOrAbsent reports whether an optional field is absent: missing
// (nil) or JSON null, as play-json's readNullable treats it.
func isNullOrAbsent(raw json.RawMessage) bool {
	return raw == nil || jsonKind(raw) == 'n'
}

// jsonObject parses raw as an object; ok is false when raw is valid JSON of
// another kind.
func jsonObject(raw []byte) (fields map[string]json.RawMessage, ok bool, err error) {
	if jsonKind(raw) != '{' {
		if !json.Valid(raw) {
			return nil, false, errInvalidJSON
		}
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, false, errInvalidJSON
	}
	return fields, true, nil
}

// jsonStringValue reads a JSON string.
func jsonStringValue(raw json.RawMessage) (string, bool) {
	if jsonKind(raw) != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonOptString reads an optional string field: absent or null is "".
func jsonOptString(fields map[string]json.RawMessage, name string) (string, error) {
	raw := fields[name]
	if isNullOrAbsent(raw) {
		return "", nil
	}
	s, ok := jsonStringValue(raw)
	if !ok {
		return "", errors.New(name + ": expected a string")
	}
	return s, nil
}

// jsonInt64 reads a JSON number that is an exact int64, as play-json's
// Reads[Long] does: 3, 3.0 and 0.3e1 are all 3; 3.5 is an error.
func jsonInt64(raw json.RawMessage) (int64, bool) {
	s := strings.TrimSpace(string(raw))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	return parseIntegralNumber(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseIntegralNumber handles JSON numbers with a fraction or exponent.
func parseIntegralNumber(s string) (int64, bool) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	digits := s[start:i]
	if digits == "" {
		return 0, false
	}
	exp := 0
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return 0, false
		}
		digits += s[fs:i]
		exp -= i - fs
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1<<20 || e < -(1<<20) {
			return 0, false
		}
		exp += e
		i = len(s)
	}
	if i != len(s) {
		return 0, false
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, true
	}
	for digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if exp < 0 || len(digits)+exp > 19 {
		return 0, false
	}
	digits += strings.Repeat("0", exp)
	if neg {
		digits = "-" + digits
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}
