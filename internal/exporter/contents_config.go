package exporter

import (
	"fmt"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// ContentsReadOptions are the flags of the fresh checks' contents reads,
// which go through a client and a limiter of their own.
type ContentsReadOptions struct {
	FreshQPS float64
}

func (o *ContentsReadOptions) addFlags(app *kingpin.Application) {
	app.Flag("contents.fresh-qps", "Client-side limit of the fresh checks' contents reads, in Kubernetes API requests per second, "+
		"on a client of their own: a busy contents loop never delays them. "+strconv.Itoa(FreshChecks)+
		" namespaces' reads (as many as fresh checks run at once) may go in one burst.").Default("10").SetValue(floatValue("contents.fresh-qps", &o.FreshQPS))
}

// validate checks the flags; the error names the flag in one line.
func (o *ContentsReadOptions) validate() error {
	if !(o.FreshQPS > 0) {
		return fmt.Errorf("invalid --contents.fresh-qps: %v: must be positive", o.FreshQPS)
	}
	return nil
}

// config derives the contents readers' limits from the validated flags, c's
// contents loop settings among them: each reader's deadline covers its wait
// for its limiter, and the loop reads no more namespaces per interval than
// its limiter lets through.
func (o *ContentsReadOptions) config(c *Config, requestTimeout time.Duration) {
	perNamespace := c.Contents.RequestsPerNamespace()
	qps := float64(c.Contents.QPS)
	// A read waits for its own requests and those of the reads running
	// beside it, at the loop's rate; a deadline of one request's would fail
	// reads that are merely queued.
	queued := time.Duration(float64(c.ContentsConcurrency*perNamespace) / qps * float64(time.Second))
	c.Contents.Timeout = requestTimeout + queued
	// Beyond what its limiter lets through in an interval, a round would
	// outlast the interval and the budget would never order the reads
	// (never-read first, then the longest unread). With the defaults (5
	// requests a second, 5 minutes, 12 requests a namespace) that is 125
	// namespaces, not the budget's 1 000.
	if c.ContentsInterval > 0 {
		capacity := int(qps * c.ContentsInterval.Seconds() / float64(perNamespace))
		c.ContentsBudget = max(1, min(c.ContentsBudget, capacity))
	}
	// The fresh checks' reader: FreshChecks reads at once pass in one burst,
	// so no fresh check waits for another's, and none for the loop's.
	c.FreshContents = c.Contents
	c.FreshContents.QPS, c.FreshContents.Burst = float32(o.FreshQPS), FreshChecks*perNamespace
	c.FreshContents.Timeout = requestTimeout
}
