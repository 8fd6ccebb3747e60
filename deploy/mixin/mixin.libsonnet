// The orphans monitoring mixin: alerts (prometheusAlerts) and a dashboard
// (grafanaDashboards) for the orphans exporter, set up by _config
// (config.libsonnet). deploy/prometheus and deploy/grafana are this mixin
// rendered with its defaults by `make mixin`.
(import 'config.libsonnet')
+ (import 'alerts.libsonnet')
+ (import 'dashboards.libsonnet')
