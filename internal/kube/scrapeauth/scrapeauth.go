// Package scrapeauth authenticates and authorizes scrapes of the exporter's
// metrics through the API server, apart from package kube so that only the
// exporter links the API server library it needs.
package scrapeauth

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// CacheTTL is the longest a review's answer is reused: a revoked
// token or a removed permission stops working within it.
const CacheTTL = time.Minute

// Auth lets a request through only when the API server vouches for its
// caller, as it does for its own non-resource URLs: the bearer token is
// checked with a TokenReview, and the permission to get the request's path
// with a SubjectAccessReview. It uses the API server library's delegating
// authenticator and authorizer, which cache both answers.
type Auth struct {
	authn authenticator.Request
	authz authorizer.Authorizer
	log   *slog.Logger
}

// New builds an Auth that reviews through the API server at cfg.
func New(cfg *rest.Config, log *slog.Logger) (*Auth, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("scrape authentication client: %w", err)
	}
	// Retries of a failed review, as kube-apiserver's own delegation does.
	backoff := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		TokenAccessReviewClient:  client.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      backoff,
		CacheTTL:                 CacheTTL,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("scrape authenticator: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: client.AuthorizationV1(),
		AllowCacheTTL:             CacheTTL,
		DenyCacheTTL:              CacheTTL / 2,
		WebhookRetryBackoff:       backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("scrape authorizer: %w", err)
	}
	return &Auth{authn: authn, authz: authz, log: log}, nil
}

// Wrap answers as the API server does for its own paths: 401 without a
// valid bearer token (a token the review refuses and a review that cannot
// be made alike), 403 when the token's user may not get the path, 500 when
// the permission could not be reviewed; otherwise it passes the request on.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok, err := a.authn.AuthenticateRequest(r)
		if err != nil || !ok {
			if err != nil {
				a.log.Debug("scrape.unauthenticated", "path", r.URL.Path, "err", err)
			}
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		decision, _, err := a.authz.Authorize(r.Context(), authorizer.AttributesRecord{
			User: resp.User, Verb: strings.ToLower(r.Method), Path: r.URL.Path,
		})
		switch {
		case decision == authorizer.DecisionAllow:
			next.ServeHTTP(w, r)
		case err != nil:
			a.log.Warn("scrape.authorization_failed", "user", resp.User.GetName(), "path", r.URL.Path, "err", err)
			http.Error(w, "the permission could not be reviewed", http.StatusInternalServerError)
		default:
			http.Error(w, fmt.Sprintf("Forbidden: user %q may not get %s", resp.User.GetName(), r.URL.Path), http.StatusForbidden)
		}
	})
}
