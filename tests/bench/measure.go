package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orphansweep/orphans/internal/api"
	"github.com/orphansweep/orphans/internal/testenv"
)

// process is a program under measurement, started by the harness.
type process struct {
	name string
	cmd  *exec.Cmd
	// url serves /candidates and /ghosts, metricsURL /metrics and the
	// probes: the exporter's two listeners (one and the same for the baseline).
	url, metricsURL string
	logPath         string
	started         time.Time
	exited          chan struct{}
}

func startProcess(name string, argv, env []string, url, metricsURL, logPath string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	// The harness owns it: if the harness dies, so does it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{name: name, cmd: cmd, url: url, metricsURL: metricsURL, logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	return p, nil
}

// stop ends the process gracefully, or kills it after a while.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *process) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); log tail:\n%s", p.name, p.cmd.ProcessState, tail(p.logPath, 20))
	default:
		return nil
	}
}

// memory returns the process's resident set size and its peak, in bytes.
func (p *process) memory() (rss, peak uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status %s: %q", k, v)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n * 1024
		} else {
			peak = n * 1024
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc status")
	}
	return rss, peak, nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Phase is what was measured of one program (the exporter or the baseline)
// on one fleet.
type Phase struct {
	Name string
	// FirstSweep is from process start to the first successful sweep served.
	FirstSweep time.Duration
	// Sweeps and Ledger are the durations of distinct successful sweeps in
	// the measurement window, and of the ledger query inside each.
	Sweeps, Ledger []time.Duration
	// SweepsInWindow counts every sweep the program ran in the window (its
	// own counter), FailedSweeps the failed ones among them.
	SweepsInWindow, FailedSweeps int
	// Starts of the sampled sweeps.
	Starts []time.Time
	// Requests to the API server in the window, from the audit log, by verb;
	// StartupRequests are those before the window (list and watch).
	Requests        map[string]int
	StartupRequests map[string]int
	// DuringSweeps counts, for each sampled sweep, the requests the API
	// server received while it ran.
	DuringSweeps []int
	// RSS after the fleet is synced and warmed up, the highest sampled in
	// the window, and the kernel's peak (VmHWM) at the end.
	RSSSynced, RSSMax, RSSPeak uint64
	// HTTP latencies while sweeps ran.
	Metrics, Candidates []time.Duration
	// Healthz is the control: a handler that only writes "ok", timed the
	// same way, so the machine's own latency floor is on record.
	Healthz []time.Duration
	// When each of those requests was sent, in the same order.
	MetricsAt, CandidatesAt, HealthzAt []time.Time
	HTTPErrors                         int
	// Sequential and index scans of the ledger table in the window.
	SeqScans, IdxScans int64
	// GhostSweeps are the durations of the successful ghost sweeps that
	// ended in the window, from the exporter's ghost sweep histogram, and
	// GhostEnds when each was seen to have ended (by the end of the /metrics
	// request that saw it). GhostFailed counts the failed ones, and
	// GhostUnsampled those that ended between two reads (not timed).
	GhostSweeps                 []time.Duration
	GhostEnds                   []time.Time
	GhostFailed, GhostUnsampled int
	// Ghosts is the exporter's ghost gauge (both kinds) at the end of the window.
	Ghosts int
	// Found are the candidate namespaces of the last sweep.
	Found    []string
	InScope  int
	Window   time.Duration
	Warmup   int
	Interval time.Duration
	// Pace is the time between two requests of each probe.
	Pace time.Duration
}

// RequestsPerSweep is the mean number of API requests received while a
// sampled sweep ran.
func (p *Phase) RequestsPerSweep() float64 {
	if len(p.DuringSweeps) == 0 {
		return 0
	}
	n := 0
	for _, c := range p.DuringSweeps {
		n += c
	}
	return float64(n) / float64(len(p.DuringSweeps))
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

type phaseSpec struct {
	proc         *process
	user         string
	sweepMetric  string // histogram of sweep durations
	errorMetric  string // counter (or counter vector) of failed sweeps
	sweeps       int
	warmup       int
	pace         time.Duration // between HTTP requests of each client
	cp           *testenv.ControlPlane
	dsn          string
	firstTimeout time.Duration
	// settle, when set, runs after the first successful sweep and before
	// the warm-up: the steady state starts after it.
	settle func(context.Context, *process) error
	// ghostSweeps, when above 0, makes the window read the ghost sweeps
	// too, from the /metrics the probe reads anyway, and last until that
	// many ghost sweeps have been timed.
	ghostSweeps int
}

var httpClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

func get(ctx context.Context, url string) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, 0, err
	}
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, time.Since(start), err
}

// candidates reads GET /candidates; doc is nil unless the answer is a 200.
func candidates(ctx context.Context, base string) (*api.Candidates, time.Duration, error) {
	code, body, took, err := get(ctx, base+"/candidates")
	if err != nil {
		return nil, 0, err
	}
	if code != http.StatusOK {
		return nil, took, nil
	}
	var doc api.Candidates
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, took, fmt.Errorf("/candidates: %w", err)
	}
	return &doc, took, nil
}

// metricSum reads GET /metrics and returns the sum of a counter's or a
// gauge's series, or a histogram's sample count.
func metricSum(ctx context.Context, base, name string) (float64, error) {
	mfs, err := scrape(ctx, base)
	if err != nil {
		return 0, err
	}
	mf, ok := mfs[name]
	if !ok {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	return familySum(mf), nil
}

// scrape reads GET /metrics into its metric families.
func scrape(ctx context.Context, base string) (map[string]*dto.MetricFamily, error) {
	code, body, _, err := get(ctx, base+"/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	return mfs, nil
}

// familySum is the sum of a counter's or a gauge's series, or a
// histogram's sample count; 0 for a family that is absent.
func familySum(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v
}

// requestsBy counts the API requests of user by verb, from the audit log,
// and returns when each was received, in order.
func requestsBy(cp *testenv.ControlPlane, user string) (map[string]int, []time.Time, error) {
	verbs := map[string]int{}
	var received []time.Time
	_, err := cp.AuditEvents(func(e testenv.AuditEvent) bool {
		if e.User.Username == user && e.IsRequest() {
			verbs[e.Verb]++
			received = append(received, e.Received)
		}
		return false // counted; nothing to keep
	})
	sort.Slice(received, func(i, j int) bool { return received[i].Before(received[j]) })
	return verbs, received, err
}

// countBetween counts the sorted times in [from, to].
func countBetween(sorted []time.Time, from, to time.Time) int {
	lo := sort.Search(len(sorted), func(i int) bool { return !sorted[i].Before(from) })
	hi := sort.Search(len(sorted), func(i int) bool { return sorted[i].After(to) })
	return hi - lo
}

func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func tableScans(ctx context.Context, dsn string) (seq, idx int64, err error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'resources'`).Scan(&seq, &idx)
	return seq, idx, err
}

// measure waits for the program's first successful sweep, lets it warm up,
// then for a window of spec.sweeps sweeps samples every sweep, drives two
// paced HTTP clients (one on /metrics, one on /candidates) and samples its
// memory; API requests and ledger scans are counted across the window.
func measure(ctx context.Context, spec phaseSpec, progress func(string, ...any)) (*Phase, error) {
	p := spec.proc
	ph := &Phase{Name: p.name, Warmup: spec.warmup, Pace: spec.pace}

	// first successful sweep
	firstCtx, cancel := context.WithTimeout(ctx, spec.firstTimeout)
	defer cancel()
	var last time.Time
	for {
		if err := p.alive(); err != nil {
			return nil, err
		}
		doc, _, err := candidates(firstCtx, p.url)
		if err == nil && doc != nil && doc.Sweep.OK {
			ph.FirstSweep = time.Since(p.started)
			last = doc.GeneratedAt
			break
		}
		if firstCtx.Err() != nil {
			return nil, fmt.Errorf("%s: no successful sweep within %s; log tail:\n%s", p.name, spec.firstTimeout, tail(p.logPath, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	progress("%s: first sweep %s after start", p.name, ph.FirstSweep.Round(time.Millisecond))
	if spec.settle != nil {
		if err := spec.settle(ctx, spec.proc); err != nil {
			return nil, err
		}
		if err := p.alive(); err != nil {
			return nil, err
		}
	}

	// warm-up
	for seen := 0; seen < spec.warmup; {
		if err := p.alive(); err != nil {
			return nil, err
		}
		doc, _, err := candidates(ctx, p.url)
		if err != nil {
			return nil, err
		}
		if doc != nil && doc.GeneratedAt.After(last) {
			last = doc.GeneratedAt
			seen++
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(spec.pace)
	}
	var err error
	if ph.RSSSynced, _, err = p.memory(); err != nil {
		return nil, err
	}
	ph.RSSMax = ph.RSSSynced

	// window
	if ph.StartupRequests, _, err = requestsBy(spec.cp, spec.user); err != nil {
		return nil, err
	}
	sweeps0, err := metricSum(ctx, p.metricsURL, spec.sweepMetric)
	if err != nil {
		return nil, err
	}
	errs0, err := metricSum(ctx, p.metricsURL, spec.errorMetric)
	if err != nil {
		return nil, err
	}
	seq0, idx0, err := tableScans(ctx, spec.dsn)
	if err != nil {
		return nil, err
	}
	windowStart := time.Now()

	winCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		loopErr error
		done    = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		if loopErr == nil {
			loopErr = err
		}
		mu.Unlock()
		stop()
	}
	// The four probes run at the same pace, a quarter of it apart, so the
	// harness never queues its own requests behind each other: a request
	// meets the sweeps, as a scrape would, and not the other probes.
	paced := func(slot int, f func() error) {
		offset := time.Duration(slot) * spec.pace / 4
		select {
		case <-winCtx.Done():
			return
		case <-time.After(offset):
		}
		t := time.NewTicker(spec.pace)
		defer t.Stop()
		for {
			if err := f(); err != nil {
				fail(err)
				return
			}
			select {
			case <-winCtx.Done():
				return
			case <-t.C:
			}
		}
	}
	// finished tells the wait below, under mu, once the window holds
	// enough sweeps (and ghost sweeps).
	finished := func() {
		if len(ph.Sweeps) >= spec.sweeps && len(ph.GhostSweeps) >= spec.ghostSweeps {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}
	// timed GETs path and records its latency and send time under mu; body,
	// when set, then reads the answer, still under mu.
	timed := func(slot int, path string, took *[]time.Duration, sent *[]time.Time, body func(end time.Time, b []byte) error) {
		paced(slot, func() error {
			at := time.Now()
			code, b, d, err := get(winCtx, p.metricsURL+path)
			if winCtx.Err() != nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code != http.StatusOK {
				ph.HTTPErrors++
				return nil
			}
			*took, *sent = append(*took, d), append(*sent, at)
			if body != nil {
				return body(at.Add(d), b)
			}
			return nil
		})
	}
	var ghostBody func(time.Time, []byte) error
	if spec.ghostSweeps > 0 {
		var last *ghostSeries
		ghostBody = func(end time.Time, b []byte) error {
			cur, err := readGhostSeries(b)
			if err != nil {
				return err
			}
			if last != nil {
				switch n := cur.count - last.count; {
				case n == 1 && cur.up:
					ph.GhostSweeps = append(ph.GhostSweeps, seconds(cur.sum-last.sum))
					ph.GhostEnds = append(ph.GhostEnds, end)
				case n == 1:
					ph.GhostFailed++
				case n > 1:
					ph.GhostUnsampled += n
				}
			}
			last, ph.Ghosts = &cur, cur.current
			finished()
			return nil
		}
	}
	wg.Go(func() { timed(0, "/metrics", &ph.Metrics, &ph.MetricsAt, ghostBody) })
	wg.Go(func() { timed(1, "/healthz", &ph.Healthz, &ph.HealthzAt, nil) })
	wg.Go(func() {
		paced(2, func() error {
			at := time.Now()
			doc, took, err := candidates(winCtx, p.url)
			if winCtx.Err() != nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ph.HTTPErrors++
				return nil
			}
			// A 503 (a failed sweep) is an answer too: it is timed, and the
			// failure is counted from the program's own counter.
			ph.Candidates, ph.CandidatesAt = append(ph.Candidates, took), append(ph.CandidatesAt, at)
			if doc != nil && doc.GeneratedAt.After(last) {
				last = doc.GeneratedAt
				ph.Starts = append(ph.Starts, doc.GeneratedAt)
				ph.Sweeps = append(ph.Sweeps, seconds(doc.Sweep.DurationSeconds))
				ph.Ledger = append(ph.Ledger, seconds(doc.Sweep.LedgerQuerySeconds))
				ph.InScope = doc.Sweep.NamespacesInScope
				ph.Found = ph.Found[:0]
				for _, c := range doc.Candidates {
					ph.Found = append(ph.Found, c.Namespace)
				}
				finished()
			}
			return nil
		})
	})
	wg.Go(func() {
		paced(3, func() error {
			if err := p.alive(); err != nil {
				return err
			}
			rss, _, err := p.memory()
			if err != nil {
				return err
			}
			mu.Lock()
			ph.RSSMax = max(ph.RSSMax, rss)
			mu.Unlock()
			return nil
		})
	})
	reported := 0
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-winCtx.Done():
			waiting = false
		case <-time.After(30 * time.Second):
			mu.Lock()
			n, g := len(ph.Sweeps), len(ph.GhostSweeps)
			mu.Unlock()
			switch {
			case spec.ghostSweeps > 0 && n+g > reported:
				progress("%s: %d of %d sweeps and %d of %d ghost sweeps measured", p.name, n, spec.sweeps, g, spec.ghostSweeps)
			case n > reported:
				progress("%s: %d of %d sweeps measured", p.name, n, spec.sweeps)
			}
			reported = max(reported, n+g)
		}
	}
	stop()
	wg.Wait()
	if loopErr != nil {
		return nil, loopErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	ph.Window = time.Since(windowStart)

	sweeps1, err := metricSum(ctx, p.metricsURL, spec.sweepMetric)
	if err != nil {
		return nil, err
	}
	errs1, err := metricSum(ctx, p.metricsURL, spec.errorMetric)
	if err != nil {
		return nil, err
	}
	ph.SweepsInWindow = int(sweeps1 - sweeps0)
	ph.FailedSweeps = int(errs1 - errs0)
	after, received, err := requestsBy(spec.cp, spec.user)
	if err != nil {
		return nil, err
	}
	ph.Requests = diff(after, ph.StartupRequests)
	for i, start := range ph.Starts {
		ph.DuringSweeps = append(ph.DuringSweeps, countBetween(received, start, start.Add(ph.Sweeps[i])))
	}
	if _, ph.RSSPeak, err = p.memory(); err != nil {
		return nil, err
	}
	// The kernel updates VmHWM lazily; a sample can be above it.
	ph.RSSPeak = max(ph.RSSPeak, ph.RSSMax)
	// Backends report table statistics when idle, at most every second.
	time.Sleep(1500 * time.Millisecond)
	seq1, idx1, err := tableScans(ctx, spec.dsn)
	if err != nil {
		return nil, err
	}
	ph.SeqScans, ph.IdxScans = seq1-seq0, idx1-idx0
	sort.Strings(ph.Found)
	return ph, nil
}

// Series of the exporter's ghost sweep, as its /metrics names them.
const (
	ghostDurationMetric = "instant_orphan_db_sweep_ghosts_duration_seconds"
	ghostUpMetric       = "instant_orphan_db_sweep_ghosts_up"
	ghostCurrentMetric  = "instant_orphan_db_sweep_ghosts_current"
)

// ghostSeries is what one /metrics answer says of the ghost sweeps.
type ghostSeries struct {
	count      int
	sum        float64
	up         bool
	current    int
	seenSeries int
}

// readGhostSeries reads the ghost sweep histogram's count and sum, the up
// gauge and the ghost gauges (summed over kinds) from a /metrics answer in
// the text format, line by line: the probe reads it every few tens of
// milliseconds.
func readGhostSeries(body []byte) (ghostSeries, error) {
	var g ghostSeries
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' || !bytes.HasPrefix(line, []byte("instant_orphan_db_sweep_ghosts_")) {
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		series := string(name)
		if i := strings.IndexByte(series, '{'); i >= 0 {
			series = series[:i]
		}
		fields := bytes.Fields(value)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(string(fields[0]), 64)
		if err != nil {
			return g, fmt.Errorf("/metrics: %s: %w", line, err)
		}
		switch series {
		case ghostDurationMetric + "_count":
			g.count, g.seenSeries = int(v), g.seenSeries|1
		case ghostDurationMetric + "_sum":
			g.sum, g.seenSeries = v, g.seenSeries|2
		case ghostUpMetric:
			g.up, g.seenSeries = v == 1, g.seenSeries|4
		case ghostCurrentMetric:
			g.current, g.seenSeries = g.current+int(v), g.seenSeries|8
		}
	}
	if g.seenSeries != 15 {
		return g, fmt.Errorf("/metrics lacks the ghost sweep series (%s, %s, %s)", ghostDurationMetric, ghostUpMetric, ghostCurrentMetric)
	}
	return g, nil
}

// OutsideSweeps returns the latencies of the requests (sent at at, taking
// took) that overlapped none of the sampled sweeps, and how many did.
func (ph *Phase) OutsideSweeps(took []time.Duration, at []time.Time) (outside []time.Duration, overlapped int) {
	for i, d := range took {
		begin, end := at[i], at[i].Add(d)
		hit := false
		for j, start := range ph.Starts {
			if begin.Before(start.Add(ph.Sweeps[j])) && end.After(start) {
				hit = true
				break
			}
		}
		if hit {
			overlapped++
		} else {
			outside = append(outside, d)
		}
	}
	return outside, overlapped
}

// BesideGhosts splits the sampled sweeps' durations by whether they
// overlapped a timed ghost sweep. A ghost sweep is taken to have run from
// its duration before the read that saw it end, less the time between two
// reads, to the end of that read.
func (ph *Phase) BesideGhosts() (overlapped, apart []time.Duration) {
	for i, d := range ph.Sweeps {
		begin, end := ph.Starts[i], ph.Starts[i].Add(d)
		hit := false
		for j, g := range ph.GhostSweeps {
			gEnd := ph.GhostEnds[j]
			if begin.Before(gEnd) && end.After(gEnd.Add(-g-ph.Pace)) {
				hit = true
				break
			}
		}
		if hit {
			overlapped = append(overlapped, d)
		} else {
			apart = append(apart, d)
		}
	}
	return overlapped, apart
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// percentile returns the nearest-rank q-quantile of ds (0 < q <= 1).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(float64(len(s))*q+0.999999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// loadAverage is the 1-minute load average, to show how busy the shared
// machine was around a measurement.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// memTotal is the machine's memory as /proc/meminfo gives it.
func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "MemTotal" {
			continue
		}
		var kb float64
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err != nil {
			return strings.TrimSpace(v)
		}
		return fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	return "?"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
