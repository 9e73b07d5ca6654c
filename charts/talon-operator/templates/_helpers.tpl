{{/* The chart name, at most 63 characters. */}}
{{- define "talon-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of namespaced resources and of the operator's ClusterRole(Binding). */}}
{{- define "talon-operator.fullname" -}}
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

{{- define "talon-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Pod selector labels. Never app.kubernetes.io/managed-by: talon-operator, which marks what the operator creates. */}}
{{- define "talon-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "talon-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "talon-operator.labels" -}}
helm.sh/chart: {{ include "talon-operator.chart" . }}
{{ include "talon-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: talon-operator
{{- end }}

{{- define "talon-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "talon-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "talon-operator.tokenSecretName" -}}
{{- default (printf "%s-webhook-token" (include "talon-operator.fullname" .)) .Values.auth.token.existingSecret }}
{{- end }}

{{- define "talon-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* http or https: the scheme of the webhook port. */}}
{{- define "talon-operator.scheme" -}}
{{- if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/* Fails the render on inconsistent values, with the operator's own wording. */}}
{{- define "talon-operator.validate" -}}
{{- if not (has .Values.auth.mode (list "none" "token" "mtls")) }}
{{- fail (printf "auth.mode: %q is not one of none, token, mtls" .Values.auth.mode) }}
{{- end }}
{{- if and (eq .Values.auth.mode "mtls") (not .Values.tls.enabled) }}
{{- fail "auth.mode mtls needs tls.enabled=true and tls.secretName (the serving certificate)" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName: a kubernetes.io/tls Secret with tls.crt and tls.key" }}
{{- end }}
{{- if and (ne (int .Values.metrics.port) 0) (eq (int .Values.metrics.port) (int .Values.webhook.port)) }}
{{- fail "metrics.port must differ from webhook.port (0 serves /metrics on the webhook port)" }}
{{- end }}
{{- if not (has .Values.podAntiAffinity (list "preferred" "required" "none")) }}
{{- fail (printf "podAntiAffinity: %q is not one of preferred, required, none" .Values.podAntiAffinity) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (hasKey (default dict .Values.config.coordination) "enabled") (not .Values.config.coordination.enabled) }}
{{- fail "replicaCount > 1 needs config.coordination.enabled (leave it unset): uncoordinated replicas multiply the destructive budget and run each destructive action once per replica" }}
{{- end }}
{{- range $key := list "listen" "metrics" "auth" "tls" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s is set by the chart: use the top-level values (webhook.port, metrics.port, auth.*, tls.*)" $key) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The operator's config.yaml: .Values.config plus listen, metrics, auth and tls from their values. */}}
{{- define "talon-operator.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "listen" (dict "address" "0.0.0.0" "port" (int .Values.webhook.port)) }}
{{- $_ := set $cfg "metrics" (dict "port" (int .Values.metrics.port)) }}
{{- $auth := dict "mode" .Values.auth.mode }}
{{- if eq .Values.auth.mode "token" }}
{{- $_ := set $auth "tokenFile" "/etc/talon/token/token" }}
{{- end }}
{{- $_ := set $cfg "auth" $auth }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- $coord := deepCopy (default dict $cfg.coordination) }}
{{- $_ := set $coord "enabled" true }}
{{- $_ := set $cfg "coordination" $coord }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $tls := dict "certFile" "/etc/talon/tls/tls.crt" "keyFile" "/etc/talon/tls/tls.key" }}
{{- if eq .Values.auth.mode "mtls" }}
{{- $_ := set $tls "clientCAFile" "/etc/talon/client-ca/ca.crt" }}
{{- end }}
{{- $_ := set $cfg "tls" $tls }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
