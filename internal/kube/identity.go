package kube

import (
	"context"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Identity is who the API server authenticates the caller as.
type Identity struct {
	Username string
	Groups   []string
}

// WhoAmI asks the API server, with a SelfSubjectReview, who the caller is.
// The answer is the server's own (after impersonation and authentication
// plugins), so it is the name an audit record can be attributed to, not one
// the caller claims.
func WhoAmI(ctx context.Context, cs kubernetes.Interface) (Identity, error) {
	rev, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("self subject review: %w", err)
	}
	u := rev.Status.UserInfo
	if u.Username == "" {
		return Identity{}, errors.New("self subject review: the API server returned no username")
	}
	return Identity{Username: u.Username, Groups: u.Groups}, nil
}
