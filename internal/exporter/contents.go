package exporter

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/kube"
	"github.com/orphansweep/orphans/internal/logsafe"
	"github.com/orphansweep/orphans/internal/sweep"
)

// ContentsReader reads what one namespace holds, now.
type ContentsReader interface {
	Read(ctx context.Context, namespace string) (sweep.Contents, error)
}

// contentsKey names a namespace object: a namespace deleted and re-created
// under the same name has other contents.
func contentsKey(name, uid string) string { return name + "/" + uid }

// contentsBook holds the contents last read for the current candidates, so
// that a sweep decides on them without a request of its own.
type contentsBook struct {
	mu   sync.Mutex
	read map[string]sweep.Contents
}

func newContentsBook() *contentsBook { return &contentsBook{read: map[string]sweep.Contents{}} }

func (b *contentsBook) get(name, uid string) (sweep.Contents, bool) {
	if b == nil {
		return sweep.Contents{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.read[contentsKey(name, uid)]
	return c, ok
}

// put records one read as soon as it is done, so that a long round shows
// its progress to the next sweep.
func (b *contentsBook) put(key string, c sweep.Contents) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.read[key] = c
}

// forget drops the namespaces that are no longer candidates.
func (b *contentsBook) forget(current map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.read {
		if !current[k] {
			delete(b.read, k)
		}
	}
}

// annotate gives each namespace the contents known of it.
func (b *contentsBook) annotate(nss []sweep.Namespace) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.read) == 0 {
		return
	}
	for i := range nss {
		if c, ok := b.read[contentsKey(nss[i].Name, nss[i].UID)]; ok {
			nss[i].Contents = c
		}
	}
}

// attach puts the contents known of each candidate on its wire form.
func (b *contentsBook) attach(cs []api.Candidate) {
	for i := range cs {
		if c, ok := b.get(cs[i].Namespace, cs[i].NamespaceUID); ok {
			cs[i].Contents = wireContents(c)
		}
	}
}

// contentsLoop reads the contents of the current candidates: those not read
// yet after every sweep, and all of them every --contents.interval. It never
// reads the namespaces that are not candidates.
type contentsLoop struct {
	cfg     Config
	log     *slog.Logger
	source  *contentsSource
	book    *contentsBook
	sweeper *Sweeper
	now     func() time.Time
	// sightings are the readers' memory of objects whose changes carry no
	// time; nil when the readers keep none (tests).
	sightings *kube.Sightings
	// swept is signalled after each successful sweep.
	swept chan struct{}
	// reading serializes rounds, the loop's and a test's.
	reading sync.Mutex
	// The budget's window: reads spent since windowStart, and whether its
	// exhaustion was logged.
	windowStart time.Time
	spent       int
	exhausted   bool
}

// Run reads contents until ctx ends. The first round follows the first
// successful sweep.
func (l *contentsLoop) Run(ctx context.Context) {
	var lastFull time.Time
	timer := time.NewTimer(l.cfg.ContentsInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.swept:
		case <-timer.C:
		}
		// The first round reads every candidate, as none has been read;
		// later ones read new candidates, and all every interval.
		now := l.now()
		full := !lastFull.IsZero() && now.Sub(lastFull) >= l.cfg.ContentsInterval
		if l.round(ctx, full) && (full || lastFull.IsZero()) {
			lastFull = now
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(l.cfg.ContentsInterval)
	}
}

// round reads the contents of the latest snapshot's candidates (all of them
// when full, else those not read yet). It reports whether there was a
// successful sweep to read for.
func (l *contentsLoop) round(ctx context.Context, full bool) bool {
	l.reading.Lock()
	defer l.reading.Unlock()
	snap := l.sweeper.Latest()
	if !snap.OK {
		return false
	}
	current := make(map[string]bool, len(snap.Candidates))
	names := make(map[string]bool, len(snap.Candidates))
	var targets []api.Candidate
	for _, c := range snap.Candidates {
		k := contentsKey(c.Namespace, c.NamespaceUID)
		current[k], names[c.Namespace] = true, true
		if _, known := l.book.get(c.Namespace, c.NamespaceUID); full || !known {
			targets = append(targets, c)
		}
	}
	targets = l.budget(targets)
	var wg sync.WaitGroup
	slots := make(chan struct{}, max(1, l.cfg.ContentsConcurrency))
	for _, c := range targets {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			l.book.put(contentsKey(c.Namespace, c.NamespaceUID), l.source.read(ctx, c.Namespace))
		})
	}
	wg.Wait()
	l.book.forget(current)
	l.sightings.Forget(func(ns string) bool { return names[ns] })
	return true
}

// budget keeps the reads of a round within --contents.budget per
// --contents.interval: never-read candidates first, then those read longest
// ago, so that a fleet of candidates larger than the budget is read round
// by round. What is left out keeps its last read, or stays unread and
// unreclaimable.
func (l *contentsLoop) budget(targets []api.Candidate) []api.Candidate {
	now := l.now()
	if l.windowStart.IsZero() || now.Sub(l.windowStart) >= l.cfg.ContentsInterval {
		l.windowStart, l.spent, l.exhausted = now, 0, false
	}
	left := max(0, l.cfg.ContentsBudget-l.spent)
	if len(targets) > left {
		readAt := func(c api.Candidate) time.Time {
			got, _ := l.book.get(c.Namespace, c.NamespaceUID)
			return got.ReadAt // zero when never read: first
		}
		slices.SortStableFunc(targets, func(a, b api.Candidate) int { return readAt(a).Compare(readAt(b)) })
		if !l.exhausted {
			l.exhausted = true
			// The budget is at most what --contents.qps reads in an interval.
			l.log.Warn("contents.budget_exhausted", "candidates_to_read", len(targets), "reading", left,
				"budget", l.cfg.ContentsBudget, "interval", l.cfg.ContentsInterval.String(), "qps", l.cfg.Contents.QPS,
				"requests_per_namespace", l.cfg.Contents.RequestsPerNamespace())
		}
		targets = targets[:left]
	}
	l.spent += len(targets)
	return targets
}

// contentsSource reads one namespace's contents now, for the contents loop
// and the fresh check alike.
type contentsSource struct {
	reader ContentsReader
	now    func() time.Time
	redact *logsafe.Redactor
	log    *slog.Logger
	prefix string
}

// read reads name's contents; a failure is recorded in the contents (its
// error redacted and logged), never left out, so the candidate stays
// unreclaimable and a fresh check does not fail.
func (s *contentsSource) read(ctx context.Context, name string) sweep.Contents {
	start := s.now()
	got, err := s.reader.Read(ctx, name)
	got.ReadAt = start.UTC()
	if err != nil {
		got.Read, got.Failed, got.Error = true, true, s.redact.Redact(err.Error())
		s.log.Warn("contents.failed", "namespace", logsafe.Namespace{Name: name, Prefix: s.prefix}, "err", got.Error)
	}
	return got
}

// notify tells the loop a sweep succeeded, without ever blocking the sweep.
func (l *contentsLoop) notify() {
	if l == nil {
		return
	}
	select {
	case l.swept <- struct{}{}:
	default:
	}
}
