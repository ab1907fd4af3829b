package source

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/simplestreams"
)

// Choice is what the command line and the environment say about the
// backend.
type Choice struct {
	Config      string // --config
	RegionURL   string // --region-url
	ClusterUUID string // --cluster-uuid
	APIKey      string // --api-key, --api-key-file or MAAS_API_KEY
	// Keyring is --keyring: it replaces every source's keyring, so a
	// region source that names a keyring file missing here is not refused.
	Keyring   string
	Default   bool // --default
	Releases  []string
	Arches    []string
	Timeout   time.Duration
	Retries   int
	UserAgent string
	Log       *slog.Logger
	// Getenv reads MAAS_URL, CLUSTER_UUID and MAAS_CONFIG_DIR; nil is
	// os.Getenv.
	Getenv func(string) string
}

// Choose picks exactly one backend (SPEC §2): a flag beats the
// environment, and with neither, bootresources.yaml in $MAAS_CONFIG_DIR
// (or /etc/maas) if it exists, else the default. Two backend flags, or
// --release/--arch with another backend, are ErrUsage. It logs which
// backend it chose. A sources file is read here, so that its errors come
// before any lock and its storage is known (Backend.Storage).
func Choose(c Choice) (*Backend, error) {
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	c.Log = logs.OrDiscard(c.Log)
	var named []string
	if c.Config != "" {
		named = append(named, "--config")
	}
	if c.RegionURL != "" {
		named = append(named, "--region-url")
	}
	if c.Default {
		named = append(named, "--default")
	}
	if len(named) > 1 {
		return nil, &Error{Msg: strings.Join(named, " and ") + " name different boot source backends: give one", Kind: ErrUsage}
	}
	narrowed := len(c.Releases) > 0 || len(c.Arches) > 0
	envURL := c.Getenv("MAAS_URL")
	if c.RegionURL == "" && c.ClusterUUID != "" && (len(named) == 1 || envURL == "") {
		return nil, &Error{Msg: "--cluster-uuid goes with --region-url (or MAAS_URL)", Kind: ErrUsage}
	}
	cluster := c.ClusterUUID
	if cluster == "" {
		cluster = c.Getenv("CLUSTER_UUID")
	}
	if narrowed && (c.Config != "" || c.RegionURL != "") {
		return nil, &Error{Msg: "--release and --arch change the default source only; with " + named[0] + " edit the selections instead", Kind: ErrUsage}
	}
	region := func(u, cluster, why string) (*Backend, error) {
		if narrowed {
			return nil, &Error{Msg: "--release and --arch change the default source only, but " + why + " names the region", Kind: ErrUsage}
		}
		if why == "MAAS_URL" && cluster == "" && c.APIKey == "" {
			return nil, &Error{Msg: fmt.Sprintf("MAAS_URL names the region %s, but there is no CLUSTER_UUID (--cluster-uuid) or API key (--api-key, MAAS_API_KEY) to ask it with", u),
				Kind: ErrUsage, Hint: "set CLUSTER_UUID (as in /etc/maas/maas_cluster.conf) or an API key; or name another backend with --config or --default"}
		}
		c.Log.Info("boot sources from the region", "url", u, "cluster", cluster, "because", why)
		r, err := NewRegion(RegionOptions{URL: u, ClusterUUID: cluster, APIKey: c.APIKey, Keyring: c.Keyring, Timeout: c.Timeout,
			Retries: c.Retries, UserAgent: c.UserAgent, Log: c.Log})
		if err != nil {
			return nil, err
		}
		return &Backend{Source: r}, nil
	}
	switch {
	case c.Config != "":
		c.Log.Info("boot sources from a file", "file", c.Config)
		return readFile(c.Config, c.Log)
	case c.RegionURL != "":
		return region(c.RegionURL, cluster, "--region-url")
	case c.Default:
		c.Log.Info("boot sources: the built-in default", "url", DefaultURL)
		return &Backend{Source: NewDefault(c.Releases, c.Arches)}, nil
	}
	if envURL != "" {
		// MAAS_URL names the region: without a cluster UUID or an API key
		// that is a usage error, never a silent fall-back to the default.
		return region(envURL, cluster, "MAAS_URL")
	}
	dir := c.Getenv("MAAS_CONFIG_DIR")
	if dir == "" {
		dir = "/etc/maas"
	}
	file := filepath.Join(dir, "bootresources.yaml")
	if _, err := os.Stat(file); err == nil {
		if narrowed {
			return nil, &Error{Msg: "--release and --arch change the default source only, but " + file + " exists: give --default", Kind: ErrUsage}
		}
		c.Log.Info("boot sources from a file (no source flag given)", "file", file)
		return readFile(file, c.Log)
	}
	c.Log.Info("boot sources: the built-in default (no source flag, no MAAS_URL, no "+file+")", "url", DefaultURL)
	return &Backend{Source: NewDefault(c.Releases, c.Arches)}, nil
}

// readFile reads a sources file once, for a Backend that knows its storage.
func readFile(path string, log *slog.Logger) (*Backend, error) {
	cfg, err := NewFile(path, log).Resolve(context.Background()) // local: nothing to cancel
	if err != nil {
		return nil, err
	}
	return &Backend{Source: fixed{cfg}, Storage: cfg.Storage}, nil
}

// OverrideKeyring makes every source use the keyring file at path.
func (c *Config) OverrideKeyring(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	for i := range c.Sources {
		c.Sources[i].Keyring = path
		c.Sources[i].KeyringData = nil
	}
}

// listSource is a source in the MAAS 1.6+ list shape.
type listSource struct {
	URL         string                    `json:"url" yaml:"url"`
	Keyring     string                    `json:"keyring,omitempty" yaml:"keyring,omitempty"`
	KeyringData string                    `json:"keyring_data,omitempty" yaml:"keyring_data,omitempty"`
	Selections  []simplestreams.Selection `json:"selections" yaml:"selections"`
}

// Marshal prints the sources in the MAAS 1.6+ list shape, as YAML or JSON
// (format "yaml" or "json"), so that NewFile reads them back the same.
// It reads each signed source's keyring to say which keys it uses: in a
// comment above the source (YAML only), and with LoadKeyring's info line
// on log (nil: discard) when the built-in Ubuntu keys stand in for
// DefaultKeyring. A keyring that cannot be read fails nothing here; the
// comment says so.
func Marshal(cfg *Config, format string, log *slog.Logger) ([]byte, error) {
	star := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	stars := func(l []string) []string {
		if l == nil {
			return []string{"*"}
		}
		return l
	}
	out := []listSource{}
	var comments []string
	for _, s := range cfg.Sources {
		comments = append(comments, keysComment(s, log))
		ls := listSource{URL: s.URL, Keyring: s.Keyring, Selections: []simplestreams.Selection{}}
		if len(s.KeyringData) > 0 {
			ls.KeyringData, ls.Keyring = base64.StdEncoding.EncodeToString(s.KeyringData), ""
		}
		for _, sel := range s.Selections {
			ls.Selections = append(ls.Selections, simplestreams.Selection{OS: star(sel.OS), Release: star(sel.Release),
				Arches: stars(sel.Arches), Subarches: stars(sel.Subarches), Labels: stars(sel.Labels)})
		}
		out = append(out, ls)
	}
	switch format {
	case "json":
		b, err := json.MarshalIndent(out, "", "  ")
		return append(b, '\n'), err
	case "yaml":
		var doc yaml.Node
		if err := doc.Encode(out); err != nil {
			return nil, err
		}
		for i, n := range doc.Content {
			// One line: a comment line break would end the comment.
			n.HeadComment = "# " + strings.Join(strings.Fields(comments[i]), " ")
		}
		b, err := yaml.Marshal(&doc)
		if err != nil {
			return nil, err
		}
		return append([]byte("# Boot sources from "+cfg.Origin+"\n"), b...), nil
	}
	return nil, fmt.Errorf("%w: unknown format %q", ErrUsage, format)
}
