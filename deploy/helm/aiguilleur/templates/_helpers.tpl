{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "aiguilleur.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. Truncated to 52 characters, not 63: the StatefulSet controller adds
a controller-revision-hash label "<name>-<10 chars>" to each pod, and that label value must fit in 63.
*/}}
{{- define "aiguilleur.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "aiguilleur.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aiguilleur.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aiguilleur.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "aiguilleur.labels" -}}
helm.sh/chart: {{ include "aiguilleur.chart" . }}
{{ include "aiguilleur.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: aiguilleur
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "aiguilleur.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aiguilleur.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "aiguilleur.image" -}}
{{- $repo := required "image.repository is required: the image scripts/build_image.sh builds, as named in your registry" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Faust app id = Kafka consumer group; defaults to the release's full name so releases never collide. */}}
{{- define "aiguilleur.appId" -}}
{{- .Values.config.appId | default (include "aiguilleur.fullname" .) }}
{{- end }}

{{- define "aiguilleur.saslSecretName" -}}
{{- .Values.sasl.existingSecret | default (printf "%s-sasl" (include "aiguilleur.fullname" .)) }}
{{- end }}

{{- define "aiguilleur.dataConfigMapName" -}}
{{- .Values.data.existingConfigMap | default (printf "%s-data" (include "aiguilleur.fullname" .)) }}
{{- end }}

{{/* True (non-empty) when the chart itself must create the data ConfigMap. */}}
{{- define "aiguilleur.createDataConfigMap" -}}
{{- if and (not .Values.data.volume) (not .Values.data.existingConfigMap) .Values.data.files }}true{{- end }}
{{- end }}

{{/* True (non-empty) when any source of data files is configured. */}}
{{- define "aiguilleur.hasData" -}}
{{- if or .Values.data.volume .Values.data.existingConfigMap .Values.data.files }}true{{- end }}
{{- end }}

{{/* Operator API: its own component label, so the worker's Services and PDB never select its pods. */}}
{{- define "aiguilleur.api.fullname" -}}
{{- printf "%s-api" (include "aiguilleur.fullname" .) }}
{{- end }}

{{- define "aiguilleur.api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aiguilleur.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{- define "aiguilleur.api.labels" -}}
helm.sh/chart: {{ include "aiguilleur.chart" . }}
{{ include "aiguilleur.api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: aiguilleur
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret the chart creates for the API's inline values (only those not taken from an existing Secret). */}}
{{- define "aiguilleur.api.secretName" -}}
{{- printf "%s-api" (include "aiguilleur.fullname" .) }}
{{- end }}

{{- define "aiguilleur.api.databaseSecret" -}}
{{- .Values.api.database.existingSecret | default (include "aiguilleur.api.secretName" .) }}
{{- end }}

{{- define "aiguilleur.api.oidcSecret" -}}
{{- .Values.api.oidc.existingSecret | default (include "aiguilleur.api.secretName" .) }}
{{- end }}

{{- define "aiguilleur.api.signingSecret" -}}
{{- .Values.api.auditSigningKey.existingSecret | default (include "aiguilleur.api.secretName" .) }}
{{- end }}

{{/* True (non-empty) when the chart must create the API's Secret: some value is inline. */}}
{{- define "aiguilleur.api.createSecret" -}}
{{- if .Values.api.enabled }}
{{- if or (not .Values.api.database.existingSecret) (not .Values.api.oidc.existingSecret) (and .Values.api.auditSigningKey.enabled (not .Values.api.auditSigningKey.existingSecret)) }}true{{- end }}
{{- end }}
{{- end }}

{{- define "aiguilleur.api.oidcDir" -}}/etc/aiguilleur/oidc{{- end }}
{{- define "aiguilleur.api.auditDir" -}}/etc/aiguilleur/audit{{- end }}
{{- define "aiguilleur.api.communesDir" -}}/etc/aiguilleur/communes{{- end }}
