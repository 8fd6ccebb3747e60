// The Grafana dashboard: the backlog, the sweep's health, ghosts, what the
// candidates hold and the exporter's HTTP requests. Every query selects the
// exporter through _config and the dashboard's job (and cluster) variables.
local panels = import 'panels.libsonnet';
local promql = import 'promql.libsonnet';
local text = import 'text.libsonnet';

local row = panels.row;
local stat = panels.stat;
local timeseries = panels.timeseries;

{
  local c = $._config,
  local clusterMatchers = if c.showMultiCluster then ['%s=~"$cluster"' % c.clusterLabel] else [],
  local q = promql.new(c, ['job=~"$job"'] + clusterMatchers),
  // The variables' own queries: the job list depends on the cluster chosen.
  local jobs = promql.new(c, clusterMatchers),
  local clusters = promql.new(c),

  local candidates = q.agg('sum', [], q.agg('max', ['kind'], q.metric('candidates_current'))),
  local quantile(p, metric, by=[]) =
    'histogram_quantile(%s, %s)' % [p, q.agg('sum', ['le'] + by, 'rate(%s[$__rate_interval])' % q.metric(metric + '_bucket'))],
  local candidateOldSeconds = c.candidateOldDays * 86400,
  local leakedStorageBytes = c.leakedStorageGiB * std.pow(1024, 3),

  local backlog = [
    row('Backlog'),
    stat('Candidates',
         'Orphan candidates in the latest sweep, all kinds. 0 when the sweep failed or is disabled: read it with Sweep state.',
         candidates,
         'short',
         panels.redFrom(c.backlogThreshold + 1)),
    stat('Reclaimable',
         'Candidates that pass every reclaim rule. Non-zero only with both safety flags on.',
         q.agg('sum', [], q.agg('max', ['kind'], q.metric('candidates_reclaimable'))),
         'short',
         panels.green),
    stat('Oldest candidate',
         'Age of the oldest candidate namespace, since its creation.',
         q.agg('max', [], q.metric('oldest_candidate_age_seconds')),
         's',
         panels.redFrom(candidateOldSeconds)),
    stat('Sweep state',
         '1 when the latest sweep succeeded; 0 when it failed or the sweep is disabled.',
         q.agg('min', [], q.metric('up')),
         'short',
         panels.greenFrom(1),
         panels.valueText({ '0': ['failing / off', 'red'], '1': ['ok', 'green'] })),
    stat('Sweep enabled',
         'ORPHAN_DB_SWEEP_ENABLED on every replica.',
         q.agg('min', [], q.metric('enabled')),
         'short',
         panels.green,
         panels.valueText({ '0': ['off', 'orange'], '1': ['on', 'green'] })),
    stat('Reclaim enabled',
         'ORPHAN_DB_SWEEP_DESTRUCTIVE_ENABLED (with the master flag) on any replica.',
         q.agg('max', [], q.metric('destructive_enabled')),
         'short',
         panels.green,
         panels.valueText({ '0': ['off', 'green'], '1': ['on', 'orange'] })),
    timeseries('Backlog by kind',
               'Orphan candidates per kind. OrphanNamespaceBacklogHigh fires when a kind stays above %d for %s.' % [c.backlogThreshold, text.duration(c.backlogFor)],
               'short',
               [
                 [q.agg('max', ['kind'], q.metric('candidates_current')), '{{kind}}'],
                 [q.agg('max', ['kind'], q.metric('candidates_reclaimable')), '{{kind}} reclaimable'],
               ],
               w=12,
               threshold=c.backlogThreshold),
    timeseries('Oldest candidate age by kind',
               'Age of the oldest candidate namespace of each kind. OrphanNamespaceCandidateOld fires beyond %d days.' % c.candidateOldDays,
               's',
               [[q.agg('max', ['kind'], q.metric('oldest_candidate_age_seconds')), '{{kind}}']],
               w=12,
               threshold=candidateOldSeconds),
    timeseries('New and resurrected candidates',
               'Candidates first detected, and candidates whose token turned live again (a detection reclaim would have acted on wrongly), per hour.',
               'short',
               [
                 [q.agg('max', ['kind'], 'increase(%s[1h])' % q.metric('candidates_total')), 'new {{kind}}'],
                 [q.agg('max', ['kind'], 'increase(%s[1h])' % q.metric('candidates_resurrected_total')), 'resurrected {{kind}}'],
               ],
               w=12,
               bars=true),
    timeseries('Namespaces in scope',
               'Tenant namespaces the latest sweep looked at, and the candidates among them.',
               'short',
               [
                 [q.agg('max', [], q.metric('namespaces_in_scope')), 'in scope'],
                 [candidates, 'candidates'],
               ],
               w=12),
  ],

  local lastSuccess = q.metric('last_success_timestamp_seconds'),
  local sweepHealth = [
    row('Sweep health'),
    timeseries('Sweep up and enabled',
               'up is 1 when the latest sweep succeeded. OrphanSweepFailing fires when it is 0 for %s while enabled.' % text.duration(c.sweepFailingFor),
               'short',
               [[q.metric('up'), 'up {{pod}}'], [q.metric('enabled'), 'enabled {{pod}}']]),
    timeseries('Time since last successful sweep',
               'OrphanSweepStale fires when it exceeds %s sweep intervals (dashed: %d x interval).' % [text.count(c.sweepStaleIntervals), c.sweepStaleIntervals],
               's',
               [
                 ['time() - %s and %s > 0' % [lastSuccess, lastSuccess], '{{pod}}'],
                 ['%d * %s' % [c.sweepStaleIntervals, q.metric('interval_seconds')], '%d x interval {{pod}}' % c.sweepStaleIntervals],
               ],
               dashed='/ x interval/'),
    timeseries('Sweep errors by stage',
               'Failed sweeps per second by stage: kubernetes (listing namespaces), ledger (the query), guard (too many candidates at once: a misread ledger).',
               'ops',
               [[q.agg('sum', ['stage'], 'rate(%s[$__rate_interval])' % q.metric('errors_total')), '{{stage}}']]),
    timeseries('Sweep duration', 'Quantiles of the time one sweep takes, failed ones included.', 's', [
      [quantile('0.5', 'duration_seconds'), 'p50'],
      [quantile('0.99', 'duration_seconds'), 'p99'],
      ['%s / %s' % [
        q.agg('sum', [], 'rate(%s[$__rate_interval])' % q.metric('duration_seconds_sum')),
        q.agg('sum', [], 'rate(%s[$__rate_interval])' % q.metric('duration_seconds_count')),
      ], 'mean'],
    ], w=12),
    timeseries('Ledger query duration', 'Quantiles of the one batched ledger query per sweep.', 's', [
      [quantile('0.5', 'ledger_query_duration_seconds'), 'p50'],
      [quantile('0.99', 'ledger_query_duration_seconds'), 'p99'],
    ], w=12),
    timeseries('Exporter memory', 'Resident memory and Go heap in use of the exporter processes.', 'bytes', [
      [q.series('process_resident_memory_bytes'), 'rss {{pod}}'],
      [q.series('go_memstats_heap_inuse_bytes'), 'heap {{pod}}'],
    ], w=12),
    timeseries('Exporter build', 'Versions running, from orphans_exporter_build_info.', 'short', [
      [q.agg('count', ['version', 'revision'], q.series('orphans_exporter_build_info')), '{{version}} {{revision}}'],
    ], w=12),
  ],

  local ghosts = [
    row('Ghosts'),
    timeseries('Ghosts by kind',
               'Tokens with a live ledger row past the ghost grace and no namespace in the cluster. TenantResourceWithoutNamespace fires when one stays for %s. 0 when ghost sweeps fail: read it with Ghost sweep up.' % text.duration(c.ghostsFor),
               'short',
               [[q.agg('max', ['kind'], q.metric('ghosts_current')), '{{kind}}']],
               threshold=1),
    timeseries('Oldest ghost age by kind',
               "Age of the oldest ghost's live row of each kind, from its created column.",
               's',
               [[q.agg('max', ['kind'], q.metric('oldest_ghost_age_seconds')), '{{kind}}']]),
    timeseries('Ghost sweep up',
               'ghosts_up is 1 when the latest ghost sweep succeeded; 0 when it failed or ghosts are off (with the sweep enabled, --ghosts.interval=0). A failing ghost sweep reports no ghosts.',
               'short',
               [[q.metric('ghosts_up'), 'ghosts up {{pod}}'], [q.metric('enabled'), 'enabled {{pod}}']]),
  ],

  local contents = [
    row('Contents at stake'),
    timeseries('Leaked storage by kind',
               'Storage requested by the PVCs of current orphan candidates, as the exporter last read them: volumes that are paid for and serve no tenant. OrphanLeakedStorageHigh fires above %d GiB for %s. 0 when contents reads fail or are off (--contents.interval=0).' % [c.leakedStorageGiB, text.duration(c.leakedStorageFor)],
               'bytes',
               [[q.agg('max', ['kind'], q.metric('candidates_storage_requested_bytes')), '{{kind}}']],
               threshold=leakedStorageBytes),
    timeseries('Pods in candidates by kind',
               'Pods in current orphan candidates, as last read: workloads with no live ledger record. A candidate whose namespace changed within --reclaim.quiet-period is not reclaimable (recent_change).',
               'short',
               [[q.agg('max', ['kind'], q.metric('candidates_pods')), '{{kind}}']]),
    timeseries('Contents reads',
               'Kubernetes API requests the exporter makes to read what candidates hold. Proportional to candidates per --contents.interval, plus one read per fresh check; a steady-state sweep makes none.',
               'reqps',
               [[q.agg('sum', ['pod'], 'rate(%s[$__rate_interval])' % q.metric('contents_requests_total')), '{{pod}}']]),
  ],

  local http = [
    row('HTTP requests'),
    timeseries('Requests by handler and code',
               'Requests per second on both listeners, by handler and status code. On /candidates/{namespace}, 429 is a fresh check refused beyond the concurrency limit and 503 one that could not complete; 401 and 403 on /metrics are refused scrapes.',
               'reqps',
               [[q.agg('sum', ['handler', 'code'], 'rate(%s[$__rate_interval])' % q.metric('http_requests_total')), '{{handler}} {{code}}']],
               w=12),
    timeseries('Request latency by handler', 'Quantiles of the time each handler takes to answer, fresh checks included.', 's', [
      [quantile('0.5', 'http_request_duration_seconds', ['handler']), 'p50 {{handler}}'],
      [quantile('0.99', 'http_request_duration_seconds', ['handler']), 'p99 {{handler}}'],
    ], w=12),
  ],

  local variables =
    [panels.datasourceVariable]
    + (if c.showMultiCluster then [panels.queryVariable('cluster', 'Cluster', clusters.series(clusters.name('up')), c.clusterLabel)] else [])
    + [panels.queryVariable('job', 'Job', jobs.series(jobs.name('up')), 'job')],

  grafanaDashboards+:: {
    'orphans-dashboard.json': {
      title: 'Orphaned tenant namespaces',
      uid: 'orphans-overview',
      description: 'Backlog of orphaned instant-customer namespaces and the health of the orphans exporter that finds them.',
      tags: ['orphans', 'multi-tenant', 'kubernetes'],
      timezone: 'utc',
      editable: true,
      graphTooltip: 1,
      schemaVersion: 39,
      version: 1,
      refresh: '1m',
      time: { from: 'now-24h', to: 'now' },
      links: [{ title: 'Runbooks', type: 'link', url: c.runbookURLPattern % 'alerts', targetBlank: true, icon: 'doc' }],
      templating: { list: variables },
      panels: panels.layout([backlog, sweepHealth, ghosts, contents, http]),
    },
  },
}
