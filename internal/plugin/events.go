package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/orphansweep/orphans/internal/logsafe"
)

// Event reasons, one per kind of outcome.
const (
	EventReclaimRequested = "OrphanReclaimRequested"
	EventReclaimSkipped   = "OrphanReclaimSkipped"
	EventReclaimFailed    = "OrphanReclaimFailed"
)

// eventNamespace holds the Events: a Namespace is cluster-scoped, and the
// API server files events about cluster-scoped objects in default.
const eventNamespace = metav1.NamespaceDefault

// eventTimeout bounds one Event write; it must not hold up the run.
const eventTimeout = 10 * time.Second

// events records an Event per outcome, so that `kubectl events` and
// `kubectl describe namespace` show who asked for what, next to the API
// server's own record.
type events struct {
	cs     kubernetes.Interface
	warn   func(format string, a ...any)
	m      *masker
	actor  string
	plan   string
	now    func() time.Time
	enable bool
}

func (o *ReclaimOptions) eventRecorder(actor string, m *masker) *events {
	e := &events{
		cs: o.kube, m: m, actor: actor, now: o.now,
		// A client dry run sends nothing, so nothing happened to record.
		enable: o.DryRun != DryRunClient,
		warn:   func(format string, a ...any) { fmt.Fprintf(o.ErrOut, "Warning: "+format+"\n", a...) },
	}
	if o.plan != nil {
		e.plan = o.plan.Digest
	}
	return e
}

// eventFor returns the Event for an outcome, or nil when there is none.
func (e *events) eventFor(out Outcome) *corev1.Event {
	var typ, reason string
	switch out.Result {
	case OutcomeReclaimed, OutcomeDryRunOK:
		typ, reason = corev1.EventTypeNormal, EventReclaimRequested
	case OutcomeSkipped:
		typ, reason = corev1.EventTypeNormal, EventReclaimSkipped
	case OutcomeFailed, OutcomeUncertain:
		typ, reason = corev1.EventTypeWarning, EventReclaimFailed
	default:
		return nil
	}
	result := out.Result
	if out.Why != "" {
		result += " (" + out.Why + ")"
	}
	parts := []string{
		fmt.Sprintf("%s by %s", result, e.actor),
		"token " + orNone(logsafe.Mask(out.token)),
	}
	if out.Detail != "" {
		parts = append(parts, e.m.Text(out.Detail))
	}
	if out.Held != nil && out.Held.Error == "" && out.Result != OutcomeSkipped {
		parts = append(parts, "held "+contentsSummary(out.Held, e.now())+" ago")
	}
	parts = append(parts, "audit_id "+orNone(out.AuditID))
	if out.RequestID != "" {
		parts = append(parts, "request_id "+out.RequestID)
	}
	if e.plan != "" {
		parts = append(parts, "plan "+e.plan)
	}
	now := metav1.NewTime(e.now())
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "orphans-reclaim-", Namespace: eventNamespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "Namespace", Name: out.Namespace, UID: types.UID(out.uid),
		},
		Type:           typ,
		Reason:         reason,
		Message:        e.m.Text(strings.Join(parts, "; ")),
		Source:         corev1.EventSource{Component: Program},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
}

// record writes the Event of out. A failure warns and changes nothing else.
func (e *events) record(ctx context.Context, out Outcome) {
	if !e.enable {
		return
	}
	ev := e.eventFor(out)
	if ev == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	defer cancel()
	if _, err := e.cs.CoreV1().Events(eventNamespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		e.warn("could not record Event %s for %s: %s", ev.Reason, e.m.Namespace(out.Namespace), e.m.Text(err.Error()))
	}
}
