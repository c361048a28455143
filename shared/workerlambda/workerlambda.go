// Package workerlambda holds the reusable parts of running the River worker inside a bounded Lambda
// invocation: how to split the invocation's time, and how the admin function kicks the worker.
//
// A worker invocation (from the one-minute schedule, or a kick) takes jobs only while no other
// invocation does, and returns as soon as the queue has nothing for it (reembed.Service.RunFor), so an
// idle deployment costs one short invocation a minute. At the latest it runs River until
// Window.StopFetching, then stops taking jobs (River's Stop with a context ending at Window.HandBack lets running jobs
// finish); at Window.HandBack it cancels what still runs (StopAndCancel), and jobs that see their
// context end checkpoint and return JobSnooze(0), which River does not count as an attempt. The last
// stretch before the deadline is left for River to record those snoozes and for usage rows to be
// written. A job of an invocation that was killed anyway is put back by the next invocation as soon
// as it looks (its process lock is free: reembed's rescueDeadJobs); River's rescue after
// RescueStuckJobsAfter (minutes, not River's default hour) stays as the last resort.
package workerlambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Window is how one bounded worker invocation spends its time.
type Window struct {
	// StopFetching is when to stop taking new jobs: the deadline minus the larger of 30 s and 20% of
	// the invocation's time, or at once when the invocation has less than 30 s.
	StopFetching time.Time
	// HandBack is when to cancel running jobs so they checkpoint and snooze: the deadline minus the
	// larger of 10 s and 5% of the invocation's time, never before StopFetching.
	HandBack time.Time
	// Deadline is the invocation's deadline.
	Deadline time.Time
}

// Margins of a Window.
const (
	minFetchMargin    = 30 * time.Second
	fetchMarginShare  = 5 // 1/5 = 20%
	minHandBackMargin = 10 * time.Second
	handBackShare     = 20 // 1/20 = 5%
)

// WindowFor splits the time from now to deadline.
func WindowFor(now, deadline time.Time) Window {
	total := deadline.Sub(now)
	if total < 0 {
		total = 0
	}
	fetchMargin := max(minFetchMargin, total/fetchMarginShare)
	handMargin := max(minHandBackMargin, total/handBackShare)
	w := Window{
		StopFetching: deadline.Add(-fetchMargin),
		HandBack:     deadline.Add(-handMargin),
		Deadline:     deadline,
	}
	if w.StopFetching.Before(now) {
		w.StopFetching = now
	}
	if w.HandBack.Before(w.StopFetching) {
		w.HandBack = w.StopFetching
	}
	return w
}

// WindowFromContext is WindowFor(time.Now(), the context's deadline); ok is false when ctx has no
// deadline (a long-running worker process, which has no window).
func WindowFromContext(ctx context.Context) (w Window, ok bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return Window{}, false
	}
	return WindowFor(time.Now(), deadline), true
}

// Invoker is the part of Lambda KickWorker uses; *awsapi.Lambda satisfies it.
type Invoker interface {
	// InvokeEvent invokes function asynchronously with payload and returns Lambda's HTTP status.
	InvokeEvent(ctx context.Context, function string, payload []byte) (int, error)
}

// KickSource marks the payload of a kick, so the worker's logs tell kicks from scheduled runs.
const KickSource = "switchyard.kick"

// Kick is the event KickWorker sends.
type Kick struct {
	Source string `json:"source"`
	Reason string `json:"reason,omitempty"`
}

// KickInterval is the least time between two kicks from one instance. A kicked invocation looks for
// work for at least as long (Linger) before it returns idle, so a job whose kick was skipped as too
// soon after the last one is still seen by the invocation that kick started.
const KickInterval = 2 * time.Second

// Linger is how long an invocation started by event ev waits for work before it returns idle:
// KickInterval after a kick, nothing after the schedule.
func Linger(ev Kick) time.Duration {
	if ev.Source == KickSource {
		return KickInterval
	}
	return 0
}

// ErrNoWorkerFunction is returned by KickWorker when no function name is configured.
var ErrNoWorkerFunction = errors.New("workerlambda: no worker function name configured")

// KickWorker starts a worker invocation at once with an asynchronous (Event) invoke, so a re-embed
// an operator just started does not wait for the next scheduled run. It returns when Lambda accepted
// the event (202), not when the worker ran. reason is logged by the worker ("reembed run <id>").
func KickWorker(ctx context.Context, client Invoker, functionName, reason string) error {
	if functionName == "" {
		return ErrNoWorkerFunction
	}
	payload, err := json.Marshal(Kick{Source: KickSource, Reason: reason})
	if err != nil {
		return fmt.Errorf("encoding the kick: %w", err)
	}
	status, err := client.InvokeEvent(ctx, functionName, payload)
	if err != nil {
		return fmt.Errorf("kicking worker function %s: %w", functionName, err)
	}
	if status != 202 {
		return fmt.Errorf("kicking worker function %s: Lambda answered %d, want 202", functionName, status)
	}
	return nil
}
