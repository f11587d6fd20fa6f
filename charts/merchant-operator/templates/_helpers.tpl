{{- define "merchant-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "merchant-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "merchant-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "merchant-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "merchant-operator.labels" -}}
{{ include "merchant-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "merchant-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "merchant-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /*
The namespaces the operator serves, comma-separated (WATCH_NAMESPACE), or "" in cluster-wide mode.
watchNamespaces plus the deprecated watchNamespace; the release namespace when both are empty.
*/ -}}
{{- define "merchant-operator.watchNamespaces" -}}
{{- $namespaces := concat (.Values.watchNamespaces | default list) (compact (list .Values.watchNamespace)) | uniq -}}
{{- if .Values.clusterWide -}}
{{- if $namespaces -}}
{{- fail "clusterWide=true serves every namespace: leave watchNamespaces and watchNamespace empty" -}}
{{- end -}}
{{- else -}}
{{- $namespaces | default (list .Release.Namespace) | join "," -}}
{{- end -}}
{{- end -}}

{{- /*
What the operator may do in a namespace it serves (Role per namespace, or the ClusterRole in
cluster-wide mode).
*/ -}}
{{- define "merchant-operator.rules" -}}
- apiGroups: ["merchant.rezapp.com"]
  resources: ["merchantbackends", "merchantbackups", "merchantrestores"]
  verbs: ["get", "list", "watch"]
# Patched only to remove a rollout annotation it acted on (promote, abort, retry).
- apiGroups: ["merchant.rezapp.com"]
  resources: ["merchantbackends"]
  verbs: ["patch"]
# Created only before an irreversible migration (linked in status.release.backup).
- apiGroups: ["merchant.rezapp.com"]
  resources: ["merchantbackups"]
  verbs: ["create"]
- apiGroups: ["merchant.rezapp.com"]
  resources: ["merchantbackends/status", "merchantbackups/status", "merchantrestores/status"]
  verbs: ["get", "patch"]
# Owner references with blockOwnerDeletion need update on the owner's finalizers subresource.
- apiGroups: ["merchant.rezapp.com"]
  resources: ["merchantbackends/finalizers", "merchantbackups/finalizers", "merchantrestores/finalizers"]
  verbs: ["update"]
# Read only: missing Secrets hold the rollout, values are digested (SHA-256) for the checksum.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# Pods are only read: the status names why they cannot run (scheduling, image pull, crash with
# the previous container's last log lines, read once per crash).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# Read only while the uploads claim is not Bound, to say whether its class exists. Cluster
# scoped: in namespace mode the separate ClusterRole of readStorageClasses grants it.
- apiGroups: ["storage.k8s.io"]
  resources: ["storageclasses"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["configmaps", "services", "serviceaccounts", "persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Every revision's pod template (what a rollback runs); never updated, pruned after a rollout.
- apiGroups: ["apps"]
  resources: ["controllerrevisions"]
  verbs: ["get", "list", "create", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies", "ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Backup CronJobs and the Jobs the operator runs (migrations, MerchantBackup and MerchantRestore
# runs: one Job each, never updated); a finished Job's pod is read for the tool's report.
- apiGroups: ["batch"]
  resources: ["cronjobs", "jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
