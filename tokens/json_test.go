package tokens

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The reference the reader of json.go is held to: the claim set as
// encoding/json reads it (what authgate used before).

// claimsJSON mirrors Claims with the time claims as raw numbers so that
// NumericDate's strict parsing decides what a valid date is.
type claimsJSON struct {
	Issuer          string          `json:"iss"`
	Subject         string          `json:"sub"`
	Audience        Audience        `json:"aud"`
	Expiry          NumericDate     `json:"exp"`
	NotBefore       NumericDate     `json:"nbf"`
	IssuedAt        NumericDate     `json:"iat"`
	SessionID       string          `json:"sid"`
	Nonce           string          `json:"nonce"`
	AuthorizedParty string          `json:"azp"`
	Email           string          `json:"email"`
	Name            string          `json:"name"`
	Username        string          `json:"preferred_username"`
	OrganizationID  string          `json:"organizationId"`
	Groups          stringList      `json:"groups"`
	Events          json.RawMessage `json:"events"`
}

func parseClaimsStd(payload []byte) (*Claims, error) {
	var cj claimsJSON
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&cj); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: claims: trailing data", ErrMalformed)
	}
	return &Claims{
		Issuer: cj.Issuer, Subject: cj.Subject, Audience: cj.Audience,
		Expiry: cj.Expiry, NotBefore: cj.NotBefore, IssuedAt: cj.IssuedAt,
		SessionID: cj.SessionID, Nonce: cj.Nonce, AuthorizedParty: cj.AuthorizedParty,
		Email: cj.Email, Name: cj.Name, Username: cj.Username,
		OrganizationID: cj.OrganizationID, Groups: []string(cj.Groups), Events: cj.Events,
	}, nil
}

// stringList accepts a list of strings or a single string (some providers emit
// "groups": "admins" for a user in one group).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	list, err := oneOrMany(b)
	if err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	*l = list
	return nil
}

// stdHeader is the JOSE header as encoding/json reads it.
type stdHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	Jku  json.RawMessage `json:"jku"`
	X5u  json.RawMessage `json:"x5u"`
	Jwk  json.RawMessage `json:"jwk"`
	X5c  json.RawMessage `json:"x5c"`
	B64  json.RawMessage `json:"b64"`
}

// topNames returns the member names of a JSON object (nil if it is not one).
func topNames(s string) []string {
	var names []string
	r := jsonReader{s: s}
	if r.object(func(name string) error { names = append(names, name); return r.skip(0) }) != nil {
		return nil
	}
	return names
}

// caseVariant reports whether a member name matches one of known only
// without regard to case (encoding/json reads it; the reader does not).
func caseVariant(names []string, known ...string) bool {
	for _, n := range names {
		for _, k := range known {
			if n != k && strings.EqualFold(n, k) {
				return true
			}
		}
	}
	return false
}

var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "sid", "nonce", "azp", "email", "name", "preferred_username", "organizationId", "groups", "events"}

var jsonSeeds = []string{
	`{"iss":"https://a/","sub":"u","aud":"c","exp":1700000000,"iat":1.5,"groups":["a","b"]}`,
	`{"aud":["c","d"],"groups":"one","exp":null,"name":"\u00e9\ud83d\ude00","email":"a\/b"}`,
	` {"sub":"x"} `, `{"sub":"x"}x`, `{"sub":"x","sub":"y"}`, `{"SUB":"x"}`, `{"sub":"\ud800"}`, `{"sub":"\x"}`,
	`{"exp":"1700000000"}`, `{"exp":1e400}`, `{"exp":-1}`, `{"exp":01}`, `{"exp":1.}`, `{"events":{"a":{}}}`,
	`{"x":[1,{"y":[true,false,null]}],"sub":"s"}`, `[]`, `null`, `{}`, `{"groups":[]}`, `{"groups":["a",null]}`,
	"{\"name\":\"\xff\"}", `{"a":1,}`, `{"a" 1}`, `{"sub":"a\tb"}`, "{\"sub\":\"a\tb\"}",
}

// FuzzJSONReader: whatever the reader accepts, encoding/json accepts and
// reads to the same claims (the reader being stricter only in the ways json.go
// lists), and the same holds for JOSE headers. It never panics.
func FuzzJSONReader(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"alg":"RS256","kid":"k","typ":"JWT"}`))
	f.Add([]byte(`{"alg":"RS256","jku":null,"crit":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := readClaims(string(b))
		if err == nil {
			std, serr := parseClaimsStd(b)
			// A name that matches a claim only without regard to case is
			// a claim to encoding/json and an unknown member to the reader.
			variant := caseVariant(topNames(string(b)), claimNames...)
			if serr != nil && !variant {
				t.Fatalf("reader accepts %q, encoding/json says %v", b, serr)
			}
			if serr == nil && !reflect.DeepEqual(c, std) && !variant {
				t.Fatalf("%q:\nreader   %+v\njson     %+v", b, c, std)
			}
		}
		h, err := readHeader(string(b))
		if err == nil {
			var sh stdHeader
			serr := json.Unmarshal(b, &sh)
			variant := caseVariant(topNames(string(b)), "alg", "kid", "typ", "crit", "b64", "jku", "x5u", "jwk", "x5c")
			if serr != nil && !variant {
				t.Fatalf("reader accepts header %q, encoding/json says %v", b, serr)
			}
			want := joseHeader{Alg: sh.Alg, Kid: sh.Kid, Typ: sh.Typ, Crit: len(sh.Crit) > 0, B64: len(sh.B64) > 0,
				KeyRef: len(sh.Jku) > 0 || len(sh.X5u) > 0 || len(sh.Jwk) > 0 || len(sh.X5c) > 0}
			if serr == nil && h != want && !variant {
				t.Fatalf("header %q:\nreader %+v\njson   %+v", b, h, want)
			}
		}
	})
}

// The reader refuses what encoding/json would read in a way that lets one
// signed token mean two things.
func TestJSONReaderStricter(t *testing.T) {
	for _, s := range []string{
		`{"sub":"x","sub":"y"}`,   // duplicate: first or last?
		`{"aud":"a","aud":"b"}`,   // also for arrays-or-strings
		`{"exp":1,"exp":2}`,       // and dates
		`{"sub":"\ud800"}`,        // lone surrogate (json: U+FFFD)
		"{\"sub\":\"\xff\"}",      // invalid UTF-8 (json: U+FFFD)
		`{"groups":["a",null]}`,   // null in a list (json: "")
		`[{"sub":"x"}]`,           // not an object
		`{"sub":"x"} {"sub":"y"}`, // trailing data
		strings.Repeat(`{"x":`, 40) + `1` + strings.Repeat(`}`, 40), // nesting bound
	} {
		if c, err := readClaims(s); err == nil {
			t.Errorf("readClaims(%q) = %+v, want an error", s, c)
		}
	}
	if h, err := readHeader(`{"alg":"RS256","alg":"none"}`); err == nil {
		t.Errorf("duplicate alg accepted: %+v", h)
	}
	// Names are exact: "SUB" is not "sub" (encoding/json would fill Subject).
	if c, err := readClaims(`{"SUB":"x"}`); err != nil || c.Subject != "" {
		t.Errorf(`readClaims({"SUB":"x"}) = %+v, %v; want no subject`, c, err)
	}
	if h, err := readHeader(`{"ALG":"none","Jku":"https://evil/"}`); err != nil || h.Alg != "" || h.KeyRef {
		t.Errorf("readHeader with upper-case names = %+v, %v", h, err)
	}
}

func TestJSONReaderSeeds(t *testing.T) {
	// Each seed either parses the same as encoding/json or is refused; run
	// them as a plain test too, so a change shows without the fuzzer.
	for _, s := range jsonSeeds {
		c, err := readClaims(s)
		std, serr := parseClaimsStd([]byte(s))
		switch {
		case err == nil && serr != nil:
			t.Errorf("%q: reader accepts, json: %v", s, serr)
		case err == nil && !reflect.DeepEqual(c, std) && !caseVariant(topNames(s), claimNames...):
			t.Errorf("%q: reader %+v, json %+v", s, c, std)
		}
	}
	c, err := readClaims(`{"iss":"https://a/","aud":["c","d"],"exp":1700000000.25,"groups":"g","name":"\u00e9\ud83d\ude00"}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://a/" || !reflect.DeepEqual([]string(c.Audience), []string{"c", "d"}) || c.Expiry.UnixMilli() != 1700000000250 ||
		!reflect.DeepEqual(c.Groups, []string{"g"}) || c.Name != "é😀" {
		t.Errorf("readClaims = %+v", c)
	}
}
