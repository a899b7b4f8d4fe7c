// Package admission is Octorun's admission webhook for Runners and
// RunnerSets: it defaults them (mutating) and refuses what Octorun cannot
// run (validating), served over TLS that it manages itself.
//
// # Admission
//
// An Admitter holds the pure admit functions, Mutate and Validate, from an
// AdmissionReview to an AdmissionResponse. NewHandler serves them over HTTP
// at MutatePath and ValidatePath; a Server serves the handler over TLS with
// certificates that are reloaded without a restart.
//
// Mutate sets on a Runner the group "Default", the workdir "_work", the
// default runner image and pull policy IfNotPresent when they are empty, and
// the label octorun.github.io/runner=<name> when the name is known (a Runner
// created with generateName has none yet); on a RunnerSet it sets the template
// label octorun.github.io/runnerset=<name>, the selector from the template's
// labels when the selector is empty, and the Runner defaults on the template's
// spec, whose group is first taken from spec.scaleSet.runnerGroup when the
// template names none or Default (the CRD's default, which the API server
// sets before the webhooks run). Its JSON patch is the diff of the object as received and the defaulted
// object, so a second pass gives none.
//
// Validate refuses a URL that is not https://<host>/<organization> or
// https://<host>/<owner>/<repository> on github.com or a configured GitHub
// Enterprise host, by the grammar the controller applies too
// (runnerurl.Parse); a change of a Runner's spec, except spec.id and spec.os set
// once, from empty, by Octorun's own service account; a RunnerSet selector
// that is empty, does not match the template's labels or changes; a negative
// spec.runners; a volumeMount naming no volume of the spec; and an empty
// image name, group, workdir or pull policy (the mutating webhook sets them,
// so they can only be empty when it did not run). For a scale-set RunnerSet
// (spec.scaleSet) it refuses a runnerGroup other than the template's group
// when both are set, a minRunners above maxRunners, either of them or
// spec.runners above Options.MaxRunners, and labels that are empty, padded,
// longer than 256 characters, the same as another or as the scale set's
// name (without regard to case, as GitHub matches runs-on labels), or more
// than 99 (with the name, GitHub's 100). A ScopeGrant must allow the
// RunnerSet's URL in the scale set's runner group (ScaleSetRunnerGroup), where
// its runners register. When a user other than Octorun sets spec.runners of a
// scale-set RunnerSet, the answer warns that the scale set's demand sets it.
// On an update only what changed is checked, so objects stored before a rule
// existed stay updatable (e.g. to remove a finalizer).
//
// Validate also reviews writes of the scale subresource of RunnerSets
// (kubectl scale, a HorizontalPodAutoscaler): the review carries a Scale, so
// the RunnerSet is looked up in Options.RunnerSets, and a write to a
// scale-set RunnerSet by anyone but Octorun is refused (403), as the jobs
// GitHub assigns to the scale set set its spec.runners. A RunnerSet not
// found there is allowed: it is not Octorun's, or so new that the cache has
// not seen it yet.
//
// # Webhook configurations
//
// The manifests register one MutatingWebhookConfiguration and one
// ValidatingWebhookConfiguration, each with one webhook (or one per kind,
// the paths serve both kinds) with:
//
//	admissionReviewVersions: ["v1"]
//	sideEffects: None
//	failurePolicy: Fail
//	matchPolicy: Equivalent
//	timeoutSeconds: 10
//	clientConfig:
//	  service: {namespace: <ns>, name: <svc>, path: /mutate}   # /validate for validating
//	  # caBundle is injected by CertManager (or by cert-manager's CA injector)
//	rules:
//	- apiGroups: ["octorun.github.io"]
//	  apiVersions: ["v1alpha1"]
//	  resources: ["runners", "runnersets"]
//	  operations: ["CREATE", "UPDATE"]
//	  scope: Namespaced
//	# validating only:
//	- apiGroups: ["octorun.github.io"]
//	  apiVersions: ["v1alpha1"]
//	  resources: ["runnersets/scale"]
//	  operations: ["UPDATE"]
//	  scope: Namespaced
//
// Status writes (runners/status, runnersets/status) are not reviewed. The
// scale subresource is reviewed by the validating webhook only, for
// scale-set RunnerSets; the CRD schema bounds spec.runners of the others,
// and the controller keeps no more than --max-runners-per-runnerset. The
// mutating webhook may set reinvocationPolicy: IfNeeded; its patches are
// idempotent.
//
// Octorun's service account needs get, create and update on its Secret
// (create cannot be restricted by name) and get and update on the two
// webhook configurations for CertManager.
//
// # HTTP
//
// The handler answers every request it can read an AdmissionReview uid from
// with HTTP 200 and an AdmissionReview of the same apiVersion and kind
// carrying that uid: a review it cannot act on (wrong content type, an
// apiVersion other than admission.k8s.io/v1, an unknown kind) is answered
// allowed=false with a status saying why, which the API server shows to the
// user. A request without a readable uid (garbage, a body larger than
// MaxRequestBytes, a method other than POST) gets an HTTP 4xx with a
// metav1.Status body: with no uid to echo, no AdmissionReview could be
// accepted by the API server, and its client surfaces a Status body's message
// in the error of the webhook call, so the user sees the cause either way.
//
// # TLS
//
// CertManager keeps a CA and a serving certificate for the webhook Service
// in a Secret, injects the CA bundle into the webhook configurations, renews
// the certificate before it expires and serves the Secret's current content
// through GetCertificate. Replicas agree on one Secret: the first create
// wins, and every other change is an update conditional on the
// resourceVersion read. FileCertificate serves certificate files instead
// (e.g. written by cert-manager), reloaded when they change.
package admission
