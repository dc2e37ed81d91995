package main

import (
	"testing"

	"github.com/labelgate/labelgate/config"
)

// TestWebConfig checks that the API settings reach the HTTP surface.
func TestWebConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		api       config.API
		token     string
		behindTLS bool
	}{
		{name: "defaults", api: config.Defaults().API},
		{name: "token", api: config.API{Token: "s3cret-token-0123456789"}, token: "s3cret-token-0123456789"},
		{name: "behind a TLS proxy", api: config.API{Token: "s3cret-token-0123456789", BehindTLS: true},
			token: "s3cret-token-0123456789", behindTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Defaults()
			cfg.API = tt.api
			got := webConfig(cfg, nil, nil, nil)
			if got.Token != tt.token || got.BehindTLS != tt.behindTLS {
				t.Errorf("web.Config{Token: %q, BehindTLS: %v}, want {%q, %v}", got.Token, got.BehindTLS, tt.token, tt.behindTLS)
			}
		})
	}
}
