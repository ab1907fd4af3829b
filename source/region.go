package source

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams"
)

// RegionOptions configure the region backend.
type RegionOptions struct {
	URL         string // the region's MAAS URL, e.g. http://region:5240/MAAS
	ClusterUUID string // use the per-cluster endpoint; "" for the 2.0 API
	APIKey      string // consumer:token:secret; required without ClusterUUID
	Keyring     string // --keyring: used for every source instead of its own
	Timeout     time.Duration
	Retries     int
	UserAgent   string
	Log         *slog.Logger
}

// Hints shared by several region failures.
const (
	hintDown = "check that the region controller is running and that --region-url is right"
	hintURL  = "check --region-url: it is the MAAS URL, e.g. http://region:5240/MAAS"
)

// errRegionBudget is the cause of the deadline on one question (one URL,
// its retries and their backoff).
var errRegionBudget = errors.New("region budget spent")

// budget bounds one question to the region, retries and backoff included.
func (r *regionSource) budget() time.Duration {
	return r.opts.Timeout * time.Duration(r.opts.Retries+1)
}

// maxRegionBody caps a region answer.
const maxRegionBody = 8 << 20

type regionSource struct {
	base    *url.URL
	opts    RegionOptions
	key     *apiKey
	client  *retryablehttp.Client
	cluster string // for messages: "cluster UUID" or ""
}

var _ Source = (*regionSource)(nil)

type apiKey struct{ consumer, token, secret string }

func parseAPIKey(s string) (*apiKey, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, &Error{Msg: "the MAAS API key must have the form consumer:token:secret", Kind: ErrUsage}
	}
	return &apiKey{parts[0], parts[1], parts[2]}, nil
}

// NewRegion returns the backend that asks the region controller. Without a
// cluster UUID an API key is required.
func NewRegion(opts RegionOptions) (Source, error) {
	u, err := url.Parse(strings.TrimSpace(opts.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Msg: fmt.Sprintf("--region-url %q is not an http(s) URL", opts.URL), Kind: ErrUsage}
	}
	u.User = nil
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	r := &regionSource{base: u, opts: opts}
	if opts.APIKey != "" {
		if r.key, err = parseAPIKey(opts.APIKey); err != nil {
			return nil, err
		}
	}
	if opts.ClusterUUID == "" && r.key == nil {
		return nil, &Error{Msg: "the region's MAAS 2.0 API needs an API key (--api-key) unless --cluster-uuid names this cluster", Kind: ErrUsage}
	}
	if opts.ClusterUUID != "" {
		if strings.ContainsAny(opts.ClusterUUID, "/?#%") || strings.TrimSpace(opts.ClusterUUID) == "" {
			return nil, &Error{Msg: fmt.Sprintf("--cluster-uuid %q is not a UUID", opts.ClusterUUID), Kind: ErrUsage}
		}
		r.cluster = "cluster " + opts.ClusterUUID
	}
	if opts.Timeout <= 0 {
		opts.Timeout = fetch.DefaultTimeout
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	opts.Log = logs.OrDiscard(opts.Log)
	r.opts = opts
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Timeout: opts.Timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		// Never send the credentials to another host.
		if req.URL.Host != u.Host || len(via) > 5 {
			return errors.New("redirected away from the region")
		}
		return nil
	}}
	c.Logger = nil
	c.RetryMax = opts.Retries
	c.RetryWaitMin = time.Second
	c.RetryWaitMax = 5 * time.Second
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	log := opts.Log
	c.RequestLogHook = func(_ retryablehttp.Logger, req *http.Request, attempt int) {
		if attempt > 0 {
			log.Info("retrying the region", "url", req.URL.String(), "attempt", attempt)
		}
	}
	if r.key != nil {
		// Signed again on every attempt: a fresh nonce and timestamp.
		c.PrepareRetry = func(req *http.Request) error {
			req.Header.Set("Authorization", r.key.header())
			return nil
		}
	}
	r.client = c
	return r, nil
}

func (r *regionSource) describe() string {
	if r.cluster != "" {
		return fmt.Sprintf("region %s (%s)", r.opts.URL, r.cluster)
	}
	return "region " + r.opts.URL
}

// regionSourceJSON is one source of a region's answer.
type regionSourceJSON struct {
	URL             string           `json:"url"`
	KeyringFilename string           `json:"keyring_filename"`
	KeyringData     string           `json:"keyring_data"`
	Selections      *[]selectionJSON `json:"selections"`
	ResourceURI     string           `json:"resource_uri"`
	ID              *int64           `json:"id"`
}

type selectionJSON struct {
	OS        string     `json:"os"`
	Release   string     `json:"release"`
	Arches    stringList `json:"arches"`
	Subarches stringList `json:"subarches"`
	Labels    stringList `json:"labels"`
}

// stringList is a JSON list of strings, or one string; null stays nil.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*l = nil
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = []string{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("want a list of strings")
	}
	if list == nil {
		list = []string{}
	}
	*l = list
	return nil
}

// Resolve asks the region for the boot sources (SPEC §2.2).
func (r *regionSource) Resolve(ctx context.Context) (*Config, error) {
	endpoint := "api/2.0/boot-sources/"
	if r.opts.ClusterUUID != "" {
		endpoint = "api/1.0/nodegroups/" + url.PathEscape(r.opts.ClusterUUID) + "/boot-sources/"
	}
	var answer []regionSourceJSON
	if err := r.getJSON(ctx, r.base.ResolveReference(&url.URL{Path: endpoint}), &answer); err != nil {
		return nil, err
	}
	if len(answer) == 0 {
		what := "this region"
		if r.cluster != "" {
			what = r.cluster
		}
		return nil, &Error{Msg: fmt.Sprintf("%s has no boot sources for %s", r.describe(), what), Kind: ErrNoSources,
			Hint: "add a boot source and selections on the region (maas admin boot-sources create ...)"}
	}
	cfg := &Config{Origin: r.describe()}
	for i, a := range answer {
		s, err := r.convert(ctx, i, a)
		if err != nil {
			return nil, err
		}
		cfg.Sources = append(cfg.Sources, s)
	}
	return cfg, nil
}

func (r *regionSource) convert(ctx context.Context, i int, a regionSourceJSON) (simplestreams.BootSource, error) {
	garbage := func(format string, args ...any) error {
		return &Error{Msg: fmt.Sprintf("%s answered an invalid boot source %d: %s", r.describe(), i, fmt.Sprintf(format, args...)), Kind: ErrUnreachable}
	}
	if a.URL == "" {
		return simplestreams.BootSource{}, garbage("no url")
	}
	if _, err := simplestreams.Locate(a.URL); err != nil {
		return simplestreams.BootSource{}, garbage("url: %v", err)
	}
	s := simplestreams.BootSource{URL: a.URL}
	switch {
	case r.opts.Keyring != "":
		// --keyring replaces whatever the region says.
		s.Keyring = r.opts.Keyring
	case a.KeyringData != "":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(a.KeyringData), ""))
		if err != nil {
			return s, garbage("keyring_data is not base64")
		}
		s.KeyringData = b
	case a.KeyringFilename != "" && keyring.Usable(a.KeyringFilename):
		// What MAAS regions name for images.maas.io is never missing:
		// the built-in Ubuntu keys stand in for it (keyring.Load).
		s.Keyring = a.KeyringFilename
	case !strings.HasSuffix(a.URL, ".json"):
		msg := fmt.Sprintf("boot source %s from %s is signed, but the region sent no keyring_data", a.URL, r.describe())
		if a.KeyringFilename != "" {
			msg = fmt.Sprintf("boot source %s from %s names keyring %s, which is not on this machine", a.URL, r.describe(), a.KeyringFilename)
		}
		return s, &Error{Msg: msg, Kind: ErrConfig, Hint: "install the keyring here, or give one with --keyring"}
	}
	sels := a.Selections
	if sels == nil {
		var selURL *url.URL
		switch {
		case a.ResourceURI != "":
			ref, err := url.Parse(a.ResourceURI)
			if err != nil || ref.Host != "" || !strings.HasPrefix(ref.Path, "/") {
				return s, garbage("resource_uri %q is not a path on the region", a.ResourceURI)
			}
			selURL = r.base.ResolveReference(&url.URL{Path: strings.TrimSuffix(ref.Path, "/") + "/selections/"})
		case a.ID != nil:
			selURL = r.base.ResolveReference(&url.URL{Path: "api/2.0/boot-sources/" + strconv.FormatInt(*a.ID, 10) + "/selections/"})
		default:
			return s, garbage("no selections, resource_uri or id")
		}
		var list []selectionJSON
		if err := r.getJSON(ctx, selURL, &list); err != nil {
			return s, err
		}
		sels = &list
	}
	for _, sj := range *sels {
		s.Selections = append(s.Selections, simplestreams.Selection{OS: sj.OS, Release: sj.Release,
			Arches: sj.Arches, Subarches: sj.Subarches, Labels: sj.Labels})
	}
	return s, nil
}

// getJSON GETs a region URL and decodes its JSON answer into v.
func (r *regionSource) getJSON(ctx context.Context, u *url.URL, v any) error {
	ctx, cancel := context.WithTimeoutCause(ctx, r.budget(), errRegionBudget)
	defer cancel()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return &Error{Msg: r.describe(), Kind: ErrUsage, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if r.opts.UserAgent != "" {
		req.Header.Set("User-Agent", r.opts.UserAgent)
	}
	if r.key != nil {
		req.Header.Set("Authorization", r.key.header())
	}
	r.opts.Log.Debug("asking the region", "url", u.String())
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return r.ctxErr(ctx)
		}
		return &Error{Msg: r.describe() + " is not reachable", Kind: ErrUnreachable, Err: cleanErr(err),
			Hint: hintDown}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound && r.opts.ClusterUUID != "":
		return &Error{Msg: fmt.Sprintf("region %s does not recognise cluster %s (HTTP 404 from %s)", r.opts.URL, r.opts.ClusterUUID, u), Kind: ErrRefused,
			Hint: "check --cluster-uuid (CLUSTER_UUID) and --region-url (MAAS_URL): a wrong URL answers 404 too"}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &Error{Msg: fmt.Sprintf("%s refused the credentials (HTTP %d)", r.describe(), resp.StatusCode), Kind: ErrRefused,
			Hint: "check the API key (--api-key, --api-key-file or MAAS_API_KEY): maas apikey --username <admin>"}
	case resp.StatusCode >= 500:
		return &Error{Msg: fmt.Sprintf("%s is not reachable: HTTP %d after %d attempts", r.describe(), resp.StatusCode, r.opts.Retries+1), Kind: ErrUnreachable,
			Hint: hintDown}
	case resp.StatusCode != http.StatusOK:
		return &Error{Msg: fmt.Sprintf("%s answered HTTP %d for %s", r.describe(), resp.StatusCode, u), Kind: ErrUnreachable,
			Hint: hintURL}
	}
	// A login page, a proxy's error page or another service answers 200
	// too: only a JSON answer is the region's (no Content-Type is let by).
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &Error{Msg: fmt.Sprintf("%s answered %q from %s: not the expected JSON", r.describe(), ct, u), Kind: ErrUnreachable,
				Hint: hintURL}
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRegionBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return r.ctxErr(ctx)
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return &Error{Msg: fmt.Sprintf("%s is not reachable: its answer from %s was not complete within %s", r.describe(), u, r.opts.Timeout), Kind: ErrUnreachable,
				Hint: "the region answers too slowly; --timeout bounds each attempt"}
		}
		return &Error{Msg: r.describe() + " broke off its answer", Kind: ErrUnreachable, Err: cleanErr(err)}
	}
	if len(body) > maxRegionBody {
		return &Error{Msg: fmt.Sprintf("%s answered more than %d MiB from %s", r.describe(), maxRegionBody>>20, u), Kind: ErrUnreachable}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Msg: fmt.Sprintf("%s answered something that is not the expected JSON from %s", r.describe(), u), Kind: ErrUnreachable, Err: err,
			Hint: hintURL}
	}
	return nil
}

// ctxErr is the error of a request whose context ended: the region's own
// budget spent (exit 3), or the run cancelled (exit 130).
func (r *regionSource) ctxErr(ctx context.Context) error {
	if context.Cause(ctx) != errRegionBudget {
		return ctx.Err()
	}
	return &Error{Msg: fmt.Sprintf("%s is not reachable: no complete answer within %s (up to %d attempts of at most %s)", r.describe(), r.budget(), r.opts.Retries+1, r.opts.Timeout),
		Kind: ErrUnreachable, Hint: hintDown + "; --timeout and --retries bound the wait"}
}

// cleanErr drops the request line that url.Error repeats.
func cleanErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// header is the OAuth 1.0 PLAINTEXT Authorization header that MAAS's own
// client sends.
func (k *apiKey) header() string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	params := []struct{ k, v string }{
		{"oauth_version", "1.0"},
		{"oauth_signature_method", "PLAINTEXT"},
		{"oauth_consumer_key", k.consumer},
		{"oauth_token", k.token},
		{"oauth_signature", "&" + pctEncode(k.secret)},
		{"oauth_nonce", hex.EncodeToString(nonce)},
		{"oauth_timestamp", strconv.FormatInt(time.Now().Unix(), 10)},
	}
	var b strings.Builder
	b.WriteString(`OAuth realm=""`)
	for _, p := range params {
		fmt.Fprintf(&b, `, %s="%s"`, p.k, pctEncode(p.v))
	}
	return b.String()
}

// pctEncode percent-encodes all but the unreserved characters (RFC 5849).
func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
