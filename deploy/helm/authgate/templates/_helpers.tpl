{{- define "authgate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "authgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "authgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "authgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "authgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "authgate.secretName" -}}
{{- default (printf "%s-secret" (include "authgate.fullname" .)) .Values.secret.existingSecret -}}
{{- end -}}

{{/* The chart refuses configurations that cannot work, with the setting to change. */}}
{{- define "authgate.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.redis.enabled) -}}
{{- fail "replicaCount > 1 needs redis.enabled=true and redis.url (REDIS_URL): the in-memory store keeps login state in one Pod, so a login started on one replica would fail on another" -}}
{{- end -}}
{{- if and .Values.redis.enabled (not .Values.redis.url) (not .Values.secret.existingSecret) -}}
{{- fail "redis.enabled needs redis.url (REDIS_URL), or REDIS_URL in secret.existingSecret" -}}
{{- end -}}
{{- if not .Values.secret.existingSecret -}}
{{- if not .Values.secret.values.AUTHENTIK_CLIENT_SECRET -}}
{{- fail "set secret.values.AUTHENTIK_CLIENT_SECRET (the provider's client secret) or secret.existingSecret" -}}
{{- end -}}
{{- if lt (len .Values.secret.values.COOKIE_SECRET) 32 -}}
{{- fail "secret.values.COOKIE_SECRET must be at least 32 bytes (openssl rand -base64 48), or use secret.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}
