package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/shared/audit"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// Sessions are rows on the server; the cookie holds only a random session id. A row keeps the SHA-256
// of the session id (so a read of the table yields no usable cookie), the hash of the admin token that
// signed in, the session's CSRF token and its expiry. Every request looks the token hash up in the
// catalogue snapshot (catalog.Source), whose admins exclude revoked ones, so revoking an admin ends
// its console sessions within SPEC's one second, on every instance, with no key to share between
// Lambda instances. Sign-out deletes the row, so a copied cookie is dead after it.

// Session is one signed-in browser.
type Session struct {
	IDHash    [32]byte
	TokenHash [32]byte
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionStore keeps sessions. Get returns (nil, nil) for an unknown or expired session.
// CreateSession records the sign-in e in the audit log with the session; RecordFailedSignin records a
// refused token.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session, e *audit.Entry) error
	RecordFailedSignin(ctx context.Context, e *audit.Entry) error
	GetSession(ctx context.Context, idHash [32]byte, now time.Time) (*Session, error)
	DeleteSession(ctx context.Context, idHash [32]byte) error
}

// SessionTTL is how long a console session lasts from sign-in.
const SessionTTL = 12 * time.Hour

const (
	sessionCookie = "switchyard_session"
	preCSRFCookie = "switchyard_signin" // CSRF token of the sign-in form, before a session exists
	csrfField     = "csrf"
)

type ctxKey struct{}

// reqState is what the session middleware hands a page.
type reqState struct {
	admin *catalog.Admin
	sess  *Session
	snap  *catalog.Snapshot
}

func stateOf(r *http.Request) *reqState {
	st, _ := r.Context().Value(ctxKey{}).(*reqState)
	return st
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("console: crypto/rand failed: " + err.Error()) // never happens on a working system
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/console/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   !c.cfg.Local,
		SameSite: http.SameSiteStrictMode,
	})
}

// authed wraps a page: no valid session → the sign-in page; a POST without the session's CSRF
// token → 403, before the page runs.
func (c *Console) authed(next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, why := c.session(r)
		if st == nil {
			if r.Method != http.MethodGet {
				c.fail(w, r, http.StatusUnauthorized, "Your session has ended ("+why+"). Sign in again; nothing was changed.")
				return
			}
			q := url.Values{"next": {r.URL.RequestURI()}}
			if why != "" {
				q.Set("why", why)
			}
			http.Redirect(w, r, "/console/signin?"+q.Encode(), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
				return
			}
			got := r.PostForm.Get(csrfField)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.sess.CSRF)) != 1 {
				c.fail(w, r, http.StatusForbidden, "This form was refused: it did not carry this session's security token. Reload the page and submit it again.")
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
		if r.Method == http.MethodPost {
			// The page a write redirects to must show the write: read the catalogue now rather
			// than within the snapshot's interval. This runs before the answer leaves.
			if err := c.catalog.Refresh(r.Context()); err != nil {
				c.log.Warn("console: refresh the catalogue after a write", "err", err)
			}
		}
	}
}

// session finds the request's session and its admin; why says what ended a session that is gone.
func (c *Console) session(r *http.Request) (*reqState, string) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, ""
	}
	s, err := c.sessions.GetSession(r.Context(), sha256.Sum256([]byte(ck.Value)), c.now())
	if err != nil {
		c.log.Error("console: read session", "err", err)
		return nil, "the session could not be read"
	}
	if s == nil {
		return nil, "signed out or expired"
	}
	snap, err := c.catalog.Get(r.Context())
	if err != nil {
		c.log.Error("console: catalogue snapshot", "err", err)
		return nil, "the catalogue could not be read"
	}
	a := snap.Admins[s.TokenHash]
	if a == nil {
		return nil, "the admin token was revoked or replaced"
	}
	return &reqState{admin: a, sess: s, snap: snap}, ""
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if st, _ := c.session(r); st != nil {
		http.Redirect(w, r, "/console/providers", http.StatusSeeOther)
		return
	}
	c.renderSignin(w, r, http.StatusOK, r.URL.Query().Get("why"), safeNext(r.URL.Query().Get("next")))
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	tok := randomToken(24)
	c.setCookie(w, preCSRFCookie, tok, 3600)
	c.render(w, r, status, "signin", &page{Title: "Sign in", Error: msg, Data: map[string]string{"CSRF": tok, "Next": next}})
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
		return
	}
	ck, err := r.Cookie(preCSRFCookie)
	got := r.PostForm.Get(csrfField)
	if err != nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ck.Value)) != 1 {
		c.renderSignin(w, r, http.StatusForbidden, "The sign-in form expired or did not come from this page. Try again.", safeNext(r.PostForm.Get("next")))
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	snap, err := c.catalog.Get(r.Context())
	if err != nil {
		c.log.Error("console: catalogue snapshot", "err", err)
		c.renderSignin(w, r, http.StatusServiceUnavailable, "The catalogue could not be read; try again in a moment.", next)
		return
	}
	th := catalog.HashSecret(token)
	if token == "" || snap.Admins[th] == nil {
		c.signinFailed(r)
		c.renderSignin(w, r, http.StatusUnauthorized, "That admin token is not valid: it is unknown or revoked. make dev prints a working one.", next)
		return
	}
	id := randomToken(32)
	now := c.now()
	s := Session{IDHash: sha256.Sum256([]byte(id)), TokenHash: th, CSRF: randomToken(32), CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	if err := c.sessions.CreateSession(r.Context(), s, audit.New(r.Context(), snap.Admins[th], audit.SigninOK, snap.Admins[th].ID)); err != nil {
		c.log.Error("console: create session", "err", err)
		c.renderSignin(w, r, http.StatusInternalServerError, "The session could not be stored; try again.", next)
		return
	}
	c.setCookie(w, preCSRFCookie, "", -1)
	c.setCookie(w, sessionCookie, id, int(SessionTTL/time.Second))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := c.sessions.DeleteSession(r.Context(), sha256.Sum256([]byte(ck.Value))); err != nil {
			c.log.Error("console: delete session", "err", err)
		}
	}
	c.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/signin?why=signed+out", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/console/providers"
	}
	return next
}
