// The settings every alert and panel reads. Override them where the mixin is
// imported, e.g. (import 'mixin.libsonnet') + { _config+:: { metricsNamespace: 'acme' } }.
{
  _config+:: {
    // Selects the exporter's targets: the job Prometheus gives its scrapes,
    // plus any label that tells this installation from another (namespace,
    // service). Every expression and panel query carries it.
    orphansSelector: 'job="orphans-exporter"',
    // The exporter's --metrics.namespace: metric names are
    // <metricsNamespace>_orphan_db_sweep_<name>.
    metricsNamespace: 'instant',
    // With showMultiCluster, aggregations keep clusterLabel, so one
    // Prometheus (Thanos, Mimir) can alert on every cluster's exporter, and
    // the dashboard gets a cluster variable.
    clusterLabel: 'cluster',
    showMultiCluster: false,
    // %s is the alert's anchor in the runbook: its name in lower case.
    runbookURLPattern: 'https://github.com/orphansweep/orphans/blob/main/docs/deploy.md#%s',

    // Thresholds and durations, one pair per alert.
    backlogThreshold: 25,  // candidates of one kind
    backlogFor: '1h',
    candidateOldDays: 7,
    candidateOldFor: '15m',
    sweepFailingFor: '15m',
    sweepStaleIntervals: 3,  // sweep intervals without a successful sweep
    sweepStaleFor: '5m',
    exporterAbsentFor: '15m',
    resurrectedWindow: '1h',  // how long a resurrection keeps the alert firing
    // Ghost sweeps run every --ghosts.interval (10m): two in a row.
    ghostsFor: '15m',
    leakedStorageGiB: 100,  // requested by one kind's candidates' PVCs
    leakedStorageFor: '1h',
    // A weakened guard is a configuration: it does not flap, so a short wait
    // only rides out a rollout that corrects it.
    guardWeakenedFor: '5m',
  },
}
