package flowtest_test

import (
	"testing"

	"github.com/authgate/authgate/internal/flowtest"
)

func TestLoginAs(t *testing.T) {
	for _, o := range []flowtest.Options{{}, {InternalURL: true}, {Production: true}, {Alg: "RS256"}} {
		env := flowtest.New(t, o)
		b := env.NewBrowser()
		b.LoginAs("bob")
		resp := b.Get("/x", "Accept", "application/json")
		if resp.StatusCode != 200 {
			t.Fatalf("%+v: %d %s", o, resp.StatusCode, resp.Body)
		}
		if got := env.Upstream.Last().Header.Get("X-Role"); got != "support" {
			t.Fatalf("X-Role %q", got)
		}
	}
}
