/*
Copyright The Octorun Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"
)

// errStopped is returned by the methods that need a running control plane.
var errStopped = errors.New("control plane stopped")

// Restart kills a component with SIGKILL, as a crash or an OOM kill would,
// keeps it down for downtime, and starts it again with the same flags and
// env, appending to its log. It returns once the component is ready by the
// check Start uses and, after etcd, once the API server is ready again too.
// Healthy does not count the killed process as exited.
//
// The API server reuses its serving certificate from the cert dir and the
// token file, so Config, Client and the kubeconfig stay valid; clients see
// their connections break and redial. Etcd keeps its data dir.
//
// ctx bounds the downtime and the wait for readiness only: unless Stop is
// called meanwhile, the component is started again even when ctx ends. After
// Stop, Restart returns an error and starts nothing.
func (cp *ControlPlane) Restart(ctx context.Context, component string, downtime time.Duration) error {
	old, err := cp.kill(component)
	if err != nil {
		return err
	}
	timer := time.NewTimer(downtime)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	p, err := cp.startAgain(old)
	if err != nil {
		return fmt.Errorf("restarting %s: %w", component, err)
	}
	if err := cp.waitRecovered(ctx, p); err != nil {
		return fmt.Errorf("restarting %s: %w", component, err)
	}
	cp.opts.Logf("Restarted %s (pid %d) after %s down", component, p.pid(), downtime)
	return nil
}

// Pause freezes a component with SIGSTOP, as a hung process or host would:
// its ports stay open and its connections up, but it answers nothing. Pausing
// etcd makes the API server's requests hang rather than fail at once, as a
// Restart of etcd does. Resume continues the component; Stop and Restart end
// a paused one as well.
func (cp *ControlPlane) Pause(component string) error {
	p, err := cp.lookup(component)
	if err != nil {
		return err
	}
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	cp.opts.Logf("Paused %s (pid %d)", component, p.pid())
	return nil
}

// Resume continues a component paused by Pause with SIGCONT and waits as
// Restart does until it is ready.
func (cp *ControlPlane) Resume(ctx context.Context, component string) error {
	p, err := cp.lookup(component)
	if err != nil {
		return err
	}
	if err := p.signal(syscall.SIGCONT); err != nil {
		return err
	}
	if err := cp.waitRecovered(ctx, p); err != nil {
		return fmt.Errorf("resuming %s: %w", component, err)
	}
	cp.opts.Logf("Resumed %s (pid %d)", component, p.pid())
	return nil
}

// lookup returns the running process of component.
func (cp *ControlPlane) lookup(component string) (*process, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.lookupLocked(component)
}

func (cp *ControlPlane) lookupLocked(component string) (*process, error) {
	if cp.stopped {
		return nil, errStopped
	}
	if cp.restarting[component] {
		return nil, fmt.Errorf("%s is being restarted", component)
	}
	i := slices.IndexFunc(cp.processes, func(p *process) bool { return p.name == component })
	if i < 0 {
		return nil, fmt.Errorf("%s does not run in this control plane", component)
	}
	p := cp.processes[i]
	if err := p.exitErr(); err != nil {
		return nil, err
	}
	return p, nil
}

// kill SIGKILLs the running process of component and marks the component
// as restarting, until startAgain.
func (cp *ControlPlane) kill(component string) (*process, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	p, err := cp.lookupLocked(component)
	if err != nil {
		return nil, err
	}
	if cp.restarting == nil {
		cp.restarting = map[string]bool{}
	}
	cp.restarting[component] = true
	p.kill()
	cp.opts.Logf("Killed %s (pid %d)", component, p.pid())
	return p, nil
}

// startAgain starts a process killed by kill anew, in its place among the
// processes. When the control plane is stopped, or the start fails, the
// component is no longer marked as restarting, so that Healthy reports it
// down.
func (cp *ControlPlane) startAgain(old *process) (*process, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	defer delete(cp.restarting, old.name)
	if cp.stopped {
		return nil, errStopped
	}
	p, err := old.startAgain()
	if err != nil {
		return nil, err
	}
	cp.processes[slices.Index(cp.processes, old)] = p
	cp.opts.Logf("Started %s (pid %d), log %s", p.name, p.pid(), p.logFile)
	return p, nil
}

// waitRecovered waits until the component p is ready and, when p is etcd,
// until the running API server is ready again too.
func (cp *ControlPlane) waitRecovered(ctx context.Context, p *process) error {
	if err := cp.waitReady(ctx, p); err != nil {
		return cp.stoppedOr(err)
	}
	if p.name != Etcd {
		return nil
	}
	cp.mu.Lock()
	restarting := cp.restarting[KubeAPIServer]
	apiServer, err := cp.lookupLocked(KubeAPIServer)
	cp.mu.Unlock()
	switch {
	case restarting:
		// Its own Restart waits for it.
		return nil
	case err != nil:
		return err
	}
	return cp.stoppedOr(cp.waitReady(ctx, apiServer))
}

// stoppedOr returns errStopped when the control plane was stopped, as the
// likely cause of err, else err.
func (cp *ControlPlane) stoppedOr(err error) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if err != nil && cp.stopped {
		return fmt.Errorf("%w: %w", errStopped, err)
	}
	return err
}
