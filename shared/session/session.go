// Package session is a console sign-in as it is kept: the type the session store in package
// postgres (ConsoleSessionStore) reads and writes and package console serves. How long a session
// lives is the console's rule (console.SessionTTL, console.SessionIdle), not this package's.
package session

import "time"

// Session is one signed-in console session. Only hashes of its id and of the admin token it was
// signed in with are kept.
type Session struct {
	IDHash    [32]byte
	TokenHash [32]byte
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
	LastSeen  time.Time
}
