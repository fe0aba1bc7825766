{{/* The chart's name, and the full name of this release's objects (as `helm create` makes them). */}}
{{- define "the0-runtime.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "the0-runtime.fullname" -}}
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

{{- define "the0-runtime.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "the0-runtime.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The controller Pods' labels: the Deployment's selector, the Service's, the PDB's, the NetworkPolicy's. */}}
{{- define "the0-runtime.selectorLabels" -}}
app.kubernetes.io/name: {{ include "the0-runtime.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bot-controller
{{- end }}

{{- define "the0-runtime.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "the0-runtime.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The full name of the0's release this controller serves, derived as the0's chart derives its own ("the0.fullname"):
its fullnameOverride, else the release name when it contains "the0", else "<release>-the0".
*/}}
{{- define "the0-runtime.the0Fullname" -}}
{{- if .Values.the0.fullnameOverride }}
{{- .Values.the0.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "the0" .Values.the0.release }}
{{- .Values.the0.release | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-the0" .Values.the0.release | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* the0's Secret (keys mongo-url, minio-access-key, minio-secret-key): global.existingSecret, else <the0>-secrets. */}}
{{- define "the0-runtime.secretName" -}}
{{- default (printf "%s-secrets" (include "the0-runtime.the0Fullname" .)) .Values.global.existingSecret }}
{{- end }}

{{- define "the0-runtime.minioEndpoint" -}}
{{- default (printf "%s-minio:9000" (include "the0-runtime.the0Fullname" .)) .Values.botController.minio.endpoint }}
{{- end }}

{{- define "the0-runtime.natsUrl" -}}
{{- default (printf "nats://%s-nats:4222" (include "the0-runtime.the0Fullname" .)) .Values.botController.nats.url }}
{{- end }}

{{- define "the0-runtime.image" -}}
{{- printf "%s:%s" .Values.botController.image.repository (.Values.botController.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The labels of one of the0's own Pods (its chart's selector labels), for the NetworkPolicy's default peers. */}}
{{- define "the0-runtime.the0PodSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ .root.Values.the0.name | quote }}
  app.kubernetes.io/instance: {{ .root.Values.the0.release | quote }}
  app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{/*
Every Pod the controller creates: realtime bot Pods, the Pods of scheduled bots' CronJobs and query Jobs' Pods, told
apart from any other Pod by their the0.app/managed-by label (src/domain/Labels.ts, ManagedBy).
*/}}
{{- define "the0-runtime.botPodSelector" -}}
matchExpressions:
  - key: the0.app/managed-by
    operator: In
    values: [the0-bot-controller, the0-schedule-controller, the0-query-handler]
{{- end }}
