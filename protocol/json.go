package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
)

// JSON values (json payloads, metadata, payload_metadata) travel as plain msgpack values. In Go they are
// the "JSON value model" below; encoding/json marshals every one of them.
//
//	JSON      Go                     msgpack
//	null      nil                    nil
//	boolean   bool                   bool
//	number    int64                  integer, when the number is an integer in int64 range
//	          uint64                 integer, when the number is an integer in (MaxInt64, MaxUint64]
//	          float64                float 64 (float 32 is accepted on input); never NaN or ±Inf
//	string    string                 str (valid UTF-8)
//	array     []any                  array
//	object    map[string]any         map with string keys, no duplicates
//
// msgpack bin and ext have no JSON form and are rejected inside JSON values.

// JSONFromRaw parses JSON text into the JSON value model: integers that fit int64 or uint64 stay
// integers (int64 unless only uint64 fits), every other number is a float64. The sidecar uses it to
// turn stored JSON into reply values.
func JSONFromRaw(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("protocol: trailing data after JSON value")
	}
	return normalizeJSON(v, 0)
}

func normalizeJSON(v any, depth int) (any, error) {
	switch v.(type) {
	case []any, map[string]any:
		if depth >= MaxJSONDepth {
			return nil, fmt.Errorf("protocol: JSON value nested deeper than %d", MaxJSONDepth)
		}
	}
	switch v := v.(type) {
	case json.Number:
		return numberFromText(string(v))
	case []any:
		for i, e := range v {
			n, err := normalizeJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
	case map[string]any:
		for k, e := range v {
			n, err := normalizeJSON(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
	}
	return v, nil
}

// numberFromText applies the number rule to JSON number text.
func numberFromText(s string) (any, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return u, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, fmt.Errorf("JSON number %q out of float64 range", s)
	}
	return f, nil
}

// json reads a JSON value; depth is the nesting level of the value being read (0 at the root).
func (r *reader) json(depth int) (any, error) {
	k, _, err := r.peek()
	if err != nil {
		return nil, err
	}
	switch k {
	case kindNil:
		r.off++
		return nil, nil
	case kindBool:
		return r.boolean()
	case kindInt:
		v, err := r.integer()
		if err != nil {
			return nil, err
		}
		if v.neg || v.u <= math.MaxInt64 {
			return v.i, nil
		}
		return v.u, nil
	case kindFloat:
		f, err := r.float()
		if err != nil {
			return nil, err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("float %v has no JSON representation", f)
		}
		return f, nil
	case kindStr:
		return r.str()
	case kindArray:
		if depth >= MaxJSONDepth {
			return nil, fmt.Errorf("JSON value nested deeper than %d", MaxJSONDepth)
		}
		n, err := r.arrayLen(0)
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, n)
		for i := range n {
			v, err := r.json(depth + 1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, v)
		}
		return out, nil
	case kindMap:
		if depth >= MaxJSONDepth {
			return nil, fmt.Errorf("JSON value nested deeper than %d", MaxJSONDepth)
		}
		n, err := r.mapLen(0)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, n)
		for range n {
			key, err := r.str()
			if err != nil {
				return nil, fmt.Errorf("JSON object key: %w", err)
			}
			v, err := r.json(depth + 1)
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", key, err)
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("duplicate JSON object key %q", key)
			}
			out[key] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("msgpack %s has no JSON representation", k)
}

// json writes a JSON value canonically: object keys sorted bytewise, numbers by the number rule.
func (e *enc) json(v any, depth int) {
	if e.err != nil {
		return
	}
	switch v.(type) {
	case []any, map[string]any:
		if depth >= MaxJSONDepth {
			e.check(fmt.Errorf("protocol: JSON value nested deeper than %d", MaxJSONDepth))
			return
		}
	}
	switch v := v.(type) {
	case nil:
		e.nil()
	case bool:
		e.boolean(v)
	case string:
		e.str(v)
	case int:
		e.int(int64(v))
	case int8:
		e.int(int64(v))
	case int16:
		e.int(int64(v))
	case int32:
		e.int(int64(v))
	case int64:
		e.int(v)
	case uint:
		e.uint(uint64(v))
	case uint8:
		e.uint(uint64(v))
	case uint16:
		e.uint(uint64(v))
	case uint32:
		e.uint(uint64(v))
	case uint64:
		e.uint(v)
	case float32:
		e.float(float64(v))
	case float64:
		e.float(v)
	case json.Number:
		n, err := numberFromText(string(v))
		if err != nil {
			e.check(err)
			return
		}
		e.json(n, depth)
	case json.RawMessage:
		n, err := JSONFromRaw(v)
		if err != nil {
			e.check(fmt.Errorf("protocol: %w", err))
			return
		}
		e.json(n, depth)
	case []any:
		e.arrayLen(len(v))
		for _, x := range v {
			e.json(x, depth+1)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.mapLen(len(keys))
		for _, k := range keys {
			e.str(k)
			e.json(v[k], depth+1)
		}
	default:
		e.check(fmt.Errorf("protocol: %T is not a JSON value", v))
	}
}
