package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/source"
)

// cmdSources prints the resolved boot sources as a 1.6+ sources list.
func (r *cmdline) cmdSources(c *cli.Context, o *output) error {
	b, err := r.chooseSource(c, o)
	if err != nil {
		return err
	}
	cfg, err := resolveFrom(c, b)(c.Context)
	if err != nil {
		return err
	}
	format := "yaml"
	if o.json {
		format = "json"
	}
	out, err := source.Marshal(cfg, format, o.log)
	if err != nil {
		return err
	}
	_, err = r.stdout.Write(out)
	return err
}

func userAgent() string { return "maas-import-boot-images/" + version() }

// chooseSource picks the backend from the flags and the environment.
func (r *cmdline) chooseSource(c *cli.Context, o *output) (*source.Backend, error) {
	// The key is read here, not through the flag's environment variable,
	// so that --help never shows it as a default value.
	apiKey := c.String("api-key")
	if f := c.String("api-key-file"); f != "" {
		if apiKey != "" {
			return nil, usagef("--api-key and --api-key-file are exclusive")
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError{fmt.Errorf("reading --api-key-file: %w", err)}
		}
		apiKey = strings.TrimSpace(string(b))
	}
	if apiKey == "" {
		apiKey = r.getenv(envAPIKey)
	}
	return source.Choose(source.Choice{
		Config:      c.String("config"),
		RegionURL:   c.String("region-url"),
		ClusterUUID: c.String("cluster-uuid"),
		APIKey:      apiKey,
		Keyring:     c.String("keyring"),
		Default:     c.Bool("default"),
		Releases:    c.StringSlice("release"),
		Arches:      c.StringSlice("arch"),
		Timeout:     c.Duration("timeout"),
		Retries:     c.Int("retries"),
		UserAgent:   userAgent(),
		Log:         o.log,
		Getenv:      r.getenv,
	})
}

// resolveFrom returns what asks the backend for the boot sources, with
// --keyring applied.
func resolveFrom(c *cli.Context, b *source.Backend) func(context.Context) (*source.Config, error) {
	return func(ctx context.Context) (*source.Config, error) {
		cfg, err := b.Resolve(ctx)
		if err != nil {
			return nil, err
		}
		if k := c.String("keyring"); k != "" {
			cfg.OverrideKeyring(k)
		}
		return cfg, nil
	}
}

// sourcesOf adapts resolveFrom to what the importer asks for.
func sourcesOf(resolve func(context.Context) (*source.Config, error)) func(context.Context) ([]simplestreams.BootSource, error) {
	return func(ctx context.Context) ([]simplestreams.BootSource, error) {
		cfg, err := resolve(ctx)
		if err != nil {
			return nil, err
		}
		return cfg.Sources, nil
	}
}
