package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/orphansweep/orphans/internal/api"
)

// routes registers handlers on a mux by route, each instrumented under its
// route as the `handler` label.
type routes struct {
	mux *http.ServeMux
	m   *httpMetrics
}

func newRoutes(m *httpMetrics) routes { return routes{mux: http.NewServeMux(), m: m} }

func (r routes) handle(route string, h http.Handler) {
	pattern := route
	if route == "/" {
		pattern = "/{$}"
	}
	r.mux.Handle("GET "+pattern, r.m.instrument(route, h))
}

// newMetricsMux is the metrics listener: metrics, probes and a landing page.
// The API's paths answer 404 here, saying where they are served.
func newMetricsMux(cfg Config, srv *Server, reg *prometheus.Registry, hm *httpMetrics, auth func(http.Handler) http.Handler, log *slog.Logger) (http.Handler, error) {
	r := newRoutes(hm)
	var metricsHandler http.Handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          reg,
		Timeout:           cfg.Timeout,
		EnableOpenMetrics: true,
	}))
	if auth != nil {
		metricsHandler = auth(metricsHandler)
	}
	r.handle(cfg.Web.TelemetryPath, metricsHandler)
	r.handle("/healthz", http.HandlerFunc(srv.healthz))
	r.handle("/livez", http.HandlerFunc(srv.healthz))
	r.handle("/readyz", http.HandlerFunc(srv.readyz))
	for _, p := range apiPaths {
		r.handle(p, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			srv.writeJSON(w, http.StatusNotFound, api.Error{Error: p + " is served on the API listener (--api.listen-address), not with the metrics"})
		}))
	}
	links := []web.LandingLinks{{Address: cfg.Web.TelemetryPath, Text: "Metrics"}}
	for _, p := range probePaths {
		links = append(links, web.LandingLinks{Address: p, Text: "Probe " + p})
	}
	landing, err := landingPage("Metrics of the orphan sweep. The candidates and their tokens are served on the API listener.", links)
	if err != nil {
		return nil, err
	}
	r.handle("/", landing)
	return r.mux, nil
}

// newAPIMux is the API listener: the documents that carry tenant tokens.
func newAPIMux(srv *Server, hm *httpMetrics) (http.Handler, error) {
	r := newRoutes(hm)
	r.handle("/candidates", http.HandlerFunc(srv.candidates))
	r.handle("/candidates/{namespace}", http.HandlerFunc(srv.candidate))
	r.handle("/ghosts", http.HandlerFunc(srv.ghostsDoc))
	landing, err := landingPage("The orphan sweep's API. Its documents carry unmasked tenant tokens.", []web.LandingLinks{
		{Address: "/candidates", Text: "Candidates (JSON)"},
		{Address: "/ghosts", Text: "Ghosts: live ledger rows without a namespace (JSON)"},
	})
	if err != nil {
		return nil, err
	}
	r.handle("/", landing)
	return r.mux, nil
}

func landingPage(description string, links []web.LandingLinks) (http.Handler, error) {
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        Name,
		Description: "Orphaned tenant namespaces: the ledger says gone, the cluster says running. Audit-only. " + description,
		Version:     version.Info(),
		Links:       links,
	})
	if err != nil {
		return nil, fmt.Errorf("landing page: %w", err)
	}
	return landing, nil
}

// listener is one of the exporter's HTTP surfaces.
type listener struct {
	flag    string
	flags   *web.FlagConfig
	handler http.Handler
	// probes, when set, answers the probe paths ahead of the web config.
	probes http.Handler
}

// serveListeners binds every address of every listener, then serves them all until
// ctx ends or one fails. Binding comes first, so that a port in use stops
// start-up before anything is served.
func serveListeners(ctx context.Context, ls []listener, writeTimeout time.Duration, log *slog.Logger) error {
	type bound struct {
		l   listener
		net net.Listener
		srv *http.Server
	}
	var all []bound
	closeAll := func() {
		for _, b := range all {
			_ = b.net.Close()
		}
	}
	for _, l := range ls {
		for _, addr := range *l.flags.WebListenAddresses {
			nl, err := net.Listen("tcp", addr)
			if err != nil {
				closeAll()
				return fmt.Errorf("listen on %s (--%s): %w", addr, l.flag, err)
			}
			all = append(all, bound{l: l, net: nl, srv: &http.Server{
				Handler:           l.handler,
				ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout:       30 * time.Second,
				WriteTimeout:      writeTimeout,
				IdleTimeout:       2 * time.Minute,
				ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			}})
		}
	}
	errs := make(chan error, len(all))
	for _, b := range all {
		var nl net.Listener = b.net
		if b.l.probes != nil {
			nl = &probesFirst{Listener: b.net, srv: b.srv, probes: b.l.probes}
		}
		go func() { errs <- web.Serve(nl, b.srv, b.l.flags, log.With("listener", b.l.flag)) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			err = fmt.Errorf("serve: %w", err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, b := range all {
		_ = b.srv.Shutdown(shutdownCtx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// probesFirst answers the probes before the listener's web config applies,
// so the kubelet never needs credentials (TLS still applies to them).
// exporter-toolkit's web.Serve replaces the server's handler with one that
// enforces the web config's basic auth and then serves; the server calls
// Accept on that same goroutine, before any request runs. Wrapping the
// server's handler on the first Accept therefore puts the probes in front
// of the authenticating handler, without a data race.
type probesFirst struct {
	net.Listener
	srv    *http.Server
	probes http.Handler
	once   sync.Once
}

func (l *probesFirst) Accept() (net.Conn, error) {
	l.once.Do(func() {
		authenticating := l.srv.Handler
		l.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.Method == http.MethodGet || r.Method == http.MethodHead) && slices.Contains(probePaths, r.URL.Path) {
				l.probes.ServeHTTP(w, r)
				return
			}
			authenticating.ServeHTTP(w, r)
		})
	})
	return l.Listener.Accept()
}
