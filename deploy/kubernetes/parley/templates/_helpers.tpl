{{- define "parley.name" -}}{{ .Release.Name }}{{- end -}}

{{- define "parley.labels" -}}
app.kubernetes.io/name: parley
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "orchestrator") */}}
{{- define "parley.selector" -}}
app.kubernetes.io/name: parley
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "parley.image" -}}{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag }}{{- end -}}

{{- define "parley.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" .Release.Name) -}}
{{- end -}}

{{- define "parley.tritonService" -}}{{ .root.Release.Name }}-triton-{{ .server }}{{- end -}}

{{/* The orchestrator's stack overlay: the values' keys plus, with Triton, its Services' addresses. */}}
{{- define "parley.stackOverlay" -}}
{{- $stack := deepCopy .Values.orchestrator.stack -}}
{{- if .Values.triton.enabled -}}
{{- $urls := dict -}}
{{- $triton := dict "model_urls" $urls -}}
{{- range $name, $server := .Values.triton.servers -}}
{{- $address := printf "%s:%v" (include "parley.tritonService" (dict "root" $ "server" $name)) $server.ports.grpc -}}
{{- if $server.default -}}{{- $_ := set $triton "url" $address -}}{{- end -}}
{{- range $server.stages -}}{{- $_ := set $urls . $address -}}{{- end -}}
{{- end -}}
{{- $_ := set $stack "triton" (mergeOverwrite (deepCopy (get $stack "triton" | default dict)) $triton) -}}
{{- end -}}
{{- toYaml $stack -}}
{{- end -}}

{{- define "parley.graceSeconds" -}}
{{- add (int .Values.orchestrator.stack.server.drain_s) (int .Values.orchestrator.drainMarginS) -}}
{{- end -}}
