package v1alpha1

import corev1 "k8s.io/api/core/v1"

// Well-known labels, annotations and finalizers.
const (
	// LabelPrefix is the prefix of the labels Octorun owns. A Runner label
	// "octorun.github.io/<key>: <value>" becomes the GitHub runner label
	// "<key>=<value>"; the labels below are Octorun's own and are not passed on.
	LabelPrefix = GroupName + "/"

	// LabelRunner is the label that carries the name of a Runner, on the Runner
	// itself and on the objects made for it.
	LabelRunner = LabelPrefix + "runner"

	// LabelRunnerSet is the label that carries the name of the RunnerSet a
	// Runner was created from.
	LabelRunnerSet = LabelPrefix + "runnerset"

	// LabelTemplateHash is the hash of the RunnerSet template a Runner was
	// made from, so Runners of an older template can be told apart (like
	// pod-template-hash).
	LabelTemplateHash = LabelPrefix + "template-hash"

	// LabelBusy is on the pod of a Runner that holds a job ("true"), and
	// only then. Octorun's PodDisruptionBudget BusyRunnersPDB selects it, so
	// a node drain or any other eviction waits for the job to end.
	LabelBusy = LabelPrefix + "busy"

	// BusyRunnersPDB is the PodDisruptionBudget Octorun keeps in each
	// namespace where runners hold jobs: it allows no eviction of a pod
	// labelled LabelBusy.
	BusyRunnersPDB = "octorun-busy-runners"

	// RunnerFinalizer keeps a Runner until its GitHub runner has been removed
	// from GitHub, so no registration outlives its Runner. While the GitHub
	// runner holds a job the Runner is not released.
	RunnerFinalizer = LabelPrefix + "deregister-runner"

	// ScaleSetFinalizer keeps a scale-set RunnerSet until its Runners are
	// gone and its runner scale set has been deleted from GitHub.
	ScaleSetFinalizer = LabelPrefix + "delete-scale-set"
)

// Defaults of a RunnerSpec, applied by the admission webhook (and, for the
// group, by the CRD schema).
const (
	// DefaultRunnerImage is GitHub's official runner image at the newest
	// runner release (actions/runner src/runnerversion); it runs unmodified.
	// GitHub refuses runners older than its minimum version, so a pinned
	// default goes stale: Octorun's --default-runner-image overrides it for
	// every Runner that names no image.
	DefaultRunnerImage = "ghcr.io/actions/actions-runner:2.336.0"
	// DefaultImagePullPolicy is the pull policy of the runner image.
	DefaultImagePullPolicy = corev1.PullIfNotPresent
	// DefaultRunnerGroup is the runner group every organization has.
	DefaultRunnerGroup = "Default"
	// DefaultWorkdir is the runner's work directory, relative to its home.
	DefaultWorkdir = "_work"
)

// Condition types of a Runner.
const (
	// RunnerConditionRegistered tells whether the runner is registered on
	// GitHub (spec.id is set).
	RunnerConditionRegistered = "Registered"

	// RunnerConditionPodReady tells whether the runner pod exists and its
	// runner container is running.
	RunnerConditionPodReady = "PodReady"

	// RunnerConditionJobAssigned tells whether GitHub assigned a job to the
	// runner.
	RunnerConditionJobAssigned = "JobAssigned"

	// RunnerConditionRunnerOutdated is True when GitHub refused the runner
	// because its version is older than GitHub accepts (the runner exited
	// with code 7); the runner image must be updated.
	RunnerConditionRunnerOutdated = "RunnerOutdated"

	// RunnerConditionExited says why a Runner's runner ended, once it has:
	// after its job (JobCompleted), or without taking one (RunnerExited,
	// Outdated, RegistrationRemoved, ...).
	RunnerConditionExited = "Exited"
)

// Condition types of a RunnerSet.
const (
	// RunnerSetConditionRunnerFailure is True when Runners of the set could
	// not be created or deleted, or keep failing.
	RunnerSetConditionRunnerFailure = "RunnerFailure"

	// RunnerSetConditionReady is True when the set has its desired number of
	// Idle and Active runners.
	RunnerSetConditionReady = "Ready"

	// RunnerSetConditionScaleDownBlocked is True when the set has more Runners
	// than desired but the extra ones hold jobs, so it waits for them.
	RunnerSetConditionScaleDownBlocked = "ScaleDownBlocked"

	// RunnerSetConditionRunnerOutdated is True when the set's last failing
	// Runner was refused by GitHub for an outdated runner version; the
	// template's image must be updated.
	RunnerSetConditionRunnerOutdated = "RunnerOutdated"

	// RunnerSetConditionScaleSetReady is True when a scale-set RunnerSet's
	// runner scale set exists on GitHub with its spec's settings and
	// Octorun holds its message session, so the set follows GitHub's
	// demand.
	RunnerSetConditionScaleSetReady = "ScaleSetReady"
)

// Condition reasons.
const (
	// ReasonRegistered: the runner was registered on GitHub.
	ReasonRegistered = "Registered"
	// ReasonRegistrationFailed: GitHub refused or failed the registration.
	ReasonRegistrationFailed = "RegistrationFailed"
	// ReasonRunnerGroupNotFound: the runner group of spec.group does not exist.
	ReasonRunnerGroupNotFound = "RunnerGroupNotFound"
	// ReasonRegistering: the runner is being registered on GitHub.
	ReasonRegistering = "Registering"
	// ReasonRunnerNameTaken: another runner on GitHub has the runner's name.
	ReasonRunnerNameTaken = "RunnerNameTaken"
	// ReasonInvalidURL: spec.url is not a GitHub organization or repository
	// on the GitHub host Octorun is configured for.
	ReasonInvalidURL = "InvalidURL"
	// ReasonUnauthorized: GitHub rejected Octorun's credentials.
	ReasonUnauthorized = "Unauthorized"
	// ReasonScopeNotFound: GitHub does not know the organization or
	// repository, or Octorun's credentials may not see it.
	ReasonScopeNotFound = "ScopeNotFound"
	// ReasonRateLimited: GitHub's rate limits delay the registration.
	ReasonRateLimited = "RateLimited"
	// ReasonDeregistered: the runner was removed from GitHub.
	ReasonDeregistered = "Deregistered"
	// ReasonPodRunning: the runner pod is running.
	ReasonPodRunning = "PodRunning"
	// ReasonPodPending: the runner pod is not running yet.
	ReasonPodPending = "PodPending"
	// ReasonPodTerminated: the runner pod has exited.
	ReasonPodTerminated = "PodTerminated"
	// ReasonPodMissing: the runner pod is gone.
	ReasonPodMissing = "PodMissing"
	// ReasonImagePullFailed: the runner image cannot be pulled.
	ReasonImagePullFailed = "ImagePullFailed"
	// ReasonPodNameConflict: a pod or Secret with the Runner's name exists
	// and does not belong to it.
	ReasonPodNameConflict = "PodNameConflict"
	// ReasonJobAssigned: GitHub assigned a job to the runner.
	ReasonJobAssigned = "JobAssigned"
	// ReasonNoJob: no job was assigned to the runner yet.
	ReasonNoJob = "NoJob"
	// ReasonFailedCreate: a Runner of the set could not be created.
	ReasonFailedCreate = "FailedCreate"
	// ReasonFailedDelete: a Runner of the set could not be deleted.
	ReasonFailedDelete = "FailedDelete"
	// ReasonRunnersFailing: Runners of the set keep failing; replacements are
	// backed off.
	ReasonRunnersFailing = "RunnersFailing"
	// ReasonRunnersReady: every desired runner is Idle or Active.
	ReasonRunnersReady = "RunnersReady"
	// ReasonRunnersNotReady: some desired runners are not Idle or Active yet.
	ReasonRunnersNotReady = "RunnersNotReady"
	// ReasonNoFailure: the set's runners were created and deleted as needed.
	ReasonNoFailure = "NoFailure"
	// ReasonScaleDownDone: no runner has to wait to be removed.
	ReasonScaleDownDone = "NotBlocked"
	// ReasonInvalidSelector: the selector is empty or invalid, so the set
	// selects no runner.
	ReasonInvalidSelector = "InvalidSelector"
	// ReasonRunnersActive: the set waits for runners that hold jobs.
	ReasonRunnersActive = "RunnersActive"
	// ReasonRegistrationRejected: GitHub rejected the registration request
	// as invalid; its message says why.
	ReasonRegistrationRejected = "RegistrationRejected"
	// ReasonNotInstalled: Octorun's GitHub App is not installed on the
	// runner's organization, repository or enterprise.
	ReasonNotInstalled = "NotInstalled"
	// ReasonOutdated: GitHub refused the runner's version as too old.
	ReasonOutdated = "Outdated"
	// ReasonUpToDate: no runner was refused for its version.
	ReasonUpToDate = "UpToDate"
	// ReasonRunnerExited: the runner ended without GitHub having assigned
	// it a job (its registration was removed, another process used its
	// config, or it failed to connect).
	ReasonRunnerExited = "RunnerExited"
	// ReasonJobCompleted: the runner ended after its job.
	ReasonJobCompleted = "JobCompleted"
	// ReasonRegistrationRemoved: the runner's registration is gone from
	// GitHub while the runner waited for a job.
	ReasonRegistrationRemoved = "RegistrationRemoved"
	// ReasonRunning: the runner has not ended.
	ReasonRunning = "Running"
	// ReasonRegistrationNotOwned: the runner id the Runner's Secret records
	// carries another name on GitHub: it is not a registration Octorun made
	// for the Runner, and Octorun neither adopts nor removes it.
	ReasonRegistrationNotOwned = "RegistrationNotOwned"
	// ReasonScopeNotGranted: no ScopeGrant lets the Runner's namespace
	// register runners in its scope and runner group.
	ReasonScopeNotGranted = "ScopeNotGranted"
	// ReasonListening: Octorun holds the scale set's message session.
	ReasonListening = "Listening"
	// ReasonScaleSetFailed: the scale set could not be created, updated or
	// read on GitHub.
	ReasonScaleSetFailed = "ScaleSetFailed"
	// ReasonSessionFailed: the scale set's message session could not be
	// opened or was lost; Octorun retries it.
	ReasonSessionFailed = "SessionFailed"
	// ReasonScaleSetPending: the scale set is being created.
	ReasonScaleSetPending = "ScaleSetPending"
)

// Runner process settings Octorun gives every runner container.
const (
	// EnvReturnVersionDeprecatedExitCode makes run-helper.sh pass the
	// listener's "version deprecated" return code 7 through instead of
	// exiting 0 (actions/runner src/Misc/layoutroot/run-helper.sh.template),
	// so an outdated runner is told apart from one that ran its job. ARC
	// sets it too (controllers/actions.github.com/resourcebuilder.go).
	EnvReturnVersionDeprecatedExitCode = "ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE"

	// ExitCodeVersionDeprecated is the runner's exit code for a version
	// GitHub no longer accepts (actions/runner src/Runner.Common/Constants.cs,
	// ReturnCode.RunnerVersionDeprecated, passed through by run-helper.sh
	// when EnvReturnVersionDeprecatedExitCode is 1).
	ExitCodeVersionDeprecated = 7
)
