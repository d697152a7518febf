// Package httptoken checks the HTTP "token" syntax (RFC 9110 §5.6.2), the
// grammar of header field names, cookie names and request methods. Both the
// configuration (header and cookie names an operator sets) and the
// forward-auth handler (the method a front proxy reports) must refuse
// anything else, with exactly the same rule.
package httptoken

import "strings"

// Valid reports whether s is a non-empty token: visible ASCII characters
// other than the delimiters "(),/:;<=>?@[\]{} and DQUOTE.
func Valid(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
