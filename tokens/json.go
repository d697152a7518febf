package tokens

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A JOSE header or a claim set is one flat JSON object whose few interesting
// members are strings, numbers or arrays of strings. encoding/json decodes
// one by reflection, re-scanning every member with a custom decoder, and
// costs as much CPU as the rest of a cache miss apart from the signature
// check. This reader does exactly that job, and is stricter than
// encoding/json where the difference matters for tokens:
//
//   - member names match exactly (encoding/json also fills "sub" from "SUB");
//   - a member name given twice is refused (RFC 7519 §4 allows refusing; a
//     parser that keeps the last and one that keeps the first would read two
//     different tokens from one signature);
//   - strings must be valid UTF-8, without lone surrogates, where
//     encoding/json would silently substitute U+FFFD;
//   - nesting is bounded (maxDepth), and the top level must be an object.
//
// Whatever it accepts, encoding/json accepts and reads alike (FuzzJSONReader
// holds it to that).

var errJSON = errors.New("invalid JSON")

const maxDepth = 32

type jsonReader struct {
	s string
	i int
}

func (r *jsonReader) ws() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *jsonReader) peek() byte {
	if r.i < len(r.s) {
		return r.s[r.i]
	}
	return 0
}

// object reads one object and calls member for each member name; member must
// consume the value (with str, number, strings, raw or skip).
func (r *jsonReader) object(member func(name string) error) error {
	r.ws()
	return r.list('{', '}', func() error {
		name, err := r.str()
		if err != nil {
			return err
		}
		r.ws()
		if r.peek() != ':' {
			return errJSON
		}
		r.i++
		r.ws()
		return member(name)
	})
}

// array reads one array, the reader at its "[", and calls elem for each
// element; elem must consume it.
func (r *jsonReader) array(elem func() error) error {
	return r.list('[', ']', elem)
}

// list reads what object and array have in common: open, items separated by
// commas, close. The reader is at open; item must consume one item.
func (r *jsonReader) list(open, close byte, item func() error) error {
	if r.peek() != open {
		return errJSON
	}
	r.i++
	r.ws()
	if r.peek() == close {
		r.i++
		return nil
	}
	for {
		r.ws()
		if err := item(); err != nil {
			return err
		}
		r.ws()
		switch r.peek() {
		case ',':
			r.i++
		case close:
			r.i++
			return nil
		default:
			return errJSON
		}
	}
}

// end checks that only whitespace follows.
func (r *jsonReader) end() error {
	r.ws()
	if r.i != len(r.s) {
		return errJSON
	}
	return nil
}

// null consumes a null literal if one is next.
func (r *jsonReader) null() bool {
	if strings.HasPrefix(r.s[r.i:], "null") {
		r.i += 4
		return true
	}
	return false
}

// str reads a string. Without escapes the result shares the input's memory.
func (r *jsonReader) str() (string, error) {
	if r.peek() != '"' {
		return "", errJSON
	}
	r.i++
	start := r.i
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			v := r.s[start:r.i]
			r.i++
			return v, nil
		case c == '\\':
			return r.escaped(start)
		case c < 0x20:
			return "", errJSON
		case c < utf8.RuneSelf:
			r.i++
		default:
			ru, n := utf8.DecodeRuneInString(r.s[r.i:])
			if ru == utf8.RuneError && n == 1 {
				return "", errJSON
			}
			r.i += n
		}
	}
	return "", errJSON
}

// escaped finishes a string that has an escape at r.i, starting at start.
func (r *jsonReader) escaped(start int) (string, error) {
	b := make([]byte, 0, r.i-start+16)
	b = append(b, r.s[start:r.i]...)
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			r.i++
			return string(b), nil
		case c < 0x20:
			return "", errJSON
		case c == '\\':
			if r.i+1 >= len(r.s) {
				return "", errJSON
			}
			e := r.s[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				ru, ok := r.hex4()
				if !ok {
					return "", errJSON
				}
				if utf16.IsSurrogate(ru) {
					// Only a high surrogate followed by an escaped low one
					// is a character; anything else is not text.
					if ru >= 0xdc00 || !strings.HasPrefix(r.s[r.i:], `\u`) {
						return "", errJSON
					}
					r.i += 2
					lo, ok := r.hex4()
					if !ok {
						return "", errJSON
					}
					ru = utf16.DecodeRune(ru, lo)
					if ru == utf8.RuneError {
						return "", errJSON
					}
				}
				b = utf8.AppendRune(b, ru)
			default:
				return "", errJSON
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			r.i++
		default:
			ru, n := utf8.DecodeRuneInString(r.s[r.i:])
			if ru == utf8.RuneError && n == 1 {
				return "", errJSON
			}
			b = append(b, r.s[r.i:r.i+n]...)
			r.i += n
		}
	}
	return "", errJSON
}

func (r *jsonReader) hex4() (rune, bool) {
	if r.i+4 > len(r.s) {
		return 0, false
	}
	var v rune
	for _, c := range []byte(r.s[r.i : r.i+4]) {
		v <<= 4
		switch {
		case '0' <= c && c <= '9':
			v |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			v |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			v |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// number reads a number (RFC 8259 §6 grammar) and returns its text.
func (r *jsonReader) number() (string, error) {
	start := r.i
	if r.peek() == '-' {
		r.i++
	}
	switch c := r.peek(); {
	case c == '0':
		r.i++
	case '1' <= c && c <= '9':
		r.digits()
	default:
		return "", errJSON
	}
	if r.peek() == '.' {
		r.i++
		if !r.digits() {
			return "", errJSON
		}
	}
	if c := r.peek(); c == 'e' || c == 'E' {
		r.i++
		if c := r.peek(); c == '+' || c == '-' {
			r.i++
		}
		if !r.digits() {
			return "", errJSON
		}
	}
	return r.s[start:r.i], nil
}

func (r *jsonReader) digits() bool {
	start := r.i
	for r.i < len(r.s) && '0' <= r.s[r.i] && r.s[r.i] <= '9' {
		r.i++
	}
	return r.i > start
}

// strings reads a string, an array of strings (one or many, RFC 7519 §4.1.3
// for "aud"), or null (nil).
func (r *jsonReader) strings() ([]string, error) {
	switch r.peek() {
	case '"':
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	case 'n':
		if r.null() {
			return nil, nil
		}
		return nil, errJSON
	}
	list := []string{} // an empty array is a present, empty list
	err := r.array(func() error {
		s, err := r.str()
		if err != nil {
			return err
		}
		list = append(list, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// raw reads any value and returns its text.
func (r *jsonReader) raw() (string, error) {
	start := r.i
	if err := r.skip(0); err != nil {
		return "", err
	}
	return r.s[start:r.i], nil
}

// skip reads any value.
func (r *jsonReader) skip(depth int) error {
	if depth > maxDepth {
		return errJSON
	}
	switch c := r.peek(); {
	case c == '"':
		_, err := r.str()
		return err
	case c == '{':
		// Names inside a value nobody reads may repeat, as encoding/json allows.
		return r.object(func(string) error { return r.skip(depth + 1) })
	case c == '[':
		return r.array(func() error { return r.skip(depth + 1) })
	case c == '-' || '0' <= c && c <= '9':
		_, err := r.number()
		return err
	case strings.HasPrefix(r.s[r.i:], "true"):
		r.i += 4
	case strings.HasPrefix(r.s[r.i:], "false"):
		r.i += 5
	case r.null():
	default:
		return errJSON
	}
	return nil
}

// numericDate reads a NumericDate member: a number, or null for "absent".
func (r *jsonReader) numericDate(d *NumericDate) error {
	if r.null() {
		return nil
	}
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		// RFC 7519 §2: a JSON number; "exp":"1700000000" is not one.
		return errors.New("numeric date: not a number")
	}
	text, err := r.number()
	if err != nil {
		return err
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return errJSON
	}
	return d.set(v, err)
}

// stringMember reads a string member; null leaves it empty.
func (r *jsonReader) stringMember(dst *string) error {
	if r.null() {
		return nil
	}
	s, err := r.str()
	*dst = s
	return err
}

// members tracks which names an object has used, so a second use is refused.
type members uint32

func (m *members) once(bit members) error {
	if *m&bit != 0 {
		return errJSON
	}
	*m |= bit
	return nil
}

// joseHeader is what the verifier reads of a JOSE header.
type joseHeader struct {
	Alg, Kid, Typ string
	// Crit and B64 change what is signed or how; KeyRef is jku, x5u, jwk or
	// x5c: a key named or carried by the token itself. Present at all (even
	// null) is enough to refuse the token.
	Crit, B64, KeyRef bool
}

func readHeader(s string) (joseHeader, error) {
	var h joseHeader
	if err := readObject(s, headerFields, &h); err != nil {
		return joseHeader{}, err
	}
	return h, nil
}

// readClaims reads a claim set. Strings without escapes share payload's
// memory: whoever keeps one beyond the request (the token cache) copies it.
func readClaims(payload string) (*Claims, error) {
	c := &Claims{}
	if err := readObject(payload, claimFields, c); err != nil {
		return nil, err
	}
	return c, nil
}

// field reads one known member of an object into a T. A member marked once
// may appear only once; newFields gives each such member its bit.
type field[T any] struct {
	read func(r *jsonReader, dst *T) error
	once bool
	bit  members
}

func newFields[T any](m map[string]field[T]) map[string]field[T] {
	n := 0
	for name, f := range m {
		if f.once {
			f.bit = 1 << n
			m[name] = f
			n++
		}
	}
	return m
}

// readObject reads one object (and nothing after it) into dst: the members
// fields knows, each at most once where it says so; all others skipped.
func readObject[T any](s string, fields map[string]field[T], dst *T) error {
	var seen members
	r := jsonReader{s: s}
	err := r.object(func(name string) error {
		f, ok := fields[name]
		if !ok {
			return r.skip(0)
		}
		if f.once {
			if err := seen.once(f.bit); err != nil {
				return err
			}
		}
		return f.read(&r, dst)
	})
	if err != nil {
		return err
	}
	return r.end()
}

// present marks a member whose presence alone decides, whatever its value.
func present[T any](mark func(*T)) field[T] {
	return field[T]{once: true, read: func(r *jsonReader, dst *T) error { mark(dst); return r.skip(0) }}
}

// A key named or carried by the token itself refuses it however often it
// is given, so those members need no once check.
var keyRef = field[joseHeader]{read: func(r *jsonReader, h *joseHeader) error { h.KeyRef = true; return r.skip(0) }}

var headerFields = newFields(map[string]field[joseHeader]{
	"alg":  {once: true, read: func(r *jsonReader, h *joseHeader) error { return r.stringMember(&h.Alg) }},
	"kid":  {once: true, read: func(r *jsonReader, h *joseHeader) error { return r.stringMember(&h.Kid) }},
	"typ":  {once: true, read: func(r *jsonReader, h *joseHeader) error { return r.stringMember(&h.Typ) }},
	"crit": present(func(h *joseHeader) { h.Crit = true }),
	"b64":  present(func(h *joseHeader) { h.B64 = true }),
	"jku":  keyRef, "x5u": keyRef, "jwk": keyRef, "x5c": keyRef,
})

// str reads a string claim into the field of Claims that at picks.
func str(at func(*Claims) *string) field[Claims] {
	return field[Claims]{once: true, read: func(r *jsonReader, c *Claims) error { return r.stringMember(at(c)) }}
}

// date reads a NumericDate claim into the field of Claims that at picks.
func date(at func(*Claims) *NumericDate) field[Claims] {
	return field[Claims]{once: true, read: func(r *jsonReader, c *Claims) error { return r.numericDate(at(c)) }}
}

var claimFields = newFields(map[string]field[Claims]{
	"iss":                str(func(c *Claims) *string { return &c.Issuer }),
	"sub":                str(func(c *Claims) *string { return &c.Subject }),
	"sid":                str(func(c *Claims) *string { return &c.SessionID }),
	"nonce":              str(func(c *Claims) *string { return &c.Nonce }),
	"azp":                str(func(c *Claims) *string { return &c.AuthorizedParty }),
	"email":              str(func(c *Claims) *string { return &c.Email }),
	"name":               str(func(c *Claims) *string { return &c.Name }),
	"preferred_username": str(func(c *Claims) *string { return &c.Username }),
	"organizationId":     str(func(c *Claims) *string { return &c.OrganizationID }),
	"exp":                date(func(c *Claims) *NumericDate { return &c.Expiry }),
	"nbf":                date(func(c *Claims) *NumericDate { return &c.NotBefore }),
	"iat":                date(func(c *Claims) *NumericDate { return &c.IssuedAt }),
	"aud": {once: true, read: func(r *jsonReader, c *Claims) (err error) {
		c.Audience, err = r.strings()
		return err
	}},
	"groups": {once: true, read: func(r *jsonReader, c *Claims) (err error) {
		c.Groups, err = r.strings()
		return err
	}},
	"events": {once: true, read: func(r *jsonReader, c *Claims) error {
		raw, err := r.raw()
		if err == nil {
			c.Events = []byte(raw)
		}
		return err
	}},
})
