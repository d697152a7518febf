package attack

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/evilop"
)

// keyring holds the keys the tests share: RSA keys take a while to make.
type keyring struct {
	rsa, rsaAttacker *evilop.Key
	ec, ec2, ecAtk   *evilop.Key
}

var keys = sync.OnceValue(func() *keyring {
	return &keyring{
		rsa:         evilop.NewRSAKey("rsa-1"),
		rsaAttacker: evilop.NewRSAKey("rsa-1"), // same kid, other key
		ec:          evilop.NewECKey("ec-1"),
		ec2:         evilop.NewECKey("ec-2"),
		ecAtk:       evilop.NewECKey("ec-1"),
	}
})

// TestMaliciousProvider drives authgate's real login flow through a provider
// that lies in the ways the OpenID Foundation's RP conformance tests and RFC
// 8725 describe. Each refused case must end the callback with 502 and an
// error code, and hand out nothing: no cookie, no redirect, no exchange code.
// The subtests are named after the OIDF test ids where there is one.
func TestMaliciousProvider(t *testing.T) {
	t.Parallel()
	k := keys()
	type tc struct {
		name string
		key  *evilop.Key // the provider's key; default k.ec
		// setup runs on the provider before the login.
		setup func(op *evilop.Provider)
		sc    evilop.Scenario
		// code is the callback's error; "" means the login must succeed.
		code string
	}
	id := func(f func(*evilop.Token)) evilop.Scenario { return evilop.Scenario{IDToken: f} }
	access := func(f func(*evilop.Token)) evilop.Scenario { return evilop.Scenario{AccessToken: f} }
	cases := []tc{
		{name: "honest provider", code: ""},
		// OIDF RP conformance (https://openid.net/certification/rp_testing/).
		{name: "rp-id_token-bad-sig-rs256", key: k.rsa, code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Key = k.rsaAttacker })},
		{name: "rp-id_token-bad-sig-es256", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Key = k.ecAtk })},
		{name: "rp-id_token-sig-none", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["alg"] = "none"; delete(t.Header, "kid"); t.Key = nil })},
		{name: "rp-id_token-aud", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["aud"] = "another-client" })},
		{name: "rp-id_token-iat", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { delete(t.Claims, "iat") })},
		{name: "rp-id_token-issuer-mismatch", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["iss"] = "https://evil.example/" })},
		{name: "rp-id_token-kid-absent-single-jwks", code: "",
			sc: id(func(t *evilop.Token) { delete(t.Header, "kid") })},
		{name: "rp-id_token-kid-absent-multiple-jwks", code: "invalid_id_token",
			setup: func(op *evilop.Provider) { op.SetKeys(k.ec, k.ec, k.ec2) },
			sc:    id(func(t *evilop.Token) { delete(t.Header, "kid") })},
		{name: "rp-id_token-sub", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { delete(t.Claims, "sub") })},
		{name: "rp-nonce-invalid", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["nonce"] = "not-the-nonce-authgate-sent" })},
		{name: "nonce missing", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { delete(t.Claims, "nonce") })},
		// RFC 8725 on the ID token.
		{name: "alg none spelled None", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["alg"] = "None"; t.Sign = func([]byte) []byte { return []byte("x") } })},
		{name: "HS256 keyed with the provider's public key", key: k.rsa, code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["alg"] = "HS256"; t.Sign = evilop.HS256(k.rsa.PublicPEM()) })},
		{name: "HS256 keyed with a symmetric key inside the JWKS", code: "invalid_id_token",
			sc: evilop.Scenario{
				IDToken: func(t *evilop.Token) {
					t.Header["alg"], t.Header["kid"] = "HS256", "oct-1"
					t.Sign = evilop.HS256([]byte("published-secret"))
				},
				JWKS: evilop.Status(http.StatusOK, "application/json",
					`{"keys":[{"kty":"oct","kid":"oct-1","k":"cHVibGlzaGVkLXNlY3JldA"},`+mustJSON(k.ec.JWK())+`]}`),
			}},
		{name: "jku header pointing at the attacker", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["jku"] = "http://127.0.0.1:1/jwks"; t.Key = k.ecAtk })},
		{name: "embedded jwk header", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["jwk"] = k.ecAtk.JWK(); t.Key = k.ecAtk })},
		{name: "x5u header", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["x5u"] = "http://127.0.0.1:1/cert.pem" })},
		{name: "x5c header", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["x5c"] = []string{"MIIB"} })},
		{name: "unknown crit header", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Header["crit"] = []string{"exp-policy"}; t.Header["exp-policy"] = 1 })},
		{name: "expired", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["exp"] = time.Now().Add(-2 * time.Minute).Unix() })},
		{name: "exp missing", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { delete(t.Claims, "exp") })},
		{name: "nbf in the future", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["nbf"] = time.Now().Add(2 * time.Minute).Unix() })},
		{name: "iat in the future", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["iat"] = time.Now().Add(2 * time.Minute).Unix() })},
		{name: "iat a string", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["iat"] = "1700000000" })},
		{name: "azp names another client", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["azp"] = "another-client" })},
		{name: "several audiences without azp", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["aud"] = []string{evilop.ClientID, "another-client"} })},
		{name: "oversized ID token", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Claims["pad"] = strings.Repeat("A", 64<<10) })},
		{name: "no ID token in the token response", code: "invalid_id_token",
			setup: func(op *evilop.Provider) {
				op.SetScenario(evilop.Scenario{TokenEndpoint: op.Rewrite(func(b map[string]any) { delete(b, "id_token") })})
			}},
		{name: "ID token not a JWT", code: "invalid_id_token",
			sc: id(func(t *evilop.Token) { t.Raw = "opaque.id.token" })},
		// The access token the provider returns must pass the same rules the
		// proxy applies to every request.
		{name: "access token is an ID token of another client", code: "invalid_access_token",
			sc: access(func(t *evilop.Token) {
				t.Claims["aud"], t.Claims["azp"], t.Claims["nonce"] = "another-client", "another-client", "n"
			})},
		{name: "logout token as access token", code: "invalid_access_token",
			sc: access(func(t *evilop.Token) {
				t.Claims["events"] = map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
				t.Claims["jti"] = "logout-1"
				t.Header["typ"] = "logout+jwt"
			})},
		{name: "access token for another subject", code: "invalid_access_token",
			sc: access(func(t *evilop.Token) { t.Claims["sub"] = "sub-mallory" })},
		{name: "access token signed by the attacker", code: "invalid_access_token",
			sc: access(func(t *evilop.Token) { t.Key = k.ecAtk })},
		{name: "access token expired", code: "invalid_access_token",
			sc: access(func(t *evilop.Token) { t.Claims["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{name: "access token not a JWT", code: "invalid_access_token",
			sc: access(func(t *evilop.Token) { t.Raw = "opaque-token" })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			key := c.key
			if key == nil {
				key = k.ec
			}
			op := evilop.Start(t, evilop.Options{Key: key})
			// From the start: a lying JWKS is what authgate fetches first.
			op.SetScenario(c.sc)
			if c.setup != nil {
				c.setup(op)
			}
			g := startGate(t, op, gateOptions{})
			b := g.newClient()
			cb := b.login()
			if c.code == "" {
				code := exchangeCode(t, cb)
				if r := b.exchange(code); r.StatusCode != http.StatusOK {
					t.Fatalf("exchange: %d %s", r.StatusCode, r.Body)
				}
				if r := b.get("/app", api...); r.StatusCode != http.StatusOK {
					t.Fatalf("request after login: %d %s", r.StatusCode, r.Body)
				}
				return
			}
			wantRefused(t, c.name, cb, http.StatusBadGateway, c.code)
			before := g.Upstream.Count()
			wantError(t, "request after the refused login", b.get("/app", api...), http.StatusUnauthorized, "no_token")
			if g.Upstream.Count() != before {
				t.Error("a request reached the upstream after a refused login")
			}
		})
	}
}

// TestKeyRotation is rp-key-rotation-op-sign-key: the provider starts
// signing with a new key and publishes only that one. authgate, holding the
// old set, refetches once on the unknown kid and accepts the login; tokens of
// the retired key stop working, and a token of the old kid signed by
// another key never did.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	op := evilop.Start(t, evilop.Options{Key: k.ec})
	g := startGate(t, op, gateOptions{})
	b := g.newClient()
	b.fullLogin()
	old := op.Mint(nil)
	api := append([]string{"Authorization", "Bearer " + old}, api...)
	if r := g.newClient().get("/app", api...); r.StatusCode != http.StatusOK {
		t.Fatalf("bearer before rotation: %d", r.StatusCode)
	}
	fetches := op.Calls("jwks")

	op.SetKeys(k.ec2, k.ec2)
	// Past the minimum refetch interval since the start-up fetch.
	g.Clock.Advance(max(g.Config.JWKSMinRefetchInterval, 12*time.Second) + time.Second)
	after := g.newClient()
	after.fullLogin()
	if got := op.Calls("jwks") - fetches; got != 1 {
		t.Errorf("rotation cost %d JWKS fetches, want 1", got)
	}
	if r := after.get("/app", "Accept", "application/json"); r.StatusCode != http.StatusOK {
		t.Fatalf("request with the rotated key's session: %d %s", r.StatusCode, r.Body)
	}
	fresh := op.Mint(nil)
	if r := g.newClient().get("/app", "Authorization", "Bearer "+fresh); r.StatusCode != http.StatusOK {
		t.Fatalf("bearer token of the new key: %d %s", r.StatusCode, r.Body)
	}
	// A token of the retired key, not seen before (no cache entry), is refused.
	retired := op.Mint(func(t *evilop.Token) { t.Key, t.Header["kid"] = k.ec, k.ec.Kid; t.Claims["jti"] = "x" })
	if r := g.newClient().get("/app", "Authorization", "Bearer "+retired); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token of the retired key: %d, want 401", r.StatusCode)
	}
}

// TestDiscoveryIssuerMismatch is rp-discovery-issuer-not-matching-config:
// the discovery document names another issuer than the configured one, and
// start-up stops at once with a line that names the settings to check, rather
// than retrying forever.
func TestDiscoveryIssuerMismatch(t *testing.T) {
	t.Parallel()
	op := evilop.Start(t, evilop.Options{Key: keys().ec})
	op.SetScenario(evilop.Scenario{Discovery: func(doc map[string]any) { doc["issuer"] = "https://evil.example/" }})
	start := time.Now()
	_, err := newGate(t, op, gateOptions{})
	if err == nil {
		t.Fatal("authgate started against a provider that names another issuer")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("refusal took %s: discovery was retried", time.Since(start))
	}
	for _, want := range []string{"issuer", "https://evil.example/", op.Issuer, "OIDC_ISSUER_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if op.Calls("discovery") != 1 {
		t.Errorf("discovery called %d times, want 1", op.Calls("discovery"))
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
