package dockerwatch

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
)

// Client is the part of the Docker API the watcher uses. The moby client
// satisfies it as is; tests supply dockertest.Engine, an in-memory engine.
//
// Events must follow the moby contract: Messages is never closed; Err
// receives at most one error (ctx.Err() after cancellation) and is closed
// once the stream's goroutine has ended.
type Client interface {
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	// Info and ServiceList are only called when Swarm is not off.
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
	Close() error
}

var _ Client = (*client.Client)(nil)

// NewClient builds a moby client for cfg's endpoint and TLS files. It reads
// no environment variables: the config package has already resolved
// DOCKER_HOST and friends into cfg. It does not contact the engine; Run
// reports whether the engine answers. The API version is negotiated on
// first use. The caller closes the client.
func NewClient(cfg Config) (Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []client.Opt{
		client.WithHost(cfg.endpoint()),
		client.WithUserAgent("labelgate"),
	}
	if cfg.tlsEnabled() {
		opts = append(opts, client.WithTLSClientConfig(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the Docker client for %s: %w", cfg.endpoint(), err)
	}
	return c, nil
}
