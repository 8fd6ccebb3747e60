// The alerts on the orphan backlog and on the exporter's own health. The
// expressions aggregate with max() where replicas would otherwise double the
// count: every replica computes the same verdict.
local promql = import 'promql.libsonnet';
local text = import 'text.libsonnet';

{
  local c = $._config,
  local q = promql.new(c),

  // alert is one rule as every orphans alert has it: a severity, a summary, a
  // description, and a runbook at the alert's heading in docs/deploy.md.
  local alert(name, severity, expr, summary, description, forDuration=null, labels={}) = {
    alert: name,
    expr: expr,
    [if forDuration != null then 'for']: forDuration,
    labels: { severity: severity } + labels,
    annotations: {
      summary: summary,
      description: description,
      runbook_url: c.runbookURLPattern % std.asciiLower(name),
    },
  },

  prometheusAlerts+:: {
    groups+: [{
      name: 'orphans',
      rules: [
        alert(
          'OrphanNamespaceBacklogHigh',
          'warning',
          '%s > %d' % [q.agg('max', ['kind'], q.metric('candidates_current')), c.backlogThreshold],
          'More than %d orphan candidates of kind {{ $labels.kind }} for %s.' % [c.backlogThreshold, text.duration(c.backlogFor)],
          '{{ $value }} tenant namespaces of kind {{ $labels.kind }} have no live ledger record. Each keeps pods and volumes running; list them with `kubectl orphans list` and reclaim them deliberately.',
          c.backlogFor,
          { priority: 'P2' },
        ),
        alert(
          'OrphanNamespaceCandidateOld',
          'warning',
          '%s > %d * 86400' % [q.agg('max', ['kind'], q.metric('oldest_candidate_age_seconds')), c.candidateOldDays],
          'An orphan candidate of kind {{ $labels.kind }} is older than %d days.' % c.candidateOldDays,
          'The oldest orphan candidate of kind {{ $labels.kind }} was created {{ $value | humanizeDuration }} ago. Orphans this old are usually a teardown that failed half way and was never retried.',
          c.candidateOldFor,
        ),
        // A disabled exporter reports up 0 as well; it is not sweeping, not failing.
        alert(
          'OrphanSweepFailing',
          'warning',
          '%s == 0 and %s == 1' % [q.metric('up'), q.metric('enabled')],
          'Orphan sweeps of {{ $labels.pod }} have been failing for %s.' % text.duration(c.sweepFailingFor),
          "The exporter cannot list namespaces or read the ledger (see %s by stage and the exporter's sweep.failed logs). It reports no candidates while failing, so the backlog alerts cannot fire." % q.name('errors_total'),
          c.sweepFailingFor,
        ),
        // Also catches a sweep loop that hangs: its last result may still say up.
        alert(
          'OrphanSweepStale',
          'warning',
          'time() - %s > %d * %s and %s == 1' % [q.metric('last_success_timestamp_seconds'), c.sweepStaleIntervals, q.metric('interval_seconds'), q.metric('enabled')],
          'No successful orphan sweep on {{ $labels.pod }} for more than %s intervals.' % text.count(c.sweepStaleIntervals),
          'The last successful sweep was {{ $value | humanizeDuration }} ago. The candidates and backlog gauges are out of date.',
          c.sweepStaleFor,
        ),
        // absent() of a comparison carries no labels: the selector's own
        // label="value" matchers route it like the others.
        alert(
          'OrphanExporterAbsent',
          'warning',
          'absent(%s == 1)' % q.series('up'),
          'The orphans exporter has not been scraped for %s.' % text.duration(c.exporterAbsentFor),
          'Prometheus has no healthy orphans exporter target (%s), so orphaned namespaces go unnoticed and none of the other orphan alerts can fire.' % q.series('up'),
          c.exporterAbsentFor,
          promql.equalityLabels(c.orphansSelector),
        ),
        alert(
          'OrphanCandidateResurrected',
          'warning',
          '%s > 0' % q.agg('max', ['kind'], 'increase(%s[%s])' % [q.metric('candidates_resurrected_total'), c.resurrectedWindow]),
          'An orphan candidate of kind {{ $labels.kind }} came back to life.',
          'A namespace reported as orphaned turned out to have a live ledger record within %s: a detection that reclaim would have acted on wrongly. Find out why (ledger lag, a restore, a status the exporter treats as terminal) before enabling reclaim.' % text.last(c.resurrectedWindow),
        ),
        // A ghost: the ledger says live, the cluster has no namespace.
        alert(
          'TenantResourceWithoutNamespace',
          'critical',
          '%s > 0' % q.agg('max', ['kind'], q.metric('ghosts_current')),
          'Live tenant resources of kind {{ $labels.kind }} have no namespace.',
          "{{ $value }} tokens of kind {{ $labels.kind }} have a live ledger row older than the ghost grace and no namespace in the cluster: the platform serves or bills a resource that is not running. The exporter's /ghosts lists them; nothing acts on them by itself.",
          c.ghostsFor,
        ),
        // Sums as the exporter last read them (every --contents.interval).
        alert(
          'OrphanLeakedStorageHigh',
          'warning',
          '%s > %d * 1024^3' % [q.agg('max', ['kind'], q.metric('candidates_storage_requested_bytes')), c.leakedStorageGiB],
          'Orphan candidates of kind {{ $labels.kind }} hold more than %d GiB of storage.' % c.leakedStorageGiB,
          'The PVCs of the current orphan candidates of kind {{ $labels.kind }} request {{ $value | humanize1024 }}B of storage that no live tenant uses. `kubectl orphans list -o wide` shows it per namespace; reclaim them deliberately, or find out why the ledger disowns them.',
          c.leakedStorageFor,
        ),
        // A guard lowered for a test bed must never reach production in
        // silence: the exporter exports one series per guard, 1 when weakened.
        alert(
          'OrphanSafetyGuardWeakened',
          'warning',
          '%s > 0' % q.agg('max', ['guard'], q.metric('guard_weakened')),
          'The orphan sweep runs with the safety guard {{ $labels.guard }} weaker than its default.',
          "The exporter was started with --{{ $labels.guard }} set weaker than its default: candidates may be reported or marked reclaimable on less evidence than the defaults require. Its config.warning log line has the value and the default, and /candidates lists the guard in policy.weakened. Restore the default, or keep it only where that is deliberate (a test bed).",
          c.guardWeakenedFor,
        ),
      ],
    }],
  },
}
