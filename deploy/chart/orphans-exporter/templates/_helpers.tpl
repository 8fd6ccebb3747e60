{{/* The chart's name. */}}
{{- define "orphans.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the Service, and the job Prometheus gives its scrapes. */}}
{{- define "orphans.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "orphans.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orphans.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: exporter
{{- end }}

{{- define "orphans.labels" -}}
{{ include "orphans.selectorLabels" . }}
{{ include "orphans.commonLabels" . }}
{{- end }}

{{/* Labels every object of the release carries besides its name and component. */}}
{{- define "orphans.commonLabels" -}}
app.kubernetes.io/part-of: orphans
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "orphans.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "orphans.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "orphans.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The mixin's file rendered for this release: its job (the Service's name, as
the ServiceMonitor makes it), its namespace and its metric prefix.
*/}}
{{- define "orphans.mixinFile" -}}
{{- $file := .root.Files.Get .path }}
{{- $file = replace "__ORPHANS_JOB__" (include "orphans.fullname" .root) $file }}
{{- $file = replace "__ORPHANS_NAMESPACE__" .root.Release.Namespace $file }}
{{- replace "__ORPHANS_PREFIX__" .root.Values.metricsNamespace $file }}
{{- end }}

{{/* The safety flags, exactly "true" or "false". */}}
{{- define "orphans.flag" -}}
{{- if . }}true{{ else }}false{{ end }}
{{- end }}
